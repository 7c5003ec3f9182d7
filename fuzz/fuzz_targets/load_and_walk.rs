//! Any ruleset that loads can be walked with any packet without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nfwalk_model::{Host, Interface, Packet, Proto, Sysctls, TcpFlags};

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (hdr, rest) = data.split_at(16);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Ok(loaded) = nfwalk_parse::iptables::load("fuzz", text) else { return };
    let interfaces = vec![Interface::new(1, "lo", &["127.0.0.1/8"]), Interface::new(2, "eth0", &["198.51.100.1/24"])];
    let routes = nfwalk_parse::host::derive_kernel_routes(&interfaces);
    let host = Host {
        name: "fuzz".into(),
        interfaces,
        routes,
        rules: Vec::new(),
        sysctl: Sysctls { ip_forward: hdr[0] & 1 == 1, bridge_nf_call_iptables: true, route_localnet: false },
        ruleset: loaded.ruleset,
        ipsets: Vec::new(),
        listeners: Vec::new(),
    };
    let src = std::net::Ipv4Addr::new(hdr[1], hdr[2], hdr[3], hdr[4]);
    let dst = std::net::Ipv4Addr::new(hdr[5], hdr[6], hdr[7], hdr[8]);
    let mut p = Packet::tcp(src, u16::from_be_bytes([hdr[9], hdr[10]]), dst, u16::from_be_bytes([hdr[11], hdr[12]]), hdr[13]);
    p.proto = Proto(hdr[14]);
    p.tcp_flags = TcpFlags(hdr[13]);
    let mut w = nfwalk_walk::Walker::new(&host);
    let ingress = if hdr[15] & 1 == 0 {
        nfwalk_walk::Ingress::Iface { iface: "eth0".into(), physin: None }
    } else {
        nfwalk_walk::Ingress::Local
    };
    let _ = w.walk(ingress.clone(), p.clone());
    let _ = w.walk(ingress, p);
    let _ = w.counters_save();
});
