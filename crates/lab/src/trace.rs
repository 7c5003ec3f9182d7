//! Parser for `xtables-monitor --trace` output and grouping of its blocks into packets.
//!
//! The output is a sequence of *blocks*: one `PACKET:` line (the header as the packet enters a
//! hook, printed again before each table's chain at that hook) followed by indented `TRACE:`
//! lines (one per rule that matched, plus `policy` lines at the end of built-in chains).
//!
//! Grouping blocks into one packet's journey ([`group_packets`]): the trace id after
//! `PACKET: 2` is **not** usable (it changes between hooks for bridged/routed replies and is
//! reused by later packets). A packet's identity is the header fields that no hook in one
//! namespace rewrites before the packet leaves: `(proto, SRC, SPORT, IP ID, LEN, TCP flags)`.
//! DNAT rewrites DST/DPORT at PREROUTING, forwarding decrements TTL, SNAT/MASQUERADE (and the
//! reply-direction un-DNAT) rewrite SRC/SPORT only *inside* nat POSTROUTING, i.e. after the
//! `PACKET:` line of the last block. A block joins the most recent open packet with the same
//! identity whose last (hook, table) position comes strictly before this block's position;
//! otherwise it starts a new packet (this also separates retransmissions and reused IP IDs,
//! e.g. `ID=0` on SYN-ACKs).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The header printed on a `PACKET:` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PacketHeader {
    /// Address family number printed after `PACKET:` (2 = IPv4).
    pub family: u32,
    /// The trace id (hex) — not stable across hooks, kept for reference only.
    pub trace_id: String,
    /// `IN=`.
    pub iif: Option<String>,
    /// `OUT=`.
    pub oif: Option<String>,
    /// `PHYSIN=` (bridge port), if shown.
    pub physin: Option<String>,
    /// `PHYSOUT=`, if shown.
    pub physout: Option<String>,
    /// `SRC=`.
    pub src: Option<String>,
    /// `DST=`.
    pub dst: Option<String>,
    /// `LEN=`.
    pub len: Option<u32>,
    /// `TOS=` (as printed, e.g. `0x0`).
    pub tos: Option<String>,
    /// `TTL=`.
    pub ttl: Option<u32>,
    /// IP `ID=`.
    pub id: Option<u32>,
    /// `tcp`, `udp`, `icmp`, or `PROTO=` number as text; inferred when not printed.
    pub proto: Option<String>,
    /// `SPORT=`.
    pub sport: Option<u16>,
    /// `DPORT=`.
    pub dport: Option<u16>,
    /// Bare flag words in order (`DF`, `SYN`, `ACK`, `FIN`, `PSH`, `RST`, `OPT`…).
    pub flags: Vec<String>,
    /// `MARK=` if shown.
    pub mark: Option<String>,
    /// Every `KEY=VALUE` pair, first occurrence wins.
    pub fields: BTreeMap<String, String>,
    /// The line as printed.
    pub raw: String,
}

const TCP_FLAGS: [&str; 8] = ["SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR"];

impl PacketHeader {
    /// Parse a `PACKET: …` line.
    pub fn parse(line: &str) -> Option<PacketHeader> {
        let rest = line.trim().strip_prefix("PACKET:")?;
        let mut toks = rest.split_whitespace();
        let mut h = PacketHeader {
            family: toks.next()?.parse().ok()?,
            trace_id: toks.next()?.to_string(),
            raw: line.trim_end().to_string(),
            ..Default::default()
        };
        let mut in_paren = false;
        for t in toks {
            if in_paren {
                if t.ends_with(')') {
                    in_paren = false;
                }
                continue;
            }
            if t.starts_with('(') {
                in_paren = !t.ends_with(')');
                continue;
            }
            if let Some((k, v)) = t.split_once('=') {
                h.fields.entry(k.to_string()).or_insert_with(|| v.to_string());
                let first = !matches!(k, "ID") || h.id.is_none();
                if !first {
                    continue;
                }
                match k {
                    "IN" => h.iif = Some(v.to_string()),
                    "OUT" => h.oif = Some(v.to_string()),
                    "PHYSIN" => h.physin = Some(v.to_string()),
                    "PHYSOUT" => h.physout = Some(v.to_string()),
                    "SRC" => h.src = Some(v.to_string()),
                    "DST" => h.dst = Some(v.to_string()),
                    "LEN" => h.len = v.parse().ok(),
                    "TOS" => h.tos = Some(v.to_string()),
                    "TTL" => h.ttl = v.parse().ok(),
                    "ID" => h.id = v.parse().ok(),
                    "SPORT" => h.sport = v.parse().ok(),
                    "DPORT" => h.dport = v.parse().ok(),
                    "MARK" => h.mark = Some(v.to_string()),
                    "PROTO" => h.proto = Some(v.to_ascii_lowercase()),
                    _ => {}
                }
            } else {
                h.flags.push(t.to_string());
            }
        }
        if h.proto.is_none() {
            h.proto = if h.flags.iter().any(|f| TCP_FLAGS.contains(&f.as_str())) {
                Some("tcp".into())
            } else if h.fields.contains_key("TYPE") && h.fields.contains_key("CODE") {
                Some("icmp".into())
            } else if h.sport.is_some() {
                Some("udp".into())
            } else {
                None
            };
        }
        Some(h)
    }

    /// TCP flag words only (`SYN`, `ACK`, …) in printed order.
    pub fn tcp_flags(&self) -> Vec<&str> {
        self.flags
            .iter()
            .map(String::as_str)
            .filter(|f| TCP_FLAGS.contains(f))
            .collect()
    }

    /// The identity used to group blocks of one packet (see module docs).
    pub fn identity(&self) -> PacketIdentity {
        PacketIdentity {
            proto: self.proto.clone(),
            src: self.src.clone(),
            sport: self.sport,
            id: self.id,
            len: self.len,
            tcp_flags: self.tcp_flags().into_iter().map(String::from).collect(),
        }
    }
}

/// The header fields no hook in one namespace rewrites before the packet's last `PACKET:` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PacketIdentity {
    /// Protocol.
    pub proto: Option<String>,
    /// Source address.
    pub src: Option<String>,
    /// Source port.
    pub sport: Option<u16>,
    /// IP ID.
    pub id: Option<u32>,
    /// Total length.
    pub len: Option<u32>,
    /// TCP flags.
    pub tcp_flags: Vec<String>,
}

/// What a `TRACE:` line reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceEventKind {
    /// A rule whose matches all held.
    Rule {
        /// The nft rule handle (e.g. `0xb`).
        handle: String,
        /// As printed: `ACCEPT`, `DROP`, `CONTINUE`, `JUMP:DOCKER`, `0xfffffffb` (RETURN)…
        verdict: String,
        /// The rule in iptables-save syntax with the `-4 -t <table> ` prefix removed.
        rule_text: String,
    },
    /// The end of a built-in chain: its policy.
    Policy {
        /// `ACCEPT` or `DROP`.
        verdict: String,
    },
    /// An explicit return event (`return:` in the output).
    Return {
        /// Whatever followed `return:`.
        verdict: String,
    },
    /// Something this parser does not know; the rest of the line.
    Other(String),
}

/// One `TRACE:` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// `raw`, `mangle`, `nat`, `filter`, `security`.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// What happened.
    pub kind: TraceEventKind,
    /// The line as printed.
    pub raw: String,
}

impl TraceEvent {
    /// Parse a ` TRACE: …` line.
    pub fn parse(line: &str) -> Option<TraceEvent> {
        let rest = line.trim().strip_prefix("TRACE:")?;
        let mut it = rest.trim_start().splitn(3, ' ');
        let _family = it.next()?;
        let _id = it.next()?;
        let rest = it.next()?.trim_start();
        let (head, text) = match rest.split_once("  ") {
            Some((h, t)) => (h.trim(), t.trim()),
            None => (rest.trim(), ""),
        };
        let mut parts = head.splitn(4, ':');
        let table = parts.next()?.to_string();
        let chain = parts.next()?.to_string();
        let kind_word = parts.next()?;
        let tail = parts.next().unwrap_or("");
        let kind = match kind_word {
            "rule" => {
                let (handle, verdict) = tail.split_once(':').unwrap_or((tail, ""));
                let prefix = format!("-4 -t {table} ");
                let rule_text = text.strip_prefix(&prefix).unwrap_or(text).to_string();
                TraceEventKind::Rule {
                    handle: handle.to_string(),
                    verdict: verdict.to_string(),
                    rule_text,
                }
            }
            "policy" => TraceEventKind::Policy {
                verdict: tail.to_string(),
            },
            "return" => TraceEventKind::Return {
                verdict: tail.to_string(),
            },
            other => TraceEventKind::Other(format!("{other}:{tail}")),
        };
        Some(TraceEvent {
            table,
            chain,
            kind,
            raw: line.trim_end().to_string(),
        })
    }

    /// The rule text if this is a rule event.
    pub fn rule_text(&self) -> Option<&str> {
        match &self.kind {
            TraceEventKind::Rule { rule_text, .. } => Some(rule_text),
            _ => None,
        }
    }

    /// The verdict as printed (rule, policy or return).
    pub fn verdict(&self) -> &str {
        match &self.kind {
            TraceEventKind::Rule { verdict, .. }
            | TraceEventKind::Policy { verdict }
            | TraceEventKind::Return { verdict } => verdict,
            TraceEventKind::Other(s) => s,
        }
    }
}

/// One `PACKET:` line and the `TRACE:` lines after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceBlock {
    /// The header as the packet entered this hook/table.
    pub header: PacketHeader,
    /// The events, in order.
    pub events: Vec<TraceEvent>,
}

impl TraceBlock {
    /// The (table, hook chain) of the block: the first event's table and chain (a block always
    /// starts in the built-in chain of the hook).
    pub fn table_hook(&self) -> Option<(&str, &str)> {
        self.events.first().map(|e| (e.table.as_str(), e.chain.as_str()))
    }

    /// Position along a packet's path inside one namespace: (hook rank, table priority).
    /// `None` when the hook is unknown.
    pub fn position(&self) -> Option<(i32, i32)> {
        let (table, hook) = self.table_hook()?;
        let rank = match hook {
            "PREROUTING" | "OUTPUT" => 0,
            "INPUT" | "FORWARD" => 1,
            "POSTROUTING" => 2,
            _ => return None,
        };
        let prio = match (table, hook) {
            ("raw", _) => -300,
            ("mangle", _) => -150,
            ("nat", "PREROUTING") | ("nat", "OUTPUT") => -100,
            ("filter", _) => 0,
            ("security", _) => 50,
            ("nat", _) => 100,
            _ => 0,
        };
        Some((rank, prio))
    }
}

/// One packet's journey through the host namespace: its blocks in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelPacket {
    /// The blocks, in arrival order.
    pub blocks: Vec<TraceBlock>,
}

impl KernelPacket {
    /// The header of the first block (as the packet entered the namespace's first hook).
    pub fn first_header(&self) -> &PacketHeader {
        &self.blocks[0].header
    }

    /// All events of all blocks, in order.
    pub fn events(&self) -> impl Iterator<Item = &TraceEvent> {
        self.blocks.iter().flat_map(|b| b.events.iter())
    }

    /// `table:chain` of every block's hook, e.g. `["raw:PREROUTING", "nat:PREROUTING", …]`.
    pub fn path(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter_map(|b| b.table_hook())
            .map(|(t, c)| format!("{t}:{c}"))
            .collect()
    }

    /// The last event's verdict (what finally happened, as far as the trace shows).
    pub fn final_verdict(&self) -> Option<&str> {
        self.blocks.last().and_then(|b| b.events.last()).map(|e| e.verdict())
    }
}

/// Parse the whole output into blocks. Lines that are neither `PACKET:` nor `TRACE:` lines are
/// ignored; `TRACE:` lines before the first `PACKET:` line are dropped.
pub fn parse_trace(text: &str) -> Vec<TraceBlock> {
    let mut blocks: Vec<TraceBlock> = vec![];
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("PACKET:") {
            if let Some(header) = PacketHeader::parse(line) {
                blocks.push(TraceBlock { header, events: vec![] });
            }
        } else if t.starts_with("TRACE:") {
            // xtables-monitor prints no new PACKET line when a packet's trace resumes after
            // another packet's (a REJECT's reply is traced from inside the rule, before the
            // REJECT rule's own event): such an event belongs to the latest block with its id.
            let id = t.split_whitespace().nth(2).unwrap_or("");
            let at = match blocks.last() {
                Some(b) if b.header.trace_id != id => blocks
                    .iter()
                    .rposition(|b| b.header.trace_id == id)
                    .unwrap_or(blocks.len() - 1),
                _ => blocks.len().wrapping_sub(1),
            };
            if let (Some(ev), Some(b)) = (TraceEvent::parse(line), blocks.get_mut(at)) {
                b.events.push(ev);
            }
        }
    }
    blocks
}

/// Group blocks into packets (see the module docs for the rule).
pub fn group_packets(blocks: &[TraceBlock]) -> Vec<KernelPacket> {
    let mut packets: Vec<KernelPacket> = vec![];
    for b in blocks {
        let id = b.header.identity();
        let pos = b.position();
        let target = packets.iter_mut().rev().find(|p| {
            let last = p.blocks.last().expect("non-empty");
            last.header.identity() == id
                && match (last.position(), pos) {
                    (Some(a), Some(c)) => a < c,
                    _ => false,
                }
        });
        match target {
            Some(p) => p.blocks.push(b.clone()),
            None => packets.push(KernelPacket {
                blocks: vec![b.clone()],
            }),
        }
    }
    packets
}

/// [`parse_trace`] then [`group_packets`].
pub fn parse_packets(text: &str) -> Vec<KernelPacket> {
    group_packets(&parse_trace(text))
}
