//! Every error path crates/xt claims, as (command, exit code, stderr). Checked offline by
//! tests/errors.rs and against the real iptables by tests/kernel_edits.rs, on the ruleset
//! SETUP builds (so the expectations cannot drift from the kernel).

/// Commands run first (all succeed): a user chain with a rule, referenced from INPUT, and an
/// empty unreferenced one.
pub const SETUP: &[&str] = &["-N USR", "-A USR -j RETURN", "-A INPUT -j USR", "-N EMPTY"];

const P: &str = "iptables v1.8.9 (nf_tables): ";
const HINT: &str = "\nTry `iptables -h' or 'iptables --help' for more information.\n";

/// A parameter problem (exit 2).
fn param(m: &str) -> (i32, String) {
    (2, format!("{P}{m}{HINT}"))
}

/// A plain failure (`iptables: ...`, exit 1).
fn plain(m: &str) -> (i32, String) {
    (1, format!("iptables: {m}\n"))
}

/// (command, exit code, stderr).
pub fn cases() -> Vec<(&'static str, i32, String)> {
    let v: Vec<(&str, (i32, String))> = vec![
        // command line
        ("-A", param("option \"-A\" requires an argument")),
        ("-n", param("no command specified")),
        ("-A INPUT -D INPUT 1", param("Cannot use -D with -A")),
        ("-I INPUT 0 -j ACCEPT", param("Invalid rule number `0'")),
        ("-R INPUT -j ACCEPT", param("-R requires a rule number")),
        ("-L INPUT extra", param("Invalid rule number `extra'")),
        ("-t", param("option \"-t\" requires an argument")),
        (
            "-N a-very-long-chain-name-over-28-chars",
            param("chain name `a-very-long-chain-name-over-28-chars' too long (must be under 29 chars)"),
        ),
        ("-N DROP", param("chain name may not clash with target name")),
        ("-N DNAT", param("chain name may not clash with target name")),
        ("-A INPUT -j NOPE", param("Chain 'NOPE' does not exist")),
        (
            "-A INPUT -j INPUT",
            (
                4,
                format!("{P} RULE_APPEND failed (Operation not supported): rule in chain INPUT\n"),
            ),
        ),
        (
            "-I USR -j INPUT",
            (
                4,
                format!("{P} RULE_INSERT failed (Operation not supported): rule in chain USR\n"),
            ),
        ),
        (
            "-R USR 1 -j OUTPUT",
            (
                4,
                format!("{P} RULE_REPLACE failed (Operation not supported): rule in chain USR\n"),
            ),
        ),
        (
            "-D INPUT -j INPUT",
            plain("Bad rule (does a matching rule exist in that chain?)."),
        ),
        // rule specs
        (
            "-A INPUT -s 300.0.0.1 -j ACCEPT",
            param("host/network `300.0.0.1' not found"),
        ),
        (
            "-A INPUT -s 10.0.0.0/33 -j ACCEPT",
            param("invalid mask `33' specified"),
        ),
        (
            "-A INPUT -s 1.1.1.1 -s 2.2.2.2 -j ACCEPT",
            param("multiple -s flags not allowed"),
        ),
        (
            "-A INPUT -d 1.1.1.1 -d 2.2.2.2 -j ACCEPT",
            param("multiple -d flags not allowed"),
        ),
        (
            "-A INPUT -p nope -j ACCEPT",
            param("unknown protocol \"nope\" specified"),
        ),
        ("-A INPUT -j ACCEPT -j DROP", param("multiple -j flags not allowed")),
        ("-A INPUT --bogus -j ACCEPT", param("unknown option \"--bogus\"")),
        (
            "-A INPUT -i abcdefghijklmnopq -j ACCEPT",
            param("interface name `abcdefghijklmnopq' must be shorter than IFNAMSIZ (15)"),
        ),
        (
            "-A INPUT -p tcp --dport nope -j ACCEPT",
            param("invalid port/service `nope' specified"),
        ),
        (
            "-A INPUT -p tcp --dport 70000 -j ACCEPT",
            param("invalid port/service `70000' specified"),
        ),
        (
            "-A INPUT -p tcp --tcp-flags SYN,BOGUS SYN -j ACCEPT",
            param("Unknown TCP flag `BOGUS'"),
        ),
        (
            "-A INPUT -p icmp --icmp-type bogus -j ACCEPT",
            param("Unknown ICMP type `bogus'"),
        ),
        (
            "-A INPUT -m conntrack --ctstate BOGUS -j ACCEPT",
            param("Bad ctstate \"BOGUS\""),
        ),
        (
            "-A INPUT -m addrtype --dst-type BOGUS -j ACCEPT",
            param("addrtype: bad type \"BOGUS\""),
        ),
        (
            "-A INPUT -m limit --limit 5/fortnight -j ACCEPT",
            param("bad rate \"5/fortnight\"'"),
        ),
        ("-A INPUT --dport 80 -j ACCEPT", param("unknown option \"--dport\"")),
        (
            "-A INPUT -m multiport --dports 80 -j ACCEPT",
            param("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"),
        ),
        (
            "-A INPUT -p tcp -j REJECT --reject-with bogus",
            param("unknown reject type \"bogus\""),
        ),
        (
            "-A INPUT -j LOG --log-level bogus",
            param("log level \"bogus\" unknown\n"),
        ),
        (
            "-A INPUT -j REJECT --reject-with tcp-reset",
            (
                4,
                format!("{P} RULE_APPEND failed (Invalid argument): rule in chain INPUT\n"),
            ),
        ),
        // against the ruleset
        ("-A NOPE -j ACCEPT", plain("No chain/target/match by that name.")),
        ("-I INPUT 3 -j ACCEPT", plain("Index of insertion too big.")),
        ("-R INPUT 2 -j ACCEPT", plain("Index of replacement too big.")),
        ("-D INPUT 2", plain("Index of deletion too big.")),
        (
            "-D INPUT -j ACCEPT",
            plain("Bad rule (does a matching rule exist in that chain?)."),
        ),
        (
            "-C INPUT -j ACCEPT",
            plain("Bad rule (does a matching rule exist in that chain?)."),
        ),
        ("-D NOPE 1", plain("No chain/target/match by that name.")),
        ("-F NOPE", plain("No chain/target/match by that name.")),
        ("-Z NOPE", plain("No chain/target/match by that name.")),
        ("-N USR", plain("Chain already exists.")),
        ("-X NOPE", plain("No chain/target/match by that name.")),
        (
            "-X USR",
            (
                4,
                format!("{P} CHAIN_DEL failed (Device or resource busy): chain USR\n"),
            ),
        ),
        (
            "-X",
            (
                4,
                format!("{P} CHAIN_DEL failed (Device or resource busy): chain USR\n"),
            ),
        ),
        ("-E NOPE X", plain("No chain/target/match by that name.")),
        ("-E EMPTY USR", plain("File exists.")),
        ("-P USR DROP", plain("Bad built-in chain name.")),
        ("-P NOPE DROP", plain("Bad built-in chain name.")),
        (
            "-P INPUT REJECT",
            plain("Bad policy name. Run `dmesg' for more information."),
        ),
        (
            "-L NOPE",
            (
                1,
                format!("{P}chain `NOPE' in table `filter' is incompatible, use 'nft' tool.\n"),
            ),
        ),
        (
            "-S NOPE",
            (
                1,
                format!("{P}chain `NOPE' in table `filter' is incompatible, use 'nft' tool.\n"),
            ),
        ),
        (
            "-t nope -L",
            (
                3,
                format!("{P}table 'nope' does not exist\nPerhaps iptables or your kernel needs to be upgraded.\n"),
            ),
        ),
        (
            "-t nat -A POSTROUTING -j DROP",
            param("\nThe \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.\n\n"),
        ),
        (
            "-t nat -P PREROUTING DROP",
            param("\nThe \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.\n\n"),
        ),
    ];
    v.into_iter().map(|(c, (code, err))| (c, code, err)).collect()
}
