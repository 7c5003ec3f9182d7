//! `ipset save` parsing.

use nfwalk_parse::ipset::parse_ipset_save;

const SAVE: &str = "\
create allowed hash:net family inet hashsize 1024 maxelem 65536
add allowed 198.51.100.0/24
add allowed 198.51.100.66 nomatch
create svc hash:ip,port family inet hashsize 1024 maxelem 65536
add svc 203.0.113.10,tcp:443
add svc 203.0.113.10,udp:53
create range hash:net family inet hashsize 1024 maxelem 65536
add range 203.0.113.1-203.0.113.6
create six hash:ip family inet6 hashsize 1024 maxelem 65536
add six 2001:db8::1
create ports bitmap:port range 0-65535
add ports 8000-8080
";

#[test]
fn sets_and_membership() {
    let (sets, warnings) = parse_ipset_save("ipset-save.txt", SAVE).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let get = |n: &str| sets.iter().find(|s| s.name == n).unwrap();
    let allowed = get("allowed");
    assert!(allowed.contains(Some("198.51.100.10".parse().unwrap()), None));
    assert!(
        !allowed.contains(Some("198.51.100.66".parse().unwrap()), None),
        "nomatch wins"
    );
    assert!(!allowed.contains(Some("203.0.113.1".parse().unwrap()), None));
    let svc = get("svc");
    assert!(svc.contains(Some("203.0.113.10".parse().unwrap()), Some((6, 443))));
    assert!(!svc.contains(Some("203.0.113.10".parse().unwrap()), Some((6, 53))));
    assert!(svc.contains(Some("203.0.113.10".parse().unwrap()), Some((17, 53))));
    let range = get("range");
    for last in 1..=6u8 {
        assert!(range.contains(Some(std::net::Ipv4Addr::new(203, 0, 113, last)), None));
    }
    assert!(!range.contains(Some("203.0.113.7".parse().unwrap()), None));
    assert!(get("six").entries.is_empty(), "IPv6 sets load empty");
    let ports = get("ports");
    assert!(ports.contains(None, Some((6, 8080))));
    assert!(!ports.contains(None, Some((6, 8081))));
}

#[test]
fn errors_name_line_column_and_token() {
    let e = parse_ipset_save("s.txt", "create a hash:ip\nadd a 10.0.0.300\n").unwrap_err();
    assert_eq!((e.line, e.col, e.token.as_str()), (2, 7, "10.0.0.300"));
    assert!(e.to_string().starts_with("s.txt:2:7: error:"), "{e}");
    let e = parse_ipset_save("s.txt", "add b 10.0.0.1\n").unwrap_err();
    assert_eq!(e.token, "b");
    let e = parse_ipset_save("s.txt", "Name: x\n").unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
fn unknown_types_warn() {
    let (_, w) = parse_ipset_save("s.txt", "create m hash:mac\n").unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
}
