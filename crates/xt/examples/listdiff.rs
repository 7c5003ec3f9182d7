//! Restores iptables-save files in one lab namespace and prints every line where the real
//! iptables' listings (`-L`, `-nL --line-numbers`, `-nvL`, `-nvxL`, `-S`) differ from nfwalk's:
//! `cargo run -p nfwalk-xt --example listdiff -- FILE…` (root).

use nfwalk_xt::command;
use nfwalk_xt::ruleset::XtRuleset;

const LISTINGS: &[&[&str]] = &[
    &["-L"],
    &["-n", "-L", "--line-numbers"],
    &["-n", "-v", "-L"],
    &["-n", "-v", "-x", "-L"],
    &["-S"],
];

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let mut lab = nfwalk_lab::Lab::new("xtdiff");
    lab.ns("p").expect("namespace");
    for f in &files {
        let text = std::fs::read_to_string(f).expect("rules file");
        let rs = match XtRuleset::from_save(&text) {
            Ok(rs) => rs,
            Err(e) => {
                println!("{f}: nfwalk refuses: {}", e.message);
                continue;
            }
        };
        let _ = lab.exec("p", &["iptables", "-F"]);
        if let Err(e) = lab.exec_stdin("p", &["iptables-restore"], text.as_bytes()) {
            println!("{f}: iptables-restore refuses: {e}");
            continue;
        }
        let mut ndiff = 0;
        for t in &rs.tables {
            for l in LISTINGS {
                let mut args = vec!["-t", t.name.as_str()];
                args.extend_from_slice(l);
                let mut cmd = vec!["iptables"];
                cmd.extend_from_slice(&args);
                let real = String::from_utf8_lossy(&lab.exec("p", &cmd).expect("exec").stdout).to_string();
                let mut zeroed = rs.clone();
                for t in &mut zeroed.tables {
                    for c in &mut t.chains {
                        c.counters = (0, 0);
                        c.rules.iter_mut().for_each(|r| r.counters = (0, 0));
                    }
                }
                let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                let ours = match command::parse(&owned).and_then(|inv| command::run(&mut zeroed, &inv)) {
                    Ok(o) => o.stdout,
                    Err(e) => e.stderr("iptables"),
                };
                let (rl, ol): (Vec<&str>, Vec<&str>) = (real.lines().collect(), ours.lines().collect());
                for i in 0..rl.len().max(ol.len()) {
                    let (a, b) = (
                        rl.get(i).copied().unwrap_or("<missing>"),
                        ol.get(i).copied().unwrap_or("<missing>"),
                    );
                    if a != b {
                        ndiff += 1;
                        println!("{f}: iptables {}\n  real: {a:?}\n  ours: {b:?}", args.join(" "));
                    }
                }
            }
        }
        if ndiff == 0 {
            println!("{f}: all listings match");
        }
    }
}
