//! foliolab's own PRNG, shared by the fuzzer and the race explorer: xoshiro256** seeded
//! through SplitMix64, integer-only API.
//!
//! Pinned here so that a seed means the same run (the same fuzz case, the same explorer
//! schedule) on every platform and every toolchain (nothing from `rand`, nothing floating
//! point). The generator draws through the [`Entropy`] trait, so a byte string (cargo-fuzz)
//! can drive it as well.

/// A source of random 64-bit words.
pub trait Entropy {
    fn next_u64(&mut self) -> u64;
}

/// SplitMix64 step: used to expand a seed and to derive per-case seeds.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of case `index` of a campaign seeded with `campaign`.
pub fn case_seed(campaign: u64, index: u64) -> u64 {
    let mut s = campaign ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03);
    splitmix64(&mut s)
}

/// xoshiro256** (Blackman and Vigna, 2018).
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
        assert!(
            s.iter().any(|&w| w != 0),
            "xoshiro state must not be all zero"
        );
        Prng { s }
    }

    /// The next word of the sequence.
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
        assert!(n > 0, "below(0)");
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

impl Entropy for Prng {
    fn next_u64(&mut self) -> u64 {
        Prng::next_u64(self)
    }
}

/// Bytes as entropy (cargo-fuzz): eight bytes per word, zeros once exhausted.
pub struct ByteEntropy<'a> {
    bytes: &'a [u8],
}

impl<'a> ByteEntropy<'a> {
    pub fn new(bytes: &'a [u8]) -> ByteEntropy<'a> {
        ByteEntropy { bytes }
    }
    pub fn exhausted(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Entropy for ByteEntropy<'_> {
    fn next_u64(&mut self) -> u64 {
        let n = self.bytes.len().min(8);
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        u64::from_le_bytes(w)
    }
}

/// Integer-only draws over any [`Entropy`].
pub struct Rng<'a> {
    src: Box<dyn Entropy + 'a>,
}

impl<'a> Rng<'a> {
    pub fn new(src: impl Entropy + 'a) -> Rng<'a> {
        Rng { src: Box::new(src) }
    }

    pub fn u64(&mut self) -> u64 {
        self.src.next_u64()
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; `n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        ((self.u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "between({lo}, {hi})");
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        assert!(num <= den && den > 0);
        self.below(den) < num
    }

    /// One element of a non-empty slice.
    pub fn pick<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index drawn with the given weights; `None` when all are zero.
    pub fn weighted(&mut self, weights: &[u64]) -> Option<usize> {
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return Some(i);
            }
            x -= w;
        }
        unreachable!("weights sum to {total}")
    }

    /// Roughly exponential in `1..=max` with mean near `mean` (a geometric draw: each
    /// further unit survives with probability (mean-1)/mean), clamped to `max`.
    pub fn exponential(&mut self, mean: u64, max: u64) -> u64 {
        assert!(mean >= 1 && max >= 1);
        // Inverse CDF on a power-of-two scale: value = 2^k-ish with k uniform-ish, which
        // gives the long tail of swarm sizes without floating point.
        let bits = 64 - mean.leading_zeros() as u64; // log2(mean) + 1
        let k = self.below(2 * bits + 1);
        let base = 1u64 << k.min(62);
        let v = base + self.below(base);
        v.clamp(1, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_is_pinned() {
        // If this changes, every recorded seed (fuzz cases, explorer schedules) means
        // something else: do not change it.
        let mut p = Prng::new(1);
        let words = [p.next_u64(), p.next_u64(), p.next_u64()];
        assert_eq!(
            words,
            [
                0xb3f2_af6d_0fc7_10c5,
                0x853b_5596_4736_4cea,
                0x92f8_9756_082a_4514
            ]
        );
        let mut q = Prng::new(0x5eed);
        let draws: Vec<u64> = (0..5).map(|_| q.below(1000)).collect();
        assert_eq!(draws, [934, 882, 846, 974, 685]);
        assert_eq!(case_seed(0x5eed, 3), 0xea51_ef4c_e9dd_b022);
        assert_ne!(Prng::new(2).next_u64(), Prng::new(1).next_u64());
    }

    #[test]
    fn the_trait_and_the_methods_draw_the_same_words() {
        let mut direct = Prng::new(9);
        let mut through = Rng::new(Prng::new(9));
        for _ in 0..100 {
            assert_eq!(direct.below(1 << 40), through.below(1 << 40));
        }
    }

    #[test]
    fn shuffle_permutes() {
        let mut v: Vec<u32> = (0..50).collect();
        Prng::new(3).shuffle(&mut v);
        assert_ne!(v, (0..50).collect::<Vec<u32>>());
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<u32>>());
    }

    #[test]
    fn draws_stay_in_bounds() {
        let mut r = Rng::new(Prng::new(7));
        for _ in 0..10_000 {
            assert!(r.below(3) < 3);
            let e = r.exponential(16, 512);
            assert!((1..=512).contains(&e));
            let b = r.between(4, 9);
            assert!((4..=9).contains(&b));
        }
        assert_eq!(r.weighted(&[0, 0]), None);
        assert_eq!(r.weighted(&[0, 5, 0]), Some(1));
    }

    #[test]
    fn bytes_run_out_as_zeros() {
        let mut b = ByteEntropy::new(&[1, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(b.next_u64(), 1);
        assert_eq!(b.next_u64(), 2);
        assert!(b.exhausted());
        assert_eq!(b.next_u64(), 0);
    }
}
