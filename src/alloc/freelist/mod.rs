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
//! block's end. Growth past `--heap-limit` fails the request and changes nothing.
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
//! A realloc that fails at the heap limit leaves the heap, and the old block, unchanged.
//!
//! # Mechanism: how it is found
//! The free blocks live in a [`FreeTree`], a balanced tree by address where every node knows the
//! largest block in its subtree. It answers first fit, next fit (first fit among the blocks
//! ending above the rover), the neighbours to merge with and the highest free block, each in
//! O(log n) in free blocks. Worst fit is first fit for the size of the largest block (known in
//! O(1)). Best fit also keeps a `BTreeSet` of `(size, addr)`. So every operation costs
//! O(log n); `largest_satisfiable` is O(1). The `reference` module (tests only) implements the
//! same policy by scanning a sorted `Vec`, and the property tests there show the two agree on
//! every step of random traces.

mod tree;

#[cfg(test)]
mod reference;

use std::collections::BTreeSet;

use super::{Addr, Allocation, Bytes, Params, Request, Strategy, StrategyEntry};
pub use tree::{BlockId, FreeTree};

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
    /// `(size, addr, id)` of every free block, for best fit; empty for the other policies.
    by_size: BTreeSet<(Bytes, Addr, BlockId)>,
}

impl FreeList {
    pub fn new(policy: Policy, params: Params) -> FreeList {
        FreeList {
            policy,
            params,
            top: 0,
            rover: 0,
            free: FreeTree::new(),
            by_size: BTreeSet::new(),
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The free blocks as `(addr, size)`, in address order. O(n).
    pub fn free_blocks(&self) -> impl Iterator<Item = (Addr, Bytes)> + '_ {
        self.free.blocks()
    }

    /// The free block the policy picks for `size` bytes, without growing. O(log n).
    fn choose(&self, size: Bytes) -> Option<BlockId> {
        match self.policy {
            Policy::FirstFit => self.free.first_fit(size),
            Policy::NextFit => self
                .free
                .first_fit_ending_above(self.rover, size)
                .or_else(|| self.free.first_fit(size)),
            Policy::BestFit => self.by_size.range((size, 0, BlockId::MIN)..).next().map(|e| e.2),
            Policy::WorstFit => {
                let largest = self.free.largest();
                if largest >= size {
                    self.free.first_fit(largest)
                } else {
                    None
                }
            }
        }
    }

    /// Place a block of `size` bytes by the policy, growing the heap if nothing fits; returns
    /// its start, or `None` (heap unchanged) at the heap limit. O(log n).
    fn place(&mut self, size: Bytes) -> Option<Addr> {
        if let Some(id) = self.choose(size) {
            let (addr, _) = self.free.get(id);
            self.take_low(id, size);
            return Some(addr);
        }
        let last = self.free.last().filter(|&id| {
            let (addr, len) = self.free.get(id);
            addr + len == self.top
        });
        let start = last.map_or(self.top, |id| self.free.get(id).0);
        let new_top = start.checked_add(size)?;
        if !self.params.may_grow_to(new_top) {
            return None;
        }
        if let Some(id) = last {
            self.remove_free(id);
        }
        self.top = new_top;
        Some(start)
    }

    /// Give `[addr, addr + size)` back, merging with free neighbours if coalescing is on.
    /// O(log n).
    fn release(&mut self, addr: Addr, size: Bytes) {
        if !self.params.coalesce {
            self.insert_free(addr, size);
            return;
        }
        let (below, above) = self.free.around(addr);
        let below = below.filter(|&id| {
            let (start, len) = self.free.get(id);
            start + len == addr
        });
        let above = above.filter(|&id| self.free.get(id).0 == addr + size);
        match (below, above) {
            (Some(b), Some(a)) => {
                let (start, len) = self.free.get(b);
                let (_, above_len) = self.free.get(a);
                self.remove_free(a);
                self.resize_free(b, start, len + size + above_len);
            }
            (Some(b), None) => {
                let (start, len) = self.free.get(b);
                self.resize_free(b, start, len + size);
            }
            (None, Some(a)) => {
                let (_, len) = self.free.get(a);
                self.resize_free(a, addr, size + len);
            }
            (None, None) => self.insert_free(addr, size),
        }
    }

    /// Take `size` bytes from the low end of free block `id` (at least `size` long).
    fn take_low(&mut self, id: BlockId, size: Bytes) {
        let (addr, len) = self.free.get(id);
        if len == size {
            self.remove_free(id);
        } else {
            self.resize_free(id, addr + size, len - size);
        }
    }

    // The three ways the free set changes; they keep the best-fit index in step with the tree.

    fn insert_free(&mut self, addr: Addr, size: Bytes) {
        let id = self.free.insert(addr, size);
        if self.policy == Policy::BestFit {
            self.by_size.insert((size, addr, id));
        }
    }

    fn remove_free(&mut self, id: BlockId) {
        if self.policy == Policy::BestFit {
            let (addr, size) = self.free.get(id);
            self.by_size.remove(&(size, addr, id));
        }
        self.free.remove(id);
    }

    /// Change a free block whose place in address order stays the same.
    fn resize_free(&mut self, id: BlockId, addr: Addr, size: Bytes) {
        if self.policy == Policy::BestFit {
            let (old_addr, old_size) = self.free.get(id);
            self.by_size.remove(&(old_size, old_addr, id));
            self.by_size.insert((size, addr, id));
        }
        self.free.set(id, addr, size);
    }
}

impl Strategy for FreeList {
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        let size = self.params.block_size(req);
        let start = self.place(size)?;
        self.rover = start + size;
        Some(Allocation::aligned(start, size, req))
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        let need = self.params.need(req.size);
        let (addr, size) = (old.start, old.size);
        let end = old.end();
        // 1. Shrink in place.
        if need <= size {
            if need < size {
                self.release(addr + need, size - need);
            }
            return Some(Allocation::at(addr, need));
        }
        // 2. Grow into the free block that follows.
        let next = self.free.starting_at(end);
        if let Some(id) = next {
            let (_, len) = self.free.get(id);
            if size + len >= need {
                self.take_low(id, need - size);
                return Some(Allocation::at(addr, need));
            }
        }
        // 3. Grow in place past `top`.
        let next_ends_at_top = next.is_some_and(|id| {
            let (start, len) = self.free.get(id);
            start + len == self.top
        });
        if end == self.top || next_ends_at_top {
            let new_top = addr.checked_add(need)?;
            if !self.params.may_grow_to(new_top) {
                return None;
            }
            if let Some(id) = next {
                self.remove_free(id);
            }
            self.top = new_top;
            return Some(Allocation::at(addr, need));
        }
        // 4. Move.
        let start = self.place(need)?;
        self.release(addr, size);
        self.rover = start + need;
        Some(Allocation::at(start, need))
    }

    fn free(&mut self, block: Allocation) {
        self.release(block.start, block.size);
    }

    fn top(&self) -> Bytes {
        self.top
    }

    fn largest_satisfiable(&self) -> Bytes {
        self.free.largest()
    }
}
