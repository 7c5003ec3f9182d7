//! `nfwalk snapshot` on a live host: run inside a fresh network namespace of its own (root),
//! then walked offline. Fails without root unless NFWALK_SKIP_KERNEL=1.

use std::process::Command;

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip runs");
    assert!(st.success(), "ip {args:?}");
}

#[test]
fn snapshot_of_a_live_namespace_loads_and_walks() {
    if unsafe { libc_geteuid() } != 0 {
        if std::env::var("NFWALK_SKIP_KERNEL").as_deref() == Ok("1") {
            eprintln!("NFWALK_SKIP_KERNEL=1: skipping");
            return;
        }
        panic!("needs root; set NFWALK_SKIP_KERNEL=1 to skip explicitly");
    }
    let name = format!("nfwk-cli-{}", std::process::id());
    ip(&["netns", "add", &name]);
    let ns = Ns(name);
    // A host with one uplink whose peer lives in a second namespace of ours.
    let peer = format!("{}-p", ns.0);
    ip(&["netns", "add", &peer]);
    let _peer = Ns(peer.clone());
    ip(&[
        "-n", &ns.0, "link", "add", "up0", "type", "veth", "peer", "name", "c0", "netns", &peer,
    ]);
    ip(&["-n", &ns.0, "addr", "add", "203.0.113.1/24", "dev", "up0"]);
    ip(&["-n", &ns.0, "link", "set", "up0", "up"]);
    ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 23 -j DROP\nCOMMIT\n";
    let mut restore = Command::new("ip")
        .args(["netns", "exec", &ns.0, "iptables-restore"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    restore.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
    assert!(restore.wait().unwrap().success());

    let dir = std::env::temp_dir().join(format!("nfwalk-snap-{}", std::process::id()));
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_nfwalk"),
            "snapshot",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [
        "ip-link.json",
        "ip-addr.json",
        "ip-route.json",
        "ip-rule.json",
        "iptables-save.txt",
        "sysctl.txt",
    ] {
        assert!(dir.join(f).exists(), "{f} written");
    }
    let walk = |dport: &str| {
        Command::new(env!("CARGO_BIN_EXE_nfwalk"))
            .args([
                "trace",
                "--snapshot",
                dir.to_str().unwrap(),
                "--in",
                "up0",
                "--src",
                "203.0.113.10",
                "--dst",
                "203.0.113.1",
                "--dport",
                dport,
                "--format",
                "json",
            ])
            .output()
            .unwrap()
    };
    let ok = walk("22");
    let v: serde_json::Value =
        serde_json::from_slice(&ok.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&ok.stderr)));
    assert_eq!(v["fate"], "delivered locally");
    let blocked = walk("23");
    let v: serde_json::Value = serde_json::from_slice(&blocked.stdout).unwrap();
    assert_eq!(v["verdict"], "drop");
    assert_eq!(v["path"][0]["rule"], "-A INPUT -p tcp -m tcp --dport 23 -j DROP");
    let _ = std::fs::remove_dir_all(&dir);
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
