//! The measured replay: a trace's events through one real allocator, on one thread, in the
//! process that runs it (the child of [`super::child`], or a bench). A trace with threads
//! replays on its own threads through [`super::threads`], which shares this file's calls,
//! touching and timers, and defines its figures the same way.
//!
//! # What is measured, and how the replayer stays out of it
//! Everything is prepared before the loop: the block table (pointer, requested and usable size
//! per block id) and the memory series are anonymous `mmap`s, prefaulted
//! ([`super::mapped`]); `/proc/self/statm` is opened ([`super::resident`]); the latency pass's
//! hdrhistograms are made with fixed bounds (their `saturating_record` never resizes, so never
//! allocates); the allocator is warmed up (one `malloc(1)`/`free`, so its own bootstrap is
//! paid before the baseline, as it is before any program's first real request). Inside the loop
//! nothing is allocated but the trace's blocks: no `Vec` grows, no `String` is made, nothing is
//! formatted. That matters most for `glibc` and `preload:`, whose heap is also the Rust global
//! allocator's in the child.
//!
//! # The figures
//! With the simulations' definitions (README, "Definitions"): after every event,
//! `live_requested` is the sum of the requested sizes of the live blocks and `live_consumed`
//! the sum of their usable sizes (`malloc_usable_size` and kin: what each block really gives the
//! program); `max_live_bytes` is the largest `live_requested`, `peak_event` the first event
//! reaching it (event 0 counts even when nothing is live), and internal fragmentation is
//! `(live_consumed - live_requested) / live_consumed` there. They are exact, and
//! `max_live_bytes` and `peak_event` equal the simulations' for the same trace as long as no
//! allocation fails.
//!
//! Resident memory is the process's (`statm`), read right before the loop (the baseline), then
//! after every `sample_every` events (65,536 by default) and after the last: the memory series
//! and `rss_peak_above_baseline`, a lower bound of the true peak. The kernel's high-water mark
//! over the loop is reported beside it (`rss_hwm_above_baseline`). Where the allocator reports
//! its own resident bytes (jemalloc `stats.resident`, mimalloc's committed memory), they are
//! read at the same points.
//!
//! **Which is the footprint.** We recommend `rss_peak_above_baseline` (or its high-water twin)
//! as `peak_footprint_bytes`: it is defined the same way for every allocator, glibc and any
//! preloaded library included, which report no resident figure; it is what the kernel charges
//! the program; and it counts what an allocator's own figure leaves out (its metadata outside
//! its accounting, pages it has freed but not yet returned). An allocator's own figure is
//! defined by that allocator (mimalloc's is committed, not resident, memory) and is kept beside
//! it, not compared across allocators.
//!
//! **How steady it is.** Over 5 runs on `traces/python-dict.csv.gz` (touching), the spread
//! (max - min) / min of `rss_peak_above_baseline` was 0.00% for glibc, 0.52% for mimalloc, 0.96%
//! for jemalloc and 0.00% for tcmalloc (preloaded). The steps are 64 KiB: the kernel's resident
//! counters are per-CPU and read in batches, not the allocators. The allocators' own figures
//! move more where they depend on time: jemalloc returns dirty pages on a clock (its
//! `dirty_decay_ms`), so its `stats.resident` varied by 5.9% over the same runs.
//!
//! # Touching
//! With `touch` (the default), after every allocation, and after a realloc that grows a block,
//! the replay writes one byte in each 4 KiB page the new bytes span and their first and last
//! byte, as a program filling its buffer would: so a page an allocator hands out counts as
//! resident. Without it (`--no-touch`) only the pages the allocator writes itself are resident,
//! and what a page is depends on the allocator: mimalloc asks for transparent huge pages on its
//! arenas (`madvise(MADV_HUGEPAGE)`, its `allow_thp` option, on by default), so where the system
//! allows them on request (`/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or
//! `always`) one header it writes makes 2 MiB resident, touched or not.
//! The cost is one store per page: about 5 ns for a page the allocator reuses and about 1.5 us for
//! a page fresh from the kernel (the page fault, which a program writing its memory pays too), as
//! `benches/real_glibc.rs` measures (see benches/README.md). A huge block that the allocator
//! gives (overcommitted, never written) is touched too: a trace that allocates more than the
//! machine has fails with touching where it might not without.
//!
//! # Operations
//! `malloc(n)`, `calloc(1, n)`, `realloc(p, n)`, `free(p)`, and memalign as the backend does it
//! (`posix_memalign` or `mi_malloc_aligned`). `realloc(p, 0)` is called as `realloc(p, 1)`
//! (C leaves `realloc(p, 0)` to the implementation and glibc frees `p`), its requested size
//! counted as 0. A `write` event writes its bytes into a live block, clipped to the requested
//! size (an overrun would damage the real heap; the simulations study those); a stale write or
//! one to a block that is not live is skipped. A failed allocation (null) is counted in
//! `failed_allocations` and its block is absent: its free is ignored (`ignored_frees`) and a
//! realloc of it is a malloc, as in the simulations; a failed realloc keeps the old block.

use super::allocator::{AllocatorStats, Bytes, RealAllocator};
use super::mapped::Mapped;
use super::resident::Resident;
use crate::clock::Clock;
use crate::trace::{Event, Op};
use hdrhistogram::Histogram;
use std::ffi::c_void;
use std::time::Instant;

/// Resident memory is sampled at least this often (in events) by default.
pub const DEFAULT_SAMPLE_EVERY: u64 = 1 << 16;

/// The page size touching assumes: one byte is written per this many bytes.
pub const TOUCH_PAGE: usize = 4096;

/// The byte touching writes.
const TOUCH_BYTE: u8 = 0xA5;

/// The byte a `write` event stores (the simulations' `WRITE_BYTE`).
pub(super) const WRITE_BYTE: u8 = crate::alloc::WRITE_BYTE;

/// What one replay measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Exact memory figures, resident memory and one clock read around the loop.
    Throughput,
    /// The same, plus a clock read (the time-stamp counter) before and after every call, into
    /// hdrhistograms: slower, so its events/s are not the throughput figure.
    Latency,
}

/// How to replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Options {
    pub mode: Mode,
    /// Write every allocated page (see the module docs); `--no-touch` turns it off.
    pub touch: bool,
    /// Read resident memory after every this many events (and after the last); at least 1.
    pub sample_every: u64,
    /// Replay a trace with threads on one thread, in file order (`--serial`).
    #[serde(default)]
    pub serial: bool,
    /// Ask the allocator the usable size of every block it gives (`malloc_usable_size` and
    /// kin), for `live_consumed` and internal fragmentation. A program makes no such call, and
    /// it costs a fast allocator up to a third of its time per event (jemalloc's is a radix-tree
    /// lookup), so `replay`'s timed throughput runs do not ask: their usable-size figures come
    /// from the latency runs, which do (see [`super::run`]). Without it, `live_consumed` is the
    /// requested bytes and `usable_sizes_known` is false.
    #[serde(default = "yes")]
    pub usable_sizes: bool,
}

fn yes() -> bool {
    true
}

impl Options {
    /// Whether a replay with these options asks `alloc` its usable sizes: when asked to and
    /// the allocator tells them.
    pub(super) fn knows_usable<A: RealAllocator + ?Sized>(&self, alloc: &A) -> bool {
        self.usable_sizes && alloc.knows_usable_size()
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mode: Mode::Throughput,
            touch: true,
            sample_every: DEFAULT_SAMPLE_EVERY,
            serial: false,
            usable_sizes: true,
        }
    }
}

/// One point of the memory series: after event `event`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemorySample {
    /// The index of the event after which the sample was taken.
    pub event: u64,
    /// Process resident bytes minus the baseline (negative when the allocator returned memory
    /// it held before the replay).
    pub rss_above_baseline: i64,
    /// The allocator's own resident bytes, where it reports them.
    pub allocator_resident: Option<Bytes>,
    pub live_requested: Bytes,
    pub live_consumed: Bytes,
}

/// Latency percentiles of one kind of call, in nanoseconds (clock reads included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallLatency {
    /// Calls timed (every call of the kind).
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Latency per kind of call; `None` for a kind the trace does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LatencyNs {
    /// malloc, calloc and memalign.
    pub malloc: Option<CallLatency>,
    pub free: Option<CallLatency>,
    pub realloc: Option<CallLatency>,
}

/// Everything one measured replay found.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    /// Events replayed (all of them).
    pub events: u64,
    /// `max_i live_requested(i)`, as in the simulations.
    pub max_live_bytes: Bytes,
    /// The first event with `live_requested == max_live_bytes`.
    pub peak_event: u64,
    /// `live_consumed` (usable sizes) at `peak_event`.
    pub live_consumed_at_peak: Bytes,
    /// Live blocks at `peak_event`.
    pub live_blocks_at_peak: u64,
    /// Whether the replay asked usable sizes and the allocator told them
    /// ([`Options::usable_sizes`]); without them `live_consumed` is the requested bytes and
    /// internal fragmentation is unknown.
    pub usable_sizes_known: bool,
    /// `(live_consumed - live_requested) / live_consumed` at `peak_event` (0 when nothing is
    /// consumed); `None` without usable sizes.
    pub internal_fragmentation: Option<f64>,
    /// Allocations (and reallocations) that returned null.
    pub failed_allocations: u64,
    /// Frees of blocks whose allocation had failed.
    pub ignored_frees: u64,
    /// `write` events applied (stale ones and ones to blocks that are not live are not).
    pub writes: u64,
    /// Process resident bytes right before the loop.
    pub rss_baseline_bytes: Bytes,
    /// The largest sampled resident size minus the baseline (0 if never above it).
    pub rss_peak_above_baseline: Bytes,
    /// Resident size after the last event minus the baseline (may be negative).
    pub rss_final_above_baseline: i64,
    /// The kernel's high-water mark over the loop minus the baseline (`VmHWM`, see
    /// [`super::resident`]); `None` where it cannot be reset.
    pub rss_hwm_above_baseline: Option<Bytes>,
    /// The allocator's own resident bytes right before the loop, at its largest sample, and
    /// after the last event; `None` where it reports none.
    pub allocator_resident_baseline: Option<Bytes>,
    pub allocator_resident_peak: Option<Bytes>,
    pub allocator_resident_final: Option<Bytes>,
    /// Wall-clock nanoseconds of the loop (one clock read before, one after; resident samples
    /// included: a few microseconds each).
    pub elapsed_ns: u64,
    /// `events / elapsed`.
    pub events_per_sec: f64,
    /// Latency per kind of call, in the latency mode.
    pub latency_ns: Option<LatencyNs>,
    /// The memory series, in event order: after every `sample_every` events and after the last.
    pub series: Vec<MemorySample>,
    /// Whether the replay touched the memory it allocated.
    pub touched: bool,
    /// The allocator's own figures right after the last event, before the blocks still live
    /// are freed.
    pub allocator_stats_at_end: AllocatorStats,
    /// OS threads that replayed the events (distinct kernel thread ids): 1 for a serial
    /// replay, one per recorded thread otherwise (see [`super::threads`]).
    #[serde(default)]
    pub threads: u64,
    /// Pairs of consecutive events of one block on two different threads: the orders the
    /// threaded replay enforces (0 when serial).
    #[serde(default)]
    pub cross_thread_orders: u64,
    /// Events that found the event they follow (on another thread) not yet done, and waited.
    #[serde(default)]
    pub waits: u64,
    /// Events that found their block in another state than the file's order gives it: 0
    /// unless the threaded replay broke an order it must keep (see [`super::threads`]).
    #[serde(default)]
    pub out_of_order: u64,
}

/// Why a measured replay could not run (before its loop: the loop itself cannot fail).
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("cannot map the replay's tables: {0}")]
    Map(std::io::Error),
    #[error("cannot read /proc/self/statm: {0}")]
    Resident(std::io::Error),
    #[error("cannot make the latency histograms: {0}")]
    Histogram(String),
    #[error("cannot start OS thread {0} of the trace's threads: {1}")]
    Thread(usize, std::io::Error),
}

/// One block id's entry in the block table.
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct Block {
    /// The allocator's pointer while live; null otherwise.
    pub(super) ptr: *mut c_void,
    /// Requested bytes while live.
    pub(super) requested: Bytes,
    /// Usable bytes while live (`requested` when the allocator does not tell).
    pub(super) usable: Bytes,
}

/// The latency pass's histograms, in clock ticks.
pub(super) struct Timers {
    pub(super) clock: Clock,
    pub(super) malloc: Histogram<u64>,
    pub(super) free: Histogram<u64>,
    pub(super) realloc: Histogram<u64>,
}

impl Timers {
    pub(super) fn new() -> Result<Timers, MeasureError> {
        let clock = Clock::calibrated();
        // Up to 2^40 ticks (several minutes) at 3 significant digits: ~250 KiB each.
        let make = || {
            Histogram::<u64>::new_with_bounds(1, 1 << 40, 3)
                .map_err(|e| MeasureError::Histogram(e.to_string()))
        };
        Ok(Timers { clock, malloc: make()?, free: make()?, realloc: make()? })
    }

    pub(super) fn percentiles(&self, h: &Histogram<u64>) -> Option<CallLatency> {
        let ns = |ticks| self.clock.ns(ticks);
        (!h.is_empty()).then(|| CallLatency {
            count: h.len(),
            p50: ns(h.value_at_quantile(0.50)),
            p99: ns(h.value_at_quantile(0.99)),
            p999: ns(h.value_at_quantile(0.999)),
            max: ns(h.max()),
        })
    }
}

/// Which histogram a call goes to.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Malloc,
    Free,
    Realloc,
}

/// Write one byte in each 4 KiB page of `[p + from, p + to)`, and its first and last byte.
#[inline(always)]
pub(super) unsafe fn touch(p: *mut u8, from: usize, to: usize) {
    if to <= from {
        return;
    }
    let start = p.add(from);
    std::ptr::write_volatile(start, TOUCH_BYTE);
    let end = p as usize + to;
    let mut page = (start as usize & !(TOUCH_PAGE - 1)) + TOUCH_PAGE;
    while page < end {
        std::ptr::write_volatile(p.add(page - p as usize), TOUCH_BYTE);
        page += TOUCH_PAGE;
    }
    std::ptr::write_volatile(p.add(to - 1), TOUCH_BYTE);
}

/// The running state of a replay: the figures the loop keeps after every event.
struct State {
    live_requested: Bytes,
    live_consumed: Bytes,
    live_blocks: u64,
    max_live: Bytes,
    peak_event: u64,
    consumed_at_peak: Bytes,
    blocks_at_peak: u64,
    failed: u64,
    ignored_frees: u64,
    writes: u64,
}

/// Replay `events` (every block id below `blocks`) through `alloc`, measuring as `options`
/// says. Blocks still live at the end are freed after the figures are taken. Generic, so that
/// each backend's calls are inlined into its own copy of the loop (a `&dyn RealAllocator` works
/// too, at the price of an indirect call per call).
///
/// # Safety
/// `events` must be a valid trace (as every parsed [`crate::trace::Trace`] is): an allocation
/// names an id that is not live, a free or realloc one that is live or whose allocation
/// failed. Anything else may hand the allocator a pointer twice.
pub unsafe fn replay<A: RealAllocator + ?Sized>(
    alloc: &A,
    events: &[Event],
    blocks: u32,
    options: &Options,
) -> Result<Measured, MeasureError> {
    match (options.mode, options.touch) {
        (Mode::Throughput, true) => run::<A, false, true>(alloc, events, blocks, options),
        (Mode::Throughput, false) => run::<A, false, false>(alloc, events, blocks, options),
        (Mode::Latency, true) => run::<A, true, true>(alloc, events, blocks, options),
        (Mode::Latency, false) => run::<A, true, false>(alloc, events, blocks, options),
    }
}

unsafe fn run<A: RealAllocator + ?Sized, const TIMED: bool, const TOUCH: bool>(
    alloc: &A,
    events: &[Event],
    blocks: u32,
    options: &Options,
) -> Result<Measured, MeasureError> {
    // Everything the loop needs, before the baseline.
    let sample_every = options.sample_every.max(1);
    let samples = events.len() as u64 / sample_every + 2;
    let mut table: Mapped<Block> = Mapped::zeroed(blocks as usize).map_err(MeasureError::Map)?;
    let mut series: Mapped<MemorySample> =
        Mapped::zeroed(samples as usize).map_err(MeasureError::Map)?;
    let resident = Resident::open().map_err(MeasureError::Resident)?;
    let mut timers = if TIMED { Some(Timers::new()?) } else { None };
    let knows_usable = options.knows_usable(alloc);
    let warm = alloc.malloc(1);
    if !warm.is_null() {
        alloc.free(warm);
    }
    let _ = alloc.resident();

    let mut state = State {
        live_requested: 0,
        live_consumed: 0,
        live_blocks: 0,
        max_live: 0,
        peak_event: 0,
        consumed_at_peak: 0,
        blocks_at_peak: 0,
        failed: 0,
        ignored_frees: 0,
        writes: 0,
    };
    let table = table.as_mut_slice();
    let series_slots = series.as_mut_slice();
    let mut taken = 0usize;
    let hwm_reset = resident.reset_peak();
    let allocator_baseline = alloc.resident();
    let baseline = resident.bytes().unwrap_or(0);
    let mut rss_peak: Bytes = 0;
    let mut allocator_peak = allocator_baseline;

    let mut sample = |state: &State, event: u64, taken: &mut usize| {
        let rss = resident.bytes().unwrap_or(baseline) as i64 - baseline as i64;
        let own = alloc.resident();
        rss_peak = rss_peak.max(rss.max(0) as Bytes);
        allocator_peak = match (allocator_peak, own) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(slot) = series_slots.get_mut(*taken) {
            *slot = MemorySample {
                event,
                rss_above_baseline: rss,
                allocator_resident: own,
                live_requested: state.live_requested,
                live_consumed: state.live_consumed,
            };
            *taken += 1;
        }
    };

    let started = Instant::now();
    for (c, chunk) in events.chunks(sample_every as usize).enumerate() {
        let first = c as u64 * sample_every;
        for (i, event) in chunk.iter().enumerate() {
            let index = first + i as u64;
            if let Some(ahead) = chunk.get(i + PREFETCH_DISTANCE) {
                prefetch(table, ahead.id);
            }
            apply::<A, TIMED, TOUCH>(alloc, table, event, &mut state, &mut timers, knows_usable);
            if state.live_requested > state.max_live || index == 0 {
                state.max_live = state.live_requested;
                state.peak_event = index;
                state.consumed_at_peak = state.live_consumed;
                state.blocks_at_peak = state.live_blocks;
            }
        }
        sample(&state, first + chunk.len() as u64 - 1, &mut taken);
    }
    let elapsed = started.elapsed();

    // After the loop: allocation is allowed again.
    let hwm = if hwm_reset { resident.peak_since_reset() } else { None };
    let allocator_stats_at_end = alloc.stats();
    let series: Vec<MemorySample> = series_slots[..taken].to_vec();
    let latency_ns = timers.as_ref().map(|t| LatencyNs {
        malloc: t.percentiles(&t.malloc),
        free: t.percentiles(&t.free),
        realloc: t.percentiles(&t.realloc),
    });
    let exact = Exact {
        max_live: state.max_live,
        peak_event: state.peak_event,
        consumed_at_peak: state.consumed_at_peak,
        blocks_at_peak: state.blocks_at_peak,
        failed: state.failed,
        ignored_frees: state.ignored_frees,
        writes: state.writes,
    };
    let around = Around {
        baseline,
        rss_peak,
        hwm,
        allocator_baseline,
        allocator_peak,
        elapsed,
        latency_ns,
        series,
        touched: TOUCH,
        allocator_stats_at_end,
    };
    let measured = assemble(events.len() as u64, &exact, knows_usable, around);
    // Give the blocks still live back, so that a bench replaying many times does not leak.
    for block in table.iter().filter(|b| !b.ptr.is_null()) {
        alloc.free(block.ptr);
    }
    Ok(measured)
}

/// The exact figures of a replay, in file order (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Exact {
    pub(super) max_live: Bytes,
    pub(super) peak_event: u64,
    pub(super) consumed_at_peak: Bytes,
    pub(super) blocks_at_peak: u64,
    pub(super) failed: u64,
    pub(super) ignored_frees: u64,
    pub(super) writes: u64,
}

/// What a replay measured around its loop: resident memory, time, latency, the series.
pub(super) struct Around {
    pub(super) baseline: Bytes,
    pub(super) rss_peak: Bytes,
    /// The kernel's high-water mark (not yet less the baseline).
    pub(super) hwm: Option<Bytes>,
    pub(super) allocator_baseline: Option<Bytes>,
    pub(super) allocator_peak: Option<Bytes>,
    pub(super) elapsed: std::time::Duration,
    pub(super) latency_ns: Option<LatencyNs>,
    /// In event order; its last sample is the one after the last event.
    pub(super) series: Vec<MemorySample>,
    pub(super) touched: bool,
    pub(super) allocator_stats_at_end: AllocatorStats,
}

/// The one place a replay's figures become a [`Measured`] (serial here, threaded in
/// [`super::threads`], which then sets its thread counts): `events` replayed.
pub(super) fn assemble(events: u64, exact: &Exact, knows_usable: bool, around: Around) -> Measured {
    let last = around.series.last().copied();
    let elapsed_ns = around.elapsed.as_nanos() as u64;
    Measured {
        events,
        max_live_bytes: exact.max_live,
        peak_event: exact.peak_event,
        live_consumed_at_peak: exact.consumed_at_peak,
        live_blocks_at_peak: exact.blocks_at_peak,
        usable_sizes_known: knows_usable,
        internal_fragmentation: knows_usable.then(|| {
            let consumed = exact.consumed_at_peak;
            if consumed == 0 {
                0.0
            } else {
                (consumed - exact.max_live) as f64 / consumed as f64
            }
        }),
        failed_allocations: exact.failed,
        ignored_frees: exact.ignored_frees,
        writes: exact.writes,
        rss_baseline_bytes: around.baseline,
        rss_peak_above_baseline: around.rss_peak,
        rss_final_above_baseline: last.map_or(0, |s| s.rss_above_baseline),
        rss_hwm_above_baseline: around.hwm.map(|h| h.saturating_sub(around.baseline)),
        allocator_resident_baseline: around.allocator_baseline,
        allocator_resident_peak: around.allocator_peak,
        allocator_resident_final: last.and_then(|s| s.allocator_resident),
        elapsed_ns,
        events_per_sec: if elapsed_ns == 0 {
            0.0
        } else {
            events as f64 / around.elapsed.as_secs_f64()
        },
        latency_ns: around.latency_ns,
        series: around.series,
        touched: around.touched,
        allocator_stats_at_end: around.allocator_stats_at_end,
        threads: 1,
        cross_thread_orders: 0,
        waits: 0,
        out_of_order: 0,
    }
}

/// How many events ahead the loop asks for the block table entry a coming event will need.
pub(super) const PREFETCH_DISTANCE: usize = 8;

/// Ask the CPU to start loading the table entry of `id`. Ids of frees and reallocs are scattered
/// over a table as large as the trace's block count: without this, most such events would start
/// with a cache miss in the replayer's own table, charged to the allocator (the engine of the
/// simulations does the same).
#[inline(always)]
pub(super) fn prefetch(table: &[Block], id: u32) {
    #[cfg(target_arch = "x86_64")]
    if let Some(block) = table.get(id as usize) {
        // SAFETY: prefetching is a hint and never faults; SSE is part of the x86_64 baseline.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>((block as *const Block).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (table, id);
}

/// Time `call` into the histogram of `kind` when `TIMED`.
#[inline(always)]
pub(super) fn timed<const TIMED: bool, R>(
    timers: &mut Option<Timers>,
    kind: Kind,
    call: impl FnOnce() -> R,
) -> R {
    if !TIMED {
        return call();
    }
    let Some(t) = timers.as_mut() else { return call() };
    let start = t.clock.ticks();
    let result = call();
    let ticks = t.clock.ticks().wrapping_sub(start);
    let h = match kind {
        Kind::Malloc => &mut t.malloc,
        Kind::Free => &mut t.free,
        Kind::Realloc => &mut t.realloc,
    };
    h.saturating_record(ticks);
    result
}

/// Apply one event.
#[inline(always)]
unsafe fn apply<A: RealAllocator + ?Sized, const TIMED: bool, const TOUCH: bool>(
    alloc: &A,
    table: &mut [Block],
    event: &Event,
    state: &mut State,
    timers: &mut Option<Timers>,
    knows_usable: bool,
) {
    let Some(block) = table.get_mut(event.id as usize) else {
        // Not in a valid trace (ids are below `blocks`): nothing to do.
        return;
    };
    let size = event.size as usize;
    let usable_of = |ptr: *mut c_void, requested: Bytes| -> Bytes {
        if knows_usable {
            alloc.usable_size(ptr).map_or(requested, |u| u as Bytes)
        } else {
            requested
        }
    };
    match event.op {
        Op::Malloc | Op::Calloc | Op::Memalign => {
            let ptr = timed::<TIMED, _>(timers, Kind::Malloc, || match event.op {
                Op::Malloc => alloc.malloc(size),
                Op::Calloc => alloc.calloc(size),
                _ => alloc.memalign(event.align() as usize, size),
            });
            place::<TOUCH>(block, ptr, event.size, state, usable_of);
        }
        Op::Free => {
            if block.ptr.is_null() {
                state.ignored_frees += 1;
                return;
            }
            let ptr = block.ptr;
            timed::<TIMED, _>(timers, Kind::Free, || alloc.free(ptr));
            state.live_requested -= block.requested;
            state.live_consumed -= block.usable;
            state.live_blocks -= 1;
            block.ptr = std::ptr::null_mut();
        }
        Op::Realloc => {
            if block.ptr.is_null() {
                // Its allocation failed: the program would pass NULL, and realloc(NULL, n) is
                // malloc(n).
                let ptr = timed::<TIMED, _>(timers, Kind::Realloc, || alloc.malloc(size));
                place::<TOUCH>(block, ptr, event.size, state, usable_of);
                return;
            }
            let old = block.ptr;
            let ptr = timed::<TIMED, _>(timers, Kind::Realloc, || alloc.realloc(old, size.max(1)));
            if ptr.is_null() {
                // C's realloc: the old block stays as it was.
                state.failed += 1;
                return;
            }
            if TOUCH && event.size > block.requested {
                touch(ptr.cast(), block.requested as usize, size);
            }
            let usable = usable_of(ptr, event.size);
            state.live_requested = state.live_requested - block.requested + event.size;
            state.live_consumed = state.live_consumed - block.usable + usable;
            *block = Block { ptr, requested: event.size, usable };
        }
        Op::Write => {
            if block.ptr.is_null() || event.is_stale_write() {
                return;
            }
            let start = event.write_offset().min(block.requested);
            let end = (event.write_offset() + event.write_len()).min(block.requested);
            if end > start {
                let at = block.ptr.cast::<u8>().add(start as usize);
                std::ptr::write_bytes(at, WRITE_BYTE, (end - start) as usize);
            }
            state.writes += 1;
        }
    }
}

/// Enter a new allocation (or a failed one) into the table.
#[inline(always)]
unsafe fn place<const TOUCH: bool>(
    block: &mut Block,
    ptr: *mut c_void,
    requested: Bytes,
    state: &mut State,
    usable_of: impl Fn(*mut c_void, Bytes) -> Bytes,
) {
    if ptr.is_null() {
        state.failed += 1;
        block.ptr = std::ptr::null_mut();
        return;
    }
    if TOUCH {
        touch(ptr.cast(), 0, requested as usize);
    }
    let usable = usable_of(ptr, requested);
    state.live_requested += requested;
    state.live_consumed += usable;
    state.live_blocks += 1;
    *block = Block { ptr, requested, usable };
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::glibc::Glibc;
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// glibc's malloc, counting the usable sizes it is asked.
    #[derive(Default)]
    pub(crate) struct Counting {
        pub(crate) asked: AtomicU64,
    }

    impl RealAllocator for Counting {
        fn name(&self) -> String {
            "counting".into()
        }
        fn version(&self) -> String {
            Glibc.version()
        }
        unsafe fn usable_size(&self, ptr: *mut c_void) -> Option<usize> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Glibc.usable_size(ptr)
        }
        fn knows_usable_size(&self) -> bool {
            Glibc.knows_usable_size()
        }
        fn resident(&self) -> Option<Bytes> {
            Glibc.resident()
        }
        fn stats(&self) -> AllocatorStats {
            Glibc.stats()
        }
    }

    /// Two mallocs (100 and 5000 bytes), a realloc, a free: three calls that give a block.
    pub(crate) fn three_blocks_given() -> [Event; 4] {
        [Event::malloc(0, 100), Event::malloc(1, 5000), Event::realloc(0, 300), Event::free(1)]
    }

    #[test]
    fn usable_sizes_are_asked_once_per_block_given_and_not_at_all_when_not_wanted() {
        let events = three_blocks_given();
        for mode in [Mode::Throughput, Mode::Latency] {
            let alloc = Counting::default();
            let options = Options { mode, ..Options::default() };
            // SAFETY: a valid trace.
            let m = unsafe { replay(&alloc, &events, 2, &options) }.unwrap();
            assert_eq!(alloc.asked.load(Ordering::Relaxed), 3, "{mode:?}");
            assert!(m.usable_sizes_known);
            // glibc rounds 5300 requested bytes up: consumed is more than requested.
            assert!(m.live_consumed_at_peak > m.max_live_bytes);
            assert!(m.internal_fragmentation.unwrap() > 0.0);

            let alloc = Counting::default();
            let options = Options { mode, usable_sizes: false, ..Options::default() };
            // SAFETY: a valid trace.
            let m = unsafe { replay(&alloc, &events, 2, &options) }.unwrap();
            assert_eq!(alloc.asked.load(Ordering::Relaxed), 0, "{mode:?}");
            assert!(!m.usable_sizes_known);
            assert_eq!((m.max_live_bytes, m.live_consumed_at_peak), (5300, 5300));
            assert_eq!(m.internal_fragmentation, None);
            assert!(m.series.iter().all(|s| s.live_consumed == s.live_requested));
        }
    }

    #[test]
    fn options_that_do_not_say_ask_usable_sizes() {
        let json = r#"{"mode":"throughput","touch":true,"sample_every":65536}"#;
        let options: Options = serde_json::from_str(json).unwrap();
        assert!(options.usable_sizes);
    }

    #[test]
    fn touching_writes_one_byte_per_page_and_the_first_and_last() {
        let mut buf = vec![0u8; 3 * TOUCH_PAGE + 100];
        // A block starting 10 bytes into the buffer (not page-aligned), 2 pages and a bit long.
        let base = buf.as_mut_ptr();
        let offset = base.align_offset(TOUCH_PAGE) + 10;
        let len = 2 * TOUCH_PAGE + 50;
        assert!(offset + len <= buf.len());
        // SAFETY: inside `buf`.
        unsafe { touch(base.add(offset), 0, len) };
        let written: Vec<usize> =
            (0..buf.len()).filter(|&i| buf[i] == TOUCH_BYTE).map(|i| i - offset).collect();
        let page_starts = |k: usize| k * TOUCH_PAGE - 10;
        assert_eq!(written, [0, page_starts(1), page_starts(2), len - 1]);
    }

    #[test]
    fn touching_an_empty_range_writes_nothing() {
        let mut buf = [0u8; 16];
        // SAFETY: inside `buf`.
        unsafe { touch(buf.as_mut_ptr(), 8, 8) };
        assert_eq!(buf, [0; 16]);
    }

    #[test]
    fn a_replay_in_this_process_frees_what_is_left_and_keeps_the_exact_figures() {
        let events = [
            Event::malloc(0, 100),
            Event::calloc(1, 5000),
            Event::memalign(2, 64, 4096),
            Event::realloc(0, 300),
            Event::write(1, 10, 20, false),
            Event::free(1),
            Event::realloc(0, 0),
        ];
        let options = Options { sample_every: 2, ..Options::default() };
        // SAFETY: a valid trace.
        let m = unsafe { replay(&Glibc, &events, 3, &options) }.unwrap();
        assert_eq!((m.max_live_bytes, m.peak_event), (5364, 3));
        assert_eq!((m.failed_allocations, m.ignored_frees, m.writes), (0, 0, 1));
        let events: Vec<u64> = m.series.iter().map(|s| s.event).collect();
        assert_eq!(events, [1, 3, 5, 6]);
        assert_eq!(m.series.last().unwrap().live_requested, 64);
    }
}
