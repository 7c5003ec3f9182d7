//! A ruleset as iptables holds it, loaded from and written back to iptables-save text,
//! listed as `iptables -L` and `-S` print it.

use crate::rule::{list_addr, print_match, print_target, RuleSpec};
use crate::{names, XtError};

/// One rule with its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XtRule {
    /// The rule.
    pub spec: RuleSpec,
    /// Packets, bytes.
    pub counters: (u64, u64),
}

/// One chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XtChain {
    /// Name.
    pub name: String,
    /// Policy of a built-in chain (`ACCEPT`/`DROP`), `None` for user chains.
    pub policy: Option<String>,
    /// Policy counters.
    pub counters: (u64, u64),
    /// Rules.
    pub rules: Vec<XtRule>,
}

/// One table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XtTable {
    /// `filter`, `nat`, ...
    pub name: String,
    /// Chains: built-ins first in hook order, user chains sorted by name (iptables-nft's order).
    pub chains: Vec<XtChain>,
}

/// All tables of one family.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct XtRuleset {
    /// Tables in file order.
    pub tables: Vec<XtTable>,
}

/// The built-in chains of a table in iptables' order; `None` for an unknown table.
pub fn builtin_chains(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "filter" | "security" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        _ => return None,
    })
}

/// Output options of `-L`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListFormat {
    /// `-n`.
    pub numeric: bool,
    /// `-v`.
    pub verbose: bool,
    /// `-x`.
    pub exact: bool,
    /// `--line-numbers`.
    pub line_numbers: bool,
}

fn parse_counters(s: &str) -> Option<(u64, u64)> {
    let s = s.strip_prefix('[')?.strip_suffix(']')?;
    let (p, b) = s.split_once(':')?;
    Some((p.parse().ok()?, b.parse().ok()?))
}

impl XtTable {
    /// An empty table with its built-in chains (policy ACCEPT).
    pub fn new(name: &str) -> Result<XtTable, XtError> {
        let b = builtin_chains(name).ok_or_else(|| {
            XtError::new(
                3,
                format!("can't initialize iptables table `{name}': Table does not exist (do you need to insmod?)\nPerhaps iptables or your kernel needs to be upgraded."),
            )
        })?;
        Ok(XtTable {
            name: name.into(),
            chains: b
                .iter()
                .map(|c| XtChain {
                    name: c.to_string(),
                    policy: Some("ACCEPT".into()),
                    counters: (0, 0),
                    rules: vec![],
                })
                .collect(),
        })
    }

    /// The chain with this name.
    pub fn chain(&self, name: &str) -> Option<&XtChain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// Mutable chain.
    pub fn chain_mut(&mut self, name: &str) -> Option<&mut XtChain> {
        self.chains.iter_mut().find(|c| c.name == name)
    }

    /// Puts chains in iptables-nft's order: built-ins in hook order, then user chains by name.
    pub fn sort(&mut self) {
        let b = builtin_chains(&self.name).unwrap_or(&[]);
        self.chains.sort_by(|x, y| {
            let kx = (
                x.policy.is_none(),
                b.iter().position(|n| *n == x.name).unwrap_or(0),
                x.name.as_bytes(),
            );
            let ky = (
                y.policy.is_none(),
                b.iter().position(|n| *n == y.name).unwrap_or(0),
                y.name.as_bytes(),
            );
            kx.cmp(&ky)
        });
    }

    /// How many rules jump or go to `chain`.
    pub fn references(&self, chain: &str) -> usize {
        self.chains
            .iter()
            .flat_map(|c| &c.rules)
            .filter(|r| r.spec.target.as_ref().is_some_and(|t| t.name == chain))
            .count()
    }

    /// `iptables -S [chain]` output.
    pub fn list_rules(&self, chain: Option<&str>, verbose: bool) -> String {
        let mut s = String::new();
        let chains: Vec<&XtChain> = self
            .chains
            .iter()
            .filter(|c| chain.is_none_or(|n| n == c.name))
            .collect();
        for c in &chains {
            match &c.policy {
                Some(p) if verbose => s += &format!("-P {} {p} -c {} {}\n", c.name, c.counters.0, c.counters.1),
                Some(p) => s += &format!("-P {} {p}\n", c.name),
                None => s += &format!("-N {}\n", c.name),
            }
        }
        for c in &chains {
            for r in &c.rules {
                s += &rule_line(&c.name, r, verbose);
                s.push('\n');
            }
        }
        s
    }

    /// `iptables -L [chain]` output.
    pub fn list(&self, chain: Option<&str>, f: ListFormat) -> String {
        let mut s = String::new();
        let mut first = true;
        for c in self.chains.iter().filter(|c| chain.is_none_or(|n| n == c.name)) {
            if !first {
                s.push('\n');
            }
            first = false;
            s += &self.list_chain(c, f);
        }
        s
    }

    fn list_chain(&self, c: &XtChain, f: ListFormat) -> String {
        let kmg = !f.exact;
        let mut s = format!("Chain {}", c.name);
        match &c.policy {
            Some(p) => {
                s += &format!(" (policy {p}");
                if f.verbose {
                    s += &format!(
                        " {}packets, {}bytes",
                        num(c.counters.0, kmg, true),
                        num(c.counters.1, kmg, true)
                    );
                }
                s += ")\n";
            }
            None => s += &format!(" ({} references)\n", self.references(&c.name)),
        }
        if f.line_numbers {
            s += &format!("{:<4} ", "num");
        }
        if f.verbose {
            if kmg {
                s += &format!("{:>5} {:>5} ", "pkts", "bytes");
            } else {
                s += &format!("{:>8} {:>10} ", "pkts", "bytes");
            }
        }
        s += &format!("{:<9} ", "target");
        s += " prot opt";
        if f.verbose {
            s += &format!(" {:<6} {:<6} ", "in", "out");
        }
        s += &format!(" {:<19} ", "source");
        s += &format!(" {:<19} ", "destination");
        s += "\n";
        for (i, r) in c.rules.iter().enumerate() {
            s += &list_rule(i + 1, r, f);
            s.push('\n');
        }
        s
    }
}

/// `xtables_print_num`.
fn num(n: u64, kmg: bool, notable: bool) -> String {
    if !kmg {
        return if notable { format!("{n} ") } else { format!("{n:>8} ") };
    }
    if n <= 99999 {
        return if notable { format!("{n} ") } else { format!("{n:>5} ") };
    }
    let mut n = (n + 500) / 1000;
    for unit in ["K", "M", "G"] {
        if n <= 9999 {
            return if notable {
                format!("{n}{unit} ")
            } else {
                format!("{n:>4}{unit} ")
            };
        }
        n = (n + 500) / 1000;
    }
    if notable {
        format!("{n}T ")
    } else {
        format!("{n:>4}T ")
    }
}

/// One rule of `-L`. Rules whose modules nfwalk cannot print exactly still list, with the
/// module's options as written (see [`RuleSpec::fully_known`]).
pub fn list_rule(n: usize, r: &XtRule, f: ListFormat) -> String {
    let kmg = !f.exact;
    let sp = &r.spec;
    let mut s = String::new();
    if f.line_numbers {
        s += &format!("{n:<4} ");
    }
    if f.verbose {
        s += &num(r.counters.0, kmg, false);
        s += &num(r.counters.1, kmg, false);
    }
    // iptables-nft lists the NOTRACK target as CT (its text says NOTRACK).
    let tname = match sp.target_name() {
        "NOTRACK" => "CT",
        n => n,
    };
    s += &format!("{tname:<9} ");
    let (pneg, p) = sp.proto.unwrap_or((false, 0));
    s.push(if pneg { '!' } else { ' ' });
    let pname = if f.numeric {
        p.to_string()
    } else {
        names::proto_name(p)
            .map(str::to_string)
            .unwrap_or_else(|| p.to_string())
    };
    s += &format!("{pname:<5}");
    let fneg = sp.frag == Some(true);
    s += &format!(
        "{}{} ",
        if fneg { '!' } else { '-' },
        if sp.frag.is_some() { 'f' } else { '-' }
    );
    if f.verbose {
        let any = if f.numeric { "*" } else { "any" };
        let ifc = |i: &Option<(bool, String)>| match i {
            Some((n, name)) => format!("{}{name}", if *n { "!" } else { "" }),
            None => any.to_string(),
        };
        s += &format!(" {:<6} ", ifc(&sp.iniface));
        s += &format!("{:<6} ", ifc(&sp.outiface));
    }
    let any = crate::rule::AddrMask {
        neg: false,
        addr: std::net::Ipv4Addr::UNSPECIFIED,
        mask: std::net::Ipv4Addr::UNSPECIFIED,
    };
    for a in [sp.src.unwrap_or(any), sp.dst.unwrap_or(any)] {
        s.push(if a.neg { '!' } else { ' ' });
        s += &format!("{:<19} ", list_addr(&a, f.numeric));
    }
    if sp.goto {
        s += "[goto] ";
    }
    for m in &sp.matches {
        match print_match(m, p, f.numeric) {
            Some(t) => s += &t,
            None => s += &fallback(m),
        }
    }
    if let Some(t) = sp
        .target
        .as_ref()
        .filter(|t| !t.opts.is_empty() || crate::rule::target_known(&t.name))
    {
        match print_target(t, f.numeric) {
            Some(x) => s += &x,
            None => s += &fallback(t),
        }
    }
    s
}

fn fallback(m: &crate::rule::Module) -> String {
    let mut s = format!(" {}", m.name);
    for o in &m.opts {
        if o.neg {
            s += " !";
        }
        s += &format!(" {}", o.name);
        for a in &o.args {
            s += &format!(" {a}");
        }
    }
    s
}

/// `-A CHAIN ...` (with `-c P B` when `counters`).
pub fn rule_line(chain: &str, r: &XtRule, counters: bool) -> String {
    let mut s = format!("-A {chain}{}", r.spec.save());
    if counters {
        s += &format!(" -c {} {}", r.counters.0, r.counters.1);
    }
    s
}

impl XtRuleset {
    /// Loads iptables-save text (with or without counters). Chains are put in iptables' order.
    pub fn from_save(text: &str) -> Result<XtRuleset, XtError> {
        let mut rs = XtRuleset::default();
        let mut cur: Option<XtTable> = None;
        for (ln, line) in text.lines().enumerate() {
            let ln = ln + 1;
            let l = line.trim().trim_start_matches('\u{feff}');
            let bad = |m: &str| XtError::new(1, format!("{m}\nError occurred at line: {ln}"));
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            if let Some(t) = l.strip_prefix('*') {
                if cur.is_some() {
                    return Err(bad("iptables-restore: COMMIT expected"));
                }
                let mut table = XtTable::new(t).map_err(|e| bad(&e.message))?;
                for c in &mut table.chains {
                    c.policy = Some("ACCEPT".into());
                }
                cur = Some(table);
                continue;
            }
            if l == "COMMIT" {
                let Some(mut t) = cur.take() else {
                    return Err(bad("iptables-restore: unexpected COMMIT"));
                };
                t.sort();
                rs.tables.retain(|x| x.name != t.name);
                rs.tables.push(t);
                continue;
            }
            let Some(t) = cur.as_mut() else {
                return Err(bad("iptables-restore: no table specified"));
            };
            if let Some(decl) = l.strip_prefix(':') {
                let w: Vec<&str> = decl.split_whitespace().collect();
                let name = w.first().copied().unwrap_or("");
                let pol = w.get(1).copied().unwrap_or("-");
                let ctr = w.get(2).and_then(|c| parse_counters(c)).unwrap_or((0, 0));
                let builtin = builtin_chains(&t.name).unwrap_or(&[]).contains(&name);
                if builtin {
                    let c = t.chain_mut(name).expect("built-in chain exists");
                    c.policy = Some(pol.to_string());
                    c.counters = ctr;
                } else if t.chain(name).is_none() {
                    t.chains.push(XtChain {
                        name: name.into(),
                        policy: None,
                        counters: ctr,
                        rules: vec![],
                    });
                }
                continue;
            }
            let (ctr, rest) = if l.starts_with('[') {
                let (c, r) = l.split_once(' ').unwrap_or((l, ""));
                (parse_counters(c), r.trim_start())
            } else {
                (None, l)
            };
            let words: Vec<String> = nfwalk_parse::iptables::split_restore_words(rest)
                .map_err(|(_, m)| bad(&m))?
                .into_iter()
                .map(|w| w.text)
                .collect();
            // iptables-restore runs `-A` and `-I CHAIN [N]` lines like the command line does.
            let insert = words.first().is_some_and(|w| w == "-I" || w == "--insert");
            if words.len() < 2 || !(insert || words[0] == "-A" || words[0] == "--append") {
                return Err(bad(&format!("iptables-restore: unexpected line `{l}'")));
            }
            let pos_given = insert
                && words
                    .get(2)
                    .is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()));
            let body = if pos_given { &words[3..] } else { &words[2..] };
            let mut spec = RuleSpec::parse(body).map_err(|e| bad(&e.message))?;
            let counters = ctr.or(spec.counters.take()).unwrap_or((0, 0));
            let chain = t
                .chain_mut(&words[1])
                .ok_or_else(|| bad(&format!("Chain '{}' does not exist", words[1])))?;
            let rule = XtRule { spec, counters };
            if insert {
                let n: usize = if pos_given {
                    words[2].parse().unwrap_or(usize::MAX)
                } else {
                    1
                };
                if n == 0 || n > chain.rules.len() + 1 {
                    return Err(bad("iptables-restore: Index of insertion too big."));
                }
                chain.rules.insert(n - 1, rule);
            } else {
                chain.rules.push(rule);
            }
        }
        if cur.is_some() {
            return Err(XtError::new(1, "iptables-restore: COMMIT expected at end of input"));
        }
        // Jumps to chains that do not exist are refused by iptables-restore.
        for t in &rs.tables {
            for c in &t.chains {
                for r in &c.rules {
                    if let Some(j) = r.spec.jump_chain() {
                        if t.chain(j).is_none() {
                            return Err(XtError::new(2, format!("Chain '{j}' does not exist")));
                        }
                    }
                }
            }
        }
        Ok(rs)
    }

    /// The table, if the ruleset has it.
    pub fn table(&self, name: &str) -> Option<&XtTable> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The table, created empty (built-in chains, policy ACCEPT) if missing — as iptables
    /// does when a command touches a table.
    pub fn table_mut(&mut self, name: &str) -> Result<&mut XtTable, XtError> {
        if self.table(name).is_none() {
            self.tables.push(XtTable::new(name)?);
        }
        Ok(self.tables.iter_mut().find(|t| t.name == name).expect("just added"))
    }

    /// iptables-save text (with `[p:b]` counters on rules when `counters`).
    pub fn to_save(&self, counters: bool) -> String {
        let mut s = String::new();
        for t in &self.tables {
            s += &format!("*{}\n", t.name);
            for c in &t.chains {
                s += &format!(
                    ":{} {} [{}:{}]\n",
                    c.name,
                    c.policy.as_deref().unwrap_or("-"),
                    c.counters.0,
                    c.counters.1
                );
            }
            for c in &t.chains {
                for r in &c.rules {
                    if counters {
                        s += &format!("[{}:{}] ", r.counters.0, r.counters.1);
                    }
                    s += &rule_line(&c.name, r, false);
                    s.push('\n');
                }
            }
            s += "COMMIT\n";
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// iptables-restore 1.8.9 runs `-I CHAIN [N]` lines (checked in a lab namespace): 3.3.3.3
    /// goes first, 4.4.4.4 second; quoted backslash escapes are undone (`"\'"` is `'`).
    #[test]
    fn restore_runs_insert_lines_and_undoes_escapes() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 1.1.1.1 -j ACCEPT\n-A INPUT -s 2.2.2.2 -j ACCEPT\n\
                    -I INPUT -s 3.3.3.3 -j ACCEPT\n-I INPUT 2 -s 4.4.4.4 -j ACCEPT\n\
                    -A INPUT -j LOG --log-prefix \"\\'[IN]\\'\"\nCOMMIT\n";
        let rs = XtRuleset::from_save(text).unwrap();
        let s = rs.table("filter").unwrap().list_rules(Some("INPUT"), false);
        assert_eq!(
            s,
            "-P INPUT ACCEPT\n-A INPUT -s 3.3.3.3/32 -j ACCEPT\n-A INPUT -s 4.4.4.4/32 -j ACCEPT\n\
             -A INPUT -s 1.1.1.1/32 -j ACCEPT\n-A INPUT -s 2.2.2.2/32 -j ACCEPT\n\
             -A INPUT -j LOG --log-prefix \"\\'[IN]\\'\"\n"
        );
        let bad = "*filter\n:INPUT ACCEPT [0:0]\n-I INPUT 2 -j ACCEPT\nCOMMIT\n";
        assert!(XtRuleset::from_save(bad).is_err());
    }
}
