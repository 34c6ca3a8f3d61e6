//! `bump`: allocate at `top`, never reuse.
//!
//! Policy: every allocation is placed at `top`, and `top` grows by the block size. `free` does
//! nothing, so memory is never reused and the footprint is the sum of every block ever handed
//! out. `realloc` always moves: it places a new block at `top` (the old one stays where it is,
//! wasted). The baseline every other strategy should beat.
//!
//! Cost: O(1) per operation.
//!
//! Work ([`Strategy::work`]): 1 per allocation (counted whether or not it succeeds) and 1 per
//! free; a realloc is an allocation and, when that succeeds, the free of the old block: 2, or 1
//! when it fails. Nothing else is counted.
//!
//! At `--heap-limit` an allocation or realloc fails as soon as `top` plus its block would pass
//! the limit: bump never reuses a freed block, so there is nowhere else to put it.

use super::model::{Allocation, Bytes, Params, Request, Strategy, StrategyEntry};

pub const ENTRY: StrategyEntry = StrategyEntry {
    name: "bump",
    about: "allocate at the top of the heap; free does nothing (memory is never reused)",
    new: |params| Box::new(Bump::new(*params)),
};

/// The bump allocator. `top` is the only state.
#[derive(Debug)]
pub struct Bump {
    params: Params,
    top: Bytes,
    /// Bytes of freed blocks: free, but never used again.
    freed: Bytes,
    /// Units of work so far (see the module docs).
    work: u64,
}

impl Bump {
    pub fn new(params: Params) -> Bump {
        Bump { params, top: 0, freed: 0, work: 0 }
    }
}

impl Strategy for Bump {
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        self.work += 1;
        let size = self.params.block_size(req);
        let new_top = self.top.checked_add(size)?;
        if !self.params.may_grow_to(new_top) {
            return None;
        }
        let block = Allocation::aligned(self.top, size, req);
        self.top = new_top;
        Some(block)
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        let new = self.allocate(Request::new(req.size))?;
        self.free(old);
        Some(new)
    }

    fn free(&mut self, block: Allocation) {
        self.work += 1;
        self.freed += block.size;
    }

    fn work(&self) -> u64 {
        self.work
    }

    fn free_bytes(&self) -> Bytes {
        self.freed
    }

    fn top(&self) -> Bytes {
        self.top
    }

    fn largest_satisfiable(&self) -> Bytes {
        0
    }

    fn reuses_memory(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_never_reuses_freed_memory() {
        let mut heap = Bump::new(Params::default());
        let a = heap.allocate(Request::new(24)).unwrap();
        assert_eq!(a, Allocation::at(0, 32));
        heap.free(a);
        let b = heap.allocate(Request::new(8)).unwrap();
        assert_eq!(b, Allocation::at(32, 16));
        assert_eq!(heap.top(), 48);
        assert_eq!(heap.largest_satisfiable(), 0);
    }

    #[test]
    fn bump_says_it_never_reuses_memory() {
        assert!(!ENTRY.reuses_memory());
    }

    #[test]
    fn bump_realloc_always_moves_to_the_top() {
        let mut heap = Bump::new(Params::default());
        let a = heap.allocate(Request::new(100)).unwrap();
        let b = heap.reallocate(a, Request::new(10)).unwrap();
        assert_eq!(b, Allocation::at(112, 16));
    }

    #[test]
    fn bump_fails_past_the_heap_limit_and_leaves_the_heap_unchanged() {
        let mut heap = Bump::new(Params { heap_limit: Some(40), ..Params::default() });
        heap.allocate(Request::new(32)).unwrap();
        assert_eq!(heap.allocate(Request::new(16)), None);
        assert_eq!(heap.top(), 32);
    }

    #[test]
    fn work_is_one_per_allocation_and_one_per_free() {
        // malloc 1, malloc 1, realloc 2 (malloc + free of the old block), free 1, and at the
        // limit 64 a failed malloc 1 and a failed realloc 1 (its malloc only): 7.
        let mut heap = Bump::new(Params { heap_limit: Some(64), ..Params::default() });
        let a = heap.allocate(Request::new(10)).unwrap();
        let b = heap.allocate(Request::new(10)).unwrap();
        let a = heap.reallocate(a, Request::new(20)).unwrap();
        heap.free(b);
        assert_eq!((a, heap.top()), (Allocation::at(32, 32), 64));
        assert_eq!(heap.work(), 5);
        assert_eq!(heap.allocate(Request::new(1)), None);
        assert_eq!(heap.reallocate(a, Request::new(1)), None);
        assert_eq!(heap.work(), 7);
    }

    #[test]
    fn bump_memalign_pads_to_the_alignment() {
        let mut heap = Bump::new(Params::default());
        heap.allocate(Request::new(16)).unwrap();
        let b = heap.allocate(Request { size: 10, align: 64 }).unwrap();
        assert_eq!(b, Allocation { start: 16, size: 16 + 48, payload: 64, handle: 0 });
    }
}
