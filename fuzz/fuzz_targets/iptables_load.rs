//! Any text given to the iptables loader gives a ruleset or diagnostics, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = nfwalk_parse::iptables::load("fuzz", text);
        if let Ok(words) = nfwalk_parse::iptables::split_words(text) {
            let _ = nfwalk_parse::iptables::parse_rule_words("fuzz", 1, &words, false);
        }
    }
});
