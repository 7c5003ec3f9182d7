//! The kernel is the judge: replay a kernel run's capture through nfwalk and compare,
//! packet by packet, with what the kernel recorded.
//!
//! The capture holds received packets only; the host's own packets (replies of host services,
//! echo replies) are rebuilt from the kernel's trace and walked from OUTPUT in the trace's
//! order (see `local_packet`). Compared:
//! * **path**: for every walked packet, received or host-originated, the rules and policies
//!   `xtables-monitor --trace` listed (table, chain, verdict, rule text), in order;
//! * **counters**: `iptables-save -c` against nfwalk's simulated counters, for every rule
//!   and built-in chain policy, except those that a host-originated packet nfwalk does not
//!   rebuild (IGMP reports, REJECT's resets and ICMP errors, which nfwalk generates itself)
//!   matched according to the kernel's trace;
//! * **LOG lines**, in order, without the kernel's trailing space (less the lines of those
//!   packets);
//! * **conntrack**: every `conntrack -L` entry of TCP/UDP/ICMP, ignoring the seconds left,
//!   except entries whose original direction is such a packet.

use nfwalk_walk::replay::{replay, Frame, Replayed};
use nfwalk_walk::{Ingress, Trace, Walker};
use std::collections::{BTreeMap, BTreeSet};

use crate::runner::KernelRun;
use crate::trace::{KernelPacket, TraceEventKind};
use crate::LabError;

/// One packet's comparison.
#[derive(Debug, Clone)]
pub struct PacketCmp {
    /// Capture frame.
    pub frame: usize,
    /// Summary of the packet.
    pub packet: String,
    /// nfwalk's path.
    pub ours: Vec<String>,
    /// The kernel's path (None when no kernel trace matched the packet).
    pub kernel: Option<Vec<String>>,
    /// A host-originated packet rebuilt from the kernel's trace and walked from OUTPUT
    /// (`frame` is then its index in the kernel's packets).
    pub local: bool,
}

impl PacketCmp {
    /// Whether the paths agree.
    pub fn agrees(&self) -> bool {
        self.kernel.as_ref() == Some(&self.ours)
    }
}

/// The whole comparison.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Per packet.
    pub packets: Vec<PacketCmp>,
    /// Counter lines that differ: `(what, kernel, nfwalk)`.
    pub counter_diffs: Vec<(String, String, String)>,
    /// Counters left out because a host-originated packet (not replayed) matched them.
    pub counters_not_compared: Vec<String>,
    /// LOG lines, kernel then nfwalk.
    pub log: (Vec<String>, Vec<String>),
    /// conntrack entries, kernel then nfwalk (normalised).
    pub conntrack: (Vec<String>, Vec<String>),
    /// Frames skipped by the replay (ARP, bridge duplicates...), with why.
    pub skipped: Vec<(usize, String)>,
}

impl Comparison {
    /// Whether everything agrees.
    pub fn agrees(&self) -> bool {
        self.packets.iter().all(|p| p.agrees())
            && self.counter_diffs.is_empty()
            && self.log.0 == self.log.1
            && self.conntrack.0 == self.conntrack.1
    }

    /// A readable report of every difference (empty when all agree).
    pub fn report(&self) -> String {
        let mut s = String::new();
        for p in &self.packets {
            if !p.agrees() {
                s.push_str(&format!(
                    "frame {} {}:\n  nfwalk: {:#?}\n  kernel: {:#?}\n",
                    p.frame, p.packet, p.ours, p.kernel
                ));
            }
        }
        for (what, k, o) in &self.counter_diffs {
            s.push_str(&format!("counters {what}: kernel {k}, nfwalk {o}\n"));
        }
        if self.log.0 != self.log.1 {
            s.push_str(&format!(
                "LOG lines differ:\n  kernel: {:#?}\n  nfwalk: {:#?}\n",
                self.log.0, self.log.1
            ));
        }
        if self.conntrack.0 != self.conntrack.1 {
            s.push_str(&format!(
                "conntrack differs:\n  kernel: {:#?}\n  nfwalk: {:#?}\n",
                self.conntrack.0, self.conntrack.1
            ));
        }
        s
    }
}

fn our_path(t: &Trace) -> Vec<String> {
    t.path()
        .into_iter()
        .map(|s| {
            if s.line.is_none() {
                format!("{}:{}:policy:{}", s.table, s.chain, s.verdict)
            } else {
                format!("{}:{}:rule:{}  {}", s.table, s.chain, s.verdict, s.rule)
            }
        })
        .collect()
}

fn kernel_path(k: &KernelPacket) -> Vec<String> {
    k.events()
        .filter_map(|e| match &e.kind {
            TraceEventKind::Rule { verdict, rule_text, .. } => {
                let v = if verdict == "0xfffffffb" {
                    "RETURN"
                } else {
                    verdict.as_str()
                };
                Some(format!("{}:{}:rule:{}  {}", e.table, e.chain, v, rule_text))
            }
            TraceEventKind::Policy { verdict } => Some(format!("{}:{}:policy:{}", e.table, e.chain, verdict)),
            _ => None,
        })
        .collect()
}

fn flags_words(f: nfwalk_model::TcpFlags) -> Vec<String> {
    // xtables-monitor prints SYN ACK FIN RST PSH URG... as separate words; compare as a set.
    let mut v: Vec<String> = f.log_words().into_iter().map(String::from).collect();
    v.sort();
    v
}

fn kernel_ident(k: &KernelPacket) -> Ident {
    let h = k.first_header();
    let mut f: Vec<String> = h.tcp_flags().into_iter().map(String::from).collect();
    f.sort();
    (
        h.src.clone().unwrap_or_default(),
        h.dst.clone().unwrap_or_default(),
        h.sport,
        h.id,
        h.len,
        f,
    )
}

/// The identity a walked packet and a kernel trace are tied by.
type Ident = (String, String, Option<u16>, Option<u32>, Option<u32>, Vec<String>);

fn packet_ident(p: &nfwalk_model::Packet) -> Ident {
    (
        p.src.to_string(),
        p.dst.to_string(),
        p.proto.has_ports().then_some(p.sport),
        Some(p.id as u32),
        Some(p.len as u32),
        if p.proto == nfwalk_model::Proto::TCP {
            flags_words(p.tcp_flags)
        } else {
            Vec::new()
        },
    )
}

/// The tuple (src, dst, sport, dport) of a TCP packet as the kernel traced it.
type Tuple4 = (String, String, u16, u16);

/// A host-originated TCP, UDP or ICMP echo-reply packet as the kernel traced it, rebuilt for
/// a walk from OUTPUT. REJECT's resets are left out (nfwalk generates and walks them itself):
/// an RST whose tuple is the reverse of a received packet that a `--reject-with tcp-reset`
/// rule took (in `reject_resets`, each used once) is REJECT's; any other RST is the stack's
/// own (a closed port, a segment for a socket that is gone) and is rebuilt and walked, since
/// it moves (or deletes) the connection's conntrack entry. The trace shows no ICMP fields: an
/// ICMP packet from the host with the addresses reversed and the length of a received echo
/// request (in `echo_requests`, each used once) is taken as that request's echo reply; other
/// ICMP (errors, which REJECT and the stack generate) is left out.
fn local_packet(
    k: &KernelPacket,
    echo_requests: &mut Vec<nfwalk_model::Packet>,
    reject_resets: &mut Vec<Tuple4>,
) -> Option<nfwalk_model::Packet> {
    let h = k.first_header();
    if h.iif.is_some() {
        return None;
    }
    let (src, dst) = (h.src.as_deref()?.parse().ok()?, h.dst.as_deref()?.parse().ok()?);
    let mut p = if h.sport.is_none() && h.proto.is_none() {
        // No ports and no TCP flags: ICMP (or another port-less protocol).
        let i = echo_requests
            .iter()
            .position(|q| q.src == dst && q.dst == src && Some(q.len as u32) == h.len)?;
        let q = echo_requests.remove(i);
        let mut p = nfwalk_model::Packet::icmp_echo(src, dst, q.icmp_id, q.icmp_seq);
        p.icmp_type = 0;
        p.payload_len = q.payload_len;
        p.df = h.flags.iter().any(|f| f == "DF");
        p
    } else {
        let (sport, dport) = (h.sport?, h.dport?);
        match h.proto.as_deref()? {
            "tcp" => {
                let mut f = 0u8;
                for w in h.tcp_flags() {
                    f |= match w {
                        "FIN" => nfwalk_model::TcpFlags::FIN,
                        "SYN" => nfwalk_model::TcpFlags::SYN,
                        "RST" => {
                            let t = (h.src.clone()?, h.dst.clone()?, sport, dport);
                            if let Some(i) = reject_resets.iter().position(|r| *r == t) {
                                reject_resets.remove(i);
                                return None;
                            }
                            nfwalk_model::TcpFlags::RST
                        }
                        "PSH" => nfwalk_model::TcpFlags::PSH,
                        "ACK" => nfwalk_model::TcpFlags::ACK,
                        "URG" => nfwalk_model::TcpFlags::URG,
                        _ => 0,
                    };
                }
                nfwalk_model::Packet::tcp(src, sport, dst, dport, f)
            }
            "udp" => nfwalk_model::Packet::udp(src, sport, dst, dport),
            _ => return None,
        }
    };
    if let Some(id) = h.id {
        p.id = id as u16;
    }
    if let Some(len) = h.len {
        p.len = len as u16;
        if p.proto == nfwalk_model::Proto::UDP {
            p.payload_len = (len as u16).saturating_sub(28);
        }
    }
    if let Some(ttl) = h.ttl {
        p.ttl = ttl as u8;
    }
    p.df = h.flags.iter().any(|f| f == "DF");
    Some(p)
}

/// One step of the replay: a captured frame, or a host-originated packet (by its index in
/// the kernel's packets) walked from OUTPUT.
enum Step {
    Frame(Replayed),
    Local(usize, Box<Trace>),
}

/// Replays the capture (received packets only) and, in the kernel trace's order, walks the
/// host-originated packets the kernel traced that [`local_packet`] can rebuild (the host's
/// side of a connection to a host service, its echo replies) from OUTPUT, so that conntrack
/// sees both directions and their own paths, counters and LOG lines can be compared.
fn replay_with_local(
    w: &mut Walker<'_>,
    frames: &[Frame],
    kernel: &[KernelPacket],
    is_bridge: impl Fn(&str) -> bool,
) -> Vec<Step> {
    // Where each frame falls in the kernel trace (by identity, first unused).
    let mut used = vec![false; kernel.len()];
    let at: Vec<Option<usize>> = frames
        .iter()
        .map(|f| {
            let p = f.packet.as_ref()?;
            let id = packet_ident(p);
            let i = kernel
                .iter()
                .enumerate()
                .position(|(i, k)| !used[i] && k.first_header().iif.is_some() && kernel_ident(k) == id)?;
            used[i] = true;
            Some(i)
        })
        .collect();
    let mut echo_requests: Vec<nfwalk_model::Packet> = frames
        .iter()
        .filter_map(|f| f.packet.clone())
        .filter(|p| p.proto == nfwalk_model::Proto::ICMP && p.icmp_type == 8)
        .collect();
    // The resets REJECT sent: one per received packet a `tcp-reset` REJECT rule took.
    let mut reject_resets: Vec<Tuple4> = kernel
        .iter()
        .filter(|k| k.first_header().iif.is_some())
        .filter(|k| {
            k.events().any(|e| {
                matches!(&e.kind, TraceEventKind::Rule { rule_text, .. }
                    if rule_text.contains("-j REJECT") && rule_text.contains("tcp-reset"))
            })
        })
        .filter_map(|k| {
            let h = k.first_header();
            Some((h.dst.clone()?, h.src.clone()?, h.dport?, h.sport?))
        })
        .collect();
    let locals: Vec<(usize, nfwalk_model::Packet)> = kernel
        .iter()
        .enumerate()
        .filter_map(|(i, k)| Some((i, local_packet(k, &mut echo_requests, &mut reject_resets)?)))
        .collect();
    let mut next_local = 0;
    let mut out = Vec::with_capacity(frames.len());
    let mut start = 0;
    for (k, f) in frames.iter().enumerate() {
        let Some(pos) = at[k] else { continue };
        // Never split a bridge-device frame from the port frame just before it.
        if f.iface.as_deref().is_some_and(&is_bridge) {
            continue;
        }
        if next_local < locals.len() && locals[next_local].0 < pos {
            out.extend(replay(w, &frames[start..k]).into_iter().map(Step::Frame));
            start = k;
            while next_local < locals.len() && locals[next_local].0 < pos {
                let (i, p) = &locals[next_local];
                out.push(Step::Local(*i, Box::new(walk_local(w, p))));
                next_local += 1;
            }
        }
    }
    out.extend(replay(w, &frames[start..]).into_iter().map(Step::Frame));
    for (i, p) in &locals[next_local..] {
        out.push(Step::Local(*i, Box::new(walk_local(w, p))));
    }
    out
}

/// Walks a host-originated packet from OUTPUT. The lab's servers run as root, so the socket
/// that sent it is uid 0 (`--log-uid` prints `UID=0 GID=0`, `-m owner` sees uid 0).
fn walk_local(w: &mut Walker<'_>, p: &nfwalk_model::Packet) -> Trace {
    let uid = w.options.uid.replace(0);
    let t = w.walk(Ingress::Local, p.clone());
    w.options.uid = uid;
    t
}

/// Parses `iptables-save -c` into `table/chain/<rule text | policy>` → `p:b`.
pub fn parse_counters(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut table = String::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
        } else if let Some(rest) = line.strip_prefix(':') {
            let mut it = rest.split_whitespace();
            let (Some(chain), Some(pol), Some(c)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if pol != "-" {
                m.insert(
                    format!("{table}/{chain}/policy"),
                    c.trim_matches(|x| x == '[' || x == ']').to_string(),
                );
            }
        } else if line.starts_with('[') {
            if let Some((c, rule)) = line.split_once("] ") {
                let chain = rule.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut key = format!("{table}/{chain}/{rule}");
                while m.contains_key(&key) {
                    key.push('+');
                }
                m.insert(key, c.trim_start_matches('[').to_string());
            }
        }
    }
    m
}

fn norm_conntrack(line: &str) -> Option<String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() < 3 || !matches!(w[0], "tcp" | "udp" | "icmp") {
        return None;
    }
    // Drop the timeout (third word) and `use=`.
    let rest: Vec<&str> = w[3..].iter().copied().filter(|x| !x.starts_with("use=")).collect();
    Some(format!("{} {} {}", w[0], w[1], rest.join(" ")))
}

/// Replays `run`'s capture through nfwalk on `run`'s snapshot and compares.
pub fn compare(run: &KernelRun) -> Result<Comparison, LabError> {
    let (host, _diags) = nfwalk_parse::snapshot::load_snapshot(&run.snapshot_dir)
        .map_err(|e| LabError::msg(format!("loading snapshot {}: {e}", run.snapshot_dir.display())))?;
    let bytes = std::fs::read(&run.pcap).map_err(|e| LabError::msg(format!("reading {}: {e}", run.pcap.display())))?;
    let names = |i: u32| host.iface_by_index(i).map(|x| x.name.clone());
    let frames = nfwalk_parse::pcap::read_pcap(&bytes, &names, None)
        .map_err(|e| LabError::msg(format!("{}: {e}", run.pcap.display())))?;
    let frames: Vec<Frame> = frames
        .into_iter()
        .map(|f| Frame {
            index: f.index,
            iface: f.iface,
            packet: f.packet,
            skipped: f.skipped,
            outgoing: f.pkt_type == Some(4),
        })
        .collect();
    let mut w = Walker::new(&host);
    let kernel_packets = run.packets();
    let results = replay_with_local(&mut w, &frames, &kernel_packets, |i| {
        host.iface(i).and_then(|x| x.kind.as_deref()) == Some("bridge")
    });

    let mut used = vec![false; kernel_packets.len()];
    let mut cmp = Comparison::default();
    let mut our_logs = Vec::new();
    let mut walked_local = vec![false; kernel_packets.len()];
    for r in &results {
        match r {
            Step::Frame(Replayed::Skipped { frame, why, .. }) => cmp.skipped.push((*frame, why.clone())),
            Step::Frame(Replayed::Walked { frame, trace }) => {
                let p = &trace.packet;
                let ident = packet_ident(p);
                let found = kernel_packets
                    .iter()
                    .enumerate()
                    .find(|(i, k)| !used[*i] && k.first_header().iif.is_some() && kernel_ident(k) == ident);
                let kernel = found.map(|(i, k)| {
                    used[i] = true;
                    kernel_path(k)
                });
                our_logs.extend(trace.log_lines());
                cmp.packets.push(PacketCmp {
                    frame: *frame,
                    packet: p.summary(),
                    ours: our_path(trace),
                    kernel,
                    local: false,
                });
            }
            Step::Local(i, trace) => {
                walked_local[*i] = true;
                our_logs.extend(trace.log_lines());
                cmp.packets.push(PacketCmp {
                    frame: *i,
                    packet: format!("host-originated {}", trace.packet.summary()),
                    ours: our_path(trace),
                    kernel: Some(kernel_path(&kernel_packets[*i])),
                    local: true,
                });
            }
        }
    }
    // Host-originated packets that are not rebuilt and walked (IGMP reports, REJECT's resets
    // and ICMP errors, which nfwalk generates itself, other ICMP errors of the stack; the
    // stack's own RSTs are walked).
    let not_walked = |i: usize, k: &KernelPacket| k.first_header().iif.is_none() && !walked_local[i];

    let kc = parse_counters(&run.counters);
    // Such a packet may have been traced just before the counters were zeroed (IGMP), and
    // nfwalk's own REJECT replies are not tied to the kernel's: a counter that any of them
    // matched cannot be compared exactly, so it is left out (and listed).
    for (i, k) in kernel_packets.iter().enumerate() {
        if !not_walked(i, k) {
            continue;
        }
        for e in k.events() {
            let key = match &e.kind {
                TraceEventKind::Rule { rule_text, .. } => format!("{}/{}/{}", e.table, e.chain, rule_text),
                TraceEventKind::Policy { .. } => format!("{}/{}/policy", e.table, e.chain),
                _ => continue,
            };
            if !cmp.counters_not_compared.contains(&key) {
                cmp.counters_not_compared.push(key);
            }
        }
    }
    let oc = parse_counters(&w.counters_save());
    let keys: BTreeSet<&String> = kc.keys().chain(oc.keys()).collect();
    for k in keys {
        if cmp.counters_not_compared.contains(k) {
            continue;
        }
        let a = kc.get(k).cloned().unwrap_or_else(|| "-".into());
        let b = oc.get(k).cloned().unwrap_or_else(|| "-".into());
        if a != b {
            cmp.counter_diffs.push((k.clone(), a, b));
        }
    }
    // LOG lines of host-originated packets that are not walked are left out, by header.
    let local_heads: Vec<String> = kernel_packets
        .iter()
        .enumerate()
        .filter(|(i, k)| not_walked(*i, k))
        .map(|(_, k)| {
            let h = k.first_header();
            format!(
                "SRC={} DST={} LEN={} ",
                h.src.clone().unwrap_or_default(),
                h.dst.clone().unwrap_or_default(),
                h.len.unwrap_or(0)
            )
        })
        .collect();
    cmp.log = (
        run.log_lines
            .iter()
            .filter(|l| !local_heads.iter().any(|h| l.contains(h.as_str())))
            .map(|l| l.trim_end().to_string())
            .collect(),
        our_logs
            .iter()
            .filter(|l| !local_heads.iter().any(|h| l.contains(h.as_str())))
            .map(|l| l.trim_end().to_string())
            .collect(),
    );
    // Entries whose original direction is a host-originated packet that is not walked were
    // created by packets nfwalk does not see: leave them out, as for the counters and LOG lines.
    let local_tuples: Vec<String> = kernel_packets
        .iter()
        .enumerate()
        .filter(|(i, k)| not_walked(*i, k))
        .filter_map(|(_, k)| {
            let h = k.first_header();
            Some(format!(
                " src={} dst={} sport={} dport={} ",
                h.src.clone()?,
                h.dst.clone()?,
                h.sport?,
                h.dport?
            ))
        })
        .collect();
    let originated_locally = |l: &str| {
        let w: Vec<&str> = l.split_whitespace().collect();
        let first = w
            .iter()
            .position(|x| x.starts_with("src="))
            .map(|i| format!(" {} ", w[i..(i + 4).min(w.len())].join(" ")));
        first.is_some_and(|f| local_tuples.contains(&f))
    };
    let mut kct: Vec<String> = run
        .conntrack
        .iter()
        .filter(|l| !originated_locally(l))
        .filter_map(|l| norm_conntrack(l))
        .collect();
    let mut oct: Vec<String> = w
        .conntrack
        .conns()
        .map(|c| c.conntrack_line())
        .filter(|l| !originated_locally(l))
        .filter_map(|l| norm_conntrack(&l))
        .collect();
    kct.sort();
    oct.sort();
    cmp.conntrack = (kct, oct);
    Ok(cmp)
}
