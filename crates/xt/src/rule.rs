//! One rule as iptables holds it: the basic IPv4 header fields, match modules with their
//! options, a target with its options. Parsed from iptables' own words, written back in
//! iptables-save's canonical form ([`RuleSpec::save`]) and listed as `iptables -L` does
//! ([`crate::list`]).

use crate::names;
use crate::XtError;
use std::net::Ipv4Addr;

/// One option of a module: `! --dport 22` is `{name: "dport", neg: true, args: ["22"]}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt {
    /// Name without dashes, canonical (aliases resolved).
    pub name: String,
    /// Preceded by `!`.
    pub neg: bool,
    /// Arguments.
    pub args: Vec<String>,
}

/// A match module (`-m NAME ...`) or a target (`-j NAME ...`) with its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Module or target name (or a chain name for jumps).
    pub name: String,
    /// Options in the order given.
    pub opts: Vec<Opt>,
}

impl Module {
    /// The option with this canonical name.
    pub fn opt(&self, name: &str) -> Option<&Opt> {
        self.opts.iter().find(|o| o.name == name)
    }
    pub(crate) fn arg(&self, name: &str) -> Option<&str> {
        self.opt(name).and_then(|o| o.args.first()).map(|s| s.as_str())
    }
    pub(crate) fn has(&self, name: &str) -> bool {
        self.opt(name).is_some()
    }
}

/// An address with a mask, as `-s`/`-d` hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrMask {
    /// `!` given.
    pub neg: bool,
    /// Address (already masked).
    pub addr: Ipv4Addr,
    /// Mask.
    pub mask: Ipv4Addr,
}

/// One rule, canonical.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RuleSpec {
    /// `-s`.
    pub src: Option<AddrMask>,
    /// `-d`.
    pub dst: Option<AddrMask>,
    /// `-i` with negation.
    pub iniface: Option<(bool, String)>,
    /// `-o` with negation.
    pub outiface: Option<(bool, String)>,
    /// `-p` number with negation (0 = all).
    pub proto: Option<(bool, u8)>,
    /// `-f` with negation.
    pub frag: Option<bool>,
    /// Match modules in order.
    pub matches: Vec<Module>,
    /// Target (`-j`) or goto (`-g`) chain.
    pub target: Option<Module>,
    /// `-g` rather than `-j`.
    pub goto: bool,
    /// `-c PKTS BYTES`.
    pub counters: Option<(u64, u64)>,
}

/// Options of the match modules and targets nfwalk renders: (name, number of arguments,
/// canonical name).
fn known_opts(module: &str, target: bool) -> Option<&'static [(&'static str, u8, &'static str)]> {
    Some(match (target, module) {
        (false, "tcp") => &[
            ("sport", 1, "sport"),
            ("source-port", 1, "sport"),
            ("dport", 1, "dport"),
            ("destination-port", 1, "dport"),
            ("tcp-flags", 2, "tcp-flags"),
            ("syn", 0, "syn"),
            ("tcp-option", 1, "tcp-option"),
        ],
        (false, "udp") => &[
            ("sport", 1, "sport"),
            ("source-port", 1, "sport"),
            ("dport", 1, "dport"),
            ("destination-port", 1, "dport"),
        ],
        (false, "icmp") => &[("icmp-type", 1, "icmp-type")],
        (false, "multiport") => &[
            ("sports", 1, "sports"),
            ("source-ports", 1, "sports"),
            ("dports", 1, "dports"),
            ("destination-ports", 1, "dports"),
            ("ports", 1, "ports"),
        ],
        (false, "state") => &[("state", 1, "state")],
        (false, "conntrack") => &[
            ("ctstate", 1, "ctstate"),
            ("ctproto", 1, "ctproto"),
            ("ctorigsrc", 1, "ctorigsrc"),
            ("ctorigdst", 1, "ctorigdst"),
            ("ctreplsrc", 1, "ctreplsrc"),
            ("ctrepldst", 1, "ctrepldst"),
            ("ctorigsrcport", 1, "ctorigsrcport"),
            ("ctorigdstport", 1, "ctorigdstport"),
            ("ctreplsrcport", 1, "ctreplsrcport"),
            ("ctrepldstport", 1, "ctrepldstport"),
            ("ctstatus", 1, "ctstatus"),
            ("ctexpire", 1, "ctexpire"),
            ("ctdir", 1, "ctdir"),
        ],
        (false, "addrtype") => &[
            ("src-type", 1, "src-type"),
            ("dst-type", 1, "dst-type"),
            ("limit-iface-in", 0, "limit-iface-in"),
            ("limit-iface-out", 0, "limit-iface-out"),
        ],
        (false, "comment") => &[("comment", 1, "comment")],
        (false, "limit") => &[("limit", 1, "limit"), ("limit-burst", 1, "limit-burst")],
        (false, "mac") => &[("mac-source", 1, "mac-source")],
        (false, "mark") | (false, "connmark") => &[("mark", 1, "mark")],
        (false, "iprange") => &[("src-range", 1, "src-range"), ("dst-range", 1, "dst-range")],
        (false, "physdev") => &[
            ("physdev-in", 1, "physdev-in"),
            ("physdev-out", 1, "physdev-out"),
            ("physdev-is-in", 0, "physdev-is-in"),
            ("physdev-is-out", 0, "physdev-is-out"),
            ("physdev-is-bridged", 0, "physdev-is-bridged"),
        ],
        (false, "pkttype") => &[("pkt-type", 1, "pkt-type")],
        (false, "length") => &[("length", 1, "length")],
        (false, "set") => &[("match-set", 2, "match-set")],
        (true, "REJECT") => &[("reject-with", 1, "reject-with")],
        (true, "LOG") => &[
            ("log-level", 1, "log-level"),
            ("log-prefix", 1, "log-prefix"),
            ("log-tcp-sequence", 0, "log-tcp-sequence"),
            ("log-tcp-options", 0, "log-tcp-options"),
            ("log-ip-options", 0, "log-ip-options"),
            ("log-uid", 0, "log-uid"),
            ("log-macdecode", 0, "log-macdecode"),
        ],
        (true, "DNAT") => &[
            ("to-destination", 1, "to-destination"),
            ("random", 0, "random"),
            ("persistent", 0, "persistent"),
        ],
        (true, "SNAT") => &[
            ("to-source", 1, "to-source"),
            ("random", 0, "random"),
            ("random-fully", 0, "random-fully"),
            ("persistent", 0, "persistent"),
        ],
        (true, "MASQUERADE") => &[
            ("to-ports", 1, "to-ports"),
            ("random", 0, "random"),
            ("random-fully", 0, "random-fully"),
        ],
        (true, "REDIRECT") => &[("to-ports", 1, "to-ports"), ("random", 0, "random")],
        (true, "MARK") => &[
            ("set-xmark", 1, "set-xmark"),
            ("set-mark", 1, "set-mark"),
            ("and-mark", 1, "and-mark"),
            ("or-mark", 1, "or-mark"),
            ("xor-mark", 1, "xor-mark"),
        ],
        (true, "CONNMARK") => &[
            ("set-xmark", 1, "set-xmark"),
            ("set-mark", 1, "set-mark"),
            ("and-mark", 1, "and-mark"),
            ("or-mark", 1, "or-mark"),
            ("xor-mark", 1, "xor-mark"),
            ("save-mark", 0, "save-mark"),
            ("restore-mark", 0, "restore-mark"),
            ("nfmask", 1, "nfmask"),
            ("ctmask", 1, "ctmask"),
            ("mask", 1, "mask"),
        ],
        (true, "CT") => &[("notrack", 0, "notrack"), ("zone", 1, "zone"), ("helper", 1, "helper")],
        (true, "TCPMSS") => &[("set-mss", 1, "set-mss"), ("clamp-mss-to-pmtu", 0, "clamp-mss-to-pmtu")],
        (true, "CHECKSUM") => &[("checksum-fill", 0, "checksum-fill")],
        (t, m) if crate::ext::opts(m, t).is_some() => return crate::ext::opts(m, t),
        (true, "NOTRACK") | (true, "TRACE") | (true, "ACCEPT") | (true, "DROP") | (true, "RETURN") => &[],
        _ => return None,
    })
}

/// Whether nfwalk renders this match module exactly like iptables.
pub fn match_known(name: &str) -> bool {
    known_opts(name, false).is_some()
}

/// Whether nfwalk renders this target exactly like iptables.
pub fn target_known(name: &str) -> bool {
    known_opts(name, true).is_some()
}

/// The extension targets iptables ships (a `-j NAME` that is none of these is a chain).
const EXT_TARGETS: &[&str] = &[
    "ACCEPT",
    "DROP",
    "RETURN",
    "QUEUE",
    "REJECT",
    "LOG",
    "DNAT",
    "SNAT",
    "MASQUERADE",
    "REDIRECT",
    "MARK",
    "CONNMARK",
    "CT",
    "NOTRACK",
    "TRACE",
    "TCPMSS",
    "CHECKSUM",
    "NFLOG",
    "NFQUEUE",
    "TOS",
    "DSCP",
    "TTL",
    "HL",
    "CLASSIFY",
    "TPROXY",
    "TEE",
    "NETMAP",
    "AUDIT",
    "TCPOPTSTRIP",
    "HMARK",
    "RATEEST",
    "SNPT",
    "DNPT",
    "IDLETIMER",
    "LED",
    "SECMARK",
    "CONNSECMARK",
    "SET",
    "SYNPROXY",
    "CLUSTERIP",
    "ECN",
    "ULOG",
    "MIRROR",
    "SAME",
    "CONNLIMIT",
];

/// Whether `-j NAME` names an extension target rather than a chain.
pub fn is_extension_target(name: &str) -> bool {
    EXT_TARGETS.contains(&name)
}

pub(crate) fn perr(msg: impl Into<String>) -> XtError {
    XtError::param(msg)
}

pub(crate) fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

pub(crate) fn parse_u32(s: &str) -> Result<u32, XtError> {
    parse_num(s)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| perr(format!("Bad value \"{s}\"")))
}

/// `A[/M]` with a prefix length or a dotted mask, masked as iptables stores it.
pub fn parse_addr_mask(s: &str, neg: bool) -> Result<AddrMask, XtError> {
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let addr: Ipv4Addr = if a == "localhost" {
        Ipv4Addr::new(127, 0, 0, 1)
    } else if a == "0" {
        Ipv4Addr::UNSPECIFIED
    } else {
        a.parse().map_err(|_| perr(format!("host/network `{a}' not found")))?
    };
    let mask: Ipv4Addr = match m {
        None => Ipv4Addr::new(255, 255, 255, 255),
        Some(m) if m.contains('.') => m.parse().map_err(|_| perr(format!("invalid mask `{m}' specified")))?,
        Some(m) => {
            let bits: u32 = m
                .parse()
                .ok()
                .filter(|b| *b <= 32)
                .ok_or_else(|| perr(format!("invalid mask `{m}' specified")))?;
            Ipv4Addr::from(if bits == 0 { 0 } else { u32::MAX << (32 - bits) })
        }
    };
    Ok(AddrMask {
        neg,
        addr: Ipv4Addr::from(u32::from(addr) & u32::from(mask)),
        mask,
    })
}

pub(crate) fn mask_suffix(mask: Ipv4Addr, always: bool) -> String {
    let m = u32::from(mask);
    if m == u32::MAX && !always {
        return String::new();
    }
    if m.leading_ones() + m.trailing_zeros() == 32 {
        format!("/{}", m.leading_ones())
    } else {
        format!("/{mask}")
    }
}

/// Address as `-L` shows it (`numeric`: `-n`).
pub fn list_addr(a: &AddrMask, numeric: bool) -> String {
    if u32::from(a.mask) == 0 && !numeric {
        return "anywhere".into();
    }
    let name = if numeric {
        a.addr.to_string()
    } else {
        names::host_name(a.addr)
            .or_else(|| names::network_name(a.addr))
            .map(str::to_string)
            .unwrap_or_else(|| a.addr.to_string())
    };
    format!("{name}{}", mask_suffix(a.mask, false))
}

impl RuleSpec {
    /// Parses a rule's words after the chain name (`-p tcp --dport 22 -j ACCEPT`), the way
    /// iptables' command line parser does, into canonical form. Errors are iptables'.
    pub fn parse(words: &[String]) -> Result<RuleSpec, XtError> {
        let mut r = RuleSpec::default();
        let mut neg = false;
        let mut in_target = false;
        let mut i = 0;
        let next = |i: &mut usize, w: &str| -> Result<String, XtError> {
            *i += 1;
            words
                .get(*i)
                .cloned()
                .ok_or_else(|| perr(format!("option \"{w}\" requires an argument")))
        };
        while i < words.len() {
            let w = words[i].as_str();
            if w == "!" {
                if neg {
                    return Err(perr("multiple consecutive ! not allowed"));
                }
                neg = true;
                i += 1;
                continue;
            }
            match w {
                "-s" | "--source" | "--src" => {
                    let a = next(&mut i, w)?;
                    if r.src.is_some() {
                        return Err(perr("multiple -s flags not allowed"));
                    }
                    r.src = Some(parse_addr_mask(&a, neg)?);
                }
                "-d" | "--destination" | "--dst" => {
                    let a = next(&mut i, w)?;
                    if r.dst.is_some() {
                        return Err(perr("multiple -d flags not allowed"));
                    }
                    r.dst = Some(parse_addr_mask(&a, neg)?);
                }
                "-i" | "--in-interface" => {
                    let a = next(&mut i, w)?;
                    check_iface(&a)?;
                    r.iniface = Some((neg, a));
                }
                "-o" | "--out-interface" => {
                    let a = next(&mut i, w)?;
                    check_iface(&a)?;
                    r.outiface = Some((neg, a));
                }
                "-p" | "--protocol" => {
                    let a = next(&mut i, w)?;
                    let p =
                        names::proto_number(&a).ok_or_else(|| perr(format!("unknown protocol \"{a}\" specified")))?;
                    if p == 0 && neg {
                        return Err(perr("rule would never match protocol"));
                    }
                    r.proto = Some((neg, p));
                }
                "-f" | "--fragment" => r.frag = Some(neg),
                "-m" | "--match" => {
                    let a = next(&mut i, w)?;
                    if neg {
                        return Err(perr("unexpected ! flag before --match"));
                    }
                    r.matches.push(Module { name: a, opts: vec![] });
                    in_target = false;
                }
                "-j" | "--jump" | "-g" | "--goto" => {
                    let a = next(&mut i, w)?;
                    if r.target.is_some() {
                        return Err(perr("multiple -j flags not allowed"));
                    }
                    r.goto = w == "-g" || w == "--goto";
                    r.target = Some(Module { name: a, opts: vec![] });
                    in_target = true;
                }
                "-c" | "--set-counters" => {
                    let p = next(&mut i, w)?;
                    let b = next(&mut i, w)?;
                    let (Some(p), Some(b)) = (parse_num(&p), parse_num(&b)) else {
                        return Err(perr("-c packet counter not numeric"));
                    };
                    r.counters = Some((p, b));
                }
                _ if w.starts_with('-') && w.len() > 1 => {
                    let name = w.trim_start_matches('-');
                    let name = name.split('=').next().unwrap_or(name).to_string();
                    i = r.module_option(words, i, &name, neg, in_target)?;
                }
                _ => return Err(perr(format!("Bad argument `{w}'"))),
            }
            neg = false;
            i += 1;
        }
        if neg {
            return Err(perr("Bad argument `!'"));
        }
        r.canonicalize()?;
        Ok(r)
    }

    /// Assigns option `name` at `words[i]` to a module; returns the index of its last word.
    fn module_option(
        &mut self,
        words: &[String],
        i: usize,
        name: &str,
        neg: bool,
        in_target: bool,
    ) -> Result<usize, XtError> {
        let take = |n: usize| -> Result<Vec<String>, XtError> {
            if i + n >= words.len() {
                return Err(perr(format!("option \"{}\" requires an argument", words[i])));
            }
            Ok(words[i + 1..=i + n].to_vec())
        };
        let greedy = || -> Vec<String> {
            words[i + 1..]
                .iter()
                .take_while(|w| {
                    *w != "!"
                        && !(w.starts_with('-') && w.len() > 1 && !w[1..].starts_with(|c: char| c.is_ascii_digit()))
                })
                .cloned()
                .collect()
        };
        // The target's options, then the loaded matches' (latest first).
        if in_target {
            if let Some(t) = self.target.as_mut() {
                match known_opts(&t.name, true) {
                    Some(opts) => {
                        if let Some((_, n, canon)) = opts.iter().find(|(o, _, _)| *o == name) {
                            let args = take(*n as usize)?;
                            let n = args.len();
                            t.opts.push(Opt {
                                name: canon.to_string(),
                                neg,
                                args,
                            });
                            return Ok(i + n);
                        }
                    }
                    None if !is_extension_target(&t.name) => {}
                    None => {
                        let args = greedy();
                        let n = args.len();
                        t.opts.push(Opt {
                            name: name.to_string(),
                            neg,
                            args,
                        });
                        return Ok(i + n);
                    }
                }
            }
        }
        for m in self.matches.iter_mut().rev() {
            match known_opts(&m.name, false) {
                Some(opts) => {
                    if let Some((_, n, canon)) = opts.iter().find(|(o, _, _)| *o == name) {
                        let args = take(*n as usize)?;
                        let n = args.len();
                        m.opts.push(Opt {
                            name: canon.to_string(),
                            neg,
                            args,
                        });
                        return Ok(i + n);
                    }
                }
                None => {
                    let args = greedy();
                    let n = args.len();
                    m.opts.push(Opt {
                        name: name.to_string(),
                        neg,
                        args,
                    });
                    return Ok(i + n);
                }
            }
        }
        // iptables loads the protocol's match implicitly (`-p tcp --dport 22`).
        if let Some((false, p)) = self.proto {
            let pname = names::proto_name(p).unwrap_or("");
            if let Some(opts) = known_opts(pname, false) {
                if let Some((_, n, canon)) = opts.iter().find(|(o, _, _)| *o == name) {
                    let args = take(*n as usize)?;
                    let n = args.len();
                    self.matches.push(Module {
                        name: pname.to_string(),
                        opts: vec![Opt {
                            name: canon.to_string(),
                            neg,
                            args,
                        }],
                    });
                    return Ok(i + n);
                }
            }
        }
        Err(perr(format!("unknown option \"{}\"", words[i])))
    }

    /// Brings option values into the form iptables-save writes.
    fn canonicalize(&mut self) -> Result<(), XtError> {
        let proto = self.proto.map(|(_, p)| p).unwrap_or(0);
        for m in &mut self.matches {
            canon_match(m, proto)?;
        }
        if let Some(t) = self.target.as_mut() {
            canon_target(t, proto)?;
        }
        Ok(())
    }

    /// The target's name as `-L` shows it in the target column.
    pub fn target_name(&self) -> &str {
        self.target.as_ref().map(|t| t.name.as_str()).unwrap_or("")
    }

    /// The chain this rule jumps or goes to, if any (a non-extension target).
    pub fn jump_chain(&self) -> Option<&str> {
        self.target
            .as_ref()
            .map(|t| t.name.as_str())
            .filter(|n| !is_extension_target(n))
    }

    /// Whether every module and the target are ones nfwalk renders exactly.
    pub fn fully_known(&self) -> bool {
        self.matches.iter().all(|m| match_known(&m.name))
            && self
                .target
                .as_ref()
                .is_none_or(|t| target_known(&t.name) || !is_extension_target(&t.name))
    }

    /// The rule's words after the chain in iptables-save's canonical form
    /// (`-s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT`), with a leading space unless empty.
    pub fn save(&self) -> String {
        let mut s = String::new();
        let bang = |n: bool| if n { " !" } else { "" };
        if let Some(a) = &self.src {
            s += &format!("{} -s {}{}", bang(a.neg), a.addr, mask_suffix(a.mask, true));
        }
        if let Some(a) = &self.dst {
            s += &format!("{} -d {}{}", bang(a.neg), a.addr, mask_suffix(a.mask, true));
        }
        if let Some((n, i)) = &self.iniface {
            s += &format!("{} -i {i}", bang(*n));
        }
        if let Some((n, i)) = &self.outiface {
            s += &format!("{} -o {i}", bang(*n));
        }
        if let Some((n, p)) = self.proto {
            if p != 0 {
                match names::proto_name(p) {
                    Some(name) => s += &format!("{} -p {name}", bang(n)),
                    None => s += &format!("{} -p {p}", bang(n)),
                }
            }
        }
        if let Some(n) = self.frag {
            s += &format!("{} -f", bang(n));
        }
        for m in &self.matches {
            s += &format!(" -m {}", m.name);
            s += &save_opts(m);
        }
        if let Some(t) = &self.target {
            s += &format!(" {} {}", if self.goto { "-g" } else { "-j" }, t.name);
            s += &save_opts(t);
        }
        s
    }
}

fn check_iface(s: &str) -> Result<(), XtError> {
    if s.len() > 15 {
        return Err(perr(format!("interface name `{s}' must be shorter than IFNAMSIZ (15)")));
    }
    Ok(())
}

/// `xtables_save_string`: bare when safe, else double-quoted with `"`, `\` and `'` escaped.
pub fn save_string(v: &str) -> String {
    let safe = |c: char| c == '_' || c == '-' || c.is_ascii_alphanumeric();
    if !v.is_empty() && v.chars().all(safe) {
        return v.to_string();
    }
    let mut s = String::from("\"");
    for c in v.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

fn save_opts(m: &Module) -> String {
    let mut s = String::new();
    for o in &m.opts {
        if o.neg {
            s += " !";
        }
        s += &format!(" --{}", o.name);
        for a in &o.args {
            s.push(' ');
            if matches!(o.name.as_str(), "comment" | "log-prefix" | "nflog-prefix") {
                s += &save_string(a);
            } else {
                s += a;
            }
        }
    }
    s
}

// ---- value canonicalization ------------------------------------------------------------

fn port_proto(proto: u8) -> &'static str {
    match proto {
        17 => "udp",
        132 => "sctp",
        33 => "dccp",
        136 => "udplite",
        _ => "tcp",
    }
}

fn parse_port(s: &str, proto: &str) -> Result<u16, XtError> {
    if let Some(n) = parse_num(s) {
        return u16::try_from(n).map_err(|_| perr(format!("invalid port/service `{s}' specified")));
    }
    names::service_port(s, proto).ok_or_else(|| perr(format!("invalid port/service `{s}' specified")))
}

fn parse_port_range(s: &str, proto: &str) -> Result<(u16, u16), XtError> {
    match s.split_once(':') {
        None => {
            let p = parse_port(s, proto)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { parse_port(a, proto)? };
            let hi = if b.is_empty() { 65535 } else { parse_port(b, proto)? };
            if lo > hi {
                return Err(perr(format!("invalid portrange `{s}' specified")));
            }
            Ok((lo, hi))
        }
    }
}

fn range_str(lo: u16, hi: u16) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}:{hi}")
    }
}

const TCP_FLAGS: [(&str, u8); 6] = [("FIN", 1), ("SYN", 2), ("RST", 4), ("PSH", 8), ("ACK", 16), ("URG", 32)];

fn parse_tcp_flags(s: &str) -> Result<u8, XtError> {
    let mut v = 0;
    for f in s.split(',') {
        let u = f.to_ascii_uppercase();
        v |= match u.as_str() {
            "ALL" => 0x3f,
            "NONE" => 0,
            _ => TCP_FLAGS
                .iter()
                .find(|(n, _)| *n == u)
                .map(|(_, b)| *b)
                .ok_or_else(|| perr(format!("Unknown TCP flag `{f}'")))?,
        };
    }
    Ok(v)
}

fn tcp_flags_str(mut f: u8) -> String {
    let mut out = vec![];
    for (n, b) in TCP_FLAGS {
        if f & b != 0 {
            out.push(n);
            f &= !b;
        }
    }
    if out.is_empty() {
        "NONE".into()
    } else {
        out.join(",")
    }
}

/// ICMP types by name, in iptables' table order (type, code min, code max).
pub const ICMP_CODES: &[(&str, u8, u8, u8)] = &[
    ("any", 0xFF, 0, 0xFF),
    ("echo-reply", 0, 0, 0xFF),
    ("destination-unreachable", 3, 0, 0xFF),
    ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1),
    ("protocol-unreachable", 3, 2, 2),
    ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4),
    ("source-route-failed", 3, 5, 5),
    ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7),
    ("network-prohibited", 3, 9, 9),
    ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11),
    ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13),
    ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15),
    ("source-quench", 4, 0, 0xFF),
    ("redirect", 5, 0, 0xFF),
    ("network-redirect", 5, 0, 0),
    ("host-redirect", 5, 1, 1),
    ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3),
    ("echo-request", 8, 0, 0xFF),
    ("router-advertisement", 9, 0, 0xFF),
    ("router-solicitation", 10, 0, 0xFF),
    ("time-exceeded", 11, 0, 0xFF),
    ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1),
    ("parameter-problem", 12, 0, 0xFF),
    ("ip-header-bad", 12, 0, 0),
    ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 0xFF),
    ("timestamp-reply", 14, 0, 0xFF),
    ("address-mask-request", 17, 0, 0xFF),
    ("address-mask-reply", 18, 0, 0xFF),
];

fn parse_icmp(s: &str) -> Result<(u8, u8, u8), XtError> {
    let alias = match s {
        "pong" => "echo-reply",
        "ping" => "echo-request",
        "ttl-exceeded" => "time-exceeded",
        "TOS-network-unreachable" | "TOS-host-unreachable" => s,
        _ => s,
    };
    if let Some((_, t, lo, hi)) = ICMP_CODES.iter().find(|(n, ..)| n.eq_ignore_ascii_case(alias)) {
        return Ok((*t, *lo, *hi));
    }
    let bad = || {
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            perr(format!("Invalid ICMP type `{s}'"))
        } else {
            perr(format!("Unknown ICMP type `{s}'"))
        }
    };
    match s.split_once('/') {
        Some((t, c)) => {
            let t = t.parse::<u8>().map_err(|_| bad())?;
            let c = c.parse::<u8>().map_err(|_| bad())?;
            Ok((t, c, c))
        }
        None => Ok((s.parse::<u8>().map_err(|_| bad())?, 0, 0xFF)),
    }
}

const CT_STATES: [&str; 7] = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"];

fn canon_states(s: &str, ct: bool) -> Result<String, XtError> {
    let mut set = [false; 7];
    for p in s.split(',') {
        let u = p.to_ascii_uppercase();
        match CT_STATES.iter().position(|n| *n == u) {
            Some(i) if ct || i < 5 => set[i] = true,
            _ => return Err(perr(format!("Bad ctstate \"{p}\""))),
        }
    }
    Ok(CT_STATES
        .iter()
        .zip(set)
        .filter(|(_, b)| *b)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(","))
}

const ADDR_TYPES: [&str; 12] = [
    "UNSPEC",
    "UNICAST",
    "LOCAL",
    "BROADCAST",
    "ANYCAST",
    "MULTICAST",
    "BLACKHOLE",
    "UNREACHABLE",
    "PROHIBIT",
    "THROW",
    "NAT",
    "XRESOLVE",
];

fn canon_addrtypes(s: &str) -> Result<String, XtError> {
    let mut set = [false; 12];
    for p in s.split(',') {
        let u = p.to_ascii_uppercase();
        let i = ADDR_TYPES
            .iter()
            .position(|n| *n == u)
            .ok_or_else(|| perr(format!("addrtype: bad type \"{p}\"")))?;
        set[i] = true;
    }
    Ok(ADDR_TYPES
        .iter()
        .zip(set)
        .filter(|(_, b)| *b)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(","))
}

const RATES: [(&str, u32); 4] = [
    ("day", 10000 * 86400),
    ("hour", 10000 * 3600),
    ("min", 10000 * 60),
    ("sec", 10000),
];

/// `--limit 3/min` as the kernel's average (in 1/10000 s), like libxt_limit's parse_rate.
fn parse_rate(s: &str) -> Result<u32, XtError> {
    let (n, unit) = s.split_once('/').unwrap_or((s, "sec"));
    let mult: u64 = match unit {
        u if !u.is_empty() && "second".starts_with(u) => 1,
        u if !u.is_empty() && "minute".starts_with(u) => 60,
        u if !u.is_empty() && "hour".starts_with(u) => 3600,
        u if !u.is_empty() && "day".starts_with(u) => 86400,
        _ => return Err(perr(format!("bad rate \"{s}\"'"))),
    };
    let r: u64 = n
        .parse()
        .ok()
        .filter(|r| *r > 0)
        .ok_or_else(|| perr(format!("bad rate \"{s}\"'")))?;
    if r > 10000 * mult {
        return Err(perr(format!("Rate too fast \"{s}\"")));
    }
    Ok((10000 * mult / r) as u32)
}

fn rate_str(period: u32) -> String {
    if period == 0 {
        return "inf".into();
    }
    let mut i = 1;
    while i < RATES.len() {
        let m = RATES[i].1;
        if period > m || m / period < m % period {
            break;
        }
        i += 1;
    }
    format!("{}/{}", RATES[i - 1].1 / period, RATES[i - 1].0)
}

fn canon_match(m: &mut Module, proto: u8) -> Result<(), XtError> {
    let pp = port_proto(proto);
    let name = m.name.clone();
    let mut out: Vec<Opt> = vec![];
    let set = |o: &Opt, args: Vec<String>| Opt {
        name: o.name.clone(),
        neg: o.neg,
        args,
    };
    if let Some(r) = crate::ext::canon(m, proto, false) {
        return r;
    }
    match name.as_str() {
        "tcp" | "udp" => {
            for key in ["sport", "dport", "tcp-option", "tcp-flags"] {
                for o in m
                    .opts
                    .iter()
                    .filter(|o| o.name == key || (key == "tcp-flags" && o.name == "syn"))
                {
                    match o.name.as_str() {
                        "sport" | "dport" => {
                            let (lo, hi) = parse_port_range(&o.args[0], &name)?;
                            out.push(set(o, vec![range_str(lo, hi)]));
                        }
                        "tcp-option" => out.push(set(o, vec![parse_u32(&o.args[0])?.to_string()])),
                        "syn" => out.push(Opt {
                            name: "tcp-flags".into(),
                            neg: o.neg,
                            args: vec!["FIN,SYN,RST,ACK".into(), "SYN".into()],
                        }),
                        _ => {
                            let mask = parse_tcp_flags(&o.args[0])?;
                            let comp = parse_tcp_flags(&o.args[1])?;
                            out.push(set(o, vec![tcp_flags_str(mask), tcp_flags_str(comp)]));
                        }
                    }
                }
            }
        }
        "icmp" => {
            for o in &m.opts {
                let (t, lo, hi) = parse_icmp(&o.args[0])?;
                let v = if t == 0xFF {
                    "any".to_string()
                } else if lo != 0 || hi != 0xFF {
                    format!("{t}/{lo}")
                } else {
                    t.to_string()
                };
                out.push(set(o, vec![v]));
            }
        }
        "multiport" => {
            if !matches!(proto, 6 | 17 | 33 | 132 | 136) && !m.opts.is_empty() {
                return Err(perr(
                    "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'",
                ));
            }
            for o in &m.opts {
                let mut ports = vec![];
                for p in o.args[0].split(',') {
                    let (lo, hi) = parse_port_range(p, pp)?;
                    ports.push(range_str(lo, hi));
                }
                if ports.len() > 15 {
                    return Err(perr("too many ports specified"));
                }
                out.push(set(o, vec![ports.join(",")]));
            }
        }
        "state" | "conntrack" => {
            let order = [
                "state",
                "ctstate",
                "ctproto",
                "ctorigsrc",
                "ctorigdst",
                "ctreplsrc",
                "ctrepldst",
                "ctorigsrcport",
                "ctorigdstport",
                "ctreplsrcport",
                "ctrepldstport",
                "ctstatus",
                "ctexpire",
                "ctdir",
            ];
            for key in order {
                for o in m.opts.iter().filter(|o| o.name == key) {
                    let a = &o.args[0];
                    let v = match key {
                        "state" => canon_states(a, false)?,
                        "ctstate" => canon_states(a, true)?,
                        "ctorigsrc" | "ctorigdst" | "ctreplsrc" | "ctrepldst" => {
                            let am = parse_addr_mask(a, false)?;
                            format!("{}{}", am.addr, mask_suffix(am.mask, false))
                        }
                        "ctorigsrcport" | "ctorigdstport" | "ctreplsrcport" | "ctrepldstport" => {
                            let (lo, hi) = parse_port_range(a, "tcp")?;
                            range_str(lo, hi)
                        }
                        "ctdir" => a.to_ascii_uppercase(),
                        "ctproto" => names::proto_number(a)
                            .map(|p| p.to_string())
                            .ok_or_else(|| perr(format!("unknown protocol \"{a}\" specified")))?,
                        _ => a.clone(),
                    };
                    out.push(set(o, vec![v]));
                }
            }
        }
        "addrtype" => {
            for key in ["src-type", "dst-type", "limit-iface-in", "limit-iface-out"] {
                for o in m.opts.iter().filter(|o| o.name == key) {
                    let args = match o.args.first() {
                        Some(a) => vec![canon_addrtypes(a)?],
                        None => vec![],
                    };
                    out.push(set(o, args));
                }
            }
        }
        "limit" => {
            let avg = match m.arg("limit") {
                Some(a) => parse_rate(a)?,
                None => parse_rate("3/hour")?,
            };
            out.push(Opt {
                name: "limit".into(),
                neg: false,
                args: vec![rate_str(avg)],
            });
            if let Some(b) = m.arg("limit-burst") {
                let b = parse_u32(b)?;
                if b != 5 {
                    out.push(Opt {
                        name: "limit-burst".into(),
                        neg: false,
                        args: vec![b.to_string()],
                    });
                }
            }
        }
        "mac" => {
            for o in &m.opts {
                out.push(set(o, vec![o.args[0].to_ascii_lowercase()]));
            }
        }
        "mark" | "connmark" => {
            for o in &m.opts {
                let (v, mk) = match o.args[0].split_once('/') {
                    Some((v, mk)) => (parse_u32(v)?, parse_u32(mk)?),
                    None => (parse_u32(&o.args[0])?, u32::MAX),
                };
                let s = if mk == u32::MAX {
                    format!("0x{v:x}")
                } else {
                    format!("0x{v:x}/0x{mk:x}")
                };
                out.push(set(o, vec![s]));
            }
        }
        "physdev" => {
            for key in [
                "physdev-is-in",
                "physdev-in",
                "physdev-is-out",
                "physdev-out",
                "physdev-is-bridged",
            ] {
                for o in m.opts.iter().filter(|o| o.name == key) {
                    out.push(o.clone());
                }
            }
        }
        "iprange" => {
            for key in ["src-range", "dst-range"] {
                for o in m.opts.iter().filter(|o| o.name == key) {
                    out.push(o.clone());
                }
            }
        }
        "pkttype" => {
            for o in &m.opts {
                out.push(set(o, vec![o.args[0].to_ascii_lowercase()]));
            }
        }
        _ => return Ok(()),
    }
    m.opts = out;
    Ok(())
}

fn canon_target(t: &mut Module, proto: u8) -> Result<(), XtError> {
    let name = t.name.clone();
    let one = |n: &str, v: String| Opt {
        name: n.into(),
        neg: false,
        args: vec![v],
    };
    let flag = |n: &str| Opt {
        name: n.into(),
        neg: false,
        args: vec![],
    };
    let mut out = vec![];
    if let Some(r) = crate::ext::canon(t, proto, true) {
        return r;
    }
    match name.as_str() {
        "REJECT" => {
            let w = t.arg("reject-with").unwrap_or("icmp-port-unreachable");
            let w = match w {
                "icmp-net-unreachable" | "net-unreach" => "icmp-net-unreachable",
                "icmp-host-unreachable" | "host-unreach" => "icmp-host-unreachable",
                "icmp-proto-unreachable" | "proto-unreach" => "icmp-proto-unreachable",
                "icmp-port-unreachable" | "port-unreach" => "icmp-port-unreachable",
                "icmp-net-prohibited" | "net-prohib" => "icmp-net-prohibited",
                "icmp-host-prohibited" | "host-prohib" => "icmp-host-prohibited",
                "icmp-admin-prohibited" | "admin-prohib" => "icmp-admin-prohibited",
                // Without -p tcp the kernel refuses the rule (RULE_APPEND failed, exit 4):
                // see command::check_kernel.
                "tcp-reset" | "tcp-rst" => "tcp-reset",
                other => return Err(perr(format!("unknown reject type \"{other}\""))),
            };
            out.push(one("reject-with", w.into()));
        }
        "LOG" => {
            if let Some(p) = t.arg("log-prefix") {
                // iptables-nft keeps the first 29 bytes of a longer prefix.
                let mut end = p.len().min(29);
                while !p.is_char_boundary(end) {
                    end -= 1;
                }
                out.push(one("log-prefix", p[..end].into()));
            }
            if let Some(l) = t.arg("log-level") {
                let lv = log_level(l).ok_or_else(|| perr(format!("log level \"{l}\" unknown\n")))?;
                if lv != 4 {
                    out.push(one("log-level", lv.to_string()));
                }
            }
            for f in [
                "log-tcp-sequence",
                "log-tcp-options",
                "log-ip-options",
                "log-uid",
                "log-macdecode",
            ] {
                if t.has(f) {
                    out.push(flag(f));
                }
            }
        }
        "DNAT" | "SNAT" => {
            let key = if name == "DNAT" { "to-destination" } else { "to-source" };
            let Some(v) = t.arg(key) else {
                return Err(perr(format!("You must specify --{key}")));
            };
            if v.contains(':') && !matches!(proto, 6 | 17 | 132 | 33 | 136) {
                return Err(perr("Need TCP, UDP, SCTP or DCCP with port specification"));
            }
            out.push(one(key, v.into()));
            for f in ["random", "random-fully", "persistent"] {
                if t.has(f) {
                    out.push(flag(f));
                }
            }
        }
        "MASQUERADE" | "REDIRECT" => {
            if let Some(p) = t.arg("to-ports") {
                if !matches!(proto, 6 | 17 | 132 | 33 | 136) {
                    return Err(perr("Need TCP, UDP, SCTP or DCCP with port specification"));
                }
                out.push(one("to-ports", p.replace(':', "-")));
            }
            for f in ["random", "random-fully"] {
                if t.has(f) {
                    out.push(flag(f));
                }
            }
        }
        "MARK" | "CONNMARK" => {
            let xm = |v: u32, m: u32| one("set-xmark", format!("0x{v:x}/0x{m:x}"));
            let vm = |s: &str| -> Result<(u32, u32), XtError> {
                match s.split_once('/') {
                    Some((v, m)) => Ok((parse_u32(v)?, parse_u32(m)?)),
                    None => Ok((parse_u32(s)?, u32::MAX)),
                }
            };
            if let Some(s) = t.arg("set-xmark") {
                let (v, m) = vm(s)?;
                out.push(xm(v, m));
            } else if let Some(s) = t.arg("set-mark") {
                let (v, m) = vm(s)?;
                out.push(xm(v, v | m)); // libxt_MARK/CONNMARK: --set-mark V/M is --set-xmark V/(V|M)
            } else if let Some(s) = t.arg("and-mark") {
                out.push(xm(0, !parse_u32(s)?));
            } else if let Some(s) = t.arg("or-mark") {
                let v = parse_u32(s)?;
                out.push(xm(v, v));
            } else if let Some(s) = t.arg("xor-mark") {
                out.push(xm(parse_u32(s)?, 0));
            } else if name == "CONNMARK" && (t.has("save-mark") || t.has("restore-mark")) {
                let mask = t.arg("mask").map(parse_u32).transpose()?;
                let nf = t.arg("nfmask").map(parse_u32).transpose()?.or(mask).unwrap_or(u32::MAX);
                let ct = t.arg("ctmask").map(parse_u32).transpose()?.or(mask).unwrap_or(u32::MAX);
                out.push(flag(if t.has("save-mark") {
                    "save-mark"
                } else {
                    "restore-mark"
                }));
                out.push(one("nfmask", format!("0x{nf:x}")));
                out.push(one("ctmask", format!("0x{ct:x}")));
            } else {
                return Err(perr(format!(
                    "{name} target: Parameter --set/and/or/xor-mark is required"
                )));
            }
        }
        "TCPMSS" => {
            if let Some(m) = t.arg("set-mss") {
                out.push(one("set-mss", parse_u32(m)?.to_string()));
            } else if t.has("clamp-mss-to-pmtu") {
                out.push(flag("clamp-mss-to-pmtu"));
            } else {
                return Err(perr("TCPMSS target: At least one parameter is required"));
            }
        }
        _ => return Ok(()),
    }
    t.opts = out;
    Ok(())
}

fn log_level(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return (n <= 7).then_some(n);
    }
    Some(match s {
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

// ---- -L "match info" -------------------------------------------------------------------

fn port_name(p: u16, proto: &str, numeric: bool) -> String {
    if numeric {
        return p.to_string();
    }
    names::service_name(p, proto)
        .map(str::to_string)
        .unwrap_or_else(|| p.to_string())
}

fn split_range(s: &str) -> (u16, u16) {
    match s.split_once(':') {
        Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
        None => {
            let p = s.parse().unwrap_or(0);
            (p, p)
        }
    }
}

fn hex_mark(s: &str) -> (u32, u32) {
    let p = |x: &str| parse_num(x).unwrap_or(0) as u32;
    match s.split_once('/') {
        Some((v, m)) => (p(v), p(m)),
        None => (p(s), u32::MAX),
    }
}

/// The "match info" text of one match module, as `-L` prints it (leading space included).
/// `None` when nfwalk does not know how iptables prints this module.
pub fn print_match(m: &Module, proto: u8, numeric: bool) -> Option<String> {
    let mut s = String::new();
    if crate::ext::opts(&m.name, false).is_some() {
        return crate::ext::print(m, numeric, false);
    }
    match m.name.as_str() {
        "tcp" | "udp" => {
            s += &format!(" {}", m.name);
            for (key, short) in [("sport", "spt"), ("dport", "dpt")] {
                if let Some(o) = m.opt(key) {
                    let (lo, hi) = split_range(&o.args[0]);
                    let inv = if o.neg { "!" } else { "" };
                    if lo == hi {
                        s += &format!(" {short}:{inv}{}", port_name(lo, &m.name, numeric));
                    } else {
                        s += &format!(
                            " {short}s:{inv}{}:{}",
                            port_name(lo, &m.name, numeric),
                            port_name(hi, &m.name, numeric)
                        );
                    }
                }
            }
            if let Some(o) = m.opt("tcp-option") {
                s += &format!(" option={}{}", if o.neg { "!" } else { "" }, o.args[0]);
            }
            if let Some(o) = m.opt("tcp-flags") {
                let mask = parse_tcp_flags(&o.args[0]).unwrap_or(0);
                let comp = parse_tcp_flags(&o.args[1]).unwrap_or(0);
                s += &format!(" flags:{}", if o.neg { "!" } else { "" });
                if numeric {
                    s += &format!("0x{mask:02X}/0x{comp:02X}");
                } else {
                    s += &format!("{}/{}", tcp_flags_str(mask), tcp_flags_str(comp));
                }
            }
        }
        "icmp" => {
            s += " icmp";
            if let Some(o) = m.opt("icmp-type") {
                let (t, lo, hi) = parse_icmp(&o.args[0]).ok()?;
                let named = ICMP_CODES.iter().find(|(_, tt, l, h)| *tt == t && *l == lo && *h == hi);
                match named {
                    Some((n, ..)) if !numeric => {
                        s += &format!(" {}{n}", if o.neg { "!" } else { "" });
                    }
                    _ => {
                        if o.neg {
                            s += " !";
                        }
                        s += &format!("type {t}");
                        if lo == hi {
                            s += &format!(" code {lo}");
                        } else if lo != 0 || hi != 0xFF {
                            s += &format!(" codes {lo}-{hi}");
                        }
                    }
                }
            }
        }
        "multiport" => {
            let o = m.opts.first()?;
            s += " multiport ";
            s += match o.name.as_str() {
                "sports" => "sports ",
                "dports" => "dports ",
                _ => "ports ",
            };
            if o.neg {
                s += " !";
            }
            let pn = port_proto(proto);
            let parts: Vec<String> = o.args[0]
                .split(',')
                .map(|p| {
                    let (lo, hi) = split_range(p);
                    if lo == hi {
                        port_name(lo, pn, numeric)
                    } else {
                        format!("{}:{}", port_name(lo, pn, numeric), port_name(hi, pn, numeric))
                    }
                })
                .collect();
            s += &parts.join(",");
        }
        "state" => {
            let o = m.opt("state")?;
            s += &format!("{} state {}", if o.neg { " !" } else { "" }, o.args[0]);
        }
        "conntrack" => {
            for o in &m.opts {
                if o.neg {
                    s += " !";
                }
                s += &format!(" {} {}", o.name, o.args[0]);
            }
        }
        "addrtype" => {
            s += " ADDRTYPE match";
            for (key, short) in [("src-type", "src-type"), ("dst-type", "dst-type")] {
                if let Some(o) = m.opt(key) {
                    s += &format!(" {short} {}{}", if o.neg { "!" } else { "" }, o.args[0]);
                }
            }
            if m.has("limit-iface-in") {
                s += " limit-in";
            }
            if m.has("limit-iface-out") {
                s += " limit-out";
            }
        }
        "comment" => s += &format!(" /* {} */", m.arg("comment")?),
        "limit" => {
            let avg = parse_rate(m.arg("limit")?).ok()?;
            let burst = m.arg("limit-burst").and_then(|b| b.parse().ok()).unwrap_or(5u32);
            s += &format!(" limit: avg {} burst {burst}", rate_str(avg));
        }
        "mac" => {
            let o = m.opt("mac-source")?;
            s += &format!(" MAC{} {}", if o.neg { " !" } else { "" }, o.args[0]);
        }
        "mark" | "connmark" => {
            let o = m.opt("mark")?;
            let (v, mk) = hex_mark(&o.args[0]);
            if m.name == "connmark" {
                s += &format!(" connmark match {}", if o.neg { "!" } else { "" });
            } else {
                s += &format!(" mark match{}", if o.neg { " !" } else { "" });
            }
            if mk == u32::MAX {
                s += &format!(" 0x{v:x}");
            } else {
                s += &format!(" 0x{v:x}/0x{mk:x}");
            }
        }
        "iprange" => {
            for (key, what) in [("src-range", "source"), ("dst-range", "destination")] {
                if let Some(o) = m.opt(key) {
                    s += &format!(" {what} IP range{} {}", if o.neg { " !" } else { "" }, o.args[0]);
                }
            }
        }
        "physdev" => {
            s += " PHYSDEV match";
            for o in &m.opts {
                s += &format!("{} --{}", if o.neg { " !" } else { "" }, o.name);
                for a in &o.args {
                    s += &format!(" {a}");
                }
            }
        }
        "pkttype" => {
            let o = m.opt("pkt-type")?;
            s += &format!(" PKTTYPE {} {}", if o.neg { "!=" } else { "=" }, o.args[0]);
        }
        "length" => {
            let o = m.opt("length")?;
            s += &format!(" length {}{}", if o.neg { "!" } else { "" }, o.args[0]);
        }
        "set" => {
            let o = m.opt("match-set")?;
            s += &format!(
                "{} match-set {} {}",
                if o.neg { " !" } else { "" },
                o.args[0],
                o.args.get(1)?
            );
        }
        _ => return None,
    }
    Some(s)
}

fn nat_range(v: &str) -> String {
    // `A[-B][:P[-Q]]` as iptables prints it (ports with `-`).
    v.to_string()
}

/// The target's text in `-L` (leading space included); `None` when unknown.
pub fn print_target(t: &Module, numeric: bool) -> Option<String> {
    let mut s = String::new();
    if crate::ext::opts(&t.name, true).is_some() {
        return crate::ext::print(t, numeric, true);
    }
    match t.name.as_str() {
        "REJECT" => s += &format!(" reject-with {}", t.arg("reject-with")?),
        "LOG" => {
            let level: u8 = t.arg("log-level").and_then(|l| l.parse().ok()).unwrap_or(4);
            let mut flags = 0u8;
            let mut names = String::new();
            for (f, bit, n) in [
                ("log-tcp-sequence", 1, " tcp-sequence"),
                ("log-tcp-options", 2, " tcp-options"),
                ("log-ip-options", 4, " ip-options"),
                ("log-uid", 8, " uid"),
                ("log-macdecode", 0x20, " macdecode"),
            ] {
                if t.has(f) {
                    flags |= bit;
                    names += n;
                }
            }
            s += " LOG";
            if numeric {
                s += &format!(" flags {flags} level {level}");
            } else {
                let lname = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"][level as usize & 7];
                s += &format!(" level {lname}{names}");
            }
            if let Some(p) = t.arg("log-prefix") {
                if !p.is_empty() {
                    s += &format!(" prefix \"{p}\"");
                }
            }
        }
        "DNAT" | "SNAT" => {
            let key = if t.name == "DNAT" {
                "to-destination"
            } else {
                "to-source"
            };
            s += &format!(" to:{}", nat_range(t.arg(key)?));
            for f in ["random", "random-fully", "persistent"] {
                if t.has(f) {
                    s += &format!(" {f}");
                }
            }
        }
        "MASQUERADE" | "REDIRECT" => {
            if let Some(p) = t.arg("to-ports") {
                s += &format!(
                    " {} {p}",
                    if t.name == "MASQUERADE" {
                        "masq ports:"
                    } else {
                        "redir ports"
                    }
                );
            }
            for f in ["random", "random-fully"] {
                if t.has(f) {
                    s += &format!(" {f}");
                }
            }
        }
        "MARK" | "CONNMARK" => {
            let n = &t.name;
            if let Some(x) = t.arg("set-xmark") {
                let (v, m) = hex_mark(x);
                s += &if v == 0 {
                    format!(" {n} and 0x{:x}", !m)
                } else if v == m {
                    format!(" {n} or 0x{v:x}")
                } else if m == 0 {
                    format!(" {n} xor 0x{v:x}")
                } else if m == u32::MAX {
                    format!(" {n} set 0x{v:x}")
                } else {
                    format!(" {n} xset 0x{v:x}/0x{m:x}")
                };
            } else {
                let nf = hex_mark(t.arg("nfmask")?).0;
                let ct = hex_mark(t.arg("ctmask")?).0;
                if t.has("save-mark") {
                    s += &if nf == u32::MAX && ct == u32::MAX {
                        " CONNMARK save".to_string()
                    } else if nf == ct {
                        format!(" CONNMARK save mask 0x{nf:x}")
                    } else {
                        format!(" CONNMARK save nfmask 0x{nf:x} ctmask ~0x{ct:x}")
                    };
                } else {
                    s += &if nf == u32::MAX && ct == u32::MAX {
                        " CONNMARK restore".to_string()
                    } else if nf == ct {
                        format!(" CONNMARK restore mask 0x{ct:x}")
                    } else {
                        format!(" CONNMARK restore ctmask 0x{ct:x} nfmask ~0x{nf:x}")
                    };
                }
            }
        }
        "TCPMSS" => {
            s += &match t.arg("set-mss") {
                Some(m) => format!(" TCPMSS set {m}"),
                None => " TCPMSS clamp to PMTU".to_string(),
            };
        }
        "CHECKSUM" => s += " CHECKSUM fill",
        "NOTRACK" => s += " NOTRACK",
        "ACCEPT" | "DROP" | "RETURN" | "TRACE" => {}
        "CT" => {
            s += " CT";
            if t.has("notrack") {
                s += " notrack";
            }
            if let Some(h) = t.arg("helper") {
                s += &format!(" helper {h}");
            }
            if let Some(z) = t.arg("zone") {
                s += &format!(" zone {z}");
            }
        }
        n if !is_extension_target(n) => {}
        _ => return None,
    }
    Some(s)
}
