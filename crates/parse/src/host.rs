//! Parsers for a host's network state as iproute2 and sysctl print it.
//!
//! * [`parse_links`]: `ip -j -d link show`
//! * [`parse_addrs`]: `ip -j addr show`
//! * [`parse_routes`]: `ip -j route show table all`
//! * [`parse_rules`]: `ip -j rule show`
//! * [`parse_sysctl`]: `sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables
//!   net.ipv4.conf.all.route_localnet` (lines `key = value`)
//!
//! The walk is IPv4 only: IPv6 addresses and routes are skipped without error. Errors
//! name the file and the JSON path (`$[3].addr_info[0].local`) or line, and parsing never
//! panics.
//!
//! Route table names: `local` (255), `main` (254), `default` (253), `unspec` (0) and
//! numbers are understood. Other names (from `/etc/iproute2/rt_tables`, which a
//! snapshot does not carry) are mapped to a stable id by [`table_id`], the same in
//! routes and rules, so lookups still agree.

use ipnet::Ipv4Net;
use nfwalk_model::host::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use nfwalk_model::packet::parse_mac;
use nfwalk_model::{Interface, PolicyRule, Route, RouteType, Sysctls};
use serde_json::Value;
use std::fmt;
use std::net::Ipv4Addr;

/// A parse error in a host state file, with the file and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// The file name as given to the parser.
    pub file: String,
    /// Where: a JSON path like `$[2].addr_info[0].local`, or `line N`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl HostError {
    fn new(file: &str, location: impl Into<String>, message: impl Into<String>) -> HostError {
        HostError {
            file: file.to_string(),
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: at {}: {}", self.file, self.location, self.message)
    }
}

impl std::error::Error for HostError {}

/// The routing table id for a name as `ip` prints it.
///
/// `local`, `main`, `default`, `unspec` and decimal numbers map to the kernel ids. Any
/// other name maps to a stable id in `0x8000_0000..=0xffff_fffe` derived from the name
/// (FNV-1a), so that routes and rules naming the same table agree. Empty names give
/// `None`.
pub fn table_id(name: &str) -> Option<u32> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(match name {
        "local" => TABLE_LOCAL,
        "main" => TABLE_MAIN,
        "default" => TABLE_DEFAULT,
        "unspec" => 0,
        _ => {
            if let Ok(n) = name.parse::<u32>() {
                return Some(n);
            }
            let mut h: u32 = 0x811c_9dc5;
            for b in name.bytes() {
                h ^= b as u32;
                h = h.wrapping_mul(0x0100_0193);
            }
            0x8000_0000 | (h % 0x7fff_ffff)
        }
    })
}

// ---------------------------------------------------------------------------------------
// JSON helpers

fn parse_json(file: &str, json: &str) -> Result<Value, HostError> {
    serde_json::from_str(json).map_err(|e| {
        HostError::new(
            file,
            format!("line {} column {}", e.line(), e.column()),
            format!("invalid JSON: {e}"),
        )
    })
}

fn top_array<'a>(file: &str, v: &'a Value) -> Result<&'a Vec<Value>, HostError> {
    v.as_array()
        .ok_or_else(|| HostError::new(file, "$", format!("expected a JSON array, found {}", kind(v))))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Context for errors: the file and the path of the object being read.
struct Ctx<'a> {
    file: &'a str,
    path: String,
    obj: &'a Value,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, path: String, obj: &'a Value) -> Result<Ctx<'a>, HostError> {
        if !obj.is_object() {
            return Err(HostError::new(
                file,
                path,
                format!("expected an object, found {}", kind(obj)),
            ));
        }
        Ok(Ctx { file, path, obj })
    }

    fn err(&self, key: &str, msg: impl Into<String>) -> HostError {
        HostError::new(self.file, format!("{}.{}", self.path, key), msg)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn has(&self, key: &str) -> bool {
        self.obj.get(key).is_some()
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, HostError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.err(key, format!("expected a string, found {}", kind(v)))),
        }
    }

    fn req_str(&self, key: &str) -> Result<&'a str, HostError> {
        self.opt_str(key)?
            .ok_or_else(|| self.err(key, "missing required string"))
    }

    fn opt_u32(&self, key: &str) -> Result<Option<u32>, HostError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= u32::MAX as u64 => Ok(Some(n as u32)),
                _ => Err(self.err(key, format!("expected an unsigned 32-bit number, found {v}"))),
            },
        }
    }

    fn req_u32(&self, key: &str) -> Result<u32, HostError> {
        self.opt_u32(key)?
            .ok_or_else(|| self.err(key, "missing required number"))
    }

    fn str_list(&self, key: &str) -> Result<Vec<&'a str>, HostError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().ok_or_else(|| {
                        self.err(&format!("{key}[{i}]"), format!("expected a string, found {}", kind(v)))
                    })
                })
                .collect(),
            Some(v) => Err(self.err(key, format!("expected an array, found {}", kind(v)))),
        }
    }

    fn opt_v4(&self, key: &str) -> Result<Option<Ipv4Addr>, HostError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| self.err(key, format!("not an IPv4 address: {s:?}"))),
        }
    }
}

fn is_v6(s: Option<&str>) -> bool {
    s.is_some_and(|s| s.contains(':'))
}

fn up_from(flags: &[&str], operstate: Option<&str>) -> bool {
    flags.contains(&"UP") && !matches!(operstate, Some("DOWN" | "LOWERLAYERDOWN" | "NOTPRESENT"))
}

// ---------------------------------------------------------------------------------------
// links

/// Parses `ip -j -d link show`.
///
/// Reads `ifindex`, `ifname`, `flags` (an interface is up when `UP` is among them and
/// `operstate` is not `DOWN`/`LOWERLAYERDOWN`/`NOTPRESENT`; loopback reports `UNKNOWN`),
/// `mtu` (default 1500), `address` (kept when it is a MAC), `master` and
/// `linkinfo.info_kind`. Addresses are filled by [`parse_addrs`].
pub fn parse_links(file: &str, json: &str) -> Result<Vec<Interface>, HostError> {
    let v = parse_json(file, json)?;
    let arr = top_array(file, &v)?;
    let mut out = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let c = Ctx::new(file, format!("$[{i}]"), item)?;
        out.push(link_from(&c)?);
    }
    Ok(out)
}

fn link_from(c: &Ctx) -> Result<Interface, HostError> {
    let index = c.req_u32("ifindex")?;
    let name = c.req_str("ifname")?.to_string();
    let flags = c.str_list("flags")?;
    let up = up_from(&flags, c.opt_str("operstate")?);
    let mtu = c.opt_u32("mtu")?.unwrap_or(1500);
    let mac = c.opt_str("address")?.and_then(parse_mac);
    let master = c.opt_str("master")?.map(str::to_string);
    let kind = match c.get("linkinfo") {
        None => None,
        Some(li) => {
            let lc = Ctx::new(c.file, format!("{}.linkinfo", c.path), li)?;
            lc.opt_str("info_kind")?.map(str::to_string)
        }
    };
    Ok(Interface {
        index,
        name,
        kind,
        mac,
        master,
        up,
        mtu,
        addrs: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------
// addresses

/// Parses `ip -j addr show` and merges the IPv4 addresses into `ifaces`.
///
/// An entry is matched to an interface by `ifindex` and `ifname` together, then by name
/// alone; an interface not in `ifaces` is created from the entry (its flags, mtu and MAC
/// are in `ip addr` output too). Addresses keep their order (the first address of a
/// subnet is the primary one); an address already present is not added twice. `inet6`
/// entries are skipped.
pub fn parse_addrs(file: &str, json: &str, ifaces: &mut Vec<Interface>) -> Result<(), HostError> {
    let v = parse_json(file, json)?;
    let arr = top_array(file, &v)?;
    for (i, item) in arr.iter().enumerate() {
        let c = Ctx::new(file, format!("$[{i}]"), item)?;
        let index = c.req_u32("ifindex")?;
        let name = c.req_str("ifname")?;
        let mut addrs = Vec::new();
        match c.get("addr_info") {
            None => {}
            Some(Value::Array(list)) => {
                for (j, a) in list.iter().enumerate() {
                    let ac = Ctx::new(file, format!("$[{i}].addr_info[{j}]"), a)?;
                    if ac.opt_str("family")? != Some("inet") {
                        continue;
                    }
                    let local = ac
                        .opt_v4("local")?
                        .ok_or_else(|| ac.err("local", "missing required string"))?;
                    let plen = ac.req_u32("prefixlen")?;
                    let net = u8::try_from(plen)
                        .ok()
                        .and_then(|p| Ipv4Net::new(local, p).ok())
                        .ok_or_else(|| ac.err("prefixlen", format!("invalid IPv4 prefix length {plen}")))?;
                    addrs.push(net);
                }
            }
            Some(v) => return Err(c.err("addr_info", format!("expected an array, found {}", kind(v)))),
        }
        let pos = ifaces
            .iter()
            .position(|f| f.index == index && f.name == name)
            .or_else(|| ifaces.iter().position(|f| f.name == name));
        let iface = match pos {
            Some(p) => &mut ifaces[p],
            None => {
                ifaces.push(link_from(&c)?);
                ifaces.last_mut().expect("just pushed")
            }
        };
        for a in addrs {
            if !iface.addrs.contains(&a) {
                iface.addrs.push(a);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// routes

fn parse_prefix(s: &str, len: Option<u32>) -> Option<Ipv4Net> {
    if s == "default" || s == "all" {
        return Some(Ipv4Net::default());
    }
    if let Some((a, l)) = s.split_once('/') {
        return Ipv4Net::new(a.parse().ok()?, l.parse().ok()?).ok();
    }
    let a: Ipv4Addr = s.parse().ok()?;
    let l = u8::try_from(len.unwrap_or(32)).ok()?;
    Ipv4Net::new(a, l).ok()
}

/// Parses `ip -j route show table all` (or any `ip -j route` listing).
///
/// * `dst`: `default`, `a.b.c.d/n`, or a bare address meaning /32.
/// * `table`: absent means `main`; names and numbers as in [`table_id`].
/// * `type`: absent means unicast.
/// * `gateway`, `dev`, `prefsrc`, `metric` (default 0). A multipath route
///   (`nexthops`) keeps its first next hop.
///
/// IPv6 routes (an address with `:` in `dst`, `gateway` or `prefsrc`, or a `pref` key,
/// which iproute2 prints only for IPv6) are skipped.
pub fn parse_routes(file: &str, json: &str) -> Result<Vec<Route>, HostError> {
    let v = parse_json(file, json)?;
    let arr = top_array(file, &v)?;
    let mut out = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let c = Ctx::new(file, format!("$[{i}]"), item)?;
        let dst_s = c.req_str("dst")?;
        if is_v6(Some(dst_s))
            || is_v6(c.opt_str("gateway").ok().flatten())
            || is_v6(c.opt_str("prefsrc").ok().flatten())
            || c.has("pref")
            || c.opt_str("family").ok().flatten() == Some("inet6")
        {
            continue;
        }
        let dst =
            parse_prefix(dst_s, None).ok_or_else(|| c.err("dst", format!("not an IPv4 destination: {dst_s:?}")))?;
        let table = match c.get("table") {
            None => TABLE_MAIN,
            Some(Value::String(s)) => table_id(s).ok_or_else(|| c.err("table", "empty table name"))?,
            Some(v) => match v.as_u64() {
                Some(n) if n <= u32::MAX as u64 => n as u32,
                _ => return Err(c.err("table", format!("expected a table name or number, found {v}"))),
            },
        };
        let kind = match c.opt_str("type")? {
            None => RouteType::Unicast,
            Some(t) => RouteType::parse(t).ok_or_else(|| c.err("type", format!("unsupported route type {t:?}")))?,
        };
        let mut dev = c.opt_str("dev")?.map(str::to_string);
        let mut gateway = c.opt_v4("gateway")?;
        if dev.is_none() && gateway.is_none() {
            if let Some(Value::Array(hops)) = c.get("nexthops") {
                if let Some(h) = hops.first() {
                    let hc = Ctx::new(file, format!("$[{i}].nexthops[0]"), h)?;
                    dev = hc.opt_str("dev")?.map(str::to_string);
                    if !is_v6(hc.opt_str("gateway")?) {
                        gateway = hc.opt_v4("gateway")?;
                    }
                }
            }
        }
        out.push(Route {
            table,
            kind,
            dst,
            dev,
            gateway,
            prefsrc: c.opt_v4("prefsrc")?,
            metric: c.opt_u32("metric")?.unwrap_or(0),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// rules

/// Selectors of `ip rule` that [`PolicyRule`] cannot express; a rule using one is an error
/// rather than silently matching more than the kernel would.
const UNSUPPORTED_RULE_KEYS: &[&str] = &[
    "tos",
    "dsfield",
    "ipproto",
    "sport",
    "dport",
    "uidrange",
    "suppress_prefixlen",
    "suppress_ifgroup",
    "tun_id",
    "l3mdev",
    "realms",
    "flowlabel",
];

fn parse_num(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Parses `ip -j rule show`.
///
/// Reads `priority`, `src`/`srclen` and `dst`/`dstlen` (`all` means any; a missing length
/// means /32), `not`, `fwmark`/`fwmask` (mask defaults to `0xffffffff`), `iif`, `oif`,
/// `table` and `action` (`blackhole`, `unreachable`, `prohibit`; `nop` rules are dropped).
/// Rules with a `goto` action or selectors [`PolicyRule`] cannot express (`tos`,
/// `ipproto`, ports, `uidrange`, `suppress_prefixlength`, ...) are errors.
pub fn parse_rules(file: &str, json: &str) -> Result<Vec<PolicyRule>, HostError> {
    let v = parse_json(file, json)?;
    let arr = top_array(file, &v)?;
    let mut out = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let c = Ctx::new(file, format!("$[{i}]"), item)?;
        if is_v6(c.opt_str("src").ok().flatten()) || is_v6(c.opt_str("dst").ok().flatten()) {
            continue;
        }
        for k in UNSUPPORTED_RULE_KEYS {
            if c.has(k) {
                return Err(c.err(k, format!("the rule selector {k:?} is not supported")));
            }
        }
        let prefix = |key: &str, lenkey: &str| -> Result<Option<Ipv4Net>, HostError> {
            match c.opt_str(key)? {
                None | Some("all") => Ok(None),
                Some(s) => {
                    let len = c.opt_u32(lenkey)?;
                    parse_prefix(s, len)
                        .map(Some)
                        .ok_or_else(|| c.err(key, format!("not an IPv4 prefix: {s:?}/{len:?}")))
                }
            }
        };
        let from = prefix("src", "srclen")?;
        let to = prefix("dst", "dstlen")?;
        let fwmark = match c.opt_str("fwmark")? {
            None => None,
            Some(m) => {
                let mark = parse_num(m).ok_or_else(|| c.err("fwmark", format!("bad mark {m:?}")))?;
                let mask = match c.opt_str("fwmask")? {
                    None => u32::MAX,
                    Some(s) => parse_num(s).ok_or_else(|| c.err("fwmask", format!("bad mask {s:?}")))?,
                };
                Some((mark, mask))
            }
        };
        let mut table = match c.get("table") {
            None => None,
            Some(Value::String(s)) => Some(table_id(s).ok_or_else(|| c.err("table", "empty table name"))?),
            Some(v) => match v.as_u64() {
                Some(n) if n <= u32::MAX as u64 => Some(n as u32),
                _ => return Err(c.err("table", format!("expected a table name or number, found {v}"))),
            },
        };
        let action = match c.opt_str("action")? {
            None => None,
            Some("nop") => continue,
            Some(a @ ("blackhole" | "unreachable" | "prohibit")) => {
                table = None;
                RouteType::parse(a)
            }
            Some(a) => return Err(c.err("action", format!("unsupported rule action {a:?}"))),
        };
        if table.is_none() && action.is_none() {
            return Err(c.err("table", "rule has neither a table nor an action"));
        }
        out.push(PolicyRule {
            priority: c.opt_u32("priority")?.unwrap_or(0),
            from,
            to,
            fwmark,
            iif: c.opt_str("iif")?.map(str::to_string),
            oif: c.opt_str("oif")?.map(str::to_string),
            table,
            action,
            invert: c.has("not"),
        });
    }
    Ok(out)
}

/// The kernel's default IPv4 rules: `0: lookup local`, `32766: lookup main`,
/// `32767: lookup default`.
pub fn default_rules() -> Vec<PolicyRule> {
    [(0, TABLE_LOCAL), (32766, TABLE_MAIN), (32767, TABLE_DEFAULT)]
        .into_iter()
        .map(|(priority, table)| PolicyRule {
            priority,
            from: None,
            to: None,
            fwmark: None,
            iif: None,
            oif: None,
            table: Some(table),
            action: None,
            invert: false,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// sysctl

/// Parses `sysctl KEY...` output: lines `key = value` (also `key=value`, and `/` as the
/// separator as in `/proc/sys` paths).
///
/// Known keys: `net.ipv4.ip_forward`, `net.bridge.bridge-nf-call-iptables`,
/// `net.ipv4.conf.all.route_localnet`; a value is true when it is a non-zero integer.
/// Unknown keys, blank lines, `#`/`;` comments and `sysctl: ...` error lines are ignored;
/// missing keys keep [`Sysctls::default`]. A line without `=`, or a known key with a
/// non-integer value, is an error.
pub fn parse_sysctl(file: &str, text: &str) -> Result<Sysctls, HostError> {
    let mut s = Sysctls::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') || line.starts_with("sysctl:") {
            continue;
        }
        let loc = format!("line {}", n + 1);
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| HostError::new(file, loc.clone(), format!("expected `key = value`, found {line:?}")))?;
        let key = k.trim().replace('/', ".");
        let val = v.trim();
        let slot = match key.as_str() {
            "net.ipv4.ip_forward" => &mut s.ip_forward,
            "net.bridge.bridge-nf-call-iptables" => &mut s.bridge_nf_call_iptables,
            "net.ipv4.conf.all.route_localnet" => &mut s.route_localnet,
            _ => continue,
        };
        let n: i64 = val
            .parse()
            .map_err(|_| HostError::new(file, loc, format!("{key}: expected an integer, found {val:?}")))?;
        *slot = n != 0;
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// derived routes

fn is_loopback(i: &Interface) -> bool {
    i.name == "lo" || i.kind.as_deref() == Some("loopback")
}

/// The routes the kernel adds for the interfaces' addresses (`fib_add_ifaddr`).
///
/// For each IPv4 address, in order (the first address of a subnet on an interface is the
/// primary one, later ones are secondaries):
///
/// * always `local ADDR dev IF table local`, with the subnet's primary address as
///   `prefsrc`;
/// * when the interface is up, for primaries with a prefix shorter than /32: the
///   connected route `PREFIX dev IF scope link src ADDR` in table main (on loopback it is
///   `local PREFIX` in table local instead), and for prefixes shorter than /31
///   `broadcast BCAST dev IF table local`.
///
/// Duplicates (two interfaces in one subnet) are kept once per device, like the kernel.
pub fn derive_kernel_routes(ifaces: &[Interface]) -> Vec<Route> {
    let mut out: Vec<Route> = Vec::new();
    let push = |r: Route, out: &mut Vec<Route>| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    for i in ifaces {
        for (k, a) in i.addrs.iter().enumerate() {
            let net = a.trunc();
            let primary = i.addrs[..k].iter().find(|p| p.trunc() == net).map(|p| p.addr());
            let prim_addr = primary.unwrap_or(a.addr());
            let dev = Some(i.name.clone());
            push(
                Route {
                    table: TABLE_LOCAL,
                    kind: RouteType::Local,
                    dst: Ipv4Net::new(a.addr(), 32).expect("32 is valid"),
                    dev: dev.clone(),
                    gateway: None,
                    prefsrc: Some(prim_addr),
                    metric: 0,
                },
                &mut out,
            );
            if primary.is_some() || !i.up || a.prefix_len() == 32 {
                continue;
            }
            let lo = is_loopback(i);
            push(
                Route {
                    table: if lo { TABLE_LOCAL } else { TABLE_MAIN },
                    kind: if lo { RouteType::Local } else { RouteType::Unicast },
                    dst: net,
                    dev: dev.clone(),
                    gateway: None,
                    prefsrc: Some(a.addr()),
                    metric: 0,
                },
                &mut out,
            );
            if a.prefix_len() < 31 {
                push(
                    Route {
                        table: TABLE_LOCAL,
                        kind: RouteType::Broadcast,
                        dst: Ipv4Net::new(a.broadcast(), 32).expect("32 is valid"),
                        dev,
                        gateway: None,
                        prefsrc: Some(a.addr()),
                        metric: 0,
                    },
                    &mut out,
                );
            }
        }
    }
    out
}
