//! A host's network state: interfaces, addresses, routes, policy rules, bridges, sysctls.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

use crate::ruleset::Ruleset;

/// Everything nfwalk needs to know about one host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// A name for messages (the snapshot directory, or `demo`).
    pub name: String,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Routes of every table.
    pub routes: Vec<Route>,
    /// Policy routing rules (`ip rule`); empty means the kernel defaults.
    pub rules: Vec<PolicyRule>,
    /// Sysctls that change the walk.
    pub sysctl: Sysctls,
    /// The IPv4 ruleset.
    pub ruleset: Ruleset,
    /// ipsets (`ipset save`), for `-m set`; empty when the snapshot has none.
    #[serde(default)]
    pub ipsets: Vec<IpSet>,
    /// Listening sockets (`ss -H -ltnu`): what a packet delivered locally reaches; empty when
    /// the snapshot has no `listeners.txt`.
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

/// A listening TCP socket or a bound UDP socket, as `ss -H -ltnu` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub proto: crate::Proto,
    /// The local address as `ss` printed it (`0.0.0.0`, `[::]`, `*`, `127.0.0.53`).
    pub addr: String,
    /// The IPv4 address the socket accepts: `0.0.0.0` for any (also an IPv6 wildcard, which
    /// is dual-stack unless `bindv6only`); `None` for an IPv6-only address.
    pub ipv4: Option<Ipv4Addr>,
    /// Port.
    pub port: u16,
    /// `%dev`: bound to one interface (SO_BINDTODEVICE).
    pub iface: Option<String>,
    /// The owning process (`sshd` from `users:(("sshd",pid=1,fd=3))` with `ss -p`), if printed.
    pub process: Option<String>,
}

impl Listener {
    /// Whether the socket listens on a loopback address only.
    pub fn loopback_only(&self) -> bool {
        match self.ipv4 {
            Some(a) => a.is_loopback(),
            None => self.addr == "[::1]",
        }
    }

    /// Whether an IPv4 packet to `dst` arriving on `iface` reaches this socket.
    pub fn accepts(&self, dst: Ipv4Addr, iface: Option<&str>) -> bool {
        let addr_ok = self.ipv4.is_some_and(|a| a.is_unspecified() || a == dst);
        let dev_ok = match (&self.iface, iface) {
            (Some(d), Some(i)) => d == i,
            (Some(_), None) => false,
            (None, _) => true,
        };
        addr_ok && dev_ok
    }

    /// `tcp 0.0.0.0:22`.
    pub fn describe(&self) -> String {
        let dev = self.iface.as_deref().map(|d| format!("%{d}")).unwrap_or_default();
        let who = self.process.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
        format!("{} {}{dev}:{}{who}", self.proto, self.addr, self.port)
    }
}

/// One ipset, as `ipset save` describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IpSet {
    /// Set name.
    pub name: String,
    /// Type, e.g. `hash:ip`, `hash:net`, `hash:ip,port`, `hash:net,port`, `bitmap:port`.
    pub kind: String,
    /// Entries.
    pub entries: Vec<IpSetEntry>,
}

/// One entry of an ipset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IpSetEntry {
    /// The address part (a /32 for `hash:ip`), if the type has one.
    pub net: Option<Ipv4Net>,
    /// The port part: protocol number and inclusive port range, if the type has one.
    pub port: Option<(u8, u16, u16)>,
    /// `nomatch`: the entry excludes instead of includes.
    pub nomatch: bool,
}

impl IpSet {
    /// Whether the set contains the given address and port (for the dimensions it has).
    /// `nomatch` entries win over a covering entry, as in the kernel's hash:net types when
    /// they are more specific.
    pub fn contains(&self, addr: Option<Ipv4Addr>, port: Option<(u8, u16)>) -> bool {
        let mut best: Option<(u8, bool)> = None;
        for e in &self.entries {
            let addr_ok = match (e.net, addr) {
                (Some(n), Some(a)) => n.contains(&a),
                (Some(_), None) => false,
                (None, _) => true,
            };
            let port_ok = match (e.port, port) {
                (Some((ep, lo, hi)), Some((pp, p))) => (ep == 0 || ep == pp) && lo <= p && p <= hi,
                (Some(_), None) => false,
                (None, _) => true,
            };
            if addr_ok && port_ok {
                let len = e.net.map(|n| n.prefix_len()).unwrap_or(0);
                if best.is_none_or(|(l, _)| len >= l) {
                    best = Some((len, !e.nomatch));
                }
            }
        }
        best.is_some_and(|(_, m)| m)
    }
}

impl Host {
    /// The interface with this name.
    pub fn iface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// The interface with this index.
    pub fn iface_by_index(&self, index: u32) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.index == index)
    }
}

/// One network interface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// ifindex.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Kind from `ip -d link` (`bridge`, `veth`, ...), if any.
    pub kind: Option<String>,
    /// MAC address.
    pub mac: Option<[u8; 6]>,
    /// Bridge this interface is a port of.
    pub master: Option<String>,
    /// Administratively and operationally up.
    pub up: bool,
    /// MTU.
    pub mtu: u32,
    /// IPv4 addresses with prefix length.
    pub addrs: Vec<Ipv4Net>,
}

impl Interface {
    /// An up interface with the given addresses and no MAC.
    pub fn new(index: u32, name: &str, addrs: &[&str]) -> Interface {
        Interface {
            index,
            name: name.into(),
            kind: None,
            mac: None,
            master: None,
            up: true,
            mtu: 1500,
            addrs: addrs.iter().filter_map(|a| a.parse().ok()).collect(),
        }
    }
}

/// Route types, as `ip route` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    /// A normal route.
    Unicast,
    /// A local address (table local).
    Local,
    /// A broadcast address (table local).
    Broadcast,
    /// Multicast.
    Multicast,
    /// Anycast.
    Anycast,
    /// Packets are dropped silently.
    Blackhole,
    /// ICMP host unreachable.
    Unreachable,
    /// ICMP administratively prohibited.
    Prohibit,
    /// Continue with the next policy rule.
    Throw,
}

impl RouteType {
    /// Parses `ip -j route`'s `type`.
    pub fn parse(s: &str) -> Option<RouteType> {
        Some(match s {
            "unicast" => RouteType::Unicast,
            "local" => RouteType::Local,
            "broadcast" => RouteType::Broadcast,
            "multicast" => RouteType::Multicast,
            "anycast" => RouteType::Anycast,
            "blackhole" => RouteType::Blackhole,
            "unreachable" => RouteType::Unreachable,
            "prohibit" => RouteType::Prohibit,
            "throw" => RouteType::Throw,
            _ => return None,
        })
    }
}

/// One route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Routing table id (254 main, 255 local).
    pub table: u32,
    /// Type.
    pub kind: RouteType,
    /// Destination prefix.
    pub dst: Ipv4Net,
    /// Output device.
    pub dev: Option<String>,
    /// Gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Preferred source.
    pub prefsrc: Option<Ipv4Addr>,
    /// Metric.
    pub metric: u32,
}

/// The main table id.
pub const TABLE_MAIN: u32 = 254;
/// The local table id.
pub const TABLE_LOCAL: u32 = 255;
/// The default table id.
pub const TABLE_DEFAULT: u32 = 253;

/// One `ip rule`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// Priority (lower first).
    pub priority: u32,
    /// `from` prefix.
    pub from: Option<Ipv4Net>,
    /// `to` prefix.
    pub to: Option<Ipv4Net>,
    /// `fwmark V/M`.
    pub fwmark: Option<(u32, u32)>,
    /// `iif`.
    pub iif: Option<String>,
    /// `oif`.
    pub oif: Option<String>,
    /// Table to look up; `None` when the action is not a lookup.
    pub table: Option<u32>,
    /// Non-lookup action (`blackhole`, `unreachable`, `prohibit`).
    pub action: Option<RouteType>,
    /// `not` was given.
    pub invert: bool,
}

/// Sysctls that change what the walk does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sysctls {
    /// net.ipv4.ip_forward (default 0 in a new namespace; 1 on Docker hosts).
    pub ip_forward: bool,
    /// net.bridge.bridge-nf-call-iptables (1 when br_netfilter is loaded).
    pub bridge_nf_call_iptables: bool,
    /// net.ipv4.conf.all.route_localnet.
    pub route_localnet: bool,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            ip_forward: false,
            bridge_nf_call_iptables: true,
            route_localnet: false,
        }
    }
}
