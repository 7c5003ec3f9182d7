//! Randomized differential testing: seeded random small rulesets × random traffic, as a
//! [`Scenario`] that [`run_kernel`](crate::run_kernel) plays on the real kernel and
//! [`compare`](crate::compare::compare) replays through nfwalk.
//!
//! Everything is a pure function of the seed ([`scenario`]), through a small self-contained
//! PRNG ([`Rng`], splitmix64), so a failing seed is reproduced with
//! `NFWALK_DIFF_SEEDS=<seed> cargo test -p nfwalk-lab --test differential -- --nocapture`.
//!
//! Topology (fixed, see [`topology`]):
//!
//! ```text
//! client (up0 198.51.100.10/24 + .11) ── enp1s0 198.51.100.1/24 [host] eth1 203.0.113.1/24 ── srv0 203.0.113.10/24 (server)
//! ```
//!
//! with `ip_forward=1` on the host; TCP/UDP echo servers on the host (INPUT) and on the server
//! namespace (FORWARD). The host's filter table gets random INPUT/FORWARD policies, 1–2 user
//! chains and rules drawn from addresses, interfaces (with `+` wildcards), protocols, ports and
//! ranges, multiport, TCP flags, conntrack state (UNTRACKED included), addrtype, iprange,
//! length, ttl, pkttype, limit, comment, and mark/connmark when there is a mangle table, with
//! `!` negations, and targets ACCEPT/DROP/REJECT/RETURN/LOG/jump/goto (OUTPUT stays ACCEPT
//! with no rules). Other tables, each for some of the seeds: mangle (PREROUTING MARK
//! `--set-mark`/`--or-mark`, CONNMARK `--restore-mark`/`--save-mark`/`--set-mark`, FORWARD
//! MARK), raw PREROUTING `CT --notrack` for some flows (one way or both ways), nat with DNAT
//! of host ports to the server and MASQUERADE/SNAT on eth1, and nat PREROUTING REDIRECT of a
//! port to a host service. Traffic: TCP/UDP flows to the host, through it, to DNATed and
//! REDIRECTed ports and to closed ports, and pings (`L4::Icmp`) to the host and through it.
//! The host answers: `compare` walks the host's own packets from the kernel's trace (its
//! stack's RSTs for closed ports included, REJECT's resets left to nfwalk).
//!
//! Things the generator deliberately avoids (known not to be modelled or not comparable, see
//! `docs/fidelity.md`):
//! * NAT to address ranges and port clashes (nfwalk takes the first address / lowest port, the
//!   kernel hashes): single `--to` addresses only and a distinct source port per flow;
//! * rules in OUTPUT and mangle OUTPUT/POSTROUTING;
//! * `-m limit` over its rate (nfwalk assumes it matches): rates far above the traffic;
//! * retransmission tails after a client gave up (TCP timers are not part of the model, and a
//!   late packet between the end of the capture and the counter read is an artefact of the
//!   lab): short TCP retry sysctls in every namespace, and a final "settle" client that only
//!   talks to itself (no packet reaches the host) so the last flows' stragglers are captured;
//! * a UDP flow with more than one request (the kernel's 2-second UDP `[ASSURED]` rule).

use crate::scenario::{Client, Outcome, Scenario, Server, Step, L4};

/// splitmix64: tiny, deterministic, good enough for test generation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6e66_7761_6c6b_2d64) // "nfwalk-d"
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `pct`/100.
    pub fn chance(&mut self, pct: u32) -> bool {
        (self.next_u64() % 100) < pct as u64
    }

    /// One element of `xs`.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

/// The host's address on the client side.
pub const HOST_A: &str = "198.51.100.1";
/// The host's address on the server side.
pub const HOST_B: &str = "203.0.113.1";
/// The server namespace's address.
pub const SERVER: &str = "203.0.113.10";
/// The client namespace's addresses.
pub const CLIENTS: [&str; 2] = ["198.51.100.10", "198.51.100.11"];
/// TCP ports with a server on the host and on the server namespace.
pub const TCP_PORTS: [u16; 2] = [8001, 8002];
/// UDP ports with a server on the host and on the server namespace.
pub const UDP_PORTS: [u16; 2] = [9001, 9002];
/// Host ports DNATed to the server (when the seed has a nat table): TCP, UDP.
pub const DNAT_PORTS: (u16, u16) = (8080, 9080);
/// Ports REDIRECTed to a host service (when the seed has a REDIRECT): TCP, UDP.
pub const REDIRECT_PORTS: (u16, u16) = (8081, 9081);
/// Ports nobody listens on (TCP gets a reset, UDP an ICMP port unreachable).
pub const CLOSED_PORTS: (u16, u16) = (8009, 9009);

fn s(x: &str) -> String {
    x.to_string()
}

/// The fixed topology, servers included; no ruleset, no clients.
pub fn topology(name: &str) -> Scenario {
    let mut steps = vec![
        Step::Veth(s("host"), s("enp1s0"), s("client"), s("up0")),
        Step::Veth(s("host"), s("eth1"), s("server"), s("srv0")),
        Step::Addr(s("host"), s("enp1s0"), format!("{HOST_A}/24")),
        Step::Addr(s("host"), s("eth1"), format!("{HOST_B}/24")),
        Step::Addr(s("client"), s("up0"), format!("{}/24", CLIENTS[0])),
        Step::Addr(s("client"), s("up0"), format!("{}/24", CLIENTS[1])),
        Step::Addr(s("server"), s("srv0"), format!("{SERVER}/24")),
        Step::Route(s("client"), format!("203.0.113.0/24 via {HOST_A}")),
        Step::Route(s("server"), format!("default via {HOST_B}")),
        Step::Sysctl(s("host"), s("net.ipv4.ip_forward"), s("1")),
    ];
    // Short TCP retry tails everywhere: no SYN/ACK retransmission, established and orphaned
    // sockets give up after a couple of retransmissions. The comparison is per packet, so
    // this only keeps stragglers from outliving the capture.
    for ns in ["host", "client", "server"] {
        for (k, v) in [
            ("net.ipv4.tcp_synack_retries", "0"),
            ("net.ipv4.tcp_retries2", "1"),
            ("net.ipv4.tcp_orphan_retries", "1"),
        ] {
            steps.push(Step::Sysctl(s(ns), s(k), s(v)));
        }
    }
    let mut servers = vec![];
    for (ns, addr) in [("host", "0.0.0.0"), ("server", SERVER)] {
        let tag = if ns == "host" { "H" } else { "S" };
        for p in TCP_PORTS {
            servers.push(Server {
                ns: s(ns),
                l4: L4::Tcp,
                addr: s(addr),
                port: p,
                reply: format!("{tag}{p}"),
            });
        }
        for p in UDP_PORTS {
            servers.push(Server {
                ns: s(ns),
                l4: L4::Udp,
                addr: s(addr),
                port: p,
                reply: format!("{tag}{p}"),
            });
        }
    }
    Scenario {
        name: s(name),
        namespaces: vec![s("host"), s("client"), s("server")],
        host: s("host"),
        steps,
        rules_v4: String::new(),
        servers,
        clients: vec![],
    }
}

/// Where a user chain is called from: its rules obey that built-in chain's restrictions
/// (no `-o` under INPUT).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Home {
    Input,
    Forward,
}

struct Gen {
    rng: Rng,
    /// A second stream for the matches and tables added later (marks, notrack, iprange,
    /// length, ttl, pkttype, limit, comment), so the base rules of a seed keep their shape.
    x: Rng,
    seed: u64,
    logs: usize,
    /// User chains: (name, home).
    chains: Vec<(String, Home)>,
    /// The seed has a mangle table (marks and connmarks worth matching).
    marks: bool,
    /// The seed has `CT --notrack` rules (UNTRACKED worth matching).
    notrack: bool,
    comments: usize,
}

const SRC_NETS: [&str; 9] = [
    "198.51.100.10/32",
    "198.51.100.11/32",
    "198.51.100.0/24",
    "198.51.100.8/30",
    "198.51.100.0/29",
    "203.0.113.0/24",
    "203.0.113.10/32",
    "10.0.0.0/8",
    "172.16.0.0/12",
];
const DST_NETS: [&str; 9] = [
    "198.51.100.1/32",
    "203.0.113.1/32",
    "203.0.113.10/32",
    "203.0.113.0/24",
    "198.51.100.0/24",
    "203.0.113.8/29",
    "198.51.100.10/32",
    "10.0.0.0/8",
    "172.16.0.0/12",
];
const IN_IFACES: [&str; 7] = ["enp1s0", "eth1", "enp+", "eth+", "e+", "lo", "docker0"];
const OUT_IFACES: [&str; 5] = ["eth1", "enp1s0", "eth+", "enp+", "veth+"];
const PORTS: [&str; 9] = ["8001", "8002", "8009", "9001", "9002", "9009", "8080", "9080", "22"];
const PORT_RANGES: [&str; 5] = ["8000:8005", "8002:8080", "9000:9010", "1024:65535", "8001:8001"];
const MULTIPORTS: [&str; 5] = [
    "8001,9001",
    "8002,8009,9002",
    "8000:8002,9080",
    "22,80,443",
    "9001:9009,8080",
];
const TCP_FLAGS: [&str; 5] = [
    "SYN,ACK SYN",
    "SYN,ACK,FIN,RST ACK",
    "FIN,ACK FIN,ACK",
    "ALL ACK",
    "RST RST",
];
const CTSTATES: [&str; 7] = [
    "NEW",
    "ESTABLISHED",
    "RELATED",
    "INVALID",
    "UNTRACKED",
    "NEW,RELATED",
    "RELATED,ESTABLISHED",
];
const ADDRTYPES: [&str; 4] = ["LOCAL", "UNICAST", "BROADCAST", "MULTICAST"];
/// Flows raw PREROUTING takes out of conntrack (`CT --notrack`): some one way only (the
/// server's answers are then tracked on their own), some both ways.
const NOTRACK: [&str; 6] = [
    "-p udp --dport 9002",
    "-s 198.51.100.11/32 -p tcp --dport 8002",
    "-p icmp",
    "-d 198.51.100.1/32 -p udp",
    "-i enp1s0 -p tcp --dport 8001",
    "-p udp -m multiport --ports 9001,9002",
];
/// Who mangle PREROUTING marks.
const MARK_WHO: [&str; 6] = [
    "-s 198.51.100.11/32",
    "-p udp",
    "-p tcp --dport 8002",
    "-i eth1",
    "-p icmp",
    "-d 203.0.113.10/32",
];
const IPRANGES: [&str; 5] = [
    "198.51.100.10-198.51.100.10",
    "198.51.100.11-198.51.100.20",
    "198.51.100.1-198.51.100.10",
    "203.0.113.1-203.0.113.10",
    "10.0.0.1-10.255.255.255",
];
const LENGTHS: [&str; 6] = ["0:60", "60", "52:100", "61:1500", "0:28", "100:65535"];
const TTLS: [&str; 5] = [
    "--ttl-eq 64",
    "--ttl-eq 63",
    "--ttl-gt 63",
    "--ttl-lt 64",
    "--ttl-lt 10",
];
const PKTTYPES: [&str; 3] = ["unicast", "broadcast", "multicast"];
/// Packet marks the mangle table sets (MARK 0x1 and 0x2 bits, CONNMARK 0x4).
const MARKS: [&str; 6] = ["0x1", "0x1/0x1", "0x2/0x2", "0x0", "0x3", "0x4/0x4"];
/// `-m limit` is assumed under the rate: every rate here is far above the lab's traffic
/// (a few packets a flow, flows one after the other) and the burst is generous.
const LIMITS: [&str; 3] = [
    "--limit 1000/sec --limit-burst 100",
    "--limit 500/sec --limit-burst 50",
    "--limit 10000/min --limit-burst 200",
];

impl Gen {
    fn neg(&mut self, pct: u32) -> &'static str {
        if self.rng.chance(pct) {
            "! "
        } else {
            ""
        }
    }

    /// The matches of one rule, and the protocol it pins (for REJECT tcp-reset).
    fn matches(&mut self, home: Home, builtin_output: bool) -> (String, Option<&'static str>) {
        let mut m: Vec<String> = vec![];
        if self.rng.chance(25) {
            let n = self.neg(20);
            m.push(format!("{n}-s {}", self.rng.pick(&SRC_NETS)));
        }
        if self.rng.chance(25) {
            let n = self.neg(20);
            m.push(format!("{n}-d {}", self.rng.pick(&DST_NETS)));
        }
        if !builtin_output && self.rng.chance(20) {
            let n = self.neg(20);
            m.push(format!("{n}-i {}", self.rng.pick(&IN_IFACES)));
        }
        if home == Home::Forward && self.rng.chance(20) {
            let n = self.neg(20);
            m.push(format!("{n}-o {}", self.rng.pick(&OUT_IFACES)));
        }
        let mut proto = None;
        if self.rng.chance(65) {
            let p = self.rng.pick(&["tcp", "tcp", "udp", "udp", "icmp"]);
            if self.rng.chance(10) {
                m.push(format!("! -p {p}"));
            } else {
                m.push(format!("-p {p}"));
                proto = Some(p);
            }
        }
        match proto {
            Some(p @ ("tcp" | "udp")) => {
                if self.rng.chance(45) {
                    let opt = if self.rng.chance(75) { "--dport" } else { "--sport" };
                    let v = if self.rng.chance(70) {
                        self.rng.pick(&PORTS)
                    } else {
                        self.rng.pick(&PORT_RANGES)
                    };
                    let n = self.neg(15);
                    m.push(format!("{n}{opt} {v}"));
                } else if self.rng.chance(20) {
                    let opt = if self.rng.chance(75) { "--dports" } else { "--sports" };
                    let n = self.neg(15);
                    m.push(format!("-m multiport {n}{opt} {}", self.rng.pick(&MULTIPORTS)));
                }
                if p == "tcp" && self.rng.chance(25) {
                    if self.rng.chance(50) {
                        let n = self.neg(30);
                        m.push(format!("{n}--syn"));
                    } else {
                        let n = self.neg(20);
                        m.push(format!("{n}--tcp-flags {}", self.rng.pick(&TCP_FLAGS)));
                    }
                }
            }
            #[allow(clippy::collapsible_match)] // the roll must happen here, as recorded seeds expect
            Some(_) => {
                if self.rng.chance(40) {
                    let t = self.rng.pick(&[
                        "echo-request",
                        "destination-unreachable",
                        "port-unreachable",
                        "echo-reply",
                    ]);
                    let n = self.neg(15);
                    m.push(format!("-m icmp {n}--icmp-type {t}"));
                }
            }
            None => {}
        }
        if self.rng.chance(20) {
            let n = self.neg(15);
            m.push(format!("-m conntrack {n}--ctstate {}", self.rng.pick(&CTSTATES)));
        }
        if self.rng.chance(15) {
            let opt = if self.rng.chance(70) {
                "--dst-type"
            } else {
                "--src-type"
            };
            let n = self.neg(25);
            m.push(format!("-m addrtype {n}{opt} {}", self.rng.pick(&ADDRTYPES)));
        }
        self.extra_matches(&mut m);
        (m.join(" "), proto)
    }

    /// Matches from the second stream: iprange, length, ttl, pkttype, limit, comment, mark,
    /// connmark, UNTRACKED.
    fn extra_matches(&mut self, m: &mut Vec<String>) {
        let x = &mut self.x;
        let neg = |x: &mut Rng, pct| if x.chance(pct) { "! " } else { "" };
        if x.chance(8) {
            let opt = if x.chance(60) { "--src-range" } else { "--dst-range" };
            let n = neg(x, 20);
            m.push(format!("-m iprange {n}{opt} {}", x.pick(&IPRANGES)));
        }
        if x.chance(8) {
            let n = neg(x, 20);
            m.push(format!("-m length {n}--length {}", x.pick(&LENGTHS)));
        }
        if x.chance(7) {
            let t = x.pick(&TTLS);
            // iptables only negates --ttl-eq.
            let n = if t.starts_with("--ttl-eq") { neg(x, 25) } else { "" };
            m.push(format!("-m ttl {n}{t}"));
        }
        if x.chance(5) {
            let n = neg(x, 25);
            m.push(format!("-m pkttype {n}--pkt-type {}", x.pick(&PKTTYPES)));
        }
        if x.chance(5) {
            m.push(format!("-m limit {}", x.pick(&LIMITS)));
        }
        if self.marks && x.chance(20) {
            let n = neg(x, 20);
            let which = if x.chance(50) { "mark" } else { "connmark" };
            m.push(format!("-m {which} {n}--mark {}", x.pick(&MARKS)));
        }
        if self.notrack && x.chance(12) {
            let n = neg(x, 20);
            m.push(format!("-m conntrack {n}--ctstate UNTRACKED"));
        }
        if x.chance(6) {
            self.comments += 1;
            let c = self.comments;
            if x.chance(50) {
                m.push(format!("-m comment --comment d{c}"));
            } else {
                m.push(format!("-m comment --comment \"rule {c} of seed {}\"", self.seed));
            }
        }
    }

    /// A target for a rule in `chain` (user chain index `me`, or None for a built-in chain).
    fn target(&mut self, home: Home, me: Option<usize>, proto: Option<&str>) -> String {
        // Jumps only go to later user chains of the same home: no loops.
        let callees: Vec<usize> = (0..self.chains.len())
            .filter(|&j| self.chains[j].1 == home && me.is_none_or(|i| j > i))
            .collect();
        loop {
            match self.rng.below(100) {
                0..=21 => return s("-j ACCEPT"),
                22..=39 => return s("-j DROP"),
                40..=51 => {
                    return match (proto, self.rng.below(3)) {
                        (Some("tcp"), 0 | 1) => s("-j REJECT --reject-with tcp-reset"),
                        (_, 0) => s("-j REJECT"),
                        _ => s("-j REJECT --reject-with icmp-port-unreachable"),
                    }
                }
                52..=59 => {
                    // RETURN in a built-in chain applies the policy: rarer there.
                    if me.is_some() || self.rng.chance(25) {
                        return s("-j RETURN");
                    }
                }
                60..=69 => {
                    self.logs += 1;
                    return format!("-j LOG --log-prefix \"d{}r{}: \"", self.seed % 100_000, self.logs);
                }
                70..=94 => {
                    if !callees.is_empty() {
                        let c = &self.chains[callees[self.rng.below(callees.len())]].0;
                        let how = if self.rng.chance(25) { "-g" } else { "-j" };
                        return format!("{how} {c}");
                    }
                }
                _ => return String::new(), // no target: a counting rule (CONTINUE in the trace)
            }
        }
    }

    fn rule(&mut self, chain: &str, home: Home, me: Option<usize>) -> String {
        let (m, proto) = self.matches(home, false);
        let t = self.target(home, me, proto);
        let mut r = format!("-A {chain}");
        for part in [m, t] {
            if !part.is_empty() {
                r.push(' ');
                r.push_str(&part);
            }
        }
        r
    }

    fn established(&mut self, chain: &str) -> String {
        let st = self
            .rng
            .pick(&["ESTABLISHED,RELATED", "RELATED,ESTABLISHED", "ESTABLISHED"]);
        format!("-A {chain} -m conntrack --ctstate {st} -j ACCEPT")
    }

    fn builtin(&mut self, chain: &str, home: Home) -> Vec<String> {
        let mut rules: Vec<String> = (0..self.rng.range(1, 6))
            .map(|_| self.rule(chain, home, None))
            .collect();
        if self.rng.chance(75) {
            let at = self.rng.below(rules.len() + 1);
            let r = self.established(chain);
            rules.insert(at, r);
        }
        rules
    }
}

/// The random ruleset of `seed`, in iptables-restore format.
pub fn ruleset(seed: u64) -> String {
    let mut x = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(7));
    let (marks, notrack) = (x.chance(40), x.chance(35));
    let mut g = Gen {
        rng: Rng::new(seed),
        x,
        seed,
        logs: 0,
        chains: vec![],
        marks,
        notrack,
        comments: 0,
    };
    let n_chains = g.rng.range(1, 2);
    for i in 0..n_chains {
        let home = if g.rng.chance(50) { Home::Input } else { Home::Forward };
        g.chains.push((format!("U{}", i + 1), home));
    }
    let pol = |g: &mut Gen| if g.rng.chance(50) { "ACCEPT" } else { "DROP" };
    let (pi, pf) = (pol(&mut g), pol(&mut g));
    let mut out = String::new();
    out.push_str(&format!(
        "# nfwalk differential seed {seed}\n*filter\n:INPUT {pi} [0:0]\n:FORWARD {pf} [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    ));
    for (c, _) in &g.chains {
        out.push_str(&format!(":{c} - [0:0]\n"));
    }
    let mut rules = g.builtin("INPUT", Home::Input);
    rules.extend(g.builtin("FORWARD", Home::Forward));
    for i in 0..g.chains.len() {
        let (c, home) = g.chains[i].clone();
        for _ in 0..g.rng.range(1, 4) {
            rules.push(g.rule(&c, home, Some(i)));
        }
    }
    for r in rules {
        out.push_str(&r);
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    // The host's own packets go out: `compare` rebuilds them from the kernel's trace and walks
    // them from OUTPUT (its stack's RSTs for closed ports included; REJECT's resets are
    // nfwalk's own), so INPUT flows are complete conversations.
    if g.notrack {
        out.push_str("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        for _ in 0..g.x.range(1, 2) {
            let m = g.x.pick(&NOTRACK);
            out.push_str(&format!("-A PREROUTING {m} -j CT --notrack\n"));
        }
        out.push_str("COMMIT\n");
    }
    if g.marks {
        out.push_str(
            "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n",
        );
        let x = &mut g.x;
        if x.chance(60) {
            out.push_str("-A PREROUTING -j CONNMARK --restore-mark\n");
        }
        out.push_str(&format!("-A PREROUTING {} -j MARK --set-mark 0x1\n", x.pick(&MARK_WHO)));
        if x.chance(50) {
            out.push_str(&format!("-A PREROUTING {} -j MARK --or-mark 0x2\n", x.pick(&MARK_WHO)));
        }
        if x.chance(75) {
            let m = if x.chance(50) { "-m mark --mark 0x1/0x1 " } else { "" };
            out.push_str(&format!("-A PREROUTING {m}-j CONNMARK --save-mark\n"));
        }
        if x.chance(35) {
            out.push_str(&format!(
                "-A PREROUTING {} -j CONNMARK --set-mark 0x4/0x4\n",
                x.pick(&MARK_WHO)
            ));
        }
        if x.chance(25) {
            out.push_str(&format!("-A FORWARD {} -j MARK --set-mark 0x2\n", x.pick(&MARK_WHO)));
        }
        out.push_str("COMMIT\n");
    }
    let base_nat = g.rng.chance(50);
    let redirect = g.x.chance(if base_nat { 50 } else { 30 });
    if base_nat || redirect {
        out.push_str(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n",
        );
    }
    if redirect {
        // REDIRECT to a host service: to the host's address or through it (transparent).
        let iif = if g.x.chance(50) { "-i enp1s0 " } else { "" };
        let (tp, up) = REDIRECT_PORTS;
        out.push_str(&format!(
            "-A PREROUTING {iif}-p tcp --dport {tp} -j REDIRECT --to-ports {}\n",
            TCP_PORTS[0]
        ));
        if g.x.chance(50) {
            out.push_str(&format!(
                "-A PREROUTING {iif}-p udp --dport {up} -j REDIRECT --to-ports {}\n",
                UDP_PORTS[1]
            ));
        }
    }
    if !base_nat && redirect {
        out.push_str("COMMIT\n");
    }
    if base_nat {
        let iif = if g.rng.chance(50) { "-i enp1s0 " } else { "" };
        let dst = if g.rng.chance(50) {
            format!("-d {HOST_A}/32 ")
        } else {
            s("-m addrtype --dst-type LOCAL ")
        };
        let (tp, up) = DNAT_PORTS;
        out.push_str(&format!(
            "-A PREROUTING {iif}{dst}-p tcp --dport {tp} -j DNAT --to-destination {SERVER}:{}\n",
            TCP_PORTS[0]
        ));
        if g.rng.chance(60) {
            out.push_str(&format!(
                "-A PREROUTING {iif}{dst}-p udp --dport {up} -j DNAT --to-destination {SERVER}:{}\n",
                UDP_PORTS[0]
            ));
        }
        match g.rng.below(3) {
            0 => out.push_str("-A POSTROUTING -o eth1 -j MASQUERADE\n"),
            1 => out.push_str(&format!(
                "-A POSTROUTING -s 198.51.100.0/24 -o eth1 -j SNAT --to-source {HOST_B}\n"
            )),
            _ => {}
        }
        out.push_str("COMMIT\n");
    }
    out
}

/// Random traffic of `seed` against [`topology`]: 4–7 flows from the client addresses, each
/// with its own source port; then the settle client.
pub fn clients(seed: u64, with_nat: bool, with_redirect: bool) -> Vec<Client> {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(1));
    // Pings and REDIRECTed flows from a second stream.
    let mut x = Rng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(2));
    let base = 20_000 + (rng.below(2_000) as u16) * 10;
    let n = rng.range(4, 7);
    let mut out = vec![];
    for i in 0..n {
        let src = CLIENTS[rng.below(2)];
        let tcp = rng.chance(55);
        let (l4, dst, dport) = match rng.below(10) {
            0..=3 => {
                let dst = if rng.chance(75) { HOST_A } else { HOST_B };
                (tcp, dst, 0)
            }
            4..=7 => (tcp, SERVER, 0),
            _ if with_nat => (tcp, HOST_A, if tcp { DNAT_PORTS.0 } else { DNAT_PORTS.1 }),
            _ => (tcp, SERVER, 0),
        };
        let dport = if dport != 0 {
            dport
        } else if rng.chance(15) {
            if l4 {
                CLOSED_PORTS.0
            } else {
                CLOSED_PORTS.1
            }
        } else if l4 {
            TCP_PORTS[rng.below(2)]
        } else {
            UDP_PORTS[rng.below(2)]
        };
        let (kind, dst, dport) = if x.chance(18) {
            // A ping (`sport` is the echo identifier).
            (L4::Icmp, x.pick(&[HOST_A, HOST_B, SERVER, SERVER]), 0)
        } else if with_redirect && x.chance(20) {
            let dst = if x.chance(60) { HOST_A } else { SERVER };
            let (tp, up) = REDIRECT_PORTS;
            if l4 {
                (L4::Tcp, dst, tp)
            } else {
                (L4::Udp, dst, up)
            }
        } else {
            (if l4 { L4::Tcp } else { L4::Udp }, dst, dport)
        };
        out.push(Client {
            ns: s("client"),
            l4: kind,
            src: s(src),
            sport: base + i as u16,
            dst: s(dst),
            dport,
            send: format!("F{i}"),
            // Expectations do not matter here: the kernel is the judge of nfwalk, not of us.
            expect: Outcome::Timeout,
            timeout_ms: if l4 { 1_200 } else { 800 },
        });
    }
    // Settle: a UDP "request" the client namespace sends to itself (nothing reaches the host)
    // and waits on, so every straggler of the flows above is in the capture and the trace
    // before the runner waits for quiescence and stops.
    out.push(Client {
        ns: s("client"),
        l4: L4::Udp,
        src: s(CLIENTS[0]),
        sport: base + 9,
        dst: s(CLIENTS[0]),
        dport: 9,
        send: s("SETTLE"),
        expect: Outcome::Timeout,
        timeout_ms: 1_500,
    });
    out
}

/// The complete scenario of `seed`: [`topology`], [`ruleset`] and [`clients`].
pub fn scenario(seed: u64) -> Scenario {
    let mut sc = topology(&format!("diff{seed}"));
    sc.rules_v4 = ruleset(seed);
    sc.clients = clients(
        seed,
        sc.rules_v4.contains("-j DNAT"),
        sc.rules_v4.contains("-j REDIRECT"),
    );
    sc
}

/// A one-line-per-client description of a scenario's traffic, for failure reports.
pub fn describe_clients(sc: &Scenario) -> String {
    sc.clients
        .iter()
        .map(|c| format!("  {:?} {}:{} -> {}:{}\n", c.l4, c.src, c.sport, c.dst, c.dport))
        .collect()
}
