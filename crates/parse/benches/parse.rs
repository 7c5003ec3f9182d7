//! Parse speed of the largest corpus ruleset (read from ../shared/corpus, never copied here).
//!
//! `cargo bench -p nfwalk-parse --bench parse`; figures in docs/performance.md.

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;

const LARGEST: &str =
    "net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2016-06-27_16-29-01";

fn bench(c: &mut Criterion) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(LARGEST);
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("corpus not found at {}: nothing to measure", path.display());
        return;
    };
    c.bench_function("parse: largest corpus ruleset (5556 rules)", |b| {
        b.iter(|| nfwalk_parse::iptables::load(LARGEST, &text).expect("loads"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
