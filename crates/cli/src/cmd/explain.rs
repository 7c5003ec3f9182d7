//! `nfwalk explain`: what decided a packet's fate, why the expected verdict (or a named rule)
//! did not happen, and fixes proven by re-walking.

use anyhow::{anyhow, Result};
use nfwalk_analyze::{explain, Expect, Request, RuleSel};

use crate::args::{ExplainArgs, Format};
use crate::input;

/// Runs the subcommand; exit code 0 when the packet gets the expected verdict (or none was
/// given), 1 otherwise.
pub fn run(a: ExplainArgs) -> Result<i32> {
    let host = input::load_host(&a.host)?;
    let (ingress, packet) = input::packet(&a.packet)?;
    let expect = match &a.expect {
        Some(s) => Some(Expect::parse(s).ok_or_else(|| anyhow!("--expect takes accept or drop, not `{s}`"))?),
        None => None,
    };
    let rule = match (&a.rule, a.line) {
        (Some(r), _) => Some(RuleSel::parse(r).map_err(|e| anyhow!(e))?),
        (None, Some(l)) => Some(RuleSel::Line(l)),
        _ => None,
    };
    anyhow::ensure!(
        expect.is_some() || rule.is_some(),
        "say what you expected: --expect accept|drop, or --rule 'TABLE CHAIN N' / --line N"
    );
    let req = Request {
        ingress,
        packet,
        expect,
        rule,
        before: Vec::new(),
    };
    if a.conn {
        let c =
            nfwalk_analyze::explain_conn(&host, &req, crate::cmd::trace::close_of(a.close)).map_err(|e| anyhow!(e))?;
        match a.format {
            Format::Text => print!("{}", nfwalk_analyze::render::conn_text(&c)),
            Format::Json | Format::Jsonl => println!("{}", serde_json::to_string_pretty(&c)?),
        }
        return Ok(if c.as_expected == Some(false) { 1 } else { 0 });
    }
    let ex = explain(&host, &req).map_err(|e| anyhow!(e))?;
    match a.format {
        Format::Text => print!("{}", nfwalk_analyze::render::explanation_text(&ex)),
        Format::Json | Format::Jsonl => println!("{}", serde_json::to_string_pretty(&ex)?),
    }
    Ok(if ex.as_expected == Some(false) { 1 } else { 0 })
}
