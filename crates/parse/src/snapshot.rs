//! Loading a host from a snapshot directory or a hand-written TOML file, and taking a
//! snapshot of a live host.
//!
//! # Snapshot directory
//!
//! [`load_snapshot`] reads these files (the names [`collect_snapshot`] writes):
//!
//! | file | command | when missing |
//! | --- | --- | --- |
//! | `ip-link.json` | `ip -j -d link show` | interfaces come from `ip-addr.json` alone |
//! | `ip-addr.json` | `ip -j addr show` | interfaces have no addresses |
//! | `ip-route.json` | `ip -j route show table all` | the kernel's routes for the addresses ([`derive_kernel_routes`]): local and broadcast routes in table local, connected routes in main; no default route |
//! | `ip-rule.json` | `ip -j rule show` | the kernel's default rules: `0 local`, `32766 main`, `32767 default` |
//! | `sysctl.txt` | `sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.route_localnet` | [`Sysctls::default`] (no forwarding, bridge-nf-call-iptables on, no route_localnet) |
//! | `iptables-save.txt` | `iptables-save` | an empty ruleset (no table loaded: nothing is filtered); an empty or comment-only file means the same |
//! | `ipset-save.txt` | `ipset save` | no ipsets |
//! | `listeners.txt` | `ss -H -ltnu` | no listening sockets known (lint's exposure check NFW011 is skipped); unparsable lines are warnings ([`crate::listeners`]) |
//!
//! At least one of `ip-link.json` and `ip-addr.json` must be there.
//!
//! # Host TOML
//!
//! [`load_host_toml`] reads a small hand-written description:
//!
//! ```toml
//! name = "web1"                   # optional; default: the file's stem
//! rules = "iptables-save.txt"     # optional; relative to the TOML file
//!
//! [sysctl]                        # optional; missing keys keep the defaults
//! ip_forward = true               # or "net.ipv4.ip_forward" = 1
//! bridge_nf_call_iptables = true
//! route_localnet = false
//!
//! [[interfaces]]
//! name = "eth0"
//! addrs = ["198.51.100.1/24"]     # IPv4 with prefix length
//! mac = "02:00:00:00:00:01"       # optional
//! kind = "veth"                   # optional (bridge, veth, ...)
//! master = "br0"                  # optional; `bridge` is an alias
//! # index = 2, up = true, mtu = 1500 are optional too
//!
//! [[routes]]
//! dst = "default"                 # or "a.b.c.d/n", or an address meaning /32
//! via = "198.51.100.254"          # optional gateway
//! dev = "eth0"                    # optional
//! table = "main"                  # optional: name or number
//! type = "unicast"                # optional; also blackhole, unreachable, ...
//! metric = 0                      # optional
//! src = "198.51.100.1"            # optional preferred source
//!
//! [[ip_rules]]                    # optional policy rules; default: the kernel's three
//! priority = 100
//! from = "10.0.0.0/24"
//! table = 100
//! ```
//!
//! A loopback `lo` with 127.0.0.1/8 (index 1) is added unless the file names `lo`;
//! interfaces without an `index` are numbered from 2 in file order. The kernel's routes
//! for the addresses ([`derive_kernel_routes`]) are added to the given routes, except
//! where a given route has the same table, type, destination and device.

use crate::host::{self, default_rules, HostError};
use crate::iptables::Diagnostic;
use ipnet::Ipv4Net;
use nfwalk_model::packet::parse_mac;
use nfwalk_model::{Host, Interface, PolicyRule, Route, RouteType, Sysctls};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use crate::host::derive_kernel_routes;

/// Why a snapshot or host file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A host state file is malformed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The iptables-save file could not be loaded (its diagnostics name the file).
    #[error(transparent)]
    Ruleset(Box<crate::iptables::LoadError>),
    /// The ipset-save file is malformed.
    #[error(transparent)]
    Ipset(Box<crate::ipset::IpsetError>),
    /// The host TOML file is malformed.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Neither `ip-link.json` nor `ip-addr.json` is in the directory.
    #[error("{0}: no ip-link.json or ip-addr.json: not a snapshot directory")]
    NoInterfaces(PathBuf),
}

fn read_opt(path: &Path) -> Result<Option<String>, SnapshotError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn empty_ruleset(source: &str) -> nfwalk_model::Ruleset {
    nfwalk_model::Ruleset {
        source: source.into(),
        ..Default::default()
    }
}

fn load_ruleset(path: &Path, text: &str) -> Result<(nfwalk_model::Ruleset, Vec<Diagnostic>), SnapshotError> {
    let file = path.display().to_string();
    // `iptables-save` prints nothing when no table is loaded (a fresh namespace): no
    // filtering at all, the same as an empty ruleset.
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok((empty_ruleset(&file), Vec::new()));
    }
    match crate::iptables::load(&file, text) {
        Ok(l) => Ok((l.ruleset, l.diagnostics)),
        Err(e) => Err(SnapshotError::Ruleset(Box::new(e))),
    }
}

/// Loads a snapshot directory (see the [module docs](self) for the files and the
/// defaults for missing ones). Returns the host and the ruleset loader's diagnostics.
pub fn load_snapshot(dir: &Path) -> Result<(Host, Vec<Diagnostic>), SnapshotError> {
    let meta = std::fs::metadata(dir).map_err(|source| SnapshotError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(SnapshotError::Io {
            path: dir.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
        });
    }
    let f = |n: &str| dir.join(n);
    let name_of = |n: &str| f(n).display().to_string();
    let link = read_opt(&f("ip-link.json"))?;
    let addr = read_opt(&f("ip-addr.json"))?;
    if link.is_none() && addr.is_none() {
        return Err(SnapshotError::NoInterfaces(dir.to_path_buf()));
    }
    let mut interfaces = match &link {
        Some(t) => host::parse_links(&name_of("ip-link.json"), t)?,
        None => Vec::new(),
    };
    if let Some(t) = &addr {
        host::parse_addrs(&name_of("ip-addr.json"), t, &mut interfaces)?;
    }
    let routes = match read_opt(&f("ip-route.json"))? {
        Some(t) => host::parse_routes(&name_of("ip-route.json"), &t)?,
        None => derive_kernel_routes(&interfaces),
    };
    let rules = match read_opt(&f("ip-rule.json"))? {
        Some(t) => host::parse_rules(&name_of("ip-rule.json"), &t)?,
        None => default_rules(),
    };
    let sysctl = match read_opt(&f("sysctl.txt"))? {
        Some(t) => host::parse_sysctl(&name_of("sysctl.txt"), &t)?,
        None => Sysctls::default(),
    };
    let rpath = f("iptables-save.txt");
    let (ruleset, mut diags) = match read_opt(&rpath)? {
        Some(t) => load_ruleset(&rpath, &t)?,
        None => (empty_ruleset("<empty>"), Vec::new()),
    };
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let ipsets = match read_opt(&f("ipset-save.txt"))? {
        Some(t) => {
            let (sets, warnings) = crate::ipset::parse_ipset_save(&name_of("ipset-save.txt"), &t)
                .map_err(|e| SnapshotError::Ipset(Box::new(e)))?;
            for w in warnings {
                diags.push(crate::iptables::Diagnostic::warning(
                    &name_of("ipset-save.txt"),
                    0,
                    0,
                    "",
                    w,
                ));
            }
            sets
        }
        None => Vec::new(),
    };
    let listeners = match read_opt(&f("listeners.txt"))? {
        Some(t) => {
            let (l, warnings) = crate::listeners::parse_ss(&t);
            for w in warnings {
                diags.push(crate::iptables::Diagnostic::warning(
                    &name_of("listeners.txt"),
                    0,
                    0,
                    "",
                    w,
                ));
            }
            l
        }
        None => Vec::new(),
    };
    Ok((
        Host {
            name,
            interfaces,
            routes,
            rules,
            sysctl,
            ruleset,
            ipsets,
            listeners,
        },
        diags,
    ))
}

// ---------------------------------------------------------------------------------------
// TOML

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostToml {
    name: Option<String>,
    rules: Option<String>,
    #[serde(default)]
    sysctl: BTreeMap<String, toml::Value>,
    #[serde(default)]
    interfaces: Vec<IfaceToml>,
    #[serde(default)]
    routes: Vec<RouteToml>,
    ip_rules: Option<Vec<RuleToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IfaceToml {
    name: String,
    #[serde(default)]
    addrs: Vec<String>,
    mac: Option<String>,
    #[serde(alias = "bridge")]
    master: Option<String>,
    kind: Option<String>,
    index: Option<u32>,
    up: Option<bool>,
    mtu: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TableToml {
    Num(u32),
    Name(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteToml {
    dst: String,
    dev: Option<String>,
    via: Option<String>,
    table: Option<TableToml>,
    #[serde(rename = "type")]
    kind: Option<String>,
    metric: Option<u32>,
    src: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    priority: u32,
    from: Option<String>,
    to: Option<String>,
    fwmark: Option<u32>,
    fwmask: Option<u32>,
    iif: Option<String>,
    oif: Option<String>,
    table: Option<TableToml>,
    action: Option<String>,
    #[serde(default)]
    not: bool,
}

fn table_of(t: &Option<TableToml>) -> Option<Option<u32>> {
    match t {
        None => Some(None),
        Some(TableToml::Num(n)) => Some(Some(*n)),
        Some(TableToml::Name(s)) => host::table_id(s).map(Some),
    }
}

fn prefix(s: &str) -> Option<Ipv4Net> {
    if s == "default" || s == "all" {
        return Some(Ipv4Net::default());
    }
    s.parse::<Ipv4Net>()
        .ok()
        .or_else(|| s.parse::<Ipv4Addr>().ok().map(Ipv4Net::from))
}

/// Loads a hand-written host TOML file (format in the [module docs](self)).
pub fn load_host_toml(path: &Path) -> Result<(Host, Vec<Diagnostic>), SnapshotError> {
    let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let terr = |message: String| SnapshotError::Toml {
        path: path.to_path_buf(),
        message,
    };
    let doc: HostToml = toml::from_str(&text).map_err(|e| terr(e.to_string().trim_end().to_string()))?;

    let mut interfaces = Vec::new();
    let mut used: Vec<u32> = doc.interfaces.iter().filter_map(|i| i.index).collect();
    if !doc.interfaces.iter().any(|i| i.name == "lo") {
        let mut lo = Interface::new(1, "lo", &["127.0.0.1/8"]);
        lo.mtu = 65536;
        lo.mac = Some([0; 6]);
        if used.contains(&1) {
            return Err(terr(
                "index 1 is the loopback's; name the interface `lo` or pick another index".into(),
            ));
        }
        used.push(1);
        interfaces.push(lo);
    }
    let mut next = 2;
    for (n, i) in doc.interfaces.iter().enumerate() {
        let at = format!("interfaces[{n}] ({})", i.name);
        let index = match i.index {
            Some(x) => x,
            None => {
                while used.contains(&next) {
                    next += 1;
                }
                used.push(next);
                next
            }
        };
        let mut addrs = Vec::new();
        for a in &i.addrs {
            addrs.push(a.parse::<Ipv4Net>().map_err(|_| {
                terr(format!(
                    "{at}: address {a:?} is not IPv4 with a prefix length like 10.0.0.1/24"
                ))
            })?);
        }
        let mac = match &i.mac {
            None => None,
            Some(m) => Some(parse_mac(m).ok_or_else(|| terr(format!("{at}: bad MAC {m:?}")))?),
        };
        interfaces.push(Interface {
            index,
            name: i.name.clone(),
            kind: i.kind.clone(),
            mac,
            master: i.master.clone(),
            up: i.up.unwrap_or(true),
            mtu: i.mtu.unwrap_or(if i.name == "lo" { 65536 } else { 1500 }),
            addrs,
        });
    }

    let mut routes = Vec::new();
    for (n, r) in doc.routes.iter().enumerate() {
        let at = format!("routes[{n}] ({})", r.dst);
        let dst = prefix(&r.dst).ok_or_else(|| terr(format!("{at}: bad destination {:?}", r.dst)))?;
        let table = table_of(&r.table)
            .ok_or_else(|| terr(format!("{at}: bad table")))?
            .unwrap_or(nfwalk_model::host::TABLE_MAIN);
        let kind = match &r.kind {
            None => RouteType::Unicast,
            Some(k) => RouteType::parse(k).ok_or_else(|| terr(format!("{at}: unknown route type {k:?}")))?,
        };
        let ip = |s: &Option<String>, what: &str| -> Result<Option<Ipv4Addr>, SnapshotError> {
            match s {
                None => Ok(None),
                Some(s) => s
                    .parse()
                    .map(Some)
                    .map_err(|_| terr(format!("{at}: {what} {s:?} is not an IPv4 address"))),
            }
        };
        if let Some(d) = &r.dev {
            if !interfaces.iter().any(|i| &i.name == d) {
                return Err(terr(format!("{at}: no interface named {d:?}")));
            }
        }
        routes.push(Route {
            table,
            kind,
            dst,
            dev: r.dev.clone(),
            gateway: ip(&r.via, "via")?,
            prefsrc: ip(&r.src, "src")?,
            metric: r.metric.unwrap_or(0),
        });
    }
    for d in derive_kernel_routes(&interfaces) {
        if !routes
            .iter()
            .any(|r| r.table == d.table && r.kind == d.kind && r.dst == d.dst && r.dev == d.dev)
        {
            routes.push(d);
        }
    }

    let rules = match &doc.ip_rules {
        None => default_rules(),
        Some(list) => {
            let mut out = Vec::new();
            for (n, r) in list.iter().enumerate() {
                let at = format!("ip_rules[{n}] (priority {})", r.priority);
                let p = |s: &Option<String>| -> Result<Option<Ipv4Net>, SnapshotError> {
                    match s.as_deref() {
                        None | Some("all") => Ok(None),
                        Some(s) => prefix(s)
                            .map(Some)
                            .ok_or_else(|| terr(format!("{at}: bad prefix {s:?}"))),
                    }
                };
                let action = match r.action.as_deref() {
                    None => None,
                    Some(a @ ("blackhole" | "unreachable" | "prohibit")) => RouteType::parse(a),
                    Some(a) => return Err(terr(format!("{at}: unsupported action {a:?}"))),
                };
                let table = table_of(&r.table).ok_or_else(|| terr(format!("{at}: bad table")))?;
                if table.is_none() && action.is_none() {
                    return Err(terr(format!("{at}: needs a table or an action")));
                }
                out.push(PolicyRule {
                    priority: r.priority,
                    from: p(&r.from)?,
                    to: p(&r.to)?,
                    fwmark: r.fwmark.map(|m| (m, r.fwmask.unwrap_or(u32::MAX))),
                    iif: r.iif.clone(),
                    oif: r.oif.clone(),
                    table: if action.is_some() { None } else { table },
                    action,
                    invert: r.not,
                });
            }
            out
        }
    };

    let mut sysctl = Sysctls::default();
    for (k, v) in &doc.sysctl {
        let slot = match k.as_str() {
            "ip_forward" | "net.ipv4.ip_forward" => &mut sysctl.ip_forward,
            "bridge_nf_call_iptables" | "net.bridge.bridge-nf-call-iptables" => &mut sysctl.bridge_nf_call_iptables,
            "route_localnet" | "net.ipv4.conf.all.route_localnet" => &mut sysctl.route_localnet,
            _ => return Err(terr(format!("sysctl: unknown key {k:?}"))),
        };
        *slot = match v {
            toml::Value::Boolean(b) => *b,
            toml::Value::Integer(i) => *i != 0,
            other => return Err(terr(format!("sysctl.{k}: expected true/false or 0/1, found {other}"))),
        };
    }

    let (ruleset, diags) = match &doc.rules {
        None => (empty_ruleset("<empty>"), Vec::new()),
        Some(r) => {
            let rp = path.parent().unwrap_or(Path::new(".")).join(r);
            let text = std::fs::read_to_string(&rp).map_err(|source| SnapshotError::Io {
                path: rp.clone(),
                source,
            })?;
            load_ruleset(&rp, &text)?
        }
    };
    let name = doc.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "host".into())
    });
    Ok((
        Host {
            name,
            interfaces,
            routes,
            rules,
            sysctl,
            ruleset,
            ipsets: Vec::new(),
            listeners: Vec::new(),
        },
        diags,
    ))
}

// ---------------------------------------------------------------------------------------
// collecting

/// The read-only commands a snapshot runs, with the file each one's output goes to.
pub const SNAPSHOT_COMMANDS: &[(&str, &[&str])] = &[
    ("ip-link.json", &["ip", "-j", "-d", "link", "show"]),
    ("ip-addr.json", &["ip", "-j", "addr", "show"]),
    ("ip-route.json", &["ip", "-j", "route", "show", "table", "all"]),
    ("ip-rule.json", &["ip", "-j", "rule", "show"]),
    ("iptables-save.txt", &["iptables-save"]),
    ("ipset-save.txt", &["ipset", "save"]),
    ("listeners.txt", &["ss", "-H", "-ltnu"]),
    (
        "sysctl.txt",
        &[
            "sysctl",
            "net.ipv4.ip_forward",
            "net.bridge.bridge-nf-call-iptables",
            "net.ipv4.conf.all.route_localnet",
        ],
    ),
];

/// Takes a snapshot of this host's network state into `dir` (created if needed) by
/// running the read-only [`SNAPSHOT_COMMANDS`]. A command that is missing or fails has
/// its file left out (or, for `sysctl` with some keys missing, written with the keys it
/// printed); `collect.log` records every command and its outcome. Errors only when the
/// directory or a file cannot be written.
pub fn collect_snapshot(dir: &Path) -> io::Result<()> {
    collect(dir, &[])
}

/// Like [`collect_snapshot`], for the network namespace `ns`: each command runs as
/// `ip netns exec NS ...`.
pub fn collect_snapshot_in_netns(ns: &str, dir: &Path) -> io::Result<()> {
    collect(dir, &["ip", "netns", "exec", ns])
}

fn collect(dir: &Path, prefix: &[&str]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut log = String::new();
    for (file, cmd) in SNAPSHOT_COMMANDS {
        let argv: Vec<&str> = prefix.iter().chain(cmd.iter()).copied().collect();
        let shown = argv.join(" ");
        let out = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .output();
        let path = dir.join(file);
        match out {
            Err(e) => {
                let _ = writeln!(log, "{file}: `{shown}` could not run: {e}");
                remove_stale(&path)?;
            }
            Ok(o) => {
                let stderr = String::from_utf8_lossy(&o.stderr);
                let keep = o.status.success() || (*file == "sysctl.txt" && !o.stdout.is_empty());
                if keep {
                    std::fs::write(&path, &o.stdout)?;
                    let _ = writeln!(log, "{file}: `{shown}`: {} ({} bytes)", o.status, o.stdout.len());
                } else {
                    remove_stale(&path)?;
                    let _ = writeln!(log, "{file}: `{shown}` failed: {}; file not written", o.status);
                }
                for l in stderr.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = writeln!(log, "    stderr: {l}");
                }
            }
        }
    }
    std::fs::write(dir.join("collect.log"), log)
}

fn remove_stale(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
