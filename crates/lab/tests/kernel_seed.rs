//! The seed scenarios on the real kernel. Needs root: without it these tests FAIL unless
//! NFWALK_SKIP_KERNEL=1 is set. Each test uses its own namespaces (`nfwk-<pid>x<n>-…`), fixed
//! ports and generous timeouts; the lab is torn down on success, failure and panic.

use nfwalk_lab::{run_kernel, scenario, KernelRun, Lab, Outcome};

const DNAT: &str = "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 10000 -j DNAT --to-destination 172.17.0.2:6379";
const USER_DROP: &str = "-A DOCKER-USER -p tcp -m tcp --dport 10000 -j DROP";
const CTORIG_DROP: &str = "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 10000 --ctdir ORIGINAL -j DROP";
const SEED_CT: &str = "src=198.51.100.10 dst=198.51.100.1 sport=40001 dport=10000 src=172.17.0.2 dst=198.51.100.10 sport=6379 dport=40001";

use nfwalk_lab::kernel_available;

/// The kernel log is shared by all namespaces: one scenario's LOG lines would show up in
/// another's run if they overlapped, so kernel runs take turns.
static KERNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(name: &str) -> KernelRun {
    let _turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    let sc = scenario::by_name(name).unwrap();
    let r = run_kernel(&sc, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_no_namespaces_left(&r);
    // The kernel is the judge: nfwalk's replay of this very run must agree on every
    // packet's path, the counters, the LOG lines and the conntrack table.
    let cmp = nfwalk_lab::compare::compare(&r).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!cmp.packets.is_empty(), "{name}: nothing replayed");
    assert!(
        cmp.agrees(),
        "{name}: nfwalk disagrees with the kernel:\n{}",
        cmp.report()
    );
    r
}

fn assert_no_namespaces_left(r: &KernelRun) {
    // The run dir is named nfwk-kernel-<run>-<scenario>; no namespace of that run may remain.
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

fn counter_of<'a>(counters: &'a str, rule: &str) -> &'a str {
    counters
        .lines()
        .find(|l| l.ends_with(rule) && l.starts_with('['))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("rule {rule} not in counters:\n{counters}"))
}

fn tcp_syn_to(r: &KernelRun, dport: u16) -> Vec<nfwalk_lab::KernelPacket> {
    r.packets()
        .into_iter()
        .filter(|p| p.first_header().dport == Some(dport) && p.first_header().tcp_flags() == vec!["SYN"])
        .collect()
}

#[test]
fn seed_connection_succeeds_despite_docker_user_drop() {
    if !kernel_available() {
        return;
    }
    let r = run("seed");
    assert_eq!(r.clients.len(), 1);
    assert_eq!(
        r.clients[0].outcome,
        Outcome::Reply("+PONG".into()),
        "the kernel let the connection through"
    );

    let syns = tcp_syn_to(&r, 10000);
    assert_eq!(syns.len(), 1, "one SYN, no retransmission");
    let syn = &syns[0];
    assert_eq!(
        syn.path(),
        vec!["raw:PREROUTING", "nat:PREROUTING", "filter:FORWARD", "nat:POSTROUTING"]
    );
    assert!(syn
        .events()
        .any(|e| e.table == "nat" && e.chain == "DOCKER" && e.rule_text() == Some(DNAT)));
    assert_eq!(syn.blocks[2].header.dport, Some(6379), "FORWARD sees the DNATed port");
    assert!(
        !r.packets()
            .iter()
            .flat_map(|p| p.events())
            .any(|e| e.rule_text() == Some(USER_DROP)),
        "the DOCKER-USER --dport 10000 DROP rule never matches"
    );
    let tcp = r
        .packets()
        .into_iter()
        .filter(|p| p.first_header().proto.as_deref() == Some("tcp"))
        .count();
    assert_eq!(tcp, 10, "handshake, data both ways, FIN both ways:\n{}", r.raw_trace);

    assert_eq!(counter_of(&r.counters, USER_DROP), "[0:0]");
    assert_eq!(counter_of(&r.counters, DNAT), "[1:60]");
    let ct: Vec<_> = r.conntrack.iter().filter(|l| l.contains(SEED_CT)).collect();
    assert_eq!(ct.len(), 1, "{:?}", r.conntrack);
    assert!(ct[0].starts_with("tcp") && ct[0].contains("[ASSURED]"), "{}", ct[0]);

    for f in [
        "ip-link.json",
        "ip-addr.json",
        "ip-route.json",
        "ip-rule.json",
        "iptables-save.txt",
        "sysctl.txt",
    ] {
        assert!(r.snapshot_dir.join(f).exists(), "{f}");
    }
    let save = std::fs::read_to_string(r.snapshot_dir.join("iptables-save.txt")).unwrap();
    assert!(
        save.contains("-A PREROUTING -j TRACE"),
        "snapshot taken after the TRACE rules"
    );
    let sysctl = std::fs::read_to_string(r.snapshot_dir.join("sysctl.txt")).unwrap();
    assert!(sysctl.contains("net.ipv4.ip_forward = 1") && sysctl.contains("net.bridge.bridge-nf-call-iptables = 1"));
    let pcap = std::fs::metadata(&r.pcap).unwrap().len();
    assert!(pcap > 24 + 10 * 60, "capture has the packets ({pcap} bytes)");
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn seed_ctorig_blocks_the_published_port() {
    if !kernel_available() {
        return;
    }
    let r = run("seed-ctorig");
    assert_eq!(r.clients[0].outcome, Outcome::Timeout);
    let syns = tcp_syn_to(&r, 10000);
    assert!(syns.len() >= 2, "the client retransmitted its SYN");
    let complete: Vec<_> = syns.iter().filter(|p| p.blocks.len() == 3).collect();
    assert!(!complete.is_empty());
    for p in complete {
        // Each retransmitted SYN goes through nat again (the dropped packet's conntrack entry
        // was never confirmed), is DNATed, and dropped in DOCKER-USER.
        assert!(p.events().any(|e| e.rule_text() == Some(DNAT)));
        let last = p.events().last().unwrap();
        assert_eq!((last.rule_text(), last.verdict()), (Some(CTORIG_DROP), "DROP"));
    }
    assert!(
        !r.conntrack.iter().any(|l| l.contains("sport=40001")),
        "no conntrack entry: {:?}",
        r.conntrack
    );
    assert!(counter_of(&r.counters, CTORIG_DROP) != "[0:0]");
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn seed_input_rule_does_not_touch_published_port_but_blocks_host_service() {
    if !kernel_available() {
        return;
    }
    let r = run("seed-input");
    assert_eq!(r.clients[0].outcome, Outcome::Reply("+PONG".into()));
    assert_eq!(r.clients[1].outcome, Outcome::Timeout);
    let input10000 = "-A INPUT -p tcp -m tcp --dport 10000 -j DROP";
    let input8080 = "-A INPUT -p tcp -m tcp --dport 8080 -j DROP";
    assert!(!r
        .packets()
        .iter()
        .flat_map(|p| p.events())
        .any(|e| e.rule_text() == Some(input10000)));
    assert_eq!(counter_of(&r.counters, input10000), "[0:0]");
    for p in tcp_syn_to(&r, 8080).iter().filter(|p| p.blocks.len() == 3) {
        assert_eq!(p.path(), vec!["raw:PREROUTING", "nat:PREROUTING", "filter:INPUT"]);
        let last = p.events().last().unwrap();
        assert_eq!((last.rule_text(), last.verdict()), (Some(input8080), "DROP"));
    }
    assert!(r.conntrack.iter().any(|l| l.contains(SEED_CT)));
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn lab_cleans_up_on_panic() {
    if !kernel_available() {
        return;
    }
    let names = std::sync::Mutex::new(vec![]);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut lab = Lab::new("panic");
        let a = lab.ns("a").unwrap();
        let b = lab.ns("b").unwrap();
        lab.veth("a", "va", "b", "vb").unwrap();
        names.lock().unwrap().extend([a, b]);
        let _sleeper = lab.spawn("a", &["sleep", "30"]).unwrap();
        panic!("boom");
    }));
    assert!(res.is_err());
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for n in names.lock().unwrap().iter() {
        assert!(!list.contains(n.as_str()), "{n} left behind");
    }
}

#[test]
fn seed_log_lines_show_dnat_before_forward() {
    if !kernel_available() {
        return;
    }
    let r = run("seed-log");
    assert_eq!(r.clients[0].outcome, Outcome::Reply("+PONG".into()));
    let ours: Vec<&String> = r.log_lines.iter().filter(|l| l.contains("=40001 ")).collect();
    let with = |prefix: &str| ours.iter().filter(|l| l.starts_with(prefix)).count();
    // nat chains see only the connection's first packet; DNAT ends nat PREROUTING, so the
    // AFTER PREROUTING LOG never prints for it.
    assert_eq!(with("BEFORE PREROUTING: "), 1, "{ours:#?}");
    assert_eq!(with("AFTER PREROUTING: "), 0, "{ours:#?}");
    assert_eq!(with("BEFORE POSTROUTING: "), 1, "{ours:#?}");
    assert!(ours
        .iter()
        .any(|l| l.starts_with("BEFORE PREROUTING: IN=enp1s0 OUT= ") && l.contains(" DPT=10000 ")));
    assert!(ours
        .iter()
        .any(|l| l.starts_with("BEFORE FORWARD: IN=enp1s0 OUT=docker0 ") && l.contains(" DPT=6379 ")));
    // Bridged packets from the container carry PHYSIN (the trace's PACKET lines do not show it).
    assert!(ours
        .iter()
        .any(|l| l.starts_with("BEFORE FORWARD: IN=docker0 OUT=enp1s0 PHYSIN=vethc0 ")));
    assert_eq!(
        with("BEFORE FORWARD: "),
        10,
        "every packet of the connection is forwarded"
    );
    assert!(!ours.iter().any(|l| l.starts_with('[')), "timestamps stripped");
    let _ = std::fs::remove_dir_all(&r.dir);
}

fn any_rule(r: &KernelRun, rule: &str) -> bool {
    r.packets()
        .iter()
        .flat_map(|p| p.events())
        .any(|e| e.rule_text() == Some(rule))
}

#[test]
fn masq_out_tcp_and_udp_leave_as_the_host() {
    if !kernel_available() {
        return;
    }
    let r = run("masq-out");
    assert_eq!(r.clients[0].outcome, Outcome::Reply("TCP-OK".into()));
    assert_eq!(r.clients[1].outcome, Outcome::Reply("UDP-OK".into()));
    let masq = "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE";
    assert!(any_rule(&r, masq));
    assert_eq!(
        counter_of(&r.counters, masq),
        "[2:95]",
        "first packet of each flow (SYN 60 + UDP 28+7)"
    );
    let tcp = "src=172.17.0.2 dst=198.51.100.10 sport=41000 dport=7000 src=198.51.100.10 dst=198.51.100.1 sport=7000 dport=41000";
    let udp = "src=172.17.0.2 dst=198.51.100.10 sport=41001 dport=7001 src=198.51.100.10 dst=198.51.100.1 sport=7001 dport=41001";
    assert!(
        r.conntrack
            .iter()
            .any(|l| l.starts_with("tcp") && l.contains(tcp) && l.contains("[ASSURED]")),
        "{:?}",
        r.conntrack
    );
    assert!(
        r.conntrack.iter().any(|l| l.starts_with("udp") && l.contains(udp)),
        "{:?}",
        r.conntrack
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn reject_refuses_tcp_and_answers_udp_with_icmp() {
    if !kernel_available() {
        return;
    }
    let r = run("reject");
    assert_eq!(r.clients[0].outcome, Outcome::Refused);
    assert_eq!(
        r.clients[1].outcome,
        Outcome::Timeout,
        "an unconnected UDP socket ignores the ICMP error"
    );
    let tcp = "-A INPUT -p tcp -m tcp --dport 8081 -j REJECT --reject-with tcp-reset";
    let udp = "-A INPUT -p udp -m udp --dport 8082 -j REJECT --reject-with icmp-port-unreachable";
    assert_eq!(counter_of(&r.counters, tcp), "[1:60]", "one SYN, no retransmission");
    assert_eq!(counter_of(&r.counters, udp).split(':').next(), Some("[1"));
    assert!(
        !r.conntrack
            .iter()
            .any(|l| l.contains("dport=8081") || l.contains("dport=8082")),
        "{:?}",
        r.conntrack
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn notrack_connection_is_accepted_as_untracked() {
    if !kernel_available() {
        return;
    }
    let r = run("notrack");
    assert_eq!(r.clients[0].outcome, Outcome::Reply("HOST".into()));
    let untracked = "-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT";
    let drop = "-A INPUT -p tcp -m tcp --dport 8083 -j DROP";
    assert!(any_rule(&r, untracked));
    assert_eq!(counter_of(&r.counters, drop), "[0:0]");
    // The client's packets are untracked; only the host's replies (tracked in OUTPUT, picked
    // up mid-stream) make an entry, with the host as its original source.
    let ours: Vec<_> = r.conntrack.iter().filter(|l| l.contains("=40005 ")).collect();
    assert_eq!(ours.len(), 1, "{:?}", r.conntrack);
    assert!(
        ours[0].contains(" src=198.51.100.1 dst=198.51.100.10 sport=8083 dport=40005 [UNREPLIED] "),
        "{}",
        ours[0]
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn bridge_c2c_is_bridged_through_forward() {
    if !kernel_available() {
        return;
    }
    let r = run("bridge-c2c");
    assert_eq!(r.clients[0].outcome, Outcome::Reply("+PONG".into()));
    let c2c = "-A FORWARD -i docker0 -o docker0 -j ACCEPT";
    assert!(any_rule(&r, c2c));
    // The SYN is accepted by the docker0 -> docker0 rule; every later packet, both ways, is
    // bridged too (OUT=docker0) and accepted as ESTABLISHED.
    assert_eq!(counter_of(&r.counters, c2c), "[1:60]");
    assert_eq!(
        counter_of(
            &r.counters,
            "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        ),
        "[9:490]"
    );
    let syns = tcp_syn_to(&r, 6379);
    assert_eq!(syns.len(), 1);
    assert_eq!(
        syns[0].path(),
        vec!["raw:PREROUTING", "nat:PREROUTING", "filter:FORWARD", "nat:POSTROUTING"]
    );
    let ct =
        "src=172.17.0.2 dst=172.17.0.3 sport=42000 dport=6379 src=172.17.0.3 dst=172.17.0.2 sport=6379 dport=42000";
    assert!(
        r.conntrack.iter().any(|l| l.contains(ct) && l.contains("[ASSURED]")),
        "{:?}",
        r.conntrack
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn docker28_drops_direct_routing_in_raw_and_publishes_the_port() {
    if !kernel_available() {
        return;
    }
    let r = run("docker28");
    assert_eq!(
        r.clients[0].outcome,
        Outcome::Timeout,
        "direct route to the container is dropped"
    );
    assert_eq!(
        r.clients[1].outcome,
        Outcome::Reply("+PONG".into()),
        "the published port works"
    );
    let raw_drop = "-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP";
    let direct = tcp_syn_to(&r, 6379)
        .into_iter()
        .filter(|p| p.first_header().dst.as_deref() == Some("172.17.0.2"))
        .collect::<Vec<_>>();
    assert!(!direct.is_empty());
    for p in &direct {
        assert_eq!(p.path(), vec!["raw:PREROUTING"], "dropped before conntrack and nat");
        let last = p.events().last().unwrap();
        assert_eq!((last.rule_text(), last.verdict()), (Some(raw_drop), "DROP"));
    }
    assert!(counter_of(&r.counters, raw_drop) != "[0:0]");
    assert_eq!(
        counter_of(&r.counters, "-A DOCKER-BRIDGE -o docker0 -j DOCKER"),
        "[1:60]"
    );
    assert!(
        !r.conntrack.iter().any(|l| l.contains("sport=40050")),
        "{:?}",
        r.conntrack
    );
    assert!(
        r.conntrack
            .iter()
            .any(|l| l.contains("sport=40051 dport=10000 src=172.17.0.2") && l.contains("[ASSURED]")),
        "{:?}",
        r.conntrack
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn chains_goto_return_nested_and_negations() {
    if !kernel_available() {
        return;
    }
    let r = run("chains");
    let got: Vec<_> = r.clients.iter().map(|c| c.outcome.clone()).collect();
    assert_eq!(
        got,
        vec![
            Outcome::Reply("HOST".into()),
            Outcome::Refused,
            Outcome::Reply("HOST".into()),
            Outcome::Timeout
        ]
    );
    // RETURN from the goto'd ALLOWLIST resumes INPUT after `-j SVC`, not SVC.
    let goto = tcp_syn_to(&r, 8084)
        .into_iter()
        .find(|p| p.first_header().src.as_deref() == Some("198.51.100.12"))
        .unwrap();
    let rules: Vec<_> = goto.events().filter_map(|e| e.rule_text()).collect();
    assert_eq!(
        rules.last(),
        Some(&"-A INPUT -s 198.51.100.12/32 -p tcp -m tcp --dport 8084 -j ACCEPT"),
        "{rules:#?}"
    );
    assert!(!rules.contains(&"-A SVC -j CHECK-SRC"));
    assert_eq!(
        counter_of(&r.counters, "-A SVC -p tcp"),
        "[5:300]",
        "counter-only rule: every SYN reaching SVC"
    );
    assert_eq!(
        counter_of(&r.counters, "-A SVC ! -s 198.51.100.10/32 -j RETURN"),
        "[1:60]"
    );
    assert_eq!(
        counter_of(&r.counters, "-A CHECK-SRC -s 198.51.100.13/32 -j DROP")
            .split(':')
            .next(),
        Some("[2")
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn marks_set_save_restore_and_match() {
    if !kernel_available() {
        return;
    }
    let r = run("marks");
    assert_eq!(r.clients[0].outcome, Outcome::Reply("HOST".into()));
    assert_eq!(r.clients[1].outcome, Outcome::Refused);
    assert_eq!(
        counter_of(
            &r.counters,
            "-A INPUT -p tcp -m tcp --dport 8085 -m mark --mark 0x1 -m conntrack --ctstate NEW -j ACCEPT"
        ),
        "[1:60]"
    );
    assert_eq!(
        counter_of(
            &r.counters,
            "-A INPUT -p tcp -m tcp --dport 8085 -m connmark --mark 0x1 -j ACCEPT"
        ),
        "[4:215]"
    );
    let ct: Vec<_> = r.conntrack.iter().filter(|l| l.contains("sport=40020")).collect();
    assert_eq!(ct.len(), 1, "{:?}", r.conntrack);
    assert!(ct[0].contains(" mark=1 "), "{}", ct[0]);
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn ufw_docker_published_port_bypasses_ufw() {
    if !kernel_available() {
        return;
    }
    let r = run("ufw-docker");
    assert_eq!(
        r.clients[0].outcome,
        Outcome::Reply("+PONG".into()),
        "published port reachable despite UFW"
    );
    assert_eq!(r.clients[1].outcome, Outcome::Reply("SSH".into()));
    assert_eq!(r.clients[2].outcome, Outcome::Timeout, "UFW denies the host service");
    for p in tcp_syn_to(&r, 10000) {
        assert!(
            !p.path().iter().any(|h| h == "filter:INPUT"),
            "the published port never reaches INPUT"
        );
    }
    assert_eq!(
        counter_of(&r.counters, "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT"),
        "[1:60]"
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn kube_nodeport_dnat_mark_and_masquerade() {
    if !kernel_available() {
        return;
    }
    let r = run("kube-nodeport");
    assert_eq!(r.clients[0].outcome, Outcome::Reply("WEB".into()));
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn icmp_echo_udp_and_related_error_are_logged() {
    if !kernel_available() {
        return;
    }
    let r = run("icmp");
    let got: Vec<_> = r.clients.iter().map(|c| c.outcome.clone()).collect();
    assert_eq!(
        got,
        vec![
            Outcome::Reply("PING-FWD".into()),
            Outcome::Reply("PING-HOST".into()),
            Outcome::Timeout
        ]
    );
    let has = |prefix: &str, part: &str| r.log_lines.iter().any(|l| l.starts_with(prefix) && l.contains(part));
    assert!(
        has(
            "FWD-ICMP: IN=enp1s0 OUT=eth1 ",
            " PROTO=ICMP TYPE=8 CODE=0 ID=4660 SEQ=1"
        ),
        "{:#?}",
        r.log_lines
    );
    assert!(
        has(
            "FWD-ICMP: IN=eth1 OUT=enp1s0 ",
            " PROTO=ICMP TYPE=0 CODE=0 ID=4660 SEQ=1"
        ),
        "{:#?}",
        r.log_lines
    );
    assert!(
        has("IN-ICMP: IN=enp1s0 OUT= ", " TYPE=8 CODE=0 ID=4661 SEQ=1"),
        "{:#?}",
        r.log_lines
    );
    assert!(
        has("OUT-ICMP: IN= OUT=enp1s0 ", " TYPE=0 CODE=0 ID=4661 SEQ=1"),
        "{:#?}",
        r.log_lines
    );
    assert!(
        has("FWD-UDP: ", " PROTO=UDP SPT=40060 DPT=9999 LEN=15"),
        "{:#?}",
        r.log_lines
    );
    assert!(
        has(
            "REL: IN=eth1 OUT=enp1s0 ",
            " PROTO=ICMP TYPE=3 CODE=3 [SRC=198.51.100.10 DST=203.0.113.10 LEN=35 "
        ) && has("REL: ", " PROTO=UDP SPT=40060 DPT=9999 LEN=15 ]"),
        "{:#?}",
        r.log_lines
    );
    assert!(
        r.conntrack
            .iter()
            .any(|l| l.starts_with("icmp") && l.contains("type=8 code=0 id=4660 src=203.0.113.10")),
        "{:?}",
        r.conntrack
    );
    assert_eq!(
        counter_of(&r.counters, "-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT")
            .split(':')
            .next(),
        Some("[1")
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn snat_port_clash_gets_another_port() {
    if !kernel_available() {
        return;
    }
    let r = run("snat");
    assert!(
        r.clients.iter().all(|c| c.outcome == Outcome::Reply("SRV".into())),
        "{:?}",
        r.clients
    );
    let kept = "src=198.51.100.10 dst=203.0.113.10 sport=40070 dport=7000 src=203.0.113.10 dst=203.0.113.1 sport=7000 dport=40070 ";
    assert!(
        r.conntrack.iter().any(|l| l.contains(kept)),
        "the first connection keeps its port: {:?}",
        r.conntrack
    );
    let second: Vec<_> = r
        .conntrack
        .iter()
        .filter(|l| l.contains("src=198.51.100.11 "))
        .collect();
    assert_eq!(second.len(), 1, "{:?}", r.conntrack);
    assert!(
        !second[0].contains("dport=40070 [") && second[0].contains(" dst=203.0.113.1 sport=7000 "),
        "{}",
        second[0]
    );
    assert_eq!(
        counter_of(&r.counters, "-A POSTROUTING -o eth1 -j SNAT --to-source 203.0.113.1"),
        "[2:120]"
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn rst_close_leaves_conntrack_in_close() {
    if !kernel_available() {
        return;
    }
    let r = run("rst-close");
    assert_eq!(r.clients[0].outcome, Outcome::Reply("+PONG".into()));
    let ct: Vec<_> = r
        .conntrack
        .iter()
        .filter(|l| l.contains("sport=40080 dport=10000 src=172.17.0.2"))
        .collect();
    assert_eq!(ct.len(), 1, "{:?}", r.conntrack);
    assert!(ct[0].starts_with("tcp") && ct[0].contains(" CLOSE src="), "{}", ct[0]);
    assert!(r
        .packets()
        .iter()
        .any(|p| p.first_header().sport == Some(40080) && p.first_header().tcp_flags().contains(&"RST")));
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn redirect_reaches_the_host_service() {
    if !kernel_available() {
        return;
    }
    let r = run("redirect");
    assert!(
        r.clients.iter().all(|c| c.outcome == Outcome::Reply("PROXY".into())),
        "{:?}",
        r.clients
    );
    let redirect = "-A PREROUTING -p tcp -m tcp --dport 8088 -j REDIRECT --to-ports 9099";
    assert_eq!(counter_of(&r.counters, redirect), "[2:120]");
    for sport in [40090, 40091] {
        let l = format!("sport={sport} dport=8088 src=198.51.100.1 dst=198.51.100.10 sport=9099 dport={sport} ");
        assert!(r.conntrack.iter().any(|x| x.contains(&l)), "{l} in {:?}", r.conntrack);
    }
    for p in tcp_syn_to(&r, 8088) {
        assert_eq!(
            p.path(),
            vec!["raw:PREROUTING", "nat:PREROUTING", "filter:INPUT", "nat:INPUT"]
        );
    }
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[test]
fn log_options_print_sequence_options_uid_and_mark() {
    if !kernel_available() {
        return;
    }
    let r = run("log-options");
    assert!(r.clients.iter().all(|c| c.as_expected()), "{:?}", r.clients);
    let log = &r.log_lines;
    let line = |prefix: &str| {
        log.iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in {log:#?}"))
            .clone()
    };
    let syn = line("IN-OPT: ");
    assert!(syn.contains(" SEQ=") && syn.contains(" ACK=0 WINDOW="), "{syn}");
    assert!(
        syn.contains("SYN URGP=0 OPT (020405B4"),
        "the SYN's MSS option first: {syn}"
    );
    assert!(syn.trim_end().ends_with("MARK=0x2a"), "{syn}");
    let out = line("OUT-UID: ");
    assert!(out.trim_end().ends_with("UID=0 GID=0 MARK=0x7"), "{out}");
    assert!(!line("IN-UDP: ").contains("UID="), "no socket on a received packet");
}

#[test]
fn netmap_maps_destination_in_and_source_out() {
    if !kernel_available() {
        return;
    }
    let r = run("netmap");
    assert!(r.clients.iter().all(|c| c.as_expected()), "{:?}", r.clients);
    let has = |t: &str| r.conntrack.iter().any(|l| l.contains(t));
    assert!(
        has("src=198.51.100.10 dst=203.0.113.5 sport=40110 dport=7000 src=10.99.0.5 dst=198.51.100.10"),
        "{:#?}",
        r.conntrack
    );
    assert!(
        has("src=10.99.0.5 dst=198.51.100.10 sport=40111 dport=7001 src=198.51.100.10 dst=203.0.113.5"),
        "{:#?}",
        r.conntrack
    );
}

#[test]
fn snat_range_sources_from_the_range() {
    if !kernel_available() {
        return;
    }
    let r = run("snat-range");
    assert!(r.clients.iter().all(|c| c.as_expected()), "{:?}", r.clients);
    let entries: Vec<_> = r
        .conntrack
        .iter()
        .filter(|l| l.contains("dport=7000 src=203.0.113.10"))
        .collect();
    assert_eq!(entries.len(), 4, "{:#?}", r.conntrack);
    assert!(
        entries
            .iter()
            .all(|l| l.contains("dst=203.0.113.20 ") || l.contains("dst=203.0.113.21 ")),
        "{entries:#?}"
    );
}

#[test]
fn no_forward_drops_after_prerouting_and_serves_the_host() {
    if !kernel_available() {
        return;
    }
    let r = run("no-forward");
    assert!(r.clients.iter().all(|c| c.as_expected()), "{:?}", r.clients);
    let syns = tcp_syn_to(&r, 7000);
    assert!(!syns.is_empty(), "{}", r.raw_trace);
    for syn in &syns {
        assert_eq!(syn.path(), vec!["raw:PREROUTING"], "{}", r.raw_trace);
    }
    assert!(
        r.log_lines.iter().all(|l| !l.starts_with("FWD: ")),
        "{:#?}",
        r.log_lines
    );
    assert!(
        !r.conntrack.iter().any(|l| l.contains("dport=7000")),
        "{:#?}",
        r.conntrack
    );
}

#[test]
fn no_conntrack_user_means_nothing_is_tracked() {
    if !kernel_available() {
        return;
    }
    // Nothing in the ruleset needs conntrack: the kernel tracks nothing (run() also checks
    // that nfwalk agrees, conntrack table included).
    let r = run("no-conntrack");
    assert!(r.clients.iter().all(|c| c.as_expected()), "{:?}", r.clients);
    assert!(
        r.conntrack
            .iter()
            .all(|l| !l.starts_with("tcp") && !l.starts_with("udp")),
        "{:?}",
        r.conntrack
    );
}

#[test]
fn ipset_sets_decide_who_reaches_the_services() {
    if !kernel_available() {
        return;
    }
    let r = run("ipset");
    assert!(r.clients.iter().all(|c| c.as_expected()), "{:?}", r.clients);
    assert!(std::fs::read_to_string(r.snapshot_dir.join("ipset-save.txt"))
        .unwrap()
        .contains("add svc 198.51.100.1,tcp:8096"));
}

#[test]
fn policy_routing_sends_marked_traffic_by_table_100() {
    if !kernel_available() {
        return;
    }
    let r = run("policy-routing");
    assert!(r.clients.iter().all(|c| c.as_expected()), "{:?}", r.clients);
}

#[test]
fn seed_local_host_reaches_its_published_port_through_nat_output() {
    if !kernel_available() {
        return;
    }
    let r = run("seed-local");
    assert!(r.clients.iter().all(|c| c.as_expected()), "{:?}", r.clients);
    assert!(r.raw_trace.contains("nat:DOCKER:rule"), "nat OUTPUT reached DOCKER");
}
