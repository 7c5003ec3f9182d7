//! iptables' everyday commands on a snapshot, offline.
#![warn(missing_docs)]
//!
//! `nfwalk iptables --snapshot DIR …` takes iptables' own command line and prints what
//! iptables 1.8 (nf_tables) prints: [`ruleset::XtTable::list`] is `-L` (with `-n -v -x
//! --line-numbers`), [`ruleset::XtTable::list_rules`] is `-S`, and [`command::run`] applies
//! `-A -I -D -R -N -E -X -F -Z -P -C` with iptables' error texts and exit codes.
//! Name lookups (ports, protocols, hosts) use the fixed tables in [`names`].

pub mod command;
pub mod conntrack;
mod ext;
pub mod fsio;
pub mod names;
pub mod rule;
pub mod ruleset;

use std::fmt;

/// An error as iptables reports it: the message (without the `iptables: ` or
/// `iptables v1.8.9 (nf_tables): ` prefix) and the exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XtError {
    /// Exit code: 1 for most errors, 2 for parameter problems.
    pub code: i32,
    /// The message.
    pub message: String,
    /// Printed after iptables' version prefix (`iptables v1.8.9 (nf_tables): `) without the
    /// `Try` hint, as nf_tables-level failures are (exit codes 1, 3, 4).
    pub versioned: bool,
}

impl XtError {
    /// An error with this exit code.
    pub fn new(code: i32, message: impl Into<String>) -> XtError {
        XtError {
            code,
            message: message.into(),
            versioned: false,
        }
    }

    /// An error printed after the version prefix, without the hint (`iptables v1.8.9
    /// (nf_tables):  CHAIN_DEL failed ...`, exit code 4).
    pub fn versioned(code: i32, message: impl Into<String>) -> XtError {
        XtError {
            code,
            message: message.into(),
            versioned: true,
        }
    }

    /// A parameter problem (exit code 2), printed by iptables with its version prefix and the
    /// `Try \`iptables -h'` hint.
    pub fn param(message: impl Into<String>) -> XtError {
        XtError::new(2, message)
    }

    /// The text iptables writes to stderr for this error.
    pub fn stderr(&self, prog: &str) -> String {
        if self.versioned {
            format!("{prog} v1.8.9 (nf_tables): {}\n", self.message)
        } else if self.code == 2 {
            format!(
                "{prog} v1.8.9 (nf_tables): {}\nTry `{prog} -h' or '{prog} --help' for more information.\n",
                self.message
            )
        } else {
            format!("{prog}: {}\n", self.message)
        }
    }
}

impl fmt::Display for XtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for XtError {}
