//! kube-proxy's own packet-flow expectations (TestTracePackets in
//! pkg/proxy/iptables/proxier_test.go), read from ../shared/corpus/kube-proxy, against
//! nfwalk's real walk of the same ruleset on a node with the test's local addresses.
//!
//! kube-proxy's tracer is simplified (nat PREROUTING then filter chains called directly);
//! nfwalk walks the real hooks, so the comparison is on what the test asserts: the DNAT
//! endpoint(s) (every branch of `-m statistic --mode random`), the terminal verdict
//! (DROP/ACCEPT/REJECT), and whether the packet passed KUBE-MARK-MASQ.

use nfwalk_model::{Host, Interface, Packet, Sysctls, TcpFlags};
use nfwalk_walk::{Event, Fate, Ingress, Walker};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/kube-proxy/iptables");
    p.exists().then_some(p)
}

/// kube-proxy's fixture writes multi-word comments without quotes (its tracer never splits
/// them as a shell would); quote them as iptables-save does, so the ruleset is valid input.
fn quote_comments(text: &str) -> String {
    text.lines()
        .map(|l| {
            let Some(i) = l.find("--comment ") else {
                return l.to_string();
            };
            let rest = &l[i + 10..];
            if rest.starts_with('"') {
                return l.to_string();
            }
            // The comment runs to the next option.
            let end = rest.find(" -").unwrap_or(rest.len());
            let c = &rest[..end];
            if !c.contains(' ') {
                return l.to_string();
            }
            format!("{}--comment \"{}\"{}", &l[..i], c, &rest[end..])
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn node(rules: &str) -> Host {
    let loaded = nfwalk_parse::iptables::load("proxier_test.go__TestTracePackets.rules", rules).expect("loads");
    // testNodeIPs: 192.168.0.2, 192.168.1.2, 192.168.99.11 (and loopback).
    let interfaces = vec![
        Interface::new(1, "lo", &["127.0.0.1/8"]),
        Interface::new(2, "eth0", &["192.168.0.2/24", "192.168.99.11/24"]),
        Interface::new(3, "eth1", &["192.168.1.2/24"]),
        Interface::new(4, "cbr0", &["10.180.0.254/16"]),
    ];
    let mut routes = nfwalk_parse::host::derive_kernel_routes(&interfaces);
    routes.push(nfwalk_model::Route {
        table: nfwalk_model::host::TABLE_MAIN,
        kind: nfwalk_model::RouteType::Unicast,
        dst: "0.0.0.0/0".parse().unwrap(),
        dev: Some("eth0".into()),
        gateway: Some("192.168.0.1".parse().unwrap()),
        prefsrc: None,
        metric: 0,
    });
    Host {
        name: "kube-proxy test node".into(),
        interfaces,
        routes,
        rules: Vec::new(),
        sysctl: Sysctls {
            ip_forward: true,
            bridge_nf_call_iptables: true,
            route_localnet: false,
        },
        ruleset: loaded.ruleset,
        ipsets: Vec::new(),
        listeners: Vec::new(),
    }
}

struct Case {
    name: String,
    src: String,
    dst: String,
    dport: u16,
    output: String,
    masq: bool,
}

fn cases(text: &str) -> Vec<Case> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('|'))
        .map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            assert_eq!(f[1], "tcp", "only tcp cases in the fixture: {l}");
            Case {
                name: f[0].into(),
                src: f[2].into(),
                dst: f[3].into(),
                dport: f[4].parse().unwrap(),
                output: f[5].into(),
                masq: f[6] == "true",
            }
        })
        .collect()
}

#[test]
fn nfwalk_agrees_with_kube_proxys_trace_packets_expectations() {
    let Some(dir) = corpus() else {
        eprintln!("corpus not found; skipping");
        return;
    };
    let rules = quote_comments(&std::fs::read_to_string(dir.join("proxier_test.go__TestTracePackets.rules")).unwrap());
    let expected = std::fs::read_to_string(dir.join("proxier_test.go__TestTracePackets.expected.txt")).unwrap();
    let host = node(&rules);
    let local: BTreeSet<&str> = ["127.0.0.1", "192.168.0.2", "192.168.1.2", "192.168.99.11"].into();
    let cases = cases(&expected);
    assert_eq!(cases.len(), 7, "the fixture's seven cases");
    for c in &cases {
        let src = c.src.parse().unwrap();
        let dst = c.dst.parse().unwrap();
        let ingress = if local.contains(c.src.as_str()) {
            Ingress::Local
        } else {
            Ingress::Iface {
                iface: "eth0".into(),
                physin: None,
            }
        };
        let mut w = Walker::new(&host);
        let t = w.walk(ingress, Packet::tcp(src, 40001, dst, c.dport, TcpFlags::SYN));

        // DNAT endpoints, over every branch nfwalk explored.
        let mut endpoints = BTreeSet::new();
        for e in &t.events {
            if let Event::Rewrite {
                field, to, by: Some(_), ..
            } = e
            {
                if field == "dst" {
                    endpoints.insert(to.clone());
                }
            }
        }
        for (_, outcome) in &t.alternatives {
            if let Some(i) = outcome.find(" → ") {
                let to = outcome[i + " → ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string();
                if to != format!("{}:{}", c.dst, c.dport) {
                    endpoints.insert(to);
                }
            }
        }
        let verdict = match &t.fate {
            Fate::Dropped { .. } => "DROP".to_string(),
            Fate::Rejected { .. } => "REJECT".to_string(),
            _ if t
                .path()
                .iter()
                .any(|s| s.chain == "KUBE-NODEPORTS" && s.verdict == "ACCEPT") =>
            {
                "ACCEPT".into()
            }
            _ => endpoints.iter().cloned().collect::<Vec<_>>().join(", "),
        };
        let masq = t.path().iter().any(|s| s.chain == "KUBE-MARK-MASQ");
        assert_eq!(verdict, c.output, "case {:?}: fate {}", c.name, t.fate.describe());
        assert_eq!(masq, c.masq, "case {:?}: masq", c.name);
    }
}
