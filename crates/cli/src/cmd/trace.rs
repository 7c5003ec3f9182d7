//! `nfwalk trace`: one packet, or a whole TCP connection with `--conn`.

use anyhow::Result;
use nfwalk_model::{Host, Packet, Proto, TcpFlags};
use nfwalk_walk::{Fate, Ingress, Trace, Walker};

use crate::args::{Close, Format, TraceArgs};
use crate::input;
use crate::render::{self, text};

/// Runs the subcommand; exit code 0 when every packet was accepted, 1 otherwise.
pub fn run(a: TraceArgs) -> Result<i32> {
    let host = input::load_host(&a.host)?;
    let (ingress, pkt) = input::packet(&a.packet)?;
    input::check_ingress(&host, &ingress)?;
    let mut w = Walker::new(&host);
    w.options.uid = a.packet.uid;
    let traces = if a.conn {
        anyhow::ensure!(pkt.proto == Proto::TCP, "--conn walks a TCP connection: use -p tcp");
        conversation_with(&host, &mut w, ingress, pkt, a.close)
    } else {
        vec![("".to_string(), w.walk(ingress, pkt))]
    };
    print_traces(&traces, a.format, text::Style::detect(a.no_color, a.brief));
    if a.conntrack {
        print!("{}", w.conntrack.listing());
    }
    if let Some(dir) = &a.save_conntrack {
        crate::cmd::conntrack::save(&w.conntrack, dir.as_deref(), a.host.snapshot.as_deref())?;
    }
    let all_ok = traces.iter().all(|(_, t)| t.fate.verdict() == "accept");
    Ok(if all_ok { 0 } else { 1 })
}

/// Prints labelled traces in the chosen format.
pub fn print_traces(traces: &[(String, Trace)], format: Format, style: text::Style) {
    match format {
        Format::Text => {
            for (i, (label, t)) in traces.iter().enumerate() {
                if !label.is_empty() {
                    if i > 0 {
                        println!();
                    }
                    println!("━━━ {label} ━━━");
                }
                print!("{}", text::render(t, style));
            }
        }
        Format::Json if traces.len() == 1 => println!("{}", render::json(None, &traces[0].1)),
        Format::Json => {
            let v: Vec<_> = traces
                .iter()
                .map(|(_, t)| nfwalk_json::PacketRecord::from_trace(None, t))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v).expect("records serialize"));
        }
        Format::Jsonl => {
            for (_, t) in traces {
                println!("{}", render::jsonl(None, t));
            }
        }
    }
}

/// Where the server's answers enter the host, judged from the first packet's fate.
fn reply_ingress(host: &Host, first: &Trace) -> Ingress {
    match &first.fate {
        Fate::DeliveredLocally => Ingress::Local,
        Fate::Forwarded { out } | Fate::Bridged { bridge: out } => {
            if host.iface(out).and_then(|i| i.kind.as_deref()) == Some("bridge") {
                let ports: Vec<_> = host
                    .interfaces
                    .iter()
                    .filter(|i| i.master.as_deref() == Some(out))
                    .collect();
                if ports.len() == 1 {
                    return Ingress::Iface {
                        iface: ports[0].name.clone(),
                        physin: None,
                    };
                }
            }
            Ingress::Iface {
                iface: out.clone(),
                physin: None,
            }
        }
        _ => Ingress::Local,
    }
}

/// Walks SYN, SYN-ACK, ACK, data both ways, FIN both ways and the last ACK, stopping at the
/// first packet that does not get through.
pub fn conversation(host: &Host, w: &mut Walker<'_>, client_in: Ingress, first: Packet) -> Vec<(String, Trace)> {
    conversation_with(host, w, client_in, first, Close::Fin)
}

/// Like [`conversation`], ending the way `close` says.
pub fn conversation_with(
    host: &Host,
    w: &mut Walker<'_>,
    client_in: Ingress,
    first: Packet,
    close: Close,
) -> Vec<(String, Trace)> {
    const CISN: u32 = 1000;
    const SISN: u32 = 5000;
    let mut out = Vec::new();
    let mut syn = first.clone();
    syn.tcp_flags = TcpFlags(TcpFlags::SYN);
    syn.seq = CISN;
    syn.len = 60;
    syn.id = 1;
    let t = w.walk(client_in.clone(), syn);
    let ok = t.fate.verdict() == "accept";
    let server_in = reply_ingress(host, &t);
    // What the server sees, and so what it answers to.
    let seen = t.final_packet.clone();
    out.push(("client → server  SYN".to_string(), t));
    if !ok {
        return out;
    }
    let client_pkt = |flags: u8, seq: u32, ack: u32, payload: u16, id: u16| {
        let mut p = first.clone();
        p.tcp_flags = TcpFlags(flags);
        p.seq = seq;
        p.ack_seq = ack;
        p.payload_len = payload;
        p.len = 52 + payload;
        p.id = id;
        p
    };
    let server_pkt = |flags: u8, seq: u32, ack: u32, payload: u16, id: u16| {
        let mut p = Packet::tcp(seen.dst, seen.dport, seen.src, seen.sport, flags);
        p.seq = seq;
        p.ack_seq = ack;
        p.payload_len = payload;
        p.len = if flags & TcpFlags::SYN != 0 { 60 } else { 52 + payload };
        p.id = id;
        p
    };
    use TcpFlags as F;
    let mut steps: Vec<(&str, bool, Packet)> = vec![
        ("server → client  SYN-ACK", true, server_pkt(F::SYN | F::ACK, SISN, CISN + 1, 0, 0)),
        ("client → server  ACK", false, client_pkt(F::ACK, CISN + 1, SISN + 1, 0, 2)),
        ("client → server  data", false, client_pkt(F::ACK | F::PSH, CISN + 1, SISN + 1, 10, 3)),
        ("server → client  data", true, server_pkt(F::ACK | F::PSH, SISN + 1, CISN + 11, 10, 1)),
    ];
    match close {
        Close::Fin => steps.extend([
            ("client → server  FIN", false, client_pkt(F::ACK | F::FIN, CISN + 11, SISN + 11, 0, 4)),
            ("server → client  FIN", true, server_pkt(F::ACK | F::FIN, SISN + 11, CISN + 12, 0, 2)),
            ("client → server  last ACK", false, client_pkt(F::ACK, CISN + 12, SISN + 12, 0, 5)),
        ]),
        Close::Rst => steps.push(("client → server  RST", false, {
            let mut p = client_pkt(F::ACK | F::RST, CISN + 11, SISN + 11, 0, 4);
            p.len = 40;
            p
        })),
        Close::Open => {}
    }
    for (label, from_server, p) in steps {
        let ing = if from_server { server_in.clone() } else { client_in.clone() };
        let t = w.walk(ing, p);
        let ok = t.fate.verdict() == "accept";
        out.push((label.to_string(), t));
        if !ok {
            break;
        }
    }
    out
}
