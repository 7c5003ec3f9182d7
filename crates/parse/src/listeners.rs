//! `listeners.txt`: the listening sockets, as `ss -H -ltnu` prints them.
//!
//! ```text
//! tcp   LISTEN 0      4096         0.0.0.0:22         0.0.0.0:*
//! udp   UNCONN 0      0      127.0.0.53%lo:53         0.0.0.0:*
//! tcp   LISTEN 0      4096            [::]:8080          [::]:*    users:(("python3",pid=7,fd=3))
//! ```
//!
//! Tolerated: a header line (`Netid State ...`, when `-H` was left out), no Netid column (`ss
//! -lt` or `-lu` alone: the protocol follows from LISTEN/UNCONN), a `users:(...)` column
//! (`-p`), IPv4-mapped IPv6 addresses and `*` for the wildcard. Other socket types (`raw`,
//! `sctp`, ...) and unparsable lines are reported as warnings and skipped: a snapshot
//! never fails to load because of this optional file.

use nfwalk_model::{Listener, Proto};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Parses `ss -H -ltnu` output. Returns the listeners and a warning per skipped line.
pub fn parse_ss(text: &str) -> (Vec<Listener>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with("Netid") || l.starts_with("State") || l.starts_with('#') {
            continue;
        }
        match parse_line(l) {
            Ok(Some(x)) => {
                if !out.contains(&x) {
                    out.push(x)
                }
            }
            Ok(None) => {}
            Err(e) => warnings.push(format!("line {}: {e}: `{l}`", n + 1)),
        }
    }
    (out, warnings)
}

fn parse_line(l: &str) -> Result<Option<Listener>, String> {
    let f: Vec<&str> = l.split_whitespace().collect();
    let (proto, rest) = match f.first().copied() {
        Some("tcp") => (Proto::TCP, &f[1..]),
        Some("udp") => (Proto::UDP, &f[1..]),
        Some("LISTEN") => (Proto::TCP, &f[..]),
        Some("UNCONN") => (Proto::UDP, &f[..]),
        Some(other)
            if [
                "raw", "sctp", "u_str", "u_dgr", "u_seq", "nl", "p_raw", "p_dgr", "mptcp", "tipc", "v_str", "v_dgr",
                "xdp",
            ]
            .contains(&other) =>
        {
            return Ok(None)
        }
        _ => return Err("not a tcp/udp socket line".into()),
    };
    // State Recv-Q Send-Q Local Peer [users:...]
    if rest.len() < 5 {
        return Err("expected State Recv-Q Send-Q Local:Port Peer:Port".into());
    }
    let state = rest[0];
    if state != "LISTEN" && state != "UNCONN" {
        // A connected UDP socket (ESTAB) or a TCP socket in another state: not a listener.
        return Ok(None);
    }
    let local = rest[3];
    let process = rest[5..].iter().find_map(|c| {
        let s = c.strip_prefix("users:((\"")?;
        Some(s.split('"').next().unwrap_or("").to_string())
    });
    let (hostpart, port) = local.rsplit_once(':').ok_or_else(|| format!("no port in `{local}`"))?;
    let port: u16 = if port == "*" {
        0
    } else {
        port.parse().map_err(|_| format!("bad port `{port}`"))?
    };
    let (addr, iface) = match hostpart.split_once('%') {
        Some((a, d)) => (a, Some(d.to_string())),
        None => (hostpart, None),
    };
    let ipv4 = if addr == "*" {
        Some(Ipv4Addr::UNSPECIFIED)
    } else if let Some(v6) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        let a: Ipv6Addr = v6.parse().map_err(|_| format!("bad IPv6 address `{v6}`"))?;
        if a.is_unspecified() {
            // Dual-stack unless net.ipv6.bindv6only=1 or IPV6_V6ONLY: the common case.
            Some(Ipv4Addr::UNSPECIFIED)
        } else {
            a.to_ipv4_mapped()
        }
    } else {
        Some(addr.parse::<Ipv4Addr>().map_err(|_| format!("bad address `{addr}`"))?)
    };
    Ok(Some(Listener {
        proto,
        addr: addr.to_string(),
        ipv4,
        port,
        iface,
        process,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_ss_output() {
        let text = "tcp   LISTEN 0      4096         0.0.0.0:22         0.0.0.0:*\n\
                    udp   UNCONN 0      0      127.0.0.53%lo:53         0.0.0.0:*\n\
                    tcp   LISTEN 0      4096            [::]:8080          [::]:*    users:((\"python3\",pid=7,fd=3))\n\
                    tcp   LISTEN 0      128        [::ffff:198.51.100.1]:9000   *:*\n\
                    tcp   LISTEN 0      128        [2001:db8::1]:9001   [::]:*\n\
                    udp   UNCONN 0      0                  *:5353             *:*\n\
                    udp   ESTAB  0      0      10.0.0.2:41000     10.0.0.1:53\n";
        let (l, w) = parse_ss(text);
        assert!(w.is_empty(), "{w:?}");
        let d: Vec<String> = l.iter().map(|x| x.describe()).collect();
        assert_eq!(
            d,
            [
                "tcp 0.0.0.0:22",
                "udp 127.0.0.53%lo:53",
                "tcp [::]:8080 (python3)",
                "tcp [::ffff:198.51.100.1]:9000",
                "tcp [2001:db8::1]:9001",
                "udp *:5353"
            ]
        );
        assert_eq!(l[1].ipv4, Some(Ipv4Addr::new(127, 0, 0, 53)));
        assert!(l[1].loopback_only() && !l[0].loopback_only());
        assert_eq!(l[2].ipv4, Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(l[3].ipv4, Some(Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(l[4].ipv4, None);
        assert!(l[0].accepts(Ipv4Addr::new(198, 51, 100, 1), Some("eth0")));
        assert!(!l[1].accepts(Ipv4Addr::new(198, 51, 100, 1), Some("eth0")));
        assert!(!l[3].accepts(Ipv4Addr::new(198, 51, 100, 2), None));
    }

    #[test]
    fn header_no_netid_and_garbage() {
        let text = "State  Recv-Q Send-Q Local Address:Port Peer Address:Port\nLISTEN 0 5 0.0.0.0:80 0.0.0.0:*\nUNCONN 0 0 0.0.0.0:68 0.0.0.0:*\nraw UNCONN 0 0 *:icmp *:*\ngarbage\ntcp LISTEN 0\ntcp LISTEN 0 5 1.2.3:80 0.0.0.0:*\ntcp LISTEN 0 5 0.0.0.0:http 0.0.0.0:*\n";
        let (l, w) = parse_ss(text);
        assert_eq!(
            l.iter().map(|x| (x.proto, x.port)).collect::<Vec<_>>(),
            [(Proto::TCP, 80), (Proto::UDP, 68)]
        );
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].starts_with("line 5:"), "{w:?}");
    }
}
