//! Parsing one rule's words (`-p tcp --dport 22 -j ACCEPT`) into matches and a target, the
//! way iptables' getopt-based command line parser does.

use super::diag::Diagnostic;
use super::lexer::Word;
use super::values::*;
use nfwalk_model::ruleset::{
    AddrTypes, Cmp, CtStates, CtStatus, IfacePattern, Match, MatchKind, PortDir, RecentCmd, Statistic, Target, XMark,
};
use nfwalk_model::{Counters, Proto};

/// Option spec: name without `--`, and how many arguments it takes.
type Opt = (&'static str, u8);

/// The match modules nfwalk models, with their options.
fn match_opts(name: &str) -> Option<&'static [Opt]> {
    Some(match name {
        "tcp" => &[
            ("sport", 1),
            ("source-port", 1),
            ("dport", 1),
            ("destination-port", 1),
            ("tcp-flags", 2),
            ("syn", 0),
            ("tcp-option", 1),
        ],
        "udp" => &[("sport", 1), ("source-port", 1), ("dport", 1), ("destination-port", 1)],
        "sctp" => &[
            ("sport", 1),
            ("source-port", 1),
            ("dport", 1),
            ("destination-port", 1),
            ("chunk-types", 2),
        ],
        "icmp" => &[("icmp-type", 1)],
        "icmp6" => &[("icmpv6-type", 1)],
        "multiport" => &[
            ("sports", 1),
            ("source-ports", 1),
            ("dports", 1),
            ("destination-ports", 1),
            ("ports", 1),
        ],
        "conntrack" => &[
            ("ctstate", 1),
            ("ctproto", 1),
            ("ctorigsrc", 1),
            ("ctorigdst", 1),
            ("ctreplsrc", 1),
            ("ctrepldst", 1),
            ("ctorigsrcport", 1),
            ("ctorigdstport", 1),
            ("ctreplsrcport", 1),
            ("ctrepldstport", 1),
            ("ctstatus", 1),
            ("ctexpire", 1),
            ("ctdir", 1),
        ],
        "state" => &[("state", 1)],
        "addrtype" => &[
            ("src-type", 1),
            ("dst-type", 1),
            ("limit-iface-in", 0),
            ("limit-iface-out", 0),
        ],
        "mark" | "connmark" => &[("mark", 1)],
        "comment" => &[("comment", 1)],
        "iprange" => &[("src-range", 1), ("dst-range", 1)],
        "mac" => &[("mac-source", 1)],
        "physdev" => &[
            ("physdev-in", 1),
            ("physdev-out", 1),
            ("physdev-is-in", 0),
            ("physdev-is-out", 0),
            ("physdev-is-bridged", 0),
        ],
        "pkttype" => &[("pkt-type", 1)],
        "length" => &[("length", 1)],
        "ttl" => &[("ttl-eq", 1), ("ttl-lt", 1), ("ttl-gt", 1)],
        "hl" => &[("hl-eq", 1), ("hl-lt", 1), ("hl-gt", 1)],
        "tos" => &[("tos", 1)],
        "dscp" => &[("dscp", 1), ("dscp-class", 1)],
        "owner" => &[
            ("uid-owner", 1),
            ("gid-owner", 1),
            ("socket-exists", 0),
            ("suppl-groups", 0),
        ],
        "recent" => &[
            ("name", 1),
            ("set", 0),
            ("rcheck", 0),
            ("update", 0),
            ("remove", 0),
            ("rsource", 0),
            ("rdest", 0),
            ("seconds", 1),
            ("hitcount", 1),
            ("rttl", 0),
            ("reap", 0),
            ("mask", 1),
        ],
        "limit" => &[("limit", 1), ("limit-burst", 1)],
        "hashlimit" => &[
            ("hashlimit", 1),
            ("hashlimit-upto", 1),
            ("hashlimit-above", 1),
            ("hashlimit-burst", 1),
            ("hashlimit-mode", 1),
            ("hashlimit-name", 1),
            ("hashlimit-srcmask", 1),
            ("hashlimit-dstmask", 1),
            ("hashlimit-htable-size", 1),
            ("hashlimit-htable-max", 1),
            ("hashlimit-htable-expire", 1),
            ("hashlimit-htable-gcinterval", 1),
            ("hashlimit-rate-match", 0),
            ("hashlimit-rate-interval", 1),
        ],
        "statistic" => &[("mode", 1), ("probability", 1), ("every", 1), ("packet", 1)],
        "set" => &[
            ("match-set", 2),
            ("set", 2),
            ("return-nomatch", 0),
            ("update-counters", 0),
            ("update-subcounters", 0),
            ("packets-eq", 1),
            ("packets-lt", 1),
            ("packets-gt", 1),
            ("bytes-eq", 1),
            ("bytes-lt", 1),
            ("bytes-gt", 1),
        ],
        _ => return None,
    })
}

/// Every modelled module, for hints about which module an option belongs to.
const MODULES: &[&str] = &[
    "tcp",
    "udp",
    "sctp",
    "icmp",
    "icmp6",
    "multiport",
    "conntrack",
    "state",
    "addrtype",
    "mark",
    "connmark",
    "comment",
    "iprange",
    "mac",
    "physdev",
    "pkttype",
    "length",
    "ttl",
    "hl",
    "tos",
    "dscp",
    "owner",
    "recent",
    "limit",
    "hashlimit",
    "statistic",
    "set",
];

/// The targets nfwalk models, with their options.
fn target_opts(name: &str) -> Option<&'static [Opt]> {
    Some(match name {
        "ACCEPT" | "DROP" | "RETURN" | "NOTRACK" | "TRACE" => &[],
        "REJECT" => &[("reject-with", 1)],
        "LOG" => &[
            ("log-level", 1),
            ("log-prefix", 1),
            ("log-tcp-sequence", 0),
            ("log-tcp-options", 0),
            ("log-ip-options", 0),
            ("log-uid", 0),
            ("log-macdecode", 0),
        ],
        "NFLOG" => &[
            ("nflog-group", 1),
            ("nflog-prefix", 1),
            ("nflog-range", 1),
            ("nflog-size", 1),
            ("nflog-threshold", 1),
        ],
        "MARK" => &[
            ("set-xmark", 1),
            ("set-mark", 1),
            ("and-mark", 1),
            ("or-mark", 1),
            ("xor-mark", 1),
        ],
        "CONNMARK" => &[
            ("set-xmark", 1),
            ("set-mark", 1),
            ("and-mark", 1),
            ("or-mark", 1),
            ("xor-mark", 1),
            ("save-mark", 0),
            ("restore-mark", 0),
            ("nfmask", 1),
            ("ctmask", 1),
            ("mask", 1),
        ],
        "DNAT" => &[("to-destination", 1), ("random", 0), ("persistent", 0)],
        "SNAT" => &[("to-source", 1), ("random", 0), ("random-fully", 0), ("persistent", 0)],
        "MASQUERADE" => &[("to-ports", 1), ("random", 0), ("random-fully", 0)],
        "REDIRECT" => &[("to-ports", 1), ("random", 0)],
        "NETMAP" => &[("to", 1)],
        "CT" => &[
            ("notrack", 0),
            ("zone", 1),
            ("zone-orig", 1),
            ("zone-reply", 1),
            ("helper", 1),
            ("ctevents", 1),
            ("expevents", 1),
            ("timeout", 1),
        ],
        "TCPMSS" => &[("set-mss", 1), ("clamp-mss-to-pmtu", 0)],
        "CHECKSUM" => &[("checksum-fill", 0)],
        "CLASSIFY" => &[("set-class", 1)],
        "DSCP" => &[("set-dscp", 1), ("set-dscp-class", 1)],
        _ => return None,
    })
}

/// Targets iptables has that nfwalk does not model (anything else is taken as a chain).
const UNMODELLED_TARGETS: &[&str] = &[
    "AUDIT",
    "CLUSTERIP",
    "CONNSECMARK",
    "DNPT",
    "ECN",
    "HL",
    "HMARK",
    "IDLETIMER",
    "LED",
    "MIRROR",
    "NFQUEUE",
    "QUEUE",
    "RATEEST",
    "SAME",
    "SECMARK",
    "SET",
    "SNPT",
    "SYNPROXY",
    "TCPOPTSTRIP",
    "TEE",
    "TOS",
    "TPROXY",
    "TTL",
    "ULOG",
    "CONNTRACK",
    "IPMARK",
    "ROUTE",
    "TARPIT",
    "DELUDE",
    "CHAOS",
    "LOGMARK",
    "SYSRQ",
    "STEAL",
    "RAWDNAT",
    "RAWSNAT",
    "ACCOUNT",
    "DHCPMAC",
    "ECHO",
    "IPV4OPTSSTRIP",
    "TRACEROUTE",
    "XOR",
    "BALANCE",
    "FTOS",
    "IMQ",
    "JOOL",
    "JOOL_SIIT",
];

/// Basic long options: (name, canonical short form).
const BASIC_LONG: &[(&str, &str)] = &[
    ("source", "-s"),
    ("src", "-s"),
    ("destination", "-d"),
    ("dst", "-d"),
    ("in-interface", "-i"),
    ("out-interface", "-o"),
    ("protocol", "-p"),
    ("fragment", "-f"),
    ("jump", "-j"),
    ("goto", "-g"),
    ("match", "-m"),
    ("set-counters", "-c"),
    ("ipv4", "-4"),
    ("ipv6", "-6"),
];

const BASIC_SHORT: &[&str] = &["-s", "-d", "-i", "-o", "-p", "-f", "-j", "-g", "-m", "-c", "-4", "-6"];

/// Whether a word is a basic option exactly (ends an unknown module's options).
fn is_basic_exact(w: &str) -> bool {
    BASIC_SHORT.contains(&w)
        || w.strip_prefix("--")
            .is_some_and(|l| BASIC_LONG.iter().any(|(n, _)| *n == l))
}

/// One option as given: canonical name, arguments, negation, and the option word.
#[derive(Debug, Clone)]
struct OptUse {
    name: &'static str,
    args: Vec<Word>,
    negated: bool,
    word: Word,
}

impl OptUse {
    fn arg(&self, i: usize) -> &Word {
        // Arity is checked when collecting, so the argument exists; fall back to the option
        // word to never panic.
        self.args.get(i).unwrap_or(&self.word)
    }

    fn text(&self) -> String {
        let mut s = String::new();
        if self.negated {
            s.push_str("! ");
        }
        s.push_str(&self.word.text);
        for a in &self.args {
            s.push(' ');
            if a.text.is_empty() || a.text.contains(char::is_whitespace) {
                s.push_str(&format!("\"{}\"", a.text));
            } else {
                s.push_str(&a.text);
            }
        }
        s
    }
}

#[derive(Debug)]
enum InstKind {
    Basic(&'static str),
    Module(&'static [Opt]),
    Unknown,
}

#[derive(Debug)]
struct Inst {
    kind: InstKind,
    name: String,
    word: Word,
    implicit: bool,
    opts: Vec<OptUse>,
    raw: Vec<String>,
}

#[derive(Debug)]
struct TargetInst {
    name: String,
    word: Word,
    goto: bool,
    opts_spec: Option<&'static [Opt]>,
    unmodelled: bool,
    opts: Vec<OptUse>,
    raw: Vec<String>,
}

/// A parsed rule, with what the loader needs besides matches and target.
#[derive(Debug)]
pub(crate) struct ParsedRule {
    pub matches: Vec<Match>,
    pub target: Target,
    pub counters: Option<Counters>,
    /// Unknown modules/targets used: (kind "match"/"target", name, column).
    pub unknown: Vec<(&'static str, String, usize)>,
    /// Whether the target is a plain name that may be a chain (no spec, not unmodelled).
    pub target_word: Option<Word>,
    /// Options that followed a would-be chain name and no module took.
    pub target_had_opts: bool,
    /// Warnings about accepted but odd values.
    pub warnings: Vec<Diagnostic>,
}

struct Ctx<'a> {
    file: &'a str,
    line: usize,
    ipv6: bool,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn warn(&mut self, w: &Word, msg: impl Into<String>) {
        self.warnings
            .push(Diagnostic::warning(self.file, self.line, w.col, &w.text, msg));
    }

    fn err(&mut self, w: &Word, msg: impl Into<String>, hint: Option<String>) {
        self.errors
            .push(Diagnostic::error(self.file, self.line, w.col, &w.text, msg).with_opt_hint(hint));
    }
}

/// Parses one rule's words after the chain, as iptables would. See [`super::parse_rule_words`].
pub(crate) fn parse_rule(file: &str, line: usize, words: &[Word], ipv6: bool) -> Result<ParsedRule, Vec<Diagnostic>> {
    let mut cx = Ctx {
        file,
        line,
        ipv6,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut insts: Vec<Inst> = Vec::new();
    let mut target: Option<TargetInst> = None;
    let mut counters = None;
    let mut unknown = Vec::new();
    let mut neg: Option<Word> = None;
    let mut i = 0;
    // Index of an unknown module or target currently swallowing words.
    enum Swallow {
        None,
        Module(usize),
        Target,
    }
    let mut swallow = Swallow::None;

    // `-ptcp` style: split attached values of short options taking an argument.
    let mut split: Vec<Word> = Vec::with_capacity(words.len());
    for w in words {
        let t = &w.text;
        let b = t.as_bytes();
        if b.len() > 2 && b[0] == b'-' && b"sdiopjgm".contains(&b[1]) && b[1] != b'-' {
            split.push(Word {
                text: t[..2].to_string(),
                col: w.col,
            });
            split.push(Word {
                text: t[2..].to_string(),
                col: w.col + 2,
            });
        } else {
            split.push(w.clone());
        }
    }
    let words = &split[..];
    while i < words.len() {
        let w = &words[i];
        let next_is_basic = w.text == "!" && words.get(i + 1).is_some_and(|n| is_basic_exact(&n.text));
        if !matches!(swallow, Swallow::None) && !is_basic_exact(&w.text) && !next_is_basic {
            match swallow {
                Swallow::Module(k) => insts[k].raw.push(w.text.clone()),
                Swallow::Target => {
                    if let Some(t) = target.as_mut() {
                        t.raw.push(w.text.clone())
                    }
                }
                Swallow::None => {}
            }
            i += 1;
            continue;
        }
        swallow = Swallow::None;
        if w.text == "!" {
            if neg.is_some() {
                cx.err(w, "double negation is not allowed", None);
            }
            neg = Some(w.clone());
            i += 1;
            continue;
        }
        if !w.text.starts_with('-') || w.text == "-" || w.text == "--" {
            cx.err(
                w,
                "unexpected argument",
                Some("every value must follow an option such as -s or --dport".into()),
            );
            i += 1;
            continue;
        }
        // Resolve the option.
        let (optname, inline_arg) = match w.text.strip_prefix("--") {
            Some(l) => match l.split_once('=') {
                Some((n, a)) => (format!("--{n}"), Some(a.to_string())),
                None => (w.text.clone(), None),
            },
            None => (w.text.clone(), None),
        };
        let res = resolve(&optname, &insts, target.as_ref(), &mut cx, w);
        let inline_word = inline_arg.as_ref().map(|a| Word {
            text: a.clone(),
            col: w.col + optname.chars().count() + 1,
        });
        let res = match res {
            Resolved::NotFound => {
                // Implicit protocol module (iptables loads `-p tcp`'s module on demand).
                let proto_mod = proto_module(&insts, ipv6);
                let loaded = proto_mod.as_ref().is_some_and(|m| {
                    insts
                        .iter()
                        .any(|x| &x.name == m && matches!(x.kind, InstKind::Module(_)))
                });
                match proto_mod {
                    Some(m) if !loaded => {
                        let opts = match_opts(&m).unwrap_or(&[]);
                        insts.push(Inst {
                            kind: InstKind::Module(opts),
                            name: m,
                            word: w.clone(),
                            implicit: true,
                            opts: Vec::new(),
                            raw: Vec::new(),
                        });
                        resolve(&optname, &insts, target.as_ref(), &mut cx, w)
                    }
                    _ => Resolved::NotFound,
                }
            }
            r => r,
        };
        match res {
            Resolved::Ambiguous => {
                neg = None;
                i += 1;
                skip_args(words, &mut i);
            }
            Resolved::NotFound => {
                if let Some(t) = target.as_mut().filter(|t| t.opts_spec.is_none()) {
                    // Options of a target nfwalk does not know (or a chain given options).
                    t.raw.push(w.text.clone());
                    swallow = Swallow::Target;
                    neg = None;
                    i += 1;
                    continue;
                }
                let hint = unknown_option_hint(&optname, &insts, target.as_ref());
                let owner = match target.as_ref() {
                    Some(t) if t.opts_spec.is_some() => format!("target {}", t.name),
                    _ => match insts.iter().rev().find(|x| matches!(x.kind, InstKind::Module(_))) {
                        Some(m) => format!("module {}", m.name),
                        None => "iptables".to_string(),
                    },
                };
                cx.err(w, format!("unknown option for {owner}"), hint);
                neg = None;
                i += 1;
                skip_args(words, &mut i);
            }
            Resolved::Basic(short) => {
                i += 1;
                match short {
                    "-m" => {
                        if let Some(n) = neg.take() {
                            cx.err(
                                &n,
                                "`!` cannot negate -m",
                                Some("put `!` before an option of the module".into()),
                            );
                        }
                        let Some(name) = inline_word.clone().or_else(|| {
                            i += 1;
                            words.get(i - 1).cloned()
                        }) else {
                            cx.err(w, "option -m requires a module name", None);
                            break;
                        };
                        let name = &name;
                        let lname = name.text.to_ascii_lowercase();
                        let lname = match lname.as_str() {
                            "icmpv6" | "ipv6-icmp" => "icmp6".to_string(),
                            _ => lname,
                        };
                        match match_opts(&lname) {
                            Some(opts) => insts.push(Inst {
                                kind: InstKind::Module(opts),
                                name: lname,
                                word: name.clone(),
                                implicit: false,
                                opts: Vec::new(),
                                raw: Vec::new(),
                            }),
                            None => {
                                unknown.push(("match", name.text.clone(), name.col));
                                insts.push(Inst {
                                    kind: InstKind::Unknown,
                                    name: name.text.clone(),
                                    word: name.clone(),
                                    implicit: false,
                                    opts: Vec::new(),
                                    raw: Vec::new(),
                                });
                                swallow = Swallow::Module(insts.len() - 1);
                            }
                        }
                    }
                    "-j" | "-g" => {
                        if let Some(n) = neg.take() {
                            cx.err(&n, format!("`!` cannot negate {short}"), None);
                        }
                        let Some(name) = inline_word.clone().or_else(|| {
                            i += 1;
                            words.get(i - 1).cloned()
                        }) else {
                            cx.err(w, format!("option {short} requires a target"), None);
                            break;
                        };
                        let name = &name;
                        if let Some(t) = &target {
                            cx.err(
                                w,
                                "more than one target",
                                Some(format!(
                                    "this rule already has {} {}",
                                    if t.goto { "-g" } else { "-j" },
                                    t.name
                                )),
                            );
                            continue;
                        }
                        let goto = short == "-g";
                        let spec = if goto { None } else { target_opts(&name.text) };
                        let unmodelled = !goto && UNMODELLED_TARGETS.contains(&name.text.as_str());
                        if unmodelled {
                            unknown.push(("target", name.text.clone(), name.col));
                            swallow = Swallow::Target;
                        }
                        target = Some(TargetInst {
                            name: name.text.clone(),
                            word: name.clone(),
                            goto,
                            opts_spec: spec,
                            unmodelled,
                            opts: Vec::new(),
                            raw: Vec::new(),
                        });
                    }
                    "-c" => {
                        let a = words.get(i);
                        match a {
                            Some(a) if a.text.contains(',') => {
                                i += 1;
                                let (p, b) = a.text.split_once(',').unwrap_or(("", ""));
                                match (parse_u64(p), parse_u64(b)) {
                                    (Some(p), Some(b)) => counters = Some(Counters { packets: p, bytes: b }),
                                    _ => cx.err(a, "bad counters", Some("use -c PACKETS BYTES".into())),
                                }
                            }
                            Some(a) => {
                                let b = words.get(i + 1);
                                i += 2;
                                match (parse_u64(&a.text), b.and_then(|b| parse_u64(&b.text))) {
                                    (Some(p), Some(b)) => counters = Some(Counters { packets: p, bytes: b }),
                                    _ => cx.err(a, "bad counters", Some("use -c PACKETS BYTES".into())),
                                }
                            }
                            None => cx.err(w, "option -c requires packet and byte counts", None),
                        }
                        neg = None;
                    }
                    "-4" | "-6" => {
                        neg = None;
                    }
                    "-f" => {
                        insts.push(Inst {
                            kind: InstKind::Basic("-f"),
                            name: String::new(),
                            word: w.clone(),
                            implicit: false,
                            opts: vec![OptUse {
                                name: "f",
                                args: vec![],
                                negated: neg.take().is_some(),
                                word: w.clone(),
                            }],
                            raw: Vec::new(),
                        });
                    }
                    _ => {
                        // -s -d -i -o -p: one argument, old-style `-s ! addr` allowed.
                        let mut negated = neg.take().is_some();
                        let mut arg = inline_arg.map(|a| Word { text: a, col: w.col });
                        if arg.is_none() {
                            if is_inner_neg(words, i) {
                                negated = true;
                                i += 1;
                            }
                            arg = words.get(i).cloned();
                            i += 1;
                        }
                        let Some(arg) = arg else {
                            cx.err(w, format!("option {} requires an argument", w.text), None);
                            break;
                        };
                        let name: &'static str = match short {
                            "-s" => "s",
                            "-d" => "d",
                            "-i" => "i",
                            "-o" => "o",
                            _ => "p",
                        };
                        insts.push(Inst {
                            kind: InstKind::Basic(short),
                            name: String::new(),
                            word: w.clone(),
                            implicit: false,
                            opts: vec![OptUse {
                                name,
                                args: vec![arg],
                                negated,
                                word: w.clone(),
                            }],
                            raw: Vec::new(),
                        });
                    }
                }
            }
            Resolved::Module(k, name, nargs) => {
                i += 1;
                let mut negated = neg.take().is_some();
                let mut args = Vec::new();
                if nargs > 0 {
                    if let Some(a) = inline_arg {
                        args.push(Word { text: a, col: w.col });
                    } else if is_inner_neg(words, i) {
                        negated = true;
                        i += 1;
                    }
                    while args.len() < nargs as usize {
                        match words.get(i) {
                            Some(a) => {
                                args.push(a.clone());
                                i += 1;
                            }
                            None => break,
                        }
                    }
                    if args.len() < nargs as usize {
                        cx.err(
                            w,
                            format!(
                                "option --{name} requires {} argument{}",
                                nargs,
                                if nargs > 1 { "s" } else { "" }
                            ),
                            None,
                        );
                        break;
                    }
                }
                let u = OptUse {
                    name,
                    args,
                    negated,
                    word: w.clone(),
                };
                match k {
                    Some(k) => insts[k].opts.push(u),
                    None => {
                        if let Some(t) = target.as_mut() {
                            t.opts.push(u)
                        }
                    }
                }
            }
        }
    }
    if let Some(n) = neg {
        cx.err(&n, "`!` at the end of the rule negates nothing", None);
    }

    // Build phase.
    let proto = insts.iter().find_map(|x| match x.kind {
        InstKind::Basic("-p") => x
            .opts
            .first()
            .map(|o| (parse_proto(&o.arg(0).text).ok().flatten(), o.negated)),
        _ => None,
    });
    let mut matches = Vec::new();
    for inst in &insts {
        build_match(&mut cx, inst, proto, &mut matches);
    }
    let mut target_word = None;
    let mut target_had_opts = false;
    let target = match target {
        None => Target::None,
        Some(t) => {
            if t.goto {
                if !t.raw.is_empty() {
                    cx.err(&t.word, "options after -g CHAIN that no module takes", None);
                }
                Target::Goto { chain: t.name.clone() }
            } else if t.unmodelled {
                Target::Unknown {
                    name: t.name.clone(),
                    reason: format!("target {} is not modelled by nfwalk", t.name),
                }
            } else if t.opts_spec.is_some() {
                build_target(&mut cx, &t, proto)
            } else {
                target_word = Some(t.word.clone());
                target_had_opts = !t.raw.is_empty();
                if target_had_opts {
                    Target::Unknown {
                        name: t.name.clone(),
                        reason: format!("target {} is not known to nfwalk", t.name),
                    }
                } else {
                    Target::Jump { chain: t.name.clone() }
                }
            }
        }
    };
    if cx.errors.is_empty() {
        Ok(ParsedRule {
            matches,
            target,
            counters,
            unknown,
            target_word,
            target_had_opts,
            warnings: cx.warnings,
        })
    } else {
        Err(cx.errors)
    }
}

/// An inverted `A:B` range with A > B, as old kernels stored it.
fn inverted_range(s: &str) -> Option<nfwalk_model::ruleset::PortRange> {
    let (a, b) = s.split_once(':')?;
    let (lo, hi) = (parse_port(a).ok()?, parse_port(b).ok()?);
    (lo > hi).then_some(nfwalk_model::ruleset::PortRange { lo, hi })
}

/// Old-style `--opt ! value` negation: a `!` followed by a value (not by another option).
fn is_inner_neg(words: &[Word], i: usize) -> bool {
    words.get(i).is_some_and(|a| a.text == "!")
        && words.get(i + 1).is_some_and(|v| {
            !v.text.starts_with('-')
                || v.text.len() == 1
                || v.text.as_bytes().get(1).is_some_and(|b| b.is_ascii_digit())
        })
}

/// Why a value that is not an address may still be kept: anonymised dumps and host names.
fn placeholder(s: &str) -> Option<String> {
    let a = s.split('/').next().unwrap_or(s);
    if a.contains('<')
        || a.contains('>')
        || (a.contains(['X', 'x']) && a.chars().all(|c| "Xx:.-0123456789".contains(c)))
    {
        return Some("anonymised placeholder instead of a value".to_string());
    }
    if a.chars().any(|c| c.is_ascii_alphabetic())
        && a.contains('.')
        && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        || a == "localhost"
    {
        return Some(format!("`{a}` is a host name; nfwalk cannot resolve names offline"));
    }
    None
}

/// After an unresolvable option, skip the words that look like its arguments.
fn skip_args(words: &[Word], i: &mut usize) {
    while *i < words.len() && !words[*i].text.starts_with('-') && words[*i].text != "!" {
        *i += 1;
    }
}

enum Resolved {
    Basic(&'static str),
    /// Module instance index (None = target), canonical name, nargs.
    Module(Option<usize>, &'static str, u8),
    NotFound,
    Ambiguous,
}

fn resolve(opt: &str, insts: &[Inst], target: Option<&TargetInst>, cx: &mut Ctx, w: &Word) -> Resolved {
    if BASIC_SHORT.contains(&opt) {
        return Resolved::Basic(BASIC_SHORT.iter().find(|s| **s == opt).copied().unwrap_or("-s"));
    }
    let Some(long) = opt.strip_prefix("--") else {
        return Resolved::NotFound;
    };
    if long.is_empty() {
        return Resolved::NotFound;
    }
    // Candidates in getopt order: target options, then modules newest first, then basic.
    let mut cands: Vec<(Option<usize>, &'static str, u8, Option<&'static str>)> = Vec::new();
    if let Some(spec) = target.and_then(|t| t.opts_spec) {
        for (n, a) in spec {
            cands.push((None, n, *a, None));
        }
    }
    for (k, inst) in insts.iter().enumerate().rev() {
        if let InstKind::Module(spec) = inst.kind {
            for (n, a) in spec {
                cands.push((Some(k), n, *a, None));
            }
        }
    }
    for (n, s) in BASIC_LONG {
        cands.push((None, n, 0, Some(s)));
    }
    let pick = |c: &(Option<usize>, &'static str, u8, Option<&'static str>)| match c.3 {
        Some(s) => Resolved::Basic(s),
        None => Resolved::Module(c.0, c.1, c.2),
    };
    if let Some(c) = cands.iter().find(|c| c.1 == long) {
        return pick(c);
    }
    let pre: Vec<_> = cands.iter().filter(|c| c.1.starts_with(long)).collect();
    match pre.len() {
        0 => Resolved::NotFound,
        1 => pick(pre[0]),
        _ => {
            // Identical options (e.g. --src/--source both -s) are not ambiguous.
            if pre.iter().all(|c| c.3.is_some() && c.3 == pre[0].3) {
                return pick(pre[0]);
            }
            let mut names: Vec<String> = pre.iter().map(|c| format!("--{}", c.1)).collect();
            names.dedup();
            cx.err(
                w,
                "ambiguous option abbreviation",
                Some(format!("it could be {}", names.join(", "))),
            );
            Resolved::Ambiguous
        }
    }
}

/// The module `-p` implies (`tcp`, `udp`, `sctp`, `icmp`, `icmp6`), if any.
fn proto_module(insts: &[Inst], ipv6: bool) -> Option<String> {
    let p = insts.iter().find_map(|x| match x.kind {
        InstKind::Basic("-p") => x.opts.first().map(|o| o.arg(0).text.to_ascii_lowercase()),
        _ => None,
    })?;
    let m = match p.as_str() {
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "sctp" | "132" => "sctp",
        "icmp" | "1" if !ipv6 => "icmp",
        "icmpv6" | "ipv6-icmp" | "icmp6" | "58" => "icmp6",
        _ => return None,
    };
    Some(m.to_string())
}

fn unknown_option_hint(opt: &str, insts: &[Inst], target: Option<&TargetInst>) -> Option<String> {
    let long = opt.trim_start_matches('-');
    let mut cands: Vec<&str> = Vec::new();
    for inst in insts {
        if let InstKind::Module(spec) = inst.kind {
            cands.extend(spec.iter().map(|(n, _)| *n));
        }
    }
    if let Some(spec) = target.and_then(|t| t.opts_spec) {
        cands.extend(spec.iter().map(|(n, _)| *n));
    }
    if let Some(c) = closest(long, cands.iter().copied()) {
        return Some(format!("did you mean --{c}?"));
    }
    // Which module would provide this option?
    let owners: Vec<&str> = MODULES
        .iter()
        .filter(|m| match_opts(m).is_some_and(|o| o.iter().any(|(n, _)| *n == long)))
        .copied()
        .collect();
    if !owners.is_empty() {
        let first = owners[0];
        return Some(if matches!(first, "tcp" | "udp" | "sctp") {
            format!(
                "--{long} belongs to module {}; add `-p {first}` (or `-m {first}`) before it",
                owners.join("/")
            )
        } else {
            format!(
                "--{long} belongs to module {}; add `-m {first}` before it",
                owners.join("/")
            )
        });
    }
    let mut all: Vec<&str> = MODULES
        .iter()
        .filter_map(|m| match_opts(m))
        .flat_map(|o| o.iter().map(|(n, _)| *n))
        .collect();
    all.extend(BASIC_LONG.iter().map(|(n, _)| *n));
    closest(long, all).map(|c| format!("did you mean --{c}? (it may need its module loaded with -m)"))
}

fn mk(module: &str, negated: bool, kind: MatchKind, text: String) -> Match {
    Match {
        negated,
        module: module.to_string(),
        kind,
        text,
    }
}

fn unknown_kind(module: &str, what: &str) -> MatchKind {
    MatchKind::Unknown {
        reason: format!("{what} of match module '{module}' is not modelled"),
    }
}

fn build_match(cx: &mut Ctx, inst: &Inst, proto: Option<(Option<Proto>, bool)>, out: &mut Vec<Match>) {
    let ipv6 = cx.ipv6;
    match inst.kind {
        InstKind::Unknown => {
            let mut text = format!("-m {}", inst.name);
            for r in &inst.raw {
                text.push(' ');
                text.push_str(r);
            }
            out.push(mk(
                &inst.name,
                false,
                MatchKind::Unknown {
                    reason: format!("match module '{}' is not modelled", inst.name),
                },
                text,
            ));
        }
        InstKind::Basic(short) => {
            let Some(o) = inst.opts.first() else { return };
            let a = o.arg(0);
            let kind = match short {
                "-s" | "-d" => match parse_net(&a.text, ipv6) {
                    Ok(net) => {
                        if short == "-s" {
                            MatchKind::Src { net }
                        } else {
                            MatchKind::Dst { net }
                        }
                    }
                    Err(e) if e.starts_with(NONCONTIGUOUS) => {
                        cx.warn(a, format!("{e}; the match is kept as unknown"));
                        MatchKind::Unknown { reason: e }
                    }
                    Err(_) if placeholder(&a.text).is_some() && !a.text.contains(',') => {
                        let reason = placeholder(&a.text).unwrap_or_default();
                        cx.warn(a, format!("{reason}; the match is kept as unknown"));
                        MatchKind::Unknown { reason }
                    }
                    Err(e) => {
                        let hint = if a.text.contains(',') {
                            Some("iptables expands an address list into one rule per address, so a save never holds one; write one rule per address".to_string())
                        } else {
                            None
                        };
                        cx.err(a, e, hint);
                        return;
                    }
                },
                "-i" | "-o" => {
                    if let Err(e) = check_iface(&a.text) {
                        cx.err(a, e, None);
                        return;
                    }
                    let iface = IfacePattern(a.text.clone());
                    if short == "-i" {
                        MatchKind::InIface { iface }
                    } else {
                        MatchKind::OutIface { iface }
                    }
                }
                "-p" => match parse_proto(&a.text) {
                    Ok(proto) => {
                        if o.negated && proto.is_none() {
                            cx.err(a, "`! -p all` would match nothing", None);
                            return;
                        }
                        MatchKind::Proto { proto }
                    }
                    Err(e) => {
                        cx.err(
                            a,
                            e,
                            did_you_mean(
                                &a.text,
                                ["tcp", "udp", "icmp", "sctp", "all", "gre", "esp", "ah", "ipv6-icmp"],
                            ),
                        );
                        return;
                    }
                },
                "-f" => MatchKind::Fragment,
                _ => return,
            };
            out.push(mk("", o.negated, kind, o.text()));
        }
        InstKind::Module(_) => build_module(cx, inst, proto, out),
    }
}

fn needs_proto(cx: &mut Ctx, inst: &Inst, proto: Option<(Option<Proto>, bool)>, allowed: &[u8]) -> bool {
    let ok = matches!(proto, Some((Some(p), false)) if allowed.contains(&p.0));
    if !ok {
        let names: Vec<String> = allowed.iter().map(|p| Proto(*p).name()).collect();
        cx.err(
            &inst.word,
            format!("module {} needs a matching protocol", inst.name),
            Some(format!("add `-p {}` to the rule", names.join("` or `-p "))),
        );
    }
    ok
}

fn build_module(cx: &mut Ctx, inst: &Inst, proto: Option<(Option<Proto>, bool)>, out: &mut Vec<Match>) {
    let m = inst.name.as_str();
    let ipv6 = cx.ipv6;
    let start = out.len();
    macro_rules! bad {
        ($w:expr, $e:expr) => {{
            cx.err($w, $e, None);
            continue;
        }};
    }
    match m {
        "tcp" | "udp" | "sctp" => {
            let p = match m {
                "tcp" => 6,
                "udp" => 17,
                _ => 132,
            };
            needs_proto(cx, inst, proto, &[p]);
            for o in &inst.opts {
                let a = o.arg(0);
                let kind = match o.name {
                    "sport" | "source-port" | "dport" | "destination-port" => {
                        match parse_port_range(&a.text).or_else(|e| inverted_range(&a.text).ok_or(e)) {
                            Ok(range) => {
                                if range.lo > range.hi {
                                    cx.warn(a, "inverted port range matches no port (iptables-save printed it, newer iptables rejects it)");
                                }
                                if o.name.starts_with('s') {
                                    MatchKind::SrcPort { range }
                                } else {
                                    MatchKind::DstPort { range }
                                }
                            }
                            Err(e) => bad!(a, e),
                        }
                    }
                    "tcp-flags" => {
                        let (Some(mask), Some(comp)) = (
                            nfwalk_model::TcpFlags::parse_list(&a.text),
                            nfwalk_model::TcpFlags::parse_list(&o.arg(1).text),
                        ) else {
                            cx.err(
                                a,
                                "bad TCP flags",
                                Some(
                                    "flags are FIN,SYN,RST,PSH,ACK,URG,ALL,NONE, e.g. `--tcp-flags SYN,ACK SYN`".into(),
                                ),
                            );
                            continue;
                        };
                        MatchKind::TcpFlags { mask, comp }
                    }
                    "syn" => MatchKind::TcpFlags { mask: 0x17, comp: 0x02 },
                    "tcp-option" => match parse_uint(&a.text, 255) {
                        Ok(v) => MatchKind::TcpOption { option: v as u8 },
                        Err(e) => bad!(a, e),
                    },
                    _ => unknown_kind(m, &format!("--{}", o.name)),
                };
                out.push(mk(m, o.negated, kind, o.text()));
            }
        }
        "icmp" | "icmp6" => {
            let v6 = m == "icmp6";
            needs_proto(cx, inst, proto, &[if v6 { 58 } else { 1 }]);
            for o in &inst.opts {
                let a = o.arg(0);
                match parse_icmp_type(&a.text, v6) {
                    Ok((t, c)) => out.push(mk(
                        m,
                        o.negated,
                        MatchKind::IcmpType { icmp_type: t, code: c },
                        o.text(),
                    )),
                    Err(e) => cx.err(a, e, did_you_mean(&a.text, icmp_names(v6))),
                }
            }
        }
        "multiport" => {
            needs_proto(cx, inst, proto, &[6, 17, 132, 33, 136]);
            for o in &inst.opts {
                let a = o.arg(0);
                let dir = match o.name {
                    "sports" | "source-ports" => PortDir::Src,
                    "dports" | "destination-ports" => PortDir::Dst,
                    _ => PortDir::Either,
                };
                match parse_port_list(&a.text) {
                    Ok(ports) => out.push(mk(m, o.negated, MatchKind::Multiport { dir, ports }, o.text())),
                    Err(e) => cx.err(a, e, None),
                }
            }
        }
        "conntrack" | "state" => {
            for o in &inst.opts {
                let a = o.arg(0);
                let kind = match o.name {
                    "ctstate" | "state" => match CtStates::parse(&a.text) {
                        Some(states) if m == "state" && states.0 & (CtStates::SNAT | CtStates::DNAT) != 0 => {
                            bad!(
                                a,
                                "the state module does not know SNAT/DNAT (use -m conntrack --ctstate)"
                            )
                        }
                        Some(states) => MatchKind::CtState { states },
                        None => {
                            let bad_part = a
                                .text
                                .split(',')
                                .find(|p| CtStates::parse(p).is_none())
                                .unwrap_or(&a.text);
                            cx.err(
                                a,
                                format!("`{bad_part}` is not a conntrack state"),
                                did_you_mean(
                                    &bad_part.to_ascii_uppercase(),
                                    ["INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", "SNAT", "DNAT"],
                                ),
                            );
                            continue;
                        }
                    },
                    "ctproto" => match parse_proto(&a.text) {
                        Ok(Some(proto)) => MatchKind::CtProto { proto },
                        Ok(None) => MatchKind::Unknown {
                            reason: "--ctproto all".into(),
                        },
                        Err(e) => bad!(a, e),
                    },
                    "ctorigsrc" | "ctorigdst" | "ctreplsrc" | "ctrepldst" => match parse_net(&a.text, ipv6) {
                        Ok(net) => match o.name {
                            "ctorigsrc" => MatchKind::CtOrigSrc { net },
                            "ctorigdst" => MatchKind::CtOrigDst { net },
                            "ctreplsrc" => MatchKind::CtReplSrc { net },
                            _ => MatchKind::CtReplDst { net },
                        },
                        Err(e) => bad!(a, e),
                    },
                    "ctorigsrcport" | "ctorigdstport" | "ctreplsrcport" | "ctrepldstport" => {
                        match parse_port_range(&a.text) {
                            Ok(range) => match o.name {
                                "ctorigsrcport" => MatchKind::CtOrigSrcPort { range },
                                "ctorigdstport" => MatchKind::CtOrigDstPort { range },
                                "ctreplsrcport" => MatchKind::CtReplSrcPort { range },
                                _ => MatchKind::CtReplDstPort { range },
                            },
                            Err(e) => bad!(a, e),
                        }
                    }
                    "ctdir" => match a.text.to_ascii_uppercase().as_str() {
                        "ORIGINAL" => MatchKind::CtDir { reply: false },
                        "REPLY" => MatchKind::CtDir { reply: true },
                        _ => {
                            cx.err(a, "--ctdir takes ORIGINAL or REPLY", None);
                            continue;
                        }
                    },
                    "ctstatus" => match CtStatus::parse(&a.text) {
                        Some(status) => MatchKind::CtStatus { status },
                        None => bad!(
                            a,
                            format!(
                                "`{}` is not a conntrack status list (NONE, EXPECTED, SEEN_REPLY, ASSURED, CONFIRMED)",
                                a.text
                            )
                        ),
                    },
                    "ctexpire" => match parse_num_range(&a.text, ':', u32::MAX as u64) {
                        Ok(_) => unknown_kind(m, "--ctexpire"),
                        Err(e) => bad!(a, e),
                    },
                    _ => unknown_kind(m, &format!("--{}", o.name)),
                };
                out.push(mk(m, o.negated, kind, o.text()));
            }
        }
        "addrtype" => {
            let limit_in = inst.opts.iter().any(|o| o.name == "limit-iface-in");
            let limit_out = inst.opts.iter().any(|o| o.name == "limit-iface-out");
            if limit_in && limit_out {
                cx.err(&inst.word, "--limit-iface-in and --limit-iface-out are exclusive", None);
            }
            for o in &inst.opts {
                if !matches!(o.name, "src-type" | "dst-type") {
                    continue;
                }
                let a = o.arg(0);
                let Some(types) = AddrTypes::parse(&a.text) else {
                    let part = a
                        .text
                        .split(',')
                        .find(|p| AddrTypes::parse(p).is_none())
                        .unwrap_or(&a.text);
                    cx.err(
                        a,
                        format!("`{part}` is not an address type"),
                        did_you_mean(&part.to_ascii_uppercase(), AddrTypes::NAMES),
                    );
                    continue;
                };
                let kind = if o.name == "src-type" {
                    MatchKind::AddrTypeSrc {
                        types,
                        limit_in,
                        limit_out,
                    }
                } else {
                    MatchKind::AddrTypeDst {
                        types,
                        limit_in,
                        limit_out,
                    }
                };
                out.push(mk(m, o.negated, kind, o.text()));
            }
        }
        "mark" | "connmark" => {
            for o in &inst.opts {
                let a = o.arg(0);
                match parse_mark(&a.text) {
                    Ok((value, mask)) => {
                        let kind = if m == "mark" {
                            MatchKind::Mark { value, mask }
                        } else {
                            MatchKind::ConnMark { value, mask }
                        };
                        out.push(mk(m, o.negated, kind, o.text()));
                    }
                    Err(e) => cx.err(a, e, None),
                }
            }
        }
        "comment" => {
            for o in &inst.opts {
                let a = o.arg(0);
                if a.text.len() > 255 {
                    cx.err(a, "comment is longer than 255 characters", None);
                    continue;
                }
                out.push(mk(
                    m,
                    false,
                    MatchKind::Comment {
                        comment: a.text.clone(),
                    },
                    o.text(),
                ));
            }
        }
        "iprange" => {
            for o in &inst.opts {
                let a = o.arg(0);
                match parse_addr_range(&a.text, ipv6) {
                    Ok((lo, hi)) => {
                        let kind = if o.name == "src-range" {
                            MatchKind::SrcRange { lo, hi }
                        } else {
                            MatchKind::DstRange { lo, hi }
                        };
                        out.push(mk(m, o.negated, kind, o.text()));
                    }
                    Err(e) => cx.err(a, e, None),
                }
            }
        }
        "mac" => {
            for o in &inst.opts {
                let a = o.arg(0);
                match parse_mac_addr(&a.text) {
                    Ok(mac) => out.push(mk(m, o.negated, MatchKind::MacSource { mac }, o.text())),
                    Err(_) if placeholder(&a.text).is_some() => {
                        let reason = placeholder(&a.text).unwrap_or_default();
                        cx.warn(a, format!("{reason}; the match is kept as unknown"));
                        out.push(mk(m, o.negated, MatchKind::Unknown { reason }, o.text()));
                    }
                    Err(e) => cx.err(a, e, None),
                }
            }
        }
        "physdev" => {
            for o in &inst.opts {
                let kind = match o.name {
                    "physdev-in" | "physdev-out" => {
                        let a = o.arg(0);
                        if let Err(e) = check_iface(&a.text) {
                            bad!(a, e);
                        }
                        let iface = IfacePattern(a.text.clone());
                        if o.name == "physdev-in" {
                            MatchKind::PhysdevIn { iface }
                        } else {
                            MatchKind::PhysdevOut { iface }
                        }
                    }
                    "physdev-is-in" => MatchKind::PhysdevIsIn,
                    "physdev-is-out" => MatchKind::PhysdevIsOut,
                    _ => MatchKind::PhysdevIsBridged,
                };
                out.push(mk(m, o.negated, kind, o.text()));
            }
        }
        "pkttype" => {
            for o in &inst.opts {
                let a = o.arg(0);
                let t = a.text.to_ascii_lowercase();
                if !matches!(t.as_str(), "unicast" | "broadcast" | "multicast" | "host") {
                    cx.err(
                        a,
                        "packet type must be unicast, broadcast or multicast",
                        did_you_mean(&t, ["unicast", "broadcast", "multicast"]),
                    );
                    continue;
                }
                out.push(mk(m, o.negated, MatchKind::PktType { pkt_type: t }, o.text()));
            }
        }
        "length" => {
            for o in &inst.opts {
                let a = o.arg(0);
                match parse_num_range(&a.text, ':', 65535) {
                    Ok((lo, hi)) => out.push(mk(
                        m,
                        o.negated,
                        MatchKind::Length {
                            range: nfwalk_model::ruleset::PortRange {
                                lo: lo as u16,
                                hi: hi as u16,
                            },
                        },
                        o.text(),
                    )),
                    Err(e) => cx.err(a, e, None),
                }
            }
        }
        "ttl" | "hl" => {
            if inst.opts.len() > 1 {
                cx.err(&inst.word, format!("module {m} takes only one comparison"), None);
            }
            for o in &inst.opts {
                let a = o.arg(0);
                let cmp = if o.name.ends_with("eq") {
                    Cmp::Eq
                } else if o.name.ends_with("lt") {
                    Cmp::Lt
                } else {
                    Cmp::Gt
                };
                match parse_uint(&a.text, 255) {
                    Ok(v) => out.push(mk(m, o.negated, MatchKind::Ttl { cmp, value: v as u8 }, o.text())),
                    Err(e) => cx.err(a, e, None),
                }
            }
        }
        "tos" => {
            for o in &inst.opts {
                let a = o.arg(0);
                let named = match a.text.to_ascii_lowercase().as_str() {
                    "minimize-delay" => Some(0x10),
                    "maximize-throughput" => Some(0x08),
                    "maximize-reliability" => Some(0x04),
                    "minimize-cost" => Some(0x02),
                    "normal-service" => Some(0x00),
                    _ => None,
                };
                let r = match named {
                    Some(v) => Ok((v, 0x3f)),
                    None => match a.text.split_once('/') {
                        Some((v, mk_)) => {
                            parse_uint(v, 255).and_then(|v| parse_uint(mk_, 255).map(|mm| (v as u8, mm as u8)))
                        }
                        None => parse_uint(&a.text, 255).map(|v| (v as u8, 0xff)),
                    },
                };
                match r {
                    Ok((value, mask)) => out.push(mk(m, o.negated, MatchKind::Tos { value, mask }, o.text())),
                    Err(e) => cx.err(a, e, None),
                }
            }
        }
        "dscp" => {
            for o in &inst.opts {
                let a = o.arg(0);
                let v = if o.name == "dscp-class" {
                    dscp_class(&a.text).ok_or_else(|| format!("`{}` is not a DSCP class", a.text))
                } else {
                    parse_uint(&a.text, 63).map(|v| v as u8)
                };
                match v {
                    Ok(value) => out.push(mk(m, o.negated, MatchKind::Dscp { value }, o.text())),
                    Err(e) => cx.err(a, e, None),
                }
            }
        }
        "owner" => {
            for o in &inst.opts {
                let kind = match o.name {
                    "uid-owner" | "gid-owner" => {
                        let a = o.arg(0);
                        let r = match a.text.as_str() {
                            "root" => Ok((0, 0)),
                            t if t.bytes().next().is_some_and(|b| b.is_ascii_digit()) => {
                                parse_num_range(t, '-', u32::MAX as u64 - 1)
                            }
                            t => Err(format!(
                                "`{t}` is a name; nfwalk cannot resolve user/group names offline"
                            )),
                        };
                        match r {
                            Ok((lo, hi)) => {
                                let (lo, hi) = (lo as u32, hi as u32);
                                if o.name == "uid-owner" {
                                    MatchKind::UidOwner { lo, hi }
                                } else {
                                    MatchKind::GidOwner { lo, hi }
                                }
                            }
                            Err(e) if e.contains("is a name") => MatchKind::Unknown { reason: e },
                            Err(e) => bad!(a, e),
                        }
                    }
                    _ => unknown_kind(m, &format!("--{}", o.name)),
                };
                out.push(mk(m, o.negated, kind, o.text()));
            }
        }
        "recent" => {
            let mut name = "DEFAULT".to_string();
            let mut cmd = None;
            let mut rdest = false;
            let mut seconds = None;
            let mut hitcount = None;
            let mut negated = false;
            let mut texts = Vec::new();
            for o in &inst.opts {
                texts.push(o.text());
                let c = match o.name {
                    "set" => Some(RecentCmd::Set),
                    "rcheck" => Some(RecentCmd::Rcheck),
                    "update" => Some(RecentCmd::Update),
                    "remove" => Some(RecentCmd::Remove),
                    _ => None,
                };
                if let Some(c) = c {
                    if cmd.is_some() {
                        cx.err(
                            &o.word,
                            "recent takes only one of --set, --rcheck, --update, --remove",
                            None,
                        );
                    }
                    cmd = Some(c);
                    negated |= o.negated;
                    continue;
                }
                match o.name {
                    "name" => name = o.arg(0).text.clone(),
                    "rdest" => rdest = true,
                    "rsource" => rdest = false,
                    "seconds" => match parse_u32(&o.arg(0).text) {
                        Ok(v) => seconds = Some(v),
                        Err(e) => cx.err(o.arg(0), e, None),
                    },
                    "hitcount" => match parse_u32(&o.arg(0).text) {
                        Ok(v) => hitcount = Some(v),
                        Err(e) => cx.err(o.arg(0), e, None),
                    },
                    "mask" => {
                        if let Err(e) = parse_addr(&o.arg(0).text, ipv6) {
                            cx.err(o.arg(0), e, None);
                        }
                    }
                    _ => {}
                }
            }
            let Some(cmd) = cmd else {
                cx.err(
                    &inst.word,
                    "recent needs one of --set, --rcheck, --update, --remove",
                    None,
                );
                return;
            };
            if cmd == RecentCmd::Set && inst.opts.iter().any(|o| o.name == "rttl") {
                cx.err(&inst.word, "--rttl only works with --rcheck or --update", None);
            }
            out.push(mk(
                m,
                negated,
                MatchKind::Recent {
                    name,
                    cmd,
                    rdest,
                    seconds,
                    hitcount,
                },
                texts.join(" "),
            ));
        }
        "limit" => {
            let mut per_second = 3.0 / 3600.0;
            let mut burst = 5;
            let mut negated = false;
            let mut texts = Vec::new();
            for o in &inst.opts {
                texts.push(o.text());
                negated |= o.negated;
                let a = o.arg(0);
                if o.name == "limit" {
                    match parse_rate(&a.text) {
                        Ok(r) => per_second = r,
                        Err(e) => cx.err(a, e, None),
                    }
                } else {
                    match parse_uint(&a.text, 10000) {
                        Ok(b) => burst = b as u32,
                        Err(e) => cx.err(a, e, None),
                    }
                }
            }
            out.push(mk(m, negated, MatchKind::Limit { per_second, burst }, texts.join(" ")));
        }
        "hashlimit" => {
            let mut rate = None;
            let mut above = false;
            let mut burst = 5;
            let mut name = None;
            let mut texts = Vec::new();
            let mut unmodelled = None;
            for o in &inst.opts {
                texts.push(o.text());
                let a = o.arg(0);
                match o.name {
                    "hashlimit" | "hashlimit-upto" | "hashlimit-above" => {
                        above = o.name == "hashlimit-above";
                        match parse_rate(&a.text) {
                            Ok(r) => rate = Some(r),
                            Err(_) if a.text.to_ascii_lowercase().contains('b') => {
                                rate = Some(0.0);
                                unmodelled = Some("byte-based hashlimit rates are not modelled");
                            }
                            Err(e) => cx.err(a, e, None),
                        }
                    }
                    "hashlimit-burst" => match parse_u32(&a.text) {
                        Ok(b) => burst = b,
                        Err(_) if a.text.to_ascii_lowercase().contains('b') => {}
                        Err(e) => cx.err(a, e, None),
                    },
                    "hashlimit-name" => name = Some(a.text.clone()),
                    "hashlimit-mode" => {
                        for p in a.text.split(',') {
                            if !matches!(p, "srcip" | "dstip" | "srcport" | "dstport") {
                                cx.err(
                                    a,
                                    format!("`{p}` is not a hashlimit mode"),
                                    did_you_mean(p, ["srcip", "dstip", "srcport", "dstport"]),
                                );
                            }
                        }
                    }
                    _ => {}
                }
            }
            let Some(name) = name else {
                cx.err(&inst.word, "hashlimit needs --hashlimit-name", None);
                return;
            };
            let Some(per_second) = rate else {
                cx.err(
                    &inst.word,
                    "hashlimit needs --hashlimit-upto or --hashlimit-above",
                    None,
                );
                return;
            };
            let kind = match unmodelled {
                Some(r) => MatchKind::Unknown { reason: r.into() },
                None => MatchKind::HashLimit {
                    per_second,
                    burst,
                    above,
                    name,
                },
            };
            out.push(mk(m, false, kind, texts.join(" ")));
        }
        "statistic" => {
            let get = |n: &str| inst.opts.iter().find(|o| o.name == n);
            let texts: Vec<String> = inst.opts.iter().map(|o| o.text()).collect();
            let negated = inst.opts.iter().any(|o| o.negated);
            let Some(mode) = get("mode") else {
                cx.err(&inst.word, "statistic needs --mode random or --mode nth", None);
                return;
            };
            let mode_s = mode.arg(0).text.as_str();
            let stat = match mode_s {
                "random" => {
                    let Some(p) = get("probability") else {
                        cx.err(&mode.word, "--mode random needs --probability", None);
                        return;
                    };
                    match p.arg(0).text.parse::<f64>() {
                        Ok(v) if (0.0..=1.0).contains(&v) => Statistic::Random { probability: v },
                        _ => {
                            cx.err(p.arg(0), "probability must be a number between 0 and 1", None);
                            return;
                        }
                    }
                }
                "nth" => {
                    let every = get("every").map(|o| parse_u32(&o.arg(0).text));
                    let packet = get("packet").map(|o| parse_u32(&o.arg(0).text)).unwrap_or(Ok(0));
                    match (every, packet) {
                        (Some(Ok(every)), Ok(packet)) if every > 0 && packet < every => {
                            Statistic::Nth { every, packet }
                        }
                        _ => {
                            cx.err(
                                &mode.word,
                                "--mode nth needs --every N (N > 0) and --packet below N",
                                None,
                            );
                            return;
                        }
                    }
                }
                _ => {
                    cx.err(mode.arg(0), "statistic mode must be random or nth", None);
                    return;
                }
            };
            out.push(mk(m, negated, MatchKind::Statistic { mode: stat }, texts.join(" ")));
        }
        "set" => {
            for o in &inst.opts {
                if !matches!(o.name, "match-set" | "set") {
                    continue;
                }
                let name = o.arg(0).text.clone();
                let fl = o.arg(1);
                let mut flags = Vec::new();
                for p in fl.text.split(',') {
                    match p {
                        "src" => flags.push(true),
                        "dst" => flags.push(false),
                        _ => {
                            cx.err(fl, format!("`{p}` is not a set flag (src or dst)"), None);
                        }
                    }
                }
                if flags.is_empty() || flags.len() > 6 {
                    cx.err(fl, "set flags must be 1 to 6 of src/dst", None);
                    continue;
                }
                out.push(mk(m, o.negated, MatchKind::Set { name, flags }, o.text()));
            }
        }
        _ => {}
    }
    let required = !matches!(m, "tcp" | "udp" | "sctp" | "icmp" | "icmp6" | "comment");
    if required && out.len() == start && inst.opts.is_empty() {
        let opts: Vec<String> = match_opts(m)
            .unwrap_or(&[])
            .iter()
            .map(|(n, _)| format!("--{n}"))
            .collect();
        cx.err(
            &inst.word,
            format!("module {m} needs an option"),
            Some(format!("options of {m}: {}", opts.join(" "))),
        );
    }
    let _ = inst.implicit;
}

fn reject_with(s: &str, ipv6: bool) -> Option<&'static str> {
    Some(match (s, ipv6) {
        ("icmp-net-unreachable" | "net-unreach", false) => "icmp-net-unreachable",
        ("icmp-host-unreachable" | "host-unreach", false) => "icmp-host-unreachable",
        ("icmp-port-unreachable" | "port-unreach", false) => "icmp-port-unreachable",
        ("icmp-proto-unreachable" | "proto-unreach", false) => "icmp-proto-unreachable",
        ("icmp-net-prohibited" | "net-prohib", false) => "icmp-net-prohibited",
        ("icmp-host-prohibited" | "host-prohib", false) => "icmp-host-prohibited",
        ("icmp-admin-prohibited" | "admin-prohib", false) => "icmp-admin-prohibited",
        ("tcp-reset" | "tcp-rst", _) => "tcp-reset",
        ("icmp6-no-route" | "no-route", true) => "icmp6-no-route",
        ("icmp6-adm-prohibited" | "adm-prohibited", true) => "icmp6-adm-prohibited",
        ("icmp6-addr-unreachable" | "addr-unreach", true) => "icmp6-addr-unreachable",
        ("icmp6-port-unreachable" | "port-unreach", true) => "icmp6-port-unreachable",
        ("icmp6-policy-fail" | "policy-fail", true) => "icmp6-policy-fail",
        ("icmp6-reject-route" | "reject-route", true) => "icmp6-reject-route",
        _ => return None,
    })
}

fn log_level(s: &str) -> Option<u8> {
    if let Ok(v) = s.parse::<u8>() {
        return (v <= 7).then_some(v);
    }
    Some(match s.to_ascii_lowercase().as_str() {
        "emerg" | "panic" => 0,
        "alert" => 1,
        "crit" => 2,
        "err" | "error" => 3,
        "warning" | "warn" => 4,
        "notice" => 5,
        "info" => 6,
        "debug" => 7,
        _ => return None,
    })
}

fn build_target(cx: &mut Ctx, t: &TargetInst, proto: Option<(Option<Proto>, bool)>) -> Target {
    let ipv6 = cx.ipv6;
    let name = t.name.as_str();
    let get = |n: &str| t.opts.iter().find(|o| o.name == n);
    let has = |n: &str| t.opts.iter().any(|o| o.name == n);
    for o in &t.opts {
        if o.negated {
            cx.err(&o.word, "target options cannot be negated", None);
        }
    }
    let ports_proto_ok = matches!(proto, Some((Some(p), false)) if p.has_ports());
    let fallback = Target::Unknown {
        name: name.to_string(),
        reason: "invalid options".into(),
    };
    match name {
        "ACCEPT" => Target::Accept,
        "DROP" => Target::Drop,
        "RETURN" => Target::Return,
        "NOTRACK" => Target::Notrack,
        "TRACE" => Target::Trace,
        "REJECT" => {
            let with = match get("reject-with") {
                None => if ipv6 {
                    "icmp6-port-unreachable"
                } else {
                    "icmp-port-unreachable"
                }
                .to_string(),
                Some(o) => match reject_with(&o.arg(0).text, ipv6) {
                    Some(w) => {
                        if w == "tcp-reset" && !matches!(proto, Some((Some(Proto::TCP), false))) {
                            cx.err(o.arg(0), "--reject-with tcp-reset needs -p tcp", None);
                        }
                        w.to_string()
                    }
                    None => {
                        let names: &[&str] = if ipv6 {
                            &[
                                "icmp6-no-route",
                                "icmp6-adm-prohibited",
                                "icmp6-addr-unreachable",
                                "icmp6-port-unreachable",
                                "tcp-reset",
                            ]
                        } else {
                            &[
                                "icmp-net-unreachable",
                                "icmp-host-unreachable",
                                "icmp-port-unreachable",
                                "icmp-proto-unreachable",
                                "icmp-net-prohibited",
                                "icmp-host-prohibited",
                                "icmp-admin-prohibited",
                                "tcp-reset",
                            ]
                        };
                        cx.err(
                            o.arg(0),
                            "unknown reject type",
                            did_you_mean(&o.arg(0).text, names.iter().copied()),
                        );
                        return fallback;
                    }
                },
            };
            Target::Reject { with }
        }
        "LOG" => {
            let mut level = 4;
            if let Some(o) = get("log-level") {
                match log_level(&o.arg(0).text) {
                    Some(l) => level = l,
                    None => cx.err(
                        o.arg(0),
                        "log level must be 0-7 or emerg, alert, crit, error, warning, notice, info, debug",
                        None,
                    ),
                }
            }
            let prefix = get("log-prefix").map(|o| o.arg(0).text.clone()).unwrap_or_default();
            if prefix.len() > 29 {
                if let Some(o) = get("log-prefix") {
                    cx.err(o.arg(0), "log prefix is longer than 29 characters", None);
                }
            }
            Target::Log {
                prefix,
                level,
                tcp_sequence: has("log-tcp-sequence"),
                tcp_options: has("log-tcp-options"),
                ip_options: has("log-ip-options"),
                uid: has("log-uid"),
                macdecode: has("log-macdecode"),
            }
        }
        "NFLOG" => {
            let mut group = 0;
            if let Some(o) = get("nflog-group") {
                match parse_uint(&o.arg(0).text, 65535) {
                    Ok(g) => group = g as u16,
                    Err(e) => cx.err(o.arg(0), e, None),
                }
            }
            let prefix = get("nflog-prefix").map(|o| o.arg(0).text.clone()).unwrap_or_default();
            if prefix.len() > 63 {
                if let Some(o) = get("nflog-prefix") {
                    cx.err(o.arg(0), "nflog prefix is longer than 63 characters", None);
                }
            }
            for n in ["nflog-range", "nflog-size", "nflog-threshold"] {
                if let Some(o) = get(n) {
                    if let Err(e) = parse_u32(&o.arg(0).text) {
                        cx.err(o.arg(0), e, None);
                    }
                }
            }
            Target::Nflog { group, prefix }
        }
        "MARK" | "CONNMARK" => {
            let mut xmark = None;
            let mut mode = None;
            for o in &t.opts {
                let x = match o.name {
                    "set-xmark" | "set-mark" | "and-mark" | "or-mark" | "xor-mark" => {
                        let a = o.arg(0);
                        let r = if matches!(o.name, "set-xmark" | "set-mark") {
                            parse_mark(&a.text)
                        } else {
                            parse_u32(&a.text).map(|v| (v, 0))
                        };
                        match r {
                            Ok((v, mm)) => match o.name {
                                "set-xmark" => XMark { value: v, mask: mm },
                                "set-mark" => XMark { value: v, mask: v | mm },
                                "and-mark" => XMark { value: 0, mask: !v },
                                "or-mark" => XMark { value: v, mask: v },
                                _ => XMark { value: v, mask: 0 },
                            },
                            Err(e) => {
                                cx.err(a, e, None);
                                continue;
                            }
                        }
                    }
                    "save-mark" | "restore-mark" => {
                        if mode.is_some() || xmark.is_some() {
                            cx.err(&o.word, format!("{name} takes only one action"), None);
                        }
                        mode = Some(o.name);
                        continue;
                    }
                    _ => continue,
                };
                if xmark.is_some() || mode.is_some() {
                    cx.err(&o.word, format!("{name} takes only one action"), None);
                }
                xmark = Some(x);
            }
            let mask_of = |n: &str, cx: &mut Ctx| -> Option<u32> {
                let o = get(n)?;
                match parse_u32(&o.arg(0).text) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        cx.err(o.arg(0), e, None);
                        None
                    }
                }
            };
            let both = mask_of("mask", cx);
            let nfmask = mask_of("nfmask", cx).or(both).unwrap_or(u32::MAX);
            let ctmask = mask_of("ctmask", cx).or(both).unwrap_or(u32::MAX);
            match (name, xmark, mode) {
                ("MARK", Some(xmark), _) => Target::Mark { xmark },
                ("CONNMARK", Some(xmark), _) => Target::ConnmarkSet { xmark },
                ("CONNMARK", None, Some("save-mark")) => Target::ConnmarkSave { nfmask, ctmask },
                ("CONNMARK", None, Some(_)) => Target::ConnmarkRestore { nfmask, ctmask },
                _ => {
                    if cx.errors.is_empty() {
                        cx.err(
                            &t.word,
                            format!("{name} needs an action"),
                            Some(if name == "MARK" {
                                "e.g. --set-xmark 0x1/0xffffffff".into()
                            } else {
                                "e.g. --set-xmark, --save-mark or --restore-mark".into()
                            }),
                        );
                    }
                    fallback
                }
            }
        }
        "DNAT" | "SNAT" => {
            let optname = if name == "DNAT" { "to-destination" } else { "to-source" };
            let tos: Vec<&OptUse> = t.opts.iter().filter(|o| o.name == optname).collect();
            if tos.len() > 1 {
                cx.err(
                    &tos[1].word,
                    format!("--{optname} given more than once"),
                    Some("current kernels take a single range".into()),
                );
            }
            let to = match tos.first() {
                Some(o) => match parse_nat_range(&o.arg(0).text, ipv6) {
                    Ok(r) => {
                        if r.ports.is_some() && !ports_proto_ok {
                            cx.err(
                                o.arg(0),
                                "a port in the NAT range needs -p tcp, udp, sctp or dccp",
                                None,
                            );
                        }
                        r
                    }
                    Err(e) => {
                        cx.err(o.arg(0), e, None);
                        return fallback;
                    }
                },
                None => nfwalk_model::ruleset::NatRange {
                    addr_lo: None,
                    addr_hi: None,
                    ports: None,
                },
            };
            if name == "DNAT" {
                Target::Dnat {
                    to,
                    random: has("random"),
                    persistent: has("persistent"),
                }
            } else {
                Target::Snat {
                    to,
                    random: has("random"),
                    random_fully: has("random-fully"),
                    persistent: has("persistent"),
                }
            }
        }
        "MASQUERADE" | "REDIRECT" => {
            let ports = match get("to-ports") {
                Some(o) => match parse_to_ports(&o.arg(0).text) {
                    Ok(p) => {
                        if !ports_proto_ok {
                            cx.err(&o.word, "--to-ports needs -p tcp, udp, sctp or dccp", None);
                        }
                        Some(p)
                    }
                    Err(e) => {
                        cx.err(o.arg(0), e, None);
                        None
                    }
                },
                None => None,
            };
            if name == "MASQUERADE" {
                Target::Masquerade {
                    ports,
                    random: has("random"),
                    random_fully: has("random-fully"),
                }
            } else {
                Target::Redirect {
                    ports,
                    random: has("random"),
                }
            }
        }
        "NETMAP" => match get("to") {
            Some(o) => match parse_net(&o.arg(0).text, ipv6) {
                Ok(to) => Target::Netmap { to },
                Err(e) => {
                    cx.err(o.arg(0), e, None);
                    fallback
                }
            },
            None => {
                cx.err(&t.word, "NETMAP needs --to", None);
                fallback
            }
        },
        "CT" => {
            let zone = match get("zone").or(get("zone-orig")).or(get("zone-reply")) {
                Some(o) => match parse_uint(&o.arg(0).text, 65535) {
                    Ok(z) => Some(z as u16),
                    Err(e) => {
                        cx.err(o.arg(0), e, None);
                        None
                    }
                },
                None => None,
            };
            Target::Ct {
                notrack: has("notrack"),
                zone,
                helper: get("helper").map(|o| o.arg(0).text.clone()),
            }
        }
        "TCPMSS" => match (get("set-mss"), has("clamp-mss-to-pmtu")) {
            (Some(o), false) => match parse_uint(&o.arg(0).text, 65535) {
                Ok(v) => Target::Tcpmss {
                    set_mss: Some(v as u16),
                },
                Err(e) => {
                    cx.err(o.arg(0), e, None);
                    fallback
                }
            },
            (None, true) => Target::Tcpmss { set_mss: None },
            _ => {
                cx.err(
                    &t.word,
                    "TCPMSS needs exactly one of --set-mss and --clamp-mss-to-pmtu",
                    None,
                );
                fallback
            }
        },
        "CHECKSUM" => {
            if !has("checksum-fill") {
                cx.err(&t.word, "CHECKSUM needs --checksum-fill", None);
            }
            Target::Checksum
        }
        "CLASSIFY" => match get("set-class") {
            Some(o) => {
                let a = &o.arg(0).text;
                let ok = a
                    .split_once(':')
                    .is_some_and(|(x, y)| u16::from_str_radix(x, 16).is_ok() && u16::from_str_radix(y, 16).is_ok());
                if !ok {
                    cx.err(o.arg(0), "class must be MAJOR:MINOR in hex", None);
                }
                Target::Classify { class: a.clone() }
            }
            None => {
                cx.err(&t.word, "CLASSIFY needs --set-class", None);
                fallback
            }
        },
        "DSCP" => {
            let v = if let Some(o) = get("set-dscp") {
                parse_uint(&o.arg(0).text, 63)
                    .map(|v| v as u8)
                    .map_err(|e| (o.arg(0), e))
            } else if let Some(o) = get("set-dscp-class") {
                dscp_class(&o.arg(0).text).ok_or_else(|| (o.arg(0), format!("`{}` is not a DSCP class", o.arg(0).text)))
            } else {
                Err((&t.word, "DSCP needs --set-dscp or --set-dscp-class".to_string()))
            };
            match v {
                Ok(value) => Target::SetDscp { value },
                Err((w, e)) => {
                    cx.err(w, e, None);
                    fallback
                }
            }
        }
        _ => fallback,
    }
}
