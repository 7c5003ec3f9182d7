//! `nfwalk replay`: every packet of a capture, in order, through one host.

use anyhow::{Context, Result};
use nfwalk_walk::replay::{replay, Frame, Replayed};
use nfwalk_walk::Walker;

use crate::args::{Format, ReplayArgs};
use crate::input;
use crate::render::{self, text};

/// Reads a capture into frames, naming interfaces by the host's ifindexes.
pub fn load_frames(host: &nfwalk_model::Host, pcap: &std::path::Path, in_: Option<&str>) -> Result<Vec<Frame>> {
    let bytes = std::fs::read(pcap).with_context(|| format!("reading {}", pcap.display()))?;
    let names = |i: u32| host.iface_by_index(i).map(|x| x.name.clone());
    let frames =
        nfwalk_parse::pcap::read_pcap(&bytes, &names, in_).map_err(|e| anyhow::anyhow!("{}: {e}", pcap.display()))?;
    Ok(frames
        .into_iter()
        .map(|f| Frame {
            index: f.index,
            iface: f.iface,
            packet: f.packet,
            skipped: f.skipped,
            outgoing: f.pkt_type == Some(4),
        })
        .collect())
}

/// Runs the subcommand.
pub fn run(a: ReplayArgs) -> Result<i32> {
    let host = input::load_host(&a.host)?;
    let frames = load_frames(&host, &a.pcap, a.in_.as_deref())?;
    let mut w = Walker::new(&host);
    w.options.lean = a.lean;
    let results = replay(&mut w, &frames);
    let style = text::Style::detect(a.no_color, true);
    for r in &results {
        match (r, a.format) {
            (Replayed::Walked { frame, trace }, Format::Text) => {
                println!("━━━ frame {frame} ━━━");
                print!("{}", text::render(trace, style));
            }
            (Replayed::Walked { frame, trace }, Format::Json | Format::Jsonl) => {
                println!("{}", render::jsonl(Some(*frame), trace));
            }
            (Replayed::Skipped { frame, iface, why }, Format::Text) => {
                println!(
                    "━━━ frame {frame} ━━━\nskipped ({}): {why}",
                    iface.clone().unwrap_or_default()
                );
            }
            (Replayed::Skipped { frame, iface, why }, _) => {
                let rec = nfwalk_json::PacketRecord::skipped(*frame, iface.clone(), why.clone());
                println!("{}", serde_json::to_string(&rec).expect("records serialize"));
            }
        }
    }
    if a.log {
        for r in &results {
            if let Replayed::Walked { trace, .. } = r {
                for l in trace.log_lines() {
                    println!("{l}");
                }
            }
        }
    }
    if a.counters {
        print!("{}", w.counters_save());
    }
    if a.conntrack {
        print!("{}", w.conntrack.listing());
    }
    if let Some(dir) = &a.save_conntrack {
        crate::cmd::conntrack::save(&w.conntrack, dir.as_deref(), a.host.snapshot.as_deref())?;
    }
    Ok(0)
}
