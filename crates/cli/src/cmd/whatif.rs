//! `nfwalk whatif`: applies iptables commands to a copy of the ruleset and shows, packet by
//! packet, how the fate changes: old fate → new fate, the first rule that differs, and the
//! two paths as a diff. Ends with the exact commands to run on the real host.
//!
//! Commands come from repeated `--cmd 'ARGS'` and from the words after `--`, separated by a
//! lone `;` (`\;` in a shell). Each is iptables' own argument list; a leading `iptables` is
//! allowed. They are applied in order with crates/xt's edit logic (iptables' errors and exit
//! codes); the first failing command stops everything and nothing is walked.

use anyhow::{bail, Result};
use nfwalk_model::{Hook, Host, TableName};
use nfwalk_walk::replay::{replay, Replayed};
use nfwalk_walk::{Event, Fate, RuleResult, Trace, Walker};
use nfwalk_xt::command::{self, Cmd};
use nfwalk_xt::ruleset::XtRuleset;

use crate::args::{Close, Format, WhatifArgs};
use crate::input;

/// Splits a command string as a POSIX shell splits words: blanks separate, single quotes
/// are literal, double quotes allow `\"` and `\\`, a backslash outside quotes escapes.
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match it.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated ' in `{s}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match it.next() {
                        Some('"') => break,
                        Some('\\') => match it.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unterminated \" in `{s}`")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated \" in `{s}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match it.next() {
                    Some(x) => cur.push(x),
                    None => return Err(format!("trailing backslash in `{s}`")),
                }
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Quotes one word for a POSIX shell (only when needed).
pub fn shell_quote(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,=+@%^!".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The command list: `--cmd` strings first, then the words after `--` split at lone `;`.
pub fn collect_commands(cmds: &[String], rest: &[String]) -> Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    for c in cmds {
        out.push(shell_words(c)?);
    }
    let mut cur: Vec<String> = Vec::new();
    for w in rest {
        if w == ";" {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(w.clone());
        }
    }
    out.push(cur);
    let mut res = Vec::new();
    for mut c in out {
        if c.first().is_some_and(|w| w == "iptables" || w.ends_with("/iptables")) {
            c.remove(0);
        }
        if !c.is_empty() {
            res.push(c);
        }
    }
    if res.is_empty() {
        return Err("no iptables command given: use --cmd '-I CHAIN ...' or `-- -I CHAIN ...`".into());
    }
    Ok(res)
}

/// One decisive step of a path: a rule that matched or a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    hook: Hook,
    table: TableName,
    chain: String,
    /// 1-based rule number, None for a policy.
    index: Option<usize>,
    /// The rule as written (`-A CHAIN ...`), or `policy X`.
    text: String,
    verdict: String,
}

impl Step {
    /// Steps compare by what they are, not by position (an inserted rule shifts numbers).
    fn same(&self, o: &Step) -> bool {
        self.hook == o.hook
            && self.table == o.table
            && self.chain == o.chain
            && self.text == o.text
            && self.verdict == o.verdict
    }

    fn show(&self) -> String {
        match self.index {
            Some(n) => format!(
                "{:<11} {}/{} rule {}: {} → {}",
                self.hook.to_string(),
                self.table,
                self.chain,
                n,
                self.text,
                self.verdict
            ),
            None => format!(
                "{:<11} {}/{} {}",
                self.hook.to_string(),
                self.table,
                self.chain,
                self.text
            ),
        }
    }
}

/// The decisive steps of a trace (rules that matched, policies), generated packets excluded.
pub fn steps(t: &Trace) -> Vec<Step> {
    let mut out = Vec::new();
    for e in &t.events {
        match e {
            Event::Rule {
                hook,
                rule,
                result: RuleResult::Matched { verdict },
            } => out.push(Step {
                hook: *hook,
                table: rule.table,
                chain: rule.chain.to_string(),
                index: Some(rule.index),
                text: rule.text.to_string(),
                verdict: verdict.clone(),
            }),
            Event::Policy {
                hook,
                table,
                chain,
                verdict,
            } => out.push(Step {
                hook: *hook,
                table: *table,
                chain: chain.clone(),
                index: None,
                text: format!("policy {verdict}"),
                verdict: verdict.clone(),
            }),
            _ => {}
        }
    }
    out
}

/// `accept (forwarded out docker0)`, `drop (filter/DOCKER-USER rule 1)`: the fate without
/// ruleset line numbers (they differ between the two rulesets).
pub fn fate_short(f: &Fate) -> String {
    let v = f.verdict();
    match f {
        Fate::Dropped { by: Some(r), .. } => format!("{v} ({}/{} rule {})", r.table, r.chain, r.index),
        Fate::Dropped { by: None, reason } => format!("{v} ({reason})"),
        Fate::Rejected { by, with } => format!(
            "{v} (rejected with {with} by {}/{} rule {})",
            by.table, by.chain, by.index
        ),
        other => format!("{v} ({})", other.describe()),
    }
}

/// One packet walked twice.
pub struct Pair {
    /// `frame 3`, `client → server  SYN`, `packet`.
    pub label: String,
    /// The packet as it arrived (from whichever side walked it).
    pub summary: String,
    /// Before the commands; None when that side never sent it (a connection stopped earlier).
    pub old: Option<Trace>,
    /// After the commands.
    pub new: Option<Trace>,
}

impl Pair {
    fn fate(t: &Option<Trace>) -> String {
        match t {
            Some(t) => fate_short(&t.fate),
            None => "not sent (the connection stopped before it)".into(),
        }
    }

    fn verdict(t: &Option<Trace>) -> &'static str {
        t.as_ref().map(|t| t.fate.verdict()).unwrap_or("not sent")
    }

    /// Whether the verdict (accept/drop/not sent) differs.
    pub fn fate_changed(&self) -> bool {
        Self::verdict(&self.old) != Self::verdict(&self.new)
    }

    /// Whether anything observable differs: verdict, fate detail, path or the header that leaves.
    pub fn changed(&self) -> bool {
        match (&self.old, &self.new) {
            (Some(o), Some(n)) => {
                let (so, sn) = (steps(o), steps(n));
                fate_short(&o.fate) != fate_short(&n.fate)
                    || so.len() != sn.len()
                    || so.iter().zip(&sn).any(|(a, b)| !a.same(b))
                    || o.final_packet != n.final_packet
            }
            (None, None) => false,
            _ => true,
        }
    }

    /// Renders the pair: headline, first differing rule, and the paths as a diff.
    pub fn render(&self) -> String {
        let mut s = format!("━━━ {}  {}\n", self.label, self.summary);
        if !self.changed() {
            s.push_str(&format!("  unchanged: {}\n", Self::fate(&self.old)));
            return s;
        }
        let (ov, nv) = (Self::verdict(&self.old), Self::verdict(&self.new));
        let head = if ov == nv {
            format!("{ov} (same verdict, different path)")
        } else {
            format!("{ov} → {nv}")
        };
        s.push_str(&format!("  {head}\n"));
        s.push_str(&format!("  before: {}\n", Self::fate(&self.old)));
        s.push_str(&format!("  after:  {}\n", Self::fate(&self.new)));
        let (so, sn) = (
            self.old.as_ref().map(steps).unwrap_or_default(),
            self.new.as_ref().map(steps).unwrap_or_default(),
        );
        let common = so.iter().zip(&sn).take_while(|(a, b)| a.same(b)).count();
        if let (Some(_), Some(_)) = (&self.old, &self.new) {
            match (so.get(common), sn.get(common)) {
                (_, Some(n)) => s.push_str(&format!("  first rule that differs: {}\n", n.show())),
                (Some(o), None) => s.push_str(&format!("  first rule that differs: no longer reached: {}\n", o.show())),
                (None, None) => {}
            }
            let (o, n) = (self.old.as_ref().unwrap(), self.new.as_ref().unwrap());
            if o.final_packet != n.final_packet && o.fate.verdict() == "accept" && n.fate.verdict() == "accept" {
                s.push_str(&format!(
                    "  leaves as: {}  →  {}\n",
                    o.final_packet.summary(),
                    n.final_packet.summary()
                ));
            }
            s.push_str("  path (= both, - before only, + after only):\n");
            for st in &so[..common] {
                s.push_str(&format!("    = {}\n", st.show()));
            }
            for st in &so[common..] {
                s.push_str(&format!("    - {}\n", st.show()));
            }
            for st in &sn[common..] {
                s.push_str(&format!("    + {}\n", st.show()));
            }
        }
        s
    }
}

fn ingress_name(t: &Trace) -> String {
    match &t.in_iface {
        Some(i) => format!("on {i}"),
        None => "from a local process".into(),
    }
}

fn summary_of(o: &Option<Trace>, n: &Option<Trace>) -> String {
    match o.as_ref().or(n.as_ref()) {
        Some(t) => format!("{} {}", t.packet.summary(), ingress_name(t)),
        None => String::new(),
    }
}

/// The host's ruleset text: the snapshot's iptables-save.txt, or the seed's rules.
fn ruleset_text(a: &WhatifArgs) -> Result<String> {
    if let Some(dir) = &a.host.snapshot {
        let p = dir.join("iptables-save.txt");
        return Ok(std::fs::read_to_string(&p).unwrap_or_default());
    }
    if a.host.host.is_some() {
        bail!("whatif edits an iptables-save ruleset: use --snapshot DIR (or the built-in seed host), not --host");
    }
    Ok(crate::demo_host::SEED_RULES.to_string())
}

/// Applies the commands; Err(code) after printing iptables' error.
fn apply(text: &str, cmds: &[Vec<String>]) -> Result<std::result::Result<String, i32>> {
    let mut rs = XtRuleset::from_save(text).map_err(|e| anyhow::anyhow!("the ruleset does not load: {e}"))?;
    for (k, c) in cmds.iter().enumerate() {
        let shown = c.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
        let inv = match command::parse(c) {
            Ok(inv) => inv,
            Err(e) => {
                eprint!("{}", e.stderr("iptables"));
                eprintln!("nfwalk whatif: command {} failed: iptables {shown}", k + 1);
                return Ok(Err(e.code));
            }
        };
        if matches!(
            inv.cmd,
            Cmd::List(_) | Cmd::ListRule(..) | Cmd::ListRules(..) | Cmd::Check(..)
        ) {
            bail!("command {}: `iptables {shown}` does not change the ruleset; whatif takes -A -I -D -R -N -E -X -F -Z -P", k + 1);
        }
        if let Err(e) = command::run(&mut rs, &inv) {
            eprint!("{}", e.stderr("iptables"));
            eprintln!("nfwalk whatif: command {} failed: iptables {shown}", k + 1);
            return Ok(Err(e.code));
        }
    }
    Ok(Ok(rs.to_save(false)))
}

/// Runs the subcommand: 0 when the comparison was made (whatever it shows), iptables' exit
/// code when a command fails, 2 for usage errors.
pub fn run(a: WhatifArgs) -> Result<i32> {
    let cmds = collect_commands(&a.cmds, &a.rest).map_err(|e| anyhow::anyhow!(e))?;
    let text = ruleset_text(&a)?;
    let old_host = input::load_host(&a.host)?;
    let new_text = match apply(&text, &cmds)? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let mut new_host: Host = old_host.clone();
    new_host.ruleset = if new_text.trim().is_empty() {
        nfwalk_parse::iptables::load(
            "whatif",
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ruleset
    } else {
        nfwalk_parse::iptables::load("iptables-save.txt after the commands", &new_text)
            .map_err(|e| anyhow::anyhow!("the edited ruleset does not load in the walker: {e}"))?
            .ruleset
    };

    let pairs = walk_both(&a, &old_host, &new_host)?;
    if a.format != Format::Text {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&old_host.name, &cmds, &pairs, a.all))?
        );
        return Ok(0);
    }

    println!(
        "whatif: {} command{} applied to a copy of the ruleset of {}",
        cmds.len(),
        if cmds.len() == 1 { "" } else { "s" },
        old_host.name
    );
    println!();
    let mut shown = 0;
    for p in &pairs {
        if a.all || p.changed() {
            print!("{}", p.render());
            shown += 1;
        }
    }
    if shown > 0 {
        println!();
    }
    let n = pairs.len();
    let fate = pairs.iter().filter(|p| p.fate_changed()).count();
    let path = pairs.iter().filter(|p| p.changed() && !p.fate_changed()).count();
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for p in pairs.iter().filter(|p| p.fate_changed()) {
        let k = format!("{} → {}", Pair::verdict(&p.old), Pair::verdict(&p.new));
        match kinds.iter_mut().find(|(x, _)| *x == k) {
            Some((_, c)) => *c += 1,
            None => kinds.push((k, 1)),
        }
    }
    let kinds = kinds
        .iter()
        .map(|(k, c)| format!("{c} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "summary: {n} packet{} walked: {fate} change fate{}, {path} change path only, {} unchanged",
        if n == 1 { "" } else { "s" },
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({kinds})")
        },
        n - fate - path
    );
    println!();
    println!("To apply on the real host:");
    for c in &cmds {
        println!(
            "  iptables {}",
            c.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
        );
    }
    Ok(0)
}

impl Step {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "hook": self.hook.to_string(),
            "table": self.table.to_string(),
            "chain": self.chain,
            "rule": self.index,
            "text": self.text,
            "verdict": self.verdict,
        })
    }
}

impl Pair {
    /// The first step where the paths part: the new path's step, or the old one's when the
    /// new path ends earlier (`no_longer_reached`). None when a side was not walked.
    fn first_difference(&self) -> Option<(bool, Step)> {
        let (o, n) = (self.old.as_ref()?, self.new.as_ref()?);
        let (so, sn) = (steps(o), steps(n));
        let common = so.iter().zip(&sn).take_while(|(a, b)| a.same(b)).count();
        match (so.get(common), sn.get(common)) {
            (_, Some(n)) => Some((false, n.clone())),
            (Some(o), None) => Some((true, o.clone())),
            (None, None) => None,
        }
    }

    /// One packet as JSON: verdicts, fates and paths before and after.
    pub fn json(&self) -> serde_json::Value {
        let side = |t: &Option<Trace>| match t {
            Some(t) => serde_json::json!({
                "verdict": t.fate.verdict(),
                "fate": fate_short(&t.fate),
                "leaves_as": (t.fate.verdict() == "accept").then(|| t.final_packet.summary()),
                "path": steps(t).iter().map(Step::json).collect::<Vec<_>>(),
            }),
            None => serde_json::json!({ "verdict": "not sent", "fate": Self::fate(t), "leaves_as": null, "path": [] }),
        };
        let first = if self.changed() { self.first_difference() } else { None };
        serde_json::json!({
            "label": self.label,
            "frame": self.label.strip_prefix("frame ").and_then(|n| n.parse::<u64>().ok()),
            "packet": self.summary,
            "changed": self.changed(),
            "fate_changed": self.fate_changed(),
            "before": side(&self.old),
            "after": side(&self.new),
            "first_difference": first.map(|(gone, st)| {
                let mut v = st.json();
                v["no_longer_reached"] = serde_json::Value::Bool(gone);
                v
            }),
        })
    }
}

/// `--format json`: the whole comparison as one object (every packet, changed or not, when
/// `all`; otherwise only those that change, with the counts over all of them).
pub fn json_report(host: &str, cmds: &[Vec<String>], pairs: &[Pair], all: bool) -> serde_json::Value {
    let fate = pairs.iter().filter(|p| p.fate_changed()).count();
    let path = pairs.iter().filter(|p| p.changed() && !p.fate_changed()).count();
    serde_json::json!({
        "host": host,
        "commands": cmds.iter().map(|c| format!("iptables {}", c.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" "))).collect::<Vec<_>>(),
        "packets": pairs.iter().filter(|p| all || p.changed()).map(Pair::json).collect::<Vec<_>>(),
        "summary": {
            "walked": pairs.len(),
            "fate_changed": fate,
            "path_changed_only": path,
            "unchanged": pairs.len() - fate - path,
        },
    })
}

fn walk_both(a: &WhatifArgs, old_host: &Host, new_host: &Host) -> Result<Vec<Pair>> {
    if let Some(pcap) = &a.pcap {
        let frames = crate::cmd::replay::load_frames(old_host, pcap, a.in_.as_deref())?;
        let mut wo = Walker::new(old_host);
        let mut wn = Walker::new(new_host);
        let ro = replay(&mut wo, &frames);
        let rn = replay(&mut wn, &frames);
        let mut out = Vec::new();
        for (o, n) in ro.into_iter().zip(rn) {
            if let (Replayed::Walked { frame, trace: to }, Replayed::Walked { trace: tn, .. }) = (o, n) {
                let (old, new) = (Some(*to), Some(*tn));
                out.push(Pair {
                    label: format!("frame {frame}"),
                    summary: summary_of(&old, &new),
                    old,
                    new,
                });
            }
        }
        return Ok(out);
    }
    let Some(pa) = a.packet_args() else {
        bail!("say which packets to walk: --pcap FILE, or a packet with --in/--local, --src, --dst, --dport (and --conn for a whole connection)");
    };
    let (ingress, pkt) = input::packet(&pa)?;
    let mut wo = Walker::new(old_host);
    let mut wn = Walker::new(new_host);
    if a.conn {
        anyhow::ensure!(
            pkt.proto == nfwalk_model::Proto::TCP,
            "--conn walks a TCP connection: use -p tcp"
        );
        let to = crate::cmd::trace::conversation_with(old_host, &mut wo, ingress.clone(), pkt.clone(), Close::Fin);
        let tn = crate::cmd::trace::conversation_with(new_host, &mut wn, ingress, pkt, Close::Fin);
        let mut out = Vec::new();
        let mut to = to.into_iter();
        let mut tn = tn.into_iter();
        loop {
            let (o, n) = (to.next(), tn.next());
            if o.is_none() && n.is_none() {
                break;
            }
            let label = o.as_ref().or(n.as_ref()).map(|(l, _)| l.clone()).unwrap_or_default();
            let (old, new) = (o.map(|x| x.1), n.map(|x| x.1));
            out.push(Pair {
                label,
                summary: summary_of(&old, &new),
                old,
                new,
            });
        }
        return Ok(out);
    }
    let old = Some(wo.walk(ingress.clone(), pkt.clone()));
    let new = Some(wn.walk(ingress, pkt));
    Ok(vec![Pair {
        label: "packet".into(),
        summary: summary_of(&old, &new),
        old,
        new,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_split_like_a_shell() {
        assert_eq!(
            shell_words(r#"-A X -m comment --comment "a b" -j 'DROP'"#).unwrap(),
            ["-A", "X", "-m", "comment", "--comment", "a b", "-j", "DROP"]
        );
        assert_eq!(shell_words(r"a\ b  c").unwrap(), ["a b", "c"]);
        assert!(shell_words("'open").is_err());
        assert!(shell_words("\"open").is_err());
        assert!(shell_words("x\\").is_err());
    }

    #[test]
    fn commands_split_at_lone_semicolons() {
        let rest: Vec<String> = ["iptables", "-N", "X", ";", "-A", "X", "-j", "DROP", ";"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = collect_commands(&["-t nat -F".into()], &rest).unwrap();
        assert_eq!(
            c,
            vec![vec!["-t", "nat", "-F"], vec!["-N", "X"], vec!["-A", "X", "-j", "DROP"]]
        );
        assert!(collect_commands(&[], &[]).is_err());
    }

    #[test]
    fn quoting_round_trips() {
        for w in ["-A", "a b", "it's", "", "--comment=x;y", "!"] {
            assert_eq!(shell_words(&shell_quote(w)).unwrap(), vec![w.to_string()]);
        }
    }
}
