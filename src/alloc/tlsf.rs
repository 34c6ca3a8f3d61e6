//! `tlsf`: two-level segregated fit (Masmano, Ripoll, Crespo and Real, 2004): good fit from
//! size-class lists found through two levels of bitmaps, with immediate coalescing.
//!
//! # Size classes
//! Free blocks are kept in lists by size class. Sizes below [`SMALL_LIMIT`] (256 bytes) are
//! *small*: first-level class 0, second-level class `size / 16`, so every small class holds one
//! exact size (16, 32, ..., 240). A size `s >= 256` with `2^k <= s < 2^(k+1)` has first-level class
//! `k - 7` and second-level class `(s >> (k - 4)) - 16`: each power-of-two range is cut into
//! [`SL_COUNT`] = 16 equal classes `2^(k-4)` bytes wide (16 bytes wide in `[256, 512)`, 32 in
//! `[512, 1024)`, and so on). The small range is exactly where this cut would make classes
//! narrower than 16 bytes. 57 first-level classes cover every `u64` size.
//!
//! # Policy
//! A request needs `b = block_size(req)` bytes (see [`Params::block_size`]; memalign padding is
//! part of the block and the payload is its first aligned address).
//!
//! 1. **Good fit.** `b` is rounded up to the next class boundary (the smallest class lower bound
//!    `>= b`), so that *every* block in the class found is big enough. The first non-empty class
//!    at or above that boundary is taken, and in it the list's head. Lists are LIFO: a freed
//!    block is pushed at the front, so the most recently freed block of a class is reused first.
//!    The rounding may skip a fitting block (a 1040-byte free block is not found for a 1040-byte
//!    request: its class `[1024, 1088)` also holds blocks smaller than 1040); it adds less than
//!    1/16 of `b`, and nothing for small sizes.
//! 2. **Split.** The block is cut: its low `b` bytes are handed out, the rest goes back to the
//!    free lists if it is at least `--min-size` bytes; a smaller rest stays inside the handed-out
//!    block as internal waste (with the default `--min-size` of 16 there is never any). The
//!    rest is then treated as a freed block: merged with the block after it if that one is free
//!    (which only happens to the tail of a shrinking realloc: a block taken from a list, grown
//!    into or found at the end of the heap never has a free block after it), and pushed at the
//!    **head** of its class list, so the next request served from that class gets it before
//!    any block that was already in the list.
//! 3. **Growth, as sbrk.** When no class fits: if the last block of the heap (the one ending at
//!    `top`) is free, it is used: split as in 2 when it is already big enough (a block the
//!    rounding skipped), else extended so that `top = its start + b`. Otherwise a new block is
//!    placed at `top` and `top` grows by `b`. When `--heap-limit` or the address-space ceiling
//!    ([`super::ADDRESS_LIMIT`]) forbids the new `top`, the request fails and nothing changes.
//! 4. **Free.** A freed block merges at once with its free physical neighbours (before and
//!    after), then is pushed on its class list. Two free blocks are therefore never adjacent.
//!    tlsf always coalesces, as in the paper: `--no-coalesce` (the free-list family's switch)
//!    does not apply to it.
//! 5. **Realloc** to `b` bytes, trying in order:
//!    1. `b <= size`: shrink in place; the tail is freed (and merged) if it is at least
//!       `--min-size`, else kept as waste;
//!    2. the next physical block is free and both together hold `b`: grow into it in place,
//!       splitting as in 2;
//!    3. the good-fit search of 1 finds a block: move there (allocate new, then free old);
//!    4. the block is the last one of the heap, or is followed by the free last block: grow in
//!       place so that `top = its start + b` (fails at the heap limit, block unchanged);
//!    5. otherwise allocate as in 1 and 3, then free the old block.
//!
//!    The first rule that applies decides. A realloc that fails at the heap limit in rule 4 does
//!    not go on to rule 5; rule 5 could not succeed either (rule 3's search already found no
//!    block, and growing from `top` or from the free last block needs a `top` at least as high
//!    as rule 4's), so unlike the free-list family's rule 3 no free block is passed over.
//!
//! `free_bytes` is `top` minus the bytes of live blocks, waste included. `largest_satisfiable` is
//! the largest request `r` (16-byte aligned) for which `allocate(r)` succeeds without growing the
//! heap: the larger of the lower bound of the highest non-empty class (0 if that bound is below
//! `--min-size`, which every request needs) and the size of the last block when that block is
//! free.
//!
//! # Mechanism and costs
//! Boundary tags are kept out of band, as in the free-list family, so no header bytes are charged
//! to a block and `tlsf`'s footprint compares directly with `best-fit`'s. Block records (start,
//! size, physical previous and next, free-list previous and next; 32 bytes) live in an arena
//! `Vec` indexed by `u32`, with recycled slots; the free lists are intrusive doubly linked lists
//! through the records. A handed-out block carries its record's index (plus 1) as its
//! [`Allocation::handle`], which the engine hands back with it in `free` and `reallocate`: the
//! record is found in one indexed load, as a real TLSF finds its header just before the
//! payload (the start address in the record is checked against the block's). One `u64`
//! first-level bitmap and one `u16` second-level bitmap per first-level class say which lists
//! are non-empty, so a search is two `trailing_zeros`. `allocate`, `free` and `reallocate` are
//! O(1); `largest_satisfiable` is O(1) from the bitmaps. Memory: 32 bytes per block record
//! (live, free, or spare for reuse). In practice the time per event is a few cache misses (the
//! record, its physical neighbours, its list neighbours), so it grows with the heap only as the
//! records leave the caches.
//!
//! The `reference` module (tests only) implements the policy above plainly, over a map of
//! blocks by address and a scan of the free blocks, and its property tests replay random traces
//! through both, demanding the same blocks, `top`, `free_bytes`, `largest_satisfiable`, `work`
//! and free blocks after every event.
//!
//! # Work
//! [`Strategy::work`] counts 1 for every call (`allocate`, `free`, `reallocate`), 1 for every
//! good-fit search (two bitmap lookups at most: the second-level word of the class, then, if
//! that has nothing, the first-level word), 1 for every block put on or taken off a class
//! list, and 1 for every merge of two physical neighbours. Whether or not the call succeeds:
//! - malloc: 2 (the call and its search); then 1 when a listed block is taken: the block found,
//!   or the free last block used for growth (a new block at `top` takes nothing); then, if the
//!   block is split, 1 for the rest put on its list. A malloc failing at the limit costs 2.
//! - free: 1, then 2 (taken off its list, merged) for each free neighbour, then 1 for the block
//!   put on its list: 2, 4 or 6.
//! - realloc: 1, then by rule:
//!   1. shrink: 1 if the tail is split off (put on its list; 2 more if it merges with a free
//!      block after it), else 0;
//!   2. grow into the next block: 2 (taken off, merged), plus 1 if the rest is split off;
//!   3. to 5: 1 for the search of rule 3; rule 3 then costs 1 (taken off), 1 if split, and
//!      the free of the old block (as a free: 2, 4 or 6); rule 4 costs 2 more if it takes over
//!      the free last block, else 0 (also when it fails at the limit: a failed rule 4 costs 2
//!      in all); rule 5 is a malloc and a free, as above (4 in all when the malloc fails).

use super::model::{Addr, Allocation, Bytes, Params, Request, Strategy, StrategyEntry, ALIGN};

#[cfg(test)]
mod reference;

pub const ENTRY: StrategyEntry = StrategyEntry {
    name: "tlsf",
    about: "two-level segregated fit: good fit among 16 size classes per power of two, coalescing",
    new: |params| Box::new(Tlsf::new(*params)),
};

/// log2 of [`SL_COUNT`].
const SL_LOG2: u32 = 4;
/// Second-level classes per first-level class.
pub const SL_COUNT: usize = 1 << SL_LOG2;
/// log2 of [`SMALL_LIMIT`].
const SMALL_LOG2: u32 = SL_LOG2 + ALIGN.trailing_zeros();
/// Sizes below this are small: one exact class per multiple of 16, all in first-level class 0.
pub const SMALL_LIMIT: Bytes = 1 << SMALL_LOG2;
/// First-level classes: the small range, then one per power of two from `SMALL_LIMIT` to `2^63`.
pub const FL_COUNT: usize = (Bytes::BITS - SMALL_LOG2 + 1) as usize;

/// No record (end of a list, no neighbour).
const NIL: u32 = u32::MAX;

/// The [`Allocation::handle`] of the block whose record is `blocks[i]`: `i + 1`, so that no
/// handle is 0 ("none").
#[inline]
const fn handle_of(i: u32) -> u32 {
    i + 1
}

/// The record index a handle from [`handle_of`] names; `u32::MAX` (past any arena) for 0.
#[inline]
const fn record_of(handle: u32) -> u32 {
    handle.wrapping_sub(1)
}

/// The class `(first level, second level)` a free block of `size` bytes is listed in.
#[inline]
fn class_of(size: Bytes) -> (usize, usize) {
    if size < SMALL_LIMIT {
        (0, (size / ALIGN) as usize)
    } else {
        let log = Bytes::BITS - 1 - size.leading_zeros();
        let sl = (size >> (log - SL_LOG2)) as usize & (SL_COUNT - 1);
        ((log - SMALL_LOG2 + 1) as usize, sl)
    }
}

/// The smallest size in class `(fl, sl)`.
#[inline]
fn class_base(fl: usize, sl: usize) -> Bytes {
    if fl == 0 {
        sl as Bytes * ALIGN
    } else {
        let log = fl as u32 + SMALL_LOG2 - 1;
        (1 << log) + ((sl as Bytes) << (log - SL_LOG2))
    }
}

/// The width in bytes of the class holding `size`.
#[inline]
fn granularity(size: Bytes) -> Bytes {
    if size < SMALL_LIMIT {
        ALIGN
    } else {
        1 << (Bytes::BITS - 1 - size.leading_zeros() - SL_LOG2)
    }
}

/// The smallest class lower bound `>= size`: the good-fit search starts in the class that begins
/// there, since every block in it has at least `size` bytes. `None` past the largest class.
#[inline]
fn search_size(size: Bytes) -> Option<Bytes> {
    let g = granularity(size);
    Some(size.checked_add(g - 1)? & !(g - 1))
}

/// A block's boundary tags and free-list links, kept out of band: 32 bytes, aligned so that a
/// record never straddles two cache lines.
#[derive(Clone, Copy, Debug)]
#[repr(align(32))]
struct Block {
    start: Addr,
    size: Bytes,
    /// The block ending at `start`, or `NIL` for the block at address 0.
    prev_phys: u32,
    /// The block starting at `start + size`, or `NIL` for the last block (ending at `top`).
    next_phys: u32,
    /// The block before this one in its class list (`NIL` at the head), or `UNLISTED` for a
    /// block that is not free. Free blocks are always listed.
    prev_free: u32,
    /// The block after this one in its class list; meaningful only while listed.
    next_free: u32,
}

/// `prev_free` of a block that is in no list: a live block, or one being worked on.
const UNLISTED: u32 = u32::MAX - 1;

impl Block {
    /// An unlisted block.
    const fn new(start: Addr, size: Bytes, prev_phys: u32, next_phys: u32) -> Block {
        Block { start, size, prev_phys, next_phys, prev_free: UNLISTED, next_free: NIL }
    }

    #[inline]
    const fn is_free(&self) -> bool {
        self.prev_free != UNLISTED
    }
}

/// The TLSF heap.
#[derive(Clone, Debug)]
pub struct Tlsf {
    params: Params,
    top: Bytes,
    /// Bytes of live blocks (waste included); `free_bytes == top - used`.
    used: Bytes,
    /// Block records. Following `next_phys` from the block at 0 visits `[0, top)` in address
    /// order without gaps; no two physically adjacent blocks are both free.
    blocks: Vec<Block>,
    /// Indices of unused records in `blocks`, reused before the arena grows.
    spare: Vec<u32>,
    /// The block ending at `top`, or `NIL` while the heap is empty.
    last: u32,
    /// Bit `fl` set iff `sl_bitmap[fl] != 0`.
    fl_bitmap: u64,
    /// Bit `sl` of `sl_bitmap[fl]` set iff the list of class `(fl, sl)` is non-empty.
    sl_bitmap: [u16; FL_COUNT],
    /// Head of each class list, index `fl * SL_COUNT + sl`; `NIL` when empty.
    heads: [u32; FL_COUNT * SL_COUNT],
    /// Units of work so far (see the module docs).
    work: u64,
}

impl Tlsf {
    pub fn new(params: Params) -> Tlsf {
        Tlsf {
            params,
            top: 0,
            used: 0,
            blocks: Vec::new(),
            spare: Vec::new(),
            last: NIL,
            fl_bitmap: 0,
            sl_bitmap: [0; FL_COUNT],
            heads: [NIL; FL_COUNT * SL_COUNT],
            work: 0,
        }
    }

    /// The smallest block kept on its own: smaller split remainders stay as waste.
    #[inline]
    fn min_block(&self) -> Bytes {
        self.params.min_size.max(ALIGN)
    }

    /// Record `i`, named by a link: every `prev_phys`, `next_phys`, `prev_free`, `next_free`,
    /// list head and `last` that is not `NIL` (or `UNLISTED`) names a record of the arena, since
    /// records are only ever added or recycled, never removed. So the hot paths, which follow
    /// links, read records without a bounds check; a handle from the engine is checked once
    /// ([`Tlsf::live_record`]).
    #[inline(always)]
    fn rec(&self, i: u32) -> &Block {
        debug_assert!((i as usize) < self.blocks.len(), "record {i} of {}", self.blocks.len());
        // SAFETY: `i` names a record of the arena (above); the debug build checks it.
        unsafe { self.blocks.get_unchecked(i as usize) }
    }

    /// [`Tlsf::rec`], to change.
    #[inline(always)]
    fn block(&mut self, i: u32) -> &mut Block {
        debug_assert!((i as usize) < self.blocks.len(), "record {i} of {}", self.blocks.len());
        // SAFETY: as in `rec`.
        unsafe { self.blocks.get_unchecked_mut(i as usize) }
    }

    fn new_record(&mut self, block: Block) -> u32 {
        match self.spare.pop() {
            Some(i) => {
                self.blocks[i as usize] = block;
                i
            }
            None => {
                self.blocks.push(block);
                assert!(self.blocks.len() <= UNLISTED as usize, "fewer than 2^32 - 2 blocks");
                (self.blocks.len() - 1) as u32
            }
        }
    }

    /// Push free block `i` on the front of its class list.
    #[inline(always)]
    fn insert_free(&mut self, i: u32) {
        self.work += 1;
        let (fl, sl) = class_of(self.rec(i).size);
        let head = self.heads[fl * SL_COUNT + sl];
        if head != NIL {
            self.block(head).prev_free = i;
        }
        let b = self.block(i);
        b.prev_free = NIL;
        b.next_free = head;
        self.heads[fl * SL_COUNT + sl] = i;
        self.sl_bitmap[fl] |= 1 << sl;
        self.fl_bitmap |= 1 << fl;
    }

    /// Unlink free block `i` from its class list (before its size changes).
    #[inline(always)]
    fn remove_free(&mut self, i: u32) {
        self.work += 1;
        let b = *self.rec(i);
        debug_assert!(b.is_free());
        if b.prev_free != NIL {
            self.block(b.prev_free).next_free = b.next_free;
        } else {
            let (fl, sl) = class_of(b.size);
            self.heads[fl * SL_COUNT + sl] = b.next_free;
            if b.next_free == NIL {
                self.sl_bitmap[fl] &= !(1 << sl);
                if self.sl_bitmap[fl] == 0 {
                    self.fl_bitmap &= !(1 << fl);
                }
            }
        }
        if b.next_free != NIL {
            self.block(b.next_free).prev_free = b.prev_free;
        }
        self.block(i).prev_free = UNLISTED;
    }

    /// The good-fit search: the head of the first non-empty class at or above the class starting
    /// at `search_size(size)`. Every block it returns has at least `size` bytes.
    #[inline]
    fn find_fit(&self, size: Bytes) -> Option<u32> {
        let (fl, sl) = class_of(search_size(size)?);
        let here = u32::from(self.sl_bitmap[fl]) & (u32::MAX << sl);
        let (fl, map) = if here != 0 {
            (fl, here)
        } else {
            let above = self.fl_bitmap & (u64::MAX << (fl + 1));
            if above == 0 {
                return None;
            }
            let fl = above.trailing_zeros() as usize;
            (fl, u32::from(self.sl_bitmap[fl]))
        };
        Some(self.heads[fl * SL_COUNT + map.trailing_zeros() as usize])
    }

    /// Merge the block after `i` (not listed) into `i`.
    #[inline(always)]
    fn absorb_next(&mut self, i: u32) {
        self.work += 1;
        let j = self.rec(i).next_phys;
        let next = *self.rec(j);
        let b = self.block(i);
        b.size += next.size;
        b.next_phys = next.next_phys;
        if next.next_phys != NIL {
            self.block(next.next_phys).prev_phys = i;
        } else {
            self.last = i;
        }
        self.spare.push(j);
    }

    /// Give free block `i` (not listed) back: merge it with free neighbours, then list it.
    #[inline(always)]
    fn release(&mut self, mut i: u32) {
        let next = self.rec(i).next_phys;
        if next != NIL && self.rec(next).is_free() {
            self.remove_free(next);
            self.absorb_next(i);
        }
        let prev = self.rec(i).prev_phys;
        if prev != NIL && self.rec(prev).is_free() {
            self.remove_free(prev);
            self.absorb_next(prev);
            i = prev;
        }
        self.insert_free(i);
    }

    /// Cut unlisted block `i` down to `size` bytes when the rest is at least the minimum block,
    /// and free the rest; otherwise leave it whole (the rest is waste).
    #[inline(always)]
    fn trim(&mut self, i: u32, size: Bytes) {
        let b = *self.rec(i);
        let rest = b.size - size;
        if rest == 0 || rest < self.min_block() {
            return;
        }
        let r = self.new_record(Block::new(b.start + size, rest, i, b.next_phys));
        if b.next_phys != NIL {
            self.block(b.next_phys).prev_phys = r;
        } else {
            self.last = r;
        }
        let b = self.block(i);
        b.next_phys = r;
        b.size = size;
        self.release(r);
    }

    /// Hand out unlisted block `i` for `req`, trimmed to `size` bytes.
    #[inline(always)]
    fn hand_out(&mut self, i: u32, size: Bytes, req: Request) -> Allocation {
        self.trim(i, size);
        let b = *self.rec(i);
        self.used += b.size;
        Allocation::aligned(b.start, b.size, req).with_handle(handle_of(i))
    }

    /// Growth when no class fits (policy step 3): an unlisted block of at least `size` bytes at
    /// the end of the heap, or `None` (nothing changed) past the heap limit.
    #[inline(never)]
    fn grow(&mut self, size: Bytes) -> Option<u32> {
        let last = self.last;
        if last != NIL && self.rec(last).is_free() {
            let b = *self.rec(last);
            if b.size < size {
                let new_top = b.start.checked_add(size)?;
                if !self.params.may_grow_to(new_top) {
                    return None;
                }
                self.remove_free(last);
                self.block(last).size = size;
                self.top = new_top;
            } else {
                self.remove_free(last);
            }
            return Some(last);
        }
        let new_top = self.top.checked_add(size)?;
        if !self.params.may_grow_to(new_top) {
            return None;
        }
        let i = self.new_record(Block::new(self.top, size, last, NIL));
        if last != NIL {
            self.block(last).next_phys = i;
        }
        self.last = i;
        self.top = new_top;
        Some(i)
    }

    /// The record of a live block the engine hands back: the one its handle names. A handle
    /// this heap did not give (0, or past the arena) panics on the bounds check; one naming
    /// another block's record fails the check of its start.
    #[inline]
    fn live_record(&self, block: Allocation) -> u32 {
        let i = record_of(block.handle);
        let b = &self.blocks[i as usize];
        assert_eq!(b.start, block.start, "the engine only hands back live blocks");
        debug_assert!(b.size == block.size && !b.is_free(), "{block:?} is live: {b:?}");
        i
    }
}

impl Strategy for Tlsf {
    #[inline(always)]
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        self.work += 2; // the call and the search
        let size = self.params.block_size(req);
        let i = match self.find_fit(size) {
            Some(i) => {
                self.remove_free(i);
                i
            }
            None => self.grow(size)?,
        };
        Some(self.hand_out(i, size, req))
    }

    #[inline(always)]
    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        self.work += 1;
        let i = self.live_record(old);
        let size = self.params.block_size(req);
        let b = *self.rec(i);
        let next_is_free = b.next_phys != NIL && self.rec(b.next_phys).is_free();
        let in_place = if size <= b.size {
            // 1: shrink in place.
            true
        } else if next_is_free && b.size + self.rec(b.next_phys).size >= size {
            // 2: grow into the free next block.
            self.remove_free(b.next_phys);
            self.absorb_next(i);
            true
        } else {
            false
        };
        if in_place {
            self.used -= b.size;
            self.trim(i, size);
            let b = *self.rec(i);
            self.used += b.size;
            return Some(Allocation::aligned(b.start, b.size, req).with_handle(handle_of(i)));
        }
        self.work += 1;
        if let Some(j) = self.find_fit(size) {
            // 3: move to a block that fits without growth.
            self.remove_free(j);
            let new = self.hand_out(j, size, req);
            self.free(old);
            return Some(new);
        }
        if i == self.last || (next_is_free && b.next_phys == self.last) {
            // 4: grow in place at the end of the heap.
            let new_top = b.start.checked_add(size)?;
            if !self.params.may_grow_to(new_top) {
                return None;
            }
            if next_is_free {
                self.remove_free(b.next_phys);
                self.absorb_next(i);
            }
            self.block(i).size = size;
            self.top = new_top;
            self.used += size - b.size;
            return Some(Allocation::aligned(b.start, size, req).with_handle(handle_of(i)));
        }
        // 5: move, growing the heap.
        let new = self.allocate(req)?;
        self.free(old);
        Some(new)
    }

    fn work(&self) -> u64 {
        self.work
    }

    #[inline(always)]
    fn free(&mut self, block: Allocation) {
        self.work += 1;
        let i = self.live_record(block);
        self.used -= self.rec(i).size;
        self.release(i);
    }

    fn top(&self) -> Bytes {
        self.top
    }

    fn free_bytes(&self) -> Bytes {
        self.top - self.used
    }

    fn largest_satisfiable(&self) -> Bytes {
        let by_class = if self.fl_bitmap == 0 {
            0
        } else {
            let fl = (u64::BITS - 1 - self.fl_bitmap.leading_zeros()) as usize;
            let sl = (u16::BITS - 1 - self.sl_bitmap[fl].leading_zeros()) as usize;
            let base = class_base(fl, sl);
            // A request needs at least `min_size` bytes and is searched from the first class
            // boundary at or above that; `base` is a boundary, so comparing with `min_size` is
            // the same test.
            if base >= self.params.min_size {
                base
            } else {
                0
            }
        };
        // When the search misses, the free last block is used without growth if it is big
        // enough. It has at least `min_size` bytes, as every block has.
        let last = self.last;
        let by_last = if last != NIL && self.rec(last).is_free() { self.rec(last).size } else { 0 };
        by_class.max(by_last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::model::{limits, ADDRESS_LIMIT};
    use proptest::prelude::{any, prop_oneof, proptest, Just, ProptestConfig};

    fn heap() -> Tlsf {
        Tlsf::new(Params::default())
    }

    fn malloc(heap: &mut Tlsf, n: Bytes) -> Allocation {
        heap.allocate(Request::new(n)).expect("no heap limit")
    }

    /// The free blocks in address order, as `(start, size)`.
    fn free_blocks(heap: &Tlsf) -> Vec<(Addr, Bytes)> {
        layout(heap)
            .into_iter()
            .filter(|(_, b)| b.is_free())
            .map(|(_, b)| (b.start, b.size))
            .collect()
    }

    /// Every block with its record index, in address order (following `next_phys` from the
    /// block at 0, found by following `prev_phys` from the last one).
    pub(super) fn layout(heap: &Tlsf) -> Vec<(u32, Block)> {
        let mut i = heap.last;
        while i != NIL && heap.blocks[i as usize].prev_phys != NIL {
            i = heap.blocks[i as usize].prev_phys;
        }
        let mut out = Vec::new();
        while i != NIL {
            out.push((i, heap.blocks[i as usize]));
            i = heap.blocks[i as usize].next_phys;
        }
        out
    }

    /// Panics unless the records, lists, bitmaps and map agree with each other.
    pub(super) fn check_invariants(heap: &Tlsf) {
        let mut at = 0;
        let mut used = 0;
        let mut free_count = 0;
        let mut prev: Option<(u32, Block)> = None;
        for (i, b) in layout(heap) {
            assert_eq!(b.start, at, "blocks tile the heap without gaps");
            assert!(b.size > 0 && b.size % ALIGN == 0, "size {} is a multiple of 16", b.size);
            assert!(b.size >= heap.min_block(), "no block is below the minimum");
            match prev {
                Some((p, pb)) => {
                    assert_eq!(b.prev_phys, p, "prev_phys points at the block before");
                    assert!(
                        !(pb.is_free() && b.is_free()),
                        "two adjacent free blocks at {:#x}",
                        b.start
                    );
                }
                None => assert_eq!(b.prev_phys, NIL),
            }
            if b.is_free() {
                free_count += 1;
            } else {
                used += b.size;
            }
            at += b.size;
            prev = Some((i, b));
        }
        assert_eq!(prev.map(|(i, _)| i).unwrap_or(NIL), heap.last, "last is the last block");
        assert_eq!(at, heap.top, "the last block ends at top");
        assert_eq!(used, heap.used, "used counts the live blocks");
        let mut listed = 0;
        for fl in 0..FL_COUNT {
            for sl in 0..SL_COUNT {
                let mut j = heap.heads[fl * SL_COUNT + sl];
                let bit = heap.sl_bitmap[fl] & (1 << sl) != 0;
                assert_eq!(bit, j != NIL, "bitmap bit of class ({fl}, {sl}) matches its list");
                let mut before = NIL;
                while j != NIL {
                    let b = heap.blocks[j as usize];
                    assert!(b.is_free(), "listed blocks are free");
                    assert_eq!(class_of(b.size), (fl, sl), "a block is listed in its class");
                    assert_eq!(b.prev_free, before, "prev_free points at the block before");
                    listed += 1;
                    before = j;
                    j = b.next_free;
                }
            }
            assert_eq!(heap.fl_bitmap & (1 << fl) != 0, heap.sl_bitmap[fl] != 0);
        }
        assert_eq!(listed, free_count, "every free block is listed once");
    }

    /// Every non-empty class list, in class order: the class's smallest size and its blocks'
    /// start addresses, head first.
    pub(super) fn class_lists(heap: &Tlsf) -> Vec<(Bytes, Vec<Addr>)> {
        let mut lists = Vec::new();
        for fl in 0..FL_COUNT {
            for sl in 0..SL_COUNT {
                let mut list = Vec::new();
                let mut j = heap.heads[fl * SL_COUNT + sl];
                while j != NIL {
                    list.push(heap.blocks[j as usize].start);
                    j = heap.blocks[j as usize].next_free;
                }
                if !list.is_empty() {
                    lists.push((class_base(fl, sl), list));
                }
            }
        }
        lists
    }

    /// Panics unless every block of `live` (the blocks handed out and not given back) carries the
    /// handle of its own record, a live one with its start and size, and the heap has no other
    /// live block.
    pub(super) fn check_handles(heap: &Tlsf, live: &[Allocation]) {
        let mut records: Vec<u32> = live.iter().map(|b| record_of(b.handle)).collect();
        for (block, &i) in live.iter().zip(&records) {
            let b = heap.blocks.get(i as usize).expect("a handle names a record of the arena");
            assert!(!b.is_free(), "{block:?} names a free record");
            assert_eq!((b.start, b.size), (block.start, block.size), "{block:?} names {b:?}");
        }
        records.sort_unstable();
        records.dedup();
        assert_eq!(records.len(), live.len(), "no two live blocks share a handle");
        let live_records = layout(heap).iter().filter(|(_, b)| !b.is_free()).count();
        assert_eq!(live_records, live.len(), "the heap has no other live block");
    }

    /// Whether `allocate(Request::new(r))` succeeds without growing the heap, by trying it on a
    /// copy whose heap limit is the current `top`.
    fn fits_without_growth(heap: &Tlsf, r: Bytes) -> bool {
        let mut copy = heap.clone();
        copy.params.heap_limit = Some(heap.top);
        let fits = copy.allocate(Request::new(r)).is_some();
        assert_eq!(copy.top, heap.top);
        fits
    }

    #[test]
    fn mapping_puts_sizes_in_the_right_first_and_second_level_class() {
        assert_eq!(SMALL_LIMIT, 256);
        assert_eq!(FL_COUNT, 57);
        // Small sizes: one exact class per multiple of 16.
        assert_eq!(class_of(16), (0, 1));
        assert_eq!(class_of(240), (0, 15));
        // [256, 512) in steps of 16.
        assert_eq!(class_of(256), (1, 0));
        assert_eq!(class_of(272), (1, 1));
        assert_eq!(class_of(496), (1, 15));
        // [512, 1024) in steps of 32: 1040 is in [1024, 1088).
        assert_eq!(class_of(512), (2, 0));
        assert_eq!(class_of(544), (2, 1));
        assert_eq!(class_of(1008), (2, 15));
        assert_eq!(class_of(1040), (3, 0));
        assert_eq!(class_of(1088), (3, 1));
        assert_eq!(class_of(1 << 20), (13, 0));
        assert_eq!(class_of(!15u64), (56, 15));
        for (fl, sl) in [(0, 3), (1, 0), (2, 7), (3, 1), (13, 0), (56, 15)] {
            assert_eq!(class_of(class_base(fl, sl)), (fl, sl));
            assert_eq!(
                class_of(class_base(fl, sl) - 16),
                if sl == 0 && fl > 0 { (fl - 1, SL_COUNT - 1) } else { (fl, sl.wrapping_sub(1)) }
            );
        }
        assert_eq!(search_size(1040), Some(1088));
        assert_eq!(search_size(1024), Some(1024));
        assert_eq!(search_size(48), Some(48));
        assert_eq!(search_size(!15u64), None);
    }

    #[test]
    fn tlsf_rounding_waste_is_bounded_by_the_second_level_granularity() {
        // The search starts at `search_size(b)`: `b` rounded up to its class's width, which is
        // 16 below 256 bytes (no rounding at all: classes are exact) and `2^(k-4) <= b / 16` for
        // `2^k <= b`. So it adds at most the width minus 16 bytes, which is less than `b / 16`,
        // and every block it can find has at least `b` bytes.
        let mut b = 16;
        while b < 1 << 22 {
            let s = search_size(b).unwrap();
            let (fl, sl) = class_of(s);
            assert_eq!(class_base(fl, sl), s, "{b} is searched from a class boundary");
            assert!(s >= b);
            if b < SMALL_LIMIT {
                assert_eq!(s, b, "small sizes are not rounded");
            } else {
                assert!(s - b <= granularity(b) - 16, "{b} rounds to {s}");
                assert!((s - b) * 16 < b, "{b} rounds to {s}: more than 1/16 added");
            }
            b += 16;
        }
    }

    #[test]
    fn good_fit_rounding_skips_a_list_that_might_not_fit() {
        // Free blocks of 1040 (class [1024, 1088)) and 2048, kept apart by live blocks.
        let mut heap = heap();
        let a = malloc(&mut heap, 1040);
        let _gap = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 2048);
        let _gap2 = malloc(&mut heap, 16);
        heap.free(a);
        heap.free(b);
        // A 1040-byte request searches from 1088: the exactly-fitting 1040 block is skipped.
        let c = malloc(&mut heap, 1040);
        assert_eq!(c, Allocation::at(1056, 1040));
        // A 1024-byte request is on a class boundary and finds the 1040 block; the 16-byte rest
        // goes back to the free lists.
        let d = malloc(&mut heap, 1024);
        assert_eq!(d, Allocation::at(0, 1024));
        assert_eq!(free_blocks(&heap), vec![(1024, 16), (2096, 1008)]);
        check_invariants(&heap);
    }

    #[test]
    fn splitting_returns_the_remainder_to_its_list() {
        let mut heap = heap();
        let a = malloc(&mut heap, 1000);
        let _b = malloc(&mut heap, 16);
        heap.free(a);
        let c = malloc(&mut heap, 100);
        assert_eq!(c, Allocation::at(0, 112));
        assert_eq!(free_blocks(&heap), vec![(112, 1008 - 112)]);
        assert_eq!(heap.free_bytes(), 896);
        // The remainder is found again by the next request it can serve.
        let d = malloc(&mut heap, 800);
        assert_eq!(d, Allocation::at(112, 800));
        check_invariants(&heap);
    }

    #[test]
    fn a_split_remainder_goes_to_the_head_of_its_class_list() {
        // a = [0, 48), g1 = [48, 64), b = [64, 176), g2 = [176, 192); free a (class 48: [0]),
        // free b (class 112). malloc(64): classes 64 to 96 are empty, so b; the rest
        // [128, 176) is 48 bytes and goes to the head of class 48: [128, 0]. The next two
        // malloc(48) get 128, then 0 (pushed at the tail, the first would have got 0).
        let mut heap = heap();
        let a = malloc(&mut heap, 48);
        let g1 = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 112);
        let g2 = malloc(&mut heap, 16);
        assert_eq!((g1.start, b.start, g2.start), (48, 64, 176));
        heap.free(a);
        heap.free(b);
        let c = malloc(&mut heap, 64);
        assert_eq!(c, Allocation::at(64, 64));
        assert_eq!(free_blocks(&heap), [(0, 48), (128, 48)]);
        let d = malloc(&mut heap, 48);
        let e = malloc(&mut heap, 48);
        assert_eq!((d.start, e.start), (128, 0));
        check_invariants(&heap);
        // Work (see the module docs): 4 mallocs growing at top 2 each, 2 frees without free
        // neighbours 2 each, malloc(64): 2 + taken 1 + rest listed 1, malloc(48) twice: 2 +
        // taken 1. Then free(g1) and free(d = [128, 176)), whose neighbours are all live: 2
        // each. Total 8 + 4 + 4 + 6 + 2 + 2 = 26.
        heap.free(g1);
        heap.free(d);
        assert_eq!(heap.work(), 26);
    }

    #[test]
    fn work_is_one_per_call_search_list_change_and_merge() {
        // Limit 160. (call, search, list changes, merges)
        //  1-3. x, y, z = malloc(32) -> [0, 32), [32, 64), [64, 96): 2 each. 6
        //  4. free(x): 1 + put 1. 2    5. free(z): 2 (y is live)
        //  6. free(y): 1, next z: off 1 + merge 1, previous x: off 1 + merge 1, put 1. 6
        //     -> [0, 96) free, 16 so far
        //  7. p = malloc(16): 2, [0, 96) taken 1, rest [16, 96) put 1. 4
        //  8. realloc(p, 40) (48): 1, into the free next block: off 1 + merge 1, rest [48, 96)
        //     put 1. 4
        //  9. realloc(p, 20) (32): 1, tail [32, 48) split, merged with [48, 96): off 1 + merge
        //     1, put 1. 4
        // 10. realloc(p, 100) (112): 1, search 1 (nothing of 112), rule 4 with the free last
        //     block [32, 96): off 1 + merge 1. 4 -> p = [0, 112), top 112
        // 11. realloc(p, 200) (208): 1, search 1, rule 4: top 208 > 160 fails. 2
        // 12. q = malloc(16): 2 -> [112, 128)
        // 13. realloc(p, 200): 1, search 1, rule 5: malloc 2, fails (top 336). 4
        // 14. realloc(q, 40) (48): 1, search 1, rule 4: top 160. 2
        // 15. free(p): 2 -> [0, 112) free
        // 16. realloc(q, 60) (64): 1, search 1, rule 3: [0, 112) off 1, rest [64, 112) put 1;
        //     free of [112, 160): 1, previous [64, 112): off 1 + merge 1, put 1. 8
        // Total 16 + 4 + 4 + 4 + 4 + 2 + 2 + 4 + 2 + 2 + 8 = 52.
        let mut heap = Tlsf::new(Params { heap_limit: Some(160), ..Params::default() });
        let x = malloc(&mut heap, 32);
        let y = malloc(&mut heap, 32);
        let z = malloc(&mut heap, 32);
        heap.free(x);
        heap.free(z);
        heap.free(y);
        assert_eq!((free_blocks(&heap), heap.work()), (vec![(0, 96)], 16));
        let p = malloc(&mut heap, 16);
        let p = heap.reallocate(p, Request::new(40)).unwrap();
        let p = heap.reallocate(p, Request::new(20)).unwrap();
        assert_eq!((p, free_blocks(&heap)), (Allocation::at(0, 32), vec![(32, 64)]));
        let p = heap.reallocate(p, Request::new(100)).unwrap();
        assert_eq!((p, heap.top()), (Allocation::at(0, 112), 112));
        assert_eq!(heap.reallocate(p, Request::new(200)), None);
        let q = malloc(&mut heap, 16);
        assert_eq!(heap.reallocate(p, Request::new(200)), None);
        let q = heap.reallocate(q, Request::new(40)).unwrap();
        assert_eq!((q, heap.top()), (Allocation::at(112, 48), 160));
        assert_eq!(heap.work(), 42);
        heap.free(p);
        let q = heap.reallocate(q, Request::new(60)).unwrap();
        assert_eq!((q, free_blocks(&heap)), (Allocation::at(0, 64), vec![(64, 96)]));
        assert_eq!(heap.work(), 52);
        check_invariants(&heap);
    }

    #[test]
    fn a_remainder_below_the_minimum_size_stays_inside_the_block_as_waste() {
        let mut heap = Tlsf::new(Params { min_size: 64, ..Params::default() });
        let a = malloc(&mut heap, 160);
        let _b = malloc(&mut heap, 16);
        heap.free(a);
        // 160 - 112 = 48 < 64: the whole block is handed out.
        let c = malloc(&mut heap, 100);
        assert_eq!(c, Allocation::at(0, 160));
        assert_eq!(heap.free_bytes(), 0);
        check_invariants(&heap);
    }

    #[test]
    fn lists_are_lifo_so_the_most_recently_freed_block_is_reused_first() {
        let mut heap = heap();
        let a = malloc(&mut heap, 64);
        let _x = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 64);
        let _y = malloc(&mut heap, 16);
        heap.free(a);
        heap.free(b);
        assert_eq!(malloc(&mut heap, 64).start, b.start);
        assert_eq!(malloc(&mut heap, 64).start, a.start);
    }

    #[test]
    fn freeing_merges_with_both_physical_neighbours() {
        let mut heap = heap();
        let a = malloc(&mut heap, 32);
        let b = malloc(&mut heap, 48);
        let c = malloc(&mut heap, 64);
        let _d = malloc(&mut heap, 16);
        heap.free(a);
        heap.free(c);
        assert_eq!(free_blocks(&heap), vec![(0, 32), (80, 64)]);
        heap.free(b);
        assert_eq!(free_blocks(&heap), vec![(0, 144)]);
        assert_eq!(heap.largest_satisfiable(), 144);
        check_invariants(&heap);
    }

    #[test]
    fn growth_extends_a_free_last_block() {
        let mut heap = heap();
        let _a = malloc(&mut heap, 32);
        let b = malloc(&mut heap, 64);
        heap.free(b);
        // No class holds 128 bytes: the free last block (32..96) grows to 32..160.
        let c = malloc(&mut heap, 128);
        assert_eq!(c, Allocation::at(32, 128));
        assert_eq!(heap.top(), 160);
        check_invariants(&heap);
    }

    #[test]
    fn a_miss_uses_the_free_last_block_when_the_rounding_skipped_it() {
        let mut heap = heap();
        let a = malloc(&mut heap, 1040);
        heap.free(a);
        // The search for 1040 starts at 1088 and finds nothing, but the free last block holds
        // 1040 bytes: it is used without growth.
        assert_eq!(heap.largest_satisfiable(), 1040);
        let b = malloc(&mut heap, 1040);
        assert_eq!(b, Allocation::at(0, 1040));
        assert_eq!(heap.top(), 1040);
    }

    #[test]
    fn a_new_block_goes_at_top_when_the_last_block_is_live() {
        let mut heap = heap();
        let a = malloc(&mut heap, 32);
        let _b = malloc(&mut heap, 32);
        heap.free(a);
        assert_eq!(malloc(&mut heap, 48), Allocation::at(64, 48));
        assert_eq!(heap.top(), 112);
    }

    /// The heap's state, leaving out the work count (which a failed request adds to).
    fn state(heap: &Tlsf) -> String {
        format!("{:?}", Tlsf { work: 0, ..heap.clone() })
    }

    #[test]
    fn heap_limit_fails_and_leaves_the_heap_unchanged() {
        let mut heap = Tlsf::new(Params { heap_limit: Some(256), ..Params::default() });
        let _a = malloc(&mut heap, 64);
        let b = malloc(&mut heap, 64);
        heap.free(b);
        let before = state(&heap);
        assert_eq!(heap.allocate(Request::new(200)), None, "the free last block cannot grow");
        assert_eq!(state(&heap), before);
        assert_eq!(heap.allocate(Request::new(192)), Some(Allocation::at(64, 192)));
        assert_eq!(heap.allocate(Request::new(1)), None, "nothing can be placed at top");
        assert_eq!(heap.top(), 256);
        check_invariants(&heap);
    }

    #[test]
    fn memalign_pads_the_block_and_aligns_the_payload() {
        let mut heap = heap();
        let _a = malloc(&mut heap, 16);
        let b = heap.allocate(Request { size: 10, align: 64 }).unwrap();
        assert_eq!(b, Allocation { start: 16, size: 16 + 48, payload: 64, handle: 0 });
        heap.free(b);
        let c = heap.allocate(Request { size: 100, align: 256 }).unwrap();
        assert_eq!(c, Allocation { start: 16, size: 112 + 240, payload: 256, handle: 0 });
        check_invariants(&heap);
    }

    #[test]
    fn realloc_shrinks_in_place_and_frees_the_tail() {
        let mut heap = heap();
        let a = malloc(&mut heap, 256);
        let _b = malloc(&mut heap, 16);
        let a = heap.reallocate(a, Request::new(100)).unwrap();
        assert_eq!(a, Allocation::at(0, 112));
        assert_eq!(free_blocks(&heap), vec![(112, 144)]);
        // The tail merges with a free block after it.
        let a = heap.reallocate(a, Request::new(20)).unwrap();
        assert_eq!(a, Allocation::at(0, 32));
        assert_eq!(free_blocks(&heap), vec![(32, 224)]);
        check_invariants(&heap);
    }

    #[test]
    fn realloc_keeps_a_tail_below_the_minimum_size_as_waste() {
        let mut heap = Tlsf::new(Params { min_size: 64, ..Params::default() });
        let a = malloc(&mut heap, 128);
        let a = heap.reallocate(a, Request::new(80)).unwrap();
        assert_eq!(a, Allocation::at(0, 128));
        check_invariants(&heap);
    }

    #[test]
    fn realloc_grows_into_a_free_next_neighbour() {
        let mut heap = heap();
        let a = malloc(&mut heap, 64);
        let b = malloc(&mut heap, 128);
        let _c = malloc(&mut heap, 16);
        heap.free(b);
        let a = heap.reallocate(a, Request::new(100)).unwrap();
        assert_eq!(a, Allocation::at(0, 112));
        assert_eq!(free_blocks(&heap), vec![(112, 80)]);
        check_invariants(&heap);
    }

    #[test]
    fn realloc_moves_to_a_fitting_free_block_before_growing_the_heap() {
        let mut heap = heap();
        let a = malloc(&mut heap, 512);
        let _x = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 64);
        heap.free(a);
        // b is the last block, but a free block holds 400 bytes: move there, no growth.
        let b = heap.reallocate(b, Request::new(400)).unwrap();
        assert_eq!(b, Allocation::at(0, 400));
        assert_eq!(heap.top(), 592);
        check_invariants(&heap);
    }

    #[test]
    fn realloc_grows_the_last_block_in_place_at_the_top() {
        let mut heap = heap();
        let _a = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 64);
        let b = heap.reallocate(b, Request::new(200)).unwrap();
        assert_eq!(b, Allocation::at(16, 208));
        assert_eq!(heap.top(), 224);
        // The same when a too-small free block sits between it and top.
        let c = malloc(&mut heap, 64);
        let d = malloc(&mut heap, 32);
        heap.free(d);
        let c = heap.reallocate(c, Request::new(500)).unwrap();
        assert_eq!(c, Allocation::at(224, 512));
        assert_eq!(heap.top(), 736);
        check_invariants(&heap);
    }

    #[test]
    fn realloc_moves_to_the_top_when_nothing_else_applies() {
        let mut heap = heap();
        let a = malloc(&mut heap, 64);
        let _b = malloc(&mut heap, 16);
        let a = heap.reallocate(a, Request::new(100)).unwrap();
        assert_eq!(a, Allocation::at(80, 112));
        assert_eq!(free_blocks(&heap), vec![(0, 64)]);
        check_invariants(&heap);
    }

    #[test]
    fn realloc_fails_at_the_heap_limit_and_keeps_the_old_block() {
        let mut heap = Tlsf::new(Params { heap_limit: Some(200), ..Params::default() });
        let a = malloc(&mut heap, 64);
        let _b = malloc(&mut heap, 64);
        let before = state(&heap);
        assert_eq!(heap.reallocate(a, Request::new(100)), None);
        assert_eq!(state(&heap), before);
        let c = malloc(&mut heap, 16);
        assert_eq!(heap.reallocate(c, Request::new(100)), None, "in place at the top");
        check_invariants(&heap);
    }

    #[test]
    fn largest_satisfiable_is_the_highest_class_base_or_the_free_last_block() {
        let mut heap = heap();
        let a = malloc(&mut heap, 1040);
        let _x = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 48);
        let _y = malloc(&mut heap, 16);
        heap.free(a);
        heap.free(b);
        // 1040 is in [1024, 1088): only requests up to 1024 are sure to find it.
        assert_eq!(heap.largest_satisfiable(), 1024);
        assert!(fits_without_growth(&heap, 1024));
        assert!(!fits_without_growth(&heap, 1025));
        // With --min-size 1056, every request searches from 1088: nothing fits.
        let mut big = Tlsf::new(Params { min_size: 1056, ..Params::default() });
        let a = malloc(&mut big, 1060);
        let _x = malloc(&mut big, 1);
        big.free(a);
        assert_eq!(big.largest_satisfiable(), 0);
        assert!(!fits_without_growth(&big, 1));
    }

    /// Whether `heap` must grow for a block of `size` bytes, and the `top` that growth gives:
    /// policy step 3, computed from the layout rather than by the allocator.
    fn top_after_growth(heap: &Tlsf, size: Bytes) -> Bytes {
        let last = heap.last;
        if last != NIL && heap.blocks[last as usize].is_free() {
            let b = heap.blocks[last as usize];
            b.start + b.size.max(size)
        } else {
            heap.top + size
        }
    }

    /// Check that an allocation of `req` failed exactly when it had to, without a heap limit:
    /// when its block cannot end under the ceiling, wherever growth would put it.
    fn check_outcome(before: &Tlsf, req: Request, placed: Option<Allocation>, after: &Tlsf) {
        let size = before.params.block_size(req);
        if size > ADDRESS_LIMIT {
            assert_eq!(placed, None, "{req:?} cannot fit under the ceiling");
        }
        match placed {
            Some(b) => assert!(b.end() <= ADDRESS_LIMIT && after.top <= ADDRESS_LIMIT),
            None => {
                assert!(before.find_fit(size).is_none(), "{req:?} had a fitting block");
                let top = top_after_growth(before, size);
                assert!(top > ADDRESS_LIMIT, "{req:?} fits (top would be {top:#x}) but failed");
                assert_eq!((after.top, after.used), (before.top, before.used));
            }
        }
    }

    /// A random stream: each op byte picks malloc, free, realloc or memalign; `size` is the size
    /// (small ones mostly, see `size_of`) and `align_log2` a memalign's alignment.
    fn run_stream(params: Params, ops: &[(u8, u16, Bytes, u32)]) {
        let mut heap = Tlsf::new(params);
        let mut live: Vec<Allocation> = Vec::new();
        for &(op, size, huge, align_log2) in ops {
            // Mostly small sizes, sometimes up to 64 KiB, to reach several first-level classes,
            // and now and then one near a limit (2^47, 2^63, 2^64).
            let size = match op & 0xC0 {
                0xC0 if huge != 0 => huge,
                0x80 | 0xC0 => u64::from(size),
                _ => u64::from(size % 700),
            };
            let pick = usize::from(op) * 7919 % live.len().max(1);
            let before = heap.clone();
            match op % 8 {
                0..=2 => {
                    let placed = heap.allocate(Request::new(size));
                    check_outcome(&before, Request::new(size), placed, &heap);
                    live.extend(placed);
                }
                3 => {
                    let req = Request { size, align: 1 << align_log2 };
                    let placed = heap.allocate(req);
                    check_outcome(&before, req, placed, &heap);
                    live.extend(placed);
                }
                4..=6 if !live.is_empty() => heap.free(live.swap_remove(pick)),
                7 if !live.is_empty() => match heap.reallocate(live[pick], Request::new(size)) {
                    Some(b) => {
                        assert!(b.end() <= ADDRESS_LIMIT);
                        live[pick] = b;
                    }
                    None => {
                        // Only growth fails (policy steps 5.4 and 5.5): in place when the block
                        // is the last one or followed by the free last one, else by moving.
                        let size = params.block_size(Request::new(size));
                        let i = record_of(live[pick].handle);
                        let b = before.blocks[i as usize];
                        let next_is_free_last = b.next_phys == before.last
                            && before.blocks[b.next_phys as usize].is_free();
                        let top = if i == before.last || next_is_free_last {
                            b.start + size
                        } else {
                            top_after_growth(&before, size)
                        };
                        assert!(top > ADDRESS_LIMIT, "realloc to {size} fits (top {top:#x})");
                        assert_eq!((heap.top, heap.used), (before.top, before.used));
                    }
                },
                _ => {
                    let placed = heap.allocate(Request::new(size));
                    check_outcome(&before, Request::new(size), placed, &heap);
                    live.extend(placed);
                }
            }
            check_invariants(&heap);
            check_handles(&heap, &live);
            let largest = heap.largest_satisfiable();
            assert!(largest <= heap.free_bytes());
            assert!(largest == 0 || fits_without_growth(&heap, largest), "{largest} fits");
            assert!(!fits_without_growth(&heap, largest + 1), "{largest} is the largest");
        }
        for block in live {
            heap.free(block);
        }
        check_invariants(&heap);
        assert_eq!(heap.largest_satisfiable(), heap.top());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn random_streams_keep_lists_bitmaps_and_layout_consistent(
            ops in proptest::collection::vec(
                (any::<u8>(), any::<u16>(), limits::near_a_limit(), limits::align_log2(4u32..9)),
                1..200,
            ),
            min_size in prop_oneof![Just(16u64), Just(64), Just(528), Just(1056)],
        ) {
            run_stream(Params { min_size, ..Params::default() }, &ops);
        }
    }
}
