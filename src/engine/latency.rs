//! The latency pass's probe: [`LatencyProbe`] reads the clock before and after strategy calls,
//! into one histogram per kind of call, and its sampling rule ([`LatencyProbe::sampling_for`]):
//! for a strategy whose events cost less than timing a call, only one call in `k` is timed, each
//! call equally likely, so the percentiles are those of a uniform sample.

use super::probe::{OpClass, Probe};
use crate::clock::Clock;
use crate::metrics::{Latency, Percentiles};
use hdrhistogram::Histogram;
use std::sync::atomic::{compiler_fence, Ordering};
use std::time::Instant;

/// The latency pass samples calls only when at least this many would still be timed.
pub const MIN_SAMPLES: u64 = 100_000;

/// The latency pass: one clock read before and one after every strategy call. The histograms
/// hold clock ticks; [`LatencyProbe::latency`] turns them into nanoseconds.
pub struct LatencyProbe {
    clock: Clock,
    started: u64,
    /// Time one call in this many, on average (1: every call).
    every: u32,
    /// Per kind of operation (malloc, free, realloc): calls to let pass before the next timed
    /// one; 0 means the current call is timed.
    countdown: [u32; 3],
    /// xorshift32 state for the gaps between timed calls (never 0).
    gap_seed: u32,
    malloc: Histogram<u64>,
    free: Histogram<u64>,
    realloc: Histogram<u64>,
}

impl Default for LatencyProbe {
    fn default() -> Self {
        // Three significant digits over 1 ns .. ~1 hour; auto-resizing covers anything longer.
        let histogram = || {
            let mut h = Histogram::new(3).expect("3 significant digits is a valid precision");
            h.auto(true);
            h
        };
        let clock = Clock::calibrated();
        LatencyProbe {
            clock,
            started: clock.ticks(),
            every: 1,
            countdown: [0; 3],
            gap_seed: 0x9E37_79B9,
            malloc: histogram(),
            free: histogram(),
            realloc: histogram(),
        }
    }
}

impl Probe for LatencyProbe {
    const READS_LIVE_TOTALS: bool = false;

    #[inline(always)]
    fn before_call(&mut self, class: OpClass) {
        if self.countdown[class as usize] == 0 {
            self.started = self.clock.ticks();
            // The strategy's loads and stores, inlined into the loop, stay after the read.
            compiler_fence(Ordering::SeqCst);
        }
    }

    #[inline(always)]
    fn after_call(&mut self, class: OpClass) {
        let countdown = &mut self.countdown[class as usize];
        if *countdown > 0 {
            *countdown -= 1;
            return;
        }
        // ...and before this one.
        compiler_fence(Ordering::SeqCst);
        let ticks = self.clock.ticks().saturating_sub(self.started);
        if self.every > 1 {
            // The next gap is uniform in 0 ..= 2 (every - 1): on average one call in `every` is
            // timed, and a trace whose calls repeat with a period cannot hide from the sample.
            let mut x = self.gap_seed;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.gap_seed = x;
            self.countdown[class as usize] = x % (2 * self.every - 1);
        }
        let histogram = match class {
            OpClass::Malloc => &mut self.malloc,
            OpClass::Free => &mut self.free,
            OpClass::Realloc => &mut self.realloc,
        };
        // An auto-resizing histogram grows to hold any value; `saturating_record` would clamp
        // to the current range instead, so it is only the fallback should growing ever fail.
        if histogram.record(ticks).is_err() {
            histogram.saturating_record(ticks);
        }
    }
}

impl LatencyProbe {
    /// A probe that times one call in `every` (at least 1).
    pub fn sampling(every: u32) -> LatencyProbe {
        LatencyProbe { every: every.max(1), ..LatencyProbe::default() }
    }

    /// What timing one call costs, in nanoseconds: two clock reads and a histogram record,
    /// measured once per process over a few thousand calls.
    pub fn cost_per_timed_call_ns() -> f64 {
        static COST: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
        *COST.get_or_init(|| {
            const CALLS: u32 = 20_000;
            let mut probe = LatencyProbe::default();
            let started = Instant::now();
            for _ in 0..CALLS {
                probe.before_call(OpClass::Malloc);
                probe.after_call(OpClass::Malloc);
            }
            std::hint::black_box(&probe.malloc);
            started.elapsed().as_nanos() as f64 / f64::from(CALLS)
        })
    }

    /// How many calls to let pass between timed ones so that the latency pass takes at most
    /// about 1.8 times the untimed pass, for a strategy replaying `events_per_sec`: every call
    /// (1) unless one event is cheaper than timing a call. Traces too short to leave
    /// [`MIN_SAMPLES`] timed calls are timed in full (their whole pass takes microseconds).
    pub fn sampling_for(events_per_sec: f64, events: u64) -> u32 {
        let event_ns = 1e9 / events_per_sec.max(1.0);
        let every = (1.25 * Self::cost_per_timed_call_ns() / event_ns).ceil().clamp(1.0, 1024.0);
        let most = (events / MIN_SAMPLES).clamp(1, 1024);
        (every as u64).min(most) as u32
    }

    pub fn latency(&self) -> Latency {
        let ns = |h: &Histogram<u64>| {
            Percentiles::from_histogram(h).map(|p| Percentiles {
                count: p.count,
                p50: self.clock.ns(p.p50),
                p99: self.clock.ns(p.p99),
                p999: self.clock.ns(p.p999),
                max: self.clock.ns(p.max),
            })
        };
        Latency {
            malloc: ns(&self.malloc),
            free: ns(&self.free),
            realloc: ns(&self.realloc),
            sample_every: self.every,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histograms_keep_values_far_above_their_initial_range() {
        let mut probe = LatencyProbe::default();
        let clock = Clock::calibrated();
        for ns in [10u64, 1_000_000, 3_000_000_000] {
            let ticks = (ns as f64 / clock.ns_per_tick()) as u64;
            probe.started = clock.ticks() - ticks;
            probe.after_call(OpClass::Free);
        }
        let free = probe.latency().free.unwrap();
        assert_eq!(free.count, 3);
        assert!(free.max >= 3_000_000_000, "max {} was clamped", free.max);
    }

    #[test]
    fn sampled_latency_times_every_kind_of_call_even_when_kinds_alternate() {
        let mut probe = LatencyProbe::sampling(2);
        for _ in 0..10_000 {
            for class in [OpClass::Malloc, OpClass::Free] {
                probe.before_call(class);
                probe.after_call(class);
            }
        }
        let latency = probe.latency();
        let (malloc, free) = (latency.malloc.unwrap().count, latency.free.unwrap().count);
        // One call in two on average, for each kind separately.
        assert!((4_000..6_000).contains(&malloc), "{malloc}");
        assert!((4_000..6_000).contains(&free), "{free}");
        assert_eq!(latency.sample_every, 2);
    }

    #[test]
    fn short_traces_are_timed_in_full() {
        // However cheap the events, a trace too short for enough samples is timed call by call.
        assert_eq!(LatencyProbe::sampling_for(1e12, MIN_SAMPLES - 1), 1);
        assert!(LatencyProbe::sampling_for(1e12, 1 << 40) > 1);
        assert_eq!(LatencyProbe::sampling_for(1.0, 1 << 40), 1, "slow events: every call");
    }
}
