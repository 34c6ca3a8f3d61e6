//! Searches over the 16 slots of a free-tree node, with no branch on the data.
//!
//! A node keeps its unused slots filled with sentinels (addresses and keys [`SENTINEL`], sizes
//! and maxes 0; see `tree.rs`), so every search here looks at all 16 lanes, whatever the node's
//! length: a count of the lanes below a key replaces a binary search, and a mask and
//! `trailing_zeros` replace a scan that stops at the first fit. Neither has a data-dependent
//! branch to mispredict.
//!
//! Every value in a row, and every key and need searched for, is at most [`SENTINEL`], below
//! 2^63 (the tree holds addresses and sizes below [`crate::alloc::model::ADDRESS_LIMIT`] plus
//! [`crate::alloc::model::ALIGN`], far below it), so a signed compare orders them as unsigned
//! numbers and the vector code compares them directly.
//!
//! Two implementations give the same answers for every such input: AVX2 (four 4-lane compares
//! per node), chosen at run time when the CPU has it, and a portable scalar one. The x86-64
//! baseline, SSE2, has no 64-bit compare, so code written for it compiles into emulated compares
//! that cost more than the branchy search; hence the run-time choice rather than portable vector
//! code.
//! The test at the end runs both on random nodes and compares.

/// The number of slots every search looks at: the node capacity.
pub const LANES: usize = 16;

/// One node's worth of addresses, keys, sizes or maxes.
pub type Row = [u64; LANES];

/// The address and key of an unused slot, above every address: the largest value both a signed
/// and an unsigned compare order the same way. Every value searched is at most this.
pub const SENTINEL: u64 = i64::MAX as u64;

/// The searches, by one implementation. Hot loops are written once, generic over this, and
/// compiled twice: for [`Scalar`], and for [`Avx2`] inside a function with AVX2 enabled, so that
/// the vector code is inlined into the loop.
pub trait Search: Copy {
    /// The number of lanes of `row` below `key`.
    fn count_below(self, row: &Row, key: u64) -> usize;
    /// The number of lanes of `row` other than lane 0 at or below `key`.
    fn count_at_most_past_first(self, row: &Row, key: u64) -> usize;
    /// The largest lane of `row`.
    fn max(self, row: &Row) -> u64;
    /// Bit `i` set iff lane `i` of `row` is at least `need`.
    fn at_least_mask(self, row: &Row, need: u64) -> u32;

    /// The first lane of `row` whose value is at least `need`, for `need >= 1`: a row of sizes
    /// or maxes, whose unused lanes hold 0, needs no window.
    #[inline(always)]
    fn first_at_least_of_all(self, row: &Row, need: u64) -> Option<usize> {
        debug_assert!(need >= 1);
        let mask = self.at_least_mask(row, need);
        (mask != 0).then(|| mask.trailing_zeros() as usize)
    }

    /// The first lane in `from..len` whose value is at least `need`.
    #[inline(always)]
    fn first_at_least(self, row: &Row, from: usize, len: usize, need: u64) -> Option<usize> {
        debug_assert!(len <= LANES);
        // Lanes `from..len` (none if `from >= len`).
        let window = (((1u32 << len) - 1) >> from.min(LANES)) << from.min(LANES);
        let mask = self.at_least_mask(row, need) & window;
        (mask != 0).then(|| mask.trailing_zeros() as usize)
    }
}

/// The portable implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scalar;

impl Search for Scalar {
    #[inline(always)]
    fn count_below(self, row: &Row, key: u64) -> usize {
        scalar::count_below(row, key)
    }
    #[inline(always)]
    fn count_at_most_past_first(self, row: &Row, key: u64) -> usize {
        scalar::count_at_most_past_first(row, key)
    }
    #[inline(always)]
    fn max(self, row: &Row) -> u64 {
        scalar::max(row)
    }
    #[inline(always)]
    fn at_least_mask(self, row: &Row, need: u64) -> u32 {
        scalar::at_least_mask(row, need)
    }
}

/// The AVX2 implementation. A value exists only on a CPU with AVX2 and POPCNT: it is made
/// only by [`Lanes::detect`], and it is what makes calling the vector code sound.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Search for Avx2 {
    // SAFETY (each block): an `Avx2` value exists only if the CPU has AVX2 and POPCNT.
    #[inline(always)]
    fn count_below(self, row: &Row, key: u64) -> usize {
        unsafe { avx2::count_below(row, key) }
    }
    #[inline(always)]
    fn count_at_most_past_first(self, row: &Row, key: u64) -> usize {
        unsafe { avx2::count_at_most_past_first(row, key) }
    }
    #[inline(always)]
    fn max(self, row: &Row) -> u64 {
        unsafe { avx2::max(row) }
    }
    #[inline(always)]
    fn at_least_mask(self, row: &Row, need: u64) -> u32 {
        unsafe { avx2::at_least_mask(row, need) }
    }
}

/// Which implementation runs the searches: decided once, when a tree is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lanes {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<Avx2>,
}

impl Default for Lanes {
    fn default() -> Lanes {
        Lanes::detect()
    }
}

impl Lanes {
    /// AVX2 (with POPCNT) if this CPU has it, else scalar.
    pub fn detect() -> Lanes {
        Lanes {
            #[cfg(target_arch = "x86_64")]
            avx2: (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt"))
                .then_some(Avx2(())),
        }
    }

    /// The portable implementation, whatever the CPU.
    #[cfg(test)]
    pub const SCALAR: Lanes = Lanes {
        #[cfg(target_arch = "x86_64")]
        avx2: None,
    };

    /// The AVX2 implementation, if this CPU has it.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    pub fn avx2(self) -> Option<Avx2> {
        self.avx2
    }
}

/// Each search asks which implementation to run, then runs it: for code that is not compiled
/// for one implementation (tests, rare paths). Hot code is generic over [`Search`] and compiled
/// for [`Avx2`] or [`Scalar`] itself.
impl Search for Lanes {
    #[inline]
    fn count_below(self, row: &Row, key: u64) -> usize {
        #[cfg(target_arch = "x86_64")]
        if let Some(fast) = self.avx2 {
            return fast.count_below(row, key);
        }
        Scalar.count_below(row, key)
    }

    #[inline]
    fn count_at_most_past_first(self, row: &Row, key: u64) -> usize {
        #[cfg(target_arch = "x86_64")]
        if let Some(fast) = self.avx2 {
            return fast.count_at_most_past_first(row, key);
        }
        Scalar.count_at_most_past_first(row, key)
    }

    #[inline]
    fn max(self, row: &Row) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if let Some(fast) = self.avx2 {
            return fast.max(row);
        }
        Scalar.max(row)
    }

    #[inline]
    fn at_least_mask(self, row: &Row, need: u64) -> u32 {
        #[cfg(target_arch = "x86_64")]
        if let Some(fast) = self.avx2 {
            return fast.at_least_mask(row, need);
        }
        Scalar.at_least_mask(row, need)
    }
}

mod scalar {
    use super::Row;

    pub fn count_below(row: &Row, key: u64) -> usize {
        row.iter().map(|&v| usize::from(v < key)).sum()
    }

    pub fn count_at_most_past_first(row: &Row, key: u64) -> usize {
        row[1..].iter().map(|&v| usize::from(v <= key)).sum()
    }

    pub fn max(row: &Row) -> u64 {
        row.iter().fold(0, |m, &v| m.max(v))
    }

    pub fn at_least_mask(row: &Row, need: u64) -> u32 {
        row.iter().enumerate().fold(0, |m, (i, &v)| m | u32::from(v >= need) << i)
    }
}

/// AVX2 compares 64-bit lanes as signed numbers only; every value is at most [`SENTINEL`]
/// (below 2^63), where signed and unsigned order agree, so no lane needs flipping first.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Row;
    use std::arch::x86_64::*;

    /// Lanes `4 * quarter .. 4 * quarter + 4` of `row`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(row: &Row, quarter: usize) -> __m256i {
        debug_assert!(quarter < 4);
        // SAFETY: `row` has 16 lanes, so lanes `4 * quarter ..` up to 16 are in bounds for
        // `quarter < 4`; `loadu` needs no alignment.
        unsafe { _mm256_loadu_si256(row.as_ptr().add(4 * quarter).cast()) }
    }

    /// Bit `i` set iff lane `i` of `row` is below `key`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn below_mask(row: &Row, key: u64) -> u32 {
        let k = _mm256_set1_epi64x(key as i64);
        let mut mask = 0;
        for quarter in 0..4 {
            let below = _mm256_cmpgt_epi64(k, load(row, quarter));
            mask |= (_mm256_movemask_pd(_mm256_castsi256_pd(below)) as u32) << (4 * quarter);
        }
        mask
    }

    #[inline]
    #[target_feature(enable = "avx2,popcnt")]
    pub fn count_below(row: &Row, key: u64) -> usize {
        below_mask(row, key).count_ones() as usize
    }

    #[inline]
    #[target_feature(enable = "avx2,popcnt")]
    pub fn count_at_most_past_first(row: &Row, key: u64) -> usize {
        // At or below `key` is not above it; lane 0 is left out.
        let k = _mm256_set1_epi64x(key as i64);
        let mut above = 0;
        for quarter in 0..4 {
            let gt = _mm256_cmpgt_epi64(load(row, quarter), k);
            above |= (_mm256_movemask_pd(_mm256_castsi256_pd(gt)) as u32) << (4 * quarter);
        }
        (!above & 0xfffe).count_ones() as usize
    }

    #[inline]
    #[target_feature(enable = "avx2,popcnt")]
    pub fn at_least_mask(row: &Row, need: u64) -> u32 {
        !below_mask(row, need) & 0xffff
    }

    #[inline]
    #[target_feature(enable = "avx2,popcnt")]
    pub fn max(row: &Row) -> u64 {
        let larger = |a, b| _mm256_blendv_epi8(b, a, _mm256_cmpgt_epi64(a, b));
        let (a, b) = (load(row, 0), load(row, 1));
        let (c, d) = (load(row, 2), load(row, 3));
        let m = larger(larger(a, b), larger(c, d));
        let (lo, hi) = (_mm256_castsi256_si128(m), _mm256_extracti128_si256::<1>(m));
        let m = _mm_blendv_epi8(hi, lo, _mm_cmpgt_epi64(lo, hi));
        let swapped = _mm_unpackhi_epi64(m, m);
        let m = _mm_blendv_epi8(swapped, m, _mm_cmpgt_epi64(m, swapped));
        _mm_cvtsi128_si64(m) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows mixing the values the tree stores: sentinels, small sizes, addresses, extremes (up
    /// to [`SENTINEL`], the largest value a row may hold).
    fn rows() -> Vec<Row> {
        let mut next = crate::alloc::model::random::xorshift(0x2545_F491_4F6C_DD1D);
        let picks = [0, 1, 16, 17, 48, 1 << 47, 1 << 62, SENTINEL - 1, SENTINEL];
        (0..3000)
            .map(|_| {
                let mut row = [0; LANES];
                for lane in &mut row {
                    let r = next();
                    *lane = match r % 4 {
                        0 => picks[(r >> 8) as usize % picks.len()],
                        1 => 16 * ((r >> 8) % 8),
                        _ => (r >> 1) >> (r % 64),
                    };
                }
                if next() % 2 == 0 {
                    row.sort_unstable();
                }
                row
            })
            .collect()
    }

    fn check_agree(fast: Lanes) {
        let slow = Lanes::SCALAR;
        for row in rows() {
            let mut keys: Vec<u64> = row.to_vec();
            keys.extend([0, 1, 15, 16, 32, 1 << 62, SENTINEL]);
            keys.extend(row.iter().map(|&v| (v + 1).min(SENTINEL)));
            assert_eq!(fast.max(&row), slow.max(&row), "{row:?}");
            assert_eq!(slow.max(&row), *row.iter().max().unwrap());
            for key in keys {
                let below = fast.count_below(&row, key);
                assert_eq!(below, slow.count_below(&row, key), "{row:?} {key}");
                assert_eq!(below, row.iter().filter(|&&v| v < key).count());
                let at_most = fast.count_at_most_past_first(&row, key);
                assert_eq!(at_most, slow.count_at_most_past_first(&row, key), "{row:?} {key}");
                assert_eq!(at_most, row[1..].iter().filter(|&&v| v <= key).count());
                for (from, len) in [(0, 16), (0, 0), (3, 9), (9, 3), (15, 16), (16, 16), (0, 1)] {
                    let first = fast.first_at_least(&row, from, len, key);
                    assert_eq!(first, slow.first_at_least(&row, from, len, key));
                    let scan = (from..len).find(|&i| row[i] >= key);
                    assert_eq!(first, scan, "{row:?} {key} {from}..{len}");
                }
                if key >= 1 {
                    let first = fast.first_at_least_of_all(&row, key);
                    assert_eq!(first, slow.first_at_least_of_all(&row, key));
                    assert_eq!(first, row.iter().position(|&v| v >= key), "{row:?} {key}");
                }
            }
        }
    }

    #[test]
    fn the_scalar_searches_agree_with_a_plain_scan() {
        check_agree(Lanes::SCALAR);
    }

    #[test]
    fn the_vector_searches_give_the_same_answers_as_the_scalar_ones() {
        let detected = Lanes::detect();
        if detected == Lanes::SCALAR {
            eprintln!("no AVX2 on this CPU: only the scalar searches are tested");
        }
        check_agree(detected);
    }
}
