//! Synthetic traces for benchmarks and tests: reproducible from a seed, no file needed.
//!
//! [`steady_state`] builds a [`Trace`] in memory (the benches); [`generate`] writes a native CSV
//! trace of any length to a writer, one line at a time, for `replay gen` and the scale tests.

use super::csv_out::{Columns, CsvRow, CsvWriter};
use super::event::{BlockId, Event, Op, Trace};
use std::io::{self, Write};

/// A small, fast, seedable generator (SplitMix64). Not for cryptography; the same seed gives the
/// same sequence on every machine.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// A request size drawn like small-object-heavy programs allocate: mostly 8..256 bytes, some up
/// to 4 KiB, a few up to 64 KiB.
fn typical_size(rng: &mut SplitMix64) -> u64 {
    match rng.below(100) {
        0..=79 => 8 + rng.below(249),
        80..=97 => 256 + rng.below(3841),
        _ => 4096 + rng.below(61441),
    }
}

/// A trace that ramps up to `live` live blocks, then churns for `churn` steps (each frees a random
/// live block and allocates a new one, every 16th step a realloc instead), so the number of live
/// blocks stays at `live`. About `live + 2 * churn` events.
pub fn steady_state(live: usize, churn: usize, seed: u64) -> Trace {
    let mut rng = SplitMix64::new(seed);
    let mut events = Vec::with_capacity(live + 2 * churn);
    let mut alive: Vec<BlockId> = Vec::with_capacity(live);
    let mut next: BlockId = 0;
    let mut allocate = |events: &mut Vec<Event>, alive: &mut Vec<BlockId>, rng: &mut SplitMix64| {
        events.push(Event::malloc(next, typical_size(rng)));
        alive.push(next);
        next += 1;
    };
    for _ in 0..live {
        allocate(&mut events, &mut alive, &mut rng);
    }
    for step in 0..churn {
        if alive.is_empty() {
            allocate(&mut events, &mut alive, &mut rng);
            continue;
        }
        let victim = rng.below(alive.len() as u64) as usize;
        if step % 16 == 15 {
            events.push(Event::realloc(alive[victim], typical_size(&mut rng)));
        } else {
            events.push(Event::free(alive.swap_remove(victim)));
            allocate(&mut events, &mut alive, &mut rng);
        }
    }
    Trace { events, blocks: next, first_line: 2, ..Trace::default() }
}

/// How `replay gen` draws request sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeDistribution {
    /// Uniform in 1..=4096 bytes.
    Uniform,
    /// A power law with density proportional to `size^-2` from 16 bytes to 1 MiB: the size class
    /// `[2^k, 2^(k+1))` is half as likely as the one below it, and sizes are uniform within a
    /// class. Integer arithmetic only, so every machine draws the same sizes.
    PowerLaw,
    /// Modelled on the shipped real traces (`traces/perl-hash.csv`, `traces/xz.csv`): 60% tiny
    /// (8-15 bytes, perl's hash entries), 15% 16-63, 15% 64-511, 8% 512 B-8 KiB, 2% 8-256 KiB.
    Mixed,
}

/// How the number of live blocks moves over a generated trace: Wilson et al.'s program
/// behaviours ("Dynamic Storage Allocation: A Survey and Critical Review", 1995, section 2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Live blocks grow steadily to `live` by the end of the trace (a program building up a
    /// data structure it never frees).
    Ramp,
    /// Four phases, each building up to `live` blocks over its first 80% and freeing down to a
    /// tenth of that over the rest (a compiler's passes, each with its own temporary data).
    Peak,
    /// A quick ramp to `live` over the first tenth, then churn at that level (a server in its
    /// steady state).
    Plateau,
    /// A random walk of allocations and frees between 0 and `live` blocks.
    Random,
}

/// What `replay gen` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenSpec {
    /// Events in the trace, exactly.
    pub events: u64,
    /// The most blocks live at once (the pattern's high level); at least 1.
    pub live: u64,
    pub sizes: SizeDistribution,
    pub pattern: Pattern,
    pub seed: u64,
}

/// What [`generate`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenSummary {
    pub events: u64,
    /// Distinct blocks allocated.
    pub blocks: u64,
    /// The most blocks live at once.
    pub max_live: u64,
}

/// A request size drawn from `dist`.
fn draw_size(dist: SizeDistribution, rng: &mut SplitMix64) -> u64 {
    match dist {
        SizeDistribution::Uniform => 1 + rng.below(4096),
        SizeDistribution::PowerLaw => {
            // Class k (from 4: 16 bytes) with probability 2^-(k-3); all classes above 2^19 fold
            // into the last one.
            let class = 4 + u64::from(rng.next_u64().trailing_zeros()).min(16);
            (1 << class) + rng.below(1 << class)
        }
        SizeDistribution::Mixed => match rng.below(100) {
            0..=59 => 8 + rng.below(8),
            60..=74 => 16 + rng.below(48),
            75..=89 => 64 + rng.below(448),
            90..=97 => 512 + rng.below(7680),
            _ => 8192 + rng.below(253_952),
        },
    }
}

/// The pattern's target for live blocks at event `step` of `events`.
fn target(pattern: Pattern, step: u64, events: u64, live: u64) -> u64 {
    let (step, events) = (u128::from(step), u128::from(events.max(1)));
    let live128 = u128::from(live);
    let t = match pattern {
        Pattern::Ramp => live128 * step / events,
        Pattern::Plateau => (live128 * step * 10 / events).min(live128),
        Pattern::Peak => {
            let phase = events.div_ceil(4);
            let at = step % phase;
            let rise = phase * 4 / 5;
            if at < rise {
                live128 * at / rise.max(1)
            } else {
                live128 / 10
            }
        }
        Pattern::Random => return live,
    };
    t as u64
}

/// Where generated pointers start; each address slot is 16 bytes apart.
const GEN_BASE: u64 = 0x5555_0000_0000;

/// Write a native CSV trace of `spec.events` events to `out`, line by line: memory is O(live
/// blocks), not O(events). The same spec gives the same bytes on every machine (SplitMix64 and
/// integer arithmetic only).
///
/// Each step picks an allocation when the live count is below the pattern's target (with
/// probability 3/4; a free otherwise) and a free when it is at or above it (the reverse); one step
/// in sixteen resizes a random live block instead (`realloc`, moving it to a fresh address).
/// Frees pick a uniformly random live block. Addresses are slots 16 bytes apart, reused once
/// freed, as a real allocator reuses them.
pub fn generate(spec: &GenSpec, out: impl Write) -> io::Result<GenSummary> {
    let mut rng = SplitMix64::new(spec.seed);
    let mut w = CsvWriter::new(out, Columns::default());
    let live_cap = spec.live.max(1);
    // Live blocks by address slot, and the slots free for reuse (LIFO, as allocators reuse).
    let mut alive: Vec<u64> = Vec::new();
    let mut free_slots: Vec<u64> = Vec::new();
    let mut next_slot: u64 = 0;
    let mut summary = GenSummary::default();
    let mut fresh = |free_slots: &mut Vec<u64>| {
        free_slots.pop().unwrap_or_else(|| {
            next_slot += 1;
            next_slot - 1
        })
    };
    for step in 0..spec.events {
        let target = target(spec.pattern, step, spec.events, live_cap);
        let r = rng.below(64);
        let resize = r < 4 && !alive.is_empty();
        let below = (alive.len() as u64) < target;
        let allocate =
            alive.is_empty() || (alive.len() as u64) < live_cap && (below == (r % 4 != 0));
        if resize {
            let i = rng.below(alive.len() as u64) as usize;
            let old = alive[i];
            let new = fresh(&mut free_slots);
            let size = draw_size(spec.sizes, &mut rng);
            let (ptr, old_ptr) = (GEN_BASE + new * 16, Some(GEN_BASE + old * 16));
            w.row(Op::Realloc, &CsvRow { ptr, size: Some(size), old_ptr, ..CsvRow::default() })?;
            alive[i] = new;
            free_slots.push(old);
        } else if allocate {
            let slot = fresh(&mut free_slots);
            let size = draw_size(spec.sizes, &mut rng);
            let ptr = GEN_BASE + slot * 16;
            w.row(Op::Malloc, &CsvRow { ptr, size: Some(size), ..CsvRow::default() })?;
            alive.push(slot);
            summary.blocks += 1;
        } else {
            let i = rng.below(alive.len() as u64) as usize;
            let slot = alive.swap_remove(i);
            w.row(Op::Free, &CsvRow { ptr: GEN_BASE + slot * 16, ..CsvRow::default() })?;
            free_slots.push(slot);
        }
        summary.max_live = summary.max_live.max(alive.len() as u64);
        summary.events += 1;
    }
    w.finish()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_trace() {
        assert_eq!(steady_state(100, 1000, 7).events, steady_state(100, 1000, 7).events);
        assert_ne!(steady_state(100, 1000, 7).events, steady_state(100, 1000, 8).events);
    }

    #[test]
    fn a_steady_state_trace_keeps_the_live_count() {
        let trace = steady_state(50, 500, 1);
        let mut live = 0i64;
        for e in &trace.events {
            live += match e.op {
                Op::Free => -1,
                Op::Realloc => 0,
                _ => 1,
            };
        }
        assert_eq!(live, 50);
    }

    fn generated(spec: &GenSpec) -> Vec<u8> {
        let mut out = Vec::new();
        generate(spec, &mut out).unwrap();
        out
    }

    const SPEC: GenSpec = GenSpec {
        events: 5000,
        live: 300,
        sizes: SizeDistribution::Mixed,
        pattern: Pattern::Peak,
        seed: 7,
    };

    #[test]
    fn a_generated_trace_is_the_same_bytes_for_the_same_seed_and_differs_for_another() {
        assert_eq!(generated(&SPEC), generated(&SPEC));
        assert_ne!(generated(&SPEC), generated(&GenSpec { seed: 8, ..SPEC }));
    }

    #[test]
    fn every_pattern_and_distribution_parses_strictly_with_exactly_the_events_asked_for() {
        use crate::trace::csv;
        use crate::trace::event::ParseOptions;
        for pattern in [Pattern::Ramp, Pattern::Peak, Pattern::Plateau, Pattern::Random] {
            for sizes in
                [SizeDistribution::Uniform, SizeDistribution::PowerLaw, SizeDistribution::Mixed]
            {
                let spec = GenSpec { pattern, sizes, ..SPEC };
                let mut out = Vec::new();
                let summary = generate(&spec, &mut out).unwrap();
                let path = std::path::Path::new("gen.csv");
                let trace = csv::parse(out.as_slice(), path, ParseOptions::default()).unwrap();
                assert_eq!(trace.events.len() as u64, spec.events, "{pattern:?} {sizes:?}");
                assert_eq!(u64::from(trace.blocks), summary.blocks);
                assert!(summary.max_live <= spec.live, "{pattern:?}: {}", summary.max_live);
            }
        }
    }

    #[test]
    fn a_plateau_stays_near_its_live_level() {
        let spec = GenSpec { pattern: Pattern::Plateau, events: 20_000, ..SPEC };
        let summary = generate(&spec, std::io::sink()).unwrap();
        assert!(summary.max_live >= spec.live * 9 / 10, "{}", summary.max_live);
    }
}
