//! The measured replay on the trace's own threads: one OS thread per recorded thread, each
//! replaying its own events in their recorded order, with an order across threads only where a
//! block needs one.
//!
//! # The model
//! A trace with a `thread` column (two distinct values or more: [`crate::trace::Trace::threads`])
//! replays through a real allocator on as many OS threads as it names, unless `--serial`. Each
//! OS thread replays its recorded thread's events in file order. Between threads, two rules,
//! and nothing else:
//! 1. **A block's events happen in file order.** A free, realloc or write of a block waits until
//!    the event before it on that block (its allocation, or its last realloc) has happened, when
//!    that event is on another thread. An allocation whose id was used before (ids are recycled
//!    on long traces) waits for the free of the id's previous block the same way. The waiting is
//!    per block: one 32-bit counter per block id, read (acquire) by the waiting event and
//!    written (release) by the event it waits for, and only for the pairs that cross threads
//!    (`cross_thread_orders` in the JSON); an event whose block was last used on its own thread
//!    touches no shared state at all. No lock is taken per event. A thread that must wait spins
//!    briefly and then sleeps on a futex (the `atomic-wait` crate), so that 300 threads on 2
//!    cores make progress; `waits` in the JSON counts the events that found their block not yet
//!    ready.
//! 2. **A thread starts when the trace first uses it**: its first event waits until the event
//!    right before it in the file (on whichever thread that was: the thread that, as far as the
//!    trace tells, was running when this one appeared) has happened. The OS threads themselves
//!    are made before the measured loop, so that making them (which allocates, through the very
//!    allocator measured in the `glibc` and `preload:` children) is neither timed nor in the heap
//!    being measured; each waits, parked, for its start. A thread ends (its OS thread exits, and
//!    the allocator's per-thread caches go back as in a program) after its last event.
//!
//! Both rules follow the file's order, so the file's order is always one way to satisfy them: the
//! earliest event not yet replayed can always run, and the replay cannot deadlock, whatever the
//! number of threads.
//!
//! **Against the other replayers.** Android's `memory_replay` reads the trace on one thread and
//! hands each record to its thread; before every free it waits until *every* thread is idle, so
//! frees serialise the whole replay and threads run concurrently only between frees.
//! glibc's `trace_run` (DJ Delorie's malloc tracer) replays per-thread streams and orders them
//! through explicit synchronisation records the tracer wrote (`C_SYNC_W` / `C_SYNC_R` pairs
//! when a block crosses threads). `replay` needs neither: the block ids of the trace already say
//! which events depend on which, so it enforces exactly those dependencies, per block, and lets
//! everything else run as concurrently as the machine allows.
//!
//! # The figures
//! Each call's outcome (the usable size it gave, or a failure) is stored per event, and after the
//! threads have finished the exact figures (`max_live_bytes`, `peak_event`, the usable bytes at
//! the peak, failed allocations, ignored frees, writes) are computed in file order from those
//! outcomes, exactly as the serial replay computes them as it goes: so they have the simulations'
//! definitions and the same values, whatever order the threads ran in. Resident memory is
//! sampled when the events completed (counted by all threads together, in batches of 1,024 per
//! thread) pass a multiple of `sample_every`, by the thread that passes it, and after the last
//! thread ends; a sample's `event` is the count completed minus one, and its `live_requested` /
//! `live_consumed` are the file-order figures after that event. `elapsed_ns` runs from the start
//! of the first thread to the end of the last event of the last thread to finish.

use super::allocator::{Bytes, RealAllocator};
use super::mapped::Mapped;
use super::measure::{
    assemble, prefetch, timed, touch, Around, Block, Exact, Kind, LatencyNs, MeasureError,
    Measured, MemorySample, Mode, Options, Timers, PREFETCH_DISTANCE, WRITE_BYTE,
};
use super::resident::Resident;
use crate::trace::{Event, Op};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// A stage counter's bit that says a thread sleeps on it (the low 31 bits are the count).
const SLEEPER: u32 = 1 << 31;

/// No value: a step that waits for nothing, publishes nothing or starts no thread.
const NONE: u32 = u32::MAX;

/// In the table of outcomes, a call's outcome is the usable size it gave (low 62 bits) and two
/// flags: the call failed (returned null), and the block had no pointer when the event began.
const FAILED: u64 = 1 << 63;
const ABSENT: u64 = 1 << 62;
const USABLE: u64 = ABSENT - 1;

/// Spins before a waiting thread sleeps.
const SPINS: u32 = 100;

/// Events a thread replays between two additions to the shared count of completed events.
const BATCH: u64 = 1024;

/// Each replaying thread's stack: the replay's frames are shallow, and an allocator's calls
/// need little; a smaller stack than std's 2 MiB lets traces of thousands of threads start.
const STACK: usize = 512 << 10;

/// A gate's value once its thread may start, and once it must give up (setup failed).
const GO: u32 = 1;
const ABORT: u32 = 2;

/// One event as one thread replays it.
#[derive(Clone, Copy)]
#[repr(C)]
struct Step {
    event: Event,
    /// Its index in the file.
    index: u64,
    /// Wait until the block's stage counter is this (the event's rank among its block's
    /// events, modulo 2^31); [`NONE`] when the block's previous event is on this thread.
    wait: u32,
    /// After the call, set the block's stage counter to this (the next event of the block is on
    /// another thread); [`NONE`] otherwise.
    publish: u32,
    /// After the call, let this thread start (its first event is the next in the file).
    start: u32,
}

/// Wait until `cell`'s count is `want`: spin a little, then sleep. `true` if it was not
/// already.
fn wait_for(cell: &AtomicU32, want: u32) -> bool {
    wait_until(cell, |count| count == want)
}

/// Wait until `ready` holds of `cell`'s count (see [`wait_for`]).
fn wait_until(cell: &AtomicU32, ready: impl Fn(u32) -> bool) -> bool {
    let mut spins = 0;
    let mut waited = false;
    loop {
        let seen = cell.load(Ordering::Acquire);
        if ready(seen & !SLEEPER) {
            return waited;
        }
        waited = true;
        if spins < SPINS {
            spins += 1;
            std::hint::spin_loop();
            continue;
        }
        if seen & SLEEPER == 0
            && cell
                .compare_exchange_weak(seen, seen | SLEEPER, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        atomic_wait::wait(cell, seen | SLEEPER);
    }
}

/// Set `cell`'s count to `value` (release) and wake whoever sleeps on it.
fn publish(cell: &AtomicU32, value: u32) {
    if cell.swap(value & !SLEEPER, Ordering::Release) & SLEEPER != 0 {
        atomic_wait::wake_all(cell);
    }
}

/// The state every thread shares. Its raw pointers are the block table and the outcomes, each
/// entry used by one thread at a time (the stage counters order them; see the module docs).
struct Shared<'a, A: ?Sized> {
    alloc: &'a A,
    table: *mut Block,
    table_len: usize,
    outcomes: *mut u64,
    stages: &'a [AtomicU32],
    gates: &'a [AtomicU32],
    done: AtomicU64,
    sample_every: u64,
    sampler: Mutex<Sampler<'a>>,
    knows_usable: bool,
}

// SAFETY: the allocator is `Sync`; the table and outcomes are only touched as the module docs
// say (an entry by one thread at a time, handed over with release/acquire).
unsafe impl<A: RealAllocator + ?Sized> Sync for Shared<'_, A> {}

/// Resident memory samples, taken by whichever thread passes a multiple of `sample_every`.
struct Sampler<'a> {
    resident: &'a Resident,
    baseline: Bytes,
    slots: &'a mut [MemorySample],
    taken: usize,
    rss_peak: Bytes,
    allocator_peak: Option<Bytes>,
}

impl Sampler<'_> {
    fn take(&mut self, event: u64, own: Option<Bytes>) {
        let rss = self.resident.bytes().unwrap_or(self.baseline) as i64 - self.baseline as i64;
        self.rss_peak = self.rss_peak.max(rss.max(0) as Bytes);
        self.allocator_peak = match (self.allocator_peak, own) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(slot) = self.slots.get_mut(self.taken) {
            *slot = MemorySample {
                event,
                rss_above_baseline: rss,
                allocator_resident: own,
                live_requested: 0,
                live_consumed: 0,
            };
            self.taken += 1;
        }
    }
}

/// What one thread tells when it ends.
struct Ended {
    /// When its last event had happened.
    at: Instant,
    /// The kernel's id of the OS thread that replayed.
    tid: i64,
    /// Events that found their block (or their start) not yet ready.
    waits: u64,
    timers: Option<Timers>,
}

/// Replay `events` through `alloc` on one OS thread per recorded thread (`threads[i]` is event
/// `i`'s, each below `count`), as the module docs say.
///
/// # Safety
/// As [`super::measure::replay`]: `events` is a valid trace, every id below `blocks`.
pub unsafe fn replay<A: RealAllocator + ?Sized>(
    alloc: &A,
    events: &[Event],
    threads: &[u32],
    count: u32,
    blocks: u32,
    options: &Options,
) -> Result<Measured, MeasureError> {
    match (options.mode, options.touch) {
        (Mode::Throughput, true) => {
            run::<A, false, true>(alloc, events, threads, count, blocks, options)
        }
        (Mode::Throughput, false) => {
            run::<A, false, false>(alloc, events, threads, count, blocks, options)
        }
        (Mode::Latency, true) => {
            run::<A, true, true>(alloc, events, threads, count, blocks, options)
        }
        (Mode::Latency, false) => {
            run::<A, true, false>(alloc, events, threads, count, blocks, options)
        }
    }
}

/// The steps of every thread, grouped by thread (thread `t`'s are `steps[starts[t]..starts[t +
/// 1]]`), and the number of orders that cross threads.
struct Plan {
    steps: Mapped<Step>,
    starts: Vec<usize>,
    cross_thread_orders: u64,
    /// The thread of the file's first event.
    first: u32,
}

/// Work out every thread's steps (before the baseline; the per-block scratch tables are
/// `mmap`s, unmapped again, so that nothing of this is left in the measured heap).
unsafe fn plan(
    events: &[Event],
    threads: &[u32],
    count: u32,
    blocks: u32,
) -> Result<Plan, MeasureError> {
    let count = count as usize;
    let mut starts = vec![0usize; count + 1];
    for &t in threads {
        starts[t as usize + 1] += 1;
    }
    for t in 0..count {
        starts[t + 1] += starts[t];
    }
    let mut cursor: Vec<usize> = starts[..count].to_vec();
    let mut steps: Mapped<Step> = Mapped::zeroed(events.len()).map_err(MeasureError::Map)?;
    let slots = steps.as_mut_slice();
    // Per block: its events so far, and the position (plus one) of its last step.
    let mut rank: Mapped<u32> = Mapped::zeroed(blocks as usize).map_err(MeasureError::Map)?;
    let mut last: Mapped<u64> = Mapped::zeroed(blocks as usize).map_err(MeasureError::Map)?;
    let (rank, last) = (rank.as_mut_slice(), last.as_mut_slice());
    let mut cross_thread_orders = 0;
    let mut previous_step = usize::MAX;
    for (i, (event, &t)) in events.iter().zip(threads).enumerate() {
        let at = cursor[t as usize];
        cursor[t as usize] += 1;
        slots[at] = Step { event: *event, index: i as u64, wait: NONE, publish: NONE, start: NONE };
        if at == starts[t as usize] && i > 0 {
            slots[previous_step].start = t;
        }
        let b = event.id as usize;
        let k = rank[b] & !SLEEPER;
        rank[b] = rank[b].wrapping_add(1);
        if last[b] != 0 {
            let before = last[b] as usize - 1;
            if threads[slots[before].index as usize] != t {
                slots[before].publish = k;
                slots[at].wait = k;
                cross_thread_orders += 1;
            }
        }
        last[b] = at as u64 + 1;
        previous_step = at;
    }
    Ok(Plan { steps, starts, cross_thread_orders, first: threads.first().copied().unwrap_or(0) })
}

unsafe fn run<A: RealAllocator + ?Sized, const TIMED: bool, const TOUCH: bool>(
    alloc: &A,
    events: &[Event],
    threads: &[u32],
    count: u32,
    blocks: u32,
    options: &Options,
) -> Result<Measured, MeasureError> {
    debug_assert_eq!(events.len(), threads.len());
    let sample_every = options.sample_every.max(1);
    let plan = plan(events, threads, count, blocks)?;
    let mut table: Mapped<Block> = Mapped::zeroed(blocks as usize).map_err(MeasureError::Map)?;
    let mut outcomes: Mapped<u64> = Mapped::zeroed(events.len()).map_err(MeasureError::Map)?;
    let stages: Mapped<u32> = Mapped::zeroed(blocks as usize).map_err(MeasureError::Map)?;
    let gates: Mapped<u32> = Mapped::zeroed(count as usize).map_err(MeasureError::Map)?;
    // Samples: one per multiple of `sample_every` passed, and the last.
    let mut series: Mapped<MemorySample> =
        Mapped::zeroed(events.len() / sample_every as usize + 2).map_err(MeasureError::Map)?;
    let resident = Resident::open().map_err(MeasureError::Resident)?;
    let mut timers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        timers.push(if TIMED { Some(Timers::new()?) } else { None });
    }
    // SAFETY: `AtomicU32` has `u32`'s layout; the mappings outlive every thread (scoped).
    let as_atomics = |m: &Mapped<u32>| unsafe {
        std::slice::from_raw_parts(m.as_slice().as_ptr().cast::<AtomicU32>(), m.len())
    };
    let knows_usable = options.knows_usable(alloc);
    let warm = alloc.malloc(1);
    if !warm.is_null() {
        alloc.free(warm);
    }
    let _ = alloc.resident();

    let shared = Shared {
        alloc,
        table: table.as_mut_slice().as_mut_ptr(),
        table_len: blocks as usize,
        outcomes: outcomes.as_mut_slice().as_mut_ptr(),
        stages: as_atomics(&stages),
        gates: as_atomics(&gates),
        done: AtomicU64::new(0),
        sample_every,
        sampler: Mutex::new(Sampler {
            resident: &resident,
            baseline: 0,
            slots: series.as_mut_slice(),
            taken: 0,
            rss_peak: 0,
            allocator_peak: None,
        }),
        knows_usable,
    };
    let aborted = AtomicBool::new(false);
    let steps = plan.steps.as_slice();

    let outcome = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(count as usize);
        for (t, timers) in timers.into_iter().enumerate() {
            let mine = &steps[plan.starts[t]..plan.starts[t + 1]];
            let (shared, aborted) = (&shared, &aborted);
            let spawned = std::thread::Builder::new()
                .name(format!("replay-{t}"))
                .stack_size(STACK)
                .spawn_scoped(scope, move || {
                    worker::<A, TIMED, TOUCH>(shared, aborted, mine, t as u32, timers)
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    // Let the threads made so far end at once.
                    aborted.store(true, Ordering::Release);
                    for gate in shared.gates {
                        publish(gate, ABORT);
                    }
                    return Err(MeasureError::Thread(t + 1, error));
                }
            }
        }
        let hwm_reset = resident.reset_peak();
        let allocator_baseline = alloc.resident();
        let baseline = resident.bytes().unwrap_or(0);
        {
            let mut sampler = shared.sampler.lock().unwrap_or_else(|e| e.into_inner());
            sampler.baseline = baseline;
            sampler.allocator_peak = allocator_baseline;
        }
        let started = Instant::now();
        publish(&shared.gates[plan.first as usize], GO);
        let mut ended = Vec::with_capacity(handles.len());
        for handle in handles {
            match handle.join() {
                Ok(end) => ended.push(end),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok((started, ended, hwm_reset, allocator_baseline, baseline))
    });
    let (started, ended, hwm_reset, allocator_baseline, baseline) = outcome?;
    let last_end = ended.iter().map(|e| e.at).max().unwrap_or(started);
    let elapsed = last_end.saturating_duration_since(started);
    let mut sampler = shared.sampler.into_inner().unwrap_or_else(|e| e.into_inner());
    let final_event = events.len() as u64 - 1;
    sampler.take(final_event, alloc.resident());
    let hwm = if hwm_reset { resident.peak_since_reset() } else { None };
    let allocator_stats_at_end = alloc.stats();

    // After the loop: allocation is allowed again.
    let mut series: Vec<MemorySample> = sampler.slots[..sampler.taken].to_vec();
    series.sort_by_key(|s| s.event);
    let (rss_peak, allocator_peak) = (sampler.rss_peak, sampler.allocator_peak);
    let figures = account(events, outcomes.as_slice(), blocks, knows_usable, &mut series);
    let mut tids: Vec<i64> = ended.iter().map(|e| e.tid).collect();
    tids.sort_unstable();
    tids.dedup();
    let waits = ended.iter().map(|e| e.waits).sum();
    let latency_ns = TIMED.then(|| merge_latency(ended.into_iter().filter_map(|e| e.timers)));
    let exact = Exact {
        max_live: figures.max_live,
        peak_event: figures.peak_event,
        consumed_at_peak: figures.consumed_at_peak,
        blocks_at_peak: figures.blocks_at_peak,
        failed: figures.failed,
        ignored_frees: figures.ignored_frees,
        writes: figures.writes,
    };
    let around = Around {
        baseline,
        rss_peak,
        hwm,
        allocator_baseline,
        allocator_peak,
        elapsed,
        latency_ns: latency_ns.flatten(),
        series,
        touched: TOUCH,
        allocator_stats_at_end,
    };
    let measured = Measured {
        threads: tids.len() as u64,
        cross_thread_orders: plan.cross_thread_orders,
        waits,
        out_of_order: figures.out_of_order,
        ..assemble(events.len() as u64, &exact, knows_usable, around)
    };
    for block in table.as_slice().iter().filter(|b| !b.ptr.is_null()) {
        alloc.free(block.ptr);
    }
    Ok(measured)
}

/// One OS thread's replay of its steps.
unsafe fn worker<A: RealAllocator + ?Sized, const TIMED: bool, const TOUCH: bool>(
    shared: &Shared<'_, A>,
    aborted: &AtomicBool,
    steps: &[Step],
    me: u32,
    mut timers: Option<Timers>,
) -> Ended {
    let tid = libc::syscall(libc::SYS_gettid);
    wait_until(&shared.gates[me as usize], |state| state == GO || state == ABORT);
    let mut waits = 0;
    if aborted.load(Ordering::Acquire) {
        return Ended { at: Instant::now(), tid, waits, timers };
    }
    // SAFETY (of every access below): see `Shared`.
    let table = std::slice::from_raw_parts_mut(shared.table, shared.table_len);
    let mut pending = 0u64;
    for (i, step) in steps.iter().enumerate() {
        if let Some(ahead) = steps.get(i + PREFETCH_DISTANCE) {
            prefetch(table, ahead.event.id);
        }
        let id = step.event.id as usize;
        if step.wait != NONE {
            waits += u64::from(wait_for(&shared.stages[id], step.wait));
        }
        let outcome = apply::<A, TIMED, TOUCH>(
            shared.alloc,
            &mut table[id],
            &step.event,
            &mut timers,
            shared.knows_usable,
        );
        *shared.outcomes.add(step.index as usize) = outcome;
        if step.publish != NONE {
            publish(&shared.stages[id], step.publish);
        }
        if step.start != NONE {
            publish(&shared.gates[step.start as usize], GO);
        }
        pending += 1;
        if pending == BATCH {
            count_done(shared, pending);
            pending = 0;
        }
    }
    let at = Instant::now();
    count_done(shared, pending);
    Ended { at, tid, waits, timers }
}

/// Add `n` to the events completed; the thread that passes a multiple of `sample_every` takes
/// a resident sample.
#[inline]
fn count_done<A: RealAllocator + ?Sized>(shared: &Shared<'_, A>, n: u64) {
    if n == 0 {
        return;
    }
    let before = shared.done.fetch_add(n, Ordering::Relaxed);
    let every = shared.sample_every;
    if (before + n) / every > before / every {
        let own = shared.alloc.resident();
        let mut sampler = shared.sampler.lock().unwrap_or_else(|e| e.into_inner());
        sampler.take(before + n - 1, own);
    }
}

/// Make one call of `event` on its block; its outcome: the usable size it gave (0 for a free
/// or a write), [`FAILED`] when it returned null, and [`ABSENT`] when the block had no pointer
/// as the event began (its allocation failed, or had not happened yet, which the orders the
/// replay enforces rule out: [`account`] checks).
#[inline(always)]
unsafe fn apply<A: RealAllocator + ?Sized, const TIMED: bool, const TOUCH: bool>(
    alloc: &A,
    block: &mut Block,
    event: &Event,
    timers: &mut Option<Timers>,
    knows_usable: bool,
) -> u64 {
    let absent = if block.ptr.is_null() { ABSENT } else { 0 };
    apply_call::<A, TIMED, TOUCH>(alloc, block, event, timers, knows_usable) | absent
}

/// [`apply`] without the `ABSENT` flag.
#[inline(always)]
unsafe fn apply_call<A: RealAllocator + ?Sized, const TIMED: bool, const TOUCH: bool>(
    alloc: &A,
    block: &mut Block,
    event: &Event,
    timers: &mut Option<Timers>,
    knows_usable: bool,
) -> u64 {
    let size = event.size as usize;
    let usable_of = |ptr: *mut c_void, requested: Bytes| -> Bytes {
        if knows_usable {
            alloc.usable_size(ptr).map_or(requested, |u| u as Bytes) & USABLE
        } else {
            requested
        }
    };
    let placed = |block: &mut Block, ptr: *mut c_void| -> u64 {
        if ptr.is_null() {
            block.ptr = std::ptr::null_mut();
            return FAILED;
        }
        if TOUCH {
            touch(ptr.cast(), 0, size);
        }
        let usable = usable_of(ptr, event.size);
        *block = Block { ptr, requested: event.size, usable };
        usable
    };
    match event.op {
        Op::Malloc | Op::Calloc | Op::Memalign => {
            let ptr = timed::<TIMED, _>(timers, Kind::Malloc, || match event.op {
                Op::Malloc => alloc.malloc(size),
                Op::Calloc => alloc.calloc(size),
                _ => alloc.memalign(event.align() as usize, size),
            });
            placed(block, ptr)
        }
        Op::Free => {
            if !block.ptr.is_null() {
                let ptr = block.ptr;
                timed::<TIMED, _>(timers, Kind::Free, || alloc.free(ptr));
                block.ptr = std::ptr::null_mut();
            }
            0
        }
        Op::Realloc => {
            if block.ptr.is_null() {
                let ptr = timed::<TIMED, _>(timers, Kind::Realloc, || alloc.malloc(size));
                return placed(block, ptr);
            }
            let old = block.ptr;
            let ptr = timed::<TIMED, _>(timers, Kind::Realloc, || alloc.realloc(old, size.max(1)));
            if ptr.is_null() {
                return FAILED;
            }
            if TOUCH && event.size > block.requested {
                touch(ptr.cast(), block.requested as usize, size);
            }
            let usable = usable_of(ptr, event.size);
            *block = Block { ptr, requested: event.size, usable };
            usable
        }
        Op::Write => {
            if !block.ptr.is_null() && !event.is_stale_write() {
                let start = event.write_offset().min(block.requested);
                let end = (event.write_offset() + event.write_len()).min(block.requested);
                if end > start {
                    let at = block.ptr.cast::<u8>().add(start as usize);
                    std::ptr::write_bytes(at, WRITE_BYTE, (end - start) as usize);
                }
            }
            0
        }
    }
}

/// The exact figures, in file order, from each call's outcome.
#[derive(Debug, Default, PartialEq, Eq)]
struct Figures {
    max_live: Bytes,
    peak_event: u64,
    consumed_at_peak: Bytes,
    blocks_at_peak: u64,
    failed: u64,
    ignored_frees: u64,
    writes: u64,
    /// Events that found their block in another state than the file's order gives it (an
    /// allocation finding it live, a free finding it absent while the file says it is live, or
    /// the reverse): 0 unless the replay's orders are wrong.
    out_of_order: u64,
}

/// Walk the file's events with the outcomes the threads stored, keeping the figures as the
/// serial replay does after every event, and fill in the samples' live bytes (`series` sorted by
/// event).
fn account(
    events: &[Event],
    outcomes: &[u64],
    blocks: u32,
    knows_usable: bool,
    series: &mut [MemorySample],
) -> Figures {
    // Per block: (requested, usable) while live.
    let mut live: Vec<Option<(Bytes, Bytes)>> = vec![None; blocks as usize];
    let (mut requested, mut consumed, mut blocks_live) = (0u64, 0u64, 0u64);
    let mut f = Figures::default();
    let mut samples = series.iter_mut().peekable();
    for (i, (event, &outcome)) in events.iter().zip(outcomes).enumerate() {
        let Some(slot) = live.get_mut(event.id as usize) else { continue };
        let usable = if knows_usable { outcome & USABLE } else { event.size };
        let failed = outcome & FAILED != 0;
        let found_absent = outcome & ABSENT != 0;
        let expected_absent = event.op.allocates() || slot.is_none();
        if found_absent != expected_absent {
            f.out_of_order += 1;
        }
        match event.op {
            Op::Malloc | Op::Calloc | Op::Memalign => {
                if failed {
                    f.failed += 1;
                    *slot = None;
                } else {
                    *slot = Some((event.size, usable));
                    requested += event.size;
                    consumed += usable;
                    blocks_live += 1;
                }
            }
            Op::Free => match slot.take() {
                Some((r, u)) => {
                    requested -= r;
                    consumed -= u;
                    blocks_live -= 1;
                }
                None => f.ignored_frees += 1,
            },
            Op::Realloc => match (*slot, failed) {
                (_, true) => f.failed += 1,
                (Some((r, u)), _) => {
                    requested = requested - r + event.size;
                    consumed = consumed - u + usable;
                    *slot = Some((event.size, usable));
                }
                (None, _) => {
                    *slot = Some((event.size, usable));
                    requested += event.size;
                    consumed += usable;
                    blocks_live += 1;
                }
            },
            Op::Write => {
                if slot.is_some() && !event.is_stale_write() {
                    f.writes += 1;
                }
            }
        }
        if requested > f.max_live || i == 0 {
            f.max_live = requested;
            f.peak_event = i as u64;
            f.consumed_at_peak = consumed;
            f.blocks_at_peak = blocks_live;
        }
        while let Some(sample) = samples.next_if(|s| s.event <= i as u64) {
            sample.live_requested = requested;
            sample.live_consumed = consumed;
        }
    }
    f
}

/// The latency of every thread's calls together.
fn merge_latency(all: impl Iterator<Item = Timers>) -> Option<LatencyNs> {
    let mut merged: Option<Timers> = None;
    for t in all {
        match &mut merged {
            None => merged = Some(t),
            Some(m) => {
                // Same bounds everywhere: adding cannot fail.
                let _ = m.malloc.add(&t.malloc);
                let _ = m.free.add(&t.free);
                let _ = m.realloc.add(&t.realloc);
            }
        }
    }
    merged.map(|t| LatencyNs {
        malloc: t.percentiles(&t.malloc),
        free: t.percentiles(&t.free),
        realloc: t.percentiles(&t.realloc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thread 0 allocates blocks 0 and 1; thread 1 starts, reallocs block 0 and frees block 1;
    /// thread 0 frees block 0.
    fn two_threads() -> (Vec<Event>, Vec<u32>) {
        let events = vec![
            Event::malloc(0, 10),
            Event::malloc(1, 20),
            Event::realloc(0, 30),
            Event::free(1),
            Event::free(0),
        ];
        (events, vec![0, 0, 1, 1, 0])
    }

    #[test]
    fn the_plan_orders_only_the_events_whose_block_crosses_threads_and_starts_each_thread_once() {
        let (events, threads) = two_threads();
        // SAFETY: a valid trace.
        let plan = unsafe { plan(&events, &threads, 2, 2) }.unwrap();
        assert_eq!(plan.starts, [0, 3, 5]);
        assert_eq!((plan.cross_thread_orders, plan.first), (3, 0));
        let steps: Vec<(u64, u32, u32, u32)> =
            plan.steps.as_slice().iter().map(|s| (s.index, s.wait, s.publish, s.start)).collect();
        assert_eq!(
            steps,
            [
                // Thread 0: malloc 0 (publishes rank 1 for the realloc), malloc 1 (publishes 1
                // for the free, and starts thread 1, whose first event is next), free 0 (waits
                // for rank 2, the realloc's).
                (0, NONE, 1, NONE),
                (1, NONE, 1, 1),
                (4, 2, NONE, NONE),
                // Thread 1: realloc 0 (waits for 1, publishes 2), free 1 (waits for 1).
                (2, 1, 2, NONE),
                (3, 1, NONE, NONE),
            ]
        );
    }

    #[test]
    fn an_event_whose_block_was_last_used_on_its_own_thread_waits_for_nothing() {
        let events = [Event::malloc(0, 8), Event::malloc(1, 8), Event::free(0), Event::free(1)];
        // SAFETY: a valid trace.
        let plan = unsafe { plan(&events, &[0, 1, 0, 1], 2, 2) }.unwrap();
        assert_eq!(plan.cross_thread_orders, 0);
        assert!(plan.steps.as_slice().iter().all(|s| s.wait == NONE && s.publish == NONE));
        // Thread 1 starts after event 0; thread 0 is started by the replay itself.
        let starts: Vec<u32> = plan.steps.as_slice().iter().map(|s| s.start).collect();
        assert_eq!(starts, [1, NONE, NONE, NONE]);
    }

    #[test]
    fn the_figures_are_computed_in_file_order_from_the_outcomes() {
        let (events, _) = two_threads();
        // Usable sizes 16, 24, then 40 for the realloc; the frees give 0. Every block is
        // present when the file says it is.
        let outcomes = [16 | ABSENT, 24 | ABSENT, 40, 0, 0];
        let mut series = vec![
            MemorySample { event: 1, ..MemorySample::default() },
            MemorySample { event: 4, ..MemorySample::default() },
        ];
        let f = account(&events, &outcomes, 2, true, &mut series);
        // Live requested after each event: 10, 30, 50, 30, 0: the peak is event 2, with 40 + 24
        // usable bytes and two blocks.
        assert_eq!(
            f,
            Figures {
                max_live: 50,
                peak_event: 2,
                consumed_at_peak: 64,
                blocks_at_peak: 2,
                failed: 0,
                ignored_frees: 0,
                writes: 0,
                out_of_order: 0,
            }
        );
        let live: Vec<(u64, u64)> =
            series.iter().map(|s| (s.live_requested, s.live_consumed)).collect();
        assert_eq!(live, [(30, 40), (0, 0)]);
    }

    #[test]
    fn failures_are_counted_and_an_event_that_found_its_block_in_the_wrong_state_is_out_of_order() {
        let (events, _) = two_threads();
        // Block 1's allocation failed (its free finds it absent, as the file says), and the
        // realloc of block 0 found it absent although the file says it is live.
        let outcomes = [16 | ABSENT, FAILED | ABSENT, 40 | ABSENT, ABSENT, 0];
        let f = account(&events, &outcomes, 2, true, &mut []);
        assert_eq!((f.failed, f.ignored_frees, f.out_of_order), (1, 1, 1));
        assert_eq!((f.max_live, f.peak_event, f.consumed_at_peak), (30, 2, 40));
        // Without usable sizes, consumed is requested.
        let f = account(&events, &outcomes, 2, false, &mut []);
        assert_eq!(f.consumed_at_peak, 30);
    }

    #[test]
    fn the_threaded_replay_asks_usable_sizes_only_when_wanted() {
        use super::super::measure::tests::{three_blocks_given, Counting};
        let events = three_blocks_given();
        // Block 0 on thread 0, block 1 on thread 1.
        let threads = [0, 1, 0, 1];
        for usable_sizes in [true, false] {
            let alloc = Counting::default();
            let options = Options { usable_sizes, ..Options::default() };
            // SAFETY: a valid trace.
            let m = unsafe { replay(&alloc, &events, &threads, 2, 2, &options) }.unwrap();
            let asked = alloc.asked.load(Ordering::Relaxed);
            assert_eq!(
                (asked, m.usable_sizes_known),
                if usable_sizes { (3, true) } else { (0, false) }
            );
            assert_eq!(m.max_live_bytes, 5300);
            assert_eq!(m.live_consumed_at_peak > 5300, usable_sizes);
        }
    }

    #[test]
    fn a_waiting_thread_wakes_when_the_count_it_waits_for_is_published() {
        let cell = AtomicU32::new(0);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| wait_for(&cell, 3));
            // Counts the waiter does not wait for leave it waiting; 3 releases it.
            publish(&cell, 2);
            publish(&cell, 3);
            waiter.join().unwrap();
        });
        assert_eq!(cell.load(Ordering::Relaxed), 3);
        // A count already there: no wait.
        assert!(!wait_for(&cell, 3));
    }
}
