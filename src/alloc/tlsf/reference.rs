//! The tlsf policy done the obvious way, and the proof that [`Tlsf`] agrees with it.
//!
//! [`Reference`] keeps every block of the heap in a `BTreeMap` by address and, for every
//! decision, scans the free ones, following the policy and the work rules in the module docs of
//! [`super`] line by line. It has no size-class lists, no bitmaps, no records and no handles: a
//! class is named by its lower bound, and a class list's LIFO order is the order in which its
//! blocks were put on it, latest first (each listing is numbered). It is O(n) per operation and
//! exists only for tests. The property tests replay random traces (malloc, free, realloc,
//! memalign; heap limits, `--min-size`, sizes near the address-space ceiling) through both and
//! demand, after every event, the same `Allocation` or `None`, the same `top`, `free_bytes`,
//! `largest_satisfiable` and `work`, the same blocks (address, size, free or not), the same
//! class lists in the same order, and handles that name each live block's own record.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::tests::{check_handles, check_invariants, class_lists, layout};
use super::Tlsf;
use crate::alloc::model::random::{self, Op};
use crate::alloc::model::{
    limits, Addr, Allocation, Bytes, Params, Request, Strategy as HeapStrategy, ALIGN,
};

/// One block of the reference heap.
#[derive(Clone, Copy, Debug)]
struct Block {
    size: Bytes,
    /// `Some(n)` for a free block, put on its class list by the `n`-th listing of this heap;
    /// `None` for a live block (or one being worked on).
    listed: Option<u64>,
}

/// A linear-scan implementation of the tlsf policy.
#[derive(Clone, Debug)]
pub struct Reference {
    params: Params,
    top: Bytes,
    /// Every block by start address; together they tile `[0, top)`.
    blocks: BTreeMap<Addr, Block>,
    /// Listings so far (numbers the next one).
    listings: u64,
    work: u64,
}

/// The lower bound of the size class of `size` (module docs, "Size classes"): below 256 bytes
/// the size itself (a multiple of 16); from `2^k` to `2^(k+1)`, the size rounded down to a
/// multiple of `2^(k-4)`. Classes are ordered as their lower bounds are.
pub fn class(size: Bytes) -> Bytes {
    size - size % width(size)
}

/// The width of the class of `size`: 16 below 256 bytes, `2^(k-4)` from `2^k` to `2^(k+1)`.
fn width(size: Bytes) -> Bytes {
    if size < 256 {
        ALIGN
    } else {
        1 << (size.ilog2() - 4)
    }
}

/// The smallest class lower bound `>= size` (where the good-fit search starts); `None` past the
/// largest class.
fn boundary(size: Bytes) -> Option<Bytes> {
    if class(size) == size {
        Some(size)
    } else {
        class(size).checked_add(width(size))
    }
}

impl Reference {
    pub fn new(params: Params) -> Reference {
        Reference { params, top: 0, blocks: BTreeMap::new(), listings: 0, work: 0 }
    }

    fn size(&self, at: Addr) -> Bytes {
        self.blocks[&at].size
    }

    fn is_free(&self, at: Addr) -> bool {
        self.blocks[&at].listed.is_some()
    }

    /// The block starting where the block at `at` ends, if any.
    fn next(&self, at: Addr) -> Option<Addr> {
        let end = at + self.size(at);
        self.blocks.contains_key(&end).then_some(end)
    }

    /// The block ending where the block at `at` starts, if any.
    fn prev(&self, at: Addr) -> Option<Addr> {
        self.blocks.range(..at).next_back().map(|(&a, _)| a)
    }

    /// The block ending at `top`, if any.
    fn last(&self) -> Option<Addr> {
        self.blocks.keys().next_back().copied()
    }

    /// Put the block at `at` on its class list (at the head: it is the latest listing).
    fn list(&mut self, at: Addr) {
        self.work += 1;
        self.blocks.get_mut(&at).unwrap().listed = Some(self.listings);
        self.listings += 1;
    }

    /// Take the free block at `at` off its class list.
    fn take(&mut self, at: Addr) {
        self.work += 1;
        assert!(self.is_free(at));
        self.blocks.get_mut(&at).unwrap().listed = None;
    }

    /// Merge the (unlisted) block after the one at `at` into it.
    fn merge_next(&mut self, at: Addr) {
        self.work += 1;
        let next = self.next(at).unwrap();
        let gone = self.blocks.remove(&next).unwrap();
        self.blocks.get_mut(&at).unwrap().size += gone.size;
    }

    /// Policy step 1, good fit: among the free blocks whose class starts at or above
    /// `boundary(size)`, those of the lowest such class, and of those the latest listed.
    fn choose(&self, size: Bytes) -> Option<Addr> {
        let from = boundary(size)?;
        let mut best: Option<(Bytes, u64, Addr)> = None;
        for (&at, b) in &self.blocks {
            let Some(n) = b.listed else { continue };
            let c = class(b.size);
            if c >= from && best.is_none_or(|(bc, bn, _)| c < bc || (c == bc && n > bn)) {
                best = Some((c, n, at));
            }
        }
        best.map(|(_, _, at)| at)
    }

    /// Give the unlisted block at `at` back (policy step 4): merge it with a free block after
    /// it, then with a free block before it, then list it.
    fn release(&mut self, mut at: Addr) {
        if let Some(next) = self.next(at).filter(|&n| self.is_free(n)) {
            self.take(next);
            self.merge_next(at);
        }
        if let Some(prev) = self.prev(at).filter(|&p| self.is_free(p)) {
            self.take(prev);
            self.merge_next(prev);
            at = prev;
        }
        self.list(at);
    }

    /// Policy step 2: cut the unlisted block at `at` to `size` bytes if the rest is at least
    /// `--min-size` (and 16), and give the rest back as a freed block.
    fn split(&mut self, at: Addr, size: Bytes) {
        let rest = self.size(at) - size;
        if rest == 0 || rest < self.params.min_size.max(ALIGN) {
            return;
        }
        self.blocks.get_mut(&at).unwrap().size = size;
        self.blocks.insert(at + size, Block { size: rest, listed: None });
        self.release(at + size);
    }

    /// Hand out the unlisted block at `at` for `req`, split to `size` bytes.
    fn hand_out(&mut self, at: Addr, size: Bytes, req: Request) -> Allocation {
        self.split(at, size);
        Allocation::aligned(at, self.size(at), req)
    }
}

impl HeapStrategy for Reference {
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        self.work += 2;
        let size = self.params.block_size(req);
        if let Some(at) = self.choose(size) {
            self.take(at);
            return Some(self.hand_out(at, size, req));
        }
        // Step 3: growth.
        match self.last().filter(|&l| self.is_free(l)) {
            Some(last) if self.size(last) >= size => {
                self.take(last);
                Some(self.hand_out(last, size, req))
            }
            Some(last) => {
                let new_top = last.checked_add(size)?;
                if !self.params.may_grow_to(new_top) {
                    return None;
                }
                self.take(last);
                self.blocks.get_mut(&last).unwrap().size = size;
                self.top = new_top;
                Some(Allocation::aligned(last, size, req))
            }
            None => {
                let at = self.top;
                let new_top = at.checked_add(size)?;
                if !self.params.may_grow_to(new_top) {
                    return None;
                }
                self.blocks.insert(at, Block { size, listed: None });
                self.top = new_top;
                Some(Allocation::aligned(at, size, req))
            }
        }
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        self.work += 1;
        let at = old.start;
        assert!(!self.is_free(at) && self.size(at) == old.size, "{old:?} is live");
        let size = self.params.block_size(req);
        let free_next = self.next(at).filter(|&n| self.is_free(n));
        // 1: shrink in place.
        if size <= old.size {
            self.split(at, size);
            return Some(Allocation::aligned(at, self.size(at), req));
        }
        // 2: grow into the free next block.
        if let Some(next) = free_next.filter(|&n| old.size + self.size(n) >= size) {
            self.take(next);
            self.merge_next(at);
            self.split(at, size);
            return Some(Allocation::aligned(at, self.size(at), req));
        }
        self.work += 1;
        // 3: move to a block the good-fit search finds.
        if let Some(to) = self.choose(size) {
            self.take(to);
            let new = self.hand_out(to, size, req);
            self.free(old);
            return Some(new);
        }
        // 4: grow in place at the end of the heap.
        if self.last() == Some(at) || (free_next.is_some() && free_next == self.last()) {
            let new_top = at.checked_add(size)?;
            if !self.params.may_grow_to(new_top) {
                return None;
            }
            if let Some(next) = free_next {
                self.take(next);
                self.merge_next(at);
            }
            self.blocks.get_mut(&at).unwrap().size = size;
            self.top = new_top;
            return Some(Allocation::aligned(at, size, req));
        }
        // 5: allocate, then free the old block.
        let new = self.allocate(req)?;
        self.free(old);
        Some(new)
    }

    fn free(&mut self, block: Allocation) {
        self.work += 1;
        assert!(!self.is_free(block.start) && self.size(block.start) == block.size);
        self.release(block.start);
    }

    fn top(&self) -> Bytes {
        self.top
    }

    fn free_bytes(&self) -> Bytes {
        self.blocks.values().filter(|b| b.listed.is_some()).map(|b| b.size).sum()
    }

    fn largest_satisfiable(&self) -> Bytes {
        let highest = self.blocks.values().filter(|b| b.listed.is_some()).map(|b| class(b.size));
        let by_class = highest.max().filter(|&c| c >= self.params.min_size).unwrap_or(0);
        let by_last = self.last().filter(|&l| self.is_free(l)).map_or(0, |l| self.size(l));
        by_class.max(by_last)
    }

    fn work(&self) -> u64 {
        self.work
    }
}

impl Reference {
    /// Every block in address order: `(start, size, free)`.
    fn layout(&self) -> Vec<(Addr, Bytes, bool)> {
        self.blocks.iter().map(|(&a, b)| (a, b.size, b.listed.is_some())).collect()
    }

    /// Every non-empty class list, in class order: its lower bound and its blocks, head first.
    fn class_lists(&self) -> Vec<(Bytes, Vec<Addr>)> {
        let mut free: Vec<(Bytes, u64, Addr)> = (self.blocks.iter())
            .filter_map(|(&a, b)| Some((class(b.size), b.listed?, a)))
            .collect();
        free.sort_by_key(|&(c, n, _)| (c, std::cmp::Reverse(n)));
        let mut lists: Vec<(Bytes, Vec<Addr>)> = Vec::new();
        for (c, _, a) in free {
            match lists.last_mut() {
                Some((last, blocks)) if *last == c => blocks.push(a),
                _ => lists.push((c, vec![a])),
            }
        }
        lists
    }
}

/// Mostly small sizes (exact classes), often a few hundred bytes to a few KiB (classes 16 to
/// 256 bytes wide, where the good-fit rounding skips blocks), now and then up to 64 KiB, and
/// now and then one near a limit (2^47, 2^63, 2^64).
fn size() -> impl Strategy<Value = Bytes> {
    limits::size(prop_oneof![6 => 0..=300u64, 3 => 300..=5000u64, 1 => 5000..=65536u64])
}

fn op() -> impl Strategy<Value = Op> {
    random::op(size)
}

fn params() -> impl Strategy<Value = Params> {
    let limit = prop_oneof![2 => Just(None), 1 => (256..20_000u64).prop_map(Some)];
    let min_size = prop_oneof![4 => Just(16u64), 1 => Just(64), 1 => Just(528), 1 => Just(1056)];
    (min_size, limit).prop_map(|(min_size, heap_limit)| Params {
        min_size,
        heap_limit,
        ..Params::default()
    })
}

/// Panic unless `fast` and `slow` agree on everything they show, and `fast` is consistent.
fn assert_agree(fast: &Tlsf, slow: &Reference, live: &[Allocation], what: &str) {
    assert_eq!(fast.top(), slow.top(), "top after {what}");
    assert_eq!(fast.free_bytes(), slow.free_bytes(), "free_bytes after {what}");
    assert_eq!(fast.largest_satisfiable(), slow.largest_satisfiable(), "largest after {what}");
    assert_eq!(fast.work(), slow.work(), "work after {what}");
    let blocks: Vec<_> = layout(fast).iter().map(|(_, b)| (b.start, b.size, b.is_free())).collect();
    assert_eq!(blocks, slow.layout(), "blocks after {what}");
    assert_eq!(class_lists(fast), slow.class_lists(), "class lists after {what}");
    check_invariants(fast);
    check_handles(fast, live);
}

/// Replay `ops` through [`Tlsf`] and [`Reference`] side by side, asserting they agree after
/// every event (every `check_every` events for the layout, lists and invariants: the returned
/// blocks and the figures are compared after every one); then free every live block.
fn replay_both(params: Params, ops: &[Op], check_every: usize) {
    let mut fast = Tlsf::new(params);
    let mut slow = Reference::new(params);
    let mut live: Vec<Allocation> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        match *op {
            Op::Allocate(req) => {
                let got = fast.allocate(req);
                assert_eq!(got, slow.allocate(req), "{what}");
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
                assert_eq!(got, slow.reallocate(live[i], req), "{what}");
                if let Some(block) = got {
                    live[i] = block;
                }
            }
            Op::Free(_) | Op::Reallocate(..) => {}
        }
        assert_eq!(fast.top(), slow.top(), "top after {what}");
        assert_eq!(fast.free_bytes(), slow.free_bytes(), "free_bytes after {what}");
        assert_eq!(fast.largest_satisfiable(), slow.largest_satisfiable(), "after {what}");
        assert_eq!(fast.work(), slow.work(), "work after {what}");
        if step % check_every == 0 {
            assert_agree(&fast, &slow, &live, &what);
        }
    }
    assert_agree(&fast, &slow, &live, "the last event");
    while let Some(block) = live.pop() {
        fast.free(block);
        slow.free(block);
        assert_agree(&fast, &slow, &live, &format!("freeing {block:?} at the end"));
    }
    assert_eq!(fast.largest_satisfiable(), fast.top(), "everything is one free block");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn tlsf_places_every_block_where_the_linear_scan_reference_does(
        params in params(),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        replay_both(params, &ops, 1);
    }
}

/// A long deterministic trace with thousands of blocks, so that many classes hold long lists
/// (the proptest traces stay small to keep the suite fast).
#[test]
fn tlsf_agrees_with_the_linear_scan_reference_on_a_long_trace() {
    let mut next = crate::alloc::model::random::xorshift(0x2545_F491_4F6C_DD1D);
    let ops: Vec<Op> = (0..12_000)
        .map(|i| {
            let r = next();
            let size = match r % 13 {
                0 => r % 20_000,
                1..=3 => r % 2_000,
                _ => r % 200,
            };
            // Mostly allocations early on, so the heap fills up and fragments.
            match (r >> 20) % 10 {
                0..=4 if i < 6_000 => Op::Allocate(Request::new(size)),
                0..=3 => Op::Allocate(Request::new(size)),
                4 => Op::Allocate(Request { size, align: 64 }),
                5..=7 => Op::Free((r >> 32) as usize),
                _ => Op::Reallocate((r >> 32) as usize, size),
            }
        })
        .collect();
    for min_size in [16, 64, 528] {
        for heap_limit in [None, Some(400_000)] {
            replay_both(Params { min_size, heap_limit, ..Params::default() }, &ops, 499);
        }
    }
}

#[test]
fn the_reference_classes_are_the_tlsf_classes() {
    let mut size = 16;
    while size < 1 << 24 {
        let (fl, sl) = super::class_of(size);
        assert_eq!(class(size), super::class_base(fl, sl), "{size}");
        assert_eq!(boundary(size), super::search_size(size), "{size}");
        size += 16;
    }
    for size in [1 << 47, (1 << 47) + 16, 1 << 63, !15u64] {
        let (fl, sl) = super::class_of(size);
        assert_eq!(class(size), super::class_base(fl, sl), "{size}");
        assert_eq!(boundary(size), super::search_size(size), "{size}");
    }
}
