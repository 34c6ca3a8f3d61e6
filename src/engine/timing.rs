//! The timing policy: how many passes time a strategy and what they measure. `--runs` untimed
//! throughput passes ([`NoProbe`], one clock read around each chunk), then one latency pass
//! ([`LatencyProbe`], one call in `k` timed, `k` chosen from the median throughput); or, with the
//! hidden `--fake-clock`, no timed pass at all and made-up figures from the metrics pass's work
//! count ([`fake_time_of`]). Whether strategies are timed one at a time or in parallel is
//! [`Timing::parallel`], applied by [`super::run::run_all`]. [`clock_overhead_ns`] calibrates the
//! cost of a clock read pair, which every latency figure includes.
//!
//! # Timings that cannot be trusted
//! Two rules, defined here and nowhere else, say when a timing is not what it seems; the JSON
//! marks what they find and the terminal says it (README, "Timing honesty"):
//! - [`pass_too_short`]: a pass of less than [`MIN_TIMED_PASS_NS`] (5 ms, the limit below which
//!   hyperfine warns that it cannot time a command well) is too short to time well: the CPU's
//!   clock ramps up, the caches are cold, and one interruption is a large part of the whole; a
//!   10-event trace reads `41.67M [11.61M .. 71.43M]` events/s. Marked `throughput.too_short`.
//! - [`max_is_preemption`]: a latency maximum of at least [`PREEMPTION_MIN_NS`] (1 ms) that is
//!   also at least [`PREEMPTION_OVER_P99`] (1000) times its p99 is the scheduler's, not the
//!   allocator's: the thread was preempted (or the page faulted in) while its call was timed.
//!   A simulated strategy's call is pure computation of well under a microsecond at p99, so a
//!   maximum of milliseconds, the length of a scheduler time slice (the same ~4 ms appears across
//!   strategies on a 250 Hz kernel), is time the call spent off the CPU. Marked
//!   `latency_ns.KIND.max_preempted`; the figure itself is kept as measured.

use super::latency::LatencyProbe;
use super::probe::NoProbe;
use super::replayer::Setup;
use super::source::EventSource;
use crate::clock::Clock;
use crate::metrics::{Latency, MemoryStats, Percentiles, Throughput};
use crate::trace::{Op, TraceError};
use std::time::Instant;

/// How to time a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Throughput passes per strategy; 0 skips timing altogether.
    pub runs: u32,
    /// Time strategies in parallel instead of one at a time.
    pub parallel: bool,
    /// Report fixed, made-up timings instead of measuring (the hidden `--fake-clock`, for
    /// tests whose output must not depend on the machine): see [`fake_time_of`].
    pub fake_clock: bool,
}

/// Events per second of one untimed pass over `source`. The clock runs only while a chunk is
/// replayed, not while the next one is read.
pub fn throughput_of(
    setup: Setup,
    source: &dyn EventSource,
    advance: &dyn Fn(u64),
) -> Result<f64, TraceError> {
    let mut replayer = setup.replayer(source.slots());
    let mut seconds = 0.0;
    let mut applied = 0;
    source.for_each_chunk(&mut |chunk, first| {
        let started = Instant::now();
        applied += replayer.run(chunk, first, &mut NoProbe);
        seconds += started.elapsed().as_secs_f64();
        advance(chunk.len() as u64);
        replayer.stopped().is_none()
    })?;
    std::hint::black_box(replayer.strategy().top());
    Ok(applied as f64 / f64::max(seconds, 1e-9))
}

/// Latency percentiles from one pass over `source` with a clock read around one strategy call
/// in `every` (1: every call).
pub fn latency_of(
    setup: Setup,
    source: &dyn EventSource,
    advance: &dyn Fn(u64),
    every: u32,
) -> Result<Latency, TraceError> {
    let mut replayer = setup.replayer(source.slots());
    let mut probe = LatencyProbe::sampling(every);
    replayer.replay(source, &mut probe, advance)?;
    Ok(probe.latency())
}

/// A timed pass shorter than this (5 ms, hyperfine's limit) is too short to time well.
pub const MIN_TIMED_PASS_NS: f64 = 5e6;

/// How long one pass over `events` events took at `events_per_sec` (the median of the
/// throughput runs), in nanoseconds; `None` when nothing was timed.
pub fn pass_ns(events: u64, events_per_sec: f64) -> Option<f64> {
    (events > 0 && events_per_sec > 0.0).then(|| events as f64 / events_per_sec * 1e9)
}

/// Whether a pass over `events` events at `events_per_sec` took less than
/// [`MIN_TIMED_PASS_NS`]: its throughput and latency are mostly noise.
pub fn pass_too_short(events: u64, events_per_sec: f64) -> bool {
    pass_ns(events, events_per_sec).is_some_and(|ns| ns < MIN_TIMED_PASS_NS)
}

/// A latency maximum is taken for a preemption only from this long on (1 ms)...
pub const PREEMPTION_MIN_NS: u64 = 1_000_000;
/// ...and only when it is at least this many times the p99 of its kind of call.
pub const PREEMPTION_OVER_P99: u64 = 1000;

/// Whether the maximum of `p` is the scheduler's rather than the allocator's: at least
/// [`PREEMPTION_MIN_NS`] and at least [`PREEMPTION_OVER_P99`] times the p99.
pub fn max_is_preemption(p: &Percentiles) -> bool {
    p.max >= PREEMPTION_MIN_NS && p.max >= p.p99.saturating_mul(PREEMPTION_OVER_P99)
}

/// Ticks of the fake clock per event, and per unit of [`crate::alloc::Strategy::work`]: see [`fake_time_of`].
pub const FAKE_NS_PER_EVENT: f64 = 10.0;
pub const FAKE_NS_PER_WORK: f64 = 1.0;
/// How much slower than its ideal time each fake run is, run `k` taking `FAKE_RUN_FACTORS[k % 5]`
/// of it: a fixed, small spread, so the gate's noise test sees runs that vary, the same way in
/// every process.
pub const FAKE_RUN_FACTORS: [f64; 5] = [1.00, 1.02, 0.99, 1.01, 0.98];

/// The timings `--fake-clock` reports (for tests whose output must not depend on the machine):
/// a simulated clock on which an event takes [`FAKE_NS_PER_EVENT`] plus [`FAKE_NS_PER_WORK`] per
/// unit of the strategy's work (`stats.work`, from the metrics pass), so a strategy that does
/// twice the work is slower by exactly that much, on any machine, under any load. Run `k` (from
/// 0) takes that time times [`FAKE_RUN_FACTORS`]`[k % 5]`; throughput is `events / time`. Every
/// kind of operation the trace has takes 10 / 100 / 1000 / 10000 ns at p50 / p99 / p99.9 / max.
pub fn fake_time_of(
    source: &dyn EventSource,
    stats: &MemoryStats,
    runs: u32,
) -> Result<(Option<Throughput>, Option<Latency>), TraceError> {
    if runs == 0 {
        return Ok((None, None));
    }
    let mut counts = [0u64; 3];
    source.for_each_chunk(&mut |chunk, _| {
        for e in chunk {
            match e.op {
                Op::Malloc | Op::Calloc | Op::Memalign => counts[0] += 1,
                Op::Free => counts[1] += 1,
                Op::Realloc => counts[2] += 1,
                Op::Write => {}
            }
        }
        true
    })?;
    let fake = |n: u64| {
        (n > 0).then_some(Percentiles { count: n, p50: 10, p99: 100, p999: 1000, max: 10000 })
    };
    let events = stats.events as f64;
    let ideal_ns = events * FAKE_NS_PER_EVENT + stats.work as f64 * FAKE_NS_PER_WORK;
    let throughput = Throughput::from_runs(
        (0..runs as usize)
            .map(|k| {
                let ns = ideal_ns * FAKE_RUN_FACTORS[k % FAKE_RUN_FACTORS.len()];
                if ns > 0.0 {
                    events / (ns * 1e-9)
                } else {
                    0.0
                }
            })
            .collect(),
    );
    let latency = Latency {
        malloc: fake(counts[0]),
        free: fake(counts[1]),
        realloc: fake(counts[2]),
        sample_every: 1,
    };
    Ok((throughput, Some(latency)))
}

/// The throughput and latency of one strategy.
pub type Times = (Option<Throughput>, Option<Latency>);

/// The timing passes of one strategy as `timing` says: `runs` throughput passes, then a latency
/// pass timing one call in [`LatencyProbe::sampling_for`] of the median throughput; or the fake
/// clock's figures, computed from `stats` (see [`fake_time_of`]).
pub fn measure_time(
    setup: Setup,
    source: &dyn EventSource,
    stats: &MemoryStats,
    timing: Timing,
    advance: &dyn Fn(u64),
) -> Result<Times, TraceError> {
    let runs = timing.runs;
    if runs == 0 || timing.fake_clock {
        return fake_time_of(source, stats, runs);
    }
    let runs = (0..runs)
        .map(|_| throughput_of(setup, source, advance))
        .collect::<Result<Vec<f64>, _>>()?;
    let throughput = Throughput::from_runs(runs);
    let every =
        throughput.as_ref().map_or(1, |t| LatencyProbe::sampling_for(t.median, source.len()));
    Ok((throughput, Some(latency_of(setup, source, advance, every)?)))
}

/// The cost of one clock read pair as the latency pass makes it, in nanoseconds (median of many):
/// every latency figure includes about this much.
pub fn clock_overhead_ns() -> u64 {
    let clock = Clock::calibrated();
    let mut samples: Vec<u64> = (0..1001)
        .map(|_| {
            let started = clock.ticks();
            clock.ticks().saturating_sub(started)
        })
        .collect();
    samples.sort_unstable();
    clock.ns(samples[samples.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::{bump, Params, StrategyEntry};
    use crate::engine::source::InMemory;
    use crate::trace::Event;

    /// Latency percentiles from one pass with a clock read around every strategy call.
    fn measure_latency(
        entry: &StrategyEntry,
        params: &Params,
        events: &[Event],
        blocks: u32,
    ) -> Latency {
        latency_of(Setup::new(entry, params), &InMemory { events, blocks }, &|_| {}, 1)
            .expect("events in memory cannot fail to be read")
    }

    #[test]
    fn the_fake_clock_charges_ten_ns_an_event_and_one_a_unit_of_work() {
        let events =
            [Event::malloc(0, 24), Event::malloc(1, 100), Event::free(0), Event::malloc(2, 10)];
        let source = InMemory { events: &events, blocks: 3 };
        let stats = MemoryStats { events: 4, work: 60, ..MemoryStats::default() };
        let (throughput, latency) = fake_time_of(&source, &stats, 3).unwrap();
        // 4 events in 4 * 10 + 60 = 100 ns: 40M events/s, times 1.00, 1.02, 0.99 in turn.
        let runs = throughput.unwrap().runs;
        let expected = [4e9 / 100.0, 4e9 / 102.0, 4e9 / 99.0];
        for (run, want) in runs.iter().zip(expected) {
            assert!((run - want).abs() < 1e-6 * want, "{runs:?}");
        }
        let latency = latency.unwrap();
        assert_eq!(latency.malloc.map(|p| (p.count, p.p50, p.max)), Some((3, 10, 10000)));
        assert_eq!(latency.free.map(|p| p.count), Some(1));
        assert!(latency.realloc.is_none());
        // Twice the work is slower by exactly that much.
        let doubled = MemoryStats { work: 120, ..stats };
        let slow = fake_time_of(&source, &doubled, 1).unwrap().0.unwrap();
        assert!((slow.median - 4e9 / 160.0).abs() < 1e-3);
    }

    #[test]
    fn a_pass_under_five_milliseconds_is_too_short_to_time_and_a_longer_one_is_not() {
        // 10 events at 41.67M events/s: 240 ns.
        assert!(pass_too_short(10, 41.67e6));
        assert!((pass_ns(10, 41.67e6).unwrap() - 240.0).abs() < 0.1);
        // 1M events at 100M events/s: 10 ms.
        assert!(!pass_too_short(1_000_000, 100e6));
        assert!(!pass_too_short(0, 0.0), "nothing timed: nothing to warn of");
        // The fake clock's 14-event trace takes 14 * 10 + work ns a pass.
        let events = [Event::malloc(0, 24), Event::free(0)];
        let stats = MemoryStats { events: 2, work: 2, ..MemoryStats::default() };
        let fake = fake_time_of(&InMemory { events: &events, blocks: 1 }, &stats, 3).unwrap();
        assert!(pass_too_short(2, fake.0.unwrap().median));
    }

    #[test]
    fn a_millisecond_maximum_a_thousand_times_the_p99_is_preemption_and_a_slow_tail_is_not() {
        let p = |p99, max| Percentiles { count: 1000, p50: 40, p99, p999: p99, max };
        // The 4,023,203 ns that appeared across strategies, over a p99 of 120 ns.
        assert!(max_is_preemption(&p(120, 4_023_203)));
        // Long, but in line with the calls' own tail: the allocator's.
        assert!(!max_is_preemption(&p(5_000, 4_023_203)));
        // Far above the p99, but short: a slow call, not a time slice.
        assert!(!max_is_preemption(&p(50, 900_000)));
        // The fake clock's latencies (p99 100 ns, max 10000 ns) are never flagged.
        assert!(!max_is_preemption(&p(100, 10_000)));
    }

    #[test]
    fn the_latency_pass_times_every_strategy_call_by_kind() {
        let events = [Event::malloc(0, 8), Event::realloc(0, 64), Event::free(0)];
        let latency = measure_latency(&bump::ENTRY, &Params::default(), &events, 1);
        assert_eq!(latency.malloc.map(|p| p.count), Some(1));
        assert_eq!(latency.realloc.map(|p| p.count), Some(1));
        assert_eq!(latency.free.map(|p| p.count), Some(1));
    }
}
