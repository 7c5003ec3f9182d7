//! One module per subcommand.

pub mod demo;
pub mod replay;
pub mod snapshot;
pub mod trace;
