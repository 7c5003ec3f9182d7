//! Raw command-line arguments, as clap parses them. Resolved into walk inputs by `input`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Shows what Linux netfilter (iptables, conntrack, NAT, routing) does to a packet,
/// from a snapshot of a host's state: no root, no live traffic, no risk.
#[derive(Parser, Debug)]
#[command(name = "nfwalk", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Walk the seed story: a Docker host where `-I DOCKER-USER --dport 10000 -j DROP` does nothing.
    Demo(DemoArgs),
    /// Walk one packet (or a whole TCP connection with --conn) through a host.
    Trace(TraceArgs),
    /// Walk every packet of a pcap capture through a host, in order.
    Replay(ReplayArgs),
    /// On a live Linux host: write its state (ip -j, iptables-save, sysctl) to DIR. Read-only.
    Snapshot(SnapshotArgs),
    /// iptables' own command line on a snapshot's ruleset: -L -S -C -A -I -D -R -N -E -X -F -Z -P.
    Iptables(IptablesArgs),
    /// Print a snapshot's ruleset as iptables-save does.
    IptablesSave(IptablesSaveArgs),
    /// Replace a snapshot's ruleset with a file, as iptables-restore does (checked first).
    IptablesRestore(IptablesRestoreArgs),
    /// Why a packet got its verdict, why a rule did not fire, and verified fixes.
    Explain(ExplainArgs),
    /// Find ineffective, shadowed, unreachable and risky rules in a ruleset.
    Lint(LintArgs),
    /// Apply iptables commands to a copy of the ruleset and show how packets' fates change.
    Whatif(WhatifArgs),
    /// `conntrack -L` with its filters on a snapshot's conntrack.txt: `nfwalk conntrack -L --snapshot DIR [-p P] [--orig-src A] ...`.
    Conntrack(ConntrackArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// FIN from both sides, then the last ACK.
    Fin,
    /// The client sends RST after the data.
    Rst,
    /// Nobody closes: the connection stays open after the data.
    Open,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// For people (colour on a terminal).
    Text,
    /// One JSON object (trace).
    Json,
    /// JSON Lines: one object per packet.
    Jsonl,
}

#[derive(Args, Debug, Clone)]
pub struct HostArgs {
    /// A snapshot directory (as written by `nfwalk snapshot`).
    #[arg(long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,
    /// A hand-written host file (TOML).
    #[arg(long, value_name = "FILE", conflicts_with = "snapshot")]
    pub host: Option<PathBuf>,
    /// Use the built-in seed host (the default when neither --snapshot nor --host is given).
    #[arg(long, conflicts_with_all = ["snapshot", "host"])]
    pub demo_host: bool,
}

#[derive(Args, Debug, Clone)]
pub struct PacketArgs {
    /// Interface the packet arrives on (a bridge port such as a veth enters as in=<bridge>, physin=<port>).
    #[arg(long = "in", value_name = "IFACE", conflicts_with = "local")]
    pub in_: Option<String>,
    /// The packet is sent by a local process (starts at OUTPUT).
    #[arg(long)]
    pub local: bool,
    /// Protocol: tcp, udp, icmp or a number.
    #[arg(short = 'p', long = "proto", default_value = "tcp")]
    pub proto: String,
    /// Source address (for --local, defaults to the route's preferred source).
    #[arg(long)]
    pub src: Option<std::net::Ipv4Addr>,
    /// Destination address.
    #[arg(long)]
    pub dst: std::net::Ipv4Addr,
    /// Source port.
    #[arg(long, default_value_t = 40001)]
    pub sport: u16,
    /// Destination port.
    #[arg(long, default_value_t = 0)]
    pub dport: u16,
    /// TCP flags, e.g. SYN or ACK,PSH (default SYN).
    #[arg(long, default_value = "SYN")]
    pub tcp_flags: String,
    /// ICMP type (number or echo-request, echo-reply, ...), optionally TYPE/CODE.
    #[arg(long, default_value = "echo-request")]
    pub icmp_type: String,
    /// Packet mark (skb->mark) on arrival.
    #[arg(long, default_value_t = 0)]
    pub mark: u32,
    /// IP total length (default: what Linux sends for this packet).
    #[arg(long)]
    pub len: Option<u16>,
    /// uid of the sending process (for -m owner with --local).
    #[arg(long)]
    pub uid: Option<u32>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Never colour the output.
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub packet: PacketArgs,
    /// Walk a whole TCP connection: SYN, SYN-ACK, ACK, data, FIN both ways.
    #[arg(long)]
    pub conn: bool,
    /// How the --conn connection ends: `fin` (both sides close: TIME_WAIT), `rst` (the
    /// client aborts, as a client that exits with unread data does: CLOSE) or `open`.
    #[arg(long, value_enum, default_value = "fin", requires = "conn")]
    pub close: Close,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Show only the rules that matched (the kernel trace view), not every rule evaluated.
    #[arg(long)]
    pub brief: bool,
    /// Print the connection table afterwards, as `conntrack -L` does.
    #[arg(long)]
    pub conntrack: bool,
    /// Write the connection table afterwards to DIR/conntrack.txt (`conntrack -L` lines,
    /// atomically); DIR defaults to the --snapshot directory.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub save_conntrack: Option<Option<PathBuf>>,
    /// Never colour the output.
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The capture (pcap: LINUX_SLL2 from `tcpdump -i any`, LINUX_SLL, Ethernet, raw IP).
    /// With `-i any` and no `-Q in`, the host's own packets are in it too (outgoing): they are
    /// walked from OUTPUT, so connections to local services track as in the kernel.
    #[arg(long)]
    pub pcap: PathBuf,
    /// Interface for captures whose link type carries none (Ethernet, raw IP).
    #[arg(long = "in", value_name = "IFACE")]
    pub in_: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Print the ruleset with simulated counters, as `iptables-save -c` does.
    #[arg(long)]
    pub counters: bool,
    /// Print the LOG/NFLOG lines, as dmesg shows them.
    #[arg(long)]
    pub log: bool,
    /// Print the connection table, as `conntrack -L` does.
    #[arg(long)]
    pub conntrack: bool,
    /// Write the connection table to DIR/conntrack.txt (`conntrack -L` lines, atomically);
    /// DIR defaults to the --snapshot directory.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub save_conntrack: Option<Option<PathBuf>>,
    /// Record only what decides (matched rules, policies, rewrites, LOG lines, fate): faster,
    /// and the JSON `evaluation` list is left empty.
    #[arg(long)]
    pub lean: bool,
    /// Never colour the output.
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// Directory to write (created if missing).
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub packet: PacketArgs,
    /// The verdict you expected: accept or drop.
    #[arg(long, value_name = "VERDICT")]
    pub expect: Option<String>,
    /// Why didn't this rule fire? `TABLE CHAIN N`, e.g. 'filter DOCKER-USER 1'.
    #[arg(long, value_name = "RULE", conflicts_with = "line")]
    pub rule: Option<String>,
    /// Why didn't the rule on this ruleset line fire?
    #[arg(long)]
    pub line: Option<usize>,
    /// Explain a whole TCP connection (SYN, SYN-ACK, ACK, data, close): every packet whose
    /// fate differs from --expect, and conntrack's part for ESTABLISHED/RELATED packets.
    #[arg(long)]
    pub conn: bool,
    /// With --conn: how the connection ends.
    #[arg(long, value_enum, default_value = "fin", requires = "conn")]
    pub close: Close,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct LintArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Never colour the output.
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Args, Debug)]
pub struct IptablesArgs {
    /// The snapshot directory whose iptables-save.txt is read (and updated by changing commands).
    #[arg(long, value_name = "DIR")]
    pub snapshot: PathBuf,
    /// Write the changed ruleset here instead of updating the snapshot in place.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// iptables' arguments, e.g. `-t nat -nvL --line-numbers`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct IptablesSaveArgs {
    /// The snapshot directory.
    #[arg(long, value_name = "DIR")]
    pub snapshot: PathBuf,
    /// Only this table.
    #[arg(short = 't', long)]
    pub table: Option<String>,
    /// Include counters.
    #[arg(short = 'c', long)]
    pub counters: bool,
}

#[derive(Args, Debug)]
pub struct IptablesRestoreArgs {
    /// The snapshot directory.
    #[arg(long, value_name = "DIR")]
    pub snapshot: PathBuf,
    /// Write here instead of the snapshot's iptables-save.txt.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only check the file (`--test`).
    #[arg(short = 't', long)]
    pub test: bool,
    /// The rules file (stdin when omitted).
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct WhatifArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// An iptables command to try (iptables' own arguments, one shell-quoted string; a
    /// leading `iptables` is allowed). Repeatable; applied in order, before those after `--`.
    #[arg(long = "cmd", value_name = "'ARGS'", allow_hyphen_values = true)]
    pub cmds: Vec<String>,
    /// Walk every packet of this capture (as `nfwalk replay` does).
    #[arg(long, conflicts_with_all = ["conn", "local", "dst"])]
    pub pcap: Option<PathBuf>,
    /// Walk a whole TCP connection from the packet given by the flags (as `nfwalk trace --conn`).
    #[arg(long)]
    pub conn: bool,
    /// Output format: text, or json (one object: every packet's old and new verdict, fate,
    /// first differing rule and both paths; jsonl is the same as json here).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Interface the packet arrives on (or, with --pcap, the interface of a capture without one).
    #[arg(long = "in", value_name = "IFACE", conflicts_with = "local")]
    pub in_: Option<String>,
    /// The packet is sent by a local process (starts at OUTPUT).
    #[arg(long)]
    pub local: bool,
    /// Protocol: tcp, udp, icmp or a number.
    #[arg(short = 'p', long = "proto", default_value = "tcp")]
    pub proto: String,
    /// Source address.
    #[arg(long)]
    pub src: Option<std::net::Ipv4Addr>,
    /// Destination address (required unless --pcap).
    #[arg(long)]
    pub dst: Option<std::net::Ipv4Addr>,
    /// Source port.
    #[arg(long, default_value_t = 40001)]
    pub sport: u16,
    /// Destination port.
    #[arg(long, default_value_t = 0)]
    pub dport: u16,
    /// TCP flags, e.g. SYN or ACK,PSH (default SYN).
    #[arg(long, default_value = "SYN")]
    pub tcp_flags: String,
    /// ICMP type (number or name), optionally TYPE/CODE.
    #[arg(long, default_value = "echo-request")]
    pub icmp_type: String,
    /// Packet mark on arrival.
    #[arg(long, default_value_t = 0)]
    pub mark: u32,
    /// Show unchanged packets too (by default only packets whose fate or path changes).
    #[arg(long)]
    pub all: bool,
    /// iptables commands after `--`, separated by a lone `;` (write `\;` or `';'` in a shell).
    #[arg(last = true, allow_hyphen_values = true, num_args = 0.., value_name = "IPTABLES ARGS")]
    pub rest: Vec<String>,
}

impl WhatifArgs {
    /// The packet flags as `nfwalk trace` takes them.
    pub fn packet_args(&self) -> Option<PacketArgs> {
        Some(PacketArgs {
            in_: self.in_.clone(),
            local: self.local,
            proto: self.proto.clone(),
            src: self.src,
            dst: self.dst?,
            sport: self.sport,
            dport: self.dport,
            tcp_flags: self.tcp_flags.clone(),
            icmp_type: self.icmp_type.clone(),
            mark: self.mark,
            len: None,
            uid: None,
        })
    }
}

#[derive(Args, Debug)]
pub struct ConntrackArgs {
    /// conntrack's own arguments plus `--snapshot DIR`, e.g. `-L --snapshot DIR -p tcp --state ESTABLISHED -o extended`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
    pub args: Vec<String>,
}
