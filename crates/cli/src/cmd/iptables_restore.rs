//! `nfwalk iptables-restore --snapshot DIR [FILE]`: replaces the tables FILE names, checked
//! first; a file that does not load leaves the snapshot byte-identical.

use crate::args::IptablesRestoreArgs;
use nfwalk_xt::{fsio, ruleset::XtRuleset};
use std::io::Read;

pub fn run(a: IptablesRestoreArgs) -> anyhow::Result<i32> {
    let input = match &a.file {
        Some(f) => std::fs::read_to_string(f)?,
        None => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
    };
    let new = match XtRuleset::from_save(&input) {
        Ok(rs) => rs,
        Err(e) => {
            eprintln!("iptables-restore v1.8.9 (nf_tables): {e}");
            return Ok(e.code.max(1));
        }
    };
    if a.test {
        return Ok(0);
    }
    let path = a.snapshot.join("iptables-save.txt");
    let mut rs = XtRuleset::from_save(&std::fs::read_to_string(&path).unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for t in new.tables {
        match rs.tables.iter_mut().find(|x| x.name == t.name) {
            Some(x) => *x = t,
            None => rs.tables.push(t),
        }
    }
    let data = rs.to_save(true);
    match &a.out {
        Some(o) => fsio::write_atomic(o, data.as_bytes(), false)?,
        None => fsio::write_atomic(&path, data.as_bytes(), true)?,
    }
    Ok(0)
}
