//! Hash maps keyed by what placement and the audit index: node names, sids, small integers. SipHash (std's
//! default) guards against keys chosen to collide; these keys come from the user's own cluster, and hashing them
//! was a tenth of a large audit's instructions, so a multiply-rotate hash over 8-byte words serves instead.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`WordHasher`]; build it with `FastMap::default()` or `collect()`.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// A `HashSet` with [`WordHasher`].
pub type FastSet<K> = HashSet<K, BuildHasherDefault<WordHasher>>;

/// Multiply-rotate over 8-byte words (the scheme of rustc's FxHasher).
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(bytes: &[u8]) -> u64 {
        let mut h = WordHasher::default();
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn keys_that_differ_in_any_byte_or_length_hash_apart() {
        let keys: [&[u8]; 6] = [
            b"ct:130",
            b"ct:131",
            b"vm:130",
            b"proxmox",
            b"proxmox2",
            b"proxmox2\0",
        ];
        let hashes: FastSet<u64> = keys.iter().map(|k| hash(k)).collect();
        // A trailing NUL pads like the remainder does; std's str hashing adds a 0xff terminator, so str keys of
        // different lengths never meet this case. The five distinct byte strings before it all hash apart.
        assert!(hashes.len() >= 5, "{hashes:?}");
        let map: FastMap<&str, usize> = [("proxmox", 1), ("proxmox2", 2)].into_iter().collect();
        assert_eq!(map.get("proxmox2"), Some(&2));
        assert_eq!(map.get("proxmox3"), None);
    }
}
