//! The free-list policies done the obvious way, and the proof that [`FreeList`] agrees with it.
//!
//! [`Reference`] keeps the free blocks in a `Vec` sorted by address and scans it for every
//! decision, following the rules in the module docs of [`super`] line by line. It is O(n) per
//! operation and exists only for tests. The property tests replay random traces through both
//! and demand the same `Allocation` or `None`, the same `top()` and the same
//! `largest_satisfiable()` after every event, and check the heap invariants as they go.

use proptest::prelude::*;

use super::lanes::Lanes;
use super::{FreeList, Policy, BEST_FIT, FIRST_FIT, NEXT_FIT, WORST_FIT};
use crate::alloc::model::random::{self, Op};
use crate::alloc::model::{
    limits, Addr, Allocation, Bytes, Params, Request, Strategy as HeapStrategy, ADDRESS_LIMIT,
    ALIGN,
};
use crate::trace::{Event, Format, Op as TraceOp};

/// A linear-scan implementation of the free-list policies.
#[derive(Clone, Debug)]
pub struct Reference {
    policy: Policy,
    params: Params,
    top: Bytes,
    rover: Addr,
    /// `(addr, size)`, sorted by address.
    free: Vec<(Addr, Bytes)>,
}

impl Reference {
    pub fn new(policy: Policy, params: Params) -> Reference {
        Reference { policy, params, top: 0, rover: 0, free: Vec::new() }
    }

    /// Index in `free` of the block the policy picks, without growing.
    fn choose(&self, need: Bytes) -> Option<usize> {
        let fits = |i: &usize| self.free[*i].1 >= need;
        let n = self.free.len();
        match self.policy {
            Policy::FirstFit => (0..n).find(fits),
            Policy::NextFit => {
                let from = (0..n).find(|&i| self.free[i].0 + self.free[i].1 > self.rover);
                let from = from.unwrap_or(n);
                (from..n).chain(0..from).find(fits)
            }
            Policy::BestFit => {
                let mut best: Option<usize> = None;
                for i in (0..n).filter(fits) {
                    if best.is_none_or(|b| self.free[i].1 < self.free[b].1) {
                        best = Some(i);
                    }
                }
                best
            }
            Policy::WorstFit => {
                let mut worst: Option<usize> = None;
                for i in 0..n {
                    if worst.is_none_or(|w| self.free[i].1 > self.free[w].1) {
                        worst = Some(i);
                    }
                }
                worst.filter(fits)
            }
        }
    }

    fn place(&mut self, need: Bytes) -> Option<Addr> {
        if let Some(i) = self.choose(need) {
            let (addr, size) = self.free[i];
            if size == need {
                self.free.remove(i);
            } else {
                self.free[i] = (addr + need, size - need);
            }
            return Some(addr);
        }
        let extend = matches!(self.free.last(), Some(&(a, s)) if a + s == self.top);
        let start = if extend { self.free.last().unwrap().0 } else { self.top };
        let new_top = start.checked_add(need)?;
        if !self.params.may_grow_to(new_top) {
            return None;
        }
        if extend {
            self.free.pop();
        }
        self.top = new_top;
        Some(start)
    }

    fn release(&mut self, addr: Addr, size: Bytes) {
        let i = self.free.partition_point(|b| b.0 < addr);
        self.free.insert(i, (addr, size));
        if !self.params.coalesce {
            return;
        }
        if i + 1 < self.free.len() && self.free[i + 1].0 == addr + size {
            self.free[i].1 += self.free[i + 1].1;
            self.free.remove(i + 1);
        }
        if i > 0 && self.free[i - 1].0 + self.free[i - 1].1 == addr {
            self.free[i - 1].1 += self.free[i].1;
            self.free.remove(i);
        }
    }
}

impl HeapStrategy for Reference {
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        let size = self.params.block_size(req);
        let start = self.place(size)?;
        self.rover = start + size;
        Some(Allocation::aligned(start, size, req))
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        let need = self.params.need(req.size);
        let (a, s) = (old.start, old.size);
        if need <= s {
            if need < s {
                self.release(a + need, s - need);
            }
            return Some(Allocation::at(a, need));
        }
        let next = self.free.iter().position(|b| b.0 == a + s);
        if let Some(i) = next {
            let (_, len) = self.free[i];
            if s + len >= need {
                if s + len == need {
                    self.free.remove(i);
                } else {
                    self.free[i] = (a + need, s + len - need);
                }
                return Some(Allocation::at(a, need));
            }
        }
        let next_ends_at_top = next.is_some_and(|i| self.free[i].0 + self.free[i].1 == self.top);
        if a + s == self.top || next_ends_at_top {
            let new_top = a.checked_add(need)?;
            if !self.params.may_grow_to(new_top) {
                return None;
            }
            if let Some(i) = next {
                self.free.remove(i);
            }
            self.top = new_top;
            return Some(Allocation::at(a, need));
        }
        let start = self.place(need)?;
        self.release(a, s);
        self.rover = start + need;
        Some(Allocation::at(start, need))
    }

    fn free(&mut self, block: Allocation) {
        self.release(block.start, block.size);
    }

    fn top(&self) -> Bytes {
        self.top
    }

    fn free_bytes(&self) -> Bytes {
        self.free.iter().map(|b| b.1).sum()
    }

    fn largest_satisfiable(&self) -> Bytes {
        self.free.iter().map(|b| b.1).max().unwrap_or(0)
    }
}

/// Panic unless the heap is consistent with the blocks the program holds (`live`): free blocks
/// are non-empty, 16-aligned, inside `[0, top)` and overlap neither each other nor a live block;
/// with coalescing on no two free blocks are adjacent; free bytes + live bytes == `top`. O(n log
/// n).
pub fn assert_heap_invariants(heap: &FreeList, params: &Params, live: &[Allocation]) {
    heap.check();
    let free: Vec<(Addr, Bytes)> = heap.free_blocks().collect();
    let top = heap.top();
    for &(addr, size) in &free {
        assert!(size > 0, "empty free block at {addr}");
        assert_eq!(addr % ALIGN, 0, "free block at {addr} is misaligned");
        assert_eq!(size % ALIGN, 0, "free block at {addr} has a ragged size {size}");
        assert!(addr + size <= top, "free block [{addr}, {}) is above top {top}", addr + size);
    }
    if params.coalesce {
        for w in free.windows(2) {
            assert_ne!(
                w[0].0 + w[0].1,
                w[1].0,
                "free blocks at {} and {} not merged",
                w[0].0,
                w[1].0
            );
        }
    }
    let mut all: Vec<(Addr, Bytes)> = free.clone();
    all.extend(live.iter().map(|b| (b.start, b.size)));
    all.sort_unstable();
    for w in all.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "blocks at {} and {} overlap", w[0].0, w[1].0);
    }
    let free_bytes: Bytes = free.iter().map(|b| b.1).sum();
    let live_bytes: Bytes = live.iter().map(|b| b.size).sum();
    assert_eq!(free_bytes + live_bytes, top, "free {free_bytes} + live {live_bytes} != top {top}");
    assert_eq!(heap.largest_satisfiable(), free.iter().map(|b| b.1).max().unwrap_or(0));
}

/// Mostly small sizes, so freed blocks get reused, now and then a big one, and now and then
/// one near a limit (2^47, 2^63, 2^64).
fn size() -> impl Strategy<Value = Bytes> {
    limits::size(prop_oneof![8 => 0..=160u64, 1 => 161..=1200u64])
}

fn op() -> impl Strategy<Value = Op> {
    random::op(size)
}

fn params() -> impl Strategy<Value = Params> {
    let limit = prop_oneof![3 => Just(None), 1 => (256..6000u64).prop_map(Some)];
    (any::<bool>(), prop_oneof![Just(16u64), Just(64)], limit).prop_map(
        |(coalesce, min_size, heap_limit)| Params {
            min_size,
            coalesce,
            heap_limit,
            ..Params::default()
        },
    )
}

fn policy() -> impl Strategy<Value = Policy> {
    prop::sample::select(Policy::ALL.to_vec())
}

/// Replay `ops` through [`FreeList`] and [`Reference`] side by side, asserting they agree after
/// every event and that the heap invariants hold (every `check_every` events); then free every
/// live block. Returns the fast heap, now with nothing live.
fn replay_both(policy: Policy, params: Params, ops: &[Op], check_every: usize) -> FreeList {
    replay_both_through(FreeList::new(policy, params), ops, check_every)
}

/// [`replay_both`] through a given new heap (of the policy and parameters it was made with).
fn replay_both_through(mut fast: FreeList, ops: &[Op], check_every: usize) -> FreeList {
    let (policy, params) = (fast.policy, fast.params);
    let mut slow = Reference::new(policy, params);
    let mut live: Vec<Allocation> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Allocate(req) => {
                let before = slow.clone();
                let got = fast.allocate(req);
                assert_eq!(got, slow.allocate(req), "step {step}: {op:?}");
                if got.is_none() && params.heap_limit.is_none() {
                    // Without a heap limit only the ceiling fails a request: no free block
                    // fits it, and growth would end past ADDRESS_LIMIT.
                    let size = params.block_size(req);
                    assert!(before.free.iter().all(|b| b.1 < size), "step {step}: {op:?}");
                    let start = match before.free.last() {
                        Some(&(addr, len)) if addr + len == before.top => addr,
                        _ => before.top,
                    };
                    assert!(start + size > ADDRESS_LIMIT, "step {step}: {op:?} fits");
                }
                live.extend(got);
            }
            Op::Free(i) if !live.is_empty() => {
                let block = live.swap_remove(i % live.len());
                fast.free(block);
                slow.free(block);
            }
            Op::Reallocate(i, size) if !live.is_empty() => {
                let i = i % live.len();
                let req = Request::new(size);
                let got = fast.reallocate(live[i], req);
                assert_eq!(got, slow.reallocate(live[i], req), "step {step}: {op:?}");
                if got.is_none() && params.heap_limit.is_none() {
                    // Growing in place or moving would end past the ceiling.
                    let need = params.need(size);
                    assert!(need > live[i].size, "step {step}: a shrink failed");
                    assert!(
                        live[i].start + need > ADDRESS_LIMIT
                            || slow.top() + need > ADDRESS_LIMIT
                            || need > ADDRESS_LIMIT,
                        "step {step}: {op:?} fits"
                    );
                }
                if let Some(block) = got {
                    live[i] = block;
                }
            }
            Op::Free(_) | Op::Reallocate(..) => {}
        }
        assert_eq!(fast.top(), slow.top(), "step {step}: top after {op:?}");
        assert_eq!(fast.largest_satisfiable(), slow.largest_satisfiable(), "step {step}");
        assert_eq!(fast.rover, slow.rover, "step {step}: rover after {op:?}");
        if step % check_every == 0 {
            assert_heap_invariants(&fast, &params, &live);
        }
    }
    assert_heap_invariants(&fast, &params, &live);
    for block in live.drain(..) {
        fast.free(block);
        slow.free(block);
        assert_eq!(fast.largest_satisfiable(), slow.largest_satisfiable());
    }
    assert_heap_invariants(&fast, &params, &live);
    assert_eq!(fast.free_blocks().collect::<Vec<_>>(), slow.free);
    fast
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn the_tree_places_every_block_where_the_linear_scan_does(
        policy in policy(),
        params in params(),
        ops in prop::collection::vec(op(), 1..250),
    ) {
        let heap = replay_both(policy, params, &ops, 1);
        if params.coalesce {
            let expected = if heap.top() == 0 { vec![] } else { vec![(0, heap.top())] };
            prop_assert_eq!(heap.free_blocks().collect::<Vec<_>>(), expected);
        }
    }
}

/// A long deterministic trace with thousands of free blocks, to exercise deep trees (the
/// proptest traces stay small to keep the suite fast).
fn long_trace() -> Vec<Op> {
    let mut next = crate::alloc::model::random::xorshift(0x2545_F491_4F6C_DD1D);
    (0..12_000)
        .map(|i| {
            let r = next();
            let size = if r % 11 == 0 { r % 2000 } else { r % 200 };
            // Mostly allocations early on, so the heap fills up and fragments.
            match (r >> 20) % 10 {
                0..=4 if i < 6_000 => Op::Allocate(Request::new(size)),
                0..=3 => Op::Allocate(Request::new(size)),
                4 => Op::Allocate(Request { size, align: 64 }),
                5..=7 => Op::Free((r >> 32) as usize),
                _ => Op::Reallocate((r >> 32) as usize, size),
            }
        })
        .collect()
}

#[test]
fn the_tree_agrees_with_the_linear_scan_on_a_long_trace_for_every_policy() {
    let ops = long_trace();
    for policy in Policy::ALL {
        for coalesce in [true, false] {
            let params = Params { coalesce, ..Params::default() };
            replay_both(policy, params, &ops, 997);
        }
    }
}

/// The same with the portable node searches, whatever the CPU: the heap's operations are then
/// the copies compiled without AVX2.
#[test]
fn the_portable_searches_agree_with_the_linear_scan_on_a_long_trace_for_every_policy() {
    let ops = long_trace();
    for policy in Policy::ALL {
        for coalesce in [true, false] {
            let params = Params { coalesce, ..Params::default() };
            let heap = FreeList::with_lanes(policy, params, Lanes::SCALAR);
            replay_both_through(heap, &ops, 997);
        }
    }
}

/// The memory figures of `events` through the linear-scan reference, computed here from first
/// principles (own table of live blocks, own sums), independently of the replay engine and of
/// `metrics.rs`: `(peak footprint, max live, peak event, internal, external)`.
fn reference_figures(
    policy: Policy,
    params: Params,
    events: &[Event],
) -> (u64, u64, u64, f64, f64) {
    let mut heap = Reference::new(policy, params);
    let mut live: std::collections::HashMap<u32, (Allocation, u64)> = Default::default();
    let (mut requested, mut consumed) = (0u64, 0u64);
    let (mut peak, mut max_live, mut peak_event, mut internal, mut external) = (0, 0, 0, 0.0, 0.0);
    for (i, e) in events.iter().enumerate() {
        match e.op {
            TraceOp::Malloc | TraceOp::Calloc | TraceOp::Memalign => {
                let b = heap.allocate(Request { size: e.size, align: e.align() }).unwrap();
                live.insert(e.id, (b, e.size));
                requested += e.size;
                consumed += b.size;
            }
            TraceOp::Free => {
                let (b, n) = live.remove(&e.id).unwrap();
                heap.free(b);
                requested -= n;
                consumed -= b.size;
            }
            TraceOp::Realloc => {
                let (old, n) = live[&e.id];
                let b = heap.reallocate(old, Request::new(e.size)).unwrap();
                live.insert(e.id, (b, e.size));
                requested = requested - n + e.size;
                consumed = consumed - old.size + b.size;
            }
            // Writes change nothing in a heap whose metadata is out of band.
            TraceOp::Write => {}
        }
        peak = peak.max(heap.top());
        if requested > max_live || i == 0 {
            max_live = requested;
            peak_event = i as u64;
            internal =
                if consumed == 0 { 0.0 } else { (consumed - requested) as f64 / consumed as f64 };
            let free = heap.top() - consumed;
            let largest = heap.free.iter().map(|b| b.1).max().unwrap_or(0);
            external = if free == 0 { 0.0 } else { 1.0 - largest as f64 / free as f64 };
        }
    }
    (peak, max_live, peak_event, internal, external)
}

#[test]
fn the_shipped_real_traces_give_the_same_figures_through_the_linear_scan_reference() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let traces = [
        ("traces/perl-hash.csv", Format::Csv),
        ("traces/xz.csv", Format::Csv),
        ("traces/sort-small.mtrace", Format::Mtrace),
    ];
    for (file, format) in traces {
        let trace = crate::trace::load(&root.join(file), format, Default::default()).unwrap();
        for (entry, policy) in [FIRST_FIT, NEXT_FIT, BEST_FIT, WORST_FIT].iter().zip(Policy::ALL) {
            for params in
                [Params::default(), Params { coalesce: false, min_size: 64, ..Params::default() }]
            {
                let m = crate::engine::measure_memory(entry, &params, &trace.events, trace.blocks);
                let (peak, max_live, peak_event, internal, external) =
                    reference_figures(policy, params, &trace.events);
                let what = format!("{file} through {} with {params:?}", entry.name);
                assert_eq!(m.peak_footprint_bytes, peak, "{what}");
                assert_eq!(m.max_live_bytes, max_live, "{what}");
                assert_eq!(m.peak_event, peak_event, "{what}");
                assert!((m.internal_fragmentation() - internal).abs() < 1e-12, "{what}");
                assert!((m.external_fragmentation() - external).abs() < 1e-12, "{what}");
            }
        }
    }
}
