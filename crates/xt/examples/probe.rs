//! Runs iptables commands in one lab namespace and prints what the real tools print:
//! `cargo run -p nfwalk-xt --example probe -- RULES.v4 'iptables -L' 'iptables -nvL' ...`
//! (root). Used to look up iptables' exact output and errors while writing the renderers.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((rules, cmds)) = args.split_first() else {
        eprintln!("usage: probe RULES.v4 'iptables …' …");
        std::process::exit(2);
    };
    let mut lab = nfwalk_lab::Lab::new("xtprobe");
    lab.ns("p").expect("namespace");
    let text = std::fs::read(rules).expect("rules file");
    if let Err(e) = lab.exec_stdin("p", &["iptables-restore"], &text) {
        println!("restore failed: {e}");
    }
    for c in cmds {
        let words: Vec<&str> = c.split_whitespace().collect();
        let out = lab.exec("p", &words).expect("exec");
        println!("$ {c}  [exit {}]", out.status.code().unwrap_or(-1));
        print!("{}", String::from_utf8_lossy(&out.stdout).replace(' ', "·"));
        print!("{}", String::from_utf8_lossy(&out.stderr));
    }
}
