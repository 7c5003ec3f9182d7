//! explain and lint on the seed scenarios' rulesets and on hand-made rulesets.

use nfwalk_analyze::{explain, lint, Expect, LintInput, Request, RuleSel};
use nfwalk_model::{Host, Interface, Packet, Sysctls, TableName, TcpFlags};
use nfwalk_walk::Ingress;

fn scenarios() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// The seed host's interfaces with any ruleset text.
pub fn host_with(rules: &str) -> Host {
    let loaded = nfwalk_parse::iptables::load("rules.v4", rules).expect("ruleset loads");
    let mut enp = Interface::new(2, "enp1s0", &["198.51.100.1/24"]);
    enp.kind = Some("veth".into());
    let mut docker0 = Interface::new(3, "docker0", &["172.17.0.1/16"]);
    docker0.kind = Some("bridge".into());
    let mut vethc0 = Interface::new(4, "vethc0", &[]);
    vethc0.master = Some("docker0".into());
    let interfaces = vec![Interface::new(1, "lo", &["127.0.0.1/8"]), enp, docker0, vethc0];
    let routes = nfwalk_parse::host::derive_kernel_routes(&interfaces);
    Host {
        name: "test".into(),
        interfaces,
        routes,
        rules: vec![],
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

fn rules(name: &str) -> String {
    std::fs::read_to_string(scenarios().join(name).join("rules.v4")).expect("scenario rules")
}

fn from_outside(dport: u16) -> Request {
    Request {
        ingress: Ingress::Iface {
            iface: "enp1s0".into(),
            physin: None,
        },
        packet: Packet::tcp(
            "198.51.100.10".parse().unwrap(),
            40001,
            "198.51.100.1".parse().unwrap(),
            dport,
            TcpFlags::SYN,
        ),
        expect: None,
        rule: None,
        before: Vec::new(),
    }
}

#[test]
fn seed_explain_names_the_dnat_and_proves_the_ctorig_fix() {
    let host = host_with(&rules("seed"));
    let ex = explain(
        &host,
        &Request {
            expect: Some(Expect::Drop),
            ..from_outside(10000)
        },
    )
    .unwrap();
    assert_eq!(ex.as_expected, Some(false));
    assert_eq!(ex.decided_by.line, Some(31), "{:?}", ex.decided_by);
    assert_eq!(ex.decided_by.hook, Some(nfwalk_model::Hook::Forward));
    let user = ex
        .why_not
        .iter()
        .find(|w| &*w.rule.chain == "DOCKER-USER")
        .expect("DOCKER-USER rule explained");
    assert_eq!(user.status, "condition_failed");
    assert_eq!(user.conditions.len(), 1);
    let c = &user.conditions[0];
    assert_eq!((c.condition.as_str(), c.seen.as_str()), ("--dport 10000", "dport 6379"));
    let rw = c.rewritten_by.as_ref().expect("rewritten");
    assert_eq!(
        (rw.from.as_str(), rw.to.as_str()),
        ("198.51.100.1:10000", "172.17.0.2:6379")
    );
    assert_eq!(
        rw.rule.as_ref().map(|r| (r.table, &*r.chain, r.line)),
        Some((TableName::Nat, "DOCKER", 15))
    );
    let top = &ex.fixes[0];
    assert_eq!(
        top.command,
        "iptables -I DOCKER-USER 1 -p tcp -m tcp -m conntrack --ctorigdstport 10000 --ctdir ORIGINAL -j DROP"
    );
    assert!(ex.fixes.iter().all(|f| f.verified));
    let c2c = top
        .side_effects
        .iter()
        .find(|s| s.traffic.starts_with("container→container"))
        .unwrap();
    assert!(!c2c.changed, "the ctorig fix leaves container→container 6379 alone");
    // Matching the rewritten values does block container→container traffic: reported.
    let now = ex
        .fixes
        .iter()
        .find(|f| f.rule.contains("-d 172.17.0.2/32 --dport 6379"))
        .expect("rewritten-value fix");
    assert!(now
        .side_effects
        .iter()
        .any(|s| s.traffic.starts_with("container→container") && s.changed));
    // A verified fix really drops on a fresh walk of the fixed ruleset text.
    let text = nfwalk_analyze::fix::apply_to_text(&host, &rules("seed"), top).unwrap();
    let fixed = host_with(&text);
    assert_eq!(
        nfwalk_analyze::explain::walk(&fixed, &from_outside(0).ingress, &from_outside(10000).packet)
            .fate
            .verdict(),
        "drop"
    );
}

#[test]
fn input_rule_is_never_reached_by_forwarded_traffic() {
    let host = host_with(&rules("seed-input"));
    let line = host
        .ruleset
        .rules()
        .find(|(_, _, r)| r.text == "-A INPUT -p tcp -m tcp --dport 10000 -j DROP")
        .unwrap()
        .2
        .line;
    let ex = explain(
        &host,
        &Request {
            rule: Some(RuleSel::Line(line)),
            ..from_outside(10000)
        },
    )
    .unwrap();
    assert_eq!(ex.expected, Some(Expect::Drop), "a DROP rule implies --expect drop");
    let w = &ex.why_not[0];
    assert_eq!(w.status, "not_reached");
    assert!(
        w.reasons
            .iter()
            .any(|r| r.contains("an INPUT rule never sees forwarded traffic")),
        "{:?}",
        w.reasons
    );
    let top = &ex.fixes[0];
    assert_eq!((top.chain.as_str(), top.verified), ("DOCKER-USER", true));
    assert!(top.rule.contains("--ctorigdstport 10000"), "{}", top.rule);
}

#[test]
fn expect_accept_for_a_blocked_host_service_inserts_an_accept_before_the_drop() {
    let host = host_with(&rules("seed-input"));
    let ex = explain(
        &host,
        &Request {
            expect: Some(Expect::Accept),
            ..from_outside(8080)
        },
    )
    .unwrap();
    let by = ex.decided_by.rule.as_ref().unwrap();
    assert_eq!(&*by.text, "-A INPUT -p tcp -m tcp --dport 8080 -j DROP");
    let top = &ex.fixes[0];
    assert_eq!((top.chain.as_str(), top.position), ("INPUT", by.index));
    assert!(
        top.rule.ends_with("-j ACCEPT") && top.rule.contains("--dport 8080"),
        "{}",
        top.rule
    );
}

#[test]
fn nat_rules_are_explained_as_first_packet_only() {
    let host = host_with(&rules("seed"));
    let mut req = from_outside(10000);
    req.packet.tcp_flags = TcpFlags(TcpFlags::ACK);
    req.rule = Some(RuleSel::At(TableName::Nat, "DOCKER".into(), 2));
    let ex = explain(&host, &req).unwrap();
    assert!(ex.why_not[0].reasons.iter().any(|r| r.contains("first packet")));
}

#[test]
fn bad_rule_selection_is_an_error_not_a_panic() {
    let host = host_with(&rules("seed"));
    assert!(explain(
        &host,
        &Request {
            rule: Some(RuleSel::At(TableName::Filter, "NOPE".into(), 9)),
            ..from_outside(1)
        }
    )
    .is_err());
    assert!(RuleSel::parse("filter DOCKER-USER 0").is_err());
    assert_eq!(
        RuleSel::parse("filter DOCKER-USER 1"),
        Ok(RuleSel::At(TableName::Filter, "DOCKER-USER".into(), 1))
    );
}

fn codes(host: &Host, text: &str) -> Vec<(&'static str, usize)> {
    lint(&LintInput {
        host,
        text: Some(text),
        legacy: None,
    })
    .into_iter()
    .map(|f| (f.code, f.line))
    .collect()
}

#[test]
fn lint_flags_the_seed_docker_user_rule() {
    let text = rules("seed");
    let host = host_with(&text);
    let f = lint(&LintInput {
        host: &host,
        text: Some(&text),
        legacy: None,
    });
    let nfw1: Vec<_> = f.iter().filter(|x| x.code == "NFW001").collect();
    assert_eq!(nfw1.len(), 1, "{f:#?}");
    assert_eq!((nfw1[0].line, nfw1[0].col), (36, 30));
    assert!(nfw1[0].fix.as_deref().unwrap().contains("--ctorigdstport 10000"));
    // The ctorig variant is not flagged.
    let text = rules("seed-ctorig");
    assert!(!codes(&host_with(&text), &text).iter().any(|c| c.0 == "NFW001"));
}

#[test]
fn lint_flags_input_rules_for_dnat_ports() {
    let text = rules("seed-input");
    let c = codes(&host_with(&text), &text);
    let line = text
        .lines()
        .position(|l| l == "-A INPUT -p tcp -m tcp --dport 10000 -j DROP")
        .unwrap()
        + 1;
    assert!(c.contains(&("NFW002", line)), "{c:?}");
    // The 8080 rule is for a host service: not flagged.
    let l8080 = text
        .lines()
        .position(|l| l == "-A INPUT -p tcp -m tcp --dport 8080 -j DROP")
        .unwrap()
        + 1;
    assert!(!c.iter().any(|x| x.1 == l8080), "{c:?}");
}

#[test]
fn lint_flags_published_ports_that_bypass_input_drop() {
    let text = rules("seed").replace(":INPUT ACCEPT [0:0]\n:FORWARD DROP", ":INPUT DROP [0:0]\n:FORWARD DROP");
    let c = codes(&host_with(&text), &text);
    assert!(c.contains(&("NFW003", 15)), "{c:?}");
    assert!(!codes(&host_with(&rules("seed")), &rules("seed"))
        .iter()
        .any(|x| x.0 == "NFW003"));
}

const SHADOW: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ORPHAN - [0:0]
-A INPUT -s 10.0.0.0/9 -j DROP
-A INPUT -s 10.128.0.0/9 -j DROP
-A INPUT -s 10.1.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -i eth+ -p udp -j DROP
-A INPUT -i eth0 -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -i wlan0 -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 1:1000 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 1001:65535 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8080 -j LOG
-A INPUT -m conntrack --ctstate NEW -j ACCEPT
-A INPUT -m addrtype --dst-type LOCAL -m conntrack --ctstate INVALID,ESTABLISHED,RELATED,UNTRACKED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -p tcp ! -p tcp -j ACCEPT
-A INPUT -j RETURN
-A ORPHAN -j DROP
-A FORWARD -j NOWHERE
COMMIT
";

#[test]
fn shadowing_is_decided_exactly_with_unions_wildcards_ranges_and_states() {
    let l = nfwalk_parse::iptables::load("s.v4", &SHADOW.replace("-A FORWARD -j NOWHERE\n", "")).unwrap();
    let chain = l
        .ruleset
        .table(TableName::Filter)
        .unwrap()
        .chain("INPUT")
        .unwrap()
        .clone();
    let sh = nfwalk_analyze::shadow::shadowed(&chain);
    let idx: Vec<(usize, Vec<usize>)> = sh
        .iter()
        .map(|s| (s.index + 1, s.by.iter().map(|b| b + 1).collect()))
        .collect();
    // rule 3 (10.1.2.0/24) is inside rule 1's 10.0.0.0/9.
    assert!(idx.contains(&(3, vec![1])), "{idx:?}");
    // eth0 is inside eth+; wlan0 is not.
    assert!(idx.contains(&(5, vec![4])), "{idx:?}");
    assert!(!idx.iter().any(|x| x.0 == 6), "{idx:?}");
    // dport 8080 is covered by two ranges together.
    assert!(idx.contains(&(9, vec![8])), "{idx:?}");
    // addrtype is undecidable: rule 11 never counts as covering, so ICMP (rule 12) is not
    // claimed to be shadowed even though NEW (rule 10) + rule 11's states cover every state.
    assert!(!idx.iter().any(|x| x.0 == 12), "{idx:?}");
    // -p tcp ! -p tcp matches nothing.
    assert!(sh.iter().any(|s| s.index + 1 == 13 && s.empty), "{sh:?}");
}

#[test]
fn shadow_union_of_two_prefixes() {
    let l = nfwalk_parse::iptables::load("s.v4", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.0/9 -j DROP\n-A INPUT -s 10.128.0.0/9 -j DROP\n-A INPUT -s 10.200.0.0/16 -j ACCEPT\n-A INPUT -s 11.0.0.0/8 -j ACCEPT\nCOMMIT\n").unwrap();
    let sh = nfwalk_analyze::shadow::shadowed(l.ruleset.table(TableName::Filter).unwrap().chain("INPUT").unwrap());
    assert_eq!(sh.len(), 1);
    assert_eq!(
        (sh[0].index, sh[0].by.clone()),
        (2, vec![1]),
        "only the /9 that overlaps is named"
    );
    let l = nfwalk_parse::iptables::load("s.v4", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.0/9 -j DROP\n-A INPUT -s 10.128.0.0/9 -j DROP\n-A INPUT -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n").unwrap();
    let sh = nfwalk_analyze::shadow::shadowed(l.ruleset.table(TableName::Filter).unwrap().chain("INPUT").unwrap());
    assert_eq!(
        sh.iter().map(|s| (s.index, s.by.clone())).collect::<Vec<_>>(),
        vec![(2, vec![0, 1])]
    );
}

#[test]
fn structural_findings() {
    let loaded = nfwalk_parse::iptables::load("s.v4", SHADOW);
    let text = match loaded {
        Ok(_) => SHADOW.to_string(),
        // The parser may reject the jump to a missing chain itself; lint it without.
        Err(_) => SHADOW.replace("-A FORWARD -j NOWHERE\n", ""),
    };
    let mut host = host_with(&text);
    let c = codes(&host, &text);
    let line = |s: &str| text.lines().position(|l| l == s).unwrap() + 1;
    assert!(c.contains(&("NFW005", line("-A ORPHAN -j DROP"))), "{c:?}");
    assert!(c.contains(&("NFW007", line("-A INPUT -j RETURN"))), "{c:?}");
    assert!(
        c.contains(&(
            "NFW004",
            line("-A INPUT -s 10.1.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT")
        )),
        "{c:?}"
    );
    // A jump to a missing chain (built by hand if the parser refuses it).
    let fwd = host
        .ruleset
        .table_mut(TableName::Filter)
        .unwrap()
        .chain_mut("FORWARD")
        .unwrap();
    fwd.rules.push(nfwalk_model::Rule {
        line: 99,
        text: "-A FORWARD -j NOWHERE".into(),
        counters: None,
        matches: vec![],
        target: nfwalk_model::Target::Jump {
            chain: "NOWHERE".into(),
        },
    });
    assert!(codes(&host, &text).contains(&("NFW006", 99)));
    // Docker with FORWARD ACCEPT.
    let t = rules("seed").replace(":FORWARD DROP", ":FORWARD ACCEPT");
    assert!(codes(&host_with(&t), &t).iter().any(|x| x.0 == "NFW008"));
    assert!(!codes(&host_with(&rules("seed")), &rules("seed"))
        .iter()
        .any(|x| x.0 == "NFW008"));
    // Mixed backends: the nft iptables-save warns about legacy tables.
    let t = format!(
        "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n{}",
        rules("seed")
    );
    assert!(codes(&host_with(&t), &t).contains(&("NFW009", 1)));
}

#[test]
fn unmodelled_matches_are_listed_once_each() {
    let t = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m string --string foo --algo bm -j DROP\n-A INPUT -m string --string bar --algo bm -j DROP\nCOMMIT\n";
    let Ok(_) = nfwalk_parse::iptables::load("s.v4", t) else {
        panic!("string match loads as unknown")
    };
    let c = codes(&host_with(t), t);
    assert_eq!(c.iter().filter(|x| x.0 == "NFW010").count(), 1, "{c:?}");
}

fn corpus() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

#[test]
fn lint_the_moby_and_ufw_corpus_without_panics() {
    let mut all = Vec::new();
    files(&corpus().join("moby"), &mut all);
    files(&corpus().join("ufw"), &mut all);
    assert!(
        all.len() > 100,
        "corpus at {} ({} files)",
        corpus().display(),
        all.len()
    );
    let (mut loaded, mut findings) = (0, 0);
    for p in all {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let Ok(l) = nfwalk_parse::iptables::load(&p.to_string_lossy(), &text) else {
            continue;
        };
        if l.ruleset.tables.is_empty() {
            continue;
        }
        loaded += 1;
        let mut host = host_with("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n");
        host.ruleset = l.ruleset;
        findings += lint(&LintInput {
            host: &host,
            text: Some(&text),
            legacy: None,
        })
        .len();
    }
    assert!(loaded > 50, "{loaded} corpus rulesets loaded");
    assert!(findings > 0);
}

// ---------------------------------------------------------------------------------------
// NFW011/NFW012: listening sockets reached from outside (listeners.txt from `ss -H -ltnu`)

/// `ss -H -ltnu` of a UFW + Docker host: sshd (allowed by UFW), a host service on 8080, a
/// --net=host redis on 6379, docker-proxy for the published 10000, loopback-only sockets.
const SS_UFW: &str = "\
udp   UNCONN 0      0      127.0.0.53%lo:53         0.0.0.0:*
udp   UNCONN 0      0      0.0.0.0%enp1s0:68        0.0.0.0:*
tcp   LISTEN 0      4096         0.0.0.0:22         0.0.0.0:*
tcp   LISTEN 0      4096       127.0.0.1:6010       0.0.0.0:*
tcp   LISTEN 0      511          0.0.0.0:6379       0.0.0.0:*
tcp   LISTEN 0      5            0.0.0.0:8080       0.0.0.0:*
tcp   LISTEN 0      4096         0.0.0.0:10000      0.0.0.0:*
tcp   LISTEN 0      4096            [::]:22            [::]:*
tcp   LISTEN 0      4096            [::]:10000         [::]:*
";

/// The recorded ufw-docker snapshot plus `listeners.txt` and, optionally, another ruleset.
fn ufw_snapshot(tag: &str, rules: Option<&str>) -> (Host, String) {
    let src = scenarios().join("ufw-docker/snapshot");
    let dir = std::env::temp_dir().join(format!("nfwalk-listeners-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "ip-link.json",
        "ip-addr.json",
        "ip-route.json",
        "ip-rule.json",
        "sysctl.txt",
        "iptables-save.txt",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let text = match rules {
        Some(r) => r.to_string(),
        None => std::fs::read_to_string(scenarios().join("ufw-docker/rules.v4")).unwrap(),
    };
    std::fs::write(dir.join("iptables-save.txt"), &text).unwrap();
    std::fs::write(dir.join("listeners.txt"), SS_UFW).unwrap();
    let (host, diags) = nfwalk_parse::snapshot::load_snapshot(&dir).expect("snapshot loads");
    assert!(
        diags.iter().all(|d| !d.to_string().contains("listeners.txt")),
        "{diags:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    (host, text)
}

#[test]
fn lint_ufw_host_listeners_only_allowed_port_is_exposed() {
    let (host, text) = ufw_snapshot("plain", None);
    assert_eq!(host.listeners.len(), 9);
    let f = lint(&LintInput {
        host: &host,
        text: Some(&text),
        legacy: None,
    });
    let exp: Vec<&nfwalk_analyze::Finding> = f.iter().filter(|x| x.code == "NFW011" || x.code == "NFW012").collect();
    // Only sshd: UFW allows 22 (a rule naming the port: deliberate, a note). 8080 and 6379 are
    // denied, 10000 is DNATed to the container (docker-proxy never sees it), 53/6010 are
    // loopback, 68 is bound to enp1s0 but UFW drops it.
    assert_eq!(exp.len(), 1, "{exp:#?}");
    assert_eq!(exp[0].code, "NFW011");
    assert_eq!(exp[0].severity, nfwalk_analyze::Severity::Note);
    assert!(
        exp[0].message.starts_with(
            "tcp 0.0.0.0:22 is reachable from outside on enp1s0: accepted by filter/ufw-user-input rule 1"
        ),
        "{}",
        exp[0].message
    );
    assert_eq!(
        text.lines().nth(exp[0].line - 1),
        Some("-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT")
    );
}

#[test]
fn lint_ufw_allow_from_lan_exposes_every_listener_despite_deny() {
    let base = std::fs::read_to_string(scenarios().join("ufw-docker/rules.v4")).unwrap();
    // `ufw allow from 198.51.100.0/24`: meant for ssh from the office, opens everything.
    let rules = base.replace(
        "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\n",
        "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\n-A ufw-user-input -s 198.51.100.0/24 -j ACCEPT\n",
    );
    let (host, text) = ufw_snapshot("lan", Some(&rules));
    let f = lint(&LintInput {
        host: &host,
        text: Some(&text),
        legacy: None,
    });
    let mut got: Vec<(&str, String)> = f
        .iter()
        .filter(|x| x.code == "NFW011" || x.code == "NFW012")
        .map(|x| {
            (
                x.code,
                x.message.split(" is reachable").next().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("NFW011", "tcp 0.0.0.0:22".to_string()),
            ("NFW012", "tcp 0.0.0.0:6379".into()),
            ("NFW012", "tcp 0.0.0.0:8080".into()),
            ("NFW012", "udp 0.0.0.0%enp1s0:68".into())
        ]
    );
    let redis = f
        .iter()
        .find(|x| x.code == "NFW012" && x.message.contains(":6379"))
        .unwrap();
    assert_eq!(redis.severity, nfwalk_analyze::Severity::Warning);
    assert!(
        redis
            .message
            .contains("although UFW denies incoming traffic by default"),
        "{}",
        redis.message
    );
    assert_eq!(
        text.lines().nth(redis.line - 1),
        Some("-A ufw-user-input -s 198.51.100.0/24 -j ACCEPT")
    );
    // The fix is explain's, proven on the walk: the probe is dropped with it.
    let fix = redis.fix.as_deref().expect("a verified fix");
    let cmd = fix.strip_prefix("iptables ").unwrap();
    let ex = nfwalk_analyze::lint::exposures(&host)
        .into_iter()
        .find(|e| e.listener.port == 6379)
        .unwrap();
    let req = Request {
        ingress: Ingress::Iface {
            iface: ex.iface.clone(),
            physin: None,
        },
        packet: ex.packet.clone(),
        expect: Some(Expect::Drop),
        rule: None,
        before: Vec::new(),
    };
    let e = explain(&host, &req).unwrap();
    assert_eq!(e.fixes.first().map(|x| x.command.as_str()), Some(fix));
    assert!(e.fixes[0].verified && cmd.contains("6379"), "{fix}");
}

#[test]
fn lint_net_host_container_on_an_open_host_is_a_note_naming_the_policy() {
    let mut host = host_with(&rules("seed"));
    host.listeners = nfwalk_parse::listeners::parse_ss(
        "tcp LISTEN 0 511 0.0.0.0:6380 0.0.0.0:* users:((\"redis-server\",pid=9,fd=6))\n",
    )
    .0;
    let f = lint(&LintInput {
        host: &host,
        text: Some(&rules("seed")),
        legacy: None,
    });
    let x = f.iter().find(|x| x.code == "NFW011").expect("NFW011");
    assert_eq!(x.message, "tcp 0.0.0.0:6380 (redis-server) is reachable from outside on enp1s0: accepted by the policy ACCEPT of filter/INPUT");
    assert!(x.explanation.contains("--net=host"), "{}", x.explanation);
    assert_eq!(
        rules("seed")
            .lines()
            .nth(x.line - 1)
            .map(|l| l.starts_with(":INPUT ACCEPT")),
        Some(true)
    );
    // No listeners known: no exposure findings at all.
    host.listeners.clear();
    assert!(!lint(&LintInput {
        host: &host,
        text: None,
        legacy: None
    })
    .iter()
    .any(|x| x.code == "NFW011" || x.code == "NFW012"));
}

// ---------------------------------------------------------------------------------------
// text output: the answer first; explain --conn

#[test]
fn text_leads_with_the_answer_and_the_rule_on_the_path() {
    let host = host_with(&rules("seed"));
    let ex = explain(
        &host,
        &Request {
            expect: Some(Expect::Drop),
            ..from_outside(10000)
        },
    )
    .unwrap();
    // JSON keeps every candidate; `primary` points at the one the packet met.
    let p = ex.primary.expect("a primary why-not");
    assert_eq!(
        (&*ex.why_not[p].rule.chain, ex.why_not[p].rule.index),
        ("DOCKER-USER", 1)
    );
    assert!(ex.why_not.iter().any(|w| &*w.rule.chain == "DOCKER-ISOLATION-STAGE-2"));
    let text = nfwalk_analyze::render::explanation_text(&ex);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "answer:     accept, not drop as you expected");
    assert!(
        lines[1]
            .starts_with("decided by: forwarded out docker0 at FORWARD: accepted by filter/DOCKER rule 1 (line 31)"),
        "{text}"
    );
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` missing:\n{text}"))
    };
    let why = at("why not filter/DOCKER-USER rule 1 (line 36)");
    let fix = at("1. iptables -I DOCKER-USER 1 -p tcp -m tcp -m conntrack --ctorigdstport 10000");
    let other = at("other rules that could have given drop");
    let iso = at("filter/DOCKER-ISOLATION-STAGE-2 rule 1 (line 34)");
    assert!(why < fix && fix < other && other < iso, "{text}");
    assert!(!text.contains("why not filter/DOCKER-ISOLATION-STAGE-2"), "{text}");
    // The named rule is the primary even when it is not on the path.
    let ex = explain(
        &host,
        &Request {
            rule: Some(RuleSel::At(TableName::Filter, "DOCKER-ISOLATION-STAGE-2".into(), 1)),
            ..from_outside(10000)
        },
    )
    .unwrap();
    assert_eq!(ex.primary, Some(0));
    assert!(nfwalk_analyze::render::explanation_text(&ex)
        .contains("why not filter/DOCKER-ISOLATION-STAGE-2 rule 1 (line 34)"));
}

#[test]
fn conn_on_the_seed_explains_conntrack_for_later_packets() {
    let host = host_with(&rules("seed"));
    let c = nfwalk_analyze::explain_conn(
        &host,
        &Request {
            expect: Some(Expect::Accept),
            ..from_outside(10000)
        },
        nfwalk_analyze::Close::Fin,
    )
    .unwrap();
    assert_eq!(c.packets.len(), 8);
    assert_eq!(c.as_expected, Some(true));
    assert!(
        c.packets.iter().all(|p| p.explanation.is_none()),
        "nothing differs from accept"
    );
    assert!(c.packets[0].conntrack.is_none(), "the SYN is NEW");
    let synack = c.packets[1].conntrack.as_ref().expect("SYN-ACK is ESTABLISHED");
    assert_eq!(
        (synack.state.as_str(), synack.direction.as_str(), synack.created_by),
        ("ESTABLISHED", "reply", Some(0))
    );
    assert!(
        synack
            .entry
            .contains("src=172.17.0.2 dst=198.51.100.10 sport=6379 dport=40001"),
        "{}",
        synack.entry
    );
    assert_eq!(synack.nat_rules.iter().map(|r| r.line).collect::<Vec<_>>(), [15]);
    assert!(
        synack.nat_skipped.iter().any(|s| s.starts_with("PREROUTING")),
        "{:?}",
        synack.nat_skipped
    );
    let b = &synack.bindings[0];
    assert_eq!(
        (b.field.as_str(), b.from.as_str(), b.to.as_str()),
        ("src", "172.17.0.2:6379", "198.51.100.1:10000")
    );
    let ack = c.packets[2].conntrack.as_ref().unwrap();
    assert_eq!(ack.direction, "original");
    assert_eq!(
        (ack.bindings[0].field.as_str(), ack.bindings[0].to.as_str()),
        ("dst", "172.17.0.2:6379")
    );
    let text = nfwalk_analyze::render::conn_text(&c);
    assert!(
        text.starts_with("answer:     all 8 packets of the connection get through, as you expected (accept)"),
        "{text}"
    );
    assert!(
        text.contains("as set up for the first packet by nat/DOCKER rule 2 (line 15)"),
        "{text}"
    );
    // --expect drop: every packet differs, and each is explained in the connection's state.
    let d = nfwalk_analyze::explain_conn(
        &host,
        &Request {
            expect: Some(Expect::Drop),
            ..from_outside(10000)
        },
        nfwalk_analyze::Close::Rst,
    )
    .unwrap();
    assert_eq!(d.as_expected, Some(false));
    assert_eq!(d.packets.len(), 6);
    for p in &d.packets {
        let e = p.explanation.as_ref().expect("explained");
        assert_eq!(e.ct_state, p.ct_state, "{}", p.label);
    }
    assert!(nfwalk_analyze::explain_conn(
        &host,
        &Request {
            packet: Packet::udp("198.51.100.10".parse().unwrap(), 1, "198.51.100.1".parse().unwrap(), 2),
            ..from_outside(1)
        },
        nfwalk_analyze::Close::Fin
    )
    .is_err());
}

/// FORWARD lets the SYN in but accepts ESTABLISHED only towards docker0: the SYN-ACK dies.
const NO_REPLY_RULE: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i enp1s0 -p tcp -m tcp --dport 10000 -j DNAT --to-destination 172.17.0.2:6379
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i enp1s0 -o docker0 -p tcp -m tcp --dport 6379 -j ACCEPT
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
";

#[test]
fn conn_explains_the_dropped_reply_and_the_state_fix_carries_the_whole_connection() {
    let host = host_with(NO_REPLY_RULE);
    let req = Request {
        expect: Some(Expect::Accept),
        ..from_outside(10000)
    };
    let c = nfwalk_analyze::explain_conn(&host, &req, nfwalk_analyze::Close::Fin).unwrap();
    assert_eq!(c.as_expected, Some(false));
    assert_eq!(c.packets.len(), 2, "the conversation stops at the SYN-ACK");
    let p = &c.packets[1];
    assert_eq!(
        (p.ct_state.as_str(), p.verdict.as_str(), p.as_expected),
        ("ESTABLISHED", "drop", Some(false))
    );
    assert_eq!(p.conntrack.as_ref().and_then(|x| x.created_by), Some(0));
    let e = p.explanation.as_ref().expect("the differing packet is explained");
    assert_eq!(
        e.decided_by.summary,
        "dropped by filter/FORWARD policy DROP at FORWARD: the policy of filter/FORWARD"
    );
    let w = &e.why_not[e.primary.expect("primary")];
    assert_eq!(w.rule.line, 13, "the ESTABLISHED rule, one condition away: {w:?}");
    assert_eq!(
        w.conditions
            .iter()
            .map(|c| (c.condition.as_str(), c.seen.as_str()))
            .collect::<Vec<_>>(),
        [("-o docker0", "out enp1s0")]
    );
    let top = &e.fixes[0];
    assert_eq!(
        top.command,
        "iptables -I FORWARD 1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    );
    // Loaded into the ruleset text, the whole connection now goes through.
    let text = nfwalk_analyze::fix::apply_to_text(&host, NO_REPLY_RULE, top).unwrap();
    let fixed = nfwalk_analyze::explain_conn(&host_with(&text), &req, nfwalk_analyze::Close::Fin).unwrap();
    assert_eq!((fixed.as_expected, fixed.packets.len()), (Some(true), 8));
    let t = nfwalk_analyze::render::conn_text(&c);
    assert!(
        t.contains(" 2. server → client  SYN-ACK") && t.contains("✗ not as expected"),
        "{t}"
    );
}
