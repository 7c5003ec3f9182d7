//! Every error path of crates/xt's command line, offline: exit code, stderr text, and the
//! ruleset left unchanged. The same table is checked against the real iptables in
//! tests/kernel_edits.rs. Plus a proptest: random argument vectors never panic.

#[path = "common/errors_table.rs"]
mod errors_table;

use nfwalk_xt::command;
use nfwalk_xt::ruleset::XtRuleset;
use proptest::prelude::*;

const BASE: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

fn words(c: &str) -> Vec<String> {
    c.split(' ').map(String::from).collect()
}

fn setup() -> XtRuleset {
    let mut rs = XtRuleset::from_save(BASE).unwrap();
    for c in errors_table::SETUP {
        let inv = command::parse(&words(c)).unwrap();
        command::run(&mut rs, &inv).unwrap();
    }
    rs
}

#[test]
fn every_error_path_has_iptables_text_and_code() {
    let base = setup();
    let before = base.to_save(true);
    let mut bad = vec![];
    for (c, code, err) in errors_table::cases() {
        let mut rs = base.clone();
        match command::parse(&words(c)).and_then(|inv| command::run(&mut rs, &inv)) {
            Ok(o) => bad.push(format!("iptables {c}: succeeded ({:?})", o.stdout)),
            Err(e) => {
                if (e.code, e.stderr("iptables")) != (code, err.clone()) {
                    bad.push(format!(
                        "iptables {c}:\n  ours:     {} {:?}\n  expected: {code} {err:?}",
                        e.code,
                        e.stderr("iptables")
                    ));
                }
            }
        }
        if rs.to_save(true) != before {
            bad.push(format!("iptables {c}: a failing command changed the ruleset"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn long_log_prefix_is_cut_to_29_bytes_like_iptables_nft() {
    let mut rs = setup();
    let inv = command::parse(&words(
        "-A INPUT -j LOG --log-prefix 0123456789012345678901234567890123",
    ))
    .unwrap();
    command::run(&mut rs, &inv).unwrap();
    let out = command::run(&mut rs, &command::parse(&words("-S INPUT")).unwrap())
        .unwrap()
        .stdout;
    assert!(
        out.ends_with("-A INPUT -j LOG --log-prefix 01234567890123456789012345678\n"),
        "{out}"
    );
}

#[test]
fn list_rules_past_the_end_prints_nothing() {
    let mut rs = setup();
    let o = command::run(&mut rs, &command::parse(&words("-S INPUT 9")).unwrap()).unwrap();
    assert_eq!(o.stdout, "");
    let o = command::run(&mut rs, &command::parse(&words("-X INPUT")).unwrap()).unwrap();
    assert!(!o.modified);
}

/// Words iptables users type, and fragments of them.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "-A",
            "-I",
            "-D",
            "-R",
            "-C",
            "-L",
            "-S",
            "-F",
            "-Z",
            "-N",
            "-X",
            "-P",
            "-E",
            "-t",
            "-n",
            "-v",
            "-x",
            "-nvL",
            "--line-numbers",
            "-w",
            "-p",
            "-s",
            "-d",
            "-i",
            "-o",
            "-j",
            "-g",
            "-m",
            "!",
            "-c",
            "--dport",
            "--sport",
            "--dports",
            "--ctstate",
            "--state",
            "--to-destination",
            "--to-source",
            "--reject-with",
            "--log-prefix",
            "--log-level",
            "--limit",
            "--tcp-flags",
            "--icmp-type",
            "--dst-type",
            "--comment",
            "--set-mark",
            "tcp",
            "udp",
            "icmp",
            "all",
            "0",
            "1",
            "2",
            "99999",
            "-1",
            "INPUT",
            "FORWARD",
            "OUTPUT",
            "PREROUTING",
            "POSTROUTING",
            "USR",
            "EMPTY",
            "NOPE",
            "nat",
            "filter",
            "mangle",
            "raw",
            "security",
            "nope",
            "ACCEPT",
            "DROP",
            "RETURN",
            "REJECT",
            "LOG",
            "DNAT",
            "SNAT",
            "MASQUERADE",
            "MARK",
            "conntrack",
            "multiport",
            "addrtype",
            "limit",
            "comment",
            "mark",
            "state",
            "tcp-reset",
            "NEW,ESTABLISHED",
            "SYN,ACK",
            "SYN",
            "10.0.0.0/8",
            "1.2.3.4",
            "1.2.3.4/33",
            "1.2.3.4:80",
            "80:90",
            "5/sec",
            "eth0+",
            "",
        ])
        .prop_map(String::from),
        "[ -~]{0,12}",
        "-[a-zA-Z!]{1,4}",
        "--[a-z-]{1,12}",
        "[0-9:/.,-]{1,10}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    /// Any argument vector: parsing and applying never panic, an error leaves the ruleset
    /// as it was, and the result still saves and loads.
    #[test]
    fn random_arguments_never_panic(args in prop::collection::vec(word(), 0..12)) {
        let base = setup();
        let mut rs = base.clone();
        match command::parse(&args) {
            Ok(inv) => match command::run(&mut rs, &inv) {
                Ok(_) => {
                    let text = rs.to_save(true);
                    prop_assert!(XtRuleset::from_save(&text).is_ok(), "does not reload:\n{text}");
                }
                Err(e) => {
                    prop_assert!(matches!(e.code, 1..=4), "{e:?}");
                    prop_assert_eq!(rs.to_save(true), base.to_save(true));
                }
            },
            Err(e) => prop_assert!(matches!(e.code, 1..=4), "{e:?}"),
        }
    }
}
