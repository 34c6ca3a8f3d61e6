//! Where the waste is, at the peak event: the internal waste of the live blocks by request size
//! class ([`WasteClass`]) and the free holes of the heap by size ([`FreeHoles`]), together
//! [`Breakdowns`], for every simulated strategy alike.
//!
//! # Size classes
//! Powers of two: `0-16`, `17-32`, `33-64`, ..., `2^(k-1)+1 - 2^k`. A request of 0 bytes counts
//! in the first class (it is served a block of the minimum size, all of it waste); a hole is
//! never empty, so the first class of holes holds 1-16 bytes.
//!
//! # Waste by request size class
//! Per class, over the blocks live after `peak_event` whose *requested* size is in the class:
//! the blocks, their requested bytes, their consumed bytes (the blocks' sizes: rounding,
//! headers and alignment padding included) and `waste = consumed - requested`. The classes add
//! up exactly to the at-peak figures: blocks to `at_peak.live_blocks`, requested bytes to
//! `max_live_bytes`, consumed bytes to `at_peak.live_consumed_bytes`, so the waste sums to the
//! bytes internal fragmentation is the share of.
//!
//! # Free holes at the peak
//! The maximal address ranges in `[0, footprint_at_peak)` that no live block covers (a block
//! covers `[start, start + size)`), by size class: their count and bytes, and the largest.
//! Live blocks never overlap and lie inside the footprint (`--verify` checks both), so the
//! holes add up exactly to `at_peak.free_bytes`. These are holes in the address space, the
//! same for every strategy, whatever its free lists say: free bytes next to each other are
//! one hole even where the strategy keeps them as separate free blocks (no coalescing, two
//! slab pages, two buddies). So `largest_satisfiable_at_peak`, the largest request the
//! strategy itself could serve then without growing, is at most the largest hole, and for
//! segregated strategies (slab, buddy) or without coalescing it can be much smaller: a hole
//! made of a slab page's free slots serves only that page's class.
//!
//! # How the heap at the peak is found
//! The metrics pass learns which event is the peak only at its end, but the peak is nearly
//! always known before it starts: live bytes are the trace's requests, so every strategy that
//! fails no allocation has the same peak event. [`predict_peak`] finds it once per run (one
//! replay through `bump`, the cheapest strategy), and each metrics pass reads its heap right
//! after that event ([`crate::engine::replayer::Replayer::replay_pausing`]), keeping what it
//! read only if its own peak event turns out to be that one. Otherwise (allocations failed
//! under `--heap-limit`, a replay stopped by corruption) [`breakdowns_at_peak`] reads the
//! pass's final heap when the peak was its last event, or replays events `0..=peak_event` once
//! more into a fresh heap of the same strategy and parameters (every strategy is
//! deterministic, so it places every block as the metrics pass did), without any probe, and
//! reads the engine's table of live blocks.
//! Cost: one `bump` replay per run, a sort of the blocks live at the peak per strategy (O(n log
//! n) in live blocks), and only in the second case one more replay without probes of the events
//! up to the peak. Memory: the pass's own table plus one entry per live block, never anything
//! that grows with requested sizes.

use super::exact::MetricsProbe;
use super::probe::NoProbe;
use super::replayer::{Replayer, Setup};
use super::source::EventSource;
use crate::alloc::{bump, Allocation, Bytes, Params};
use crate::metrics::MemoryStats;
use crate::trace::TraceError;
use serde::{Deserialize, Serialize};

/// The size class of `bytes`: 0 for 0-16 bytes, `k` for `2^(k+3)+1 ..= 2^(k+4)`.
pub fn size_class(bytes: Bytes) -> u32 {
    if bytes <= 16 {
        0
    } else {
        // ceil(log2(bytes)) - 4, without overflow for any u64.
        (64 - (bytes - 1).leading_zeros()) - 4
    }
}

/// The smallest and largest size of class `class` (see [`size_class`]).
pub fn class_bounds(class: u32) -> (Bytes, Bytes) {
    if class == 0 {
        return (0, 16);
    }
    let max = if class + 4 >= 64 { Bytes::MAX } else { 1 << (class + 4) };
    ((1 << (class + 3)) + 1, max)
}

/// The blocks live at the peak whose requested size is in one size class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasteClass {
    /// The class's smallest and largest requested size, in bytes.
    pub min_bytes: Bytes,
    pub max_bytes: Bytes,
    /// Live blocks requested with a size in the class.
    pub blocks: u64,
    /// Their requested bytes.
    pub requested_bytes: Bytes,
    /// The bytes their blocks occupy (rounding, headers and padding included).
    pub consumed_bytes: Bytes,
    /// `consumed_bytes - requested_bytes`.
    pub waste_bytes: Bytes,
}

/// The free holes at the peak of one size class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoleClass {
    /// The class's smallest and largest hole size, in bytes.
    pub min_bytes: Bytes,
    pub max_bytes: Bytes,
    pub holes: u64,
    pub bytes: Bytes,
}

/// The free holes of the heap at the peak: see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreeHoles {
    pub holes: u64,
    /// Their total: `at_peak.free_bytes`.
    pub bytes: Bytes,
    /// The size of the largest hole (0 when there is none).
    pub largest_bytes: Bytes,
    /// The non-empty classes, smallest first.
    pub classes: Vec<HoleClass>,
}

/// Both breakdowns of one strategy's heap at the peak event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Breakdowns {
    /// The non-empty classes, smallest first.
    pub waste: Vec<WasteClass>,
    pub holes: FreeHoles,
}

impl Breakdowns {
    /// The breakdowns of a heap whose live blocks are `live` (each with its requested size), in
    /// any order, and whose footprint is `footprint`. O(n log n) in live blocks.
    pub fn of(live: impl Iterator<Item = (Allocation, Bytes)>, footprint: Bytes) -> Breakdowns {
        let mut blocks: Vec<(Allocation, Bytes)> = live.collect();
        let mut waste: Vec<WasteClass> = Vec::new();
        for &(block, requested) in &blocks {
            let class = size_class(requested) as usize;
            if waste.len() <= class {
                waste.resize(class + 1, WasteClass::default());
            }
            let c = &mut waste[class];
            c.blocks += 1;
            c.requested_bytes += requested;
            c.consumed_bytes += block.size;
        }
        let waste = finish(waste, |class, c| {
            (c.blocks > 0).then(|| {
                let (min_bytes, max_bytes) = class_bounds(class);
                // Every block holds its request; saturating keeps a broken strategy from
                // wrapping (--verify names it).
                let waste_bytes = c.consumed_bytes.saturating_sub(c.requested_bytes);
                WasteClass { min_bytes, max_bytes, waste_bytes, ..c }
            })
        });

        blocks.sort_unstable_by_key(|(b, _)| b.start);
        let mut holes: Vec<HoleClass> = Vec::new();
        let mut free = FreeHoles::default();
        let mut hole = |from: Bytes, to: Bytes| {
            if to > from {
                let size = to - from;
                let class = size_class(size) as usize;
                if holes.len() <= class {
                    holes.resize(class + 1, HoleClass::default());
                }
                holes[class].holes += 1;
                holes[class].bytes += size;
                free.holes += 1;
                free.bytes += size;
                free.largest_bytes = free.largest_bytes.max(size);
            }
        };
        let mut covered_to: Bytes = 0;
        for (block, _) in &blocks {
            let start = block.start.min(footprint);
            hole(covered_to, start);
            covered_to = covered_to.max(block.end().min(footprint));
        }
        hole(covered_to, footprint);
        free.classes = finish(holes, |class, h| {
            (h.holes > 0).then(|| {
                let (min_bytes, max_bytes) = class_bounds(class);
                HoleClass { min_bytes: min_bytes.max(1), max_bytes, ..h }
            })
        });
        Breakdowns { waste, holes: free }
    }

    /// The breakdowns of the heap `replayer` holds now.
    pub fn of_replayer(replayer: &Replayer) -> Breakdowns {
        Breakdowns::of(replayer.live_blocks(), replayer.strategy().top())
    }
}

/// The classes of `counts` (indexed by class) that `keep` keeps, with their bounds set.
fn finish<T: Copy>(counts: Vec<T>, keep: impl Fn(u32, T) -> Option<T>) -> Vec<T> {
    counts.into_iter().enumerate().filter_map(|(class, c)| keep(class as u32, c)).collect()
}

/// The event at which the live requested bytes first reach their maximum when no allocation
/// fails: the peak event of every strategy that fails none, since live bytes are the trace's
/// requests, not the strategy's blocks. Found by one replay through `bump` (the cheapest
/// strategy; no heap limit) with only the [`MetricsProbe`], so the engine's own rules (ignored
/// frees, reallocs, ids reused) decide it. It is only a hint: a metrics pass reads its
/// breakdowns at this event and keeps them only if its own peak event is this one.
pub fn predict_peak(source: &dyn EventSource, params: &Params) -> Result<Option<u64>, TraceError> {
    if source.is_empty() {
        return Ok(None);
    }
    let params = Params { heap_limit: None, ..*params };
    let mut replayer = Setup::new(&bump::ENTRY, &params).replayer(source.slots());
    let mut metrics = MetricsProbe::default();
    replayer.replay(source, &mut metrics, &|_| {})?;
    Ok(Some(metrics.stats.peak_event))
}

/// The breakdowns at the peak of the replay whose figures are `stats`: of `done`, the metrics
/// pass's replayer, when the peak is its last event, else of a fresh replay of the events up
/// to the peak (see the module docs).
pub fn breakdowns_at_peak(
    setup: Setup,
    source: &dyn EventSource,
    stats: &MemoryStats,
    done: &Replayer,
) -> Result<Breakdowns, TraceError> {
    if done.stopped().is_none() && stats.peak_event + 1 >= stats.events {
        return Ok(Breakdowns::of_replayer(done));
    }
    let mut replayer = setup.replayer(source.slots());
    let until = stats.peak_event + 1;
    source.for_each_chunk(&mut |chunk, first| {
        let take = until.saturating_sub(first).min(chunk.len() as u64) as usize;
        replayer.run(&chunk[..take], first, &mut NoProbe);
        first + (take as u64) < until && replayer.stopped().is_none()
    })?;
    Ok(Breakdowns::of_replayer(&replayer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_powers_of_two_and_zero_is_in_the_first() {
        let classes: Vec<u32> = [0, 1, 16, 17, 32, 33, 64, 65, 4096, 4097].map(size_class).into();
        assert_eq!(classes, [0, 0, 0, 1, 1, 2, 2, 3, 8, 9]);
        assert_eq!(class_bounds(0), (0, 16));
        assert_eq!(class_bounds(1), (17, 32));
        assert_eq!(class_bounds(8), (2049, 4096));
        assert_eq!(size_class(u64::MAX), 60);
        assert_eq!(class_bounds(60), ((1 << 63) + 1, u64::MAX));
        for n in [0, 1, 15, 16, 17, 100, 1 << 20, (1 << 20) + 1, u64::MAX] {
            let (min, max) = class_bounds(size_class(n));
            assert!((min..=max).contains(&n), "{n}");
        }
    }

    #[test]
    fn holes_are_the_gaps_between_live_blocks_below_the_footprint() {
        // Blocks [16,48) and [64,80) in a footprint of 128: holes [0,16), [48,64), [80,128).
        let live = [(Allocation::at(64, 16), 10), (Allocation::at(16, 32), 20)];
        let b = Breakdowns::of(live.into_iter(), 128);
        assert_eq!(b.holes.holes, 3);
        assert_eq!(b.holes.bytes, 16 + 16 + 48);
        assert_eq!(b.holes.largest_bytes, 48);
        let classes: Vec<(u64, u64, u64, u64)> =
            b.holes.classes.iter().map(|c| (c.min_bytes, c.max_bytes, c.holes, c.bytes)).collect();
        assert_eq!(classes, [(1, 16, 2, 32), (33, 64, 1, 48)]);
        // Requests of 10 and 20 bytes: classes 0-16 and 17-32, 6 and 12 bytes of waste.
        let waste: Vec<(u64, u64, u64, u64, u64)> = b
            .waste
            .iter()
            .map(|c| (c.min_bytes, c.blocks, c.requested_bytes, c.consumed_bytes, c.waste_bytes))
            .collect();
        assert_eq!(waste, [(0, 1, 10, 16, 6), (17, 1, 20, 32, 12)]);
    }

    #[test]
    fn an_empty_heap_is_one_hole_and_no_heap_none() {
        let b = Breakdowns::of(std::iter::empty(), 64);
        assert_eq!((b.holes.holes, b.holes.largest_bytes), (1, 64));
        assert!(b.waste.is_empty());
        assert_eq!(Breakdowns::of(std::iter::empty(), 0), Breakdowns::default());
    }
}
