//! Byte-for-byte listings against the real iptables in one lab namespace: every scenario
//! ruleset (must match 100%) and every IPv4 corpus iptables-save file that iptables-restore
//! accepts (match rate reported; known mismatches are listed in `tests/known_mismatches.txt`
//! with reasons). Needs root: fails unless NFWALK_SKIP_KERNEL=1 is set.

use nfwalk_lab::Lab;
use nfwalk_xt::command;
use nfwalk_xt::ruleset::XtRuleset;
use std::path::{Path, PathBuf};

use nfwalk_lab::kernel_available;

const LISTINGS: &[&[&str]] = &[
    &["-L"],
    &["-n", "-L", "--line-numbers"],
    &["-n", "-v", "-L"],
    &["-n", "-v", "-x", "-L"],
    &["-S"],
];

fn nfwalk(rs: &XtRuleset, args: &[&str]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut rs = rs.clone();
    match command::parse(&args).and_then(|inv| command::run(&mut rs, &inv)) {
        Ok(o) => (0, o.stdout),
        Err(e) => (e.code, e.stderr("iptables")),
    }
}

/// Compares all listings of all tables of `text`; returns the mismatching commands.
fn compare(lab: &Lab, text: &str, with_names: bool) -> Result<Vec<String>, String> {
    let mut rs = XtRuleset::from_save(text).map_err(|e| format!("nfwalk cannot load: {e}"))?;
    // iptables-restore without -c starts every counter at 0.
    for t in &mut rs.tables {
        for c in &mut t.chains {
            c.counters = (0, 0);
            c.rules.iter_mut().for_each(|r| r.counters = (0, 0));
        }
    }
    lab.exec_stdin("x", &["iptables-restore"], text.as_bytes())
        .map_err(|e| format!("iptables-restore refuses: {e}"))?;
    let mut bad = vec![];
    for t in &rs.tables {
        for l in LISTINGS {
            if !with_names && l == &["-L"] {
                continue;
            }
            let mut args = vec!["-t", t.name.as_str()];
            args.extend_from_slice(l);
            let mut cmd = vec!["iptables"];
            cmd.extend_from_slice(&args);
            let real = lab.exec("x", &cmd).map_err(|e| e.to_string())?;
            let real_out = String::from_utf8_lossy(&real.stdout).to_string();
            let (_, ours) = nfwalk(&rs, &args);
            if real_out != ours {
                let diff: Vec<String> = real_out
                    .lines()
                    .zip(ours.lines().chain(std::iter::repeat("<missing>")))
                    .filter(|(a, b)| a != b)
                    .take(2)
                    .map(|(a, b)| format!("    real: {a:?}\n    ours: {b:?}"))
                    .collect();
                bad.push(format!("iptables {}\n{}", args.join(" "), diff.join("\n")));
            }
        }
    }
    Ok(bad)
}

fn scenarios() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("scenarios dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("rules.v4"))
        .filter(|p| p.exists())
        .collect();
    v.sort();
    v
}

#[test]
fn scenario_listings_match_iptables() {
    if !kernel_available() {
        return;
    }
    let mut lab = Lab::new("xtlist");
    lab.ns("x").expect("namespace");
    let files = scenarios();
    assert!(!files.is_empty());
    let mut failures = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // A scenario whose rules use ipsets carries them in its snapshot: create them first,
        // as the scenario itself does, or iptables-restore refuses the `-m set` rules.
        let sets = f.parent().unwrap().join("snapshot/ipset-save.txt");
        if let Ok(save) = std::fs::read_to_string(&sets) {
            lab.exec_stdin("x", &["ipset", "restore", "-exist"], save.as_bytes())
                .unwrap_or_else(|e| panic!("{}: ipset restore: {e}", sets.display()));
        }
        match compare(&lab, &text, true) {
            Ok(bad) if bad.is_empty() => {}
            Ok(bad) => failures.push(format!("{}:\n{}", f.display(), bad.join("\n"))),
            Err(e) => failures.push(format!("{}: {e}", f.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let mut out = vec![];
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                let ipv4_save = t
                    .lines()
                    .any(|l| matches!(l.trim(), "*filter" | "*nat" | "*mangle" | "*raw" | "*security"))
                    && t.lines().any(|l| l.trim() == "COMMIT")
                    && !t.contains("ip6tables");
                if ipv4_save {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

fn known_mismatches() -> Vec<(String, String)> {
    include_str!("known_mismatches.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (p, r) = l.split_once('\t').unwrap_or((l, ""));
            (p.to_string(), r.to_string())
        })
        .collect()
}

#[test]
fn corpus_listings_match_iptables() {
    if !kernel_available() {
        return;
    }
    let mut lab = Lab::new("xtcorp");
    lab.ns("x").expect("namespace");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let files = corpus_files();
    let known = known_mismatches();
    let (mut matched, mut refused, mut ours_refused) = (0, 0, 0);
    let mut unexpected = vec![];
    let mut report = String::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let text = std::fs::read_to_string(f).unwrap();
        // Real iptables first: only files it accepts count.
        match compare(&lab, &text, false) {
            Ok(bad) if bad.is_empty() => {
                matched += 1;
                if known.iter().any(|(p, _)| *p == rel) {
                    unexpected.push(format!("{rel}: listed as a known mismatch but matches now"));
                }
            }
            Ok(bad) => {
                report += &format!("MISMATCH {rel}\n{}\n", bad.join("\n"));
                if !known.iter().any(|(p, _)| *p == rel) {
                    unexpected.push(format!("{rel}:\n{}", bad.join("\n")));
                }
            }
            Err(e) if e.starts_with("iptables-restore refuses") => refused += 1,
            Err(e) => {
                // nfwalk refused a file: it counts only if iptables accepts it.
                if lab.exec_stdin("x", &["iptables-restore"], text.as_bytes()).is_ok() {
                    ours_refused += 1;
                    report += &format!("OURS-REFUSED {rel}: {e}\n");
                    if !known.iter().any(|(p, _)| *p == rel) {
                        unexpected.push(format!("{rel}: {e}"));
                    }
                } else {
                    refused += 1;
                }
            }
        }
    }
    let accepted = files.len() - refused;
    eprintln!(
        "corpus: {} IPv4 save files, {accepted} accepted by iptables-restore, {matched} match byte for byte ({:.1}%), {ours_refused} refused by nfwalk",
        files.len(),
        100.0 * matched as f64 / accepted.max(1) as f64
    );
    let _ = std::fs::write(std::env::temp_dir().join("nfwalk-xt-corpus-report.txt"), &report);
    assert!(accepted > 0, "no corpus file was accepted by iptables-restore");
    assert!(
        unexpected.is_empty(),
        "{} unexpected results:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

/// Every form of the extensions nfwalk renders beyond the everyday ones (recent, owner,
/// hashlimit, policy, rpfilter, statistic, connlimit, NFLOG, NETMAP, NOTRACK, CT) lists
/// exactly as iptables does (`-L` with names is host-dependent for owner: not compared).
#[test]
fn extension_listings_match_iptables() {
    if !kernel_available() {
        return;
    }
    let mut lab = Lab::new("xtext");
    lab.ns("x").expect("namespace");
    let mut text = include_str!("extensions.v4").to_string();
    text += "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -p tcp -j NOTRACK\n-A PREROUTING -j CT --notrack\n-A PREROUTING -j CT --zone 3\nCOMMIT\n";
    text += "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 1.2.3.0/24 -j NETMAP --to 5.6.7.0/24\n-A PREROUTING -j NETMAP --to 5.6.7.8\nCOMMIT\n";
    let bad = compare(&lab, &text, false).expect("both load it");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
