//! Renderers over one `Trace`: text for people, JSON for tools.

pub mod text;

use nfwalk_json::PacketRecord;
use nfwalk_walk::Trace;

/// JSON of one trace (pretty) for `--format json`.
pub fn json(frame: Option<usize>, t: &Trace) -> String {
    serde_json::to_string_pretty(&PacketRecord::from_trace(frame, t)).expect("records serialize")
}

/// One JSON Lines record.
pub fn jsonl(frame: Option<usize>, t: &Trace) -> String {
    serde_json::to_string(&PacketRecord::from_trace(frame, t)).expect("records serialize")
}
