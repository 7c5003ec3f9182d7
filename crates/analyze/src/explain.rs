//! `explain`: what decided a packet's fate, why the expected verdict (or a named rule) did not
//! happen along every way the packet could have gone, and fixes proven by re-walking.
//!
//! Everything here reads the [`Trace`] of the one walker; fixes are applied to a copy of the
//! host and the packet (and a sample of other traffic) is walked again.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use nfwalk_model::{Hook, Host, Packet, Proto, Rule, TableName, Target, TcpFlags};
use nfwalk_walk::{Event, Fate, Ingress, RuleRef, RuleResult, Trace, Walker};
use serde::Serialize;

/// The verdict the user expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The packet should get through (delivered, forwarded or bridged).
    Accept,
    /// The packet should be dropped or rejected.
    Drop,
}

impl Expect {
    /// `accept` / `drop`, as [`Fate::verdict`] says.
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Accept => "accept",
            Expect::Drop => "drop",
        }
    }

    /// Parses `accept`/`drop` (also `reject`, `deny`, `allow`).
    pub fn parse(s: &str) -> Option<Expect> {
        match s.to_ascii_lowercase().as_str() {
            "accept" | "allow" | "pass" => Some(Expect::Accept),
            "drop" | "reject" | "deny" | "block" => Some(Expect::Drop),
            _ => None,
        }
    }
}

/// A rule named by the user: `filter DOCKER-USER 1` or a ruleset line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleSel {
    /// Table, chain and 1-based index.
    At(TableName, String, usize),
    /// Line in the ruleset file.
    Line(usize),
}

impl RuleSel {
    /// Parses `filter DOCKER-USER 1` (also `filter/DOCKER-USER/1`, `filter:DOCKER-USER:1`).
    pub fn parse(s: &str) -> Result<RuleSel, String> {
        let parts: Vec<&str> = s.split([' ', '/', ':']).filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [t, c, i] => {
                let table = TableName::parse(t)
                    .ok_or_else(|| format!("unknown table `{t}` (raw, mangle, nat, filter, security)"))?;
                let index = i
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i > 0)
                    .ok_or_else(|| format!("`{i}` is not a rule number (1, 2, ...)"))?;
                Ok(RuleSel::At(table, c.to_string(), index))
            }
            _ => Err(format!(
                "`{s}`: name a rule as `TABLE CHAIN N`, e.g. `filter DOCKER-USER 1`"
            )),
        }
    }
}

/// What decided the packet's fate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// `accept`, `drop` or `unknown`.
    pub verdict: String,
    /// The fate in words.
    pub fate: String,
    /// The deciding rule, if a rule decided.
    pub rule: Option<RuleRef>,
    /// Hook where it was decided.
    pub hook: Option<Hook>,
    /// Table.
    pub table: Option<TableName>,
    /// Chain.
    pub chain: Option<String>,
    /// Ruleset line (None for a policy or a decision outside netfilter).
    pub line: Option<usize>,
    /// One line for people.
    pub summary: String,
}

/// A header rewrite that happened before a condition was tested.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rewritten {
    /// `dst` or `src`.
    pub field: String,
    /// Value on arrival (`198.51.100.1:10000`).
    pub from: String,
    /// Value after the rewrite.
    pub to: String,
    /// Hook of the rewrite.
    pub hook: Hook,
    /// The rule that rewrote it (None: conntrack applied a connection's binding).
    pub rule: Option<RuleRef>,
}

/// One condition of a rule that did not hold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailedCondition {
    /// The condition as written (`--dport 10000`).
    pub condition: String,
    /// What the packet carried there (`dport 6379`).
    pub seen: String,
    /// Hook where it was tested.
    pub hook: Hook,
    /// The rewrite that changed the value first, if any.
    pub rewritten_by: Option<Rewritten>,
}

/// Why one rule did not give the expected verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WhyNot {
    /// The rule.
    pub rule: RuleRef,
    /// `not_reached`, `condition_failed`, `matched`, `undecidable`.
    pub status: String,
    /// Hooks whose built-in chains reach this rule's chain (through jumps).
    pub hooks: Vec<Hook>,
    /// The failing conditions (all of them, found by re-walking without each one).
    pub conditions: Vec<FailedCondition>,
    /// Why, in sentences (one per hook for `not_reached`).
    pub reasons: Vec<String>,
}

/// How a fix changes another kind of traffic.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SideEffect {
    /// The traffic (`container→container 172.17.0.3 → 172.17.0.2:6379`).
    pub traffic: String,
    /// Verdict before the fix.
    pub before: String,
    /// Verdict after the fix.
    pub after: String,
    /// Whether the verdict changed.
    pub changed: bool,
    /// The same service from elsewhere (a change here is usually intended, not a side effect).
    pub same_service: bool,
}

/// A fix: one rule to insert, checked by re-walking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fix {
    /// The command to paste: `iptables -t filter -I DOCKER-USER 1 ...`.
    pub command: String,
    /// Table.
    pub table: TableName,
    /// Chain.
    pub chain: String,
    /// 1-based position the rule is inserted at.
    pub position: usize,
    /// The rule as a ruleset line (`-A CHAIN ...`).
    pub rule: String,
    /// Why this rule works.
    pub rationale: String,
    /// The packet, re-walked with the fix, gets the expected verdict.
    pub verified: bool,
    /// The fate with the fix.
    pub fate_after: String,
    /// The sample traffic, before and after.
    pub side_effects: Vec<SideEffect>,
}

/// The whole answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The packet.
    pub packet: String,
    /// Where it arrived.
    pub ingress: String,
    /// Conntrack state the packet had.
    pub ct_state: String,
    /// The expected verdict, if given.
    pub expected: Option<Expect>,
    /// What decided.
    pub decided_by: Decision,
    /// Whether the packet already gets the expected verdict.
    pub as_expected: Option<bool>,
    /// Why the expected verdict / named rule did not happen.
    pub why_not: Vec<WhyNot>,
    /// The why-not that matters (index into `why_not`): the rule the user named, or a rule
    /// giving the expected verdict whose chain the packet actually traversed (one it reached
    /// and failed first). None when no such rule is on the packet's path.
    pub primary: Option<usize>,
    /// Verified fixes, best first.
    pub fixes: Vec<Fix>,
    /// Extra facts (conntrack, nat first-packet rule, ...).
    pub notes: Vec<String>,
    /// The full trace.
    pub trace: Trace,
}

/// What to explain.
#[derive(Clone, Debug)]
pub struct Request {
    /// Where the packet enters.
    pub ingress: Ingress,
    /// The packet.
    pub packet: Packet,
    /// The expected verdict.
    pub expect: Option<Expect>,
    /// A rule the user asks about.
    pub rule: Option<RuleSel>,
    /// Packets walked first on the same walker (a connection's earlier packets), so the
    /// packet meets the conntrack state they left; every re-walk (failing conditions, fixes)
    /// replays them too. Empty for a lone packet.
    pub before: Vec<(Ingress, Packet)>,
}

/// A rule found in the ruleset.
#[derive(Clone, Debug)]
struct Found {
    rref: RuleRef,
    rule: Rule,
}

fn rref(table: TableName, chain: &str, index: usize, r: &Rule) -> RuleRef {
    RuleRef {
        table,
        chain: chain.into(),
        index,
        line: r.line,
        text: r.text.as_str().into(),
    }
}

fn find_rule(host: &Host, sel: &RuleSel) -> Option<Found> {
    for t in &host.ruleset.tables {
        for c in &t.chains {
            for (i, r) in c.rules.iter().enumerate() {
                let hit = match sel {
                    RuleSel::At(tn, cn, idx) => *tn == t.name && *cn == c.name && *idx == i + 1,
                    RuleSel::Line(l) => r.line == *l,
                };
                if hit {
                    return Some(Found {
                        rref: rref(t.name, &c.name, i + 1, r),
                        rule: r.clone(),
                    });
                }
            }
        }
    }
    None
}

/// For each chain of a table, the hooks whose built-in chains reach it through jumps/gotos.
pub fn chain_hooks(host: &Host, table: TableName) -> HashMap<String, BTreeSet<Hook>> {
    let mut out: HashMap<String, BTreeSet<Hook>> = HashMap::new();
    let Some(t) = host.ruleset.table(table) else {
        return out;
    };
    for c in &t.chains {
        let Some(h) = Hook::from_chain_name(&c.name).filter(|_| c.is_builtin()) else {
            continue;
        };
        let mut stack = vec![c.name.clone()];
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            out.entry(n.clone()).or_default().insert(h);
            if let Some(ch) = t.chain(&n) {
                for r in &ch.rules {
                    if let Target::Jump { chain } | Target::Goto { chain } = &r.target {
                        stack.push(chain.clone());
                    }
                }
            }
        }
    }
    out
}

fn ingress_text(i: &Ingress) -> String {
    match i {
        Ingress::Iface { iface, physin: Some(p) } => format!("on {iface} (bridge port {p})"),
        Ingress::Iface { iface, .. } => format!("on {iface}"),
        Ingress::Local => "from a local process".into(),
    }
}

fn is_terminal_verdict(v: &str) -> bool {
    !(v == "CONTINUE" || v.starts_with("JUMP:"))
}

fn decision(t: &Trace) -> Decision {
    let mut d = Decision {
        verdict: t.fate.verdict().into(),
        fate: t.fate.describe(),
        rule: None,
        hook: None,
        table: None,
        chain: None,
        line: None,
        summary: String::new(),
    };
    match &t.fate {
        Fate::Dropped { by: Some(r), .. } | Fate::Rejected { by: r, .. } => {
            let hook = t.events.iter().rev().find_map(|e| match e {
                Event::Rule { hook, rule, .. } if rule == r => Some(*hook),
                _ => None,
            });
            d.hook = hook;
            d.table = Some(r.table);
            d.chain = Some(r.chain.to_string());
            d.line = Some(r.line);
            d.rule = Some(r.clone());
        }
        Fate::Dropped { by: None, .. } => {
            if let Some(Event::Policy { hook, table, chain, .. }) =
                t.events.iter().rev().find(|e| matches!(e, Event::Policy { .. }))
            {
                d.hook = Some(*hook);
                d.table = Some(*table);
                d.chain = Some(chain.clone());
            }
        }
        Fate::DeliveredLocally | Fate::Forwarded { .. } | Fate::Bridged { .. } => {
            // The last filter-ish decision: the last terminal ACCEPT or the last policy.
            for e in t.events.iter().rev() {
                match e {
                    Event::Rule {
                        hook,
                        rule,
                        result: RuleResult::Matched { verdict },
                    } if verdict == "ACCEPT" && rule.table != TableName::Nat => {
                        d.hook = Some(*hook);
                        d.table = Some(rule.table);
                        d.chain = Some(rule.chain.to_string());
                        d.line = Some(rule.line);
                        d.rule = Some(rule.clone());
                        break;
                    }
                    Event::Policy { hook, table, chain, .. } if *table != TableName::Nat => {
                        d.hook = Some(*hook);
                        d.table = Some(*table);
                        d.chain = Some(chain.clone());
                        break;
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    d.summary = match (&d.rule, d.hook, d.table, &d.chain) {
        (Some(r), Some(h), _, _) => format!(
            "{} at {h}: {} {}/{} rule {} (line {}): {}",
            d.fate,
            verb(&t.fate),
            r.table,
            r.chain,
            r.index,
            r.line,
            r.text
        ),
        (None, Some(h), Some(tb), Some(c)) => format!("{} at {h}: the policy of {tb}/{c}", d.fate),
        _ => d.fate.clone(),
    };
    d
}

fn verb(f: &Fate) -> &'static str {
    if f.verdict() == "accept" {
        "accepted by"
    } else {
        "by"
    }
}

/// Field a condition reads: `dst` for `-d`/`--dport`, `src` for `-s`/`--sport`.
fn cond_field(cond: &str) -> Option<&'static str> {
    let c = cond.trim_start_matches("! ");
    let w = c.split_whitespace().next().unwrap_or("");
    match w {
        "-d"
        | "--destination"
        | "--dport"
        | "--dports"
        | "--destination-port"
        | "--destination-ports"
        | "--dst-range"
        | "--dst-type" => Some("dst"),
        "-s" | "--source" | "--sport" | "--sports" | "--source-port" | "--source-ports" | "--src-range"
        | "--src-type" => Some("src"),
        _ => None,
    }
}

fn event_index(t: &Trace, r: &RuleRef) -> Vec<usize> {
    t.events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Rule { rule, .. } if rule.table == r.table && rule.chain == r.chain && rule.index == r.index => {
                Some(i)
            }
            _ => None,
        })
        .collect()
}

fn rewrite_before(t: &Trace, upto: usize, field: &str) -> Option<Rewritten> {
    t.events[..upto].iter().rev().find_map(|e| match e {
        Event::Rewrite {
            hook,
            field: f,
            from,
            to,
            by,
            ..
        } if f == field => Some(Rewritten {
            field: f.clone(),
            from: from.clone(),
            to: to.clone(),
            hook: *hook,
            rule: by.clone(),
        }),
        _ => None,
    })
}

/// Walks once on a fresh walker.
pub fn walk(host: &Host, ingress: &Ingress, p: &Packet) -> Trace {
    Walker::new(host).walk(ingress.clone(), p.clone())
}

/// Walks the request's earlier packets (`before`) and then its packet on one fresh walker.
pub fn walk_req(host: &Host, req: &Request) -> Trace {
    let mut w = Walker::new(host);
    for (i, p) in &req.before {
        w.walk(i.clone(), p.clone());
    }
    w.walk(req.ingress.clone(), req.packet.clone())
}

/// All failing conditions of a rule for this packet: walk, drop the failing condition from a
/// copy of the rule, walk again, until the rule matches or nothing fails.
fn all_failures(host: &Host, req: &Request, f: &Found, first: &Trace) -> Vec<FailedCondition> {
    let mut out = Vec::new();
    let mut h = host.clone();
    let mut t = first.clone();
    for _ in 0..8 {
        let idx = event_index(&t, &f.rref);
        let Some(&i) = idx.first() else { break };
        let Event::Rule {
            hook,
            result: RuleResult::Failed { condition, seen },
            ..
        } = &t.events[i]
        else {
            break;
        };
        let rewritten_by = cond_field(condition).and_then(|fl| rewrite_before(&t, i, fl));
        out.push(FailedCondition {
            condition: condition.clone(),
            seen: seen.clone(),
            hook: *hook,
            rewritten_by,
        });
        // Remove that condition from the copy and walk again.
        let Some(rule) = h
            .ruleset
            .table_mut(f.rref.table)
            .and_then(|tb| tb.chain_mut(&f.rref.chain))
            .and_then(|c| c.rules.get_mut(f.rref.index - 1))
        else {
            break;
        };
        let before = rule.matches.len();
        if let Some(pos) = rule.matches.iter().position(|m| {
            let txt = if m.negated {
                format!("! {}", m.text)
            } else {
                m.text.clone()
            };
            txt == *condition
        }) {
            rule.matches.remove(pos);
        }
        if rule.matches.len() == before {
            break;
        }
        t = walk_req(&h, req);
    }
    out
}

/// Whether any rule of this chain was evaluated on the packet's walk.
pub fn chain_traversed(t: &Trace, table: TableName, chain: &str) -> bool {
    t.events
        .iter()
        .any(|e| matches!(e, Event::Rule { rule, .. } if rule.table == table && &*rule.chain == chain))
}

fn hook_crossed(t: &Trace, h: Hook) -> bool {
    t.events
        .iter()
        .any(|e| matches!(e, Event::Hook { hook, .. } if *hook == h))
}

fn route_decision(t: &Trace) -> Option<String> {
    t.events.iter().find_map(|e| match e {
        Event::Route { decision } => Some(decision.clone()),
        _ => None,
    })
}

/// Why a rule was not evaluated at hook `h`.
fn not_reached_at(host: &Host, t: &Trace, f: &Found, h: Hook) -> String {
    let tb = f.rref.table;
    let chain = &f.rref.chain;
    if !hook_crossed(t, h) {
        let mut s = format!("the packet never crosses {h}");
        match (&t.fate, h) {
            (Fate::Forwarded { .. } | Fate::Bridged { .. }, Hook::Input) => {
                s.push_str(": it is forwarded, and an INPUT rule never sees forwarded traffic");
                if let Some(r) = route_decision(t) {
                    s.push_str(&format!(" (routing: {r})"));
                }
            }
            (Fate::DeliveredLocally, Hook::Forward) => {
                s.push_str(": it is delivered locally, and a FORWARD rule never sees traffic for the host")
            }
            (Fate::Dropped { .. } | Fate::Rejected { .. } | Fate::Discarded { .. }, _) => {
                s.push_str(&format!(": it was {} before", t.fate.describe()))
            }
            _ => {
                if let Some(r) = route_decision(t) {
                    s.push_str(&format!(" (routing: {r})"));
                }
            }
        }
        return s;
    }
    if let Some(reason) = t.events.iter().find_map(|e| match e {
        Event::TableSkipped { hook, table, reason } if *hook == h && *table == tb => Some(reason.clone()),
        _ => None,
    }) {
        return format!("at {h} the {tb} table is not traversed: {reason}");
    }
    let in_table: Vec<&Event> = t
        .events
        .iter()
        .filter(|e| matches!(e, Event::Rule { hook, rule, .. } if *hook == h && rule.table == tb))
        .collect();
    if in_table.is_empty()
        && !t
            .events
            .iter()
            .any(|e| matches!(e, Event::Table { hook, table } if *hook == h && *table == tb))
    {
        return format!(
            "the packet crosses {h} but {tb}/{h} was not evaluated ({})",
            t.fate.describe()
        );
    }
    // An earlier rule of the same chain ended it.
    for e in &in_table {
        if let Event::Rule {
            rule,
            result: RuleResult::Matched { verdict },
            ..
        } = e
        {
            if rule.chain == *chain && rule.index < f.rref.index && is_terminal_verdict(verdict) {
                return format!(
                    "at {h}, the earlier rule {}/{} rule {} (line {}) `{}` matched first ({verdict}), so rule {} is never reached",
                    rule.table, rule.chain, rule.index, rule.line, rule.text, f.rref.index
                );
            }
        }
    }
    // Jumps into the chain that did not match.
    let mut jumps = Vec::new();
    for e in &in_table {
        if let Event::Rule {
            rule,
            result: RuleResult::Failed { condition, seen },
            ..
        } = e
        {
            if rule_jumps_to(host, rule, chain) {
                jumps.push(format!(
                    "the jump `{}` (line {}) did not match: {condition} (packet has {seen})",
                    rule.text, rule.line
                ));
            }
        }
    }
    if !jumps.is_empty() {
        return format!("at {h}, {chain} is not entered: {}", jumps.join("; "));
    }
    // The table's evaluation ended before.
    let last = in_table.iter().rev().find_map(|e| match e {
        Event::Rule {
            rule,
            result: RuleResult::Matched { verdict },
            ..
        } if is_terminal_verdict(verdict) && verdict != "RETURN" => Some((rule.clone(), verdict.clone())),
        _ => None,
    });
    match last {
        Some((r, v)) => format!(
            "at {h}, {tb} was decided before {chain} was reached: {}/{} rule {} (line {}) `{}` → {v}",
            r.table, r.chain, r.index, r.line, r.text
        ),
        None => format!("at {h}, no rule jumping to {chain} was evaluated"),
    }
}

fn rule_jumps_to(host: &Host, r: &RuleRef, chain: &str) -> bool {
    host.ruleset
        .table(r.table)
        .and_then(|t| t.chain(&r.chain))
        .and_then(|c| c.rules.get(r.index - 1))
        .is_some_and(|rule| matches!(&rule.target, Target::Jump { chain: c } | Target::Goto { chain: c } if c == chain))
}

fn why_not(host: &Host, req: &Request, t: &Trace, f: &Found) -> WhyNot {
    let hooks: Vec<Hook> = chain_hooks(host, f.rref.table)
        .get(&*f.rref.chain)
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    let idx = event_index(t, &f.rref);
    let mut w = WhyNot {
        rule: f.rref.clone(),
        status: String::new(),
        hooks: hooks.clone(),
        conditions: Vec::new(),
        reasons: Vec::new(),
    };
    if let Some(&i) = idx.first() {
        match &t.events[i] {
            Event::Rule {
                result: RuleResult::Failed { .. },
                hook,
                ..
            } => {
                w.status = "condition_failed".into();
                w.conditions = all_failures(host, req, f, t);
                for c in &w.conditions {
                    let mut s = format!("reached at {hook}, but `{}` failed: packet has {}", c.condition, c.seen);
                    if let Some(rw) = &c.rewritten_by {
                        let by = match &rw.rule {
                            Some(r) => format!(
                                "the {} in {}/{} at {} (line {}): `{}`",
                                target_word(host, r),
                                r.table,
                                r.chain,
                                rw.hook,
                                r.line,
                                r.text
                            ),
                            None => format!("conntrack's NAT binding at {}", rw.hook),
                        };
                        s.push_str(&format!(
                            "; the {} arrived as {} and was rewritten to {} by {by}",
                            rw.field_label(),
                            rw.from,
                            rw.to
                        ));
                    }
                    w.reasons.push(s);
                }
            }
            Event::Rule {
                result: RuleResult::Matched { verdict },
                hook,
                ..
            } => {
                w.status = "matched".into();
                w.reasons
                    .push(format!("it matched at {hook} ({verdict}), but {}", t.fate.describe()));
            }
            Event::Rule {
                result: RuleResult::Unknown { reason },
                hook,
                ..
            } => {
                w.status = "undecidable".into();
                w.reasons.push(format!("at {hook} nfwalk cannot decide it: {reason}"));
            }
            _ => {}
        }
    } else {
        w.status = "not_reached".into();
        if hooks.is_empty() {
            w.reasons.push(format!(
                "chain {}/{} is not reached from any built-in chain: no hook ever runs it",
                f.rref.table, f.rref.chain
            ));
        }
        for h in &hooks {
            w.reasons.push(not_reached_at(host, t, f, *h));
        }
    }
    if f.rref.table == TableName::Nat {
        w.reasons
            .push("nat chains see only a connection's first packet; later packets get the remembered binding".into());
    }
    w
}

impl Rewritten {
    fn field_label(&self) -> &'static str {
        if self.field == "dst" {
            "destination"
        } else {
            "source"
        }
    }
}

fn target_word(host: &Host, r: &RuleRef) -> String {
    host.ruleset
        .table(r.table)
        .and_then(|t| t.chain(&r.chain))
        .and_then(|c| c.rules.get(r.index - 1))
        .map(|rule| rule.target.name())
        .unwrap_or_else(|| "rule".into())
}

fn target_gives(t: &Target, e: Expect) -> bool {
    match e {
        Expect::Drop => matches!(t, Target::Drop | Target::Reject { .. }),
        Expect::Accept => matches!(t, Target::Accept),
    }
}

/// Explains a packet's fate.
pub fn explain(host: &Host, req: &Request) -> Result<Explanation, String> {
    let t = walk_req(host, req);
    let decided_by = decision(&t);
    let mut notes = Vec::new();
    let named = match &req.rule {
        Some(sel) => Some(find_rule(host, sel).ok_or_else(|| match sel {
            RuleSel::At(tb, c, i) => format!("no rule {tb}/{c} {i} in the ruleset"),
            RuleSel::Line(l) => format!("no rule on line {l} of the ruleset"),
        })?),
        None => None,
    };
    let expect = req.expect.or_else(|| {
        named.as_ref().and_then(|f| match f.rule.target {
            Target::Drop | Target::Reject { .. } => Some(Expect::Drop),
            Target::Accept => Some(Expect::Accept),
            _ => None,
        })
    });
    let as_expected = expect.map(|e| t.fate.verdict() == e.as_str());
    // Candidates: the named rule, or every filter-side rule that gives the expected verdict.
    let mut cands: Vec<Found> = Vec::new();
    if let Some(f) = &named {
        cands.push(f.clone());
    } else if let (Some(e), Some(false)) = (expect, as_expected) {
        for tb in &host.ruleset.tables {
            for c in &tb.chains {
                for (i, r) in c.rules.iter().enumerate() {
                    if target_gives(&r.target, e) && cands.len() < 12 {
                        cands.push(Found {
                            rref: rref(tb.name, &c.name, i + 1, r),
                            rule: r.clone(),
                        });
                    }
                }
            }
        }
    }
    let why: Vec<WhyNot> = cands.iter().map(|f| why_not(host, req, &t, f)).collect();
    let primary = if named.is_some() {
        Some(0).filter(|_| !why.is_empty())
    } else {
        let on_path = |w: &WhyNot| chain_traversed(&t, w.rule.table, &w.rule.chain);
        // Closest to firing first: the traversed rule with the fewest failing conditions.
        why.iter()
            .enumerate()
            .filter(|(_, w)| on_path(w) && w.status == "condition_failed")
            .min_by_key(|(i, w)| (w.conditions.len().max(1), *i))
            .map(|(i, _)| i)
            .or_else(|| why.iter().position(|w| on_path(w) && w.status != "not_reached"))
            .or_else(|| why.iter().position(on_path))
    };
    if t.ct_state == "ESTABLISHED" || t.ct_state == "RELATED" {
        notes.push(format!(
            "conntrack state {}: the packet belongs to a connection already in the table, so nat chains are skipped and `--ctstate NEW` rules do not match it",
            t.ct_state
        ));
    }
    if t.ct_state == "NEW" {
        notes.push("conntrack state NEW: no entry for this tuple, this packet starts a connection (nat chains are traversed for it)".into());
    }
    let fixes = match (expect, as_expected) {
        (Some(e), Some(false)) => {
            crate::fix::propose(host, req, &t, e, &why, named.as_ref().map(|f| (&f.rref, &f.rule)))
        }
        _ => Vec::new(),
    };
    Ok(Explanation {
        packet: req.packet.summary(),
        ingress: ingress_text(&req.ingress),
        ct_state: t.ct_state.clone(),
        expected: expect,
        decided_by,
        as_expected,
        why_not: why,
        primary,
        fixes,
        notes,
        trace: t,
    })
}

/// Re-walks the same packet shapes on another host: used by fixes' side effects.
#[derive(Clone, Debug)]
pub struct Sample {
    /// What the traffic is.
    pub label: String,
    /// Packets walked in order on one walker; the verdict is the last one's.
    pub steps: Vec<(Ingress, Packet)>,
    /// The same service as the explained packet, from elsewhere.
    pub same_service: bool,
}

/// Walks a sample; `accept`/`drop` plus the fate of the last packet walked.
pub fn sample_verdict(host: &Host, s: &Sample) -> String {
    let mut w = Walker::new(host);
    let mut last = String::from("unknown");
    for (i, (ing, p)) in s.steps.iter().enumerate() {
        let t = w.walk(ing.clone(), p.clone());
        last = format!(
            "{} ({})",
            t.fate.verdict(),
            t.fate.describe().replace("(line 0)", "(the fix)")
        );
        if t.fate.verdict() != "accept" {
            if i + 1 < s.steps.len() {
                last = format!("{} (step {} {})", t.fate.verdict(), i + 1, t.fate.describe());
            }
            break;
        }
    }
    last
}

/// Sample traffic around a packet, derived from the host: other sources, containers on the
/// same bridge, the host's own services, the containers' outbound connections, local output.
pub fn samples(host: &Host, req: &Request, t: &Trace) -> Vec<Sample> {
    let mut out = Vec::new();
    let p = &req.packet;
    let tcp = |s: Ipv4Addr, sp: u16, d: Ipv4Addr, dp: u16| Packet::tcp(s, sp, d, dp, TcpFlags::SYN);
    let in_iface = match &req.ingress {
        Ingress::Iface { iface, .. } => Some(iface.clone()),
        Ingress::Local => None,
    };
    let in_any_subnet = |a: Ipv4Addr| host.interfaces.iter().any(|i| i.addrs.iter().any(|n| n.contains(&a)));
    if let Some(iface) = &in_iface {
        let other = ["203.0.113.7", "192.0.2.7", "100.64.0.7"]
            .iter()
            .filter_map(|a| a.parse::<Ipv4Addr>().ok())
            .find(|a| !in_any_subnet(*a) && *a != p.src);
        if let Some(o) = other {
            let mut q = p.clone();
            q.src = o;
            out.push(Sample {
                label: format!("the same packet from another network ({o} on {iface})"),
                steps: vec![(req.ingress.clone(), q)],
                same_service: true,
            });
        }
        if p.proto.has_ports() && p.dport != 22 {
            out.push(Sample {
                label: format!("a host service: {} → {}:22 on {iface}", p.src, p.dst),
                steps: vec![(req.ingress.clone(), tcp(p.src, 40101, p.dst, 22))],
                same_service: false,
            });
        }
    }
    // Containers: the bridge the packet left by, or any bridge with ports.
    let fp = &t.final_packet;
    let bridges: Vec<&nfwalk_model::Interface> = host
        .interfaces
        .iter()
        .filter(|i| i.kind.as_deref() == Some("bridge"))
        .collect();
    for br in bridges.iter().take(2) {
        let Some(net) = br.addrs.first() else { continue };
        let port = host
            .interfaces
            .iter()
            .find(|i| i.master.as_deref() == Some(&br.name))
            .map(|i| i.name.clone());
        let ing = Ingress::Iface {
            iface: br.name.clone(),
            physin: port.clone(),
        };
        let base = u32::from(net.network());
        let cands: Vec<Ipv4Addr> = (2..6u32)
            .map(|k| Ipv4Addr::from(base + k))
            .filter(|a| *a != net.addr())
            .collect();
        let target = if net.contains(&fp.dst) { fp.dst } else { cands[0] };
        let src = cands.iter().copied().find(|a| *a != target).unwrap_or(cands[0]);
        let dport = if net.contains(&fp.dst) && fp.proto.has_ports() {
            fp.dport
        } else {
            80
        };
        if port.is_some() {
            out.push(Sample {
                label: format!("container→container on {}: {src} → {target}:{dport}", br.name),
                steps: vec![(ing.clone(), tcp(src, 40102, target, dport))],
                same_service: false,
            });
        }
        // Outbound from a container, and the reply.
        let remote = if in_any_subnet(p.src) && !net.contains(&p.src) {
            p.src
        } else {
            "198.51.100.10".parse().unwrap_or(p.src)
        };
        let syn = tcp(target, 40103, remote, 443);
        let mut w = Walker::new(host);
        let first = w.walk(ing.clone(), syn.clone());
        if first.fate.verdict() == "accept" {
            let f = &first.final_packet;
            let mut synack = Packet::tcp(f.dst, f.dport, f.src, f.sport, TcpFlags::SYN | TcpFlags::ACK);
            synack.seq = 5000;
            synack.ack_seq = 1;
            let back = match &first.fate {
                Fate::Forwarded { out } => Ingress::Iface {
                    iface: out.clone(),
                    physin: None,
                },
                _ => Ingress::Local,
            };
            out.push(Sample {
                label: format!("a container's outbound connection {target} → {remote}:443 and its reply"),
                steps: vec![(ing.clone(), syn), (back, synack)],
                same_service: false,
            });
        }
    }
    // Local output.
    if p.proto.has_ports() {
        let dst = if in_any_subnet(p.src) {
            p.src
        } else {
            "198.51.100.10".parse().unwrap_or(p.src)
        };
        let mut q = tcp(Ipv4Addr::UNSPECIFIED, 40104, dst, 443);
        q.src = Ipv4Addr::UNSPECIFIED;
        out.push(Sample {
            label: format!("the host's own connection to {dst}:443"),
            steps: vec![(Ingress::Local, q)],
            same_service: false,
        });
    }
    let _ = Proto::TCP;
    out
}
