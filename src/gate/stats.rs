//! The statistical test behind time verdicts: a one-sided Mann-Whitney U test (also called the
//! Wilcoxon rank-sum test), implemented here so that it is deterministic given its inputs.
//!
//! Why this test: it makes no assumption about the shape of timing noise (which is skewed:
//! interruptions only ever make a run slower), it needs no more than a handful of repetitions,
//! and its p-value for small samples is exact.
//!
//! `p_greater(xs, ys)` is the probability, if `xs` and `ys` came from one distribution, of a U
//! statistic at least as large as the one observed, where `U = #{(x, y): x > y} + #{x == y} / 2`.
//! For `len(xs) + len(ys) <= 40` it is exact (the null distribution of U counted by dynamic
//! programming over the arrangements of the two samples; ties count as half, which keeps the
//! test conservative); above that the normal approximation with a continuity correction.
//!
//! `replay compare` tests every strategy's throughput, so it divides the significance level by
//! the number of strategies tested (Bonferroni): the chance of any false alarm in one
//! comparison stays below [`ALPHA`].
//!
//! The smallest p-value `n` and `m` runs can give is `1 / C(n + m, n)`: 0.1 for 2 runs each,
//! 0.05 for 3, 0.014 for 4, 0.004 for 5, 0.001 for 6. So a throughput regression of one
//! strategy can be flagged from 3 runs on each side (`--runs 3`, the default); comparing 9
//! strategies (level 0.05 / 9 = 0.0056) needs `--runs 5` or more.

/// The default significance level of time verdicts.
pub const ALPHA: f64 = 0.05;

/// The fewest repetitions per side at which a difference can be significant at all when
/// `tests` strategies are tested together (Bonferroni: each at `ALPHA / tests`): the smallest
/// `n` with `p_greater` of `n` values all above `n` others, `1 / C(2n, n)`, at most that.
pub fn min_runs(tests: usize) -> usize {
    let level = ALPHA / tests.max(1) as f64;
    (1..64)
        .find(|&n| {
            let all_above: Vec<f64> = (0..n).map(|i| (n + i) as f64).collect();
            let all_below: Vec<f64> = (0..n).map(|i| i as f64).collect();
            p_greater(&all_above, &all_below) <= level
        })
        .unwrap_or(64)
}

/// U: pairs where `x > y`, plus half the ties.
pub fn u_statistic(xs: &[f64], ys: &[f64]) -> f64 {
    let mut u = 0.0;
    for &x in xs {
        for &y in ys {
            if x > y {
                u += 1.0;
            } else if x == y {
                u += 0.5;
            }
        }
    }
    u
}

/// The one-sided p-value of "`xs` tend to be greater than `ys`"; 1 when either is empty.
pub fn p_greater(xs: &[f64], ys: &[f64]) -> f64 {
    let (n, m) = (xs.len(), ys.len());
    if n == 0 || m == 0 {
        return 1.0;
    }
    let u = u_statistic(xs, ys);
    if n + m <= 40 {
        exact_upper_tail(n, m, u)
    } else {
        normal_upper_tail(n, m, u)
    }
}

/// `P(U >= u)` under the null hypothesis, exactly: `counts[k]` is the number of arrangements of
/// `n` x's and `m` y's whose U is `k`, built by the recurrence `c(n, m) = c(n - 1, m) shifted by
/// m + c(n, m - 1)` (the largest value is an x, beating all `m` y's, or a y).
fn exact_upper_tail(n: usize, m: usize, u: f64) -> f64 {
    // table[j] holds the counts for (i, j) as i goes from 0 to n.
    let mut table: Vec<Vec<f64>> = vec![vec![1.0]; m + 1];
    for _ in 1..=n {
        let mut next: Vec<Vec<f64>> = Vec::with_capacity(m + 1);
        for j in 0..=m {
            // c(i, j) = c(i - 1, j) shifted by j, plus c(i, j - 1).
            let shifted = &table[j];
            let len = shifted.len() + j;
            let mut counts = vec![0.0; len];
            for (k, c) in shifted.iter().enumerate() {
                counts[k + j] += c;
            }
            if j > 0 {
                for (k, c) in next[j - 1].iter().enumerate() {
                    counts[k] += c;
                }
            }
            next.push(counts);
        }
        table = next;
    }
    let counts = &table[m];
    let total: f64 = counts.iter().sum();
    // U may be a half-integer with ties: count every value at or above it.
    let tail: f64 = counts.iter().enumerate().filter(|(k, _)| *k as f64 >= u).map(|(_, c)| c).sum();
    tail / total
}

fn normal_upper_tail(n: usize, m: usize, u: f64) -> f64 {
    let (n, m) = (n as f64, m as f64);
    let mean = n * m / 2.0;
    let sd = (n * m * (n + m + 1.0) / 12.0).sqrt();
    let z = (u - mean - 0.5) / sd;
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' `erfcc`, relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    /// The coefficients of its polynomial in `t`, from `t^1` to `t^9` (`t^0` is below).
    const C: [f64; 9] = [
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    // Horner's rule from the innermost term out: `c1 + t * (c2 + t * (... + t * c9))`, the
    // same operations in the same order as the nested formula (which rustfmt takes a minute
    // to lay out).
    let inner = C[..8].iter().rev().fold(C[8], |acc, c| c + t * acc);
    let r = t * (-z * z - 1.265_512_23 + t * inner).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fewest_runs_that_can_be_significant_grow_with_the_strategies_tested() {
        // 1 / C(6, 3) = 0.05 <= 0.05; for 9 tests 0.05 / 9 = 0.0056: 1 / C(8, 4) = 0.014 is
        // not enough, 1 / C(10, 5) = 0.004 is.
        assert_eq!((min_runs(1), min_runs(9)), (3, 5));
    }

    #[test]
    fn complete_separation_of_three_against_three_gives_one_in_twenty() {
        let p = p_greater(&[10.0, 11.0, 12.0], &[1.0, 2.0, 3.0]);
        assert!((p - 0.05).abs() < 1e-12, "{p}");
        assert!((p_greater(&[1.0, 2.0, 3.0], &[10.0, 11.0, 12.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_exact_distribution_matches_a_textbook_table() {
        // n = m = 5: P(U >= 23) = P(U <= 2) = 4/252 = 0.016 (Mann and Whitney 1947, table I).
        let xs = [6.0, 7.0, 8.0, 9.0, 10.0];
        let ys = [1.0, 2.0, 3.0, 4.0, 7.5];
        assert_eq!(u_statistic(&xs, &ys), 23.0);
        let p = p_greater(&xs, &ys);
        assert!((p - 4.0 / 252.0).abs() < 1e-12, "{p}");
    }

    #[test]
    fn identical_samples_are_not_significant() {
        let xs = [5.0; 8];
        assert!(p_greater(&xs, &xs) > 0.4);
        assert_eq!(p_greater(&[], &xs), 1.0);
    }

    #[test]
    fn the_normal_approximation_agrees_with_the_exact_count_near_the_switch() {
        let xs: Vec<f64> = (0..20).map(|i| i as f64 + 0.25).collect();
        let ys: Vec<f64> = (0..20).map(|i| i as f64 * 0.9).collect();
        let u = u_statistic(&xs, &ys);
        let exact = exact_upper_tail(20, 20, u);
        let approx = normal_upper_tail(20, 20, u);
        assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
    }

    #[test]
    fn erfc_agrees_with_its_tabulated_values_within_its_stated_error() {
        // erfc to 10 places (Abramowitz and Stegun, table 7.1, as 1 - erf).
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_2),
            (1.0, 0.157_299_207_1),
            (2.0, 0.004_677_734_981),
            (-1.0, 1.842_700_792_9),
        ] {
            let got = erfc(x);
            assert!(((got - want) / want).abs() < 1.2e-7, "erfc({x}) = {got}, not {want}");
        }
    }
}
