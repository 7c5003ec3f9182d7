//! Reading captured packets (pcap and pcapng) into walkable [`Packet`]s.
//!
//! Supported link types: Linux cooked v2 (`LINUX_SLL2`, 276, what `tcpdump -i any -w`
//! writes), Linux cooked v1 (`LINUX_SLL`, 113), Ethernet (1, with one or two 802.1Q/802.1ad
//! tags skipped) and raw IPv4 (`RAW` 101, `IPV4` 228, and the BSD `RAW` value 12 and
//! 14 some writers use). Pcap files in either byte order with micro- or nanosecond
//! timestamps, and pcapng files (each interface's link type, `if_name` and timestamp
//! resolution are honoured) are read.
//!
//! Every record becomes one [`Frame`]. A frame that cannot be walked (ARP, IPv6, another
//! ethertype, a truncated header, an unsupported link type) has `packet: None` and says
//! why in `skipped`. Reading never panics; only a file that is not a capture at all, or a
//! corrupt record in the middle, is an error. A record cut short at the very end of the
//! file (a capture that was not closed cleanly) becomes a final skipped frame.

use nfwalk_model::packet::Inner;
use nfwalk_model::{Packet, Proto, TcpFlags};
use std::fmt;
use std::net::Ipv4Addr;

/// One captured frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// 1-based position in the capture, counting every frame.
    pub index: usize,
    /// Interface index from the capture (LINUX_SLL2 has it), if known.
    pub ifindex: Option<u32>,
    /// Interface name: from the `ifindex` resolver, the pcapng interface's `if_name`, or
    /// the default given to [`read_pcap`].
    pub iface: Option<String>,
    /// The IPv4 packet, when the frame is walkable.
    pub packet: Option<Packet>,
    /// Why the frame is not walkable (ARP, IPv6, truncated, ...).
    pub skipped: Option<String>,
    /// Timestamp in nanoseconds since the epoch.
    pub ts_nanos: u64,
    /// Linux cooked packet type: 0 host, 1 broadcast, 2 multicast, 3 otherhost,
    /// 4 outgoing. `None` for link types without it.
    pub pkt_type: Option<u8>,
}

/// A capture that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapError {
    /// Byte offset in the file where reading failed.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for PcapError {}

fn perr(offset: usize, message: impl Into<String>) -> PcapError {
    PcapError {
        offset,
        message: message.into(),
    }
}

/// Link-layer types understood by [`read_pcap`].
pub mod linktype {
    /// Ethernet.
    pub const ETHERNET: u32 = 1;
    /// BSD raw IP.
    pub const RAW_BSD: u32 = 12;
    /// OpenBSD raw IP.
    pub const RAW_BSD2: u32 = 14;
    /// Raw IP.
    pub const RAW: u32 = 101;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
}

/// Reads a pcap or pcapng capture.
///
/// `ifindex_names` turns an ifindex from the capture (LINUX_SLL2) into a name, for
/// example by looking it up in the host snapshot; frames without an ifindex, or whose
/// ifindex it does not know, get `default_iface` (pcapng frames first try the
/// interface's `if_name` option).
pub fn read_pcap(
    bytes: &[u8],
    ifindex_names: &dyn Fn(u32) -> Option<String>,
    default_iface: Option<&str>,
) -> Result<Vec<Frame>, PcapError> {
    if bytes.len() < 4 {
        return Err(perr(0, "file too short to be a capture"));
    }
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => read_pcapng(bytes, ifindex_names, default_iface),
        _ => read_legacy(bytes, ifindex_names, default_iface),
    }
}

struct Ctx<'a> {
    names: &'a dyn Fn(u32) -> Option<String>,
    default_iface: Option<&'a str>,
}

impl Ctx<'_> {
    fn frame(&self, index: usize, ts_nanos: u64, linktype: u32, data: &[u8], iface_hint: Option<&str>) -> Frame {
        let mut f = decode_link(linktype, data);
        f.index = index;
        f.ts_nanos = ts_nanos;
        f.iface = f
            .ifindex
            .and_then(|i| (self.names)(i))
            .or_else(|| iface_hint.map(str::to_string))
            .or_else(|| self.default_iface.map(str::to_string));
        f
    }
}

fn u32_at(d: &[u8], off: usize, be: bool) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    let a = [b[0], b[1], b[2], b[3]];
    Some(if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

fn read_legacy(
    bytes: &[u8],
    names: &dyn Fn(u32) -> Option<String>,
    default_iface: Option<&str>,
) -> Result<Vec<Frame>, PcapError> {
    let magic = u32_at(bytes, 0, false).unwrap_or(0);
    let (be, nanos) = match magic {
        0xa1b2_c3d4 => (false, false),
        0xa1b2_3c4d => (false, true),
        0xd4c3_b2a1 => (true, false),
        0x4d3c_b2a1 => (true, true),
        _ => return Err(perr(0, format!("not a pcap or pcapng file (magic 0x{magic:08x})"))),
    };
    if bytes.len() < 24 {
        return Err(perr(0, "pcap file header is truncated"));
    }
    // The link type is the low 16 bits (the upper bits may hold an FCS length).
    let linktype = u32_at(bytes, 20, be).unwrap_or(0) & 0xffff;
    let ctx = Ctx { names, default_iface };
    let mut out = Vec::new();
    let mut off = 24usize;
    while off < bytes.len() {
        let index = out.len() + 1;
        let (Some(sec), Some(frac), Some(caplen)) = (
            u32_at(bytes, off, be),
            u32_at(bytes, off + 4, be),
            u32_at(bytes, off + 8, be),
        ) else {
            out.push(trailing(index, off));
            break;
        };
        let start = off + 16;
        let Some(end) = start.checked_add(caplen as usize).filter(|e| *e <= bytes.len()) else {
            if caplen > 0x1000_0000 {
                return Err(perr(
                    off,
                    format!("record {index}: implausible captured length {caplen}"),
                ));
            }
            out.push(trailing(index, off));
            break;
        };
        let ts = sec as u64 * 1_000_000_000 + if nanos { frac as u64 } else { frac as u64 * 1000 };
        out.push(ctx.frame(index, ts, linktype, &bytes[start..end], None));
        off = end;
    }
    Ok(out)
}

fn trailing(index: usize, off: usize) -> Frame {
    Frame {
        skipped: Some(format!("record truncated at the end of the capture (byte {off})")),
        ..blank_frame(index)
    }
}

fn blank_frame(index: usize) -> Frame {
    Frame {
        index,
        ifindex: None,
        iface: None,
        packet: None,
        skipped: None,
        ts_nanos: 0,
        pkt_type: None,
    }
}

struct NgIface {
    linktype: u32,
    name: Option<String>,
    /// Units per second.
    resol: u64,
    offset_secs: i64,
}

fn read_pcapng(
    bytes: &[u8],
    names: &dyn Fn(u32) -> Option<String>,
    default_iface: Option<&str>,
) -> Result<Vec<Frame>, PcapError> {
    use pcap_parser::pcapng::{parse_block_be, parse_block_le, Block};
    use pcap_parser::traits::PcapNGPacketBlock;

    let ctx = Ctx { names, default_iface };
    let mut out = Vec::new();
    let mut ifaces: Vec<NgIface> = Vec::new();
    let mut rest = bytes;
    let mut be = false;
    while !rest.is_empty() {
        let off = bytes.len() - rest.len();
        if rest.len() >= 12 && rest[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            // Section header: byte order from the byte-order magic.
            be = rest[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
            ifaces.clear();
        }
        // Blocks carry their length; refuse absurd ones before handing them to the parser.
        if let Some(len) = u32_at(rest, 4, be) {
            if len < 12 || len % 4 != 0 {
                return Err(perr(off, format!("pcapng block with invalid length {len}")));
            }
        }
        let parsed = if be { parse_block_be(rest) } else { parse_block_le(rest) };
        let (next, block) = match parsed {
            Ok(x) => x,
            Err(pcap_parser::nom::Err::Incomplete(_)) => {
                out.push(trailing(out.len() + 1, off));
                break;
            }
            Err(e) => return Err(perr(off, format!("invalid pcapng block: {e:?}"))),
        };
        match &block {
            Block::InterfaceDescription(idb) => {
                let name = idb
                    .options
                    .iter()
                    .find(|o| o.code.0 == 2)
                    .map(|o| String::from_utf8_lossy(o.value()).trim_end_matches('\0').to_string());
                ifaces.push(NgIface {
                    linktype: idb.linktype.0 as u32,
                    name,
                    resol: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                    offset_secs: idb.ts_offset(),
                });
            }
            Block::EnhancedPacket(epb) => {
                let index = out.len() + 1;
                match ifaces.get(epb.if_id as usize) {
                    None => {
                        let mut f = blank_frame(index);
                        f.skipped = Some(format!("packet of unknown pcapng interface {}", epb.if_id));
                        out.push(f);
                    }
                    Some(ifc) => {
                        let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                        let ns = (raw as u128 * 1_000_000_000 / ifc.resol as u128) as i128
                            + ifc.offset_secs as i128 * 1_000_000_000;
                        let ns = ns.clamp(0, u64::MAX as i128) as u64;
                        let data = epb.packet_data();
                        out.push(ctx.frame(index, ns, ifc.linktype, data, ifc.name.as_deref()));
                    }
                }
            }
            Block::SimplePacket(spb) => {
                let index = out.len() + 1;
                match ifaces.first() {
                    None => {
                        let mut f = blank_frame(index);
                        f.skipped = Some("simple packet block without an interface".into());
                        out.push(f);
                    }
                    Some(ifc) => {
                        let n = spb.data.len().min(spb.origlen as usize);
                        out.push(ctx.frame(index, 0, ifc.linktype, &spb.data[..n], ifc.name.as_deref()));
                    }
                }
            }
            _ => {}
        }
        if next.len() >= rest.len() {
            return Err(perr(off, "pcapng parser made no progress"));
        }
        rest = next;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// link layer

const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;

fn decode_link(linktype: u32, d: &[u8]) -> Frame {
    let mut f = blank_frame(0);
    let (proto, l3, mac_src, mac_dst) = match linktype {
        linktype::LINUX_SLL2 => {
            if d.len() < 20 {
                f.skipped = Some("truncated LINUX_SLL2 header".into());
                return f;
            }
            let proto = u16::from_be_bytes([d[0], d[1]]);
            f.ifindex = Some(u32::from_be_bytes([d[4], d[5], d[6], d[7]]));
            f.pkt_type = Some(d[10]);
            let halen = d[11];
            let mac = (halen == 6).then(|| mac6(&d[12..18]));
            (proto, &d[20..], mac, None)
        }
        linktype::LINUX_SLL => {
            if d.len() < 16 {
                f.skipped = Some("truncated LINUX_SLL header".into());
                return f;
            }
            f.pkt_type = u8::try_from(u16::from_be_bytes([d[0], d[1]])).ok();
            let halen = u16::from_be_bytes([d[4], d[5]]);
            let mac = (halen == 6).then(|| mac6(&d[6..12]));
            (u16::from_be_bytes([d[14], d[15]]), &d[16..], mac, None)
        }
        linktype::ETHERNET => {
            if d.len() < 14 {
                f.skipped = Some("truncated Ethernet header".into());
                return f;
            }
            let dst = mac6(&d[0..6]);
            let src = mac6(&d[6..12]);
            let mut et = u16::from_be_bytes([d[12], d[13]]);
            let mut off = 14;
            let mut tags = 0;
            while (et == ETH_VLAN || et == ETH_QINQ) && tags < 2 {
                let Some(b) = d.get(off + 2..off + 4) else {
                    f.skipped = Some("truncated VLAN tag".into());
                    return f;
                };
                et = u16::from_be_bytes([b[0], b[1]]);
                off += 4;
                tags += 1;
            }
            (et, &d[off..], Some(src), Some(dst))
        }
        linktype::RAW | linktype::IPV4 | linktype::RAW_BSD | linktype::RAW_BSD2 => match d.first().map(|b| b >> 4) {
            Some(4) => (ETH_IPV4, d, None, None),
            Some(6) => (ETH_IPV6, d, None, None),
            _ => {
                f.skipped = Some("raw frame is neither IPv4 nor IPv6".into());
                return f;
            }
        },
        other => {
            f.skipped = Some(format!("unsupported link type {other}"));
            return f;
        }
    };
    match proto {
        ETH_IPV4 => {}
        ETH_ARP => {
            f.skipped = Some("ARP".into());
            return f;
        }
        ETH_IPV6 => {
            f.skipped = Some("IPv6".into());
            return f;
        }
        other => {
            f.skipped = Some(format!("ethertype 0x{other:04x}"));
            return f;
        }
    }
    match decode_ipv4(l3) {
        Ok(mut p) => {
            p.mac_src = mac_src;
            p.mac_dst = mac_dst;
            p.mac_proto = ETH_IPV4;
            f.packet = Some(p);
        }
        Err(why) => f.skipped = Some(why),
    }
    f
}

fn mac6(b: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    m
}

// ---------------------------------------------------------------------------------------
// IPv4 and transport

struct V4<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    frag_off: u16,
    /// The bytes after the IP header (as captured, at most up to the total length).
    body: &'a [u8],
}

fn v4_header(d: &[u8]) -> Result<V4<'_>, String> {
    if d.len() < 20 {
        return Err("truncated IPv4 header".into());
    }
    if d[0] >> 4 != 4 {
        return Err(format!("IP version {} in an IPv4 frame", d[0] >> 4));
    }
    let ihl = (d[0] & 0x0f) as usize * 4;
    if ihl < 20 {
        return Err(format!("IPv4 header length {ihl} is too small"));
    }
    if d.len() < ihl {
        return Err("truncated IPv4 options".into());
    }
    let total = u16::from_be_bytes([d[2], d[3]]) as usize;
    let end = if total >= ihl { total.min(d.len()) } else { d.len() };
    Ok(V4 {
        src: Ipv4Addr::new(d[12], d[13], d[14], d[15]),
        dst: Ipv4Addr::new(d[16], d[17], d[18], d[19]),
        proto: d[9],
        frag_off: u16::from_be_bytes([d[6], d[7]]) & 0x1fff,
        body: &d[ihl..end],
    })
}

fn decode_ipv4(d: &[u8]) -> Result<Packet, String> {
    let h = v4_header(d)?;
    let ihl = (d[0] & 0x0f) as u16 * 4;
    let len = u16::from_be_bytes([d[2], d[3]]);
    let flags = d[6];
    let mut p = Packet::blank(h.src, h.dst, Proto(h.proto));
    p.len = len;
    p.tos = d[1];
    p.id = u16::from_be_bytes([d[4], d[5]]);
    p.df = flags & 0x40 != 0;
    p.frag_off = h.frag_off;
    p.ttl = d[8];
    if ihl > 20 {
        p.ip_options = d.get(20..ihl as usize).unwrap_or_default().to_vec();
    }
    let l4_total = len.saturating_sub(ihl);
    p.payload_len = l4_total;
    if h.frag_off != 0 {
        // A later fragment carries no transport header.
        return Ok(p);
    }
    let b = h.body;
    match h.proto {
        6 => {
            if b.len() < 20 {
                return Err("truncated TCP header".into());
            }
            p.sport = u16::from_be_bytes([b[0], b[1]]);
            p.dport = u16::from_be_bytes([b[2], b[3]]);
            p.seq = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            p.ack_seq = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
            let doff = (b[12] >> 4) as u16 * 4;
            p.tcp_flags = TcpFlags(b[13]);
            p.window = u16::from_be_bytes([b[14], b[15]]);
            if doff > 20 {
                p.tcp_options = b.get(20..doff as usize).unwrap_or_default().to_vec();
            }
            p.payload_len = l4_total.saturating_sub(doff.max(20));
        }
        17 | 136 | 132 | 33 => {
            if b.len() < 4 {
                return Err(format!("truncated {} header", Proto(h.proto)));
            }
            p.sport = u16::from_be_bytes([b[0], b[1]]);
            p.dport = u16::from_be_bytes([b[2], b[3]]);
            let hl = match h.proto {
                132 => 12,
                33 => 12,
                _ => 8,
            };
            p.payload_len = l4_total.saturating_sub(hl);
        }
        1 => {
            if b.len() < 8 {
                return Err("truncated ICMP header".into());
            }
            p.icmp_type = b[0];
            p.icmp_code = b[1];
            if matches!(b[0], 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18) {
                p.icmp_id = u16::from_be_bytes([b[4], b[5]]);
                p.icmp_seq = u16::from_be_bytes([b[6], b[7]]);
            }
            p.payload_len = l4_total.saturating_sub(8);
            if p.is_icmp_error() {
                p.inner = inner_header(&b[8..]);
            }
        }
        _ => {}
    }
    Ok(p)
}

/// The header an ICMP error quotes: the IP header and at least 8 bytes after it.
fn inner_header(d: &[u8]) -> Option<Inner> {
    if d.len() < 20 || d[0] >> 4 != 4 {
        return None;
    }
    let ihl = (d[0] & 0x0f) as usize * 4;
    if ihl < 20 || d.len() < ihl {
        return None;
    }
    let proto = Proto(d[9]);
    let frag = u16::from_be_bytes([d[6], d[7]]) & 0x1fff;
    let (sport, dport) = match d.get(ihl..ihl + 4) {
        Some(t) if proto.has_ports() && frag == 0 => {
            (u16::from_be_bytes([t[0], t[1]]), u16::from_be_bytes([t[2], t[3]]))
        }
        _ => (0, 0),
    };
    let t = &d[ihl..];
    let be = |i: usize| t.get(i..i + 2).map(|x| u16::from_be_bytes([x[0], x[1]])).unwrap_or(0);
    let ip = nfwalk_model::packet::InnerIp {
        len: u16::from_be_bytes([d[2], d[3]]),
        tos: d[1],
        ttl: d[8],
        id: u16::from_be_bytes([d[4], d[5]]),
        df: d[6] & 0x40 != 0,
        frag_off: frag,
        l4_quoted: t.len() as u16,
        udp_len: if proto.0 == 17 { be(4) } else { 0 },
        tcp_flags: if proto.0 == 6 {
            t.get(13).copied().unwrap_or(0)
        } else {
            0
        },
        window: if proto.0 == 6 { be(14) } else { 0 },
        icmp_type: if proto.0 == 1 {
            t.first().copied().unwrap_or(0)
        } else {
            0
        },
        icmp_code: if proto.0 == 1 {
            t.get(1).copied().unwrap_or(0)
        } else {
            0
        },
        icmp_id: if proto.0 == 1 { be(4) } else { 0 },
        icmp_seq: if proto.0 == 1 { be(6) } else { 0 },
    };
    Some(Inner {
        src: Ipv4Addr::new(d[12], d[13], d[14], d[15]),
        dst: Ipv4Addr::new(d[16], d[17], d[18], d[19]),
        proto,
        sport,
        dport,
        ip,
    })
}
