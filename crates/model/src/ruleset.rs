//! Tables, chains and rules. Matches and targets are data, so the concrete walk and any
//! symbolic analysis read one model.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

use crate::packet::Proto;

/// The five netfilter hooks of the IPv4 family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Hook {
    /// NF_INET_PRE_ROUTING.
    Prerouting,
    /// NF_INET_LOCAL_IN.
    Input,
    /// NF_INET_FORWARD.
    Forward,
    /// NF_INET_LOCAL_OUT.
    Output,
    /// NF_INET_POST_ROUTING.
    Postrouting,
}

impl Hook {
    /// All hooks.
    pub const ALL: [Hook; 5] = [
        Hook::Prerouting,
        Hook::Input,
        Hook::Forward,
        Hook::Output,
        Hook::Postrouting,
    ];

    /// The built-in chain name of this hook (`PREROUTING`, ...).
    pub fn chain_name(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }

    /// The hook whose built-in chain has this name.
    pub fn from_chain_name(s: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.chain_name() == s)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.chain_name())
    }
}

/// The five iptables tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableName {
    /// raw: before conntrack.
    Raw,
    /// mangle: header and mark changes.
    Mangle,
    /// nat: first packet of a connection only.
    Nat,
    /// filter: the default table.
    Filter,
    /// security: SELinux marks.
    Security,
}

impl TableName {
    /// All tables.
    pub const ALL: [TableName; 5] = [
        TableName::Raw,
        TableName::Mangle,
        TableName::Nat,
        TableName::Filter,
        TableName::Security,
    ];

    /// The table's name as iptables writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            TableName::Raw => "raw",
            TableName::Mangle => "mangle",
            TableName::Nat => "nat",
            TableName::Filter => "filter",
            TableName::Security => "security",
        }
    }

    /// Parses `filter`, `nat`, ...
    pub fn parse(s: &str) -> Option<TableName> {
        TableName::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The built-in chains (hooks) this table registers, in iptables' order.
    pub fn hooks(self) -> &'static [Hook] {
        match self {
            TableName::Raw => &[Hook::Prerouting, Hook::Output],
            TableName::Mangle => &[
                Hook::Prerouting,
                Hook::Input,
                Hook::Forward,
                Hook::Output,
                Hook::Postrouting,
            ],
            TableName::Nat => &[Hook::Prerouting, Hook::Input, Hook::Output, Hook::Postrouting],
            TableName::Filter | TableName::Security => &[Hook::Input, Hook::Forward, Hook::Output],
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A built-in chain's policy, or a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// NF_ACCEPT.
    Accept,
    /// NF_DROP.
    Drop,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Accept => "ACCEPT",
            Verdict::Drop => "DROP",
        })
    }
}

/// `[packets:bytes]` counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A whole ruleset as loaded from one file (one address family).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ruleset {
    /// Where it came from (a file name, or `<demo>`).
    pub source: String,
    /// Whether this is an IPv6 ruleset (ip6tables-save).
    pub ipv6: bool,
    /// Tables in file order.
    pub tables: Vec<Table>,
}

impl Ruleset {
    /// The table with this name, if the ruleset has it.
    pub fn table(&self, name: TableName) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Mutable access to a table.
    pub fn table_mut(&mut self, name: TableName) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.name == name)
    }

    /// Every rule with its table and chain.
    pub fn rules(&self) -> impl Iterator<Item = (&Table, &Chain, &Rule)> {
        self.tables.iter().flat_map(|t| {
            t.chains
                .iter()
                .flat_map(move |c| c.rules.iter().map(move |r| (t, c, r)))
        })
    }
}

/// One table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Which table.
    pub name: TableName,
    /// Line of the `*table` header.
    pub line: usize,
    /// Chains in declaration order.
    pub chains: Vec<Chain>,
}

impl Table {
    /// The chain with this name.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// Index of the chain with this name.
    pub fn chain_index(&self, name: &str) -> Option<usize> {
        self.chains.iter().position(|c| c.name == name)
    }

    /// Mutable chain access.
    pub fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chains.iter_mut().find(|c| c.name == name)
    }
}

/// One chain: built-in (with a policy) or user-defined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    /// Chain name.
    pub name: String,
    /// The policy of a built-in chain; `None` for user chains.
    pub policy: Option<Verdict>,
    /// Policy counters, when the input had them.
    pub counters: Option<Counters>,
    /// Line of the `:CHAIN` declaration (0 when implicit).
    pub line: usize,
    /// Rules in order.
    pub rules: Vec<Rule>,
}

impl Chain {
    /// Whether this is a built-in chain of a hook.
    pub fn is_builtin(&self) -> bool {
        self.policy.is_some()
    }
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Line in the source file (1-based).
    pub line: usize,
    /// The rule exactly as written (`-A CHAIN ...`), without a counters prefix.
    pub text: String,
    /// Counters given in the input (`[p:b] -A ...` or `-c p b`).
    pub counters: Option<Counters>,
    /// Conditions, all of which must hold.
    pub matches: Vec<Match>,
    /// What happens when they hold.
    pub target: Target,
}

impl Rule {
    /// Whether any match or the target is unknown to nfwalk.
    pub fn has_unknown(&self) -> bool {
        matches!(self.target, Target::Unknown { .. })
            || self.matches.iter().any(|m| matches!(m.kind, MatchKind::Unknown { .. }))
    }
}

/// One condition of a rule, possibly negated with `!`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// `!` was given.
    pub negated: bool,
    /// The module that provides it (`tcp`, `conntrack`, ...; empty for built-in `-s -d -i -o -p -f`).
    pub module: String,
    /// The condition.
    pub kind: MatchKind,
    /// The option text as written (`--dport 10000`), for messages.
    pub text: String,
}

/// An interface name pattern; a trailing `+` matches any name with that prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IfacePattern(pub String);

impl IfacePattern {
    /// Whether `name` matches, with iptables' `+` wildcard.
    pub fn matches(&self, name: &str) -> bool {
        match self.0.strip_suffix('+') {
            Some(prefix) => name.starts_with(prefix),
            None => self.0 == name,
        }
    }
}

/// Conntrack states as `--ctstate`/`--state` list them (a bit set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CtStates(pub u8);

impl CtStates {
    /// INVALID.
    pub const INVALID: u8 = 1;
    /// NEW.
    pub const NEW: u8 = 2;
    /// ESTABLISHED.
    pub const ESTABLISHED: u8 = 4;
    /// RELATED.
    pub const RELATED: u8 = 8;
    /// UNTRACKED.
    pub const UNTRACKED: u8 = 16;
    /// SNAT (virtual state of `--ctstate`).
    pub const SNAT: u8 = 32;
    /// DNAT (virtual state of `--ctstate`).
    pub const DNAT: u8 = 64;

    /// Parses `RELATED,ESTABLISHED`.
    pub fn parse(s: &str) -> Option<CtStates> {
        let mut v = 0;
        for p in s.split(',') {
            v |= match p.to_ascii_uppercase().as_str() {
                "INVALID" => Self::INVALID,
                "NEW" => Self::NEW,
                "ESTABLISHED" => Self::ESTABLISHED,
                "RELATED" => Self::RELATED,
                "UNTRACKED" => Self::UNTRACKED,
                "SNAT" => Self::SNAT,
                "DNAT" => Self::DNAT,
                _ => return None,
            };
        }
        Some(CtStates(v))
    }
}

/// Conntrack status bits for `--ctstatus`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CtStatus(pub u8);

impl CtStatus {
    /// EXPECTED.
    pub const EXPECTED: u8 = 1;
    /// SEEN_REPLY.
    pub const SEEN_REPLY: u8 = 2;
    /// ASSURED.
    pub const ASSURED: u8 = 4;
    /// CONFIRMED.
    pub const CONFIRMED: u8 = 8;

    /// Parses `ASSURED,SEEN_REPLY`.
    pub fn parse(s: &str) -> Option<CtStatus> {
        let mut v = 0;
        for p in s.split(',') {
            v |= match p.to_ascii_uppercase().as_str() {
                "NONE" => 0,
                "EXPECTED" => Self::EXPECTED,
                "SEEN_REPLY" => Self::SEEN_REPLY,
                "ASSURED" => Self::ASSURED,
                "CONFIRMED" => Self::CONFIRMED,
                _ => return None,
            };
        }
        Some(CtStatus(v))
    }
}

/// Address types of the addrtype match (kernel RTN_* types), as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddrTypes(pub u16);

impl AddrTypes {
    /// Names in bit order (bit n = 1 << n).
    pub const NAMES: [&'static str; 12] = [
        "UNSPEC",
        "UNICAST",
        "LOCAL",
        "BROADCAST",
        "ANYCAST",
        "MULTICAST",
        "BLACKHOLE",
        "UNREACHABLE",
        "PROHIBIT",
        "THROW",
        "NAT",
        "XRESOLVE",
    ];

    /// Parses `LOCAL,BROADCAST`.
    pub fn parse(s: &str) -> Option<AddrTypes> {
        let mut v = 0u16;
        for p in s.split(',') {
            let up = p.to_ascii_uppercase();
            let i = Self::NAMES.iter().position(|n| *n == up)?;
            v |= 1 << i;
        }
        Some(AddrTypes(v))
    }

    /// Whether the set contains the type named `name`.
    pub fn contains(self, name: &str) -> bool {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// An inclusive port range (`80`, `1024:65535`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl PortRange {
    /// Whether `p` is in the range.
    pub fn contains(self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}:{}", self.lo, self.hi)
        }
    }
}

/// Which ports a multiport match looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PortDir {
    /// `--sports`.
    Src,
    /// `--dports`.
    Dst,
    /// `--ports`: either.
    Either,
}

/// A comparison for `ttl`/`hl`/`length`-like matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cmp {
    /// Equal.
    Eq,
    /// Less than.
    Lt,
    /// Greater than.
    Gt,
}

/// What an `-m recent` rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecentCmd {
    /// `--set`: add the address; always matches.
    Set,
    /// `--rcheck`: is the address in the list?
    Rcheck,
    /// `--update`: like rcheck, and refresh the entry.
    Update,
    /// `--remove`: remove the address if present.
    Remove,
}

/// `statistic` mode.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Statistic {
    /// `--mode nth --every N --packet P`.
    Nth {
        /// Every N-th packet.
        every: u32,
        /// Offset.
        packet: u32,
    },
    /// `--mode random --probability P`.
    Random {
        /// Probability in 0..=1.
        probability: f64,
    },
}

/// Every condition nfwalk models. Options of unknown modules are kept as [`MatchKind::Unknown`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatchKind {
    /// `-s`.
    Src {
        /// Network.
        net: IpNet,
    },
    /// `-d`.
    Dst {
        /// Network.
        net: IpNet,
    },
    /// `-i`.
    InIface {
        /// Pattern.
        iface: IfacePattern,
    },
    /// `-o`.
    OutIface {
        /// Pattern.
        iface: IfacePattern,
    },
    /// `-p`.
    Proto {
        /// Protocol; `None` for `all`.
        proto: Option<Proto>,
    },
    /// `-f`: a non-first fragment.
    Fragment,
    /// `--sport` of tcp/udp/sctp.
    SrcPort {
        /// Range.
        range: PortRange,
    },
    /// `--dport` of tcp/udp/sctp.
    DstPort {
        /// Range.
        range: PortRange,
    },
    /// `--tcp-flags MASK COMP` (`--syn` is `SYN,RST,ACK,FIN SYN`).
    TcpFlags {
        /// Flags examined.
        mask: u8,
        /// Flags that must be set among them.
        comp: u8,
    },
    /// `--tcp-option N`.
    TcpOption {
        /// Option kind.
        option: u8,
    },
    /// multiport `--sports`/`--dports`/`--ports`.
    Multiport {
        /// Which ports.
        dir: PortDir,
        /// Ports and ranges.
        ports: Vec<PortRange>,
    },
    /// `--icmp-type T[/C]`; `any` is type 255.
    IcmpType {
        /// Type (255 = any).
        icmp_type: u8,
        /// Code, or any.
        code: Option<u8>,
    },
    /// `--ctstate` / `--state`.
    CtState {
        /// States.
        states: CtStates,
    },
    /// `--ctproto`.
    CtProto {
        /// Protocol.
        proto: Proto,
    },
    /// `--ctorigsrc`.
    CtOrigSrc {
        /// Network.
        net: IpNet,
    },
    /// `--ctorigdst`.
    CtOrigDst {
        /// Network.
        net: IpNet,
    },
    /// `--ctreplsrc`.
    CtReplSrc {
        /// Network.
        net: IpNet,
    },
    /// `--ctrepldst`.
    CtReplDst {
        /// Network.
        net: IpNet,
    },
    /// `--ctorigsrcport`.
    CtOrigSrcPort {
        /// Range.
        range: PortRange,
    },
    /// `--ctorigdstport`.
    CtOrigDstPort {
        /// Range.
        range: PortRange,
    },
    /// `--ctreplsrcport`.
    CtReplSrcPort {
        /// Range.
        range: PortRange,
    },
    /// `--ctrepldstport`.
    CtReplDstPort {
        /// Range.
        range: PortRange,
    },
    /// `--ctdir ORIGINAL|REPLY`.
    CtDir {
        /// True for REPLY.
        reply: bool,
    },
    /// `--ctstatus`.
    CtStatus {
        /// Status bits (any of them).
        status: CtStatus,
    },
    /// addrtype `--src-type`.
    AddrTypeSrc {
        /// Types.
        types: AddrTypes,
        /// `--limit-iface-in`.
        limit_in: bool,
        /// `--limit-iface-out`.
        limit_out: bool,
    },
    /// addrtype `--dst-type`.
    AddrTypeDst {
        /// Types.
        types: AddrTypes,
        /// `--limit-iface-in`.
        limit_in: bool,
        /// `--limit-iface-out`.
        limit_out: bool,
    },
    /// mark `--mark V[/M]`.
    Mark {
        /// Value.
        value: u32,
        /// Mask.
        mask: u32,
    },
    /// connmark `--mark V[/M]`.
    ConnMark {
        /// Value.
        value: u32,
        /// Mask.
        mask: u32,
    },
    /// comment: always true.
    Comment {
        /// Text.
        comment: String,
    },
    /// iprange `--src-range A-B`.
    SrcRange {
        /// First.
        lo: IpAddr,
        /// Last.
        hi: IpAddr,
    },
    /// iprange `--dst-range A-B`.
    DstRange {
        /// First.
        lo: IpAddr,
        /// Last.
        hi: IpAddr,
    },
    /// mac `--mac-source`.
    MacSource {
        /// Address.
        mac: [u8; 6],
    },
    /// physdev `--physdev-in`.
    PhysdevIn {
        /// Pattern.
        iface: IfacePattern,
    },
    /// physdev `--physdev-out`.
    PhysdevOut {
        /// Pattern.
        iface: IfacePattern,
    },
    /// physdev `--physdev-is-in`.
    PhysdevIsIn,
    /// physdev `--physdev-is-out`.
    PhysdevIsOut,
    /// physdev `--physdev-is-bridged`.
    PhysdevIsBridged,
    /// pkttype `--pkt-type`.
    PktType {
        /// `unicast`, `broadcast` or `multicast`.
        pkt_type: String,
    },
    /// length `--length A[:B]`.
    Length {
        /// Inclusive range of IP total length.
        range: PortRange,
    },
    /// ttl `--ttl-eq/-lt/-gt`.
    Ttl {
        /// Comparison.
        cmp: Cmp,
        /// Value.
        value: u8,
    },
    /// tos `--tos V[/M]`.
    Tos {
        /// Value.
        value: u8,
        /// Mask.
        mask: u8,
    },
    /// dscp `--dscp V`.
    Dscp {
        /// DSCP value (6 bits).
        value: u8,
    },
    /// owner `--uid-owner`.
    UidOwner {
        /// Inclusive uid range.
        lo: u32,
        /// Last uid.
        hi: u32,
    },
    /// owner `--gid-owner`.
    GidOwner {
        /// Inclusive gid range.
        lo: u32,
        /// Last gid.
        hi: u32,
    },
    /// recent.
    Recent {
        /// List name (`DEFAULT`).
        name: String,
        /// Command.
        cmd: RecentCmd,
        /// `--rsource` (default) vs `--rdest`.
        rdest: bool,
        /// `--seconds`.
        seconds: Option<u32>,
        /// `--hitcount`.
        hitcount: Option<u32>,
    },
    /// limit `--limit R/unit --limit-burst B`.
    Limit {
        /// Rate, per second.
        per_second: f64,
        /// Burst.
        burst: u32,
    },
    /// hashlimit.
    HashLimit {
        /// Rate, per second.
        per_second: f64,
        /// Burst.
        burst: u32,
        /// `--hashlimit-above` (matches when over the rate).
        above: bool,
        /// Name.
        name: String,
    },
    /// statistic.
    Statistic {
        /// Mode.
        mode: Statistic,
    },
    /// set `--match-set NAME FLAGS`.
    Set {
        /// Set name.
        name: String,
        /// `src`/`dst` flags, in order.
        flags: Vec<bool>,
    },
    /// Anything nfwalk does not model. The walk says "cannot decide here".
    Unknown {
        /// Why it is unknown (e.g. "match module 'string' is not modelled").
        reason: String,
    },
}

/// A NAT range: `--to-destination 172.17.0.2:6379`, `--to-source A-B:P1-P2`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NatRange {
    /// First address (None: keep the address, e.g. `:8080`).
    pub addr_lo: Option<IpAddr>,
    /// Last address.
    pub addr_hi: Option<IpAddr>,
    /// Port range.
    pub ports: Option<PortRange>,
}

/// How MARK/CONNMARK change a mark: `new = (old & !mask) ^ value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct XMark {
    /// Value XORed in.
    pub value: u32,
    /// Bits cleared first.
    pub mask: u32,
}

impl XMark {
    /// Applies the change to a mark.
    pub fn apply(self, old: u32) -> u32 {
        (old & !self.mask) ^ self.value
    }
}

/// What a rule does when its matches hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Target {
    /// No target: an accounting rule; counters only.
    None,
    /// ACCEPT.
    Accept,
    /// DROP.
    Drop,
    /// RETURN.
    Return,
    /// `-j CHAIN`.
    Jump {
        /// User chain.
        chain: String,
    },
    /// `-g CHAIN`.
    Goto {
        /// User chain.
        chain: String,
    },
    /// REJECT `--reject-with`.
    Reject {
        /// `icmp-port-unreachable` (default), `tcp-reset`, ...
        with: String,
    },
    /// LOG.
    Log {
        /// `--log-prefix`.
        prefix: String,
        /// `--log-level`.
        level: u8,
        /// `--log-tcp-sequence`.
        tcp_sequence: bool,
        /// `--log-tcp-options`.
        tcp_options: bool,
        /// `--log-ip-options`.
        ip_options: bool,
        /// `--log-uid`.
        uid: bool,
        /// `--log-macdecode`.
        macdecode: bool,
    },
    /// NFLOG.
    Nflog {
        /// `--nflog-group`.
        group: u16,
        /// `--nflog-prefix`.
        prefix: String,
    },
    /// MARK `--set-xmark` and friends.
    Mark {
        /// Change.
        xmark: XMark,
    },
    /// CONNMARK `--set-xmark`.
    ConnmarkSet {
        /// Change to the connection's mark.
        xmark: XMark,
    },
    /// CONNMARK `--save-mark`: ctmark = (ctmark & ~ctmask) ^ (mark & nfmask).
    ConnmarkSave {
        /// `--nfmask`.
        nfmask: u32,
        /// `--ctmask`.
        ctmask: u32,
    },
    /// CONNMARK `--restore-mark`: mark = (mark & ~nfmask) ^ (ctmark & ctmask).
    ConnmarkRestore {
        /// `--nfmask`.
        nfmask: u32,
        /// `--ctmask`.
        ctmask: u32,
    },
    /// DNAT.
    Dnat {
        /// Ranges (`--to-destination` may repeat in old kernels).
        to: NatRange,
        /// `--random`.
        random: bool,
        /// `--persistent`.
        persistent: bool,
    },
    /// SNAT.
    Snat {
        /// Range.
        to: NatRange,
        /// `--random`.
        random: bool,
        /// `--random-fully`.
        random_fully: bool,
        /// `--persistent`.
        persistent: bool,
    },
    /// MASQUERADE.
    Masquerade {
        /// `--to-ports`.
        ports: Option<PortRange>,
        /// `--random`.
        random: bool,
        /// `--random-fully`.
        random_fully: bool,
    },
    /// REDIRECT.
    Redirect {
        /// `--to-ports`.
        ports: Option<PortRange>,
        /// `--random`.
        random: bool,
    },
    /// NETMAP `--to`.
    Netmap {
        /// Target network.
        to: IpNet,
    },
    /// CT.
    Ct {
        /// `--notrack`.
        notrack: bool,
        /// `--zone`.
        zone: Option<u16>,
        /// `--helper`.
        helper: Option<String>,
    },
    /// NOTRACK.
    Notrack,
    /// TRACE.
    Trace,
    /// TCPMSS.
    Tcpmss {
        /// `--set-mss`; None for `--clamp-mss-to-pmtu`.
        set_mss: Option<u16>,
    },
    /// CHECKSUM `--checksum-fill`.
    Checksum,
    /// CLASSIFY `--set-class`.
    Classify {
        /// Class `MAJOR:MINOR`.
        class: String,
    },
    /// DSCP `--set-dscp`.
    SetDscp {
        /// New DSCP.
        value: u8,
    },
    /// A target nfwalk does not model.
    Unknown {
        /// Target name.
        name: String,
        /// Why it is unknown.
        reason: String,
    },
}

impl Target {
    /// The name iptables shows for the target (`ACCEPT`, `DNAT`, a chain name, or empty).
    pub fn name(&self) -> String {
        match self {
            Target::None => String::new(),
            Target::Accept => "ACCEPT".into(),
            Target::Drop => "DROP".into(),
            Target::Return => "RETURN".into(),
            Target::Jump { chain } | Target::Goto { chain } => chain.clone(),
            Target::Reject { .. } => "REJECT".into(),
            Target::Log { .. } => "LOG".into(),
            Target::Nflog { .. } => "NFLOG".into(),
            Target::Mark { .. } => "MARK".into(),
            Target::ConnmarkSet { .. } | Target::ConnmarkSave { .. } | Target::ConnmarkRestore { .. } => {
                "CONNMARK".into()
            }
            Target::Dnat { .. } => "DNAT".into(),
            Target::Snat { .. } => "SNAT".into(),
            Target::Masquerade { .. } => "MASQUERADE".into(),
            Target::Redirect { .. } => "REDIRECT".into(),
            Target::Netmap { .. } => "NETMAP".into(),
            Target::Ct { .. } => "CT".into(),
            Target::Notrack => "NOTRACK".into(),
            Target::Trace => "TRACE".into(),
            Target::Tcpmss { .. } => "TCPMSS".into(),
            Target::Checksum => "CHECKSUM".into(),
            Target::Classify { .. } => "CLASSIFY".into(),
            Target::SetDscp { .. } => "DSCP".into(),
            Target::Unknown { name, .. } => name.clone(),
        }
    }
}
