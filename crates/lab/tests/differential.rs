//! Randomized differential test: for each seed, a random small ruleset and random traffic
//! (`nfwalk_lab::differential`) run on the real kernel, then nfwalk replays the very same
//! capture and must agree packet by packet (paths, counters, LOG lines, conntrack).
//!
//! Needs root: without it the kernel test FAILS unless NFWALK_SKIP_KERNEL=1 is set.
//! Seeds: [`CI_SEEDS`], or `NFWALK_DIFF_SEEDS=3,17,100..110` for others. A failure prints the
//! seed, the ruleset, the traffic, the difference and the one command that reproduces it.

use nfwalk_lab::differential::{self, describe_clients};
use nfwalk_lab::{run_kernel, KernelRun};

/// The seeds CI runs (one kernel run each, about 7 s per seed). A seed that shows a real
/// disagreement nfwalk cannot fix yet is left out of this list and recorded in
/// docs/fidelity.md under "Known disagreements with the kernel".
/// Seeds 2 and 10 found nfwalk bugs (tcp-reset closing the entry; an RST before any reply
/// deleting it) with the first generator; seeds 21 and 48 (an ICMP error about an SNATed flow
/// is RELATED) and 52 (a SYN after REJECT's reset closed the entry is ignored, not a reopen)
/// with the current one, which also changed what every seed generates.
const CI_SEEDS: &[u64] = &[1, 2, 3, 4, 5, 6, 7, 8, 10, 16, 21, 48, 52];

use nfwalk_lab::kernel_available;

/// The kernel log is shared by all namespaces: kernel runs take turns (as in kernel_seed.rs).
static KERNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `NFWALK_DIFF_SEEDS`: comma/space separated seeds and `a..b` ranges (b excluded).
fn parse_seeds(spec: &str) -> Vec<u64> {
    let mut out = vec![];
    for part in spec
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        if let Some((a, b)) = part.split_once("..") {
            let (a, b): (u64, u64) = (a.parse().expect("seed range start"), b.parse().expect("seed range end"));
            out.extend(a..b);
        } else {
            out.push(
                part.parse()
                    .unwrap_or_else(|_| panic!("NFWALK_DIFF_SEEDS: not a seed: {part}")),
            );
        }
    }
    out
}

fn seeds() -> Vec<u64> {
    match std::env::var("NFWALK_DIFF_SEEDS") {
        Ok(spec) if !spec.trim().is_empty() => parse_seeds(&spec),
        _ => CI_SEEDS.to_vec(),
    }
}

fn repro(seed: u64) -> String {
    format!("NFWALK_DIFF_SEEDS={seed} cargo test -p nfwalk-lab --test differential -- --nocapture")
}

fn assert_no_namespaces_left(r: &KernelRun) {
    let run = r
        .dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("nfwk-kernel-")
        .split('-')
        .next()
        .unwrap()
        .to_string();
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list.contains(&format!("nfwk-{run}-")),
        "namespaces left behind: {list}"
    );
}

/// One seed on the kernel and in nfwalk. `Err` carries the full failure report.
fn check_seed(seed: u64) -> Result<(), String> {
    let sc = differential::scenario(seed);
    let head = |what: &str| {
        format!(
            "seed {seed}: {what}\nreproduce: {}\n--- ruleset ---\n{}--- traffic ---\n{}",
            repro(seed),
            sc.rules_v4,
            describe_clients(&sc)
        )
    };
    let run = {
        let _turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
        // A ruleset iptables-restore refuses is a generator bug: it fails here, with the seed.
        run_kernel(&sc, None).map_err(|e| head(&format!("kernel run failed: {e}")))?
    };
    assert_no_namespaces_left(&run);
    let cmp = nfwalk_lab::compare::compare(&run).map_err(|e| head(&format!("comparison failed: {e}")))?;
    let outcomes: String = run
        .clients
        .iter()
        .map(|c| format!("  {}:{} -> {:?}\n", c.client.dst, c.client.dport, c.outcome))
        .collect();
    // The traffic must reach the host at all, or the comparison proves nothing.
    if cmp.packets.len() < sc.clients.len() - 1 {
        return Err(head(&format!(
            "only {} packets replayed for {} flows (kept: {})\n{outcomes}",
            cmp.packets.len(),
            sc.clients.len() - 1,
            run.dir.display()
        )));
    }
    if !cmp.agrees() {
        return Err(head(&format!(
            "nfwalk disagrees with the kernel (run kept in {})\n--- outcomes ---\n{outcomes}--- differences ---\n{}",
            run.dir.display(),
            cmp.report()
        )));
    }
    eprintln!("seed {seed}: {} packets agree\n{outcomes}", cmp.packets.len());
    let _ = std::fs::remove_dir_all(&run.dir);
    Ok(())
}

#[test]
fn random_rulesets_agree_with_the_kernel() {
    if !kernel_available() {
        return;
    }
    let seeds = seeds();
    let failures: Vec<String> = seeds.iter().filter_map(|&s| check_seed(s).err()).collect();
    for f in &failures {
        eprintln!("==================== FAILURE ====================\n{f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds disagree:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

/// Offline: the generator is a pure function of the seed, and nfwalk loads every ruleset it
/// makes with no error and no warning (an unknown module would make the comparison moot).
#[test]
fn generator_is_deterministic_and_rulesets_load() {
    for seed in seeds().into_iter().chain(0..200) {
        let a = differential::scenario(seed);
        assert_eq!(a, differential::scenario(seed), "seed {seed} is not reproducible");
        let loaded = nfwalk_parse::iptables::load("diff.rules", &a.rules_v4)
            .unwrap_or_else(|e| panic!("seed {seed}: nfwalk cannot load:\n{}\n{e:?}", a.rules_v4));
        assert!(
            loaded.diagnostics.is_empty(),
            "seed {seed}: {:?}\n{}",
            loaded.diagnostics,
            a.rules_v4
        );
        let mut sports: Vec<u16> = a.clients.iter().map(|c| c.sport).collect();
        sports.sort();
        sports.dedup();
        assert_eq!(
            sports.len(),
            a.clients.len(),
            "seed {seed}: source ports must be distinct per flow"
        );
    }
    assert_ne!(differential::ruleset(1), differential::ruleset(2));
    assert_eq!(parse_seeds("3, 5..7,9"), vec![3, 5, 6, 9]);
}

/// Offline: every kind of rule and flow the generator knows appears in some seed, and the CI
/// seeds' coverage is printed (`-- --nocapture`).
#[test]
fn generator_covers_every_feature() {
    const FEATURES: &[&str] = &[
        "*mangle",
        "-j MARK",
        "--restore-mark",
        "--save-mark",
        "-m mark",
        "-m connmark",
        "CT --notrack",
        "--ctstate UNTRACKED",
        "-j REDIRECT",
        "-j DNAT",
        "-m iprange",
        "-m length",
        "-m ttl",
        "-m pkttype",
        "-m limit",
        "-m comment",
        "-j REJECT",
        "-j LOG",
    ];
    let covered = |seeds: &mut dyn Iterator<Item = u64>| {
        let mut hit = std::collections::BTreeMap::new();
        let mut pings = 0;
        for seed in seeds {
            let sc = differential::scenario(seed);
            for f in FEATURES {
                if sc.rules_v4.contains(f) {
                    *hit.entry(*f).or_insert(0) += 1;
                }
            }
            pings += sc
                .clients
                .iter()
                .filter(|c| c.l4 == nfwalk_lab::scenario::L4::Icmp)
                .count();
        }
        (hit, pings)
    };
    let (ci, ci_pings) = covered(&mut CI_SEEDS.iter().copied());
    eprintln!("CI seeds: {ci:?}, {ci_pings} pings");
    let (all, pings) = covered(&mut (0..200));
    for f in FEATURES {
        assert!(all.contains_key(f), "no seed in 0..200 generates {f}");
    }
    assert!(pings > 0);
}
