//! nfwalk against the kernel's own recorded behaviour, offline: each scenario's committed
//! kernel run (scenarios/<name>/kernel, recorded by `cargo run -p nfwalk-lab --example record`)
//! is replayed through nfwalk on the snapshot taken in the same run, and every packet's
//! path, the counters, the LOG lines and the conntrack table must agree.

use nfwalk_lab::compare::compare;
use nfwalk_lab::KernelRun;
use std::path::PathBuf;

fn scenario_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

fn check(name: &str) {
    let d = scenario_dir(name);
    let run = KernelRun::load(&d.join("kernel"), &d.join("snapshot")).expect("recorded run loads");
    let cmp = compare(&run).expect("comparison runs");
    assert!(!cmp.packets.is_empty(), "{name}: no packet was replayed");
    assert!(
        cmp.packets.iter().all(|p| p.kernel.is_some()),
        "{name}: some replayed packet has no kernel trace:\n{}",
        cmp.report()
    );
    assert!(
        cmp.agrees(),
        "{name}: nfwalk disagrees with the kernel:\n{}",
        cmp.report()
    );
}

#[test]
fn seed_recorded() {
    check("seed");
}

#[test]
fn seed_ctorig_recorded() {
    check("seed-ctorig");
}

#[test]
fn seed_input_recorded() {
    check("seed-input");
}

#[test]
fn seed_log_recorded() {
    check("seed-log");
}

#[test]
fn masq_out_recorded() {
    check("masq-out");
}

#[test]
fn reject_recorded() {
    check("reject");
}

#[test]
fn notrack_recorded() {
    check("notrack");
}

#[test]
fn bridge_c2c_recorded() {
    check("bridge-c2c");
}

#[test]
fn chains_recorded() {
    check("chains");
}

#[test]
fn marks_recorded() {
    check("marks");
}

#[test]
fn kube_nodeport_recorded() {
    check("kube-nodeport");
}

#[test]
fn ufw_docker_recorded() {
    check("ufw-docker");
}

#[test]
fn docker28_recorded() {
    check("docker28");
}

#[test]
fn icmp_recorded() {
    check("icmp");
    // The host's echo reply is rebuilt from the kernel's trace, walked from OUTPUT and
    // compared (path, OUTPUT counters, its OUT-ICMP LOG line).
    let d = scenario_dir("icmp");
    let cmp = compare(&KernelRun::load(&d.join("kernel"), &d.join("snapshot")).unwrap()).unwrap();
    assert!(cmp.packets.iter().any(|p| p.local && p.agrees()), "{:#?}", cmp.packets);
    assert!(
        cmp.log.0.iter().any(|l| l.starts_with("OUT-ICMP: ")),
        "{:#?}",
        cmp.log.0
    );
}

#[test]
fn snat_recorded() {
    check("snat");
}

#[test]
fn rst_close_recorded() {
    check("rst-close");
}

#[test]
fn redirect_recorded() {
    check("redirect");
}

#[test]
fn log_options_recorded() {
    check("log-options");
}

#[test]
fn netmap_recorded() {
    check("netmap");
}

#[test]
fn snat_range_recorded() {
    check("snat-range");
}

#[test]
fn no_forward_recorded() {
    check("no-forward");
}

#[test]
fn no_conntrack_recorded() {
    check("no-conntrack");
}

#[test]
fn ipset_recorded() {
    check("ipset");
}

#[test]
fn policy_routing_recorded() {
    check("policy-routing");
}

#[test]
fn seed_local_recorded() {
    check("seed-local");
}
