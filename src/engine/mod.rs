//! Driving events through strategies: the event loop, the probes that watch it, and the passes
//! built from them. One file per part, in the order data flows:
//!
//! | file | owns |
//! |---|---|
//! | [`source`] | where a pass's events come from ([`EventSource`]: [`InMemory`], an `.rtrace` file), a chunk at a time |
//! | [`probe`] | the [`Probe`] trait and what its hooks see ([`OpClass`], [`Outcome`], [`HeapState`]); [`NoProbe`] |
//! | [`replayer`] | the event loop ([`Replayer`]): one strategy's heap, the table of live blocks, one event after another |
//! | [`exact`] | the exact memory figures ([`MetricsProbe`]) |
//! | [`at_peak`] | where the waste is at the peak: waste by request size class, free holes ([`at_peak::Breakdowns`]) |
//! | [`series`] | the memory time series ([`SeriesProbe`], `--samples`) |
//! | [`heap_pictures`] | the heap map and timeline of `--report` ([`heap_pictures::LayoutProbe`]) |
//! | [`latency`] | per-call latency and its sampling rule ([`LatencyProbe`]) |
//! | [`shadow`] | the heap model every placement must obey ([`shadow::Shadow`]), for `--verify` and the conformance suite |
//! | [`verify`] | `--verify` ([`verify::Verifier`]) and the safety findings |
//! | [`timing`] | the timing policy ([`Timing`]): how many timed passes, the fake clock, clock calibration |
//! | [`run`] | which passes run and the assembly of each [`StrategyResult`] ([`run_all`]) |
//!
//! The loop and the probe trait know no probe: [`Replayer::run`] is generic over its probe, so
//! each pass's loop is compiled for exactly what it observes (every hook `#[inline(always)]`, no
//! dynamic dispatch), and the untimed pass pays nothing for the metrics or the clock. Probes
//! import only [`probe`]; [`run`] is the one file that builds them.
//!
//! # The passes
//! Each strategy is replayed in separate passes, so measuring one thing never distorts another:
//! 1. the metrics pass ([`run::metrics_pass_of`]): [`MetricsProbe`] (exact memory figures,
//!    after every event), with [`SeriesProbe`] beside it, only for `--report` the heap pictures
//!    (so nothing is replayed twice for the report), and with `--verify` the
//!    [`verify::Verifier`]; then, unless the peak was its last event, a replay without probes
//!    of the events up to the peak, for the breakdowns of the heap there ([`at_peak`]);
//! 2. throughput passes ([`NoProbe`]): the clock read around each chunk of events; exactly
//!    `--runs N`, or by default 3 to 5, until they agree within 3% ([`timing::stop_after`]).
//!    The loop keeps the table of live blocks (the strategy needs each block back at its free)
//!    but not the live totals, which no timed pass reads ([`Probe::READS_LIVE_TOTALS`]);
//! 3. one latency pass ([`LatencyProbe`]): a clock read before and after strategy calls, into
//!    hdrhistograms. The clock is the calibrated time-stamp counter of [`crate::clock`]
//!    (`Instant` on other architectures). For a strategy whose events cost less than timing a
//!    call (bump), timing every call would more than double the pass and mostly measure the
//!    clock, so the pass times one call in `k`, with `k` chosen from the throughput passes so
//!    that the latency pass costs at most about 1.8 times the untimed one
//!    ([`LatencyProbe::sampling_for`]); every call is equally likely to be timed, so the
//!    percentiles are those of a uniform sample. `k` is reported (`latency_ns.sample_every`).
//!
//! With the hidden `--fake-clock` the timed passes do not run: [`timing::fake_time_of`] makes
//! the timings up from the metrics pass's work count, the same on every machine.
//!
//! [`run_all`] does the metrics passes of all strategies in parallel (rayon; each has its own
//! heap, nothing is shared), and only then the timing passes: by default one strategy at a
//! time; with `--parallel-timing` one per core at once ([`run::timing_threads`]: at most one
//! timed pass per core, never beside a pass of another kind). Every pass builds its heap
//! from a [`replayer::Setup`]: the strategy, its parameters and the hidden `--test-slowdown` of
//! it, passed down from the [`Plan`] (see [`crate::alloc::slowdown`]).
//!
//! # Streaming
//! Every pass reads its events from an [`EventSource`], one chunk at a time
//! ([`CHUNK_EVENTS`], 1 MiB of events): [`InMemory`] hands out chunks of a parsed trace, an
//! `.rtrace` file ([`crate::trace::rtrace::Rtrace`]) is read again for each pass, a chunk per
//! bulk read into a buffer of the pass's own. A pass therefore holds one chunk, the strategy's
//! heap and the engine's table of blocks (32 bytes per block id: ids are recycled in an
//! `.rtrace`, so that is per block *live at once*), never the trace: memory does not grow with
//! the trace's length. Re-reading costs a sequential read of 16 bytes an event from the page
//! cache per pass (`.rtrace` chunks in `cargo bench --bench parse`, benches/README.md: 8.3 GiB/s),
//! small next to any strategy's work; the throughput pass's clock runs only while
//! events are replayed, not while they are read.

pub mod at_peak;
pub mod exact;
pub mod heap_pictures;
pub mod latency;
pub mod probe;
pub mod replayer;
pub mod run;
pub mod series;
pub mod shadow;
pub mod source;
pub mod timing;
pub mod verify;

pub use exact::MetricsProbe;
pub use latency::{LatencyProbe, MIN_SAMPLES};
pub use probe::{HeapState, NoProbe, OpClass, Outcome, Probe};
pub use replayer::Replayer;
#[cfg(test)]
pub(crate) use run::measure_memory;
pub use run::{metrics_pass_of, run_all, LineOf, Observed, Pass, Plan, StrategyResult};
pub use series::SeriesProbe;
pub use source::{EventSource, InMemory, CHUNK_EVENTS};
pub use timing::{clock_overhead_ns, Timing};
