//! The text view: per hook, per table and chain, every rule evaluated.

use nfwalk_walk::{Event, Fate, Ingress, RuleResult, Trace};
use std::fmt::Write;

/// Colour choice.
#[derive(Clone, Copy)]
pub struct Style {
    /// Emit ANSI colours.
    pub color: bool,
    /// Only rules that matched.
    pub brief: bool,
}

impl Style {
    /// Colour when stdout is a terminal, NO_COLOR is unset and --no-color was not given.
    pub fn detect(no_color: bool, brief: bool) -> Style {
        use std::io::IsTerminal;
        Style {
            color: !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal(),
            brief,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// Renders one trace.
pub fn render(t: &Trace, st: Style) -> String {
    let mut o = String::new();
    let from = match &t.ingress {
        Ingress::Iface { iface, physin } => match physin {
            Some(p) => format!("arriving on {iface} (port {p})"),
            None => format!("arriving on {iface}"),
        },
        Ingress::Local => "sent by a local process".into(),
    };
    let _ = writeln!(o, "{} {}", st.bold(&t.packet.summary()), from);
    let mut chain_shown: Option<(String, String)> = None;
    for e in &t.events {
        match e {
            Event::Hook {
                hook,
                in_,
                out,
                physin,
                physout,
                packet,
            } => {
                chain_shown = None;
                let mut ifs = format!("in={} out={}", opt(in_), opt(out));
                if physin.is_some() || physout.is_some() {
                    let _ = write!(ifs, " physin={} physout={}", opt(physin), opt(physout));
                }
                let _ = writeln!(
                    o,
                    "\n{}  {}  {}",
                    st.bold(&st.cyan(hook.chain_name())),
                    ifs,
                    st.dim(&packet.summary())
                );
            }
            Event::Table { .. } => {}
            Event::TableSkipped { table, reason, .. } => {
                let _ = writeln!(o, "  {} {}", st.dim(&format!("{table}: skipped —")), st.dim(reason));
            }
            Event::Conntrack { note } => {
                let _ = writeln!(o, "  {} {}", st.yellow("conntrack:"), note);
            }
            Event::Rule { rule, result, .. } => {
                if st.brief && !matches!(result, RuleResult::Matched { .. }) {
                    continue;
                }
                let key = (rule.table.to_string(), rule.chain.to_string());
                if chain_shown.as_ref() != Some(&key) {
                    let _ = writeln!(o, "  {}", st.bold(&format!("{}/{}", rule.table, rule.chain)));
                    chain_shown = Some(key);
                }
                let head = format!("    {:>3}  line {:<4} {}", rule.index, rule.line, rule.text);
                match result {
                    RuleResult::Matched { verdict } => {
                        let _ = writeln!(o, "{head}\n         {} {}", st.green("matched →"), st.green(verdict));
                    }
                    RuleResult::Failed { condition, seen } => {
                        let _ = writeln!(
                            o,
                            "{}\n         {}",
                            st.dim(&head),
                            st.dim(&format!("no: {condition} (packet has {seen})"))
                        );
                    }
                    RuleResult::Unknown { reason } => {
                        let _ = writeln!(
                            o,
                            "{head}\n         {}",
                            st.yellow(&format!("cannot decide here: {reason}"))
                        );
                    }
                }
            }
            Event::Policy {
                table, chain, verdict, ..
            } => {
                let key = (table.to_string(), chain.clone());
                if chain_shown.as_ref() != Some(&key) {
                    let _ = writeln!(o, "  {}", st.bold(&format!("{table}/{chain}")));
                    chain_shown = Some(key);
                }
                let v = if verdict == "DROP" {
                    st.red(verdict)
                } else {
                    st.green(verdict)
                };
                let _ = writeln!(o, "    end of chain: policy {v}");
            }
            Event::Rewrite {
                field,
                from,
                to,
                by,
                note,
                ..
            } => {
                let who = match by {
                    Some(r) => format!("by {}/{} line {}", r.table, r.chain, r.line),
                    None => "by conntrack".into(),
                };
                let kind = match (field.as_str(), by.as_ref().map(|r| r.text.contains("DNAT"))) {
                    ("dst", Some(true)) => "DNAT".to_string(),
                    ("dst", _) => "dst".to_string(),
                    ("src", _) => "src".to_string(),
                    (f, _) => f.to_string(),
                };
                let _ = writeln!(
                    o,
                    "  {} {} → {} {}  {}",
                    st.yellow(&kind.to_string()),
                    from,
                    to,
                    who,
                    st.dim(&format!("({note})"))
                );
            }
            Event::Route { decision } => {
                let _ = writeln!(o, "\n{} {}", st.bold("routing:"), decision);
            }
            Event::Log { line } => {
                let _ = writeln!(o, "  {} {}", st.yellow("log:"), line);
            }
            Event::Note { text } => {
                let _ = writeln!(o, "  {} {}", st.dim("note:"), text);
            }
        }
    }
    let fate = t.fate.describe();
    let fate = match &t.fate {
        Fate::DeliveredLocally | Fate::Forwarded { .. } | Fate::Bridged { .. } => st.green(&fate),
        Fate::Undecided { .. } => st.yellow(&fate),
        _ => st.red(&fate),
    };
    let _ = writeln!(o, "\n{} {}  (conntrack state {})", st.bold("fate:"), fate, t.ct_state);
    if t.final_packet != t.packet && !matches!(t.fate, Fate::Dropped { .. } | Fate::Discarded { .. }) {
        let _ = writeln!(o, "      leaves as {}", t.final_packet.summary());
    }
    for (cond, fate) in &t.alternatives {
        let _ = writeln!(o, "      {cond}: {fate}");
    }
    for g in &t.generated {
        let _ = writeln!(o, "\n{}", st.bold("── reply generated by the host ──"));
        o.push_str(&render(g, st));
    }
    o
}
