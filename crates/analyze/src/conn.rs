//! A whole TCP connection: the packets of a conversation walked in order on one walker
//! ([`conversation`], also used by `nfwalk trace --conn`), and [`explain_conn`]: for each packet
//! whose fate differs from the expected one, why (a full [`Explanation`] of that packet in the
//! connection's state); for each ESTABLISHED/RELATED packet, what conntrack did (the packet
//! that created the entry, why the nat chains were skipped, the remembered binding applied).

use nfwalk_model::{Host, Packet, TcpFlags};
use nfwalk_walk::{Event, Fate, Ingress, RuleRef, Trace, Walker};
use serde::Serialize;

use crate::explain::{explain, Expect, Explanation, Request};

/// How the conversation ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Close {
    /// FIN from both sides, then the last ACK.
    Fin,
    /// The client sends RST after the data.
    Rst,
    /// Nobody closes: the connection stays open after the data.
    Open,
}

/// One packet of a conversation: label, where it entered, the packet.
#[derive(Clone, Debug)]
pub struct Step {
    /// `client → server  SYN`.
    pub label: String,
    /// Where it entered.
    pub ingress: Ingress,
    /// The packet as sent.
    pub packet: Packet,
}

/// Where the server's answers enter the host, judged from the first packet's fate.
pub fn reply_ingress(host: &Host, first: &Trace) -> Ingress {
    match &first.fate {
        Fate::DeliveredLocally => Ingress::Local,
        Fate::Forwarded { out } | Fate::Bridged { bridge: out } => {
            if host.iface(out).and_then(|i| i.kind.as_deref()) == Some("bridge") {
                let ports: Vec<_> = host
                    .interfaces
                    .iter()
                    .filter(|i| i.master.as_deref() == Some(out))
                    .collect();
                if ports.len() == 1 {
                    return Ingress::Iface {
                        iface: ports[0].name.clone(),
                        physin: None,
                    };
                }
            }
            Ingress::Iface {
                iface: out.clone(),
                physin: None,
            }
        }
        _ => Ingress::Local,
    }
}

/// Walks SYN, SYN-ACK, ACK, data both ways and the close `close` says, stopping at the first
/// packet that does not get through. Returns each packet with its trace.
pub fn conversation_steps(
    host: &Host,
    w: &mut Walker<'_>,
    client_in: Ingress,
    first: Packet,
    close: Close,
) -> Vec<(Step, Trace)> {
    const CISN: u32 = 1000;
    const SISN: u32 = 5000;
    let mut out = Vec::new();
    let mut syn = first.clone();
    syn.tcp_flags = TcpFlags(TcpFlags::SYN);
    syn.seq = CISN;
    syn.len = 60;
    syn.id = 1;
    let t = w.walk(client_in.clone(), syn.clone());
    let ok = t.fate.verdict() == "accept";
    let server_in = reply_ingress(host, &t);
    // What the server sees, and so what it answers to.
    let seen = t.final_packet.clone();
    out.push((
        Step {
            label: "client → server  SYN".into(),
            ingress: client_in.clone(),
            packet: syn,
        },
        t,
    ));
    if !ok {
        return out;
    }
    let client_pkt = |flags: u8, seq: u32, ack: u32, payload: u16, id: u16| {
        let mut p = first.clone();
        p.tcp_flags = TcpFlags(flags);
        p.seq = seq;
        p.ack_seq = ack;
        p.payload_len = payload;
        p.len = 52 + payload;
        p.id = id;
        p
    };
    let server_pkt = |flags: u8, seq: u32, ack: u32, payload: u16, id: u16| {
        let mut p = Packet::tcp(seen.dst, seen.dport, seen.src, seen.sport, flags);
        p.seq = seq;
        p.ack_seq = ack;
        p.payload_len = payload;
        p.len = if flags & TcpFlags::SYN != 0 { 60 } else { 52 + payload };
        p.id = id;
        p
    };
    use TcpFlags as F;
    let mut steps: Vec<(&str, bool, Packet)> = vec![
        (
            "server → client  SYN-ACK",
            true,
            server_pkt(F::SYN | F::ACK, SISN, CISN + 1, 0, 0),
        ),
        (
            "client → server  ACK",
            false,
            client_pkt(F::ACK, CISN + 1, SISN + 1, 0, 2),
        ),
        (
            "client → server  data",
            false,
            client_pkt(F::ACK | F::PSH, CISN + 1, SISN + 1, 10, 3),
        ),
        (
            "server → client  data",
            true,
            server_pkt(F::ACK | F::PSH, SISN + 1, CISN + 11, 10, 1),
        ),
    ];
    match close {
        Close::Fin => steps.extend([
            (
                "client → server  FIN",
                false,
                client_pkt(F::ACK | F::FIN, CISN + 11, SISN + 11, 0, 4),
            ),
            (
                "server → client  FIN",
                true,
                server_pkt(F::ACK | F::FIN, SISN + 11, CISN + 12, 0, 2),
            ),
            (
                "client → server  last ACK",
                false,
                client_pkt(F::ACK, CISN + 12, SISN + 12, 0, 5),
            ),
        ]),
        Close::Rst => steps.push(("client → server  RST", false, {
            let mut p = client_pkt(F::ACK | F::RST, CISN + 11, SISN + 11, 0, 4);
            p.len = 40;
            p
        })),
        Close::Open => {}
    }
    for (label, from_server, p) in steps {
        let ing = if from_server {
            server_in.clone()
        } else {
            client_in.clone()
        };
        let t = w.walk(ing.clone(), p.clone());
        let ok = t.fate.verdict() == "accept";
        out.push((
            Step {
                label: label.into(),
                ingress: ing,
                packet: p,
            },
            t,
        ));
        if !ok {
            break;
        }
    }
    out
}

/// Like [`conversation_steps`], as labelled traces (what `nfwalk trace --conn` prints).
pub fn conversation(
    host: &Host,
    w: &mut Walker<'_>,
    client_in: Ingress,
    first: Packet,
    close: Close,
) -> Vec<(String, Trace)> {
    conversation_steps(host, w, client_in, first, close)
        .into_iter()
        .map(|(s, t)| (s.label, t))
        .collect()
}

/// A NAT binding conntrack applied to a later packet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Binding {
    /// Hook.
    pub hook: nfwalk_model::Hook,
    /// `dst` or `src`.
    pub field: String,
    /// Before.
    pub from: String,
    /// After.
    pub to: String,
}

/// What conntrack did for an ESTABLISHED/RELATED packet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CtExplain {
    /// `ESTABLISHED` or `RELATED`.
    pub state: String,
    /// `original` or `reply` direction of the entry.
    pub direction: String,
    /// Index (0-based) of the packet that created the entry, if it is in this conversation.
    pub created_by: Option<usize>,
    /// Its label.
    pub created_by_label: Option<String>,
    /// The entry as `conntrack -L` prints it, when the packet was looked up.
    pub entry: String,
    /// The NAT rules the creating packet went through (whose binding the entry remembers).
    pub nat_rules: Vec<RuleRef>,
    /// Why the nat chains were skipped, per hook.
    pub nat_skipped: Vec<String>,
    /// The remembered bindings applied to this packet.
    pub bindings: Vec<Binding>,
    /// In sentences.
    pub reasons: Vec<String>,
}

/// One packet of the explained connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnPacket {
    /// `client → server  SYN-ACK`.
    pub label: String,
    /// The packet summary.
    pub packet: String,
    /// Where it entered.
    pub ingress: String,
    /// Conntrack state.
    pub ct_state: String,
    /// `accept`/`drop`.
    pub verdict: String,
    /// The fate in words.
    pub fate: String,
    /// Whether it gets the expected verdict.
    pub as_expected: Option<bool>,
    /// For a packet whose fate differs from the expected one: the full explanation (walked
    /// in the connection's state: its earlier packets replayed first).
    pub explanation: Option<Explanation>,
    /// For ESTABLISHED/RELATED packets: conntrack's part.
    pub conntrack: Option<CtExplain>,
    /// The full trace.
    pub trace: Trace,
}

/// A whole connection explained.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnExplanation {
    /// The first packet.
    pub packet: String,
    /// The expected verdict.
    pub expected: Option<Expect>,
    /// How it closes.
    pub close: Close,
    /// Every packet walked (the conversation stops at the first one not let through).
    pub packets: Vec<ConnPacket>,
    /// Whether every packet walked got the expected verdict and (for accept) the whole
    /// conversation went through.
    pub as_expected: Option<bool>,
    /// One line: what happened to the connection.
    pub summary: String,
}

fn ct_explain(steps: &[(Step, Trace)], k: usize) -> Option<CtExplain> {
    let t = &steps.get(k)?.1;
    if t.ct_state != "ESTABLISHED" && t.ct_state != "RELATED" {
        return None;
    }
    let lookup = t.events.iter().find_map(|e| match e {
        Event::Conntrack { note }
            if note.starts_with("ESTABLISHED") || note.starts_with("RELATED") || note.starts_with("NEW:") =>
        {
            Some(note.clone())
        }
        _ => None,
    });
    let lookup = lookup.unwrap_or_default();
    let direction = if lookup.contains("reply direction") || t.ct_state == "RELATED" {
        "reply"
    } else {
        "original"
    };
    let entry = lookup
        .split_once(": ")
        .map(|(_, r)| r.split_once(": ").map(|(_, e)| e).unwrap_or(r).to_string())
        .unwrap_or_default();
    // The last earlier packet whose walk confirmed a new entry created it.
    let created_by = (0..k).rev().find(|&i| {
        steps[i]
            .1
            .events
            .iter()
            .any(|e| matches!(e, Event::Conntrack { note } if note.starts_with("confirmed")))
    });
    let nat_rules: Vec<RuleRef> = created_by
        .map(|i| {
            steps[i]
                .1
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::Rewrite { by: Some(r), field, .. }
                        if (field == "dst" || field == "src") && r.table == nfwalk_model::TableName::Nat =>
                    {
                        Some(r.clone())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let nat_skipped: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TableSkipped {
                hook,
                table: nfwalk_model::TableName::Nat,
                reason,
            } => Some(format!("{hook}: {reason}")),
            _ => None,
        })
        .collect();
    let bindings: Vec<Binding> = t
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Rewrite {
                hook,
                field,
                from,
                to,
                by: None,
                ..
            } if field == "dst" || field == "src" => Some(Binding {
                hook: *hook,
                field: field.clone(),
                from: from.clone(),
                to: to.clone(),
            }),
            _ => None,
        })
        .collect();
    let created_by_label = created_by.map(|i| steps[i].0.label.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut reasons = Vec::new();
    match (&created_by_label, created_by) {
        (Some(l), Some(i)) => reasons.push(format!(
            "{} {}-direction packet of the entry that packet {} ({l}) created{}",
            if direction == "original" { "an" } else { "a" },
            direction,
            i + 1,
            if entry.is_empty() {
                String::new()
            } else {
                format!(": {entry}")
            }
        )),
        _ => reasons.push(format!(
            "{direction} direction of an entry already in the table{}",
            if entry.is_empty() {
                String::new()
            } else {
                format!(": {entry}")
            }
        )),
    }
    if t.ct_state == "ESTABLISHED" {
        reasons.push(
            "conntrack state ESTABLISHED: `--ctstate RELATED,ESTABLISHED` rules match it, `--ctstate NEW` rules do not"
                .into(),
        );
    }
    if !nat_skipped.is_empty() {
        reasons.push(format!(
            "nat chains skipped — only a connection's first packet traverses them ({})",
            nat_skipped
                .iter()
                .map(|s| s.split(':').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for b in &bindings {
        let origin = nat_rules
            .iter()
            .map(|r| {
                format!(
                    "{}/{} rule {} (line {}) `{}`",
                    r.table, r.chain, r.index, r.line, r.text
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        reasons.push(format!(
            "the remembered binding rewrote the {} {} → {} at {}{}",
            if b.field == "dst" { "destination" } else { "source" },
            b.from,
            b.to,
            b.hook,
            if origin.is_empty() {
                String::new()
            } else {
                format!(", as set up for the first packet by {origin}")
            }
        ));
    }
    Some(CtExplain {
        state: t.ct_state.clone(),
        direction: direction.into(),
        created_by,
        created_by_label,
        entry,
        nat_rules,
        nat_skipped,
        bindings,
        reasons,
    })
}

fn ingress_text(i: &Ingress) -> String {
    match i {
        Ingress::Iface { iface, physin: Some(p) } => format!("on {iface} (bridge port {p})"),
        Ingress::Iface { iface, .. } => format!("on {iface}"),
        Ingress::Local => "from a local process".into(),
    }
}

/// Explains a whole TCP connection whose first packet is `req.packet` (its flags are
/// replaced by the conversation's). `req.rule` is asked about for each differing packet.
pub fn explain_conn(host: &Host, req: &Request, close: Close) -> Result<ConnExplanation, String> {
    if req.packet.proto != nfwalk_model::Proto::TCP {
        return Err("--conn walks a TCP connection: use -p tcp".into());
    }
    let mut w = Walker::new(host);
    let steps = conversation_steps(host, &mut w, req.ingress.clone(), req.packet.clone(), close);
    let mut packets = Vec::new();
    for (k, (s, t)) in steps.iter().enumerate() {
        let as_expected = req.expect.map(|e| t.fate.verdict() == e.as_str());
        let explanation = if as_expected == Some(false) || (req.expect.is_none() && req.rule.is_some()) {
            let sub = Request {
                ingress: s.ingress.clone(),
                packet: s.packet.clone(),
                expect: req.expect,
                rule: req.rule.clone(),
                before: steps[..k]
                    .iter()
                    .map(|(p, _)| (p.ingress.clone(), p.packet.clone()))
                    .collect(),
            };
            Some(explain(host, &sub)?)
        } else {
            None
        };
        packets.push(ConnPacket {
            label: s.label.clone(),
            packet: s.packet.summary(),
            ingress: ingress_text(&s.ingress),
            ct_state: t.ct_state.clone(),
            verdict: t.fate.verdict().into(),
            fate: t.fate.describe(),
            as_expected,
            explanation,
            conntrack: ct_explain(&steps, k),
            trace: t.clone(),
        });
    }
    let last = packets.last();
    let all_through = last.is_some_and(|p| p.verdict == "accept");
    let summary = match last {
        Some(p) if !all_through => format!(
            "the connection stops at packet {} ({}): {}",
            packets.len(),
            p.label.split_whitespace().collect::<Vec<_>>().join(" "),
            p.fate
        ),
        _ => format!("all {} packets of the connection get through", packets.len()),
    };
    let as_expected = req.expect.map(|e| match e {
        Expect::Accept => all_through,
        Expect::Drop => !all_through,
    });
    Ok(ConnExplanation {
        packet: req.packet.summary(),
        expected: req.expect,
        close,
        packets,
        as_expected,
        summary,
    })
}
