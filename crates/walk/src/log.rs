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
    /// `--log-tcp-options`.
    pub tcp_options: bool,
    /// `--log-ip-options`.
    pub ip_options: bool,
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
    s.push_str(&ip_part(p, cx.tcp_sequence, cx.tcp_options, cx.ip_options));
    if let Some((u, g)) = cx.uid {
        s.push_str(&format!("UID={u} GID={g} "));
    }
    if p.mark != 0 {
        s.push_str(&format!("MARK=0x{:x} ", p.mark));
    }
    s.trim_end().to_string()
}

fn inner_part(i: &nfwalk_model::packet::Inner) -> String {
    let mut q = Packet::blank(i.src, i.dst, i.proto);
    q.sport = i.sport;
    q.dport = i.dport;
    q.len = i.ip.len;
    q.tos = i.ip.tos;
    q.ttl = i.ip.ttl;
    q.id = i.ip.id;
    q.df = i.ip.df;
    q.frag_off = i.ip.frag_off;
    q.payload_len = i.ip.udp_len.saturating_sub(8);
    q.tcp_flags = nfwalk_model::TcpFlags(i.ip.tcp_flags);
    q.window = i.ip.window;
    q.icmp_type = i.ip.icmp_type;
    q.icmp_code = i.ip.icmp_code;
    q.icmp_id = i.ip.icmp_id;
    q.icmp_seq = i.ip.icmp_seq;
    let need = match i.proto {
        Proto::TCP => 20,
        Proto::UDP | Proto::ICMP => 8,
        _ => 0,
    };
    if q.frag_off == 0 && i.ip.l4_quoted < need {
        // The kernel prints what it has and says the rest is missing.
        let mut s = ip_part(
            &Packet {
                proto: Proto(0),
                ..q.clone()
            },
            false,
            false,
            false,
        );
        let cut = s.rfind("PROTO=").unwrap_or(s.len());
        s.truncate(cut);
        s.push_str(&format!(
            "PROTO={} INCOMPLETE [{} bytes] ",
            i.proto.name().to_uppercase(),
            i.ip.l4_quoted
        ));
        return s;
    }
    let mut q2 = q.clone();
    if q2.is_icmp_error() {
        q2.inner = None;
    }
    ip_part(&q2, false, false, false)
}

/// `OPT (…) `: the options' bytes in upper-case hex, as nf_log_syslog prints them.
fn opt_part(s: &mut String, opts: &[u8]) {
    if opts.is_empty() {
        return;
    }
    s.push_str("OPT (");
    for b in opts {
        s.push_str(&format!("{b:02X}"));
    }
    s.push_str(") ");
}

fn ip_part(p: &Packet, tcp_sequence: bool, tcp_options: bool, ip_options: bool) -> String {
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
    if ip_options {
        opt_part(&mut s, &p.ip_options);
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
            if tcp_options {
                opt_part(&mut s, &p.tcp_options);
            }
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
                        // nf_log_syslog dumps the quoted packet like the outer one (no
                        // recursion into a quoted ICMP error), in brackets.
                        s.push('[');
                        s.push_str(&inner_part(&i));
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
