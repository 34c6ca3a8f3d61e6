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
//! read of 16 bytes an event from the page cache per pass (`.rtrace` chunks in `cargo bench
//! --bench parse`, benches/README.md: 8.3 GiB/s), small next to any strategy's work; the
//! throughput pass's clock runs only while events are replayed, not while they are read.

use crate::alloc::{Addr, Allocation, Bytes, Corruption, Params, Request, Strategy, StrategyEntry};
use crate::clock::Clock;

pub mod heap_pictures;
pub mod verify;
use crate::engine::heap_pictures::{HeapPictures, LayoutProbe};
use crate::engine::verify::{Finding, FindingKind, Safety, Verifier};
use crate::metrics::{Latency, MemoryStats, Percentiles, Sample, Series, Throughput};
use crate::trace::rtrace::Rtrace;
use crate::trace::{BlockId, Event, Op, TraceError};
use hdrhistogram::Histogram;
use rayon::prelude::*;
use std::time::Instant;

/// Events a pass replays at a time (1 MiB of them): the unit of reading and of progress.
pub const CHUNK_EVENTS: usize = crate::trace::rtrace::CHUNK_EVENTS;

/// Where a pass's events come from. Each pass reads the events afresh, in order, a chunk at a
/// time (see the module docs); passes may run at the same time on several threads.
pub trait EventSource: Sync {
    /// Events in the trace.
    fn len(&self) -> u64;
    /// Whether the trace has no events.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every block id is below this: sizes the engine's table.
    fn slots(&self) -> u32;
    /// Call `each(chunk, index of its first event)` for consecutive chunks of at most
    /// [`CHUNK_EVENTS`] events, until the trace ends or `each` returns `false`.
    fn for_each_chunk(&self, each: &mut dyn FnMut(&[Event], u64) -> bool)
        -> Result<(), TraceError>;
}

/// Events already in memory (a parsed [`crate::trace::Trace`], a test's array).
#[derive(Clone, Copy, Debug)]
pub struct InMemory<'a> {
    pub events: &'a [Event],
    /// Every block id is below this.
    pub blocks: u32,
}

impl EventSource for InMemory<'_> {
    fn len(&self) -> u64 {
        self.events.len() as u64
    }
    fn slots(&self) -> u32 {
        self.blocks
    }
    fn for_each_chunk(
        &self,
        each: &mut dyn FnMut(&[Event], u64) -> bool,
    ) -> Result<(), TraceError> {
        for (i, chunk) in self.events.chunks(CHUNK_EVENTS).enumerate() {
            if !each(chunk, (i * CHUNK_EVENTS) as u64) {
                break;
            }
        }
        Ok(())
    }
}

/// An `.rtrace` file, read again for every pass.
impl EventSource for Rtrace {
    fn len(&self) -> u64 {
        self.header.events
    }
    fn slots(&self) -> u32 {
        self.header.slots
    }
    fn for_each_chunk(
        &self,
        each: &mut dyn FnMut(&[Event], u64) -> bool,
    ) -> Result<(), TraceError> {
        Rtrace::for_each_chunk(self, CHUNK_EVENTS, each)
    }
}

/// Replay every chunk of `source` through `replayer`, calling `advance(events)` after each
/// chunk; stops early when the strategy finds its metadata damaged.
fn replay_source<P: Probe>(
    replayer: &mut Replayer,
    source: &dyn EventSource,
    probe: &mut P,
    advance: &dyn Fn(u64),
) -> Result<(), TraceError> {
    source.for_each_chunk(&mut |chunk, first| {
        replayer.run(chunk, first, probe);
        advance(chunk.len() as u64);
        replayer.stopped().is_none()
    })
}

/// The latency pass samples calls only when at least this many would still be timed.
pub const MIN_SAMPLES: u64 = 100_000;

/// How many events ahead [`Replayer::run`] prefetches the engine's table entry.
const PREFETCH_DISTANCE: usize = 8;

/// The kinds of operation latency is reported for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpClass {
    /// malloc, calloc and memalign.
    Malloc,
    Free,
    Realloc,
}

/// What one event did, for probes that check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A block was placed for `requested` bytes; `old` is the block it replaced (a realloc,
    /// which may have resized it in place).
    Placed { old: Option<Allocation>, new: Allocation, requested: Bytes },
    /// A block was given back.
    Freed(Allocation),
    /// The request was refused at the heap limit; the heap is unchanged.
    Failed,
    /// A free of a block whose allocation had failed, ignored.
    IgnoredFree,
    /// The program wrote `len` bytes at `offset` into the live `block` of `requested` bytes.
    Wrote { block: Allocation, requested: Bytes, offset: Bytes, len: Bytes },
    /// A write through a pointer that was no longer live (a use-after-free), or into a block
    /// whose allocation failed: not applied.
    StrayWrite,
}

/// Something that watches a replay. Every hook defaults to doing nothing.
pub trait Probe {
    /// Right before the strategy is called for an event of kind `class`.
    #[inline(always)]
    fn before_call(&mut self, _class: OpClass) {}
    /// Right after the strategy returned.
    #[inline(always)]
    fn after_call(&mut self, _class: OpClass) {}
    /// After event `index` has been applied completely.
    #[inline(always)]
    fn after_event(
        &mut self,
        _index: u64,
        _event: &Event,
        _outcome: Outcome,
        _heap: &HeapState,
        _strategy: &dyn Strategy,
    ) {
    }
}

/// Observes nothing: the throughput pass.
pub struct NoProbe;
impl Probe for NoProbe {}

/// Two probes watching the same replay (the metrics pass with `--verify`).
impl<A: Probe, B: Probe> Probe for (A, B) {
    #[inline(always)]
    fn before_call(&mut self, class: OpClass) {
        self.0.before_call(class);
        self.1.before_call(class);
    }
    #[inline(always)]
    fn after_call(&mut self, class: OpClass) {
        self.0.after_call(class);
        self.1.after_call(class);
    }
    #[inline(always)]
    fn after_event(
        &mut self,
        index: u64,
        event: &Event,
        outcome: Outcome,
        heap: &HeapState,
        strategy: &dyn Strategy,
    ) {
        self.0.after_event(index, event, outcome, heap, strategy);
        self.1.after_event(index, event, outcome, heap, strategy);
    }
}

/// A probe that may be off (the heap pictures, only with `--report`).
impl<P: Probe> Probe for Option<P> {
    #[inline(always)]
    fn after_event(
        &mut self,
        index: u64,
        event: &Event,
        outcome: Outcome,
        heap: &HeapState,
        strategy: &dyn Strategy,
    ) {
        if let Some(p) = self {
            p.after_event(index, event, outcome, heap, strategy);
        }
    }
}

/// What the engine knows about one block id.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The block the strategy placed; `size == 0` when the id is not live.
    block: Allocation,
    /// Requested bytes while live; [`Slot::FAILED`] when its allocation failed.
    requested: Bytes,
}

impl Slot {
    /// Marks an id whose allocation failed at the heap limit, so that its free is ignored.
    const FAILED: Bytes = Bytes::MAX;

    fn is_live(&self) -> bool {
        self.block.size != 0
    }
}

/// Running totals of the heap, updated by every event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapState {
    /// Sum of the requested sizes of live blocks.
    pub live_requested: Bytes,
    /// Sum of the sizes of the blocks live requests occupy.
    pub live_consumed: Bytes,
    /// Live blocks.
    pub live_blocks: u64,
    pub failed_allocations: u64,
    pub ignored_frees: u64,
}

/// One strategy's heap plus the engine's table of live blocks.
pub struct Replayer {
    strategy: Box<dyn Strategy>,
    slots: Vec<Slot>,
    heap: HeapState,
    /// Writes that ran past their block's requested size, as `(event index, first byte, one
    /// past the last byte)`: what may have damaged a strategy's inline tags.
    overruns: Vec<(u64, Addr, Addr)>,
    /// Whether any write reached the strategy, after which it may report corruption.
    written: bool,
    /// The corruption that stopped this replay, and the event after which it was found.
    stopped: Option<(u64, Corruption)>,
}

impl Replayer {
    /// A fresh heap of `entry`'s strategy; `blocks` (the trace's id count) sizes the table.
    pub fn new(entry: &StrategyEntry, params: &Params, blocks: u32) -> Replayer {
        Replayer {
            // Normally just `(entry.new)(params)`; the hidden `--test-slowdown` may wrap it.
            strategy: crate::alloc::slowdown::new_strategy(entry, params),
            slots: vec![Slot::default(); blocks as usize],
            heap: HeapState::default(),
            overruns: Vec::new(),
            written: false,
            stopped: None,
        }
    }

    pub fn strategy(&self) -> &dyn Strategy {
        self.strategy.as_ref()
    }

    pub fn heap(&self) -> &HeapState {
        &self.heap
    }

    /// The block live under `id`, if any.
    pub fn block(&self, id: BlockId) -> Option<Allocation> {
        self.slots.get(id as usize).filter(|s| s.is_live()).map(|s| s.block)
    }

    /// The block live under `id` and the bytes requested for it, if any.
    pub fn live_block(&self, id: BlockId) -> Option<(Allocation, Bytes)> {
        self.slots.get(id as usize).filter(|s| s.is_live()).map(|s| (s.block, s.requested))
    }

    /// Every live block and the bytes requested for it, in block id order. O(ids ever used).
    pub fn live_blocks(&self) -> impl Iterator<Item = (Allocation, Bytes)> + '_ {
        self.slots.iter().filter(|s| s.is_live()).map(|s| (s.block, s.requested))
    }

    fn slot(&mut self, id: BlockId) -> &mut Slot {
        let i = id as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Slot::default());
        }
        &mut self.slots[i]
    }

    /// The corruption that stopped this replay, if the strategy found its metadata damaged,
    /// with the index of the event after which it was found.
    pub fn stopped(&self) -> Option<(u64, Corruption)> {
        self.stopped
    }

    /// The index of the last write that ran past its block and covered `addr`: the likely
    /// culprit of damage found there.
    pub fn last_overrun_covering(&self, addr: Addr) -> Option<u64> {
        self.overruns
            .iter()
            .rev()
            .find(|(_, start, end)| (*start..*end).contains(&addr))
            .map(|w| w.0)
    }

    /// Apply one event. Events must be valid (as every parsed trace is): an allocation names a
    /// new id, a free or realloc a live one (or one whose allocation failed at the heap limit).
    /// `index` is the event's index in the trace.
    #[inline]
    pub fn apply<P: Probe>(&mut self, index: u64, event: &Event, probe: &mut P) -> Outcome {
        match event.op {
            Op::Malloc | Op::Calloc | Op::Memalign => {
                let req = Request { size: event.size, align: event.align() };
                probe.before_call(OpClass::Malloc);
                let placed = self.strategy.allocate(req);
                probe.after_call(OpClass::Malloc);
                self.place(event.id, req, placed)
            }
            Op::Free => {
                let slot = *self.slot(event.id);
                if !slot.is_live() {
                    self.heap.ignored_frees += 1;
                    return Outcome::IgnoredFree;
                }
                probe.before_call(OpClass::Free);
                self.strategy.free(slot.block);
                probe.after_call(OpClass::Free);
                self.heap.live_requested -= slot.requested;
                self.heap.live_consumed -= slot.block.size;
                self.heap.live_blocks -= 1;
                *self.slot(event.id) = Slot::default();
                Outcome::Freed(slot.block)
            }
            Op::Realloc => {
                let slot = *self.slot(event.id);
                let req = Request::new(event.size);
                if !slot.is_live() {
                    // The block's allocation failed at the heap limit: the program would have
                    // passed NULL, and realloc(NULL, n) is malloc(n).
                    probe.before_call(OpClass::Realloc);
                    let placed = self.strategy.allocate(req);
                    probe.after_call(OpClass::Realloc);
                    return self.place(event.id, req, placed);
                }
                probe.before_call(OpClass::Realloc);
                let moved = self.strategy.reallocate(slot.block, req);
                probe.after_call(OpClass::Realloc);
                let Some(block) = moved else {
                    // C's realloc: the old block stays as it was.
                    self.heap.failed_allocations += 1;
                    return Outcome::Failed;
                };
                self.heap.live_requested += req.size;
                self.heap.live_requested -= slot.requested;
                self.heap.live_consumed += block.size;
                self.heap.live_consumed -= slot.block.size;
                *self.slot(event.id) = Slot { block, requested: req.size };
                Outcome::Placed { old: Some(slot.block), new: block, requested: req.size }
            }
            Op::Write => {
                let slot = *self.slot(event.id);
                if event.is_stale_write() || !slot.is_live() {
                    return Outcome::StrayWrite;
                }
                let (offset, len) = (event.write_offset(), event.write_len());
                if offset + len > slot.requested {
                    let start = slot.block.payload + offset.max(slot.requested);
                    self.overruns.push((index, start, slot.block.payload + offset + len));
                }
                self.strategy.write(slot.block, offset, len);
                self.written = true;
                Outcome::Wrote { block: slot.block, requested: slot.requested, offset, len }
            }
        }
    }

    fn place(&mut self, id: BlockId, req: Request, placed: Option<Allocation>) -> Outcome {
        match placed {
            Some(block) => {
                self.heap.live_requested += req.size;
                self.heap.live_consumed += block.size;
                self.heap.live_blocks += 1;
                *self.slot(id) = Slot { block, requested: req.size };
                Outcome::Placed { old: None, new: block, requested: req.size }
            }
            None => {
                self.heap.failed_allocations += 1;
                *self.slot(id) = Slot { block: Allocation::default(), requested: Slot::FAILED };
                Outcome::Failed
            }
        }
    }

    /// Ask the CPU to start loading the table entry of `id`, which a coming event will need.
    ///
    /// Ids of frees and reallocs are scattered over a table as large as the trace's block count,
    /// so without this every such event starts with a cache miss in the engine's own
    /// bookkeeping, which would be charged to the strategy being measured.
    #[inline(always)]
    fn prefetch(&self, id: BlockId) {
        #[cfg(target_arch = "x86_64")]
        if let Some(slot) = self.slots.get(id as usize) {
            // SAFETY: prefetching is only a hint and never faults, even for a bad address; this
            // one is a valid reference anyway. SSE is part of the x86_64 baseline.
            #[allow(unused_unsafe)]
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>((slot as *const Slot).cast::<i8>());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = id;
    }

    /// Apply every event of `events`, in order, calling `probe` after each; `first_index` is the
    /// index of `events[0]` in the whole trace (events may come in chunks). Stops early when the
    /// strategy reports its metadata damaged (see [`Replayer::stopped`]): the event that ran into
    /// the damage is not counted. Returns the number of events counted.
    pub fn run<P: Probe>(&mut self, events: &[Event], first_index: u64, probe: &mut P) -> u64 {
        if self.stopped.is_some() {
            return 0;
        }
        for (i, event) in events.iter().enumerate() {
            if let Some(ahead) = events.get(i + PREFETCH_DISTANCE) {
                self.prefetch(ahead.id);
            }
            let index = first_index + i as u64;
            let outcome = self.apply(index, event, probe);
            // Once a strategy finds its metadata damaged, nothing it says can be trusted, not
            // even about the event that ran into the damage: the replay ends before it.
            if self.written {
                if let Some(corruption) = self.strategy.corruption() {
                    self.stopped = Some((index, corruption));
                    return i as u64;
                }
            }
            probe.after_event(index, event, outcome, &self.heap, self.strategy.as_ref());
        }
        events.len() as u64
    }
}

/// The metrics pass: tracks the figures of [`MemoryStats`] after every event.
#[derive(Debug, Default)]
pub struct MetricsProbe {
    pub stats: MemoryStats,
}

impl Probe for MetricsProbe {
    #[inline]
    fn after_event(
        &mut self,
        index: u64,
        _event: &Event,
        _outcome: Outcome,
        heap: &HeapState,
        strategy: &dyn Strategy,
    ) {
        let s = &mut self.stats;
        let footprint = strategy.top();
        s.events = index + 1;
        s.peak_footprint_bytes = s.peak_footprint_bytes.max(footprint);
        s.final_footprint_bytes = footprint;
        s.failed_allocations = heap.failed_allocations;
        s.ignored_frees = heap.ignored_frees;
        // `index == 0` records the state after the first event even when nothing is live yet
        // (a trace of malloc(0)s has max live bytes 0, reached at event 0).
        if heap.live_requested > s.max_live_bytes || index == 0 {
            s.max_live_bytes = heap.live_requested;
            s.peak_event = index;
            s.live_consumed_at_peak = heap.live_consumed;
            s.live_blocks_at_peak = heap.live_blocks;
            s.footprint_at_peak = footprint;
            s.largest_satisfiable_at_peak = strategy.largest_satisfiable();
        }
    }
}

/// Records the memory time series during the metrics pass (see [`crate::metrics`] for which
/// events). Costs one index comparison per event, plus a sample (with one
/// `largest_satisfiable` query) at each of the sampled events; the samples are allocated up
/// front, so nothing is allocated while replaying. The peak event is known only at the end of
/// the pass: [`SeriesProbe::finish`] adds its sample from the figures [`MetricsProbe`] kept.
#[derive(Debug)]
pub struct SeriesProbe {
    /// Distance between samples; `u64::MAX` when no samples are wanted.
    stride: u64,
    /// The next event index to sample.
    next: u64,
    /// Index of the last event of the trace, always sampled.
    last: u64,
    samples: Vec<Sample>,
}

impl SeriesProbe {
    /// A probe taking `samples` evenly spaced samples of a trace of `events` events (none when
    /// `samples` is 0).
    pub fn new(events: u64, samples: u64) -> SeriesProbe {
        if samples == 0 || events == 0 {
            return SeriesProbe {
                stride: u64::MAX,
                next: u64::MAX,
                last: u64::MAX,
                samples: vec![],
            };
        }
        let stride = events.div_ceil(samples).max(1);
        SeriesProbe {
            stride,
            next: 0,
            last: events - 1,
            samples: Vec::with_capacity(events.div_ceil(stride) as usize + 2),
        }
    }

    /// The series, with the sample at the peak event of `stats` put in its place.
    pub fn finish(mut self, stats: &MemoryStats) -> Series {
        if self.stride != u64::MAX && stats.events > 0 {
            let peak = Sample::at_peak(stats);
            if let Err(at) = self.samples.binary_search_by_key(&peak.event, |s| s.event) {
                self.samples.insert(at, peak);
            }
        }
        Series { samples: self.samples }
    }
}

impl Probe for SeriesProbe {
    #[inline]
    fn after_event(
        &mut self,
        index: u64,
        _event: &Event,
        _outcome: Outcome,
        heap: &HeapState,
        strategy: &dyn Strategy,
    ) {
        if index != self.next && index != self.last {
            return;
        }
        if index == self.next {
            self.next = self.next.saturating_add(self.stride);
        }
        let footprint = strategy.top();
        self.samples.push(Sample {
            event: index,
            footprint,
            live_requested: heap.live_requested,
            live_consumed: heap.live_consumed,
            free: footprint - heap.live_consumed,
            largest_satisfiable: strategy.largest_satisfiable(),
        });
    }
}

/// The latency pass: one clock read before and one after every strategy call. The histograms
/// hold clock ticks; [`LatencyProbe::latency`] turns them into nanoseconds.
pub struct LatencyProbe {
    clock: Clock,
    started: u64,
    /// Time one call in this many, on average (1: every call).
    every: u32,
    /// Per kind of operation (malloc, free, realloc): calls to let pass before the next timed
    /// one; 0 means the current call is timed.
    countdown: [u32; 3],
    /// xorshift32 state for the gaps between timed calls (never 0).
    gap_seed: u32,
    malloc: Histogram<u64>,
    free: Histogram<u64>,
    realloc: Histogram<u64>,
}

impl Default for LatencyProbe {
    fn default() -> Self {
        // Three significant digits over 1 ns .. ~1 hour; auto-resizing covers anything longer.
        let histogram = || {
            let mut h = Histogram::new(3).expect("3 significant digits is a valid precision");
            h.auto(true);
            h
        };
        let clock = Clock::calibrated();
        LatencyProbe {
            clock,
            started: clock.ticks(),
            every: 1,
            countdown: [0; 3],
            gap_seed: 0x9E37_79B9,
            malloc: histogram(),
            free: histogram(),
            realloc: histogram(),
        }
    }
}

impl Probe for LatencyProbe {
    #[inline(always)]
    fn before_call(&mut self, class: OpClass) {
        if self.countdown[class as usize] == 0 {
            self.started = self.clock.ticks();
        }
    }

    #[inline(always)]
    fn after_call(&mut self, class: OpClass) {
        let countdown = &mut self.countdown[class as usize];
        if *countdown > 0 {
            *countdown -= 1;
            return;
        }
        let ticks = self.clock.ticks().saturating_sub(self.started);
        if self.every > 1 {
            // The next gap is uniform in 0 ..= 2 (every - 1): on average one call in `every` is
            // timed, and a trace whose calls repeat with a period cannot hide from the sample.
            let mut x = self.gap_seed;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.gap_seed = x;
            self.countdown[class as usize] = x % (2 * self.every - 1);
        }
        let histogram = match class {
            OpClass::Malloc => &mut self.malloc,
            OpClass::Free => &mut self.free,
            OpClass::Realloc => &mut self.realloc,
        };
        // An auto-resizing histogram grows to hold any value; `saturating_record` would clamp
        // to the current range instead, so it is only the fallback should growing ever fail.
        if histogram.record(ticks).is_err() {
            histogram.saturating_record(ticks);
        }
    }
}

impl LatencyProbe {
    /// A probe that times one call in `every` (at least 1).
    pub fn sampling(every: u32) -> LatencyProbe {
        LatencyProbe { every: every.max(1), ..LatencyProbe::default() }
    }

    /// What timing one call costs, in nanoseconds: two clock reads and a histogram record,
    /// measured once per process over a few thousand calls.
    pub fn cost_per_timed_call_ns() -> f64 {
        static COST: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
        *COST.get_or_init(|| {
            const CALLS: u32 = 20_000;
            let mut probe = LatencyProbe::default();
            let started = Instant::now();
            for _ in 0..CALLS {
                probe.before_call(OpClass::Malloc);
                probe.after_call(OpClass::Malloc);
            }
            std::hint::black_box(&probe.malloc);
            started.elapsed().as_nanos() as f64 / f64::from(CALLS)
        })
    }

    /// How many calls to let pass between timed ones so that the latency pass takes at most
    /// about 1.8 times the untimed pass, for a strategy replaying `events_per_sec`: every call
    /// (1) unless one event is cheaper than timing a call. Traces too short to leave
    /// [`MIN_SAMPLES`] timed calls are timed in full (their whole pass takes microseconds).
    pub fn sampling_for(events_per_sec: f64, events: u64) -> u32 {
        let event_ns = 1e9 / events_per_sec.max(1.0);
        let every = (1.25 * Self::cost_per_timed_call_ns() / event_ns).ceil().clamp(1.0, 1024.0);
        let most = (events / MIN_SAMPLES).clamp(1, 1024);
        (every as u64).min(most) as u32
    }

    pub fn latency(&self) -> Latency {
        let ns = |h: &Histogram<u64>| {
            Percentiles::from_histogram(h).map(|p| Percentiles {
                count: p.count,
                p50: self.clock.ns(p.p50),
                p99: self.clock.ns(p.p99),
                p999: self.clock.ns(p.p999),
                max: self.clock.ns(p.max),
            })
        };
        Latency {
            malloc: ns(&self.malloc),
            free: ns(&self.free),
            realloc: ns(&self.realloc),
            sample_every: self.every,
        }
    }
}

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
        replay_source(&mut replayer, source, &mut probes, advance)?;
        let (probes, verifier) = probes;
        (probes.0, probes.1, verifier.safety)
    } else {
        let mut probes = probes;
        replay_source(&mut replayer, source, &mut probes, advance)?;
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
    replay_source(&mut replayer, source, &mut probe, advance)?;
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
    fn a_failed_realloc_keeps_the_old_block_live() {
        let params = Params { heap_limit: Some(64), ..Params::default() };
        let mut r = Replayer::new(&bump::ENTRY, &params, 1);
        r.apply(0, &Event::malloc(0, 16), &mut NoProbe);
        r.apply(1, &Event::realloc(0, 100), &mut NoProbe);
        assert_eq!(r.heap().failed_allocations, 1);
        assert_eq!(r.block(0), Some(Allocation::at(0, 16)));
        assert_eq!(r.heap().live_requested, 16);
    }

    #[test]
    fn latency_histograms_keep_values_far_above_their_initial_range() {
        let mut probe = LatencyProbe::default();
        let clock = Clock::calibrated();
        for ns in [10u64, 1_000_000, 3_000_000_000] {
            let ticks = (ns as f64 / clock.ns_per_tick()) as u64;
            probe.started = clock.ticks() - ticks;
            probe.after_call(OpClass::Free);
        }
        let free = probe.latency().free.unwrap();
        assert_eq!(free.count, 3);
        assert!(free.max >= 3_000_000_000, "max {} was clamped", free.max);
    }

    #[test]
    fn sampled_latency_times_every_kind_of_call_even_when_kinds_alternate() {
        let mut probe = LatencyProbe::sampling(2);
        for _ in 0..10_000 {
            for class in [OpClass::Malloc, OpClass::Free] {
                probe.before_call(class);
                probe.after_call(class);
            }
        }
        let latency = probe.latency();
        let (malloc, free) = (latency.malloc.unwrap().count, latency.free.unwrap().count);
        // One call in two on average, for each kind separately.
        assert!((4_000..6_000).contains(&malloc), "{malloc}");
        assert!((4_000..6_000).contains(&free), "{free}");
        assert_eq!(latency.sample_every, 2);
    }

    #[test]
    fn short_traces_are_timed_in_full() {
        // However cheap the events, a trace too short for enough samples is timed call by call.
        assert_eq!(LatencyProbe::sampling_for(1e12, MIN_SAMPLES - 1), 1);
        assert!(LatencyProbe::sampling_for(1e12, 1 << 40) > 1);
        assert_eq!(LatencyProbe::sampling_for(1.0, 1 << 40), 1, "slow events: every call");
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
