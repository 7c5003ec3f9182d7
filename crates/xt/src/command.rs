//! iptables' command line: parsed like iptables parses it, applied to an [`XtRuleset`] with
//! iptables' error texts and exit codes.

use crate::rule::{is_extension_target, RuleSpec};
use crate::ruleset::{builtin_chains, ListFormat, XtChain, XtRule, XtRuleset};
use crate::XtError;

/// One iptables command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `-A CHAIN rule`.
    Append(String, RuleSpec),
    /// `-C CHAIN rule`.
    Check(String, RuleSpec),
    /// `-D CHAIN rule`.
    Delete(String, RuleSpec),
    /// `-D CHAIN N`.
    DeleteNum(String, usize),
    /// `-I CHAIN [N] rule`.
    Insert(String, usize, RuleSpec),
    /// `-R CHAIN N rule`.
    Replace(String, usize, RuleSpec),
    /// `-L [CHAIN]`.
    List(Option<String>),
    /// `-L CHAIN N`: one rule's line, without the chain header (nothing past the end).
    ListRule(String, usize),
    /// `-S [CHAIN [N]]`.
    ListRules(Option<String>, Option<usize>),
    /// `-F [CHAIN]`.
    Flush(Option<String>),
    /// `-Z [CHAIN [N]]`.
    Zero(Option<String>, Option<usize>),
    /// `-N CHAIN`.
    NewChain(String),
    /// `-X [CHAIN]`.
    DeleteChain(Option<String>),
    /// `-P CHAIN TARGET`.
    Policy(String, String),
    /// `-E OLD NEW`.
    Rename(String, String),
}

/// A whole iptables invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// `-t`.
    pub table: String,
    /// The command.
    pub cmd: Cmd,
    /// Listing options.
    pub format: ListFormat,
}

/// What a command produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// What iptables prints on stdout.
    pub stdout: String,
    /// Whether the ruleset changed (and must be written back).
    pub modified: bool,
}

fn perr(m: impl Into<String>) -> XtError {
    XtError::param(m)
}

fn is_num(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn rulenum(s: &str, what: &str) -> Result<usize, XtError> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(perr(format!("Invalid rule number `{s}'").replace("{what}", what))),
    }
}

/// Parses iptables' arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, XtError> {
    let mut table = "filter".to_string();
    let mut format = ListFormat::default();
    let mut cmd: Option<(String, Vec<String>)> = None;
    let mut rest: Vec<String> = vec![];
    let mut i = 0;
    let cmds = [
        ("-A", "--append"),
        ("-C", "--check"),
        ("-D", "--delete"),
        ("-I", "--insert"),
        ("-R", "--replace"),
        ("-L", "--list"),
        ("-S", "--list-rules"),
        ("-F", "--flush"),
        ("-Z", "--zero"),
        ("-N", "--new-chain"),
        ("-X", "--delete-chain"),
        ("-P", "--policy"),
        ("-E", "--rename-chain"),
    ];
    while i < args.len() {
        let a = args[i].as_str();
        // Bundled short flags such as -nvL or -vnxL.
        if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 && a[1..].chars().all(|c| "nvxLSFZX".contains(c)) {
            let mut expanded: Vec<String> = a[1..].chars().map(|c| format!("-{c}")).collect();
            expanded.extend(args[i + 1..].iter().cloned());
            let mut head: Vec<String> = args[..i].to_vec();
            head.append(&mut expanded);
            return parse(&head);
        }
        if let Some((short, _)) = cmds.iter().find(|(s, l)| a == *s || a == *l) {
            if let Some((prev, _)) = &cmd {
                let combinable = matches!((prev.as_str(), *short), ("-L", "-Z") | ("-Z", "-L"));
                if !combinable {
                    return Err(perr(format!("Cannot use -{} with -{}", &short[1..], &prev[1..])));
                }
                i += 1;
                continue;
            }
            // Positional arguments of the command: chain and numbers that follow.
            let mut pos = vec![];
            let mut j = i + 1;
            while j < args.len() && !(args[j].starts_with('-') && args[j].len() > 1) && args[j] != "!" {
                pos.push(args[j].clone());
                j += 1;
                let max = match *short {
                    "-A" | "-C" | "-D" | "-N" => 1,
                    "-I" | "-R" | "-Z" | "-S" | "-P" | "-E" => 2,
                    _ => 1,
                };
                if pos.len() >= max {
                    break;
                }
            }
            // -I/-R/-D/-Z/-S: the second positional is only taken when it is a number.
            if matches!(*short, "-I" | "-R" | "-Z" | "-S") && pos.len() == 2 && !is_num(&pos[1]) {
                pos.pop();
                j -= 1;
            }
            cmd = Some((short.to_string(), pos));
            i = j;
            continue;
        }
        match a {
            "-t" | "--table" => {
                i += 1;
                table = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| perr("option \"-t\" requires an argument"))?;
            }
            "-n" | "--numeric" => format.numeric = true,
            "-v" | "--verbose" => format.verbose = true,
            "-x" | "--exact" => format.exact = true,
            "--line-numbers" => format.line_numbers = true,
            "-w" | "--wait" => {
                if args.get(i + 1).is_some_and(|x| is_num(x)) {
                    i += 1;
                }
            }
            "-W" | "--wait-interval" => i += 1,
            "-4" | "--ipv4" => {}
            _ => rest.push(args[i].clone()),
        }
        i += 1;
    }
    let Some((c, pos)) = cmd else {
        return Err(perr("no command specified"));
    };
    let chain = |k: usize| -> Result<String, XtError> {
        pos.get(k)
            .cloned()
            .ok_or_else(|| perr(format!("option \"{c}\" requires an argument")))
    };
    let rule = || RuleSpec::parse(&rest);
    let no_rest = |r: &Vec<String>| -> Result<(), XtError> {
        match r.first() {
            Some(x) => Err(perr(format!("Bad argument `{x}'"))),
            None => Ok(()),
        }
    };
    let cmd = match c.as_str() {
        "-A" => Cmd::Append(chain(0)?, rule()?),
        "-C" => Cmd::Check(chain(0)?, rule()?),
        "-D" => {
            if rest.len() == 1 && is_num(&rest[0]) {
                Cmd::DeleteNum(chain(0)?, rulenum(&rest[0], "deletion")?)
            } else {
                Cmd::Delete(chain(0)?, rule()?)
            }
        }
        "-I" => {
            let n = match pos.get(1) {
                Some(n) => rulenum(n, "insertion")?,
                None => 1,
            };
            Cmd::Insert(chain(0)?, n, rule()?)
        }
        "-R" => {
            let n = pos.get(1).ok_or_else(|| perr("-R requires a rule number"))?;
            Cmd::Replace(chain(0)?, rulenum(n, "replacement")?, rule()?)
        }
        "-L" => {
            if pos.len() == 1 && rest.len() == 1 && !is_num(&rest[0]) && !rest[0].starts_with('-') {
                return Err(perr(format!("Invalid rule number `{}'", rest[0])));
            }
            if let (Some(c), [n]) = (pos.first(), rest.as_slice()) {
                if is_num(n) {
                    return Ok(Invocation {
                        table,
                        cmd: Cmd::ListRule(c.clone(), rulenum(n, "list")?),
                        format,
                    });
                }
            }
            no_rest(&rest)?;
            Cmd::List(pos.first().cloned())
        }
        "-S" => {
            no_rest(&rest)?;
            Cmd::ListRules(pos.first().cloned(), pos.get(1).map(|n| n.parse().unwrap_or(0)))
        }
        "-F" => {
            no_rest(&rest)?;
            Cmd::Flush(pos.first().cloned())
        }
        "-Z" => {
            no_rest(&rest)?;
            Cmd::Zero(pos.first().cloned(), pos.get(1).map(|n| n.parse().unwrap_or(0)))
        }
        "-N" => {
            no_rest(&rest)?;
            let n = chain(0)?;
            check_new_chain_name(&n)?;
            Cmd::NewChain(n)
        }
        "-X" => {
            no_rest(&rest)?;
            Cmd::DeleteChain(pos.first().cloned())
        }
        "-P" => {
            no_rest(&rest)?;
            Cmd::Policy(
                chain(0)?,
                pos.get(1)
                    .cloned()
                    .ok_or_else(|| perr("-P requires a chain and a policy"))?,
            )
        }
        "-E" => {
            no_rest(&rest)?;
            let new = pos
                .get(1)
                .cloned()
                .ok_or_else(|| perr("-E requires old-chain-name and new-chain-name"))?;
            check_new_chain_name(&new)?;
            Cmd::Rename(chain(0)?, new)
        }
        _ => return Err(perr("no command specified")),
    };
    Ok(Invocation { table, cmd, format })
}

fn check_new_chain_name(n: &str) -> Result<(), XtError> {
    if n.len() >= 29 {
        return Err(perr(format!("chain name `{n}' too long (must be under 29 chars)")));
    }
    if n.starts_with('-') || n.starts_with('!') {
        return Err(perr(format!("chain name not allowed to start with `{}'", &n[..1])));
    }
    if is_extension_target(n) {
        return Err(perr("chain name may not clash with target name".to_string()));
    }
    Ok(())
}

fn no_chain() -> XtError {
    XtError::new(1, "No chain/target/match by that name.")
}

fn bad_rule() -> XtError {
    XtError::new(1, "Bad rule (does a matching rule exist in that chain?).")
}

/// Applies an invocation to the ruleset. On error the ruleset is unchanged.
pub fn run(rs: &mut XtRuleset, inv: &Invocation) -> Result<Outcome, XtError> {
    let mut work = rs.clone();
    let out = apply(&mut work, inv)?;
    if out.modified {
        *rs = work;
    }
    Ok(out)
}

fn check_jump(t: &crate::ruleset::XtTable, spec: &RuleSpec) -> Result<(), XtError> {
    if let Some(j) = spec.jump_chain() {
        if t.chain(j).is_none() {
            return Err(perr(format!("Chain '{j}' does not exist")));
        }
    }
    Ok(())
}

/// What the kernel refuses when the rule is added (exit 4, `RULE_APPEND failed`): a jump to
/// a built-in chain, REJECT --reject-with tcp-reset without -p tcp.
fn check_kernel(t: &crate::ruleset::XtTable, op: &str, chain: &str, spec: &RuleSpec) -> Result<(), XtError> {
    let fail = |why: &str| XtError::versioned(4, format!(" RULE_{op} failed ({why}): rule in chain {chain}"));
    if let Some(j) = spec.jump_chain() {
        if builtin_chains(&t.name).unwrap_or(&[]).contains(&j) && t.chain(chain).is_some() {
            return Err(fail("Operation not supported"));
        }
    }
    if let Some(tg) = &spec.target {
        let reset = tg.name == "REJECT"
            && tg
                .opt("reject-with")
                .is_some_and(|o| o.args.iter().any(|a| a == "tcp-reset"));
        if reset && spec.proto != Some((false, 6)) && t.chain(chain).is_some() {
            return Err(fail("Invalid argument"));
        }
    }
    Ok(())
}

/// `-L`/`-S` of a chain that does not exist: iptables-nft 1.8.9 reports the table as
/// incompatible rather than the chain as missing.
fn incompatible(chain: &str, table: &str) -> XtError {
    XtError::versioned(
        1,
        format!("chain `{chain}' in table `{table}' is incompatible, use 'nft' tool."),
    )
}

/// The kernel refusing to delete a chain that has rules or is jumped to (EBUSY).
fn chain_busy(chain: &str) -> XtError {
    XtError::versioned(4, format!(" CHAIN_DEL failed (Device or resource busy): chain {chain}"))
}

fn apply(rs: &mut XtRuleset, inv: &Invocation) -> Result<Outcome, XtError> {
    if builtin_chains(&inv.table).is_none() {
        return Err(XtError::versioned(
            3,
            format!(
                "table '{}' does not exist\nPerhaps iptables or your kernel needs to be upgraded.",
                inv.table
            ),
        ));
    }
    let nat_drop = |target: Option<&str>| -> Result<(), XtError> {
        if inv.table == "nat" && target == Some("DROP") {
            return Err(perr(
                "\nThe \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.\n\n",
            ));
        }
        Ok(())
    };
    match &inv.cmd {
        Cmd::Append(_, spec)
        | Cmd::Insert(_, _, spec)
        | Cmd::Replace(_, _, spec)
        | Cmd::Check(_, spec)
        | Cmd::Delete(_, spec) => nat_drop(spec.target.as_ref().map(|t| t.name.as_str()))?,
        Cmd::Policy(_, p) => nat_drop(Some(p))?,
        _ => {}
    }
    let t = rs.table_mut(&inv.table)?;
    let modified = |stdout: String| Ok(Outcome { stdout, modified: true });
    let none = || {
        Ok(Outcome {
            stdout: String::new(),
            modified: false,
        })
    };
    let get = |t: &mut crate::ruleset::XtTable, c: &str| -> Result<*mut XtChain, XtError> {
        t.chain_mut(c).map(|c| c as *mut XtChain).ok_or_else(no_chain)
    };
    let _ = get;
    match &inv.cmd {
        Cmd::Append(c, spec) => {
            check_jump(t, spec)?;
            check_kernel(t, "APPEND", c, spec)?;
            let ch = t.chain_mut(c).ok_or_else(no_chain)?;
            let counters = spec.counters.unwrap_or((0, 0));
            ch.rules.push(XtRule {
                spec: strip_counters(spec),
                counters,
            });
            modified(String::new())
        }
        Cmd::Insert(c, n, spec) => {
            check_jump(t, spec)?;
            check_kernel(t, "INSERT", c, spec)?;
            let ch = t.chain_mut(c).ok_or_else(no_chain)?;
            if *n > ch.rules.len() + 1 {
                return Err(XtError::new(1, "Index of insertion too big."));
            }
            let counters = spec.counters.unwrap_or((0, 0));
            ch.rules.insert(
                n - 1,
                XtRule {
                    spec: strip_counters(spec),
                    counters,
                },
            );
            modified(String::new())
        }
        Cmd::Replace(c, n, spec) => {
            check_jump(t, spec)?;
            check_kernel(t, "REPLACE", c, spec)?;
            let ch = t.chain_mut(c).ok_or_else(no_chain)?;
            if *n > ch.rules.len() {
                return Err(XtError::new(1, "Index of replacement too big."));
            }
            let counters = spec.counters.unwrap_or((0, 0));
            ch.rules[n - 1] = XtRule {
                spec: strip_counters(spec),
                counters,
            };
            modified(String::new())
        }
        Cmd::Check(c, spec) | Cmd::Delete(c, spec) => {
            check_jump(t, spec)?;
            let ch = t.chain_mut(c).ok_or_else(no_chain)?;
            let want = strip_counters(spec).save();
            let pos = ch
                .rules
                .iter()
                .position(|r| r.spec.save() == want)
                .ok_or_else(bad_rule)?;
            if matches!(inv.cmd, Cmd::Check(..)) {
                return none();
            }
            ch.rules.remove(pos);
            modified(String::new())
        }
        Cmd::DeleteNum(c, n) => {
            let ch = t.chain_mut(c).ok_or_else(no_chain)?;
            if *n > ch.rules.len() {
                return Err(XtError::new(1, "Index of deletion too big."));
            }
            ch.rules.remove(n - 1);
            modified(String::new())
        }
        Cmd::List(c) => {
            if let Some(c) = c {
                t.chain(c).ok_or_else(|| incompatible(c, &inv.table))?;
            }
            Ok(Outcome {
                stdout: t.list(c.as_deref(), inv.format),
                modified: false,
            })
        }
        Cmd::ListRule(c, n) => {
            let ch = t.chain(c).ok_or_else(|| incompatible(c, &inv.table))?;
            let stdout = match ch.rules.get(n - 1) {
                Some(r) => crate::ruleset::list_rule(*n, r, inv.format) + "\n",
                None => String::new(),
            };
            Ok(Outcome {
                stdout,
                modified: false,
            })
        }
        Cmd::ListRules(c, n) => {
            let Some(c) = c else {
                return Ok(Outcome {
                    stdout: t.list_rules(None, inv.format.verbose),
                    modified: false,
                });
            };
            let ch = t.chain(c).ok_or_else(|| incompatible(c, &inv.table))?;
            match n {
                None => Ok(Outcome {
                    stdout: t.list_rules(Some(c), inv.format.verbose),
                    modified: false,
                }),
                Some(0) => {
                    let line = match &ch.policy {
                        Some(p) => format!("-P {c} {p}\n"),
                        None => format!("-N {c}\n"),
                    };
                    Ok(Outcome {
                        stdout: line,
                        modified: false,
                    })
                }
                // A number past the end prints nothing and succeeds.
                Some(n) => match ch.rules.get(n - 1) {
                    Some(r) => {
                        let line = crate::ruleset::rule_line(c, r, inv.format.verbose);
                        Ok(Outcome {
                            stdout: line + "\n",
                            modified: false,
                        })
                    }
                    None => none(),
                },
            }
        }
        Cmd::Flush(c) => {
            match c {
                Some(c) => t.chain_mut(c).ok_or_else(no_chain)?.rules.clear(),
                None => t.chains.iter_mut().for_each(|c| c.rules.clear()),
            }
            modified(String::new())
        }
        Cmd::Zero(c, n) => {
            let zero = |ch: &mut XtChain| {
                ch.counters = (0, 0);
                ch.rules.iter_mut().for_each(|r| r.counters = (0, 0));
            };
            match (c, n) {
                (Some(c), Some(n)) => {
                    let ch = t.chain_mut(c).ok_or_else(no_chain)?;
                    let r = ch
                        .rules
                        .get_mut(n.saturating_sub(1))
                        .ok_or_else(|| XtError::new(1, "Index of deletion too big."))?;
                    r.counters = (0, 0);
                }
                (Some(c), None) => zero(t.chain_mut(c).ok_or_else(no_chain)?),
                _ => t.chains.iter_mut().for_each(zero),
            }
            modified(String::new())
        }
        Cmd::NewChain(c) => {
            if t.chain(c).is_some() {
                return Err(XtError::new(1, "Chain already exists."));
            }
            t.chains.push(XtChain {
                name: c.clone(),
                policy: None,
                counters: (0, 0),
                rules: vec![],
            });
            t.sort();
            modified(String::new())
        }
        Cmd::DeleteChain(c) => {
            match c {
                Some(c) => {
                    let ch = t.chain(c).ok_or_else(no_chain)?;
                    // iptables-nft leaves a built-in chain alone and succeeds.
                    if ch.policy.is_some() {
                        return none();
                    }
                    if t.references(c) > 0 || !ch.rules.is_empty() {
                        return Err(chain_busy(c));
                    }
                    t.chains.retain(|x| x.name != *c);
                }
                None => {
                    // One transaction deleting every user chain: the first chain with rules
                    // or references makes the kernel refuse all of it.
                    let names: Vec<String> = t
                        .chains
                        .iter()
                        .filter(|c| c.policy.is_none())
                        .map(|c| c.name.clone())
                        .collect();
                    for n in &names {
                        if t.references(n) > 0 || t.chain(n).is_some_and(|c| !c.rules.is_empty()) {
                            return Err(chain_busy(n));
                        }
                    }
                    t.chains.retain(|x| x.policy.is_some());
                }
            }
            modified(String::new())
        }
        Cmd::Policy(c, p) => {
            let ch = t
                .chain_mut(c)
                .ok_or_else(|| XtError::new(1, "Bad built-in chain name."))?;
            if ch.policy.is_none() {
                return Err(XtError::new(1, "Bad built-in chain name."));
            }
            if p != "ACCEPT" && p != "DROP" {
                return Err(XtError::new(1, "Bad policy name. Run `dmesg' for more information."));
            }
            ch.policy = Some(p.clone());
            modified(String::new())
        }
        Cmd::Rename(old, new) => {
            let ch = t.chain(old).ok_or_else(no_chain)?;
            // iptables-nft 1.8.9 renames the base chain in nf_tables and exits 0, after which
            // iptables can no longer list it ("# Table `filter' contains incompatible
            // base-chains, use 'nft' tool to list them." and an empty INPUT): nfwalk refuses
            // instead, leaving the ruleset as it was (docs/iptables-commands.md).
            if ch.policy.is_some() {
                return Err(XtError::new(
                    1,
                    format!("nfwalk refuses to rename built-in chain {old}: iptables-nft would leave table `{}' with an incompatible base chain that iptables cannot list", inv.table),
                ));
            }
            if t.chain(new).is_some() {
                return Err(XtError::new(1, "File exists."));
            }
            for c in &mut t.chains {
                if c.name == *old {
                    c.name = new.clone();
                }
                for r in &mut c.rules {
                    if let Some(tg) = r.spec.target.as_mut() {
                        if tg.name == *old {
                            tg.name = new.clone();
                        }
                    }
                }
            }
            t.sort();
            modified(String::new())
        }
    }
}

fn strip_counters(s: &RuleSpec) -> RuleSpec {
    RuleSpec {
        counters: None,
        ..s.clone()
    }
}
