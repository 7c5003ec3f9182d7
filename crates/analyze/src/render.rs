//! Text for people: a few lines a newcomer can follow.

use crate::explain::Explanation;

/// Renders an explanation as text.
pub fn explanation_text(e: &Explanation) -> String {
    let mut s = String::new();
    s.push_str(&format!("packet:     {} arriving {} (conntrack {})\n", e.packet, e.ingress, e.ct_state));
    s.push_str(&format!("decided by: {}\n", e.decided_by.summary));
    match (e.expected, e.as_expected) {
        (Some(x), Some(true)) => s.push_str(&format!("expected:   {} — that is what happens\n", x.as_str())),
        (Some(x), _) => s.push_str(&format!("expected:   {} — but the packet is {}\n", x.as_str(), e.decided_by.verdict)),
        _ => {}
    }
    for w in &e.why_not {
        s.push_str(&format!("\nwhy not {}/{} rule {} (line {}): {}\n", w.rule.table, w.rule.chain, w.rule.index, w.rule.line, w.rule.text));
        for r in &w.reasons {
            s.push_str(&format!("  - {r}\n"));
        }
    }
    for n in &e.notes {
        s.push_str(&format!("\nnote: {n}\n"));
    }
    if !e.fixes.is_empty() {
        s.push_str("\nfixes (each applied to a copy of the ruleset and re-walked):\n");
    }
    for (i, f) in e.fixes.iter().enumerate() {
        if i > 0 {
            let changed: Vec<&str> = f.side_effects.iter().filter(|x| x.changed).map(|x| x.traffic.as_str()).collect();
            let also = if changed.is_empty() { "nothing else".to_string() } else { changed.join("; ") };
            s.push_str(&format!("{}. {}\n   verified; also changes: {also}\n", i + 1, f.command));
            continue;
        }
        s.push_str(&format!("\n{}. {}\n", i + 1, f.command));
        s.push_str(&format!("   {} — verified: {}\n", f.rationale, f.fate_after));
        for se in &f.side_effects {
            let verdict = |v: &str| v.split(' ').next().unwrap_or("").to_string();
            if se.changed {
                s.push_str(&format!("   also changes {}: yes ({} → {})\n", se.traffic, verdict(&se.before), verdict(&se.after)));
            } else {
                s.push_str(&format!("   also changes {}: no ({})\n", se.traffic, verdict(&se.after)));
            }
        }
        if e.fixes.len() > 1 {
            s.push_str("\nother verified fixes:\n");
        }
    }
    if e.fixes.is_empty() && e.as_expected == Some(false) {
        s.push_str("\nno verified fix found\n");
    }
    s
}
