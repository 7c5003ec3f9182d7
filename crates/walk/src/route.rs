//! The routing decision: policy rules, then longest-prefix match in each table.

use ipnet::Ipv4Net;
use nfwalk_model::host::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use nfwalk_model::{Host, PolicyRule, Route, RouteType};
use std::net::Ipv4Addr;

/// The result of a FIB lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteResult {
    /// The destination is a local address (table local, type local).
    Local {
        /// Device the local route is on.
        dev: Option<String>,
    },
    /// A broadcast address of this host.
    Broadcast {
        /// Device.
        dev: Option<String>,
    },
    /// Multicast destination.
    Multicast,
    /// A unicast route.
    Unicast {
        /// Out device.
        dev: String,
        /// Gateway, if any.
        gateway: Option<Ipv4Addr>,
        /// Preferred source.
        prefsrc: Option<Ipv4Addr>,
        /// The matched prefix, for messages.
        prefix: Ipv4Net,
    },
    /// Blackhole, unreachable or prohibit route.
    Reject {
        /// The route type.
        kind: RouteType,
    },
    /// No route at all.
    NoRoute,
}

/// Inputs of a lookup besides the destination.
#[derive(Clone, Debug, Default)]
pub struct Flow<'a> {
    /// Source address, if known.
    pub src: Option<Ipv4Addr>,
    /// Incoming interface (None for locally generated).
    pub iif: Option<&'a str>,
    /// Outgoing interface constraint (rarely used).
    pub oif: Option<&'a str>,
    /// skb mark (fwmark rules).
    pub mark: u32,
}

fn default_rules() -> [PolicyRule; 3] {
    [(0, TABLE_LOCAL), (32766, TABLE_MAIN), (32767, TABLE_DEFAULT)].map(|(priority, table)| PolicyRule {
        priority,
        from: None,
        to: None,
        fwmark: None,
        iif: None,
        oif: None,
        table: Some(table),
        action: None,
        invert: false,
    })
}

fn rule_selects(r: &PolicyRule, dst: Ipv4Addr, flow: &Flow<'_>) -> bool {
    let mut ok = true;
    if let Some(from) = r.from {
        ok &= flow.src.is_some_and(|s| from.contains(&s)) || from.prefix_len() == 0;
    }
    if let Some(to) = r.to {
        ok &= to.contains(&dst);
    }
    if let Some((v, m)) = r.fwmark {
        ok &= flow.mark & m == v;
    }
    if let Some(iif) = &r.iif {
        ok &= flow.iif.unwrap_or("lo") == iif;
    }
    if let Some(oif) = &r.oif {
        ok &= flow.oif == Some(oif.as_str());
    }
    ok != r.invert
}

/// Looks up one routing table: longest prefix, then lowest metric.
pub fn lookup_table(host: &Host, table: u32, dst: Ipv4Addr) -> Option<&Route> {
    host.routes
        .iter()
        // Routes of an administratively down device are gone from `ip route` already; a
        // device without carrier keeps its routes (`linkdown`), and the kernel still uses
        // them (net.ipv4.conf.*.ignore_routes_with_linkdown defaults to 0).
        .filter(|r| r.table == table && r.dst.contains(&dst))
        .max_by(|a, b| {
            a.dst
                .prefix_len()
                .cmp(&b.dst.prefix_len())
                .then(b.metric.cmp(&a.metric))
        })
}

fn to_result(r: &Route) -> RouteResult {
    match r.kind {
        RouteType::Local => RouteResult::Local { dev: r.dev.clone() },
        RouteType::Broadcast => RouteResult::Broadcast { dev: r.dev.clone() },
        RouteType::Multicast => RouteResult::Multicast,
        RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit => RouteResult::Reject { kind: r.kind },
        RouteType::Unicast | RouteType::Anycast | RouteType::Throw => RouteResult::Unicast {
            dev: r.dev.clone().unwrap_or_default(),
            gateway: r.gateway,
            prefsrc: r.prefsrc,
            prefix: r.dst,
        },
    }
}

/// The full FIB lookup with policy rules.
pub fn lookup(host: &Host, dst: Ipv4Addr, flow: &Flow<'_>) -> RouteResult {
    if dst.is_broadcast() {
        return RouteResult::Broadcast { dev: None };
    }
    if dst.is_multicast() {
        return RouteResult::Multicast;
    }
    let defaults;
    let rules: &[PolicyRule] = if host.rules.is_empty() {
        defaults = default_rules();
        &defaults
    } else {
        &host.rules
    };
    // `ip rule` lists rules by priority already; sort only when they are not.
    let sorted;
    let rules: &[PolicyRule] = if rules.windows(2).all(|w| w[0].priority <= w[1].priority) {
        rules
    } else {
        let mut v = rules.to_vec();
        v.sort_by_key(|r| r.priority);
        sorted = v;
        &sorted
    };
    for r in rules {
        if !rule_selects(r, dst, flow) {
            continue;
        }
        if let Some(action) = r.action {
            return RouteResult::Reject { kind: action };
        }
        let Some(table) = r.table else { continue };
        if let Some(route) = lookup_table(host, table, dst) {
            if route.kind == RouteType::Throw {
                continue;
            }
            return to_result(route);
        }
    }
    RouteResult::NoRoute
}

/// The kernel's address type of `addr` (for `-m addrtype`), optionally limited to a device.
///
/// Follows `inet_dev_addr_type`: the local table decides LOCAL/BROADCAST; with a device
/// limit, a local route on another device counts as UNICAST.
pub fn addr_type(host: &Host, addr: Ipv4Addr, dev: Option<&str>) -> &'static str {
    if addr.is_unspecified() {
        return "UNSPEC";
    }
    if addr.is_broadcast() {
        return "BROADCAST";
    }
    if addr.is_multicast() {
        return "MULTICAST";
    }
    if let Some(r) = lookup_table(host, TABLE_LOCAL, addr) {
        if let Some(d) = dev {
            if r.dev.as_deref().is_some_and(|rd| rd != d) {
                return "UNICAST";
            }
        }
        return match r.kind {
            RouteType::Local => "LOCAL",
            RouteType::Broadcast => "BROADCAST",
            RouteType::Multicast => "MULTICAST",
            RouteType::Anycast => "ANYCAST",
            RouteType::Blackhole => "BLACKHOLE",
            RouteType::Unreachable => "UNREACHABLE",
            RouteType::Prohibit => "PROHIBIT",
            RouteType::Throw => "THROW",
            RouteType::Unicast => "UNICAST",
        };
    }
    match lookup_table(host, TABLE_MAIN, addr).map(|r| r.kind) {
        Some(RouteType::Blackhole) => "BLACKHOLE",
        Some(RouteType::Unreachable) => "UNREACHABLE",
        Some(RouteType::Prohibit) => "PROHIBIT",
        _ => "UNICAST",
    }
}

/// Whether `addr` is one of the host's own addresses.
pub fn is_local(host: &Host, addr: Ipv4Addr) -> bool {
    addr.is_loopback()
        || matches!(
            lookup_table(host, TABLE_LOCAL, addr).map(|r| r.kind),
            Some(RouteType::Local)
        )
        || host.interfaces.iter().any(|i| i.addrs.iter().any(|a| a.addr() == addr))
}

/// The source address the kernel picks for traffic out of `dev` towards `dst`
/// (`inet_select_addr`): an address of `dev` on the same subnet as `dst` (or the
/// gateway), else the device's first address.
pub fn select_src(host: &Host, dev: &str, towards: Ipv4Addr) -> Option<Ipv4Addr> {
    let iface = host.iface(dev)?;
    iface
        .addrs
        .iter()
        .find(|a| a.contains(&towards))
        .or_else(|| iface.addrs.first())
        .map(|a| a.addr())
}
