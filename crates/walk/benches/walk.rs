//! Walk speed: one trace on the seed host, and replay throughput on the seed capture.
//!
//! `cargo bench -p nfwalk-walk --bench walk`; figures in docs/performance.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nfwalk_model::{Packet, TcpFlags};
use nfwalk_walk::replay::{replay, Frame};
use nfwalk_walk::{Ingress, Walker};
use std::path::PathBuf;

fn scenario(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(p)
}

fn bench(c: &mut Criterion) {
    let (host, _) = nfwalk_parse::snapshot::load_snapshot(&scenario("seed/snapshot")).expect("seed snapshot");
    let syn = Packet::tcp(
        "198.51.100.10".parse().unwrap(),
        40001,
        "198.51.100.1".parse().unwrap(),
        10000,
        TcpFlags::SYN,
    );
    c.bench_function("trace: seed SYN (fresh walker)", |b| {
        b.iter(|| {
            let mut w = Walker::new(&host);
            w.walk(
                Ingress::Iface {
                    iface: "enp1s0".into(),
                    physin: None,
                },
                syn.clone(),
            )
        })
    });

    let bytes = std::fs::read(scenario("seed/kernel/cap.pcap")).unwrap();
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
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("seed capture (18 frames, 10 walked)", |b| {
        b.iter(|| {
            let mut w = Walker::new(&host);
            replay(&mut w, &frames)
        })
    });
    g.bench_function("seed capture, lean (verdicts, paths, counters)", |b| {
        b.iter(|| {
            let mut w = Walker::new(&host);
            w.options.lean = true;
            replay(&mut w, &frames)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
