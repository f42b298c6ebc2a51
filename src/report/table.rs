//! Counting tables for the report's hot path, laid out for the cache.
//!
//! Measured on the generated 1,000,000-line log: with `HashMap<Box<str>, u64>` and
//! `HashMap<IpAddr, u64>`, a third of `report`'s time went to the maps, mostly waiting for
//! memory: every key's bytes in its own heap allocation, and 16-byte address entries spread
//! over a megabyte. Here string keys live one after another in one arena and each entry keeps
//! its full hash (a lookup compares bytes only for the entry that will match); IPv4 entries are
//! 8 bytes.

use hashbrown::HashTable;

use super::hash::FastState;

/// One string key's entry: where its bytes are in the arena, and its count.
#[derive(Debug, Clone, Copy)]
struct StrEntry {
    hash: u64,
    start: usize,
    len: usize,
    count: u64,
}

/// Counts per string key; a key's bytes are copied (into the arena) only when first seen.
#[derive(Debug, Default)]
pub struct StrCounts {
    hasher: FastState,
    table: HashTable<StrEntry>,
    arena: Vec<u8>,
}

impl StrCounts {
    /// Adds `n` to `key`'s count.
    #[inline]
    pub fn add(&mut self, key: &str, n: u64) {
        let hash = self.hash(key);
        self.add_hashed(key, hash, n);
    }

    /// The hash [`StrCounts::add_hashed`] wants for `key` (to hash a key once for two uses).
    #[inline]
    pub fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_bytes(key.as_bytes())
    }

    /// Adds `n` to `key`'s count, given its [hash](StrCounts::hash).
    #[inline]
    pub fn add_hashed(&mut self, key: &str, hash: u64, n: u64) {
        let key = key.as_bytes();
        let arena = &self.arena;
        if let Some(e) = self.table.find_mut(hash, |e| {
            e.hash == hash
                && e.len == key.len()
                && same_bytes(&arena[e.start..e.start + e.len], key)
        }) {
            e.count += n;
            return;
        }
        self.insert_new(key, hash, n);
    }

    /// Adds `n` to `key`'s count, telling keys apart by their 64-bit [hash](StrCounts::hash)
    /// alone: for long keys (user agents, 100-200 bytes) where comparing the bytes on every
    /// line costs more than the look-up. Two keys with one hash would share a count; with a
    /// seeded 64-bit hash and a million distinct keys the chance is about one in 10^7.
    #[inline]
    pub fn add_by_hash(&mut self, key: &str, hash: u64, n: u64) {
        if let Some(e) = self.table.find_mut(hash, |e| e.hash == hash) {
            e.count += n;
            return;
        }
        self.insert_new(key.as_bytes(), hash, n);
    }

    /// Adds a key not in the table yet: its bytes go to the arena.
    fn insert_new(&mut self, key: &[u8], hash: u64, n: u64) {
        let start = self.arena.len();
        self.arena.extend_from_slice(key);
        self.table.insert_unique(
            hash,
            StrEntry {
                hash,
                start,
                len: key.len(),
                count: n,
            },
            |e| e.hash,
        );
    }

    /// `key`'s count (0 when never counted).
    pub fn get(&self, key: &str) -> u64 {
        let hash = self.hash(key);
        let arena = &self.arena;
        self.table
            .find(hash, |e| {
                e.hash == hash
                    && e.len == key.len()
                    && same_bytes(&arena[e.start..e.start + e.len], key.as_bytes())
            })
            .map_or(0, |e| e.count)
    }

    /// Distinct keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no key was counted.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every key with its count, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.table.iter().map(|e| {
            let bytes = &self.arena[e.start..e.start + e.len];
            // Keys are copied from `&str`s whole, so they are UTF-8.
            (std::str::from_utf8(bytes).expect("keys are UTF-8"), e.count)
        })
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: StrCounts) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for (k, n) in other.iter() {
            self.add(k, n);
        }
    }
}

/// Whether two byte strings of the same length are equal, compared a word at a time inline:
/// keys are tens of bytes, where a call to `memcmp` costs more than the comparison.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    debug_assert_eq!(n, b.len());
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last eight bytes, overlapping words already compared.
    word(a, n - 8) == word(b, n - 8)
}

/// Counts per IPv4 address: 8-byte entries (address, count), with counts past `u32::MAX`
/// carried into a side map (a single address sending four billion requests is rare).
#[derive(Debug, Default)]
pub struct V4Counts {
    hasher: FastState,
    table: HashTable<(u32, u32)>,
    carried: hashbrown::HashMap<u32, u64, FastState>,
}

impl V4Counts {
    /// Adds one to `ip`'s count.
    #[inline]
    pub fn add_one(&mut self, ip: u32) {
        let hash = self.hasher.hash_u64(u64::from(ip));
        if let Some(e) = self.table.find_mut(hash, |e| e.0 == ip) {
            if e.1 == u32::MAX {
                *self.carried.entry(ip).or_default() += u64::from(u32::MAX);
                e.1 = 0;
            }
            e.1 += 1;
            return;
        }
        let hasher = self.hasher;
        self.table
            .insert_unique(hash, (ip, 1), |e| hasher.hash_u64(u64::from(e.0)));
    }

    /// Adds `n` to `ip`'s count.
    pub fn add(&mut self, ip: u32, n: u64) {
        if n == 0 {
            return;
        }
        let hash = self.hasher.hash_u64(u64::from(ip));
        let hasher = self.hasher;
        let e = match self.table.find_mut(hash, |e| e.0 == ip) {
            Some(e) => e,
            None => self
                .table
                .insert_unique(hash, (ip, 0), |e| hasher.hash_u64(u64::from(e.0)))
                .into_mut(),
        };
        let sum = u64::from(e.1) + n;
        e.1 = (sum % (1 << 32)) as u32;
        if sum >> 32 > 0 {
            *self.carried.entry(ip).or_default() += (sum >> 32) << 32;
        }
    }

    /// Distinct addresses.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Every address with its count, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.table.iter().map(|&(ip, n)| {
            (
                ip,
                u64::from(n) + self.carried.get(&ip).copied().unwrap_or(0),
            )
        })
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: V4Counts) {
        if self.table.is_empty() {
            *self = other;
            return;
        }
        for (ip, n) in other.iter() {
            self.add(ip, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn same_bytes_agrees_with_eq() {
        let base: Vec<u8> = (0..70u8).collect();
        for n in 0..70 {
            let a = &base[..n];
            assert!(same_bytes(a, a));
            for i in 0..n {
                let mut b = a.to_vec();
                b[i] ^= 0x20;
                assert!(!same_bytes(a, &b), "{n} {i}");
            }
        }
    }

    #[test]
    fn str_counts_count_exactly() {
        let mut a = StrCounts::default();
        let mut b = StrCounts::default();
        let mut want: HashMap<String, u64> = HashMap::new();
        for i in 0..20_000u64 {
            let k = format!("/p/{}", (i * 7919) % 3001);
            let k = if i % 5 == 0 { k.repeat(3) } else { k };
            *want.entry(k.clone()).or_default() += 1;
            if i % 2 == 0 { &mut a } else { &mut b }.add(&k, 1);
        }
        a.add("", 2);
        *want.entry(String::new()).or_default() += 2;
        a.merge(b);
        let got: HashMap<String, u64> = a.iter().map(|(k, n)| (k.to_string(), n)).collect();
        assert_eq!(got, want);
        assert_eq!(a.len(), want.len());
    }

    #[test]
    fn v4_counts_carry_past_u32() {
        let mut a = V4Counts::default();
        for ip in 0..50_000u32 {
            a.add_one(ip.wrapping_mul(2_654_435_761));
            a.add_one(7);
        }
        let mut b = V4Counts::default();
        b.add(7, u64::from(u32::MAX) - 10);
        b.add(8, 5 << 32);
        for _ in 0..20 {
            b.add_one(7);
        }
        a.merge(b);
        let got: HashMap<u32, u64> = a.iter().collect();
        assert_eq!(got[&7], 50_000 + u64::from(u32::MAX) - 10 + 20);
        assert_eq!(got[&8], 5 << 32);
        assert_eq!(got[&2_654_435_761], 1);
        assert_eq!(a.len(), 50_000 + 2);
    }
}
