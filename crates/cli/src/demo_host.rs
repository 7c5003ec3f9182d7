//! The built-in seed host: a Docker host publishing Redis 10000 → 172.17.0.2:6379, with the
//! seed post's `-I DOCKER-USER -p tcp --dport 10000 -j DROP`.
//!
//! Its ruleset is `scenarios/seed/rules.v4`, the same file the kernel lab loads.

use anyhow::{Context, Result};
use nfwalk_model::{Host, Interface, Sysctls};

/// The seed ruleset, exactly as the lab loads it into the kernel.
pub const SEED_RULES: &str = include_str!("../../../scenarios/seed/rules.v4");

/// Builds the seed host.
pub fn seed_host() -> Result<Host> {
    let loaded = nfwalk_parse::iptables::load("scenarios/seed/rules.v4", SEED_RULES)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the built-in seed ruleset does not load")?;
    let mut lo = Interface::new(1, "lo", &["127.0.0.1/8"]);
    lo.kind = None;
    let mut enp = Interface::new(2, "enp1s0", &["198.51.100.1/24"]);
    enp.kind = Some("veth".into());
    enp.mac = Some([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
    let mut docker0 = Interface::new(3, "docker0", &["172.17.0.1/16"]);
    docker0.kind = Some("bridge".into());
    docker0.mac = Some([0x02, 0x42, 0xac, 0x11, 0x00, 0x01]);
    let mut vethc0 = Interface::new(4, "vethc0", &[]);
    vethc0.kind = Some("veth".into());
    vethc0.master = Some("docker0".into());
    let interfaces = vec![lo, enp, docker0, vethc0];
    let routes = nfwalk_parse::host::derive_kernel_routes(&interfaces);
    Ok(Host {
        name: "demo (seed host)".into(),
        interfaces,
        routes,
        rules: Vec::new(),
        sysctl: Sysctls {
            ip_forward: true,
            bridge_nf_call_iptables: true,
            route_localnet: false,
        },
        ruleset: loaded.ruleset,
        ipsets: Vec::new(),
        listeners: Vec::new(),
    })
}
