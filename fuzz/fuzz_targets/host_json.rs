//! Any text given to the `ip -j` and sysctl parsers gives a value or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(mut links) = nfwalk_parse::host::parse_links("f", text) {
            let _ = nfwalk_parse::host::parse_addrs("f", text, &mut links);
        }
        let _ = nfwalk_parse::host::parse_routes("f", text);
        let _ = nfwalk_parse::host::parse_rules("f", text);
        let _ = nfwalk_parse::host::parse_sysctl("f", text);
    }
});
