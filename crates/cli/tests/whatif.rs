//! `nfwalk whatif` as a user runs it: the seed's DOCKER-USER fix, on one packet, a whole
//! connection and the seed's kernel capture.

use std::process::Command;

fn nfwalk(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nfwalk"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("nfwalk runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario(p: &str) -> String {
    format!("{}/../../scenarios/{p}", env!("CARGO_MANIFEST_DIR"))
}

const FIX: [&str; 11] = [
    "-I",
    "DOCKER-USER",
    "-p",
    "tcp",
    "-m",
    "conntrack",
    "--ctorigdstport",
    "10000",
    "--ctdir",
    "ORIGINAL",
    "-j",
];
const SEED_SYN: [&str; 8] = [
    "--in",
    "enp1s0",
    "--src",
    "198.51.100.10",
    "--dst",
    "198.51.100.1",
    "--dport",
    "10000",
];

fn fix_args<'a>(head: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = head.to_vec();
    v.push("--");
    v.extend(FIX);
    v.push("DROP");
    v
}

/// The blocks of the output, one per packet, keyed by their label line.
fn blocks(out: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![];
    for l in out.lines() {
        if let Some(h) = l.strip_prefix("━━━ ") {
            v.push((h.to_string(), String::new()));
        } else if l.starts_with("summary:") {
            break;
        } else if let Some(last) = v.last_mut() {
            last.1.push_str(l);
            last.1.push('\n');
        }
    }
    v
}

#[test]
fn seed_syn_goes_from_accept_to_drop() {
    let mut head = vec!["whatif"];
    head.extend(SEED_SYN);
    let (code, out, err) = nfwalk(&fix_args(&head));
    assert_eq!(code, 0, "{err}");
    let b = blocks(&out);
    assert_eq!(b.len(), 1, "{out}");
    assert!(b[0].1.contains("  accept → drop\n"), "{out}");
    assert!(b[0].1.contains("before: accept (forwarded out docker0)"), "{out}");
    assert!(b[0].1.contains("after:  drop (filter/DOCKER-USER rule 1)"), "{out}");
    assert!(
        b[0].1.contains("first rule that differs: FORWARD     filter/DOCKER-USER rule 1: -A DOCKER-USER -p tcp -m conntrack --ctorigdstport 10000 --ctdir ORIGINAL -j DROP → DROP"),
        "{out}"
    );
    // The old path is still there, marked as before-only.
    assert!(
        b[0].1
            .contains("    - FORWARD     filter/DOCKER rule 1: -A DOCKER -d 172.17.0.2/32"),
        "{out}"
    );
    assert!(
        out.contains("summary: 1 packet walked: 1 change fate (1 accept → drop), 0 change path only, 0 unchanged"),
        "{out}"
    );
    assert!(out.ends_with(
        "To apply on the real host:\n  iptables -I DOCKER-USER -p tcp -m conntrack --ctorigdstport 10000 --ctdir ORIGINAL -j DROP\n"
    ), "{out}");
}

#[test]
fn the_old_dport_rule_changes_nothing() {
    // The seed post's own rule, inserted once more: the SYN's fate and path do not change.
    let mut args = vec!["whatif", "--cmd", "-I DOCKER-USER -p tcp --dport 10000 -j DROP"];
    args.extend(SEED_SYN);
    let (code, out, err) = nfwalk(&args);
    assert_eq!(code, 0, "{err}");
    assert!(blocks(&out).is_empty(), "{out}");
    assert!(
        out.contains("1 packet walked: 0 change fate, 0 change path only, 1 unchanged"),
        "{out}"
    );
    assert!(
        out.contains("  iptables -I DOCKER-USER -p tcp --dport 10000 -j DROP\n"),
        "{out}"
    );
}

#[test]
fn several_commands_after_the_separator_and_conn() {
    let mut args = vec!["whatif", "--conn"];
    args.extend(SEED_SYN);
    args.extend([
        "--",
        "-N",
        "BLOCK",
        ";",
        "-A",
        "BLOCK",
        "-j",
        "DROP",
        ";",
        "iptables",
        "-I",
        "DOCKER-USER",
        "-i",
        "enp1s0",
        "-p",
        "tcp",
        "--dport",
        "6379",
        "-j",
        "BLOCK",
    ]);
    let (code, out, err) = nfwalk(&args);
    assert_eq!(code, 0, "{err}");
    let b = blocks(&out);
    // The SYN is dropped now; the rest of the connection is never sent.
    assert!(b[0].0.starts_with("client → server  SYN"), "{out}");
    assert!(b[0].1.contains("after:  drop (filter/BLOCK rule 1)"), "{out}");
    assert!(b.len() >= 7, "{out}");
    for (label, body) in &b[1..] {
        assert!(
            body.contains("after:  not sent (the connection stopped before it)"),
            "{label}: {out}"
        );
    }
    assert!(out.contains("  iptables -N BLOCK\n  iptables -A BLOCK -j DROP\n  iptables -I DOCKER-USER -i enp1s0 -p tcp --dport 6379 -j BLOCK\n"), "{out}");
}

#[test]
fn every_client_packet_of_the_capture_changes() {
    let pcap = scenario("seed/kernel/cap.pcap");
    let snap = scenario("seed/snapshot");
    let (code, out, err) = nfwalk(&fix_args(&["whatif", "--all", "--pcap", &pcap, "--snapshot", &snap]));
    assert_eq!(code, 0, "{err}");
    let b = blocks(&out);
    let client: Vec<_> = b
        .iter()
        .filter(|(h, _)| h.contains(" 198.51.100.10:40001 → 198.51.100.1:10000 "))
        .collect();
    assert!(client.len() >= 5, "{out}");
    for (h, body) in &client {
        assert!(!body.contains("unchanged"), "{h} did not change:\n{out}");
    }
    // The SYN and the data are dropped by the new rule.
    let syn = client
        .iter()
        .find(|(h, _)| h.ends_with("[SYN] on enp1s0"))
        .expect("the SYN");
    assert!(syn.1.contains("  accept → drop\n"), "{out}");
    let data = client.iter().find(|(h, _)| h.contains("[ACK,PSH]")).expect("the data");
    assert!(data.1.contains("after:  drop (filter/DOCKER-USER rule 1)"), "{out}");
}

#[test]
fn a_failing_command_prints_iptables_error_and_walks_nothing() {
    let mut args = vec!["whatif", "--cmd", "-A NOPE -j DROP"];
    args.extend(SEED_SYN);
    let (code, out, err) = nfwalk(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("iptables: No chain/target/match by that name.\n"),
        "{err}"
    );
    assert!(err.contains("command 1 failed: iptables -A NOPE -j DROP"), "{err}");

    let (code, _, err) = nfwalk(&["whatif", "--cmd", "-L"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not change the ruleset"), "{err}");

    let (code, _, err) = nfwalk(&["whatif", "--cmd", "-I DOCKER-USER -j DROP"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("say which packets to walk"), "{err}");
}

#[test]
fn whatif_never_writes_the_snapshot() {
    let snap = scenario("seed/snapshot");
    let before = std::fs::read(format!("{snap}/iptables-save.txt")).unwrap();
    let mut args = vec!["whatif", "--snapshot", &snap];
    args.extend(SEED_SYN);
    args.extend(["--cmd", "-F"]);
    let (code, out, err) = nfwalk(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("accept → drop") || out.contains("drop → accept") || out.contains("change"),
        "{out}"
    );
    assert_eq!(std::fs::read(format!("{snap}/iptables-save.txt")).unwrap(), before);
    assert!(!std::path::Path::new(&format!("{snap}/iptables-save.txt.bak")).exists());
}

#[test]
fn json_gives_old_and_new_per_packet() {
    let mut head = vec!["whatif", "--format", "json"];
    head.extend(SEED_SYN);
    let (code, out, err) = nfwalk(&fix_args(&head));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["summary"]["walked"], 1, "{out}");
    assert_eq!(v["summary"]["fate_changed"], 1, "{out}");
    let p = &v["packets"][0];
    assert_eq!(p["before"]["verdict"], "accept", "{out}");
    assert_eq!(p["after"]["verdict"], "drop", "{out}");
    assert_eq!(p["before"]["fate"], "accept (forwarded out docker0)", "{out}");
    assert_eq!(p["after"]["fate"], "drop (filter/DOCKER-USER rule 1)", "{out}");
    assert_eq!(p["first_difference"]["chain"], "DOCKER-USER", "{out}");
    assert_eq!(p["first_difference"]["rule"], 1, "{out}");
    assert_eq!(p["first_difference"]["no_longer_reached"], false, "{out}");
    assert_eq!(
        p["after"]["path"].as_array().unwrap().last().unwrap()["verdict"],
        "DROP",
        "{out}"
    );
    assert!(
        p["before"]["path"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["chain"] == "DOCKER"),
        "{out}"
    );
    assert_eq!(
        v["commands"][0],
        "iptables -I DOCKER-USER -p tcp -m conntrack --ctorigdstport 10000 --ctdir ORIGINAL -j DROP"
    );

    // A capture: every frame with its number, unchanged ones included with --all.
    let pcap = scenario("seed/kernel/cap.pcap");
    let snap = scenario("seed/snapshot");
    let (code, out, err) = nfwalk(&fix_args(&[
        "whatif",
        "--all",
        "--format",
        "json",
        "--pcap",
        &pcap,
        "--snapshot",
        &snap,
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    let packets = v["packets"].as_array().unwrap();
    assert_eq!(packets.len() as u64, v["summary"]["walked"].as_u64().unwrap(), "{out}");
    assert!(packets.iter().all(|p| p["frame"].is_u64()), "{out}");
    assert!(
        packets
            .iter()
            .filter(|p| p["fate_changed"] == true)
            .all(|p| !p["first_difference"].is_null()),
        "{out}"
    );
    assert!(
        packets
            .iter()
            .any(|p| p["before"]["verdict"] == "accept" && p["after"]["verdict"] == "drop"),
        "{out}"
    );
}
