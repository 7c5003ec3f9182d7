//! iptables' own `.t` test vectors (corpus iptables-tests/**/lib{xt,ipt}_*.t) through
//! nfwalk-xt's canonicalisation: `rule;=;OK` must come back as itself, `rule;OUT;OK` as OUT,
//! `rule;;FAIL` must be refused. Asserted for the extensions nfwalk models; rates reported
//! for the others.

use nfwalk_xt::rule::{match_known, target_known, RuleSpec};
use std::path::{Path, PathBuf};

fn files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/iptables-tests");
    let mut out = vec![];
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if (n.starts_with("libxt_") || n.starts_with("libipt_")) && n.ends_with(".t") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn canon(rule: &str) -> Result<String, String> {
    let words = nfwalk_parse::iptables::split_restore_words(rule).map_err(|e| e.1)?;
    let words: Vec<String> = words.into_iter().map(|w| w.text).collect();
    RuleSpec::parse(&words)
        .map(|r| r.save().trim_start().to_string())
        .map_err(|e| e.message)
}

#[test]
fn t_vectors_round_trip() {
    let files = files();
    assert!(!files.is_empty(), "no .t files in the corpus");
    let (mut ok_m, mut ok_m_pass, mut ok_o, mut ok_o_pass) = (0, 0, 0, 0);
    let (mut fail_m, mut fail_m_refused, mut fail_o, mut fail_o_refused) = (0, 0, 0, 0);
    let mut bad = vec![];
    let known: Vec<(String, String)> = include_str!("t_vectors_known.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once('\t').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect();
    for f in &files {
        let n = f.file_name().unwrap().to_string_lossy().to_string();
        let ext = n
            .trim_start_matches("libxt_")
            .trim_start_matches("libipt_")
            .trim_end_matches(".t")
            .to_string();
        let modelled = ext == "standard" || match_known(&ext) || target_known(&ext);
        for line in std::fs::read_to_string(f).unwrap().lines() {
            if line.starts_with(':') || line.starts_with('*') || line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.rsplitn(3, ';').collect();
            if parts.len() != 3 {
                continue;
            }
            let (status, expect, rule) = (parts[0], parts[1], parts[2]);
            let got = canon(rule);
            match status {
                "OK" => {
                    let want = if expect == "=" { rule } else { expect };
                    let pass = got.as_deref() == Ok(want);
                    if modelled {
                        ok_m += 1;
                        ok_m_pass += pass as usize;
                        let listed = known.iter().any(|(kf, kr)| *kf == n && *kr == rule);
                        if !pass && !listed {
                            bad.push(format!("{n}: {rule}\n  want: {want}\n  got:  {got:?}"));
                        }
                        if pass && listed {
                            bad.push(format!("{n}: {rule}: listed in t_vectors_known.txt but passes now"));
                        }
                    } else {
                        ok_o += 1;
                        ok_o_pass += pass as usize;
                    }
                }
                "FAIL" => {
                    if modelled {
                        fail_m += 1;
                        fail_m_refused += got.is_err() as usize;
                    } else {
                        fail_o += 1;
                        fail_o_refused += got.is_err() as usize;
                    }
                }
                _ => {}
            }
        }
    }
    eprintln!("t vectors: modelled OK {ok_m_pass}/{ok_m}, other OK {ok_o_pass}/{ok_o}; FAIL refused: modelled {fail_m_refused}/{fail_m}, other {fail_o_refused}/{fail_o}");
    assert!(ok_m > 0);
    assert!(
        bad.is_empty(),
        "{} unexpected OK-vector results:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
