//! Match modules and targets beyond the everyday ones: recent, owner, hashlimit, policy,
//! rpfilter, statistic, connlimit; NFLOG and NETMAP. Each has its options, its canonical
//! (iptables-save) form and its `-L` text, checked against iptables 1.8.9 (nf_tables) in a lab
//! namespace.

use crate::names;
use crate::rule::{mask_suffix, parse_addr_mask, parse_num, parse_u32, perr, save_string, Module, Opt};
use crate::XtError;

type Opts = &'static [(&'static str, u8, &'static str)];

/// Options of the modules this file models: (name, number of arguments, canonical name).
pub(crate) fn opts(module: &str, target: bool) -> Option<Opts> {
    Some(match (target, module) {
        (false, "recent") => &[
            ("set", 0, "set"),
            ("rcheck", 0, "rcheck"),
            ("update", 0, "update"),
            ("remove", 0, "remove"),
            ("seconds", 1, "seconds"),
            ("reap", 0, "reap"),
            ("hitcount", 1, "hitcount"),
            ("rttl", 0, "rttl"),
            ("name", 1, "name"),
            ("mask", 1, "mask"),
            ("rsource", 0, "rsource"),
            ("rdest", 0, "rdest"),
        ],
        (false, "owner") => &[
            ("uid-owner", 1, "uid-owner"),
            ("gid-owner", 1, "gid-owner"),
            ("socket-exists", 0, "socket-exists"),
            ("suppl-groups", 0, "suppl-groups"),
        ],
        (false, "hashlimit") => &[
            ("hashlimit", 1, "hashlimit-upto"),
            ("hashlimit-upto", 1, "hashlimit-upto"),
            ("hashlimit-above", 1, "hashlimit-above"),
            ("hashlimit-burst", 1, "hashlimit-burst"),
            ("hashlimit-mode", 1, "hashlimit-mode"),
            ("hashlimit-name", 1, "hashlimit-name"),
            ("hashlimit-htable-size", 1, "hashlimit-htable-size"),
            ("hashlimit-htable-max", 1, "hashlimit-htable-max"),
            ("hashlimit-htable-gcinterval", 1, "hashlimit-htable-gcinterval"),
            ("hashlimit-htable-expire", 1, "hashlimit-htable-expire"),
            ("hashlimit-srcmask", 1, "hashlimit-srcmask"),
            ("hashlimit-dstmask", 1, "hashlimit-dstmask"),
            ("hashlimit-rate-match", 0, "hashlimit-rate-match"),
            ("hashlimit-rate-interval", 1, "hashlimit-rate-interval"),
        ],
        (false, "policy") => &[
            ("dir", 1, "dir"),
            ("pol", 1, "pol"),
            ("strict", 0, "strict"),
            ("reqid", 1, "reqid"),
            ("spi", 1, "spi"),
            ("proto", 1, "proto"),
            ("mode", 1, "mode"),
            ("tunnel-src", 1, "tunnel-src"),
            ("tunnel-dst", 1, "tunnel-dst"),
            ("next", 0, "next"),
        ],
        (false, "rpfilter") => &[
            ("loose", 0, "loose"),
            ("validmark", 0, "validmark"),
            ("accept-local", 0, "accept-local"),
            ("invert", 0, "invert"),
        ],
        (false, "statistic") => &[
            ("mode", 1, "mode"),
            ("probability", 1, "probability"),
            ("every", 1, "every"),
            ("packet", 1, "packet"),
        ],
        (false, "connlimit") => &[
            ("connlimit-upto", 1, "connlimit-upto"),
            ("connlimit-above", 1, "connlimit-above"),
            ("connlimit-mask", 1, "connlimit-mask"),
            ("connlimit-saddr", 0, "connlimit-saddr"),
            ("connlimit-daddr", 0, "connlimit-daddr"),
        ],
        (true, "NFLOG") => &[
            ("nflog-group", 1, "nflog-group"),
            ("nflog-prefix", 1, "nflog-prefix"),
            ("nflog-range", 1, "nflog-range"),
            ("nflog-size", 1, "nflog-size"),
            ("nflog-threshold", 1, "nflog-threshold"),
        ],
        (true, "NETMAP") => &[("to", 1, "to")],
        _ => return None,
    })
}

fn one(n: &str, neg: bool, v: String) -> Opt {
    Opt {
        name: n.into(),
        neg,
        args: vec![v],
    }
}

fn flag(n: &str, neg: bool) -> Opt {
    Opt {
        name: n.into(),
        neg,
        args: vec![],
    }
}

fn bad_value(module: &str, opt: &str, v: &str) -> XtError {
    perr(format!(
        "{module}: Bad value for option \"--{opt}\", or out of range (\"{v}\")."
    ))
}

fn num_opt(m: &Module, opt: &str) -> Result<Option<u32>, XtError> {
    m.arg(opt)
        .map(|v| {
            parse_num(v)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad_value(&m.name, opt, v))
        })
        .transpose()
}

/// Canonicalises `m` in place; `None` when this file does not model it.
pub(crate) fn canon(m: &mut Module, proto: u8, target: bool) -> Option<Result<(), XtError>> {
    let _ = proto;
    opts(&m.name, target)?;
    Some(match (target, m.name.as_str()) {
        (false, "recent") => canon_recent(m),
        (false, "owner") => canon_owner(m),
        (false, "hashlimit") => canon_hashlimit(m),
        (false, "policy") => canon_policy(m),
        (false, "rpfilter") => {
            let order = ["loose", "validmark", "accept-local", "invert"];
            m.opts = order.iter().filter(|k| m.has(k)).map(|k| flag(k, false)).collect();
            Ok(())
        }
        (false, "statistic") => canon_statistic(m),
        (false, "connlimit") => canon_connlimit(m),
        (true, "NFLOG") => canon_nflog(m),
        (true, "NETMAP") => {
            let Some(v) = m.arg("to") else {
                return Some(Err(perr("NETMAP needs --to")));
            };
            match parse_addr_mask(v, false) {
                Ok(a) => {
                    m.opts = vec![one("to", false, format!("{}{}", a.addr, mask_suffix(a.mask, true)))];
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        _ => Ok(()),
    })
}

fn canon_recent(m: &mut Module) -> Result<(), XtError> {
    let actions = ["set", "rcheck", "update", "remove"];
    let given: Vec<&Opt> = m.opts.iter().filter(|o| actions.contains(&o.name.as_str())).collect();
    if given.is_empty() {
        return Err(perr(
            "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'",
        ));
    }
    if given.len() > 1 {
        return Err(perr(
            "recent: only one of `--set', `--rcheck' `--update' or `--remove' may be set",
        ));
    }
    let invert = m.opts.iter().any(|o| o.neg);
    let action = given[0].name.clone();
    let mut out = vec![flag(&action, invert)];
    for k in ["seconds", "reap", "hitcount", "rttl"] {
        if k == "seconds" || k == "hitcount" {
            if let Some(n) = num_opt(m, k)?.filter(|n| *n != 0) {
                out.push(one(k, false, n.to_string()));
            }
        } else if m.has(k) {
            out.push(flag(k, false));
        }
    }
    let name = m.arg("name").unwrap_or("DEFAULT").to_string();
    if name.is_empty() || name.len() > 200 {
        return Err(perr("recent: name too long or empty"));
    }
    out.push(one("name", false, name));
    let mask = match m.arg("mask") {
        Some(v) => v
            .parse::<std::net::Ipv4Addr>()
            .map_err(|_| bad_value("recent", "mask", v))?,
        None => std::net::Ipv4Addr::new(255, 255, 255, 255),
    };
    out.push(one("mask", false, mask.to_string()));
    let dest = m
        .opts
        .iter()
        .rev()
        .find(|o| o.name == "rsource" || o.name == "rdest")
        .is_some_and(|o| o.name == "rdest");
    out.push(flag(if dest { "rdest" } else { "rsource" }, false));
    m.opts = out;
    Ok(())
}

fn parse_ids(v: &str, group: bool, opt: &str) -> Result<String, XtError> {
    let id = |s: &str| -> Option<u32> {
        parse_num(s)
            .and_then(|n| u32::try_from(n).ok())
            .or_else(|| names::id_number(s, group))
    };
    let bad = || bad_value("owner", opt, v);
    match v.split_once('-') {
        Some((a, b)) if !a.is_empty() => {
            let (a, b) = (id(a).ok_or_else(bad)?, id(b).ok_or_else(bad)?);
            Ok(if a == b { a.to_string() } else { format!("{a}-{b}") })
        }
        _ => Ok(id(v).ok_or_else(bad)?.to_string()),
    }
}

fn canon_owner(m: &mut Module) -> Result<(), XtError> {
    let mut out = vec![];
    for k in ["socket-exists", "uid-owner", "gid-owner", "suppl-groups"] {
        let Some(o) = m.opt(k) else { continue };
        match k {
            "uid-owner" | "gid-owner" => out.push(one(k, o.neg, parse_ids(&o.args[0], k == "gid-owner", k)?)),
            _ => out.push(flag(k, o.neg)),
        }
    }
    if out.is_empty() {
        return Err(perr(
            "owner: At least one of --uid-owner, --gid-owner or --socket-exists is required",
        ));
    }
    m.opts = out;
    Ok(())
}

const SCALE: u64 = 1_000_000;

/// hashlimit's `parse_rate` (revision 2 and later): (period in 1/1000000 s, unit in seconds).
fn hashlimit_rate(s: &str, opt: &str) -> Result<(u64, u64), XtError> {
    let (n, unit) = match s.split_once('/') {
        Some((n, u)) => (n, Some(u)),
        None => (s, None),
    };
    let bad = || bad_value("hashlimit", opt, s);
    let mult: u64 = match unit {
        None => 1,
        Some("") => return Err(bad()),
        Some(u) => {
            let l = u.to_ascii_lowercase();
            if "second".starts_with(&l) {
                1
            } else if "minute".starts_with(&l) {
                60
            } else if "hour".starts_with(&l) {
                3600
            } else if "day".starts_with(&l) {
                86400
            } else {
                return Err(bad());
            }
        }
    };
    let digits: String = n.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() != n.len() {
        return Err(bad());
    }
    let r: u64 = digits.parse().ok().filter(|r| *r > 0).ok_or_else(bad)?;
    let period = SCALE * mult / r;
    if period == 0 {
        return Err(perr(format!("Rate too fast \"{s}\"")));
    }
    Ok((period, mult))
}

/// hashlimit's `print_rate`: the text and the quantum (ms) of the unit it chose.
fn hashlimit_rate_str(period: u64) -> (String, u64) {
    let rates = [
        ("day", SCALE * 86400),
        ("hour", SCALE * 3600),
        ("min", SCALE * 60),
        ("sec", SCALE),
    ];
    let mut i = 1;
    while i < rates.len() {
        let m = rates[i].1;
        if period > m || m / period < m % period {
            break;
        }
        i += 1;
    }
    (
        format!("{}/{}", rates[i - 1].1 / period, rates[i - 1].0),
        rates[i - 1].1 / SCALE * 1000,
    )
}

fn canon_hashlimit(m: &mut Module) -> Result<(), XtError> {
    // Byte rates and rate-match are not modelled: left as written.
    let rate_opt = m
        .opts
        .iter()
        .find(|o| o.name == "hashlimit-upto" || o.name == "hashlimit-above");
    let Some(rate_opt) = rate_opt.cloned() else {
        return Err(perr("hashlimit: You have to specify --hashlimit"));
    };
    if rate_opt.args[0].to_ascii_lowercase().contains('b')
        || m.has("hashlimit-rate-match")
        || m.has("hashlimit-rate-interval")
    {
        return Ok(());
    }
    let Some(name) = m.arg("hashlimit-name").map(str::to_string) else {
        return Err(perr("hashlimit: option \"--hashlimit-name\" must be specified"));
    };
    let above = (rate_opt.name == "hashlimit-above") != rate_opt.neg;
    let (period, mult) = hashlimit_rate(&rate_opt.args[0], &rate_opt.name)?;
    let (rate, quantum) = hashlimit_rate_str(period);
    let burst = num_opt(m, "hashlimit-burst")?.unwrap_or(5);
    let mut out = vec![
        one(if above { "hashlimit-above" } else { "hashlimit-upto" }, false, rate),
        one("hashlimit-burst", false, burst.to_string()),
    ];
    if let Some(modes) = m.arg("hashlimit-mode") {
        let mut bits = [false; 4];
        let names = ["srcip", "srcport", "dstip", "dstport"];
        for p in modes.split(',') {
            let i = names
                .iter()
                .position(|n| *n == p)
                .ok_or_else(|| bad_value("hashlimit", "hashlimit-mode", modes))?;
            bits[i] = true;
        }
        let v: Vec<&str> = names.iter().zip(bits).filter(|(_, b)| *b).map(|(n, _)| *n).collect();
        out.push(one("hashlimit-mode", false, v.join(",")));
    }
    out.push(one("hashlimit-name", false, name));
    let expire = num_opt(m, "hashlimit-htable-expire")?
        .map(u64::from)
        .unwrap_or(mult * 1000);
    for (k, default) in [
        ("hashlimit-htable-size", 0),
        ("hashlimit-htable-max", 0),
        ("hashlimit-htable-gcinterval", 1000),
    ] {
        if let Some(v) = num_opt(m, k)?.filter(|v| *v != default) {
            out.push(one(k, false, v.to_string()));
        }
    }
    if expire != quantum {
        out.push(one("hashlimit-htable-expire", false, expire.to_string()));
    }
    for k in ["hashlimit-srcmask", "hashlimit-dstmask"] {
        if let Some(v) = num_opt(m, k)? {
            if v > 32 {
                return Err(bad_value("hashlimit", k, &v.to_string()));
            }
            if v != 32 {
                out.push(one(k, false, v.to_string()));
            }
        }
    }
    m.opts = out;
    Ok(())
}

fn canon_policy(m: &mut Module) -> Result<(), XtError> {
    if m.has("next") {
        return Ok(()); // several policy elements: not modelled, left as written
    }
    let dir = m
        .arg("dir")
        .ok_or_else(|| perr("policy match: neither --dir in nor --dir out specified"))?;
    if dir != "in" && dir != "out" {
        return Err(perr(format!("policy match: invalid dir \"{dir}\"")));
    }
    let pol = m.arg("pol").unwrap_or("ipsec");
    if pol != "ipsec" && pol != "none" {
        return Err(perr(format!("policy match: invalid policy \"{pol}\"")));
    }
    let mut out = vec![one("dir", false, dir.into()), one("pol", false, pol.into())];
    if m.has("strict") {
        out.push(flag("strict", false));
    }
    for k in ["reqid", "spi", "proto", "mode", "tunnel-dst", "tunnel-src"] {
        let Some(o) = m.opt(k) else { continue };
        let a = &o.args[0];
        let v = match k {
            "reqid" => parse_u32(a)?.to_string(),
            "spi" => format!("0x{:x}", parse_u32(a)?),
            "proto" => {
                let p = names::proto_number(a)
                    .ok_or_else(|| perr(format!("policy match: protocol \"{a}\" does not exist")))?;
                names::proto_name(p)
                    .map(str::to_string)
                    .unwrap_or_else(|| p.to_string())
            }
            "mode" if a == "tunnel" || a == "transport" => a.clone(),
            "mode" => return Err(perr(format!("policy match: invalid mode \"{a}\""))),
            _ => {
                let am = parse_addr_mask(a, false)?;
                format!("{}{}", am.addr, mask_suffix(am.mask, false))
            }
        };
        out.push(one(k, o.neg, v));
    }
    m.opts = out;
    Ok(())
}

fn canon_statistic(m: &mut Module) -> Result<(), XtError> {
    let mode = m
        .arg("mode")
        .ok_or_else(|| perr("statistic: no mode specified"))?
        .to_string();
    let mut out = vec![one("mode", false, mode.clone())];
    match mode.as_str() {
        "random" => {
            let o = m
                .opt("probability")
                .ok_or_else(|| perr("statistic: --probability must be specified when using random mode"))?;
            let p: f64 = o.args[0]
                .parse()
                .map_err(|_| bad_value("statistic", "probability", &o.args[0]))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(perr("statistic: --probability must be between 0 and 1"));
            }
            let k = (0x8000_0000u64 as f64 * p).round() as u32;
            out.push(one(
                "probability",
                o.neg,
                format!("{:.11}", k as f64 / 0x8000_0000u64 as f64),
            ));
        }
        "nth" => {
            let o = m
                .opt("every")
                .ok_or_else(|| perr("statistic: --every must be specified when using nth mode"))?;
            if !m.has("packet") {
                return Err(perr("statistic: option \"--every\" also requires \"--packet\"."));
            }
            let every = parse_u32(&o.args[0])?;
            if every == 0 {
                return Err(bad_value("statistic", "every", &o.args[0]));
            }
            let packet = num_opt(m, "packet")?.unwrap_or(0);
            if packet > every - 1 {
                return Err(perr("statistic: --packet must be lower than --every"));
            }
            out.push(one("every", o.neg, every.to_string()));
            out.push(one("packet", false, packet.to_string()));
        }
        _ => return Err(bad_value("statistic", "mode", &mode)),
    }
    m.opts = out;
    Ok(())
}

fn canon_connlimit(m: &mut Module) -> Result<(), XtError> {
    let o = m
        .opts
        .iter()
        .find(|o| o.name == "connlimit-upto" || o.name == "connlimit-above")
        .cloned()
        .ok_or_else(|| perr("connlimit: You must specify \"--connlimit-above\" or \"--connlimit-upto\"."))?;
    let upto = (o.name == "connlimit-upto") != o.neg;
    let n = parse_u32(&o.args[0])?;
    let mask = num_opt(m, "connlimit-mask")?.unwrap_or(32);
    if mask > 32 {
        return Err(bad_value("connlimit", "connlimit-mask", &mask.to_string()));
    }
    let daddr = m
        .opts
        .iter()
        .rev()
        .find(|o| o.name == "connlimit-saddr" || o.name == "connlimit-daddr")
        .is_some_and(|o| o.name == "connlimit-daddr");
    m.opts = vec![
        one(
            if upto { "connlimit-upto" } else { "connlimit-above" },
            false,
            n.to_string(),
        ),
        one("connlimit-mask", false, mask.to_string()),
        flag(if daddr { "connlimit-daddr" } else { "connlimit-saddr" }, false),
    ];
    Ok(())
}

fn canon_nflog(m: &mut Module) -> Result<(), XtError> {
    let mut out = vec![];
    if let Some(p) = m.arg("nflog-prefix") {
        if p.len() > 63 {
            return Err(perr("NFLOG: Maximum prefix length is 63"));
        }
        if !p.is_empty() {
            out.push(one("nflog-prefix", false, p.to_string()));
        }
    }
    let group = num_opt(m, "nflog-group")?.unwrap_or(0);
    if group > 65535 {
        return Err(bad_value("NFLOG", "nflog-group", &group.to_string()));
    }
    if group != 0 {
        out.push(one("nflog-group", false, group.to_string()));
    }
    if let Some(s) = num_opt(m, "nflog-size")? {
        out.push(one("nflog-size", false, s.to_string()));
    } else if let Some(r) = num_opt(m, "nflog-range")?.filter(|r| *r != 0) {
        out.push(one("nflog-range", false, r.to_string()));
    }
    if let Some(t) = num_opt(m, "nflog-threshold")?.filter(|t| *t != 1) {
        out.push(one("nflog-threshold", false, t.to_string()));
    }
    m.opts = out;
    Ok(())
}

/// The `-L` text (leading space included) of a module this file models; `None` when the
/// module was left as written (a form nfwalk does not model).
pub(crate) fn print(m: &Module, numeric: bool, target: bool) -> Option<String> {
    let mut s = String::new();
    let bang = |n: bool| if n { " !" } else { "" };
    match (target, m.name.as_str()) {
        (false, "recent") => {
            let act = m.opts.first()?;
            s += &format!("{} recent:", bang(act.neg));
            s += match act.name.as_str() {
                "set" => " SET",
                "rcheck" => " CHECK",
                "update" => " UPDATE",
                _ => " REMOVE",
            };
            if let Some(v) = m.arg("seconds") {
                s += &format!(" seconds: {v}");
            }
            if m.has("reap") {
                s += " reap";
            }
            if let Some(v) = m.arg("hitcount") {
                s += &format!(" hit_count: {v}");
            }
            if m.has("rttl") {
                s += " TTL-Match";
            }
            s += &format!(" name: {}", m.arg("name")?);
            s += if m.has("rdest") { " side: dest" } else { " side: source" };
            s += &format!(" mask: {}", m.arg("mask")?);
        }
        (false, "owner") => {
            for o in &m.opts {
                s += bang(o.neg);
                match o.name.as_str() {
                    "socket-exists" => s += " owner socket exists",
                    "suppl-groups" => s += " incl. suppl. groups",
                    k => {
                        let group = k == "gid-owner";
                        s += if group { " owner GID match" } else { " owner UID match" };
                        let v = &o.args[0];
                        let name = (!numeric && !v.contains('-'))
                            .then(|| v.parse().ok().and_then(|id| names::id_name(id, group)))
                            .flatten();
                        s += &format!(" {}", name.unwrap_or(v));
                    }
                }
            }
        }
        (false, "hashlimit") => {
            let first = m.opts.first()?;
            if !matches!(first.name.as_str(), "hashlimit-upto" | "hashlimit-above")
                || m.opt("hashlimit-burst").is_none()
            {
                return None;
            }
            s += if first.name == "hashlimit-above" {
                " limit: above "
            } else {
                " limit: up to "
            };
            s += &first.args[0];
            s += &format!(" burst {}", m.arg("hashlimit-burst")?);
            if let Some(mode) = m.arg("hashlimit-mode") {
                s += &format!(" mode {}", mode.replace(',', "-"));
            }
            for o in &m.opts[2..] {
                let k = o.name.trim_start_matches("hashlimit-");
                if matches!(k, "mode" | "name") {
                    continue;
                }
                s += &format!(" {k} {}", o.args[0]);
            }
        }
        (false, "policy") => {
            if m.has("next") {
                return None;
            }
            s += " policy match";
            for o in &m.opts {
                s += bang(o.neg);
                s += &format!(" {}", o.name);
                if let Some(v) = o.args.first() {
                    if o.name == "proto" && numeric {
                        s += &format!(" {}", names::proto_number(v)?);
                    } else {
                        s += &format!(" {v}");
                    }
                }
            }
        }
        (false, "rpfilter") => {
            s += " rpfilter";
            for o in &m.opts {
                s += &format!(" {}", o.name);
            }
        }
        (false, "statistic") => {
            let mode = m.arg("mode")?;
            s += &format!(" statistic mode {mode}");
            if mode == "random" {
                let o = m.opt("probability")?;
                s += &format!("{} probability {}", bang(o.neg), o.args[0]);
            } else {
                let o = m.opt("every")?;
                s += &format!("{} every {}", bang(o.neg), o.args[0]);
                if let Some(p) = m.arg("packet").filter(|p| *p != "0") {
                    s += &format!(" packet {p}");
                }
            }
        }
        (false, "connlimit") => {
            let (op, n) = match m.opt("connlimit-upto") {
                Some(o) => ("<=", &o.args[0]),
                None => (">", &m.opt("connlimit-above")?.args[0]),
            };
            let side = if m.has("connlimit-daddr") { "dst" } else { "src" };
            s += &format!(" #conn {side}/{} {op} {n}", m.arg("connlimit-mask")?);
        }
        (true, "NFLOG") => {
            for o in &m.opts {
                s += &format!(" {}", o.name);
                let v = &o.args[0];
                s += &format!(
                    " {}",
                    if o.name == "nflog-prefix" {
                        save_string(v)
                    } else {
                        v.clone()
                    }
                );
            }
        }
        (true, "NETMAP") => s += &format!(" to:{}", m.arg("to")?),
        _ => return None,
    }
    Some(s)
}
