//! Loads every iptables-save / ip6tables-save / `iptables -S` file of the shared corpus.
//!
//! The corpus lives outside the repository (`../shared/corpus` relative to the workspace root)
//! and must never be copied in; the tests skip with a message when it is absent.

use nfwalk_parse::iptables::{load, parse_rule_words, split_words, Severity};
use std::path::{Path, PathBuf};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Files that are genuinely invalid input (iptables-restore would reject them).
const ALLOWLIST: &[(&str, &str)] = &[
    // A web page copy of a dump where a long line was wrapped in the middle of `--ctstate`
    // (`--cts  ...  tate NEW`); `--cts` is also an ambiguous abbreviation (ctstate/ctstatus).
    (
        "net-network/found_online/openwrt.org/iptables-save-AA.txt",
        "line wrapped inside an option",
    ),
    // A parser test of the Isabelle iptables semantics: `--something-else` is deliberately not
    // an option of the udp module (iptables: "unknown option").
    (
        "iptables-semantics/thy/Iptables_Semantics/Examples/Parser_Test/data/iptables-save",
        "deliberately invalid option",
    ),
    // kube-proxy's test format drops quotes: `--comment kubernetes health check service ports`
    // is several words, iptables-restore rejects `health`.
    (
        "kube-proxy/iptables/proxier_test.go__TestTracePackets.rules",
        "unquoted multi-word comment",
    ),
    // `-p udp -m tcp --dport 53`: the kernel refuses the tcp match for udp packets.
    (
        "net-network/configs_serverfault/759927-info.txt",
        "-m tcp on a -p udp rule",
    ),
    // ufw's rule fragments jump to chains declared in its other files (ufw loads them together,
    // with --noflush); on their own they reference undefined chains.
    // A notebook mixing several dumps, diffs and rule templates with shell variables
    // (`-s $WebFrnt_ipv4`); the templates are not restore input.
    (
        "net-network/configs_corny_docker/docker.txt",
        "templates with $variables",
    ),
    (
        "ufw/conf/after.rules",
        "fragment: ufw-skip-to-policy-input is defined elsewhere",
    ),
    (
        "ufw/conf/after6.rules",
        "fragment: ufw6-skip-to-policy-input is defined elsewhere",
    ),
    (
        "ufw/conf/before.rules",
        "fragment: ufw-logging-deny is defined elsewhere",
    ),
    (
        "ufw/conf/before6.rules",
        "fragment: ufw6-logging-deny is defined elsewhere",
    ),
];

/// iptables-save content: a `*table` line followed (after comments) by a `:CHAIN` line.
fn is_save(text: &str) -> bool {
    // Output of the fffuu tool (Haskell `ParsedMatch` dumps) quotes rules but is not a dump.
    if text.contains("`ParsedMatch") || text.contains("`ParsedAction") {
        return false;
    }
    let lines: Vec<&str> = text.lines().map(|l| l.trim()).collect();
    lines.iter().enumerate().any(|(i, l)| {
        matches!(*l, "*filter" | "*nat" | "*raw" | "*mangle" | "*security")
            && lines[i + 1..]
                .iter()
                .find(|n| !n.is_empty() && !n.starts_with('#'))
                .is_some_and(|n| n.starts_with(':'))
    })
}

/// `iptables -S` output: only -P/-N/-A lines (moby goldens named *iptables*).
fn is_dash_s(path: &Path, text: &str) -> bool {
    let name = path.to_string_lossy();
    let ls: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    name.contains("iptables")
        && !ls.is_empty()
        && ls.iter().any(|l| l.starts_with("-P ") || l.starts_with("-A "))
        && ls
            .iter()
            .all(|l| l.starts_with("-P ") || l.starts_with("-N ") || l.starts_with("-A "))
}

#[test]
fn corpus_dumps_load() {
    let root = corpus_root();
    if !root.is_dir() {
        eprintln!("corpus not found at {}; skipping", root.display());
        return;
    }
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let (mut save, mut dash_s, mut rules, mut unknown_rules, mut warnings) = (0, 0, 0, 0, 0);
    let mut failed = Vec::new();
    let mut allowed = 0;
    for p in &files {
        let rel = p.strip_prefix(&root).unwrap_or(p).to_string_lossy().to_string();
        if rel.ends_with(".t") || rel.ends_with(".txlate") || rel.ends_with(".md") {
            continue;
        }
        let Ok(bytes) = std::fs::read(p) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let kind = if is_save(&text) {
            "save"
        } else if is_dash_s(p, &text) {
            "-S"
        } else {
            continue;
        };
        match load(&rel, &text) {
            Ok(l) => {
                if kind == "save" {
                    save += 1;
                } else {
                    dash_s += 1;
                }
                let rs = l.ruleset.rules().count();
                rules += rs;
                unknown_rules += l.ruleset.rules().filter(|(_, _, r)| r.has_unknown()).count();
                warnings += l.diagnostics.iter().filter(|d| d.severity == Severity::Warning).count();
            }
            Err(e) => {
                if let Some((_, why)) = ALLOWLIST.iter().find(|(f, _)| *f == rel) {
                    allowed += 1;
                    eprintln!("allowlisted {rel}: {why}");
                    continue;
                }
                let first: Vec<String> = e.errors().take(3).map(|d| d.to_string()).collect();
                failed.push(format!("{rel}:\n    {}", first.join("\n    ")));
            }
        }
    }
    eprintln!(
        "corpus: {save} iptables-save files and {dash_s} `-S` files loaded ({rules} rules, {unknown_rules} with unmodelled parts, {warnings} warnings); {allowed} allowlisted; {} failed",
        failed.len()
    );
    assert!(save > 300, "expected the corpus to hold 300+ save files, found {save}");
    assert!(
        failed.is_empty(),
        "{} corpus files failed to load:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// iptables' own per-extension vectors: `RULE;EXPECTED;OK|FAIL`.
#[test]
fn iptables_t_vectors() {
    let dir = corpus_root().join("iptables-tests/extensions");
    if !dir.is_dir() {
        eprintln!("iptables tests not found; skipping");
        return;
    }
    // Extensions nfwalk models; OK cases of these must parse.
    const MODELLED: &[&str] = &[
        "tcp",
        "udp",
        "sctp",
        "icmp",
        "icmp6",
        "multiport",
        "conntrack",
        "state",
        "addrtype",
        "mark",
        "connmark",
        "comment",
        "iprange",
        "mac",
        "physdev",
        "pkttype",
        "length",
        "ttl",
        "hl",
        "tos",
        "dscp",
        "owner",
        "recent",
        "limit",
        "hashlimit",
        "statistic",
        "set",
        "REJECT",
        "LOG",
        "NFLOG",
        "MARK",
        "CONNMARK",
        "DNAT",
        "SNAT",
        "MASQUERADE",
        "REDIRECT",
        "NETMAP",
        "CT",
        "NOTRACK",
        "TRACE",
        "TCPMSS",
        "CHECKSUM",
        "CLASSIFY",
        "DSCP",
        "standard",
    ];
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let (mut ok_total, mut ok_pass, mut fail_total, mut fail_detected) = (0, 0, 0, 0);
    let mut ok_failures = Vec::new();
    for p in files {
        let name = p.file_name().unwrap_or_default().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".t") else {
            continue;
        };
        let (family6, ext) = if let Some(e) = stem.strip_prefix("libip6t_") {
            (true, e)
        } else if let Some(e) = stem.strip_prefix("libipt_") {
            (false, e)
        } else if let Some(e) = stem.strip_prefix("libxt_") {
            (false, e)
        } else {
            continue; // arptables / ebtables / iptables.t
        };
        let modelled = MODELLED.contains(&ext);
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        for (ln, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.starts_with(':') || line.starts_with('*') || line.trim().is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.split(';').collect();
            if parts.len() < 3 {
                continue;
            }
            let rule = parts[0];
            let verdict = parts[parts.len() - 1].trim();
            let Ok(words) = split_words(rule) else {
                continue;
            };
            let res = parse_rule_words(&name, ln + 1, &words, family6);
            match verdict {
                "OK" => {
                    ok_total += 1;
                    if res.is_ok() {
                        ok_pass += 1;
                    } else if modelled {
                        ok_failures.push(format!(
                            "{name}:{}: {rule}: {}",
                            ln + 1,
                            res.err()
                                .unwrap_or_default()
                                .iter()
                                .map(|d| d.to_string())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ));
                    }
                }
                "FAIL" if modelled => {
                    fail_total += 1;
                    if res.is_err() {
                        fail_detected += 1;
                    }
                }
                _ => {}
            }
        }
    }
    eprintln!(
        "iptables .t vectors: {ok_pass}/{ok_total} OK cases parse; {fail_detected}/{fail_total} FAIL cases of modelled extensions detected"
    );
    assert!(
        ok_failures.is_empty(),
        "{} OK cases of modelled extensions failed:\n{}",
        ok_failures.len(),
        ok_failures.join("\n")
    );
}
