//! Scenario definitions: a topology, a ruleset for the host namespace, and traffic.
//!
//! Built-in scenarios: [`seed`], [`seed_ctorig`], [`seed_input`], [`seed_log`], [`masq_out`],
//! [`reject`], [`notrack`], [`bridge_c2c`], [`chains`], [`marks`], [`kube_nodeport`],
//! [`ufw_docker`], [`docker28`], [`icmp`], [`snat`], [`rst_close`], [`redirect`], [`log_options`], [`netmap`], [`snat_range`], [`no_forward`] (see
//! [`by_name`]). Their
//! rulesets live in `scenarios/<name>/rules.v4` at the repository root.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One topology step, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A veth pair: `(ns_a, if_a, ns_b, if_b)`, created in `ns_a` with the peer born in `ns_b`.
    Veth(String, String, String, String),
    /// A bridge `(ns, name)`.
    Bridge(String, String),
    /// Enslave a port: `(ns, bridge, port)`.
    Port(String, String, String),
    /// An address `(ns, dev, cidr)`.
    Addr(String, String, String),
    /// A route `(ns, spec)`, e.g. `("ctr", "default via 172.17.0.1")`.
    Route(String, String),
    /// A sysctl `(ns, key, value)`.
    Sysctl(String, String, String),
    /// Any other command run in a namespace before the ruleset is loaded, e.g.
    /// `("host", ["ipset", "create", "allowed", "hash:net"])` or an `ip rule`.
    Cmd(String, Vec<String>),
}

/// Transport protocol of a server or client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// TCP (clients only): connect, send, read the reply once, then abort the connection with
    /// an RST (`SO_LINGER {1, 0}` and close).
    TcpRst,
    /// ICMP echo (clients only): `sport` is the echo identifier, `dport` is ignored, `send`
    /// is the payload, and the echo reply's payload is the reply.
    Icmp,
}

/// A server: listens on `addr:port` in `ns`, replies `reply` to each request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    /// Namespace (short name).
    pub ns: String,
    /// TCP or UDP.
    pub l4: L4,
    /// Listen address.
    pub addr: String,
    /// Listen port.
    pub port: u16,
    /// What it answers (one line).
    pub reply: String,
}

/// The outcome a client expects (and the outcome it got).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Connected (TCP) / got a reply (UDP), and received exactly this reply.
    Reply(String),
    /// Connection or reply timed out (packets dropped).
    Timeout,
    /// Connection refused / ICMP error.
    Refused,
    /// Something else (error text).
    Error(String),
}

/// A client: from `src:sport` in `ns`, talk to `dst:dport`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Namespace (short name).
    pub ns: String,
    /// TCP or UDP.
    pub l4: L4,
    /// Source address.
    pub src: String,
    /// Fixed source port.
    pub sport: u16,
    /// Destination address.
    pub dst: String,
    /// Destination port.
    pub dport: u16,
    /// The line it sends.
    pub send: String,
    /// What should happen (kernel truth we assert).
    pub expect: Outcome,
    /// Connect/reply timeout in milliseconds.
    pub timeout_ms: u64,
}

/// A complete scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// Name, also the directory under `scenarios/`.
    pub name: String,
    /// Short namespace names, created in order.
    pub namespaces: Vec<String>,
    /// The namespace whose netfilter we load, trace and snapshot.
    pub host: String,
    /// Topology steps.
    pub steps: Vec<Step>,
    /// The ruleset text (`iptables-restore` format) loaded in the host namespace.
    pub rules_v4: String,
    /// Servers, started before the clients.
    pub servers: Vec<Server>,
    /// Clients, run one after another in order.
    pub clients: Vec<Client>,
}

/// The repository's `scenarios/` directory.
pub fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn s(x: &str) -> String {
    x.to_string()
}

fn read_rules(name: &str) -> String {
    let p = scenarios_dir().join(name).join("rules.v4");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The seed host topology: `client` —veth— `host` (enp1s0 198.51.100.1/24) —docker0 bridge
/// 172.17.0.1/16 + port vethc0— `ctr` (eth0 172.17.0.2/16), ip_forward=1,
/// bridge-nf-call-iptables=1; Redis stand-in on 172.17.0.2:6379 published as host port 10000.
pub fn seed_topology(name: &str) -> Scenario {
    Scenario {
        name: s(name),
        namespaces: vec![s("host"), s("client"), s("ctr")],
        host: s("host"),
        steps: vec![
            Step::Veth(s("host"), s("enp1s0"), s("client"), s("up0")),
            Step::Bridge(s("host"), s("docker0")),
            Step::Veth(s("host"), s("vethc0"), s("ctr"), s("eth0")),
            Step::Port(s("host"), s("docker0"), s("vethc0")),
            Step::Addr(s("host"), s("enp1s0"), s("198.51.100.1/24")),
            Step::Addr(s("host"), s("docker0"), s("172.17.0.1/16")),
            Step::Addr(s("client"), s("up0"), s("198.51.100.10/24")),
            Step::Addr(s("ctr"), s("eth0"), s("172.17.0.2/16")),
            Step::Route(s("ctr"), s("default via 172.17.0.1")),
            Step::Sysctl(s("host"), s("net.ipv4.ip_forward"), s("1")),
            Step::Sysctl(s("host"), s("net.bridge.bridge-nf-call-iptables"), s("1")),
        ],
        rules_v4: read_rules(name),
        servers: vec![Server {
            ns: s("ctr"),
            l4: L4::Tcp,
            addr: s("172.17.0.2"),
            port: 6379,
            reply: s("+PONG"),
        }],
        clients: vec![],
    }
}

fn redis_client(expect: Outcome, timeout_ms: u64) -> Client {
    Client {
        ns: s("client"),
        l4: L4::Tcp,
        src: s("198.51.100.10"),
        sport: 40001,
        dst: s("198.51.100.1"),
        dport: 10000,
        send: s("PING"),
        expect,
        timeout_ms,
    }
}

/// The seed: the DOCKER-USER `--dport 10000 -j DROP` rule does nothing; the connection
/// succeeds.
pub fn seed() -> Scenario {
    let mut sc = seed_topology("seed");
    sc.clients.push(redis_client(Outcome::Reply(s("+PONG")), 10_000));
    sc
}

/// The host itself connects to its published port: nat OUTPUT DNATs it to the container
/// and the routing decision is taken again after OUTPUT (out docker0, not lo).
pub fn seed_local() -> Scenario {
    let mut sc = seed_topology("seed-local");
    sc.clients.push(Client {
        ns: s("host"),
        l4: L4::Tcp,
        src: s("198.51.100.1"),
        sport: 40140,
        dst: s("198.51.100.1"),
        dport: 10000,
        send: s("PING"),
        expect: Outcome::Reply(s("+PONG")),
        timeout_ms: 10_000,
    });
    sc
}

/// The fix: match the original destination port with conntrack; the connection fails.
pub fn seed_ctorig() -> Scenario {
    let mut sc = seed_topology("seed-ctorig");
    sc.clients.push(redis_client(Outcome::Timeout, 4_000));
    sc
}

/// The INPUT misconception: an INPUT `--dport 10000 DROP` does not stop the published port,
/// but an INPUT `--dport 8080 DROP` does block a host service.
pub fn seed_input() -> Scenario {
    let mut sc = seed_topology("seed-input");
    sc.servers.push(Server {
        ns: s("host"),
        l4: L4::Tcp,
        addr: s("198.51.100.1"),
        port: 8080,
        reply: s("HOST"),
    });
    sc.clients.push(redis_client(Outcome::Reply(s("+PONG")), 10_000));
    sc.clients.push(Client {
        ns: s("client"),
        l4: L4::Tcp,
        src: s("198.51.100.10"),
        sport: 40002,
        dst: s("198.51.100.1"),
        dport: 8080,
        send: s("GET"),
        expect: Outcome::Timeout,
        timeout_ms: 4_000,
    });
    sc
}

/// The seed plus the post's LOG rules (BEFORE/AFTER PREROUTING, POSTROUTING, FORWARD), to
/// record the kernel's LOG lines.
pub fn seed_log() -> Scenario {
    let mut sc = seed_topology("seed-log");
    sc.clients.push(redis_client(Outcome::Reply(s("+PONG")), 10_000));
    sc
}

#[allow(clippy::too_many_arguments)] // one field each of Client, in the order a reader expects
fn client(ns: &str, l4: L4, src: &str, sport: u16, dst: &str, dport: u16, expect: Outcome, timeout_ms: u64) -> Client {
    Client {
        ns: s(ns),
        l4,
        src: s(src),
        sport,
        dst: s(dst),
        dport,
        send: s("HELLO"),
        expect,
        timeout_ms,
    }
}

/// Outbound through Docker's MASQUERADE: the container opens a TCP connection
/// (172.17.0.2:41000 -> 198.51.100.10:7000) and sends a UDP datagram
/// (172.17.0.2:41001 -> 198.51.100.10:7001) to a server on the "internet" side; both get
/// their reply.
pub fn masq_out() -> Scenario {
    let mut sc = seed_topology("masq-out");
    sc.servers = vec![
        Server {
            ns: s("client"),
            l4: L4::Tcp,
            addr: s("198.51.100.10"),
            port: 7000,
            reply: s("TCP-OK"),
        },
        Server {
            ns: s("client"),
            l4: L4::Udp,
            addr: s("198.51.100.10"),
            port: 7001,
            reply: s("UDP-OK"),
        },
    ];
    sc.clients.push(client(
        "ctr",
        L4::Tcp,
        "172.17.0.2",
        41000,
        "198.51.100.10",
        7000,
        Outcome::Reply(s("TCP-OK")),
        10_000,
    ));
    sc.clients.push(client(
        "ctr",
        L4::Udp,
        "172.17.0.2",
        41001,
        "198.51.100.10",
        7001,
        Outcome::Reply(s("UDP-OK")),
        10_000,
    ));
    sc
}

/// Host INPUT REJECT rules: TCP 8081 gets a reset (connection refused), UDP 8082 an ICMP
/// port unreachable (an unconnected UDP socket does not see it: the client times out).
pub fn reject() -> Scenario {
    let mut sc = seed_topology("reject");
    sc.servers.clear();
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40003,
        "198.51.100.1",
        8081,
        Outcome::Refused,
        4_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Udp,
        "198.51.100.10",
        40004,
        "198.51.100.1",
        8082,
        Outcome::Timeout,
        2_000,
    ));
    sc
}

/// raw PREROUTING `CT --notrack` for a host service on 8083; filter INPUT accepts UNTRACKED
/// ahead of a DROP for 8083, so the connection succeeds.
pub fn notrack() -> Scenario {
    let mut sc = seed_topology("notrack");
    sc.servers = vec![Server {
        ns: s("host"),
        l4: L4::Tcp,
        addr: s("198.51.100.1"),
        port: 8083,
        reply: s("HOST"),
    }];
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40005,
        "198.51.100.1",
        8083,
        Outcome::Reply(s("HOST")),
        10_000,
    ));
    sc
}

/// Two containers on docker0: `ctr` (172.17.0.2) opens a TCP connection to `ctr2`
/// (172.17.0.3:6379, port vethc1). The frames are bridged; with bridge-nf-call-iptables=1
/// iptables sees them with IN=OUT=docker0 and Docker's `-i docker0 -o docker0 -j ACCEPT`
/// lets them through.
pub fn bridge_c2c() -> Scenario {
    let mut sc = seed_topology("bridge-c2c");
    sc.namespaces.push(s("ctr2"));
    let at = sc
        .steps
        .iter()
        .position(|st| matches!(st, Step::Sysctl(..)))
        .unwrap_or(sc.steps.len());
    sc.steps.splice(
        at..at,
        [
            Step::Veth(s("host"), s("vethc1"), s("ctr2"), s("eth0")),
            Step::Port(s("host"), s("docker0"), s("vethc1")),
            Step::Addr(s("ctr2"), s("eth0"), s("172.17.0.3/16")),
            Step::Route(s("ctr2"), s("default via 172.17.0.1")),
        ],
    );
    sc.servers = vec![Server {
        ns: s("ctr2"),
        l4: L4::Tcp,
        addr: s("172.17.0.3"),
        port: 6379,
        reply: s("+PONG"),
    }];
    sc.clients.push(client(
        "ctr",
        L4::Tcp,
        "172.17.0.2",
        42000,
        "172.17.0.3",
        6379,
        Outcome::Reply(s("+PONG")),
        10_000,
    ));
    sc
}

/// The seed topology with more client addresses (198.51.100.11-13) and a host service on
/// `port` (198.51.100.1), no container server.
fn host_service(name: &str, port: u16) -> Scenario {
    let mut sc = seed_topology(name);
    for a in ["198.51.100.11/24", "198.51.100.12/24", "198.51.100.13/24"] {
        sc.steps.push(Step::Addr(s("client"), s("up0"), s(a)));
    }
    sc.servers = vec![Server {
        ns: s("host"),
        l4: L4::Tcp,
        addr: s("198.51.100.1"),
        port,
        reply: s("HOST"),
    }];
    sc
}

/// User chains for a host service on 8084: `-g` goto and RETURN from the goto'd chain,
/// nested `-j`, counter-only rules and `!` negations; four clients take four paths.
pub fn chains() -> Scenario {
    let mut sc = host_service("chains", 8084);
    let h = "198.51.100.1";
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40010,
        h,
        8084,
        Outcome::Reply(s("HOST")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.11",
        40011,
        h,
        8084,
        Outcome::Refused,
        4_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.12",
        40012,
        h,
        8084,
        Outcome::Reply(s("HOST")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.13",
        40013,
        h,
        8084,
        Outcome::Timeout,
        2_000,
    ));
    sc
}

/// mangle PREROUTING `MARK --set-mark 0x1` and `CONNMARK --save-mark`/`--restore-mark`;
/// filter INPUT matches `-m mark` (first packet) and `-m connmark` (the rest) for a host
/// service on 8085; an unmarked client is refused.
pub fn marks() -> Scenario {
    let mut sc = host_service("marks", 8085);
    let h = "198.51.100.1";
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40020,
        h,
        8085,
        Outcome::Reply(s("HOST")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.11",
        40021,
        h,
        8085,
        Outcome::Refused,
        4_000,
    ));
    sc
}

/// A kube-proxy-like NodePort: `client` —veth— `host` (enp1s0 198.51.100.1/24, bridge cni0
/// 10.244.1.1/24, port vethp0) — `pod` (eth0 10.244.1.2/24). 198.51.100.1:30080 is DNATed
/// through KUBE-SERVICES/KUBE-NODEPORTS/KUBE-EXT/KUBE-SVC/KUBE-SEP to 10.244.1.2:8080,
/// marked 0x4000 and masqueraded (`--random-fully`) on cni0.
pub fn kube_nodeport() -> Scenario {
    Scenario {
        name: s("kube-nodeport"),
        namespaces: vec![s("host"), s("client"), s("pod")],
        host: s("host"),
        steps: vec![
            Step::Veth(s("host"), s("enp1s0"), s("client"), s("up0")),
            Step::Bridge(s("host"), s("cni0")),
            Step::Veth(s("host"), s("vethp0"), s("pod"), s("eth0")),
            Step::Port(s("host"), s("cni0"), s("vethp0")),
            Step::Addr(s("host"), s("enp1s0"), s("198.51.100.1/24")),
            Step::Addr(s("host"), s("cni0"), s("10.244.1.1/24")),
            Step::Addr(s("client"), s("up0"), s("198.51.100.10/24")),
            Step::Addr(s("pod"), s("eth0"), s("10.244.1.2/24")),
            Step::Route(s("pod"), s("default via 10.244.1.1")),
            Step::Sysctl(s("host"), s("net.ipv4.ip_forward"), s("1")),
            Step::Sysctl(s("host"), s("net.bridge.bridge-nf-call-iptables"), s("1")),
        ],
        rules_v4: read_rules("kube-nodeport"),
        servers: vec![Server {
            ns: s("pod"),
            l4: L4::Tcp,
            addr: s("10.244.1.2"),
            port: 8080,
            reply: s("WEB"),
        }],
        clients: vec![client(
            "client",
            L4::Tcp,
            "198.51.100.10",
            40030,
            "198.51.100.1",
            30080,
            Outcome::Reply(s("WEB")),
            10_000,
        )],
    }
}

/// UFW (INPUT policy DROP, allow 22 only) plus Docker publishing 10000: the published port
/// is reachable (it is forwarded, never seen by INPUT); a host service on 8080 is not; ssh is.
pub fn ufw_docker() -> Scenario {
    let mut sc = seed_topology("ufw-docker");
    let h = "198.51.100.1";
    sc.servers.push(Server {
        ns: s("host"),
        l4: L4::Tcp,
        addr: s(h),
        port: 22,
        reply: s("SSH"),
    });
    sc.servers.push(Server {
        ns: s("host"),
        l4: L4::Tcp,
        addr: s(h),
        port: 8080,
        reply: s("HOST"),
    });
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40040,
        h,
        10000,
        Outcome::Reply(s("+PONG")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40041,
        h,
        22,
        Outcome::Reply(s("SSH")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40042,
        h,
        8080,
        Outcome::Timeout,
        2_000,
    ));
    sc
}

/// Docker 28's layout (DOCKER-FORWARD, DOCKER-CT, DOCKER-INTERNAL, DOCKER-BRIDGE) and raw
/// PREROUTING direct-routing protection: the client routes 172.17.0.0/16 via the host; its
/// direct connection to 172.17.0.2:6379 is dropped in raw, the published port works.
pub fn docker28() -> Scenario {
    let mut sc = seed_topology("docker28");
    sc.steps
        .push(Step::Route(s("client"), s("172.17.0.0/16 via 198.51.100.1")));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40050,
        "172.17.0.2",
        6379,
        Outcome::Timeout,
        2_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40051,
        "198.51.100.1",
        10000,
        Outcome::Reply(s("+PONG")),
        10_000,
    ));
    sc
}

/// A routed host: `client` (up0 198.51.100.10/24, .11 too) —veth— `host` (enp1s0
/// 198.51.100.1/24, eth1 203.0.113.1/24) —veth— `srv` (eth0 203.0.113.10/24, default via
/// the host). The client routes 203.0.113.0/24 via the host; ip_forward=1; no bridge.
pub fn routed_topology(name: &str) -> Scenario {
    Scenario {
        name: s(name),
        namespaces: vec![s("host"), s("client"), s("srv")],
        host: s("host"),
        steps: vec![
            Step::Veth(s("host"), s("enp1s0"), s("client"), s("up0")),
            Step::Veth(s("host"), s("eth1"), s("srv"), s("eth0")),
            Step::Addr(s("host"), s("enp1s0"), s("198.51.100.1/24")),
            Step::Addr(s("host"), s("eth1"), s("203.0.113.1/24")),
            Step::Addr(s("client"), s("up0"), s("198.51.100.10/24")),
            Step::Addr(s("client"), s("up0"), s("198.51.100.11/24")),
            Step::Addr(s("srv"), s("eth0"), s("203.0.113.10/24")),
            Step::Route(s("client"), s("203.0.113.0/24 via 198.51.100.1")),
            Step::Route(s("srv"), s("default via 203.0.113.1")),
            Step::Sysctl(s("host"), s("net.ipv4.ip_forward"), s("1")),
        ],
        rules_v4: read_rules(name),
        servers: vec![],
        clients: vec![],
    }
}

/// ICMP through a routed host: a ping (echo id 4660) forwarded to `srv`, a ping (id 4661) to
/// the host itself, and a UDP datagram to a closed port on `srv`, whose ICMP port unreachable
/// comes back through the host as RELATED. LOG rules for ICMP and UDP in FORWARD, RELATED in
/// FORWARD, ICMP in INPUT and OUTPUT.
pub fn icmp() -> Scenario {
    let mut sc = routed_topology("icmp");
    let ping = |id: u16, dst: &str, payload: &str| Client {
        ns: s("client"),
        l4: L4::Icmp,
        src: s("198.51.100.10"),
        sport: id,
        dst: s(dst),
        dport: 0,
        send: s(payload),
        expect: Outcome::Reply(s(payload)),
        timeout_ms: 5_000,
    };
    let fwd = ping(4660, "203.0.113.10", "PING-FWD");
    let local = ping(4661, "198.51.100.1", "PING-HOST");
    sc.clients.push(fwd);
    sc.clients.push(local);
    sc.clients.push(client(
        "client",
        L4::Udp,
        "198.51.100.10",
        40060,
        "203.0.113.10",
        9999,
        Outcome::Timeout,
        2_000,
    ));
    sc
}

/// Explicit `SNAT --to-source 203.0.113.1` on eth1 for two clients (198.51.100.10 and .11)
/// using the same source port 40070 to the same server 203.0.113.10:7000: the second
/// connection clashes and gets another port.
pub fn snat() -> Scenario {
    let mut sc = routed_topology("snat");
    sc.servers = vec![Server {
        ns: s("srv"),
        l4: L4::Tcp,
        addr: s("203.0.113.10"),
        port: 7000,
        reply: s("SRV"),
    }];
    for src in ["198.51.100.10", "198.51.100.11"] {
        sc.clients.push(client(
            "client",
            L4::Tcp,
            src,
            40070,
            "203.0.113.10",
            7000,
            Outcome::Reply(s("SRV")),
            10_000,
        ));
    }
    sc
}

/// Through Docker's DNAT (the seed), a client sends, reads the reply and aborts with an RST:
/// conntrack reads CLOSE.
pub fn rst_close() -> Scenario {
    let mut sc = seed_topology("rst-close");
    sc.clients.push(client(
        "client",
        L4::TcpRst,
        "198.51.100.10",
        40080,
        "198.51.100.1",
        10000,
        Outcome::Reply(s("+PONG")),
        10_000,
    ));
    sc
}

/// nat PREROUTING `-p tcp --dport 8088 -j REDIRECT --to-ports 9099` with a host service on
/// 198.51.100.1:9099 (INPUT policy DROP, 9099 allowed): a client reaches it through the
/// host's own address and through a foreign address routed via the host (a transparent proxy).
pub fn redirect() -> Scenario {
    let mut sc = routed_topology("redirect");
    sc.servers = vec![Server {
        ns: s("host"),
        l4: L4::Tcp,
        addr: s("198.51.100.1"),
        port: 9099,
        reply: s("PROXY"),
    }];
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40090,
        "198.51.100.1",
        8088,
        Outcome::Reply(s("PROXY")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40091,
        "203.0.113.10",
        8088,
        Outcome::Reply(s("PROXY")),
        10_000,
    ));
    sc
}

/// LOG options on a routed host: a TCP client's SYN to a host service (198.51.100.1:8090),
/// marked 0x2a in mangle PREROUTING, is logged in INPUT with `--log-tcp-sequence`,
/// `--log-tcp-options` and `--log-ip-options`; a UDP request to the host (8091) and the host's
/// reply, marked 0x7 in mangle OUTPUT and logged in OUTPUT with `--log-uid`.
pub fn log_options() -> Scenario {
    log_options_named("log-options")
}

/// Policy routing: a fwmark rule sends marked traffic by table 100 out of a second uplink
/// (eth2 → srv2), while the main table's route leaves by eth1 (→ srv). Both servers answer
/// on 203.0.113.10, so the reply shows which way the packet went.
pub fn policy_routing() -> Scenario {
    let mut sc = routed_topology("policy-routing");
    sc.namespaces.push(s("srv2"));
    sc.steps.push(Step::Veth(s("host"), s("eth2"), s("srv2"), s("eth0")));
    sc.steps.push(Step::Addr(s("host"), s("eth2"), s("10.60.0.1/24")));
    sc.steps.push(Step::Addr(s("srv2"), s("eth0"), s("10.60.0.2/24")));
    sc.steps.push(Step::Addr(s("srv2"), s("eth0"), s("203.0.113.10/24")));
    sc.steps.push(Step::Route(s("srv2"), s("default via 10.60.0.1")));
    let cmd = |args: &[&str]| Step::Cmd(s("host"), args.iter().map(|a| a.to_string()).collect());
    sc.steps.push(cmd(&[
        "ip",
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "10.60.0.2",
        "dev",
        "eth2",
        "table",
        "100",
    ]));
    sc.steps
        .push(cmd(&["ip", "rule", "add", "fwmark", "0x1", "table", "100"]));
    for (ns, port, reply) in [
        ("srv", 7100, "SRV1-7100"),
        ("srv", 7101, "SRV1-7101"),
        ("srv2", 7101, "SRV2-7101"),
    ] {
        sc.servers.push(Server {
            ns: s(ns),
            l4: L4::Tcp,
            addr: s("203.0.113.10"),
            port,
            reply: s(reply),
        });
    }
    let d = "203.0.113.10";
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40130,
        d,
        7100,
        Outcome::Reply(s("SRV1-7100")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40131,
        d,
        7101,
        Outcome::Reply(s("SRV2-7101")),
        10_000,
    ));
    sc
}

/// ipsets (`-m set --match-set`) on a routed host's services: a hash:net set of allowed
/// sources for 8095 and a hash:ip,port set of open services (8096); INPUT policy DROP.
pub fn ipset() -> Scenario {
    let mut sc = routed_topology("ipset");
    let cmd = |args: &[&str]| Step::Cmd(s("host"), args.iter().map(|a| a.to_string()).collect());
    sc.steps.push(cmd(&["ipset", "create", "allowed", "hash:net"]));
    sc.steps.push(cmd(&["ipset", "add", "allowed", "198.51.100.10/32"]));
    sc.steps.push(cmd(&["ipset", "create", "svc", "hash:ip,port"]));
    sc.steps.push(cmd(&["ipset", "add", "svc", "198.51.100.1,tcp:8096"]));
    let h = "198.51.100.1";
    for (port, reply) in [(8095, "IPSET-ALLOWED"), (8096, "IPSET-SVC")] {
        sc.servers.push(Server {
            ns: s("host"),
            l4: L4::Tcp,
            addr: s(h),
            port,
            reply: s(reply),
        });
    }
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40110,
        h,
        8095,
        Outcome::Reply(s("IPSET-ALLOWED")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.11",
        40111,
        h,
        8095,
        Outcome::Timeout,
        3_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.11",
        40112,
        h,
        8096,
        Outcome::Reply(s("IPSET-SVC")),
        10_000,
    ));
    sc
}

/// `log-options` without its `--ctstate INVALID` rule: nothing in the ruleset needs conntrack,
/// so the kernel tracks nothing in the namespace.
pub fn no_conntrack() -> Scenario {
    log_options_named("no-conntrack")
}

fn log_options_named(name: &str) -> Scenario {
    let mut sc = routed_topology(name);
    let h = "198.51.100.1";
    sc.servers = vec![
        Server {
            ns: s("host"),
            l4: L4::Tcp,
            addr: s(h),
            port: 8090,
            reply: s("HOST-TCP"),
        },
        Server {
            ns: s("host"),
            l4: L4::Udp,
            addr: s(h),
            port: 8091,
            reply: s("HOST-UDP"),
        },
    ];
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40100,
        h,
        8090,
        Outcome::Reply(s("HOST-TCP")),
        10_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Udp,
        "198.51.100.10",
        40101,
        h,
        8091,
        Outcome::Reply(s("HOST-UDP")),
        10_000,
    ));
    sc
}

/// NETMAP on a routed host: 203.0.113.0/28 maps onto 10.99.0.0/28 (host eth1 10.99.0.1/28,
/// srv 10.99.0.5/28). A client reaches 203.0.113.5:7000, rewritten in nat PREROUTING to
/// 10.99.0.5:7000; srv opens a connection from 10.99.0.5 to the client (198.51.100.10:7001),
/// whose source nat POSTROUTING maps to 203.0.113.5.
pub fn netmap() -> Scenario {
    let mut sc = routed_topology("netmap");
    let at = sc
        .steps
        .iter()
        .position(|st| matches!(st, Step::Route(..)))
        .unwrap_or(sc.steps.len());
    sc.steps.splice(
        at..at,
        [
            Step::Addr(s("host"), s("eth1"), s("10.99.0.1/28")),
            Step::Addr(s("srv"), s("eth0"), s("10.99.0.5/28")),
        ],
    );
    sc.servers = vec![
        Server {
            ns: s("srv"),
            l4: L4::Tcp,
            addr: s("10.99.0.5"),
            port: 7000,
            reply: s("MAPPED"),
        },
        Server {
            ns: s("client"),
            l4: L4::Tcp,
            addr: s("198.51.100.10"),
            port: 7001,
            reply: s("CLIENT"),
        },
    ];
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40110,
        "203.0.113.5",
        7000,
        Outcome::Reply(s("MAPPED")),
        10_000,
    ));
    sc.clients.push(client(
        "srv",
        L4::Tcp,
        "10.99.0.5",
        40111,
        "198.51.100.10",
        7001,
        Outcome::Reply(s("CLIENT")),
        10_000,
    ));
    sc
}

/// `SNAT --to-source 203.0.113.20-203.0.113.21` on eth1 for four connections from two client
/// addresses (198.51.100.10 and .11) to srv 203.0.113.10:7000; srv routes 203.0.113.20/31
/// back via the host.
pub fn snat_range() -> Scenario {
    let mut sc = routed_topology("snat-range");
    sc.steps
        .push(Step::Route(s("srv"), s("203.0.113.20/31 via 203.0.113.1")));
    sc.servers = vec![Server {
        ns: s("srv"),
        l4: L4::Tcp,
        addr: s("203.0.113.10"),
        port: 7000,
        reply: s("SRV"),
    }];
    for (src, sport) in [
        ("198.51.100.10", 40120),
        ("198.51.100.11", 40121),
        ("198.51.100.10", 40122),
        ("198.51.100.11", 40123),
    ] {
        sc.clients.push(client(
            "client",
            L4::Tcp,
            src,
            sport,
            "203.0.113.10",
            7000,
            Outcome::Reply(s("SRV")),
            10_000,
        ));
    }
    sc
}

/// The routed host with `net.ipv4.ip_forward=0`: a client's connection to srv
/// (203.0.113.10:7000) through the host is dropped after PREROUTING (routing finds no
/// forwarding); its connection to a host service (198.51.100.1:8092) works.
pub fn no_forward() -> Scenario {
    let mut sc = routed_topology("no-forward");
    for st in &mut sc.steps {
        if let Step::Sysctl(_, k, v) = st {
            if k == "net.ipv4.ip_forward" {
                *v = s("0");
            }
        }
    }
    sc.servers = vec![
        Server {
            ns: s("srv"),
            l4: L4::Tcp,
            addr: s("203.0.113.10"),
            port: 7000,
            reply: s("SRV"),
        },
        Server {
            ns: s("host"),
            l4: L4::Tcp,
            addr: s("198.51.100.1"),
            port: 8092,
            reply: s("HOST"),
        },
    ];
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40130,
        "203.0.113.10",
        7000,
        Outcome::Timeout,
        2_000,
    ));
    sc.clients.push(client(
        "client",
        L4::Tcp,
        "198.51.100.10",
        40131,
        "198.51.100.1",
        8092,
        Outcome::Reply(s("HOST")),
        10_000,
    ));
    sc
}

/// All built-in scenario names.
pub const NAMES: [&str; 25] = [
    "seed",
    "seed-ctorig",
    "seed-input",
    "seed-log",
    "masq-out",
    "reject",
    "notrack",
    "bridge-c2c",
    "chains",
    "marks",
    "kube-nodeport",
    "ufw-docker",
    "docker28",
    "icmp",
    "snat",
    "rst-close",
    "redirect",
    "log-options",
    "no-conntrack",
    "ipset",
    "policy-routing",
    "seed-local",
    "netmap",
    "snat-range",
    "no-forward",
];

/// A built-in scenario by name.
pub fn by_name(name: &str) -> Option<Scenario> {
    match name {
        "seed" => Some(seed()),
        "seed-ctorig" => Some(seed_ctorig()),
        "seed-input" => Some(seed_input()),
        "seed-log" => Some(seed_log()),
        "masq-out" => Some(masq_out()),
        "reject" => Some(reject()),
        "notrack" => Some(notrack()),
        "bridge-c2c" => Some(bridge_c2c()),
        "chains" => Some(chains()),
        "marks" => Some(marks()),
        "kube-nodeport" => Some(kube_nodeport()),
        "ufw-docker" => Some(ufw_docker()),
        "docker28" => Some(docker28()),
        "icmp" => Some(icmp()),
        "snat" => Some(snat()),
        "rst-close" => Some(rst_close()),
        "redirect" => Some(redirect()),
        "log-options" => Some(log_options()),
        "no-conntrack" => Some(no_conntrack()),
        "ipset" => Some(ipset()),
        "policy-routing" => Some(policy_routing()),
        "seed-local" => Some(seed_local()),
        "netmap" => Some(netmap()),
        "snat-range" => Some(snat_range()),
        "no-forward" => Some(no_forward()),
        _ => None,
    }
}
