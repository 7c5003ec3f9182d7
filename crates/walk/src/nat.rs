//! Choosing NAT addresses and ports.
//!
//! How nfwalk picks (the kernel's `nf_nat_setup_info`/`get_unique_tuple`):
//! * address ranges: the first address of the range. The kernel hashes the tuple (jhash)
//!   to pick one; nfwalk reports a range as "approximate" in the trace.
//! * ports: the original port is kept when it is inside the range (or no range is given)
//!   and the resulting tuple is unused; otherwise the lowest free port of the range
//!   (or of 1024–65535 / 600–1023 / 1–511, by the original port's class). The kernel
//!   starts its search at a random offset for source NAT (lab: `snat`), so only the "kept"
//!   case is exact: a clash-resolved source port is marked unknown and taken from the first
//!   reply, as for `--random-fully` (`Table::learn_random_port`).
//! * `--random` / `--random-fully`: the port cannot be predicted; nfwalk uses the same
//!   deterministic choice and says so.

use nfwalk_model::ruleset::PortRange;

use crate::conntrack::{Table, Tuple};

/// Picks a source port for SNAT/MASQUERADE so that the reply tuple is unique.
///
/// `reply` is the would-be reply tuple with the candidate destination (the NATed source)
/// already set; its `dport` is replaced.
pub fn pick_port(table: &Table, mut reply: Tuple, orig_port: u16, range: Option<PortRange>) -> u16 {
    let in_range = range.is_none_or(|r| r.contains(orig_port));
    reply.dport = orig_port;
    if in_range && !table.tuple_taken(&reply) {
        return orig_port;
    }
    let r = range.unwrap_or(if orig_port < 512 {
        PortRange { lo: 1, hi: 511 }
    } else if orig_port < 1024 {
        PortRange { lo: 600, hi: 1023 }
    } else {
        PortRange { lo: 1024, hi: 65535 }
    });
    for p in r.lo..=r.hi {
        reply.dport = p;
        if !table.tuple_taken(&reply) {
            return p;
        }
    }
    r.lo
}
