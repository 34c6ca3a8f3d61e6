//! Computing the figures: the exact memory figures of a replay ([`MemoryStats`]), the memory
//! time series ([`Series`]), throughput and latency. What each figure *is* is written once, in
//! the figure registry ([`crate::figures::FIGURES`], with the words it uses in
//! [`crate::figures::TERMS`]); this module computes them, and its tests check each against a
//! hand-computed example.
//!
//! The memory time series ([`Series`]) samples `footprint(i)`, `live_requested(i)`,
//! `live_consumed(i)`, free bytes and the largest satisfiable request at `--samples N` evenly
//! spaced events `i = 0, s, 2s, ...` with `s = ceil(events / N)`, plus the last event and
//! `peak_event`: at most `N + 2` samples, in event order.
//!
//! Time figures ([`Throughput`], [`Latency`]) come from separate passes, so that measuring one
//! never distorts the other; see [`crate::engine`].

use crate::alloc::Bytes;

/// The exact memory figures of one replay. Deterministic: a function of trace, strategy and
/// parameters only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Events replayed.
    pub events: u64,
    pub peak_footprint_bytes: Bytes,
    pub max_live_bytes: Bytes,
    /// First event index at which live requested bytes reach `max_live_bytes`.
    pub peak_event: u64,
    /// `live_consumed` at `peak_event`.
    pub live_consumed_at_peak: Bytes,
    /// Live blocks at `peak_event`.
    pub live_blocks_at_peak: u64,
    /// `footprint` at `peak_event` (not necessarily the peak footprint).
    pub footprint_at_peak: Bytes,
    /// The largest request that would have succeeded at `peak_event` without growing the heap.
    pub largest_satisfiable_at_peak: Bytes,
    pub failed_allocations: u64,
    pub ignored_frees: u64,
    /// Footprint after the last event.
    pub final_footprint_bytes: Bytes,
    /// The strategy's own count of work over the replay ([`crate::alloc::Strategy::work`]).
    pub work: u64,
}

/// The heap after one event, as the memory time series records it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// The event's 0-based index.
    pub event: u64,
    pub footprint: Bytes,
    pub live_requested: Bytes,
    pub live_consumed: Bytes,
    /// `footprint - live_consumed`.
    pub free: Bytes,
    /// The largest request the strategy could serve then without growing the heap.
    pub largest_satisfiable: Bytes,
}

impl Sample {
    /// The sample at `peak_event`, from the figures the metrics pass keeps for it.
    pub fn at_peak(m: &MemoryStats) -> Sample {
        Sample {
            event: m.peak_event,
            footprint: m.footprint_at_peak,
            live_requested: m.max_live_bytes,
            live_consumed: m.live_consumed_at_peak,
            free: m.free_bytes_at_peak(),
            largest_satisfiable: m.largest_satisfiable_at_peak,
        }
    }
}

/// A memory time series of one replay (see the module docs for which events it samples).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Series {
    /// Sorted by event, each event at most once.
    pub samples: Vec<Sample>,
}

/// `part / whole`, with `0/0` taken as 0.
fn ratio(part: Bytes, whole: Bytes) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl MemoryStats {
    /// `(peak_footprint_bytes - max_live_bytes) / max_live_bytes`; `None` when nothing was live.
    ///
    /// Can be negative: a strategy whose footprint stays below the live bytes is impossible,
    /// but with `--heap-limit` failed requests are not live, so it cannot happen either; the
    /// subtraction is done in floating point so nothing wraps.
    pub fn overhead(&self) -> Option<f64> {
        (self.max_live_bytes > 0).then(|| {
            (self.peak_footprint_bytes as f64 - self.max_live_bytes as f64)
                / self.max_live_bytes as f64
        })
    }

    /// `(live_consumed - live_requested) / live_consumed` at `peak_event`.
    ///
    /// Every live block holds its request (`--verify` checks it), so this is in `[0, 1)`; the
    /// subtraction is done in floating point all the same, so that a strategy breaking that rule
    /// shows a negative figure instead of a wrapped one.
    pub fn internal_fragmentation(&self) -> f64 {
        let consumed = self.live_consumed_at_peak;
        if consumed == 0 {
            0.0
        } else {
            (consumed as f64 - self.max_live_bytes as f64) / consumed as f64
        }
    }

    /// `work / events`: the strategy's work per event, exactly reproducible (0 for no events).
    pub fn work_per_event(&self) -> f64 {
        ratio(self.work, self.events)
    }

    /// Free bytes at `peak_event`: `footprint - live_consumed`. Live blocks lie inside the
    /// footprint (`--verify` checks it), so this never goes below 0; it is 0, not a wrapped
    /// count, for a strategy that breaks that rule.
    pub fn free_bytes_at_peak(&self) -> Bytes {
        self.footprint_at_peak.saturating_sub(self.live_consumed_at_peak)
    }

    /// `1 - largest_satisfiable / free_bytes` at `peak_event`; 0 when nothing is free.
    pub fn external_fragmentation(&self) -> f64 {
        let free = self.free_bytes_at_peak();
        if free == 0 {
            0.0
        } else {
            1.0 - ratio(self.largest_satisfiable_at_peak.min(free), free)
        }
    }
}

/// Events per second over `--runs` untimed passes.
#[derive(Clone, Debug, PartialEq)]
pub struct Throughput {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Every run, in the order they ran.
    pub runs: Vec<f64>,
    /// Why no more runs were made (`engine::timing::Stop`, as text: `--runs 5`,
    /// `spread 0.42% < 3%`, `max runs (5), spread 7.10%`); `None` when not told.
    pub stopped: Option<String>,
}

impl Throughput {
    /// Summarise runs (at least one).
    pub fn from_runs(runs: Vec<f64>) -> Option<Throughput> {
        if runs.is_empty() {
            return None;
        }
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        Some(Throughput {
            median: median_of_sorted(&sorted),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            runs,
            stopped: None,
        })
    }
}

/// The median of a sorted, non-empty slice: the middle value, or the mean of the two middle ones.
pub fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Latency percentiles of one kind of operation, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    /// How many operations were timed.
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    /// Read the percentiles out of a histogram; `None` when it is empty.
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Option<Percentiles> {
        (!h.is_empty()).then(|| Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

/// Latency of every kind of operation. `malloc` covers malloc, calloc and memalign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    pub malloc: Option<Percentiles>,
    pub free: Option<Percentiles>,
    pub realloc: Option<Percentiles>,
    /// 1 when every call was timed; `k` when one call in `k` was, because the strategy's calls
    /// are cheaper than reading the clock twice (see [`crate::engine`]).
    pub sample_every: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(
        peak: Bytes,
        live: Bytes,
        consumed: Bytes,
        footprint: Bytes,
        largest: Bytes,
    ) -> MemoryStats {
        MemoryStats {
            peak_footprint_bytes: peak,
            max_live_bytes: live,
            live_consumed_at_peak: consumed,
            footprint_at_peak: footprint,
            largest_satisfiable_at_peak: largest,
            ..MemoryStats::default()
        }
    }

    #[test]
    fn overhead_is_peak_footprint_over_max_live_minus_one() {
        // 150 bytes of heap for 100 live bytes: 50% overhead.
        assert_eq!(stats(150, 100, 100, 150, 0).overhead(), Some(0.5));
        assert_eq!(stats(0, 0, 0, 0, 0).overhead(), None);
    }

    #[test]
    fn internal_fragmentation_is_the_consumed_share_not_requested() {
        // 24 requested bytes in a 32-byte block: 8 / 32 = 25% waste.
        assert_eq!(stats(32, 24, 32, 32, 0).internal_fragmentation(), 0.25);
        assert_eq!(stats(0, 0, 0, 0, 0).internal_fragmentation(), 0.0);
    }

    #[test]
    fn a_block_smaller_than_its_request_shows_instead_of_wrapping() {
        // What a strategy that saturated a request near 2^64 to a 16-byte block reported:
        // internal fragmentation must not wrap round to about 100%, nor free bytes to 2^64.
        let s = stats(16, u64::MAX, 16, 16, 0);
        assert!(s.internal_fragmentation() < -1e15, "{}", s.internal_fragmentation());
        let s = stats(16, 16, 32, 16, 0);
        assert_eq!((s.free_bytes_at_peak(), s.external_fragmentation()), (0, 0.0));
    }

    #[test]
    fn external_fragmentation_compares_the_largest_hole_with_all_free_bytes() {
        // footprint 128, 64 consumed, so 64 free bytes in holes of which the largest is 16.
        let s = stats(128, 64, 64, 128, 16);
        assert_eq!(s.free_bytes_at_peak(), 64);
        assert_eq!(s.external_fragmentation(), 0.75);
        // One hole holding every free byte: no external fragmentation.
        assert_eq!(stats(128, 64, 64, 128, 64).external_fragmentation(), 0.0);
        // Nothing free.
        assert_eq!(stats(64, 64, 64, 64, 0).external_fragmentation(), 0.0);
    }

    #[test]
    fn throughput_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let t = Throughput::from_runs(vec![4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((t.median, t.min, t.max), (2.5, 1.0, 4.0));
        assert_eq!(t.runs, vec![4.0, 1.0, 3.0, 2.0]);
        assert!(Throughput::from_runs(vec![]).is_none());
    }
}
