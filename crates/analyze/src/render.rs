//! Text for people: a few lines a newcomer can follow.

use crate::conn::ConnExplanation;
use crate::explain::{Explanation, WhyNot};

fn rule_head(w: &WhyNot) -> String {
    format!(
        "{}/{} rule {} (line {})",
        w.rule.table, w.rule.chain, w.rule.index, w.rule.line
    )
}

/// Renders an explanation as text: the answer first (verdict, deciding rule, the one why-not
/// that matters, the fix), then notes, then the other candidate rules in one line each.
pub fn explanation_text(e: &Explanation) -> String {
    let mut s = String::new();
    let verdict = &e.decided_by.verdict;
    match (e.expected, e.as_expected) {
        (Some(x), Some(true)) => s.push_str(&format!("answer:     {verdict}, as you expected ({})\n", x.as_str())),
        (Some(x), _) => s.push_str(&format!("answer:     {verdict}, not {} as you expected\n", x.as_str())),
        _ => s.push_str(&format!("answer:     {verdict}\n")),
    }
    s.push_str(&format!("decided by: {}\n", e.decided_by.summary));
    s.push_str(&format!(
        "packet:     {} arriving {} (conntrack {})\n",
        e.packet, e.ingress, e.ct_state
    ));
    let primary = e.primary.and_then(|i| e.why_not.get(i));
    match primary {
        Some(w) => {
            s.push_str(&format!("\nwhy not {}: {}\n", rule_head(w), w.rule.text));
            for r in &w.reasons {
                s.push_str(&format!("  - {r}\n"));
            }
        }
        None if !e.why_not.is_empty() => {
            let x = e.expected.map(|x| x.as_str()).unwrap_or("the expected verdict");
            s.push_str(&format!(
                "\nwhy not: no rule that gives {x} is on this packet's path (see the other rules below)\n"
            ));
        }
        None => {}
    }
    if !e.fixes.is_empty() {
        s.push_str("\nfix (applied to a copy of the ruleset and re-walked):\n");
    }
    for (i, f) in e.fixes.iter().enumerate() {
        if i > 0 {
            let changed: Vec<&str> = f
                .side_effects
                .iter()
                .filter(|x| x.changed)
                .map(|x| x.traffic.as_str())
                .collect();
            let also = if changed.is_empty() {
                "nothing else".to_string()
            } else {
                changed.join("; ")
            };
            s.push_str(&format!(
                "{}. {}\n   verified; also changes: {also}\n",
                i + 1,
                f.command
            ));
            continue;
        }
        s.push_str(&format!("\n{}. {}\n", i + 1, f.command));
        s.push_str(&format!("   {} — verified: {}\n", f.rationale, f.fate_after));
        for se in &f.side_effects {
            let verdict = |v: &str| v.split(' ').next().unwrap_or("").to_string();
            if se.changed {
                s.push_str(&format!(
                    "   also changes {}: yes ({} → {})\n",
                    se.traffic,
                    verdict(&se.before),
                    verdict(&se.after)
                ));
            } else {
                s.push_str(&format!(
                    "   also changes {}: no ({})\n",
                    se.traffic,
                    verdict(&se.after)
                ));
            }
        }
        if e.fixes.len() > 1 {
            s.push_str("\nother verified fixes:\n");
        }
    }
    if e.fixes.is_empty() && e.as_expected == Some(false) {
        s.push_str("\nno verified fix found\n");
    }
    for n in &e.notes {
        s.push_str(&format!("\nnote: {n}\n"));
    }
    let others: Vec<&WhyNot> = e
        .why_not
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != e.primary)
        .map(|(_, w)| w)
        .collect();
    if !others.is_empty() {
        let x = e.expected.map(|x| x.as_str()).unwrap_or("that verdict");
        s.push_str(&format!(
            "\nother rules that could have given {x} (details: --format json):\n"
        ));
        for w in others {
            let first = w.reasons.first().map(String::as_str).unwrap_or("");
            let more = if w.reasons.len() > 1 {
                format!(" (+{} more)", w.reasons.len() - 1)
            } else {
                String::new()
            };
            s.push_str(&format!("  - {} `{}`: {}{more}\n", rule_head(w), w.rule.text, first));
        }
    }
    s
}

/// Renders a connection's explanation: one line per packet, then for each packet whose fate
/// differs from the expected one its explanation, and for ESTABLISHED/RELATED packets what
/// conntrack did.
pub fn conn_text(c: &ConnExplanation) -> String {
    let mut s = String::new();
    match (c.expected, c.as_expected) {
        (Some(x), Some(true)) => s.push_str(&format!(
            "answer:     {}, as you expected ({})\n",
            c.summary,
            x.as_str()
        )),
        (Some(x), _) => s.push_str(&format!("answer:     {}; you expected {}\n", c.summary, x.as_str())),
        _ => s.push_str(&format!("answer:     {}\n", c.summary)),
    }
    s.push_str(&format!(
        "connection: {} ({} packets walked)\n\n",
        c.packet,
        c.packets.len()
    ));
    for (i, p) in c.packets.iter().enumerate() {
        let mark = match p.as_expected {
            Some(false) => "  ✗ not as expected",
            _ => "",
        };
        s.push_str(&format!(
            "{:>2}. {:<28} {:<11} {} ({}){mark}\n",
            i + 1,
            p.label,
            p.ct_state,
            p.verdict,
            p.fate
        ));
    }
    // Conntrack's part in full for the first packet of each direction and for every packet
    // that is not as expected; the others repeat it (all of it is in --format json).
    let mut shown: Vec<String> = Vec::new();
    for (i, p) in c.packets.iter().enumerate() {
        let ct_new = p.conntrack.as_ref().is_some_and(|ct| !shown.contains(&ct.direction));
        if p.explanation.is_none() && !ct_new {
            continue;
        }
        if let Some(ct) = &p.conntrack {
            shown.push(ct.direction.clone());
        }
        s.push_str(&format!(
            "\n━━━ {}. {} — {} {} (conntrack {}) ━━━\n",
            i + 1,
            p.label,
            p.packet,
            p.ingress,
            p.ct_state
        ));
        if let Some(ct) = &p.conntrack {
            for r in &ct.reasons {
                s.push_str(&format!("conntrack:  {r}\n"));
            }
        }
        if let Some(e) = &p.explanation {
            let text = explanation_text(e);
            // The packet line repeats the header above.
            for l in text.lines().filter(|l| !l.starts_with("packet:")) {
                s.push_str(l);
                s.push('\n');
            }
        }
    }
    s
}
