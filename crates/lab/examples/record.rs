//! Regenerate a scenario's committed reference data from the real kernel:
//! `cargo run -p nfwalk-lab --example record -- seed` writes `scenarios/seed/snapshot/` (the
//! six snapshot files) and `scenarios/seed/kernel/` (cap.pcap, trace.txt, counters.txt, log.txt,
//! conntrack.txt, clients.json). Needs root.

use nfwalk_lab::{run_kernel, scenario};

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        eprintln!("usage: record <scenario>…  (known: {})", scenario::NAMES.join(", "));
        std::process::exit(2);
    }
    for name in names {
        let Some(sc) = scenario::by_name(&name) else {
            eprintln!("unknown scenario {name} (known: {})", scenario::NAMES.join(", "));
            std::process::exit(2);
        };
        let base = scenario::scenarios_dir().join(&name);
        let tmp = std::env::temp_dir().join(format!("nfwk-record-{}-{name}", std::process::id()));
        let run = match run_kernel(&sc, Some(&tmp)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{name}: {e}");
                std::process::exit(1);
            }
        };
        for c in &run.clients {
            println!(
                "{name}: {}:{} -> {:?} (expected {:?})",
                c.client.dst, c.client.dport, c.outcome, c.client.expect
            );
        }
        let kernel = base.join("kernel");
        let snap = base.join("snapshot");
        for d in [&kernel, &snap] {
            let _ = std::fs::remove_dir_all(d);
            std::fs::create_dir_all(d).expect("create output dir");
        }
        for f in [
            "cap.pcap",
            "trace.txt",
            "counters.txt",
            "log.txt",
            "conntrack.txt",
            "clients.json",
        ] {
            std::fs::copy(run.dir.join(f), kernel.join(f)).expect("copy kernel output");
        }
        // The six required files, and the optional ones when the host had them
        // (ipset-save.txt when ipset is installed and sets exist, listeners.txt).
        let optional = ["ipset-save.txt", "listeners.txt"];
        for f in nfwalk_lab::runner::SNAPSHOT_FILES.iter().chain(optional.iter()) {
            let from = run.snapshot_dir.join(f);
            let keep = nfwalk_lab::runner::SNAPSHOT_FILES.contains(f)
                || std::fs::read_to_string(&from).is_ok_and(|t| !t.trim().is_empty());
            if !keep {
                continue;
            }
            std::fs::copy(&from, snap.join(f)).expect("copy snapshot");
        }
        let _ = std::fs::remove_dir_all(&tmp);
        println!("{name}: wrote {} and {}", snap.display(), kernel.display());
        if run.clients.iter().any(|c| !c.as_expected()) {
            eprintln!("{name}: a client did not behave as expected");
            std::process::exit(1);
        }
    }
}
