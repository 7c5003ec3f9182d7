//! nfwalk's network-namespace lab: build hosts out of namespaces, run the real kernel on a
//! scenario, and record what it did (trace, capture, counters, LOG lines, conntrack).
//!
//! * [`netns`]: [`Lab`], a topology builder whose namespaces and processes are removed on drop
//!   and on SIGINT/SIGTERM.
//! * [`trace`]: parser for `xtables-monitor --trace` and grouping of blocks into packets.
//! * [`scenario`]: the seed scenario and its variants.
//! * [`runner`]: [`run_kernel`], which runs a scenario and returns a [`KernelRun`].
//!
//! Lab safety: interfaces are only ever created inside lab namespaces (`nfwk-<pid>x<n>-<name>`),
//! addresses are 198.51.100.0/24, 203.0.113.0/24 and private ranges; the only root-namespace
//! change is `net.netfilter.nf_log_all_netns=1`.
#![warn(missing_docs)]

pub mod compare;
pub mod differential;
pub mod netns;
pub mod runner;
pub mod scenario;
pub mod trace;

pub use netns::{poll_until, Lab, LabChild, TIMEOUT};
pub use runner::{is_root, kernel_available, run_kernel, ClientResult, KernelRun};
pub use scenario::{Client, Outcome, Scenario, Server, Step, L4};
pub use trace::{
    group_packets, parse_packets, parse_trace, KernelPacket, PacketHeader, TraceBlock, TraceEvent, TraceEventKind,
};

use std::path::PathBuf;

/// Errors from the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Kernel runs need root.
    #[error("the lab needs root (set NFWALK_SKIP_KERNEL=1 to skip kernel tests)")]
    NotRoot,
    /// A command could not be started.
    #[error("cannot run {0}: {1}")]
    Spawn(String, #[source] std::io::Error),
    /// A command failed.
    #[error("{cmd} failed with status {status}: {stderr}")]
    Command {
        /// The command.
        cmd: String,
        /// Its exit status.
        status: i32,
        /// Its stderr.
        stderr: String,
    },
    /// A namespace short name that this lab did not create.
    #[error("no namespace {0} in this lab")]
    NoSuchNamespace(String),
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// A comparison input could not be used.
    #[error("{0}")]
    Compare(String),
    /// A background process did not become ready in time.
    #[error("not ready in time: {0}")]
    NotReady(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl LabError {
    /// An error with a message, for the comparison.
    pub fn msg(m: impl Into<String>) -> LabError {
        LabError::Compare(m.into())
    }
}
