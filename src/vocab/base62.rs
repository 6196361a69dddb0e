//! Base62 text: random identifiers and fixed-width encodings of digests.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The base62 alphabet, in sort order.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `count` random base62 characters, unbiased (rejection sampling).
pub fn random_base62(count: usize) -> String {
    random_from(BASE62, count)
}

/// `count` characters drawn uniformly from `alphabet` (at most 256 of them) by
/// the system RNG.
pub fn random_from(alphabet: &[u8], count: usize) -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(count);
    let mut buf = [0u8; 64];
    // Bytes at or above the last whole multiple of the alphabet's size would bias
    // the distribution.
    let bound = 256 - 256 % alphabet.len();
    while out.len() < count {
        // The system RNG failing is unrecoverable; there is no safe fallback.
        rng.fill(&mut buf).expect("system random number generator failed");
        for b in buf {
            if usize::from(b) < bound && out.len() < count {
                out.push(alphabet[usize::from(b) % alphabet.len()] as char);
            }
        }
    }
    out
}

/// `len` base62 characters of the number in the first 8 bytes of `bytes` (a
/// fixed-width encoding of a digest, for tags; not for secrets).
pub fn base62(bytes: &[u8], len: usize) -> String {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    let mut n = u64::from_be_bytes(word);
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap_or_default()
}
