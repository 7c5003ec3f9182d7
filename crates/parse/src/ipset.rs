//! `ipset save` output: the sets `-m set --match-set` looks up.
//!
//! ```text
//! create allowed hash:net family inet hashsize 1024 maxelem 65536
//! add allowed 198.51.100.0/24
//! add allowed 198.51.100.66 nomatch
//! create svc hash:ip,port family inet hashsize 1024 maxelem 65536
//! add svc 203.0.113.10,tcp:443
//! ```
//!
//! Supported types: `hash:ip`, `hash:net`, `hash:ip,port`, `hash:net,port`, `bitmap:ip`,
//! `bitmap:port`, `hash:ip,port,ip` (the third dimension is ignored, reported as a warning).
//! IPv6 sets (`family inet6`) are kept empty: the walk is IPv4. Address ranges
//! (`a.b.c.d-e.f.g.h`) and port ranges (`tcp:80-90`) are expanded into covering entries.

use ipnet::{Ipv4Net, Ipv4Subnets};
use nfwalk_model::{IpSet, IpSetEntry, Proto};
use std::fmt;
use std::net::Ipv4Addr;

/// A line of `ipset save` output that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsetError {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the offending token.
    pub col: usize,
    /// The offending token.
    pub token: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for IpsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}: `{}`",
            self.file, self.line, self.col, self.message, self.token
        )
    }
}

impl std::error::Error for IpsetError {}

fn col_of(line: &str, token: &str) -> usize {
    line.find(token).map(|i| i + 1).unwrap_or(1)
}

fn parse_addr_part(s: &str) -> Option<Vec<Ipv4Net>> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (Ipv4Addr, Ipv4Addr) = (a.parse().ok()?, b.parse().ok()?);
        if a > b {
            return None;
        }
        return Some(Ipv4Subnets::new(a, b, 0).collect());
    }
    if s.contains('/') {
        return s.parse::<Ipv4Net>().ok().map(|n| vec![n.trunc()]);
    }
    s.parse::<Ipv4Addr>()
        .ok()
        .map(|a| vec![Ipv4Net::new(a, 32).expect("/32")])
}

fn parse_port_part(s: &str) -> Option<(u8, u16, u16)> {
    let (proto, ports) = match s.split_once(':') {
        Some((p, rest)) => (Proto::from_name(p)?.0, rest),
        None => (Proto::TCP.0, s),
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = ports.parse().ok()?;
            (p, p)
        }
    };
    (lo <= hi).then_some((proto, lo, hi))
}

/// Parses `ipset save` output. Unknown set types load empty and are returned as warnings.
pub fn parse_ipset_save(file: &str, text: &str) -> Result<(Vec<IpSet>, Vec<String>), IpsetError> {
    let mut sets: Vec<IpSet> = Vec::new();
    let mut v6: Vec<String> = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        let err = |token: &str, message: &str| IpsetError {
            file: file.to_string(),
            line: n,
            col: col_of(line, token),
            token: token.to_string(),
            message: message.to_string(),
        };
        match words[0] {
            "create" => {
                let (Some(name), Some(kind)) = (words.get(1), words.get(2)) else {
                    return Err(err(words[0], "create needs a set name and a type"));
                };
                if words.windows(2).any(|w| w[0] == "family" && w[1] == "inet6") {
                    v6.push(name.to_string());
                }
                if !matches!(
                    *kind,
                    "hash:ip"
                        | "hash:net"
                        | "hash:ip,port"
                        | "hash:net,port"
                        | "bitmap:ip"
                        | "bitmap:port"
                        | "hash:ip,port,ip"
                        | "hash:ip,port,net"
                        | "list:set"
                ) {
                    warnings.push(format!(
                        "{file}:{n}: set {name} has type {kind}, which nfwalk does not model: `-m set` on it cannot be decided"
                    ));
                }
                if kind.matches(',').count() >= 2 {
                    warnings.push(format!(
                        "{file}:{n}: set {name} ({kind}): only the first two dimensions are compared"
                    ));
                }
                sets.push(IpSet {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    entries: Vec::new(),
                });
            }
            "add" => {
                let (Some(name), Some(elem)) = (words.get(1), words.get(2)) else {
                    return Err(err(words[0], "add needs a set name and an element"));
                };
                if v6.iter().any(|s| s == name) {
                    continue;
                }
                let Some(set) = sets.iter_mut().find(|s| s.name == *name) else {
                    return Err(err(name, "no such set (add before create?)"));
                };
                let nomatch = words[3..].contains(&"nomatch");
                let kind = set.kind.clone();
                let dims: Vec<&str> = kind.split(':').nth(1).unwrap_or("").split(',').collect();
                let parts: Vec<&str> = elem.split(',').collect();
                let mut nets: Vec<Option<Ipv4Net>> = vec![None];
                let mut port = None;
                for (d, p) in dims.iter().zip(parts.iter()) {
                    match *d {
                        "ip" | "net" if nets == vec![None] => {
                            let v =
                                parse_addr_part(p).ok_or_else(|| err(p, "not an IPv4 address, network or range"))?;
                            nets = v.into_iter().map(Some).collect();
                        }
                        "port" => {
                            port = Some(parse_port_part(p).ok_or_else(|| err(p, "not a port (e.g. tcp:80 or 80-90)"))?);
                        }
                        "set" => {}
                        _ => {}
                    }
                }
                for net in nets {
                    set.entries.push(IpSetEntry { net, port, nomatch });
                }
            }
            "flush" | "destroy" | "swap" | "rename" | "del" => {
                warnings.push(format!(
                    "{file}:{n}: `{}` ignored: a snapshot holds the sets as saved",
                    words[0]
                ));
            }
            other => return Err(err(other, "expected `create` or `add` (is this `ipset save` output?)")),
        }
    }
    Ok((sets, warnings))
}
