//! `nfwalk iptables --snapshot DIR [iptables arguments]`: iptables' own commands on a snapshot.

use crate::args::IptablesArgs;
use nfwalk_xt::{command, fsio, ruleset::XtRuleset};

pub fn run(a: IptablesArgs) -> anyhow::Result<i32> {
    let path = a.snapshot.join("iptables-save.txt");
    let text = std::fs::read_to_string(&path)?;
    let mut rs = match XtRuleset::from_save(&text) {
        Ok(rs) => rs,
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    };
    let res = command::parse(&a.args).and_then(|inv| command::run(&mut rs, &inv));
    match res {
        Ok(out) => {
            print!("{}", out.stdout);
            if out.modified {
                let data = rs.to_save(true);
                match &a.out {
                    Some(o) => fsio::write_atomic(o, data.as_bytes(), false)?,
                    None => fsio::write_atomic(&path, data.as_bytes(), true)?,
                }
            }
            Ok(0)
        }
        Err(e) => {
            eprint!("{}", e.stderr("iptables"));
            Ok(e.code)
        }
    }
}
