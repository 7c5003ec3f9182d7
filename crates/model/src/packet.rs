//! The packet a walk carries: IPv4 header fields and the transport fields netfilter reads.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// An IP protocol number with the names iptables uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Proto(pub u8);

impl Proto {
    /// ICMP (1).
    pub const ICMP: Proto = Proto(1);
    /// IGMP (2).
    pub const IGMP: Proto = Proto(2);
    /// TCP (6).
    pub const TCP: Proto = Proto(6);
    /// UDP (17).
    pub const UDP: Proto = Proto(17);
    /// GRE (47).
    pub const GRE: Proto = Proto(47);
    /// ESP (50).
    pub const ESP: Proto = Proto(50);
    /// AH (51).
    pub const AH: Proto = Proto(51);
    /// ICMPv6 (58).
    pub const ICMPV6: Proto = Proto(58);
    /// SCTP (132).
    pub const SCTP: Proto = Proto(132);

    /// Parses a protocol name or number as iptables accepts it (`tcp`, `6`, `ipv6-icmp`).
    pub fn from_name(s: &str) -> Option<Proto> {
        let lower = s.to_ascii_lowercase();
        let p = match lower.as_str() {
            "icmp" => 1,
            "igmp" => 2,
            "ipencap" | "ipip" => 4,
            "tcp" => 6,
            "egp" => 8,
            "udp" => 17,
            "ipv6" => 41,
            "rsvp" => 46,
            "gre" => 47,
            "esp" => 50,
            "ah" => 51,
            "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
            "ospf" => 89,
            "pim" => 103,
            "vrrp" => 112,
            "l2tp" => 115,
            "sctp" => 132,
            "udplite" => 136,
            "mh" | "ipv6-mh" => 135,
            _ => return lower.parse::<u8>().ok().map(Proto),
        };
        Some(Proto(p))
    }

    /// The lower-case name iptables prints, or the number.
    pub fn name(self) -> String {
        match self.0 {
            1 => "icmp".into(),
            2 => "igmp".into(),
            6 => "tcp".into(),
            17 => "udp".into(),
            47 => "gre".into(),
            50 => "esp".into(),
            51 => "ah".into(),
            58 => "ipv6-icmp".into(),
            132 => "sctp".into(),
            136 => "udplite".into(),
            n => n.to_string(),
        }
    }

    /// Whether the protocol carries 16-bit source and destination ports.
    pub fn has_ports(self) -> bool {
        matches!(self.0, 6 | 17 | 132 | 136 | 33)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// TCP flag bits, as in the TCP header's flags byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Parses `SYN,ACK`, `ALL` or `NONE` as `--tcp-flags` takes them.
    pub fn parse_list(s: &str) -> Option<u8> {
        let mut v = 0u8;
        for part in s.split(',') {
            v |= match part.to_ascii_uppercase().as_str() {
                "FIN" => Self::FIN,
                "SYN" => Self::SYN,
                "RST" => Self::RST,
                "PSH" => Self::PSH,
                "ACK" => Self::ACK,
                "URG" => Self::URG,
                "ALL" => 0x3f,
                "NONE" => 0,
                _ => return None,
            };
        }
        Some(v)
    }

    /// Whether every bit in `bits` is set.
    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }

    /// Flags in the order the kernel's LOG target prints them (`ACK SYN`).
    pub fn log_words(self) -> Vec<&'static str> {
        let mut w = Vec::new();
        for (bit, name) in [
            (Self::CWR, "CWR"),
            (Self::ECE, "ECE"),
            (Self::URG, "URG"),
            (Self::ACK, "ACK"),
            (Self::PSH, "PSH"),
            (Self::RST, "RST"),
            (Self::SYN, "SYN"),
            (Self::FIN, "FIN"),
        ] {
            if self.0 & bit != 0 {
                w.push(name);
            }
        }
        w
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = Vec::new();
        for (bit, name) in [
            (Self::SYN, "SYN"),
            (Self::ACK, "ACK"),
            (Self::PSH, "PSH"),
            (Self::FIN, "FIN"),
            (Self::RST, "RST"),
            (Self::URG, "URG"),
            (Self::ECE, "ECE"),
            (Self::CWR, "CWR"),
        ] {
            if self.0 & bit != 0 {
                w.push(name);
            }
        }
        if w.is_empty() {
            f.write_str("NONE")
        } else {
            f.write_str(&w.join(","))
        }
    }
}

/// The header of the packet an ICMP error quotes (for RELATED lookups).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Inner {
    /// Quoted source address.
    pub src: Ipv4Addr,
    /// Quoted destination address.
    pub dst: Ipv4Addr,
    /// Quoted protocol.
    pub proto: Proto,
    /// Quoted source port (0 when the protocol has none).
    pub sport: u16,
    /// Quoted destination port (0 when the protocol has none).
    pub dport: u16,
    /// The quoted IP header's fields, as the LOG line prints them in brackets.
    #[serde(default)]
    pub ip: InnerIp,
}

/// The quoted packet's IP header and transport details (for the LOG line of an ICMP error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InnerIp {
    /// IP total length.
    pub len: u16,
    /// TOS byte.
    pub tos: u8,
    /// TTL.
    pub ttl: u8,
    /// IP identification.
    pub id: u16,
    /// Don't-fragment bit.
    pub df: bool,
    /// Fragment offset.
    pub frag_off: u16,
    /// Bytes of the transport header and payload that the error quotes.
    pub l4_quoted: u16,
    /// UDP length field (UDP), TCP window (TCP), or ICMP id (echo).
    pub udp_len: u16,
    /// TCP flags.
    pub tcp_flags: u8,
    /// TCP window.
    pub window: u16,
    /// ICMP type and code of a quoted ICMP message.
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
    /// ICMP echo id.
    pub icmp_id: u16,
    /// ICMP echo sequence.
    pub icmp_seq: u16,
}

/// One IPv4 packet as netfilter sees it at a hook.
///
/// Only the fields that matches, targets, conntrack and the LOG line read are kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Packet {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol.
    pub proto: Proto,
    /// Source port (TCP/UDP/SCTP), or 0.
    pub sport: u16,
    /// Destination port (TCP/UDP/SCTP), or 0.
    pub dport: u16,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: TcpFlags,
    /// TCP sequence number.
    pub seq: u32,
    /// TCP acknowledgement number.
    pub ack_seq: u32,
    /// TCP window.
    pub window: u16,
    /// ICMP type (for ICMP).
    pub icmp_type: u8,
    /// ICMP code (for ICMP).
    pub icmp_code: u8,
    /// ICMP echo identifier (conntrack uses it as the "port").
    pub icmp_id: u16,
    /// ICMP echo sequence.
    pub icmp_seq: u16,
    /// For ICMP errors, the quoted header.
    pub inner: Option<Inner>,
    /// IP total length.
    pub len: u16,
    /// TTL.
    pub ttl: u8,
    /// TOS byte.
    pub tos: u8,
    /// IP identification.
    pub id: u16,
    /// Don't-fragment bit.
    pub df: bool,
    /// Fragment offset (non-zero marks a later fragment; `-f`).
    pub frag_off: u16,
    /// skb->mark.
    pub mark: u32,
    /// Link-layer source address when received from an Ethernet-like device.
    pub mac_src: Option<[u8; 6]>,
    /// Link-layer destination address.
    pub mac_dst: Option<[u8; 6]>,
    /// Link-layer type field (0x0800 for IPv4).
    pub mac_proto: u16,
    /// Length of the transport payload in bytes.
    pub payload_len: u16,
    /// The TCP options (the header past its first 20 bytes), as captured; `--log-tcp-options`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_options: Vec<u8>,
    /// The IP options (the header past its first 20 bytes), as captured; `--log-ip-options`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_options: Vec<u8>,
}

impl Packet {
    /// A TCP packet with the given flags, 60 bytes long like a Linux SYN with options.
    pub fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Packet {
        Packet {
            src,
            dst,
            proto: Proto::TCP,
            sport,
            dport,
            tcp_flags: TcpFlags(flags),
            len: if flags & TcpFlags::SYN != 0 { 60 } else { 52 },
            window: 64240,
            ..Packet::blank(src, dst, Proto::TCP)
        }
    }

    /// A UDP packet with an 8-byte payload.
    pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Packet {
        Packet {
            sport,
            dport,
            len: 36,
            payload_len: 8,
            ..Packet::blank(src, dst, Proto::UDP)
        }
    }

    /// An ICMP echo request.
    pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16) -> Packet {
        Packet {
            icmp_type: 8,
            icmp_id: id,
            icmp_seq: seq,
            len: 84,
            payload_len: 56,
            ..Packet::blank(src, dst, Proto::ICMP)
        }
    }

    /// A packet with only addresses and protocol set; everything else zero or default.
    pub fn blank(src: Ipv4Addr, dst: Ipv4Addr, proto: Proto) -> Packet {
        Packet {
            src,
            dst,
            proto,
            sport: 0,
            dport: 0,
            tcp_flags: TcpFlags(0),
            seq: 0,
            ack_seq: 0,
            window: 0,
            icmp_type: 0,
            icmp_code: 0,
            icmp_id: 0,
            icmp_seq: 0,
            inner: None,
            len: 20,
            ttl: 64,
            tos: 0,
            id: 0,
            df: true,
            frag_off: 0,
            mark: 0,
            mac_src: None,
            mac_dst: None,
            mac_proto: 0x0800,
            payload_len: 0,
            tcp_options: Vec::new(),
            ip_options: Vec::new(),
        }
    }

    /// Whether this is an ICMP error message (destination unreachable, time exceeded, ...).
    pub fn is_icmp_error(&self) -> bool {
        self.proto == Proto::ICMP && matches!(self.icmp_type, 3 | 4 | 5 | 11 | 12)
    }

    /// A short human summary: `tcp 198.51.100.10:40001 → 198.51.100.1:10000 [SYN]`.
    pub fn summary(&self) -> String {
        if self.proto.has_ports() {
            let mut s = format!(
                "{} {}:{} → {}:{}",
                self.proto, self.src, self.sport, self.dst, self.dport
            );
            if self.proto == Proto::TCP {
                s.push_str(&format!(" [{}]", self.tcp_flags));
            }
            s
        } else if self.proto == Proto::ICMP {
            format!(
                "icmp {} → {} type {} code {}",
                self.src, self.dst, self.icmp_type, self.icmp_code
            )
        } else {
            format!("{} {} → {}", self.proto, self.src, self.dst)
        }
    }
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for (i, part) in s.split(':').enumerate() {
        if i >= 6 || part.is_empty() || part.len() > 2 {
            return None;
        }
        out[i] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}
