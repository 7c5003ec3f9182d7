//! `nfwalk conntrack -L` filters against the real conntrack-tools on the same table. Needs
//! root: without it these tests FAIL unless NFWALK_SKIP_KERNEL=1 is set.

use nfwalk_lab::{poll_until, Lab};
use std::time::Duration;

use nfwalk_lab::kernel_available;

/// Makes connections inside one namespace over loopback: an open TCP connection from
/// 127.0.0.2, a closed one (TIME_WAIT), a UDP exchange and an unanswered UDP datagram.
const PY: &str = r#"
import socket, time, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 5555)); srv.listen(8)
c1 = socket.socket(); c1.bind(("127.0.0.2", 41001)); c1.connect(("127.0.0.1", 5555)); a1, _ = srv.accept()
c1.send(b"hello"); a1.recv(10)
c2 = socket.socket(); c2.bind(("127.0.0.1", 41002)); c2.connect(("127.0.0.1", 5555)); a2, _ = srv.accept()
c2.close(); a2.recv(10); a2.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5353))
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v.bind(("127.0.0.2", 41003))
v.sendto(b"q", ("127.0.0.1", 5353)); d, peer = u.recvfrom(10); u.sendto(b"r", peer); v.recv(10)
w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); w.bind(("127.0.0.2", 41004))
try: w.sendto(b"x", ("127.0.0.3", 9))  # dropped in OUTPUT after conntrack saw it: never confirmed
except PermissionError: pass
w.sendto(b"y", ("127.0.0.1", 9))  # nobody listens: unreplied
print("ready", flush=True)
time.sleep(60)
"#;

/// The real tool's stdout, stderr and exit code.
fn real(lab: &Lab, args: &[&str]) -> (String, String, i32) {
    let mut cmd = vec!["conntrack"];
    cmd.extend_from_slice(args);
    let o = lab.exec("a", &cmd).expect("conntrack runs");
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

fn nfwalk(dir: &std::path::Path, args: &[&str]) -> (String, String, i32) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    nfwalk_xt::conntrack::run_cli(&std::fs::read_to_string(dir.join("conntrack.txt")).unwrap(), &args)
}

/// Timeouts tick between two listings: compare with the timeout field blanked.
fn untimed(s: &str) -> String {
    s.lines()
        .map(|l| {
            let mut w: Vec<&str> = l.split(' ').filter(|x| !x.is_empty()).collect();
            let k = if w.first() == Some(&"ipv4") { 4 } else { 2 };
            if w.len() > k && w[k].bytes().all(|b| b.is_ascii_digit()) {
                w[k] = "T";
            }
            w.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn conntrack_filters_match_conntrack_tools() {
    if !kernel_available() {
        return;
    }
    let mut lab = Lab::new("ctl");
    lab.ns("a").unwrap();
    lab.addr("a", "lo", "127.0.0.2/8").ok();
    // A conntrack rule makes the namespace track connections.
    lab.exec_ok(
        "a",
        &[
            "iptables",
            "-A",
            "INPUT",
            "-m",
            "conntrack",
            "--ctstate",
            "INVALID",
            "-j",
            "DROP",
        ],
    )
    .unwrap();
    lab.exec_ok("a", &["iptables", "-A", "OUTPUT", "-d", "127.0.0.3", "-j", "DROP"])
        .unwrap();
    let mut child = lab.spawn("a", &["python3", "-c", PY]).unwrap();
    assert!(
        poll_until(Duration::from_secs(10), || child.stdout().contains("ready")),
        "python: {}",
        child.stderr()
    );
    let (all, err, code) = real(&lab, &["-L"]);
    eprintln!("ALL:\n{all}ERR:{err}CODE:{code}");
    let dir = lab.work_dir().join("snap");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("conntrack.txt"), &all).unwrap();
    let cases: &[&[&str]] = &[
        &["-L"],
        &["-L", "-p", "tcp"],
        &["-L", "-p", "udp"],
        &["-L", "-p", "6"],
        &["-L", "--orig-src", "127.0.0.2"],
        &["-L", "-s", "127.0.0.2"],
        &["-L", "--orig-dst", "127.0.0.1"],
        &["-L", "-p", "tcp", "--orig-src", "127.0.0.2"],
        &["-L", "-p", "tcp", "--state", "ESTABLISHED"],
        &["-L", "-p", "tcp", "--state", "TIME_WAIT"],
        &["-L", "-p", "tcp", "--state", "ESTABLISHED,TIME_WAIT"],
        &["-L", "-p", "tcp", "--state", "SYN_SENT"],
        &["-L", "-o", "extended"],
        &["-L", "-o", "extended", "-p", "udp"],
        &["-L", "--state", "ESTABLISHED"],
        &["-L", "-p", "udp", "--state", "ESTABLISHED"],
        &["-L", "-p", "tcp", "--state", "BOGUS"],
        &["-L", "-p", "nope"],
        &["-L", "--orig-src", "300.1.1.1"],
        &["-L", "-o", "bogus"],
        &["-L", "-p", "tcp", "--orig-src", "127.0.0.2", "-o", "extended"],
        &["-L", "--reply-src", "127.0.0.1"],
        &["-L", "--orig-src"],
        &["-L", "--bogus"],
        &["-L", "-p", "tcp", "--state", "established"],
        &["-L", "-p", "udp", "--dport", "5353"],
        &["-L", "-p", "tcp", "--sport", "41001"],
        &["-L", "--sport", "41001"],
        &["-L", "-p", "icmp"],
        &["-L", "-p", "tcp", "--state", "ESTABLISHED", "--state", "TIME_WAIT"],
        &["-L", "--reply-dst", "127.0.0.2"],
        &["-L", "-m", "0"],
        &["-L", "--state", "ESTABLISHED", "-p", "tcp"],
        &["-L", "-p", "udp", "--sport", "x"],
    ];
    let mut bad = vec![];
    for c in cases {
        let (ro, re, rc) = real(&lab, c);
        let (no, ne, nc) = nfwalk(&dir, c);
        eprintln!("== {c:?}\nreal rc={rc} err={re:?}\n{ro}nfwalk rc={nc} err={ne:?}\n{no}");
        if untimed(&ro) != untimed(&no) || re != ne || rc != nc {
            bad.push(format!("{c:?}: real rc={rc} {re:?}\n{ro}\nnfwalk rc={nc} {ne:?}\n{no}"));
        }
    }
    child.kill();
    assert!(
        bad.is_empty(),
        "nfwalk conntrack differs from conntrack-tools:\n{}",
        bad.join("\n")
    );
}
