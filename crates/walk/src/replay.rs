//! Replaying a capture: frames in order through one walker.

use nfwalk_model::Packet;

use crate::{Ingress, Trace, Walker};

/// One captured frame, as the replay needs it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// 1-based position in the capture.
    pub index: usize,
    /// The interface it was captured on.
    pub iface: Option<String>,
    /// The IPv4 packet, when walkable.
    pub packet: Option<Packet>,
    /// Why it is not walkable.
    pub skipped: Option<String>,
    /// Captured on its way out (Linux cooked captures' packet type 4, `tcpdump -i any`
    /// without `-Q in`): a packet the host sends is walked from OUTPUT; the outgoing copy of
    /// a forwarded packet is skipped, having been walked when it arrived.
    pub outgoing: bool,
}

/// What became of a frame.
#[derive(Clone, Debug)]
pub enum Replayed {
    /// Walked.
    Walked {
        /// Frame index.
        frame: usize,
        /// Trace.
        trace: Box<Trace>,
    },
    /// Not walked.
    Skipped {
        /// Frame index.
        frame: usize,
        /// Interface.
        iface: Option<String>,
        /// Why.
        why: String,
    },
}

/// The same packet seen twice: on the bridge port, and on the bridge device after
/// br_netfilter's PREROUTING, which may already have rewritten the destination (a reply's
/// reverse SNAT). Source, IP ID, length, flags and sequence identify it.
fn same_packet(a: &Packet, b: &Packet) -> bool {
    a.src == b.src
        && a.proto == b.proto
        && a.sport == b.sport
        && a.id == b.id
        && a.len == b.len
        && a.tcp_flags == b.tcp_flags
        && a.seq == b.seq
}

/// Walks every frame in order. A frame captured on a bridge device right after the same
/// frame was captured on one of its ports (`tcpdump -i any` sees both) is the same packet:
/// it is skipped as a duplicate, since netfilter sees it once.
pub fn replay(w: &mut Walker<'_>, frames: &[Frame]) -> Vec<Replayed> {
    let mut out = Vec::with_capacity(frames.len());
    for (k, f) in frames.iter().enumerate() {
        let Some(p) = &f.packet else {
            out.push(Replayed::Skipped {
                frame: f.index,
                iface: f.iface.clone(),
                why: f.skipped.clone().unwrap_or_else(|| "not an IPv4 packet".into()),
            });
            continue;
        };
        if f.outgoing {
            if !crate::route::is_local(w.host, p.src) {
                out.push(Replayed::Skipped {
                    frame: f.index,
                    iface: f.iface.clone(),
                    why: "outgoing copy of a forwarded packet (walked when it arrived)".into(),
                });
                continue;
            }
            let dup = frames[k.saturating_sub(16)..k]
                .iter()
                .rev()
                .find(|g| g.outgoing && g.packet.as_ref().is_some_and(|q| same_packet(p, q)));
            if let Some(g) = dup {
                out.push(Replayed::Skipped {
                    frame: f.index,
                    iface: f.iface.clone(),
                    why: format!("duplicate: frame {} is the same outgoing packet", g.index),
                });
                continue;
            }
            let t = w.walk(Ingress::Local, p.clone());
            out.push(Replayed::Walked {
                frame: f.index,
                trace: Box::new(t),
            });
            continue;
        }
        let Some(iface) = f.iface.clone() else {
            out.push(Replayed::Skipped {
                frame: f.index,
                iface: None,
                why: "unknown capture interface (give --in)".into(),
            });
            continue;
        };
        let is_bridge = w.host.iface(&iface).and_then(|i| i.kind.as_deref()) == Some("bridge");
        if is_bridge {
            let dup = frames[k.saturating_sub(16)..k].iter().rev().find(|g| {
                g.packet.as_ref().is_some_and(|q| same_packet(p, q))
                    && g.iface
                        .as_deref()
                        .and_then(|n| w.host.iface(n))
                        .and_then(|i| i.master.as_deref())
                        == Some(iface.as_str())
            });
            if let Some(g) = dup {
                out.push(Replayed::Skipped {
                    frame: f.index,
                    iface: Some(iface),
                    why: format!(
                        "duplicate: frame {} is the same packet captured on bridge port {}",
                        g.index,
                        g.iface.clone().unwrap_or_default()
                    ),
                });
                continue;
            }
        }
        let t = w.walk(Ingress::Iface { iface, physin: None }, p.clone());
        out.push(Replayed::Walked {
            frame: f.index,
            trace: Box::new(t),
        });
    }
    out
}
