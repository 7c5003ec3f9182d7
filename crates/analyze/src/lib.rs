//! Analyses on top of the one walker: `explain` (why a packet got its verdict, why a rule did
//! not fire, fixes proven by re-walking) and `lint` (findings about a ruleset).
#![warn(missing_docs)]

pub mod conn;
pub mod explain;
pub mod fix;
pub mod lint;
pub mod render;
pub mod shadow;

pub use conn::{explain_conn, Close, ConnExplanation};
pub use explain::{explain, Expect, Explanation, Request, RuleSel};
pub use lint::{lint, Finding, LintInput, Severity};
