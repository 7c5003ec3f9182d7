//! Any bytes given to the capture reader give frames or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names = |i: u32| Some(format!("if{i}"));
    let _ = nfwalk_parse::pcap::read_pcap(data, &names, Some("eth0"));
});
