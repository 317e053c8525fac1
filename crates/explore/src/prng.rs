//! The explorer's PRNG: xoshiro256** (Blackman and Vigna) seeded through SplitMix64,
//! integer-only, pinned here so a seed means the same schedules on every platform. (The
//! fuzzer has the same generator in `foliolab-fuzz`; the explorer may not depend on it.)

/// SplitMix64 step.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of run `index` of a campaign seeded with `campaign`.
pub fn case_seed(campaign: u64, index: u64) -> u64 {
    let mut s = campaign ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03);
    splitmix64(&mut s)
}

#[derive(Clone, Debug)]
pub struct Prng {
    s: [u64; 4],
}

impl Prng {
    pub fn new(seed: u64) -> Prng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Prng { s }
    }
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }
    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for small n).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_sequence() {
        let mut p = Prng::new(1);
        let first: Vec<u64> = (0..3).map(|_| p.below(1000)).collect();
        let mut q = Prng::new(1);
        let again: Vec<u64> = (0..3).map(|_| q.below(1000)).collect();
        assert_eq!(first, again);
        assert_ne!(Prng::new(2).next_u64(), Prng::new(1).next_u64());
        assert!(first.iter().all(|&x| x < 1000));
    }
}
