//! `nfwalk`: shows what Linux netfilter does to a packet, offline.
//!
//! A thin binary: argument parsing lives here, one file per subcommand under `cmd/`,
//! rendering under `render/`; the work is done by the library crates.

mod args;
mod cmd;
mod demo_host;
mod input;
mod render;

use clap::Parser;

fn main() {
    // Like other Unix tools, end quietly when the reader of stdout goes away (`| head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Demo(a) => cmd::demo::run(a),
        args::Command::Trace(a) => cmd::trace::run(a),
        args::Command::Replay(a) => cmd::replay::run(a),
        args::Command::Snapshot(a) => cmd::snapshot::run(a),
        args::Command::Iptables(a) => cmd::iptables::run(a),
        args::Command::IptablesSave(a) => cmd::iptables_save::run(a),
        args::Command::IptablesRestore(a) => cmd::iptables_restore::run(a),
        args::Command::Explain(a) => cmd::explain::run(a),
        args::Command::Lint(a) => cmd::lint::run(a),
        args::Command::Whatif(a) => cmd::whatif::run(a),
        args::Command::Conntrack(a) => cmd::conntrack::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("nfwalk: error: {e:#}");
            std::process::exit(2);
        }
    }
}
