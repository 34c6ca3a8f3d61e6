//! Which passes run and how their results come together: [`run_all`] replays a [`Plan`] through
//! every strategy, the metrics pass of each ([`metrics_pass_of`]: the exact figures plus the
//! probes the plan asks for) in parallel, then the timing passes ([`super::timing`]), and
//! assembles one [`StrategyResult`] per strategy. This is the one file that builds probes.

use super::at_peak::{breakdowns_at_peak, Breakdowns};
use super::exact::MetricsProbe;
use super::heap_pictures::{HeapPictures, LayoutProbe};
use super::replayer::Setup;
use super::series::SeriesProbe;
use super::source::EventSource;
#[cfg(test)]
use super::source::InMemory;
use super::timing::{measure_time, Times, Timing};
use super::verify::{Finding, FindingKind, Safety, Verifier};
use crate::alloc::slowdown::{self, Slowdown};
use crate::alloc::{Params, StrategyEntry};
use crate::metrics::{Latency, MemoryStats, Series, Throughput};
#[cfg(test)]
use crate::trace::Event;
use crate::trace::TraceError;
use rayon::prelude::*;

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
    let observed = Observed {
        series: series.finish(&stats),
        heap: layout.map(|l| l.finish(setup.entry.name)),
        at_peak: Some(breakdowns_at_peak(setup, source, &stats, &replayer)?),
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
    let source = plan.source;
    let setup = |entry: &'static StrategyEntry| Setup {
        entry,
        params: &plan.params,
        slowdown: slowdown::of(plan.slowdowns, entry.name),
    };
    let pass = Pass { verify: plan.verify, samples: plan.samples, layout: plan.layout };
    let memory: Vec<(MemoryStats, Safety, Observed)> = plan
        .entries
        .par_iter()
        .map(|entry| metrics_pass_of(setup(entry), source, pass, plan.line_of, plan.advance))
        .collect::<Result<_, _>>()?;
    let time =
        |(entry, (stats, _, _)): (&&'static StrategyEntry, &(MemoryStats, Safety, Observed))| {
            measure_time(setup(entry), source, stats, plan.timing, plan.advance)
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
            at_peak: observed.at_peak,
        })
        .collect())
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
                timing: Timing { runs: 0, parallel: false, fake_clock: true },
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
