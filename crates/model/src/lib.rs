//! The data every part of nfwalk shares.
//!
//! * [`packet`]: the IPv4 header and transport fields a walk reads and rewrites.
//! * [`ruleset`]: tables, chains and rules, with matches and targets as data, each rule
//!   keeping its source line and its exact text.
//! * [`host`]: interfaces, addresses, routes, policy rules, bridges and sysctls.
//!
//! Names follow netfilter's own vocabulary (hooks, tables, chains, matches, targets).
#![warn(missing_docs)]

pub mod host;
pub mod packet;
pub mod ruleset;

pub use host::{Host, Interface, IpSet, IpSetEntry, Listener, PolicyRule, Route, RouteType, Sysctls};
pub use packet::{Packet, Proto, TcpFlags};
pub use ruleset::{Chain, Counters, Hook, Match, MatchKind, Rule, Ruleset, Table, TableName, Target, Verdict};
