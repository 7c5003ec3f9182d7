//! `nfwalk snapshot DIR`: collect a live host's state with read-only commands.

use anyhow::{Context, Result};

use crate::args::SnapshotArgs;

/// Runs the subcommand.
pub fn run(a: SnapshotArgs) -> Result<i32> {
    nfwalk_parse::snapshot::collect_snapshot(&a.dir)
        .with_context(|| format!("writing snapshot to {}", a.dir.display()))?;
    eprintln!("snapshot written to {}", a.dir.display());
    Ok(0)
}
