//! Fixes: candidate rules, each applied to a copy of the host and proven by re-walking the
//! packet and a sample of other traffic.

use std::net::Ipv4Addr;

use nfwalk_model::{Hook, Host, Packet, Rule, TableName, Target};
use nfwalk_parse::iptables::{parse_rule_words, split_words};
use nfwalk_walk::{Event, Fate, RuleRef, Trace};

use crate::explain::{sample_verdict, samples, Expect, Fix, Request, SideEffect, WhyNot};

/// Inserts `-A CHAIN <words>` (given as the text after the chain) at 1-based `position` of
/// `table`/`chain` in a copy of the host. Errors when the rule does not parse or the chain is
/// missing.
pub fn apply(
    host: &Host,
    table: TableName,
    chain: &str,
    position: usize,
    rule_after_chain: &str,
) -> Result<Host, String> {
    let words = split_words(rule_after_chain).map_err(|(c, m)| format!("column {c}: {m}"))?;
    let (matches, target) = parse_rule_words("<fix>", 0, &words, false)
        .map_err(|d| d.iter().map(|x| x.message.clone()).collect::<Vec<_>>().join("; "))?;
    if let Target::Jump { chain: c } | Target::Goto { chain: c } = &target {
        if host.ruleset.table(table).and_then(|t| t.chain(c)).is_none() {
            return Err(format!("no chain {c} in table {table}"));
        }
    }
    let mut h = host.clone();
    let t = h
        .ruleset
        .table_mut(table)
        .ok_or_else(|| format!("the ruleset has no {table} table"))?;
    let c = t
        .chain_mut(chain)
        .ok_or_else(|| format!("no chain {chain} in table {table}"))?;
    let pos = position.clamp(1, c.rules.len() + 1) - 1;
    c.rules.insert(
        pos,
        Rule {
            line: 0,
            text: format!("-A {chain} {rule_after_chain}"),
            counters: None,
            matches,
            target,
        },
    );
    Ok(h)
}

/// Inserts a fix's rule into iptables-restore text: before the rule now at that position, or
/// after the chain's last rule, or before the table's COMMIT when the chain is empty.
pub fn apply_to_text(host: &Host, text: &str, fix: &Fix) -> Result<String, String> {
    let t = host.ruleset.table(fix.table).ok_or("no such table")?;
    let c = t.chain(&fix.chain).ok_or("no such chain")?;
    let lines: Vec<&str> = text.lines().collect();
    let at = if let Some(r) = c.rules.get(fix.position - 1) {
        r.line - 1
    } else if let Some(r) = c.rules.last() {
        r.line
    } else {
        (t.line..lines.len())
            .find(|i| lines[*i].trim() == "COMMIT")
            .ok_or("no COMMIT after the table")?
    };
    let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    out.insert(at.min(out.len()), fix.rule.clone());
    Ok(out.join("\n") + "\n")
}

struct Cand {
    table: TableName,
    chain: String,
    position: usize,
    body: String,
    rationale: String,
}

fn hook_packet(t: &Trace, h: Hook) -> Option<(Packet, Option<String>, Option<String>)> {
    t.events.iter().find_map(|e| match e {
        Event::Hook {
            hook, packet, in_, out, ..
        } if *hook == h => Some((packet.clone(), in_.clone(), out.clone())),
        _ => None,
    })
}

fn proto_words(p: &Packet) -> String {
    let n = p.proto.name();
    if p.proto.has_ports() {
        format!("-p {n} -m {n}")
    } else {
        format!("-p {n}")
    }
}

fn remove_cond(body: &str, cond: &str) -> String {
    let s = format!(" {body} ").replacen(&format!(" {cond} "), " ", 1);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn insert_before_target(body: &str, extra: &str) -> String {
    match body.find(" -j ").or_else(|| body.find(" -g ")) {
        Some(i) => format!("{} {extra}{}", &body[..i], &body[i..]),
        None if body.starts_with("-j ") || body.starts_with("-g ") => format!("{extra} {body}"),
        None => format!("{body} {extra}"),
    }
}

fn body_of(r: &Rule, chain: &str) -> String {
    r.text.trim_start_matches(&format!("-A {chain} ")).to_string()
}

fn split_ep(s: &str) -> (Option<Ipv4Addr>, Option<u16>) {
    match s.rsplit_once(':') {
        Some((a, p)) => (a.parse().ok(), p.parse().ok()),
        None => (s.parse().ok(), None),
    }
}

fn verdict_word(e: Expect) -> &'static str {
    match e {
        Expect::Drop => "DROP",
        Expect::Accept => "ACCEPT",
    }
}

/// The filter chain where a user rule for forwarded traffic belongs.
fn forward_chain(host: &Host) -> String {
    if host
        .ruleset
        .table(TableName::Filter)
        .and_then(|t| t.chain("DOCKER-USER"))
        .is_some()
    {
        "DOCKER-USER".into()
    } else {
        "FORWARD".into()
    }
}

fn candidates(
    host: &Host,
    req: &Request,
    t: &Trace,
    e: Expect,
    why: &[WhyNot],
    named: Option<(&RuleRef, &Rule)>,
) -> Vec<Cand> {
    let mut out = Vec::new();
    let v = verdict_word(e);
    // 0. A later packet of a connection (ESTABLISHED/RELATED) dropped where the connection's
    //    first packet was let through: accept the connection's state at the top of the chain
    //    that dropped it (what Docker and UFW do), rather than this packet's ports.
    if e == Expect::Accept && (t.ct_state == "ESTABLISHED" || t.ct_state == "RELATED") {
        let at = match &t.fate {
            Fate::Dropped { by: Some(r), .. } | Fate::Rejected { by: r, .. } => Some((r.table, r.chain.to_string())),
            Fate::Dropped { by: None, .. } => t.events.iter().rev().find_map(|ev| match ev {
                Event::Policy { table, chain, .. } => Some((*table, chain.clone())),
                _ => None,
            }),
            _ => None,
        };
        if let Some((table, chain)) = at {
            out.push(Cand {
                table,
                chain: chain.clone(),
                position: 1,
                body: "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".into(),
                rationale: format!(
                    "the packet belongs to a connection conntrack already tracks ({}); accept established connections in {table}/{chain}, as every stateful ruleset does, instead of this packet's ports",
                    t.ct_state
                ),
            });
        }
    }
    // 1. Rules that failed on a rewritten value: match what conntrack remembers, or the value
    //    the packet carries there.
    for w in why {
        let Some(rule) = host
            .ruleset
            .table(w.rule.table)
            .and_then(|tb| tb.chain(&w.rule.chain))
            .and_then(|c| c.rules.get(w.rule.index - 1))
        else {
            continue;
        };
        let rewritten: Vec<_> = w.conditions.iter().filter(|c| c.rewritten_by.is_some()).collect();
        if !rewritten.is_empty() && rewritten.len() == w.conditions.len() {
            let mut ct = body_of(rule, &w.rule.chain);
            let mut now = ct.clone();
            let mut ct_extra = Vec::new();
            let mut now_extra = Vec::new();
            for c in &rewritten {
                let rw = c.rewritten_by.as_ref().expect("filtered");
                let (fa, fp) = split_ep(&rw.from);
                let (ta, tp) = split_ep(&rw.to);
                ct = remove_cond(&ct, &c.condition);
                now = remove_cond(&now, &c.condition);
                let word = c
                    .condition
                    .trim_start_matches("! ")
                    .split_whitespace()
                    .next()
                    .unwrap_or("");
                let neg = if c.condition.starts_with("! ") { "! " } else { "" };
                let dst = rw.field == "dst";
                match word {
                    "--dport" | "--destination-port" | "--sport" | "--source-port" => {
                        if let (Some(f), Some(to)) = (fp, tp) {
                            let k = if dst { "dst" } else { "src" };
                            ct_extra.push(format!("{neg}--ctorig{k}port {f}"));
                            let _ = f;
                            now_extra.push(format!("{neg}--{}port {to}", if dst { "d" } else { "s" }));
                            if let (true, Some(a)) = (dst, ta) {
                                if !now.contains(" -d ") && !now.starts_with("-d ") {
                                    now_extra.insert(0, format!("-d {a}/32"));
                                }
                            }
                        }
                    }
                    "-d" | "--destination" | "-s" | "--source" => {
                        let net = c
                            .condition
                            .trim_start_matches("! ")
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or("");
                        let k = if dst { "dst" } else { "src" };
                        ct_extra.push(format!("{neg}--ctorig{k} {net}"));
                        if let Some(a) = ta {
                            now_extra.push(format!("{neg}{} {a}/32", if dst { "-d" } else { "-s" }));
                        }
                        let _ = fa;
                    }
                    _ => {}
                }
            }
            if !ct_extra.is_empty() {
                let body = insert_before_target(&ct, &format!("-m conntrack {} --ctdir ORIGINAL", ct_extra.join(" ")));
                let rw = rewritten[0].rewritten_by.as_ref().expect("filtered");
                out.push(Cand {
                    table: w.rule.table,
                    chain: w.rule.chain.to_string(),
                    position: w.rule.index,
                    body,
                    rationale: format!(
                        "match the original destination conntrack remembers ({}), which the {} at {} does not change",
                        rw.from,
                        rw.rule
                            .as_ref()
                            .map(|r| format!("rule on line {}", r.line))
                            .unwrap_or_else(|| "NAT".into()),
                        rw.hook
                    ),
                });
            }
            if !now_extra.is_empty() {
                // Port matches need -m tcp/udp, which the original rule already loads.
                let body = insert_before_target(&now, &now_extra.join(" "));
                let rw = rewritten[0].rewritten_by.as_ref().expect("filtered");
                out.push(Cand {
                    table: w.rule.table,
                    chain: w.rule.chain.to_string(),
                    position: w.rule.index,
                    body,
                    rationale: format!(
                        "match what the packet carries at {} after the rewrite ({})",
                        w.conditions[0].hook, rw.to
                    ),
                });
            }
        }
    }
    // 2. A rule in a chain the packet never crosses: move it to where the packet goes.
    if let Some((r, rule)) = named {
        let fwd = matches!(t.fate, Fate::Forwarded { .. } | Fate::Bridged { .. });
        if fwd
            && r.table == TableName::Filter
            && !t
                .events
                .iter()
                .any(|ev| matches!(ev, Event::Rule { rule: x, .. } if x.chain == r.chain && x.table == r.table))
        {
            let mut body = body_of(rule, &r.chain);
            let rw = t.events.iter().find_map(|ev| match ev {
                Event::Rewrite { field, from, to, .. } if field == "dst" => Some((from.clone(), to.clone())),
                _ => None,
            });
            if let Some((from, _)) = rw {
                let (_, fp) = split_ep(&from);
                let dport = rule
                    .matches
                    .iter()
                    .find(|m| matches!(m.kind, nfwalk_model::MatchKind::DstPort { .. }) && !m.negated)
                    .map(|m| m.text.clone());
                if let (Some(dp), Some(_)) = (dport, fp) {
                    body = remove_cond(&body, &dp);
                    let port = dp.split_whitespace().nth(1).unwrap_or("");
                    body =
                        insert_before_target(&body, &format!("-m conntrack --ctorigdstport {port} --ctdir ORIGINAL"));
                }
            }
            out.push(Cand {
                table: TableName::Filter,
                chain: forward_chain(host),
                position: 1,
                body,
                rationale: format!(
                    "the packet is forwarded, so put the rule where forwarded traffic is filtered ({})",
                    forward_chain(host)
                ),
            });
        }
    }
    // 3. A rule for exactly this flow where the packet is filtered.
    let fwd = matches!(t.fate, Fate::Forwarded { .. } | Fate::Bridged { .. });
    let local = matches!(t.fate, Fate::DeliveredLocally);
    let dropped_by = match &t.fate {
        Fate::Dropped { by: Some(r), .. } | Fate::Rejected { by: r, .. } => Some(r.clone()),
        _ => None,
    };
    let (hook, chain, position) = match (e, &dropped_by) {
        (Expect::Accept, Some(r)) => {
            let h = t.events.iter().rev().find_map(|ev| match ev {
                Event::Rule { hook, rule, .. } if rule == r => Some(*hook),
                _ => None,
            });
            (h, Some((r.table, r.chain.to_string())), r.index)
        }
        (Expect::Accept, None) => {
            let pol = t.events.iter().rev().find_map(|ev| match ev {
                Event::Policy { hook, table, chain, .. } => Some((*hook, *table, chain.clone())),
                _ => None,
            });
            match pol {
                Some((h, tb, c)) => {
                    let n = host
                        .ruleset
                        .table(tb)
                        .and_then(|x| x.chain(&c))
                        .map(|c| c.rules.len())
                        .unwrap_or(0);
                    (Some(h), Some((tb, c)), n + 1)
                }
                None => (None, None, 1),
            }
        }
        (Expect::Drop, _) if fwd => (Some(Hook::Forward), Some((TableName::Filter, forward_chain(host))), 1),
        (Expect::Drop, _) if local => (Some(Hook::Input), Some((TableName::Filter, "INPUT".to_string())), 1),
        _ => (None, None, 1),
    };
    if let (Some(h), Some((tb, ch))) = (hook, chain) {
        if let Some((p, in_, _)) = hook_packet(t, h) {
            let orig = &req.packet;
            let rewritten = p.dst != orig.dst || p.dport != orig.dport;
            let mut words = Vec::new();
            if let Some(i) = &in_ {
                words.push(format!("-i {i}"));
            }
            let with_src = |w: &mut Vec<String>| {
                let mut w2 = w.clone();
                w2.push(format!("-s {}/32", orig.src));
                w2
            };
            let mut base = words.clone();
            base.push(proto_words(&p));
            let flow = if rewritten && e == Expect::Drop {
                let mut f = base.clone();
                f.push(format!("-m conntrack --ctorigdst {}/32", orig.dst));
                if p.proto.has_ports() {
                    f.push(format!("--ctorigdstport {}", orig.dport));
                }
                f.push("--ctdir ORIGINAL".into());
                f
            } else {
                let mut f = base.clone();
                f.insert(f.len() - 1, format!("-d {}/32", p.dst));
                if p.proto.has_ports() {
                    f.push(format!("--dport {}", p.dport));
                }
                f
            };
            let flow_s = flow.join(" ");
            out.push(Cand {
                table: tb,
                chain: ch.clone(),
                position,
                body: format!("{flow_s} -j {v}"),
                rationale: format!(
                    "{} this flow where the packet is filtered ({tb}/{ch} at {h})",
                    if e == Expect::Drop { "drop" } else { "accept" }
                ),
            });
            if e == Expect::Drop {
                if let Some(i) = in_.as_ref().and_then(|i| host.iface(i)) {
                    if let Some(net) = i.addrs.first() {
                        let net = net.trunc();
                        let mut f = flow.clone();
                        f.insert(1, format!("! -s {net}"));
                        out.push(Cand {
                            table: tb,
                            chain: ch.clone(),
                            position,
                            body: format!("{} -j {v}", f.join(" ")),
                            rationale: format!("drop it from everywhere but {}'s own network {net}", i.name),
                        });
                    }
                }
                let mut f = with_src(&mut Vec::new());
                let at = usize::from(in_.is_some());
                let mut rest = flow.clone();
                rest.insert(at.min(rest.len()), f.remove(0));
                let f = rest;
                out.push(Cand {
                    table: tb,
                    chain: ch.clone(),
                    position,
                    body: format!("{} -j {v}", f.join(" ")),
                    rationale: format!("drop only this client ({})", orig.src),
                });
            }
        }
    }
    out
}

/// Proposes fixes; only verified ones (the packet gets the expected verdict) are returned,
/// fewest side effects first (stable otherwise).
pub fn propose(
    host: &Host,
    req: &Request,
    t: &Trace,
    e: Expect,
    why: &[WhyNot],
    named: Option<(&RuleRef, &Rule)>,
) -> Vec<Fix> {
    let cands = candidates(host, req, t, e, why, named);
    let samples = samples(host, req, t);
    let before: Vec<String> = samples.iter().map(|s| sample_verdict(host, s)).collect();
    let mut fixes: Vec<Fix> = Vec::new();
    for c in cands {
        if fixes
            .iter()
            .any(|f| f.rule == format!("-A {} {}", c.chain, c.body) && f.table == c.table)
        {
            continue;
        }
        let Ok(h) = apply(host, c.table, &c.chain, c.position, &c.body) else {
            continue;
        };
        let after = crate::explain::walk_req(&h, req);
        if after.fate.verdict() != e.as_str() {
            continue;
        }
        let side_effects = samples
            .iter()
            .zip(&before)
            .map(|(s, b)| {
                let a = sample_verdict(&h, s);
                SideEffect {
                    traffic: s.label.clone(),
                    changed: a.split(' ').next() != b.split(' ').next(),
                    same_service: s.same_service,
                    before: b.clone(),
                    after: a,
                }
            })
            .collect();
        let table_opt = if c.table == TableName::Filter {
            String::new()
        } else {
            format!("-t {} ", c.table)
        };
        fixes.push(Fix {
            command: format!("iptables {table_opt}-I {} {} {}", c.chain, c.position, c.body),
            table: c.table,
            chain: c.chain.clone(),
            position: c.position,
            rule: format!("-A {} {}", c.chain, c.body),
            rationale: c.rationale,
            verified: true,
            fate_after: after.fate.describe().replace("(line 0)", "(the fix)"),
            side_effects,
        });
    }
    // Fewest changes to other traffic first; a change to the same service from elsewhere is
    // what a block usually intends, so it does not count. Stable: rule-derived fixes first.
    fixes.sort_by_key(|f| f.side_effects.iter().filter(|s| s.changed && !s.same_service).count());
    fixes
}
