//! `buddy`: the binary buddy system over one power-of-two arena that doubles when it is full.
//!
//! # Policy
//! Every block is a power of two in size and lies at an address that is a multiple of its own
//! size. The block of size `2^k` at address `a` (its *order* is `k`) has one *buddy*, the block of
//! the same order at `a XOR 2^k`; together they make up their *parent*, of order `k + 1`.
//!
//! - **Block size.** A request of `n` bytes with alignment `align` gets a block of
//!   `max(next_power_of_two(need(n)), align)` bytes, where `need(n) = max(MIN, round_up(max(n, 1),
//!   16))` is the shared rule of [`Params::need`] (so `--min-size` raises the smallest block to the
//!   next power of two of `MIN`). The payload is the block's first byte, for memalign too: a block
//!   is aligned to its own size, which is at least `align`, so memalign never pads; its only waste
//!   is the power-of-two rounding. Without `--min-size` and for plain 16-aligned requests, every
//!   block is less than twice what was asked for: `size < 2 * max(n, 16)`.
//! - **Placement.** A request of order `k` takes the free block of the smallest order `>= k`,
//!   the lowest-addressed one among those of that order. While that block is larger than `2^k`, it
//!   is split in two: the low half is kept (and split further), the high half becomes a free block.
//! - **Growth.** The heap `[0, top)` is always one buddy block: `top` is 0 or a power of two. When
//!   no free block of order `>= k` exists, the heap grows: from 0, `top` becomes `2^k` (one free
//!   block); otherwise `top` doubles, again and again, until a free block of order `>= k` exists.
//!   Each doubling makes the new upper half `[top, 2 * top)` one free block, which merges with the
//!   lower half `[0, top)` when that is entirely free. Then placement proceeds as above. If the
//!   final `top` would exceed `--heap-limit` (or the ceiling, below), the request fails and
//!   nothing changes. So the footprint is always 0 or a power of two, and freeing every block
//!   leaves one free block of `top` bytes. (A 16-byte heap that needs a 64-byte block with its
//!   16 bytes live grows 16 -> 32 -> 64 -> 128 and takes `[64, 128)`.) Why doubling rather than
//!   growing `top` just past the new block: a `top` that is not a power of two, say 48, splits
//!   `[0, top)` into blocks that can never merge (`[0, 32)` and `[32, 48)`), so an empty heap
//!   could not serve a request of its own size.
//! - **Free.** A freed block merges with its buddy while the buddy is one entire free block,
//!   repeatedly, up to the whole heap. Buddy always merges: `--no-coalesce` (which is about the
//!   free-list family) does not apply to it. Hence no two free buddies are ever both free, and
//!   freeing everything leaves `[0, top)` as one free block.
//! - **Realloc** to `n` bytes computes the new order `k'` as for malloc (16-byte alignment) and
//!   compares it with the block's order `k`:
//!   - `k' == k`: the block stays as it is.
//!   - `k' < k`: it shrinks in place: it keeps `[a, a + 2^k')` and frees the upper halves
//!     `[a + 2^j, a + 2^(j+1))` for `j = k'..k` (they cannot merge: their buddies hold the block).
//!   - `k' > k`: it grows in place when, for every order `j` in `k..k'`, the block is the low
//!     buddy at order `j` (`a` is a multiple of `2^(j+1)`) and its high buddy `a + 2^j` is a free
//!     block of order `j`; it then absorbs those buddies and keeps its address. Otherwise it
//!     moves: a new block is placed by the malloc rule while the old one is still live (which may
//!     grow the heap), and then the old one is freed. If placing fails at the heap limit, realloc
//!     fails and the old block stays.
//!
//! A request whose block would be larger than [`ADDRESS_LIMIT`] (`2^47` bytes) fails (as if at a
//! heap limit), as does growth beyond `top = ADDRESS_LIMIT`: the simulated address space ends
//! there for every strategy (see [`super`]). So a block of exactly `2^47` bytes fits an empty heap.
//!
//! # Mechanism and cost
//! A bitmap of the orders that have a free block finds the smallest sufficient order in one bit
//! scan. Within an order, while `top` is at most 256 MiB (`DENSE_TOP`), the free blocks are bits
//! (a [`BitmapIndex`]): bit `i` of order `k` for the block at `i << k`, for every order from 4
//! up and every block below a power of two `cap >= top`, and above those words a hierarchy of
//! summary words per order (a bit per word below that is not zero), 2 to 4 levels, as many for
//! every order as the smallest order needs, so that each order's top level is one word. Whether
//! a buddy is free is one load and a bit test; putting a block on its set sets a bit per level,
//! taking it off clears one per level (a summary bit when the word below became zero), both
//! without a branch. The lowest free block of each order is kept: an insert below it replaces
//! it, and taking it off finds the next in the word just cleared (nothing below it is free), or,
//! when that word became zero, by one bit scan per level from the top word down. Each walk has
//! the same trip count for every order, so its loop is unrolled for the layout in use and never
//! mispredicted. All `O(levels)`, at most 4. When a block lands at or past `cap`, the bitmaps
//! are laid out again for twice the `cap` and refilled (O(cap / 64), once per doubling of the
//! heap). Memory: `cap / 64` bytes, at most 4 MiB, plus 1/63 of that in summaries.
//!
//! (The dense top was 4 GiB at first: at 1M live blocks the heap passes 4 GiB, and its 64 MiB of
//! bitmaps missed the caches on nearly every walk, 1.2-1.6x slower than the chunk map there;
//! 4 MiB of bitmaps stay near L2.)
//!
//! A heap that grows past 256 MiB moves its free blocks, once, to a [`ChunkIndex`], whose memory
//! follows the free blocks rather than the heap: the 64 blocks of one order `k` at addresses
//! `c * 64 * 2^k ..` form chunk `c` of order `k` (a block and its buddy are always in the same
//! chunk), and one open-addressing hash map (Fibonacci hashing, linear probing, backward-shift
//! removal, at most a quarter full) holds, for every chunk with a free block, a 64-bit word of
//! its free blocks; per order, a min-heap of chunk numbers (lazy: an emptied chunk's entry stays
//! until it reaches the top, and the heaps are rebuilt from the map when stale entries outnumber
//! the chunks) finds the lowest chunk, and the word's lowest bit the lowest block. There,
//! whether a buddy is free, and taking it off, is one map lookup and a bit test, `O(1)`
//! expected; putting a block on its set is `O(1)`, plus a heap push (`O(log c)` in the chunks
//! of that order, usually `O(1)`) when its chunk had no free block; taking the lowest block of an
//! order is `O(1)`, plus a heap pop (`O(log c)`) when it was its chunk's last, amortized over the
//! stale entries dropped. Memory: a map slot (16 bytes, times at most 4, at most 16 after a
//! rebuild) and a heap entry or two per chunk with a free block, none per live block.
//!
//! An allocation splits at most `log2(top)` times and a free merges at most `log2(top)` times,
//! each step one of those; in practice a few steps each. Growth doubles `top`, so it happens at
//! most 63 times in a heap's life. `free_bytes` and `largest_satisfiable` (the largest free
//! block, found from the bitmap of orders) are `O(1)`. None of this changes what is placed
//! where, nor the work counts below, which count the operations of the policy on its sets (the
//! tests replay random streams through both mechanisms and through one `BTreeSet` per order and
//! compare every step).

//! # Work
//! [`Strategy::work`] counts, per call (`allocate`, `free`, `reallocate`), whether or not it
//! succeeds:
//! - 1 for the call;
//! - placing a block of order `k` (a malloc, or the move of a growing realloc):
//!   - growth first, when no free block of order `>= k` exists: 1 when the heap was empty (the
//!     new heap put on its set), otherwise 2 per doubling of `top` (the old heap `[0, top)` looked
//!     up as the buddy of the new upper half, and one block put on a set: the upper half, or the
//!     merged heap when the old one was entirely free);
//!   - then 1 for taking the lowest block of the smallest sufficient order `j`, and 1 per split,
//!     `j - k` (each high half put on its set);
//! - a free (and the old block of a moving realloc, freed with its own 1 for the call): 1 for
//!   every buddy looked up, whether or not it is free, and 1 for putting the final block on its
//!   set. The lookups go up the chain of merges: the block's buddy is looked up; if it is one
//!   free block it is taken off its set (a merge) and the parent's buddy is looked up, and so on,
//!   until a buddy is not free or the block is the whole heap (`top` bytes: nothing to look
//!   up). So a free with `m` merges costs `1 + m + 1 + 1 = m + 3`, or `m + 2` when the merges
//!   reach the whole heap: each merge of a chain adds 1 (the merged block is put on a set once,
//!   at the end of the chain, not once per merge);
//! - a realloc from order `k` to order `k'` (after its 1): nothing more when `k' == k`; `k - k'`
//!   when it shrinks (the upper halves put on their sets); when it grows, `k' - k` for the
//!   orders checked for growth in place (all of them, even when the first already fails), then
//!   `k' - k` more for the buddies absorbed in place, or else the placement and the free above
//!   (a move). A realloc that fails at the limit costs `1 + (k' - k)`: placement fails before
//!   anything is counted. A request too large for any block (past [`ADDRESS_LIMIT`]) costs 1.
//!
//! For example, freeing the block `[32, 48)` of a 128-byte heap where `[48, 64)` and `[0, 32)`
//! are free and `[64, 128)` is live costs 5: the call, two merges (`[32, 64)`, then `[0, 64)`),
//! the lookup of `[64, 128)` (live) and putting `[0, 64)` on its set.

use super::model::{
    Addr, Allocation, Bytes, Params, Request, Strategy, StrategyEntry, ADDRESS_LIMIT, ALIGN,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub const ENTRY: StrategyEntry = StrategyEntry {
    name: "buddy",
    about: "binary buddy system: power-of-two blocks, split on demand, merged with their buddy on \
            free; the heap doubles when full",
    new: |params| Box::new(Buddy::new(*params)),
};

/// Orders are log2 of block sizes. A block of a higher order is refused: it would not fit under
/// [`ADDRESS_LIMIT`].
const MAX_ORDER: u32 = ADDRESS_LIMIT.trailing_zeros();
/// Orders of the free sets (0..=63, so every `u64` bit of [`Buddy::nonempty`] has a set).
const ORDERS: usize = 64;

/// The free blocks of each order, as the policy asks about them. Every method answers exactly
/// as one ordered set of addresses per order would; [`FreeIndex`] is the fast mechanism (the
/// tests also run a plain `BTreeSet` per order and compare every step).
pub trait FreeSets {
    fn empty() -> Self;
    /// Record a free block of `order` at `addr`. No free block starts at `addr`.
    fn insert(&mut self, addr: Addr, order: u32);
    /// Remove the free block of `order` at `addr` if there is one; whether there was.
    fn remove(&mut self, addr: Addr, order: u32) -> bool;
    /// Whether a free block of `order` starts at `addr`.
    fn contains(&self, addr: Addr, order: u32) -> bool;
    /// Remove and return the lowest-addressed free block of `order`, which must have one.
    fn take_lowest(&mut self, order: u32) -> Addr;
    /// Whether no free block has `order`.
    fn is_empty(&self, order: u32) -> bool;
    /// Every free block as `(address, order)`, in no particular order.
    fn blocks(&self) -> Vec<(Addr, u32)>;
}

/// The free blocks of one order in one *chunk*, the 64 blocks of that order at addresses
/// `chunk * 64 * 2^order ..`: a bit per block, bit `i` for the block at `(chunk * 64 + i) << order`.
/// A block and its buddy are always in the same chunk.
#[derive(Clone, Copy, Debug)]
struct ChunkSlot {
    /// `chunk << 6 | order`.
    key: u64,
    /// The free blocks of the chunk; 0 marks an empty slot (a chunk without free blocks has no
    /// slot).
    bits: u64,
}

/// `(order, chunk)` -> the free blocks of that order in that chunk, for every chunk with one.
/// Open addressing: Fibonacci hashing, linear probing, backward-shift removal, at most a quarter
/// full, so that most probes end at the first slot. O(1) expected per operation.
#[derive(Clone, Debug)]
struct ChunkMap {
    slots: Vec<ChunkSlot>,
    len: usize,
    /// `64 - log2(slots.len())`.
    shift: u32,
}

/// The key of the chunk holding the block of `order` at `addr`, and the block's bit in it.
#[inline]
fn chunk_of(addr: Addr, order: u32) -> (u64, u64) {
    let index = addr >> order;
    ((index >> 6) << 6 | u64::from(order), 1 << (index & 63))
}

impl ChunkMap {
    const MIN_SLOTS: usize = 16;
    /// `2^64 / phi`.
    const FIB: u64 = 0x9E37_79B9_7F4A_7C15;

    fn with_slots(n: usize) -> ChunkMap {
        ChunkMap {
            slots: vec![ChunkSlot { key: 0, bits: 0 }; n],
            len: 0,
            shift: u64::BITS - n.trailing_zeros(),
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(ChunkMap::FIB) >> self.shift) as usize
    }

    /// The slot holding `key`, or the empty slot ending its probe run.
    #[inline]
    fn find(&self, key: u64) -> usize {
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let slot = self.slots[i];
            if slot.bits == 0 || slot.key == key {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Make room for one more chunk.
    #[inline]
    fn reserve_one(&mut self) {
        if 4 * (self.len + 1) > self.slots.len() {
            self.rehash(2 * self.slots.len());
        }
    }

    /// Give the map a table of `n` slots (a power of two, more than four times `len`).
    #[cold]
    fn rehash(&mut self, n: usize) {
        let mut table = ChunkMap::with_slots(n);
        for &slot in self.slots.iter().filter(|s| s.bits != 0) {
            let i = table.find(slot.key);
            table.slots[i] = slot;
        }
        table.len = self.len;
        *self = table;
    }

    /// Shrink the table to at most 16 slots per chunk (and at least [`ChunkMap::MIN_SLOTS`]), so
    /// that walking it costs O(len).
    fn fit(&mut self) {
        let n = (8 * self.len).next_power_of_two().max(ChunkMap::MIN_SLOTS);
        if self.slots.len() > 2 * n {
            self.rehash(n);
        }
    }

    /// Empty slot `hole`, moving back every later entry of its run whose probe path passes it.
    #[inline]
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let slot = self.slots[j];
            if slot.bits == 0 {
                break;
            }
            if j.wrapping_sub(self.home(slot.key)) & mask >= j.wrapping_sub(hole) & mask {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole].bits = 0;
        self.len -= 1;
    }

    /// Every free block as `(address, order)`.
    fn blocks(&self) -> impl Iterator<Item = (Addr, u32)> + '_ {
        self.slots.iter().filter(|s| s.bits != 0).flat_map(|s| {
            let order = (s.key & 63) as u32;
            let base = s.key >> 6 << 6;
            (0..64u64)
                .filter(move |i| s.bits >> i & 1 == 1)
                .map(move |i| ((base | i) << order, order))
        })
    }
}

/// The [`FreeSets`] of heaps above [`DENSE_TOP`]. A [`ChunkMap`] holds a bitmap word per chunk of 64 blocks of one order
/// that has a free block: "is the block of order `k` at `a` free" is one lookup and a bit test,
/// and so are inserting and removing one (the buddy a free looks up is in its own chunk). A
/// min-heap of chunk numbers per order finds the lowest: its least chunk, then the word's lowest
/// bit. The heaps are touched only when a chunk gains its first free block (push) or
/// [`ChunkIndex::take_lowest`] takes its last (pop), so in a heap whose free blocks cluster they
/// are rarely touched at all.
///
/// The heaps are lazy: a chunk emptied by a removal (a merge, a realloc growing in place) keeps
/// its heap entry, and `take_lowest` drops the stale entries it finds at the top (an entry of
/// heap `k` is stale exactly when the map has no word for its chunk at order `k`). Stale entries
/// are bounded by rebuilding every heap from the map when an insert leaves the heaps holding more
/// than twice as many entries as there are chunks, plus 64: O(n) (the map is shrunk to fit
/// first) once per at least n + 64 inserts. Memory: O(chunks with a free block).
#[derive(Clone, Debug)]
pub struct ChunkIndex {
    map: ChunkMap,
    /// `heaps[k]`: the number of every chunk with a free block of order `k`, at least once, and
    /// stale ones.
    heaps: [BinaryHeap<Reverse<u64>>; ORDERS],
    /// `counts[k]`: the number of free blocks of order `k`.
    counts: [usize; ORDERS],
    /// Entries in all heaps, stale ones included.
    entries: usize,
}

impl ChunkIndex {
    /// Rebuild the heaps from the map once stale entries outnumber the chunks (plus 64).
    #[inline]
    fn tidy(&mut self) {
        if self.entries > 2 * self.map.len + 64 {
            self.rebuild();
        }
    }

    /// O(n) in the chunks: the map is first shrunk to fit them.
    #[cold]
    fn rebuild(&mut self) {
        self.map.fit();
        let mut vecs: Vec<Vec<Reverse<u64>>> = self
            .heaps
            .iter_mut()
            .map(|heap| {
                let mut vec = std::mem::take(heap).into_vec();
                vec.clear();
                vec
            })
            .collect();
        for slot in self.map.slots.iter().filter(|s| s.bits != 0) {
            vecs[(slot.key & 63) as usize].push(Reverse(slot.key >> 6));
        }
        for (heap, vec) in self.heaps.iter_mut().zip(vecs) {
            *heap = BinaryHeap::from(vec);
        }
        self.entries = self.map.len;
    }
}

impl FreeSets for ChunkIndex {
    fn empty() -> ChunkIndex {
        ChunkIndex {
            map: ChunkMap::with_slots(ChunkMap::MIN_SLOTS),
            heaps: std::array::from_fn(|_| BinaryHeap::new()),
            counts: [0; ORDERS],
            entries: 0,
        }
    }

    #[inline]
    fn insert(&mut self, addr: Addr, order: u32) {
        let k = order as usize % ORDERS;
        let (key, bit) = chunk_of(addr, order);
        self.map.reserve_one();
        let i = self.map.find(key);
        let slot = &mut self.map.slots[i];
        debug_assert_eq!(slot.bits & bit, 0, "the block of order {order} at {addr} is free");
        self.counts[k] += 1;
        if slot.bits != 0 {
            slot.bits |= bit;
            return;
        }
        *slot = ChunkSlot { key, bits: bit };
        self.map.len += 1;
        self.heaps[k].push(Reverse(key >> 6));
        self.entries += 1;
        self.tidy();
    }

    #[inline]
    fn remove(&mut self, addr: Addr, order: u32) -> bool {
        let (key, bit) = chunk_of(addr, order);
        let i = self.map.find(key);
        let bits = self.map.slots[i].bits;
        if bits & bit == 0 {
            return false;
        }
        if bits == bit {
            self.map.remove_at(i);
        } else {
            self.map.slots[i].bits = bits & !bit;
        }
        self.counts[order as usize % ORDERS] -= 1;
        true
    }

    #[inline]
    fn contains(&self, addr: Addr, order: u32) -> bool {
        let (key, bit) = chunk_of(addr, order);
        self.map.slots[self.map.find(key)].bits & bit != 0
    }

    #[inline]
    fn take_lowest(&mut self, order: u32) -> Addr {
        let k = order as usize % ORDERS;
        debug_assert!(self.counts[k] > 0);
        loop {
            let Reverse(chunk) = *self.heaps[k].peek().expect("a free block's chunk has an entry");
            let key = chunk << 6 | u64::from(order);
            let i = self.map.find(key);
            let bits = self.map.slots[i].bits;
            if bits == 0 {
                // Stale: the chunk has no free block of this order any more.
                self.heaps[k].pop();
                self.entries -= 1;
                continue;
            }
            let index = chunk << 6 | u64::from(bits.trailing_zeros());
            let rest = bits & (bits - 1);
            if rest == 0 {
                self.map.remove_at(i);
                self.heaps[k].pop();
                self.entries -= 1;
            } else {
                self.map.slots[i].bits = rest;
            }
            self.counts[k] -= 1;
            return index << order;
        }
    }

    #[inline]
    fn is_empty(&self, order: u32) -> bool {
        self.counts[order as usize % ORDERS] == 0
    }

    fn blocks(&self) -> Vec<(Addr, u32)> {
        self.map.blocks().collect()
    }
}

/// Heaps up to this `top` keep their free blocks in a [`BitmapIndex`] (at most `DENSE_TOP / 64`
/// bytes of bitmaps, 4 MiB); a heap that grows past it moves them to a [`ChunkIndex`] once,
/// whose memory follows the free blocks rather than the heap.
const DENSE_TOP: Bytes = 1 << 28;
/// The smallest order of a buddy block (`log2(ALIGN)`): the bitmaps start there.
const MIN_ORDER: u32 = ALIGN.trailing_zeros();
/// Levels of a [`BitmapIndex`] at most: `ceil((log2(DENSE_TOP) - MIN_ORDER) / 6)`.
const LEVELS: usize = 4;
/// The smallest `top` a [`BitmapIndex`] lays its bitmaps out for (1 KiB of them).
const MIN_DENSE_TOP: Bytes = 1 << 16;

/// The [`FreeSets`] of heaps up to [`DENSE_TOP`]: a bit per block of every order `k >=
/// MIN_ORDER` below `cap` (a power of two at least `top`), bit `i` of order `k` for the block
/// at `i << k`, and above those words a hierarchy of summary words per order: bit `j` of a
/// word of level `l + 1` is set exactly when word `j` of level `l` is not zero. Every order has
/// the same number of levels, enough that its top level is one word (an order with fewer blocks
/// has more one-word levels, each with bit 0 alone), so every walk up or down has the same trip
/// count whatever the order, and that branch is always predicted.
///
/// Whether a block is free is one load and a bit test; putting one on its set is one `or` per
/// level, taking one off its set one bit clear per level, branch-free (a summary bit is cleared
/// when the word below it became zero); the lowest free block of an order is kept, and found
/// again when it is taken off: in its own word if that still has a bit (one `tzcnt`), else one
/// `tzcnt` per level from the top down. All `O(levels)`, at most [`LEVELS`]. When a block lands
/// at or past `cap`, the bitmaps are laid out again for twice the `cap` (or more) and refilled:
/// O(cap / 64) once per doubling of the heap. Memory: `cap / 64` bytes, plus 1/63 of that in
/// summaries.
#[derive(Clone, Debug)]
pub struct BitmapIndex {
    /// 0 (nothing laid out yet) or a power of two from [`MIN_DENSE_TOP`] to [`DENSE_TOP`]: every
    /// block in the index lies below it.
    cap: Bytes,
    /// `log2(cap) - MIN_ORDER`: the orders laid out are `MIN_ORDER..=MIN_ORDER +
    /// orders_above_min`.
    orders_above_min: u32,
    /// Levels in use, 2 to [`LEVELS`]: `max(2, ceil(orders_above_min / 6))`, so that the top
    /// level of every order is one word.
    levels: usize,
    /// All bitmap and summary words, of every order and level.
    words: Vec<u64>,
    /// `base[k][l]`: where level `l` of order `k` starts in `words`, for `MIN_ORDER <= k <=
    /// log2(cap)` and `l < LEVELS`.
    base: [[u32; LEVELS]; ORDERS],
    /// `counts[k]`: the number of free blocks of order `k`.
    counts: [usize; ORDERS],
    /// `lowest[k]`: the index of the lowest free block of order `k`, when `counts[k] > 0`
    /// (stale otherwise).
    lowest: [usize; ORDERS],
}

impl BitmapIndex {
    /// Whether a block of `order` at `addr` lies below `cap`, so has a bit.
    #[inline]
    fn covers(&self, addr: Addr, order: u32) -> bool {
        addr < self.cap && order.wrapping_sub(MIN_ORDER) <= self.orders_above_min
    }

    /// Word `w` of the bitmaps, without a bounds check.
    ///
    /// # Safety
    /// `w` is `base[k][l] + j` for an order `k` and a level `l < levels` laid out by
    /// [`BitmapIndex::relayout`] and `j` below that level's word count: `j = i >> 6 * (l + 1)`
    /// for a block `i < cap >> k` ([`BitmapIndex::covers`]), or a bit set in a word of level
    /// `l + 1` (only bits of such words are ever set).
    #[inline(always)]
    unsafe fn word(&mut self, w: usize) -> &mut u64 {
        debug_assert!(w < self.words.len());
        // SAFETY: the caller's contract above puts `w` inside the layout, so inside `words`.
        unsafe { self.words.get_unchecked_mut(w) }
    }

    /// Set the bit of block `i` of order `k` and its summary bits, on the `L` levels in use.
    /// `i < cap >> k`, and `L` is `levels`.
    #[inline(always)]
    fn set<const L: usize>(&mut self, k: usize, mut i: usize) {
        let base = self.base[k];
        for &level_base in &base[..L] {
            // SAFETY: `i` is block `i >> 6 * l` of level `l`: see `word`.
            unsafe { *self.word(level_base as usize + (i >> 6)) |= 1 << (i & 63) };
            i >>= 6;
        }
    }

    /// Clear the bit of the free block `i` of order `k`, and each summary bit whose word below
    /// became zero.
    #[inline(always)]
    fn clear(&mut self, k: usize, i: usize) {
        match self.levels {
            2 => self.clear_on::<2>(k, i),
            3 => self.clear_on::<3>(k, i),
            _ => self.clear_on::<LEVELS>(k, i),
        }
        self.counts[k] -= 1;
        if i == self.lowest[k] && self.counts[k] > 0 {
            // Nothing below `i` is free, so the next lowest is the lowest bit left in `i`'s own
            // word, which was just written, if any; else a walk down from the top.
            // SAFETY: `i` is a block below `cap >> k`: see `word`.
            let word = unsafe { *self.word(self.base[k][0] as usize + (i >> 6)) };
            self.lowest[k] = if word != 0 {
                i & !63 | word.trailing_zeros() as usize
            } else {
                match self.levels {
                    2 => self.walk_down::<2>(k),
                    3 => self.walk_down::<3>(k),
                    _ => self.walk_down::<LEVELS>(k),
                }
            };
        }
    }

    #[inline(always)]
    fn clear_on<const L: usize>(&mut self, k: usize, mut i: usize) {
        let base = self.base[k];
        let mut emptied = true;
        for &level_base in &base[..L] {
            // SAFETY: as in `set`, from a free block `i < cap >> k`.
            let word = unsafe { self.word(level_base as usize + (i >> 6)) };
            *word &= !(u64::from(emptied) << (i & 63));
            emptied = *word == 0;
            i >>= 6;
        }
    }

    /// The lowest free block of order `k` (there must be one): down from the top word, each
    /// level's lowest set bit names the word below to read.
    #[inline(always)]
    fn walk_down<const L: usize>(&mut self, k: usize) -> usize {
        let base = self.base[k];
        let mut i = 0usize;
        for &level_base in base[..L].iter().rev() {
            // SAFETY: word 0 of the top level, then a set bit of the word above: see `word`.
            i = i << 6 | unsafe { *self.word(level_base as usize + i) }.trailing_zeros() as usize;
        }
        i
    }

    /// Lay the bitmaps out for blocks below `cap` (a power of two at most [`DENSE_TOP`]) and put
    /// every free block back. O(cap / 64).
    #[cold]
    fn relayout(&mut self, cap: Bytes) {
        debug_assert!(cap.is_power_of_two() && (MIN_DENSE_TOP..=DENSE_TOP).contains(&cap));
        let blocks = self.blocks();
        let log_cap = cap.trailing_zeros();
        let mut base = [[0u32; LEVELS]; ORDERS];
        let mut len = 0usize;
        for (k, order_base) in
            base.iter_mut().enumerate().take(log_cap as usize + 1).skip(MIN_ORDER as usize)
        {
            let blocks_of_order = 1u64 << (log_cap - k as u32);
            for (l, level_base) in order_base.iter_mut().enumerate() {
                *level_base = len as u32;
                len += (blocks_of_order >> (6 * (l + 1))).max(1) as usize;
            }
        }
        let orders_above_min = log_cap - MIN_ORDER;
        let levels = orders_above_min.div_ceil(6).max(2) as usize;
        *self = BitmapIndex {
            cap,
            orders_above_min,
            levels,
            words: vec![0; len],
            base,
            counts: [0; ORDERS],
            lowest: [0; ORDERS],
        };
        for (addr, order) in blocks {
            self.insert(addr, order);
        }
    }
}

impl FreeSets for BitmapIndex {
    fn empty() -> BitmapIndex {
        BitmapIndex {
            cap: 0,
            orders_above_min: 0,
            levels: 0,
            words: Vec::new(),
            base: [[0; LEVELS]; ORDERS],
            counts: [0; ORDERS],
            lowest: [0; ORDERS],
        }
    }

    #[inline(always)]
    fn insert(&mut self, addr: Addr, order: u32) {
        debug_assert!(order >= MIN_ORDER && addr % (1 << order) == 0);
        if !self.covers(addr, order) {
            let end = (addr + (1 << order)).next_power_of_two();
            self.relayout(end.max(2 * self.cap).max(MIN_DENSE_TOP));
        }
        let k = order as usize % ORDERS;
        let i = (addr >> order) as usize;
        debug_assert_eq!(self.words[self.base[k][0] as usize + (i >> 6)] >> (i & 63) & 1, 0);
        match self.levels {
            2 => self.set::<2>(k, i),
            3 => self.set::<3>(k, i),
            _ => self.set::<LEVELS>(k, i),
        }
        if self.counts[k] == 0 || i < self.lowest[k] {
            self.lowest[k] = i;
        }
        self.counts[k] += 1;
    }

    #[inline(always)]
    fn remove(&mut self, addr: Addr, order: u32) -> bool {
        if !self.covers(addr, order) {
            return false;
        }
        let k = order as usize % ORDERS;
        let i = (addr >> order) as usize;
        if self.words[self.base[k][0] as usize + (i >> 6)] >> (i & 63) & 1 == 0 {
            return false;
        }
        self.clear(k, i);
        true
    }

    #[inline(always)]
    fn contains(&self, addr: Addr, order: u32) -> bool {
        if !self.covers(addr, order) {
            return false;
        }
        let i = (addr >> order) as usize;
        self.words[self.base[order as usize % ORDERS][0] as usize + (i >> 6)] >> (i & 63) & 1 == 1
    }

    #[inline(always)]
    fn take_lowest(&mut self, order: u32) -> Addr {
        let k = order as usize % ORDERS;
        // `lowest[k]` means something only then, and the walk down after it relies on it (see
        // `word`).
        assert!(self.counts[k] > 0, "no free block of order {order}");
        let i = self.lowest[k];
        self.clear(k, i);
        (i as Addr) << order
    }

    #[inline(always)]
    fn is_empty(&self, order: u32) -> bool {
        self.counts[order as usize % ORDERS] == 0
    }

    fn blocks(&self) -> Vec<(Addr, u32)> {
        let mut out = Vec::new();
        if self.cap != 0 {
            for order in MIN_ORDER..=MIN_ORDER + self.orders_above_min {
                self.collect(order, self.levels - 1, 0, &mut out);
            }
        }
        out
    }
}

impl BitmapIndex {
    /// Push every free block of `order` under word `w` of `level`, descending only into the
    /// words whose summary bit is set: O(blocks * levels).
    fn collect(&self, order: u32, level: usize, w: usize, out: &mut Vec<(Addr, u32)>) {
        let mut word = self.words[self.base[order as usize][level] as usize + w];
        while word != 0 {
            let i = w << 6 | word.trailing_zeros() as usize;
            word &= word - 1;
            if level == 0 {
                out.push(((i as Addr) << order, order));
            } else {
                self.collect(order, level - 1, i, out);
            }
        }
    }
}

/// The fast [`FreeSets`]: a [`BitmapIndex`] while every block lies below [`DENSE_TOP`], then
/// (once a block lands past it, in a heap grown that far) a [`ChunkIndex`], for good.
// One per heap, held inline: boxing either variant would add a pointer load to every call.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum FreeIndex {
    Bitmaps(BitmapIndex),
    Chunks(ChunkIndex),
}

impl FreeIndex {
    /// Move every free block to a [`ChunkIndex`]: once, when the heap grows past [`DENSE_TOP`].
    #[cold]
    fn move_to_chunks(&mut self) -> &mut ChunkIndex {
        if let FreeIndex::Bitmaps(bitmaps) = self {
            let mut chunks = ChunkIndex::empty();
            for (addr, order) in bitmaps.blocks() {
                chunks.insert(addr, order);
            }
            *self = FreeIndex::Chunks(chunks);
        }
        match self {
            FreeIndex::Chunks(chunks) => chunks,
            FreeIndex::Bitmaps(_) => unreachable!("just moved to chunks"),
        }
    }
}

impl FreeSets for FreeIndex {
    fn empty() -> FreeIndex {
        FreeIndex::Bitmaps(BitmapIndex::empty())
    }

    #[inline(always)]
    fn insert(&mut self, addr: Addr, order: u32) {
        match self {
            FreeIndex::Bitmaps(b) if addr < DENSE_TOP && order <= DENSE_TOP.trailing_zeros() => {
                b.insert(addr, order)
            }
            FreeIndex::Chunks(c) => c.insert(addr, order),
            FreeIndex::Bitmaps(_) => self.move_to_chunks().insert(addr, order),
        }
    }

    #[inline(always)]
    fn remove(&mut self, addr: Addr, order: u32) -> bool {
        match self {
            FreeIndex::Bitmaps(b) => b.remove(addr, order),
            FreeIndex::Chunks(c) => c.remove(addr, order),
        }
    }

    #[inline(always)]
    fn contains(&self, addr: Addr, order: u32) -> bool {
        match self {
            FreeIndex::Bitmaps(b) => b.contains(addr, order),
            FreeIndex::Chunks(c) => c.contains(addr, order),
        }
    }

    #[inline(always)]
    fn take_lowest(&mut self, order: u32) -> Addr {
        match self {
            FreeIndex::Bitmaps(b) => b.take_lowest(order),
            FreeIndex::Chunks(c) => c.take_lowest(order),
        }
    }

    #[inline(always)]
    fn is_empty(&self, order: u32) -> bool {
        match self {
            FreeIndex::Bitmaps(b) => b.is_empty(order),
            FreeIndex::Chunks(c) => c.is_empty(order),
        }
    }

    fn blocks(&self) -> Vec<(Addr, u32)> {
        match self {
            FreeIndex::Bitmaps(b) => b.blocks(),
            FreeIndex::Chunks(c) => c.blocks(),
        }
    }
}

/// The buddy allocator. `S` is the mechanism that holds the free blocks; the default
/// [`FreeIndex`] is the only one outside the tests.
#[derive(Debug)]
pub struct Buddy<S = FreeIndex> {
    params: Params,
    /// 0 or a power of two: `[0, top)` is one buddy block.
    top: Bytes,
    /// The free blocks by order. Every address of order `k` is a multiple of `2^k`; free blocks
    /// are disjoint and lie in `[0, top)`; no block's buddy is free.
    free: S,
    /// Bit `k` is set exactly when a free block has order `k`.
    nonempty: u64,
    /// Sum of the sizes of the free blocks: `top - live bytes`.
    free_bytes: Bytes,
    /// Units of work so far (see the module docs).
    work: u64,
}

impl Buddy {
    pub fn new(params: Params) -> Buddy {
        Buddy::with_sets(params)
    }
}

impl<S: FreeSets> Buddy<S> {
    fn with_sets(params: Params) -> Buddy<S> {
        Buddy { params, top: 0, free: S::empty(), nonempty: 0, free_bytes: 0, work: 0 }
    }

    /// The order of the block serving `req`, or `None` if that block would be too large.
    fn order_of(&self, req: Request) -> Option<u32> {
        let need = self.params.need(req.size).max(req.align).max(ALIGN);
        if need > 1 << MAX_ORDER {
            return None;
        }
        Some(need.next_power_of_two().trailing_zeros())
    }

    #[inline(always)]
    fn insert_free(&mut self, addr: Addr, order: u32) {
        debug_assert_eq!(addr % (1 << order), 0);
        self.work += 1;
        self.free.insert(addr, order);
        self.nonempty |= 1 << order;
        self.free_bytes += 1 << order;
    }

    /// Remove the free block of `order` at `addr`; false (and nothing changes) if there is none.
    #[inline(always)]
    fn remove_free(&mut self, addr: Addr, order: u32) -> bool {
        self.work += 1;
        if self.nonempty >> order & 1 == 0 || !self.free.remove(addr, order) {
            return false;
        }
        self.nonempty &= !(u64::from(self.free.is_empty(order)) << order);
        self.free_bytes -= 1 << order;
        true
    }

    /// Take the lowest-addressed free block of `order` (which must have one).
    #[inline(always)]
    fn take_lowest(&mut self, order: u32) -> Addr {
        self.work += 1;
        let addr = self.free.take_lowest(order);
        self.nonempty &= !(u64::from(self.free.is_empty(order)) << order);
        self.free_bytes -= 1 << order;
        addr
    }

    /// The smallest order `>= k` with a free block.
    fn smallest_free_order_from(&self, k: u32) -> Option<u32> {
        let candidates = self.nonempty >> k;
        (candidates != 0).then(|| k + candidates.trailing_zeros())
    }

    /// The `top` that growth for a block of order `k` would reach (see the module docs), or
    /// `None` past `2^63`. Changes nothing.
    fn grown_top(&self, k: u32) -> Option<Bytes> {
        if self.top == 0 {
            return Some(1 << k);
        }
        let mut top = self.top;
        let all_free = self.free_bytes == top;
        let mut largest = if all_free { Some(top.trailing_zeros()) } else { self.largest_order() };
        while largest.is_none_or(|order| order < k) {
            let order = top.trailing_zeros();
            if order >= 63 {
                return None;
            }
            top <<= 1;
            largest = Some(if all_free { order + 1 } else { order });
        }
        Some(top)
    }

    /// Grow the heap so that a block of order `k` is free, within the heap limit; the smallest
    /// order `>= k` with a free block then, or `None` (nothing changed).
    #[cold]
    #[inline(never)]
    fn grow_for(&mut self, k: u32) -> Option<u32> {
        let new_top = self.grown_top(k)?;
        if !self.params.may_grow_to(new_top) {
            return None;
        }
        self.grow_to(new_top);
        Some(self.smallest_free_order_from(k).expect("growth makes a block of order k free"))
    }

    /// Grow `top` to `new_top` (from [`Buddy::grown_top`]), adding the new space as free blocks.
    fn grow_to(&mut self, new_top: Bytes) {
        if self.top == 0 {
            self.top = new_top;
            self.insert_free(0, new_top.trailing_zeros());
            return;
        }
        while self.top < new_top {
            let upper = self.top;
            self.top <<= 1;
            self.free_merged(upper, upper.trailing_zeros());
        }
    }

    /// The highest order with a free block.
    fn largest_order(&self) -> Option<u32> {
        (self.nonempty != 0).then(|| 63 - self.nonempty.leading_zeros())
    }

    /// Make the block of `order` at `addr` free, merging it with its buddy while that is free.
    #[inline(always)]
    fn free_merged(&mut self, mut addr: Addr, mut order: u32) {
        while (1 << order) < self.top {
            let buddy = addr ^ (1 << order);
            if !self.remove_free(buddy, order) {
                break;
            }
            addr &= !(1 << order);
            order += 1;
        }
        self.insert_free(addr, order);
    }

    /// Place a block of order `k` by the placement rule, growing the heap if needed.
    #[inline(always)]
    fn place(&mut self, k: u32) -> Option<Addr> {
        let found = match self.smallest_free_order_from(k) {
            Some(order) => order,
            None => self.grow_for(k)?,
        };
        let addr = self.take_lowest(found);
        for order in (k..found).rev() {
            self.insert_free(addr + (1 << order), order);
        }
        Some(addr)
    }
}

impl<S: FreeSets + Send + 'static> Strategy for Buddy<S> {
    #[inline(always)]
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        self.work += 1;
        let k = self.order_of(req)?;
        let addr = self.place(k)?;
        Some(Allocation::at(addr, 1 << k))
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        self.work += 1;
        let req = Request::new(req.size);
        let new = self.order_of(req)?;
        let old_order = old.size.trailing_zeros();
        let start = old.start;
        if new == old_order {
            return Some(old);
        }
        if new < old_order {
            for order in new..old_order {
                self.insert_free(start + (1 << order), order);
            }
            return Some(Allocation::at(start, 1 << new));
        }
        let in_place = (old_order..new).all(|order| {
            start % (2 << order) == 0 && self.free.contains(start + (1 << order), order)
        });
        self.work += u64::from(new - old_order);
        if in_place {
            for order in old_order..new {
                self.remove_free(start + (1 << order), order);
            }
            return Some(Allocation::at(start, 1 << new));
        }
        let addr = self.place(new)?;
        self.free(old);
        Some(Allocation::at(addr, 1 << new))
    }

    #[inline(always)]
    fn free(&mut self, block: Allocation) {
        debug_assert!(block.size.is_power_of_two());
        self.work += 1;
        self.free_merged(block.start, block.size.trailing_zeros());
    }

    fn top(&self) -> Bytes {
        self.top
    }

    fn work(&self) -> u64 {
        self.work
    }

    fn free_bytes(&self) -> Bytes {
        self.free_bytes
    }

    fn largest_satisfiable(&self) -> Bytes {
        self.largest_order().map_or(0, |order| 1 << order)
    }
}

#[cfg(test)]
mod tests {
    use super::Strategy;
    use super::*;
    use crate::alloc::model::limits;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    impl<S: FreeSets> Buddy<S> {
        /// Every free block as `(address, size)`, by address.
        fn free_blocks(&self) -> Vec<(Addr, Bytes)> {
            let mut blocks: Vec<_> =
                self.free.blocks().into_iter().map(|(a, k)| (a, 1u64 << k)).collect();
            blocks.sort_unstable();
            blocks
        }
    }

    /// The plain mechanism the fast one must agree with: one ordered set per order.
    #[derive(Debug)]
    struct OrderedSets(Vec<BTreeSet<Addr>>);

    impl FreeSets for OrderedSets {
        fn empty() -> OrderedSets {
            OrderedSets(vec![BTreeSet::new(); ORDERS])
        }
        fn insert(&mut self, addr: Addr, order: u32) {
            assert!(self.0[order as usize].insert(addr));
        }
        fn remove(&mut self, addr: Addr, order: u32) -> bool {
            self.0[order as usize].remove(&addr)
        }
        fn contains(&self, addr: Addr, order: u32) -> bool {
            self.0[order as usize].contains(&addr)
        }
        fn take_lowest(&mut self, order: u32) -> Addr {
            self.0[order as usize].pop_first().unwrap()
        }
        fn is_empty(&self, order: u32) -> bool {
            self.0[order as usize].is_empty()
        }
        fn blocks(&self) -> Vec<(Addr, u32)> {
            (0..ORDERS as u32)
                .flat_map(|k| self.0[k as usize].iter().map(move |&a| (a, k)))
                .collect()
        }
    }

    fn heap() -> Buddy {
        Buddy::new(Params::default())
    }

    fn malloc(heap: &mut Buddy, n: Bytes) -> Allocation {
        heap.allocate(Request::new(n)).unwrap()
    }

    /// A heap of `top` bytes, all of it one free block.
    fn empty_heap_of(top: Bytes) -> Buddy {
        let mut heap = heap();
        let all = malloc(&mut heap, top);
        heap.free(all);
        assert_eq!(heap.free_blocks(), [(0, top)]);
        heap
    }

    #[test]
    fn buddy_rounds_every_block_up_to_a_power_of_two() {
        let mut heap = heap();
        assert_eq!(malloc(&mut heap, 17), Allocation::at(0, 32));
        // Nothing of 128 bytes is free: the heap doubles from 32 to 64 to 128 to 256, leaving
        // [32, 64) and [64, 128) free, and the block takes the new upper half [128, 256).
        assert_eq!(malloc(&mut heap, 100), Allocation::at(128, 128));
        assert_eq!(heap.top(), 256);
        // 16 bytes: the smallest free block is [32, 64), split into [32, 48) and free [48, 64).
        assert_eq!(malloc(&mut heap, 0), Allocation::at(32, 16));
        assert_eq!(heap.free_blocks(), [(48, 16), (64, 64)]);
    }

    #[test]
    fn buddy_wastes_less_than_half_of_each_block() {
        // Without --min-size, a 16-aligned request of n bytes gets a block of `size` bytes with
        // max(n, 16) <= size < 2 * max(n, 16): what is not asked for is less than half the block.
        let heap = heap();
        let sizes = (0..=70_000).chain((17..47).flat_map(|k| [(1 << k) - 1, 1 << k, (1 << k) + 1]));
        for n in sizes.chain([ADDRESS_LIMIT - 1, ADDRESS_LIMIT]) {
            let size = 1u64 << heap.order_of(Request::new(n)).unwrap();
            assert!(n.max(16) <= size && size < 2 * n.max(16), "{n} bytes got a {size}-byte block");
        }
    }

    #[test]
    fn min_size_raises_the_smallest_block_to_the_next_power_of_two() {
        let mut heap = Buddy::new(Params { min_size: 48, ..Params::default() });
        assert_eq!(malloc(&mut heap, 1), Allocation::at(0, 64));
        assert_eq!(malloc(&mut heap, 100), Allocation::at(128, 128));
    }

    #[test]
    fn a_split_keeps_the_low_half_and_frees_the_high_half() {
        let mut heap = empty_heap_of(1024);
        assert_eq!(malloc(&mut heap, 16), Allocation::at(0, 16));
        assert_eq!(
            heap.free_blocks(),
            [(16, 16), (32, 32), (64, 64), (128, 128), (256, 256), (512, 512)]
        );
        assert_eq!(heap.largest_satisfiable(), 512);
    }

    #[test]
    fn allocation_takes_the_lowest_addressed_block_of_the_smallest_sufficient_order() {
        let mut heap = empty_heap_of(256);
        let blocks: Vec<_> = (0..8).map(|_| malloc(&mut heap, 32)).collect();
        heap.free(blocks[6]);
        heap.free(blocks[1]);
        heap.free(blocks[4]);
        // Free: [32, 64) and [128, 160), [192, 224) (none merge: their buddies are live).
        assert_eq!(heap.free_blocks(), [(32, 32), (128, 32), (192, 32)]);
        assert_eq!(malloc(&mut heap, 20), Allocation::at(32, 32));
        assert_eq!(malloc(&mut heap, 20), Allocation::at(128, 32));
    }

    #[test]
    fn freeing_both_buddies_merges_them_into_the_parent() {
        let mut heap = empty_heap_of(64);
        let a = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 16);
        assert_eq!((a.start, b.start), (0, 16));
        heap.free(a);
        assert_eq!(heap.free_blocks(), [(0, 16), (32, 32)]);
        // [16, 32) merges with [0, 16), and that parent with its buddy [32, 64).
        heap.free(b);
        assert_eq!(heap.free_blocks(), [(0, 64)]);
        assert_eq!(heap.largest_satisfiable(), heap.top());
    }

    #[test]
    fn free_blocks_that_are_neighbours_but_not_buddies_stay_apart() {
        let mut heap = empty_heap_of(64);
        let blocks: Vec<_> = (0..4).map(|_| malloc(&mut heap, 16)).collect();
        heap.free(blocks[1]);
        heap.free(blocks[2]);
        // [16, 32) and [32, 48) are adjacent, but their buddies [0, 16) and [48, 64) are live.
        assert_eq!(heap.free_blocks(), [(16, 16), (32, 16)]);
        assert_eq!(heap.largest_satisfiable(), 16);
        assert_eq!(heap.free_bytes(), 32);
    }

    #[test]
    fn the_heap_doubles_until_the_request_fits() {
        let mut heap = heap();
        assert_eq!(malloc(&mut heap, 16), Allocation::at(0, 16));
        assert_eq!(heap.top(), 16);
        assert_eq!(malloc(&mut heap, 16), Allocation::at(16, 16));
        assert_eq!(heap.top(), 32);
        assert_eq!(malloc(&mut heap, 16), Allocation::at(32, 16));
        assert_eq!((heap.top(), heap.free_blocks()), (64, vec![(48, 16)]));
        // 64 bytes: doubling to 128 makes [64, 128) free; the free [48, 64) is too small.
        assert_eq!(malloc(&mut heap, 64), Allocation::at(64, 64));
        assert_eq!((heap.top(), heap.free_bytes()), (128, 16));
    }

    #[test]
    fn growth_merges_the_new_half_with_an_entirely_free_heap() {
        let mut heap = empty_heap_of(32);
        // [32, 64) merges with the free [0, 32): the 64-byte block fits at 0 in a 64-byte heap.
        assert_eq!(malloc(&mut heap, 64), Allocation::at(0, 64));
        assert_eq!(heap.top(), 64);
        // With [0, 32) live, the same request needs a 128-byte heap.
        let mut heap = Buddy::new(Params::default());
        malloc(&mut heap, 32);
        assert_eq!(malloc(&mut heap, 64), Allocation::at(64, 64));
        assert_eq!((heap.top(), heap.free_blocks()), (128, vec![(32, 32)]));
    }

    #[test]
    fn buddy_fails_past_the_heap_limit_and_leaves_the_heap_unchanged() {
        let mut heap = Buddy::new(Params { heap_limit: Some(100), ..Params::default() });
        assert_eq!(malloc(&mut heap, 64), Allocation::at(0, 64));
        // Growth would double the heap to 128 bytes, past the limit.
        assert_eq!(heap.allocate(Request::new(16)), None);
        assert_eq!((heap.top(), heap.free_bytes(), heap.free_blocks()), (64, 0, vec![]));
        // From an empty heap, the first block alone must fit under the limit.
        let mut heap = Buddy::new(Params { heap_limit: Some(100), ..Params::default() });
        assert_eq!(heap.allocate(Request::new(65)), None);
        assert_eq!(heap.top(), 0);
    }

    #[test]
    fn absurd_sizes_fail_instead_of_overflowing() {
        let mut heap = heap();
        assert_eq!(heap.allocate(Request::new(u64::MAX)), None);
        assert_eq!(heap.allocate(Request::new((1 << 62) + 1)), None);
        assert_eq!(heap.allocate(Request::new(ADDRESS_LIMIT + 1)), None);
        assert_eq!(heap.allocate(Request { size: 16, align: 1 << 63 }), None);
        assert_eq!(heap.top(), 0);
        // A block of exactly the address space fits an empty heap; then nothing more does.
        let all = heap.allocate(Request::new(ADDRESS_LIMIT)).unwrap();
        assert_eq!(all, Allocation::at(0, ADDRESS_LIMIT));
        assert_eq!(heap.allocate(Request::new(1)), None);
        assert_eq!(heap.top(), ADDRESS_LIMIT);
    }

    #[test]
    fn memalign_takes_a_block_at_least_as_large_as_the_alignment_and_never_pads() {
        let mut heap = heap();
        malloc(&mut heap, 16);
        // 10 bytes aligned to 64: a 64-byte block, aligned to 64 because every block is aligned
        // to its size. The heap doubles 16 -> 32 -> 64 -> 128 to get one.
        let a = heap.allocate(Request { size: 10, align: 64 }).unwrap();
        assert_eq!(a, Allocation { start: 64, size: 64, payload: 64, handle: 0 });
        assert_eq!(heap.top(), 128);
        // 100 bytes aligned to 32: the 128-byte block the size needs is aligned enough.
        let b = heap.allocate(Request { size: 100, align: 32 }).unwrap();
        assert_eq!(b, Allocation { start: 128, size: 128, payload: 128, handle: 0 });
    }

    #[test]
    fn realloc_within_the_same_order_keeps_the_block() {
        let mut heap = heap();
        let a = malloc(&mut heap, 100);
        assert_eq!(heap.reallocate(a, Request::new(65)), Some(a));
        assert_eq!(heap.reallocate(a, Request::new(128)), Some(a));
    }

    #[test]
    fn realloc_to_a_smaller_order_shrinks_in_place_and_frees_the_upper_halves() {
        let mut heap = heap();
        let a = malloc(&mut heap, 256);
        assert_eq!(heap.reallocate(a, Request::new(20)), Some(Allocation::at(0, 32)));
        assert_eq!(heap.free_blocks(), [(32, 32), (64, 64), (128, 128)]);
        assert_eq!(heap.free_bytes(), 224);
    }

    #[test]
    fn realloc_grows_in_place_when_the_high_buddies_are_free() {
        let mut heap = empty_heap_of(256);
        let a = malloc(&mut heap, 16);
        // [16, 32), [32, 64) and [64, 128) are the free high buddies at orders 4, 5 and 6.
        assert_eq!(heap.reallocate(a, Request::new(100)), Some(Allocation::at(0, 128)));
        assert_eq!(heap.free_blocks(), [(128, 128)]);
    }

    #[test]
    fn realloc_of_a_high_buddy_moves_and_frees_the_old_block_after_placing_the_new_one() {
        let mut heap = empty_heap_of(32);
        let a = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 16);
        heap.free(a);
        // b = [16, 32) is a high buddy, so it cannot grow in place. While it is live, no 32-byte
        // block is free: the heap doubles to 64 and b moves to [32, 64). Then the old [16, 32)
        // merges with [0, 16).
        assert_eq!(heap.reallocate(b, Request::new(32)), Some(Allocation::at(32, 32)));
        assert_eq!((heap.top(), heap.free_blocks()), (64, vec![(0, 32)]));
    }

    #[test]
    fn realloc_moves_when_a_high_buddy_is_taken() {
        let mut heap = empty_heap_of(128);
        let a = malloc(&mut heap, 16);
        let _b = malloc(&mut heap, 16);
        // a = [0, 16) is a low buddy, but its buddy [16, 32) is live: it moves to [32, 64).
        assert_eq!(heap.reallocate(a, Request::new(32)), Some(Allocation::at(32, 32)));
        assert_eq!(heap.free_blocks(), [(0, 16), (64, 64)]);
    }

    #[test]
    fn realloc_fails_at_the_heap_limit_and_keeps_the_old_block() {
        let mut heap = Buddy::new(Params { heap_limit: Some(64), ..Params::default() });
        let a = malloc(&mut heap, 32);
        malloc(&mut heap, 16);
        assert_eq!(heap.reallocate(a, Request::new(64)), None);
        assert_eq!((heap.top(), heap.free_blocks()), (64, vec![(48, 16)]));
    }

    /// Check every invariant of the free sets against the live blocks.
    #[test]
    fn work_counts_each_merge_of_a_chain_once_and_every_buddy_looked_up() {
        //  1. a = malloc(16) on an empty heap: 1, the new heap [0, 16) on its set 1, taken 1. 3
        //  2. b = malloc(16): 1, doubling to 32 (lookup of [0, 16): live; [16, 32) put) 2, taken
        //     1. 4
        //  3. c = malloc(64): 1, doublings to 64 and 128 (2 each) 4, [64, 128) taken 1. 6
        //  4. d = malloc(16): 1, [32, 64) taken 1, split ([48, 64) put) 1. 3 -> d = [32, 48)
        //  5. free(a): 1, lookup of [16, 32) (live) 1, [0, 16) put 1. 3
        //  6. free(b): 1, merge with [0, 16) 1, lookup of [32, 64) (split: not one free block)
        //     1, [0, 32) put 1. 4
        //  7. free(d): 1, merges with [48, 64) and [0, 32) 2, lookup of [64, 128) (live) 1,
        //     [0, 64) put 1. 5
        //  8. free(c): 1, merge with [0, 64) 1, [0, 128) is the whole heap: no lookup, put 1. 3
        // Total 3+4+6+3+3+4+5+3 = 31.
        let mut heap = heap();
        let a = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 16);
        let c = malloc(&mut heap, 64);
        let d = malloc(&mut heap, 16);
        assert_eq!((a.start, b.start, c.start, d.start, heap.top()), (0, 16, 64, 32, 128));
        assert_eq!(heap.work(), 16);
        for block in [a, b, d, c] {
            heap.free(block);
        }
        assert_eq!(heap.free_blocks(), [(0, 128)]);
        assert_eq!(heap.work(), 31);
    }

    #[test]
    fn work_of_a_realloc_counts_the_orders_checked_and_what_it_moves() {
        // Limit 128.
        //  1. e = malloc(16): 3 (as above) -> [0, 16), top 16
        //  2. realloc(e, 60): order 4 -> 6: 1, orders 4 and 5 checked 2 (none in place: nothing
        //     above e is free); move: doublings 16 -> 32 -> 64 -> 128, 2 each: 6, [64, 128)
        //     taken 1; free of [0, 16): 1, merges with [16, 32) and [32, 64) 2, lookup of
        //     [64, 128) (live) 1, [0, 64) put 1. 15 -> e = [64, 128)
        //  3. realloc(e, 20): order 6 -> 5: 1, [96, 128) put 1. 2
        //  4. realloc(e, 60): order 5 -> 6: 1, order 5 checked 1 ([96, 128) is free: in place),
        //     [96, 128) taken 1. 3
        //  5. realloc(e, 64): same order. 1
        //  6. realloc(e, 100): order 6 -> 7: 1, order 6 checked 1 (e is a high buddy); move
        //     needs top 256 > 128: fails, nothing more. 2
        // Total 3+15+2+3+1+2 = 26.
        let mut heap = Buddy::new(Params { heap_limit: Some(128), ..Params::default() });
        let e = malloc(&mut heap, 16);
        let e = heap.reallocate(e, Request::new(60)).unwrap();
        assert_eq!((e, heap.free_blocks()), (Allocation::at(64, 64), vec![(0, 64)]));
        assert_eq!(heap.work(), 18);
        let e = heap.reallocate(e, Request::new(20)).unwrap();
        let e = heap.reallocate(e, Request::new(60)).unwrap();
        let e = heap.reallocate(e, Request::new(64)).unwrap();
        assert_eq!(e, Allocation::at(64, 64));
        assert_eq!(heap.reallocate(e, Request::new(100)), None);
        assert_eq!(heap.work(), 26);
    }

    fn check_invariants(heap: &Buddy, live: &[Allocation]) {
        let top = heap.top();
        assert!(top == 0 || top.is_power_of_two(), "top {top} is not a power of two");
        let free = heap.free_blocks();
        let mut all: Vec<_> =
            free.iter().copied().chain(live.iter().map(|b| (b.start, b.size))).collect();
        all.sort_unstable();
        let mut end = 0;
        for &(start, size) in &all {
            assert!(size.is_power_of_two() && size >= 16 && start % size == 0, "{start}+{size}");
            assert_eq!(start, end, "free and live blocks must tile [0, top) exactly");
            end = start + size;
        }
        assert_eq!(end, top);
        for &(start, size) in &free {
            if size < top {
                let buddy = start ^ size;
                assert!(free.binary_search(&(buddy, size)).is_err(), "{start}+{size}: buddy free");
            }
        }
        assert_eq!(heap.free_bytes(), free.iter().map(|b| b.1).sum::<u64>());
        assert_eq!(heap.largest_satisfiable(), free.iter().map(|b| b.1).max().unwrap_or(0));
        for k in 0..ORDERS {
            assert_eq!(heap.nonempty >> k & 1 == 1, !heap.free.is_empty(k as u32));
        }
    }

    /// Check the fast index against itself: block counts, and an entry in its heap for every
    /// chunk with a free block.
    fn check_chunks(index: &ChunkIndex) {
        let blocks = index.blocks();
        for k in 0..ORDERS {
            assert_eq!(index.counts[k], blocks.iter().filter(|b| b.1 as usize == k).count());
        }
        let entries: BTreeSet<(u64, u64)> = (0..ORDERS as u64)
            .flat_map(|k| index.heaps[k as usize].iter().map(move |e| (e.0, k)))
            .collect();
        for slot in index.map.slots.iter().filter(|s| s.bits != 0) {
            assert!(entries.contains(&(slot.key >> 6, slot.key & 63)), "{slot:?} not in its heap");
        }
        assert_eq!(index.map.len, index.map.slots.iter().filter(|s| s.bits != 0).count());
        assert!(4 * index.map.len <= index.map.slots.len());
        assert_eq!(index.entries, index.heaps.iter().map(BinaryHeap::len).sum::<usize>());
    }

    #[test]
    fn the_index_drops_stale_entries_and_rebuilds_when_they_outnumber_the_chunks() {
        let mut index = ChunkIndex::empty();
        // 200 blocks of order 4, each in its own chunk (of 64 * 16 bytes), removed through the
        // map, leave 200 stale heap entries...
        for i in 0..200 {
            index.insert(i * 4096, 4);
        }
        for i in 0..200 {
            assert!(index.remove(i * 4096, 4));
            assert!(!index.remove(i * 4096, 4), "removed twice");
        }
        assert!(index.is_empty(4));
        assert_eq!(index.entries, 200);
        // ...until an insert finds more than 2 * 1 + 64 entries and rebuilds from the map.
        index.insert(1 << 30, 4);
        assert_eq!(index.entries, 1);
        check_chunks(&index);
        // A stale entry below a live one is skipped: the lowest *free* block is returned.
        index.insert(16, 4);
        index.insert(1 << 20, 4);
        assert!(index.remove(16, 4));
        assert!(!index.contains(16, 4) && index.contains(1 << 20, 4));
        assert!(!index.contains(1 << 20, 5), "the same address at another order is not free");
        assert_eq!(index.take_lowest(4), 1 << 20);
        assert_eq!(index.take_lowest(4), 1 << 30);
        assert!(index.is_empty(4));
        check_chunks(&index);
    }

    #[test]
    fn blocks_of_one_chunk_come_out_lowest_first_and_the_chunk_goes_with_the_last() {
        let mut index = ChunkIndex::empty();
        for i in [5u64, 63, 0, 17] {
            index.insert(i * 32, 5);
        }
        index.insert(64 * 32, 5);
        assert_eq!(index.map.len, 2);
        let taken: Vec<_> = (0..5).map(|_| index.take_lowest(5)).collect();
        assert_eq!(taken, [0, 5 * 32, 17 * 32, 63 * 32, 64 * 32]);
        assert_eq!((index.map.len, index.entries), (0, 0));
        assert!(index.is_empty(5));
    }

    #[test]
    fn the_chunk_map_keeps_every_entry_through_growth_and_backward_shift_removal() {
        let mut index = ChunkIndex::empty();
        // Order-4 blocks 2^20 bytes apart: each in its own chunk, many colliding in a small table.
        let addrs: Vec<Addr> = (0..1000).map(|i| (i * 7919 % 1000) << 20).collect();
        for &a in &addrs {
            index.insert(a, 4);
        }
        for (i, &a) in addrs.iter().enumerate() {
            if i % 3 == 0 {
                assert!(!index.remove(a, 5), "a wrong order removes nothing");
                assert!(!index.remove(a + 16, 4), "a neighbour is not free");
                assert!(index.remove(a, 4));
            }
        }
        for (i, &a) in addrs.iter().enumerate() {
            assert_eq!(index.contains(a, 4), i % 3 != 0, "{a:#x}");
        }
        assert_eq!(index.map.len, addrs.len() - addrs.len().div_ceil(3));
        check_chunks(&index);
    }

    /// Check the bitmap index against itself: block counts, and every summary bit set exactly
    /// when the word below it is not zero.
    fn check_bitmaps(index: &BitmapIndex) {
        let blocks = index.blocks();
        for k in 0..ORDERS {
            assert_eq!(index.counts[k], blocks.iter().filter(|b| b.1 as usize == k).count());
            let lowest = blocks.iter().filter(|b| b.1 as usize == k).map(|b| b.0 >> k).min();
            if let Some(lowest) = lowest {
                assert_eq!(index.lowest[k] as u64, lowest, "the lowest free block of order {k}");
            }
        }
        // The walk over every word: only for small layouts (the proptests' heaps reach 4 GiB,
        // past the dense top).
        if index.cap == 0 || index.cap > 1 << 18 {
            return;
        }
        for order in MIN_ORDER..=index.cap.trailing_zeros() {
            let base = index.base[order as usize];
            let words_at = |l: usize| ((index.cap >> order) >> (6 * (l + 1))).max(1) as usize;
            for l in 1..index.levels {
                for j in 0..words_at(l - 1) {
                    let child = index.words[base[l - 1] as usize + j];
                    let bit = index.words[base[l] as usize + j / 64] >> (j % 64) & 1;
                    assert_eq!(bit == 1, child != 0, "order {order} level {l} bit {j}");
                }
                for j in words_at(l - 1)..64 * words_at(l) {
                    assert_eq!(index.words[base[l] as usize + j / 64] >> (j % 64) & 1, 0);
                }
            }
        }
    }

    fn check_index(index: &FreeIndex) {
        match index {
            FreeIndex::Bitmaps(b) => check_bitmaps(b),
            FreeIndex::Chunks(c) => check_chunks(c),
        }
    }

    #[test]
    fn the_bitmaps_are_laid_out_again_as_blocks_land_higher_and_keep_every_block() {
        let mut index = BitmapIndex::empty();
        index.insert(16, 4);
        index.insert(4096, 12);
        assert_eq!((index.cap, index.levels), (MIN_DENSE_TOP, 2));
        // A block at 1 MiB: the bitmaps double past it (to 2 MiB, 3 levels), refilled.
        index.insert(1 << 20, 5);
        assert_eq!((index.cap, index.levels), (1 << 21, 3));
        // The whole of a 256 MiB heap as one block: the largest layout, 4 levels.
        index.insert(0, DENSE_TOP.trailing_zeros());
        assert_eq!((index.cap, index.levels), (DENSE_TOP, LEVELS));
        check_bitmaps(&index);
        assert!(index.contains(16, 4) && !index.contains(16, 5) && !index.contains(32, 4));
        assert!(!index.contains(DENSE_TOP, 4) && !index.remove(DENSE_TOP, 4));
        assert_eq!(index.take_lowest(4), 16);
        assert!(index.remove(4096, 12) && !index.remove(4096, 12));
        let top = DENSE_TOP.trailing_zeros();
        assert_eq!((index.take_lowest(5), index.take_lowest(top)), (1 << 20, 0));
        assert!((0..ORDERS as u32).all(|k| index.is_empty(k)));
        check_bitmaps(&index);
    }

    #[test]
    fn a_block_past_the_dense_top_moves_every_free_block_to_the_chunk_index() {
        let mut index = FreeIndex::empty();
        for i in 0..100 {
            index.insert(i * 4096, 4);
        }
        index.insert(DENSE_TOP - 64, 6);
        assert!(matches!(index, FreeIndex::Bitmaps(_)));
        index.insert(DENSE_TOP, 32);
        assert!(matches!(index, FreeIndex::Chunks(_)));
        check_index(&index);
        assert!(index.contains(DENSE_TOP - 64, 6) && index.contains(DENSE_TOP, 32));
        assert_eq!(index.take_lowest(4), 0);
        assert_eq!(index.blocks().len(), 101);
    }

    /// A random stream of set operations: (kind, order, block index, high address).
    fn set_ops() -> impl proptest::strategy::Strategy<Value = Vec<(u8, u32, u64, bool)>> {
        proptest::collection::vec(
            (0u8..8, 4u32..14, 0u64..3000, proptest::bool::weighted(0.02)),
            1..600,
        )
    }

    /// Replay `ops` on `fast` and on the ordered sets, comparing every answer; `far` is where
    /// the high addresses go.
    fn differential<S: FreeSets>(
        mut fast: S,
        ops: Vec<(u8, u32, u64, bool)>,
        far: Addr,
        check: impl Fn(&S),
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut plain = OrderedSets::empty();
        for (op, order, index, high) in ops {
            let addr = if high { far + (index << order) } else { index << order };
            match op {
                0..=2 if !plain.contains(addr, order) => {
                    fast.insert(addr, order);
                    plain.insert(addr, order);
                }
                3..=4 => prop_assert_eq!(fast.remove(addr, order), plain.remove(addr, order)),
                5 => prop_assert_eq!(fast.contains(addr, order), plain.contains(addr, order)),
                6..=7 if !plain.is_empty(order) => {
                    prop_assert_eq!(fast.take_lowest(order), plain.take_lowest(order))
                }
                _ => {}
            }
            for k in 0..ORDERS as u32 {
                prop_assert_eq!(fast.is_empty(k), plain.is_empty(k), "order {}", k);
            }
            prop_assert_eq!(fast.contains(addr, order), plain.contains(addr, order));
        }
        let mut blocks = fast.blocks();
        blocks.sort_unstable();
        let mut expected = plain.blocks();
        expected.sort_unstable();
        prop_assert_eq!(blocks, expected);
        check(&fast);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn the_bitmap_index_answers_every_set_operation_as_the_ordered_sets_do(ops in set_ops()) {
            differential(BitmapIndex::empty(), ops, 1 << 17, check_bitmaps)?;
        }

        #[test]
        fn the_free_index_answers_as_the_ordered_sets_do_before_and_after_the_dense_top(
            ops in set_ops(),
        ) {
            differential(FreeIndex::empty(), ops, DENSE_TOP - (1 << 20), check_index)?;
        }
    }

    /// A random stream of calls: (kind, size, alignment log2, which live block).
    fn calls() -> impl proptest::strategy::Strategy<Value = Vec<(u8, u64, u32, u16)>> {
        proptest::collection::vec(
            (
                0u8..10,
                prop_oneof![4 => 0u64..200, 2 => 0u64..5000, 1 => limits::size(0u64..100_000)],
                limits::align_log2(4u32..10),
                any::<u16>(),
            ),
            1..1500,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn the_fast_index_gives_every_answer_the_ordered_sets_give(
            ops in calls(),
            min_size in prop_oneof![Just(16u64), Just(48), Just(256)],
            heap_limit in prop_oneof![Just(None), Just(Some(1u64 << 16)), Just(Some(1u64 << 20))],
        ) {
            let params = Params { min_size, heap_limit, ..Params::default() };
            let mut fast = Buddy::new(params);
            let mut plain = Buddy::<OrderedSets>::with_sets(params);
            let mut live: Vec<Allocation> = Vec::new();
            for (op, size, align_log2, pick) in ops {
                let pick = usize::from(pick) % live.len().max(1);
                match op {
                    0..=2 => {
                        let req = Request::new(size);
                        let placed = fast.allocate(req);
                        prop_assert_eq!(placed, plain.allocate(req));
                        live.extend(placed);
                    }
                    3 => {
                        let req = Request { size, align: 1 << align_log2 };
                        let placed = fast.allocate(req);
                        prop_assert_eq!(placed, plain.allocate(req));
                        live.extend(placed);
                    }
                    4..=7 if !live.is_empty() => {
                        let block = live.swap_remove(pick);
                        fast.free(block);
                        plain.free(block);
                    }
                    8..=9 if !live.is_empty() => {
                        let req = Request::new(size);
                        let moved = fast.reallocate(live[pick], req);
                        prop_assert_eq!(moved, plain.reallocate(live[pick], req));
                        if let Some(b) = moved {
                            live[pick] = b;
                        }
                    }
                    _ => {}
                }
                prop_assert_eq!(fast.free_blocks(), plain.free_blocks());
                prop_assert_eq!(
                    (fast.top(), fast.free_bytes(), fast.largest_satisfiable(), fast.work()),
                    (plain.top(), plain.free_bytes(), plain.largest_satisfiable(), plain.work())
                );
                prop_assert_eq!(fast.nonempty, plain.nonempty);
                check_index(&fast.free);
            }
            for b in live.drain(..) {
                fast.free(b);
                plain.free(b);
            }
            prop_assert_eq!(fast.free_blocks(), plain.free_blocks());
            prop_assert_eq!(fast.work(), plain.work());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_streams_keep_the_free_sets_exact_and_place_by_the_policy(
            ops in proptest::collection::vec(
                (0u8..8, limits::size(0u64..3000), limits::align_log2(4u32..8), any::<u16>()),
                1..200,
            ),
            min_size in prop_oneof![Just(16u64), Just(64)],
            heap_limit in prop_oneof![Just(None), Just(Some(4096u64))],
        ) {
            let params = Params { min_size, heap_limit, ..Params::default() };
            let mut heap = Buddy::new(params);
            let mut live: Vec<Allocation> = Vec::new();
            for (op, size, align_log2, pick) in ops {
                let pick = usize::from(pick) % live.len().max(1);
                match op {
                    0..=3 => {
                        let req = Request { size, align: 1 << align_log2 };
                        let before = heap.free_blocks();
                        let top = heap.top();
                        // The block the rules give, and whether it can fit the address space:
                        // without a heap limit, only a block past the ceiling, or growth that
                        // might pass it, fails (growth doubles the heap to at most 2 * top, or
                        // twice the block when the lower half is not all free).
                        let block = params.need(size).max(req.align);
                        let grows = before.iter().all(|f| f.1 < block);
                        let may_fail = heap_limit.is_some()
                            || block > ADDRESS_LIMIT
                            || (grows && (2 * top).max(2 * block.next_power_of_two()) > ADDRESS_LIMIT);
                        let placed = heap.allocate(req);
                        if block > ADDRESS_LIMIT {
                            prop_assert_eq!(placed, None);
                        }
                        if placed.is_none() {
                            prop_assert!(may_fail, "{req:?} fits but failed at top {top:#x}");
                            prop_assert_eq!((heap.top(), heap.free_blocks()), (top, before.clone()));
                        }
                        if let Some(b) = placed {
                            prop_assert!(b.payload == b.start && b.start % req.align == 0);
                            prop_assert!(b.size >= req.size.max(req.align).max(min_size));
                            // Placement: the lowest-addressed free block of the smallest
                            // sufficient order, if there is one; otherwise growth.
                            let chosen = before.iter().filter(|f| f.1 >= b.size).min_by_key(|f| (f.1, f.0));
                            match chosen {
                                Some(&(start, _)) => prop_assert_eq!((b.start, heap.top()), (start, top)),
                                None => prop_assert!(heap.top() > top),
                            }
                            live.push(b);
                        }
                    }
                    4..=5 if !live.is_empty() => heap.free(live.swap_remove(pick)),
                    6..=7 if !live.is_empty() => {
                        let top = heap.top();
                        match heap.reallocate(live[pick], Request::new(size)) {
                            Some(b) => {
                                prop_assert!(b.size >= size && b.end() <= ADDRESS_LIMIT);
                                live[pick] = b;
                            }
                            None => {
                                let block = params.need(size);
                                prop_assert!(
                                    heap_limit.is_some()
                                        || block > ADDRESS_LIMIT
                                        || (2 * top).max(2 * block.next_power_of_two()) > ADDRESS_LIMIT,
                                    "realloc to {size} fits but failed at top {top:#x}"
                                );
                                prop_assert_eq!(heap.top(), top);
                            }
                        }
                    }
                    _ => {}
                }
                check_invariants(&heap, &live);
            }
            for b in live.drain(..) {
                heap.free(b);
            }
            check_invariants(&heap, &live);
            prop_assert_eq!(heap.largest_satisfiable(), heap.top());
        }
    }
}
