//! Synthetic traces for benchmarks and tests: reproducible from a seed, no file needed.

use super::{BlockId, Event, Trace};

/// A small, fast, seedable generator (SplitMix64). Not for cryptography; the same seed gives the
/// same sequence on every machine.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// A request size drawn like small-object-heavy programs allocate: mostly 8..256 bytes, some up
/// to 4 KiB, a few up to 64 KiB.
pub fn typical_size(rng: &mut SplitMix64) -> u64 {
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
                crate::trace::Op::Free => -1,
                crate::trace::Op::Realloc => 0,
                _ => 1,
            };
        }
        assert_eq!(live, 50);
    }
}
