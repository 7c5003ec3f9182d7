//! The stable JSON wire format of nfwalk.
//!
//! `nfwalk trace --format json` prints one [`PacketRecord`]; `nfwalk replay --format jsonl`
//! prints one per line (JSON Lines), one per capture frame, in capture order. These types
//! are the contract: fields are only ever added, never renamed or removed, within a
//! `format_version`.
//!
//! ```json
//! {"format_version":1,"frame":1,"in":"enp1s0","physin":null,"out":"docker0",
//!  "src":"198.51.100.10","dst":"198.51.100.1","proto":"tcp","sport":40001,"dport":10000,
//!  "ct_state":"NEW","verdict":"accept","fate":"forwarded out docker0",
//!  "path":[{"hook":"PREROUTING","table":"nat","chain":"PREROUTING",
//!           "rule":"-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER","line":11,"verdict":"JUMP:DOCKER"}, ...],
//!  "rewrites":[{"hook":"PREROUTING","field":"dst","from":"198.51.100.1:10000","to":"172.17.0.2:6379","line":16}],
//!  "log":[], "generated":[], "alternatives":[], "evaluation":[...]}
//! ```
//!
//! * `frame`: 1-based position in the capture counting every frame, or `null` for packets
//!   the host itself sends (REJECT replies) and for packets given on the command line.
//! * `verdict`: `accept`, `drop`, `unknown` (a condition nfwalk cannot decide), or `skipped`
//!   (a frame that is not walkable: ARP, IPv6, a bridge duplicate; `skipped` says why).
//! * `path`: what `xtables-monitor --trace` lists, in order: every rule whose matches all
//!   held (terminal, non-terminal `CONTINUE`, `JUMP:X`, `GOTO:X`, `RETURN`) and every
//!   built-in chain policy that decided (`rule` is then `policy ACCEPT`/`policy DROP`,
//!   `line` is `null`). A user chain's implicit return has no entry.
//! * `evaluation`: every rule evaluated, including those that did not match, with the first
//!   failing condition and the value the packet carried.
#![warn(missing_docs)]

use nfwalk_model::{Hook, TableName};
use nfwalk_walk::{Event, Ingress, RuleResult, Trace};
use serde::{Deserialize, Serialize};

/// The current format version.
pub const FORMAT_VERSION: u32 = 1;

/// One packet's walk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PacketRecord {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// 1-based capture frame, or null.
    pub frame: Option<usize>,
    /// IN interface (null for host-originated packets).
    #[serde(rename = "in")]
    pub in_: Option<String>,
    /// Bridge port the frame arrived on.
    pub physin: Option<String>,
    /// Interface the packet left by.
    pub out: Option<String>,
    /// Source address as received.
    pub src: Option<String>,
    /// Destination address as received.
    pub dst: Option<String>,
    /// Protocol name.
    pub proto: Option<String>,
    /// Source port (TCP/UDP/SCTP).
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: Option<u16>,
    /// Conntrack state (`NEW`, `ESTABLISHED`, `RELATED`, `INVALID`, `UNTRACKED`).
    pub ct_state: Option<String>,
    /// `accept`, `drop`, `unknown` or `skipped`.
    pub verdict: String,
    /// One line: delivered locally, forwarded out X, dropped by ..., rejected by ...
    pub fate: String,
    /// Why a frame was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The kernel-trace view.
    pub path: Vec<PathEntry>,
    /// Header rewrites in order.
    pub rewrites: Vec<RewriteEntry>,
    /// LOG/NFLOG lines.
    pub log: Vec<String>,
    /// Packets the host generated in response (REJECT), each a full record with `frame: null`.
    pub generated: Vec<PacketRecord>,
    /// Possible outcomes when undecidable: `[condition, fate]`.
    pub alternatives: Vec<(String, String)>,
    /// Every rule evaluated.
    pub evaluation: Vec<EvalEntry>,
}

/// One entry of `path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathEntry {
    /// Hook name.
    pub hook: Hook,
    /// Table.
    pub table: TableName,
    /// Chain.
    pub chain: String,
    /// Rule text exactly as in the input, or `policy X`.
    pub rule: String,
    /// Line in the ruleset, null for policies.
    pub line: Option<usize>,
    /// Verdict word as xtables-monitor prints it.
    pub verdict: String,
}

/// One header rewrite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewriteEntry {
    /// Hook.
    pub hook: Hook,
    /// Field (`dst`, `src`, `mark`).
    pub field: String,
    /// Old value.
    pub from: String,
    /// New value.
    pub to: String,
    /// Line of the rule that did it; null when conntrack applied an existing binding.
    pub line: Option<usize>,
}

/// One evaluated rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalEntry {
    /// Hook.
    pub hook: Hook,
    /// Table.
    pub table: TableName,
    /// Chain.
    pub chain: String,
    /// 1-based index in the chain.
    pub index: usize,
    /// Line.
    pub line: usize,
    /// Rule text.
    pub rule: String,
    /// `matched`, `failed` or `unknown`.
    pub result: String,
    /// Verdict when matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The failing condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The value the packet carried, or why it is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
}

impl PacketRecord {
    /// The record of a walked packet.
    pub fn from_trace(frame: Option<usize>, t: &Trace) -> PacketRecord {
        let (in_, physin) = match &t.ingress {
            Ingress::Iface { iface, physin } => (Some(iface.clone()), physin.clone()),
            Ingress::Local => (None, None),
        };
        // The bridge, when the walk resolved a port to its bridge.
        let (in_, physin) = if t.in_iface.is_some() {
            (t.in_iface.clone(), t.physin.clone())
        } else {
            (in_, physin)
        };
        let p = &t.packet;
        let ports = p.proto.has_ports();
        let mut rewrites = Vec::new();
        let mut evaluation = Vec::new();
        for e in &t.events {
            match e {
                Event::Rewrite {
                    hook,
                    field,
                    from,
                    to,
                    by,
                    ..
                } => rewrites.push(RewriteEntry {
                    hook: *hook,
                    field: field.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    line: by.as_ref().map(|r| r.line),
                }),
                Event::Rule { hook, rule, result } => {
                    let (res, verdict, condition, seen) = match result {
                        RuleResult::Matched { verdict } => ("matched", Some(verdict.clone()), None, None),
                        RuleResult::Failed { condition, seen } => {
                            ("failed", None, Some(condition.clone()), Some(seen.clone()))
                        }
                        RuleResult::Unknown { reason } => ("unknown", None, None, Some(reason.clone())),
                    };
                    evaluation.push(EvalEntry {
                        hook: *hook,
                        table: rule.table,
                        chain: rule.chain.to_string(),
                        index: rule.index,
                        line: rule.line,
                        rule: rule.text.to_string(),
                        result: res.into(),
                        verdict,
                        condition,
                        seen,
                    })
                }
                _ => {}
            }
        }
        PacketRecord {
            format_version: FORMAT_VERSION,
            frame,
            in_,
            physin,
            out: t.out.clone(),
            src: Some(p.src.to_string()),
            dst: Some(p.dst.to_string()),
            proto: Some(p.proto.name()),
            sport: ports.then_some(p.sport),
            dport: ports.then_some(p.dport),
            ct_state: Some(t.ct_state.clone()),
            verdict: t.fate.verdict().into(),
            fate: t.fate.describe(),
            skipped: None,
            path: t
                .path()
                .into_iter()
                .map(|s| PathEntry {
                    hook: s.hook,
                    table: s.table,
                    chain: s.chain,
                    rule: s.rule,
                    line: s.line,
                    verdict: s.verdict,
                })
                .collect(),
            rewrites,
            log: t
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::Log { line } => Some(line.clone()),
                    _ => None,
                })
                .collect(),
            generated: t.generated.iter().map(|g| PacketRecord::from_trace(None, g)).collect(),
            alternatives: t.alternatives.clone(),
            evaluation,
        }
    }

    /// The record of a frame that was not walked.
    pub fn skipped(frame: usize, iface: Option<String>, why: String) -> PacketRecord {
        PacketRecord {
            format_version: FORMAT_VERSION,
            frame: Some(frame),
            in_: iface,
            physin: None,
            out: None,
            src: None,
            dst: None,
            proto: None,
            sport: None,
            dport: None,
            ct_state: None,
            verdict: "skipped".into(),
            fate: format!("skipped: {why}"),
            skipped: Some(why),
            path: Vec::new(),
            rewrites: Vec::new(),
            log: Vec::new(),
            generated: Vec::new(),
            alternatives: Vec::new(),
            evaluation: Vec::new(),
        }
    }
}
