//! `conntrack -L` on a saved table: the lines of `conntrack -L` output (a snapshot's
//! `conntrack.txt`) filtered and printed as conntrack-tools 1.4.7 prints them, with its
//! summary line on stderr and its error texts.

use std::net::Ipv4Addr;

/// The version banner conntrack-tools prefixes its messages with.
pub const BANNER: &str = "conntrack v1.4.7 (conntrack-tools)";

/// One entry of a `conntrack -L` listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtEntry {
    /// Protocol name (`tcp`, `udp`, `icmp`, `unknown`).
    pub proto: String,
    /// Protocol number.
    pub protonum: u8,
    /// TCP state, when the entry has one.
    pub state: Option<String>,
    /// `key=value` fields of the original tuple (the first `src=`..).
    pub orig: Vec<(String, String)>,
    /// `key=value` fields of the reply tuple.
    pub reply: Vec<(String, String)>,
    /// `mark=`.
    pub mark: Option<u32>,
    /// The text after the `ipv4     2 ` prefix, as printed by `conntrack -L`.
    pub line: String,
}

impl CtEntry {
    /// Parses one line of `conntrack -L` (or `-o extended`) output. None for lines that are
    /// not entries (the summary line, blank lines).
    pub fn parse(line: &str) -> Option<CtEntry> {
        let mut line = line.trim_end();
        if let Some(rest) = line.strip_prefix("ipv4") {
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('2')?;
            line = rest.trim_start();
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 {
            return None;
        }
        let protonum: u8 = words[1].parse().ok()?;
        words[2].parse::<u64>().ok()?;
        let mut state = None;
        let mut orig = vec![];
        let mut reply = vec![];
        let mut mark = None;
        let mut srcs = 0;
        for w in &words[3..] {
            match w.split_once('=') {
                Some((k, v)) => {
                    if k == "src" {
                        srcs += 1;
                    }
                    if k == "mark" {
                        mark = v.parse().ok();
                    }
                    let kv = (k.to_string(), v.to_string());
                    match srcs {
                        1 if !matches!(k, "mark" | "use" | "zone" | "secctx" | "helper" | "id") => orig.push(kv),
                        2 if !matches!(k, "mark" | "use" | "zone" | "secctx" | "helper" | "id") => reply.push(kv),
                        _ => {}
                    }
                }
                None if srcs == 0 && !w.starts_with('[') => state = Some(w.to_string()),
                None => {}
            }
        }
        if orig.is_empty() {
            return None;
        }
        Some(CtEntry {
            proto: words[0].to_string(),
            protonum,
            state,
            orig,
            reply,
            mark,
            line: words_line(line),
        })
    }

    fn get<'a>(kv: &'a [(String, String)], k: &str) -> Option<&'a str> {
        kv.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
    }
}

/// The line as conntrack prints it: only the padding after the protocol name is kept.
fn words_line(l: &str) -> String {
    l.to_string()
}

/// A `conntrack -L` query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CtQuery {
    /// `-p`: protocol number.
    pub proto: Option<u8>,
    /// `-s/--orig-src`.
    pub orig_src: Option<Ipv4Addr>,
    /// `-d/--orig-dst`.
    pub orig_dst: Option<Ipv4Addr>,
    /// `-r/--reply-src`.
    pub reply_src: Option<Ipv4Addr>,
    /// `-q/--reply-dst`.
    pub reply_dst: Option<Ipv4Addr>,
    /// `--sport/--orig-port-src`.
    pub sport: Option<u16>,
    /// `--dport/--orig-port-dst`.
    pub dport: Option<u16>,
    /// `--state`: TCP states.
    pub states: Vec<String>,
    /// `-m/--mark`.
    pub mark: Option<u32>,
    /// `-o extended`.
    pub extended: bool,
}

/// An error as conntrack-tools reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtError {
    /// Exit code.
    pub code: i32,
    /// The stderr text (complete, with newline).
    pub stderr: String,
}

fn param(msg: &str) -> CtError {
    CtError {
        code: 2,
        stderr: format!("{BANNER}: {msg}\nTry `conntrack -h' or 'conntrack --help' for more information.\n"),
    }
}

const TCP_STATES: [&str; 10] = [
    "NONE",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "SYN_SENT2",
];

fn proto_number(p: &str) -> Option<u8> {
    if let Ok(n) = p.parse::<u8>() {
        return Some(n);
    }
    match p.to_ascii_lowercase().as_str() {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "udplite" => Some(136),
        "sctp" => Some(132),
        "dccp" => Some(33),
        "gre" => Some(47),
        "icmpv6" | "ipv6-icmp" => Some(58),
        _ => None,
    }
}

/// C's `atoi`, as conntrack-tools reads ports: leading digits, 0 when there are none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in t.bytes().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Whether `-p` has loaded the protocol extension that knows this option (conntrack-tools
/// only knows `--state` after `-p tcp`, ports after `-p tcp|udp|udplite|sctp|dccp`).
fn proto_has_option(p: Option<u8>, opt: &str) -> bool {
    match (p, opt) {
        (Some(6), _) => true,
        (Some(17 | 136 | 132 | 33), "--state") => p == Some(132) || p == Some(33),
        (Some(17 | 136 | 132 | 33), _) => true,
        _ => false,
    }
}

impl CtQuery {
    /// Parses conntrack's arguments for a listing (`-L` and its filters; `-L` itself may be
    /// present or not).
    pub fn parse(args: &[String]) -> Result<CtQuery, CtError> {
        let mut q = CtQuery::default();
        let mut state_words: Option<String> = None;
        let mut sport: Option<String> = None;
        let mut dport: Option<String> = None;
        let mut i = 0;
        let mut listed = false;
        let val = |i: usize, name: &str| -> Result<String, CtError> {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| param(&format!("option `{name}' requires an argument")))
        };
        let addr = |v: &str| -> Result<Ipv4Addr, CtError> {
            v.parse::<Ipv4Addr>()
                .map_err(|_| param(&format!("Invalid IP address `{v}'")))
        };
        while i < args.len() {
            let a = args[i].as_str();
            match a {
                "-L" | "--dump" => listed = true,
                "-D" | "--delete" | "-I" | "--create" | "-U" | "--update" | "-G" | "--get" | "-F" | "--flush"
                | "-E" | "--event" | "-C" | "--count" | "-S" | "--stats" | "-R" | "--load-file" => {
                    return Err(CtError {
                        code: 2,
                        stderr: format!(
                            "nfwalk conntrack: `{a}' needs the live table; a saved table can only be listed (-L)\n"
                        ),
                    })
                }
                "-p" | "--proto" | "--protonum" => {
                    let v = val(i, a)?;
                    q.proto = Some(proto_number(&v).ok_or_else(|| param(&format!("`{v}' unsupported protocol")))?);
                    i += 1;
                }
                "-s" | "--orig-src" | "--src" => {
                    q.orig_src = Some(addr(&val(i, a)?)?);
                    i += 1;
                }
                "-d" | "--orig-dst" | "--dst" => {
                    q.orig_dst = Some(addr(&val(i, a)?)?);
                    i += 1;
                }
                "-r" | "--reply-src" => {
                    q.reply_src = Some(addr(&val(i, a)?)?);
                    i += 1;
                }
                "-q" | "--reply-dst" => {
                    q.reply_dst = Some(addr(&val(i, a)?)?);
                    i += 1;
                }
                "--sport" | "--orig-port-src" | "--dport" | "--orig-port-dst" | "--state"
                    if !proto_has_option(q.proto, a) =>
                {
                    return Err(param(&format!("unknown option `{a}'")));
                }
                "--sport" | "--orig-port-src" => {
                    sport = Some(val(i, a)?);
                    i += 1;
                }
                "--dport" | "--orig-port-dst" => {
                    dport = Some(val(i, a)?);
                    i += 1;
                }
                "--state" => {
                    state_words = Some(val(i, a)?);
                    i += 1;
                }
                "-m" | "--mark" => {
                    let v = val(i, a)?;
                    let n = match v.strip_prefix("0x") {
                        Some(h) => u32::from_str_radix(h, 16).ok(),
                        None => v.parse().ok(),
                    };
                    q.mark = Some(n.ok_or_else(|| param(&format!("Bad parameter `{v}'")))?);
                    i += 1;
                }
                "-o" | "--output" => {
                    let v = val(i, a)?;
                    for w in v.split(',') {
                        match w {
                            "extended" => q.extended = true,
                            "xml" | "timestamp" | "id" | "ktimestamp" | "labels" | "userspace" | "save" => {
                                return Err(CtError {
                                    code: 2,
                                    stderr: format!("nfwalk conntrack: `-o {w}' needs the live table; a saved table has only `-o extended'\n"),
                                })
                            }
                            _ => return Err(param(&format!("Bad parameter `{w}'"))),
                        }
                    }
                    i += 1;
                }
                "-f" | "--family" => {
                    let v = val(i, a)?;
                    if v != "ipv4" {
                        return Err(param(&format!("`{v}' unsupported protocol")));
                    }
                    i += 1;
                }
                other => return Err(param(&format!("unknown option `{other}'"))),
            }
            i += 1;
        }
        if !listed {
            return Err(CtError {
                code: 2,
                stderr: "nfwalk conntrack: say -L (a saved table can only be listed)\n".into(),
            });
        }
        if let Some(s) = state_words {
            // One state, spelled as the kernel names it (conntrack-tools compares exactly).
            if !TCP_STATES.contains(&s.as_str()) {
                return Err(param(&format!("unknown TCP state `{s}'")));
            }
            q.states.push(s);
        }
        for (v, slot) in [(sport, &mut q.sport), (dport, &mut q.dport)] {
            if let Some(v) = v {
                *slot = Some(atoi(&v) as u16);
            }
        }
        Ok(q)
    }

    /// Whether an entry passes the filters.
    pub fn matches(&self, e: &CtEntry) -> bool {
        let ip = |kv: &[(String, String)], k: &str, want: Option<Ipv4Addr>| -> bool {
            match want {
                None => true,
                Some(w) => CtEntry::get(kv, k).and_then(|v| v.parse::<Ipv4Addr>().ok()) == Some(w),
            }
        };
        let port = |k: &str, want: Option<u16>| -> bool {
            match want {
                None => true,
                Some(w) => CtEntry::get(&e.orig, k).and_then(|v| v.parse::<u16>().ok()) == Some(w),
            }
        };
        self.proto.is_none_or(|p| p == e.protonum)
            && ip(&e.orig, "src", self.orig_src)
            && ip(&e.orig, "dst", self.orig_dst)
            && ip(&e.reply, "src", self.reply_src)
            && ip(&e.reply, "dst", self.reply_dst)
            && port("sport", self.sport)
            && port("dport", self.dport)
            && (self.states.is_empty() || e.state.as_ref().is_some_and(|s| self.states.contains(s)))
            && self.mark.is_none_or(|m| e.mark == Some(m))
    }
}

/// Filters a listing: the stdout conntrack prints and the number of entries shown.
pub fn list(text: &str, q: &CtQuery) -> (String, usize) {
    let mut out = String::new();
    let mut n = 0;
    for l in text.lines() {
        let Some(e) = CtEntry::parse(l) else { continue };
        if !q.matches(&e) {
            continue;
        }
        n += 1;
        if q.extended {
            out.push_str("ipv4     2 ");
        }
        out.push_str(&e.line);
        out.push('\n');
    }
    (out, n)
}

/// The summary conntrack writes to stderr after a listing.
pub fn summary(n: usize) -> String {
    format!("{BANNER}: {n} flow entries have been shown.\n")
}

/// `conntrack ARGS` on a saved table: (stdout, stderr, exit code).
pub fn run_cli(text: &str, args: &[String]) -> (String, String, i32) {
    match CtQuery::parse(args) {
        Ok(q) => {
            let (out, n) = list(text, &q);
            (out, summary(n), 0)
        }
        Err(e) => (String::new(), e.stderr, e.code),
    }
}
