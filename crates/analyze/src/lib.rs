//! Analyses on top of the one walker: `explain` (why a packet got its verdict, why a rule did
//! not fire, fixes proven by re-walking) and `lint` (findings about a ruleset).
#![warn(missing_docs)]
