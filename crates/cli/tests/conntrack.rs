//! `nfwalk conntrack -L` on a snapshot, and `--save-conntrack` of replay and trace.

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

fn temp_snapshot(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("nfwalk-cli-ct-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for f in std::fs::read_dir(scenario("seed/snapshot")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), d.join(f.file_name())).unwrap();
    }
    d
}

const SEED_TW: &str = "tcp      6 120 TIME_WAIT src=198.51.100.10 dst=198.51.100.1 sport=40001 dport=10000 src=172.17.0.2 dst=198.51.100.10 sport=6379 dport=40001 [ASSURED] mark=0 use=1\n";

#[test]
fn kernel_recorded_table_filters() {
    // The seed's table as the kernel listed it (an IGMP entry and the TIME_WAIT connection).
    let dir = scenario("seed/kernel");
    let (code, out, err) = nfwalk(&["conntrack", "-L", "--snapshot", &dir, "-p", "tcp"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n"
    );
    assert!(out.starts_with("tcp      6 119 TIME_WAIT src=198.51.100.10 "), "{out}");
    assert_eq!(out.lines().count(), 1);

    let (code, out, err) = nfwalk(&["conntrack", "--snapshot", &dir, "-L", "-o", "extended"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.\n"
    );
    assert!(out.lines().all(|l| l.starts_with("ipv4     2 ")), "{out}");
    assert!(
        out.starts_with("ipv4     2 unknown  2 599 src=172.17.0.1 dst=224.0.0.22 [UNREPLIED]"),
        "{out}"
    );

    let (_, out, err) = nfwalk(&["conntrack", "-L", "--snapshot", &dir, "--orig-src", "172.17.0.1"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains(": 1 flow entries"), "{err}");
    let (_, out, _) = nfwalk(&[
        "conntrack",
        "-L",
        "--snapshot",
        &dir,
        "--orig-dst",
        "198.51.100.1",
        "-p",
        "tcp",
        "--state",
        "TIME_WAIT",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let (_, out, err) = nfwalk(&[
        "conntrack",
        "-L",
        "--snapshot",
        &dir,
        "-p",
        "tcp",
        "--state",
        "ESTABLISHED",
    ]);
    assert_eq!(out, "");
    assert!(err.contains(": 0 flow entries"), "{err}");

    let (code, out, err) = nfwalk(&["conntrack", "-L", "--snapshot", &dir, "--state", "TIME_WAIT"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(err, "conntrack v1.4.7 (conntrack-tools): unknown option `--state'\nTry `conntrack -h' or 'conntrack --help' for more information.\n");
    let (code, _, err) = nfwalk(&["conntrack", "-L"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--snapshot DIR"), "{err}");
}

#[test]
fn replay_saves_the_table_and_conntrack_lists_it() {
    let d = temp_snapshot("replay");
    let ds = d.display().to_string();
    let (code, _, err) = nfwalk(&[
        "replay",
        "--pcap",
        &scenario("seed/kernel/cap.pcap"),
        "--snapshot",
        &ds,
        "--save-conntrack",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(d.join("conntrack.txt")).unwrap(), SEED_TW);
    let (code, out, err) = nfwalk(&["conntrack", "-L", "--snapshot", &ds]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, SEED_TW);
    assert_eq!(
        err,
        "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n"
    );
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("nfwalk-tmp")), "{names:?}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn trace_conn_saves_to_an_explicit_dir() {
    let d = temp_snapshot("trace");
    let ds = d.display().to_string();
    let args = [
        "trace",
        "--conn",
        "--close",
        "open",
        "--in",
        "enp1s0",
        "--src",
        "198.51.100.10",
        "--dst",
        "198.51.100.1",
        "--dport",
        "10000",
        "--save-conntrack",
        &ds,
    ];
    let (code, _, err) = nfwalk(&args);
    assert_eq!(code, 0, "{err}");
    let t = std::fs::read_to_string(d.join("conntrack.txt")).unwrap();
    assert!(
        t.starts_with("tcp      6 432000 ESTABLISHED src=198.51.100.10 dst=198.51.100.1 sport=40001 dport=10000"),
        "{t}"
    );
    let (_, out, _) = nfwalk(&[
        "conntrack",
        "-L",
        "--snapshot",
        &ds,
        "-p",
        "tcp",
        "--state",
        "ESTABLISHED",
    ]);
    assert_eq!(out, t);
    // Without a directory (seed host, no --snapshot) it refuses.
    let (code, _, err) = nfwalk(&args[..args.len() - 1]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--save-conntrack needs a directory"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}
