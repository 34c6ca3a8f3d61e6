//! The free-list family: `first-fit`, `next-fit`, `best-fit` and `worst-fit`.
//!
//! All four keep a set of free blocks in the heap model of [`crate::alloc`] and differ only in
//! which free block serves a request (the [`Policy`]). Blocks have no headers: the metadata is
//! out of band, so a block occupies exactly its [`Params::block_size`].
//!
//! # Policy: which block is chosen
//! A request needs `need` bytes ([`Params::block_size`]: `need(n)`, plus `align - 16` bytes of
//! padding for memalign, whose payload is then the first address in the block aligned to
//! `align`).
//!
//! - `first-fit`: the lowest-addressed free block with size >= `need`.
//! - `next-fit`: a roving pointer, starting at 0. The search starts at the first free block
//!   whose end is above the rover (the block containing it, or else the next one) and goes up in
//!   address order, wrapping around to the lowest address once. Every block placed by malloc,
//!   calloc, memalign or a moving realloc sets the rover to that block's end; realloc in place
//!   and free leave it alone.
//! - `best-fit`: the smallest free block with size >= `need`; ties go to the lowest address.
//! - `worst-fit`: the largest free block, if it is >= `need`; ties go to the lowest address.
//!
//! The block is carved from the low end of the chosen free block; the rest stays free, however
//! small (with `--min-size` above 16 a leftover may be too small to serve anything until it
//! merges). There is no splitting threshold.
//!
//! When no free block fits, the heap grows: if the highest free block ends exactly at `top`,
//! the new block starts at that free block's start, otherwise at `top`; `top` moves to the new
//! block's end. Growth past `--heap-limit`, or past the address-space ceiling
//! ([`super::ADDRESS_LIMIT`]), fails the request and changes nothing.
//!
//! Free makes the block free and, with coalescing on (the default), merges it at once with a
//! free block ending where it starts and one starting where it ends. With `--no-coalesce` every
//! freed block (and every tail a realloc gives back) stays a separate free block; only the
//! growth rule above ever reuses the top one in place.
//!
//! realloc to `n` bytes, with `need' = need(n)` (alignment is ignored: the result's payload is
//! its start), of the block `[a, a + s)`:
//! 1. `need' <= s`: shrink in place; the tail `[a + need', a + s)`, if any, is freed as above.
//! 2. else, if a free block starts at `a + s` and `s` + its size >= `need'`: grow in place into
//!    its low end; the rest stays free.
//! 3. else, if the block ends at `top`, or the free block starting at `a + s` ends at `top`:
//!    grow in place, moving `top` to `a + need'` (heap limit permitting).
//! 4. else: place a new block of `need'` bytes by the policy while the old block is still held
//!    (so it is neither chosen nor merged), then free the old block.
//!
//! The first rule whose condition holds decides; the rules are not tried again. So when rule 3
//! applies and `a + need'` is past `--heap-limit` (or the ceiling), the realloc fails, even if a
//! free block elsewhere holds `need'` bytes and rule 4 would have moved the block there without
//! growing the heap: it is counted in `failed_allocations`, and the old block stays. (Example:
//! free `[0, 64)`, live `[64, 80)` ending at `top = 80`, `--heap-limit 96`: a realloc of the live
//! block to 48 bytes needs `top = 112` by rule 3 and fails, though `[0, 64)` would hold it.)
//!
//! A realloc that fails at the heap limit (or the ceiling) leaves the heap, and the old block,
//! unchanged.
//!
//! # Mechanism: how it is found
//! The free blocks live in a [`FreeTree`], a B+-tree by address where every inner node knows
//! the largest block below each child. It answers first fit, next fit (first fit among the
//! blocks ending above the rover), the neighbours to merge with and the highest free block,
//! each in O(log n) in free blocks, and a search returns a cursor that the following resize,
//! removal or insertion reuses instead of searching again (a free reads both neighbours from
//! the one search, and moves its cursor only to a neighbour it merges with). Worst fit is first
//! fit for the size of the largest block (known in O(1)). Best fit also keeps a size index
//! (`by_size`: a lazy min-heap of addresses per size, and a `BTreeSet` for large sizes) and then
//! finds the chosen block in the tree by its address. So every operation costs O(log n);
//! `largest_satisfiable` is O(1). Blocks are named by their address, which is unique among free
//! blocks. The `reference` module (tests only) implements the same policy by scanning a sorted
//! `Vec`, and the property tests there show the two agree on every step of random traces.
//!
//! Each operation (allocate, reallocate, free) is one function: on a CPU with AVX2 and POPCNT
//! (detected once, when the heap is made) a second copy compiled with AVX2 enabled runs, with
//! the tree's vector node searches and all of its steps inlined; elsewhere the same code with the
//! portable searches. Both give the same answers (tests in `lanes.rs` and `tree.rs`).

//!
//! # Work
//! [`Strategy::work`] counts, per call (`allocate`, `free`, `reallocate`), whether or not it
//! succeeds:
//! - 1 for the call;
//! - `height + 1` for every *search* of the free tree, where `height` is the tree's number of
//!   levels below its root at that moment ([`FreeTree::height`]). The tree is a single leaf,
//!   `height` 0, until a 17th free block goes into it (a leaf holds 16), and loses a level again
//!   only when merging underfull nodes leaves the root with one child: so on a heap that never
//!   has more than 16 free blocks at once every search counts 1. The searches are:
//!   - the policy's choice, once per placement (allocate, and the move of rule 4). `next-fit`
//!     searches a second time, from the lowest address, when no block from the rover up fits;
//!     `best-fit`'s size index counts as its one search; `worst-fit` looks up the largest block
//!     in O(1) and counts one search;
//!   - when nothing fits: the highest free block, for growth (counted even if the growth then
//!     fails at the heap limit);
//!   - the place of every block given back: a free, the tail of a shrinking realloc (rule 1),
//!     the old block of a moving one (rule 4);
//!   - the free block starting at the end of the block, once for every realloc that grows
//!     (rules 2 to 4);
//! - 1 for every change to the set of free blocks: an insertion, a removal, or a resize (a free
//!   block that grows, shrinks or moves its start without changing its place in address order).
//!   A placement in a free block is 1 (a resize, or a removal when the block is used whole);
//!   growth is 1 when it takes over the free block ending at `top` (its removal), else 0; a
//!   block given back is 1 (an insertion, or a resize of the one free neighbour it merges with)
//!   or 2 when it merges with free blocks on both sides (a resize and a removal); rule 2 is 1,
//!   rule 3 is 1 when it takes over the free block above, else 0.
//!
//! So, with at most 16 free blocks: a malloc placed in a free block costs 3 (`next-fit` 4 when
//! it wraps around); one that grows the heap costs 3, plus 1 when it takes over the free block
//! ending at `top` (`next-fit` 1 more for its second search); a free costs 3, or 4 when it
//! merges with both neighbours. The example of `traces/coalescing.csv` in the README (`work`
//! 30 over 10 events) is 4 mallocs that grow (3 each), 3 frees (3 each), a malloc that takes
//! the merged free block whole (3) and 2 frees (3 each).

mod by_size;
mod lanes;
mod tree;

#[cfg(test)]
mod reference;

use crate::alloc::model::{Addr, Allocation, Bytes, Params, Request, Strategy, StrategyEntry};
use by_size::SizeIndex;
#[cfg(target_arch = "x86_64")]
use lanes::Avx2;
use lanes::{Scalar, Search};
pub use tree::{Cursor, FreeTree};

pub const FIRST_FIT: StrategyEntry = StrategyEntry {
    name: "first-fit",
    about: "reuse the lowest-addressed free block that fits; coalesce on free",
    new: |params| Box::new(FreeList::new(Policy::FirstFit, *params)),
};

pub const NEXT_FIT: StrategyEntry = StrategyEntry {
    name: "next-fit",
    about: "first fit, searching on from the end of the last placed block and wrapping around",
    new: |params| Box::new(FreeList::new(Policy::NextFit, *params)),
};

pub const BEST_FIT: StrategyEntry = StrategyEntry {
    name: "best-fit",
    about: "reuse the smallest free block that fits (lowest address on ties)",
    new: |params| Box::new(FreeList::new(Policy::BestFit, *params)),
};

pub const WORST_FIT: StrategyEntry = StrategyEntry {
    name: "worst-fit",
    about: "reuse the largest free block (lowest address on ties)",
    new: |params| Box::new(FreeList::new(Policy::WorstFit, *params)),
};

/// Which free block serves a request; see the module docs for the exact rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    FirstFit,
    NextFit,
    BestFit,
    WorstFit,
}

impl Policy {
    pub const ALL: [Policy; 4] =
        [Policy::FirstFit, Policy::NextFit, Policy::BestFit, Policy::WorstFit];
}

/// A heap managed by a free-list policy.
#[derive(Clone, Debug)]
pub struct FreeList {
    policy: Policy,
    params: Params,
    top: Bytes,
    /// End of the last block placed by an allocate or a moving realloc; only next fit reads it.
    rover: Addr,
    /// Every free block: disjoint, non-empty, 16-aligned, inside `[0, top)`; with coalescing on,
    /// no two are adjacent.
    free: FreeTree,
    /// The free blocks by size, for best fit only.
    by_size: Option<Box<SizeIndex>>,
    /// Sum of the sizes of the free blocks.
    free_bytes: Bytes,
    /// Units of work so far (see the module docs).
    work: u64,
}

impl FreeList {
    pub fn new(policy: Policy, params: Params) -> FreeList {
        FreeList {
            policy,
            params,
            top: 0,
            rover: 0,
            free: FreeTree::new(),
            by_size: (policy == Policy::BestFit).then(Box::default),
            free_bytes: 0,
            work: 0,
        }
    }

    /// A heap whose tree searches its nodes with `lanes` (for tests of both implementations).
    #[cfg(test)]
    pub fn with_lanes(policy: Policy, params: Params, lanes: lanes::Lanes) -> FreeList {
        FreeList { free: FreeTree::with_lanes(lanes), ..FreeList::new(policy, params) }
    }

    /// Count one search from the root of the tree: `height + 1` nodes.
    #[inline]
    fn count_search(&mut self) {
        self.work += self.free.height() as u64 + 1;
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Panic unless the free-block index (and the best-fit index) are consistent. O(n log n);
    /// for tests.
    #[cfg(test)]
    pub fn check(&self) {
        self.free.check();
        if let Some(by_size) = &self.by_size {
            by_size.check(&self.free);
        }
    }

    /// The free blocks as `(addr, size)`, in address order. O(n).
    pub fn free_blocks(&self) -> impl Iterator<Item = (Addr, Bytes)> + '_ {
        self.free.blocks()
    }

    /// The free block the policy picks for `size` bytes, without growing: its path is written
    /// into `at` (true), or none fits (false). O(log n).
    #[inline(always)]
    fn choose<S: Search>(&mut self, search: S, size: Bytes, at: &mut Cursor) -> bool {
        self.count_search();
        match self.policy {
            Policy::FirstFit => self.free.first_fit_in(search, size, at),
            Policy::NextFit => {
                self.free.first_fit_ending_above_in(search, self.rover, size, at) || {
                    self.work += self.free.height() as u64 + 1;
                    self.free.first_fit_in(search, size, at)
                }
            }
            Policy::BestFit => {
                self.by_size.as_mut().is_some_and(|i| i.take_best(search, size, &self.free, at))
            }
            Policy::WorstFit => {
                let largest = self.free.largest();
                largest >= size && self.free.first_fit_in(search, largest, at)
            }
        }
    }

    /// Place a block of `size` bytes by the policy, growing the heap if nothing fits; returns
    /// its start, or `None` (heap unchanged) at the heap limit. O(log n).
    #[inline(always)]
    fn place<S: Search>(&mut self, search: S, size: Bytes) -> Option<Addr> {
        let mut at = Cursor::ROOT;
        if self.choose(search, size, &mut at) {
            let (addr, _) = self.free.get(&at);
            self.take_low(search, &at, size);
            return Some(addr);
        }
        self.count_search();
        let last = self.free.last().filter(|at| {
            let (addr, len) = self.free.get(at);
            addr + len == self.top
        });
        let start = last.map_or(self.top, |at| self.free.get(&at).0);
        let new_top = start.checked_add(size)?;
        if !self.params.may_grow_to(new_top) {
            return None;
        }
        if let Some(at) = last {
            self.remove_free(search, &at);
        }
        self.top = new_top;
        Some(start)
    }

    /// Give `[addr, addr + size)` back, merging with free neighbours if coalescing is on.
    /// O(log n).
    #[inline(always)]
    fn release<S: Search>(&mut self, search: S, addr: Addr, size: Bytes) {
        self.count_search();
        let mut at = self.free.seek_in(search, addr);
        if !self.params.coalesce {
            self.insert_free(search, &at, addr, size);
            return;
        }
        // The neighbours by value first: the cursor moves only to a block that merges.
        let (below, above) = self.free.around(&at);
        let below = below.filter(|&(start, len)| start + len == addr);
        let above = above.filter(|&(start, _)| start == addr + size);
        match (below, above) {
            (Some((start, len)), Some((_, above_len))) => {
                let found = self.free.move_back(&mut at);
                debug_assert!(found);
                // Resizing leaves the tree's shape, and so the path, intact: the block after the
                // one below is the one above. (Moved to in place, not copied first: see
                // `FreeTree::first_fit_in` on copying a cursor just written.)
                self.resize_free(search, &at, start, len + size + above_len);
                let found = self.free.move_forward(&mut at);
                debug_assert!(found);
                self.remove_free(search, &at);
            }
            (Some((start, len)), None) => {
                let found = self.free.move_back(&mut at);
                debug_assert!(found);
                self.resize_free(search, &at, start, len + size);
            }
            (None, Some((_, len))) => {
                let found = self.free.move_to_block(&mut at);
                debug_assert!(found);
                self.resize_free(search, &at, addr, size + len);
            }
            (None, None) => self.insert_free(search, &at, addr, size),
        }
    }

    /// Take `size` bytes from the low end of the free block at `at` (at least `size` long).
    #[inline(always)]
    fn take_low<S: Search>(&mut self, search: S, at: &Cursor, size: Bytes) {
        let (addr, len) = self.free.get(at);
        if len == size {
            self.remove_free(search, at);
        } else {
            self.resize_free(search, at, addr + size, len - size);
        }
    }

    // The three ways the free set changes; they keep the best-fit index and `free_bytes` in
    // step with the tree. Each invalidates every cursor, except that a resize keeps them.

    /// Add a free block at `gap`, which is `self.free.seek_in(search, addr)`.
    #[inline(always)]
    fn insert_free<S: Search>(&mut self, search: S, gap: &Cursor, addr: Addr, size: Bytes) {
        self.work += 1;
        self.free_bytes += size;
        self.free.insert_at_in(search, gap, addr, size);
        if let Some(by_size) = &mut self.by_size {
            by_size.insert(size, addr);
            by_size.tidy(&self.free);
        }
    }

    #[inline(always)]
    fn remove_free<S: Search>(&mut self, search: S, at: &Cursor) {
        let (addr, size) = self.free.get(at);
        self.work += 1;
        self.free_bytes -= size;
        if let Some(by_size) = &mut self.by_size {
            by_size.remove(size, addr);
        }
        self.free.remove_in(search, at);
    }

    /// Change a free block whose place in address order stays the same.
    #[inline(always)]
    fn resize_free<S: Search>(&mut self, search: S, at: &Cursor, addr: Addr, size: Bytes) {
        let (old_addr, old_size) = self.free.get(at);
        self.work += 1;
        self.free_bytes = self.free_bytes - old_size + size;
        self.free.set_in(search, at, addr, size);
        if let Some(by_size) = &mut self.by_size {
            by_size.remove(old_size, old_addr);
            by_size.insert(size, addr);
            by_size.tidy(&self.free);
        }
    }
}

/// Each public operation is one function: on a CPU with AVX2 it is compiled a second time with
/// AVX2 enabled, so that the tree's vector searches (and everything else it calls) are inlined
/// into it; elsewhere the same code runs with the scalar searches.
#[cfg(target_arch = "x86_64")]
impl FreeList {
    #[target_feature(enable = "avx2,popcnt")]
    fn allocate_avx2(&mut self, fast: Avx2, req: Request) -> Option<Allocation> {
        self.allocate_here(fast, req)
    }

    #[target_feature(enable = "avx2,popcnt")]
    fn reallocate_avx2(&mut self, fast: Avx2, old: Allocation, req: Request) -> Option<Allocation> {
        self.reallocate_here(fast, old, req)
    }

    #[target_feature(enable = "avx2,popcnt")]
    fn free_avx2(&mut self, fast: Avx2, block: Allocation) {
        self.free_here(fast, block)
    }
}

/// The operations with the portable searches, out of line so that the entry points stay small.
impl FreeList {
    #[inline(never)]
    fn allocate_scalar(&mut self, req: Request) -> Option<Allocation> {
        self.allocate_here(Scalar, req)
    }

    #[inline(never)]
    fn reallocate_scalar(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        self.reallocate_here(Scalar, old, req)
    }

    #[inline(never)]
    fn free_scalar(&mut self, block: Allocation) {
        self.free_here(Scalar, block)
    }
}

impl FreeList {
    #[inline(always)]
    fn allocate_here<S: Search>(&mut self, search: S, req: Request) -> Option<Allocation> {
        self.work += 1;
        let size = self.params.block_size(req);
        let start = self.place(search, size)?;
        self.rover = start + size;
        Some(Allocation::aligned(start, size, req))
    }

    #[inline(always)]
    fn reallocate_here<S: Search>(
        &mut self,
        search: S,
        old: Allocation,
        req: Request,
    ) -> Option<Allocation> {
        self.work += 1;
        let need = self.params.need(req.size);
        let (addr, size) = (old.start, old.size);
        let end = old.end();
        // 1. Shrink in place.
        if need <= size {
            if need < size {
                self.release(search, addr + need, size - need);
            }
            return Some(Allocation::at(addr, need));
        }
        // 2. Grow into the free block that follows.
        self.count_search();
        let mut at = Cursor::ROOT;
        let next = self.free.starting_at_in(search, end, &mut at);
        if next {
            let (_, len) = self.free.get(&at);
            if size + len >= need {
                self.take_low(search, &at, need - size);
                return Some(Allocation::at(addr, need));
            }
        }
        // 3. Grow in place past `top`.
        let next_ends_at_top = next && {
            let (start, len) = self.free.get(&at);
            start + len == self.top
        };
        if end == self.top || next_ends_at_top {
            let new_top = addr.checked_add(need)?;
            if !self.params.may_grow_to(new_top) {
                return None;
            }
            if next {
                self.remove_free(search, &at);
            }
            self.top = new_top;
            return Some(Allocation::at(addr, need));
        }
        // 4. Move.
        let start = self.place(search, need)?;
        self.release(search, addr, size);
        self.rover = start + need;
        Some(Allocation::at(start, need))
    }

    #[inline(always)]
    fn free_here<S: Search>(&mut self, search: S, block: Allocation) {
        self.work += 1;
        self.release(search, block.start, block.size);
    }
}

impl Strategy for FreeList {
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        #[cfg(target_arch = "x86_64")]
        if let Some(fast) = self.free.avx2() {
            // SAFETY: an `Avx2` value exists only if the CPU has AVX2 and POPCNT.
            return unsafe { self.allocate_avx2(fast, req) };
        }
        self.allocate_scalar(req)
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        #[cfg(target_arch = "x86_64")]
        if let Some(fast) = self.free.avx2() {
            // SAFETY: as in `allocate`.
            return unsafe { self.reallocate_avx2(fast, old, req) };
        }
        self.reallocate_scalar(old, req)
    }

    fn free(&mut self, block: Allocation) {
        #[cfg(target_arch = "x86_64")]
        if let Some(fast) = self.free.avx2() {
            // SAFETY: as in `allocate`.
            return unsafe { self.free_avx2(fast, block) };
        }
        self.free_scalar(block)
    }

    fn work(&self) -> u64 {
        self.work
    }

    fn top(&self) -> Bytes {
        self.top
    }

    fn free_bytes(&self) -> Bytes {
        self.free_bytes
    }

    fn largest_satisfiable(&self) -> Bytes {
        self.free.largest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malloc<S: Strategy + ?Sized>(heap: &mut S, n: Bytes) -> Allocation {
        heap.allocate(Request::new(n)).expect("no heap limit here")
    }

    fn free_list(heap: &FreeList) -> Vec<(Addr, Bytes)> {
        heap.free_blocks().collect()
    }

    /// A heap with free blocks ("holes") of the given sizes, each followed by a live 16-byte
    /// guard: holes `[32, 64, 48, 32]` give free blocks at 0, 48, 128 and 192, `top == 240`,
    /// and the rover at 240.
    fn with_holes(policy: Policy, params: Params, holes: &[Bytes]) -> FreeList {
        let mut heap = FreeList::new(policy, params);
        make_holes(&mut heap, holes);
        heap
    }

    fn make_holes<S: Strategy + ?Sized>(heap: &mut S, holes: &[Bytes]) {
        let blocks: Vec<Allocation> = holes
            .iter()
            .map(|&hole| {
                let block = malloc(heap, hole);
                malloc(heap, 16);
                block
            })
            .collect();
        for block in blocks {
            heap.free(block);
        }
    }

    const HOLES: [Bytes; 4] = [32, 64, 48, 32];

    #[test]
    fn the_hole_layout_is_what_the_tests_assume() {
        let heap = with_holes(Policy::FirstFit, Params::default(), &HOLES);
        assert_eq!(free_list(&heap), [(0, 32), (48, 64), (128, 48), (192, 32)]);
        assert_eq!(heap.top(), 240);
        assert_eq!(heap.rover, 240);
        assert_eq!(heap.largest_satisfiable(), 64);
    }

    #[test]
    fn first_fit_takes_the_lowest_block_that_fits() {
        let mut heap = with_holes(Policy::FirstFit, Params::default(), &HOLES);
        assert_eq!(malloc(&mut heap, 40), Allocation::at(48, 48));
        assert_eq!(free_list(&heap), [(0, 32), (96, 16), (128, 48), (192, 32)]);
        assert_eq!(malloc(&mut heap, 20), Allocation::at(0, 32));
        assert_eq!(malloc(&mut heap, 1), Allocation::at(96, 16));
        assert_eq!(heap.top(), 240);
    }

    #[test]
    fn best_fit_takes_the_smallest_block_that_fits_ties_lowest_address() {
        let mut heap = with_holes(Policy::BestFit, Params::default(), &HOLES);
        assert_eq!(malloc(&mut heap, 40), Allocation::at(128, 48));
        // Two 32-byte blocks, at 0 and 192: the lower one wins.
        assert_eq!(malloc(&mut heap, 17), Allocation::at(0, 32));
        // 32 bytes at 192 fit 16 more snugly than 64 at 48.
        assert_eq!(malloc(&mut heap, 1), Allocation::at(192, 16));
        assert_eq!(free_list(&heap), [(48, 64), (208, 16)]);
    }

    #[test]
    fn worst_fit_takes_the_largest_block() {
        let mut heap = with_holes(Policy::WorstFit, Params::default(), &[32, 64, 48, 64]);
        assert_eq!(free_list(&heap), [(0, 32), (48, 64), (128, 48), (192, 64)]);
        // Two 64-byte blocks: the lower one wins; then the other is the largest.
        assert_eq!(malloc(&mut heap, 1), Allocation::at(48, 16));
        assert_eq!(malloc(&mut heap, 1), Allocation::at(192, 16));
        // Now three 48-byte blocks, at 64, 128 and 208.
        assert_eq!(malloc(&mut heap, 1), Allocation::at(64, 16));
        // Nothing holds 112 bytes: grow at the top.
        assert_eq!(malloc(&mut heap, 100), Allocation::at(272, 112));
        assert_eq!(heap.top(), 384);
    }

    #[test]
    fn next_fit_resumes_after_the_last_placement_and_wraps() {
        let mut heap = with_holes(Policy::NextFit, Params::default(), &HOLES);
        // The rover is at 240, above every free block: wrap to the lowest block that fits.
        assert_eq!(malloc(&mut heap, 40), Allocation::at(48, 48));
        assert_eq!(heap.rover, 96);
        // First fit would take 0 for each of these; next fit goes on from the rover.
        assert_eq!(malloc(&mut heap, 1), Allocation::at(96, 16));
        assert_eq!(malloc(&mut heap, 17), Allocation::at(128, 32));
        assert_eq!(malloc(&mut heap, 17), Allocation::at(192, 32));
        assert_eq!(heap.rover, 224);
        // Nothing ends above 224 any more: wrap around.
        assert_eq!(malloc(&mut heap, 17), Allocation::at(0, 32));
        assert_eq!(heap.rover, 32);
        assert_eq!(free_list(&heap), [(160, 16)]);
    }

    #[test]
    fn next_fit_starts_at_the_low_end_of_the_free_block_containing_the_rover() {
        let mut heap = FreeList::new(Policy::NextFit, Params::default());
        let a = malloc(&mut heap, 64);
        malloc(&mut heap, 16);
        heap.free(a);
        // The rover (80) is above every free block, so this wraps to 0 and leaves it at 16.
        let b = malloc(&mut heap, 1);
        assert_eq!((b, heap.rover), (Allocation::at(0, 16), 16));
        heap.free(b);
        assert_eq!(free_list(&heap), [(0, 64)]);
        // [0, 64) contains the rover: the search starts there, and takes its low end.
        assert_eq!(malloc(&mut heap, 1), Allocation::at(0, 16));
    }

    #[test]
    fn each_entry_runs_its_own_policy() {
        let expected = [
            (FIRST_FIT, [48, 0]),
            (NEXT_FIT, [48, 96]),
            (BEST_FIT, [128, 0]),
            (WORST_FIT, [48, 128]),
        ];
        for (entry, starts) in expected {
            let mut boxed = (entry.new)(&Params::default());
            let heap = &mut *boxed;
            make_holes(heap, &HOLES);
            let got = [malloc(heap, 40).start, malloc(heap, 1).start];
            assert_eq!(got, starts, "{}", entry.name);
        }
    }

    #[test]
    fn coalescing_lets_a_large_request_fit_after_small_frees() {
        let mut heap = FreeList::new(Policy::FirstFit, Params::default());
        let small: Vec<Allocation> = (0..3).map(|_| malloc(&mut heap, 16)).collect();
        malloc(&mut heap, 16);
        heap.free(small[0]);
        heap.free(small[2]);
        assert_eq!(free_list(&heap), [(0, 16), (32, 16)]);
        // The middle block merges with both neighbours.
        heap.free(small[1]);
        assert_eq!(free_list(&heap), [(0, 48)]);
        assert_eq!(heap.largest_satisfiable(), 48);
        assert_eq!(malloc(&mut heap, 48), Allocation::at(0, 48));
        assert_eq!(heap.top(), 64);
    }

    #[test]
    fn without_coalescing_freed_neighbours_stay_separate() {
        let params = Params { coalesce: false, ..Params::default() };
        let mut heap = FreeList::new(Policy::FirstFit, params);
        let small: Vec<Allocation> = (0..3).map(|_| malloc(&mut heap, 16)).collect();
        malloc(&mut heap, 16);
        for block in [small[0], small[2], small[1]] {
            heap.free(block);
        }
        assert_eq!(free_list(&heap), [(0, 16), (16, 16), (32, 16)]);
        assert_eq!(heap.largest_satisfiable(), 16);
        assert_eq!(malloc(&mut heap, 48), Allocation::at(64, 48));
        assert_eq!(heap.top(), 112);
    }

    #[test]
    fn growth_extends_a_free_block_that_ends_at_top() {
        let mut heap = FreeList::new(Policy::FirstFit, Params::default());
        malloc(&mut heap, 16);
        let b = malloc(&mut heap, 32);
        heap.free(b);
        assert_eq!(free_list(&heap), [(16, 32)]);
        assert_eq!(malloc(&mut heap, 64), Allocation::at(16, 64));
        assert_eq!(heap.top(), 80);
        assert_eq!(free_list(&heap), []);
    }

    #[test]
    fn without_coalescing_growth_extends_only_the_highest_free_block() {
        let params = Params { coalesce: false, ..Params::default() };
        let mut heap = FreeList::new(Policy::FirstFit, params);
        malloc(&mut heap, 16);
        let b = malloc(&mut heap, 16);
        let c = malloc(&mut heap, 16);
        heap.free(b);
        heap.free(c);
        assert_eq!(malloc(&mut heap, 48), Allocation::at(32, 48));
        assert_eq!(heap.top(), 80);
        assert_eq!(free_list(&heap), [(16, 16)]);
    }

    #[test]
    fn realloc_shrinks_in_place_and_frees_the_tail() {
        let mut heap = FreeList::new(Policy::FirstFit, Params::default());
        let a = malloc(&mut heap, 64);
        let b = malloc(&mut heap, 32);
        malloc(&mut heap, 16);
        assert_eq!(heap.reallocate(a, Request::new(40)), Some(Allocation::at(0, 48)));
        assert_eq!(free_list(&heap), [(48, 16)]);
        // A tail that touches a free block merges with it.
        heap.free(b);
        assert_eq!(free_list(&heap), [(48, 48)]);
        let a = Allocation::at(0, 48);
        assert_eq!(heap.reallocate(a, Request::new(10)), Some(Allocation::at(0, 16)));
        assert_eq!(free_list(&heap), [(16, 80)]);
        assert_eq!(heap.top(), 112);
    }

    #[test]
    fn realloc_without_coalescing_frees_the_tail_as_its_own_block() {
        let params = Params { coalesce: false, ..Params::default() };
        let mut heap = FreeList::new(Policy::FirstFit, params);
        let a = malloc(&mut heap, 64);
        let b = malloc(&mut heap, 32);
        malloc(&mut heap, 16);
        heap.free(b);
        assert_eq!(heap.reallocate(a, Request::new(10)), Some(Allocation::at(0, 16)));
        assert_eq!(free_list(&heap), [(16, 48), (64, 32)]);
    }

    #[test]
    fn realloc_grows_into_the_free_block_after_it_without_moving_the_rover() {
        let mut heap = FreeList::new(Policy::NextFit, Params::default());
        let a = malloc(&mut heap, 32);
        let b = malloc(&mut heap, 32);
        malloc(&mut heap, 16);
        heap.free(b);
        assert_eq!(heap.reallocate(a, Request::new(48)), Some(Allocation::at(0, 48)));
        assert_eq!(free_list(&heap), [(48, 16)]);
        assert_eq!(heap.rover, 80);
        // Exactly the rest of the free block: it is used up.
        let a = Allocation::at(0, 48);
        assert_eq!(heap.reallocate(a, Request::new(64)), Some(Allocation::at(0, 64)));
        assert_eq!(free_list(&heap), []);
        assert_eq!(heap.top(), 80);
    }

    #[test]
    fn realloc_grows_in_place_at_the_top() {
        let mut heap = FreeList::new(Policy::FirstFit, Params::default());
        let a = malloc(&mut heap, 32);
        assert_eq!(heap.reallocate(a, Request::new(100)), Some(Allocation::at(0, 112)));
        assert_eq!(heap.top(), 112);
        // Also when a free block between the block and the top is too small to grow into.
        let b = malloc(&mut heap, 16);
        heap.free(b);
        assert_eq!(free_list(&heap), [(112, 16)]);
        let a = Allocation::at(0, 112);
        assert_eq!(heap.reallocate(a, Request::new(200)), Some(Allocation::at(0, 208)));
        assert_eq!(heap.top(), 208);
        assert_eq!(free_list(&heap), []);
    }

    #[test]
    fn realloc_moves_when_it_cannot_grow_in_place() {
        let mut heap = FreeList::new(Policy::NextFit, Params::default());
        let a = malloc(&mut heap, 32);
        malloc(&mut heap, 16);
        let c = malloc(&mut heap, 64);
        malloc(&mut heap, 16);
        heap.free(c);
        assert_eq!(heap.rover, 128);
        assert_eq!(heap.reallocate(a, Request::new(60)), Some(Allocation::at(48, 64)));
        assert_eq!(free_list(&heap), [(0, 32)]);
        assert_eq!(heap.rover, 112);
        assert_eq!(heap.top(), 128);
    }

    #[test]
    fn realloc_that_moves_can_neither_reuse_nor_merge_the_old_block_first() {
        let mut heap = FreeList::new(Policy::FirstFit, Params::default());
        let before = malloc(&mut heap, 32);
        let a = malloc(&mut heap, 32);
        malloc(&mut heap, 16);
        heap.free(before);
        // [0, 64) would hold 64 bytes if the old block were merged first; it is not.
        assert_eq!(heap.reallocate(a, Request::new(64)), Some(Allocation::at(80, 64)));
        assert_eq!(free_list(&heap), [(0, 64)]);
        assert_eq!(heap.top(), 144);
    }

    #[test]
    fn realloc_ignores_alignment_and_returns_the_block_start() {
        let mut heap = FreeList::new(Policy::FirstFit, Params::default());
        malloc(&mut heap, 16);
        let a = heap.allocate(Request { size: 10, align: 64 }).unwrap();
        assert_eq!(a, Allocation { start: 16, size: 64, payload: 64, handle: 0 });
        let b = heap.reallocate(a, Request { size: 30, align: 64 });
        assert_eq!(b, Some(Allocation::at(16, 32)));
        assert_eq!(free_list(&heap), [(48, 32)]);
    }

    #[test]
    fn realloc_fails_at_the_heap_limit_and_leaves_the_heap_unchanged() {
        let params = Params { heap_limit: Some(64), ..Params::default() };
        let mut heap = FreeList::new(Policy::FirstFit, params);
        let a = malloc(&mut heap, 32);
        // Growing at the top (step 3).
        assert_eq!(heap.reallocate(a, Request::new(80)), None);
        assert_eq!(heap.top(), 32);
        // Moving (step 4).
        malloc(&mut heap, 16);
        assert_eq!(heap.reallocate(a, Request::new(64)), None);
        assert_eq!(heap.top(), 48);
        assert_eq!(free_list(&heap), []);
        // Within the limit it works.
        let mut heap = FreeList::new(Policy::FirstFit, params);
        let a = malloc(&mut heap, 32);
        assert_eq!(heap.reallocate(a, Request::new(64)), Some(Allocation::at(0, 64)));
    }

    #[test]
    fn a_realloc_growing_at_top_fails_at_the_limit_though_a_free_block_could_hold_it() {
        // Free [0, 64), live a = [64, 80) at top = 80, limit 96. realloc(a, 48): need' = 48.
        // Rule 2: no free block starts at 80. Rule 3: a ends at top, top would be 64 + 48 = 112
        // > 96: fail. Rule 4 would have placed [0, 48) without growth; it is not tried.
        for policy in Policy::ALL {
            let params = Params { heap_limit: Some(96), ..Params::default() };
            let mut heap = FreeList::new(policy, params);
            let x = malloc(&mut heap, 64);
            let a = malloc(&mut heap, 16);
            heap.free(x);
            assert_eq!(heap.reallocate(a, Request::new(48)), None, "{policy:?}");
            assert_eq!((heap.top(), free_list(&heap)), (80, vec![(0, 64)]), "{policy:?}");
            // The free block does hold 48 bytes: a malloc gets it.
            assert_eq!(malloc(&mut heap, 48), Allocation::at(0, 48), "{policy:?}");
        }
    }

    #[test]
    fn work_is_one_per_call_one_per_search_and_one_per_change_of_the_free_set() {
        // Never more than 2 free blocks: the tree is one leaf, every search counts 1.
        // Per step, first-fit / best-fit / worst-fit, then next-fit where it differs
        // (call + searches + changes):
        //  1. a = malloc(32) -> [0, 32): choice 1 (NF 2), highest 1, bare top 0: 3 (NF 4)
        //  2. b = malloc(16) -> [32, 48): 3 (NF 4)
        //  3. c = malloc(32) -> [48, 80): 3 (NF 4)
        //  4. free(c): search 1, insert 1: 3. Free [48, 80), ending at top.
        //  5. d = malloc(64): choice 1 (NF 2: nothing ends above the rover 80), highest 1, it
        //     ends at top: removed 1, d = [48, 112): 4 (NF 5)
        //  6. free(a): 3. 7. free(d): 3 (b below is live). Free [0, 32), [48, 112).
        //  8. free(b): search 1, merges both sides (resize + remove) 2: 4. Free [0, 112).
        //  9. e = malloc(16) -> [0, 16): choice 1 (NF 2: [0, 112) ends at 112, not above the
        //     rover 112), resize 1: 3 (NF 4)
        // 10. f = malloc(16) -> [16, 32): 3 (NF finds it from the rover 16 at once: 3)
        // 11. realloc(e, 100) (need 112): next-block search 1 (none at 16); not at top; move:
        //     choice 1 (NF 2), highest 1, [32, 112) ends at top: removed 1, e = [32, 144); old
        //     [0, 16) back: search 1, insert 1: 7 (NF 8)
        // 12. realloc(e, 20) (need 32): shrink, tail [64, 144) back: search 1, insert 1: 3
        // Total 3+3+3+3+4+3+3+4+3+3+7+3 = 42; next-fit 4+4+4+3+5+3+3+4+4+3+8+3 = 48.
        for policy in Policy::ALL {
            let mut heap = FreeList::new(policy, Params::default());
            let a = malloc(&mut heap, 32);
            let b = malloc(&mut heap, 16);
            let c = malloc(&mut heap, 32);
            heap.free(c);
            let d = malloc(&mut heap, 64);
            assert_eq!(d, Allocation::at(48, 64), "{policy:?}");
            heap.free(a);
            heap.free(d);
            heap.free(b);
            assert_eq!(free_list(&heap), [(0, 112)], "{policy:?}");
            let e = malloc(&mut heap, 16);
            let f = malloc(&mut heap, 16);
            assert_eq!((e.start, f.start), (0, 16), "{policy:?}");
            let e = heap.reallocate(e, Request::new(100)).unwrap();
            assert_eq!(e, Allocation::at(32, 112), "{policy:?}");
            let e = heap.reallocate(e, Request::new(20)).unwrap();
            assert_eq!(e, Allocation::at(32, 32), "{policy:?}");
            assert_eq!(free_list(&heap), [(0, 16), (64, 80)], "{policy:?}");
            assert_eq!(heap.free.height(), 0);
            let expected = if policy == Policy::NextFit { 48 } else { 42 };
            assert_eq!(heap.work(), expected, "{policy:?}");
        }
    }

    #[test]
    fn memalign_pads_the_block_and_aligns_the_payload() {
        let mut heap = FreeList::new(Policy::FirstFit, Params::default());
        malloc(&mut heap, 16);
        let a = heap.allocate(Request { size: 10, align: 64 }).unwrap();
        assert_eq!(a, Allocation { start: 16, size: 64, payload: 64, handle: 0 });
        assert_eq!(heap.top(), 80);
        // From a free block: the padded size must fit, and the payload is aligned inside it.
        let mut heap = FreeList::new(Policy::FirstFit, Params::default());
        let big = malloc(&mut heap, 100);
        malloc(&mut heap, 16);
        heap.free(big);
        malloc(&mut heap, 16);
        let b = heap.allocate(Request { size: 1, align: 64 }).unwrap();
        assert_eq!(b, Allocation { start: 16, size: 64, payload: 64, handle: 0 });
        assert_eq!(free_list(&heap), [(80, 32)]);
    }

    #[test]
    fn heap_limit_fails_and_leaves_the_heap_unchanged() {
        let params = Params { heap_limit: Some(64), ..Params::default() };
        let mut heap = FreeList::new(Policy::FirstFit, params);
        let a = malloc(&mut heap, 48);
        assert_eq!(heap.allocate(Request::new(32)), None);
        assert_eq!(heap.top(), 48);
        // Growing from a free block that ends at the top is limited the same way.
        heap.free(a);
        assert_eq!(heap.allocate(Request::new(80)), None);
        assert_eq!((heap.top(), free_list(&heap)), (48, vec![(0, 48)]));
        assert_eq!(malloc(&mut heap, 64), Allocation::at(0, 64));
        assert_eq!(heap.top(), 64);
    }

    #[test]
    fn a_minimum_size_keeps_tiny_blocks_reusable() {
        let params = Params { min_size: 64, ..Params::default() };
        let mut heap = FreeList::new(Policy::FirstFit, params);
        let a = malloc(&mut heap, 1);
        assert_eq!(a, Allocation::at(0, 64));
        malloc(&mut heap, 20);
        heap.free(a);
        // Any small request fits any freed block.
        assert_eq!(malloc(&mut heap, 50), Allocation::at(0, 64));
        assert_eq!(heap.top(), 128);
        assert_eq!(malloc(&mut heap, 0), Allocation::at(128, 64));
    }

    #[test]
    fn a_leftover_smaller_than_the_minimum_stays_free() {
        let params = Params { min_size: 64, ..Params::default() };
        let mut heap = FreeList::new(Policy::BestFit, params);
        let a = malloc(&mut heap, 80);
        malloc(&mut heap, 1);
        heap.free(a);
        assert_eq!(malloc(&mut heap, 1), Allocation::at(0, 64));
        assert_eq!(free_list(&heap), [(64, 16)]);
        assert_eq!(heap.largest_satisfiable(), 16);
        // 16 bytes serve nothing: grow.
        assert_eq!(malloc(&mut heap, 1), Allocation::at(144, 64));
        assert_eq!(free_list(&heap), [(64, 16)]);
    }

    #[test]
    fn freeing_everything_with_coalescing_leaves_one_block_spanning_the_heap() {
        for policy in Policy::ALL {
            let mut heap = FreeList::new(policy, Params::default());
            let blocks: Vec<Allocation> =
                [5, 300, 17, 64, 1, 128, 33].iter().map(|&n| malloc(&mut heap, n)).collect();
            for i in [3, 0, 6, 2, 5, 1, 4] {
                heap.free(blocks[i]);
            }
            assert_eq!(free_list(&heap), [(0, heap.top())], "{policy:?}");
            assert_eq!(heap.largest_satisfiable(), heap.top());
        }
    }
}
