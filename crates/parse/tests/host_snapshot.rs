//! Loading snapshot directories and host TOML files; collecting a snapshot of a namespace.

use nfwalk_model::host::{TABLE_LOCAL, TABLE_MAIN};
use nfwalk_model::{RouteType, Sysctls};
use nfwalk_parse::host::default_rules;
use nfwalk_parse::snapshot::*;
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/host-ns1")
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);
impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("nfwalk-parse-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn put(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }
    fn copy(&self, name: &str) {
        std::fs::copy(fixture_dir().join(name), self.0.join(name)).unwrap();
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn full_snapshot() {
    let (host, _diags) = load_snapshot(&fixture_dir()).unwrap();
    assert_eq!(host.name, "host-ns1");
    assert_eq!(host.interfaces.len(), 6);
    assert_eq!(host.iface("veth0").unwrap().addrs.len(), 3);
    assert_eq!(host.iface_by_index(4).unwrap().master.as_deref(), Some("br0"));
    assert_eq!(host.rules.len(), 9);
    assert!(host
        .routes
        .iter()
        .any(|r| r.dst.prefix_len() == 0 && r.table == TABLE_MAIN));
    assert!(!host.sysctl.ip_forward);
    assert!(!host.ruleset.tables.is_empty(), "iptables-save.txt has filter and nat");
}

#[test]
fn minimal_snapshot_uses_defaults() {
    let d = Scratch::new("minimal");
    d.copy("ip-addr.json");
    let (host, diags) = load_snapshot(&d.0).unwrap();
    assert!(diags.is_empty());
    assert_eq!(host.interfaces.len(), 6);
    assert_eq!(host.rules, default_rules());
    assert_eq!(host.sysctl, Sysctls::default());
    assert!(host.ruleset.tables.is_empty());
    // Derived routes: connected, local and broadcast; no default route.
    assert!(host.routes.iter().all(|r| r.gateway.is_none()));
    assert!(host
        .routes
        .iter()
        .any(|r| r.kind == RouteType::Unicast && r.table == TABLE_MAIN && r.dst.to_string() == "10.0.0.0/24"));
    assert!(host
        .routes
        .iter()
        .any(|r| r.kind == RouteType::Broadcast && r.table == TABLE_LOCAL && r.dst.to_string() == "172.17.255.255/32"));
}

#[test]
fn snapshot_errors() {
    let d = Scratch::new("errors");
    let e = load_snapshot(&d.0).unwrap_err();
    assert!(matches!(e, SnapshotError::NoInterfaces(_)), "{e}");
    d.copy("ip-link.json");
    d.put("ip-route.json", r#"[{"dst":"10.0.0.0/33"}]"#);
    let e = load_snapshot(&d.0).unwrap_err().to_string();
    assert!(e.contains("ip-route.json: at $[0].dst:"), "{e}");
    assert!(load_snapshot(&d.0.join("nope")).is_err());
}

const TOML: &str = r#"
name = "web1"
rules = "rules/iptables-save.txt"

[sysctl]
ip_forward = true
"net.bridge.bridge-nf-call-iptables" = 0

[[interfaces]]
name = "eth0"
addrs = ["198.51.100.1/24", "198.51.100.7/24"]
mac = "02:00:00:00:00:01"

[[interfaces]]
name = "docker0"
kind = "bridge"
addrs = ["172.17.0.1/16"]

[[interfaces]]
name = "veth1"
kind = "veth"
bridge = "docker0"
index = 9

[[routes]]
dst = "default"
via = "198.51.100.254"
dev = "eth0"

[[routes]]
dst = "203.0.113.0/24"
type = "blackhole"
table = 100

[[ip_rules]]
priority = 0
table = "local"

[[ip_rules]]
priority = 100
from = "172.17.0.0/16"
table = 100

[[ip_rules]]
priority = 32766
table = "main"
"#;

#[test]
fn host_toml() {
    let d = Scratch::new("toml");
    std::fs::create_dir_all(d.0.join("rules")).unwrap();
    std::fs::copy(
        fixture_dir().join("iptables-save.txt"),
        d.0.join("rules/iptables-save.txt"),
    )
    .unwrap();
    d.put("web1.toml", TOML);
    let (host, _) = load_host_toml(&d.0.join("web1.toml")).unwrap();
    assert_eq!(host.name, "web1");
    let names: Vec<_> = host.interfaces.iter().map(|i| (i.index, i.name.as_str())).collect();
    assert_eq!(names, [(1, "lo"), (2, "eth0"), (3, "docker0"), (9, "veth1")]);
    assert_eq!(host.iface("veth1").unwrap().master.as_deref(), Some("docker0"));
    assert_eq!(host.iface("eth0").unwrap().mac, Some([2, 0, 0, 0, 0, 1]));
    assert!(host.sysctl.ip_forward && !host.sysctl.bridge_nf_call_iptables && !host.sysctl.route_localnet);
    let has = |table, kind, dst: &str| {
        host.routes
            .iter()
            .any(|r| r.table == table && r.kind == kind && r.dst.to_string() == dst)
    };
    assert!(has(TABLE_MAIN, RouteType::Unicast, "0.0.0.0/0"));
    assert!(has(100, RouteType::Blackhole, "203.0.113.0/24"));
    assert!(has(TABLE_MAIN, RouteType::Unicast, "198.51.100.0/24"));
    assert!(has(TABLE_LOCAL, RouteType::Local, "198.51.100.1/32"));
    assert!(has(TABLE_LOCAL, RouteType::Local, "198.51.100.7/32"));
    assert!(has(TABLE_LOCAL, RouteType::Broadcast, "198.51.100.255/32"));
    assert!(has(TABLE_LOCAL, RouteType::Local, "127.0.0.0/8"));
    assert!(has(TABLE_LOCAL, RouteType::Local, "127.0.0.1/32"));
    assert!(has(TABLE_LOCAL, RouteType::Broadcast, "172.17.255.255/32"));
    assert_eq!(host.rules.len(), 3);
    assert_eq!(host.rules[1].from.unwrap().to_string(), "172.17.0.0/16");
    assert_eq!(host.rules[1].table, Some(100));
    assert!(!host.ruleset.tables.is_empty());
}

#[test]
fn host_toml_defaults_and_errors() {
    let d = Scratch::new("toml-err");
    d.put("a.toml", "[[interfaces]]\nname = \"eth0\"\naddrs = [\"10.0.0.1/24\"]\n");
    let (host, _) = load_host_toml(&d.0.join("a.toml")).unwrap();
    assert_eq!(host.name, "a");
    assert_eq!(host.rules, default_rules());
    assert_eq!(host.sysctl, Sysctls::default());
    assert!(host.ruleset.tables.is_empty());
    assert_eq!(host.interfaces.len(), 2);

    for (text, want) in [
        (
            "[[interfaces]]\nname = \"eth0\"\naddrs = [\"10.0.0.1\"]\n",
            "not IPv4 with a prefix length",
        ),
        ("[[interfaces]]\nname = \"eth0\"\nadrs = []\n", "adrs"),
        (
            "[[routes]]\ndst = \"default\"\ndev = \"eth9\"\n",
            "no interface named \"eth9\"",
        ),
        ("[sysctl]\nforward = 1\n", "unknown key \"forward\""),
        ("rules = \"missing.txt\"\n", "missing.txt"),
        (
            "[[routes]]\ndst = \"10.0.0.0/8\"\ntype = \"bogus\"\n",
            "unknown route type",
        ),
    ] {
        d.put("b.toml", text);
        let e = load_host_toml(&d.0.join("b.toml")).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(e.contains("b.toml") || e.contains("missing.txt"), "{e}");
    }
}

/// Collects a snapshot of a throw-away namespace and loads it back. Skipped when network
/// namespaces cannot be created (not root, no `ip`).
#[test]
fn collect_in_netns_round_trip() {
    let ns = format!("nfwk-hostparse-t{}", std::process::id());
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !ip(&["netns", "add", &ns]) {
        eprintln!("skipping: cannot create a network namespace");
        return;
    }
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    let _del = Del(ns.clone());
    assert!(ip(&["-n", &ns, "link", "set", "lo", "up"]));
    assert!(ip(&["-n", &ns, "link", "add", "br9", "type", "bridge"]));
    assert!(ip(&["-n", &ns, "addr", "add", "10.77.0.1/24", "dev", "br9"]));
    assert!(ip(&["-n", &ns, "link", "set", "br9", "up"]));
    let d = Scratch::new("collect");
    collect_snapshot_in_netns(&ns, &d.0).unwrap();
    let log = std::fs::read_to_string(d.0.join("collect.log")).unwrap();
    assert!(log.contains("ip-link.json"), "{log}");
    let (host, _) = load_snapshot(&d.0).unwrap();
    let br = host.iface("br9").unwrap();
    assert_eq!(br.kind.as_deref(), Some("bridge"));
    assert_eq!(br.addrs[0].to_string(), "10.77.0.1/24");
    assert!(host
        .routes
        .iter()
        .any(|r| r.kind == RouteType::Local && r.dst.to_string() == "10.77.0.1/32"));
    assert!(host.rules.len() >= 3);
}
