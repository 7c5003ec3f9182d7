//! Parsers for nfwalk's inputs: a host's state (`ip -j` JSON, sysctl), snapshots and pcaps.
#![warn(missing_docs)]

pub mod host;
pub mod ipset;
pub mod iptables;
pub mod listeners;
pub mod pcap;
pub mod snapshot;
