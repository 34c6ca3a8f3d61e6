//! Driving events through strategies.
//!
//! A [`Replayer`] owns one strategy and the table of live blocks (by [`BlockId`]), and applies
//! events one at a time, in order: it never looks back or ahead, so events can come from a
//! `Vec` or a stream. What is observed while replaying is a [`Probe`], chosen at compile time, so
//! the untimed pass pays nothing for the metrics or the clock.
//!
//! Each strategy is replayed in separate passes, so measuring one thing never distorts another:
//! 1. the metrics pass ([`MetricsProbe`]): exact memory figures, after every event; with it the
//!    memory time series ([`SeriesProbe`], `--samples`) and, only for `--report`, the heap
//!    pictures ([`LayoutProbe`]), so nothing is replayed twice for the report;
//! 2. `--runs` throughput passes ([`NoProbe`]): one clock read around the whole trace;
//! 3. one latency pass ([`LatencyProbe`]): a clock read before and after every strategy call,
//!    into hdrhistograms. The clock is the calibrated time-stamp counter of [`crate::clock`]
//!    (`Instant` on other architectures), a few nanoseconds a read. For a strategy whose events
//!    cost less than timing a call (bump: a few nanoseconds), timing every call would more than
//!    double the pass and mostly measure the clock, so the pass times one call in `k`, with `k`
//!    chosen from the throughput passes so that the latency pass costs at most about 1.8 times
//!    the untimed one ([`LatencyProbe::sampling_for`]); every call is equally likely to be
//!    timed, so the percentiles are those of a uniform sample. `k` is reported
//!    (`latency_ns.sample_every`).
//!
//! [`run_all`] does the metrics passes of all strategies in parallel (rayon; each has its own
//! heap, nothing is shared) and, by default, the timing passes one strategy at a time, so
//! strategies do not compete for the two cores while they are timed.
//!
//! # Streaming
//! Every pass reads its events from an [`EventSource`], one chunk at a time
//! ([`CHUNK_EVENTS`], 1 MiB of events): [`InMemory`] hands out chunks of a parsed trace, an
//! [`Rtrace`] file is read again for each pass, a chunk per bulk read into a buffer of the pass's
//! own. A pass therefore holds one chunk, the strategy's heap and the engine's table of blocks
//! (32 bytes per block id: ids are recycled in an `.rtrace`, so that is per block *live at
//! once*), never the trace: memory does not grow with the trace's length. Re-reading costs a
//! read of 16 bytes an event from the page cache per pass (about 1 GB/s or more), small next to
//! any strategy's work; the throughput pass's clock runs only while events are replayed, not
//! while they are read.

use crate::alloc::{Params, StrategyEntry};
use crate::clock::Clock;

pub mod exact;
pub mod heap_pictures;
pub mod latency;
pub mod probe;
pub mod replayer;
pub mod series;
pub mod source;
pub mod verify;
use crate::engine::heap_pictures::{HeapPictures, LayoutProbe};
use crate::engine::verify::{Finding, FindingKind, Safety, Verifier};
use crate::metrics::{Latency, MemoryStats, Percentiles, Series, Throughput};
use crate::trace::{Event, Op, TraceError};
pub use exact::MetricsProbe;
pub use latency::{LatencyProbe, MIN_SAMPLES};
pub use probe::{HeapState, NoProbe, OpClass, Outcome, Probe};
use rayon::prelude::*;
pub use replayer::Replayer;
pub use series::SeriesProbe;
pub use source::{EventSource, InMemory, CHUNK_EVENTS};
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

/// Everything measured for one strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategyResult {
    pub allocator: &'static str,
    pub memory: MemoryStats,
    /// `None` when timing was skipped (`--runs 0`).
    pub throughput: Option<Throughput>,
    pub latency: Option<Latency>,
    /// Verification findings and corruption.
    pub safety: Safety,
    /// The memory time series of the metrics pass (empty with `--samples 0`).
    pub series: Series,
    /// The heap map and timeline (only when the plan asks for them).
    pub heap: Option<HeapPictures>,
}

/// Maps an event index to its line in the trace file, for messages.
pub type LineOf<'a> = &'a (dyn Fn(u64) -> u64 + Sync);

/// The exact memory figures of `events` through `entry`.
pub fn measure_memory(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
) -> MemoryStats {
    measure_memory_and_safety(entry, params, events, blocks, false, &|index| index).0
}

/// The exact memory figures of `events` through `entry`, and, with `verify`, the findings of the
/// [`Verifier`]. Corruption a strategy finds in its own metadata is reported either way.
pub fn measure_memory_and_safety(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
    verify: bool,
    line_of: LineOf,
) -> (MemoryStats, Safety) {
    let pass = Pass { verify, samples: 0, layout: false };
    let (stats, safety, _) = metrics_pass(entry, params, events, blocks, pass, line_of);
    (stats, safety)
}

/// What the metrics pass observes besides the memory figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pass {
    /// Run the [`Verifier`].
    pub verify: bool,
    /// Samples of the memory time series.
    pub samples: u64,
    /// Draw the heap pictures ([`LayoutProbe`]).
    pub layout: bool,
}

/// What the metrics pass found besides the memory figures and safety.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub series: Series,
    pub heap: Option<HeapPictures>,
}

/// The metrics pass over events in memory: see [`metrics_pass_of`].
pub fn metrics_pass(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
    pass: Pass,
    line_of: LineOf,
) -> (MemoryStats, Safety, Observed) {
    let source = InMemory { events, blocks };
    metrics_pass_of(entry, params, &source, pass, line_of, &|_| {})
        .expect("events in memory cannot fail to be read")
}

/// The metrics pass: the exact memory figures and what `pass` asks for besides: the memory
/// time series, the heap pictures, the findings of the [`Verifier`].
pub fn metrics_pass_of(
    entry: &StrategyEntry,
    params: &Params,
    source: &dyn EventSource,
    pass: Pass,
    line_of: LineOf,
    advance: &dyn Fn(u64),
) -> Result<(MemoryStats, Safety, Observed), TraceError> {
    let blocks = source.slots();
    let mut replayer = Replayer::new(entry, params, blocks);
    let n = source.len();
    let series = SeriesProbe::new(n, pass.samples);
    let layout = pass.layout.then(|| LayoutProbe::new(n, blocks));
    let probes = ((MetricsProbe::default(), series), layout);
    let ((metrics, series), layout, mut safety) = if pass.verify {
        let mut probes = (probes, Verifier::new(line_of));
        replayer.replay(source, &mut probes, advance)?;
        let (probes, verifier) = probes;
        (probes.0, probes.1, verifier.safety)
    } else {
        let mut probes = probes;
        replayer.replay(source, &mut probes, advance)?;
        (probes.0, probes.1, Safety::default())
    };
    let mut stats = metrics.stats;
    stats.work = replayer.strategy().work();
    let observed =
        Observed { series: series.finish(&stats), heap: layout.map(|l| l.finish(entry.name)) };
    if let Some((event, corruption)) = replayer.stopped() {
        safety.corruption = Some(Finding {
            kind: FindingKind::Corruption,
            event,
            line: line_of(event),
            message: format!("{corruption}; the replay of {} stopped here", entry.name),
            culprit_line: replayer.last_overrun_covering(corruption.at).map(line_of),
        });
    }
    Ok((stats, safety, observed))
}

/// Events per second of one untimed pass (the table is sized before the clock starts).
pub fn measure_throughput(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
) -> f64 {
    throughput_of(entry, params, &InMemory { events, blocks }, &|_| {})
        .expect("events in memory cannot fail to be read")
}

/// Events per second of one untimed pass over `source`. The clock runs only while a chunk is
/// replayed, not while the next one is read.
pub fn throughput_of(
    entry: &StrategyEntry,
    params: &Params,
    source: &dyn EventSource,
    advance: &dyn Fn(u64),
) -> Result<f64, TraceError> {
    let mut replayer = Replayer::new(entry, params, source.slots());
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

/// Latency percentiles from one pass with a clock read around every strategy call.
pub fn measure_latency(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
) -> Latency {
    latency_of(entry, params, &InMemory { events, blocks }, &|_| {}, 1)
        .expect("events in memory cannot fail to be read")
}

/// [`measure_latency`] over `source`, timing one call in `every`.
pub fn latency_of(
    entry: &StrategyEntry,
    params: &Params,
    source: &dyn EventSource,
    advance: &dyn Fn(u64),
    every: u32,
) -> Result<Latency, TraceError> {
    let mut replayer = Replayer::new(entry, params, source.slots());
    let mut probe = LatencyProbe::sampling(every);
    replayer.replay(source, &mut probe, advance)?;
    Ok(probe.latency())
}

/// Ticks of the fake clock per event, and per unit of [`Strategy::work`]: see [`fake_time_of`].
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

type Times = (Option<Throughput>, Option<Latency>);

fn measure_time(
    entry: &StrategyEntry,
    params: &Params,
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
        .map(|_| throughput_of(entry, params, source, advance))
        .collect::<Result<Vec<f64>, _>>()?;
    let throughput = Throughput::from_runs(runs);
    let every =
        throughput.as_ref().map_or(1, |t| LatencyProbe::sampling_for(t.median, source.len()));
    Ok((throughput, Some(latency_of(entry, params, source, advance, every)?)))
}

/// What [`run_all`] replays, and how.
pub struct Plan<'a> {
    pub entries: &'a [&'static StrategyEntry],
    pub params: Params,
    /// The events, read afresh by every pass.
    pub source: &'a dyn EventSource,
    pub timing: Timing,
    pub verify: bool,
    pub line_of: LineOf<'a>,
    /// Samples of the memory time series per strategy (`--samples`).
    pub samples: u64,
    /// Draw the heap pictures in the metrics pass (`--report`).
    pub layout: bool,
    /// Called with the number of events just replayed, after every chunk of every pass, from
    /// any thread (a progress bar): [`Plan::events_to_replay`] in all.
    pub advance: &'a (dyn Fn(u64) + Sync),
}

impl Plan<'_> {
    /// Passes per strategy: the metrics pass, then `runs` throughput passes and a latency pass.
    pub fn passes(&self) -> u64 {
        let timed = self.timing.runs > 0 && !self.timing.fake_clock;
        1 + if timed { u64::from(self.timing.runs) + 1 } else { 0 }
    }

    /// Events replayed by [`run_all`] over all passes of all strategies (fewer when a strategy
    /// stops at corruption).
    pub fn events_to_replay(&self) -> u64 {
        self.entries.len() as u64 * self.passes() * self.source.len()
    }
}

/// Replay the plan's events through every strategy: metrics passes in parallel, timing passes
/// as `timing` says. Results come back in the order of `entries`. Fails only when the source
/// cannot be read.
pub fn run_all(plan: &Plan) -> Result<Vec<StrategyResult>, TraceError> {
    let (params, source) = (&plan.params, plan.source);
    let pass = Pass { verify: plan.verify, samples: plan.samples, layout: plan.layout };
    let memory: Vec<(MemoryStats, Safety, Observed)> = plan
        .entries
        .par_iter()
        .map(|entry| metrics_pass_of(entry, params, source, pass, plan.line_of, plan.advance))
        .collect::<Result<_, _>>()?;
    let time =
        |(entry, (stats, _, _)): (&&'static StrategyEntry, &(MemoryStats, Safety, Observed))| {
            measure_time(entry, params, source, stats, plan.timing, plan.advance)
        };
    let times: Vec<Times> = if plan.timing.parallel {
        plan.entries.par_iter().zip(memory.par_iter()).map(time).collect::<Result<_, _>>()?
    } else {
        plan.entries.iter().zip(memory.iter()).map(time).collect::<Result<_, _>>()?
    };
    Ok(plan
        .entries
        .iter()
        .zip(memory)
        .zip(times)
        .map(|((entry, (memory, safety, observed)), (throughput, latency))| StrategyResult {
            allocator: entry.name,
            memory,
            throughput,
            latency,
            safety,
            series: observed.series,
            heap: observed.heap,
        })
        .collect())
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
    use crate::alloc::bump;
    use crate::metrics::Sample;

    #[test]
    fn the_metrics_pass_matches_a_hand_computed_bump_replay() {
        // bump: 24 -> [0,32); 100 -> [32,144); free the first; 10 -> [144,160).
        let events =
            [Event::malloc(0, 24), Event::malloc(1, 100), Event::free(0), Event::malloc(2, 10)];
        let m = measure_memory(&bump::ENTRY, &Params::default(), &events, 3);
        assert_eq!(m.events, 4);
        assert_eq!(m.peak_footprint_bytes, 160);
        assert_eq!(m.max_live_bytes, 124);
        assert_eq!(m.peak_event, 1);
        assert_eq!(m.live_consumed_at_peak, 144);
        assert_eq!(m.footprint_at_peak, 144);
        assert_eq!(m.overhead(), Some(36.0 / 124.0));
        assert_eq!(m.internal_fragmentation(), 20.0 / 144.0);
        assert_eq!(m.external_fragmentation(), 0.0);
        assert_eq!(m.final_footprint_bytes, 160);
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
    fn the_peak_event_is_the_first_to_reach_the_maximum() {
        // Live bytes: 100, 0, 100 -> the maximum is first reached at event 0.
        let events = [Event::malloc(0, 100), Event::free(0), Event::malloc(1, 100)];
        let m = measure_memory(&bump::ENTRY, &Params::default(), &events, 2);
        assert_eq!((m.max_live_bytes, m.peak_event), (100, 0));
    }

    #[test]
    fn the_series_samples_evenly_spaced_events_the_last_one_and_the_peak() {
        // Live bytes after each event: 10 30 60 50 20 10 0; the peak is event 2.
        let events = [
            Event::malloc(0, 10),
            Event::malloc(1, 20),
            Event::malloc(2, 30),
            Event::free(0),
            Event::free(2),
            Event::free(1),
            Event::malloc(3, 0),
        ];
        let pass = Pass { samples: 3, ..Pass::default() };
        let (m, _, observed) =
            metrics_pass(&bump::ENTRY, &Params::default(), &events, 4, pass, &|i| i);
        let series = observed.series;
        assert_eq!(m.peak_event, 2);
        let at: Vec<u64> = series.samples.iter().map(|s| s.event).collect();
        // stride ceil(7 / 3) = 3: events 0, 3, 6 (the last), and the peak 2.
        assert_eq!(at, [0, 2, 3, 6]);
        let live: Vec<u64> = series.samples.iter().map(|s| s.live_requested).collect();
        assert_eq!(live, [10, 60, 50, 0]);
        let peak = series.samples[1];
        assert_eq!(peak, Sample::at_peak(&m));
        assert_eq!(peak.free, peak.footprint - peak.live_consumed);
    }

    #[test]
    fn no_samples_means_an_empty_series() {
        let events = [Event::malloc(0, 10)];
        let (_, _, observed) =
            metrics_pass(&bump::ENTRY, &Params::default(), &events, 1, Pass::default(), &|i| i);
        assert!(observed.series.samples.is_empty() && observed.heap.is_none());
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
