//! One module per subcommand.

pub mod conntrack;
pub mod demo;
pub mod explain;
pub mod iptables;
pub mod iptables_restore;
pub mod iptables_save;
pub mod lint;
pub mod replay;
pub mod snapshot;
pub mod trace;
pub mod whatif;
