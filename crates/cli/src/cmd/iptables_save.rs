//! `nfwalk iptables-save --snapshot DIR`: the snapshot's ruleset as iptables-save prints it.

use crate::args::IptablesSaveArgs;
use nfwalk_xt::ruleset::XtRuleset;

pub fn run(a: IptablesSaveArgs) -> anyhow::Result<i32> {
    let path = a.snapshot.join("iptables-save.txt");
    let mut rs = match XtRuleset::from_save(&std::fs::read_to_string(&path)?) {
        Ok(rs) => rs,
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    };
    if let Some(t) = &a.table {
        rs.tables.retain(|x| &x.name == t);
    }
    print!("{}", rs.to_save(a.counters));
    Ok(0)
}
