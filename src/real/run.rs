//! The parent's side of a real allocator's replay: `--runs` fresh child processes replaying
//! the trace untimed per call (throughput and memory), then one more timing every call
//! (latency), gathered into one [`RealResult`]. A child that fails ends the allocator's
//! replays: its result carries the failure, and the other allocators go on.

use super::child::{spawn, ChildFailure, ChildRequest};
use super::measure::{LatencyNs, Measured, Mode, Options};
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
    /// From the latency run; `None` with `--runs 0` or when it failed.
    pub latency: Option<LatencyNs>,
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
    /// `--fake-clock`: a real allocator cannot run on a made-up clock, so its runs give the
    /// memory figures only (no events/s, no latency run), as with `--runs 0`; its memory figures
    /// are measured as always.
    pub fake_clock: bool,
}

/// Replay the trace through `spec`: `max(runs, 1)` throughput runs, and a latency run when
/// `runs > 0` (and the clock is real). Never fails: a child's failure is in the result.
pub fn replay(plan: &RealPlan, spec: &RealSpec) -> RealResult {
    let request = |mode| ChildRequest {
        trace: plan.trace.clone(),
        format: plan.format.clone(),
        lenient: plan.lenient,
        allocator: spec.name(),
        options: Options { mode, touch: plan.touch, ..Options::default() },
    };
    let mut result = RealResult {
        allocator: spec.name(),
        version: String::new(),
        runs: Vec::new(),
        latency: None,
        failure: None,
        timed: plan.runs > 0 && !plan.fake_clock,
    };
    let failed = |e: ChildFailure| Some(e.to_string());
    for _ in 0..plan.runs.max(1) {
        match spawn(&plan.exe, &request(Mode::Throughput)) {
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
        match spawn(&plan.exe, &request(Mode::Latency)) {
            Ok(report) => result.latency = report.measured.latency_ns,
            Err(e) => result.failure = failed(e),
        }
    }
    result
}

/// The executable to re-execute as the child: this one.
pub fn this_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find the replay executable: {e}"))
}
