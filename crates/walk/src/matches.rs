//! Evaluating one condition against a packet at a hook.

use ipnet::IpNet;
use nfwalk_model::packet::fmt_mac;
use nfwalk_model::ruleset::{Cmp, CtStates, CtStatus, PortDir, PortRange, RecentCmd, Statistic};
use nfwalk_model::{Hook, Host, Match, MatchKind, Packet, Proto};
use std::net::{IpAddr, Ipv4Addr};

use crate::conntrack::{Conn, Tuple};
use crate::route::addr_type;

/// Conntrack information as a match sees it.
#[derive(Clone, Copy, Debug)]
pub struct CtView<'a> {
    /// State bits (one of NEW/ESTABLISHED/RELATED/INVALID/UNTRACKED).
    pub state: u8,
    /// The connection, if any.
    pub conn: Option<&'a Conn>,
    /// Packet in the reply direction.
    pub reply: bool,
}

/// Everything a match may read.
pub struct Ctx<'a> {
    /// The host.
    pub host: &'a Host,
    /// Current hook.
    pub hook: Hook,
    /// IN.
    pub in_: Option<&'a str>,
    /// OUT.
    pub out: Option<&'a str>,
    /// PHYSIN.
    pub physin: Option<&'a str>,
    /// PHYSOUT.
    pub physout: Option<&'a str>,
    /// Bridged (br_netfilter) traffic.
    pub bridged: bool,
    /// The packet.
    pub pkt: &'a Packet,
    /// Conntrack.
    pub ct: CtView<'a>,
    /// Owning uid for local packets.
    pub uid: Option<u32>,
    /// Per-walk counter for statistic nth (packets seen by that rule so far).
    pub nth_count: u64,
    /// Recent lists: name → addresses.
    pub recent: &'a dyn Fn(&str, Ipv4Addr) -> bool,
    /// Lean walk: do not describe the value seen when a condition fails.
    pub lean: bool,
}

impl Ctx<'_> {
    /// `Yes`, or `No` with the value seen (not even formatted in a lean walk).
    fn res(&self, b: bool, seen: impl FnOnce() -> String) -> Outcome {
        if b {
            Outcome::Yes
        } else if self.lean {
            Outcome::No(String::new())
        } else {
            Outcome::No(seen())
        }
    }
}

/// The outcome of one condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It holds.
    Yes,
    /// It does not; the value seen.
    No(String),
    /// Undecidable here; why.
    Unknown(String),
}

fn v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn net_has(net: &IpNet, a: Ipv4Addr) -> bool {
    match net {
        IpNet::V4(n) => n.contains(&a),
        IpNet::V6(_) => false,
    }
}

fn state_names(bits: u8) -> String {
    let mut v = Vec::new();
    for (b, n) in [
        (CtStates::INVALID, "INVALID"),
        (CtStates::NEW, "NEW"),
        (CtStates::ESTABLISHED, "ESTABLISHED"),
        (CtStates::RELATED, "RELATED"),
        (CtStates::UNTRACKED, "UNTRACKED"),
        (CtStates::SNAT, "SNAT"),
        (CtStates::DNAT, "DNAT"),
    ] {
        if bits & b != 0 {
            v.push(n);
        }
    }
    v.join(",")
}

fn port_in(ranges: &[PortRange], p: u16) -> bool {
    ranges.iter().any(|r| r.contains(p))
}

fn ports_relevant(pkt: &Packet) -> bool {
    pkt.proto.has_ports() && pkt.frag_off == 0
}

/// Evaluates a condition, before applying its `!`.
fn eval_raw(m: &Match, cx: &Ctx<'_>) -> Outcome {
    let p = cx.pkt;
    match &m.kind {
        MatchKind::Src { net } => cx.res(net_has(net, p.src), || format!("src {}", p.src)),
        MatchKind::Dst { net } => cx.res(net_has(net, p.dst), || format!("dst {}", p.dst)),
        MatchKind::InIface { iface } => match cx.in_ {
            Some(i) => cx.res(iface.matches(i), || format!("in {i}")),
            None => Outcome::No("no input interface at this hook".into()),
        },
        MatchKind::OutIface { iface } => match cx.out {
            Some(o) => cx.res(iface.matches(o), || format!("out {o}")),
            None => Outcome::No("no output interface at this hook".into()),
        },
        MatchKind::Proto { proto } => match proto {
            None => Outcome::Yes,
            Some(pr) => cx.res(*pr == p.proto, || format!("proto {}", p.proto)),
        },
        MatchKind::Fragment => cx.res(p.frag_off != 0, || "first fragment".into()),
        MatchKind::SrcPort { range } => {
            if !ports_relevant(p) {
                return Outcome::No(format!("proto {} has no ports", p.proto));
            }
            cx.res(range.contains(p.sport), || format!("sport {}", p.sport))
        }
        MatchKind::DstPort { range } => {
            if !ports_relevant(p) {
                return Outcome::No(format!("proto {} has no ports", p.proto));
            }
            cx.res(range.contains(p.dport), || format!("dport {}", p.dport))
        }
        MatchKind::TcpFlags { mask, comp } => {
            if p.proto != Proto::TCP {
                return Outcome::No(format!("proto {}", p.proto));
            }
            cx.res(p.tcp_flags.0 & mask == *comp, || format!("flags {}", p.tcp_flags))
        }
        MatchKind::TcpOption { .. } => Outcome::Unknown("TCP options are not carried by nfwalk packets".into()),
        MatchKind::Multiport { dir, ports } => {
            if !ports_relevant(p) {
                return Outcome::No(format!("proto {} has no ports", p.proto));
            }
            let ok = match dir {
                PortDir::Src => port_in(ports, p.sport),
                PortDir::Dst => port_in(ports, p.dport),
                PortDir::Either => port_in(ports, p.sport) || port_in(ports, p.dport),
            };
            cx.res(ok, || format!("sport {} dport {}", p.sport, p.dport))
        }
        MatchKind::IcmpType { icmp_type, code } => {
            if p.proto != Proto::ICMP {
                return Outcome::No(format!("proto {}", p.proto));
            }
            let ok = *icmp_type == 255 || (p.icmp_type == *icmp_type && code.is_none_or(|c| c == p.icmp_code));
            cx.res(ok, || format!("icmp type {} code {}", p.icmp_type, p.icmp_code))
        }
        MatchKind::CtState { states } => {
            let mut bits = cx.ct.state;
            if let Some(c) = cx.ct.conn {
                if c.is_snat() {
                    bits |= CtStates::SNAT;
                }
                if c.is_dnat() {
                    bits |= CtStates::DNAT;
                }
            }
            cx.res(states.0 & bits != 0, || format!("ctstate {}", state_names(bits)))
        }
        MatchKind::CtProto { proto } => ct_cond(cx, |c| (c.orig.proto == *proto, format!("ctproto {}", c.orig.proto))),
        MatchKind::CtOrigSrc { net } => {
            ct_cond(cx, |c| (net_has(net, c.orig.src), format!("ctorigsrc {}", c.orig.src)))
        }
        MatchKind::CtOrigDst { net } => {
            ct_cond(cx, |c| (net_has(net, c.orig.dst), format!("ctorigdst {}", c.orig.dst)))
        }
        MatchKind::CtReplSrc { net } => ct_cond(cx, |c| {
            (net_has(net, c.reply.src), format!("ctreplsrc {}", c.reply.src))
        }),
        MatchKind::CtReplDst { net } => ct_cond(cx, |c| {
            (net_has(net, c.reply.dst), format!("ctrepldst {}", c.reply.dst))
        }),
        MatchKind::CtOrigSrcPort { range } => ct_cond(cx, |c| {
            (range.contains(c.orig.sport), format!("ctorigsrcport {}", c.orig.sport))
        }),
        MatchKind::CtOrigDstPort { range } => ct_cond(cx, |c| {
            (range.contains(c.orig.dport), format!("ctorigdstport {}", c.orig.dport))
        }),
        MatchKind::CtReplSrcPort { range } => ct_cond(cx, |c| {
            (
                range.contains(c.reply.sport),
                format!("ctreplsrcport {}", c.reply.sport),
            )
        }),
        MatchKind::CtReplDstPort { range } => ct_cond(cx, |c| {
            (
                range.contains(c.reply.dport),
                format!("ctrepldstport {}", c.reply.dport),
            )
        }),
        MatchKind::CtDir { reply } => {
            if cx.ct.conn.is_none() {
                return Outcome::No("no conntrack entry".into());
            }
            cx.res(cx.ct.reply == *reply, || {
                format!("ctdir {}", if cx.ct.reply { "REPLY" } else { "ORIGINAL" })
            })
        }
        MatchKind::CtStatus { status } => ct_cond(cx, |c| {
            let mut bits = 0;
            if c.seen_reply {
                bits |= CtStatus::SEEN_REPLY;
            }
            if c.assured {
                bits |= CtStatus::ASSURED;
            }
            if c.confirmed {
                bits |= CtStatus::CONFIRMED;
            }
            (bits & status.0 != 0, format!("ctstatus bits {bits:#x}"))
        }),
        MatchKind::AddrTypeSrc {
            types,
            limit_in,
            limit_out,
        } => {
            let dev = if *limit_in {
                cx.in_
            } else if *limit_out {
                cx.out
            } else {
                None
            };
            let t = addr_type(cx.host, p.src, dev);
            cx.res(types.contains(t), || format!("src {} is {t}", p.src))
        }
        MatchKind::AddrTypeDst {
            types,
            limit_in,
            limit_out,
        } => {
            let dev = if *limit_in {
                cx.in_
            } else if *limit_out {
                cx.out
            } else {
                None
            };
            let t = addr_type(cx.host, p.dst, dev);
            cx.res(types.contains(t), || format!("dst {} is {t}", p.dst))
        }
        MatchKind::Mark { value, mask } => cx.res(p.mark & mask == *value, || format!("mark {:#x}", p.mark)),
        MatchKind::ConnMark { value, mask } => {
            ct_cond(cx, |c| (c.mark & mask == *value, format!("connmark {:#x}", c.mark)))
        }
        MatchKind::Comment { .. } => Outcome::Yes,
        MatchKind::SrcRange { lo, hi } => match (v4(*lo), v4(*hi)) {
            (Some(lo), Some(hi)) => cx.res(lo <= p.src && p.src <= hi, || format!("src {}", p.src)),
            _ => Outcome::No("IPv6 range".into()),
        },
        MatchKind::DstRange { lo, hi } => match (v4(*lo), v4(*hi)) {
            (Some(lo), Some(hi)) => cx.res(lo <= p.dst && p.dst <= hi, || format!("dst {}", p.dst)),
            _ => Outcome::No("IPv6 range".into()),
        },
        MatchKind::MacSource { mac } => match p.mac_src {
            Some(m) => cx.res(&m == mac, || format!("mac-source {}", fmt_mac(&m))),
            None if matches!(cx.hook, Hook::Output | Hook::Postrouting) && cx.in_.is_none() => {
                Outcome::No("locally generated packet has no source MAC".into())
            }
            None => Outcome::Unknown("the packet's source MAC is not known".into()),
        },
        MatchKind::PhysdevIn { iface } => match cx.physin {
            Some(i) => cx.res(iface.matches(i), || format!("physin {i}")),
            None => Outcome::No("not bridged (no physin)".into()),
        },
        MatchKind::PhysdevOut { iface } => match cx.physout {
            Some(o) => cx.res(iface.matches(o), || format!("physout {o}")),
            None if cx.bridged && matches!(cx.hook, Hook::Forward | Hook::Postrouting) => {
                Outcome::Unknown("bridge output port unknown (no FDB in snapshot)".into())
            }
            None => Outcome::No("not bridged (no physout)".into()),
        },
        MatchKind::PhysdevIsIn => cx.res(cx.physin.is_some(), || "no physin".into()),
        MatchKind::PhysdevIsOut => cx.res(
            cx.physout.is_some() || (cx.bridged && cx.hook != Hook::Prerouting),
            || "no physout".into(),
        ),
        MatchKind::PhysdevIsBridged => cx.res(cx.bridged, || "routed, not bridged".into()),
        MatchKind::PktType { pkt_type } => {
            let t = if p.dst.is_broadcast() || is_subnet_broadcast(cx, p.dst) {
                "broadcast"
            } else if p.dst.is_multicast() {
                "multicast"
            } else {
                "unicast"
            };
            cx.res(pkt_type == t, || format!("pkt-type {t}"))
        }
        MatchKind::Length { range } => cx.res(range.contains(p.len), || format!("length {}", p.len)),
        MatchKind::Ttl { cmp, value } => {
            let ok = match cmp {
                Cmp::Eq => p.ttl == *value,
                Cmp::Lt => p.ttl < *value,
                Cmp::Gt => p.ttl > *value,
            };
            cx.res(ok, || format!("ttl {}", p.ttl))
        }
        MatchKind::Tos { value, mask } => cx.res(p.tos & mask == *value, || format!("tos {:#04x}", p.tos)),
        MatchKind::Dscp { value } => cx.res(p.tos >> 2 == *value, || format!("dscp {}", p.tos >> 2)),
        MatchKind::UidOwner { lo, hi } => match (cx.hook, cx.uid) {
            (Hook::Output | Hook::Postrouting, Some(u)) => cx.res(*lo <= u && u <= *hi, || format!("uid {u}")),
            (Hook::Output | Hook::Postrouting, None) => {
                Outcome::Unknown("the sending process's uid is not given (--uid)".into())
            }
            _ => Outcome::No("owner matches only locally generated packets".into()),
        },
        MatchKind::GidOwner { .. } => match cx.hook {
            Hook::Output | Hook::Postrouting => Outcome::Unknown("the sending process's gid is not modelled".into()),
            _ => Outcome::No("owner matches only locally generated packets".into()),
        },
        MatchKind::Recent {
            name,
            cmd,
            rdest,
            seconds,
            hitcount,
        } => {
            let addr = if *rdest { p.dst } else { p.src };
            match cmd {
                RecentCmd::Set => Outcome::Yes,
                RecentCmd::Remove => cx.res((cx.recent)(name, addr), || format!("{addr} not in recent list {name}")),
                RecentCmd::Rcheck | RecentCmd::Update => {
                    if seconds.is_some() || hitcount.is_some() {
                        Outcome::Unknown(format!(
                            "recent list {name}: --seconds/--hitcount depend on timing and history"
                        ))
                    } else {
                        cx.res((cx.recent)(name, addr), || format!("{addr} not in recent list {name}"))
                    }
                }
            }
        }
        MatchKind::Limit { .. } => Outcome::Yes,
        MatchKind::HashLimit { above, .. } => {
            if *above {
                Outcome::No("assumed under the rate limit".into())
            } else {
                Outcome::Yes
            }
        }
        MatchKind::Statistic { mode } => match mode {
            Statistic::Nth { every, packet } => {
                let every = (*every).max(1) as u64;
                cx.res(cx.nth_count % every == *packet as u64, || {
                    format!("packet {} of every {every}", cx.nth_count % every)
                })
            }
            Statistic::Random { probability } => {
                Outcome::Unknown(format!("statistic random: matches with probability {probability}"))
            }
        },
        MatchKind::Set { name, flags } => {
            let Some(set) = cx.host.ipsets.iter().find(|s| &s.name == name) else {
                return Outcome::Unknown(format!(
                    "ipset {name} is not in the snapshot (add `ipset save` output as ipset-save.txt)"
                ));
            };
            let dims: Vec<&str> = set.kind.split(':').nth(1).unwrap_or("").split(',').collect();
            if set.kind.starts_with("list:") || dims.iter().any(|d| !matches!(*d, "ip" | "net" | "port")) {
                return Outcome::Unknown(format!(
                    "ipset {name} has type {}, which nfwalk does not model",
                    set.kind
                ));
            }
            let mut addr = None;
            let mut port = None;
            for (i, d) in dims.iter().enumerate().take(2) {
                let src = flags.get(i).copied().unwrap_or(true);
                match *d {
                    "port" => {
                        if !p.proto.has_ports() {
                            return Outcome::No(format!("proto {} has no ports", p.proto));
                        }
                        port = Some((p.proto.0, if src { p.sport } else { p.dport }));
                    }
                    _ => addr = Some(if src { p.src } else { p.dst }),
                }
            }
            cx.res(set.contains(addr, port), || {
                let a = addr.map(|a| a.to_string()).unwrap_or_default();
                let pt = port.map(|(_, p)| format!(",{p}")).unwrap_or_default();
                format!("{a}{pt} not in ipset {name}")
            })
        }
        MatchKind::Unknown { reason } => Outcome::Unknown(reason.clone()),
    }
}

fn is_subnet_broadcast(cx: &Ctx<'_>, a: Ipv4Addr) -> bool {
    addr_type(cx.host, a, None) == "BROADCAST"
}

fn ct_cond(cx: &Ctx<'_>, f: impl FnOnce(&Conn) -> (bool, String)) -> Outcome {
    match cx.ct.conn {
        Some(c) => {
            let (ok, seen) = f(c);
            cx.res(ok, || seen)
        }
        None => Outcome::No(format!("no conntrack entry (state {})", state_names(cx.ct.state))),
    }
}

/// Evaluates a condition with its `!`.
pub fn eval(m: &Match, cx: &Ctx<'_>) -> Outcome {
    match eval_raw(m, cx) {
        Outcome::Yes if m.negated => Outcome::No(negated_seen(m, cx)),
        Outcome::Yes => Outcome::Yes,
        Outcome::No(_) if m.negated => Outcome::Yes,
        o => o,
    }
}

fn negated_seen(m: &Match, cx: &Ctx<'_>) -> String {
    let p = cx.pkt;
    match &m.kind {
        MatchKind::InIface { .. } => format!("in {}", cx.in_.unwrap_or("")),
        MatchKind::OutIface { .. } => format!("out {}", cx.out.unwrap_or("")),
        MatchKind::Src { .. } => format!("src {}", p.src),
        MatchKind::Dst { .. } => format!("dst {}", p.dst),
        MatchKind::DstPort { .. } => format!("dport {}", p.dport),
        MatchKind::SrcPort { .. } => format!("sport {}", p.sport),
        MatchKind::Proto { .. } => format!("proto {}", p.proto),
        _ => "condition holds".into(),
    }
}

/// The conntrack tuple of a packet, for ICMP error lookups.
pub fn inner_tuple(p: &Packet) -> Option<Tuple> {
    p.inner.map(|i| Tuple {
        src: i.src,
        dst: i.dst,
        proto: i.proto,
        sport: i.sport,
        dport: i.dport,
    })
}
