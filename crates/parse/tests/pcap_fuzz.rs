//! Random and mangled input never panics `read_pcap`.

use nfwalk_parse::pcap::read_pcap;
use proptest::prelude::*;

fn fixture() -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/pcap-any-sll2.pcap", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_pcap(&bytes, &|_| None, None);
    }

    #[test]
    fn random_bytes_after_pcap_magic(lt in prop_oneof![Just(1u8), Just(101), Just(113), Just(228), any::<u8>()],
                                     lt_hi in prop_oneof![Just(0u8), Just(1)],
                                     bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0,0,0,0, 0,0,0,0, 0xff,0xff,0,0, lt, lt_hi, 0, 0];
        f.extend(bytes);
        let _ = read_pcap(&f, &|_| None, None);
    }

    #[test]
    fn random_bytes_after_pcapng_magic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut f = vec![0x0a, 0x0d, 0x0d, 0x0a];
        f.extend(bytes);
        let _ = read_pcap(&f, &|_| None, None);
    }

    #[test]
    fn mangled_real_capture(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..20),
                            cut in any::<usize>()) {
        let mut f = fixture();
        for (pos, val) in flips {
            let n = f.len();
            f[pos % n] = val;
        }
        let n = f.len();
        f.truncate(cut % (n + 1));
        let _ = read_pcap(&f, &|_| None, Some("x"));
    }
}
