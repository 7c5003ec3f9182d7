//! Replays the seed capture in a loop, for profiling: `cargo run --release -p nfwalk-walk
//! --example replay_loop -- [N] [--lean]`. Prints frames per second.

use nfwalk_walk::replay::{replay, Frame};
use nfwalk_walk::Walker;
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20000);
    let lean = args.iter().any(|a| a == "--lean");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/seed");
    let (host, _) = nfwalk_parse::snapshot::load_snapshot(&dir.join("snapshot")).expect("snapshot");
    let bytes = std::fs::read(dir.join("kernel/cap.pcap")).unwrap();
    let names = |i: u32| host.iface_by_index(i).map(|x| x.name.clone());
    let frames: Vec<Frame> = nfwalk_parse::pcap::read_pcap(&bytes, &names, None)
        .unwrap()
        .into_iter()
        .map(|f| Frame { index: f.index, iface: f.iface, packet: f.packet, skipped: f.skipped })
        .collect();
    let t = std::time::Instant::now();
    let mut walked = 0;
    for _ in 0..n {
        let mut w = Walker::new(&host);
        w.options.lean = lean;
        walked += replay(&mut w, &frames).len();
    }
    let s = t.elapsed().as_secs_f64();
    println!("{walked} frames in {s:.3} s: {:.0} frames/s", walked as f64 / s);
}
