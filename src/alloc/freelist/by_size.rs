//! The best-fit index: which free block is the smallest with size >= `need`, lowest address
//! first among equals.
//!
//! Every size below [`SMALL_LIMIT`] has its own bucket: a min-heap of addresses. A two-level
//! bitmap marks the buckets that hold entries, so the smallest candidate size is found with two
//! `trailing_zeros`. Larger blocks are few and go to an exact `BTreeSet` of `(size, addr)`.
//!
//! The buckets are lazy: removing or resizing a free block leaves its old entry in place, and
//! [`SizeIndex::best`] checks each candidate against the address tree (which it must search for
//! the chosen block anyway), dropping stale entries as it meets them. An entry is stale exactly
//! when no free block of its bucket's size starts at its address; one that names a free block
//! of that size is a right answer however it got there. So the index only ever needs: every free
//! block of a small size has at least one entry in its bucket. Stale entries are bounded by
//! rebuilding all buckets from the tree when there are more than twice as many entries as free
//! blocks (plus a constant), which costs O(n) once per Ω(n) updates.
//!
//! Costs (n = free blocks): insert O(log n) (a heap push, usually O(1)); remove O(1) for small
//! sizes, O(log n) for large; `best` O(log n) amortized (stale entries are dropped once each).
//! Compared with one `BTreeSet` of `(size, addr)` this replaces a remove and an insert in a
//! pointer-chasing tree per resize with a push onto a small contiguous heap.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use super::lanes::Search;
use super::tree::{Cursor, FreeTree};
use crate::alloc::model::{Addr, Bytes, ALIGN};

/// Sizes below this get a bucket each; larger ones share the exact ordered set.
const SMALL_LIMIT: Bytes = 64 * 1024;
/// Buckets, indexed by `size / ALIGN` (bucket 0 stays empty).
const BUCKETS: usize = (SMALL_LIMIT / ALIGN) as usize;
const WORDS: usize = BUCKETS / 64;

const _: () = assert!(WORDS <= 64, "the summary word has one bit per bitmap word");

/// Free blocks by size, for best fit. See the module docs for what is exact and what is lazy.
#[derive(Clone, Debug)]
pub struct SizeIndex {
    /// `buckets[c]` holds addresses of free blocks of size `c * ALIGN`, possibly stale ones, and
    /// at least one entry for each such free block.
    buckets: Vec<BinaryHeap<Reverse<Addr>>>,
    /// Bit `c % 64` of `nonempty[c / 64]` is set iff `buckets[c]` is not empty.
    nonempty: [u64; WORDS],
    /// Bit `w` is set iff `nonempty[w] != 0`.
    summary: u64,
    /// Exactly the free blocks of size >= `SMALL_LIMIT`, as `(size, addr)`.
    large: BTreeSet<(Bytes, Addr)>,
    /// The number of entries in all buckets, stale ones included.
    entries: usize,
}

impl Default for SizeIndex {
    fn default() -> SizeIndex {
        SizeIndex::new()
    }
}

impl SizeIndex {
    pub fn new() -> SizeIndex {
        SizeIndex {
            buckets: vec![BinaryHeap::new(); BUCKETS],
            nonempty: [0; WORDS],
            summary: 0,
            large: BTreeSet::new(),
            entries: 0,
        }
    }

    /// Record a free block of `size` bytes at `addr`. O(log n), usually O(1).
    pub fn insert(&mut self, size: Bytes, addr: Addr) {
        if size >= SMALL_LIMIT {
            self.large.insert((size, addr));
            return;
        }
        let class = (size / ALIGN) as usize;
        self.buckets[class].push(Reverse(addr));
        self.entries += 1;
        self.nonempty[class / 64] |= 1 << (class % 64);
        self.summary |= 1 << (class / 64);
    }

    /// Forget a free block. O(1) for small sizes (the entry goes stale), O(log n) for large.
    pub fn remove(&mut self, size: Bytes, addr: Addr) {
        if size >= SMALL_LIMIT {
            self.large.remove(&(size, addr));
        }
    }

    /// Rebuild the buckets from `free` if stale entries outnumber the free blocks. O(n) when
    /// it rebuilds, which is at most once per `n + 64` inserts; else O(1).
    pub fn tidy(&mut self, free: &FreeTree) {
        if self.entries <= 2 * free.len() + 64 {
            return;
        }
        for bucket in &mut self.buckets {
            bucket.clear();
        }
        (self.nonempty, self.summary, self.entries) = ([0; WORDS], 0, 0);
        for (addr, size) in free.blocks() {
            if size < SMALL_LIMIT {
                self.insert(size, addr);
            }
        }
    }

    /// The smallest free block in `free` with size >= `need`, lowest address on ties (true, its
    /// path written into `at`; false if none), for the caller to take: it must then remove that
    /// block from `free` or resize it (through
    /// [`SizeIndex::remove`] and [`SizeIndex::insert`], as every change), since a small block's
    /// entry leaves its bucket here, where it is at hand, rather than going stale and being met
    /// again by a later search. Drops the stale entries met on the way. O(log n) amortized.
    #[inline(always)]
    pub fn take_best<S: Search>(
        &mut self,
        search: S,
        need: Bytes,
        free: &FreeTree,
        at: &mut Cursor,
    ) -> bool {
        let mut from = need.div_ceil(ALIGN);
        while from < BUCKETS as Bytes {
            let Some(class) = self.next_class(from as usize) else { break };
            let size = class as Bytes * ALIGN;
            let bucket = &mut self.buckets[class];
            while let Some(&Reverse(addr)) = bucket.peek() {
                let found = free.starting_at_in(search, addr, at) && free.get(at).1 == size;
                bucket.pop();
                self.entries -= 1;
                if found {
                    if bucket.is_empty() {
                        self.mark_empty(class);
                    }
                    return true;
                }
            }
            self.mark_empty(class);
            from = class as Bytes + 1;
        }
        let Some(&(_, addr)) = self.large.range((need, 0)..).next() else { return false };
        assert!(free.starting_at_in(search, addr, at), "the size index mirrors the tree");
        true
    }

    /// Bucket `class` has just become empty.
    #[inline(always)]
    fn mark_empty(&mut self, class: usize) {
        self.nonempty[class / 64] &= !(1 << (class % 64));
        if self.nonempty[class / 64] == 0 {
            self.summary &= !(1 << (class / 64));
        }
    }

    /// The first bucket at or after `class` with entries.
    fn next_class(&self, class: usize) -> Option<usize> {
        let word = class / 64;
        let bits = self.nonempty[word] & (u64::MAX << (class % 64));
        if bits != 0 {
            return Some(word * 64 + bits.trailing_zeros() as usize);
        }
        let words = if word + 1 >= 64 { 0 } else { self.summary & (u64::MAX << (word + 1)) };
        if words == 0 {
            return None;
        }
        let word = words.trailing_zeros() as usize;
        Some(word * 64 + self.nonempty[word].trailing_zeros() as usize)
    }

    /// Panic unless the index covers exactly the blocks of `free` as documented. O(n log n);
    /// for tests.
    #[cfg(test)]
    pub fn check(&self, free: &FreeTree) {
        let mut entries = 0;
        for (class, bucket) in self.buckets.iter().enumerate() {
            entries += bucket.len();
            let bit = self.nonempty[class / 64] >> (class % 64) & 1 == 1;
            assert_eq!(bit, !bucket.is_empty(), "bitmap wrong for bucket {class}");
        }
        for (word, &bits) in self.nonempty.iter().enumerate() {
            assert_eq!(self.summary >> word & 1 == 1, bits != 0, "summary wrong for word {word}");
        }
        assert_eq!(entries, self.entries, "entry count is wrong");
        let mut large = BTreeSet::new();
        for (addr, size) in free.blocks() {
            if size >= SMALL_LIMIT {
                large.insert((size, addr));
            } else {
                let bucket = &self.buckets[(size / ALIGN) as usize];
                assert!(bucket.iter().any(|e| e.0 == addr), "no entry for {size} at {addr}");
            }
        }
        assert_eq!(large, self.large, "large blocks differ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_fitting_size_wins_and_ties_go_to_the_lowest_address() {
        let mut free = FreeTree::new();
        let mut index = SizeIndex::new();
        for (addr, size) in [(0, 64), (1000, 32), (2000, 32), (3000, 48), (9000, SMALL_LIMIT * 2)] {
            free.insert(addr, size);
            index.insert(size, addr);
        }
        index.check(&free);
        // Each search takes its block out, as the free list does.
        let mut best = |need| {
            let mut at = Cursor::ROOT;
            let found = index.take_best(free.lanes(), need, &free, &mut at).then(|| free.get(&at));
            if let Some((addr, size)) = found {
                free.remove(&free.starting_at(addr).unwrap());
                index.remove(size, addr);
                index.check(&free);
            }
            found
        };
        assert_eq!(best(17), Some((1000, 32)));
        assert_eq!(best(17), Some((2000, 32)));
        assert_eq!(best(17), Some((3000, 48)));
        assert_eq!(best(33), Some((0, 64)));
        assert_eq!(best(65), Some((9000, SMALL_LIMIT * 2)));
        assert_eq!(best(16), None);
        assert_eq!(index.entries, 0);
    }

    #[test]
    fn stale_entries_are_skipped_and_dropped() {
        let mut free = FreeTree::new();
        let mut index = SizeIndex::new();
        for (addr, size) in [(0, 32), (100, 32), (200, 64)] {
            free.insert(addr, size);
            index.insert(size, addr);
        }
        // The block at 0 is taken and the one at 100 grows: both 32-byte entries go stale.
        free.remove(&free.starting_at(0).unwrap());
        index.remove(32, 0);
        free.set(&free.starting_at(100).unwrap(), 100, 48);
        index.remove(32, 100);
        index.insert(48, 100);
        let mut at = Cursor::ROOT;
        let found = index.take_best(free.lanes(), 16, &free, &mut at).then(|| free.get(&at));
        assert_eq!(found, Some((100, 48)));
        assert_eq!(index.entries, 1, "the two stale entries were dropped, the chosen one taken");
        // The caller takes the block; what is left is indexed.
        free.remove(&free.starting_at(100).unwrap());
        index.check(&free);
    }

    #[test]
    fn tidying_bounds_the_stale_entries() {
        let mut free = FreeTree::new();
        let mut index = SizeIndex::new();
        free.insert(0, 16);
        index.insert(16, 0);
        for size in (1..1000).map(|i| 16 * (i % 50 + 1)) {
            let at = free.starting_at(0).unwrap();
            let (_, old) = free.get(&at);
            free.set(&at, 0, size);
            index.remove(old, 0);
            index.insert(size, 0);
            index.tidy(&free);
            assert!(index.entries <= 2 * free.len() + 64);
        }
        index.check(&free);
    }
}
