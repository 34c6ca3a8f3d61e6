//! Which passes run and how their results come together: [`run_all`] replays a [`Plan`] through
//! every strategy, the metrics pass of each ([`metrics_pass_of`]: the exact figures plus the
//! probes the plan asks for) in parallel, then the timing passes ([`super::timing`]), and
//! assembles one [`StrategyResult`] per strategy. This is the one file that builds probes.

use super::at_peak::{breakdowns_at_peak, predict_peak, Breakdowns};
use super::exact::MetricsProbe;
use super::heap_pictures::{HeapPictures, LayoutProbe};
use super::replayer::{Replayer, Setup};
use super::series::SeriesProbe;
use super::source::EventSource;
#[cfg(test)]
use super::source::InMemory;
use super::timing::{measure_time, Spent, Times, Timing};
use super::verify::{Finding, FindingKind, Safety, Verifier};
use crate::alloc::slowdown::{self, Slowdown};
use crate::alloc::{Params, StrategyEntry};
use crate::metrics::{Latency, MemoryStats, Series, Throughput};
#[cfg(test)]
use crate::trace::Event;
use crate::trace::TraceError;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// Waste by request size class and free holes, at the peak event ([`super::at_peak`]).
    pub at_peak: Option<Breakdowns>,
}

/// Maps an event index to its line in the trace file, for messages.
pub type LineOf<'a> = &'a (dyn Fn(u64) -> u64 + Sync);

/// The exact memory figures of `events` through `entry` (for tests).
#[cfg(test)]
pub(crate) fn measure_memory(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
) -> MemoryStats {
    measure_memory_and_safety(entry, params, events, blocks, false, &|index| index).0
}

/// The exact memory figures of `events` through `entry`, and, with `verify`, the findings of the
/// [`Verifier`]. Corruption a strategy finds in its own metadata is reported either way. For tests.
#[cfg(test)]
pub(crate) fn measure_memory_and_safety(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
    verify: bool,
    line_of: LineOf,
) -> (MemoryStats, Safety) {
    let pass = Pass { verify, samples: 0, layout: false, peak_hint: None };
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
    /// The event the peak is expected at ([`predict_peak`]): the breakdowns at the peak are
    /// read there during the pass, and only when the pass's own peak is elsewhere are the
    /// events up to it replayed again.
    pub peak_hint: Option<u64>,
}

/// What the metrics pass found besides the memory figures and safety.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub series: Series,
    pub heap: Option<HeapPictures>,
    pub at_peak: Option<Breakdowns>,
}

/// The metrics pass over events in memory: see [`metrics_pass_of`]. For tests.
#[cfg(test)]
pub(crate) fn metrics_pass(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
    pass: Pass,
    line_of: LineOf,
) -> (MemoryStats, Safety, Observed) {
    let source = InMemory { events, blocks };
    metrics_pass_of(Setup::new(entry, params), &source, pass, line_of, &|_| {})
        .expect("events in memory cannot fail to be read")
}

/// The metrics pass: the exact memory figures and what `pass` asks for besides: the memory
/// time series, the heap pictures, the findings of the [`Verifier`].
pub fn metrics_pass_of(
    setup: Setup,
    source: &dyn EventSource,
    pass: Pass,
    line_of: LineOf,
    advance: &dyn Fn(u64),
) -> Result<(MemoryStats, Safety, Observed), TraceError> {
    let blocks = source.slots();
    let mut replayer = setup.replayer(blocks);
    let n = source.len();
    let series = SeriesProbe::new(n, pass.samples);
    let layout = pass.layout.then(|| LayoutProbe::new(n, blocks));
    let probes = ((MetricsProbe::default(), series), layout);
    let mut at_hint = None;
    let mut read_hint = |r: &Replayer| at_hint = Some(Breakdowns::of_replayer(r));
    let ((metrics, series), layout, mut safety) = if pass.verify {
        let mut probes = (probes, Verifier::new(line_of));
        replayer.replay_pausing(source, &mut probes, advance, pass.peak_hint, &mut read_hint)?;
        let (probes, verifier) = probes;
        (probes.0, probes.1, verifier.safety)
    } else {
        let mut probes = probes;
        replayer.replay_pausing(source, &mut probes, advance, pass.peak_hint, &mut read_hint)?;
        (probes.0, probes.1, Safety::default())
    };
    let mut stats = metrics.stats;
    stats.work = replayer.strategy().work();
    let observed = Observed {
        series: series.finish(&stats),
        heap: layout.map(|l| l.finish(setup.entry.name)),
        at_peak: Some(match at_hint {
            Some(at_peak) if pass.peak_hint == Some(stats.peak_event) => at_peak,
            _ => breakdowns_at_peak(setup, source, &stats, &replayer)?,
        }),
    };
    if let Some((event, corruption)) = replayer.stopped() {
        safety.corruption = Some(Finding {
            kind: FindingKind::Corruption,
            event,
            line: line_of(event),
            message: format!("{corruption}; the replay of {} stopped here", setup.entry.name),
            culprit_line: replayer.last_overrun_covering(corruption.at).map(line_of),
        });
    }
    Ok((stats, safety, observed))
}

/// What [`run_all`] replays, and how.
pub struct Plan<'a> {
    pub entries: &'a [&'static StrategyEntry],
    pub params: Params,
    /// The hidden `--test-slowdown`: strategies to slow down on purpose, and how (empty but in
    /// tests of the gate).
    pub slowdowns: &'a [(&'static str, Slowdown)],
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
    /// Passes per strategy: the metrics pass, then `runs` throughput passes and a latency pass
    /// (at least: by default more throughput passes follow until their spread is tight, and the
    /// progress bar then runs past its length).
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

/// Wall time of each kind of pass in one [`run_all_timed`], for `--verbose`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PassTimes {
    /// The metrics passes of every strategy (in parallel), from the first start to the last end.
    pub metrics: Duration,
    /// The timing passes of every strategy, from the first start to the last end.
    pub timing: Duration,
    /// Strategies timed at once ([`timing_threads`]).
    pub timing_threads: usize,
    /// The throughput and latency passes, summed over strategies: more than `timing` when
    /// strategies were timed in parallel.
    pub spent: Spent,
    /// The strategy whose own passes (its metrics pass and its timing passes) took longest,
    /// and how long they took.
    pub slowest: Option<(&'static str, Duration)>,
}

/// How many strategies are timed at once: one with `parallel` off; else one per core (the
/// threads of the current rayon pool, `--threads`, but never more than the machine's cores),
/// and never more than there are strategies.
///
/// The rule: at most one timed pass per core, and a timed pass never beside a pass of another
/// kind ([`run_all_timed`] starts the timing passes only once every metrics pass has ended, and
/// the real allocators' children run only after both). Two timed passes on two cores share the
/// last-level cache and the memory bus, which is why benches/README.md compares the medians of
/// both ways on the same traces.
pub fn timing_threads(parallel: bool, strategies: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if parallel { rayon::current_num_threads().min(cores) } else { 1 };
    threads.clamp(1, strategies.max(1))
}

/// What [`measure_time`] returns for one strategy.
type Timed = Result<(Times, Spent), TraceError>;

/// [`run_all_timed`] without the pass times.
pub fn run_all(plan: &Plan) -> Result<Vec<StrategyResult>, TraceError> {
    run_all_timed(plan).map(|(results, _)| results)
}

/// Replay the plan's events through every strategy: metrics passes in parallel, then the timing
/// passes as `timing` says ([`timing_threads`] of them at once, the strategy with the most work
/// first, so the longest does not start last). Results come back in the order of `entries`,
/// with the wall time each kind of pass took. Fails only when the source cannot be read.
pub fn run_all_timed(plan: &Plan) -> Result<(Vec<StrategyResult>, PassTimes), TraceError> {
    let source = plan.source;
    let setup = |entry: &'static StrategyEntry| Setup {
        entry,
        params: &plan.params,
        slowdown: slowdown::of(plan.slowdowns, entry.name),
    };
    let peak_hint = predict_peak(source, &plan.params)?;
    let pass = Pass { verify: plan.verify, samples: plan.samples, layout: plan.layout, peak_hint };
    let started = Instant::now();
    let memory: Vec<((MemoryStats, Safety, Observed), Duration)> = plan
        .entries
        .par_iter()
        .map(|entry| {
            let started = Instant::now();
            let done = metrics_pass_of(setup(entry), source, pass, plan.line_of, plan.advance);
            done.map(|done| (done, started.elapsed()))
        })
        .collect::<Result<_, _>>()?;
    let metrics = started.elapsed();
    let started = Instant::now();
    let threads = timing_threads(plan.timing.parallel, plan.entries.len());
    let mut order: Vec<usize> = (0..plan.entries.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(memory[i].0 .0.work));
    let next = AtomicUsize::new(0);
    let timed: Vec<Mutex<Option<Timed>>> = plan.entries.iter().map(|_| Mutex::new(None)).collect();
    let worker = || {
        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            let entry = plan.entries[i];
            let stats = &memory[i].0 .0;
            let done = measure_time(setup(entry), source, stats, plan.timing, plan.advance);
            let failed = done.is_err();
            *timed[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
            if failed {
                // Leave the rest: the run fails with this error.
                next.store(order.len(), Ordering::Relaxed);
            }
        }
    };
    if threads > 1 {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(worker);
            }
        });
    } else {
        worker();
    }
    let mut times = PassTimes { metrics, timing_threads: threads, ..PassTimes::default() };
    let mut results = Vec::with_capacity(plan.entries.len());
    for ((entry, ((memory, safety, observed), metrics)), slot) in
        plan.entries.iter().zip(memory).zip(timed)
    {
        let done = slot.into_inner().unwrap_or_else(|e| e.into_inner());
        // A strategy left untimed because another one's source failed: that error is returned
        // below, from the strategy it happened to.
        let Some(done) = done else { continue };
        let ((throughput, latency), spent) = done?;
        times.spent.throughput += spent.throughput;
        times.spent.throughput_passes += spent.throughput_passes;
        times.spent.latency += spent.latency;
        let own = metrics + spent.throughput + spent.latency;
        if times.slowest.is_none_or(|(_, longest)| own > longest) {
            times.slowest = Some((entry.name, own));
        }
        results.push(StrategyResult {
            allocator: entry.name,
            memory,
            throughput,
            latency,
            safety,
            series: observed.series,
            heap: observed.heap,
            at_peak: observed.at_peak,
        });
    }
    times.timing = started.elapsed();
    Ok((results, times))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::bump;

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
    fn the_peak_event_is_the_first_to_reach_the_maximum() {
        // Live bytes: 100, 0, 100 -> the maximum is first reached at event 0.
        let events = [Event::malloc(0, 100), Event::free(0), Event::malloc(1, 100)];
        let m = measure_memory(&bump::ENTRY, &Params::default(), &events, 2);
        assert_eq!((m.max_live_bytes, m.peak_event), (100, 0));
    }

    #[test]
    fn the_breakdowns_read_at_the_predicted_peak_equal_those_of_a_replay_to_the_peak() {
        let trace = crate::trace::synth::steady_state(200, 3000, 11);
        let source = InMemory { events: &trace.events, blocks: trace.blocks };
        let params = Params::default();
        let hint = predict_peak(&source, &params).unwrap();
        for entry in crate::alloc::ALL {
            let breakdowns = |peak_hint| {
                let pass = Pass { peak_hint, ..Pass::default() };
                let (stats, _, observed) =
                    metrics_pass(entry, &params, &trace.events, trace.blocks, pass, &|i| i);
                (stats, observed.at_peak.expect("breakdowns"))
            };
            let (stats, replayed) = breakdowns(None);
            assert_eq!(hint, Some(stats.peak_event), "{}: no allocation fails", entry.name);
            assert!(stats.peak_event + 1 < stats.events, "the peak is not the last event");
            assert_eq!(breakdowns(hint).1, replayed, "{}: read during the pass", entry.name);
            // A wrong hint is read, found wrong, and replaced by the replay.
            assert_eq!(breakdowns(Some(3)).1, replayed, "{}: a wrong hint", entry.name);
        }
    }

    #[test]
    fn the_heap_map_counts_every_byte_of_the_heap_at_the_peak_as_the_metrics_do() {
        use super::super::heap_pictures::Cell;
        use crate::alloc::{Bytes, ALL};
        let trace = crate::trace::synth::steady_state(400, 8000, 11);
        let pass = Pass { layout: true, ..Pass::default() };
        for entry in ALL {
            let (stats, _, observed) =
                metrics_pass(entry, &Params::default(), &trace.events, trace.blocks, pass, &|_| 0);
            let p = observed.heap.expect("pictures were asked for");
            let m = &p.map;
            let name = entry.name;
            assert_eq!(
                (m.event, m.footprint),
                (stats.peak_event, stats.footprint_at_peak),
                "{name}"
            );
            let sum = |kind: fn(&Cell) -> Bytes| m.cells.iter().map(kind).sum::<Bytes>();
            assert_eq!(sum(|c| c.live), stats.max_live_bytes, "{name}: live");
            let waste = stats.live_consumed_at_peak - stats.max_live_bytes;
            assert_eq!(sum(|c| c.waste), waste, "{name}: waste");
            let free = stats.footprint_at_peak - stats.live_consumed_at_peak;
            assert_eq!(sum(|c| c.free), free, "{name}: free");
            for (i, cell) in m.cells.iter().enumerate() {
                let start = i as Bytes * m.cell_bytes;
                let inside = m.footprint.saturating_sub(start).min(m.cell_bytes);
                assert_eq!(cell.inside(), inside, "{name}: cell {i}");
            }
            // The timeline's last row is the heap after the last event.
            let t = &p.timeline;
            let last = &t.cells[t.cells.len() - t.columns..];
            let total: Bytes = last.iter().map(Cell::inside).sum();
            assert_eq!(total, stats.final_footprint_bytes, "{name}: timeline");
            assert!(t.cells.iter().all(|c| c.inside() <= t.cell_bytes), "{name}");
        }
    }

    #[test]
    fn no_samples_means_an_empty_series() {
        let events = [Event::malloc(0, 10)];
        let (_, _, observed) =
            metrics_pass(&bump::ENTRY, &Params::default(), &events, 1, Pass::default(), &|i| i);
        assert!(observed.series.samples.is_empty() && observed.heap.is_none());
    }

    #[test]
    fn without_verify_nothing_is_checked_or_counted() {
        let events = [Event::malloc(0, 16), Event::write(0, 0, 64, false)];
        let (_, safety) = measure_memory_and_safety(
            &bump::ENTRY,
            &Params::default(),
            &events,
            1,
            false,
            &|index| index + 2,
        );
        assert_eq!(safety, Safety::default());
    }

    #[test]
    fn strategies_timed_in_parallel_come_back_in_order_with_the_same_figures() {
        let trace = crate::trace::synth::steady_state(50, 500, 7);
        let source = InMemory { events: &trace.events, blocks: trace.blocks };
        let entries: Vec<&'static StrategyEntry> = crate::alloc::ALL.iter().collect();
        let run = |parallel: bool| {
            let plan = Plan {
                entries: &entries,
                params: Params::default(),
                slowdowns: &[],
                source: &source,
                timing: Timing { runs: 3, until_tight: true, parallel, fake_clock: true },
                verify: false,
                line_of: &|i| i,
                samples: 4,
                layout: false,
                advance: &|_| {},
            };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            pool.install(|| run_all_timed(&plan)).unwrap()
        };
        let (one_at_a_time, sequential) = run(false);
        let (at_once, parallel) = run(true);
        assert_eq!(sequential.timing_threads, 1);
        assert!(parallel.timing_threads >= 1 && parallel.timing_threads <= 2);
        assert_eq!(at_once, one_at_a_time);
        let names: Vec<&str> = at_once.iter().map(|r| r.allocator).collect();
        assert_eq!(names, entries.iter().map(|e| e.name).collect::<Vec<_>>());
        assert!(at_once.iter().all(|r| r.throughput.as_ref().unwrap().stopped.is_some()));
    }

    #[test]
    fn at_most_one_strategy_is_timed_per_core_and_one_without_parallel_timing() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let wide = rayon::ThreadPoolBuilder::new().num_threads(cores + 3).build().unwrap();
        assert_eq!(wide.install(|| timing_threads(true, 100)), cores);
        assert_eq!(wide.install(|| timing_threads(false, 100)), 1);
        assert_eq!(wide.install(|| timing_threads(true, 1)), 1, "never more than strategies");
        assert_eq!(wide.install(|| timing_threads(true, 0)), 1);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(one.install(|| timing_threads(true, 100)), 1, "--threads 1");
    }

    #[test]
    fn each_run_slows_only_the_strategies_its_own_plan_names() {
        // One process, three runs: the slowdown of one run must not leak into the next (it was
        // process-wide, and only the first setting counted).
        let trace = crate::trace::synth::steady_state(50, 500, 7);
        let source = InMemory { events: &trace.events, blocks: trace.blocks };
        let entries = [&crate::alloc::freelist::FIRST_FIT, &bump::ENTRY];
        let run = |slowdowns: &[(&'static str, Slowdown)]| {
            let plan = Plan {
                entries: &entries,
                params: Params::default(),
                slowdowns,
                source: &source,
                timing: Timing { runs: 0, until_tight: false, parallel: false, fake_clock: true },
                verify: false,
                line_of: &|i| i,
                samples: 0,
                layout: false,
                advance: &|_| {},
            };
            run_all(&plan).unwrap().into_iter().map(|r| r.memory).collect::<Vec<_>>()
        };
        let plain = run(&[]);
        let slowed = run(&[("first-fit", Slowdown::Repeat(3))]);
        let again = run(&[]);
        assert!(plain[0].work > 0);
        assert_eq!(slowed[0].work, 3 * plain[0].work, "the plan's slowdown applies");
        assert_eq!(slowed[1], plain[1], "a strategy the plan does not name is not slowed");
        assert_eq!(
            MemoryStats { work: plain[0].work, ..slowed[0] },
            plain[0],
            "placements are unchanged"
        );
        assert_eq!(again, plain, "the next run is not slowed");
    }
}
