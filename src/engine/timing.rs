//! The timing policy: how many passes time a strategy and what they measure. Untimed
//! throughput passes ([`NoProbe`], one clock read around each chunk: exactly `--runs N`, or by
//! default from [`MIN_RUNS`] until their spread is under [`TIGHT_SPREAD`], at most
//! [`MAX_RUNS`]: [`stop_after`]), then one latency pass
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
use super::replayer::{Heap, Replayer, Setup, TypedPass};
use super::source::EventSource;
use crate::clock::Clock;
use crate::metrics::{Latency, MemoryStats, Percentiles, Throughput};
use crate::trace::{Op, TraceError};
use std::time::{Duration, Instant};

/// How to time a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Throughput passes per strategy: exactly this many, or with [`Timing::until_tight`] at
    /// least this many; 0 skips timing altogether.
    pub runs: u32,
    /// After `runs` passes, go on until their spread is tight or [`MAX_RUNS`] passes were made
    /// ([`stop_after`]): the default when `--runs` is not given.
    pub until_tight: bool,
    /// Time strategies in parallel, at most one timed pass per core ([`super::run::run_all`]),
    /// instead of one at a time.
    pub parallel: bool,
    /// Report fixed, made-up timings instead of measuring (the hidden `--fake-clock`, for
    /// tests whose output must not depend on the machine): see [`fake_time_of`].
    pub fake_clock: bool,
}

impl Timing {
    /// The throughput runs in words, for the reports: "3 untimed runs", or by default "3 to 5
    /// untimed runs (until they agree within 3%)".
    pub fn runs_in_words(&self) -> String {
        if self.until_tight {
            format!(
                "{} to {MAX_RUNS} untimed runs (until they agree within {}%)",
                self.runs,
                TIGHT_SPREAD * 100.0
            )
        } else {
            crate::words::count(self.runs, "untimed run", "untimed runs")
        }
    }
}

/// Throughput passes per strategy by default: at least this many...
pub const MIN_RUNS: u32 = 3;
/// ...and at most this many, stopping earlier once their spread is under [`TIGHT_SPREAD`].
pub const MAX_RUNS: u32 = 5;
/// A spread ([`spread_of`]) under this (3%) is tight: more runs would not move the median by
/// more than the noise. It is the top of the spread the issue measured in quiet conditions
/// (0.3-3%); the fake clock's first three runs (factors 1.00, 1.02, 0.99) spread 2.97%.
pub const TIGHT_SPREAD: f64 = 0.03;

/// How far apart the throughput runs are: `(max - min) / median` of the runs left after
/// dropping the fastest and the slowest quarter (`n / 4` runs at each end, none of 3). The
/// trimmed range, unlike the full one, can shrink as runs are added: one run slowed by another
/// process does not keep the others running to [`MAX_RUNS`]. `None` of no runs, or of a zero
/// median.
pub fn spread_of(runs: &[f64]) -> Option<f64> {
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let trim = sorted.len() / 4;
    let kept = sorted.get(trim..sorted.len() - trim).filter(|k| !k.is_empty())?;
    let median = crate::metrics::median_of_sorted(kept);
    (median > 0.0).then(|| (kept[kept.len() - 1] - kept[0]) / median)
}

/// Why a strategy's throughput passes stopped where they did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// `--runs N`: exactly that many.
    Count(u32),
    /// The spread ([`spread_of`]) was under [`TIGHT_SPREAD`].
    Tight(f64),
    /// [`MAX_RUNS`] were made; the spread was still this.
    MaxRuns(f64),
}

impl std::fmt::Display for Stop {
    /// As the JSON's `throughput.stopped` says it: `--runs 5`, `spread 0.42% < 3%`,
    /// `max runs (5), spread 7.10%`.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let pct = |x: f64| format!("{:.2}%", x * 100.0);
        match *self {
            Stop::Count(n) => write!(f, "--runs {n}"),
            Stop::Tight(s) => write!(f, "spread {} < {}%", pct(s), TIGHT_SPREAD * 100.0),
            Stop::MaxRuns(s) => write!(f, "max runs ({MAX_RUNS}), spread {}", pct(s)),
        }
    }
}

/// Whether to stop after `runs` (the throughput passes made so far, in order), and why; `None`:
/// make another. With `--runs N` (`timing.until_tight` false) exactly N; by default at least
/// `timing.runs`, then until the spread is under [`TIGHT_SPREAD`] or [`MAX_RUNS`] were made.
pub fn stop_after(runs: &[f64], timing: Timing) -> Option<Stop> {
    let made = runs.len() as u32;
    if !timing.until_tight {
        return (made >= timing.runs).then_some(Stop::Count(timing.runs));
    }
    if made < timing.runs.max(1) {
        return None;
    }
    let spread = spread_of(runs).unwrap_or(0.0);
    if spread < TIGHT_SPREAD {
        Some(Stop::Tight(spread))
    } else if made >= MAX_RUNS.max(timing.runs) {
        Some(Stop::MaxRuns(spread))
    } else {
        None
    }
}

/// Throughput runs made by `next` (called with the run's index, from 0) until [`stop_after`]
/// says stop: every run, in order, and why they stopped. A simulated strategy's runs are passes
/// in this process; a real allocator's are child processes ([`crate::real::run`]): one rule for
/// both.
pub fn runs_until_stop<E>(
    timing: Timing,
    mut next: impl FnMut(usize) -> Result<f64, E>,
) -> Result<(Vec<f64>, Stop), E> {
    let mut runs = Vec::new();
    loop {
        if let Some(stop) = stop_after(&runs, timing) {
            return Ok((runs, stop));
        }
        runs.push(next(runs.len())?);
    }
}

/// What the speed table says of the throughput runs: `3 untimed runs` with `--runs 3`; by
/// default the rule and how many runs each strategy made (`made`: a strategy's name and its
/// runs, in the table's order), the most common count once: `untimed runs, at least 3, more
/// until the middle half agree within 3% (at most 5): 3 each, first-fit 5, tlsf 4`.
pub fn runs_note(timing: Timing, made: &[(&str, usize)]) -> String {
    let runs = |n: u64| crate::words::count(n, "untimed run", "untimed runs");
    if !timing.until_tight {
        return runs(u64::from(timing.runs));
    }
    let mut counts: Vec<usize> = made.iter().map(|&(_, n)| n).collect();
    counts.sort_unstable();
    // The most common count (the smallest of equally common ones).
    let common = counts
        .chunk_by(|a, b| a == b)
        .max_by_key(|run| (run.len(), std::cmp::Reverse(run[0])))
        .map_or(0, |run| run[0]);
    let mut each = vec![format!("{common} each")];
    each.extend(made.iter().filter(|&&(_, n)| n != common).map(|(name, n)| format!("{name} {n}")));
    format!(
        "untimed runs, at least {}, more until the middle half agree within {}% (at most {}): {}",
        timing.runs,
        TIGHT_SPREAD * 100.0,
        MAX_RUNS.max(timing.runs),
        each.join(", ")
    )
}

/// Events per second of one untimed pass over `source`. The clock runs only while a chunk is
/// replayed, not while the next one is read.
/// The loop is compiled for the strategy's own type ([`Setup::replay_typed`]), so what is timed
/// is the strategy's calls inlined into the engine's loop, not an indirect call per event.
pub fn throughput_of(
    setup: Setup,
    source: &dyn EventSource,
    advance: &dyn Fn(u64),
) -> Result<f64, TraceError> {
    setup.replay_typed(source.slots(), ThroughputPass { source, advance })
}

/// One untimed throughput pass, on whatever heap type [`Setup::replay_typed`] finds.
struct ThroughputPass<'a> {
    source: &'a dyn EventSource,
    advance: &'a dyn Fn(u64),
}

impl TypedPass<Result<f64, TraceError>> for ThroughputPass<'_> {
    fn run<S: Heap + ?Sized>(self, mut replayer: Replayer<S>) -> Result<f64, TraceError> {
        let mut seconds = 0.0;
        let mut applied = 0;
        self.source.for_each_chunk(&mut |chunk, first| {
            let started = Instant::now();
            applied += replayer.run(chunk, first, &mut NoProbe);
            seconds += started.elapsed().as_secs_f64();
            (self.advance)(chunk.len() as u64);
            replayer.stopped().is_none()
        })?;
        std::hint::black_box(replayer.strategy().top());
        Ok(applied as f64 / f64::max(seconds, 1e-9))
    }
}

/// Latency percentiles from one pass over `source` with a clock read around one strategy call
/// in `every` (1: every call).
///
/// Its loop too is compiled for the strategy's own type, so that a timed call costs what the
/// strategy's code costs, inlined as in the throughput pass, and the untimed calls between the
/// sampled ones run as fast as there. The clock reads stay around the call: the probe puts a
/// compiler fence between each read and the call, which the strategy's loads and stores cannot
/// be moved across.
pub fn latency_of(
    setup: Setup,
    source: &dyn EventSource,
    advance: &dyn Fn(u64),
    every: u32,
) -> Result<Latency, TraceError> {
    setup.replay_typed(source.slots(), LatencyPass { source, advance, every })
}

/// One latency pass, on whatever heap type [`Setup::replay_typed`] finds.
struct LatencyPass<'a> {
    source: &'a dyn EventSource,
    advance: &'a dyn Fn(u64),
    every: u32,
}

impl TypedPass<Result<Latency, TraceError>> for LatencyPass<'_> {
    fn run<S: Heap + ?Sized>(self, mut replayer: Replayer<S>) -> Result<Latency, TraceError> {
        let mut probe = LatencyProbe::sampling(self.every);
        replayer.replay(self.source, &mut probe, self.advance)?;
        Ok(probe.latency())
    }
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
    timing: Timing,
) -> Result<(Option<Throughput>, Option<Latency>), TraceError> {
    if timing.runs == 0 {
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
    let (runs, stop) = runs_until_stop(timing, |k| {
        let ns = ideal_ns * FAKE_RUN_FACTORS[k % FAKE_RUN_FACTORS.len()];
        Ok(if ns > 0.0 { events / (ns * 1e-9) } else { 0.0 })
    })?;
    let throughput = stopped(Throughput::from_runs(runs), stop);
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

/// `throughput`, saying why its runs stopped.
fn stopped(throughput: Option<Throughput>, stop: Stop) -> Option<Throughput> {
    throughput.map(|t| Throughput { stopped: Some(stop.to_string()), ..t })
}

/// Wall time one strategy's timing passes took, by kind (none with the fake clock).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spent {
    pub throughput: Duration,
    /// Throughput passes made.
    pub throughput_passes: u32,
    pub latency: Duration,
}

/// The timing passes of one strategy as `timing` says: throughput passes until [`stop_after`]
/// says stop, then a latency pass timing one call in [`LatencyProbe::sampling_for`] of the
/// median throughput; or the fake clock's figures, computed from `stats` (see
/// [`fake_time_of`]). Also returns the wall time the passes took.
pub fn measure_time(
    setup: Setup,
    source: &dyn EventSource,
    stats: &MemoryStats,
    timing: Timing,
    advance: &dyn Fn(u64),
) -> Result<(Times, Spent), TraceError> {
    if timing.runs == 0 || timing.fake_clock {
        return Ok((fake_time_of(source, stats, timing)?, Spent::default()));
    }
    let started = Instant::now();
    let (runs, stop) = runs_until_stop(timing, |_| throughput_of(setup, source, advance))?;
    let throughput_passes = runs.len() as u32;
    let throughput = stopped(Throughput::from_runs(runs), stop);
    let throughput_spent = started.elapsed();
    let every =
        throughput.as_ref().map_or(1, |t| LatencyProbe::sampling_for(t.median, source.len()));
    let started = Instant::now();
    let latency = latency_of(setup, source, advance, every)?;
    let spent =
        Spent { throughput: throughput_spent, throughput_passes, latency: started.elapsed() };
    Ok(((throughput, Some(latency)), spent))
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

    /// `--runs runs` on the fake clock.
    fn exactly(runs: u32) -> Timing {
        Timing { runs, until_tight: false, parallel: false, fake_clock: true }
    }

    /// The default: at least three runs, more until the spread is tight.
    fn by_default() -> Timing {
        Timing { runs: MIN_RUNS, until_tight: true, ..exactly(MIN_RUNS) }
    }

    #[test]
    fn runs_given_are_made_exactly_whatever_their_spread() {
        assert_eq!(stop_after(&[1.0, 2.0], exactly(3)), None);
        assert_eq!(stop_after(&[1.0, 2.0, 9.0], exactly(3)), Some(Stop::Count(3)));
        assert_eq!(stop_after(&[], exactly(0)), Some(Stop::Count(0)));
        assert_eq!(Stop::Count(5).to_string(), "--runs 5");
    }

    #[test]
    fn by_default_three_runs_within_three_percent_stop_there() {
        assert_eq!(stop_after(&[100.0, 101.0], by_default()), None, "fewer than three");
        let stop = stop_after(&[100.0, 101.0, 99.5], by_default()).unwrap();
        let Stop::Tight(spread) = stop else { panic!("{stop:?}") };
        assert!((spread - 1.5 / 100.0).abs() < 1e-12, "{spread}");
        assert_eq!(stop.to_string(), "spread 1.50% < 3%");
    }

    #[test]
    fn a_wide_spread_makes_more_runs_until_the_middle_ones_agree() {
        // 10% apart: not tight.
        assert_eq!(stop_after(&[100.0, 90.0, 100.5], by_default()), None);
        // A fourth run near the median: the slowest and fastest quarter (one run each) are left
        // out, and 100.0 .. 100.5 is tight.
        let stop = stop_after(&[100.0, 90.0, 100.5, 100.2], by_default()).unwrap();
        assert!(matches!(stop, Stop::Tight(s) if s < 0.01), "{stop:?}");
    }

    #[test]
    fn runs_that_never_agree_stop_at_the_maximum_and_say_so() {
        let noisy = |k: usize| Ok::<_, TraceError>(if k % 2 == 0 { 100.0 } else { 50.0 });
        let (runs, stop) = runs_until_stop(by_default(), noisy).unwrap();
        assert_eq!(runs.len(), MAX_RUNS as usize);
        assert_eq!(stop, Stop::MaxRuns(0.5));
        assert_eq!(stop.to_string(), "max runs (5), spread 50.00%");
        // At least as many as asked for, even past the maximum.
        let many = Timing { runs: 12, ..by_default() };
        assert_eq!(runs_until_stop(many, noisy).unwrap().0.len(), 12);
    }

    #[test]
    fn the_table_names_the_runs_rule_and_only_the_strategies_off_the_common_count() {
        assert_eq!(runs_note(exactly(1), &[("bump", 1)]), "1 untimed run");
        assert_eq!(runs_note(exactly(5), &[("bump", 5)]), "5 untimed runs");
        let made = [("bump", 3), ("first-fit", 5), ("tlsf", 3), ("slab", 4)];
        assert_eq!(
            runs_note(by_default(), &made),
            "untimed runs, at least 3, more until the middle half agree within 3% (at most 5): \
             3 each, first-fit 5, slab 4"
        );
    }

    #[test]
    fn the_trimmed_spread_drops_a_quarter_of_the_runs_at_each_end() {
        assert_eq!(spread_of(&[]), None);
        assert_eq!(spread_of(&[0.0, 0.0, 0.0]), None);
        assert_eq!(spread_of(&[10.0]), Some(0.0));
        // Three runs: nothing dropped.
        assert_eq!(spread_of(&[8.0, 10.0, 12.0]), Some(0.4));
        // Eight runs: two dropped at each end, 9 .. 11 around a median of 10.
        let eight = [1.0, 2.0, 9.0, 10.0, 10.0, 11.0, 50.0, 60.0];
        assert_eq!(spread_of(&eight), Some(0.2));
    }

    #[test]
    fn the_fake_clock_follows_the_stopping_rule_and_its_three_runs_are_tight() {
        let events = [Event::malloc(0, 24), Event::free(0)];
        let stats = MemoryStats { events: 2, work: 2, ..MemoryStats::default() };
        let source = InMemory { events: &events, blocks: 1 };
        let t = fake_time_of(&source, &stats, by_default()).unwrap().0.unwrap();
        assert_eq!(t.runs.len(), 3);
        assert_eq!(t.stopped.as_deref(), Some("spread 2.97% < 3%"));
        let t = fake_time_of(&source, &stats, exactly(5)).unwrap().0.unwrap();
        assert_eq!((t.runs.len(), t.stopped.as_deref()), (5, Some("--runs 5")));
    }

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
        let (throughput, latency) = fake_time_of(&source, &stats, exactly(3)).unwrap();
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
        let slow = fake_time_of(&source, &doubled, exactly(1)).unwrap().0.unwrap();
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
        let fake =
            fake_time_of(&InMemory { events: &events, blocks: 1 }, &stats, exactly(3)).unwrap();
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
