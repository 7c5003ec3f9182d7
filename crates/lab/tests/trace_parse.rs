//! Parser and grouping tests on real `xtables-monitor --trace` output captured by this lab
//! (Linux 6.18, iptables 1.8.9 nf_tables) in data/.

use nfwalk_lab::trace::{parse_packets, parse_trace, PacketHeader, TraceEvent, TraceEventKind};

const SEED: &str = include_str!("data/seed-trace.txt");
const SEED_FIRST: &str = include_str!("data/seed-trace-first.txt");
const CTORIG: &str = include_str!("data/seed-ctorig-trace.txt");
const INPUT: &str = include_str!("data/seed-input-trace.txt");

const DNAT: &str = "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 10000 -j DNAT --to-destination 172.17.0.2:6379";
const USER_DROP: &str = "-A DOCKER-USER -p tcp -m tcp --dport 10000 -j DROP";

#[test]
fn packet_line_fields() {
    let h = PacketHeader::parse("PACKET: 2 3f0f78a0 IN=enp1s0 OUT=docker0 MACSRC=c6:94:8:31:83:13 MACDST=82:f5:1e:25:3b:4c MACPROTO=0800 SRC=198.51.100.10 DST=172.17.0.2 LEN=60 TOS=0x0 TTL=63 ID=40846 DF SPORT=40001 DPORT=6379 SYN ").unwrap();
    assert_eq!(h.family, 2);
    assert_eq!(h.iif.as_deref(), Some("enp1s0"));
    assert_eq!(h.oif.as_deref(), Some("docker0"));
    assert_eq!(h.src.as_deref(), Some("198.51.100.10"));
    assert_eq!(h.dst.as_deref(), Some("172.17.0.2"));
    assert_eq!((h.len, h.ttl, h.id), (Some(60), Some(63), Some(40846)));
    assert_eq!((h.sport, h.dport), (Some(40001), Some(6379)));
    assert_eq!(h.proto.as_deref(), Some("tcp"));
    assert_eq!(h.flags, vec!["DF", "SYN"]);
    assert_eq!(h.tcp_flags(), vec!["SYN"]);

    // A locally generated IGMP report: IP options in parentheses, a MARK, no ports.
    let h = PacketHeader::parse("PACKET: 2 9afedb6e OUT=docker0 SRC=172.17.0.1 DST=224.0.0.22 LEN=40 TOS=0xc0 TTL=1 ID=0 DF OPT (FFFFFF94040000) MARK=0xd4 ").unwrap();
    assert_eq!(h.iif, None);
    assert_eq!(h.flags, vec!["DF", "OPT"]);
    assert_eq!(h.mark.as_deref(), Some("0xd4"));
    assert_eq!(h.proto, None);
    assert_eq!(h.tos.as_deref(), Some("0xc0"));
}

#[test]
fn trace_line_kinds() {
    let e = TraceEvent::parse(" TRACE: 2 3f0f78a0 nat:DOCKER:rule:0xb:ACCEPT  -4 -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 10000 -j DNAT --to-destination 172.17.0.2:6379").unwrap();
    assert_eq!((e.table.as_str(), e.chain.as_str()), ("nat", "DOCKER"));
    assert_eq!(
        e.kind,
        TraceEventKind::Rule {
            handle: "0xb".into(),
            verdict: "ACCEPT".into(),
            rule_text: DNAT.into()
        }
    );
    let e = TraceEvent::parse(
        " TRACE: 2 3f0f78a0 filter:FORWARD:rule:0x8:JUMP:DOCKER-USER  -4 -t filter -A FORWARD -j DOCKER-USER",
    )
    .unwrap();
    assert_eq!(e.verdict(), "JUMP:DOCKER-USER");
    assert_eq!(e.rule_text(), Some("-A FORWARD -j DOCKER-USER"));
    let e = TraceEvent::parse(
        " TRACE: 2 3f0f78a0 filter:DOCKER-USER:rule:0x14:0xfffffffb  -4 -t filter -A DOCKER-USER -j RETURN",
    )
    .unwrap();
    assert_eq!(e.verdict(), "0xfffffffb");
    let e = TraceEvent::parse(" TRACE: 2 3f0f78a0 raw:PREROUTING:policy:ACCEPT ").unwrap();
    assert_eq!(
        e.kind,
        TraceEventKind::Policy {
            verdict: "ACCEPT".into()
        }
    );
}

fn check_seed(text: &str) {
    let blocks = parse_trace(text);
    assert_eq!(blocks.len(), text.lines().filter(|l| l.starts_with("PACKET:")).count());
    let packets = parse_packets(text);
    assert_eq!(packets.iter().map(|p| p.blocks.len()).sum::<usize>(), blocks.len());
    let tcp: Vec<_> = packets
        .iter()
        .filter(|p| p.first_header().proto.as_deref() == Some("tcp"))
        .collect();
    // 3-way handshake, request, its ACK, reply, its ACK, FIN, FIN, last ACK.
    assert_eq!(tcp.len(), 10, "{:#?}", tcp.iter().map(|p| p.path()).collect::<Vec<_>>());
    let syn = tcp[0];
    assert_eq!(syn.first_header().tcp_flags(), vec!["SYN"]);
    assert_eq!(
        syn.path(),
        vec!["raw:PREROUTING", "nat:PREROUTING", "filter:FORWARD", "nat:POSTROUTING"]
    );
    assert!(syn
        .events()
        .any(|e| e.rule_text() == Some(DNAT) && e.verdict() == "ACCEPT"));
    // DNAT rewrote DST/DPORT between the nat:PREROUTING and filter:FORWARD blocks.
    assert_eq!(syn.blocks[1].header.dport, Some(10000));
    assert_eq!(syn.blocks[2].header.dport, Some(6379));
    assert_eq!(syn.blocks[2].header.dst.as_deref(), Some("172.17.0.2"));
    // Every later packet, either direction: raw PREROUTING then filter FORWARD, no nat.
    for p in &tcp[1..] {
        assert_eq!(p.path(), vec!["raw:PREROUTING", "filter:FORWARD"]);
        assert_eq!(p.final_verdict(), Some("ACCEPT"));
    }
    // The DOCKER-USER DROP rule never matched.
    assert!(!packets
        .iter()
        .flat_map(|p| p.events())
        .any(|e| e.rule_text() == Some(USER_DROP)));
    // Every packet's blocks share SRC/SPORT/ID/LEN.
    for p in &packets {
        let id = p.first_header().identity();
        assert!(p.blocks.iter().all(|b| b.header.identity() == id));
    }
}

#[test]
fn seed_trace_groups_into_ten_tcp_packets() {
    check_seed(SEED);
    check_seed(SEED_FIRST);
}

#[test]
fn trace_ids_change_across_hooks_for_replies() {
    // The SYN-ACK from the container: its raw:PREROUTING and filter:FORWARD blocks carry
    // different trace ids, yet group into one packet.
    let packets = parse_packets(SEED_FIRST);
    let synack = packets
        .iter()
        .find(|p| p.first_header().tcp_flags() == vec!["SYN", "ACK"])
        .unwrap();
    assert_eq!(synack.blocks.len(), 2);
    assert_ne!(synack.blocks[0].header.trace_id, synack.blocks[1].header.trace_id);
    assert_eq!(synack.first_header().id, Some(0));
}

#[test]
fn ctorig_drops_every_syn_and_nat_runs_again() {
    let packets = parse_packets(CTORIG);
    let syns: Vec<_> = packets
        .iter()
        .filter(|p| p.first_header().dport == Some(10000))
        .collect();
    assert!(syns.len() >= 3, "retransmitted SYNs are traced");
    let mut ids: Vec<_> = syns.iter().map(|p| p.first_header().id).collect();
    ids.dedup();
    assert_eq!(ids.len(), syns.len(), "each retransmission has its own IP ID");
    for p in &syns {
        let last = p.events().last().unwrap();
        if p.blocks.len() == 1 {
            continue; // capture stopped mid-walk (last retransmission)
        }
        assert_eq!(p.path(), vec!["raw:PREROUTING", "nat:PREROUTING", "filter:FORWARD"]);
        assert!(p.events().any(|e| e.rule_text() == Some(DNAT)));
        assert_eq!(
            last.rule_text(),
            Some("-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 10000 --ctdir ORIGINAL -j DROP")
        );
        assert_eq!(last.verdict(), "DROP");
    }
}

#[test]
fn input_rule_blocks_host_service_only() {
    let packets = parse_packets(INPUT);
    assert!(!packets
        .iter()
        .flat_map(|p| p.events())
        .any(|e| e.rule_text() == Some("-A INPUT -p tcp -m tcp --dport 10000 -j DROP")));
    let host: Vec<_> = packets
        .iter()
        .filter(|p| p.first_header().dport == Some(8080) && p.blocks.len() == 3)
        .collect();
    assert!(!host.is_empty());
    for p in host {
        assert_eq!(p.path(), vec!["raw:PREROUTING", "nat:PREROUTING", "filter:INPUT"]);
        // nat DOCKER chain returned implicitly (no event), then the PREROUTING policy.
        let nat: Vec<_> = p.blocks[1].events.iter().map(|e| e.verdict().to_string()).collect();
        assert_eq!(nat, vec!["JUMP:DOCKER", "ACCEPT"]);
        assert!(matches!(p.blocks[1].events[1].kind, TraceEventKind::Policy { .. }));
        assert_eq!(p.final_verdict(), Some("DROP"));
    }
}

#[test]
fn committed_seed_reference_data_loads() {
    let base = nfwalk_lab::scenario::scenarios_dir().join("seed");
    let r = nfwalk_lab::KernelRun::load(&base.join("kernel"), &base.join("snapshot")).unwrap();
    assert!(r.clients.iter().all(|c| c.as_expected()));
    let tcp = r
        .packets()
        .into_iter()
        .filter(|p| p.first_header().proto.as_deref() == Some("tcp"))
        .count();
    assert_eq!(tcp, 10);
    assert!(r
        .conntrack
        .iter()
        .any(|l| l.contains("sport=40001 dport=10000") && l.contains("[ASSURED]")));
    assert!(std::fs::metadata(&r.pcap).unwrap().len() > 24);
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
}
