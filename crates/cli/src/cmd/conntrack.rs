//! `nfwalk conntrack -L --snapshot DIR [filters]`: conntrack-tools' listing on a snapshot's
//! `conntrack.txt`; and `--save-conntrack` of trace/replay, which writes that file.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::args::ConntrackArgs;

/// Runs the subcommand: stdout and stderr exactly as conntrack-tools prints them.
pub fn run(a: ConntrackArgs) -> Result<i32> {
    let mut dir: Option<PathBuf> = None;
    let mut args = Vec::new();
    let mut it = a.args.into_iter();
    while let Some(x) = it.next() {
        if x == "--snapshot" {
            match it.next() {
                Some(d) => dir = Some(PathBuf::from(d)),
                None => bail!("--snapshot needs a directory"),
            }
        } else if let Some(d) = x.strip_prefix("--snapshot=") {
            dir = Some(PathBuf::from(d));
        } else {
            args.push(x);
        }
    }
    let Some(dir) = dir else {
        bail!("say which table: --snapshot DIR (reads DIR/conntrack.txt)");
    };
    let path = dir.join("conntrack.txt");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let (out, err, code) = nfwalk_xt::conntrack::run_cli(&text, &args);
    print!("{out}");
    eprint!("{err}");
    Ok(code)
}

/// The table as `conntrack -L` prints it on stdout (no summary line: that goes to stderr).
pub fn table_text(t: &nfwalk_walk::conntrack::Table) -> String {
    t.conns().map(|c| c.conntrack_line() + "\n").collect()
}

/// Writes DIR/conntrack.txt atomically; DIR is the explicit one or the snapshot's.
pub fn save(t: &nfwalk_walk::conntrack::Table, dir: Option<&Path>, snapshot: Option<&Path>) -> Result<()> {
    let Some(dir) = dir.or(snapshot) else {
        bail!("--save-conntrack needs a directory: --save-conntrack DIR, or --snapshot DIR");
    };
    let path = dir.join("conntrack.txt");
    nfwalk_xt::fsio::write_atomic(&path, table_text(t).as_bytes(), false)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("nfwalk: wrote {} ({} entries)", path.display(), t.conns().count());
    Ok(())
}
