//! `nfwalk lint`: findings about a ruleset, rendered like compiler diagnostics.

use anyhow::Result;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use nfwalk_analyze::{lint, Finding, LintInput, Severity};

use crate::args::{Format, LintArgs};
use crate::{demo_host, input};

#[derive(Debug)]
struct Report {
    f: Finding,
    src: NamedSource<String>,
    span: Option<SourceSpan>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, w: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(w, "{}", self.f.message)
    }
}
impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(format!("{}({})", self.f.code, self.f.name)))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.f.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let mut h = self.f.explanation.clone();
        if let Some(fix) = &self.f.fix {
            h.push_str(&format!("\nfix: {fix}"));
        }
        Some(Box::new(h))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.span.map(|_| &self.src as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(format!("{}:{}:{}", self.f.file, self.f.line, self.f.col)),
            span,
        ))))
    }
}

fn span(text: &str, f: &Finding) -> Option<SourceSpan> {
    if f.line == 0 {
        return None;
    }
    let mut off = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == f.line {
            let col: usize = l.chars().take(f.col.saturating_sub(1)).map(char::len_utf8).sum();
            let len: usize = l[col.min(l.len())..]
                .chars()
                .take(f.len.max(1))
                .map(char::len_utf8)
                .sum();
            return Some((off + col, len).into());
        }
        off += l.len();
    }
    None
}

/// Runs the subcommand; exit code 1 when there is a warning or an error.
pub fn run(a: LintArgs) -> Result<i32> {
    let host = input::load_host(&a.host)?;
    let (text, legacy_text) = match &a.host.snapshot {
        Some(dir) => (
            std::fs::read_to_string(dir.join("iptables-save.txt")).ok(),
            std::fs::read_to_string(dir.join("iptables-legacy-save.txt")).ok(),
        ),
        None if a.host.host.is_none() => (Some(demo_host::SEED_RULES.to_string()), None),
        None => (None, None),
    };
    let legacy = legacy_text
        .and_then(|t| nfwalk_parse::iptables::load("iptables-legacy-save.txt", &t).ok())
        .map(|l| l.ruleset);
    let findings = lint(&LintInput {
        host: &host,
        text: text.as_deref(),
        legacy: legacy.as_ref(),
    });
    match a.format {
        Format::Json | Format::Jsonl => println!("{}", serde_json::to_string_pretty(&findings)?),
        Format::Text => {
            let theme = if a.no_color || !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                GraphicalTheme::unicode_nocolor()
            } else {
                GraphicalTheme::unicode()
            };
            let handler = GraphicalReportHandler::new_themed(theme).with_width(110);
            for f in &findings {
                let src = text.clone().unwrap_or_default();
                let r = Report {
                    span: text.as_deref().and_then(|t| span(t, f)),
                    src: NamedSource::new(f.file.clone(), src),
                    f: f.clone(),
                };
                let mut out = String::new();
                if handler.render_report(&mut out, &r).is_ok() {
                    println!("{out}");
                } else {
                    println!(
                        "{}:{}:{}: {}[{}]: {}",
                        f.file, f.line, f.col, f.severity, f.code, f.message
                    );
                }
            }
            let n = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
            println!(
                "{} errors, {} warnings, {} notes",
                n(Severity::Error),
                n(Severity::Warning),
                n(Severity::Note)
            );
        }
    }
    Ok(if findings.iter().any(|f| f.severity != Severity::Note) {
        1
    } else {
        0
    })
}
