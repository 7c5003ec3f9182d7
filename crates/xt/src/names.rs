//! The name tables iptables consults through libc: `/etc/services` (port names),
//! `/etc/protocols` (protocol names), `/etc/hosts` and `/etc/networks` (address names).
//!
//! nfwalk embeds fixed copies so a listing never depends on the machine it runs on: the
//! services and protocols files of Debian's `netbase` package (as installed on the machine
//! the kernel tests run on, `data/services`, `data/protocols`), the hosts entry
//! `127.0.0.1 localhost`, and the networks `default 0.0.0.0`, `loopback 127.0.0.0`,
//! `link-local 169.254.0.0`.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::OnceLock;

/// The embedded `/etc/services`.
pub const SERVICES: &str = include_str!("../data/services");
/// The embedded `/etc/protocols`.
pub const PROTOCOLS: &str = include_str!("../data/protocols");

struct Tables {
    by_port: HashMap<(u16, String), String>,
    by_name: HashMap<(String, String), u16>,
    proto_by_num: HashMap<u8, String>,
    proto_by_name: HashMap<String, u8>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Tables {
            by_port: HashMap::new(),
            by_name: HashMap::new(),
            proto_by_num: HashMap::new(),
            proto_by_name: HashMap::new(),
        };
        for line in SERVICES.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut w = line.split_whitespace();
            let (Some(name), Some(pp)) = (w.next(), w.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else { continue };
            t.by_port
                .entry((port, proto.to_string()))
                .or_insert_with(|| name.to_string());
            t.by_name.entry((name.to_string(), proto.to_string())).or_insert(port);
            for alias in w {
                t.by_name.entry((alias.to_string(), proto.to_string())).or_insert(port);
            }
        }
        for line in PROTOCOLS.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut w = line.split_whitespace();
            let (Some(name), Some(num)) = (w.next(), w.next()) else {
                continue;
            };
            let Ok(num) = num.parse::<u8>() else { continue };
            t.proto_by_num.entry(num).or_insert_with(|| name.to_string());
            t.proto_by_name.entry(name.to_string()).or_insert(num);
            for alias in w {
                t.proto_by_name.entry(alias.to_string()).or_insert(num);
            }
        }
        t
    })
}

/// `getservbyport(port, proto)`: the first name in the services file.
pub fn service_name(port: u16, proto: &str) -> Option<&'static str> {
    tables().by_port.get(&(port, proto.to_string())).map(|s| s.as_str())
}

/// `getservbyname(name, proto)`.
pub fn service_port(name: &str, proto: &str) -> Option<u16> {
    tables().by_name.get(&(name.to_string(), proto.to_string())).copied()
}

/// iptables' built-in protocol names (`xtables_chain_protos`), consulted before the file.
const CHAIN_PROTOS: [(&str, u8); 9] = [
    ("tcp", 6),
    ("sctp", 132),
    ("udp", 17),
    ("udplite", 136),
    ("icmp", 1),
    ("icmpv6", 58),
    ("esp", 50),
    ("ah", 51),
    ("mh", 135),
];

/// The protocol's name as iptables prints it (`proto_to_name(p, 0)`); `None` for unknown numbers.
pub fn proto_name(p: u8) -> Option<&'static str> {
    if p == 0 {
        return Some("all");
    }
    if let Some((n, _)) = CHAIN_PROTOS.iter().find(|(_, v)| *v == p) {
        return Some(n);
    }
    tables().proto_by_num.get(&p).map(|s| s.as_str())
}

/// Parses `-p` values: a name (case-insensitive), `all`, or a number.
pub fn proto_number(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return Some(n);
    }
    let l = s.to_ascii_lowercase();
    if l == "all" {
        return Some(0);
    }
    if let Some((_, v)) = CHAIN_PROTOS.iter().find(|(n, _)| *n == l) {
        return Some(*v);
    }
    tables().proto_by_name.get(&l).copied()
}

/// The host name of an address (the embedded `/etc/hosts`).
pub fn host_name(a: Ipv4Addr) -> Option<&'static str> {
    (a == Ipv4Addr::new(127, 0, 0, 1)).then_some("localhost")
}

/// The network name of an address (the embedded `/etc/networks`).
pub fn network_name(a: Ipv4Addr) -> Option<&'static str> {
    match a.octets() {
        [0, 0, 0, 0] => Some("default"),
        [127, 0, 0, 0] => Some("loopback"),
        [169, 254, 0, 0] => Some("link-local"),
        _ => None,
    }
}

/// Debian's base-passwd users (`getpwuid`/`getpwnam` of a stock system).
const USERS: &[(&str, u32)] = &[
    ("root", 0),
    ("daemon", 1),
    ("bin", 2),
    ("sys", 3),
    ("sync", 4),
    ("games", 5),
    ("man", 6),
    ("lp", 7),
    ("mail", 8),
    ("news", 9),
    ("uucp", 10),
    ("proxy", 13),
    ("www-data", 33),
    ("backup", 34),
    ("list", 38),
    ("irc", 39),
    ("_apt", 42),
    ("nobody", 65534),
];

/// Debian's base-passwd groups (`getgrgid`/`getgrnam` of a stock system).
const GROUPS: &[(&str, u32)] = &[
    ("root", 0),
    ("daemon", 1),
    ("bin", 2),
    ("sys", 3),
    ("adm", 4),
    ("tty", 5),
    ("disk", 6),
    ("lp", 7),
    ("mail", 8),
    ("news", 9),
    ("uucp", 10),
    ("man", 12),
    ("proxy", 13),
    ("kmem", 15),
    ("dialout", 20),
    ("fax", 21),
    ("voice", 22),
    ("cdrom", 24),
    ("floppy", 25),
    ("tape", 26),
    ("sudo", 27),
    ("audio", 29),
    ("dip", 30),
    ("www-data", 33),
    ("backup", 34),
    ("operator", 37),
    ("list", 38),
    ("irc", 39),
    ("src", 40),
    ("shadow", 42),
    ("utmp", 43),
    ("video", 44),
    ("sasl", 45),
    ("plugdev", 46),
    ("staff", 50),
    ("games", 60),
    ("users", 100),
    ("nogroup", 65534),
];

/// `getpwuid(uid)->pw_name` (`group`: `getgrgid`).
pub fn id_name(id: u32, group: bool) -> Option<&'static str> {
    (if group { GROUPS } else { USERS })
        .iter()
        .find(|(_, v)| *v == id)
        .map(|(n, _)| *n)
}

/// `getpwnam(name)->pw_uid` (`group`: `getgrnam`).
pub fn id_number(name: &str, group: bool) -> Option<u32> {
    (if group { GROUPS } else { USERS })
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}
