//! The parent's side of a real allocator's replay: `--runs` fresh child processes replaying
//! the trace untimed per call (throughput and memory), then `--runs` more timing every call
//! (latency), gathered into one [`RealResult`]. A child that fails ends the allocator's
//! replays: its result carries the failure, and the other allocators go on.
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

/// Replay the trace through `spec`: `max(runs, 1)` throughput runs, and a latency run when
/// `runs > 0` (and the clock is real). Never fails: a child's failure is in the result.
pub fn replay(plan: &RealPlan, spec: &RealSpec) -> RealResult {
    let timed = plan.runs > 0 && !plan.fake_clock;
    let request = |mode| ChildRequest {
        trace: plan.trace.clone(),
        format: plan.format.clone(),
        lenient: plan.lenient,
        allocator: spec.name(),
        options: options(plan, mode, timed),
    };
    let mut result = RealResult {
        allocator: spec.name(),
        version: String::new(),
        runs: Vec::new(),
        latency_runs: Vec::new(),
        sized_run: None,
        failure: None,
        timed,
    };
    let failed = |e: ChildFailure| Some(e.to_string());
    for _ in 0..plan.runs.max(1) {
        match spawn_on(&plan.exe, &request(Mode::Throughput), plan.image.as_deref(), plan.timeout) {
            Ok(report) => {
                result.version = report.version;
                result.runs.push(report.measured);
            }
            Err(e) => {
                result.failure = failed(e);
                return result;
            }
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

/// A child's options: a timed throughput run does not ask usable sizes (see the module docs);
/// a latency run, and the memory run without timed runs, do.
fn options(plan: &RealPlan, mode: Mode, timed: bool) -> Options {
    Options {
        mode,
        touch: plan.touch,
        serial: plan.serial,
        usable_sizes: mode == Mode::Latency || !timed,
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
            touch: true,
            serial: false,
            fake_clock,
            timeout: None,
            image: None,
        }
    }

    #[test]
    fn only_timed_throughput_runs_leave_usable_sizes_unasked() {
        let asks = |runs, fake_clock, mode| {
            let plan = plan(runs, fake_clock);
            options(&plan, mode, runs > 0 && !fake_clock).usable_sizes
        };
        assert!(!asks(5, false, Mode::Throughput));
        assert!(asks(5, false, Mode::Latency));
        // Without timed runs the one memory run asks.
        assert!(asks(0, false, Mode::Throughput));
        assert!(asks(5, true, Mode::Throughput));
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
