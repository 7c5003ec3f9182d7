//! The exact line the kernel's LOG target writes (`nf_log_syslog`, IPv4).

use nfwalk_model::{Packet, Proto};

/// Where the packet is when LOG fires.
pub struct LogCtx<'a> {
    /// `--log-prefix`.
    pub prefix: &'a str,
    /// IN.
    pub in_: Option<&'a str>,
    /// OUT.
    pub out: Option<&'a str>,
    /// PHYSIN.
    pub physin: Option<&'a str>,
    /// PHYSOUT.
    pub physout: Option<&'a str>,
    /// Destination MAC of the received frame (ethernet header).
    pub mac_dst: Option<[u8; 6]>,
    /// `--log-tcp-sequence`.
    pub tcp_sequence: bool,
    /// `--log-uid` with the uid/gid, when known.
    pub uid: Option<(u32, u32)>,
}

/// Formats the line as dmesg prints it (no timestamp, no trailing space).
pub fn log_line(cx: &LogCtx<'_>, p: &Packet) -> String {
    let mut s = String::new();
    s.push_str(cx.prefix);
    s.push_str(&format!("IN={} OUT={} ", cx.in_.unwrap_or(""), cx.out.unwrap_or("")));
    if let Some(pi) = cx.physin {
        s.push_str(&format!("PHYSIN={pi} "));
    }
    if let Some(po) = cx.physout {
        s.push_str(&format!("PHYSOUT={po} "));
    }
    if cx.in_.is_some() {
        s.push_str("MAC=");
        if let (Some(src), Some(dst)) = (p.mac_src, cx.mac_dst.or(p.mac_dst)) {
            let mut bytes: Vec<u8> = Vec::with_capacity(14);
            bytes.extend_from_slice(&dst);
            bytes.extend_from_slice(&src);
            bytes.extend_from_slice(&p.mac_proto.to_be_bytes());
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            s.push_str(&hex.join(":"));
        }
        s.push(' ');
    }
    s.push_str(&ip_part(p, cx.tcp_sequence));
    if let Some((u, g)) = cx.uid {
        s.push_str(&format!("UID={u} GID={g} "));
    }
    if p.mark != 0 {
        s.push_str(&format!("MARK=0x{:x} ", p.mark));
    }
    s.trim_end().to_string()
}

fn ip_part(p: &Packet, tcp_sequence: bool) -> String {
    let mut s = format!(
        "SRC={} DST={} LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ",
        p.src,
        p.dst,
        p.len,
        p.tos & 0x1e,
        p.tos & 0xe0,
        p.ttl,
        p.id
    );
    if p.tos & 0x03 == 0x03 {
        s.push_str("CE ");
    }
    if p.df {
        s.push_str("DF ");
    }
    if p.frag_off != 0 {
        s.push_str(&format!("FRAG:{} ", p.frag_off));
    }
    match p.proto {
        Proto::TCP => {
            s.push_str(&format!("PROTO=TCP SPT={} DPT={} ", p.sport, p.dport));
            if tcp_sequence {
                s.push_str(&format!("SEQ={} ACK={} ", p.seq, p.ack_seq));
            }
            s.push_str(&format!("WINDOW={} RES=0x00 ", p.window));
            for w in p.tcp_flags.log_words() {
                s.push_str(w);
                s.push(' ');
            }
            s.push_str("URGP=0 ");
        }
        Proto::UDP => {
            s.push_str(&format!(
                "PROTO=UDP SPT={} DPT={} LEN={} ",
                p.sport,
                p.dport,
                p.payload_len + 8
            ));
        }
        Proto::ICMP => {
            s.push_str(&format!("PROTO=ICMP TYPE={} CODE={} ", p.icmp_type, p.icmp_code));
            match p.icmp_type {
                0 | 8 => s.push_str(&format!("ID={} SEQ={} ", p.icmp_id, p.icmp_seq)),
                3 | 4 | 5 | 11 | 12 => {
                    if let Some(i) = p.inner {
                        let mut q = Packet::blank(i.src, i.dst, i.proto);
                        q.sport = i.sport;
                        q.dport = i.dport;
                        s.push('[');
                        s.push_str(&format!(
                            "SRC={} DST={} PROTO={} ",
                            q.src,
                            q.dst,
                            q.proto.name().to_uppercase()
                        ));
                        if q.proto.has_ports() {
                            s.push_str(&format!("SPT={} DPT={} ", q.sport, q.dport));
                        }
                        s = s.trim_end().to_string();
                        s.push_str("] ");
                    }
                }
                _ => {}
            }
        }
        other => s.push_str(&format!("PROTO={} ", other.0)),
    }
    s
}
