//! The walk itself: hooks in priority order, chains, targets, conntrack and NAT.

use nfwalk_model::ruleset::{CtStates, NatRange};
use nfwalk_model::{Counters, Hook, Host, Packet, Proto, Rule, TableName, Target, TcpFlags, Verdict};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::conntrack::{self, Conn, TcpState, TcpTransition, Tuple};
use crate::log::{log_line, LogCtx};
use crate::matches::{eval, inner_tuple, CtView, Ctx, Outcome};
use crate::nat::pick_port;
use crate::route::{self, Flow, RouteResult};
use crate::trace::{Event, Fate, Ingress, RuleRef, RuleResult, Trace};

/// Options that are not part of the host's state.
#[derive(Clone, Debug, Default)]
pub struct WalkOptions {
    /// uid of the sending process, for `-m owner` on locally generated packets.
    pub uid: Option<u32>,
    /// Record only what decides: matched rules, policies, rewrites, LOG lines and the fate.
    /// Skips per-hook headers, rules that did not match, routing and conntrack notes, so a
    /// replay that needs verdicts, paths and counters runs several times faster.
    pub lean: bool,
}

/// A rule by position: (table, index of its chain in the table, index in the chain);
/// a built-in chain's policy uses rule index `usize::MAX`.
type RuleKey = (TableName, usize, usize);

/// Per table (by [`TableName`] order), per chain: the chain's name and its rules' texts.
type SharedNames = Vec<Vec<(Arc<str>, Vec<Arc<str>>)>>;

/// Pushes an explanatory event unless the walk is lean; the event is not even built then.
macro_rules! note {
    ($self:expr, $st:expr, $ev:expr) => {
        if !$self.options.lean {
            $st.events.push($ev);
        }
    };
}

/// Walks packets through one host. Keeps conntrack, counters and `recent` lists across
/// packets, so a connection's later packets see what the first one left behind.
pub struct Walker<'h> {
    /// The host.
    pub host: &'h Host,
    /// The connection table.
    pub conntrack: conntrack::Table,
    /// Rule counters by (table, chain index, 0-based rule index); policies use `usize::MAX`.
    pub counters: HashMap<RuleKey, Counters, std::hash::BuildHasherDefault<conntrack::FxHasher>>,
    /// Options.
    pub options: WalkOptions,
    recent: HashMap<String, Vec<Ipv4Addr>>,
    nth: HashMap<RuleKey, u64>,
    forced: HashMap<RuleKey, bool>,
    /// Whether any rule holds a condition that can be undecidable; when none does, the
    /// walk needs no copy of the state to explore alternatives.
    may_be_undecided: bool,
    /// Whether the namespace tracks connections at all: the kernel registers conntrack's hooks
    /// only when something needs them (a nat table, a conntrack/state/connmark match, CT,
    /// CONNMARK); with none of that in the ruleset, nothing is tracked.
    conntrack_active: bool,
    /// Chain names and rule texts, shared by every trace instead of copied into each:
    /// `names[table][chain] = (chain name, rule texts)`, tables by [`TableName`] order.
    names: SharedNames,
}

/// Whether any rule makes the kernel track connections (`nf_ct_netns_get` callers): the nat
/// table, conntrack/state/connmark matches, CT/NOTRACK/CONNMARK, and, to be safe, any module
/// nfwalk does not know.
pub fn ruleset_needs_conntrack(rs: &nfwalk_model::Ruleset) -> bool {
    use nfwalk_model::MatchKind as M;
    rs.table(TableName::Nat).is_some()
        || rs.rules().any(|(_, _, r)| {
            matches!(
                r.target,
                Target::Ct { .. }
                    | Target::Notrack
                    | Target::ConnmarkSet { .. }
                    | Target::ConnmarkSave { .. }
                    | Target::ConnmarkRestore { .. }
                    | Target::Dnat { .. }
                    | Target::Snat { .. }
                    | Target::Masquerade { .. }
                    | Target::Redirect { .. }
                    | Target::Netmap { .. }
                    | Target::Unknown { .. }
            ) || r.matches.iter().any(|m| {
                matches!(
                    m.kind,
                    M::CtState { .. }
                        | M::CtProto { .. }
                        | M::CtOrigSrc { .. }
                        | M::CtOrigDst { .. }
                        | M::CtReplSrc { .. }
                        | M::CtReplDst { .. }
                        | M::CtOrigSrcPort { .. }
                        | M::CtOrigDstPort { .. }
                        | M::CtReplSrcPort { .. }
                        | M::CtReplDstPort { .. }
                        | M::CtDir { .. }
                        | M::CtStatus { .. }
                        | M::ConnMark { .. }
                        | M::Unknown { .. }
                )
            })
        })
}

fn shared_names(host: &Host) -> SharedNames {
    TableName::ALL
        .iter()
        .map(|&tn| {
            host.ruleset
                .table(tn)
                .map(|t| {
                    t.chains
                        .iter()
                        .map(|c| {
                            (
                                Arc::from(c.name.as_str()),
                                c.rules.iter().map(|r| Arc::from(r.text.as_str())).collect(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

fn may_be_undecided(host: &Host) -> bool {
    use nfwalk_model::MatchKind as M;
    host.ruleset.rules().any(|(_, _, r)| {
        matches!(r.target, Target::Unknown { .. })
            || r.matches.iter().any(|m| {
                matches!(
                    m.kind,
                    M::Unknown { .. }
                        | M::MacSource { .. }
                        | M::PhysdevOut { .. }
                        | M::TcpOption { .. }
                        | M::UidOwner { .. }
                        | M::GidOwner { .. }
                        | M::Recent { .. }
                        | M::Statistic { .. }
                        | M::Set { .. }
                )
            })
    })
}

/// Conntrack attachment of the packet being walked.
#[derive(Clone, Debug)]
enum Ct {
    /// No lookup yet.
    Unset,
    /// Untracked by raw NOTRACK / CT --notrack.
    Untracked,
    /// Conntrack is not active in the namespace at all.
    Inactive,
    /// INVALID: no entry.
    Invalid,
    /// A new, unconfirmed connection.
    New(Box<Conn>),
    /// An entry in the table (index, reply direction, related).
    Existing(usize, bool, bool),
    /// A packet the host generated about a connection that was never confirmed
    /// (REJECT of a connection's first packet): RELATED to it, reply direction.
    RelatedTo(Box<Conn>),
}

struct State {
    p: Packet,
    /// IN and PHYSIN as resolved on arrival.
    arrived: (Option<String>, Option<String>),
    in_: Option<String>,
    out: Option<String>,
    physin: Option<String>,
    physout: Option<String>,
    bridged: bool,
    ct: Ct,
    notrack: bool,
    mac_dst: Option<[u8; 6]>,
    events: Vec<Event>,
    generated: Vec<Trace>,
    unknown: Option<(RuleKey, String)>,
}

enum TableVerdict {
    Accept,
    Drop(Option<RuleRef>, String),
    Reject(RuleRef, String),
    Undecided(String),
}

impl<'h> Walker<'h> {
    /// A walker with an empty connection table.
    pub fn new(host: &'h Host) -> Walker<'h> {
        Walker {
            host,
            conntrack: conntrack::Table::default(),
            counters: HashMap::default(),
            options: WalkOptions::default(),
            recent: HashMap::new(),
            nth: HashMap::new(),
            forced: HashMap::new(),
            may_be_undecided: may_be_undecided(host),
            names: shared_names(host),
            conntrack_active: ruleset_needs_conntrack(&host.ruleset),
        }
    }

    /// Walks one packet. Conntrack, counters and `recent` lists are updated.
    ///
    /// When a rule's condition cannot be decided, the walk assumes it did not match and
    /// then explores the other branch on a copy of the state; the trace's fate is
    /// `Undecided` when the branches disagree, and `alternatives` lists both.
    pub fn walk(&mut self, ingress: Ingress, pkt: Packet) -> Trace {
        if !self.may_be_undecided {
            return self.walk_once(ingress, pkt).0;
        }
        let snapshot = (
            self.conntrack.clone(),
            self.counters.clone(),
            self.recent.clone(),
            self.nth.clone(),
        );
        let mut t = self.walk_once(ingress.clone(), pkt.clone());
        let mut alternatives = Vec::new();
        let mut depth = 0;
        let mut forced_here = Vec::new();
        while let Some((key, reason)) = t.1.clone() {
            if depth >= 6 {
                break;
            }
            depth += 1;
            // Explore "this condition matched" on a copy.
            let saved = (
                self.conntrack.clone(),
                self.counters.clone(),
                self.recent.clone(),
                self.nth.clone(),
            );
            self.conntrack = snapshot.0.clone();
            self.counters = snapshot.1.clone();
            self.recent = snapshot.2.clone();
            self.nth = snapshot.3.clone();
            self.forced.insert(key, true);
            forced_here.push(key);
            let alt = self.walk_once(ingress.clone(), pkt.clone());
            let which = self.rule_label(&key);
            let label = format!("if {which} matches ({reason})");
            let not_label = format!("if {which} does not match");
            self.forced.remove(&key);
            (self.conntrack, self.counters, self.recent, self.nth) = saved;
            if alternatives.is_empty() {
                alternatives.push((not_label, outcome(&t.0)));
            }
            alternatives.push((label, outcome(&alt.0)));
            if alt.0.fate != t.0.fate {
                let reason = format!("{reason} ({which})");
                t.0.fate = Fate::Undecided { reason };
            }
            // Continue with the next unknown of the "not matched" branch.
            self.forced.insert(key, false);
            self.conntrack = snapshot.0.clone();
            self.counters = snapshot.1.clone();
            self.recent = snapshot.2.clone();
            self.nth = snapshot.3.clone();
            let fate = t.0.fate.clone();
            t = self.walk_once(ingress.clone(), pkt.clone());
            if matches!(fate, Fate::Undecided { .. }) {
                t.0.fate = fate;
            }
        }
        for k in forced_here {
            self.forced.remove(&k);
        }
        t.0.alternatives = alternatives;
        t.0
    }

    /// `nat/KUBE-SVC-X rule 2 (line 57)` for a rule key.
    fn rule_label(&self, key: &RuleKey) -> String {
        let chain = self.host.ruleset.table(key.0).and_then(|t| t.chains.get(key.1));
        match chain {
            Some(c) => {
                let line = c.rules.get(key.2).map(|r| r.line).unwrap_or(0);
                format!("{}/{} rule {} (line {line})", key.0, c.name, key.2 + 1)
            }
            None => format!("{} rule {}", key.0, key.2 + 1),
        }
    }

    fn walk_once(&mut self, ingress: Ingress, pkt: Packet) -> (Trace, Option<(RuleKey, String)>) {
        let mut st = State {
            arrived: (None, None),
            p: pkt.clone(),
            in_: None,
            out: None,
            physin: None,
            physout: None,
            bridged: false,
            ct: Ct::Unset,
            notrack: false,
            mac_dst: pkt.mac_dst,
            events: Vec::with_capacity(if self.options.lean { 16 } else { 64 }),
            generated: Vec::new(),
            unknown: None,
        };
        let fate = match &ingress {
            Ingress::Iface { iface, physin } => {
                st.in_ = Some(iface.clone());
                st.physin = physin.clone();
                self.received(&mut st)
            }
            Ingress::Local => self.local_out(&mut st),
        };
        let ct_state = self.ct_state_name(&st);
        let out = match &fate {
            Fate::Forwarded { out } => Some(out.clone()),
            Fate::Bridged { bridge } => Some(bridge.clone()),
            _ => None,
        };
        (
            Trace {
                packet: pkt,
                ingress,
                in_iface: st.arrived.0,
                physin: st.arrived.1,
                ct_state,
                events: st.events,
                fate,
                out,
                final_packet: st.p,
                generated: st.generated,
                alternatives: Vec::new(),
            },
            st.unknown,
        )
    }

    fn ct_state_name(&self, st: &State) -> String {
        match &st.ct {
            Ct::Unset => "NONE".into(),
            Ct::Inactive => "NONE".into(),
            Ct::Untracked => "UNTRACKED".into(),
            Ct::Invalid => "INVALID".into(),
            Ct::New(_) => "NEW".into(),
            Ct::RelatedTo(_) => "RELATED".into(),
            Ct::Existing(i, reply, related) => {
                if *related {
                    "RELATED".into()
                } else if *reply || self.conntrack.get(*i).seen_reply {
                    "ESTABLISHED".into()
                } else {
                    "NEW".into()
                }
            }
        }
    }

    // ---------------------------------------------------------------- paths

    fn received(&mut self, st: &mut State) -> Fate {
        let in_name = st.in_.clone().unwrap_or_default();
        if self.host.iface(&in_name).is_none() && !self.host.interfaces.is_empty() {
            note!(
                self,
                st,
                Event::Note {
                    text: format!("interface {in_name} is not in the snapshot; walking anyway"),
                }
            );
        }
        // A frame on a bridge port enters as in=<bridge>, physin=<port>.
        if let Some(master) = self.host.iface(&in_name).and_then(|i| i.master.clone()) {
            st.physin = Some(in_name.clone());
            st.in_ = Some(master);
        }
        st.arrived = (st.in_.clone(), st.physin.clone());
        if st.physin.is_some() {
            let br = st.in_.clone().unwrap_or_default();
            if self.is_bridged_frame(st, &br) {
                if !self.host.sysctl.bridge_nf_call_iptables {
                    note!(
                        self,
                        st,
                        Event::Note {
                            text: format!(
                                "bridged on {br}; net.bridge.bridge-nf-call-iptables=0 so iptables never sees it"
                            ),
                        }
                    );
                    return Fate::Bridged { bridge: br };
                }
                st.bridged = true;
            }
        }
        if st.mac_dst.is_none() && !st.bridged && st.p.mac_src.is_some() {
            // Captures from `-i any` (SLL/SLL2) lack the destination MAC; a frame the host
            // routes was addressed to the receiving device.
            st.mac_dst = st.in_.as_deref().and_then(|i| self.host.iface(i)).and_then(|i| i.mac);
        }
        if let Some(f) = self.hook(Hook::Prerouting, st) {
            return f;
        }
        if st.bridged {
            let br = st.in_.clone().unwrap_or_default();
            // DNAT may have turned a bridged frame into a routed one.
            if self.is_bridged_frame(st, &br) {
                note!(
                    self,
                    st,
                    Event::Route {
                        decision: format!("bridged by {br} (destination is on the bridge, not this host)"),
                    }
                );
                st.out = Some(br.clone());
                if let Some(f) = self.hook(Hook::Forward, st) {
                    return f;
                }
                if let Some(f) = self.hook(Hook::Postrouting, st) {
                    return f;
                }
                self.confirm(st);
                return Fate::Bridged { bridge: br };
            }
            st.bridged = false;
        }
        // Routing decision.
        let flow = Flow {
            src: Some(st.p.src),
            iif: st.in_.as_deref(),
            oif: None,
            mark: st.p.mark,
        };
        let r = route::lookup(self.host, st.p.dst, &flow);
        if st.p.dst.is_loopback() && st.in_.as_deref() != Some("lo") && !self.host.sysctl.route_localnet {
            note!(
                self,
                st,
                Event::Route {
                    decision: format!("martian destination {} on {in_name}: dropped", st.p.dst),
                }
            );
            return Fate::Discarded {
                reason: "martian destination (127.0.0.0/8 from a non-loopback interface)".into(),
            };
        }
        match r {
            RouteResult::Local { .. } | RouteResult::Broadcast { .. } | RouteResult::Multicast => {
                note!(
                    self,
                    st,
                    Event::Route {
                        decision: format!("{} is a local address: INPUT", st.p.dst),
                    }
                );
                if let Some(f) = self.hook(Hook::Input, st) {
                    return f;
                }
                self.confirm(st);
                Fate::DeliveredLocally
            }
            RouteResult::Unicast {
                dev, gateway, prefix, ..
            } => {
                if !self.host.sysctl.ip_forward {
                    note!(
                        self,
                        st,
                        Event::Route {
                            decision: format!("{} is not local and net.ipv4.ip_forward=0: dropped", st.p.dst),
                        }
                    );
                    return Fate::Discarded {
                        reason: "not a local address and net.ipv4.ip_forward=0".into(),
                    };
                }
                let via = gateway.map(|g| format!(" via {g}")).unwrap_or_default();
                note!(
                    self,
                    st,
                    Event::Route {
                        decision: format!("forward: {} matches route {prefix}{via} dev {dev}", st.p.dst),
                    }
                );
                if st.p.ttl <= 1 {
                    return Fate::Discarded {
                        reason: "TTL exceeded (ICMP time exceeded sent)".into(),
                    };
                }
                st.p.ttl -= 1;
                st.out = Some(dev.clone());
                if let Some(f) = self.hook(Hook::Forward, st) {
                    return f;
                }
                if let Some(f) = self.hook(Hook::Postrouting, st) {
                    return f;
                }
                self.confirm(st);
                Fate::Forwarded { out: dev }
            }
            RouteResult::Reject { kind } => {
                note!(
                    self,
                    st,
                    Event::Route {
                        decision: format!("route to {} is {kind:?}", st.p.dst),
                    }
                );
                Fate::Discarded {
                    reason: format!("{kind:?} route").to_lowercase(),
                }
            }
            RouteResult::NoRoute => {
                note!(
                    self,
                    st,
                    Event::Route {
                        decision: format!("no route to {}", st.p.dst),
                    }
                );
                Fate::Discarded {
                    reason: format!("no route to {}", st.p.dst),
                }
            }
        }
    }

    fn is_bridged_frame(&self, st: &State, bridge: &str) -> bool {
        if let (Some(dmac), Some(br)) = (st.mac_dst, self.host.iface(bridge)) {
            if let Some(bmac) = br.mac {
                return dmac != bmac && !is_group_mac(&dmac);
            }
        }
        if route::is_local(self.host, st.p.dst) {
            return false;
        }
        matches!(
            route::lookup(self.host, st.p.dst, &Flow::default()),
            RouteResult::Unicast { ref dev, gateway: None, .. } if dev == bridge
        )
    }

    fn local_out(&mut self, st: &mut State) -> Fate {
        let flow = Flow {
            src: None,
            iif: None,
            oif: None,
            mark: st.p.mark,
        };
        let mut r = route::lookup(self.host, st.p.dst, &flow);
        if let Some(f) = self.output_route(st, &r) {
            return f;
        }
        let before = (st.p.dst, st.p.mark);
        if let Some(f) = self.hook(Hook::Output, st) {
            return f;
        }
        if (st.p.dst, st.p.mark) != before {
            r = route::lookup(
                self.host,
                st.p.dst,
                &Flow {
                    mark: st.p.mark,
                    ..flow
                },
            );
            note!(
                self,
                st,
                Event::Note {
                    text: "destination or mark changed in OUTPUT: routing decision taken again".into(),
                }
            );
            if let Some(f) = self.output_route(st, &r) {
                return f;
            }
        }
        if let Some(f) = self.hook(Hook::Postrouting, st) {
            return f;
        }
        self.confirm(st);
        let out = st.out.clone().unwrap_or_default();
        if out == "lo" {
            // Looped back: the packet comes in again on lo, keeping its conntrack entry.
            st.in_ = Some("lo".into());
            st.out = None;
            note!(
                self,
                st,
                Event::Note {
                    text: "destination is local: the packet loops back through lo".into(),
                }
            );
            if let Some(f) = self.hook(Hook::Prerouting, st) {
                return f;
            }
            if let Some(f) = self.hook(Hook::Input, st) {
                return f;
            }
            return Fate::DeliveredLocally;
        }
        Fate::Forwarded { out }
    }

    fn output_route(&mut self, st: &mut State, r: &RouteResult) -> Option<Fate> {
        match r {
            RouteResult::Local { .. } | RouteResult::Broadcast { .. } => {
                st.out = Some("lo".into());
                note!(
                    self,
                    st,
                    Event::Route {
                        decision: format!("{} is local: out lo", st.p.dst),
                    }
                );
                None
            }
            RouteResult::Unicast {
                dev,
                gateway,
                prefsrc,
                prefix,
            } => {
                st.out = Some(dev.clone());
                if st.p.src.is_unspecified() {
                    st.p.src = prefsrc
                        .or_else(|| route::select_src(self.host, dev, gateway.unwrap_or(st.p.dst)))
                        .unwrap_or(Ipv4Addr::UNSPECIFIED);
                }
                let via = gateway.map(|g| format!(" via {g}")).unwrap_or_default();
                note!(
                    self,
                    st,
                    Event::Route {
                        decision: format!("output: {} matches route {prefix}{via} dev {dev}", st.p.dst),
                    }
                );
                None
            }
            RouteResult::Multicast => {
                st.out = None;
                None
            }
            RouteResult::Reject { kind } => Some(Fate::Discarded {
                reason: format!("{kind:?} route").to_lowercase(),
            }),
            RouteResult::NoRoute => Some(Fate::Discarded {
                reason: format!("no route to {}", st.p.dst),
            }),
        }
    }

    // ---------------------------------------------------------------- hooks

    /// Runs every table registered at `hook`, in priority order, with conntrack at -200.
    /// Returns a fate when the packet stops here.
    fn hook(&mut self, hook: Hook, st: &mut State) -> Option<Fate> {
        note!(
            self,
            st,
            Event::Hook {
                hook,
                in_: st.in_.clone(),
                out: st.out.clone(),
                physin: st.physin.clone(),
                physout: st.physout.clone(),
                packet: st.p.clone(),
            }
        );
        let order: &[TableName] = match hook {
            Hook::Prerouting => &[TableName::Raw, TableName::Mangle, TableName::Nat],
            Hook::Input => &[
                TableName::Mangle,
                TableName::Filter,
                TableName::Security,
                TableName::Nat,
            ],
            Hook::Forward => &[TableName::Mangle, TableName::Filter, TableName::Security],
            Hook::Output => &[
                TableName::Raw,
                TableName::Mangle,
                TableName::Nat,
                TableName::Filter,
                TableName::Security,
            ],
            Hook::Postrouting => &[TableName::Mangle, TableName::Nat],
        };
        for &table in order {
            if table == TableName::Mangle && matches!(hook, Hook::Prerouting | Hook::Output) {
                // conntrack (-200) runs after raw (-300), before mangle (-150).
                self.ct_in(hook, st);
            }
            if table == TableName::Nat {
                if matches!(hook, Hook::Prerouting | Hook::Output) {
                    self.ct_in(hook, st);
                }
                if let Some(f) = self.nat_hook(hook, st) {
                    return Some(f);
                }
                continue;
            }
            if self.host.ruleset.table(table).is_none() {
                continue;
            }
            match self.run_table(hook, table, st) {
                TableVerdict::Accept => {}
                v => return Some(self.finish(v, hook, st)),
            }
        }
        if matches!(hook, Hook::Prerouting | Hook::Output) {
            self.ct_in(hook, st);
        }
        None
    }

    fn finish(&mut self, v: TableVerdict, hook: Hook, st: &mut State) -> Fate {
        match v {
            TableVerdict::Accept => unreachable!("accept is not final"),
            TableVerdict::Drop(by, reason) => Fate::Dropped { by, reason },
            TableVerdict::Undecided(reason) => Fate::Undecided { reason },
            TableVerdict::Reject(by, with) => {
                if let Some(reply) = self.reject_reply(hook, st, &with) {
                    // nf_send_reset() calls nf_ct_set_closing() on the rejected packet's
                    // entry: a confirmed TCP entry goes to CLOSE (kernel ≥ 6.3; seen in the
                    // lab by the differential test, seed 2). ICMP rejects leave it alone.
                    if with == "tcp-reset" {
                        if let Ct::Existing(i, _, _) = st.ct {
                            let cm = self.conntrack.get_mut(i);
                            if let Some(s) = cm.tcp.filter(|&s| cm.confirmed && s != TcpState::Close) {
                                cm.history
                                    .push(format!("{} → CLOSE: REJECT --reject-with tcp-reset", s.name()));
                                cm.tcp = Some(TcpState::Close);
                            }
                        }
                    }
                    let ct = match &st.ct {
                        Ct::Existing(i, reply, _) => Ct::Existing(*i, !*reply, true),
                        Ct::New(c) => Ct::RelatedTo(c.clone()),
                        _ => Ct::Unset,
                    };
                    let g = self.walk_generated(reply, ct);
                    st.generated.push(g);
                }
                Fate::Rejected { by, with }
            }
        }
    }

    // ---------------------------------------------------------------- conntrack

    fn ct_in(&mut self, hook: Hook, st: &mut State) {
        if !matches!(st.ct, Ct::Unset) {
            return;
        }
        if !self.conntrack_active {
            st.ct = Ct::Inactive;
            note!(
                self,
                st,
                Event::Conntrack {
                    note: "conntrack is not active in this namespace: no rule needs it (no nat table, no conntrack/state/connmark match, no CT/CONNMARK), so the kernel tracks nothing".into(),
                }
            );
            return;
        }
        if st.notrack {
            st.ct = Ct::Untracked;
            note!(
                self,
                st,
                Event::Conntrack {
                    note: "UNTRACKED (raw NOTRACK): conntrack and nat skip this packet".into(),
                }
            );
            return;
        }
        let _ = hook;
        let p = st.p.clone();
        let tuple = Tuple::of(&p);
        let found = self.conntrack.find(&tuple).or_else(|| {
            let i = self.conntrack.learn_random_port(&tuple)?;
            note!(self, st, Event::Note {
                text: format!(
                    "the kernel chose source port {} at random (--random/--random-fully, or a port clash); nfwalk takes it from this reply",
                    tuple.dport
                ),
            });
            Some((i, true))
        });
        if let Some((i, reply)) = found {
            // A SYN reopening a closed connection starts a new entry.
            let c_tcp = self.conntrack.get(i).tcp;
            if let (Some(s), Proto::TCP) = (c_tcp, p.proto) {
                let mut tr = conntrack::tcp_transition(reply, p.tcp_flags, s);
                let idx = conntrack::tcp_index(p.tcp_flags);
                let (close_init, last) = {
                    let c = self.conntrack.get(i);
                    (c.close_init, c.last)
                };
                // nf_conntrack_tcp_packet(): a SYN in TIME_WAIT/CLOSE reopens the connection
                // only if it was closing (FIN_WAIT seen) or the last segment was an RST in the
                // same direction; otherwise the SYN is ignored (the entry may be out of sync),
                // and a SYN/ACK answering it resynchronises the entry to SYN_RECV. A CLOSE set
                // by REJECT's reset (nf_ct_set_closing, no segment through conntrack) is such
                // a case (seen in the lab by the differential test, seed 52).
                let reopen = close_init || last == Some((reply, conntrack::TCP_RST_SET));
                if !reply
                    && p.tcp_flags.has(TcpFlags::SYN)
                    && !p.tcp_flags.has(TcpFlags::ACK)
                    && matches!(s, TcpState::TimeWait | TcpState::Close)
                    && !reopen
                {
                    tr = TcpTransition::Ignore;
                }
                if tr == TcpTransition::Ignore
                    && reply
                    && idx == conntrack::TCP_SYNACK_SET
                    && last == Some((false, conntrack::TCP_SYN_SET))
                {
                    tr = TcpTransition::To(TcpState::SynRecv);
                }
                if !matches!(tr, TcpTransition::Invalid) {
                    self.conntrack.get_mut(i).last = Some((reply, idx));
                }
                if !reply
                    && p.tcp_flags.has(TcpFlags::SYN)
                    && !p.tcp_flags.has(TcpFlags::ACK)
                    && matches!(s, TcpState::TimeWait | TcpState::Close)
                    && reopen
                {
                    note!(
                        self,
                        st,
                        Event::Conntrack {
                            note: format!("SYN reopens a connection in {}: old entry replaced", s.name()),
                        }
                    );
                    self.conntrack.kill(i);
                    return self.ct_new(st, tuple);
                }
                match tr {
                    TcpTransition::Invalid => {
                        st.ct = Ct::Invalid;
                        note!(
                            self,
                            st,
                            Event::Conntrack {
                                note: format!(
                                    "INVALID: TCP [{}] is not a valid move from {} ({} direction)",
                                    p.tcp_flags,
                                    s.name(),
                                    if reply { "reply" } else { "original" }
                                ),
                            }
                        );
                        return;
                    }
                    TcpTransition::Ignore => {}
                    TcpTransition::To(ns) => {
                        let cm = self.conntrack.get_mut(i);
                        if ns != s {
                            cm.history.push(format!(
                                "{} → {} on [{}] ({})",
                                s.name(),
                                ns.name(),
                                p.tcp_flags,
                                if reply { "reply" } else { "original" }
                            ));
                        }
                        // nf_conntrack_tcp_packet() assures only an entry that has seen a
                        // reply (IPS_SEEN_REPLY, set after this packet): a connection picked up
                        // mid-stream in one direction stays unassured (lab: `notrack`, the host's
                        // replies to an untracked client).
                        if !cm.assured
                            && cm.seen_reply
                            && matches!(s, TcpState::SynRecv | TcpState::Established)
                            && ns == TcpState::Established
                        {
                            cm.assured = true;
                        }
                        cm.tcp = Some(ns);
                        if ns == TcpState::FinWait {
                            cm.close_init = true;
                        }
                        if p.tcp_flags.has(TcpFlags::RST) && !cm.seen_reply {
                            // nf_conntrack_tcp_packet(): "If only reply is a RST, we can
                            // consider ourselves not to have an established connection ... delete
                            // the conntrack immediately" (e.g. a closed port's reset to a SYN;
                            // seen in the lab by the differential test, seed 10). The packet
                            // itself keeps the entry.
                            self.conntrack.kill(i);
                            note!(
                                self,
                                st,
                                Event::Conntrack {
                                    note: "RST before any reply: the entry is deleted".into(),
                                }
                            );
                        }
                    }
                }
            }
            let cm = self.conntrack.get_mut(i);
            if reply {
                cm.seen_reply = true;
                cm.reply_packets += 1;
            } else {
                cm.orig_packets += 1;
            }
            if cm.tcp.is_none() && cm.seen_reply && cm.orig.proto == Proto::UDP && !reply && cm.reply_packets > 0 {
                // UDP is assured once traffic keeps flowing both ways (stream); see fidelity.md.
                cm.assured = cm.orig_packets > 1 && cm.reply_packets > 0;
            }
            let state = if reply || cm.seen_reply { "ESTABLISHED" } else { "NEW" };
            st.ct = Ct::Existing(i, reply, false);
            note!(
                self,
                st,
                Event::Conntrack {
                    note: format!(
                        "{state}: {} direction of existing entry: {}",
                        if reply { "reply" } else { "original" },
                        self.conntrack.get(i).conntrack_line()
                    ),
                }
            );
            return;
        }
        if p.is_icmp_error() {
            if let Some(inner) = inner_tuple(&p) {
                // The quoted packet went the other way: as the kernel does
                // (`nf_conntrack_inet_error`), look up its inverted tuple, whose direction is
                // the error's own; with SNAT the quoted packet (sent after NAT) matches
                // neither tuple as sent, only its inverse (the reply tuple) does (seen in the
                // lab by the differential test, seed 21). The kernel also wants the outer
                // destination to be that tuple's destination.
                let found = self.conntrack.find(&inner.invert()).filter(|&(i, reply)| {
                    let c = self.conntrack.get(i);
                    (if reply { c.reply } else { c.orig }).dst == p.dst
                });
                if let Some((i, reply)) = found {
                    st.ct = Ct::Existing(i, reply, true);
                    note!(
                        self,
                        st,
                        Event::Conntrack {
                            note: format!("RELATED: ICMP error about {}", self.conntrack.get(i).conntrack_line()),
                        }
                    );
                    return;
                }
            }
            st.ct = Ct::Invalid;
            note!(
                self,
                st,
                Event::Conntrack {
                    note: "INVALID: ICMP error for no known connection".into(),
                }
            );
            return;
        }
        self.ct_new(st, tuple)
    }

    fn ct_new(&mut self, st: &mut State, tuple: Tuple) {
        let p = &st.p;
        let mut tcp = None;
        if p.proto == Proto::TCP {
            match conntrack::tcp_transition(false, p.tcp_flags, TcpState::None) {
                TcpTransition::To(s) => tcp = Some(s),
                _ => {
                    st.ct = Ct::Invalid;
                    note!(self, st, Event::Conntrack {
                        note: format!(
                            "INVALID: TCP [{}] cannot start a connection (only SYN, or ACK with nf_conntrack_tcp_loose=1)",
                            p.tcp_flags
                        ),
                    });
                    return;
                }
            }
        }
        if p.proto == Proto::ICMP && !matches!(p.icmp_type, 8 | 13 | 15 | 17) {
            st.ct = Ct::Invalid;
            note!(
                self,
                st,
                Event::Conntrack {
                    note: format!("INVALID: ICMP type {} cannot start a connection", p.icmp_type),
                }
            );
            return;
        }
        let id = self.conntrack.next_id();
        let c = Conn {
            id,
            orig: tuple,
            reply: tuple.invert(),
            tcp,
            seen_reply: false,
            assured: false,
            confirmed: false,
            src_nat_done: false,
            dst_nat_done: false,
            mark: 0,
            orig_packets: 1,
            reply_packets: 0,
            history: tcp
                .map(|s| vec![format!("NONE → {} on [{}]", s.name(), p.tcp_flags)])
                .unwrap_or_default(),
            port_unknown: false,
            close_init: false,
            last: None,
        };
        note!(
            self,
            st,
            Event::Conntrack {
                note: "NEW: no entry for this tuple; a new connection starts (confirmed if the packet survives)".into(),
            }
        );
        st.ct = Ct::New(Box::new(c));
    }

    fn confirm(&mut self, st: &mut State) {
        if matches!(st.ct, Ct::New(_)) {
            let Ct::New(c) = std::mem::replace(&mut st.ct, Ct::Unset) else {
                unreachable!()
            };
            let mut c = *c;
            c.src_nat_done = true;
            c.dst_nat_done = true;
            let i = self.conntrack.confirm(c);
            st.ct = Ct::Existing(i, false, false);
            note!(
                self,
                st,
                Event::Conntrack {
                    note: format!("confirmed: {}", self.conntrack.get(i).conntrack_line()),
                }
            );
        }
    }

    // ---------------------------------------------------------------- NAT

    fn nat_hook(&mut self, hook: Hook, st: &mut State) -> Option<Fate> {
        let has_nat = self.host.ruleset.table(TableName::Nat).is_some();
        if !has_nat {
            return None;
        }
        let dst_manip = matches!(hook, Hook::Prerouting | Hook::Output);
        match st.ct.clone() {
            Ct::New(c) => {
                let done = if dst_manip { c.dst_nat_done } else { c.src_nat_done };
                if done {
                    return None;
                }
                match self.run_table(hook, TableName::Nat, st) {
                    TableVerdict::Accept => {}
                    v => return Some(self.finish(v, hook, st)),
                }
                if let Ct::New(c) = &mut st.ct {
                    if dst_manip {
                        c.dst_nat_done = true;
                    } else {
                        c.src_nat_done = true;
                    }
                }
                None
            }
            ct @ (Ct::Existing(..) | Ct::RelatedTo(_)) => {
                let ((orig, reply_t), reply, related) = match ct {
                    Ct::Existing(i, reply, related) => {
                        let c = self.conntrack.get(i);
                        ((c.orig, c.reply), reply, related)
                    }
                    Ct::RelatedTo(c) => ((c.orig, c.reply), true, true),
                    _ => unreachable!(),
                };
                note!(
                    self,
                    st,
                    Event::TableSkipped {
                        hook,
                        table: TableName::Nat,
                        reason: if related {
                            "RELATED packet: nat chains are not traversed; the connection's binding applies".into()
                        } else {
                            "not the connection's first packet: nat chains are only traversed for the first packet; the connection's binding applies".into()
                        },
                    }
                );
                // The packet must look like the inverse of the other direction's tuple.
                let target = if reply { orig.invert() } else { reply_t.invert() };
                let target = if related {
                    // For an ICMP error only addresses are translated.
                    Tuple {
                        sport: st.p.sport,
                        dport: st.p.dport,
                        ..target
                    }
                } else {
                    target
                };
                let (addr, port) = if dst_manip {
                    (target.dst, target.dport)
                } else {
                    (target.src, target.sport)
                };
                let p = &st.p;
                let (cur_addr, cur_port) = if dst_manip { (p.dst, p.dport) } else { (p.src, p.sport) };
                if cur_addr != addr || (p.proto.has_ports() && cur_port != port) {
                    let (from, to) = set_endpoint(&mut st.p, dst_manip, addr, port);
                    st.events.push(Event::Rewrite {
                        hook,
                        field: if dst_manip { "dst" } else { "src" }.into(),
                        from,
                        to,
                        by: None,
                        note: "conntrack applies the connection's NAT binding".into(),
                    });
                }
                None
            }
            Ct::Untracked | Ct::Invalid | Ct::Unset | Ct::Inactive => {
                note!(
                    self,
                    st,
                    Event::TableSkipped {
                        hook,
                        table: TableName::Nat,
                        reason: format!(
                            "packet has no conntrack entry ({}): nat is not traversed",
                            self.ct_state_name(st)
                        ),
                    }
                );
                None
            }
        }
    }

    fn apply_nat(&mut self, hook: Hook, st: &mut State, rule: &RuleRef, target: &Target) -> Result<(), String> {
        let Ct::New(c) = &mut st.ct else {
            return Err("NAT target without a new connection".into());
        };
        let p = &mut st.p;
        let mut approx = None;
        let (dst_manip, addr, port): (bool, Ipv4Addr, u16) = match target {
            Target::Dnat { to, random, .. } => {
                let (a, pr, ap) = nat_choice(to, p.dst, p.dport, p.proto);
                if ap || *random {
                    approx = Some("address/port chosen from a range: nfwalk takes the first; the kernel hashes");
                }
                (true, a, pr)
            }
            Target::Redirect { ports, .. } => {
                // To the primary address of the incoming interface (127.0.0.1 for OUTPUT).
                let a = match hook {
                    Hook::Output => Ipv4Addr::LOCALHOST,
                    _ => st
                        .in_
                        .as_deref()
                        .and_then(|i| self.host.iface(i))
                        .and_then(|i| i.addrs.first())
                        .map(|a| a.addr())
                        .unwrap_or(p.dst),
                };
                let port = ports.map(|r| r.lo).unwrap_or(p.dport);
                (true, a, port)
            }
            Target::Netmap { to } => {
                let ipnet::IpNet::V4(net) = to else {
                    return Err("IPv6 NETMAP in an IPv4 walk".into());
                };
                let mask = u32::from(net.netmask());
                let dst = matches!(hook, Hook::Prerouting | Hook::Output);
                let old = if dst { p.dst } else { p.src };
                let new = Ipv4Addr::from((u32::from(old) & !mask) | (u32::from(net.network()) & mask));
                (dst, new, if dst { p.dport } else { p.sport })
            }
            Target::Snat {
                to,
                random,
                random_fully,
                ..
            } => {
                let (a, _, ap) = nat_choice(to, p.src, p.sport, p.proto);
                if ap || *random || *random_fully {
                    approx = Some(
                        "address/port chosen from a range or at random: nfwalk takes the first free; the kernel hashes",
                    );
                }
                let mut rt = c.reply;
                rt.dst = a;
                let port = if p.proto.has_ports() {
                    pick_port(&self.conntrack, rt, p.sport, to.ports)
                } else {
                    p.sport
                };
                (false, a, port)
            }
            Target::Masquerade {
                ports,
                random,
                random_fully,
            } => {
                let out = st.out.clone().unwrap_or_default();
                let a = route::select_src(self.host, &out, p.dst)
                    .ok_or_else(|| format!("MASQUERADE: {out} has no IPv4 address"))?;
                if *random || *random_fully {
                    approx = Some("--random: the kernel picks a random port; nfwalk keeps the original if free");
                }
                let mut rt = c.reply;
                rt.dst = a;
                let port = if p.proto.has_ports() {
                    pick_port(&self.conntrack, rt, p.sport, *ports)
                } else {
                    p.sport
                };
                (false, a, port)
            }
            _ => return Err("not a NAT target".into()),
        };
        let has_ports = p.proto.has_ports();
        // The kernel's source port is unknown with --random/--random-fully, and also when the
        // original port clashed: nf_nat_l4proto_unique_tuple() then starts its search at a
        // random offset for source NAT (lab: `snat`, the second client's 40070 became 18525).
        // nfwalk's guess stands until the first reply shows the kernel's choice.
        if !dst_manip
            && has_ports
            && (port != p.sport
                || matches!(
                    target,
                    Target::Masquerade { random: true, .. }
                        | Target::Masquerade { random_fully: true, .. }
                        | Target::Snat { random: true, .. }
                        | Target::Snat { random_fully: true, .. }
                ))
            && matches!(target, Target::Masquerade { .. } | Target::Snat { .. })
        {
            c.port_unknown = true;
        }
        let (from, to) = set_endpoint(p, dst_manip, addr, port);
        if dst_manip {
            c.reply.src = addr;
            if has_ports {
                c.reply.sport = port;
            }
            c.dst_nat_done = true;
        } else {
            c.reply.dst = addr;
            if has_ports {
                c.reply.dport = port;
            }
            c.src_nat_done = true;
        }
        let default_note = if dst_manip {
            "destination NAT; the connection remembers it"
        } else {
            "source NAT; the connection remembers it"
        };
        st.events.push(Event::Rewrite {
            hook,
            field: if dst_manip { "dst" } else { "src" }.into(),
            from,
            to,
            by: Some(rule.clone()),
            note: approx.unwrap_or(default_note).into(),
        });
        Ok(())
    }

    // ---------------------------------------------------------------- chains

    fn run_table(&mut self, hook: Hook, table: TableName, st: &mut State) -> TableVerdict {
        let host = self.host;
        let Some(t) = host.ruleset.table(table) else {
            return TableVerdict::Accept;
        };
        let builtin = hook.chain_name();
        let Some(base) = t.chain_index(builtin) else {
            return TableVerdict::Accept;
        };
        note!(self, st, Event::Table { hook, table });
        // (chain index, next rule index)
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mut cur = base;
        let mut pos = 0usize;
        let mut steps = 0usize;
        loop {
            steps += 1;
            if steps > 100_000 {
                return TableVerdict::Undecided("chain loop: more than 100000 rule evaluations".into());
            }
            let chain = &t.chains[cur];
            if pos >= chain.rules.len() {
                if cur == base {
                    let pol = chain.policy.unwrap_or(Verdict::Accept);
                    let e = self.counters.entry((table, cur, usize::MAX)).or_default();
                    e.packets += 1;
                    e.bytes += st.p.len as u64;
                    st.events.push(Event::Policy {
                        hook,
                        table,
                        chain: chain.name.clone(),
                        verdict: pol.to_string(),
                    });
                    return match pol {
                        Verdict::Accept => TableVerdict::Accept,
                        Verdict::Drop => TableVerdict::Drop(None, format!("{table}/{} policy DROP", chain.name)),
                    };
                }
                // Implicit return from a user chain: no trace entry.
                match stack.pop() {
                    Some((c, p)) => {
                        cur = c;
                        pos = p;
                        continue;
                    }
                    None => {
                        // Came here by goto from the base chain: the base policy applies.
                        cur = base;
                        pos = usize::MAX;
                        continue;
                    }
                }
            }
            let rule = &chain.rules[pos];
            let key: RuleKey = (table, cur, pos);
            let make_ref = |names: &SharedNames| {
                let (chain_name, texts) = &names[table as usize][cur];
                RuleRef {
                    table,
                    chain: chain_name.clone(),
                    index: pos + 1,
                    line: rule.line,
                    text: texts[pos].clone(),
                }
            };
            match self.eval_rule(hook, rule, &key, st) {
                RuleResult::Matched { .. } => {}
                other => {
                    if !self.options.lean || matches!(other, RuleResult::Unknown { .. }) {
                        st.events.push(Event::Rule {
                            hook,
                            rule: make_ref(&self.names),
                            result: other,
                        });
                    }
                    pos += 1;
                    continue;
                }
            }
            let e = self.counters.entry(key).or_default();
            e.packets += 1;
            e.bytes += st.p.len as u64;
            let rref = make_ref(&self.names);
            let verdict_word = |w: &str| RuleResult::Matched { verdict: w.to_string() };
            match &rule.target {
                Target::Accept => {
                    st.events.push(Event::Rule {
                        hook,
                        rule: rref,
                        result: verdict_word("ACCEPT"),
                    });
                    return TableVerdict::Accept;
                }
                Target::Drop => {
                    st.events.push(Event::Rule {
                        hook,
                        rule: rref.clone(),
                        result: verdict_word("DROP"),
                    });
                    let reason = format!("{rref}");
                    return TableVerdict::Drop(Some(rref), reason);
                }
                Target::Reject { with } => {
                    st.events.push(Event::Rule {
                        hook,
                        rule: rref.clone(),
                        result: verdict_word("DROP"),
                    });
                    return TableVerdict::Reject(rref, with.clone());
                }
                Target::Return => {
                    st.events.push(Event::Rule {
                        hook,
                        rule: rref,
                        result: verdict_word("RETURN"),
                    });
                    if cur == base {
                        pos = usize::MAX; // base chain RETURN: the policy decides
                        continue;
                    }
                    match stack.pop() {
                        Some((c, p)) => {
                            cur = c;
                            pos = p;
                        }
                        None => {
                            cur = base;
                            pos = usize::MAX;
                        }
                    }
                    continue;
                }
                Target::Jump { chain: name } | Target::Goto { chain: name } => {
                    let is_goto = matches!(rule.target, Target::Goto { .. });
                    let Some(ci) = t.chain_index(name) else {
                        st.events.push(Event::Rule {
                            hook,
                            rule: rref,
                            result: RuleResult::Unknown {
                                reason: format!("chain {name} does not exist"),
                            },
                        });
                        return TableVerdict::Undecided(format!("jump to missing chain {name}"));
                    };
                    let word = if is_goto {
                        format!("GOTO:{name}")
                    } else {
                        format!("JUMP:{name}")
                    };
                    st.events.push(Event::Rule {
                        hook,
                        rule: rref,
                        result: verdict_word(&word),
                    });
                    if !is_goto {
                        stack.push((cur, pos + 1));
                    }
                    cur = ci;
                    pos = 0;
                    continue;
                }
                Target::Dnat { .. }
                | Target::Snat { .. }
                | Target::Masquerade { .. }
                | Target::Redirect { .. }
                | Target::Netmap { .. } => {
                    st.events.push(Event::Rule {
                        hook,
                        rule: rref.clone(),
                        result: verdict_word("ACCEPT"),
                    });
                    if table != TableName::Nat {
                        return TableVerdict::Undecided(format!("{} outside the nat table", rule.target.name()));
                    }
                    if let Err(e) = self.apply_nat(hook, st, &rref, &rule.target) {
                        note!(self, st, Event::Note { text: e });
                    }
                    return TableVerdict::Accept;
                }
                Target::Unknown { name, reason } => {
                    st.events.push(Event::Rule {
                        hook,
                        rule: rref,
                        result: RuleResult::Unknown { reason: reason.clone() },
                    });
                    return TableVerdict::Undecided(format!("target {name} is not modelled: {reason}"));
                }
                other => {
                    let word = "CONTINUE";
                    st.events.push(Event::Rule {
                        hook,
                        rule: rref.clone(),
                        result: verdict_word(word),
                    });
                    self.non_terminal(hook, st, &rref, other);
                    pos += 1;
                }
            }
        }
    }

    fn eval_rule(&mut self, hook: Hook, rule: &Rule, key: &RuleKey, st: &mut State) -> RuleResult {
        let nth_count = *self.nth.get(key).unwrap_or(&0);
        let recent = &self.recent;
        let lookup = |name: &str, a: Ipv4Addr| recent.get(name).is_some_and(|v| v.contains(&a));
        let (state, conn, reply): (u8, Option<&Conn>, bool) = match &st.ct {
            Ct::Unset | Ct::Inactive => (0, None, false),
            Ct::Untracked => (CtStates::UNTRACKED, None, false),
            Ct::Invalid => (CtStates::INVALID, None, false),
            Ct::New(c) => (CtStates::NEW, Some(&**c), false),
            Ct::RelatedTo(c) => (CtStates::RELATED, Some(&**c), true),
            Ct::Existing(i, reply, related) => {
                let c = self.conntrack.get(*i);
                let s = if *related {
                    CtStates::RELATED
                } else if *reply || c.seen_reply {
                    CtStates::ESTABLISHED
                } else {
                    CtStates::NEW
                };
                (s, Some(c), *reply)
            }
        };
        let cx = Ctx {
            host: self.host,
            hook,
            in_: st.in_.as_deref(),
            out: st.out.as_deref(),
            physin: st.physin.as_deref(),
            physout: st.physout.as_deref(),
            bridged: st.bridged,
            pkt: &st.p,
            ct: CtView { state, conn, reply },
            uid: self.options.uid,
            nth_count,
            recent: &lookup,
            lean: self.options.lean,
        };
        let mut result = RuleResult::Matched { verdict: String::new() };
        let mut has_nth = false;
        let mut new_unknown = None;
        for m in &rule.matches {
            if matches!(m.kind, nfwalk_model::MatchKind::Statistic { .. }) {
                has_nth = true;
            }
            match eval(m, &cx) {
                Outcome::Yes => {}
                Outcome::No(seen) => {
                    result = RuleResult::Failed {
                        condition: if self.options.lean { String::new() } else { cond_text(m) },
                        seen,
                    };
                    break;
                }
                Outcome::Unknown(reason) => match self.forced.get(key) {
                    Some(true) => {}
                    Some(false) => {
                        result = RuleResult::Failed {
                            condition: cond_text(m),
                            seen: format!("assumed not to match: {reason}"),
                        };
                        break;
                    }
                    None => {
                        new_unknown = Some((*key, reason.clone()));
                        result = RuleResult::Unknown { reason };
                        break;
                    }
                },
            }
        }
        if st.unknown.is_none() {
            st.unknown = new_unknown;
        }
        if has_nth {
            *self.nth.entry(*key).or_default() += 1;
        }
        if matches!(result, RuleResult::Matched { .. }) {
            // recent --set / --update / --remove side effects.
            for m in &rule.matches {
                if let nfwalk_model::MatchKind::Recent { name, cmd, rdest, .. } = &m.kind {
                    let a = if *rdest { st.p.dst } else { st.p.src };
                    let list = self.recent.entry(name.clone()).or_default();
                    match cmd {
                        nfwalk_model::ruleset::RecentCmd::Set | nfwalk_model::ruleset::RecentCmd::Update => {
                            if !list.contains(&a) {
                                list.push(a);
                            }
                        }
                        nfwalk_model::ruleset::RecentCmd::Remove => list.retain(|x| *x != a),
                        nfwalk_model::ruleset::RecentCmd::Rcheck => {}
                    }
                }
            }
        }
        result
    }

    fn non_terminal(&mut self, hook: Hook, st: &mut State, rref: &RuleRef, target: &Target) {
        match target {
            Target::Log {
                prefix,
                tcp_sequence,
                tcp_options,
                ip_options,
                uid,
                ..
            } => {
                // nf_log prints UID=/GID= only for a packet that a full socket sent: the
                // host's own packets at OUTPUT/POSTROUTING, not a SYN-ACK (a request socket)
                // nor a reset.
                let own = matches!(hook, Hook::Output | Hook::Postrouting)
                    && st.arrived.0.is_none()
                    && !(st.p.proto == Proto::TCP
                        && (st.p.tcp_flags.0 & TcpFlags::RST != 0
                            || st.p.tcp_flags.0 & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::SYN | TcpFlags::ACK));
                let line = log_line(
                    &LogCtx {
                        prefix,
                        in_: st.in_.as_deref(),
                        out: st.out.as_deref(),
                        physin: st.physin.as_deref(),
                        physout: st.physout.as_deref(),
                        mac_dst: st.mac_dst,
                        tcp_sequence: *tcp_sequence,
                        tcp_options: *tcp_options,
                        ip_options: *ip_options,
                        uid: if *uid && own {
                            self.options.uid.map(|u| (u, u))
                        } else {
                            None
                        },
                    },
                    &st.p,
                );
                st.events.push(Event::Log { line });
            }
            Target::Nflog { group, prefix } => {
                st.events.push(Event::Log {
                    line: format!("NFLOG group={group} prefix=\"{prefix}\" {}", st.p.summary()),
                });
            }
            Target::Mark { xmark } => {
                let old = st.p.mark;
                st.p.mark = xmark.apply(old);
                if old != st.p.mark {
                    st.events.push(Event::Rewrite {
                        hook,
                        field: "mark".into(),
                        from: format!("{old:#x}"),
                        to: format!("{:#x}", st.p.mark),
                        by: Some(rref.clone()),
                        note: "packet mark set".into(),
                    });
                }
            }
            Target::ConnmarkSet { xmark } => self.with_conn(st, |c, _| c.mark = xmark.apply(c.mark)),
            Target::ConnmarkSave { nfmask, ctmask } => {
                let m = st.p.mark;
                self.with_conn(st, |c, _| c.mark = (c.mark & !ctmask) ^ (m & nfmask));
            }
            Target::ConnmarkRestore { nfmask, ctmask } => {
                let cm = match &st.ct {
                    Ct::New(c) => Some(c.mark),
                    Ct::Existing(i, ..) => Some(self.conntrack.get(*i).mark),
                    _ => None,
                };
                if let Some(cm) = cm {
                    let old = st.p.mark;
                    st.p.mark = (old & !nfmask) ^ (cm & ctmask);
                    if old != st.p.mark {
                        st.events.push(Event::Rewrite {
                            hook,
                            field: "mark".into(),
                            from: format!("{old:#x}"),
                            to: format!("{:#x}", st.p.mark),
                            by: Some(rref.clone()),
                            note: "mark restored from the connection".into(),
                        });
                    }
                }
            }
            Target::Ct { notrack: true, .. } => st.notrack = true,
            Target::Notrack => st.notrack = true,
            Target::SetDscp { value } => {
                let old = st.p.tos;
                st.p.tos = (old & 0x03) | (value << 2);
            }
            _ => {}
        }
    }

    fn with_conn(&mut self, st: &mut State, f: impl FnOnce(&mut Conn, bool)) {
        match &mut st.ct {
            Ct::New(c) => f(c, false),
            Ct::Existing(i, reply, _) => {
                let r = *reply;
                f(self.conntrack.get_mut(*i), r)
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------- REJECT

    fn reject_reply(&mut self, hook: Hook, st: &State, with: &str) -> Option<Packet> {
        let p = &st.p;
        if with == "tcp-reset" {
            if p.proto != Proto::TCP || p.tcp_flags.has(TcpFlags::RST) {
                return None;
            }
            let mut r = Packet::tcp(p.dst, p.dport, p.src, p.sport, TcpFlags::RST);
            r.len = 40;
            r.window = 0;
            if p.tcp_flags.has(TcpFlags::ACK) {
                r.seq = p.ack_seq;
            } else {
                r.tcp_flags = TcpFlags(TcpFlags::RST | TcpFlags::ACK);
                let mut seglen = p.payload_len as u32;
                if p.tcp_flags.has(TcpFlags::SYN) {
                    seglen += 1;
                }
                if p.tcp_flags.has(TcpFlags::FIN) {
                    seglen += 1;
                }
                r.ack_seq = p.seq.wrapping_add(seglen);
            }
            return Some(r);
        }
        // ICMP error back to the sender, quoting the packet.
        let code = match with {
            "icmp-net-unreachable" => 0,
            "icmp-host-unreachable" => 1,
            "icmp-proto-unreachable" => 2,
            "icmp-port-unreachable" | "" => 3,
            "icmp-net-prohibited" => 9,
            "icmp-host-prohibited" => 10,
            "icmp-admin-prohibited" => 13,
            _ => 3,
        };
        if p.proto == Proto::ICMP && p.is_icmp_error() {
            return None;
        }
        let src = if route::is_local(self.host, p.dst) {
            p.dst
        } else {
            let back = st.in_.clone().unwrap_or_default();
            route::select_src(self.host, &back, p.src).unwrap_or(p.dst)
        };
        let _ = hook;
        let mut r = Packet::blank(src, p.src, Proto::ICMP);
        r.icmp_type = 3;
        r.icmp_code = code;
        // IP + ICMP headers, then as much of the offending packet as fits in 576 bytes.
        r.len = 28 + p.len.min(576 - 28);
        r.df = false;
        r.tos = 0xc0;
        r.inner = Some(nfwalk_model::packet::Inner {
            src: p.src,
            dst: p.dst,
            proto: p.proto,
            sport: if p.proto.has_ports() { p.sport } else { p.icmp_id },
            dport: if p.proto.has_ports() { p.dport } else { 0 },
            ip: nfwalk_model::packet::InnerIp {
                len: p.len,
                tos: p.tos,
                ttl: p.ttl,
                id: p.id,
                df: p.df,
                frag_off: p.frag_off,
                l4_quoted: p.len.min(576 - 28).saturating_sub(20),
                udp_len: if p.proto == Proto::UDP { p.payload_len + 8 } else { 0 },
                tcp_flags: p.tcp_flags.0,
                window: p.window,
                icmp_type: p.icmp_type,
                icmp_code: p.icmp_code,
                icmp_id: p.icmp_id,
                icmp_seq: p.icmp_seq,
            },
        });
        Some(r)
    }

    fn walk_generated(&mut self, reply: Packet, ct: Ct) -> Trace {
        let mut st = State {
            arrived: (None, None),
            p: reply.clone(),
            in_: None,
            out: None,
            physin: None,
            physout: None,
            bridged: false,
            ct,
            notrack: false,
            mac_dst: None,
            events: vec![Event::Note {
                text: "generated by REJECT: sent by the host itself through OUTPUT and POSTROUTING".into(),
            }],
            generated: Vec::new(),
            unknown: None,
        };
        let fate = self.local_out(&mut st);
        let ct_state = self.ct_state_name(&st);
        let out = match &fate {
            Fate::Forwarded { out } => Some(out.clone()),
            _ => None,
        };
        Trace {
            packet: reply,
            ingress: Ingress::Local,
            in_iface: None,
            physin: None,
            ct_state,
            events: st.events,
            fate,
            out,
            final_packet: st.p,
            generated: Vec::new(),
            alternatives: Vec::new(),
        }
    }

    /// The ruleset in `iptables-save -c` format with the counters this walker accumulated.
    pub fn counters_save(&self) -> String {
        let mut out = String::new();
        for t in &self.host.ruleset.tables {
            out.push_str(&format!("*{}\n", t.name));
            for (ci, c) in t.chains.iter().enumerate() {
                let pol = match c.policy {
                    Some(v) => v.to_string(),
                    None => "-".into(),
                };
                let k = self
                    .counters
                    .get(&(t.name, ci, usize::MAX))
                    .copied()
                    .unwrap_or_default();
                let k = if c.policy.is_some() { k } else { Counters::default() };
                out.push_str(&format!(":{} {} [{}:{}]\n", c.name, pol, k.packets, k.bytes));
            }
            for (ci, c) in t.chains.iter().enumerate() {
                for (i, r) in c.rules.iter().enumerate() {
                    let k = self.counters.get(&(t.name, ci, i)).copied().unwrap_or_default();
                    out.push_str(&format!("[{}:{}] {}\n", k.packets, k.bytes, r.text));
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// A possible outcome for `alternatives`: the fate, and the header it leaves with when NAT
/// changed it.
fn outcome(t: &Trace) -> String {
    let f = t.fate.describe();
    if t.final_packet != t.packet && t.fate.verdict() == "accept" {
        format!("{f} as {}", t.final_packet.summary())
    } else {
        f
    }
}

fn is_group_mac(m: &[u8; 6]) -> bool {
    m[0] & 1 == 1
}

fn cond_text(m: &nfwalk_model::Match) -> String {
    if m.negated {
        format!("! {}", m.text)
    } else {
        m.text.clone()
    }
}

/// Sets the packet's destination (`dst`) or source endpoint; the port only for protocols
/// that have ports. Returns the endpoint before and after, as `addr:port`.
fn set_endpoint(p: &mut Packet, dst: bool, addr: Ipv4Addr, port: u16) -> (String, String) {
    let has_ports = p.proto.has_ports();
    let (a, pt) = if dst {
        (&mut p.dst, &mut p.dport)
    } else {
        (&mut p.src, &mut p.sport)
    };
    let from = fmt_ep(*a, *pt, p.proto);
    *a = addr;
    if has_ports {
        *pt = port;
    }
    (from, fmt_ep(*a, *pt, p.proto))
}

/// `a.b.c.d:port` (or just the address), written without the formatting machinery: it
/// runs for every NATed packet.
fn fmt_ep(a: Ipv4Addr, port: u16, proto: Proto) -> String {
    fn push_num(s: &mut String, mut n: u32) {
        let mut buf = [0u8; 5];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        s.extend(buf[i..].iter().map(|&b| b as char));
    }
    let mut s = String::with_capacity(21);
    for (k, o) in a.octets().into_iter().enumerate() {
        if k > 0 {
            s.push('.');
        }
        push_num(&mut s, o as u32);
    }
    if proto.has_ports() {
        s.push(':');
        push_num(&mut s, port as u32);
    }
    s
}

/// Address and port a DNAT/SNAT range yields, and whether a range made it approximate.
fn nat_choice(to: &NatRange, addr: Ipv4Addr, port: u16, proto: Proto) -> (Ipv4Addr, u16, bool) {
    let mut approx = false;
    let a = match (to.addr_lo, to.addr_hi) {
        (Some(IpAddr::V4(lo)), hi) => {
            if let Some(IpAddr::V4(h)) = hi {
                approx |= h != lo;
            }
            lo
        }
        _ => addr,
    };
    let pr = match to.ports {
        Some(r) if proto.has_ports() => {
            if r.contains(port) && r.lo != r.hi {
                approx = true;
                port
            } else {
                approx |= r.lo != r.hi;
                r.lo
            }
        }
        _ => port,
    };
    (a, pr, approx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_print_like_display() {
        for (a, p) in [
            ("0.0.0.0", 0u16),
            ("198.51.100.1", 10000),
            ("255.255.255.255", 65535),
            ("10.0.0.9", 7),
        ] {
            let ip: Ipv4Addr = a.parse().unwrap();
            assert_eq!(fmt_ep(ip, p, Proto::TCP), format!("{ip}:{p}"));
            assert_eq!(fmt_ep(ip, p, Proto::ICMP), ip.to_string());
        }
    }
}
