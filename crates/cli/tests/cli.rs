//! The `nfwalk` binary as a user runs it.

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

#[test]
fn demo_tells_the_seed_story() {
    let (code, out, err) = nfwalk(&["demo"]);
    assert_eq!(code, 0, "{err}");
    // The DNAT, the routing decision to FORWARD, the DOCKER-USER rule failing on dport 6379.
    assert!(
        out.contains("DNAT 198.51.100.1:10000 → 172.17.0.2:6379 by nat/DOCKER"),
        "{out}"
    );
    assert!(out.contains("routing: forward: 172.17.0.2"), "{out}");
    assert!(out.contains("no: --dport 10000 (packet has dport 6379)"), "{out}");
    // Later packets skip nat; the connection ends in TIME_WAIT.
    assert!(
        out.contains("nat chains are only traversed for the first packet"),
        "{out}"
    );
    assert!(
        out.contains("TIME_WAIT src=198.51.100.10 dst=198.51.100.1 sport=40001 dport=10000"),
        "{out}"
    );
    assert!(out.contains("--ctorigdstport 10000 --ctdir ORIGINAL"), "{out}");
}

#[test]
fn trace_json_follows_the_contract() {
    let (code, out, err) = nfwalk(&[
        "trace",
        "--in",
        "enp1s0",
        "-p",
        "tcp",
        "--src",
        "198.51.100.10",
        "--dst",
        "198.51.100.1",
        "--dport",
        "10000",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["verdict"], "accept");
    assert_eq!(v["out"], "docker0");
    assert_eq!(v["ct_state"], "NEW");
    assert_eq!(v["frame"], serde_json::Value::Null);
    let path = v["path"].as_array().unwrap();
    assert_eq!(path[1]["chain"], "DOCKER");
    assert_eq!(path[1]["verdict"], "ACCEPT");
    assert_eq!(v["rewrites"][0]["to"], "172.17.0.2:6379");
    let failed: Vec<_> = v["evaluation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["chain"] == "DOCKER-USER" && e["result"] == "failed")
        .collect();
    assert_eq!(failed[0]["seen"], "dport 6379");
}

#[test]
fn trace_conn_on_the_ctorig_snapshot_is_dropped() {
    let snap = scenario("seed-ctorig/snapshot");
    let (code, out, err) = nfwalk(&[
        "trace",
        "--snapshot",
        &snap,
        "--in",
        "enp1s0",
        "--src",
        "198.51.100.10",
        "--dst",
        "198.51.100.1",
        "--dport",
        "10000",
        "--conn",
        "--conntrack",
    ]);
    assert_eq!(code, 1, "a dropped packet gives exit 1: {err}");
    assert!(out.contains("dropped by filter/DOCKER-USER rule 1"), "{out}");
    assert!(
        out.contains("0 flow entries"),
        "a dropped SYN leaves no conntrack entry: {out}"
    );
}

#[test]
fn replay_jsonl_has_one_record_per_frame() {
    let (code, out, err) = nfwalk(&[
        "replay",
        "--snapshot",
        &scenario("seed/snapshot"),
        "--pcap",
        &scenario("seed/kernel/cap.pcap"),
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    let recs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["frame"], i + 1);
    }
    let walked = recs.iter().filter(|r| r["verdict"] == "accept").count();
    assert_eq!(walked, 10, "the seed connection has 10 TCP packets");
    assert!(recs
        .iter()
        .any(|r| r["skipped"].as_str().is_some_and(|s| s.starts_with("duplicate"))));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("nfwalk-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("iptables-save.txt"),
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dprot 22 -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    std::fs::write(dir.join("ip-addr.json"), "[]").unwrap();
    let (code, _out, err) = nfwalk(&[
        "trace",
        "--snapshot",
        dir.to_str().unwrap(),
        "--in",
        "eth0",
        "--src",
        "198.51.100.10",
        "--dst",
        "198.51.100.1",
        "--dport",
        "22",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("iptables-save.txt:3:"), "names file:line:col: {err}");
    assert!(err.contains("--dprot"), "names the token: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn lean_replay_keeps_paths_verdicts_and_interfaces() {
    let args = |lean: bool| {
        let mut v = vec![
            "replay".to_string(),
            "--snapshot".into(),
            scenario("seed/snapshot"),
            "--pcap".into(),
            scenario("seed/kernel/cap.pcap"),
            "--format".into(),
            "jsonl".into(),
        ];
        if lean {
            v.push("--lean".into());
        }
        v
    };
    let run = |lean: bool| {
        let a = args(lean);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, out, err) = nfwalk(&a);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let (full, lean) = (run(false), run(true));
    assert_eq!(full.len(), lean.len());
    for (f, l) in full.iter().zip(&lean) {
        for k in ["in", "physin", "out", "verdict", "fate", "ct_state", "path", "rewrites"] {
            assert_eq!(f[k], l[k], "frame {}: {k}", f["frame"]);
        }
        assert!(l["evaluation"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["result"] != "failed"));
    }
    assert!(full.iter().any(|f| f["evaluation"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["result"] == "failed")));
}

#[test]
fn conn_close_modes_end_in_the_kernel_states() {
    for (close, state) in [("fin", "TIME_WAIT"), ("rst", "CLOSE"), ("open", "ESTABLISHED")] {
        let (code, out, err) = nfwalk(&[
            "trace",
            "--in",
            "enp1s0",
            "--src",
            "198.51.100.10",
            "--dst",
            "198.51.100.1",
            "--dport",
            "10000",
            "--conn",
            "--close",
            close,
            "--conntrack",
            "--brief",
        ]);
        assert_eq!(code, 0, "{err}");
        let line = out
            .lines()
            .find(|l| l.starts_with("tcp ") && l.contains(" src="))
            .unwrap_or_else(|| panic!("no conntrack line: {out}"));
        assert_eq!(line.split_whitespace().nth(3), Some(state), "{close}: {line}");
    }
    let (_, out, _) = nfwalk(&["demo"]);
    assert!(
        out.contains(" CLOSE src=198.51.100.10 dst=198.51.100.1 sport=40002"),
        "{out}"
    );
    assert!(out.contains("ESTABLISHED → CLOSE on [ACK,RST]"), "{out}");
}

#[test]
fn a_hand_written_host_file_walks_like_a_snapshot() {
    let dir = std::env::temp_dir().join(format!("nfwalk-cli-toml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(scenario("seed/rules.v4"), dir.join("rules.v4")).unwrap();
    std::fs::write(
        dir.join("host.toml"),
        r#"
name = "docker-host"
rules = "rules.v4"

[sysctl]
ip_forward = true

[[interfaces]]
name = "enp1s0"
addrs = ["198.51.100.1/24"]

[[interfaces]]
name = "docker0"
kind = "bridge"
addrs = ["172.17.0.1/16"]

[[interfaces]]
name = "vethc0"
kind = "veth"
master = "docker0"

[[routes]]
dst = "default"
via = "198.51.100.254"
dev = "enp1s0"
"#,
    )
    .unwrap();
    let host = dir.join("host.toml");
    let (code, out, err) = nfwalk(&[
        "trace",
        "--host",
        host.to_str().unwrap(),
        "--in",
        "enp1s0",
        "--src",
        "203.0.113.9",
        "--dst",
        "198.51.100.1",
        "--dport",
        "10000",
        "--format",
        "json",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["out"], "docker0");
    assert_eq!(v["rewrites"][0]["to"], "172.17.0.2:6379");
}

#[test]
fn an_unknown_interface_is_refused_with_the_known_ones() {
    let (code, _out, err) = nfwalk(&[
        "trace",
        "--in",
        "enp1s1",
        "--src",
        "198.51.100.10",
        "--dst",
        "198.51.100.1",
        "--dport",
        "10000",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`enp1s1` is not on host"), "{err}");
    assert!(err.contains("enp1s0, docker0"), "{err}");
}

#[test]
fn set_mark_with_a_mask_canonicalises_like_iptables() {
    // Real iptables: `-j MARK --set-mark 0x1/0x2` is saved as `--set-xmark 0x1/0x3`.
    let dir = std::env::temp_dir().join(format!("nfwalk-cli-mark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("iptables-save.txt"),
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n",
    )
    .unwrap();
    std::fs::write(dir.join("ip-addr.json"), "[]").unwrap();
    let d = dir.to_str().unwrap();
    for args in [
        vec![
            "iptables",
            "--snapshot",
            d,
            "-t",
            "mangle",
            "-A",
            "PREROUTING",
            "-j",
            "MARK",
            "--set-mark",
            "0x1/0x2",
        ],
        vec![
            "iptables",
            "--snapshot",
            d,
            "-t",
            "mangle",
            "-A",
            "PREROUTING",
            "-j",
            "CONNMARK",
            "--set-mark",
            "0x4/0x8",
        ],
    ] {
        let (code, _o, err) = nfwalk(&args);
        assert_eq!(code, 0, "{err}");
    }
    let (_, out, _) = nfwalk(&["iptables", "--snapshot", d, "-t", "mangle", "-S", "PREROUTING"]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.contains("-A PREROUTING -j MARK --set-xmark 0x1/0x3"), "{out}");
    assert!(out.contains("-A PREROUTING -j CONNMARK --set-xmark 0x4/0xc"), "{out}");
}
