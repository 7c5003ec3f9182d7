//! The iptables ruleset parser: `iptables-save` / `ip6tables-save` dumps (with or without
//! `[packets:bytes]` counters), iptables-restore input, and `iptables -S` output.
//!
//! Errors are compiler-style [`Diagnostic`]s with file, line, column, the offending token and a
//! hint; all errors of a file are collected (up to [`MAX_ERRORS`]). Match modules and targets
//! nfwalk does not model are kept as [`MatchKind::Unknown`](nfwalk_model::MatchKind::Unknown) /
//! [`Target::Unknown`] with one warning per module and file.

mod diag;
mod lexer;
mod rule;
mod values;

pub use diag::{Diagnostic, LoadError, Severity};
pub use lexer::{split_restore_words, split_words, Word};

use nfwalk_model::ruleset::{Chain, Counters, Match, Rule, Ruleset, Table, TableName, Target, Verdict};
use std::collections::HashSet;

/// Errors after which loading stops collecting more.
pub const MAX_ERRORS: usize = 50;

/// A successfully loaded ruleset with the warnings and notes found while loading.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The ruleset.
    pub ruleset: Ruleset,
    /// Warnings and notes only (errors make the load fail).
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one rule's words after the chain, e.g. `["-p","tcp","--dport","22","-j","ACCEPT"]`,
/// as iptables would (also usable for `iptables -A` commands). `line` is used in diagnostics.
///
/// A `-j NAME` that is neither a target nfwalk knows nor one of iptables' other targets is
/// returned as [`Target::Jump`]; whether the chain exists is the caller's business.
pub fn parse_rule_words(
    file: &str,
    line: usize,
    words: &[Word],
    ipv6: bool,
) -> Result<(Vec<Match>, Target), Vec<Diagnostic>> {
    rule::parse_rule(file, line, words, ipv6).map(|r| (r.matches, r.target))
}

/// Detects the format (iptables-save with or without counters, ip6tables-save, `iptables -S`
/// output) and parses it. Text around the dump (shell prompts, prose) is skipped with a note
/// telling where the dump starts and ends.
pub fn load(file: &str, text: &str) -> Result<Loaded, LoadError> {
    // A UTF-8 byte order mark (files saved by some editors) is not part of the first line.
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(first) = lines.first_mut() {
        *first = first.trim_start_matches('\u{feff}');
    }
    let is_table_header = |l: &str| {
        let t = l.trim();
        t.len() > 1 && t.starts_with('*') && t[1..].chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut notes = Vec::new();
    let prose = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    if let Some(start) = lines.iter().position(|l| is_table_header(l)) {
        // Decide which lines belong to the dump: table blocks (`*table` .. `COMMIT`), comments,
        // and anything that looks like restore input (so that misplaced rules still error).
        let mut keep = vec![false; lines.len()];
        let mut in_block = false;
        let last_commit = lines.iter().rposition(|l| l.trim() == "COMMIT").unwrap_or(lines.len());
        let looks_restore = |t: &str| {
            let w: Vec<&str> = t.split_whitespace().collect();
            let word_ok = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric() || "_-.~".contains(c));
            match w.first() {
                Some(f) if f.starts_with(':') => word_ok(&f[1..]) && w.len() >= 2,
                Some(f) if f.starts_with('[') => parse_counters(f).is_some(),
                Some(&"-A") | Some(&"-I") | Some(&"-N") => w.get(1).is_some_and(|c| word_ok(c)),
                _ => false,
            }
        };
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim();
            keep[i] = if i < start {
                t.is_empty() || t.starts_with('#')
            } else if is_table_header(t) {
                in_block = true;
                true
            } else if t == "COMMIT" && (in_block || !l.starts_with(char::is_whitespace)) {
                in_block = false;
                true
            } else {
                in_block
                    || t.is_empty()
                    || t.starts_with('#')
                    || (i < last_commit && !l.starts_with(char::is_whitespace) && looks_restore(t))
            };
        }
        let last_dump = (0..lines.len())
            .rev()
            .find(|i| keep[*i] && !lines[*i].trim().is_empty())
            .unwrap_or(start);
        let mut i = 0;
        while i < lines.len() {
            if keep[i] || !prose(lines[i]) {
                i += 1;
                continue;
            }
            let a = i;
            while i < lines.len() && (!keep[i] || lines[i].trim().is_empty()) {
                i += 1;
            }
            let b = i; // exclusive
            let msg = if a < start {
                let first = (b..lines.len()).find(|i| !lines[*i].trim().is_empty()).unwrap_or(start);
                format!(
                    "the iptables-save dump starts at line {}; lines {}-{} before it are not part of the ruleset",
                    first + 1,
                    a + 1,
                    b
                )
            } else if a > last_dump {
                format!(
                    "the iptables-save dump ends at line {}; lines {}-{} after it are ignored",
                    last_dump + 1,
                    a + 1,
                    b
                )
            } else {
                format!(
                    "lines {}-{} between tables are not part of the dump and are skipped",
                    a + 1,
                    b
                )
            };
            notes.push(Diagnostic::note(file, a + 1, 1, lines[a].trim(), msg));
        }
        let kept: Vec<&str> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if keep[i] { *l } else { "" })
            .collect();
        return finish(file, text, parse_save_lines(file, &kept, 0, kept.len(), None), notes);
    }
    let is_cmd = |l: &str| {
        let t = l.trim_start();
        t.starts_with("-P ") || t.starts_with("-N ") || t.starts_with("-A ")
    };
    if let Some(start) = lines.iter().position(|l| is_cmd(l)) {
        let end = lines.iter().rposition(|l| is_cmd(l)).unwrap_or(start);
        if lines[..start].iter().any(|l| prose(l)) {
            notes.push(Diagnostic::note(
                file,
                start + 1,
                1,
                "",
                format!(
                    "the `iptables -S` listing starts at line {}; the text before it is not part of the ruleset",
                    start + 1
                ),
            ));
        }
        if lines.get(end + 1..).is_some_and(|rest| rest.iter().any(|l| prose(l))) {
            notes.push(Diagnostic::note(
                file,
                end + 1,
                1,
                "",
                format!(
                    "the `iptables -S` listing ends at line {}; the text after it is ignored",
                    end + 1
                ),
            ));
        }
        let (table, why) = guess_table(&lines[start..=end]);
        notes.push(Diagnostic::note(
            file,
            start + 1,
            1,
            "",
            format!("no *table header: read as `iptables -S` output of table {table} ({why})"),
        ));
        return finish(
            file,
            text,
            parse_dash_s_lines(file, &lines, start, end + 1, table),
            notes,
        );
    }
    Err(LoadError::new(
        file,
        text,
        vec![Diagnostic::error(file, 1, 1, lines.first().map(|l| l.trim()).unwrap_or(""), "no iptables ruleset found")
            .with_hint("expected iptables-save output (`*filter`, `:INPUT ACCEPT [0:0]`, `-A ...`, `COMMIT`) or `iptables -S` output (`-P INPUT ACCEPT`, `-A ...`)")],
    ))
}

fn finish(
    file: &str,
    text: &str,
    r: Result<Loaded, Vec<Diagnostic>>,
    mut notes: Vec<Diagnostic>,
) -> Result<Loaded, LoadError> {
    match r {
        Ok(mut l) => {
            notes.append(&mut l.diagnostics);
            l.diagnostics = notes;
            Ok(l)
        }
        Err(mut d) => {
            d.append(&mut notes);
            Err(LoadError::new(file, text, d))
        }
    }
}

/// Parses iptables-save / ip6tables-save output or iptables-restore input.
pub fn parse_save(file: &str, text: &str) -> Result<Loaded, LoadError> {
    let lines: Vec<&str> = text.lines().collect();
    parse_save_lines(file, &lines, 0, lines.len(), None).map_err(|d| LoadError::new(file, text, d))
}

/// Parses `iptables -S` output of one table (`-P`, `-N` and `-A` lines, no `*table` header).
pub fn parse_dash_s(file: &str, text: &str, table: TableName) -> Result<Loaded, LoadError> {
    let lines: Vec<&str> = text.lines().collect();
    parse_dash_s_lines(file, &lines, 0, lines.len(), table).map_err(|d| LoadError::new(file, text, d))
}

/// Guesses the table of an `iptables -S` listing from its built-in chains and targets.
fn guess_table(lines: &[&str]) -> (TableName, String) {
    let mut builtins = HashSet::new();
    let mut targets = HashSet::new();
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() >= 2 && (w[0] == "-P" || w[0] == "-A") && nfwalk_model::Hook::from_chain_name(w[1]).is_some() {
            builtins.insert(w[1].to_string());
        }
        if let Some(i) = w.iter().position(|x| *x == "-j") {
            if let Some(t) = w.get(i + 1) {
                targets.insert(t.to_string());
            }
        }
    }
    let has = |s: &str| builtins.contains(s);
    let ht = |s: &[&str]| s.iter().any(|t| targets.contains(*t));
    if ht(&["DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"]) {
        return (TableName::Nat, "it uses NAT targets".into());
    }
    if ht(&["NOTRACK", "CT"]) {
        return (TableName::Raw, "it uses NOTRACK/CT".into());
    }
    if ht(&["MARK", "TCPMSS", "CONNMARK", "DSCP", "CLASSIFY", "CHECKSUM"]) {
        return (TableName::Mangle, "it uses mangle targets".into());
    }
    if has("PREROUTING") && has("POSTROUTING") && (has("FORWARD") || has("INPUT")) {
        if has("FORWARD") {
            return (TableName::Mangle, "it has all five built-in chains".into());
        }
        return (TableName::Nat, "its built-in chains are those of nat".into());
    }
    if has("PREROUTING") && has("POSTROUTING") {
        return (TableName::Nat, "it has PREROUTING and POSTROUTING".into());
    }
    if has("PREROUTING") && !has("INPUT") && !has("FORWARD") {
        return (TableName::Raw, "its built-in chains are PREROUTING and OUTPUT".into());
    }
    (TableName::Filter, "its built-in chains are those of filter".into())
}

/// Whether the text looks like an IPv6 ruleset.
fn detect_ipv6(lines: &[&str]) -> bool {
    for l in lines {
        let t = l.trim();
        if t.starts_with('#') {
            if t.contains("ip6tables") {
                return true;
            }
            continue;
        }
        let w: Vec<&str> = t.split_whitespace().collect();
        for (i, x) in w.iter().enumerate() {
            match *x {
                "-s" | "-d" | "--source" | "--destination" | "--src" | "--dst" => {
                    if let Some(a) = w.get(i + 1).filter(|a| **a != "!").or_else(|| w.get(i + 2)) {
                        if a.contains(':') {
                            return true;
                        }
                        if a.contains('.') {
                            return false;
                        }
                    }
                }
                "ipv6-icmp" | "icmpv6" | "icmp6" | "--icmpv6-type" => return true,
                _ if x.starts_with("icmp6-") => return true,
                _ => {}
            }
        }
    }
    false
}

struct Builder<'a> {
    file: &'a str,
    ipv6: bool,
    rs: Ruleset,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    unknown_seen: HashSet<String>,
    /// Jumps to check when the table is complete: (table, chain, rule, target word).
    jumps: Vec<(usize, String, usize, Word, bool)>,
    dash_s: bool,
}

impl<'a> Builder<'a> {
    fn new(file: &'a str, ipv6: bool, dash_s: bool) -> Self {
        Builder {
            file,
            ipv6,
            rs: Ruleset {
                source: file.to_string(),
                ipv6,
                tables: Vec::new(),
            },
            errors: Vec::new(),
            warnings: Vec::new(),
            unknown_seen: HashSet::new(),
            jumps: Vec::new(),
            dash_s,
        }
    }

    fn err(&mut self, d: Diagnostic) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(d);
        }
    }

    fn too_many(&self) -> bool {
        self.errors.len() >= MAX_ERRORS
    }

    fn open_table(&mut self, name: TableName, line: usize, col: usize, tok: &str) -> usize {
        if let Some(i) = self.rs.tables.iter().position(|t| t.name == name) {
            self.warnings.push(
                Diagnostic::warning(
                    self.file,
                    line,
                    col,
                    tok,
                    format!(
                        "table {name} appears again; iptables-restore flushes it, so the earlier block is discarded"
                    ),
                )
                .with_hint("use iptables-restore --noflush semantics by merging the blocks into one"),
            );
            self.rs.tables.remove(i);
            self.jumps.retain(|j| j.0 != i);
            for j in self.jumps.iter_mut() {
                if j.0 > i {
                    j.0 -= 1;
                }
            }
        }
        let chains = name
            .hooks()
            .iter()
            .map(|h| Chain {
                name: h.chain_name().to_string(),
                policy: Some(Verdict::Accept),
                counters: None,
                line: 0,
                rules: Vec::new(),
            })
            .collect();
        self.rs.tables.push(Table { name, line, chains });
        self.rs.tables.len() - 1
    }

    /// Adds missing built-in chains and checks jump targets of table `ti`.
    fn close_table(&mut self, ti: usize) {
        let Some(t) = self.rs.tables.get_mut(ti) else {
            return;
        };
        let first_user = t
            .chains
            .iter()
            .position(|c| c.policy.is_none())
            .unwrap_or(t.chains.len());
        let mut insert_at = first_user;
        for h in t.name.hooks() {
            if t.chain(h.chain_name()).is_none() {
                t.chains.insert(
                    insert_at,
                    Chain {
                        name: h.chain_name().to_string(),
                        policy: Some(Verdict::Accept),
                        counters: None,
                        line: 0,
                        rules: Vec::new(),
                    },
                );
                insert_at += 1;
            }
        }
        let jumps: Vec<_> = self.jumps.iter().filter(|j| j.0 == ti).cloned().collect();
        self.jumps.retain(|j| j.0 != ti);
        for (_, _chain, line, word, goto) in jumps {
            let t = &mut self.rs.tables[ti];
            if t.chain(&word.text).is_some() {
                continue;
            }
            if self.dash_s {
                t.chains.push(Chain {
                    name: word.text.clone(),
                    policy: None,
                    counters: None,
                    line: 0,
                    rules: Vec::new(),
                });
                self.warnings.push(Diagnostic::note(self.file, line, word.col, &word.text, format!("chain {} is not declared in this listing (partial `iptables -S CHAIN` output?); it is taken as an empty user chain", word.text)));
                continue;
            }
            let names: Vec<String> = t.chains.iter().map(|c| c.name.clone()).collect();
            let tname = t.name;
            let hint = values::did_you_mean(&word.text, names.iter().map(|s| s.as_str()))
                .unwrap_or_else(|| format!("declare it with `:{} - [0:0]` after the *{} header", word.text, tname));
            self.err(
                Diagnostic::error(
                    self.file,
                    line,
                    word.col,
                    &word.text,
                    format!(
                        "{} to a chain that does not exist in table {}",
                        if goto { "goto" } else { "jump" },
                        tname
                    ),
                )
                .with_hint(hint),
            );
        }
    }

    fn note_unknowns(&mut self, line: usize, unknown: &[(&'static str, String, usize)]) {
        for (kind, name, col) in unknown {
            if self.unknown_seen.insert(format!("{kind}:{name}")) {
                let msg = if *kind == "match" {
                    format!("match module `{name}` is not modelled; its rules are kept and a walk cannot decide them")
                } else {
                    format!("target `{name}` is not modelled; its rules are kept and a walk cannot decide them")
                };
                self.warnings
                    .push(Diagnostic::warning(self.file, line, *col, name, msg));
            }
        }
    }

    /// `-N CHAIN` (iptables-restore input and `-S` output alike).
    fn new_chain(&mut self, ti: usize, name: Option<&Word>, cmd: &Word, line: usize) {
        match name {
            Some(c) if self.rs.tables[ti].chain(&c.text).is_none() => {
                self.rs.tables[ti].chains.push(Chain {
                    name: c.text.clone(),
                    policy: None,
                    counters: None,
                    line,
                    rules: Vec::new(),
                });
            }
            Some(c) => self.err(Diagnostic::error(
                self.file,
                line,
                c.col,
                &c.text,
                "chain already exists",
            )),
            None => self.err(Diagnostic::error(
                self.file,
                line,
                cmd.col,
                &cmd.text,
                "-N needs a chain name",
            )),
        }
    }

    /// Parses the rule words and adds the rule to chain `chain` of table `ti` at `pos`.
    #[allow(clippy::too_many_arguments)]
    fn add_rule(
        &mut self,
        ti: usize,
        chain: &Word,
        pos: Option<(usize, &Word)>,
        words: &[Word],
        line: usize,
        text: &str,
        counters: Option<Counters>,
    ) {
        let Some(ci) = self.rs.tables[ti].chain_index(&chain.text) else {
            if self.dash_s {
                self.rs.tables[ti].chains.push(Chain {
                    name: chain.text.clone(),
                    policy: nfwalk_model::Hook::from_chain_name(&chain.text).map(|_| Verdict::Accept),
                    counters: None,
                    line: 0,
                    rules: Vec::new(),
                });
                self.warnings.push(Diagnostic::note(
                    self.file,
                    line,
                    chain.col,
                    &chain.text,
                    format!("chain {} has no -N/-P line in this listing; created", chain.text),
                ));
                return self.add_rule(ti, chain, pos, words, line, text, counters);
            }
            let t = &self.rs.tables[ti];
            let names: Vec<&str> = t.chains.iter().map(|c| c.name.as_str()).collect();
            let hint = values::did_you_mean(&chain.text, names.iter().copied())
                .unwrap_or_else(|| format!("declare it with `:{} - [0:0]` after the *{} header", chain.text, t.name));
            self.err(
                Diagnostic::error(
                    self.file,
                    line,
                    chain.col,
                    &chain.text,
                    format!("unknown chain in table {}", t.name),
                )
                .with_hint(hint),
            );
            return;
        };
        let mut parsed = match rule::parse_rule(self.file, line, words, self.ipv6) {
            Ok(p) => p,
            Err(es) => {
                for e in es {
                    self.err(e);
                }
                return;
            }
        };
        // `-j NAME` where NAME is a user chain of this table is a jump, even when NAME is also
        // a target nfwalk does not model (iptables checks for a chain first).
        if let Target::Unknown { name, .. } = parsed.target.clone() {
            if self.rs.tables[ti]
                .chains
                .iter()
                .any(|c| c.name == name && c.policy.is_none())
            {
                if let Some(w) = words.iter().find(|w| w.text == name) {
                    parsed.target_word = Some(w.clone());
                }
                parsed.target_had_opts = false;
                parsed.target = Target::Jump { chain: name.clone() };
                parsed.unknown.retain(|u| !(u.0 == "target" && u.1 == name));
            }
        }
        self.note_unknowns(line, &parsed.unknown);
        for w in parsed.warnings {
            // One warning per distinct message and file (anonymised dumps repeat them).
            if self.unknown_seen.insert(format!("warn:{}", w.message)) {
                self.warnings.push(w);
            }
        }
        if let Some(w) = &parsed.target_word {
            if !parsed.target_had_opts {
                self.jumps.push((ti, chain.text.clone(), line, w.clone(), false));
            }
        }
        if let Target::Goto { chain: c } = &parsed.target {
            if let Some(w) = words.iter().find(|w| &w.text == c) {
                self.jumps.push((ti, chain.text.clone(), line, w.clone(), true));
            }
        }
        let rule = Rule {
            line,
            text: text.to_string(),
            counters: counters.or(parsed.counters),
            matches: parsed.matches,
            target: parsed.target,
        };
        let rules = &mut self.rs.tables[ti].chains[ci].rules;
        match pos {
            None => rules.push(rule),
            Some((n, w)) => {
                if n == 0 || n > rules.len() + 1 {
                    let len = rules.len();
                    self.err(
                        Diagnostic::error(
                            self.file,
                            line,
                            w.col,
                            &w.text,
                            format!(
                                "insert position {n} is out of range; chain {} has {len} rule(s)",
                                chain.text
                            ),
                        )
                        .with_hint("positions start at 1"),
                    );
                } else {
                    rules.insert(n - 1, rule);
                }
            }
        }
    }

    fn result(mut self) -> Result<Loaded, Vec<Diagnostic>> {
        if self.errors.len() >= MAX_ERRORS {
            self.errors.push(Diagnostic::note(
                self.file,
                self.errors.last().map(|e| e.line).unwrap_or(1),
                1,
                "",
                format!("stopped after {MAX_ERRORS} errors"),
            ));
        }
        if self.errors.is_empty() {
            Ok(Loaded {
                ruleset: self.rs,
                diagnostics: self.warnings,
            })
        } else {
            self.errors.append(&mut self.warnings);
            Err(self.errors)
        }
    }
}

fn parse_counters(s: &str) -> Option<Counters> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let (p, b) = inner.split_once(':')?;
    Some(Counters {
        packets: p.trim().parse().ok()?,
        bytes: b.trim().parse().ok()?,
    })
}

fn parse_save_lines(
    file: &str,
    lines: &[&str],
    start: usize,
    end: usize,
    force_ipv6: Option<bool>,
) -> Result<Loaded, Vec<Diagnostic>> {
    let end = end.min(lines.len());
    let start = start.min(end);
    let ipv6 = force_ipv6.unwrap_or_else(|| detect_ipv6(&lines[start..end]));
    let mut b = Builder::new(file, ipv6, false);
    // Current table index; `Err(())` while skipping an unknown table's block.
    let mut cur: Option<Result<usize, ()>> = None;
    let mut cur_header = (0usize, String::new());
    for (idx, raw) in lines.iter().enumerate().take(end).skip(start) {
        if b.too_many() {
            break;
        }
        let line = idx + 1;
        let l = raw.trim_end();
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let lead = l.len() - t.len();
        let col0 = l[..lead].chars().count() + 1;
        if let Some(name) = t.strip_prefix('*') {
            if let Some(Ok(ti)) = cur {
                b.err(
                    Diagnostic::error(
                        file,
                        line,
                        col0,
                        t,
                        format!("table {} (line {}) is not closed by COMMIT", cur_header.1, cur_header.0),
                    )
                    .with_hint(format!("add a line COMMIT before line {line}")),
                );
                b.close_table(ti);
            }
            let name = name.trim();
            match TableName::parse(name) {
                Some(tn) => {
                    cur = Some(Ok(b.open_table(tn, line, col0, t)));
                    cur_header = (line, tn.to_string());
                }
                None => {
                    b.err(
                        Diagnostic::error(file, line, col0 + 1, name, "unknown table").with_opt_hint(
                            values::did_you_mean(name, TableName::ALL.iter().map(|t| t.as_str()))
                                .or_else(|| Some("tables are filter, nat, mangle, raw, security".into())),
                        ),
                    );
                    cur = Some(Err(()));
                }
            }
            continue;
        }
        if t == "COMMIT" {
            match cur.take() {
                Some(Ok(ti)) => b.close_table(ti),
                Some(Err(())) => {}
                None => b.err(
                    Diagnostic::error(file, line, col0, t, "COMMIT without a *table header")
                        .with_hint("remove it, or add a `*filter`-like header before the rules"),
                ),
            }
            continue;
        }
        let ti = match cur {
            Some(Ok(ti)) => ti,
            Some(Err(())) => continue,
            None => {
                let what = if t.starts_with(':') {
                    "chain declaration"
                } else {
                    "line"
                };
                b.err(
                    Diagnostic::error(
                        file,
                        line,
                        col0,
                        t.split_whitespace().next().unwrap_or(t),
                        format!("{what} before any *table header"),
                    )
                    .with_hint("iptables-restore input starts each table with a line like `*filter`"),
                );
                continue;
            }
        };
        let words = match split_restore_words(l) {
            Ok(w) => w,
            Err((col, msg)) => {
                b.err(
                    Diagnostic::error(
                        file,
                        line,
                        col,
                        &l.chars().skip(col - 1).take(1).collect::<String>(),
                        msg,
                    )
                    .with_hint("close the quote"),
                );
                continue;
            }
        };
        let Some(first) = words.first() else { continue };
        if let Some(chain) = first.text.strip_prefix(':') {
            if chain.is_empty() {
                b.err(Diagnostic::error(
                    file,
                    line,
                    first.col,
                    &first.text,
                    "missing chain name",
                ));
                continue;
            }
            let pol = words.get(1);
            let counters = match words.get(2) {
                Some(w) => match parse_counters(&w.text) {
                    Some(c) => Some(c),
                    None => {
                        b.err(
                            Diagnostic::error(file, line, w.col, &w.text, "bad chain counters")
                                .with_hint("counters look like [packets:bytes], e.g. [0:0]"),
                        );
                        continue;
                    }
                },
                None => None,
            };
            let table = b.rs.tables[ti].name;
            let builtin = table.hooks().iter().any(|h| h.chain_name() == chain);
            let policy = match pol.map(|p| p.text.as_str()) {
                Some("ACCEPT") => Some(Verdict::Accept),
                Some("DROP") => Some(Verdict::Drop),
                Some("-") | None => None,
                Some(_) => {
                    let p = pol.cloned().unwrap_or_else(|| first.clone());
                    b.err(
                        Diagnostic::error(file, line, p.col, &p.text, "bad chain policy").with_opt_hint(
                            values::did_you_mean(&p.text, ["ACCEPT", "DROP", "-"]).or(Some(
                                "the policy is ACCEPT or DROP for built-in chains, `-` for user chains".into(),
                            )),
                        ),
                    );
                    continue;
                }
            };
            if policy.is_some() && !builtin {
                let p = pol.cloned().unwrap_or_else(|| first.clone());
                b.err(
                    Diagnostic::error(
                        file,
                        line,
                        p.col,
                        &p.text,
                        format!("{chain} is not a built-in chain of table {table}, so it cannot have a policy"),
                    )
                    .with_hint(format!("write `:{chain} - [0:0]` for a user chain")),
                );
                continue;
            }
            let chains = &mut b.rs.tables[ti].chains;
            if let Some(c) = chains
                .iter_mut()
                .find(|c| c.name == chain && c.line == 0 && c.policy.is_some())
            {
                c.policy = Some(policy.unwrap_or(Verdict::Accept));
                c.counters = counters;
                c.line = line;
                continue;
            }
            if chains.iter().any(|c| c.name == chain) {
                b.err(Diagnostic::error(
                    file,
                    line,
                    first.col,
                    &first.text,
                    format!("chain {chain} is declared twice"),
                ));
                continue;
            }
            chains.push(Chain {
                name: chain.to_string(),
                policy: if builtin {
                    Some(policy.unwrap_or(Verdict::Accept))
                } else {
                    None
                },
                counters,
                line,
                rules: Vec::new(),
            });
            continue;
        }
        // `[p:b] -A ...`
        let (counters, cmd_i) = if first.text.starts_with('[') {
            match parse_counters(&first.text) {
                Some(c) => (Some(c), 1),
                None => {
                    b.err(
                        Diagnostic::error(file, line, first.col, &first.text, "bad rule counters")
                            .with_hint("counters look like [packets:bytes], e.g. [0:0]"),
                    );
                    continue;
                }
            }
        } else {
            (None, 0)
        };
        let text = match words.get(cmd_i) {
            Some(w) => l.chars().skip(w.col - 1).collect::<String>(),
            None => {
                b.err(Diagnostic::error(
                    file,
                    line,
                    first.col,
                    &first.text,
                    "counters without a rule",
                ));
                continue;
            }
        };
        let cmd = &words[cmd_i];
        let rest = &words[cmd_i + 1..];
        let table_name = b.rs.tables[ti].name;
        match cmd.text.as_str() {
            "-A" | "--append" | "-I" | "--insert" => {
                let Some(chain) = rest.first() else {
                    b.err(Diagnostic::error(
                        file,
                        line,
                        cmd.col,
                        &cmd.text,
                        format!("{} needs a chain name", cmd.text),
                    ));
                    continue;
                };
                let mut rw = &rest[1..];
                let mut pos = None;
                if cmd.text.starts_with("-I") || cmd.text == "--insert" {
                    match rw
                        .first()
                        .filter(|w| w.text.bytes().all(|c| c.is_ascii_digit()) && !w.text.is_empty())
                    {
                        Some(w) => {
                            pos = Some((w.text.parse::<usize>().unwrap_or(usize::MAX), w));
                            rw = &rw[1..];
                        }
                        None => pos = Some((1, chain)),
                    }
                }
                b.add_rule(ti, chain, pos, rw, line, &text, counters);
            }
            "-N" | "--new-chain" => b.new_chain(ti, rest.first(), cmd, line),
            "-P" | "--policy" => {
                let (Some(c), Some(p)) = (rest.first(), rest.get(1)) else {
                    b.err(Diagnostic::error(
                        file,
                        line,
                        cmd.col,
                        &cmd.text,
                        "-P needs a chain and a policy",
                    ));
                    continue;
                };
                let v = match p.text.as_str() {
                    "ACCEPT" => Verdict::Accept,
                    "DROP" => Verdict::Drop,
                    _ => {
                        b.err(Diagnostic::error(file, line, p.col, &p.text, "bad policy").with_hint("ACCEPT or DROP"));
                        continue;
                    }
                };
                match b.rs.tables[ti].chain_mut(&c.text) {
                    Some(ch) if ch.policy.is_some() => ch.policy = Some(v),
                    Some(_) => b.err(Diagnostic::error(
                        file,
                        line,
                        c.col,
                        &c.text,
                        "only built-in chains have a policy",
                    )),
                    None if table_name.hooks().iter().any(|h| h.chain_name() == c.text) => {
                        b.rs.tables[ti].chains.push(Chain {
                            name: c.text.clone(),
                            policy: Some(v),
                            counters: None,
                            line,
                            rules: Vec::new(),
                        });
                    }
                    None => b.err(Diagnostic::error(
                        file,
                        line,
                        c.col,
                        &c.text,
                        format!("unknown chain in table {table_name}"),
                    )),
                }
            }
            "-F" | "--flush" => match rest.first() {
                Some(c) => match b.rs.tables[ti].chain_mut(&c.text) {
                    Some(ch) => ch.rules.clear(),
                    None => b.err(Diagnostic::error(
                        file,
                        line,
                        c.col,
                        &c.text,
                        format!("unknown chain in table {table_name}"),
                    )),
                },
                None => {
                    for ch in b.rs.tables[ti].chains.iter_mut() {
                        ch.rules.clear();
                    }
                }
            },
            other => {
                let hint = if other.starts_with('-') {
                    "nfwalk reads -A, -I, -N, -P and -F commands in restore files"
                } else {
                    "rules start with -A CHAIN; chain declarations with :CHAIN"
                };
                b.err(
                    Diagnostic::error(
                        file,
                        line,
                        cmd.col,
                        other,
                        if other.starts_with('-') {
                            "unsupported command in a restore file"
                        } else {
                            "unexpected line"
                        },
                    )
                    .with_hint(hint),
                );
            }
        }
    }
    if let Some(Ok(ti)) = cur {
        let last = (start..end)
            .rev()
            .find(|i| !lines[*i].trim().is_empty())
            .map(|i| i + 1)
            .unwrap_or(end.max(1));
        b.err(
            Diagnostic::error(
                file,
                last,
                1,
                "",
                format!("table {} (line {}) is not closed by COMMIT", cur_header.1, cur_header.0),
            )
            .with_hint("add a line COMMIT at the end of the table"),
        );
        b.close_table(ti);
    }
    b.result()
}

fn parse_dash_s_lines(
    file: &str,
    lines: &[&str],
    start: usize,
    end: usize,
    table: TableName,
) -> Result<Loaded, Vec<Diagnostic>> {
    let end = end.min(lines.len());
    let start = start.min(end);
    let ipv6 = detect_ipv6(&lines[start..end]);
    let mut b = Builder::new(file, ipv6, true);
    let ti = b.open_table(table, start + 1, 1, "");
    for (idx, raw) in lines.iter().enumerate().take(end).skip(start) {
        if b.too_many() {
            break;
        }
        let line = idx + 1;
        let l = raw.trim_end();
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let words = match split_words(l) {
            Ok(w) => w,
            Err((col, msg)) => {
                b.err(Diagnostic::error(file, line, col, "", msg));
                continue;
            }
        };
        let Some(cmd) = words.first() else { continue };
        match cmd.text.as_str() {
            "-P" => {
                let (Some(c), Some(p)) = (words.get(1), words.get(2)) else {
                    b.err(Diagnostic::error(
                        file,
                        line,
                        cmd.col,
                        &cmd.text,
                        "-P needs a chain and a policy",
                    ));
                    continue;
                };
                let v = match p.text.as_str() {
                    "ACCEPT" => Verdict::Accept,
                    "DROP" => Verdict::Drop,
                    _ => {
                        b.err(Diagnostic::error(file, line, p.col, &p.text, "bad policy").with_hint("ACCEPT or DROP"));
                        continue;
                    }
                };
                if !table.hooks().iter().any(|h| h.chain_name() == c.text) {
                    b.err(Diagnostic::error(
                        file,
                        line,
                        c.col,
                        &c.text,
                        format!("{} is not a built-in chain of table {table}", c.text),
                    ));
                    continue;
                }
                match b.rs.tables[ti].chain_mut(&c.text) {
                    Some(ch) => ch.policy = Some(v),
                    None => b.rs.tables[ti].chains.push(Chain {
                        name: c.text.clone(),
                        policy: Some(v),
                        counters: None,
                        line,
                        rules: Vec::new(),
                    }),
                }
            }
            "-N" => b.new_chain(ti, words.get(1), cmd, line),
            "-A" => {
                let Some(chain) = words.get(1) else {
                    b.err(Diagnostic::error(
                        file,
                        line,
                        cmd.col,
                        &cmd.text,
                        "-A needs a chain name",
                    ));
                    continue;
                };
                let text = l.chars().skip(cmd.col - 1).collect::<String>();
                b.add_rule(ti, chain, None, &words[2..], line, &text, None);
            }
            other => {
                b.err(
                    Diagnostic::error(file, line, cmd.col, other, "unexpected line in `iptables -S` output")
                        .with_hint("expected -P, -N or -A"),
                );
            }
        }
    }
    b.close_table(ti);
    b.result()
}

#[cfg(test)]
mod tests;
