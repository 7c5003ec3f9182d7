//! `-m set --match-set` against the snapshot's `ipset save` contents.

use nfwalk_model::{Host, Interface, Packet, Sysctls, TcpFlags};
use nfwalk_walk::{Fate, Ingress, Walker};

const RULES: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m set --match-set allowed src -j ACCEPT
-A INPUT -p tcp -m set --match-set svc dst,dst -j ACCEPT
-A INPUT -m set --match-set missing src -j ACCEPT
COMMIT
";

const SETS: &str = "\
create allowed hash:net family inet hashsize 1024 maxelem 65536
add allowed 198.51.100.0/25
create svc hash:ip,port family inet hashsize 1024 maxelem 65536
add svc 203.0.113.1,tcp:443
";

fn host() -> Host {
    let loaded = nfwalk_parse::iptables::load("rules", RULES).unwrap();
    let interfaces = vec![
        Interface::new(1, "lo", &["127.0.0.1/8"]),
        Interface::new(2, "eth0", &["198.51.100.1/24", "203.0.113.1/24"]),
    ];
    let routes = nfwalk_parse::host::derive_kernel_routes(&interfaces);
    let (ipsets, _) = nfwalk_parse::ipset::parse_ipset_save("ipset-save.txt", SETS).unwrap();
    Host {
        name: "t".into(),
        interfaces,
        routes,
        rules: vec![],
        sysctl: Sysctls::default(),
        ruleset: loaded.ruleset,
        ipsets,
        listeners: Vec::new(),
    }
}

fn walk(h: &Host, src: &str, dst: &str, dport: u16) -> nfwalk_walk::Trace {
    let mut w = Walker::new(h);
    let p = Packet::tcp(src.parse().unwrap(), 40001, dst.parse().unwrap(), dport, TcpFlags::SYN);
    w.walk(
        Ingress::Iface {
            iface: "eth0".into(),
            physin: None,
        },
        p,
    )
}

#[test]
fn set_membership_decides() {
    let h = host();
    // In `allowed` (src): accepted by rule 1.
    let t = walk(&h, "198.51.100.10", "198.51.100.1", 22);
    assert_eq!(t.fate, Fate::DeliveredLocally);
    assert_eq!(t.path()[0].rule, "-A INPUT -m set --match-set allowed src -j ACCEPT");
    // Not in `allowed`, but dst,dst is in `svc`: rule 2.
    let t = walk(&h, "198.51.100.200", "203.0.113.1", 443);
    assert_eq!(t.fate, Fate::DeliveredLocally);
    assert_eq!(
        t.path()[0].rule,
        "-A INPUT -p tcp -m set --match-set svc dst,dst -j ACCEPT"
    );
}

#[test]
fn a_set_missing_from_the_snapshot_cannot_be_decided() {
    let h = host();
    let t = walk(&h, "198.51.100.200", "203.0.113.1", 22);
    assert!(matches!(t.fate, Fate::Undecided { .. }), "{:?}", t.fate);
    assert_eq!(t.alternatives.len(), 2, "{:?}", t.alternatives);
    assert!(t.alternatives.iter().any(|(_, f)| f == "delivered locally"));
    assert!(t
        .alternatives
        .iter()
        .any(|(_, f)| f.starts_with("dropped by filter/INPUT policy")));
}
