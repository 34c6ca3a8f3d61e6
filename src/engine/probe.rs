//! What a probe sees of a replay: the [`Probe`] trait and what the event loop hands its hooks
//! (the kind of call, the [`Outcome`] of an event, the running totals of the [`HeapState`]).
//!
//! A probe is a type parameter of the loop, chosen at compile time: every hook is
//! `#[inline(always)]` and defaults to nothing, so a pass pays only for the hooks its probe
//! fills in ([`NoProbe`], the throughput pass, pays nothing). Two probes watch one replay as a
//! pair, `(A, B)`; a probe that may be off is an `Option`.
//!
//! This file knows no probe but [`NoProbe`]: each probe lives in its own file and imports this
//! one.

use crate::alloc::{Allocation, Bytes, Strategy};
use crate::trace::Event;

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

/// Something that watches a replay. Every hook defaults to doing nothing.
pub trait Probe {
    /// Whether the probe reads the live totals of the [`HeapState`] its
    /// [`Probe::after_event`] is handed (`live_requested`, `live_consumed`, `live_blocks`). By
    /// default it does; a probe that does not (the timed passes) says so, and the loop it is
    /// compiled into does not keep those totals at all (they stay 0), so that what such a pass
    /// times is the strategy's calls, not the engine's bookkeeping. `failed_allocations` and
    /// `ignored_frees` are kept for every probe.
    const READS_LIVE_TOTALS: bool = true;

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
impl Probe for NoProbe {
    const READS_LIVE_TOTALS: bool = false;
}

/// Two probes watching the same replay (the metrics pass with `--verify`).
impl<A: Probe, B: Probe> Probe for (A, B) {
    const READS_LIVE_TOTALS: bool = A::READS_LIVE_TOTALS || B::READS_LIVE_TOTALS;

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
    const READS_LIVE_TOTALS: bool = P::READS_LIVE_TOTALS;

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
