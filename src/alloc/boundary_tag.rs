//! `boundary-tag`: the inline-bookkeeping allocator. Every tag, link and list head lives in a
//! real byte arena, so a buffer overrun really damages them (the safety lab).
//!
//! # Byte layout
//! The arena is one byte array, the heap `[0, top)`: heap address `a` is byte `a`. Every value
//! is a `u64`, little-endian.
//! It is sparse, like memory from `sbrk`: it commits real memory a [`PAGE`] at a time, when a
//! tag, a link or a `write` event first stores a non-zero byte there, and an untouched page
//! reads as zeros. So a 2 GiB block costs two pages (its header's and its footer's), not
//! 2 GiB, and a write over all of it no more (a page a write covers whole is kept as one
//! value, not as bytes); [`BoundaryTag::committed_bytes`] says how much is held. Pages are cut
//! from 2 MiB chunks asked for as huge pages, at most 1 GiB of them, which the process keeps:
//! the pages of a dropped arena go back to that pool (`SPARE_PAGES`) and later arenas commit
//! from it, refilled first, so the passes of one run do not fault their pages in again.
//!
//! A block `[start, start + size)` (`size` a multiple of 16) is, without `--guard`:
//!
//! ```text
//! start+0   size    (u64)            header, 16 bytes
//! start+8   status  (u64: 1 free, 2 used)
//! start+16  payload ...              (the address handed out: 16-aligned)
//! end-8     size | status (u64)      footer, 8 bytes
//! ```
//!
//! and with `--guard` every tag also carries [`GUARD_MAGIC`]:
//!
//! ```text
//! start+0   magic, start+8 magic     header, 32 bytes
//! start+16  size, start+24 status
//! start+32  payload ...
//! end-16    magic, end-8 size | status   footer, 16 bytes
//! ```
//!
//! The footer repeats the size and, in its low 4 bits (which a size, a multiple of 16, never
//! uses), the status: so freeing a block learns whether the block below is free from the word
//! just below its own header, and reads that block's header only to merge with it. The magic
//! sits *below* the value it guards, so an overrun running upward hits it first. So a
//! block costs 24 bytes of tags (48 with `--guard`): a request of `n` bytes gets a block of
//! `max(round_up(max(n, MIN) + tags, 16), smallest block)` bytes (`MIN` is `--min-size`), and
//! the payload is always `start + header`. The tags are part of [`Allocation::size`], so they
//! show as internal fragmentation. A free block keeps its free-list links in its payload:
//! `next` at `payload + 0`, `prev` at `payload + 8` (block addresses; `u64::MAX` for none). Hence
//! the smallest block is 48 bytes (header + two links + footer, rounded to 16), 64 with
//! `--guard`; a split leaves a free piece only if it is at least that large.
//!
//! The segregated list heads and a two-level bitmap of the non-empty lists (a summary word, bit
//! `w` set when bitmap word `w` is not zero, and [`BITMAP_WORDS`] bitmap words) are the
//! allocator's state outside the heap, as glibc's bins are in its `malloc_state`, not in the
//! arena: the heap model counts every byte of `[0, top)` as either live or free, and no write
//! event can reach them (they run upward from a payload). (They were words of a prologue below
//! heap address 0 in the arena at first; every read of one then cost a page lookup.) Besides
//! them the strategy keeps only scalars: `top`, the free byte and free block counts, the
//! parameters and the first corruption found.
//!
//! # Work
//! [`Strategy::work`] counts, per call, whether or not it succeeds (tag reads and checks are not
//! counted):
//! - 1 for the call (`allocate`, `free`, `reallocate`);
//! - placing a block (a malloc, or the move of realloc rule 4), when `w <= top` (see the policy
//!   below; when `w > top` no free block can be that large, and rules 1 and 2 are skipped and
//!   count nothing): 1 for every list entry visited by rule 1 (at most [`SCAN_LIMIT`], 16; an
//!   empty list visits none), and, when rule 1 finds nothing, 1 for the bitmap search of rule 2
//!   (whether or not it finds a class);
//! - 1 for every block taken off a list or put on one: a free block chosen by rules 1 to 3 is 1
//!   (taken off), plus 1 for a leading gap split off (memalign) and 1 for a rest split off;
//!   growth at a bare `top` (rule 4) is 0, plus 1 for a leading gap; a freed block is 1 (put on
//!   its list) plus 1 per free neighbour merged (taken off): 1, 2 or 3.
//!
//! So a free costs 2 to 4 (2 with `--no-coalesce`); a malloc served from the head of its own
//! exact class (below 1024 bytes) costs 3; a malloc that grows at a bare `top` costs 1 when `w >
//! top`, else `1 + entries visited + 1`, and 1 more when it takes in the free block at `top`.
//! A realloc costs 1, plus: rule 1, nothing when the block stays whole, else the tail freed as
//! above without the 1 for a call (1, or 2 when it merges with a free block above; never with
//! the block itself below it); rule 2, 1 (the block above taken off) plus 1 if its rest is split
//! off; rule 3, 1 when it takes in the free block above, else 0 (and 0 when it fails); rule 4,
//! the placement as for a malloc and the old block freed as above, without the 1 for a call.
//!
//! # Policy: which block is chosen
//! Free blocks are sorted into size classes: a block of `s < 1024` bytes is in the exact class
//! `s / 16`; a larger one in one of 16 classes per power of two, `[2^k + i 2^(k-4), 2^k + (i + 1)
//! 2^(k-4))` (so 1024..1088, 1088..1152, ..., 2048..2176, ...). Each class is a doubly linked
//! list in LIFO order: a block that becomes free (freed, merged, or left over by a split) goes
//! to the head of its class's list.
//!
//! A request whose block is `s` bytes (the size above) *wants* `w = s` bytes of a free block; a
//! memalign with `align > 16` wants `w = s + smallest block + align - 16`, enough whatever the
//! free block's address. It takes:
//! 1. the first block of at least `w` bytes among the first 16 blocks of the list of `w`'s own
//!    class (for an exact class, that is its head);
//! 2. else the head of the smallest non-empty class above `w`'s class (all of its blocks fit);
//! 3. else, if the highest block in the heap is free (it then ends at `top`), that block, with
//!    `top` moving up as far as the new block needs (growth), heap limit permitting;
//! 4. else a new block at `top` (growth), heap limit permitting.
//!
//! Rules 1 and 2 are only tried when `w <= top` (otherwise no free block is that large).
//!
//! The block is carved from the low end of the chosen free block (for memalign, after a leading
//! gap, below); the rest stays free if it is at least a smallest block, otherwise it is added to
//! the block handed out (internal waste). Growth past `--heap-limit` (or past [`ARENA_LIMIT`] =
//! 2^34 bytes = 16 GiB, the most this arena addresses) fails the request and changes nothing: a
//! request whose block (size, tags and alignment gap) cannot end at or below it is a failed
//! allocation, whatever its size (up to `u64::MAX`) or alignment (up to 2^63).
//!
//! **memalign: the leading gap.** A block placed from the address `base` (the start of the
//! chosen free block, rules 1 to 3, or `top`, rule 4) starts at `base + gap`, where `gap` is the
//! smallest gap that is 0 or at least a smallest block and puts the payload on `align`: with `g
//! = (align - (base + header) mod align) mod align` (header 16, or 32 with `--guard`), `gap = g`
//! when `g = 0` or `g >= smallest block`, else `gap = g + ceil((smallest block - g) / align) *
//! align`. The payload is `base + gap + header`, a multiple of `align`; the block is exactly
//! `s` bytes (plus a rest too small to split off): the gap is never part of it, and a non-empty
//! gap `[base, base + gap)` is always one free block of its own, put at the head of its class
//! list.
//!
//! **memalign at `top` (rules 3 and 4).** `base` is the start of the free block ending at `top`
//! if the highest block is free, else `top`. When `base + gap + s <= top` (a free top block big
//! enough), the block is carved from that free block like any other: the gap before it and the
//! rest after it become free blocks. Otherwise the heap grows, `top = base + gap + s` (the
//! request fails and nothing changes past the limit): the free top block, if any, is taken off
//! its list, the gap `[base, base + gap)` becomes one free block (taking in the old free top
//! block and the new bytes up to the block), and the block is `[base + gap, top)`. The gap is
//! not merged with anything: the block below `base` is in use (with coalescing on a free block
//! never has a free neighbour; with `--no-coalesce` nothing merges). Its bytes are free bytes,
//! not the block's. For example, with `[0, 96)` in use and `top = 96`, memalign(10, 64) (`s =
//! 48`) gets `g = 64 - 112 mod 64 = 16`, too small for a block, so `gap = 16 + 64 = 80`: the
//! block is `[176, 224)` with payload 192, `top = 224`, and `[96, 176)` is a free block of 80
//! bytes.
//!
//! Free marks the block free and, with coalescing on (the default), merges it at once with the
//! block below (found through the footer just below its header) and the block above (found by
//! adding its size), if they are free. With `--no-coalesce` freed blocks stay apart.
//!
//! realloc to `n` bytes, block `[a, a + s)`, new block size `s'` (as for malloc, 16-aligned):
//! 1. `s' <= s`: shrink in place; the tail `[a + s', a + s)` is freed as above if it is at least
//!    a smallest block, otherwise kept in the block.
//! 2. else, if the block above is free and `s` + its size `>= s'`: grow into its low end; its
//!    rest stays free if it is at least a smallest block, otherwise it joins the block.
//! 3. else, if the block ends at `top`, or the free block above ends at `top`: grow in place,
//!    moving `top` to `a + s'` (heap limit permitting).
//! 4. else move: place a new block by the policy while the old one is still held, then free the
//!    old one. The payload offset is the same (`start + header`); the simulation copies no
//!    payload bytes.
//!
//! The first rule whose condition holds decides; the rules are not tried again. So when rule 3
//! applies and `a + s'` is past `--heap-limit` (or [`ARENA_LIMIT`]), the realloc fails (the old
//! block stays, and the engine counts it in `failed_allocations`), even if a free block
//! elsewhere holds `s'` bytes and rule 4 would have moved the block there without growing.
//!
//! `largest_satisfiable` is in block bytes, like `free_bytes`: the largest block a request can
//! get without growing, i.e. the largest of the first 16 blocks of the highest non-empty class
//! and of a free block ending at `top` (rules 1 to 3). The largest *request* it serves is that
//! minus the tag bytes (24, or 48 with `--guard`).
//!
//! # Mechanism and cost
//! Finding the class is a few shifts; the next non-empty class is two bit scans; the own-class
//! scan looks at 16 blocks at most; free and merge read a constant number of tags. So every
//! operation is O(1) (plus amortised O(1) arena growth: the page table's capacity doubles, and a
//! page is zeroed when it is first written). Every tag and link is a `u64` at an 8-aligned
//! address, and a page holds words: reading one is a bounds test, a page-table load and a load,
//! whether the page is committed or not (an absent page's entry points to a shared page of its
//! blank value); a store also tests the entry's tag bit, and commits an absent page off the hot
//! path. The committed pages sit in 2 MiB chunks backed by transparent huge pages where the
//! system allows it, so a heap of hundreds of MB, whose tags are random accesses, does not also
//! miss the TLB on nearly every one. Two words at a 16-aligned address share one lookup: a
//! header's size and status, a free block's two links, a guard word and the word above it. The
//! operations are compiled once per layout (with or without `--guard`) and per safety state (a
//! write has reached the arena or not, see below), so offsets and checks are constants.
//! `free_bytes` is a running count; `largest_satisfiable` reads at most 17 blocks.
//!
//! # Safety lab
//! `write` stores [`WRITE_BYTE`] into the arena (dropping bytes at or above `top`), so an overrun
//! damages the next tags for real. Every tag is checked before it is believed, and the first
//! damage found is kept in [`Strategy::corruption`]; after that the strategy does nothing
//! (allocate and realloc return `None`, free is ignored). Until a `write` event first stores a
//! byte, only this code has written the arena and nothing can be damaged, so the reads that only
//! confirm a tag it wrote itself are skipped (guard words, a footer against its header, a free
//! block's neighbours in its list and their links back, the header of a free block found
//! through its footer, and the header of the block freed or reallocated, whose size is the one
//! it handed out), and the values it does read are checked by debug assertions only (the
//! test builds make them: a failure there is a bug of this code, not damage). From the first
//! write on, every check below is made. Both give the same blocks, work and bytes (a test replays
//! random streams with the checks on from the start and compares every step). What each kind
//! means here:
//! - `GuardOverwritten` (`--guard` only): a magic word of a header or footer is not
//!   [`GUARD_MAGIC`]. Checked on every tag read: the block freed or reallocated, both neighbours
//!   read for merging or growth, and every block taken from or walked in a list.
//! - `BadSize`: a size read from a header is smaller than the smallest block, not a multiple of
//!   16, or reaches past `top`; or a footer word's size is smaller than the smallest block or
//!   reaches below address 0, or its status bits are neither free nor used (`size` is then the
//!   whole footer word).
//! - `TagMismatch`: a block's header and footer disagree on its size or status (checked for the
//!   block freed or reallocated, a free block below or above it, and every block taken from a
//!   list); `footer` is the footer's size.
//! - `BrokenLink`: a list head or link is not the address of a free block of that list's class
//!   (outside the heap, misaligned, status not free, wrong class), its neighbour does not link
//!   back to it, or a walk is longer than the number of free blocks. `at` is the link's
//!   address, except for a list head (outside the arena), where `at` and `block`
//!   are the block the head points to.
//!
//! `block` is the start of the block the damaged tag belongs to; for the footer of the block
//! below, whose start cannot be trusted, it is the start of the block being freed (just above
//! that footer). A status word that is neither free nor used reads as "not free" (the block is
//! not merged or taken). Damage can also go unnoticed (a size that still reads as plausible):
//! the allocator then hands out overlapping memory, which `--verify` catches independently.
//! Whatever the arena holds, this code never panics, never indexes out of bounds (every access
//! is checked) and never loops unboundedly (every walk is bounded).

use std::sync::{Mutex, OnceLock};

use super::model::{
    round_up, Addr, Allocation, Bytes, Corruption, CorruptionKind, Params, Request, Strategy,
    StrategyEntry, ADDRESS_LIMIT, ALIGN, WRITE_BYTE,
};

pub const ENTRY: StrategyEntry = StrategyEntry {
    name: "boundary-tag",
    about: "headers and footers inside a real byte arena; segregated LIFO free lists (first fit \
            in the own class, then the next larger class); coalesce on free via the tags",
    new: |params| Box::new(BoundaryTag::new(*params)),
};

/// Status word of a free block.
pub const FREE: u64 = 1;
/// Status word of a used block.
pub const USED: u64 = 2;
/// The value of every guard word with `--guard`.
pub const GUARD_MAGIC: u64 = 0x5AFE_B0DA_7A65_C0DE;
/// The low bits of a footer word that hold the status (a size never uses them).
const STATUS_BITS: u64 = ALIGN - 1;
/// "No block" in a list link or head.
pub const NIL: Addr = u64::MAX;
/// The largest `top` this strategy grows to: 2^34 bytes (16 GiB), below the simulated
/// address space ([`ADDRESS_LIMIT`]). The arena commits only the pages its tags and writes
/// touch, but its page table has an entry per [`PAGE`] of `[0, top)` (8 MiB at this limit),
/// and the size classes, so the list heads, run up to it. A block that would end past it,
/// tags and alignment gap included, is a failed allocation.
pub const ARENA_LIMIT: Bytes = 1 << 34;
const _: () = assert!(ARENA_LIMIT <= ADDRESS_LIMIT);

/// Sizes below this have exact classes (`size / 16`).
const SMALL_LIMIT: Bytes = 1024;
const SMALL_CLASSES: usize = (SMALL_LIMIT / ALIGN) as usize;
/// Classes per power of two at and above [`SMALL_LIMIT`].
const SUBCLASSES: usize = 16;
const SUBCLASS_BITS: u32 = SUBCLASSES.trailing_zeros();
const FIRST_RANGE_LOG: u32 = SMALL_LIMIT.trailing_zeros();
const LAST_RANGE_LOG: u32 = ARENA_LIMIT.trailing_zeros();
const CLASSES: usize = SMALL_CLASSES + (LAST_RANGE_LOG - FIRST_RANGE_LOG + 1) as usize * SUBCLASSES;
/// Words of the class bitmap (at most 64, one summary bit each).
pub const BITMAP_WORDS: usize = CLASSES.div_ceil(64);
/// How many blocks of its own class a request looks at (policy rule 1).
pub const SCAN_LIMIT: u64 = 16;

const _: () = assert!(BITMAP_WORDS <= 64);

/// Where the tags are, with or without `--guard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Header bytes: the payload starts this far into the block.
    header: Bytes,
    /// Footer bytes at the block's end.
    footer: Bytes,
    /// Smallest block: header, two links and footer, rounded up to 16.
    min_block: Bytes,
    guard: bool,
}

impl Layout {
    const PLAIN: Layout = Layout { header: 16, footer: 8, min_block: 48, guard: false };
    const GUARDED: Layout = Layout { header: 32, footer: 16, min_block: 64, guard: true };

    /// The layout with (`G`) or without `--guard`, as a constant.
    #[inline(always)]
    const fn of<const G: bool>() -> Layout {
        if G {
            Layout::GUARDED
        } else {
            Layout::PLAIN
        }
    }

    fn size_at(self, start: Addr) -> Addr {
        start + self.header - 16
    }
    #[cfg(test)]
    fn status_at(self, start: Addr) -> Addr {
        start + self.header - 8
    }
    fn next_at(self, start: Addr) -> Addr {
        start + self.header
    }
    fn prev_at(self, start: Addr) -> Addr {
        start + self.header + 8
    }
}

/// The class of a block of `size` bytes (16 <= size <= [`ARENA_LIMIT`], 2^34).
#[inline(always)]
fn class_of(size: Bytes) -> usize {
    if size < SMALL_LIMIT {
        (size / ALIGN) as usize
    } else {
        let log = 63 - size.leading_zeros();
        let sub = (size >> (log - SUBCLASS_BITS)) as usize & (SUBCLASSES - 1);
        SMALL_CLASSES + (log - FIRST_RANGE_LOG) as usize * SUBCLASSES + sub
    }
}

/// Bytes per page of the arena (16 KiB): the unit in which it commits memory.
///
/// A page of the arena costs a pointer in its page table whether it is committed or not, and
/// a committed page costs `PAGE` bytes even if one tag is all it holds. 16 KiB keeps the table
/// at 1/2048 of the heap's extent (1 MiB for a 2 GiB heap, 8 MiB at [`ARENA_LIMIT`], 16 GiB)
/// and a huge block's two tag pages at 32 KiB; the hot path does not depend on it.
pub const PAGE: usize = 1 << 14;
/// Words per page.
const PAGE_WORDS: usize = PAGE / 8;

/// One page of the arena, as words: byte `8 j + k` of the page is bits `8 k .. 8 k + 8` of word
/// `j` (the little-endian reading of the bytes, on any machine). Every tag and link is a word
/// at an 8-aligned address (block starts and sizes are multiples of 16), so it is one load or
/// one store here.
#[derive(Clone)]
#[repr(align(64))]
struct Page([u64; PAGE_WORDS]);

impl Page {
    /// A page whose every byte is `value`.
    fn filled(value: u8) -> Box<Page> {
        Box::new(Page([u64::from_ne_bytes([value; 8]); PAGE_WORDS]))
    }

    fn byte(&self, i: usize) -> u8 {
        (self.0[i / 8] >> (8 * (i % 8))) as u8
    }

    fn set_byte(&mut self, i: usize, value: u8) {
        let shift = 8 * (i % 8);
        let word = &mut self.0[i / 8];
        *word = *word & !(0xFF << shift) | u64::from(value) << shift;
    }

    /// Set the bytes of `range` (within the page) to `value`: whole words at once.
    fn fill(&mut self, range: std::ops::Range<usize>, value: u8) {
        let (mut at, end) = (range.start, range.end);
        while at < end && at % 8 != 0 {
            self.set_byte(at, value);
            at += 1;
        }
        let words_end = at + (end - at) / 8 * 8;
        self.0[at / 8..words_end / 8].fill(u64::from_ne_bytes([value; 8]));
        for i in words_end..end {
            self.set_byte(i, value);
        }
    }

    /// The value every byte of a blank page holds.
    fn blank_value(&self) -> u8 {
        self.0[0] as u8
    }
}

/// The shared, never written page that every absent page whose bytes all hold `value` reads
/// through: one for 0 (fresh memory), and one more per value a whole-page fill ever used (the
/// write byte, in practice), made once per process.
fn blank_page(value: u8) -> &'static Page {
    static ZERO: Page = Page([0; PAGE_WORDS]);
    static OTHERS: [OnceLock<&'static Page>; 256] = [const { OnceLock::new() }; 256];
    if value == 0 {
        return &ZERO;
    }
    OTHERS[usize::from(value)].get_or_init(|| Box::leak(Page::filled(value)))
}

/// A page-table entry: a committed page this arena owns (from [`SparePages::take`]), or, with
/// [`ABSENT`] set, the shared [`blank_page`] an absent page reads as.
type Entry = *mut Page;
/// The tag bit of an absent page's entry (a page is 64-aligned, so the bit is free).
const ABSENT: usize = 1;

/// The entry of an absent page whose bytes all hold `value`.
fn absent(value: u8) -> Entry {
    (blank_page(value) as *const Page).cast_mut().map_addr(|a| a | ABSENT)
}

fn is_absent(entry: Entry) -> bool {
    entry.addr() & ABSENT != 0
}

/// The arena's bytes, committed a page at a time on first write, like an anonymous mapping.
///
/// Byte `i` is byte `i % PAGE` of page `i / PAGE`. A page never written is absent and reads as
/// zeros, which is what a fresh arena holds, so a block costs no memory for its size: only the
/// pages its tags and list links touch are committed (a 2 GiB block: the page of its header and
/// the page of its footer). An absent page is *blank*: every byte of it holds one value, 0 until
/// a fill covers the whole page (a `write` event over a large payload), which makes the page
/// absent again with that value; so a 2 GiB write commits at most the two pages at its ends.
/// Storing into an absent page the value it already holds leaves it absent. The first `len`
/// bytes are addressable; a word that does not end at or below `len` reads as [`NIL`] and is
/// not written, exactly as when the arena was a `Vec<u8>` of `len` bytes.
///
/// Reading an aligned word is a page-table load and a word load, whether the page is committed
/// or not: an absent page's entry points to a shared page of its blank value. Storing one is
/// the same plus a test of the entry's tag bit (an absent page is committed first, off the hot
/// path). Unaligned words (only a damaged link can ask for one) go byte by byte.
#[derive(Debug)]
struct Arena {
    /// Addressable bytes (`top`); never decreases.
    len: usize,
    /// `len - 7`, or 0 below 8 bytes: the word at byte `i` ends at or below `len` iff `i <
    /// word_end`.
    word_end: usize,
    /// `len - 15`, or 0 below 16 bytes: the two words at byte `i` end at or below `len` iff
    /// `i < pair_end`.
    pair_end: usize,
    /// `len.div_ceil(PAGE)` entries, one per page (see [`Entry`]). The bytes of a page at or
    /// above `len` are zero; the last page, which reaches past `len`, is never made blank by a
    /// fill.
    table: Vec<Entry>,
    /// Entries that are committed pages.
    committed: usize,
}

// SAFETY: an arena owns its committed pages exclusively, as a `Vec<Box<Page>>` would; the
// blank pages it shares are immutable statics, never written through.
unsafe impl Send for Arena {}

impl Arena {
    fn new(len: usize) -> Arena {
        let mut arena = Arena { len: 0, word_end: 0, pair_end: 0, table: Vec::new(), committed: 0 };
        arena.grow_to(len);
        arena
    }

    fn len(&self) -> usize {
        self.len
    }

    fn committed_bytes(&self) -> Bytes {
        (self.committed * PAGE) as Bytes
    }

    /// Make the first `len` bytes addressable; new bytes read as zero and commit nothing.
    fn grow_to(&mut self, len: usize) {
        if len > self.len {
            self.len = len;
            self.word_end = len.saturating_sub(7);
            self.pair_end = len.saturating_sub(15);
            self.table.resize(len.div_ceil(PAGE), absent(0));
        }
    }

    /// Page `page` (below `len`), committed or blank.
    #[inline(always)]
    fn page(&self, page: usize) -> &Page {
        let entry = self.table[page];
        // SAFETY: every entry points to a live page: a blank one is a static, and a committed
        // one is owned by this arena and lives until its entry is replaced or the arena is
        // dropped, both of which need `&mut self`, which this borrow of `self` excludes.
        unsafe { &*entry.map_addr(|a| a & !ABSENT) }
    }

    /// Page `page` (below `len`), committed (holding its blank value) if it was absent.
    fn page_mut(&mut self, page: usize) -> &mut Page {
        if is_absent(self.table[page]) {
            let fresh = new_page(self.page(page).blank_value());
            self.table[page] = fresh;
            self.committed += 1;
        }
        // SAFETY: the entry is now a committed page, owned by this arena, and `&mut self`
        // makes this the only reference to it.
        unsafe { &mut *self.table[page] }
    }

    /// Byte `i` (0 past the page table).
    fn byte(&self, i: usize) -> u8 {
        if i / PAGE < self.table.len() {
            self.page(i / PAGE).byte(i % PAGE)
        } else {
            0
        }
    }

    /// The little-endian word at byte `index`, or [`NIL`] if it does not fit below `len`.
    #[inline(always)]
    fn word(&self, index: usize) -> u64 {
        if index % 8 == 0 {
            self.aligned_word(index)
        } else {
            self.word_slow(index)
        }
    }

    /// The entry of the page holding byte `index`, and the index of its word there.
    ///
    /// # Safety
    /// `index < self.len`.
    #[inline(always)]
    unsafe fn entry_below_len(&self, index: usize) -> (Entry, usize) {
        debug_assert!(index < self.len, "{index}");
        // SAFETY: the table has an entry for every page that holds a byte below `len`.
        (unsafe { *self.table.get_unchecked(index / PAGE) }, index % PAGE / 8)
    }

    /// [`Arena::word`] at an 8-aligned `index`: one bounds test, a page-table load and a load.
    #[inline(always)]
    fn aligned_word(&self, index: usize) -> u64 {
        debug_assert_eq!(index % 8, 0);
        if index < self.word_end {
            // SAFETY: `index < word_end <= len`; every entry points to a live page (a static
            // blank one, or a committed one that lives until its entry is replaced, which needs
            // `&mut self`).
            unsafe {
                let (entry, at) = self.entry_below_len(index);
                (*entry.map_addr(|a| a & !ABSENT)).0[at]
            }
        } else {
            NIL
        }
    }

    /// The words at a 16-aligned `index` and at `index + 8` ([`Arena::word`] of each): one
    /// page-table load (a 16-aligned pair never straddles pages).
    #[inline(always)]
    fn aligned_pair(&self, index: usize) -> (u64, u64) {
        debug_assert_eq!(index % 16, 0);
        if index < self.pair_end {
            // SAFETY: as in `aligned_word`, with `index + 8 < pair_end + 8 <= len`; `at` is
            // even, so `at + 1` is in the page too.
            unsafe {
                let (entry, at) = self.entry_below_len(index);
                let page = &*entry.map_addr(|a| a & !ABSENT);
                (page.0[at], page.0[at | 1])
            }
        } else {
            (self.word(index), self.word(index + 8))
        }
    }

    /// [`Arena::word`] unaligned or past `len`.
    #[cold]
    #[inline(never)]
    fn word_slow(&self, index: usize) -> u64 {
        if index.checked_add(8).is_none_or(|end| end > self.len) {
            return NIL;
        }
        let mut bytes = [0; 8];
        for (k, b) in bytes.iter_mut().enumerate() {
            *b = self.byte(index + k);
        }
        u64::from_le_bytes(bytes)
    }

    /// Store `value` at byte `index`, unless the word does not fit below `len`.
    #[inline(always)]
    fn set_word(&mut self, index: usize, value: u64) {
        if index % 8 == 0 {
            self.set_aligned_word(index, value);
        } else {
            self.set_word_slow(index, value);
        }
    }

    /// [`Arena::set_word`] at an 8-aligned `index`: in a committed page, one bounds test, a
    /// page-table load, a test of its tag bit and a store.
    #[inline(always)]
    fn set_aligned_word(&mut self, index: usize, value: u64) {
        debug_assert_eq!(index % 8, 0);
        if index < self.word_end {
            // SAFETY: `index < word_end <= len`.
            let (entry, at) = unsafe { self.entry_below_len(index) };
            if is_absent(entry) {
                self.set_word_slow(index, value);
            } else {
                // SAFETY: an entry without the tag bit is a committed page owned by this
                // arena, and `&mut self` makes this the only reference to it.
                unsafe { (*entry).0[at] = value };
            }
        }
    }

    /// [`Arena::set_word`] of `first` at a 16-aligned `index` and of `second` at `index + 8`:
    /// one page-table load.
    #[inline(always)]
    fn set_aligned_pair(&mut self, index: usize, first: u64, second: u64) {
        debug_assert_eq!(index % 16, 0);
        if index < self.pair_end {
            // SAFETY: `index < pair_end <= len`.
            let (entry, at) = unsafe { self.entry_below_len(index) };
            if !is_absent(entry) {
                // SAFETY: as in `set_aligned_word`; `at` is even, so `at + 1` is in the page.
                unsafe { ((*entry).0[at], (*entry).0[at | 1]) = (first, second) };
                return;
            }
        }
        self.set_word(index, first);
        self.set_word(index + 8, second);
    }

    /// The words of bytes `[index, index + len)` (8-aligned) when they lie below `len` in one
    /// committed page: one page-table load for several stores close together.
    #[inline(always)]
    fn committed_run(&mut self, index: usize, len: usize) -> Option<&mut [u64]> {
        debug_assert!(index % 8 == 0 && len % 8 == 0);
        if index % PAGE + len > PAGE || index.checked_add(len).is_none_or(|end| end > self.len) {
            return None;
        }
        // SAFETY: `index < index + len <= len` (a run is never empty: a block is 48 bytes at
        // least).
        let (entry, at) = unsafe { self.entry_below_len(index) };
        if is_absent(entry) {
            return None;
        }
        // SAFETY: as in `set_aligned_word`; the run ends in this page (tested above).
        Some(unsafe { &mut (&mut (*entry).0)[at..at + len / 8] })
    }

    /// [`Arena::set_word`] into an absent page (committing it unless it already holds those
    /// bytes), unaligned (byte by byte), or past `len` (not written).
    #[cold]
    #[inline(never)]
    fn set_word_slow(&mut self, index: usize, value: u64) {
        if index.checked_add(8).is_none_or(|end| end > self.len) {
            return;
        }
        if index % 8 == 0 {
            let page = index / PAGE;
            let blank = self.page(page).0[0];
            if !is_absent(self.table[page]) || blank != value {
                self.page_mut(page).0[index % PAGE / 8] = value;
            }
            return;
        }
        for (k, &b) in value.to_le_bytes().iter().enumerate() {
            self.fill(index + k..index + k + 1, b);
        }
    }

    /// Set the bytes of `range` below `len` to `value`, a page at a time: a page it covers
    /// whole becomes (or stays) absent, blank with `value`; O(pages) plus the bytes of the two
    /// pages at its ends.
    fn fill(&mut self, range: std::ops::Range<usize>, value: u8) {
        let (mut at, end) = (range.start, range.end.min(self.len));
        while at < end {
            let (page, offset) = (at / PAGE, at % PAGE);
            let n = (PAGE - offset).min(end - at);
            let entry = self.table[page];
            if n == PAGE {
                // The whole page, below `len`.
                self.table[page] = absent(value);
                if !is_absent(entry) {
                    self.committed -= 1;
                    // The entry no longer points to it.
                    SPARE_PAGES.keep(std::iter::once(entry));
                }
            } else if !is_absent(entry) || self.page(page).blank_value() != value {
                self.page_mut(page).fill(offset..offset + n, value);
            }
            at += n;
        }
    }
}

impl Clone for Arena {
    fn clone(&self) -> Arena {
        let table = (0..self.table.len())
            .map(|page| {
                let entry = self.table[page];
                if is_absent(entry) {
                    entry
                } else {
                    let copy = new_page(0);
                    // SAFETY: `copy` is a page just handed out to this new arena, no other
                    // reference to it exists, and it is not the page copied.
                    unsafe { (*copy).0 = self.page(page).0 };
                    copy
                }
            })
            .collect();
        Arena { table, ..*self }
    }
}

impl Drop for Arena {
    /// The committed pages go to [`SPARE_PAGES`], for the next arena of this process.
    fn drop(&mut self) {
        SPARE_PAGES.keep(self.table.drain(..).filter(|&entry| !is_absent(entry)));
    }
}

/// Where every committed page of every arena of the process comes from, and where the pages of
/// a dropped arena go back to.
///
/// Every pass of a replay (and every run of `--runs`) builds a fresh heap, and at 1M live
/// blocks the arena is some 400 MB of pages: allocated anew, the system would fault each of
/// them in again on every pass (two thirds of the time of a pass, issue 16). So pages are
/// kept here for the next arena. A page handed out is filled with its blank value first,
/// exactly as a new one is, so no figure of any pass depends on what an earlier one left; only
/// memory the process already holds is reused.
///
/// Pages are carved from 2 MiB chunks, asked for as transparent huge pages (Linux): the tags
/// of a big heap are random accesses over hundreds of MB, and with 4 KiB pages nearly each one
/// also missed the TLB (one entry now covers 128 arena pages; 1M live blocks: 1.4-1.6x faster).
static SPARE_PAGES: SparePages = SparePages::new(1 << 9);

/// Bytes of one chunk of pages: a huge page on x86-64 Linux.
const CHUNK: usize = 2 << 20;
/// Pages per chunk.
const CHUNK_PAGES: usize = CHUNK / PAGE;

/// A pool of pages carved from at most `max_chunks` chunks of [`CHUNK`] bytes (2^9, 1 GiB,
/// for [`SPARE_PAGES`]), which it keeps for the life of the process. Past them (more than that
/// many pages committed at once) a page is a box of its own, freed when its arena gives it
/// back.
struct SparePages {
    pool: Mutex<Pool>,
    max_chunks: usize,
}

/// A committed page handed out by [`SparePages`]: from one of its chunks or a box of its own.
type PagePtr = *mut Page;

struct Pool {
    /// Chunk pages no arena holds.
    spare: Vec<PagePtr>,
    /// The start of every chunk (each a multiple of [`CHUNK`]), sorted.
    chunks: Vec<usize>,
    /// The next page of the newest chunk never handed out, and how many such pages are left.
    fresh: PagePtr,
    unused: usize,
}

// SAFETY: the pool owns its chunks and the spare pages in them; a page pointer is only a
// handle to memory no one else uses until the pool hands it out.
unsafe impl Send for Pool {}

impl SparePages {
    const fn new(max_chunks: usize) -> SparePages {
        let pool =
            Pool { spare: Vec::new(), chunks: Vec::new(), fresh: std::ptr::null_mut(), unused: 0 };
        SparePages { pool: Mutex::new(pool), max_chunks }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        // A poisoned lock only means a thread panicked while holding it; the pool is intact.
        self.pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Take back `pages`, each handed out by [`SparePages::take`] and no longer used: a chunk
    /// page is kept (the next `take` hands out the first of them first), a box is freed.
    fn keep(&self, pages: impl DoubleEndedIterator<Item = PagePtr>) {
        let mut pool = self.lock();
        for page in pages.rev() {
            let chunk = page.addr() & !(CHUNK - 1);
            if pool.chunks.binary_search(&chunk).is_ok() {
                pool.spare.push(page);
            } else {
                // SAFETY: a page not in a chunk came from `Box::into_raw` in `take`, and its
                // owner gave it back: it is turned back into its box once.
                drop(unsafe { Box::from_raw(page) });
            }
        }
    }

    /// A page whose every byte is `value`: a spare one refilled, else the next of the newest
    /// chunk, else one of a new chunk, else (all chunks in use, or no memory for one) a new box.
    #[inline(always)]
    fn take(&self, value: u8) -> PagePtr {
        let mut pool = self.lock();
        let page = match pool.spare.pop() {
            Some(page) => page,
            None => {
                if pool.unused == 0 {
                    let Some(chunk) =
                        (pool.chunks.len() < self.max_chunks).then(new_chunk).flatten()
                    else {
                        return Box::into_raw(Page::filled(value));
                    };
                    let at = pool.chunks.partition_point(|&c| c < chunk.addr());
                    pool.chunks.insert(at, chunk.addr());
                    (pool.fresh, pool.unused) = (chunk, CHUNK_PAGES);
                }
                let page = pool.fresh;
                pool.fresh = page.wrapping_add(1);
                pool.unused -= 1;
                page
            }
        };
        // SAFETY: a spare or never used chunk page is `PAGE` bytes of the pool's memory, aligned
        // to `PAGE` (a chunk is aligned to `CHUNK`), initialised (a chunk starts zeroed), that no
        // one else uses until it is handed out here.
        let words = unsafe { &mut (*page).0 };
        // Word stores rather than `write_bytes`: its `rep stosb` would cost a counted
        // instruction per byte under cachegrind (benches/instructions.sh), not per word.
        words.fill(u64::from_ne_bytes([value; 8]));
        page
    }
}

/// A new chunk of [`CHUNK`] bytes aligned to `CHUNK`, asked for as a transparent huge page
/// where the system has them; `None` if there is no memory for it.
#[cold]
fn new_chunk() -> Option<PagePtr> {
    let layout = std::alloc::Layout::from_size_align(CHUNK, CHUNK).expect("a valid layout");
    // SAFETY: the layout has a non-zero size. Zeroed, so that every page of it is an
    // initialised `Page` (a 2 MiB memset, once per chunk in the life of the process).
    let chunk = unsafe { std::alloc::alloc_zeroed(layout) };
    if chunk.is_null() {
        return None;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `[chunk, chunk + CHUNK)` is memory this process owns; the advice only asks the
    // kernel to back it with a huge page and changes no byte (a failure is harmless).
    unsafe {
        libc::madvise(chunk.cast(), CHUNK, libc::MADV_HUGEPAGE);
    }
    Some(chunk.cast())
}

/// A committed page, every byte `value` (0: as fresh memory from the system).
#[cold]
fn new_page(value: u8) -> PagePtr {
    SPARE_PAGES.take(value)
}

/// The inline-bookkeeping allocator; see the module docs.
#[derive(Clone, Debug)]
pub struct BoundaryTag {
    params: Params,
    layout: Layout,
    /// The heap: `len() == top`.
    arena: Arena,
    top: Bytes,
    /// The head of each class's free list, [`NIL`] when it is empty.
    heads: [Addr; CLASSES],
    /// Bit `c % 64` of word `c / 64` is set when the list of class `c` is not empty.
    bitmap: [u64; BITMAP_WORDS],
    /// Bit `w` is set when `bitmap[w]` is not zero.
    summary: u64,
    /// Sum of the sizes of the free blocks (wrapping, so that damage cannot make it panic).
    free_bytes: Bytes,
    /// Number of free blocks: the bound on any list walk.
    free_blocks: u64,
    /// The first damage found; the strategy does nothing once it is set.
    corruption: Option<Corruption>,
    /// A `write` event has stored bytes into the arena. Until then only this code has written
    /// it, so no tag can be damaged, and the checks that only re-read tags to confirm them
    /// (see the module docs, "Safety lab") are skipped; from then on every one is made.
    written: bool,
    /// Units of work so far (see the module docs).
    work: u64,
}

impl BoundaryTag {
    pub fn new(params: Params) -> BoundaryTag {
        BoundaryTag {
            params,
            layout: if params.guard { Layout::GUARDED } else { Layout::PLAIN },
            arena: Arena::new(0),
            top: 0,
            heads: [NIL; CLASSES],
            bitmap: [0; BITMAP_WORDS],
            summary: 0,
            free_bytes: 0,
            free_blocks: 0,
            corruption: None,
            written: false,
            work: 0,
        }
    }

    /// A copy of the heap bytes `[0, top)` (O(top): for tests and inspection).
    pub fn heap_bytes(&self) -> Vec<u8> {
        (0..self.arena.len()).map(|i| self.arena.byte(i)).collect()
    }

    /// Bytes of real memory the arena holds: its committed pages (see the module docs).
    pub fn committed_bytes(&self) -> Bytes {
        self.arena.committed_bytes()
    }

    /// Bytes of tags per block: 24, or 48 with `--guard`.
    pub fn tag_bytes(&self) -> Bytes {
        self.layout.header + self.layout.footer
    }

    /// Block size for a request of `n` bytes, or `None` if it cannot fit the arena. Never
    /// overflows: a body past [`ARENA_LIMIT`] (16 GiB) is refused before the tags are added.
    #[inline(always)]
    fn block_size(&self, n: Bytes) -> Option<Bytes> {
        let body = n.max(self.params.min_size);
        if body > ARENA_LIMIT {
            return None;
        }
        let l = self.layout;
        Some(round_up(body + l.header + l.footer, ALIGN).max(l.min_block))
    }

    // Raw access. Every read and write is bounds-checked; an address outside the arena reads
    // as NIL and is not written, so no arena content can make these panic.

    #[inline(always)]
    fn raw(&self, index: usize) -> u64 {
        self.arena.word(index)
    }

    #[cfg(test)]
    fn set_raw(&mut self, index: usize, value: u64) {
        self.arena.set_word(index, value);
    }

    /// The word at heap address `addr`; [`NIL`] if it does not end at or below `top` (the
    /// arena holds `top` bytes).
    #[inline(always)]
    fn load(&self, addr: Addr) -> u64 {
        debug_assert_eq!(self.arena.len(), self.top as usize);
        if addr < self.top {
            self.raw(addr as usize)
        } else {
            NIL
        }
    }

    #[cfg(test)]
    fn store(&mut self, addr: Addr, value: u64) {
        if addr < self.top {
            self.set_raw(addr as usize, value);
        }
    }

    // Tags: words at addresses that are 8-aligned by construction (a block start, or a block
    // end whose size was checked to be a multiple of 16, plus a fixed offset; a link only after
    // `linked` checked it), so they skip the alignment test of `load` and `store`; like them,
    // they read NIL and write nothing at or above `top`. A pair is two words at a 16-aligned
    // address, one page lookup.

    #[inline(always)]
    fn tag(&self, addr: Addr) -> u64 {
        debug_assert_eq!(addr % 8, 0);
        self.arena.aligned_word(addr as usize)
    }

    #[inline(always)]
    fn tag_pair(&self, addr: Addr) -> (u64, u64) {
        self.arena.aligned_pair(addr as usize)
    }

    #[inline(always)]
    fn set_tag(&mut self, addr: Addr, value: u64) {
        self.arena.set_aligned_word(addr as usize, value);
    }

    #[inline(always)]
    fn set_tag_pair(&mut self, addr: Addr, first: u64, second: u64) {
        self.arena.set_aligned_pair(addr as usize, first, second);
    }

    // The list heads and the class bitmap.

    #[inline(always)]
    fn head(&self, class: usize) -> Addr {
        debug_assert!(class < CLASSES);
        self.heads[class]
    }

    #[inline(always)]
    fn set_head(&mut self, class: usize, block: Addr) {
        debug_assert!(class < CLASSES);
        self.heads[class] = block;
    }

    #[inline(always)]
    fn mark(&mut self, class: usize, nonempty: bool) {
        let (w, bit) = (class / 64, 1u64 << (class % 64));
        let old = self.bitmap[w];
        let word = if nonempty { old | bit } else { old & !bit };
        self.bitmap[w] = word;
        // The summary bit of word `w` is `word != 0`: it changes only when the word turns
        // zero or non-zero.
        if (old == 0) != (word == 0) {
            let summary = self.summary;
            self.summary = if word != 0 { summary | 1 << w } else { summary & !(1 << w) };
        }
    }

    /// The smallest non-empty class `>= class`.
    #[inline(always)]
    fn nonempty_from(&self, class: usize) -> Option<usize> {
        if class >= CLASSES {
            return None;
        }
        let w = class / 64;
        let word = self.bitmap[w] & (!0u64 << (class % 64));
        if word != 0 {
            return Some(w * 64 + word.trailing_zeros() as usize);
        }
        let summary = self.summary & (!0u64).checked_shl(w as u32 + 1).unwrap_or(0);
        if summary == 0 {
            return None;
        }
        let w = summary.trailing_zeros() as usize;
        Some(w * 64 + self.bitmap[w].trailing_zeros() as usize).filter(|&c| c < CLASSES)
    }

    /// The largest non-empty class.
    fn highest_nonempty(&self) -> Option<usize> {
        let summary = self.summary;
        if summary == 0 {
            return None;
        }
        let w = 63 - summary.leading_zeros() as usize;
        let word = self.bitmap[w];
        (word != 0).then(|| w * 64 + 63 - word.leading_zeros() as usize).filter(|&c| c < CLASSES)
    }

    // Tags: every value read from the arena is checked here before it is used.

    /// Record the first damage found; always `None`, so callers can `return self.damaged(..)`.
    #[cold]
    #[inline(never)]
    fn damaged<T>(&mut self, at: Addr, block: Addr, kind: CorruptionKind) -> Option<T> {
        if self.corruption.is_none() {
            self.corruption = Some(Corruption { at, block, kind });
        }
        None
    }

    /// The header of the block at `start` (16-aligned): its size (checked) and status word.
    #[inline(always)]
    fn header<const G: bool, const W: bool>(&mut self, start: Addr) -> Option<(Bytes, u64)> {
        let l = Layout::of::<G>();
        if G && W {
            let (first, second) = self.tag_pair(start);
            if first != GUARD_MAGIC {
                return self.damaged(start, start, CorruptionKind::GuardOverwritten);
            }
            if second != GUARD_MAGIC {
                let at = start.wrapping_add(8);
                return self.damaged(at, start, CorruptionKind::GuardOverwritten);
            }
        }
        let (size, status) = self.tag_pair(l.size_at(start));
        let fits = size <= self.top.saturating_sub(start);
        let bad = size < l.min_block || size % ALIGN != 0 || !fits;
        debug_assert!(W || !bad, "an undamaged header at {start}: {size}");
        if W && bad {
            let at = l.size_at(start);
            return self.damaged(at, start, CorruptionKind::BadSize { size });
        }
        Some((size, status))
    }

    /// Check the footer of the block `[start, start + size)`, whose header said `size` and
    /// `status`.
    #[inline(always)]
    fn footer<const G: bool, const W: bool>(
        &mut self,
        start: Addr,
        size: Bytes,
        status: u64,
    ) -> Option<()> {
        if !W {
            return Some(());
        }
        let end = start + size;
        let footer = if Layout::of::<G>().guard {
            let (magic, footer) = self.tag_pair(end - 16);
            if magic != GUARD_MAGIC {
                return self.damaged(end - 16, start, CorruptionKind::GuardOverwritten);
            }
            footer
        } else {
            self.tag(end - 8)
        };
        if footer != size | status {
            let kind = CorruptionKind::TagMismatch { header: size, footer: footer & !STATUS_BITS };
            return self.damaged(end - 8, start, kind);
        }
        Some(())
    }

    /// The block ending at `end` (> 0), found through its footer: `(start, size, status)`.
    /// Its header is read (and checked against the footer) only if the footer says it is free.
    #[inline(always)]
    fn block_below<const G: bool, const W: bool>(
        &mut self,
        end: Addr,
    ) -> Option<(Addr, Bytes, u64)> {
        let l = Layout::of::<G>();
        let at = end.wrapping_sub(8);
        let footer = if G && W {
            let (magic, footer) = self.tag_pair(end.wrapping_sub(16));
            if magic != GUARD_MAGIC {
                let at = end.wrapping_sub(16);
                return self.damaged(at, end, CorruptionKind::GuardOverwritten);
            }
            footer
        } else {
            self.tag(at)
        };
        let (size, status) = (footer & !STATUS_BITS, footer & STATUS_BITS);
        let bad = size < l.min_block || size > end || (status != FREE && status != USED);
        debug_assert!(W || !bad, "an undamaged footer below {end}: {footer}");
        if W && bad {
            return self.damaged(at, end, CorruptionKind::BadSize { size: footer });
        }
        let start = end - size;
        if status == FREE && W {
            let (header, header_status) = self.header::<G, W>(start)?;
            if header != size || header_status != FREE {
                let kind = CorruptionKind::TagMismatch { header, footer: size };
                return self.damaged(at, start, kind);
            }
        }
        Some((start, size, status))
    }

    /// The free block a link (or list head) of `class` points to, and its size. `at` is where
    /// the link is stored and `owner` the block holding it.
    #[inline(always)]
    fn linked<const G: bool, const W: bool>(
        &mut self,
        link: Addr,
        at: Addr,
        owner: Addr,
        class: usize,
    ) -> Option<Bytes> {
        let bad = link >= self.top || link % ALIGN != 0;
        debug_assert!(W || !bad, "an undamaged link at {at}: {link}");
        if W && bad {
            return self.damaged(at, owner, CorruptionKind::BrokenLink { link });
        }
        let (size, status) = self.header::<G, W>(link)?;
        let bad = status != FREE || class_of(size) != class;
        debug_assert!(W || !bad, "an undamaged link at {at}: {link} to {size}, {status}");
        if W && bad {
            return self.damaged(at, owner, CorruptionKind::BrokenLink { link });
        }
        Some(size)
    }

    /// Write the tags of the block `[start, start + size)`.
    #[inline(always)]
    fn set_tags<const G: bool, const W: bool>(&mut self, start: Addr, size: Bytes, status: u64) {
        self.set_tags_and_links::<G, W>(start, size, status, None);
    }

    /// Write the tags of the block `[start, start + size)` and, if given, its links `(next,
    /// prev)`: with one page lookup when the block lies in one committed page.
    #[inline(always)]
    fn set_tags_and_links<const G: bool, const W: bool>(
        &mut self,
        start: Addr,
        size: Bytes,
        status: u64,
        links: Option<(Addr, Addr)>,
    ) {
        let l = Layout::of::<G>();
        if let Some(words) = self.arena.committed_run(start as usize, size as usize) {
            let (n, h) = (words.len(), (l.header / 8) as usize);
            if G {
                (words[0], words[1], words[n - 2]) = (GUARD_MAGIC, GUARD_MAGIC, GUARD_MAGIC);
            }
            (words[h - 2], words[h - 1], words[n - 1]) = (size, status, size | status);
            if let Some((next, prev)) = links {
                (words[h], words[h + 1]) = (next, prev);
            }
            return;
        }
        if let Some((next, prev)) = links {
            self.set_tag_pair(l.next_at(start), next, prev);
        }
        let end = start + size;
        if G {
            self.set_tag_pair(start, GUARD_MAGIC, GUARD_MAGIC);
            self.set_tag_pair(end - 16, GUARD_MAGIC, size | status);
        } else {
            self.set_tag(end - 8, size | status);
        }
        self.set_tag_pair(l.size_at(start), size, status);
    }

    // The free lists.

    /// Make `[start, start + size)` a free block at the head of its class list.
    #[inline(always)]
    fn insert<const G: bool, const W: bool>(&mut self, start: Addr, size: Bytes) {
        let l = Layout::of::<G>();
        self.work += 1;
        let class = class_of(size);
        let head = self.head(class);
        self.set_tags_and_links::<G, W>(start, size, FREE, Some((head, NIL)));
        if head == NIL {
            self.mark(class, true);
        } else {
            // A head is NIL or a block this code put there (no write event reaches the
            // heads): 16-aligned.
            self.set_tag(l.prev_at(head), start);
        }
        self.set_head(class, start);
        self.free_blocks = self.free_blocks.wrapping_add(1);
        self.free_bytes = self.free_bytes.wrapping_add(size);
    }

    /// Take the free block `[block, block + size)` out of its list. Both links, and their
    /// links back, are checked before anything changes.
    #[inline(always)]
    fn unlink<const G: bool, const W: bool>(&mut self, block: Addr, size: Bytes) -> Option<()> {
        let l = Layout::of::<G>();
        self.work += 1;
        let class = class_of(size);
        let next_at = l.next_at(block);
        let (next, prev) = self.tag_pair(next_at);
        if W {
            self.check_links::<G, W>(block, class, next, prev)?;
        }
        if prev == NIL {
            self.set_head(class, next);
            if next == NIL {
                self.mark(class, false);
            }
        } else {
            self.set_tag(l.next_at(prev), next);
        }
        if next != NIL {
            self.set_tag(l.prev_at(next), prev);
        }
        self.free_blocks = self.free_blocks.wrapping_sub(1);
        self.free_bytes = self.free_bytes.wrapping_sub(size);
        Some(())
    }

    /// Check the links `next` and `prev` of the free block `block` of `class`: each is NIL or
    /// a free block of that class linking back to it, and a block without `prev` heads its
    /// list.
    #[inline(never)]
    fn check_links<const G: bool, const W: bool>(
        &mut self,
        block: Addr,
        class: usize,
        next: Addr,
        prev: Addr,
    ) -> Option<()> {
        let l = Layout::of::<G>();
        let (next_at, prev_at) = (l.next_at(block), l.prev_at(block));
        if next != NIL {
            self.linked::<G, W>(next, next_at, block, class)?;
            let back = self.tag(l.prev_at(next));
            if back != block {
                let kind = CorruptionKind::BrokenLink { link: back };
                return self.damaged(l.prev_at(next), next, kind);
            }
        }
        if prev != NIL {
            self.linked::<G, W>(prev, prev_at, block, class)?;
            let back = self.tag(l.next_at(prev));
            if back != block {
                let kind = CorruptionKind::BrokenLink { link: back };
                return self.damaged(l.next_at(prev), prev, kind);
            }
        } else if self.head(class) != block {
            return self.damaged(prev_at, block, CorruptionKind::BrokenLink { link: prev });
        }
        Some(())
    }

    /// Policy rules 1 and 2: a free block of at least `want` bytes, `(start, size)`. The outer
    /// `None` means damage was found.
    #[inline(always)]
    fn find_fit<const G: bool, const W: bool>(
        &mut self,
        want: Bytes,
    ) -> Option<Option<(Addr, Bytes)>> {
        let class = class_of(want);
        let mut link = self.head(class);
        let (mut at, mut owner) = (link, link);
        let mut seen = 0;
        while link != NIL && seen < SCAN_LIMIT {
            self.work += 1;
            if seen >= self.free_blocks {
                return self.damaged(at, owner, CorruptionKind::BrokenLink { link });
            }
            let size = self.linked::<G, W>(link, at, owner, class)?;
            if size >= want {
                return Some(Some((link, size)));
            }
            (at, owner) = (Layout::of::<G>().next_at(link), link);
            link = self.tag(at);
            seen += 1;
        }
        self.work += 1;
        match self.nonempty_from(class + 1) {
            Some(larger) => {
                let head = self.head(larger);
                let size = self.linked::<G, W>(head, head, head, larger)?;
                Some(Some((head, size)))
            }
            None => Some(None),
        }
    }

    /// The leading gap that puts the payload of a block starting at `base + gap` on `align`:
    /// the smallest that is 0 or at least a smallest block.
    #[inline(always)]
    fn lead_gap<const G: bool, const W: bool>(&self, base: Addr, align: Bytes) -> Bytes {
        if align <= ALIGN {
            return 0;
        }
        let l = Layout::of::<G>();
        let gap = (align - (base + l.header) % align) % align;
        if gap == 0 || gap >= l.min_block {
            gap
        } else {
            gap + (l.min_block - gap).div_ceil(align) * align
        }
    }

    /// Carve a used block of `size` bytes, payload on `align`, from the low end of the free
    /// block `[start, start + len)`, which must hold it after the leading gap.
    #[inline(always)]
    fn take<const G: bool, const W: bool>(
        &mut self,
        start: Addr,
        len: Bytes,
        size: Bytes,
        align: Bytes,
    ) -> Option<Allocation> {
        self.footer::<G, W>(start, len, FREE)?;
        self.unlink::<G, W>(start, len)?;
        let gap = self.lead_gap::<G, W>(start, align);
        if gap > 0 {
            self.insert::<G, W>(start, gap);
        }
        let block = start + gap;
        let rest = len - gap - size;
        let size = if rest >= Layout::of::<G>().min_block {
            self.insert::<G, W>(block + size, rest);
            size
        } else {
            size + rest
        };
        Some(self.mark_used::<G, W>(block, size))
    }

    #[inline(always)]
    fn mark_used<const G: bool, const W: bool>(&mut self, block: Addr, size: Bytes) -> Allocation {
        self.set_tags::<G, W>(block, size, USED);
        Allocation { start: block, size, payload: block + Layout::of::<G>().header, handle: 0 }
    }

    /// Make the arena hold `[0, end)`, as `sbrk` hands out fresh pages: the new bytes read as
    /// zero and commit no memory until written (O(new pages) for the page table, 8 bytes per
    /// [`PAGE`] bytes, amortised by doubling).
    fn reserve(&mut self, end: Bytes) {
        self.arena.grow_to(end as usize);
    }

    /// The free block ending at `top`, if the highest block is free.
    #[inline(always)]
    fn free_at_top<const G: bool, const W: bool>(&mut self) -> Option<Option<(Addr, Bytes)>> {
        if self.top == 0 {
            return Some(None);
        }
        let (start, size, status) = self.block_below::<G, W>(self.top)?;
        Some((status == FREE).then_some((start, size)))
    }

    /// Place a block of `size` bytes, payload on `align`, by the policy. `None` at the limits
    /// (nothing changed) or on damage.
    #[inline(always)]
    fn place<const G: bool, const W: bool>(
        &mut self,
        size: Bytes,
        align: Bytes,
    ) -> Option<Allocation> {
        let l = Layout::of::<G>();
        let want = if align <= ALIGN { size } else { size + l.min_block + align - ALIGN };
        if want <= self.top {
            if let Some((start, len)) = self.find_fit::<G, W>(want)? {
                return self.take::<G, W>(start, len, size, align);
            }
        }
        let highest = self.free_at_top::<G, W>()?;
        let base = highest.map_or(self.top, |(start, _)| start);
        let gap = self.lead_gap::<G, W>(base, align);
        let end = base + gap + size;
        if let Some((start, len)) = highest.filter(|_| end <= self.top) {
            return self.take::<G, W>(start, len, size, align);
        }
        if end > ARENA_LIMIT || !self.params.may_grow_to(end) {
            return None;
        }
        if let Some((start, len)) = highest {
            self.footer::<G, W>(start, len, FREE)?;
            self.unlink::<G, W>(start, len)?;
        }
        self.reserve(end);
        self.top = end;
        if gap > 0 {
            self.insert::<G, W>(base, gap);
        }
        Some(self.mark_used::<G, W>(base + gap, size))
    }

    /// Give `[start, start + size)` back, merging with free neighbours if coalescing is on.
    #[inline(always)]
    fn release<const G: bool, const W: bool>(
        &mut self,
        mut start: Addr,
        mut size: Bytes,
    ) -> Option<()> {
        if self.params.coalesce {
            let below = if start > 0 { Some(self.block_below::<G, W>(start)?) } else { None };
            let end = start + size;
            let above = self.free_above::<G, W>(end)?;
            if let Some((below, len, FREE)) = below {
                self.unlink::<G, W>(below, len)?;
                (start, size) = (below, size + len);
            }
            if let Some(len) = above {
                self.unlink::<G, W>(end, len)?;
                size += len;
            }
        }
        self.insert::<G, W>(start, size);
        Some(())
    }

    /// The size of the free block starting at `end`, if the block there is free (its tags
    /// checked); `Some(None)` when it is in use or `end` is `top`; `None` when it is damaged.
    #[inline(always)]
    fn free_above<const G: bool, const W: bool>(&mut self, end: Addr) -> Option<Option<Bytes>> {
        if end >= self.top {
            return Some(None);
        }
        let (len, status) = self.header::<G, W>(end)?;
        if status != FREE {
            return Some(None);
        }
        self.footer::<G, W>(end, len, FREE)?;
        Some(Some(len))
    }

    /// The checked size of the live block at `start`, which this strategy handed out as
    /// `handed` bytes. Until a write reaches the arena its header holds exactly that, so it is
    /// not read: the free's reads of both neighbours then need no load before them.
    #[inline(always)]
    fn live_size<const G: bool, const W: bool>(
        &mut self,
        start: Addr,
        handed: Bytes,
    ) -> Option<Bytes> {
        if start >= self.top {
            return self.damaged(start, start, CorruptionKind::BadSize { size: 0 });
        }
        if !W {
            debug_assert_eq!(self.tag(Layout::of::<G>().size_at(start)), handed);
            return Some(handed);
        }
        let (size, _) = self.header::<G, W>(start)?;
        self.footer::<G, W>(start, size, USED)?;
        Some(size)
    }

    /// [`Strategy::allocate`] for the layout `Layout::of::<G>()`, with the checks of a heap that a write has reached if `W`.
    #[inline(always)]
    fn allocate_in<const G: bool, const W: bool>(&mut self, req: Request) -> Option<Allocation> {
        self.work += 1;
        if self.corruption.is_some() || req.align > ARENA_LIMIT {
            return None;
        }
        let size = self.block_size(req.size)?;
        self.place::<G, W>(size, req.align.max(ALIGN))
    }

    /// [`Strategy::reallocate`] for the layout `Layout::of::<G>()`, with the checks of a heap that a write has reached if `W`.
    #[inline(always)]
    fn reallocate_in<const G: bool, const W: bool>(
        &mut self,
        old: Allocation,
        req: Request,
    ) -> Option<Allocation> {
        self.work += 1;
        if self.corruption.is_some() {
            return None;
        }
        let new = self.block_size(req.size)?;
        let start = old.start;
        let size = self.live_size::<G, W>(start, old.size)?;
        let end = start + size;
        let min_block = Layout::of::<G>().min_block;
        // 1. Shrink in place.
        if new <= size {
            if size - new < min_block {
                return Some(Allocation { start, size, payload: old.payload, handle: 0 });
            }
            let block = self.mark_used::<G, W>(start, new);
            self.release::<G, W>(start + new, size - new)?;
            return Some(block);
        }
        let above = self.free_above::<G, W>(end)?;
        // 2. Grow into the free block above.
        if let Some(len) = above.filter(|&len| size + len >= new) {
            self.unlink::<G, W>(end, len)?;
            let rest = size + len - new;
            let size = if rest >= min_block {
                self.insert::<G, W>(start + new, rest);
                new
            } else {
                size + len
            };
            return Some(self.mark_used::<G, W>(start, size));
        }
        // 3. Grow in place past `top`.
        if end == self.top || above.is_some_and(|len| end + len == self.top) {
            let new_top = start + new;
            if new_top > ARENA_LIMIT || !self.params.may_grow_to(new_top) {
                return None;
            }
            if let Some(len) = above {
                self.unlink::<G, W>(end, len)?;
            }
            self.reserve(new_top);
            self.top = new_top;
            return Some(self.mark_used::<G, W>(start, new));
        }
        // 4. Move.
        let block = self.place::<G, W>(new, ALIGN)?;
        self.release::<G, W>(start, size);
        Some(block)
    }

    /// [`Strategy::free`] for the layout `Layout::of::<G>()`, with the checks of a heap that a write has reached if `W`.
    #[inline(always)]
    fn free_in<const G: bool, const W: bool>(&mut self, block: Allocation) {
        self.work += 1;
        if self.corruption.is_some() {
            return;
        }
        if let Some(size) = self.live_size::<G, W>(block.start, block.size) {
            self.release::<G, W>(block.start, size);
        }
    }
}

impl Strategy for BoundaryTag {
    // Each call runs code made for its layout (`--guard` or not) and for whether a write has
    // reached the arena yet (checks made or skipped), so tag offsets and checks are constants.
    // The three entry points are inlined into the replay loop; in the library's own unit tests
    // they are not (`inline(never)`), or every call in a test would inline four copies of the
    // operation and those tests alone would be most of the test build's compile time.
    #[cfg_attr(not(test), inline(always))]
    #[cfg_attr(test, inline(never))]
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        match (self.layout.guard, self.written) {
            (false, false) => self.allocate_in::<false, false>(req),
            (false, true) => self.allocate_in::<false, true>(req),
            (true, false) => self.allocate_in::<true, false>(req),
            (true, true) => self.allocate_in::<true, true>(req),
        }
    }

    #[cfg_attr(not(test), inline(always))]
    #[cfg_attr(test, inline(never))]
    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        match (self.layout.guard, self.written) {
            (false, false) => self.reallocate_in::<false, false>(old, req),
            (false, true) => self.reallocate_in::<false, true>(old, req),
            (true, false) => self.reallocate_in::<true, false>(old, req),
            (true, true) => self.reallocate_in::<true, true>(old, req),
        }
    }

    fn work(&self) -> u64 {
        self.work
    }

    #[cfg_attr(not(test), inline(always))]
    #[cfg_attr(test, inline(never))]
    fn free(&mut self, block: Allocation) {
        match (self.layout.guard, self.written) {
            (false, false) => self.free_in::<false, false>(block),
            (false, true) => self.free_in::<false, true>(block),
            (true, false) => self.free_in::<true, false>(block),
            (true, true) => self.free_in::<true, true>(block),
        }
    }

    fn top(&self) -> Bytes {
        self.top
    }

    fn free_bytes(&self) -> Bytes {
        self.free_bytes
    }

    /// O(1): at most [`SCAN_LIMIT`] blocks of the highest class, and the block ending at `top`.
    fn largest_satisfiable(&self) -> Bytes {
        let l = self.layout;
        let plausible = |start: Addr, size: Bytes| {
            size >= l.min_block && size % ALIGN == 0 && size <= self.top.saturating_sub(start)
        };
        let mut largest = 0;
        if let Some(class) = self.highest_nonempty() {
            let mut link = self.head(class);
            for _ in 0..SCAN_LIMIT {
                if link >= self.top {
                    break;
                }
                let size = self.load(l.size_at(link));
                if !plausible(link, size) {
                    break;
                }
                largest = largest.max(size);
                link = self.load(l.next_at(link));
            }
        }
        if self.top > 0 {
            let footer = self.load(self.top - 8);
            let size = footer & !STATUS_BITS;
            if footer & STATUS_BITS == FREE && size <= self.top && plausible(self.top - size, size)
            {
                largest = largest.max(size);
            }
        }
        largest.min(self.free_bytes)
    }

    fn write(&mut self, block: Allocation, offset: Bytes, len: Bytes) {
        let from = block.payload.saturating_add(offset);
        let to = from.saturating_add(len).min(self.top);
        if from < to {
            self.written = true;
            self.arena.fill(from as usize..to as usize, WRITE_BYTE);
        }
    }

    fn corruption(&self) -> Option<Corruption> {
        self.corruption
    }
}

#[cfg(test)]
mod tests {
    use super::Strategy;
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::Strategy as Gen;

    impl BoundaryTag {
        /// Every block as `(start, size, status)`, by address, read from the headers.
        fn blocks(&self) -> Vec<(Addr, Bytes, u64)> {
            let mut blocks = Vec::new();
            let mut at = 0;
            while at < self.top {
                let size = self.load(self.layout.size_at(at));
                assert!(size >= self.layout.min_block && at + size <= self.top, "{at}: {size}");
                blocks.push((at, size, self.load(self.layout.status_at(at))));
                at += size;
            }
            blocks
        }

        /// The free blocks as `(start, size)`, by address.
        fn free_blocks(&self) -> Vec<(Addr, Bytes)> {
            self.blocks().into_iter().filter(|b| b.2 == FREE).map(|b| (b.0, b.1)).collect()
        }

        /// Store any value at any heap address, as damage worse than a `write` event's: like
        /// a write, it turns every check on.
        fn poke(&mut self, addr: Addr, value: u64) {
            self.written = true;
            self.store(addr, value);
        }

        /// The state outside the arena: summary, bitmap and list heads.
        fn lists_state(&self) -> Vec<u64> {
            [self.summary].iter().chain(&self.bitmap).chain(&self.heads).copied().collect()
        }

        /// The list of `class`, head first.
        fn list(&self, class: usize) -> Vec<Addr> {
            let mut list = Vec::new();
            let mut link = self.head(class);
            while link != NIL {
                assert!(list.len() as u64 <= self.free_blocks, "list {class} is too long");
                list.push(link);
                link = self.load(self.layout.next_at(link));
            }
            list
        }
    }

    fn plain() -> BoundaryTag {
        BoundaryTag::new(Params::default())
    }

    #[test]
    fn a_kept_page_is_handed_out_again_refilled_with_the_blank_value() {
        let pool = SparePages::new(1);
        let pages: Vec<PagePtr> = (0..CHUNK_PAGES).map(|_| pool.take(0)).collect();
        assert_eq!(pages[0].addr() % CHUNK, 0, "a chunk starts on its size");
        for (k, page) in pages.iter().enumerate() {
            assert_eq!(page.addr(), pages[0].addr() + k * PAGE, "one chunk, in order");
        }
        let boxed = pool.take(0);
        assert_eq!(pool.lock().chunks.len(), 1, "past its one chunk, a page is a box");
        // SAFETY: the pages are handed out to this test and used by nothing else.
        let dirty = unsafe { &mut *{ pages[0] } };
        dirty.fill(0..PAGE, WRITE_BYTE);
        dirty.set_byte(7, 3);
        pool.keep(pages.iter().copied().chain([boxed]));
        assert_eq!(pool.lock().spare.len(), CHUNK_PAGES, "the chunk's pages kept, the box freed");
        let again = pool.take(0xFF);
        assert_eq!(again, pages[0], "the first page given back is the first handed out");
        // SAFETY: as above.
        let again_page = unsafe { &*again };
        assert!((0..PAGE).all(|i| again_page.byte(i) == 0xFF));
        let next = pool.take(0);
        // SAFETY: as above.
        assert!((0..PAGE).all(|i| unsafe { &*next }.byte(i) == 0), "refilled with zeros");
        assert_eq!(pool.lock().chunks.len(), 1, "no new chunk while pages are spare");
    }

    #[test]
    fn a_heap_built_after_others_were_dropped_reads_as_fresh_memory() {
        // The pages of the dropped heaps, full of tags, links and write bytes, serve the next.
        let run = || {
            let mut heap = plain();
            let blocks: Vec<Allocation> = (0..2000)
                .map(|i| heap.allocate(Request::new(16 + (i % 7) * 40)).unwrap())
                .collect();
            for (i, &block) in blocks.iter().enumerate() {
                heap.write(block, 0, block.size - 24);
                if i % 3 == 0 {
                    heap.free(block);
                }
            }
            (heap.blocks(), heap.work(), heap.free_bytes(), heap.arena.committed_bytes())
        };
        let first = run();
        for _ in 0..3 {
            assert_eq!(run(), first);
        }
        let mut arena = Arena::new(4 * PAGE);
        arena.set_word(2 * PAGE + 64, u64::MAX);
        assert_eq!(arena.word(2 * PAGE + 56), 0);
        assert_eq!(arena.word(3 * PAGE - 8), 0);
    }

    fn guarded() -> BoundaryTag {
        BoundaryTag::new(Params { guard: true, ..Params::default() })
    }

    fn malloc(heap: &mut BoundaryTag, n: Bytes) -> Allocation {
        heap.allocate(Request::new(n)).expect("no limit here")
    }

    fn word(heap: &BoundaryTag, addr: Addr) -> u64 {
        heap.load(addr)
    }

    fn block(start: Addr, size: Bytes) -> Allocation {
        Allocation { start, size, payload: start + 16, handle: 0 }
    }

    #[test]
    fn a_block_is_a_header_the_payload_and_a_footer_in_the_arena_bytes() {
        let mut heap = plain();
        // 20 bytes + 24 bytes of tags, rounded up to 16.
        assert_eq!(malloc(&mut heap, 20), block(0, 48));
        assert_eq!(malloc(&mut heap, 24), block(48, 48));
        assert_eq!(malloc(&mut heap, 25), block(96, 64));
        let bytes = heap.heap_bytes();
        assert_eq!(bytes.len(), 160);
        assert_eq!(bytes[..16], [48, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
        // The footer: size | status.
        assert_eq!(bytes[40..48], [48 | 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!((word(&heap, 96), word(&heap, 104), word(&heap, 152)), (64, USED, 64 | USED));
        assert_eq!(heap.tag_bytes(), 24);
    }

    #[test]
    fn min_size_is_the_smallest_payload_room() {
        let mut heap = BoundaryTag::new(Params { min_size: 64, ..Params::default() });
        assert_eq!(malloc(&mut heap, 1), block(0, 96));
        assert_eq!(malloc(&mut heap, 72), block(96, 96));
    }

    #[test]
    fn a_free_block_keeps_its_list_links_in_its_payload() {
        let mut heap = plain();
        let a = malloc(&mut heap, 20);
        malloc(&mut heap, 20);
        let b = malloc(&mut heap, 20);
        malloc(&mut heap, 20);
        heap.free(a);
        heap.free(b);
        // LIFO: b (freed last) heads the list of class 3 (48 bytes), then a.
        assert_eq!(heap.list(3), [96, 0]);
        assert_eq!((word(&heap, 8), word(&heap, 104)), (FREE, FREE));
        assert_eq!((word(&heap, 112), word(&heap, 120)), (0, NIL)); // b: next, prev
        assert_eq!((word(&heap, 16), word(&heap, 24)), (NIL, 96)); // a: next, prev
        assert_eq!(heap.heads[3], 96);
        assert_eq!(heap.bitmap[0], 1 << 3);
        assert_eq!(heap.summary, 1);
        assert_eq!((heap.free_bytes(), heap.free_blocks), (96, 2));
    }

    #[test]
    fn guard_puts_a_magic_below_every_tag_and_costs_24_bytes_per_block() {
        let mut heap = guarded();
        assert_eq!(heap.tag_bytes(), 48);
        let a = malloc(&mut heap, 20);
        assert_eq!(a, Allocation { start: 0, size: 80, payload: 32, handle: 0 });
        let words: Vec<u64> = (0..10).map(|i| word(&heap, 8 * i)).collect();
        let m = GUARD_MAGIC;
        assert_eq!(words, [m, m, 80, USED, 0, 0, 0, 0, m, 80 | USED]);
        // The smallest block holds two links between the tags: 64 bytes.
        assert_eq!(malloc(&mut heap, 1).size, 64);
    }

    #[test]
    fn boundary_tags_find_the_previous_block_through_the_footer() {
        let mut heap = plain();
        let a = malloc(&mut heap, 100);
        let b = malloc(&mut heap, 20);
        malloc(&mut heap, 20);
        assert_eq!((a.size, b.start), (128, 128));
        heap.free(a);
        // The 8 bytes just below b's header are a's footer: a's size, and free.
        assert_eq!(word(&heap, b.start - 8), 128 | FREE);
        heap.free(b);
        assert_eq!(heap.free_blocks(), [(0, 176)]);
        assert_eq!((word(&heap, 0), word(&heap, 168)), (176, 176 | FREE));
        assert_eq!(heap.list(class_of(176)), [0]);
        assert!(heap.list(class_of(128)).is_empty());
    }

    #[test]
    fn freeing_a_block_between_two_free_blocks_merges_all_three() {
        let mut heap = plain();
        let blocks: Vec<_> = [20, 100, 60, 1].iter().map(|&n| malloc(&mut heap, n)).collect();
        heap.free(blocks[0]);
        heap.free(blocks[2]);
        assert_eq!(heap.free_blocks(), [(0, 48), (176, 96)]);
        heap.free(blocks[1]);
        assert_eq!(heap.free_blocks(), [(0, 272)]);
        assert_eq!(
            (heap.free_bytes(), heap.free_blocks, heap.largest_satisfiable()),
            (272, 1, 272)
        );
        heap.free(blocks[3]);
        assert_eq!(heap.free_blocks(), [(0, 320)]);
        assert_eq!(heap.largest_satisfiable(), heap.top());
    }

    #[test]
    fn without_coalescing_freed_neighbours_stay_apart() {
        let mut heap = BoundaryTag::new(Params { coalesce: false, ..Params::default() });
        let a = malloc(&mut heap, 20);
        let b = malloc(&mut heap, 20);
        heap.free(a);
        heap.free(b);
        assert_eq!(heap.free_blocks(), [(0, 48), (48, 48)]);
        assert_eq!(heap.largest_satisfiable(), 48);
        // 96 bytes fit neither: the highest block is free, so it grows from there.
        assert_eq!(malloc(&mut heap, 60), block(48, 96));
        assert_eq!(heap.top(), 144);
    }

    #[test]
    fn placement_scans_the_own_class_then_takes_the_head_of_the_next_larger_class() {
        let mut heap = plain();
        // Holes of 1040, 1072 and 2000 bytes, each followed by a live 48-byte block.
        let holes: Vec<_> = [1016, 1048, 1976]
            .iter()
            .map(|&n| {
                let hole = malloc(&mut heap, n);
                malloc(&mut heap, 1);
                hole
            })
            .collect();
        assert_eq!(
            holes.iter().map(|h| (h.start, h.size)).collect::<Vec<_>>(),
            [(0, 1040), (1088, 1072), (2208, 2000)]
        );
        for &hole in holes.iter().rev() {
            heap.free(hole);
        }
        // 1040 and 1072 share the class 1024..1088, most recently freed first.
        assert_eq!(heap.list(class_of(1040)), [0, 1088]);
        assert_eq!(heap.largest_satisfiable(), 2000);
        // 1056 bytes: 1040 is too small, 1072 fits; the 16 left over stay in the block.
        assert_eq!(malloc(&mut heap, 1032), block(1088, 1072));
        // Again: only 1040 is left in the class, so the head of the next non-empty class.
        assert_eq!(malloc(&mut heap, 1032), block(2208, 1056));
        assert_eq!(heap.free_blocks(), [(0, 1040), (3264, 944)]);
        // A 48-byte request takes the head of the smallest non-empty class above 48: 944.
        assert_eq!(malloc(&mut heap, 1), block(3264, 48));
        assert_eq!(heap.top(), 4256);
    }

    #[test]
    fn growth_extends_a_free_block_that_ends_at_top() {
        let mut heap = plain();
        malloc(&mut heap, 100);
        let b = malloc(&mut heap, 100);
        heap.free(b);
        assert_eq!(heap.free_blocks(), [(128, 128)]);
        assert_eq!(malloc(&mut heap, 500), block(128, 528));
        assert_eq!((heap.top(), heap.free_bytes()), (656, 0));
        assert_eq!(heap.heap_bytes().len(), 656);
    }

    #[test]
    fn the_heap_limit_fails_a_request_and_changes_nothing() {
        let mut heap = BoundaryTag::new(Params { heap_limit: Some(200), ..Params::default() });
        malloc(&mut heap, 100);
        let before = heap.heap_bytes();
        assert_eq!(heap.allocate(Request::new(100)), None);
        assert_eq!(heap.allocate(Request::new(u64::MAX)), None);
        assert_eq!(heap.allocate(Request { size: 1, align: 1 << 40 }), None);
        assert_eq!((heap.top(), heap.heap_bytes()), (128, before));
        assert_eq!(heap.corruption(), None);
    }

    #[test]
    fn realloc_shrinks_in_place_and_frees_a_tail_big_enough_to_be_a_block() {
        let mut heap = plain();
        let a = malloc(&mut heap, 200);
        malloc(&mut heap, 1);
        assert_eq!(a.size, 224);
        let a = heap.reallocate(a, Request::new(100)).unwrap();
        assert_eq!(a, block(0, 128));
        assert_eq!(heap.free_blocks(), [(128, 96)]);
        // 112 bytes would leave a 16-byte tail: too small for a block, so it stays.
        assert_eq!(heap.reallocate(a, Request::new(80)), Some(a));
    }

    #[test]
    fn realloc_grows_into_the_free_block_above() {
        let mut heap = plain();
        let a = malloc(&mut heap, 100);
        let b = malloc(&mut heap, 200);
        malloc(&mut heap, 1);
        heap.free(b);
        assert_eq!(heap.reallocate(a, Request::new(200)), Some(block(0, 224)));
        assert_eq!(heap.free_blocks(), [(224, 128)]);
        // All of the rest, but 16: the 16 bytes left join the block.
        assert_eq!(heap.reallocate(block(0, 224), Request::new(312)), Some(block(0, 352)));
        assert_eq!(heap.free_blocks(), []);
    }

    #[test]
    fn realloc_grows_at_top_and_moves_when_it_cannot_grow_in_place() {
        let mut heap = plain();
        let a = malloc(&mut heap, 100);
        assert_eq!(heap.reallocate(a, Request::new(1000)), Some(block(0, 1024)));
        assert_eq!(heap.top(), 1024);
        malloc(&mut heap, 1);
        // Neither free above nor at top: a new block is placed (at top), then the old one freed.
        assert_eq!(heap.reallocate(block(0, 1024), Request::new(2000)), Some(block(1072, 2032)));
        assert_eq!(heap.free_blocks(), [(0, 1024)]);
    }

    #[test]
    fn realloc_fails_at_the_heap_limit_and_keeps_the_block() {
        let mut heap = BoundaryTag::new(Params { heap_limit: Some(256), ..Params::default() });
        let a = malloc(&mut heap, 100);
        assert_eq!(heap.reallocate(a, Request::new(300)), None);
        assert_eq!((heap.top(), heap.blocks()), (128, vec![(0, 128, USED)]));
    }

    #[test]
    fn memalign_puts_the_payload_on_the_alignment_and_frees_the_leading_gap() {
        let mut heap = plain();
        malloc(&mut heap, 1);
        // Payload 256 means a block at 240; the gap [48, 240) is big enough to be a free block.
        let a = heap.allocate(Request { size: 10, align: 256 }).unwrap();
        assert_eq!(a, Allocation { start: 240, size: 48, payload: 256, handle: 0 });
        assert_eq!((heap.top(), heap.free_blocks()), (288, vec![(48, 192)]));
        // From that free block: its own start already puts the payload on 64.
        let b = heap.allocate(Request { size: 10, align: 64 }).unwrap();
        assert_eq!(b, Allocation { start: 48, size: 48, payload: 64, handle: 0 });
        assert_eq!(heap.free_blocks(), [(96, 144)]);
        // Payload on 128 from [96, 240): 112 is 16 bytes too far, too small a gap; so 240.
        let mut heap2 = heap.clone();
        let c = heap2.allocate(Request { size: 10, align: 128 }).unwrap();
        assert_eq!(c.payload % 128, 0);
        assert!(c.start >= 96 + 48);
    }

    #[test]
    fn memalign_at_top_starts_after_a_gap_that_becomes_one_free_block_merged_with_nothing() {
        // Rule 4, bare top: [0, 96) in use, top 96. memalign(10, 64): s = 48, w = 48 + 48 + 48
        // = 144 > top (no list search). base = 96: g = 64 - (96 + 16) mod 64 = 16 < 48, so
        // gap = 16 + ceil(32 / 64) * 64 = 80: block [176, 224), payload 192, top 224, and
        // [96, 176) is one free block of 80 bytes (class 5), not merged with [48, 96) (in use).
        let mut heap = plain();
        malloc(&mut heap, 1);
        malloc(&mut heap, 1);
        let a = heap.allocate(Request { size: 10, align: 64 }).unwrap();
        assert_eq!(a, Allocation { start: 176, size: 48, payload: 192, handle: 0 });
        assert_eq!((heap.top(), heap.free_blocks()), (224, vec![(96, 80)]));
        assert_eq!((heap.list(5), heap.free_bytes()), (vec![96], 80));

        // Rule 3, growing: [0, 48) in use, [48, 176) free at top 176. memalign(10, 256): w =
        // 336 > 176. base = 48: g = 256 - 64 = 192 >= 48, gap 192; 48 + 192 + 48 = 288 > 176:
        // grow to 288. The gap [48, 240) is one free block of 192 bytes: the old free block
        // [48, 176) and the new bytes [176, 240). Block [240, 288), payload 256.
        let mut heap = plain();
        malloc(&mut heap, 1);
        let f = malloc(&mut heap, 100);
        assert_eq!(f, block(48, 128));
        heap.free(f);
        let b = heap.allocate(Request { size: 10, align: 256 }).unwrap();
        assert_eq!(b, Allocation { start: 240, size: 48, payload: 256, handle: 0 });
        assert_eq!((heap.top(), heap.free_blocks()), (288, vec![(48, 192)]));
        assert_eq!(heap.list(class_of(192)), [48]);

        // Rule 3, carving: the same heap, memalign(10, 64): w = 144 <= 176, but no list holds
        // 144 bytes (the free 128 is in class 8, below 144's class 9). base = 48: g = 64 - 64
        // mod 64 = 0, so the block is [48, 96) (payload 64), within top: carved, and the rest
        // [96, 176) stays free. No growth.
        let mut heap = plain();
        malloc(&mut heap, 1);
        let f = malloc(&mut heap, 100);
        heap.free(f);
        let c = heap.allocate(Request { size: 10, align: 64 }).unwrap();
        assert_eq!(c, Allocation { start: 48, size: 48, payload: 64, handle: 0 });
        assert_eq!((heap.top(), heap.free_blocks()), (176, vec![(96, 80)]));
    }

    #[test]
    fn a_realloc_growing_at_top_fails_at_the_limit_though_a_free_block_could_hold_it() {
        // a = [0, 128), b = [128, 176) = top; free a. Limit 200. realloc(b, 60): s' = 96. Rule
        // 2: nothing above. Rule 3: b ends at top, top would be 128 + 96 = 224 > 200: fails,
        // though [0, 128) holds 96 bytes (rule 4 is not tried).
        let mut heap = BoundaryTag::new(Params { heap_limit: Some(200), ..Params::default() });
        let a = malloc(&mut heap, 100);
        let b = malloc(&mut heap, 20);
        assert_eq!(b, block(128, 48));
        heap.free(a);
        assert_eq!(heap.reallocate(b, Request::new(60)), None);
        assert_eq!((heap.top(), heap.free_blocks()), (176, vec![(0, 128)]));
        // It does hold it: a malloc of 60 gets it (its 32-byte rest is too small to split off).
        assert_eq!(malloc(&mut heap, 60), block(0, 128));
    }

    #[test]
    fn work_counts_calls_list_entries_bitmap_searches_and_list_changes() {
        //  1. a = malloc(20) (s = w = 48) > top 0: no search; grows. 1 -> [0, 48)
        //  2. b = malloc(100) (128) > top 48: 1 -> [48, 176)
        //  3. c = malloc(20) (48) <= 176: class 3 empty (0 entries), bitmap 1; grows. 2
        //  4. free(b): 1, put 1. 2
        //  5. d = malloc(20): class 3 empty, bitmap 1 -> b's class 8: off 1, rest [96, 176)
        //     put 1. 4 -> [48, 96)
        //  6. e = malloc(50) (80): class 5: 1 entry, fits: off 1. 3 -> [96, 176)
        //  7. free(d): 2 (a and e in use)   8. free(a): 1, merges d's 1, put 1. 3
        //  9. free(e): 1, merges [0, 96) 1, put 1. 3 -> [0, 176) free
        // 10. realloc(c, 100) (128): 1, rule 3 at bare top (top 304). 1
        // 11. realloc(c, 20) (48): 1, the tail [224, 304) put 1. 2
        // 12. free(c): 1, both neighbours merged 2, put 1. 4 -> [0, 304) free
        // 13. f = malloc(20): class 3 empty, bitmap 1 -> [0, 304): off 1, rest put 1. 4
        // 14. g = malloc(20): the same, from [48, 304). 4 -> [48, 96)
        // 15. realloc(f, 60) (96): 1, rules 2 and 3 do not apply (g above); rule 4: class 6
        //     empty, bitmap 1 -> [96, 304): off 1, rest put 1; old [0, 48) freed: put 1. 5
        // Total 1+1+2+2+4+3+2+3+3+1+2+4+4+4+5 = 41.
        let mut heap = plain();
        let a = malloc(&mut heap, 20);
        let b = malloc(&mut heap, 100);
        let c = malloc(&mut heap, 20);
        heap.free(b);
        let d = malloc(&mut heap, 20);
        let e = malloc(&mut heap, 50);
        assert_eq!((d, e), (block(48, 48), block(96, 80)));
        assert_eq!(heap.work(), 13);
        heap.free(d);
        heap.free(a);
        heap.free(e);
        let c = heap.reallocate(c, Request::new(100)).unwrap();
        assert_eq!((c, heap.top()), (block(176, 128), 304));
        let c = heap.reallocate(c, Request::new(20)).unwrap();
        assert_eq!(heap.free_blocks(), [(0, 176), (224, 80)]);
        heap.free(c);
        assert_eq!((heap.free_blocks(), heap.work()), (vec![(0, 304)], 28));
        let f = malloc(&mut heap, 20);
        let g = malloc(&mut heap, 20);
        assert_eq!((f, g), (block(0, 48), block(48, 48)));
        let f = heap.reallocate(f, Request::new(60)).unwrap();
        assert_eq!(f, block(96, 96));
        assert_eq!(heap.free_blocks(), [(0, 48), (192, 112)]);
        assert_eq!(heap.work(), 41);
    }

    #[test]
    fn writes_land_in_the_arena_and_stop_at_top() {
        let mut heap = plain();
        let a = malloc(&mut heap, 20);
        heap.write(a, 0, 1000);
        assert!(heap.heap_bytes()[16..].iter().all(|&b| b == WRITE_BYTE));
        assert_eq!(heap.heap_bytes()[..16], block_header(48));
        heap.write(a, u64::MAX, u64::MAX);
        assert_eq!(heap.heap_bytes().len(), 48);
        let page_end = heap.arena.table.len() * PAGE;
        assert!((48..page_end).all(|i| heap.arena.byte(i) == 0));
    }

    #[test]
    fn a_two_gib_malloc_commits_only_the_pages_its_tags_touch() {
        let mut heap = plain();
        // Nothing is held before a tag is written.
        assert_eq!(heap.committed_bytes(), 0);
        let a = malloc(&mut heap, 2 << 30);
        assert_eq!(a, block(0, (2 << 30) + 32));
        // The header's page and the footer's page, nothing in between.
        assert_eq!(heap.committed_bytes(), 2 * PAGE as u64);
        assert_eq!(word(&heap, a.end() - 8), a.size | USED);
        assert_eq!(word(&heap, 1 << 30), 0, "the untouched middle reads as zeros");
        // A write over the whole payload: its middle pages hold one value each, not bytes.
        heap.write(a, 0, a.size - heap.tag_bytes());
        assert_eq!(heap.committed_bytes(), 2 * PAGE as u64);
        assert_eq!(word(&heap, 1 << 30), 0x4141_4141_4141_4141);
        assert_eq!(word(&heap, a.end() - 16), 0x4141_4141_4141_4141);
        assert_eq!(word(&heap, a.end() - 8), a.size | USED);
        // Writing the same bytes again changes nothing; freeing writes tags and links on the
        // pages held.
        heap.write(a, 1 << 30, 100);
        heap.free(a);
        assert_eq!(heap.committed_bytes(), 2 * PAGE as u64);
        assert_eq!(heap.free_blocks(), [(0, a.size)]);
        // Reused from the low end: the new footer and the rest's header share one more page.
        let b = malloc(&mut heap, 1 << 20);
        assert_eq!(b.start, 0);
        assert_eq!(heap.committed_bytes(), 3 * PAGE as u64);
        assert_eq!(word(&heap, b.end() + 8), FREE, "the status of the rest");
        assert_eq!(word(&heap, b.end() + 200), 0x4141_4141_4141_4141);
    }

    #[test]
    fn min_size_of_four_gib_commits_pages_not_gigabytes() {
        let mut heap = BoundaryTag::new(Params { min_size: 4 << 30, ..Params::default() });
        for i in 0..3 {
            assert_eq!(malloc(&mut heap, 1), block(i * ((4 << 30) + 32), (4 << 30) + 32));
        }
        // A fourth would end past ARENA_LIMIT (16 GiB).
        assert_eq!(heap.allocate(Request::new(1)), None);
        assert_eq!(heap.top(), 3 * ((4 << 30) + 32));
        assert!(heap.committed_bytes() <= 4 * PAGE as u64, "{}", heap.committed_bytes());
    }

    #[test]
    fn a_request_whose_block_cannot_end_at_or_below_the_arena_limit_fails() {
        let mut heap = plain();
        // 24 bytes of tags: this block ends exactly at the limit.
        let fits = ARENA_LIMIT - 24;
        let mut probe = heap.clone();
        assert_eq!(probe.allocate(Request::new(fits)), Some(block(0, ARENA_LIMIT)));
        assert_eq!(probe.allocate(Request::new(0)), None);
        for size in [fits + 1, ARENA_LIMIT, ADDRESS_LIMIT, u64::MAX - 15, u64::MAX] {
            assert_eq!(heap.allocate(Request::new(size)), None, "{size}");
        }
        for align_log2 in [34, 40, 47, 62, 63] {
            let req = Request { size: 1, align: 1 << align_log2 };
            assert_eq!(heap.allocate(req), None, "align 2^{align_log2}");
            let req = Request { size: u64::MAX, align: 1 << align_log2 };
            assert_eq!(heap.allocate(req), None, "align 2^{align_log2}");
        }
        // A block already there: growing it past the limit fails and keeps it.
        let a = malloc(&mut heap, 100);
        assert_eq!(heap.allocate(Request { size: fits, align: 1 << 33 }), None);
        for size in [fits + 1, u64::MAX] {
            assert_eq!(heap.reallocate(a, Request::new(size)), None);
        }
        assert_eq!((heap.top(), heap.corruption()), (a.size, None));
        heap.free(a);
        assert_eq!(heap.free_blocks(), [(0, a.size)]);
        // --min-size near u64::MAX: every request fails, none overflows.
        let mut heap = BoundaryTag::new(Params { min_size: u64::MAX - 15, ..Params::default() });
        assert_eq!(heap.allocate(Request::new(0)), None);
        assert_eq!(heap.allocate(Request { size: u64::MAX, align: 1 << 63 }), None);
        assert_eq!(heap.top(), 0);
    }

    fn block_header(size: u64) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&size.to_le_bytes());
        bytes[8..].copy_from_slice(&USED.to_le_bytes());
        bytes
    }

    #[test]
    fn an_overrun_with_guard_is_caught_at_the_next_free() {
        let mut heap = guarded();
        let a = malloc(&mut heap, 20);
        let b = malloc(&mut heap, 20);
        malloc(&mut heap, 20);
        assert_eq!((a.payload, b.start), (32, 80));
        // 4 bytes just past a's block: the first guard word of b's header.
        heap.write(a, a.end() - a.payload, 4);
        assert_eq!(heap.corruption(), None, "a write checks nothing");
        // Freeing a reads b's header to see whether it can merge.
        heap.free(a);
        let damage = Corruption { at: 80, block: 80, kind: CorruptionKind::GuardOverwritten };
        assert_eq!(heap.corruption(), Some(damage));
        // From then on nothing happens, and nothing panics.
        assert_eq!(heap.allocate(Request::new(20)), None);
        heap.free(b);
        assert_eq!(heap.corruption(), Some(damage));

        // An overrun that starts in a's payload runs through a's own footer first.
        let mut heap = guarded();
        let a = malloc(&mut heap, 20);
        let b = malloc(&mut heap, 20);
        heap.write(a, 20, 40);
        heap.free(b);
        let damage = Corruption { at: 80, block: 80, kind: CorruptionKind::GuardOverwritten };
        assert_eq!(heap.corruption(), Some(damage));
        let mut heap = guarded();
        let a = malloc(&mut heap, 20);
        malloc(&mut heap, 20);
        heap.write(a, 20, 40);
        heap.free(a);
        let damage = Corruption { at: 64, block: 0, kind: CorruptionKind::GuardOverwritten };
        assert_eq!(heap.corruption(), Some(damage));
    }

    #[test]
    fn an_overrun_without_guard_leads_the_allocator_astray_and_is_reported() {
        // Over the whole size word of the next header: an impossible size.
        let mut heap = plain();
        let a = malloc(&mut heap, 20);
        let b = malloc(&mut heap, 20);
        malloc(&mut heap, 20);
        heap.write(a, 32, 8);
        heap.free(a);
        let size = 0x4141_4141_4141_4141;
        let damage = Corruption { at: 48, block: 48, kind: CorruptionKind::BadSize { size } };
        assert_eq!(heap.corruption(), Some(damage));
        heap.free(b);
        assert_eq!(heap.allocate(Request::new(1)), None);

        // One byte into the size: 48 reads as 0x4130, a plausible size in this heap, so the
        // allocator looks for b's footer 16688 bytes on, in the middle of c's payload.
        let mut heap = plain();
        let a = malloc(&mut heap, 20);
        let b = malloc(&mut heap, 20);
        malloc(&mut heap, 20_000);
        heap.write(a, 33, 1);
        assert_eq!(word(&heap, 48), 0x4130);
        heap.free(b);
        let kind = CorruptionKind::TagMismatch { header: 0x4130, footer: 0 };
        assert_eq!(heap.corruption(), Some(Corruption { at: 48 + 0x4130 - 8, block: 48, kind }));

        // Over the links of a free block, leaving its header intact: the list is broken.
        let mut heap = plain();
        let blocks: Vec<_> = (0..5).map(|_| malloc(&mut heap, 20)).collect();
        heap.free(blocks[3]);
        heap.free(blocks[1]);
        assert_eq!(heap.list(3), [48, 144]);
        heap.write(blocks[0], 48, 8);
        assert_eq!(heap.allocate(Request::new(20)), None);
        let link = 0x4141_4141_4141_4141;
        let kind = CorruptionKind::BrokenLink { link };
        assert_eq!(heap.corruption(), Some(Corruption { at: 64, block: 48, kind }));
    }

    #[test]
    fn a_cycle_in_a_list_is_a_broken_link_not_an_endless_walk() {
        // Two 1040-byte holes in the class 1024..1088, too small for a 1056-byte block.
        let mut heap = plain();
        let a = malloc(&mut heap, 1016);
        malloc(&mut heap, 1);
        let b = malloc(&mut heap, 1016);
        malloc(&mut heap, 1);
        heap.free(a);
        heap.free(b);
        assert_eq!(heap.list(class_of(1040)), [1088, 0]);
        // Make a's next link point back to b: the walk would go round for ever.
        heap.poke(16, 1088);
        assert_eq!(heap.allocate(Request::new(1032)), None);
        let kind = CorruptionKind::BrokenLink { link: 1088 };
        assert_eq!(heap.corruption(), Some(Corruption { at: 16, block: 0, kind }));

        // A link to a block that is no longer free.
        let mut heap = plain();
        let blocks: Vec<_> = (0..6).map(|_| malloc(&mut heap, 20)).collect();
        for i in [1, 3, 5] {
            heap.free(blocks[i]);
        }
        assert_eq!(heap.list(3), [240, 144, 48]);
        heap.poke(48 + 16, 240);
        assert_eq!(heap.allocate(Request::new(20)), Some(block(240, 48)));
        assert_eq!(heap.allocate(Request::new(20)), Some(block(144, 48)));
        // 48's next link leads to 240, which is in use now.
        assert_eq!(heap.allocate(Request::new(20)), None);
        let kind = CorruptionKind::BrokenLink { link: 240 };
        assert_eq!(heap.corruption(), Some(Corruption { at: 64, block: 48, kind }));
    }

    /// Check every invariant of the arena against the live blocks.
    fn check_invariants(heap: &BoundaryTag, live: &[Allocation]) {
        assert_eq!(heap.corruption(), None);
        let l = heap.layout;
        let blocks = heap.blocks();
        let mut previous_free = false;
        for &(start, size, status) in &blocks {
            assert_eq!(start % ALIGN + size % ALIGN, 0);
            assert_eq!(heap.load(start + size - 8), size | status, "footer of {start}");
            if l.guard {
                assert_eq!(heap.load(start), GUARD_MAGIC);
                assert_eq!(heap.load(start + 8), GUARD_MAGIC);
                assert_eq!(heap.load(start + size - 16), GUARD_MAGIC);
            }
            assert!(status == FREE || status == USED);
            if heap.params.coalesce {
                assert!(!(previous_free && status == FREE), "adjacent free blocks at {start}");
            }
            previous_free = status == FREE;
        }
        let mut used: Vec<_> = blocks.iter().filter(|b| b.2 == USED).map(|b| (b.0, b.1)).collect();
        let mut expected: Vec<_> = live.iter().map(|b| (b.start, b.size)).collect();
        used.sort_unstable();
        expected.sort_unstable();
        assert_eq!(used, expected, "used blocks are exactly the live ones");
        let free = heap.free_blocks();
        let mut listed = Vec::new();
        for class in 0..CLASSES {
            let list = heap.list(class);
            let bit = heap.bitmap[class / 64] >> (class % 64) & 1;
            assert_eq!(bit == 1, !list.is_empty(), "bitmap of class {class}");
            let mut prev = NIL;
            for &b in &list {
                assert_eq!(heap.load(l.prev_at(b)), prev);
                let size = heap.load(l.size_at(b));
                assert_eq!(class_of(size), class);
                listed.push((b, size));
                prev = b;
            }
        }
        for w in 0..BITMAP_WORDS {
            let word = heap.bitmap[w];
            assert_eq!(heap.summary >> w & 1 == 1, word != 0);
        }
        listed.sort_unstable();
        assert_eq!(listed, free, "the lists hold exactly the free blocks");
        assert_eq!(heap.free_blocks, free.len() as u64);
        assert_eq!(heap.free_bytes(), free.iter().map(|b| b.1).sum::<u64>());
        let top = heap.top();
        assert_eq!(top, blocks.iter().map(|b| b.1).sum::<u64>());
        // largest_satisfiable is exact: its block fits without growth, 16 more bytes do not.
        let largest = heap.largest_satisfiable();
        assert!(largest <= heap.free_bytes());
        if heap.params.min_size == ALIGN && heap.params.heap_limit.is_none() {
            if largest > 0 {
                let mut probe = heap.clone();
                let b = probe.allocate(Request::new(largest - heap.tag_bytes())).unwrap();
                assert_eq!((b.size, probe.top()), (largest, top));
            }
            let mut probe = heap.clone();
            let n = (largest + 16).max(l.min_block) - heap.tag_bytes();
            probe.allocate(Request::new(n)).unwrap();
            assert!(probe.top() > top, "{n} bytes fit without growing");
        }
    }

    fn params() -> impl Gen<Value = Params> {
        (prop_oneof![Just(16u64), Just(64)], any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(min_size, coalesce, limit, guard)| Params {
                min_size,
                coalesce,
                heap_limit: limit.then_some(20_000),
                guard,
            },
        )
    }

    /// Sizes mostly small (many in one class), some large.
    fn size() -> impl Gen<Value = Bytes> {
        prop_oneof![4 => 0u64..200, 2 => 900u64..1300, 1 => 0u64..5000]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn random_streams_keep_the_tags_lists_and_counters_exact(
            ops in proptest::collection::vec((0u8..8, size(), 0u32..5, any::<u16>()), 1..150),
            params in params(),
        ) {
            let mut heap = BoundaryTag::new(params);
            let mut live: Vec<Allocation> = Vec::new();
            for (op, size, align_log, pick) in ops {
                let pick = usize::from(pick) % live.len().max(1);
                match op {
                    0..=3 => {
                        let req = Request { size, align: 16 << align_log };
                        if let Some(b) = heap.allocate(req) {
                            prop_assert!(b.payload % req.align == 0);
                            prop_assert_eq!(b.payload, b.start + heap.layout.header);
                            prop_assert!(b.payload + size <= b.end() - heap.layout.footer);
                            live.push(b);
                        }
                    }
                    4..=5 if !live.is_empty() => heap.free(live.swap_remove(pick)),
                    6..=7 if !live.is_empty() => {
                        if let Some(b) = heap.reallocate(live[pick], Request::new(size)) {
                            prop_assert!(b.payload + size <= b.end() - heap.layout.footer);
                            live[pick] = b;
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
            if params.coalesce {
                prop_assert_eq!(heap.largest_satisfiable(), heap.top());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn skipping_the_checks_before_the_first_write_changes_no_placement_and_no_byte(
            ops in proptest::collection::vec((0u8..8, size(), 0u32..5, any::<u16>()), 1..150),
            params in params(),
        ) {
            // The same stream through a heap as it starts (no write yet: confirming reads
            // skipped) and one with every check on from the start.
            let mut fast = BoundaryTag::new(params);
            let mut checked = BoundaryTag::new(params);
            checked.written = true;
            let mut live: Vec<Allocation> = Vec::new();
            for (op, size, align_log, pick) in ops {
                let pick = usize::from(pick) % live.len().max(1);
                match op {
                    0..=3 => {
                        let req = Request { size, align: 16 << align_log };
                        let placed = fast.allocate(req);
                        prop_assert_eq!(placed, checked.allocate(req));
                        live.extend(placed);
                    }
                    4..=5 if !live.is_empty() => {
                        let block = live.swap_remove(pick);
                        fast.free(block);
                        checked.free(block);
                    }
                    6..=7 if !live.is_empty() => {
                        let moved = fast.reallocate(live[pick], Request::new(size));
                        prop_assert_eq!(moved, checked.reallocate(live[pick], Request::new(size)));
                        if let Some(b) = moved {
                            live[pick] = b;
                        }
                    }
                    _ => {}
                }
                prop_assert_eq!(
                    (fast.work(), fast.top(), fast.free_bytes(), fast.largest_satisfiable()),
                    (checked.work(), checked.top(), checked.free_bytes(), checked.largest_satisfiable())
                );
                prop_assert_eq!(checked.corruption(), None);
            }
            prop_assert!(!fast.written);
            prop_assert_eq!(fast.heap_bytes(), checked.heap_bytes());
            prop_assert_eq!(fast.lists_state(), checked.lists_state());
        }
    }

    /// One step on an arena and on the `Vec<u8>` it stands for.
    #[derive(Clone, Debug)]
    enum ArenaOp {
        Grow(usize),
        SetWord(usize, u64),
        Fill(usize, usize, u8),
        Word(usize),
    }

    fn arena_op() -> impl Gen<Value = ArenaOp> {
        // Five pages, unaligned indices, values of 0 and of the write byte often.
        let index = prop_oneof![0..5 * PAGE, (0..5usize).prop_map(|p| p * PAGE), Just(usize::MAX)];
        let byte = prop_oneof![Just(0u8), Just(WRITE_BYTE), any::<u8>()];
        let value = prop_oneof![Just(0u64), Just(0x4141_4141_4141_4141), any::<u64>()];
        prop_oneof![
            1 => (0..6 * PAGE).prop_map(ArenaOp::Grow),
            3 => (index.clone(), value).prop_map(|(i, v)| ArenaOp::SetWord(i, v)),
            2 => (0..5 * PAGE, 0..3 * PAGE, byte).prop_map(|(i, n, b)| ArenaOp::Fill(i, n, b)),
            3 => index.prop_map(ArenaOp::Word),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn the_sparse_arena_reads_and_writes_as_a_plain_byte_vector(
            ops in proptest::collection::vec(arena_op(), 1..60),
        ) {
            let mut arena = Arena::new(8);
            let mut model = vec![0u8; 8];
            let word_of = |model: &[u8], i: usize| {
                let bytes = i.checked_add(8).and_then(|end| model.get(i..end));
                bytes.map_or(NIL, |b| u64::from_le_bytes(b.try_into().unwrap()))
            };
            for op in ops {
                match op {
                    ArenaOp::Grow(n) => {
                        arena.grow_to(n);
                        if n > model.len() {
                            model.resize(n, 0);
                        }
                    }
                    ArenaOp::SetWord(i, v) => {
                        arena.set_word(i, v);
                        if let Some(b) = i.checked_add(8).and_then(|end| model.get_mut(i..end)) {
                            b.copy_from_slice(&v.to_le_bytes());
                        }
                    }
                    ArenaOp::Fill(i, n, b) => {
                        arena.fill(i..i + n, b);
                        let end = (i + n).min(model.len());
                        if i < end {
                            model[i..end].fill(b);
                        }
                    }
                    ArenaOp::Word(i) => prop_assert_eq!(arena.word(i), word_of(&model, i)),
                }
                prop_assert_eq!(arena.len(), model.len());
                let committed = arena.table.iter().filter(|&&e| !is_absent(e)).count();
                prop_assert_eq!(arena.committed_bytes(), (committed * PAGE) as u64);
            }
            for (i, &b) in model.iter().enumerate() {
                prop_assert_eq!(arena.byte(i), b, "byte {}", i);
            }
            // Past `len`, the last page holds zeros, ready for growth.
            let page_end = arena.table.len() * PAGE;
            prop_assert!((model.len()..page_end).all(|i| arena.byte(i) == 0));
        }
    }

    /// One step of a damaging stream.
    #[derive(Clone, Debug)]
    enum Op {
        Malloc(Bytes, u32),
        Free(u16),
        Realloc(u16, Bytes),
        /// A `write` event: offset and length after the payload of a live block.
        Write(u16, Bytes, Bytes),
        /// Any value at any 8-aligned heap address: worse than any write event can do.
        Poke(u16, u64),
    }

    fn damaging_op() -> impl Gen<Value = Op> {
        let offset = prop_oneof![0u64..200, 0u64..5000, any::<u64>()];
        let len = prop_oneof![1u64..40, 0u64..3000, any::<u64>()];
        let value = prop_oneof![
            any::<u64>(),
            (0u64..300).prop_map(|v| v * 16),
            Just(FREE),
            Just(USED),
            Just(NIL),
            Just(GUARD_MAGIC)
        ];
        let huge = prop_oneof![any::<u64>(), (ARENA_LIMIT - 100..=ARENA_LIMIT + 100)];
        prop_oneof![
            4 => (size(), 0u32..5).prop_map(|(s, a)| Op::Malloc(s, a)),
            1 => (huge, 0u32..60).prop_map(|(s, a)| Op::Malloc(s, a)),
            3 => any::<u16>().prop_map(Op::Free),
            1 => (any::<u16>(), size()).prop_map(|(p, s)| Op::Realloc(p, s)),
            1 => (any::<u16>(), offset, len).prop_map(|(p, o, l)| Op::Write(p, o, l)),
            1 => (any::<u16>(), value).prop_map(|(a, v)| Op::Poke(a, v)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn damage_never_makes_it_panic_or_loop(
            ops in proptest::collection::vec(damaging_op(), 1..120),
            params in params(),
            poke in any::<bool>(),
        ) {
            let mut heap = BoundaryTag::new(params);
            let mut live: Vec<Allocation> = Vec::new();
            let mut found = None;
            for op in ops {
                let pick = |p: u16, n: usize| usize::from(p) % n.max(1);
                match op {
                    Op::Malloc(size, align_log) => {
                        if let Some(b) = heap.allocate(Request { size, align: 16 << align_log }) {
                            live.push(b);
                        }
                    }
                    Op::Free(p) if !live.is_empty() => heap.free(live.swap_remove(pick(p, live.len()))),
                    Op::Realloc(p, size) if !live.is_empty() => {
                        let i = pick(p, live.len());
                        if let Some(b) = heap.reallocate(live[i], Request::new(size)) {
                            live[i] = b;
                        }
                    }
                    Op::Write(p, offset, len) if !live.is_empty() => {
                        heap.write(live[pick(p, live.len())], offset, len);
                    }
                    Op::Poke(a, value) if poke && heap.top() > 0 => {
                        heap.poke(u64::from(a) * 8 % heap.top(), value);
                    }
                    _ => {}
                }
                heap.free_bytes();
                heap.largest_satisfiable();
                // The first damage found stays the one reported.
                if found.is_none() {
                    found = heap.corruption();
                }
                prop_assert_eq!(heap.corruption(), found);
            }
        }
    }
}
