//! The spec's fingerprint in the reports: FNV-1a over the document, the overlay and the
//! catalogue. The build computes the embedded spec's (see `build.rs`).

use std::fmt::Write as _;

pub fn fnv1a(parts: [&str; 3]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut out = String::new();
    let _ = write!(out, "{hash:016x}");
    out
}
