//! The kernel is the judge of explain's fixes and lint's traffic findings: each scenario runs
//! unfixed in the netns lab, nfwalk analyses the kernel's own snapshot, and the top suggested
//! fix is loaded into a fresh lab; the real client outcome must flip to the expected one.
//! Needs root: without it these tests FAIL unless NFWALK_SKIP_KERNEL=1 is set.

use nfwalk_analyze::{explain, fix, lint, Expect, LintInput, Request, RuleSel};
use nfwalk_lab::{run_kernel, scenario, KernelRun, Outcome, Scenario};
use nfwalk_model::{Host, Packet, TcpFlags};
use nfwalk_walk::Ingress;

use nfwalk_lab::kernel_available;

static KERNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(sc: &Scenario) -> KernelRun {
    let _turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    run_kernel(sc, None).unwrap_or_else(|e| panic!("{}: {e}", sc.name))
}

/// The host as the kernel run's snapshot shows it, with the scenario's own ruleset (the
/// snapshot's has the lab's TRACE rules in it).
fn host_of(r: &KernelRun, sc: &Scenario) -> (Host, String) {
    let (mut host, _) = nfwalk_parse::snapshot::load_snapshot(&r.snapshot_dir).expect("kernel snapshot loads");
    host.ruleset = nfwalk_parse::iptables::load("rules.v4", &sc.rules_v4)
        .expect("rules load")
        .ruleset;
    let _ = std::fs::remove_dir_all(&r.dir);
    (host, sc.rules_v4.clone())
}

fn client_pkt(dport: u16, sport: u16) -> Request {
    Request {
        ingress: Ingress::Iface {
            iface: "enp1s0".into(),
            physin: None,
        },
        packet: Packet::tcp(
            "198.51.100.10".parse().unwrap(),
            sport,
            "198.51.100.1".parse().unwrap(),
            dport,
            TcpFlags::SYN,
        ),
        expect: None,
        rule: None,
        before: Vec::new(),
    }
}

/// Runs `sc`, explains `req` on its snapshot, applies the top fix and runs again; returns the
/// outcomes before and after and the fix applied.
fn check(mut sc: Scenario, req: Request, client: usize) -> (Outcome, Outcome, nfwalk_analyze::explain::Fix) {
    let before = run(&sc);
    let (host, text) = host_of(&before, &sc);
    let ex = explain(&host, &req).expect("explains");
    let top = ex
        .fixes
        .first()
        .unwrap_or_else(|| {
            panic!(
                "{}: no verified fix:\n{}",
                sc.name,
                nfwalk_analyze::render::explanation_text(&ex)
            )
        })
        .clone();
    assert!(top.verified);
    sc.rules_v4 = fix::apply_to_text(&host, &text, &top).expect("fix applies to the text");
    sc.name = format!("{}-fixed", sc.name);
    for c in &mut sc.clients {
        c.timeout_ms = c.timeout_ms.min(4_000);
    }
    let after = run(&sc);
    let _ = std::fs::remove_dir_all(&after.dir);
    (
        before.clients[client].outcome.clone(),
        after.clients[client].outcome.clone(),
        top,
    )
}

#[test]
fn seed_top_fix_blocks_published_port_on_the_kernel() {
    if !kernel_available() {
        return;
    }
    let req = Request {
        expect: Some(Expect::Drop),
        ..client_pkt(10000, 40001)
    };
    let (before, after, top) = check(scenario::by_name("seed").unwrap(), req, 0);
    assert_eq!(before, Outcome::Reply("+PONG".into()));
    assert_eq!(after, Outcome::Timeout, "fix {}", top.command);
    assert!(top.rule.contains("--ctorigdstport 10000"), "{}", top.rule);
}

#[test]
fn seed_input_rule_fix_moves_the_block_to_docker_user_on_the_kernel() {
    if !kernel_available() {
        return;
    }
    let sc = scenario::by_name("seed-input").unwrap();
    let line = sc
        .rules_v4
        .lines()
        .position(|l| l == "-A INPUT -p tcp -m tcp --dport 10000 -j DROP")
        .unwrap()
        + 1;
    let req = Request {
        rule: Some(RuleSel::Line(line)),
        ..client_pkt(10000, 40001)
    };
    let (before, after, top) = check(sc, req, 0);
    assert_eq!(before, Outcome::Reply("+PONG".into()));
    assert_eq!(after, Outcome::Timeout, "fix {}", top.command);
    assert_eq!(top.chain, "DOCKER-USER");
}

#[test]
fn seed_input_expect_accept_opens_the_host_service_on_the_kernel() {
    if !kernel_available() {
        return;
    }
    let req = Request {
        expect: Some(Expect::Accept),
        ..client_pkt(8080, 40002)
    };
    let (before, after, top) = check(scenario::by_name("seed-input").unwrap(), req, 1);
    assert_eq!(before, Outcome::Timeout);
    assert_eq!(after, Outcome::Reply("HOST".into()), "fix {}", top.command);
    assert!(top.rule.ends_with("-j ACCEPT"));
}

/// The seed with INPUT policy DROP: the host firewall "denies everything", yet the published
/// port answers (lint NFW003, confirmed by the kernel); explain's fix closes it.
#[test]
fn input_policy_drop_bypass_is_real_and_the_fix_closes_it() {
    if !kernel_available() {
        return;
    }
    let mut sc = scenario::by_name("seed").unwrap();
    sc.name = "input-drop".into();
    sc.rules_v4 = sc
        .rules_v4
        .replace(":INPUT ACCEPT [0:0]\n:FORWARD DROP", ":INPUT DROP [0:0]\n:FORWARD DROP");
    assert!(sc.rules_v4.contains(":INPUT DROP"));
    let host = {
        let mut h = nfwalk_parse::snapshot::load_snapshot(&nfwalk_lab::scenario::scenarios_dir().join("seed/snapshot"))
            .expect("recorded snapshot")
            .0;
        h.ruleset = nfwalk_parse::iptables::load("rules.v4", &sc.rules_v4).unwrap().ruleset;
        h
    };
    let f = lint(&LintInput {
        host: &host,
        text: Some(&sc.rules_v4),
        legacy: None,
    });
    assert!(f.iter().any(|x| x.code == "NFW003"), "{f:#?}");
    let req = Request {
        expect: Some(Expect::Drop),
        ..client_pkt(10000, 40001)
    };
    let (before, after, top) = check(sc, req, 0);
    assert_eq!(
        before,
        Outcome::Reply("+PONG".into()),
        "the kernel lets the published port through despite INPUT DROP"
    );
    assert_eq!(after, Outcome::Timeout, "fix {}", top.command);
}

/// lint's NFW001 on the seed, confirmed by real packets: the flagged rule's counter stays 0
/// while the connection succeeds.
#[test]
fn lint_ineffective_docker_user_rule_confirmed_by_counters() {
    if !kernel_available() {
        return;
    }
    let sc = scenario::by_name("seed").unwrap();
    let r = run(&sc);
    let (host, text) = host_of(&r, &sc);
    let _ = std::fs::remove_dir_all(&r.dir);
    let f = lint(&LintInput {
        host: &host,
        text: Some(&text),
        legacy: None,
    });
    let nfw1 = f.iter().find(|x| x.code == "NFW001").expect("NFW001");
    let flagged = text.lines().nth(nfw1.line - 1).unwrap();
    assert_eq!(r.clients[0].outcome, Outcome::Reply("+PONG".into()));
    let counter = r
        .counters
        .lines()
        .find(|l| l.starts_with('[') && l.ends_with(flagged))
        .expect("flagged rule in the kernel's counters");
    assert!(counter.starts_with("[0:0]"), "{counter}");
}
