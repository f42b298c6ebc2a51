//! A fast hasher for the report's maps: folded multiplies over 16 bytes at a time.
//!
//! The std `HashMap`'s SipHash costs more than the rest of a line's counting; this one is a few
//! multiplies per key. It is seeded at random once per process (from std's `RandomState`), so
//! log lines written by an attacker cannot be chosen to collide. Counting never depends on the
//! hash's quality, only speed does: the maps compare whole keys.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A `HashMap` with [`FastState`].
pub type FastMap<K, V> = HashMap<K, V, FastState>;

const K1: u64 = 0x243F_6A88_85A3_08D3;
const K2: u64 = 0x1319_8A2E_0370_7344;

fn process_seed() -> (u64, u64) {
    static SEED: OnceLock<(u64, u64)> = OnceLock::new();
    *SEED.get_or_init(|| {
        let s = std::collections::hash_map::RandomState::new();
        (s.hash_one(1u64) | 1, s.hash_one(2u64))
    })
}

/// Builds [`FastHasher`]s with the process's seed.
#[derive(Debug, Clone, Copy)]
pub struct FastState {
    seed: u64,
    seed2: u64,
}

impl Default for FastState {
    fn default() -> Self {
        let (seed, seed2) = process_seed();
        FastState { seed, seed2 }
    }
}

impl FastState {
    /// The hash of a byte string (one pass, no length suffix: callers compare whole keys).
    #[inline]
    pub fn hash_bytes(&self, bytes: &[u8]) -> u64 {
        let mut h = self.build_hasher();
        h.write(bytes);
        h.finish()
    }

    /// The hash of a number.
    #[inline]
    pub fn hash_u64(&self, n: u64) -> u64 {
        let mut h = self.build_hasher();
        h.write_u64(n);
        h.finish()
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher {
            h: self.seed,
            k: self.seed2 ^ K2,
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct FastHasher {
    h: u64,
    k: u64,
}

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let mut h = self.h ^ (n as u64).wrapping_mul(K1);
        if n >= 8 {
            let mut i = 0;
            while i + 16 <= n {
                h = fold(word(bytes, i) ^ h, word(bytes, i + 8) ^ self.k);
                i += 16;
            }
            // The rest, read as whole words that may overlap bytes already mixed in.
            let rest = n - i;
            if rest > 8 {
                h = fold(word(bytes, i) ^ h, word(bytes, n - 8) ^ self.k);
            } else if rest > 0 {
                h = fold(word(bytes, n - 8) ^ h, self.k ^ K1);
            }
        } else if n > 0 {
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(bytes);
            h = fold(u64::from_le_bytes(buf) ^ h, self.k ^ K1);
        }
        self.h = h;
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.h = fold(i ^ self.h, self.k ^ K1);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.h = fold((i as u64) ^ self.h, ((i >> 64) as u64) ^ self.k);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.h, self.k ^ K2).rotate_left(23)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_near_keys_differ() {
        let s = FastState::default();
        let keys: Vec<String> = (0..5000)
            .map(|i| format!("/blog/2020/post-{i}.html"))
            .chain((0..40).map(|i| "x".repeat(i)))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for k in &keys {
            assert_eq!(s.hash_one(k.as_str()), s.hash_one(k.clone()));
            seen.insert(s.hash_one(k.as_str()));
        }
        assert_eq!(seen.len(), keys.len());
        let mut m: FastMap<Box<str>, u64> = FastMap::default();
        for k in &keys {
            *m.entry(k.as_str().into()).or_default() += 1;
        }
        assert_eq!(m.get("/blog/2020/post-17.html"), Some(&1));
    }
}

/// Builds [`MixedHasher`]s: for keys that are already well-mixed 64-bit hashes (visitor keys),
/// which need no second hash.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mixed;

/// Passes a `u64` key through as its own hash.
#[derive(Debug, Default)]
pub struct MixedHasher(u64);

impl Hasher for MixedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys come here; anything else is folded in, correctly if slowly.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K1);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for Mixed {
    type Hasher = MixedHasher;

    fn build_hasher(&self) -> MixedHasher {
        MixedHasher::default()
    }
}
