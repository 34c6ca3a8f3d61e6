//! The parent's side of a real allocator's replay: fresh child processes replaying the trace
//! untimed per call (throughput and memory), then `--runs` more timing every call (latency),
//! gathered into one [`RealResult`]. A child that fails ends the allocator's replays: its result
//! carries the failure, and the other allocators go on.
//!
//! **How many throughput runs.** The same rule as a simulated strategy's passes
//! ([`runs_until_stop`]): exactly `--runs N`, or by default at least 3, then more until the runs
//! agree within 3%, at most 5; [`RealResult::stopped`] says why they stopped. Without timed runs
//! (`--runs 0`, `--fake-clock`) `max(--runs, 1)` runs give the memory figures.
//!
//! **Usable sizes.** The timed throughput runs do not ask the allocator the usable size of the
//! blocks it gives ([`Options::usable_sizes`]): no program makes that call after every
//! allocation, and it would be charged to the allocator (on `perl-hash`, 5 instructions an
//! event for glibc, 9 for mimalloc, 26 for jemalloc: README, "Real allocators"). The
//! latency runs, which time every call
//! separately and so are not the throughput figure, ask them, and the usable-size figures
//! (internal fragmentation, `live_consumed` in the memory series) are the first latency run's
//! ([`RealResult::sized`]). Without timed runs (`--runs 0`, `--fake-clock`) the one memory run
//! asks them. The usable sizes do not depend on which run asks: the same calls in the same order
//! get the same blocks.

use super::child::{spawn_on, ChildFailure, ChildRequest, EventsImage};
use super::measure::{CallLatency, LatencyNs, Measured, Mode, Options};
use super::registry::RealSpec;
use crate::engine::timing::{runs_until_stop, Stop, Timing};
use std::path::PathBuf;

/// What one real allocator's replays measured.
#[derive(Clone, Debug, PartialEq)]
pub struct RealResult {
    /// As `--alloc` names it.
    pub allocator: String,
    /// As the allocator tells it; empty when no child reported.
    pub version: String,
    /// One per run, in the order they ran: each a fresh process.
    pub runs: Vec<Measured>,
    /// Why no more throughput runs were made, when they are timed: [`runs_until_stop`]'s rule,
    /// as for a simulated strategy. `None` without timed runs, or when a run failed.
    pub stopped: Option<Stop>,
    /// One per latency run, in the order they ran (each a fresh process, `--runs` of them):
    /// empty with `--runs 0`, with `--fake-clock`, or when a run failed.
    pub latency_runs: Vec<LatencyNs>,
    /// The first latency run's whole measurement, when the throughput runs are timed (and so do
    /// not ask usable sizes): see [`RealResult::sized`].
    pub sized_run: Option<Measured>,
    /// Why the replays stopped, when a child failed: a message naming the allocator and how.
    pub failure: Option<String>,
    /// Whether the runs count as timed (`--runs` > 0); with `--runs 0` the one run is for the
    /// memory figures only, and its events/s is not reported.
    pub timed: bool,
}

/// How the real allocators are replayed.
#[derive(Clone, Debug)]
pub struct RealPlan {
    /// The `replay` executable to re-execute as the child.
    pub exe: PathBuf,
    /// The trace, as the child reads it, and its format's name.
    pub trace: PathBuf,
    pub format: String,
    pub lenient: bool,
    /// `--runs` (the memory figures need one run even with `--runs 0`).
    pub runs: u32,
    /// `--runs` not given: after `runs` throughput runs, more until they agree
    /// ([`Timing::until_tight`]).
    pub until_tight: bool,
    /// Write every block as a program would (`--no-touch` turns it off).
    pub touch: bool,
    /// Replay on one thread even when the trace has threads (`--serial`).
    pub serial: bool,
    /// `--fake-clock`: a real allocator cannot run on a made-up clock, so its runs give the
    /// memory figures only (no events/s, no latency run), as with `--runs 0`; its memory figures
    /// are measured as always.
    pub fake_clock: bool,
    /// `--real-timeout`: a child still running after this long is killed, and the allocator's
    /// replays end with that failure; `None` for no limit.
    pub timeout: Option<std::time::Duration>,
    /// The trace's events, loaded once for every child ([`EventsImage`]); `None`: each child
    /// loads `trace` itself.
    pub image: Option<std::sync::Arc<EventsImage>>,
}

/// Replay the trace through `spec`: the throughput runs ([`RealPlan::timing`]), then `runs`
/// latency runs when they are timed ([`RealPlan::timed`]). Never fails: a child's failure is in
/// the result.
pub fn replay(plan: &RealPlan, spec: &RealSpec) -> RealResult {
    let timed = plan.timed();
    let request = |mode| ChildRequest {
        trace: plan.trace.clone(),
        format: plan.format.clone(),
        lenient: plan.lenient,
        allocator: spec.name(),
        options: options(plan, mode),
    };
    let mut result = RealResult {
        allocator: spec.name(),
        version: String::new(),
        runs: Vec::new(),
        stopped: None,
        latency_runs: Vec::new(),
        sized_run: None,
        failure: None,
        timed,
    };
    let failed = |e: ChildFailure| Some(e.to_string());
    let (runs, outcome) = throughput_runs(
        plan.timing(),
        || {
            let report = spawn_on(
                &plan.exe,
                &request(Mode::Throughput),
                plan.image.as_deref(),
                plan.timeout,
            )?;
            result.version = report.version;
            Ok(report.measured)
        },
        |m: &Measured| m.events_per_sec,
    );
    result.runs = runs;
    match outcome {
        Ok(stop) => result.stopped = timed.then_some(stop),
        Err(e) => {
            result.failure = failed(e);
            return result;
        }
    }
    if result.timed {
        for _ in 0..plan.runs {
            match spawn_on(&plan.exe, &request(Mode::Latency), plan.image.as_deref(), plan.timeout)
            {
                Ok(report) => {
                    result.latency_runs.extend(report.measured.latency_ns);
                    result.sized_run.get_or_insert(report.measured);
                }
                Err(e) => {
                    result.failure = failed(e);
                    result.latency_runs.clear();
                    result.sized_run = None;
                    return result;
                }
            }
        }
    }
    result
}

/// The throughput runs, each made by `run`, until [`runs_until_stop`] says stop under `timing`,
/// and why. On a failure, the runs made before it and the failure.
fn throughput_runs<T, E>(
    timing: Timing,
    mut run: impl FnMut() -> Result<T, E>,
    events_per_sec: impl Fn(&T) -> f64,
) -> (Vec<T>, Result<Stop, E>) {
    let mut made = Vec::new();
    let outcome = runs_until_stop(timing, |_| {
        let measured = run()?;
        let eps = events_per_sec(&measured);
        made.push(measured);
        Ok(eps)
    });
    (made, outcome.map(|(_, stop)| stop))
}

impl RealPlan {
    /// Whether the runs are timed: `--runs` > 0 on the real clock (a real allocator cannot run
    /// on `--fake-clock`'s made-up one).
    pub fn timed(&self) -> bool {
        self.runs > 0 && !self.fake_clock
    }

    /// How the throughput runs are counted, by the simulated strategies' rule: `--runs`, and
    /// whether more may follow until they agree. Without timed runs (`--runs 0`,
    /// `--fake-clock`), exactly `max(--runs, 1)`, for the memory figures.
    pub fn timing(&self) -> Timing {
        Timing {
            runs: self.runs.max(1),
            until_tight: self.timed() && self.until_tight,
            parallel: false,
            fake_clock: false,
        }
    }
}

/// A child's options: a timed throughput run does not ask usable sizes (see the module docs);
/// a latency run, and the memory run without timed runs, do.
fn options(plan: &RealPlan, mode: Mode) -> Options {
    Options {
        mode,
        touch: plan.touch,
        serial: plan.serial,
        usable_sizes: mode == Mode::Latency || !plan.timed(),
        ..Options::default()
    }
}

impl RealResult {
    /// The run whose usable sizes the figures that need them report (internal fragmentation,
    /// `live_consumed`): the first latency run when the throughput runs are timed, the first
    /// run otherwise; `None` when no run succeeded.
    pub fn sized(&self) -> Option<&Measured> {
        self.sized_run.as_ref().or(self.runs.first())
    }

    /// The latency figures: each percentile the median of the latency runs'
    /// ([`median_latency`]); `None` without latency runs.
    pub fn latency(&self) -> Option<LatencyNs> {
        median_latency(&self.latency_runs)
    }
}

/// Each percentile of each kind of call, the median over `runs` (of an even count, the lower
/// middle one, as for the footprint); `None` for no runs. Medians taken percentile by
/// percentile keep their order (every run has p50 <= p99, so the medians do too). A kind is
/// `None` when no run has it (the trace has no such call).
pub fn median_latency(runs: &[LatencyNs]) -> Option<LatencyNs> {
    if runs.is_empty() {
        return None;
    }
    let kind = |of: fn(&LatencyNs) -> Option<CallLatency>| {
        let calls: Vec<CallLatency> = runs.iter().filter_map(of).collect();
        let median = |figure: fn(&CallLatency) -> u64| {
            let mut values: Vec<u64> = calls.iter().map(figure).collect();
            values.sort_unstable();
            values[(values.len() - 1) / 2]
        };
        let first = calls.first()?;
        Some(CallLatency {
            count: first.count,
            p50: median(|c| c.p50),
            p99: median(|c| c.p99),
            p999: median(|c| c.p999),
            max: median(|c| c.max),
        })
    };
    Some(LatencyNs {
        malloc: kind(|l| l.malloc),
        free: kind(|l| l.free),
        realloc: kind(|l| l.realloc),
    })
}

/// The executable to re-execute as the child: this one.
pub fn this_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find the replay executable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(p50: u64, p99: u64, p999: u64, max: u64) -> CallLatency {
        CallLatency { count: 7, p50, p99, p999, max }
    }

    fn plan(runs: u32, fake_clock: bool) -> RealPlan {
        RealPlan {
            exe: PathBuf::new(),
            trace: PathBuf::new(),
            format: "csv".into(),
            lenient: false,
            runs,
            until_tight: false,
            touch: true,
            serial: false,
            fake_clock,
            timeout: None,
            image: None,
        }
    }

    #[test]
    fn only_timed_throughput_runs_leave_usable_sizes_unasked() {
        let asks = |runs, fake_clock, mode| options(&plan(runs, fake_clock), mode).usable_sizes;
        assert!(!asks(5, false, Mode::Throughput));
        assert!(asks(5, false, Mode::Latency));
        // Without timed runs the one memory run asks.
        assert!(asks(0, false, Mode::Throughput));
        assert!(asks(5, true, Mode::Throughput));
    }

    #[test]
    fn throughput_runs_follow_the_simulations_rule_and_say_why_they_stopped() {
        // Made-up runs, in events/s, handed out in order.
        let runs_of = |timing: Timing, values: &[f64]| {
            let mut next = values.iter().copied();
            let (made, outcome) =
                throughput_runs(timing, || next.next().ok_or("no more runs"), |&v| v);
            (made, outcome.expect("enough runs"))
        };
        let by_default = RealPlan { until_tight: true, ..plan(3, false) }.timing();
        // 3 runs 50% apart, then a fourth that leaves the middle two 1% apart: tight at 4.
        let (made, stop) = runs_of(by_default, &[100.0, 150.0, 100.0, 101.0, 99.0]);
        assert_eq!(made, [100.0, 150.0, 100.0, 101.0]);
        assert!(matches!(stop, Stop::Tight(s) if (s - 1.0 / 100.5).abs() < 1e-12), "{stop:?}");
        // Agreeing from the start: the 3 the rule asks at least.
        assert_eq!(runs_of(by_default, &[100.0, 100.5, 100.2, 0.0]).0.len(), 3);
        // Never agreeing: 5, and why.
        let (made, stop) = runs_of(by_default, &[100.0, 50.0, 100.0, 50.0, 100.0, 50.0]);
        assert_eq!((made.len(), stop.to_string()), (5, "max runs (5), spread 50.00%".into()));
        // `--runs 2`: exactly 2, however far apart.
        let (made, stop) = runs_of(plan(2, false).timing(), &[100.0, 10.0, 100.0]);
        assert_eq!((made.len(), stop), (2, Stop::Count(2)));
        // No timed runs: `max(--runs, 1)` memory runs, never more (their events/s means
        // nothing), whether `--runs` was given or not.
        for until_tight in [false, true] {
            let untimed = |runs, fake_clock| RealPlan { until_tight, ..plan(runs, fake_clock) };
            assert_eq!(runs_of(untimed(0, false).timing(), &[7.0, 80.0]).0, [7.0]);
            assert_eq!(runs_of(untimed(3, true).timing(), &[7.0, 80.0, 9.0, 1.0]).0.len(), 3);
        }
        // A run that fails ends them: the runs before it, and the failure.
        let mut next = [100.0, 150.0].into_iter();
        let (made, outcome) = throughput_runs(by_default, || next.next().ok_or("crashed"), |&v| v);
        assert_eq!((made, outcome), (vec![100.0, 150.0], Err("crashed")));
    }

    #[test]
    fn each_percentile_is_the_median_of_the_runs() {
        let runs = [
            LatencyNs {
                malloc: Some(call(20, 90, 400, 9000)),
                free: Some(call(5, 9, 9, 9)),
                realloc: None,
            },
            LatencyNs {
                malloc: Some(call(30, 70, 500, 7000)),
                free: Some(call(6, 8, 8, 8)),
                realloc: None,
            },
            LatencyNs {
                malloc: Some(call(25, 80, 300, 8000)),
                free: Some(call(4, 7, 7, 7)),
                realloc: None,
            },
        ];
        let median = median_latency(&runs).unwrap();
        assert_eq!(median.malloc, Some(call(25, 80, 400, 8000)));
        assert_eq!(median.free, Some(call(5, 8, 8, 8)));
        assert_eq!(median.realloc, None);
        // Of an even count, the lower middle one; one run is its own median.
        assert_eq!(median_latency(&runs[..2]).unwrap().malloc, Some(call(20, 70, 400, 7000)));
        assert_eq!(median_latency(&runs[2..]).unwrap(), runs[2]);
        assert_eq!(median_latency(&[]), None);
    }
}
