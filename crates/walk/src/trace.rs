//! The one record every view renders: what happened to one packet, hook by hook.

use nfwalk_model::{Hook, Packet, TableName};
use serde::Serialize;

/// Where a packet enters the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ingress {
    /// Received on an interface. When that interface is a bridge port, `iface` is the
    /// bridge and `physin` the port.
    Iface {
        /// The interface netfilter reports as IN.
        iface: String,
        /// The bridge port the frame arrived on, for bridged traffic.
        physin: Option<String>,
    },
    /// Sent by a local process (starts at OUTPUT).
    Local,
}

/// A rule's position, for "by nat/DOCKER line 12".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// Table.
    pub table: TableName,
    /// Chain (shared, not copied, for every walked packet).
    pub chain: std::sync::Arc<str>,
    /// 1-based index in the chain (`--line-numbers`).
    pub index: usize,
    /// Line in the ruleset file.
    pub line: usize,
    /// The rule's text as written (shared).
    pub text: std::sync::Arc<str>,
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} rule {} (line {})",
            self.table, self.chain, self.index, self.line
        )
    }
}

/// What evaluating one rule gave.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RuleResult {
    /// All matches held; `verdict` is what xtables-monitor prints
    /// (`ACCEPT`, `DROP`, `CONTINUE`, `JUMP:X`, `GOTO:X`, `RETURN`).
    Matched {
        /// Verdict word.
        verdict: String,
    },
    /// A condition failed.
    Failed {
        /// The failing condition as written (`--dport 10000`, `! -i docker0`).
        condition: String,
        /// The value the packet carried (`dport 6379`).
        seen: String,
    },
    /// A condition nfwalk cannot decide.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// One step of the walk.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The packet enters a hook; the header as it is there.
    Hook {
        /// Hook.
        hook: Hook,
        /// IN.
        #[serde(rename = "in")]
        in_: Option<String>,
        /// OUT.
        out: Option<String>,
        /// PHYSIN.
        physin: Option<String>,
        /// PHYSOUT.
        physout: Option<String>,
        /// Header at hook entry.
        packet: Packet,
    },
    /// A base chain of a table starts at a hook.
    Table {
        /// Hook.
        hook: Hook,
        /// Table.
        table: TableName,
    },
    /// A table is not traversed (e.g. nat for a connection's later packets).
    TableSkipped {
        /// Hook.
        hook: Hook,
        /// Table.
        table: TableName,
        /// Why.
        reason: String,
    },
    /// A rule was evaluated.
    Rule {
        /// Hook.
        hook: Hook,
        /// Rule.
        rule: RuleRef,
        /// Outcome.
        result: RuleResult,
    },
    /// A built-in chain's policy decided.
    Policy {
        /// Hook.
        hook: Hook,
        /// Table.
        table: TableName,
        /// Chain.
        chain: String,
        /// Policy.
        verdict: String,
    },
    /// A header field was rewritten.
    Rewrite {
        /// Hook.
        hook: Hook,
        /// What changed: `dst`, `src`, `mark`, ...
        field: String,
        /// Old value.
        from: String,
        /// New value.
        to: String,
        /// Which rule caused it (None when conntrack applied an existing binding).
        by: Option<RuleRef>,
        /// Human explanation.
        note: String,
    },
    /// The routing decision.
    Route {
        /// Summary (`local delivery`, `forward via docker0`, ...).
        decision: String,
    },
    /// A conntrack lookup or update.
    Conntrack {
        /// Summary.
        note: String,
    },
    /// A LOG/NFLOG line was emitted.
    Log {
        /// The line as dmesg shows it (without the timestamp).
        line: String,
    },
    /// Anything else worth telling.
    Note {
        /// Text.
        text: String,
    },
}

/// What finally happened to the packet.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Fate {
    /// Delivered to a local socket.
    DeliveredLocally,
    /// Forwarded (or sent) out of an interface.
    Forwarded {
        /// Out interface.
        out: String,
    },
    /// Bridged between two ports of a bridge.
    Bridged {
        /// The bridge.
        bridge: String,
    },
    /// Dropped by a rule or a policy.
    Dropped {
        /// The rule, or None for a policy.
        by: Option<RuleRef>,
        /// Where (`filter/FORWARD policy`, or the rule).
        reason: String,
    },
    /// Rejected by a REJECT rule; the reply is in `Trace::generated`.
    Rejected {
        /// The REJECT rule.
        by: RuleRef,
        /// `--reject-with`.
        with: String,
    },
    /// Dropped outside netfilter (no route, forwarding off, TTL, conntrack INVALID...).
    Discarded {
        /// Why.
        reason: String,
    },
    /// The walk met a condition it cannot decide; `Trace::alternatives` lists the possible outcomes.
    Undecided {
        /// Why.
        reason: String,
    },
}

impl Fate {
    /// `accept` or `drop`, as the JSON `verdict` field says.
    pub fn verdict(&self) -> &'static str {
        match self {
            Fate::DeliveredLocally | Fate::Forwarded { .. } | Fate::Bridged { .. } => "accept",
            Fate::Dropped { .. } | Fate::Rejected { .. } | Fate::Discarded { .. } => "drop",
            Fate::Undecided { .. } => "unknown",
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Fate::DeliveredLocally => "delivered locally".into(),
            Fate::Forwarded { out } => format!("forwarded out {out}"),
            Fate::Bridged { bridge } => format!("bridged by {bridge}"),
            Fate::Dropped { reason, .. } => format!("dropped by {reason}"),
            Fate::Rejected { by, with } => format!("rejected ({with}) by {by}"),
            Fate::Discarded { reason } => format!("discarded: {reason}"),
            Fate::Undecided { reason } => format!("cannot decide here: {reason}"),
        }
    }
}

/// One step of `path`: what the kernel's own trace lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathStep {
    /// Hook.
    pub hook: Hook,
    /// Table.
    pub table: TableName,
    /// Chain.
    pub chain: String,
    /// Rule text, or `policy ACCEPT`.
    pub rule: String,
    /// Ruleset line (None for policies).
    pub line: Option<usize>,
    /// xtables-monitor's verdict word.
    pub verdict: String,
}

/// The whole record of one packet's walk.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    /// The packet as it arrived.
    pub packet: Packet,
    /// Where it arrived.
    pub ingress: Ingress,
    /// IN as netfilter reports it (a bridge port resolves to its bridge); None for local.
    pub in_iface: Option<String>,
    /// PHYSIN, for frames received on a bridge port.
    pub physin: Option<String>,
    /// The conntrack state the packet had (`NEW`, `ESTABLISHED`, `RELATED`, `INVALID`, `UNTRACKED`).
    pub ct_state: String,
    /// Every step in order.
    pub events: Vec<Event>,
    /// The outcome.
    pub fate: Fate,
    /// The interface it left by, if any.
    pub out: Option<String>,
    /// The packet as it left (after NAT).
    pub final_packet: Packet,
    /// Packets the host generated in response (REJECT replies), each walked in turn.
    pub generated: Vec<Trace>,
    /// When undecidable: possible outcomes, with the condition that leads to each.
    pub alternatives: Vec<(String, String)>,
}

impl Trace {
    /// The rules and policies that decided, as `xtables-monitor --trace` lists them.
    pub fn path(&self) -> Vec<PathStep> {
        let mut out = Vec::new();
        for e in &self.events {
            match e {
                Event::Rule {
                    hook,
                    rule,
                    result: RuleResult::Matched { verdict },
                } => out.push(PathStep {
                    hook: *hook,
                    table: rule.table,
                    chain: rule.chain.to_string(),
                    rule: rule.text.to_string(),
                    line: Some(rule.line),
                    verdict: verdict.clone(),
                }),
                Event::Policy {
                    hook,
                    table,
                    chain,
                    verdict,
                } => out.push(PathStep {
                    hook: *hook,
                    table: *table,
                    chain: chain.clone(),
                    rule: format!("policy {verdict}"),
                    line: None,
                    verdict: verdict.clone(),
                }),
                _ => {}
            }
        }
        out
    }

    /// LOG lines emitted during the walk (including generated packets).
    pub fn log_lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Log { line } => Some(line.clone()),
                _ => None,
            })
            .collect();
        for g in &self.generated {
            v.extend(g.log_lines());
        }
        v
    }
}
