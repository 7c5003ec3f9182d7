//! Compiler-style diagnostics for ruleset loading, and the error type that carries them.

use serde::Serialize;
use std::fmt;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input is invalid; iptables-restore would reject it.
    Error,
    /// The input loads, but part of it is not modelled or looks suspicious.
    Warning,
    /// Information about how the input was read.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem found while loading, compiler-style.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub col: usize,
    /// The offending token (may be empty, e.g. at end of line).
    pub token: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is an idea.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A new error.
    pub fn error(file: &str, line: usize, col: usize, token: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line,
            col,
            token: token.to_string(),
            message: message.into(),
            hint: None,
        }
    }

    /// A new warning.
    pub fn warning(file: &str, line: usize, col: usize, token: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, line, col, token, message)
        }
    }

    /// A new note.
    pub fn note(file: &str, line: usize, col: usize, token: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(file, line, col, token, message)
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    pub fn with_opt_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.col, self.severity, self.message
        )?;
        if !self.token.is_empty() {
            write!(f, ": `{}`", self.token)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Loading failed: the errors (and any warnings/notes found on the way), with the source text
/// so that `miette` can render the offending lines with a caret.
#[derive(Debug, Clone)]
pub struct LoadError {
    /// Every diagnostic, errors first in file order, then warnings and notes.
    pub diagnostics: Vec<Diagnostic>,
    /// The text that was loaded.
    pub source_text: String,
    named: miette::NamedSource<String>,
}

impl LoadError {
    /// Builds the error from diagnostics and the loaded text.
    pub fn new(file: &str, source_text: &str, mut diagnostics: Vec<Diagnostic>) -> LoadError {
        diagnostics.sort_by_key(|d| (!d.is_error(), d.line, d.col));
        LoadError {
            diagnostics,
            source_text: source_text.to_string(),
            named: miette::NamedSource::new(file, source_text.to_string()),
        }
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Byte span of a diagnostic's token in the source text.
    fn span(&self, d: &Diagnostic) -> miette::SourceSpan {
        let mut off = 0usize;
        for (i, l) in self.source_text.split_inclusive('\n').enumerate() {
            if i + 1 == d.line {
                let body = l.trim_end_matches(['\n', '\r']);
                let start: usize = body
                    .char_indices()
                    .nth(d.col.saturating_sub(1))
                    .map(|(b, _)| b)
                    .unwrap_or(body.len());
                let len = d.token.len().min(body.len() - start);
                return (off + start, len).into();
            }
            off += l.len();
        }
        (self.source_text.len(), 0).into()
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors().count();
        write!(
            f,
            "{n} error{} while loading the ruleset",
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

impl miette::Diagnostic for LoadError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("nfwalk::iptables::load"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let hints: Vec<String> = self
            .errors()
            .filter_map(|d| d.hint.as_ref().map(|h| format!("line {}: {h}", d.line)))
            .collect();
        if hints.is_empty() {
            None
        } else {
            Some(Box::new(hints.join("\n")))
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.named)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.errors().map(|d| {
            miette::LabeledSpan::new_with_span(Some(d.message.clone()), self.span(d))
        })))
    }
}
