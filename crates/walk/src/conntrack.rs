//! The connection table: tuples, the TCP state machine, NAT bindings and `conntrack -L`.

use nfwalk_model::{Packet, Proto, TcpFlags};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A small, fast, non-cryptographic hasher (the Fx hash of rustc) for tuple lookups: the
/// keys are not attacker-chosen in an offline walk.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
use std::net::Ipv4Addr;

/// A conntrack tuple. For ICMP, `sport` is the echo id and `dport` is `type << 8 | code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Tuple {
    /// Source.
    pub src: Ipv4Addr,
    /// Destination.
    pub dst: Ipv4Addr,
    /// Protocol.
    pub proto: Proto,
    /// Source port (or ICMP id).
    pub sport: u16,
    /// Destination port (or ICMP type/code).
    pub dport: u16,
}

impl Tuple {
    /// The tuple of a packet as conntrack computes it.
    pub fn of(p: &Packet) -> Tuple {
        if p.proto == Proto::ICMP {
            Tuple {
                src: p.src,
                dst: p.dst,
                proto: p.proto,
                sport: p.icmp_id,
                dport: (p.icmp_type as u16) << 8 | p.icmp_code as u16,
            }
        } else if p.proto.has_ports() {
            Tuple {
                src: p.src,
                dst: p.dst,
                proto: p.proto,
                sport: p.sport,
                dport: p.dport,
            }
        } else {
            Tuple {
                src: p.src,
                dst: p.dst,
                proto: p.proto,
                sport: 0,
                dport: 0,
            }
        }
    }

    /// The tuple of the answer (`nf_ct_invert_tuple`): addresses and ports swapped, ICMP
    /// requests turned into their replies.
    pub fn invert(&self) -> Tuple {
        let dport = if self.proto == Proto::ICMP {
            let (t, c) = ((self.dport >> 8) as u8, self.dport as u8);
            let rt = match t {
                8 => 0,
                0 => 8,
                13 => 14,
                14 => 13,
                15 => 16,
                16 => 15,
                17 => 18,
                18 => 17,
                x => x,
            };
            (rt as u16) << 8 | c as u16
        } else {
            self.sport
        };
        let sport = if self.proto == Proto::ICMP {
            self.sport
        } else {
            self.dport
        };
        Tuple {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            sport,
            dport,
        }
    }

    fn fmt_l(&self) -> String {
        if self.proto == Proto::ICMP {
            format!(
                "src={} dst={} type={} code={} id={}",
                self.src,
                self.dst,
                self.dport >> 8,
                self.dport & 0xff,
                self.sport
            )
        } else if self.proto.has_ports() {
            format!(
                "src={} dst={} sport={} dport={}",
                self.src, self.dst, self.sport, self.dport
            )
        } else {
            format!("src={} dst={}", self.src, self.dst)
        }
    }
}

/// TCP conntrack states (`TCP_CONNTRACK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TcpState {
    /// NONE.
    None,
    /// SYN_SENT.
    SynSent,
    /// SYN_RECV.
    SynRecv,
    /// ESTABLISHED.
    Established,
    /// FIN_WAIT.
    FinWait,
    /// CLOSE_WAIT.
    CloseWait,
    /// LAST_ACK.
    LastAck,
    /// TIME_WAIT.
    TimeWait,
    /// CLOSE.
    Close,
    /// SYN_SENT2 (simultaneous open).
    SynSent2,
}

impl TcpState {
    /// The name `conntrack -L` prints.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    /// Default timeout in seconds (`nf_conntrack_tcp_timeout_*`).
    pub fn timeout(self) -> u32 {
        match self {
            TcpState::SynSent | TcpState::SynSent2 => 120,
            TcpState::SynRecv => 60,
            TcpState::Established => 432000,
            TcpState::FinWait => 120,
            TcpState::CloseWait => 60,
            TcpState::LastAck => 30,
            TcpState::TimeWait => 120,
            TcpState::Close => 10,
            TcpState::None => 0,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Result of one transition of the kernel's `tcp_conntracks` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpTransition {
    /// Move to this state.
    To(TcpState),
    /// sIV: the packet is invalid.
    Invalid,
    /// sIG: the packet is ignored (state kept).
    Ignore,
}

/// The kernel's `tcp_conntracks[dir][flags][state]` table (Linux 6.x).
pub fn tcp_transition(reply: bool, flags: TcpFlags, from: TcpState) -> TcpTransition {
    use TcpState::*;
    use TcpTransition::{Ignore as IG, Invalid as IV};
    const SS: TcpTransition = TcpTransition::To(SynSent);
    const SR: TcpTransition = TcpTransition::To(SynRecv);
    const ES: TcpTransition = TcpTransition::To(Established);
    const FW: TcpTransition = TcpTransition::To(FinWait);
    const CW: TcpTransition = TcpTransition::To(CloseWait);
    const LA: TcpTransition = TcpTransition::To(LastAck);
    const TW: TcpTransition = TcpTransition::To(TimeWait);
    const CL: TcpTransition = TcpTransition::To(Close);
    const S2: TcpTransition = TcpTransition::To(SynSent2);
    // columns: NO SS SR ES FW CW LA TW CL S2
    const ORIG: [[TcpTransition; 10]; 6] = [
        /* syn    */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        /* synack */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack    */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ];
    const REPLY: [[TcpTransition; 10]; 6] = [
        /* syn    */ [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        /* synack */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack    */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ];
    let idx = tcp_index(flags);
    let table = if reply { &REPLY } else { &ORIG };
    table[idx][from.index()]
}

/// One tracked connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conn {
    /// Sequence number of creation (for stable ordering).
    pub id: u64,
    /// Original-direction tuple.
    pub orig: Tuple,
    /// Reply-direction tuple (after NAT bindings).
    pub reply: Tuple,
    /// TCP state.
    pub tcp: Option<TcpState>,
    /// A reply was seen.
    pub seen_reply: bool,
    /// `[ASSURED]`.
    pub assured: bool,
    /// In the table (survived to confirm).
    pub confirmed: bool,
    /// SNAT binding done (or null binding).
    pub src_nat_done: bool,
    /// DNAT binding done.
    pub dst_nat_done: bool,
    /// Connection mark.
    pub mark: u32,
    /// Packets seen in the original direction after the first SYN-ACK etc. (for UDP assured).
    pub orig_packets: u64,
    /// Packets in reply direction.
    pub reply_packets: u64,
    /// State transitions, for explaining why an entry reads CLOSE or ESTABLISHED.
    pub history: Vec<String>,
    /// The source-NAT port was chosen at random by the kernel (`--random`,
    /// `--random-fully`): nfwalk's guess is replaced by the port the first reply carries.
    pub port_unknown: bool,
    /// The entry has been in FIN_WAIT (the kernel's `IP_CT_TCP_FLAG_CLOSE_INIT`): a SYN may
    /// then reopen it from TIME_WAIT/CLOSE.
    #[serde(skip)]
    pub close_init: bool,
    /// The last TCP packet conntrack processed or ignored: (reply direction, row of
    /// [`tcp_transition`]'s table), the kernel's `last_dir`/`last_index`.
    #[serde(skip)]
    pub last: Option<(bool, usize)>,
}

/// Rows of [`tcp_transition`]'s table (the kernel's `TCP_*_SET`).
pub const TCP_SYN_SET: usize = 0;
/// SYN+ACK.
pub const TCP_SYNACK_SET: usize = 1;
/// RST.
pub const TCP_RST_SET: usize = 4;

/// The row of [`tcp_transition`]'s table a segment with `f` uses.
pub fn tcp_index(f: TcpFlags) -> usize {
    if f.has(TcpFlags::RST) {
        4
    } else if f.has(TcpFlags::SYN) {
        if f.has(TcpFlags::ACK) {
            1
        } else {
            0
        }
    } else if f.has(TcpFlags::FIN) {
        2
    } else if f.has(TcpFlags::ACK) {
        3
    } else {
        5
    }
}

impl Conn {
    /// Whether the connection is source-NATed (`--ctstate SNAT`).
    pub fn is_snat(&self) -> bool {
        self.reply.dst != self.orig.src || self.reply.dport != self.orig.sport
    }

    /// Whether the connection is destination-NATed (`--ctstate DNAT`).
    pub fn is_dnat(&self) -> bool {
        self.reply.src != self.orig.dst || self.reply.sport != self.orig.dport
    }

    /// The timeout `conntrack -L` shows right after the last packet.
    pub fn timeout(&self) -> u32 {
        match self.tcp {
            Some(s) => s.timeout(),
            None if self.orig.proto == Proto::UDP => {
                if self.assured {
                    120
                } else {
                    30
                }
            }
            None if self.orig.proto == Proto::ICMP => 30,
            None => 600,
        }
    }

    /// The line `conntrack -L` prints for this entry.
    pub fn conntrack_line(&self) -> String {
        let mut s = format!(
            "{:<8} {} {} ",
            self.orig.proto.name(),
            self.orig.proto.0,
            self.timeout()
        );
        if let Some(t) = self.tcp {
            s.push_str(t.name());
            s.push(' ');
        }
        s.push_str(&self.orig.fmt_l());
        if !self.seen_reply {
            s.push_str(" [UNREPLIED]");
        }
        s.push(' ');
        s.push_str(&self.reply.fmt_l());
        if self.assured {
            s.push_str(" [ASSURED]");
        }
        s.push_str(&format!(" mark={} use=1", self.mark));
        s
    }
}

/// The connection table.
#[derive(Clone, Debug, Default)]
pub struct Table {
    conns: Vec<Conn>,
    index: HashMap<Tuple, (usize, bool), BuildHasherDefault<FxHasher>>,
    next_id: u64,
    /// Entries whose source-NAT port the kernel chose at random, by their reply tuple
    /// without the destination port: (src, sport, dst, proto).
    unknown_ports: HashMap<(Ipv4Addr, u16, Ipv4Addr, Proto), usize, BuildHasherDefault<FxHasher>>,
}

impl Table {
    /// Finds the connection a tuple belongs to, with `true` for the reply direction.
    pub fn find(&self, t: &Tuple) -> Option<(usize, bool)> {
        self.index.get(t).copied()
    }

    /// The connection at `i`.
    pub fn get(&self, i: usize) -> &Conn {
        &self.conns[i]
    }

    /// Mutable access.
    pub fn get_mut(&mut self, i: usize) -> &mut Conn {
        &mut self.conns[i]
    }

    /// Whether a tuple is used by any connection (NAT uniqueness).
    pub fn tuple_taken(&self, t: &Tuple) -> bool {
        self.index.contains_key(t)
    }

    /// Allocates an id for a new connection.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Inserts a confirmed connection.
    pub fn confirm(&mut self, mut c: Conn) -> usize {
        c.confirmed = true;
        let i = self.conns.len();
        self.index.insert(c.orig, (i, false));
        self.index.insert(c.reply, (i, true));
        if c.port_unknown {
            self.unknown_ports
                .insert((c.reply.src, c.reply.sport, c.reply.dst, c.reply.proto), i);
        }
        self.conns.push(c);
        i
    }

    /// For a tuple that matches no entry: an entry whose reply tuple differs only in the
    /// destination port, and whose source-NAT port was random, is that connection; its
    /// reply tuple takes the port the kernel chose. Returns the entry. (Random: `--random`,
    /// `--random-fully`, or a clash of the original port, see `apply_nat`.)
    pub fn learn_random_port(&mut self, t: &Tuple) -> Option<usize> {
        let i = self.unknown_ports.remove(&(t.src, t.sport, t.dst, t.proto))?;
        if !self.conns[i].port_unknown || self.index.get(&self.conns[i].reply) != Some(&(i, true)) {
            return None;
        }
        let old = self.conns[i].reply;
        self.index.remove(&old);
        let c = &mut self.conns[i];
        c.reply.dport = t.dport;
        c.port_unknown = false;
        c.history.push(format!(
            "source port {} (nfwalk's guess) → {} (chosen at random by the kernel, seen on the first reply)",
            old.dport, t.dport
        ));
        self.index.insert(c.reply, (i, true));
        Some(i)
    }

    /// Removes a connection's index entries (a SYN reopening a TIME_WAIT/CLOSE entry).
    pub fn kill(&mut self, i: usize) {
        let c = &self.conns[i];
        let (o, r) = (c.orig, c.reply);
        if self.index.get(&o) == Some(&(i, false)) {
            self.index.remove(&o);
        }
        if self.index.get(&r) == Some(&(i, true)) {
            self.index.remove(&r);
        }
    }

    /// Live connections in creation order.
    pub fn conns(&self) -> impl Iterator<Item = &Conn> {
        self.conns
            .iter()
            .enumerate()
            .filter(|(i, c)| self.index.get(&c.orig) == Some(&(*i, false)))
            .map(|(_, c)| c)
    }

    /// `conntrack -L` output.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        let n = self.conns().count();
        for c in self.conns() {
            out.push_str(&c.conntrack_line());
            out.push('\n');
        }
        out.push_str(&format!(
            "conntrack v1.4.7 (conntrack-tools): {n} flow entries have been shown.\n"
        ));
        out
    }
}
