//! Decoding real captures made in a namespace pair (see tests/data/capture-pcaps.sh).

use nfwalk_model::{Proto, TcpFlags};
use nfwalk_parse::pcap::{read_pcap, Frame};
use std::net::Ipv4Addr;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn names(i: u32) -> Option<String> {
    // From tests/data/pcap-ns-a-link.json.
    match i {
        1 => Some("lo".into()),
        2 => Some("veth0".into()),
        _ => None,
    }
}

const B_MAC: [u8; 6] = [0xf2, 0xc5, 0x8c, 0xd4, 0xce, 0x06];
const A_MAC: [u8; 6] = [0x5a, 0x9b, 0x48, 0xe5, 0x31, 0x00];
const A: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// The same 16 frames appear in all three captures; check the IPv4 ones.
fn check_common(frames: &[Frame]) {
    assert_eq!(frames.len(), 16);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.index, i + 1);
    }
    for f in &frames[..5] {
        assert_eq!(f.skipped.as_deref(), Some("IPv6"));
        assert!(f.packet.is_none());
    }
    assert_eq!(frames[5].skipped.as_deref(), Some("ARP"));
    assert_eq!(frames[15].skipped.as_deref(), Some("IPv6"));

    let echo = frames[6].packet.as_ref().unwrap();
    assert_eq!((echo.src, echo.dst, echo.proto), (B, A, Proto::ICMP));
    assert_eq!(
        (echo.icmp_type, echo.icmp_code, echo.icmp_id, echo.icmp_seq),
        (8, 0, 0x1234, 1)
    );
    assert_eq!(
        (echo.len, echo.payload_len, echo.ttl, echo.id, echo.df),
        (84, 56, 64, 50229, true)
    );
    assert_eq!(echo.inner, None);
    assert_eq!(echo.mac_src, Some(B_MAC));
    assert_eq!(echo.mac_proto, 0x0800);

    let syn = frames[7].packet.as_ref().unwrap();
    assert_eq!((syn.src, syn.sport, syn.dst, syn.dport), (B, 48702, A, 8080));
    assert_eq!(syn.tcp_flags, TcpFlags(TcpFlags::SYN));
    assert_eq!((syn.seq, syn.ack_seq, syn.window), (2640579321, 0, 64240));
    assert_eq!((syn.len, syn.payload_len, syn.id), (60, 0, 321));

    let ack = frames[8].packet.as_ref().unwrap();
    assert_eq!(ack.tcp_flags, TcpFlags(TcpFlags::ACK));
    assert_eq!((ack.seq, ack.ack_seq, ack.window), (2640579322, 3963677348, 63));
    let psh = frames[9].packet.as_ref().unwrap();
    assert_eq!(psh.tcp_flags, TcpFlags(TcpFlags::PSH | TcpFlags::ACK));
    assert_eq!((psh.len, psh.payload_len), (58, 6));
    let fin = frames[10].packet.as_ref().unwrap();
    assert_eq!(fin.tcp_flags, TcpFlags(TcpFlags::FIN | TcpFlags::ACK));
    let syn9 = frames[12].packet.as_ref().unwrap();
    assert_eq!((syn9.dport, syn9.tcp_flags.0), (9, TcpFlags::SYN));

    let udp = frames[13].packet.as_ref().unwrap();
    assert_eq!((udp.proto, udp.sport, udp.dport), (Proto::UDP, 5353, 53));
    assert_eq!((udp.len, udp.payload_len), (40, 12));

    let unreach = frames[14].packet.as_ref().unwrap();
    assert_eq!((unreach.src, unreach.dst), (B, A));
    assert_eq!((unreach.icmp_type, unreach.icmp_code, unreach.icmp_id), (3, 3, 0));
    assert_eq!(
        (unreach.tos, unreach.df, unreach.len, unreach.id),
        (0xc0, false, 61, 50270)
    );
    assert!(unreach.is_icmp_error());
    let inner = unreach.inner.unwrap();
    assert_eq!(
        (inner.src, inner.sport, inner.dst, inner.dport, inner.proto),
        (A, 40000, B, 33434, Proto::UDP)
    );
}

#[test]
fn sll2_any_capture() {
    let frames = read_pcap(&data("pcap-any-sll2.pcap"), &names, Some("any")).unwrap();
    check_common(&frames);
    for f in &frames {
        assert_eq!(f.ifindex, Some(2));
        assert_eq!(f.iface.as_deref(), Some("veth0"));
    }
    assert_eq!(frames[5].pkt_type, Some(1), "ARP request is a broadcast");
    assert_eq!(frames[0].pkt_type, Some(2), "IPv6 multicast");
    assert_eq!(frames[6].pkt_type, Some(0), "to us");
    assert_eq!(frames[6].ts_nanos, 1_795_733_661_972_065_000);
    assert_eq!(frames[6].packet.as_ref().unwrap().mac_dst, None);
}

#[test]
fn sll2_unknown_ifindex_uses_default() {
    let frames = read_pcap(&data("pcap-any-sll2.pcap"), &|_| None, Some("eth9")).unwrap();
    assert_eq!(frames[6].iface.as_deref(), Some("eth9"));
    assert_eq!(frames[6].ifindex, Some(2));
}

#[test]
fn sll_v1_capture() {
    let frames = read_pcap(&data("pcap-any-sll.pcap"), &names, Some("veth0")).unwrap();
    check_common(&frames);
    assert_eq!(frames[6].ifindex, None);
    assert_eq!(frames[6].iface.as_deref(), Some("veth0"));
    assert_eq!(frames[6].pkt_type, Some(0));
    assert_eq!(frames[5].pkt_type, Some(1));
}

#[test]
fn ethernet_capture() {
    let frames = read_pcap(&data("pcap-veth0-eth.pcap"), &names, Some("veth0")).unwrap();
    check_common(&frames);
    let echo = frames[6].packet.as_ref().unwrap();
    assert_eq!(echo.mac_dst, Some(A_MAC));
    assert_eq!(echo.mac_src, Some(B_MAC));
    assert_eq!(frames[6].pkt_type, None);
    assert_eq!(frames[6].iface.as_deref(), Some("veth0"));
}

/// The IP bytes of the SLL2 capture's frames, re-wrapped in other containers.
fn ip_frames() -> Vec<(u64, Vec<u8>)> {
    let d = data("pcap-any-sll2.pcap");
    let mut off = 24;
    let mut out = Vec::new();
    while off < d.len() {
        let sec = u32::from_le_bytes(d[off..off + 4].try_into().unwrap()) as u64;
        let usec = u32::from_le_bytes(d[off + 4..off + 8].try_into().unwrap()) as u64;
        let caplen = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        let rec = &d[off + 16..off + 16 + caplen];
        if rec[0..2] == [0x08, 0x00] {
            out.push((sec * 1_000_000 + usec, rec[20..].to_vec()));
        }
        off += 16 + caplen;
    }
    out
}

fn legacy(linktype: u32, be: bool, nanos: bool, recs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut f = Vec::new();
    f.extend(w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend(w16(2));
    f.extend(w16(4));
    f.extend(w32(0));
    f.extend(w32(0));
    f.extend(w32(65535));
    f.extend(w32(linktype));
    for (us, r) in recs {
        f.extend(w32((us / 1_000_000) as u32));
        f.extend(w32(if nanos {
            (us % 1_000_000 * 1000) as u32
        } else {
            (us % 1_000_000) as u32
        }));
        f.extend(w32(r.len() as u32));
        f.extend(w32(r.len() as u32));
        f.extend(r);
    }
    f
}

#[test]
fn raw_ipv4_in_both_byte_orders_and_precisions() {
    let recs = ip_frames();
    assert_eq!(recs.len(), 9);
    for (lt, be, nanos) in [
        (101, false, false),
        (228, true, false),
        (101, true, true),
        (228, false, true),
    ] {
        let frames = read_pcap(&legacy(lt, be, nanos, &recs), &names, Some("eth0")).unwrap();
        assert_eq!(frames.len(), 9);
        let echo = frames[0].packet.as_ref().unwrap();
        assert_eq!((echo.icmp_id, echo.mac_src, echo.mac_proto), (0x1234, None, 0x0800));
        assert_eq!(frames[0].iface.as_deref(), Some("eth0"));
        assert_eq!(frames[0].ts_nanos, 1_795_733_661_972_065_000);
        assert_eq!(frames[8].packet.as_ref().unwrap().inner.unwrap().dport, 33434);
    }
}

#[test]
fn truncated_tail_and_truncated_headers() {
    let recs = ip_frames();
    let mut f = legacy(101, false, false, &recs[..2]);
    f.truncate(f.len() - 10);
    let frames = read_pcap(&f, &names, None).unwrap();
    assert_eq!(frames.len(), 2);
    assert!(frames[0].packet.is_some());
    assert!(
        frames[1].skipped.as_deref().unwrap().contains("truncated at the end"),
        "{:?}",
        frames[1]
    );
    // A SYN cut after 30 bytes: the TCP header is incomplete.
    let short = vec![(0, recs[1].1[..30].to_vec()), (0, recs[1].1[..12].to_vec())];
    let frames = read_pcap(&legacy(101, false, false, &short), &names, None).unwrap();
    assert_eq!(frames[0].skipped.as_deref(), Some("truncated TCP header"));
    assert_eq!(frames[1].skipped.as_deref(), Some("truncated IPv4 header"));
}

#[test]
fn fragments_and_unknown_link_types() {
    let recs = ip_frames();
    let mut frag = recs[5].1.clone(); // the UDP datagram
    frag[6] = 0x00;
    frag[7] = 0x10; // offset 16 (x8 bytes), a later fragment
    let mut lt = legacy(101, false, false, &[(0, frag)]);
    let frames = read_pcap(&lt, &names, None).unwrap();
    let p = frames[0].packet.as_ref().unwrap();
    assert_eq!((p.frag_off, p.sport, p.dport, p.df), (16, 0, 0, false));
    lt[20] = 147; // LINKTYPE_USER0
    let frames = read_pcap(&lt, &names, None).unwrap();
    assert_eq!(frames[0].skipped.as_deref(), Some("unsupported link type 147"));
}

#[test]
fn not_a_capture() {
    let e = read_pcap(b"hello world, this is not a pcap file", &names, None).unwrap_err();
    assert!(e.to_string().contains("not a pcap or pcapng file"), "{e}");
    assert!(read_pcap(b"", &names, None).is_err());
    // A bare header is an empty capture.
    assert_eq!(read_pcap(&legacy(1, false, false, &[]), &names, None).unwrap(), vec![]);
}

fn pad4(v: &mut Vec<u8>) {
    while v.len() & 3 != 0 {
        v.push(0);
    }
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    pad4(&mut b);
    let len = (b.len() + 12) as u32;
    let mut out = Vec::new();
    out.extend(kind.to_le_bytes());
    out.extend(len.to_le_bytes());
    out.extend(b);
    out.extend(len.to_le_bytes());
    out
}

#[test]
fn pcapng_with_if_name() {
    let recs = ip_frames();
    let mut f = Vec::new();
    let mut shb = Vec::new();
    shb.extend(0x1a2b_3c4du32.to_le_bytes());
    shb.extend(1u16.to_le_bytes());
    shb.extend(0u16.to_le_bytes());
    shb.extend((-1i64).to_le_bytes());
    f.extend(block(0x0a0d_0d0a, &shb));
    // IDB: link type 228 (IPv4), if_name "wg0", if_tsresol 9 (nanoseconds).
    let mut idb = Vec::new();
    idb.extend(228u16.to_le_bytes());
    idb.extend(0u16.to_le_bytes());
    idb.extend(0u32.to_le_bytes());
    idb.extend(2u16.to_le_bytes());
    idb.extend(3u16.to_le_bytes());
    idb.extend(b"wg0\0");
    idb.extend(9u16.to_le_bytes());
    idb.extend(1u16.to_le_bytes());
    idb.extend([9u8, 0, 0, 0]);
    idb.extend([0u8; 4]);
    f.extend(block(1, &idb));
    for (us, r) in &recs[..2] {
        let ns = us * 1000;
        let mut epb = Vec::new();
        epb.extend(0u32.to_le_bytes());
        epb.extend(((ns >> 32) as u32).to_le_bytes());
        epb.extend((ns as u32).to_le_bytes());
        epb.extend((r.len() as u32).to_le_bytes());
        epb.extend((r.len() as u32).to_le_bytes());
        epb.extend(r);
        pad4(&mut epb);
        f.extend(block(6, &epb));
    }
    let frames = read_pcap(&f, &names, Some("eth0")).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].iface.as_deref(), Some("wg0"));
    assert_eq!(frames[0].ts_nanos, 1_795_733_661_972_065_000);
    assert_eq!(frames[1].packet.as_ref().unwrap().dport, 8080);
}
