//! `nfwalk demo`: the seed story, built in.

use anyhow::Result;
use nfwalk_walk::Walker;

use crate::args::{Close, DemoArgs, Format};
use crate::demo_host;
use crate::render::text;

const INTRO: &str = "\
The seed story: a Docker host (enp1s0 198.51.100.1/24, docker0 172.17.0.1/16) publishes
Redis from container 172.17.0.2:6379 on host port 10000. Its admin ran

    iptables -I DOCKER-USER -p tcp --dport 10000 -j DROP

and nothing was blocked. nfwalk walks a client's connection from 198.51.100.10 to
198.51.100.1:10000, hook by hook, to show why.
";

const CLOSE_NOTE: &str = "\
Why one entry reads CLOSE and another ESTABLISHED (the seed's open question): conntrack
follows the TCP flags. Closed with FIN from both sides: TIME_WAIT (120 s). Aborted with RST:
straight to CLOSE (10 s); a client that exits with unread data, or a server that closes on
it, makes the kernel send RST. Still open: ESTABLISHED (432000 s).
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
    let traces = super::trace::conversation(&host, &mut w, ingress.clone(), syn.clone());
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
    // The seed's open question: why does one service's entry read CLOSE and another's
    // ESTABLISHED? Two more connections: one the client aborts with RST (as a client that
    // exits with unread data does), one still open.
    let mut second = syn.clone();
    second.sport = 40002;
    let aborted = super::trace::conversation_with(&host, &mut w, ingress.clone(), second, Close::Rst);
    let mut third = syn.clone();
    third.sport = 40003;
    let open = super::trace::conversation_with(&host, &mut w, ingress, third, Close::Open);
    println!("━━━ two more connections: 40002 ends with RST, 40003 stays open ━━━");
    for (label, t) in aborted.iter().chain(open.iter()) {
        println!("{label:<28} {}  →  {}", t.packet.summary(), t.fate.describe());
    }
    println!();
    println!("━━━ conntrack -L afterwards ━━━");
    print!("{}", w.conntrack.listing());
    for c in w.conntrack.conns() {
        println!("sport {}: {}", c.orig.sport, c.history.join("; "));
    }
    println!("\n{CLOSE_NOTE}");
    println!("\n{OUTRO}");
    Ok(0)
}
