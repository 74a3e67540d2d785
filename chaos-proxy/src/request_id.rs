//! `X-Toxiproxy-Request-Id`, as Toxiproxy's request-id middleware (zerolog's `hlog`, which uses
//! rs/xid) sets it on every answer: a 12-byte id (seconds, machine, process, counter) written as
//! twenty characters of lower-case base32hex, sortable by time.
//!
//! The `xid` crate would bring second copies of rand and thiserror for these twenty lines.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng as _;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// A new request id, unique to this process and time-ordered.
pub fn new() -> String {
    static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
    static MACHINE: OnceLock<[u8; 3]> = OnceLock::new();
    let counter = COUNTER.get_or_init(|| AtomicU32::new(rand::rng().random())).fetch_add(1, Ordering::Relaxed);
    let machine = MACHINE.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let hash = name.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
        let [a, b, c, _] = hash.to_be_bytes();
        [a, b, c]
    });
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let mut raw = [0_u8; 12];
    raw[..4].copy_from_slice(&u32::try_from(seconds).unwrap_or(u32::MAX).to_be_bytes());
    raw[4..7].copy_from_slice(machine);
    raw[7..9].copy_from_slice(&u16::try_from(std::process::id() & 0xffff).unwrap_or_default().to_be_bytes());
    raw[9..].copy_from_slice(&counter.to_be_bytes()[1..]);
    encode(&raw)
}

/// Base32hex of 96 bits: five bits per character, the last one padded with zeros.
fn encode(raw: &[u8; 12]) -> String {
    let bits = raw.iter().fold(0_u128, |bits, byte| (bits << 8) | u128::from(*byte)) << 4;
    (0..20).rev().map(|index| char::from(ALPHABET[usize::try_from((bits >> (index * 5)) & 31).unwrap_or(0)])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_twenty_base32hex_characters_and_ids_differ() {
        let (first, second) = (new(), new());
        assert_eq!(first.len(), 20);
        assert!(first.bytes().all(|byte| ALPHABET.contains(&byte)), "{first}");
        assert_ne!(first, second);
    }

    #[test]
    fn the_encoding_is_xids() {
        // rs/xid's own test vector.
        let raw = [0x4d, 0x88, 0xe1, 0x5b, 0x60, 0xf4, 0x86, 0xe4, 0x28, 0x41, 0x2d, 0xc9];
        assert_eq!(encode(&raw), "9m4e2mr0ui3e8a215n4g");
    }
}
