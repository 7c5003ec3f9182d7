//! `nfwalk demo`: the seed story, built in.

use anyhow::Result;
use nfwalk_walk::Walker;

use crate::args::{DemoArgs, Format};
use crate::demo_host;
use crate::render::text;

const INTRO: &str = "\
The seed story: a Docker host (enp1s0 198.51.100.1/24, docker0 172.17.0.1/16) publishes
Redis from container 172.17.0.2:6379 on host port 10000. Its admin ran

    iptables -I DOCKER-USER -p tcp --dport 10000 -j DROP

and nothing was blocked. nfwalk walks a client's connection from 198.51.100.10 to
198.51.100.1:10000, hook by hook, to show why.
";

const OUTRO: &str = "\
Why the DROP did nothing: nat PREROUTING (chain DOCKER) rewrote the destination
198.51.100.1:10000 to 172.17.0.2:6379 before routing. The routing decision then sent the
packet to FORWARD (not INPUT), and DOCKER-USER, reached from FORWARD, saw dport 6379,
so `--dport 10000` never matched. Later packets of the connection skip the nat chains
altogether: conntrack applies the binding it remembered.

A rule that does block it matches the original destination port, kept by conntrack:

    iptables -I DOCKER-USER -p tcp -m conntrack --ctorigdstport 10000 --ctdir ORIGINAL -j DROP
";

/// Runs the demo.
pub fn run(a: DemoArgs) -> Result<i32> {
    let host = demo_host::seed_host()?;
    let mut w = Walker::new(&host);
    let syn = nfwalk_model::Packet::tcp(
        "198.51.100.10".parse()?,
        40001,
        "198.51.100.1".parse()?,
        10000,
        nfwalk_model::TcpFlags::SYN,
    );
    let ingress = nfwalk_walk::Ingress::Iface {
        iface: "enp1s0".into(),
        physin: None,
    };
    let traces = super::trace::conversation(&host, &mut w, ingress, syn);
    if a.format != Format::Text {
        super::trace::print_traces(&traces, a.format, text::Style::detect(true, false));
        return Ok(0);
    }
    let style = text::Style::detect(a.no_color, false);
    println!("{INTRO}");
    // The first packet in full, the next two in brief, the rest as one line each.
    for (i, (label, t)) in traces.iter().enumerate() {
        println!("━━━ {label} ━━━");
        if i < 3 {
            let st = text::Style { brief: i > 0, ..style };
            print!("{}", text::render(t, st));
        } else {
            println!("{}  →  {}", t.packet.summary(), t.fate.describe());
        }
        println!();
    }
    println!("━━━ conntrack -L afterwards ━━━");
    print!("{}", w.conntrack.listing());
    for c in w.conntrack.conns() {
        println!("transitions: {}", c.history.join("; "));
    }
    println!("\n{OUTRO}");
    Ok(0)
}
