//! Parsing real `ip -j` output captured from a test namespace (see tests/data/README.md).

use nfwalk_model::host::{TABLE_LOCAL, TABLE_MAIN};
use nfwalk_model::{Route, RouteType};
use nfwalk_parse::host::*;
use std::fs;

fn data(name: &str) -> String {
    fs::read_to_string(format!("{}/tests/data/host-ns1/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn links_from_real_json() {
    let links = parse_links("ip-link.json", &data("ip-link.json")).unwrap();
    let names: Vec<_> = links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["lo", "br0", "veth0", "vethp", "mv0", "vethd"]);
    let lo = &links[0];
    assert!(lo.up, "lo is UP with operstate UNKNOWN");
    assert_eq!(lo.mtu, 65536);
    assert_eq!(lo.kind, None);
    let br = &links[1];
    assert_eq!(br.kind.as_deref(), Some("bridge"));
    assert_eq!(br.index, 2);
    assert!(br.up);
    assert!(br.mac.is_some());
    let vethp = &links[3];
    assert_eq!(vethp.master.as_deref(), Some("br0"));
    assert_eq!(vethp.kind.as_deref(), Some("veth"));
    assert_eq!(links[4].kind.as_deref(), Some("macvlan"));
    assert!(!links[4].up);
    assert!(!links[5].up);
}

#[test]
fn addrs_merge_and_skip_ipv6() {
    let mut links = parse_links("ip-link.json", &data("ip-link.json")).unwrap();
    parse_addrs("ip-addr.json", &data("ip-addr.json"), &mut links).unwrap();
    let veth0 = links.iter().find(|l| l.name == "veth0").unwrap();
    let a: Vec<String> = veth0.addrs.iter().map(|a| a.to_string()).collect();
    assert_eq!(a, ["10.0.0.1/24", "10.0.0.5/32", "10.0.0.9/24"]);
    assert_eq!(links[0].addrs[0].to_string(), "127.0.0.1/8");
    assert!(links.iter().find(|l| l.name == "vethp").unwrap().addrs.is_empty());
    assert_eq!(links.len(), 6);
}

#[test]
fn addrs_alone_create_interfaces() {
    let mut links = Vec::new();
    parse_addrs("ip-addr.json", &data("ip-addr.json"), &mut links).unwrap();
    assert_eq!(links.len(), 6);
    assert_eq!(links[1].name, "br0");
    assert_eq!(links[1].index, 2);
    assert!(links[1].up);
    assert_eq!(links[1].addrs[0].to_string(), "172.17.0.1/16");
    // Merging twice adds nothing.
    parse_addrs("ip-addr.json", &data("ip-addr.json"), &mut links).unwrap();
    assert_eq!(links[1].addrs.len(), 1);
}

#[test]
fn routes_from_real_json() {
    let routes = parse_routes("ip-route.json", &data("ip-route.json")).unwrap();
    assert!(routes.iter().all(|r| !r.dst.to_string().contains(':')));
    let def = routes.iter().find(|r| r.dst.prefix_len() == 0).unwrap();
    assert_eq!(def.table, TABLE_MAIN);
    assert_eq!(def.kind, RouteType::Unicast);
    assert_eq!(def.gateway, Some("10.0.0.2".parse().unwrap()));
    assert_eq!(def.dev.as_deref(), Some("veth0"));
    let host = routes.iter().find(|r| r.dst.to_string() == "203.0.113.7/32").unwrap();
    assert_eq!(host.table, 100);
    let bh = routes.iter().find(|r| r.kind == RouteType::Blackhole).unwrap();
    assert_eq!((bh.table, bh.dst.to_string().as_str()), (100, "203.0.113.0/24"));
    assert!(routes.iter().any(|r| r.kind == RouteType::Prohibit && r.table == 200));
    assert!(routes
        .iter()
        .any(|r| r.kind == RouteType::Unreachable && r.table == TABLE_MAIN));
    let m = routes.iter().find(|r| r.dst.to_string() == "198.51.100.0/24").unwrap();
    assert_eq!(m.metric, 100);
    let loc = routes
        .iter()
        .find(|r| r.kind == RouteType::Local && r.dst.to_string() == "10.0.0.9/32")
        .unwrap();
    assert_eq!(loc.table, TABLE_LOCAL);
    assert_eq!(loc.prefsrc, Some("10.0.0.1".parse().unwrap()));
}

fn key(r: &Route) -> String {
    format!("{} {:?} {} {:?} {:?}", r.table, r.kind, r.dst, r.dev, r.prefsrc)
}

/// The derived kernel routes equal what the kernel really created in the namespace.
#[test]
fn derived_routes_match_kernel() {
    let mut links = parse_links("ip-link.json", &data("ip-link.json")).unwrap();
    parse_addrs("ip-addr.json", &data("ip-addr.json"), &mut links).unwrap();
    let mut derived: Vec<String> = derive_kernel_routes(&links).iter().map(key).collect();
    let mut real: Vec<String> = parse_routes("ip-route.json", &data("ip-route.json"))
        .unwrap()
        .iter()
        .filter(|r| r.gateway.is_none() && (r.table == TABLE_LOCAL || r.prefsrc.is_some()))
        .map(key)
        .collect();
    derived.sort();
    real.sort();
    assert_eq!(derived, real);
}

#[test]
fn rules_from_real_json() {
    let rules = parse_rules("ip-rule.json", &data("ip-rule.json")).unwrap();
    assert_eq!(rules.len(), 9);
    assert_eq!(rules[0].priority, 0);
    assert_eq!(rules[0].table, Some(TABLE_LOCAL));
    assert_eq!(rules[1].from.unwrap().to_string(), "10.0.0.0/24");
    assert_eq!(rules[1].table, Some(100));
    assert_eq!(rules[2].fwmark, Some((1, 0xff)));
    assert!(rules[3].invert);
    assert_eq!(rules[3].to.unwrap().to_string(), "203.0.113.0/24");
    assert_eq!(rules[3].iif.as_deref(), Some("veth0"));
    assert_eq!(rules[3].table, Some(TABLE_MAIN));
    assert_eq!(rules[4].oif.as_deref(), Some("br0"));
    assert_eq!(rules[4].action, Some(RouteType::Blackhole));
    assert_eq!(rules[4].table, None);
    assert_eq!(rules[5].to.unwrap().to_string(), "192.0.2.1/32");
    assert_eq!(rules[5].action, Some(RouteType::Unreachable));
    assert_eq!(rules[6].fwmark, Some((7, u32::MAX)));
    assert_eq!(rules[6].action, Some(RouteType::Prohibit));
    assert_eq!(rules[7].priority, 32766);
    assert_eq!(rules[8].table, Some(253));
    assert_eq!(&rules[7..], &default_rules()[1..]);
    assert_eq!(rules[0], default_rules()[0]);
}

#[test]
fn sysctl_real_and_partial() {
    let s = parse_sysctl("sysctl.txt", &data("sysctl.txt")).unwrap();
    assert!(!s.ip_forward);
    assert!(s.bridge_nf_call_iptables);
    assert!(!s.route_localnet);
    let s = parse_sysctl(
        "sysctl.txt",
        "net.ipv4.ip_forward = 1\nsysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: No such file or directory\n\n# c\nnet.ipv4.conf.all.route_localnet=1\nnet.other = x\n",
    )
    .unwrap();
    assert!(s.ip_forward && s.route_localnet && s.bridge_nf_call_iptables);
    let e = parse_sysctl("s.txt", "net.ipv4.ip_forward = 1\ngarbage\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.txt: at line 2: expected `key = value`, found \"garbage\""
    );
    let e = parse_sysctl("s.txt", "net.ipv4.ip_forward = yes").unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn errors_name_file_and_path() {
    let e = parse_links("ip-link.json", "[{\"ifindex\": 1}]").unwrap_err();
    assert_eq!(e.to_string(), "ip-link.json: at $[0].ifname: missing required string");
    let e = parse_links("ip-link.json", "{").unwrap_err();
    assert!(e.to_string().starts_with("ip-link.json: at line 1 column 1"), "{e}");
    let e = parse_links("ip-link.json", "{}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "ip-link.json: at $: expected a JSON array, found an object"
    );
    let mut v = Vec::new();
    let e = parse_addrs(
        "ip-addr.json",
        r#"[{"ifindex":2,"ifname":"x","addr_info":[{"family":"inet","local":"1.2.3.4","prefixlen":40}]}]"#,
        &mut v,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ip-addr.json: at $[0].addr_info[0].prefixlen: invalid IPv4 prefix length 40"
    );
    let e = parse_routes("ip-route.json", r#"[{"dst":"10.0.0.0/8"},{"dst":"10.0.0.0/99"}]"#).unwrap_err();
    assert_eq!(e.location, "$[1].dst");
    let e = parse_routes("r", r#"[{"dst":"default","type":"nat"}]"#).unwrap_err();
    assert_eq!(e.location, "$[0].type");
    let e = parse_rules(
        "r",
        r#"[{"priority":5,"src":"all","suppress_prefixlen":0,"table":"main"}]"#,
    )
    .unwrap_err();
    assert_eq!(e.location, "$[0].suppress_prefixlen");
    let e = parse_routes("r", r#"[{"dst":"default","metric":-1}]"#).unwrap_err();
    assert_eq!(e.location, "$[0].metric");
}

#[test]
fn ipv6_and_odd_shapes() {
    let r = parse_routes(
        "r",
        r#"[{"dst":"default","gateway":"fe80::1","dev":"eth0","pref":"medium"},
            {"type":"unreachable","dst":"default","dev":"lo","metric":4294967295,"pref":"medium"},
            {"dst":"default","nexthops":[{"gateway":"192.0.2.1","dev":"eth0","weight":1},{"gateway":"192.0.2.2","dev":"eth1","weight":1}]},
            {"dst":"10.1.0.0/16","dev":"eth0","table":"mytable"}]"#,
    )
    .unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].gateway, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(r[0].dev.as_deref(), Some("eth0"));
    assert_eq!(r[1].table, table_id("mytable").unwrap());
    assert!(r[1].table >= 0x8000_0000);
    let rules = parse_rules(
        "r",
        r#"[{"priority":10,"src":"all","table":"mytable"},{"priority":11,"src":"all","action":"nop"}]"#,
    )
    .unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].table, table_id("mytable"));
}
