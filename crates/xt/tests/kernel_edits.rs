//! Edit sequences against the real iptables in one lab namespace: the same commands go to
//! iptables 1.8.9 (nf_tables) and to nfwalk, and after every step the exit code, the stderr
//! text and `iptables -S` / `-nL --line-numbers` of the table must be byte-identical.
//! Needs root: fails unless NFWALK_SKIP_KERNEL=1 is set.

#[path = "common/errors_table.rs"]
mod errors_table;

use nfwalk_lab::Lab;
use nfwalk_xt::command;
use nfwalk_xt::ruleset::XtRuleset;

use nfwalk_lab::kernel_available;

const BASE: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

/// (command, whether it must succeed). Every failing one is a case iptables refuses.
const STEPS: &[(&str, bool)] = &[
    ("-N WEB", true),
    ("-N WEB", false),
    ("-A WEB -p tcp --dport 80 -j ACCEPT", true),
    ("-A WEB -p tcp --dport 443 -j ACCEPT", true),
    ("-I WEB 2 -s 10.0.0.0/8 -j DROP", true),
    ("-I WEB 5 -j RETURN", false),
    ("-I WEB 4 -j RETURN", true),
    ("-I WEB -p udp -j DROP", true),
    ("-A INPUT -j WEB", true),
    ("-R WEB 1 -p tcp --dport 8080 -j ACCEPT", true),
    ("-R WEB 9 -j ACCEPT", false),
    ("-D WEB -p tcp --dport 443 -j ACCEPT", true),
    ("-D WEB -p tcp --dport 9999 -j ACCEPT", false),
    ("-D WEB 2", true),
    ("-D WEB 9", false),
    ("-C WEB -j RETURN", true),
    ("-C WEB -j DROP", false),
    ("-L WEB 1", true),
    ("-n -v -L WEB 2 --line-numbers", true),
    ("-n -v -x -L WEB 3", true),
    ("-L WEB 9", true),
    ("-L WEB 0", false),
    ("-E WEB WEB2", true),
    ("-E NOPE X", false),
    ("-E WEB2 INPUT", false),
    ("-X WEB2", false),
    ("-D INPUT -j WEB2", true),
    ("-X WEB2", false),
    ("-F WEB2", true),
    ("-X WEB2", true),
    ("-X WEB2", false),
    ("-P FORWARD DROP", true),
    ("-N USR", true),
    ("-P USR DROP", false),
    ("-P INPUT BOGUS", false),
    ("-P NOPE ACCEPT", false),
    ("-Z", true),
    ("-Z INPUT", true),
    ("-A NOPE -j ACCEPT", false),
    ("-A INPUT -j NOPE", false),
    ("-F NOPE", false),
    ("-L NOPE", false),
    ("-n -L NOPE --line-numbers", false),
    ("-S NOPE", false),
    ("-S INPUT 9", true),
    ("-Z NOPE", false),
    ("-D NOPE 1", false),
    ("-R NOPE 1 -j ACCEPT", false),
    ("-I NOPE -j ACCEPT", false),
    ("-X USR", true),
    ("-N a-very-long-chain-name-that-is-too-long", false),
    ("-I INPUT 0 -j ACCEPT", false),
    ("-D INPUT 1", false),
    ("-X INPUT", true),
    ("-N DROP", false),
    ("-A INPUT -s 192.0.2.1 -j ACCEPT", true),
    ("-A INPUT -s 192.0.2.2 -j ACCEPT", true),
    ("-D INPUT 3", false),
    ("-D INPUT 2", true),
    ("-t nat -N DNATS", true),
    (
        "-t nat -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 10.0.0.5:80",
        true,
    ),
    ("-t nat -I PREROUTING 1 -j DNATS", true),
    ("-t nat -X DNATS", false),
    ("-t nat -D PREROUTING 1", true),
    ("-t nat -X DNATS", true),
    ("-t nat -P PREROUTING DROP", false),
    ("-t nat -A POSTROUTING -j DROP", false),
    ("-t nat -A POSTROUTING -j ACCEPT", true),
    ("-t nat -F", true),
    ("-t nope -L", false),
    ("-N A", true),
    ("-N B", true),
    ("-A A -j B", true),
    ("-X", false),
    ("-F", true),
    ("-X", true),
    ("-P FORWARD ACCEPT", true),
];

#[test]
fn edit_sequence_matches_iptables() {
    if !kernel_available() {
        return;
    }
    let mut lab = Lab::new("edits");
    lab.ns("x").unwrap();
    lab.exec_stdin("x", &["iptables-restore"], BASE.as_bytes()).unwrap();
    let mut rs = XtRuleset::from_save(BASE).unwrap();
    let mut bad = vec![];
    for (k, (cmd, must_succeed)) in STEPS.iter().enumerate() {
        let args: Vec<String> = cmd.split(' ').map(String::from).collect();
        let mut real_cmd = vec!["iptables"];
        real_cmd.extend(cmd.split(' '));
        let real = lab.exec("x", &real_cmd).unwrap();
        let (rc, rout, rerr) = (
            real.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&real.stdout).into_owned(),
            String::from_utf8_lossy(&real.stderr).into_owned(),
        );
        let (nc, nout, nerr) = match command::parse(&args).and_then(|inv| command::run(&mut rs, &inv)) {
            Ok(o) => (0, o.stdout, String::new()),
            Err(e) => (e.code, String::new(), e.stderr("iptables")),
        };
        let step = format!("step {} `iptables {cmd}`", k + 1);
        // The sequence itself is checked: a step meant to fail must fail on the kernel.
        if (rc == 0) != *must_succeed {
            bad.push(format!(
                "{step}: the sequence expects {} but the kernel's exit code is {rc} ({rerr:?})",
                if *must_succeed { "success" } else { "failure" }
            ));
        }
        if (rc, &rout, &rerr) != (nc, &nout, &nerr) {
            bad.push(format!(
                "{step}:\n  real: {rc} {rerr:?} {rout:?}\n  ours: {nc} {nerr:?} {nout:?}"
            ));
        }
        let table = if cmd.starts_with("-t nat") { "nat" } else { "filter" };
        for listing in [
            &["-S"][..],
            &["-n", "-L", "--line-numbers"][..],
            &["-n", "-v", "-L"][..],
        ] {
            let mut la = vec!["-t", table];
            la.extend_from_slice(listing);
            let mut real_cmd = vec!["iptables"];
            real_cmd.extend_from_slice(&la);
            let real = lab.exec("x", &real_cmd).unwrap();
            let real_out = String::from_utf8_lossy(&real.stdout).into_owned();
            let la: Vec<String> = la.iter().map(|s| s.to_string()).collect();
            let ours = command::parse(&la)
                .and_then(|inv| command::run(&mut rs.clone(), &inv))
                .map(|o| o.stdout);
            if ours.as_deref() != Ok(real_out.as_str()) {
                bad.push(format!(
                    "{step}, then iptables {}:\n--- real\n{real_out}--- ours\n{ours:?}",
                    la.join(" ")
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{} differences:\n{}", bad.len(), bad.join("\n"));
}

/// Every error path in tests/common/errors_table.rs, on the real iptables: exit code and
/// stderr, and the ruleset left unchanged.
#[test]
fn error_table_matches_iptables() {
    if !kernel_available() {
        return;
    }
    let mut lab = Lab::new("errors");
    lab.ns("x").unwrap();
    lab.exec_stdin("x", &["iptables-restore"], BASE.as_bytes()).unwrap();
    for c in errors_table::SETUP {
        let mut cmd = vec!["iptables"];
        cmd.extend(c.split(' '));
        lab.exec_ok("x", &cmd).unwrap();
    }
    let before = lab.exec("x", &["iptables-save"]).unwrap().stdout;
    let strip = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut bad = vec![];
    for (c, code, err) in errors_table::cases() {
        let mut cmd = vec!["iptables"];
        cmd.extend(c.split(' '));
        let real = lab.exec("x", &cmd).unwrap();
        let (rc, rerr) = (
            real.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&real.stderr).into_owned(),
        );
        if (rc, &rerr) != (code, &err) {
            bad.push(format!(
                "iptables {c}:\n  real:     {rc} {rerr:?}\n  expected: {code} {err:?}"
            ));
        }
        let after = lab.exec("x", &["iptables-save"]).unwrap().stdout;
        if strip(&before) != strip(&after) {
            bad.push(format!("iptables {c}: changed the kernel's ruleset"));
            lab.exec_stdin("x", &["iptables-restore"], &before).unwrap();
        }
    }
    assert!(
        bad.is_empty(),
        "{} error texts differ from iptables:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// `-E` on a built-in chain: iptables-nft 1.8.9 renames the nf_tables base chain and exits 0,
/// after which iptables lists the table with a warning and an empty stand-in INPUT (the
/// rules are unreachable for iptables). nfwalk refuses instead (exit 1, ruleset unchanged).
#[test]
fn rename_builtin_breaks_iptables_and_nfwalk_refuses() {
    if !kernel_available() {
        return;
    }
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n";
    let mut lab = Lab::new("erename");
    lab.ns("x").unwrap();
    lab.exec_stdin("x", &["iptables-restore"], text.as_bytes()).unwrap();
    let real = lab.exec("x", &["iptables", "-E", "INPUT", "FOO"]).unwrap();
    assert_eq!(real.status.code(), Some(0), "iptables-nft renames a base chain");
    let listing = String::from_utf8_lossy(&lab.exec("x", &["iptables", "-S"]).unwrap().stdout).into_owned();
    assert!(
        listing.starts_with(
            "# Table `filter' contains incompatible base-chains, use 'nft' tool to list them.\n-P INPUT ACCEPT\n"
        ),
        "{listing}"
    );
    assert!(!listing.contains("-j DROP"), "{listing}");
    let mut rs = XtRuleset::from_save(text).unwrap();
    let before = rs.clone();
    let args: Vec<String> = ["-E", "INPUT", "FOO"].iter().map(|s| s.to_string()).collect();
    let err = command::parse(&args)
        .and_then(|inv| command::run(&mut rs, &inv))
        .unwrap_err();
    assert_eq!(err.code, 1);
    assert!(err.message.contains("built-in chain INPUT"), "{}", err.message);
    assert_eq!(rs, before);
}
