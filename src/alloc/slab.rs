//! `slab`: segregated size classes. Small requests are served from slabs (runs of whole pages
//! cut into equal slots), one set of slabs per size class; large requests take whole pages. So
//! small blocks never sit between large ones, and freeing large blocks leaves whole page runs.
//!
//! # Policy
//! A request of `n` bytes needs `need = need(n)` bytes ([`Params::need`]: `max(MIN,
//! round_up(max(n, 1), 16))`). Pages are [`PAGE`] = 4096 bytes.
//!
//! - **Size classes** (jemalloc's spacing): 16, 32, 48, ..., 128 (steps of 16), then four classes
//!   per doubling up to [`SMALL_MAX`] = 2048: 160, 192, 224, 256 (steps of 32), 320 ... 512
//!   (steps of 64), 640 ... 1024 (128), 1280, 1536, 1792, 2048 (256); 24 classes in all. A request
//!   with `need <= 2048` is *small* and gets a slot of the smallest class `>= need`. A class's
//!   *step* is its distance to the class below it (16 for the class 16). The waste of a small
//!   malloc, `class - need`, is always less than one step of its class, so below 1/4 of the
//!   class above 128 (and 0 up to 128). `--min-size` raises the smallest class in use: since
//!   `need >= MIN`, classes below `MIN` are never used; with `MIN > 2048` every request is large.
//! - **Slabs.** A slab of class `c` is the smallest run of whole pages that `c` divides exactly:
//!   `c / gcd(c, 4096)` pages, holding `4096 / gcd(c, 4096)` slots (jemalloc's rule). For
//!   example the class 48 has slabs of 3 pages with 256 slots, 2048 of 1 page with 2 slots, 1792
//!   of 7 pages with 16 slots. Every slab is 1 to 7 pages and holds 2 to 256 slots. Slot `i` of
//!   a slab starting at `s` is `[s + i * c, s + (i + 1) * c)`; the slots fill the slab exactly,
//!   so a slab has no tail of bytes that fit no whole slot. Free slots are free bytes of the
//!   strategy (no live block occupies them): they show as external fragmentation, not internal.
//! - **Which slot.** A small request takes, among the slabs of its class that have a free slot,
//!   the lowest-addressed one, and in it the lowest free slot. If no slab of the class has a free
//!   slot, a new slab is taken from the page allocator (below) and its slot 0 is used.
//! - **Empty slabs.** When the last live slot of a slab is freed, the slab's pages go back to
//!   the page allocator at once. So no slab is ever kept empty, and freeing every block leaves
//!   nothing but free page runs (with coalescing on, one run of `top` bytes).
//! - **Large requests** (`need > 2048`) take `round_up(need, 4096)` bytes of whole pages from the
//!   page allocator.
//! - **The page allocator** is a `best-fit` [free list](super::freelist) whose every request is
//!   a whole number of pages: slabs and large blocks. It places a run in the smallest free run
//!   that fits (lowest address on ties) and otherwise grows the heap; so every block and free
//!   run is a whole number of pages and starts on a page boundary. It alone grows the heap: its
//!   `top` is the strategy's `top`. `--no-coalesce` is passed on to it (freed page runs are not
//!   merged); slots within a slab need no merging.
//! - **memalign** to `align` (a power of two): if `need <= 2048` and `align <= 2048`, the slot
//!   comes from the smallest class `>= need` that is a multiple of `align`. Slabs start on page
//!   boundaries, so every slot of such a class is aligned to `align`, and the payload is the
//!   slot's start: memalign of 100 bytes to 64 gets a slot of the class 128, to 256 one of the
//!   class 256. That class is never larger than the one a malloc of the padded size `need +
//!   align - 16` would get. Otherwise the request is large: with `align <= 4096` the page alignment suffices;
//!   with `align > 4096` it takes `round_up(need, 4096) + align - 4096` bytes of pages and its
//!   payload is the first address in them aligned to `align`.
//! - **realloc** to `n` bytes (16-byte alignment; the result's payload is its start):
//!   - small to the same class (`need(n)`'s class is the block's size): the block stays as is;
//!   - large to large (`need(n) > 2048` and the block is large): the page allocator's realloc of
//!     the page run to `round_up(need(n), 4096)` bytes: shrink in place freeing the tail pages,
//!     grow in place into a following free run or past `top`, or else move (see the free-list
//!     docs, which take the run for a block). The first of those rules that applies decides:
//!     a run ending at `top` (or followed by the free run ending at `top`) grows past `top`,
//!     and when that is past `--heap-limit` the realloc fails, even if a free run elsewhere is
//!     large enough: it is not moved there (free-list realloc rule 3);
//!   - anything else (another class, small to large, large to small): allocate the new block by
//!     the malloc rule while the old one is live, then free the old one.
//! - **Heap limit.** Only the page allocator grows the heap. When it cannot place a new slab or a
//!   large run within `--heap-limit` and the address-space ceiling ([`super::ADDRESS_LIMIT`]),
//!   the request fails (a failing realloc keeps the old block) and nothing has changed. A large
//!   realloc that grows at `top` fails there, as said above, without looking for a free run
//!   elsewhere; every other realloc that fails has found no room anywhere.
//!
//! # Figures
//! - `free_bytes` = the page allocator's free bytes + the bytes of the free slots of all slabs.
//!   (There are no slab tails to add.) Hence `top == live consumed + free_bytes` exactly.
//! - `largest_satisfiable` = the largest block the strategy could hand out without growing:
//!   the page allocator's largest free run if there is one (always a whole number of pages, so at
//!   least 4096, more than any class: a large request of that many bytes fits, and so does every
//!   small request), else the largest class that has a slab with a free slot, else 0. Like the
//!   free-list family it counts block bytes and ignores `--min-size`.
//!
//! # Mechanism and cost
//! Slabs live in an arena `Vec` (ids of released slabs are reused) of 64-byte records (one cache
//! line each), each with a 256-bit bitmap of its free slots, a 4-bit mask of the bitmap's words
//! that are not zero (so the lowest free slot is two bit scans, no loop) and their count. Per
//! class, a binary min-heap of `(start, id)` holds every slab with a free slot (and stale
//! entries, of slabs that filled up or were released, dropped lazily when they reach the top),
//! the lowest slab with room is kept beside it (so a malloc reads it without looking at the
//! heap), and a 24-bit mask says which classes have one. A slab that fills up or gets room
//! again changes the heap only if it is the lowest with room (its entry stays while it is full,
//! and is live again if it gets room before reaching the top). A small block's
//! [`Allocation::handle`] is its slab's id, as a real slab allocator finds the slab from the
//! block's address: a free finds its slab in the
//! arena by that id and its slot by one multiplication (by `2^32 / size` rounded up, exact for
//! every offset within a slab: no division). Costs, with `s` the slabs of a class and `r` the
//! page runs:
//! - small malloc: O(1) class lookup (a table by `need / 16`), O(1) for the lowest slab with a
//!   free slot and for its lowest free slot (two bit scans); when the slab fills up, O(log s)
//!   amortized (the stale entries dropped on the way to the next lowest); a new slab costs the
//!   page allocator's O(log r) and O(log s);
//! - small free: O(1), plus O(log s) when the slab stops being full and has no entry left,
//!   plus O(log s + log r) amortized when it becomes empty;
//! - large malloc, free and realloc: the page allocator's O(log r);
//! - `free_bytes`, `largest_satisfiable`: O(1).
//!
//! Memory: 64 bytes per slab, at most one heap entry (16 bytes) per slab id in each class's heap,
//! and the page allocator's tree of free runs: bounded by the most slabs held at once and the
//! free runs, never by the heap's addresses.
//!
//! # Work
//! [`Strategy::work`] is the slab layer's own count plus all the work of the page allocator (a
//! `best-fit` free list whose every block is a page run: its count is defined in
//! [`super::freelist`], with 1 for each of its own calls). The slab layer counts, per call:
//! - 1 for the call (`allocate`, `free`, `reallocate`), whether or not it succeeds;
//! - a small malloc: the bitmap words of its slab scanned for the lowest free slot, `i / 64 + 1`
//!   for slot `i` (1 for slots 0 to 63, 2 for 64 to 127, ...); 1 more when that fills the slab
//!   (it leaves its class's set of slabs with room). When no slab of the class has room, first
//!   a new slab: the page allocator's malloc of its pages, and 1 (the slab joins the set);
//! - a small free: 1 when its slab was full (it joins the set again); when the slab becomes
//!   empty, 1 (it leaves the set) and the page allocator's free of its pages;
//! - a large malloc or free: nothing more than the page allocator's malloc or free of the run;
//! - a realloc: to the same class, nothing more; large to large, the page allocator's realloc
//!   of the run; anything else, a malloc and a free as above, each with its own 1 for the call
//!   (so a moving realloc is `1 + malloc + free`; when the malloc fails, `1 + malloc`).
//!
//! So with few free page runs (each page-allocator search counting 1): the first small malloc
//! of a class costs 6 (1, a new slab: page-allocator malloc 3 and 1, slot 0: 1), later ones 2,
//! and a large malloc that grows the heap 4.

use super::freelist::{FreeList, Policy};
use super::model::{Addr, Allocation, Bytes, Params, Request, Strategy, StrategyEntry, ALIGN};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub const ENTRY: StrategyEntry = StrategyEntry {
    name: "slab",
    about: "segregated size classes: small requests share slabs of their class (16 B to 2 KiB), \
            larger ones take whole pages (best fit); empty slabs go back at once",
    new: |params| Box::new(SlabAllocator::new(*params)),
};

/// Bytes in a page: the unit of slabs and of large blocks.
pub const PAGE: Bytes = 4096;
/// `log2(PAGE)`.
const PAGE_SHIFT: u32 = 12;
/// The largest class; a request needing more is large.
pub const SMALL_MAX: Bytes = 2048;
/// How many size classes there are.
pub const CLASSES: usize = 24;
/// The class sizes, ascending.
pub const CLASS_SIZES: [Bytes; CLASSES] = [
    16, 32, 48, 64, 80, 96, 112, 128, // steps of 16
    160, 192, 224, 256, // 32
    320, 384, 448, 512, // 64
    640, 768, 896, 1024, // 128
    1280, 1536, 1792, 2048, // 256
];
/// Words of a slab's free-slot bitmap: room for 256 slots, the most any slab has.
const SLOT_WORDS: usize = 4;

/// `CLASS_OF_NEED[need / 16]`: the index of the smallest class `>= need`, for `need` a multiple
/// of 16 in `16..=2048` (entry 0 is unused).
const CLASS_OF_NEED: [u8; (SMALL_MAX / ALIGN) as usize + 1] = {
    let mut table = [0u8; (SMALL_MAX / ALIGN) as usize + 1];
    let (mut i, mut class) = (1, 0);
    while i < table.len() {
        while CLASS_SIZES[class] < i as Bytes * ALIGN {
            class += 1;
        }
        table[i] = class as u8;
        i += 1;
    }
    table
};

/// `SLOT_RECIPROCALS[c]`: `ceil(2^32 / CLASS_SIZES[c])`, so that `offset * r >> 32 == offset /
/// size` for every offset within a slab (below `2^15`, where the error of the rounding, below
/// `offset / 2^32`, stays under `1 / size`): a free finds its slot by a multiplication, not a
/// division.
const SLOT_RECIPROCALS: [u64; CLASSES] = {
    let mut table = [0u64; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        table[c] = (1u64 << 32).div_ceil(CLASS_SIZES[c]);
        c += 1;
    }
    table
};

/// `SLOTS_OF[c]`: [`slab_slots`] of class `c`'s size, looked up rather than computed on a free.
const SLOTS_OF: [u32; CLASSES] = {
    let mut table = [0u32; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        table[c] = slab_slots(CLASS_SIZES[c]);
        c += 1;
    }
    table
};

/// `gcd(size, PAGE)` for a class size (a multiple of 16).
const fn gcd_with_page(size: Bytes) -> Bytes {
    1 << if size.trailing_zeros() < PAGE_SHIFT { size.trailing_zeros() } else { PAGE_SHIFT }
}

/// Bytes of a slab of the class of `size`: the smallest whole number of pages it divides.
pub const fn slab_bytes(size: Bytes) -> Bytes {
    size / gcd_with_page(size) * PAGE
}

/// Slots in a slab of the class of `size`.
pub const fn slab_slots(size: Bytes) -> u32 {
    (PAGE / gcd_with_page(size)) as u32
}

/// One slab: a page-aligned run of `slab_bytes(class)` bytes cut into `slab_slots(class)` slots.
/// 48 bytes, aligned to a cache line so that a malloc or free reads one line of it.
#[derive(Clone, Debug)]
#[repr(align(64))]
struct Slab {
    start: Addr,
    class: u8,
    /// Released: its id is in `spare` (its other fields are those it had when released).
    released: bool,
    /// Its class's heap of slabs with room holds an entry `(start, id)` (see
    /// [`SlabAllocator::partial`]), live or stale.
    queued: bool,
    /// Free slots; always below `slots` for a slab in use (an empty slab is released at once).
    free: u32,
    /// Bit `i` is set exactly when slot `i` is free; bits at `slots` and above are clear.
    free_slots: [u64; SLOT_WORDS],
    /// Bit `w` is set exactly when `free_slots[w]` is not zero.
    words_with_free: u8,
}

impl Slab {
    /// Take the lowest free slot (there must be one); returns its index. O(1).
    fn take_lowest(&mut self) -> u32 {
        debug_assert!(self.words_with_free != 0, "slab has a free slot");
        let word = self.words_with_free.trailing_zeros() as usize % SLOT_WORDS;
        let bits = self.free_slots[word];
        let bit = bits.trailing_zeros();
        let rest = bits & (bits - 1);
        self.free_slots[word] = rest;
        self.words_with_free &= !(u8::from(rest == 0) << word);
        self.free -= 1;
        word as u32 * 64 + bit
    }

    /// Mark slot `i` (live until now) free.
    fn put(&mut self, i: u32) {
        let (word, bit) = ((i / 64) as usize, i % 64);
        debug_assert_eq!(self.free_slots[word] >> bit & 1, 0, "slot freed twice");
        self.free_slots[word] |= 1 << bit;
        self.words_with_free |= 1 << word;
        self.free += 1;
    }
}

/// The start of no slab: [`SlabAllocator::lowest`] of a class without a slab with room.
const NO_ROOM: Addr = Addr::MAX;

/// The slab allocator; see the module docs for the policy.
#[derive(Debug)]
pub struct SlabAllocator {
    params: Params,
    /// Page runs: slabs and large blocks, all whole pages. Its `top` is the heap's.
    pages: FreeList,
    /// Arena of slabs; the ids in `spare` are released and hold stale data. A small block's
    /// [`Allocation::handle`] is the id of its slab.
    slabs: Vec<Slab>,
    spare: Vec<u32>,
    /// Per class, a min-heap of `(start, id)` entries that holds every slab of the class with a
    /// free slot, and may hold stale entries too: of slabs that have filled up (the entry comes
    /// back into use if the slab gets room again while it is still there) or were released. An
    /// entry is *live* when slab `id` is not released, starts at `start`, is of the class and
    /// has a free slot. Stale entries are dropped when they reach the top, so a slab's
    /// transitions cost nothing unless it is the lowest with room. A slab has at most one entry
    /// (`Slab::queued`); a released one's stays until it reaches the top, and a class's heap is
    /// empty whenever it makes a new slab, so no id has two entries in one class's heap.
    partial: [BinaryHeap<Reverse<(Addr, u32)>>; CLASSES],
    /// Per class, the lowest live entry of `partial` (the lowest slab with room), or
    /// [`NO_ROOM`] and 0: a small malloc reads it without looking at the heap.
    lowest: [(Addr, u32); CLASSES],
    /// Bit `c` is set exactly when class `c` has a slab with a free slot.
    classes_with_room: u32,
    /// Bytes of all free slots of all slabs.
    free_slot_bytes: Bytes,
    /// Units of work so far, besides the page allocator's (see the module docs).
    work: u64,
}

impl SlabAllocator {
    pub fn new(params: Params) -> SlabAllocator {
        // Every page-allocator request is a whole number of pages; `--min-size` is about blocks
        // handed to the program and applies before a request gets here.
        let page_params = Params { min_size: ALIGN, ..params };
        SlabAllocator {
            params,
            pages: FreeList::new(Policy::BestFit, page_params),
            slabs: Vec::new(),
            spare: Vec::new(),
            partial: Default::default(),
            lowest: [(NO_ROOM, 0); CLASSES],
            classes_with_room: 0,
            free_slot_bytes: 0,
            work: 0,
        }
    }

    /// The class serving `need` bytes aligned to `align`, or `None` if the request is large:
    /// the smallest class `>= need` that is a multiple of `align`. O(1).
    fn class_for(need: Bytes, align: Bytes) -> Option<usize> {
        if need > SMALL_MAX || align > SMALL_MAX {
            return None;
        }
        let mut class = CLASS_OF_NEED[(need / ALIGN) as usize] as usize;
        // Every class is a multiple of ALIGN: a plain request is done. Otherwise the search ends
        // at 2048 at the latest, a multiple of every power of two up to 2048.
        if align > ALIGN {
            while CLASS_SIZES[class] & (align - 1) != 0 {
                class += 1;
            }
        }
        Some(class)
    }

    fn is_small(block: &Allocation) -> bool {
        block.size <= SMALL_MAX
    }

    /// Slab `id`, starting at `start`, of `class` has a free slot again (or is new).
    #[inline(never)]
    fn mark_room(&mut self, class: usize, start: Addr, id: u32) {
        self.work += 1;
        let slab = &mut self.slabs[id as usize];
        if !slab.queued {
            slab.queued = true;
            self.partial[class].push(Reverse((start, id)));
        }
        if start < self.lowest[class].0 {
            self.lowest[class] = (start, id);
        }
        self.classes_with_room |= 1 << class;
    }

    /// Slab `id`, starting at `start`, of `class` has no free slot any more (or is released).
    /// Its entry stays in the heap (stale) unless it is the lowest, when the stale entries at the
    /// top are dropped down to the next live one.
    #[inline(never)]
    fn unmark_room(&mut self, class: usize, start: Addr, id: u32) {
        self.work += 1;
        debug_assert!(self.slabs[id as usize].released || self.slabs[id as usize].free == 0);
        if self.lowest[class] != (start, id) {
            return;
        }
        let heap = &mut self.partial[class];
        self.lowest[class] = (NO_ROOM, 0);
        while let Some(&Reverse((start, id))) = heap.peek() {
            let slab = &mut self.slabs[id as usize];
            // The entry of slab `id` as it is (or was when released), or of an earlier slab
            // under the same id.
            let ours = slab.start == start && slab.class as usize == class;
            if ours && !slab.released && slab.free > 0 {
                self.lowest[class] = (start, id);
                return;
            }
            heap.pop();
            if ours {
                slab.queued = false;
            }
        }
        self.classes_with_room &= !(1 << class);
    }

    /// Take a new slab of `class` from the page allocator; `None` (nothing changed) at the heap
    /// limit. Returns its start and id.
    #[inline(never)]
    fn new_slab(&mut self, class: usize) -> Option<(Addr, u32)> {
        let size = CLASS_SIZES[class];
        let bytes = slab_bytes(size);
        let run = self.pages.allocate(Request::new(bytes))?;
        debug_assert!(run.start % PAGE == 0 && run.size == bytes);
        let slots = slab_slots(size);
        let mut free_slots = [0u64; SLOT_WORDS];
        for (w, word) in free_slots.iter_mut().enumerate() {
            let below = slots.saturating_sub(w as u32 * 64).min(64);
            *word = if below == 64 { u64::MAX } else { (1 << below) - 1 };
        }
        let words_with_free = (1u8 << slots.div_ceil(64)) - 1;
        let slab = Slab {
            start: run.start,
            class: class as u8,
            released: false,
            queued: false,
            free: slots,
            free_slots,
            words_with_free,
        };
        // A new slab is made only when no slab of the class has room, and then the stale entries
        // have all been dropped: so an entry a released slab left under this id, in another
        // class's heap, is never taken for this slab's (it names the other class).
        debug_assert!(self.partial[class].is_empty());
        let id = match self.spare.pop() {
            Some(id) => {
                self.slabs[id as usize] = slab;
                id
            }
            None => {
                self.slabs.push(slab);
                (self.slabs.len() - 1) as u32
            }
        };
        self.mark_room(class, run.start, id);
        self.free_slot_bytes += bytes;
        Some((run.start, id))
    }

    #[inline(always)]
    fn allocate_small(&mut self, class: usize) -> Option<Allocation> {
        let (start, id) = match self.lowest[class] {
            (NO_ROOM, _) => self.new_slab(class)?,
            lowest => lowest,
        };
        let slab = &mut self.slabs[id as usize];
        let slot = slab.take_lowest();
        let full = slab.free == 0;
        // The bitmap words take_lowest scanned.
        self.work += u64::from(slot / 64) + 1;
        let size = CLASS_SIZES[class];
        self.free_slot_bytes -= size;
        if full {
            self.unmark_room(class, start, id);
        }
        Some(Allocation::at(start + Bytes::from(slot) * size, size).with_handle(id))
    }

    #[inline(always)]
    fn free_small(&mut self, block: Allocation) {
        let id = block.handle;
        let slab = &mut self.slabs[id as usize];
        let (start, class) = (slab.start, slab.class as usize);
        let size = CLASS_SIZES[class];
        debug_assert_eq!(size, block.size);
        debug_assert!((start..start + slab_bytes(size)).contains(&block.start), "its slab");
        slab.put((((block.start - start) * SLOT_RECIPROCALS[class]) >> 32) as u32);
        let free = slab.free;
        self.free_slot_bytes += size;
        if free == 1 {
            self.mark_room(class, start, id);
        }
        if free == SLOTS_OF[class] {
            self.release(class, start, id);
        }
    }

    /// Slab `id` (of `class`, at `start`) is empty: its pages go back at once.
    #[inline(never)]
    fn release(&mut self, class: usize, start: Addr, id: u32) {
        self.slabs[id as usize].released = true;
        self.unmark_room(class, start, id);
        let bytes = slab_bytes(CLASS_SIZES[class]);
        self.free_slot_bytes -= bytes;
        self.pages.free(Allocation::at(start, bytes));
        self.spare.push(id);
    }

    /// Inlined: returned from a call, the block came back through memory, and the engine's
    /// 8-byte load of its 4-byte `handle` (with the padding after it) could not be forwarded
    /// from the store that wrote it, a stall on every large malloc (a fifth of python-dict's).
    #[inline(always)]
    fn allocate_large(&mut self, need: Bytes, align: Bytes) -> Option<Allocation> {
        let bytes = need.checked_next_multiple_of(PAGE)?.checked_add(align.saturating_sub(PAGE))?;
        let run = self.pages.allocate(Request::new(bytes))?;
        Some(Allocation::aligned(run.start, run.size, Request { size: need, align }))
    }

    #[inline(never)]
    fn free_large(&mut self, block: Allocation) {
        self.pages.free(Allocation::at(block.start, block.size));
    }

    /// Check every internal invariant (tests only): bitmaps match counts, the room sets and mask
    /// match the slabs, the page map points at every slab, and the free-slot total is right.
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut free_slot_bytes = 0;
        let mut in_use = 0;
        for (id, slab) in self.slabs.iter().enumerate() {
            if self.spare.contains(&(id as u32)) {
                continue;
            }
            in_use += 1;
            let class = slab.class as usize;
            let size = CLASS_SIZES[class];
            let slots = slab_slots(size);
            let ones: u32 = slab.free_slots.iter().map(|w| w.count_ones()).sum();
            assert_eq!(ones, slab.free, "slab {id}: bitmap and count disagree");
            for (w, &word) in slab.free_slots.iter().enumerate() {
                assert_eq!(slab.words_with_free >> w & 1 == 1, word != 0, "slab {id} word {w}");
            }
            assert!(slab.free < slots, "slab {id} is empty but kept");
            for i in slots..SLOT_WORDS as u32 * 64 {
                assert_eq!(slab.free_slots[(i / 64) as usize] >> (i % 64) & 1, 0);
            }
            assert!(!slab.released, "slab {id} in use");
            let entry = Reverse((slab.start, id as u32));
            let entries = self.partial[class].iter().filter(|&&e| e == entry).count();
            assert!(!slab.queued || entries > 0, "slab {id} is queued but has no entry");
            assert!(slab.free == 0 || entries > 0, "slab {id} has room but no entry");
            free_slot_bytes += Bytes::from(slab.free) * size;
        }
        assert_eq!(free_slot_bytes, self.free_slot_bytes);
        for &id in &self.spare {
            let slab = &self.slabs[id as usize];
            assert!(slab.released, "spare slab {id}");
            let entry = Reverse((slab.start, id));
            let entries = self.partial[slab.class as usize].iter().filter(|&&e| e == entry);
            assert!(!slab.queued || entries.count() > 0, "released slab {id}: queued");
        }
        for (class, heap) in self.partial.iter().enumerate() {
            let mut ids: Vec<u32> = heap.iter().map(|e| e.0 .1).collect();
            ids.sort_unstable();
            assert!(ids.windows(2).all(|w| w[0] != w[1]), "class {class}: an id entered twice");
            let live = |&Reverse((start, id)): &Reverse<(Addr, u32)>| {
                let slab = &self.slabs[id as usize];
                !slab.released
                    && slab.start == start
                    && slab.class as usize == class
                    && slab.free > 0
            };
            let lowest = heap.iter().filter(|e| live(e)).map(|e| e.0).min();
            let lowest = lowest.unwrap_or((NO_ROOM, 0));
            assert_eq!(self.lowest[class], lowest, "class {class}");
            assert_eq!(
                self.classes_with_room >> class & 1 == 1,
                lowest.0 != NO_ROOM,
                "class {class}"
            );
        }
        assert!(in_use + self.spare.len() == self.slabs.len());
    }
}

impl Strategy for SlabAllocator {
    #[inline(always)]
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        self.work += 1;
        let need = self.params.need(req.size);
        match Self::class_for(need, req.align) {
            Some(class) => self.allocate_small(class),
            None => self.allocate_large(need, req.align),
        }
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        self.work += 1;
        let need = self.params.need(req.size);
        match (Self::is_small(&old), Self::class_for(need, ALIGN)) {
            (true, Some(class)) if CLASS_SIZES[class] == old.size => Some(old),
            (false, None) => {
                let bytes = need.checked_next_multiple_of(PAGE)?;
                self.pages.reallocate(Allocation::at(old.start, old.size), Request::new(bytes))
            }
            _ => {
                let new = self.allocate(Request::new(req.size))?;
                self.free(old);
                Some(new)
            }
        }
    }

    fn work(&self) -> u64 {
        self.work + self.pages.work()
    }

    #[inline(always)]
    fn free(&mut self, block: Allocation) {
        self.work += 1;
        if Self::is_small(&block) {
            self.free_small(block);
        } else {
            self.free_large(block);
        }
    }

    fn top(&self) -> Bytes {
        self.pages.top()
    }

    fn free_bytes(&self) -> Bytes {
        self.pages.free_bytes() + self.free_slot_bytes
    }

    fn largest_satisfiable(&self) -> Bytes {
        match self.pages.largest_satisfiable() {
            0 if self.classes_with_room != 0 => {
                CLASS_SIZES[(31 - self.classes_with_room.leading_zeros()) as usize]
            }
            run => run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::model::{limits, Strategy, ADDRESS_LIMIT};
    use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest};
    use proptest::strategy::Strategy as _;
    use proptest::test_runner::Config as ProptestConfig;

    fn heap() -> SlabAllocator {
        SlabAllocator::new(Params::default())
    }

    fn malloc(heap: &mut SlabAllocator, n: Bytes) -> Allocation {
        heap.allocate(Request::new(n)).expect("no heap limit")
    }

    #[test]
    fn a_multiplication_by_the_reciprocal_finds_the_slot_of_every_offset_in_a_slab() {
        for (class, &size) in CLASS_SIZES.iter().enumerate() {
            for offset in 0..slab_bytes(size) {
                assert_eq!(
                    (offset * SLOT_RECIPROCALS[class]) >> 32,
                    offset / size,
                    "{size} {offset}"
                );
            }
        }
    }

    #[test]
    fn classes_are_sixteen_apart_to_128_then_four_per_doubling() {
        for pair in CLASS_SIZES.windows(2) {
            let (below, class) = (pair[0], pair[1]);
            let step =
                if class <= 128 { 16 } else { (1 << (63 - (class - 1).leading_zeros())) / 4 };
            assert_eq!(class - below, step, "class {class}");
        }
        assert_eq!(CLASS_SIZES[0], 16);
        assert_eq!(CLASS_SIZES[CLASSES - 1], SMALL_MAX);
    }

    #[test]
    fn slab_waste_is_below_one_class_step() {
        let p = Params::default();
        for n in 0..=SMALL_MAX {
            let need = p.need(n);
            let class = SlabAllocator::class_for(need, ALIGN).unwrap();
            let step = if class == 0 { 16 } else { CLASS_SIZES[class] - CLASS_SIZES[class - 1] };
            let waste = CLASS_SIZES[class] - need;
            assert!(waste < step, "{n} bytes: class {} wastes {waste}", CLASS_SIZES[class]);
            assert!(CLASS_SIZES[class] >= need);
        }
        assert_eq!(SlabAllocator::class_for(p.need(SMALL_MAX + 1), ALIGN), None);
    }

    #[test]
    fn every_slab_is_one_to_seven_pages_filled_exactly_by_two_to_256_slots() {
        for size in CLASS_SIZES {
            let (bytes, slots) = (slab_bytes(size), slab_slots(size));
            assert_eq!(bytes % PAGE, 0);
            assert!((PAGE..=7 * PAGE).contains(&bytes), "class {size}: {bytes} bytes");
            assert!((2..=256).contains(&slots), "class {size}: {slots} slots");
            assert_eq!(Bytes::from(slots) * size, bytes, "class {size} leaves a tail");
        }
        assert_eq!((slab_bytes(48), slab_slots(48)), (3 * PAGE, 256));
        assert_eq!((slab_bytes(1792), slab_slots(1792)), (7 * PAGE, 16));
        assert_eq!((slab_bytes(2048), slab_slots(2048)), (PAGE, 2));
    }

    #[test]
    fn small_requests_share_a_slab_of_their_class() {
        let mut heap = heap();
        // Class 32: a one-page slab of 128 slots at 0, filled from the lowest slot.
        assert_eq!(malloc(&mut heap, 24), Allocation::at(0, 32));
        assert_eq!(malloc(&mut heap, 17), Allocation::at(32, 32));
        // Class 112: its own slab of 7 pages, after the first one.
        assert_eq!(malloc(&mut heap, 100), Allocation::at(PAGE, 112));
        assert_eq!(malloc(&mut heap, 32), Allocation::at(64, 32));
        assert_eq!(heap.top(), 8 * PAGE);
        // 3 slots of 32 and 1 of 112 live.
        assert_eq!(heap.free_bytes(), 8 * PAGE - 3 * 32 - 112);
        heap.check_invariants();
    }

    #[test]
    fn a_freed_slot_is_reused_lowest_first_in_the_lowest_slab() {
        let mut heap = heap();
        let blocks: Vec<_> = (0..514).map(|_| malloc(&mut heap, 16)).collect();
        // Two full one-page slabs of 256 and a third one.
        assert_eq!(blocks[513], Allocation::at(2 * PAGE + 16, 16));
        heap.free(blocks[512]); // slot 0 of the third slab
        heap.free(blocks[200]); // slots 200, 100 and 250 of the first slab
        heap.free(blocks[100]);
        heap.free(blocks[250]);
        assert_eq!(malloc(&mut heap, 16), Allocation::at(100 * 16, 16));
        assert_eq!(malloc(&mut heap, 16), Allocation::at(200 * 16, 16));
        assert_eq!(malloc(&mut heap, 16), Allocation::at(250 * 16, 16));
        assert_eq!(malloc(&mut heap, 16), Allocation::at(2 * PAGE, 16));
        heap.check_invariants();
    }

    #[test]
    fn a_full_or_released_slab_leaves_its_entry_until_it_reaches_the_top_of_the_heap() {
        let mut heap = heap();
        let class = SlabAllocator::class_for(16, ALIGN).unwrap();
        let blocks: Vec<_> = (0..257).map(|_| malloc(&mut heap, 16)).collect();
        // The first slab filled up while it was the lowest: its entry left the heap.
        assert_eq!(blocks[256], Allocation::at(PAGE, 16));
        assert_eq!(heap.partial[class].len(), 1);
        // It has room again: a new entry, and it is the lowest.
        heap.free(blocks[7]);
        assert_eq!(heap.partial[class].len(), 2);
        assert_eq!(heap.lowest[class], (0, 0));
        // The second slab empties and is released: its entry stays (stale) behind the first's.
        heap.free(blocks[256]);
        assert_eq!(heap.partial[class].len(), 2);
        heap.check_invariants();
        // The first slab fills up: the stale entries at the top go, down to nothing.
        assert_eq!(malloc(&mut heap, 16), Allocation::at(7 * 16, 16));
        assert!(heap.partial[class].is_empty());
        assert_eq!(heap.lowest[class], (NO_ROOM, 0));
        // A new slab takes the released one's id and pages, and gets one entry.
        assert_eq!(malloc(&mut heap, 16), Allocation::at(PAGE, 16));
        assert_eq!(heap.lowest[class], (PAGE, 1));
        heap.check_invariants();
    }

    #[test]
    fn an_empty_slab_goes_back_to_the_page_allocator() {
        let mut heap = heap();
        let a = malloc(&mut heap, 40); // class 48: 3 pages
        let b = malloc(&mut heap, 48);
        let big = malloc(&mut heap, 5000); // 2 pages at 3 pages
        assert_eq!(big, Allocation::at(3 * PAGE, 2 * PAGE));
        heap.free(a);
        assert_eq!(heap.largest_satisfiable(), 48, "the slab still holds b: only its class fits");
        heap.free(b);
        // The slab's 3 pages are a free run again, and serve a large request.
        assert_eq!(heap.largest_satisfiable(), 3 * PAGE);
        assert_eq!(heap.free_bytes(), 3 * PAGE);
        assert_eq!(malloc(&mut heap, 3 * PAGE), Allocation::at(0, 3 * PAGE));
        heap.free(big);
        heap.free(Allocation::at(0, 3 * PAGE));
        assert_eq!(heap.largest_satisfiable(), heap.top());
        assert_eq!(heap.free_bytes(), heap.top());
        heap.check_invariants();
    }

    #[test]
    fn large_requests_take_whole_pages() {
        let mut heap = heap();
        assert_eq!(malloc(&mut heap, 2049), Allocation::at(0, PAGE));
        assert_eq!(malloc(&mut heap, 4096), Allocation::at(PAGE, PAGE));
        assert_eq!(malloc(&mut heap, 4097), Allocation::at(2 * PAGE, 2 * PAGE));
        assert_eq!(heap.top(), 4 * PAGE);
        assert_eq!(heap.free_bytes(), 0);
    }

    #[test]
    fn slab_keeps_small_and_large_apart() {
        // Alternate large and small requests, as a program building a list of buffers might.
        let mut slab = heap();
        let mut first_fit = FreeList::new(Policy::FirstFit, Params::default());
        let run = |heap: &mut dyn Strategy| {
            let s0 = heap.allocate(Request::new(24)).unwrap();
            let a = heap.allocate(Request::new(4000)).unwrap();
            let s1 = heap.allocate(Request::new(24)).unwrap();
            let b = heap.allocate(Request::new(4000)).unwrap();
            heap.allocate(Request::new(24)).unwrap();
            heap.free(a);
            heap.free(b);
            heap.free(s0);
            (a, s1, b)
        };
        // In the slab heap the small blocks share one slab page and the large ones lie next to
        // each other: freeing them leaves one run of two pages, although s1 is still live.
        let (a, s1, b) = run(&mut slab);
        assert_eq!((a.start, s1.start, b.start), (PAGE, 32, 2 * PAGE));
        assert_eq!(slab.largest_satisfiable(), 2 * PAGE);
        assert_eq!(slab.allocate(Request::new(8000)).unwrap(), Allocation::at(PAGE, 2 * PAGE));
        // In first fit, s1 sits between a and b and keeps their holes apart.
        let (a, s1, b) = run(&mut first_fit);
        assert_eq!((a.start, s1.start, b.start), (32, 4032, 4064));
        assert_eq!(first_fit.largest_satisfiable(), 4032, "a's hole merged with s0's, not b's");
        slab.check_invariants();
    }

    #[test]
    fn a_heap_limit_failure_leaves_the_heap_unchanged() {
        let mut heap =
            SlabAllocator::new(Params { heap_limit: Some(2 * PAGE), ..Params::default() });
        let a = malloc(&mut heap, 16);
        assert_eq!(heap.allocate(Request::new(40)), None, "a 3-page slab of 48 does not fit");
        assert_eq!(heap.allocate(Request::new(4097)), None);
        let big = malloc(&mut heap, 3000);
        assert_eq!(big, Allocation::at(PAGE, PAGE));
        assert_eq!(heap.reallocate(big, Request::new(5000)), None, "cannot grow past the limit");
        assert_eq!(heap.reallocate(a, Request::new(100)), None, "no room for a class-112 slab");
        assert_eq!(heap.top(), 2 * PAGE);
        assert_eq!(heap.free_bytes(), PAGE - 16);
        heap.check_invariants();
        // Both blocks are still live and can be freed.
        heap.free(a);
        heap.free(big);
        assert_eq!(heap.free_bytes(), 2 * PAGE);
    }

    #[test]
    fn memalign_takes_a_class_that_is_a_multiple_of_the_alignment() {
        let mut heap = heap();
        let req = |size, align| Request { size, align };
        // 100 bytes to 64: class 128 (112 is not a multiple of 64).
        let a = heap.allocate(req(100, 64)).unwrap();
        assert_eq!(a, Allocation::at(0, 128));
        // 16 bytes to 1024: class 1024, its slab of one page.
        let b = heap.allocate(req(16, 1024)).unwrap();
        assert_eq!(b, Allocation::at(PAGE, 1024));
        // To 4096: a whole page, large.
        let c = heap.allocate(req(10, 4096)).unwrap();
        assert_eq!(c, Allocation::at(2 * PAGE, PAGE));
        // To 16384: 4096 + 12288 bytes of pages; the payload is the first multiple of 16384.
        let d = heap.allocate(req(10, 16384)).unwrap();
        assert_eq!(d, Allocation { start: 3 * PAGE, size: 4 * PAGE, payload: 4 * PAGE, handle: 0 });
        // Realloc to the same size moves an over-aligned small block to its own class.
        assert_eq!(heap.reallocate(b, Request::new(16)).unwrap().size, 16);
        heap.check_invariants();
    }

    #[test]
    fn memalign_never_gets_more_than_a_malloc_of_the_padded_size() {
        let p = Params::default();
        for need in (16..=SMALL_MAX).step_by(16) {
            for align in (4..=11).map(|k| 1 << k) {
                let padded = p.block_size(Request { size: need, align });
                let Some(class) = SlabAllocator::class_for(need, align) else { continue };
                assert_eq!(CLASS_SIZES[class] % align, 0);
                if padded <= SMALL_MAX {
                    let plain = SlabAllocator::class_for(padded, ALIGN).unwrap();
                    assert!(CLASS_SIZES[class] <= CLASS_SIZES[plain], "{need} to {align}");
                }
            }
        }
    }

    #[test]
    fn realloc_stays_in_its_class_and_moves_across_classes() {
        let mut heap = heap();
        let a = malloc(&mut heap, 100); // class 112
        assert_eq!(heap.reallocate(a, Request::new(110)).unwrap(), a, "same class: in place");
        assert_eq!(heap.reallocate(a, Request::new(97)).unwrap(), a);
        // Class 96: moves into a new slab of 3 pages after a's 7, and a's slab goes back.
        let b = heap.reallocate(a, Request::new(96)).unwrap();
        assert_eq!(b, Allocation::at(7 * PAGE, 96));
        assert_eq!(heap.largest_satisfiable(), 7 * PAGE);
        // Small to large: a page run, best fit in the 7 free pages.
        let c = heap.reallocate(b, Request::new(3000)).unwrap();
        assert_eq!(c, Allocation::at(0, PAGE));
        heap.check_invariants();
    }

    #[test]
    fn a_large_realloc_is_the_page_allocators() {
        let mut heap = heap();
        let a = malloc(&mut heap, 5000); // 2 pages at 0
                                         // Grows in place past top, to whole pages.
        let a = heap.reallocate(a, Request::new(3 * PAGE + 1)).unwrap();
        assert_eq!(a, Allocation::at(0, 4 * PAGE));
        // Shrinks in place; the tail pages are free.
        let a = heap.reallocate(a, Request::new(PAGE * 2)).unwrap();
        assert_eq!(a, Allocation::at(0, 2 * PAGE));
        assert_eq!(heap.largest_satisfiable(), 2 * PAGE);
        // Large to small moves into a new slab in the free pages, while a is still live.
        let s = heap.reallocate(a, Request::new(2000)).unwrap();
        assert_eq!(s, Allocation::at(2 * PAGE, 2048));
        assert_eq!(heap.top(), 4 * PAGE);
        heap.check_invariants();
    }

    #[test]
    fn a_large_realloc_growing_at_top_fails_at_the_limit_though_a_free_run_could_hold_it() {
        // x = malloc(9000): 3 pages [0, 12288); l = malloc(3000): 1 page [12288, 16384) = top.
        // free(x): free run [0, 12288). realloc(l, 5000) wants 2 pages: l ends at top, so the
        // page allocator's rule 3 grows it to top = 12288 + 8192 = 20480 > the limit 16384: it
        // fails, though [0, 12288) holds 8192 bytes.
        let mut heap =
            SlabAllocator::new(Params { heap_limit: Some(4 * PAGE), ..Params::default() });
        let x = malloc(&mut heap, 9000);
        let l = malloc(&mut heap, 3000);
        assert_eq!((x, l), (Allocation::at(0, 3 * PAGE), Allocation::at(3 * PAGE, PAGE)));
        heap.free(x);
        assert_eq!(heap.reallocate(l, Request::new(5000)), None);
        assert_eq!((heap.top(), heap.free_bytes()), (4 * PAGE, 3 * PAGE));
        // The free run does hold it: a malloc of the same size gets it.
        assert_eq!(malloc(&mut heap, 5000), Allocation::at(0, 2 * PAGE));
    }

    #[test]
    fn work_counts_calls_slot_words_set_changes_and_the_page_allocators_work() {
        // The page allocator never has more than one free run: each of its searches counts 1.
        //  1. a = malloc(16): 1; new slab of class 16 (1 page, 256 slots): page malloc 3 (call,
        //     choice, highest), joins the set 1; slot 0: 1 word. 6 -> a = [0, 16)
        //  2. b = malloc(16): 1, slot 1: 1 word. 2 -> [16, 32)
        //  3. l = malloc(3000): 1, page malloc of 1 page 3. 4 -> [4096, 8192)
        //  4. realloc(b, 10): same class. 1
        //  5. realloc(l, 5000): 1, page realloc to 2 pages: call 1, next-run search 1, at top:
        //     grows, 0 changes. 3 -> [4096, 12288)
        //  6. realloc(a, 100): 1; malloc of class 112: 1, new slab (7 pages): page malloc 3,
        //     set 1, slot 0: 1; free of a: 1 (its slab was not full, is not empty). 8
        //     -> a = [12288, 12400); top 12288 + 28672 = 40960
        //  7. free(b): 1, its slab is empty: leaves the set 1, page free of [0, 4096): call,
        //     search, insert 3. 5
        //  8. free(l): 1, page free: call, search, merge below (resize) 3. 4
        //  9. free(a): 1, slab empty: 1, page free of [12288, 40960): 3. 5
        // 10. p = malloc(2000): 1, new slab of class 2048 (1 page, 2 slots): page malloc from
        //     the free run: call, choice, resize 3, set 1, slot 0: 1. 6 -> [0, 2048)
        // 11. q = malloc(2000): 1, slot 1: 1, the slab is full: leaves the set 1. 3
        // 12. free(p): 1, the slab was full: joins the set 1. 2
        // Total 6+2+4+1+3+8+5+4+5+6+3+2 = 49.
        let mut heap = heap();
        let a = malloc(&mut heap, 16);
        let b = malloc(&mut heap, 16);
        let l = malloc(&mut heap, 3000);
        assert_eq!((a.start, b.start, l.start), (0, 16, PAGE));
        assert_eq!(heap.work(), 12);
        let b = heap.reallocate(b, Request::new(10)).unwrap();
        let l = heap.reallocate(l, Request::new(5000)).unwrap();
        assert_eq!(l, Allocation::at(PAGE, 2 * PAGE));
        let a = heap.reallocate(a, Request::new(100)).unwrap();
        assert_eq!((a, heap.top()), (Allocation::at(3 * PAGE, 112), 10 * PAGE));
        assert_eq!(heap.work(), 24);
        heap.free(b);
        heap.free(l);
        heap.free(a);
        assert_eq!(heap.pages.free_blocks().collect::<Vec<_>>(), [(0, 10 * PAGE)]);
        assert_eq!(heap.work(), 38);
        let p = malloc(&mut heap, 2000);
        let q = malloc(&mut heap, 2000);
        assert_eq!((p.start, q.start), (0, 2048));
        heap.free(p);
        assert_eq!(heap.work(), 49);

        // Slot 64 is in the second bitmap word: its malloc scans 2. 6 for slot 0, 2 for each
        // of slots 1 to 63, 3 for slot 64: 6 + 63 * 2 + 3 = 135.
        let mut heap = SlabAllocator::new(Params::default());
        for i in 0..65 {
            assert_eq!(malloc(&mut heap, 16).start, 16 * i);
        }
        assert_eq!(heap.work(), 135);
    }

    #[test]
    fn largest_satisfiable_is_the_largest_free_run_else_the_largest_class_with_room() {
        let mut heap = heap();
        assert_eq!(heap.largest_satisfiable(), 0);
        malloc(&mut heap, 16); // a slab of class 16 with 255 free slots
        assert_eq!(heap.largest_satisfiable(), 16);
        let x = malloc(&mut heap, 600); // class 640: 5 pages, 32 slots
        assert_eq!(heap.largest_satisfiable(), 640);
        let big = malloc(&mut heap, 3 * PAGE);
        heap.free(big);
        assert_eq!(heap.largest_satisfiable(), 3 * PAGE);
        heap.free(x);
        assert_eq!(heap.largest_satisfiable(), 8 * PAGE, "x's slab merged with big's run");
    }

    #[test]
    fn slabs_above_64_gib_are_found_like_any_other() {
        const DENSE_LIMIT: Addr = 1 << 36;
        let mut heap = heap();
        let huge = malloc(&mut heap, DENSE_LIMIT - 2 * PAGE);
        let a = malloc(&mut heap, 1000); // class 1024: one page, below the limit
                                         // Class 1536: a slab of 3 pages across the limit; its fourth slot lies above it.
        let [b, c, d, e] = [(); 4].map(|()| malloc(&mut heap, 1500));
        let (limit, page) = (DENSE_LIMIT, PAGE);
        assert_eq!((a.start, b.start, e.start), (limit - 2 * page, limit - page, limit + 512));
        heap.check_invariants();
        for block in [c, e, a, huge, b, d] {
            heap.free(block);
            heap.check_invariants();
        }
        assert_eq!(heap.largest_satisfiable(), heap.top());
    }

    #[test]
    fn min_size_raises_the_smallest_class() {
        let mut heap = SlabAllocator::new(Params { min_size: 64, ..Params::default() });
        assert_eq!(malloc(&mut heap, 1), Allocation::at(0, 64));
        assert_eq!(malloc(&mut heap, 50), Allocation::at(64, 64));
        let mut heap = SlabAllocator::new(Params { min_size: 4096, ..Params::default() });
        assert_eq!(malloc(&mut heap, 1), Allocation::at(0, PAGE), "everything is large");
    }

    #[test]
    fn without_coalescing_freed_page_runs_stay_apart() {
        let mut heap = SlabAllocator::new(Params { coalesce: false, ..Params::default() });
        let a = malloc(&mut heap, PAGE);
        let b = malloc(&mut heap, PAGE);
        malloc(&mut heap, PAGE);
        heap.free(a);
        heap.free(b);
        assert_eq!(heap.largest_satisfiable(), PAGE);
        assert_eq!(heap.free_bytes(), 2 * PAGE);
    }

    /// One step of a random stream: allocate `size` aligned to `16 << align_shift`, free the
    /// live block at `index`, or realloc it to `size`.
    #[derive(Clone, Debug)]
    enum Op {
        Alloc { size: Bytes, align_shift: u32 },
        Free { index: usize },
        Realloc { index: usize, size: Bytes },
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        // Sizes mostly below 5000, alignments mostly 16 (shift 0), and now and then near the
        // limits: sizes near 2^47, 2^63 or 2^64 and alignments up to 2^63.
        let size = || limits::size(0..5000u64);
        let shift = limits::align_log2((0..14u32).prop_map(|s| s.saturating_sub(4) + 4));
        prop_oneof![
            3 => (size(), shift).prop_map(|(size, log2)| Op::Alloc { size, align_shift: log2 - 4 }),
            2 => any::<usize>().prop_map(|index| Op::Free { index }),
            1 => (any::<usize>(), size()).prop_map(|(index, size)| Op::Realloc { index, size }),
        ]
    }

    /// Whether, without a heap limit, a request for `need` bytes aligned to `align` may fail at
    /// `top`: only when the pages it takes (a slab of at most 7 pages, or the whole pages of a
    /// large request with the alignment's padding) might end past the ceiling.
    fn may_fail(top: Bytes, need: Bytes, align: Bytes) -> bool {
        let pages = need.next_multiple_of(PAGE) + align.saturating_sub(PAGE);
        top + pages.max(7 * PAGE) > ADDRESS_LIMIT
    }

    /// Where the policy puts a small block of `class`, found by brute force over all slabs: the
    /// lowest free slot of the lowest-addressed slab of the class with one.
    fn expected_slot(heap: &SlabAllocator, class: usize) -> Option<Addr> {
        let slab = (heap.slabs.iter().enumerate())
            .filter(|(id, _)| !heap.spare.contains(&(*id as u32)))
            .filter(|(_, s)| s.class as usize == class && s.free > 0)
            .map(|(_, s)| s)
            .min_by_key(|s| s.start)?;
        let slot = (0..slab_slots(CLASS_SIZES[class]))
            .find(|&i| slab.free_slots[(i / 64) as usize] >> (i % 64) & 1 == 1)?;
        Some(slab.start + Bytes::from(slot) * CLASS_SIZES[class])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn random_streams_keep_the_slab_invariants(
            ops in proptest::collection::vec(op(), 1..300),
            limited in any::<bool>(),
            coalesce in any::<bool>(),
        ) {
            let heap_limit = limited.then_some(24 * PAGE);
            let params = Params { heap_limit, coalesce, ..Params::default() };
            let mut heap = SlabAllocator::new(params);
            let mut live: Vec<Allocation> = Vec::new();
            for op in ops {
                match op {
                    Op::Alloc { size, align_shift } => {
                        let req = Request { size, align: ALIGN << align_shift };
                        let need = params.need(req.size);
                        let expected = SlabAllocator::class_for(need, req.align)
                            .map(|class| expected_slot(&heap, class));
                        let (top, free) = (heap.top(), heap.free_bytes());
                        match heap.allocate(req) {
                            Some(block) => {
                                prop_assert_eq!(block.payload % req.align, 0);
                                prop_assert!(block.payload + need <= block.end());
                                if let Some(Some(at)) = expected {
                                    prop_assert_eq!(block.start, at);
                                }
                                live.push(block);
                            }
                            None => {
                                prop_assert!(limited || may_fail(top, need, req.align), "{req:?}");
                                prop_assert_eq!((heap.top(), heap.free_bytes()), (top, free));
                            }
                        }
                    }
                    Op::Free { index } if !live.is_empty() => {
                        heap.free(live.swap_remove(index % live.len()));
                    }
                    Op::Realloc { index, size } if !live.is_empty() => {
                        let i = index % live.len();
                        let (top, free) = (heap.top(), heap.free_bytes());
                        match heap.reallocate(live[i], Request::new(size)) {
                            Some(block) => live[i] = block,
                            None => {
                                let need = params.need(size);
                                prop_assert!(limited || may_fail(top, need, ALIGN), "{size}");
                                prop_assert_eq!((heap.top(), heap.free_bytes()), (top, free));
                            }
                        }
                    }
                    _ => {}
                }
                heap.check_invariants();
                let consumed: Bytes = live.iter().map(|b| b.size).sum();
                prop_assert_eq!(heap.top(), consumed + heap.free_bytes());
                prop_assert!(heap.largest_satisfiable() <= heap.free_bytes());
                if let Some(limit) = heap_limit {
                    prop_assert!(heap.top() <= limit);
                }
                prop_assert!(heap.top() <= ADDRESS_LIMIT);
            }
            for block in live.drain(..) {
                heap.free(block);
            }
            heap.check_invariants();
            prop_assert_eq!(heap.free_bytes(), heap.top());
            prop_assert!(heap.slabs.len() == heap.spare.len(), "a slab outlived its blocks");
            if coalesce {
                prop_assert_eq!(heap.largest_satisfiable(), heap.top());
            }
        }
    }
}
