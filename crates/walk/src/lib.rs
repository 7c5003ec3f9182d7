//! The walker: one packet through hooks, tables and chains, with routing, conntrack and NAT.
//!
//! There is one walker; every view (text, JSON, replay, explain) renders the [`Trace`] it emits.
//!
//! ```text
//! received:  PREROUTING(raw, conntrack, mangle, nat) → routing ─┬→ INPUT(mangle, filter, security, nat) → confirm → local socket
//!                                                               └→ FORWARD(mangle, filter, security) → POSTROUTING(mangle, nat) → confirm → out
//! local:     routing → OUTPUT(raw, conntrack, mangle, nat, filter, security) → reroute → POSTROUTING(mangle, nat) → confirm → out
//! bridged:   PREROUTING(in=br, physin=port) → FORWARD(in=out=br) → POSTROUTING   (bridge-nf-call-iptables=1)
//! ```
#![warn(missing_docs)]

pub mod conntrack;
mod engine;
pub mod log;
pub mod matches;
pub mod nat;
pub mod replay;
pub mod route;
pub mod trace;

pub use engine::{WalkOptions, Walker};
pub use trace::{Event, Fate, Ingress, PathStep, RuleRef, RuleResult, Trace};
