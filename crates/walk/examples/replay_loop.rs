//! Replays the seed capture in a loop, for profiling: `cargo run --release -p nfwalk-walk
//! --example replay_loop -- [N] [--lean] [--one-walker]`. Prints frames and walked packets
//! per second. `--one-walker` keeps one walker (one conntrack table) for all rounds, as a
//! long capture would; otherwise every round starts from a fresh walker.

use nfwalk_walk::replay::{replay, Frame};
use nfwalk_walk::Walker;
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20000);
    let lean = args.iter().any(|a| a == "--lean");
    let one = args.iter().any(|a| a == "--one-walker");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/seed");
    let (host, _) = nfwalk_parse::snapshot::load_snapshot(&dir.join("snapshot")).expect("snapshot");
    let bytes = std::fs::read(dir.join("kernel/cap.pcap")).unwrap();
    let names = |i: u32| host.iface_by_index(i).map(|x| x.name.clone());
    let frames: Vec<Frame> = nfwalk_parse::pcap::read_pcap(&bytes, &names, None)
        .unwrap()
        .into_iter()
        .map(|f| Frame {
            index: f.index,
            iface: f.iface,
            packet: f.packet,
            skipped: f.skipped,
            outgoing: f.pkt_type == Some(4),
        })
        .collect();
    let t = std::time::Instant::now();
    let (mut seen, mut walked) = (0usize, 0usize);
    let mut shared = Walker::new(&host);
    shared.options.lean = lean;
    for _ in 0..n {
        let mut fresh;
        let w = if one {
            &mut shared
        } else {
            fresh = Walker::new(&host);
            fresh.options.lean = lean;
            &mut fresh
        };
        for r in replay(w, &frames) {
            seen += 1;
            walked += matches!(r, nfwalk_walk::replay::Replayed::Walked { .. }) as usize;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{seen} frames ({walked} walked) in {s:.3} s: {:.0} frames/s, {:.0} walked packets/s",
        seen as f64 / s,
        walked as f64 / s
    );
}
