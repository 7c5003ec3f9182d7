//! Parsers for option values: addresses, ports, marks, rates, ICMP types, ...

use ipnet::IpNet;
use nfwalk_model::packet::parse_mac;
use nfwalk_model::ruleset::{NatRange, PortRange};
use nfwalk_model::Proto;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Result of a value parser: the message explains what is wrong.
pub(crate) type VResult<T> = Result<T, String>;

/// Parses an unsigned number in decimal, `0x` hex or leading-zero octal (strtoul base 0).
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() {
            return None;
        }
        u64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

pub(crate) fn parse_u32(s: &str) -> VResult<u32> {
    parse_u64(s)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| format!("`{s}` is not a number in 0..=4294967295"))
}

pub(crate) fn parse_uint(s: &str, max: u64) -> VResult<u64> {
    match parse_u64(s) {
        Some(v) if v <= max => Ok(v),
        _ => Err(format!("`{s}` is not a number in 0..={max}")),
    }
}

/// `V[/M]` with the mask defaulting to all ones.
pub(crate) fn parse_mark(s: &str) -> VResult<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Ok((parse_u32(v)?, parse_u32(m)?)),
        None => Ok((parse_u32(s)?, u32::MAX)),
    }
}

/// An IPv4 address as iptables accepts it (dotted quad; `0` for 0.0.0.0).
fn parse_v4(s: &str) -> Option<Ipv4Addr> {
    if s == "0" {
        return Some(Ipv4Addr::UNSPECIFIED);
    }
    s.parse().ok()
}

/// A single address of the given family.
pub(crate) fn parse_addr(s: &str, ipv6: bool) -> VResult<IpAddr> {
    if ipv6 {
        let t = s.trim_start_matches('[').trim_end_matches(']');
        t.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| format!("`{s}` is not an IPv6 address"))
    } else {
        parse_v4(s)
            .map(IpAddr::V4)
            .ok_or_else(|| format!("`{s}` is not an IPv4 address"))
    }
}

/// `ADDR[/PREFIX|/MASK]` as `-s`/`-d` take it; host bits are cleared as iptables does.
pub(crate) fn parse_net(s: &str, ipv6: bool) -> VResult<IpNet> {
    if s.contains(',') {
        return Err(format!("`{s}` is a list of addresses"));
    }
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    if a.is_empty() {
        return Err(format!("`{s}` has no address"));
    }
    let addr = parse_addr(a, ipv6).map_err(|e| {
        if !ipv6 && a.contains(':') {
            format!("`{s}` is an IPv6 address in an IPv4 ruleset")
        } else if ipv6 && a.contains('.') && !a.contains(':') {
            format!("`{s}` is an IPv4 address in an IPv6 ruleset")
        } else if a.chars().any(|c| c.is_ascii_alphabetic()) && !a.contains(':') {
            format!("`{a}` is a host name; nfwalk cannot resolve names offline")
        } else {
            e
        }
    })?;
    let max = if ipv6 { 128 } else { 32 };
    let prefix = match m {
        None => max,
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => match m.parse::<u8>() {
            Ok(p) if p <= max => p,
            _ => return Err(format!("prefix length `{m}` is out of range 0..={max}")),
        },
        Some(m) => {
            let bits: u128 = match parse_addr(m, ipv6) {
                Ok(IpAddr::V4(v)) => u32::from(v) as u128,
                Ok(IpAddr::V6(v)) => u128::from(v),
                Err(_) => return Err(format!("`{m}` is not a valid mask")),
            };
            let ones = bits.count_ones();
            let expect: u128 = if ones == 0 {
                0
            } else {
                (u128::MAX << (u128::BITS - ones)) >> (128 - max as u32)
            };
            if bits != expect {
                return Err(format!("{NONCONTIGUOUS}: mask `{m}`"));
            }
            ones as u8
        }
    };
    IpNet::new(addr, prefix)
        .map(|n| n.trunc())
        .map_err(|_| format!("bad prefix in `{s}`"))
}

/// Message prefix of a non-contiguous mask (kept as an unknown match, not an error).
pub(crate) const NONCONTIGUOUS: &str = "non-contiguous netmask is not modelled";

/// Well-known service names (a small /etc/services).
pub(crate) fn service_port(name: &str) -> Option<u16> {
    Some(match name {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "time" => 37,
        "whois" | "nicname" => 43,
        "tacacs" => 49,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "gopher" => 70,
        "finger" => 79,
        "http" | "www" | "www-http" => 80,
        "kerberos" => 88,
        "pop3" | "pop-3" => 110,
        "sunrpc" | "rpcbind" | "portmapper" => 111,
        "auth" | "ident" => 113,
        "nntp" => 119,
        "ntp" => 123,
        "epmap" | "loc-srv" => 135,
        "netbios-ns" => 137,
        "netbios-dgm" => 138,
        "netbios-ssn" => 139,
        "imap" | "imap2" => 143,
        "snmp" => 161,
        "snmp-trap" | "snmptrap" => 162,
        "bgp" => 179,
        "irc" => 194,
        "ldap" => 389,
        "https" => 443,
        "microsoft-ds" => 445,
        "isakmp" => 500,
        "kpasswd" | "kpasswd5" => 464,
        "submissions" | "smtps" | "ssmtp" | "urd" => 465,
        "exec" => 512,
        "biff" | "login" => 513,
        "shell" | "syslog" | "cmd" => 514,
        "printer" => 515,
        "talk" => 517,
        "ntalk" => 518,
        "route" | "router" => 520,
        "uucp" => 540,
        "klogin" => 543,
        "kshell" => 544,
        "dhcpv6-client" => 546,
        "dhcpv6-server" => 547,
        "rtsp" => 554,
        "submission" => 587,
        "ipp" => 631,
        "ldaps" => 636,
        "rsync" => 873,
        "domain-s" => 853,
        "ftps-data" => 989,
        "ftps" => 990,
        "telnets" => 992,
        "imaps" => 993,
        "pop3s" => 995,
        "socks" => 1080,
        "openvpn" => 1194,
        "ms-sql-s" => 1433,
        "ms-sql-m" => 1434,
        "l2tp" => 1701,
        "pptp" => 1723,
        "radius" => 1812,
        "radius-acct" => 1813,
        "nfs" => 2049,
        "mysql" => 3306,
        "ms-wbt-server" | "rdp" => 3389,
        "ipsec-nat-t" => 4500,
        "sip" => 5060,
        "sip-tls" => 5061,
        "xmpp-client" => 5222,
        "xmpp-server" => 5269,
        "postgresql" | "postgres" => 5432,
        "x11" => 6000,
        "irc-alt" | "ircd" => 6667,
        "http-alt" | "webcache" => 8080,
        _ => return None,
    })
}

/// One port: a number or a service name.
pub(crate) fn parse_port(s: &str) -> VResult<u16> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u16>()
            .map_err(|_| format!("port `{s}` is out of range 0..=65535"));
    }
    service_port(s).ok_or_else(|| {
        if s.is_empty() {
            "missing port".to_string()
        } else {
            format!("`{s}` is not a port number or a known service name")
        }
    })
}

/// `P`, `A:B`, `:B`, `A:`, `:` with `sep` as the range separator.
pub(crate) fn parse_port_range_sep(s: &str, sep: char) -> VResult<PortRange> {
    if let Some(p) = service_port(s) {
        return Ok(PortRange { lo: p, hi: p });
    }
    let r = match s.split_once(sep) {
        None => {
            let p = parse_port(s)?;
            PortRange { lo: p, hi: p }
        }
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { parse_port(a)? };
            let hi = if b.is_empty() { 65535 } else { parse_port(b)? };
            PortRange { lo, hi }
        }
    };
    if r.lo > r.hi {
        return Err(format!("port range `{s}` is empty (first port above last)"));
    }
    Ok(r)
}

pub(crate) fn parse_port_range(s: &str) -> VResult<PortRange> {
    parse_port_range_sep(s, ':')
}

/// multiport list: up to 15 ports, a range counting as two.
pub(crate) fn parse_port_list(s: &str) -> VResult<Vec<PortRange>> {
    let mut out = Vec::new();
    let mut slots = 0;
    for p in s.split(',') {
        let r = parse_port_range(p)?;
        slots += if p.contains(':') { 2 } else { 1 };
        out.push(r);
    }
    if slots > 15 {
        return Err(format!("too many ports in `{s}` (multiport takes at most 15)"));
    }
    Ok(out)
}

/// `A[:B]` of plain numbers up to `max` (length, uid ranges use `-` elsewhere).
pub(crate) fn parse_num_range(s: &str, sep: char, max: u64) -> VResult<(u64, u64)> {
    let (lo, hi) = match s.split_once(sep) {
        None => {
            let v = parse_uint(s, max)?;
            (v, v)
        }
        Some((a, b)) => (
            if a.is_empty() { 0 } else { parse_uint(a, max)? },
            if b.is_empty() { max } else { parse_uint(b, max)? },
        ),
    };
    if lo > hi {
        return Err(format!("range `{s}` is empty"));
    }
    Ok((lo, hi))
}

/// `A-B` address range of iprange.
pub(crate) fn parse_addr_range(s: &str, ipv6: bool) -> VResult<(IpAddr, IpAddr)> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (parse_addr(a, ipv6)?, parse_addr(b, ipv6)?),
        None => {
            let a = parse_addr(s, ipv6)?;
            (a, a)
        }
    };
    if a > b {
        return Err(format!("address range `{s}` is empty"));
    }
    Ok((a, b))
}

/// NAT `--to-destination`/`--to-source`: `[ADDR[-ADDR]][:PORT[-PORT]]`.
pub(crate) fn parse_nat_range(s: &str, ipv6: bool) -> VResult<NatRange> {
    let (addr_part, port_part) = if ipv6 {
        if let Some(rest) = s.strip_prefix('[') {
            match rest.split_once(']') {
                Some((a, p)) => (a, p.strip_prefix(':')),
                None => return Err(format!("`{s}` lacks a closing `]`")),
            }
        } else if s.starts_with(':') && !s.starts_with("::") {
            ("", Some(&s[1..]))
        } else {
            (s, None)
        }
    } else {
        match s.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        }
    };
    let (addr_lo, addr_hi) = if addr_part.is_empty() {
        (None, None)
    } else {
        let (a, b) = parse_addr_range(addr_part, ipv6)?;
        (Some(a), Some(b))
    };
    let ports = match port_part {
        None => None,
        Some(p) => {
            // `1000-2000/3000`: the part after `/` is a base port; ignored here.
            let p = p.split('/').next().unwrap_or(p);
            Some(parse_port_range_sep(p, '-')?)
        }
    };
    if addr_lo.is_none() && ports.is_none() {
        return Err(format!("`{s}` gives neither address nor port"));
    }
    Ok(NatRange {
        addr_lo,
        addr_hi,
        ports,
    })
}

/// `--to-ports P[-P]` of MASQUERADE/REDIRECT.
pub(crate) fn parse_to_ports(s: &str) -> VResult<PortRange> {
    parse_port_range_sep(s, '-')
}

/// ICMP type names of iptables' icmp match.
const ICMP_NAMES: &[(&str, u8, Option<u8>)] = &[
    ("any", 255, None),
    ("echo-reply", 0, None),
    ("pong", 0, None),
    ("destination-unreachable", 3, None),
    ("network-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("fragmentation-needed", 3, Some(4)),
    ("source-route-failed", 3, Some(5)),
    ("network-unknown", 3, Some(6)),
    ("host-unknown", 3, Some(7)),
    ("network-prohibited", 3, Some(9)),
    ("host-prohibited", 3, Some(10)),
    ("TOS-network-unreachable", 3, Some(11)),
    ("TOS-host-unreachable", 3, Some(12)),
    ("communication-prohibited", 3, Some(13)),
    ("host-precedence-violation", 3, Some(14)),
    ("precedence-cutoff", 3, Some(15)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("network-redirect", 5, Some(0)),
    ("host-redirect", 5, Some(1)),
    ("TOS-network-redirect", 5, Some(2)),
    ("TOS-host-redirect", 5, Some(3)),
    ("echo-request", 8, None),
    ("ping", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, None),
    ("ttl-zero-during-transit", 11, Some(0)),
    ("ttl-zero-during-reassembly", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("ip-header-bad", 12, Some(0)),
    ("required-option-missing", 12, Some(1)),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("address-mask-request", 17, None),
    ("address-mask-reply", 18, None),
];

/// ICMPv6 type names of ip6tables' icmp6 match.
const ICMP6_NAMES: &[(&str, u8, Option<u8>)] = &[
    ("destination-unreachable", 1, None),
    ("no-route", 1, Some(0)),
    ("communication-prohibited", 1, Some(1)),
    ("beyond-scope", 1, Some(2)),
    ("address-unreachable", 1, Some(3)),
    ("port-unreachable", 1, Some(4)),
    ("failed-policy", 1, Some(5)),
    ("reject-route", 1, Some(6)),
    ("packet-too-big", 2, None),
    ("time-exceeded", 3, None),
    ("ttl-exceeded", 3, None),
    ("ttl-zero-during-transit", 3, Some(0)),
    ("ttl-zero-during-reassembly", 3, Some(1)),
    ("parameter-problem", 4, None),
    ("bad-header", 4, Some(0)),
    ("unknown-header-type", 4, Some(1)),
    ("unknown-option", 4, Some(2)),
    ("echo-request", 128, None),
    ("ping", 128, None),
    ("echo-reply", 129, None),
    ("pong", 129, None),
    ("mld-listener-query", 130, None),
    ("mld-listener-report", 131, None),
    ("mld-listener-done", 132, None),
    ("mld-listener-reduction", 132, None),
    ("router-solicitation", 133, None),
    ("router-advertisement", 134, None),
    ("neighbour-solicitation", 135, None),
    ("neighbor-solicitation", 135, None),
    ("neighbour-advertisement", 136, None),
    ("neighbor-advertisement", 136, None),
    ("redirect", 137, None),
];

/// `--icmp-type`/`--icmpv6-type`: a name, `T` or `T/C`.
pub(crate) fn parse_icmp_type(s: &str, v6: bool) -> VResult<(u8, Option<u8>)> {
    let table = if v6 { ICMP6_NAMES } else { ICMP_NAMES };
    if let Some((_, t, c)) = table.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(s)) {
        return Ok((*t, *c));
    }
    let (t, c) = match s.split_once('/') {
        Some((t, c)) => (t, Some(c)),
        None => (s, None),
    };
    let bad = || format!("`{s}` is not a known ICMP{} type", if v6 { "v6" } else { "" });
    let t: u8 = t.parse().map_err(|_| bad())?;
    let c = match c {
        Some(c) => match c.split_once(':') {
            Some((lo, hi)) => {
                let lo: u8 = lo.parse().map_err(|_| bad())?;
                let hi: u8 = hi.parse().map_err(|_| bad())?;
                match (lo, hi) {
                    (0, 255) => None,
                    (a, b) if a == b => Some(a),
                    _ => return Err(format!("ICMP code range `{c}` is not modelled (only one code or all)")),
                }
            }
            None => Some(c.parse::<u8>().map_err(|_| bad())?),
        },
        None => None,
    };
    Ok((t, c))
}

/// Names of the ICMP types for hints.
pub(crate) fn icmp_names(v6: bool) -> Vec<&'static str> {
    let table = if v6 { ICMP6_NAMES } else { ICMP_NAMES };
    table.iter().map(|(n, _, _)| *n).collect()
}

/// `-p`: a name or number; `all` is `None`.
pub(crate) fn parse_proto(s: &str) -> VResult<Option<Proto>> {
    let l = s.to_ascii_lowercase();
    if l == "all" || l == "0" {
        return Ok(None);
    }
    if l == "dccp" {
        return Ok(Some(Proto(33)));
    }
    Proto::from_name(&l)
        .map(Some)
        .ok_or_else(|| format!("`{s}` is not a protocol name or number"))
}

/// `--limit 3/hour` → packets per second. The unit may be abbreviated (`s`, `min`, `h`, `d`).
pub(crate) fn parse_rate(s: &str) -> VResult<f64> {
    let (n, unit) = match s.split_once('/') {
        Some((n, u)) => (n, u),
        None => (s, "second"),
    };
    let n: f64 = n
        .parse::<u32>()
        .map_err(|_| format!("`{s}` is not a rate like 10/second"))? as f64;
    if n == 0.0 {
        return Err(format!("rate `{s}` must be positive"));
    }
    let u = unit.to_ascii_lowercase();
    let secs = if !u.is_empty() && "second".starts_with(&u) {
        1.0
    } else if u.len() >= 2 && "minute".starts_with(&u) {
        60.0
    } else if !u.is_empty() && "hour".starts_with(&u) {
        3600.0
    } else if !u.is_empty() && "day".starts_with(&u) {
        86400.0
    } else {
        return Err(format!("`{unit}` is not a rate unit (second, minute, hour, day)"));
    };
    Ok(n / secs)
}

/// A MAC address.
pub(crate) fn parse_mac_addr(s: &str) -> VResult<[u8; 6]> {
    parse_mac(s).ok_or_else(|| format!("`{s}` is not a MAC address like 00:11:22:33:44:55"))
}

/// An interface name (at most 15 characters), `+` wildcard allowed at the end.
pub(crate) fn check_iface(s: &str) -> VResult<()> {
    if s.len() > 15 {
        return Err(format!("interface name `{s}` is longer than 15 characters"));
    }
    if s.is_empty() {
        return Err("empty interface name".into());
    }
    Ok(())
}

/// DSCP class names.
pub(crate) fn dscp_class(s: &str) -> Option<u8> {
    let u = s.to_ascii_uppercase();
    Some(match u.as_str() {
        "BE" | "CS0" => 0,
        "CS1" => 8,
        "AF11" => 10,
        "AF12" => 12,
        "AF13" => 14,
        "CS2" => 16,
        "AF21" => 18,
        "AF22" => 20,
        "AF23" => 22,
        "CS3" => 24,
        "AF31" => 26,
        "AF32" => 28,
        "AF33" => 30,
        "CS4" => 32,
        "AF41" => 34,
        "AF42" => 36,
        "AF43" => 38,
        "CS5" => 40,
        "EF" => 46,
        "CS6" => 48,
        "CS7" => 56,
        _ => return None,
    })
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a reasonable distance.
pub(crate) fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean X?` for the closest candidate.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean {c}?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets() {
        assert_eq!(parse_net("10.1.2.3/8", false).unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_net("10.0.0.0/255.255.0.0", false).unwrap().to_string(),
            "10.0.0.0/16"
        );
        assert_eq!(parse_net("0/0", false).unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(parse_net("fe80::1/64", true).unwrap().to_string(), "fe80::/64");
        assert!(parse_net("10.0.0.0/255.0.255.0", false).is_err());
        assert!(parse_net("1.2.3.4,5.6.7.8", false).is_err());
        assert!(parse_net("::1", false).is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port_range("ssh").unwrap(), PortRange { lo: 22, hi: 22 });
        assert_eq!(parse_port_range(":4").unwrap(), PortRange { lo: 0, hi: 4 });
        assert_eq!(parse_port_range("4:").unwrap(), PortRange { lo: 4, hi: 65535 });
        assert!(parse_port_range("4:3").is_err());
        assert!(parse_port_range("65536").is_err());
        assert!(parse_port_range("-1").is_err());
    }

    #[test]
    fn nat() {
        let r = parse_nat_range("172.17.0.2:6379", false).unwrap();
        assert_eq!(r.ports, Some(PortRange { lo: 6379, hi: 6379 }));
        let r = parse_nat_range("[fd00::2]:80-81", true).unwrap();
        assert_eq!(r.ports, Some(PortRange { lo: 80, hi: 81 }));
        assert!(parse_nat_range("fd00::2", true).unwrap().ports.is_none());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("3/hour").unwrap(), 3.0 / 3600.0);
        assert_eq!(parse_rate("5/min").unwrap(), 5.0 / 60.0);
        assert_eq!(parse_rate("10/s").unwrap(), 10.0);
        assert!(parse_rate("x/s").is_err());
    }
}
