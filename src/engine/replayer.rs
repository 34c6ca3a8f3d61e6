//! The event loop: a [`Replayer`] owns one strategy's heap and the engine's table of live blocks
//! (by [`BlockId`]), and applies events one at a time, in order, telling a [`Probe`] what each
//! did. It never looks back or ahead, so events can come from a `Vec` or a stream
//! ([`EventSource`]). It knows no probe: the caller passes one in, and the loop is compiled for
//! it.
//!
//! The loop is also compiled for the strategy when the caller knows its type: a
//! `Replayer<S>` holds a `Box<S>`, and for a concrete `S` the strategy's calls are direct and
//! inlined into the loop. [`Setup::replay_typed`] finds the concrete type of a fresh heap and runs
//! a pass on a loop made for it (the throughput and latency passes, whose loops should cost as
//! little as the strategy allows); every other pass uses `Replayer<dyn Strategy>`, one loop for
//! all. Both run the
//! same code, [`Replayer::run`], so they apply events identically.

use super::probe::{HeapState, OpClass, Outcome, Probe};
use super::source::EventSource;
use crate::alloc::boundary_tag::BoundaryTag;
use crate::alloc::buddy::Buddy;
use crate::alloc::bump::Bump;
use crate::alloc::freelist::FreeList;
use crate::alloc::slab::SlabAllocator;
use crate::alloc::slowdown::{self, Slowdown};
use crate::alloc::tlsf::Tlsf;
use crate::alloc::{Addr, Allocation, Bytes, Corruption, Params, Request, Strategy, StrategyEntry};
use crate::trace::{BlockId, Event, Op, TraceError};
use std::any::Any;

/// How many events ahead [`Replayer::run`] prefetches the engine's table entry.
const PREFETCH_DISTANCE: usize = 8;

/// How a pass builds the heap it replays: the strategy, its parameters and, for tests, how the
/// hidden `--test-slowdown` slows it (see [`crate::alloc::slowdown`]).
#[derive(Clone, Copy)]
pub struct Setup<'a> {
    pub entry: &'a StrategyEntry,
    pub params: &'a Params,
    /// `None` (always, but in tests of the gate): the strategy as it is.
    pub slowdown: Option<Slowdown>,
}

impl<'a> Setup<'a> {
    /// `entry`'s strategy with `params`, not slowed.
    pub fn new(entry: &'a StrategyEntry, params: &'a Params) -> Setup<'a> {
        Setup { entry, params, slowdown: None }
    }

    /// A replayer of a fresh heap; `blocks` (the trace's id count) sizes the table.
    pub fn replayer(&self, blocks: u32) -> Replayer {
        let strategy = slowdown::new_strategy(self.entry, self.params, self.slowdown);
        Replayer::with_strategy(strategy, blocks)
    }

    /// `pass` run on a replayer of a fresh heap whose loop is compiled for the strategy's own
    /// type, when it is one of the crate's strategies (a slowed heap, `--test-slowdown`, is not:
    /// it gets the loop for `dyn Strategy`). `blocks` sizes the table.
    pub fn replay_typed<R>(&self, blocks: u32, pass: impl TypedPass<R>) -> R {
        let strategy = slowdown::new_strategy(self.entry, self.params, self.slowdown);
        let any: &dyn Any = strategy.as_ref();
        macro_rules! typed {
            ($($t:ty),*) => {
                $(if any.is::<$t>() {
                    let strategy: Box<dyn Any> = strategy;
                    if let Ok(heap) = strategy.downcast::<$t>() {
                        return pass.run(Replayer::with_strategy(heap, blocks));
                    }
                    unreachable!("the heap was just found to be of this type");
                })*
            };
        }
        typed!(Bump, FreeList, BoundaryTag, SlabAllocator, Buddy, Tlsf);
        pass.run(Replayer::with_strategy(strategy, blocks))
    }
}

/// A pass [`Setup::replay_typed`] runs on a replayer of whatever heap type it finds: a generic
/// function, which a closure cannot be.
pub trait TypedPass<R> {
    fn run<S: Heap + ?Sized>(self, replayer: Replayer<S>) -> R;
}

/// What the loop needs of the heap it is compiled for: a [`Strategy`] it can also show the
/// probes as a `dyn Strategy`. Every strategy type has it, and so has `dyn Strategy` itself.
pub trait Heap: Strategy {
    fn as_dyn(&self) -> &dyn Strategy;
}

impl<T: Strategy> Heap for T {
    #[inline(always)]
    fn as_dyn(&self) -> &dyn Strategy {
        self
    }
}

impl Heap for dyn Strategy {
    #[inline(always)]
    fn as_dyn(&self) -> &dyn Strategy {
        self
    }
}

/// What the engine knows about one block id: the [`Allocation`] the strategy placed, packed
/// into 32 bytes (half a cache line, so a free's random access into the table reads one line).
/// The payload is kept as its distance from the block's start, which is the alignment padding
/// and fits 32 bits unless a memalign asked for 4 GiB alignment or more; such a payload is
/// [`Slot::FAR`] here and kept in [`Replayer::far_payloads`] instead.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    start: Addr,
    /// The block's size; 0 when the id is not live.
    size: Bytes,
    /// Requested bytes while live; [`Slot::FAILED`] when its allocation failed.
    requested: Bytes,
    /// `payload - start`, or [`Slot::FAR`].
    payload_offset: u32,
    /// [`Allocation::handle`].
    handle: u32,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 32);

impl Slot {
    /// Marks an id whose allocation failed at the heap limit, so that its free is ignored.
    const FAILED: Bytes = Bytes::MAX;
    /// `payload_offset` of a block whose payload is 4 GiB or more past its start.
    const FAR: u32 = u32::MAX;

    fn is_live(&self) -> bool {
        self.size != 0
    }

    /// The block, its payload `far` when it is [`Slot::FAR`].
    #[inline(always)]
    fn block(&self, far: impl FnOnce() -> Addr) -> Allocation {
        let payload = match self.payload_offset {
            Slot::FAR => far(),
            offset => self.start + Bytes::from(offset),
        };
        Allocation { start: self.start, size: self.size, payload, handle: self.handle }
    }
}

/// One strategy's heap plus the engine's table of live blocks; `S` is the heap's type, or by
/// default any strategy (`dyn Strategy`).
pub struct Replayer<S: Heap + ?Sized = dyn Strategy> {
    strategy: Box<S>,
    slots: Vec<Slot>,
    /// The payloads of the live blocks whose payload is [`Slot::FAR`] from their start, by id.
    far_payloads: std::collections::HashMap<BlockId, Addr>,
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
        Setup::new(entry, params).replayer(blocks)
    }
}

impl<S: Heap + ?Sized> Replayer<S> {
    /// A replayer of `strategy`, a fresh heap; `blocks` sizes the table.
    pub fn with_strategy(strategy: Box<S>, blocks: u32) -> Replayer<S> {
        Replayer {
            strategy,
            slots: vec![Slot::default(); blocks as usize],
            far_payloads: std::collections::HashMap::new(),
            heap: HeapState::default(),
            overruns: Vec::new(),
            written: false,
            stopped: None,
        }
    }

    pub fn strategy(&self) -> &dyn Strategy {
        self.strategy.as_dyn()
    }

    /// Every live block with its requested size, in block-id order. O(ids in the table).
    pub fn live_blocks(&self) -> impl Iterator<Item = (Allocation, Bytes)> + '_ {
        let live = self.slots.iter().enumerate().filter(|(_, s)| s.is_live());
        live.map(|(id, s)| (self.block_of(id as BlockId, s), s.requested))
    }

    /// The block of the live `slot` of `id`.
    #[inline(always)]
    fn block_of(&self, id: BlockId, slot: &Slot) -> Allocation {
        slot.block(|| self.far_payloads[&id])
    }

    /// Record `block`, placed for `requested` bytes, as the block of `id`, whose slot was
    /// `old`.
    #[inline(always)]
    fn set_live(&mut self, id: BlockId, old: &Slot, block: Allocation, requested: Bytes) {
        let offset = block.payload - block.start;
        let payload_offset = match u32::try_from(offset) {
            Ok(offset) if offset != Slot::FAR => {
                // A realloc in place may bring a far payload near (never in practice).
                if old.payload_offset == Slot::FAR {
                    self.far_payloads.remove(&id);
                }
                offset
            }
            _ => {
                self.far_payloads.insert(id, block.payload);
                Slot::FAR
            }
        };
        let (start, size, handle) = (block.start, block.size, block.handle);
        self.put(id, Slot { start, size, requested, payload_offset, handle });
    }

    /// Mark `id`, whose slot was `old`, not live, or with `requested` [`Slot::FAILED`] a
    /// failed allocation.
    #[inline(always)]
    fn clear(&mut self, id: BlockId, old: &Slot, requested: Bytes) {
        if old.payload_offset == Slot::FAR {
            self.far_payloads.remove(&id);
        }
        self.put(id, Slot { requested, ..Slot::default() });
    }

    /// The slot of `id`: of an id past the table, the empty slot it would have (not live).
    /// One bounds check, the one `get` makes.
    #[inline(always)]
    fn slot(&self, id: BlockId) -> Slot {
        self.slots.get(id as usize).copied().unwrap_or_default()
    }

    /// Make `slot` the slot of `id`, with one bounds check.
    ///
    /// Field by field: `*kept = slot` copied the slot, just built on the stack by 8- and 4-byte
    /// stores, with two 16-byte loads, which the store buffer cannot forward from those stores
    /// (each waits for them to reach the cache): `perf annotate` put 13-26% of the timed loop of
    /// tlsf, buddy and boundary-tag on that copy.
    #[inline(always)]
    fn put(&mut self, id: BlockId, slot: Slot) {
        match self.slots.get_mut(id as usize) {
            Some(kept) => {
                let Slot { start, size, requested, payload_offset, handle } = slot;
                kept.start = start;
                kept.size = size;
                kept.requested = requested;
                kept.payload_offset = payload_offset;
                kept.handle = handle;
            }
            None => self.grow_slots(id as usize, slot),
        }
    }

    /// Make the table hold id `i`, with `slot` as its slot: only for ids past the count the
    /// table was sized by (a test's hand-made events; a parsed trace's ids are all below it).
    #[cold]
    #[inline(never)]
    fn grow_slots(&mut self, i: usize, slot: Slot) {
        self.slots.resize(i + 1, Slot::default());
        self.slots[i] = slot;
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
    #[inline(always)]
    fn apply<P: Probe>(&mut self, index: u64, event: &Event, probe: &mut P) -> Outcome {
        match event.op {
            Op::Malloc | Op::Calloc | Op::Memalign => {
                let req = Request { size: event.size, align: event.align() };
                probe.before_call(OpClass::Malloc);
                let placed = self.strategy.allocate(req);
                probe.after_call(OpClass::Malloc);
                self.place::<P>(event.id, req, placed)
            }
            Op::Free => {
                let slot = self.slot(event.id);
                if !slot.is_live() {
                    self.heap.ignored_frees += 1;
                    return Outcome::IgnoredFree;
                }
                let block = self.block_of(event.id, &slot);
                probe.before_call(OpClass::Free);
                self.strategy.free(block);
                probe.after_call(OpClass::Free);
                self.leave::<P>(&slot);
                self.clear(event.id, &slot, 0);
                Outcome::Freed(block)
            }
            Op::Realloc => {
                let slot = self.slot(event.id);
                let req = Request::new(event.size);
                if !slot.is_live() {
                    // The block's allocation failed at the heap limit: the program would have
                    // passed NULL, and realloc(NULL, n) is malloc(n).
                    probe.before_call(OpClass::Realloc);
                    let placed = self.strategy.allocate(req);
                    probe.after_call(OpClass::Realloc);
                    return self.place::<P>(event.id, req, placed);
                }
                let old = self.block_of(event.id, &slot);
                probe.before_call(OpClass::Realloc);
                let moved = self.strategy.reallocate(old, req);
                probe.after_call(OpClass::Realloc);
                let Some(block) = moved else {
                    // C's realloc: the old block stays as it was.
                    self.heap.failed_allocations += 1;
                    return Outcome::Failed;
                };
                // The new block enters before the old one leaves, so no total dips below 0.
                self.enter::<P>(req.size, block.size);
                self.leave::<P>(&slot);
                self.set_live(event.id, &slot, block, req.size);
                Outcome::Placed { old: Some(old), new: block, requested: req.size }
            }
            Op::Write => {
                let slot = self.slot(event.id);
                if event.is_stale_write() || !slot.is_live() {
                    return Outcome::StrayWrite;
                }
                let block = self.block_of(event.id, &slot);
                let (offset, len) = (event.write_offset(), event.write_len());
                if offset + len > slot.requested {
                    let start = block.payload + offset.max(slot.requested);
                    self.overruns.push((index, start, block.payload + offset + len));
                }
                self.strategy.write(block, offset, len);
                self.written = true;
                Outcome::Wrote { block, requested: slot.requested, offset, len }
            }
        }
    }

    /// Count a block of `size` bytes placed for `requested` into the live totals, when the
    /// probe reads them ([`Probe::READS_LIVE_TOTALS`]).
    #[inline(always)]
    fn enter<P: Probe>(&mut self, requested: Bytes, size: Bytes) {
        if P::READS_LIVE_TOTALS {
            self.heap.live_requested += requested;
            self.heap.live_consumed += size;
            self.heap.live_blocks += 1;
        }
    }

    /// Take the live block of `slot` out of the live totals, when the probe reads them.
    #[inline(always)]
    fn leave<P: Probe>(&mut self, slot: &Slot) {
        if P::READS_LIVE_TOTALS {
            self.heap.live_requested -= slot.requested;
            self.heap.live_consumed -= slot.size;
            self.heap.live_blocks -= 1;
        }
    }

    #[inline(always)]
    fn place<P: Probe>(
        &mut self,
        id: BlockId,
        req: Request,
        placed: Option<Allocation>,
    ) -> Outcome {
        match placed {
            Some(block) => {
                self.enter::<P>(req.size, block.size);
                // A new id's slot, or one whose allocation failed: never far.
                self.set_live(id, &Slot::default(), block, req.size);
                Outcome::Placed { old: None, new: block, requested: req.size }
            }
            None => {
                self.heap.failed_allocations += 1;
                self.clear(id, &Slot::default(), Slot::FAILED);
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
        // No bounds check: an id past the table (only a test's hand-made events have one) makes
        // an address past it, which a prefetch may name, and `wrapping_add` may compute.
        #[cfg(target_arch = "x86_64")]
        {
            let slot = self.slots.as_ptr().wrapping_add(id as usize);
            // SAFETY: prefetching is only a hint and never faults, even for a bad address, and
            // reads nothing the program sees. SSE is part of the x86_64 baseline.
            #[allow(unused_unsafe)]
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(slot.cast::<i8>());
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
            probe.after_event(index, event, outcome, &self.heap, self.strategy.as_dyn());
        }
        events.len() as u64
    }

    /// Replay every chunk of `source`, calling `advance(events)` after each chunk; stops early
    /// when the strategy finds its metadata damaged.
    pub fn replay<P: Probe>(
        &mut self,
        source: &dyn EventSource,
        probe: &mut P,
        advance: &dyn Fn(u64),
    ) -> Result<(), TraceError> {
        self.replay_pausing(source, probe, advance, None, &mut |_| {})
    }

    /// [`Replayer::replay`], calling `at_pause(self)` right after event `pause` (when the trace
    /// has it and the replay has not stopped before): how the metrics pass reads the heap at a
    /// given event without replaying anything twice.
    pub fn replay_pausing<P: Probe>(
        &mut self,
        source: &dyn EventSource,
        probe: &mut P,
        advance: &dyn Fn(u64),
        pause: Option<u64>,
        at_pause: &mut dyn FnMut(&Replayer<S>),
    ) -> Result<(), TraceError> {
        source.for_each_chunk(&mut |chunk, first| {
            let end = first + chunk.len() as u64;
            match pause {
                Some(at) if (first..end).contains(&at) => {
                    let split = (at - first + 1) as usize;
                    self.run(&chunk[..split], first, probe);
                    if self.stopped().is_none() {
                        at_pause(self);
                    }
                    self.run(&chunk[split..], at + 1, probe);
                }
                _ => {
                    self.run(chunk, first, probe);
                }
            }
            advance(chunk.len() as u64);
            self.stopped().is_none()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::bump;
    use crate::engine::probe::NoProbe;

    /// A probe that watches nothing but, unlike [`NoProbe`], has the loop keep the live totals.
    struct Totals;
    impl Probe for Totals {}

    #[test]
    fn a_failed_realloc_keeps_the_old_block_live() {
        let params = Params { heap_limit: Some(64), ..Params::default() };
        let mut r = Replayer::new(&bump::ENTRY, &params, 1);
        r.apply(0, &Event::malloc(0, 16), &mut Totals);
        assert_eq!(r.apply(1, &Event::realloc(0, 100), &mut Totals), Outcome::Failed);
        assert_eq!(r.heap.failed_allocations, 1);
        assert_eq!(r.heap.live_requested, 16);
        let freed = r.apply(2, &Event::free(0), &mut Totals);
        assert_eq!(freed, Outcome::Freed(Allocation::at(0, 16)), "the old block was still live");
    }

    #[test]
    fn the_live_totals_are_kept_only_for_a_probe_that_reads_them_and_nothing_else_differs() {
        let limited = Params { heap_limit: Some(64 << 10), ..Params::default() };
        for entry in crate::alloc::ALL {
            for params in [Params::default(), limited] {
                let mut kept = Replayer::new(entry, &params, 96);
                let mut not_kept = Replayer::new(entry, &params, 96);
                kept.run(&mixed_events(), 0, &mut Totals);
                not_kept.run(&mixed_events(), 0, &mut NoProbe);
                let live: Vec<_> = kept.live_blocks().collect();
                // The totals are the sums over the live blocks, as the metrics pass reads them.
                let requested = live.iter().map(|(_, r)| r).sum::<Bytes>();
                let consumed = live.iter().map(|(b, _)| b.size).sum::<Bytes>();
                let totals = (kept.heap.live_requested, kept.heap.live_consumed);
                assert_eq!(totals, (requested, consumed), "{}", entry.name);
                assert_eq!(kept.heap.live_blocks, live.len() as u64, "{}", entry.name);
                assert_eq!(
                    not_kept.heap,
                    HeapState { live_requested: 0, live_consumed: 0, live_blocks: 0, ..kept.heap }
                );
                assert_eq!(not_kept.live_blocks().collect::<Vec<_>>(), live, "{}", entry.name);
                let state = |r: &Replayer| (r.strategy().work(), r.strategy().top());
                assert_eq!(state(&not_kept), state(&kept), "{}", entry.name);
            }
        }
    }

    #[test]
    fn an_id_past_the_table_is_not_live_until_placed_and_then_kept() {
        let mut r = Replayer::new(&bump::ENTRY, &Params::default(), 1);
        assert_eq!(r.apply(0, &Event::free(5), &mut Totals), Outcome::IgnoredFree);
        assert_eq!(r.slots.len(), 1, "a read past the table does not grow it");
        r.apply(1, &Event::malloc(5, 16), &mut Totals);
        assert_eq!(r.slots.len(), 6);
        assert_eq!(r.apply(2, &Event::free(5), &mut Totals), Outcome::Freed(Allocation::at(0, 16)));
    }

    /// What a pass saw at its end: whether its loop was compiled for a concrete heap type, and
    /// every figure the heap and the table give.
    struct Ending;

    type Seen = (bool, u64, Bytes, Bytes, Bytes, u64, Vec<(Allocation, Bytes)>);

    impl TypedPass<Seen> for Ending {
        fn run<S: Heap + ?Sized>(self, mut replayer: Replayer<S>) -> Seen {
            let typed = std::mem::size_of::<&S>() == std::mem::size_of::<usize>();
            replayer.run(&mixed_events(), 0, &mut NoProbe);
            let heap = replayer.strategy();
            let state = (heap.work(), heap.top(), heap.free_bytes(), heap.largest_satisfiable());
            let live = replayer.live_blocks().collect();
            (typed, state.0, state.1, state.2, state.3, replayer.heap.failed_allocations, live)
        }
    }

    /// Mallocs, memaligns, reallocs that grow, shrink and move, frees in another order.
    fn mixed_events() -> Vec<Event> {
        let mut events = Vec::new();
        for id in 0..64u32 {
            let size = [24, 100, 3000, 17, 600, 70_000][id as usize % 6];
            events.push(if id % 9 == 4 {
                Event { size, id, op: Op::Memalign, align_log2: 6 + (id % 3) as u8 }
            } else {
                Event::malloc(id, size)
            });
        }
        for id in (0..64u32).step_by(3) {
            events.push(Event::realloc(id, u64::from(id) * 37 + 5));
        }
        for id in (0..64u32).filter(|id| id % 2 == 0) {
            events.push(Event::free(id));
        }
        for id in 64..96u32 {
            events.push(Event::malloc(id, u64::from(id % 7) * 48 + 1));
        }
        events
    }

    #[test]
    fn every_strategy_gets_a_loop_of_its_own_type_that_replays_as_the_shared_one_does() {
        let limited = Params { heap_limit: Some(64 << 10), ..Params::default() };
        for entry in crate::alloc::ALL {
            for params in [Params::default(), limited] {
                let setup = Setup::new(entry, &params);
                let typed = setup.replay_typed(96, Ending);
                let shared = Ending.run(setup.replayer(96));
                assert!(typed.0, "{}: no loop of its own type", entry.name);
                assert!(!shared.0);
                let (_, work, top, free, largest, failed, live) = typed;
                assert_eq!(
                    (work, top, free, largest, failed, live),
                    (shared.1, shared.2, shared.3, shared.4, shared.5, shared.6),
                    "{}",
                    entry.name
                );
            }
        }
        // A slowed heap is none of the crate's types: it gets the shared loop.
        let params = Params::default();
        let slowed =
            Setup { slowdown: Some(Slowdown::Repeat(2)), ..Setup::new(&bump::ENTRY, &params) };
        assert!(!slowed.replay_typed(96, Ending).0);
    }

    #[test]
    fn a_payload_4_gib_or_more_past_its_block_start_is_kept_whole() {
        let mut r = Replayer::new(&bump::ENTRY, &Params::default(), 2);
        r.apply(0, &Event::malloc(0, 16), &mut NoProbe);
        // Aligned to 8 GiB, bump's block starts at 16 and pads to its payload at 2^33.
        let far = Event { size: 64, id: 1, op: Op::Memalign, align_log2: 33 };
        let Outcome::Placed { new, .. } = r.apply(1, &far, &mut NoProbe) else { panic!() };
        assert_eq!((new.start, new.payload), (16, 1 << 33));
        assert_eq!(r.live_blocks().nth(1), Some((new, 64)));
        assert_eq!(r.apply(2, &Event::free(1), &mut NoProbe), Outcome::Freed(new));
        assert!(r.far_payloads.is_empty(), "the far payload went with its block");
        assert_eq!(r.live_blocks().count(), 1);
    }
}
