//! One module per subcommand.

pub mod demo;
pub mod explain;
pub mod lint;
pub mod replay;
pub mod snapshot;
pub mod trace;
