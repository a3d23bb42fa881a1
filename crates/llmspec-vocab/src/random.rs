//! A small seeded generator (SplitMix64) and a stable digest (FNV-1a): Poisson arrivals, fuzzed
//! cases, instance names and shard assignments must come out the same on every machine and in
//! every run, with no dependency for it (std's hasher promises neither).

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_from_a_seed_and_stays_in_range() {
        let (mut a, mut b) = (SplitMix(7), SplitMix(7));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let (u, v) = (a.unit(), b.unit());
            assert!((0.0..1.0).contains(&u) && u == v);
            assert!(a.below(10) < 10 && b.below(10) < 10);
        }
        // The reference value of SplitMix64 for seed 0.
        assert_eq!(SplitMix(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        // FNV-1a's published test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
