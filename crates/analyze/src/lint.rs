//! `lint`: findings about a ruleset, each with a stable code, a severity, a place
//! (file:line:col), a one-line message, an explanation and a suggested fix.
//!
//! Traffic-related checks (NFW001-NFW003) are decided by walking packets with the one walker.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use nfwalk_model::{Hook, Host, MatchKind, Packet, Ruleset, TableName, Target, TcpFlags, Verdict};
use nfwalk_walk::Ingress;
use serde::Serialize;

use crate::explain::{chain_hooks, explain, walk, Expect, Request, RuleSel};
use crate::shadow;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Certainly wrong or broken.
    Error,
    /// Almost certainly not what was meant.
    Warning,
    /// Worth knowing.
    Note,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable code (`NFW001`).
    pub code: &'static str,
    /// Stable short name (`ineffective-after-dnat`).
    pub name: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Ruleset file.
    pub file: String,
    /// 1-based line (0: the ruleset as a whole).
    pub line: usize,
    /// 1-based column of the offending part of the line.
    pub col: usize,
    /// Length of the offending part (for underlining).
    pub len: usize,
    /// One line.
    pub message: String,
    /// Why, in a few sentences.
    pub explanation: String,
    /// A suggested fix (an iptables command when there is one).
    pub fix: Option<String>,
}

/// What to lint.
pub struct LintInput<'a> {
    /// The host (its IPv4 ruleset is linted).
    pub host: &'a Host,
    /// The ruleset file's text, for columns and the nft backend's legacy-tables warning.
    pub text: Option<&'a str>,
    /// Rules loaded from `iptables-legacy-save`, when the snapshot has them.
    pub legacy: Option<&'a Ruleset>,
}

struct Ctx<'a> {
    input: &'a LintInput<'a>,
    lines: Vec<&'a str>,
    out: Vec<Finding>,
}

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        code: &'static str,
        name: &'static str,
        severity: Severity,
        line: usize,
        needle: &str,
        message: String,
        explanation: String,
        fix: Option<String>,
    ) {
        let (col, len) = match self.lines.get(line.wrapping_sub(1)) {
            Some(l) if !needle.is_empty() => match l.find(needle) {
                Some(i) => (l[..i].chars().count() + 1, needle.chars().count()),
                None => (1, l.chars().count()),
            },
            Some(l) => (1, l.chars().count()),
            None => (1, 0),
        };
        self.out.push(Finding {
            code,
            name,
            severity,
            file: self.input.host.ruleset.source.clone(),
            line,
            col,
            len,
            message,
            explanation,
            fix,
        });
    }
}

/// A port published by a DNAT in nat PREROUTING's reach.
#[derive(Clone, Debug)]
pub struct Published {
    /// The DNAT rule's line.
    pub line: usize,
    /// nat chain.
    pub chain: String,
    /// Protocol.
    pub proto: nfwalk_model::Proto,
    /// Published port.
    pub port: u16,
    /// Host address to send to.
    pub host_addr: Ipv4Addr,
    /// Ingress interface for an outside client.
    pub iface: String,
    /// Where it goes (`172.17.0.2:6379`).
    pub to: String,
}

fn outside_iface(host: &Host, r: &nfwalk_model::Rule) -> Option<(String, Ipv4Addr)> {
    host.interfaces
        .iter()
        .filter(|i| i.name != "lo" && i.kind.as_deref() != Some("bridge") && i.master.is_none() && !i.addrs.is_empty())
        .find(|i| {
            r.matches.iter().all(|m| match &m.kind {
                MatchKind::InIface { iface } => iface.matches(&i.name) != m.negated,
                _ => true,
            })
        })
        .map(|i| (i.name.clone(), i.addrs[0].addr()))
}

/// Ports published by DNAT rules reachable from nat PREROUTING.
pub fn published(host: &Host) -> Vec<Published> {
    let mut out = Vec::new();
    let hooks = chain_hooks(host, TableName::Nat);
    let Some(t) = host.ruleset.table(TableName::Nat) else {
        return out;
    };
    for c in &t.chains {
        if !hooks.get(&c.name).is_some_and(|h| h.contains(&Hook::Prerouting)) {
            continue;
        }
        for r in &c.rules {
            let Target::Dnat { to, .. } = &r.target else { continue };
            let proto = r.matches.iter().find_map(|m| match &m.kind {
                MatchKind::Proto { proto: Some(p) } if !m.negated => Some(*p),
                _ => None,
            });
            let port = r.matches.iter().find_map(|m| match &m.kind {
                MatchKind::DstPort { range } if !m.negated => Some(range.lo),
                _ => None,
            });
            let (Some(proto), Some(port)) = (proto, port) else {
                continue;
            };
            let Some((iface, addr)) = outside_iface(host, r) else {
                continue;
            };
            let dst = r.matches.iter().find_map(|m| match &m.kind {
                MatchKind::Dst {
                    net: ipnet::IpNet::V4(n),
                } if !m.negated && n.prefix_len() == 32 => Some(n.addr()),
                _ => None,
            });
            let to_s = match (to.addr_lo, to.ports) {
                (Some(a), Some(p)) => format!("{a}:{}", p.lo),
                (Some(a), None) => a.to_string(),
                (None, Some(p)) => format!(":{}", p.lo),
                _ => String::new(),
            };
            out.push(Published {
                line: r.line,
                chain: c.name.clone(),
                proto,
                port,
                host_addr: dst.unwrap_or(addr),
                iface,
                to: to_s,
            });
        }
    }
    out
}

fn outside_client(host: &Host) -> Ipv4Addr {
    ["203.0.113.7", "192.0.2.7", "100.64.0.7"]
        .iter()
        .filter_map(|a| a.parse::<Ipv4Addr>().ok())
        .find(|a| !host.interfaces.iter().any(|i| i.addrs.iter().any(|n| n.contains(a))))
        .unwrap_or(Ipv4Addr::new(203, 0, 113, 7))
}

fn probe(host: &Host, p: &Published) -> (Ingress, Packet) {
    let src = outside_client(host);
    let pkt = if p.proto == nfwalk_model::Proto::UDP {
        Packet::udp(src, 40001, p.host_addr, p.port)
    } else {
        Packet::tcp(src, 40001, p.host_addr, p.port, TcpFlags::SYN)
    };
    (
        Ingress::Iface {
            iface: p.iface.clone(),
            physin: None,
        },
        pkt,
    )
}

fn port_matches(r: &nfwalk_model::Rule, port: u16) -> Option<String> {
    r.matches.iter().find_map(|m| match &m.kind {
        MatchKind::DstPort { range } if !m.negated && range.contains(port) => Some(m.text.clone()),
        MatchKind::Multiport {
            dir: nfwalk_model::ruleset::PortDir::Dst,
            ports,
        } if !m.negated && ports.iter().any(|x| x.contains(port)) => Some(m.text.clone()),
        _ => None,
    })
}

fn dst_matches(r: &nfwalk_model::Rule, a: Ipv4Addr) -> Option<String> {
    r.matches.iter().find_map(|m| match &m.kind {
        MatchKind::Dst { net } if !m.negated && net.contains(&std::net::IpAddr::V4(a)) && net.prefix_len() > 0 => {
            Some(m.text.clone())
        }
        _ => None,
    })
}

fn traffic_checks(cx: &mut Ctx<'_>) {
    let host = cx.input.host;
    let pubs = published(host);
    if pubs.is_empty() {
        return;
    }
    let fhooks = chain_hooks(host, TableName::Filter);
    let Some(ft) = host.ruleset.table(TableName::Filter) else {
        return;
    };
    let mut done = BTreeSet::new();
    for p in &pubs {
        let (ing, pkt) = probe(host, p);
        for c in &ft.chains {
            let hooks = fhooks.get(&c.name).cloned().unwrap_or_default();
            for (i, r) in c.rules.iter().enumerate() {
                if done.contains(&r.line)
                    || r.matches
                        .iter()
                        .any(|m| m.module == "conntrack" && m.text.contains("--ctorig"))
                {
                    continue;
                }
                let needle = port_matches(r, p.port).or_else(|| dst_matches(r, p.host_addr));
                let Some(needle) = needle else { continue };
                let req = Request {
                    ingress: ing.clone(),
                    packet: pkt.clone(),
                    expect: None,
                    rule: Some(RuleSel::At(TableName::Filter, c.name.clone(), i + 1)),
                    before: Vec::new(),
                };
                let Ok(ex) = explain(host, &req) else { continue };
                let Some(w) = ex.why_not.first() else { continue };
                let fix = ex.fixes.first().map(|f| f.command.clone());
                if hooks.contains(&Hook::Forward)
                    && w.status == "condition_failed"
                    && w.conditions.iter().any(|c| c.rewritten_by.is_some())
                {
                    let cnd = &w.conditions[0];
                    done.insert(r.line);
                    cx.push(
                        "NFW001",
                        "ineffective-after-dnat",
                        Severity::Warning,
                        r.line,
                        &needle,
                        format!("`{needle}` never matches the published port {}: DNAT already rewrote it to {}", p.port, p.to),
                        format!(
                            "nat PREROUTING (chain {}, line {}) rewrites {}:{} to {} before routing, so {}/{} (in FORWARD) sees {}. Walked: a {} from {} on {} fails `{}` here with {}.",
                            p.chain, p.line, p.host_addr, p.port, p.to, TableName::Filter, c.name, p.to, pkt.proto, pkt.src, p.iface, cnd.condition, cnd.seen
                        ),
                        fix,
                    );
                } else if hooks.iter().all(|h| *h == Hook::Input)
                    && !hooks.is_empty()
                    && w.status == "not_reached"
                    && ex.trace.fate.verdict() == "accept"
                    && !matches!(ex.trace.fate, nfwalk_walk::Fate::DeliveredLocally)
                {
                    done.insert(r.line);
                    cx.push(
                        "NFW002",
                        "input-rule-for-dnat-port",
                        Severity::Warning,
                        r.line,
                        &needle,
                        format!("INPUT rule for port {} never sees it: the port is DNATed to {} and forwarded", p.port, p.to),
                        format!(
                            "nat PREROUTING (chain {}, line {}) sends {}:{} to {}; routing then forwards it, and INPUT only sees traffic for the host itself. Walked: {}.",
                            p.chain, p.line, p.host_addr, p.port, p.to, ex.decided_by.fate
                        ),
                        fix,
                    );
                }
            }
        }
    }
    // Bypass: INPUT denies by policy or UFW, yet the published port is reachable.
    let input_drop = ft.chain("INPUT").is_some_and(|c| c.policy == Some(Verdict::Drop));
    let ufw = ft.chains.iter().any(|c| c.name.starts_with("ufw-"));
    if input_drop || ufw {
        for p in &pubs {
            let (ing, pkt) = probe(host, p);
            let t = walk(host, &ing, &pkt);
            if t.fate.verdict() != "accept" || matches!(t.fate, nfwalk_walk::Fate::DeliveredLocally) {
                continue;
            }
            let req = Request {
                ingress: ing.clone(),
                packet: pkt.clone(),
                expect: Some(Expect::Drop),
                rule: None,
                before: Vec::new(),
            };
            let fix = explain(host, &req)
                .ok()
                .and_then(|e| e.fixes.first().map(|f| f.command.clone()));
            let why = if ufw {
                "UFW denies incoming traffic"
            } else {
                "INPUT's policy is DROP"
            };
            cx.push(
                "NFW003",
                "published-port-bypasses-input",
                Severity::Warning,
                p.line,
                "-j DNAT",
                format!("port {}/{} is reachable from outside ({} on {}) although {why}", p.port, p.proto, pkt.src, p.iface),
                format!(
                    "the DNAT to {} happens in PREROUTING; the packet is then forwarded ({}) and never crosses INPUT, so the host firewall does not apply. Filter it in {}.",
                    p.to,
                    t.fate.describe(),
                    if ft.chain("DOCKER-USER").is_some() { "DOCKER-USER" } else { "FORWARD" }
                ),
                fix,
            );
        }
    }
}

fn structure_checks(cx: &mut Ctx<'_>) {
    let host = cx.input.host;
    let rs = &host.ruleset;
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    for t in &rs.tables {
        let hooks = chain_hooks(host, t.name);
        for c in &t.chains {
            if !c.is_builtin() && !hooks.contains_key(&c.name) && !c.rules.is_empty() {
                cx.push(
                    "NFW005",
                    "unreachable-chain",
                    Severity::Warning,
                    c.rules[0].line,
                    "",
                    format!("chain {}/{} is never reached: no built-in chain jumps to it ({} rules never run)", t.name, c.name, c.rules.len()),
                    "no rule reachable from a built-in chain jumps or goes to this chain, so its rules never see a packet".into(),
                    Some(format!("add a jump from where it should run, e.g. `iptables -t {} -A FORWARD -j {}`, or delete the chain", t.name, c.name)),
                );
            }
            for (i, r) in c.rules.iter().enumerate() {
                if let Target::Jump { chain } | Target::Goto { chain } = &r.target {
                    if t.chain(chain).is_none() {
                        cx.push(
                            "NFW006",
                            "jump-to-missing-chain",
                            Severity::Error,
                            r.line,
                            chain,
                            format!("jump to chain {chain}, which table {} does not have", t.name),
                            "iptables-restore rejects a jump to a missing chain; the ruleset as written does not load on a kernel".into(),
                            Some(format!("create it with `:{chain} - [0:0]` in *{}, or fix the name", t.name)),
                        );
                    }
                }
                if matches!(r.target, Target::Return) && c.is_builtin() {
                    cx.push(
                        "NFW007",
                        "return-in-builtin-chain",
                        Severity::Warning,
                        r.line,
                        "-j RETURN",
                        format!("RETURN in built-in chain {}/{} applies the chain's policy ({})", t.name, c.name, c.policy.map(|p| p.to_string()).unwrap_or_default()),
                        "a built-in chain has no caller to return to; the packet gets the policy. Say ACCEPT or DROP instead".into(),
                        Some(format!("replace `-j RETURN` with `-j {}`", c.policy.map(|p| p.to_string()).unwrap_or_else(|| "ACCEPT".into()))),
                    );
                }
                for m in &r.matches {
                    if let MatchKind::Unknown { reason } = &m.kind {
                        unknown.entry(reason.clone()).or_insert(r.line);
                    }
                }
                if let Target::Unknown { reason, .. } = &r.target {
                    unknown.entry(reason.clone()).or_insert(r.line);
                }
                let _ = i;
            }
            for s in shadow::shadowed(c) {
                let r = &c.rules[s.index];
                let (msg, expl) = if s.empty {
                    (
                        format!(
                            "rule {} of {}/{} can never match: its conditions contradict each other",
                            s.index + 1,
                            t.name,
                            c.name
                        ),
                        "no packet satisfies all of its address, port, protocol, interface and state conditions"
                            .to_string(),
                    )
                } else {
                    let by: Vec<String> =
                        s.by.iter()
                            .map(|b| format!("rule {} (line {}) `{}`", b + 1, c.rules[*b].line, c.rules[*b].text))
                            .collect();
                    (
                        format!(
                            "rule {} of {}/{} can never fire: shadowed by {}",
                            s.index + 1,
                            t.name,
                            c.name,
                            s.by.iter()
                                .map(|b| format!("line {}", c.rules[*b].line))
                                .collect::<Vec<_>>()
                                .join(" + ")
                        ),
                        format!(
                            "every packet it matches is already decided by {}",
                            by.join(" together with ")
                        ),
                    )
                };
                cx.push(
                    "NFW004",
                    "shadowed-rule",
                    Severity::Warning,
                    r.line,
                    "",
                    msg,
                    expl,
                    Some("delete it, or move it above the rule(s) that cover it".into()),
                );
            }
        }
    }
    if let Some(fwd) = rs.table(TableName::Filter).and_then(|t| t.chain("FORWARD")) {
        let docker = rs
            .table(TableName::Filter)
            .is_some_and(|t| t.chain("DOCKER").is_some() || t.chain("DOCKER-USER").is_some());
        if docker && fwd.policy == Some(Verdict::Accept) {
            cx.push(
                "NFW008",
                "forward-accept-with-docker",
                Severity::Warning,
                fwd.line,
                "",
                "FORWARD policy is ACCEPT on a Docker host: containers are reachable from anywhere that can route to them".into(),
                "Docker sets FORWARD's policy to DROP; with ACCEPT, traffic Docker's chains do not accept (other hosts routing to container addresses, other bridges) is forwarded".into(),
                Some("iptables -P FORWARD DROP".into()),
            );
        }
    }
    for (reason, line) in unknown {
        cx.push("NFW010", "not-modelled", Severity::Note, line, "", format!("nfwalk cannot model this: {reason}"), "walks through rules using it report `cannot decide here` and explore both outcomes; lint makes no shadowing claims about them".into(), None);
    }
    let legacy_warn = cx
        .input
        .text
        .is_some_and(|t| t.contains("iptables-legacy tables present"));
    let legacy_rules = cx.input.legacy.is_some_and(|l| l.rules().next().is_some());
    if (legacy_warn || legacy_rules) && rs.rules().next().is_some() {
        let line = cx
            .lines
            .iter()
            .position(|l| l.contains("iptables-legacy tables present"))
            .map(|i| i + 1)
            .unwrap_or(0);
        cx.push(
            "NFW009",
            "mixed-backends",
            Severity::Warning,
            line,
            "",
            "rules are loaded in both iptables-legacy and iptables-nft".into(),
            "both backends' hooks run: a packet must pass both rulesets, and each tool shows only its own rules. nfwalk walks only the nft rules".into(),
            Some("move everything to one backend (`iptables-legacy-save | iptables-nft-restore`, then flush legacy)".into()),
        );
    }
}

/// Interfaces where traffic from outside arrives: those with a route via a gateway (a default
/// route or another remote network); without any, every addressed interface that is neither
/// loopback, a bridge nor a bridge port.
pub fn uplinks(host: &Host) -> Vec<&nfwalk_model::Interface> {
    let plain = |i: &&nfwalk_model::Interface| {
        i.name != "lo" && i.kind.as_deref() != Some("bridge") && i.master.is_none() && !i.addrs.is_empty()
    };
    let via_gw: Vec<&nfwalk_model::Interface> = host
        .interfaces
        .iter()
        .filter(plain)
        .filter(|i| {
            host.routes
                .iter()
                .any(|r| r.gateway.is_some() && r.dev.as_deref() == Some(i.name.as_str()))
        })
        .collect();
    if !via_gw.is_empty() {
        return via_gw;
    }
    host.interfaces.iter().filter(plain).collect()
}

/// A listening socket reached from outside, as the walk shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exposure {
    /// The socket (`tcp 0.0.0.0:6379`).
    pub listener: nfwalk_model::Listener,
    /// The interface the probe arrived on.
    pub iface: String,
    /// The probe (`tcp 203.0.113.7:40001 → 198.51.100.1:6379 [SYN]`).
    pub probe: String,
    /// The probe packet itself.
    pub packet: Packet,
    /// What let it in (`filter/INPUT rule 3 (line 12): ...` or `the policy of filter/INPUT`).
    pub accepted_by: String,
    /// The accepting rule, if a rule did.
    pub rule: Option<nfwalk_walk::RuleRef>,
    /// Line to point at: the rule, or the chain whose policy accepted (0: no ruleset).
    pub line: usize,
    /// The accepting rule names this port (the exposure looks deliberate).
    pub port_named: bool,
}

/// Every listener on a non-loopback address that a SYN (TCP) or a datagram (UDP) from outside
/// reaches: for each uplink ([`uplinks`]) and each source (a host on the uplink's network, and
/// a remote address when the uplink has a gateway), the probe is walked and must be delivered
/// locally to this socket's address and port.
pub fn exposures(host: &Host) -> Vec<Exposure> {
    let mut out = Vec::new();
    let remote = outside_client(host);
    for l in &host.listeners {
        if l.loopback_only() || l.port == 0 {
            continue;
        }
        let Some(want) = l.ipv4 else { continue };
        for up in uplinks(host) {
            if l.iface.as_deref().is_some_and(|d| d != up.name) {
                continue;
            }
            let dst = if want.is_unspecified() {
                match up.addrs.first() {
                    Some(n) => n.addr(),
                    None => continue,
                }
            } else {
                want
            };
            let mut srcs = Vec::new();
            if let Some(n) = up.addrs.first() {
                let base = u32::from(n.network());
                if let Some(a) = (10..20u32)
                    .map(|k| Ipv4Addr::from(base.wrapping_add(k)))
                    .find(|a| n.contains(a) && *a != n.addr() && *a != n.broadcast())
                {
                    srcs.push(a);
                }
            }
            if host
                .routes
                .iter()
                .any(|r| r.gateway.is_some() && r.dev.as_deref() == Some(up.name.as_str()))
            {
                srcs.push(remote);
            }
            for src in srcs {
                let pkt = if l.proto == nfwalk_model::Proto::UDP {
                    Packet::udp(src, 40001, dst, l.port)
                } else if l.proto == nfwalk_model::Proto::TCP {
                    Packet::tcp(src, 40001, dst, l.port, TcpFlags::SYN)
                } else {
                    break;
                };
                let ing = Ingress::Iface {
                    iface: up.name.clone(),
                    physin: None,
                };
                let req = Request {
                    ingress: ing,
                    packet: pkt.clone(),
                    expect: None,
                    rule: None,
                    before: Vec::new(),
                };
                let Ok(ex) = explain(host, &req) else { continue };
                let fp = &ex.trace.final_packet;
                if !matches!(ex.trace.fate, nfwalk_walk::Fate::DeliveredLocally)
                    || fp.dport != l.port
                    || !l.accepts(fp.dst, Some(&up.name))
                {
                    continue;
                }
                let d = &ex.decided_by;
                let (accepted_by, line, port_named) = match &d.rule {
                    Some(r) => {
                        let named = host
                            .ruleset
                            .table(r.table)
                            .and_then(|t| t.chain(&r.chain))
                            .and_then(|c| c.rules.get(r.index.wrapping_sub(1)))
                            .is_some_and(|rule| port_matches(rule, l.port).is_some());
                        (
                            format!("{}/{} rule {} (line {}): {}", r.table, r.chain, r.index, r.line, r.text),
                            r.line,
                            named,
                        )
                    }
                    None => match (d.table, &d.chain) {
                        (Some(tb), Some(c)) => {
                            let line = host
                                .ruleset
                                .table(tb)
                                .and_then(|t| t.chain(c))
                                .map(|c| c.line)
                                .unwrap_or(0);
                            (format!("the policy ACCEPT of {tb}/{c}"), line, false)
                        }
                        _ => ("no rule at all (no filter table is loaded)".to_string(), 0, false),
                    },
                };
                if out.iter().any(|x: &Exposure| {
                    x.iface == up.name
                        && x.listener.proto == l.proto
                        && x.listener.port == l.port
                        && x.listener.ipv4 == l.ipv4
                }) {
                    break;
                }
                out.push(Exposure {
                    listener: l.clone(),
                    iface: up.name.clone(),
                    probe: pkt.summary(),
                    packet: pkt.clone(),
                    accepted_by,
                    rule: d.rule.clone(),
                    line,
                    port_named,
                });
                break;
            }
        }
    }
    out
}

fn exposure_checks(cx: &mut Ctx<'_>) {
    let host = cx.input.host;
    if host.listeners.is_empty() {
        return;
    }
    let ft = host.ruleset.table(TableName::Filter);
    let input_drop = ft
        .and_then(|t| t.chain("INPUT"))
        .is_some_and(|c| c.policy == Some(Verdict::Drop));
    let ufw = ft.is_some_and(|t| t.chains.iter().any(|c| c.name.starts_with("ufw-")));
    for e in exposures(host) {
        let l = &e.listener;
        let what = if l.ipv4.is_some_and(|a| a.is_unspecified()) {
            "listens on every address (a host service, or a container with --net=host)"
        } else {
            "listens on a non-loopback address"
        };
        let meant_to_block = (input_drop || ufw) && !e.port_named;
        if meant_to_block {
            let why = if ufw {
                "UFW denies incoming traffic by default"
            } else {
                "INPUT's policy is DROP"
            };
            let req = Request {
                ingress: Ingress::Iface {
                    iface: e.iface.clone(),
                    physin: None,
                },
                packet: e.packet.clone(),
                expect: Some(Expect::Drop),
                rule: None,
                before: Vec::new(),
            };
            let fix = explain(host, &req)
                .ok()
                .and_then(|x| x.fixes.first().map(|f| f.command.clone()));
            cx.push(
                "NFW012",
                "listener-exposed-despite-deny",
                Severity::Warning,
                e.line,
                "",
                format!("{} is reachable from outside on {} although {why}: let in by {}", l.describe(), e.iface, e.accepted_by),
                format!(
                    "the socket {what}. Walked: {} on {} is delivered locally, accepted by {}, a rule that does not name port {} — so the deny-by-default firewall does not protect this service. Allow the port explicitly if it is meant to be public; otherwise drop it (or bind the service to 127.0.0.1).",
                    e.probe, e.iface, e.accepted_by, l.port
                ),
                fix,
            );
        } else {
            cx.push(
                "NFW011",
                "listener-exposed",
                Severity::Note,
                e.line,
                "",
                format!("{} is reachable from outside on {}: accepted by {}", l.describe(), e.iface, e.accepted_by),
                format!("the socket {what}. Walked: {} on {} is delivered locally to it. If it should not be public, bind it to 127.0.0.1 or drop it before it reaches the socket.", e.probe, e.iface),
                Some(format!("iptables -I INPUT 1 -i {} -p {} -m {} --dport {} -j DROP", e.iface, l.proto, l.proto, l.port)),
            );
        }
    }
}

/// Lints a host's ruleset. Findings are sorted by line.
pub fn lint(input: &LintInput<'_>) -> Vec<Finding> {
    let mut cx = Ctx {
        input,
        lines: input.text.map(|t| t.lines().collect()).unwrap_or_default(),
        out: Vec::new(),
    };
    if !input.host.ruleset.ipv6 {
        traffic_checks(&mut cx);
        exposure_checks(&mut cx);
    }
    structure_checks(&mut cx);
    cx.out.sort_by(|a, b| (a.line, a.code).cmp(&(b.line, b.code)));
    cx.out
}
