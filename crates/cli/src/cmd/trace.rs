//! `nfwalk trace`: one packet, or a whole TCP connection with `--conn`.

use anyhow::Result;
use nfwalk_model::{Host, Packet, Proto};
use nfwalk_walk::{Ingress, Trace, Walker};

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

/// The analysis crate's [`nfwalk_analyze::Close`] for the CLI's `--close`.
pub fn close_of(c: Close) -> nfwalk_analyze::Close {
    match c {
        Close::Fin => nfwalk_analyze::Close::Fin,
        Close::Rst => nfwalk_analyze::Close::Rst,
        Close::Open => nfwalk_analyze::Close::Open,
    }
}

/// Walks SYN, SYN-ACK, ACK, data both ways, FIN both ways and the last ACK, stopping at the
/// first packet that does not get through.
pub fn conversation(host: &Host, w: &mut Walker<'_>, client_in: Ingress, first: Packet) -> Vec<(String, Trace)> {
    conversation_with(host, w, client_in, first, Close::Fin)
}

/// Like [`conversation`], ending the way `close` says (the walk is
/// [`nfwalk_analyze::conn::conversation`]).
pub fn conversation_with(
    host: &Host,
    w: &mut Walker<'_>,
    client_in: Ingress,
    first: Packet,
    close: Close,
) -> Vec<(String, Trace)> {
    nfwalk_analyze::conn::conversation(host, w, client_in, first, close_of(close))
}
