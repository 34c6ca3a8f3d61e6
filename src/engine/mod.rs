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
