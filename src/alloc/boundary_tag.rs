//! `boundary-tag`: the inline-bookkeeping allocator. Every tag, link and list head lives in a
//! real byte arena, so a buffer overrun really damages them (the safety lab).
//!
//! # Byte layout
//! The arena is one `Vec<u8>`: a fixed prologue of [`PROLOGUE`] bytes, then the heap
//! `[0, top)`, so heap address `a` is byte `PROLOGUE + a`. Every value is a `u64`, little-endian.
//!
//! A block `[start, start + size)` (`size` a multiple of 16) is, without `--guard`:
//!
//! ```text
//! start+0   size    (u64)            header, 16 bytes
//! start+8   status  (u64: 1 free, 2 used)
//! start+16  payload ...              (the address handed out: 16-aligned)
//! end-8     size    (u64)            footer, 8 bytes
//! ```
//!
//! and with `--guard` every tag also carries [`GUARD_MAGIC`]:
//!
//! ```text
//! start+0   magic, start+8 magic     header, 32 bytes
//! start+16  size, start+24 status
//! start+32  payload ...
//! end-16    magic, end-8 size        footer, 16 bytes
//! ```
//!
//! The magic sits *below* the value it guards, so an overrun running upward hits it first. So a
//! block costs 24 bytes of tags (48 with `--guard`): a request of `n` bytes gets a block of
//! `max(round_up(max(n, MIN) + tags, 16), smallest block)` bytes (`MIN` is `--min-size`), and
//! the payload is always `start + header`. The tags are part of [`Allocation::size`], so they
//! show as internal fragmentation. A free block keeps its free-list links in its payload:
//! `next` at `payload + 0`, `prev` at `payload + 8` (block addresses; `u64::MAX` for none). Hence
//! the smallest block is 48 bytes (header + two links + footer, rounded to 16), 64 with
//! `--guard`; a split leaves a free piece only if it is at least that large.
//!
//! The prologue holds the segregated list heads and a two-level bitmap of the non-empty lists:
//! a summary word (bit `w` set when bitmap word `w` is not zero), [`BITMAP_WORDS`] bitmap words,
//! then one head per size class. It sits below heap address 0 because the heap model counts
//! every byte of `[0, top)` as either live or free; a real allocator would add these bytes to
//! its footprint once. No write event can reach it (they run upward from a payload). Outside
//! the arena the strategy keeps only scalars: `top`, the free byte and free block counts, the
//! parameters and the first corruption found.
//!
//! # Policy: which block is chosen
//! Free blocks are sorted into size classes: a block of `s < 1024` bytes is in the exact class
//! `s / 16`; a larger one in one of 16 classes per power of two, `[2^k + i 2^(k-4), 2^k + (i + 1)
//! 2^(k-4))` (so 1024..1088, 1088..1152, ..., 2048..2176, ...). Each class is a doubly linked
//! list in LIFO order: a block that becomes free (freed, merged, or left over by a split) goes
//! to the head of its class's list.
//!
//! A request needing a block of `s` bytes (memalign: `s + smallest block + align - 16`, enough
//! whatever the block's address) takes:
//! 1. the first block of at least `s` bytes among the first 16 blocks of the list of `s`'s own
//!    class (for an exact class, that is its head);
//! 2. else the head of the smallest non-empty class above `s`'s class (all of its blocks fit);
//! 3. else, if the highest block in the heap is free (it then ends at `top`), that block, with
//!    `top` moving up as far as the new block needs (growth), heap limit permitting;
//! 4. else a new block at `top` (growth), heap limit permitting.
//!
//! The block is carved from the low end of the chosen free block (for memalign, after a leading
//! free piece: the first gap of 0 or at least a smallest block that puts the payload on
//! `align`); the rest stays free if it is at least a smallest block, otherwise it is added to
//! the block handed out (internal waste). Growth past `--heap-limit` (or past [`ARENA_LIMIT`],
//! the most this real arena will hold) fails the request and changes nothing.
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
//! `largest_satisfiable` is in block bytes, like `free_bytes`: the largest block a request can
//! get without growing, i.e. the largest of the first 16 blocks of the highest non-empty class
//! and of a free block ending at `top` (rules 1 to 3). The largest *request* it serves is that
//! minus the tag bytes (24, or 48 with `--guard`).
//!
//! # Mechanism and cost
//! Finding the class is a few shifts; the next non-empty class is two bit scans; the own-class
//! scan looks at 16 blocks at most; free and merge read a constant number of tags. So every
//! operation is O(1) (plus amortised O(1) arena growth: the vector doubles, lazily zeroed, and
//! is copied up to `top`). `free_bytes` is a running count; `largest_satisfiable` reads at most
//! 17 blocks.
//!
//! # Safety lab
//! `write` stores [`WRITE_BYTE`] into the arena (dropping bytes at or above `top`), so an overrun
//! damages the next tags for real. Every tag is checked before it is believed, and the first
//! damage found is kept in [`Strategy::corruption`]; after that the strategy does nothing
//! (allocate and realloc return `None`, free is ignored). What each kind means here:
//! - `GuardOverwritten` (`--guard` only): a magic word of a header or footer is not
//!   [`GUARD_MAGIC`]. Checked on every tag read: the block freed or reallocated, both neighbours
//!   read for merging or growth, and every block taken from or walked in a list.
//! - `BadSize`: a size read from a header or footer is smaller than the smallest block, not a
//!   multiple of 16, or reaches outside `[0, top)` (a footer's size: below address 0).
//! - `TagMismatch`: a block's header and footer sizes differ (checked for the block freed or
//!   reallocated, the block below it, a free block above it, and every block taken from a list).
//! - `BrokenLink`: a list head or link is not the address of a free block of that list's class
//!   (outside the heap, misaligned, status not free, wrong class), its neighbour does not link
//!   back to it, or a walk is longer than the number of free blocks. `at` is the link's
//!   address, except for a list head (in the prologue, below address 0), where `at` and `block`
//!   are the block the head points to.
//!
//! `block` is the start of the block the damaged tag belongs to; for the footer of the block
//! below, whose start cannot be trusted, it is the start of the block being freed (just above
//! that footer). A status word that is neither free nor used reads as "not free" (the block is
//! not merged or taken). Damage can also go unnoticed (a size that still reads as plausible):
//! the allocator then hands out overlapping memory, which `--verify` catches independently.
//! Whatever the arena holds, this code never panics, never indexes out of bounds (every access
//! is checked) and never loops unboundedly (every walk is bounded).

use super::{
    round_up, Addr, Allocation, Bytes, Corruption, CorruptionKind, Params, Request, Strategy,
    StrategyEntry, ALIGN, WRITE_BYTE,
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
/// "No block" in a list link or head.
pub const NIL: Addr = u64::MAX;
/// The largest `top` this strategy grows to: its arena is real memory.
pub const ARENA_LIMIT: Bytes = 1 << 34;

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

// The prologue, as byte offsets into the arena vector.
const SUMMARY_AT: usize = 0;
const BITMAP_AT: usize = 8;
const HEADS_AT: usize = BITMAP_AT + 8 * BITMAP_WORDS;
/// Bytes of the prologue below heap address 0.
pub const PROLOGUE: usize = round_up((HEADS_AT + 8 * CLASSES) as u64, ALIGN) as usize;

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

    fn size_at(self, start: Addr) -> Addr {
        start + self.header - 16
    }
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

/// The class of a block of `size` bytes (16 <= size <= [`ARENA_LIMIT`]).
fn class_of(size: Bytes) -> usize {
    if size < SMALL_LIMIT {
        (size / ALIGN) as usize
    } else {
        let log = 63 - size.leading_zeros();
        let sub = (size >> (log - SUBCLASS_BITS)) as usize & (SUBCLASSES - 1);
        SMALL_CLASSES + (log - FIRST_RANGE_LOG) as usize * SUBCLASSES + sub
    }
}

/// The inline-bookkeeping allocator; see the module docs.
#[derive(Clone, Debug)]
pub struct BoundaryTag {
    params: Params,
    layout: Layout,
    /// The prologue, then the heap. `len() >= PROLOGUE + top`; bytes at or above `top` are zero.
    arena: Vec<u8>,
    top: Bytes,
    /// Sum of the sizes of the free blocks (wrapping, so that damage cannot make it panic).
    free_bytes: Bytes,
    /// Number of free blocks: the bound on any list walk.
    free_blocks: u64,
    /// The first damage found; the strategy does nothing once it is set.
    corruption: Option<Corruption>,
}

impl BoundaryTag {
    pub fn new(params: Params) -> BoundaryTag {
        let mut arena = vec![0u8; PROLOGUE];
        arena[HEADS_AT..HEADS_AT + 8 * CLASSES].fill(0xFF); // every head is NIL
        BoundaryTag {
            params,
            layout: if params.guard { Layout::GUARDED } else { Layout::PLAIN },
            arena,
            top: 0,
            free_bytes: 0,
            free_blocks: 0,
            corruption: None,
        }
    }

    /// The heap bytes `[0, top)`.
    pub fn heap_bytes(&self) -> &[u8] {
        self.arena.get(PROLOGUE..PROLOGUE + self.top as usize).unwrap_or(&[])
    }

    /// Bytes of tags per block: 24, or 48 with `--guard`.
    pub fn tag_bytes(&self) -> Bytes {
        self.layout.header + self.layout.footer
    }

    /// Block size for a request of `n` bytes, or `None` if it cannot fit the arena.
    fn block_size(&self, n: Bytes) -> Option<Bytes> {
        if n > ARENA_LIMIT {
            return None;
        }
        let l = self.layout;
        Some(round_up(n.max(self.params.min_size) + l.header + l.footer, ALIGN).max(l.min_block))
    }

    // Raw access. Every read and write is bounds-checked; an address outside the arena reads
    // as NIL and is not written, so no arena content can make these panic.

    fn raw(&self, index: usize) -> u64 {
        let bytes = index.checked_add(8).and_then(|end| self.arena.get(index..end));
        bytes.and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(NIL, u64::from_le_bytes)
    }

    fn set_raw(&mut self, index: usize, value: u64) {
        let end = index.saturating_add(8);
        if let Some(bytes) = self.arena.get_mut(index..end) {
            bytes.copy_from_slice(&value.to_le_bytes());
        }
    }

    fn load(&self, addr: Addr) -> u64 {
        usize::try_from(addr)
            .ok()
            .and_then(|a| a.checked_add(PROLOGUE))
            .map_or(NIL, |i| self.raw(i))
    }

    fn store(&mut self, addr: Addr, value: u64) {
        if let Some(i) = usize::try_from(addr).ok().and_then(|a| a.checked_add(PROLOGUE)) {
            self.set_raw(i, value);
        }
    }

    // The prologue: list heads and the class bitmap.

    fn head(&self, class: usize) -> Addr {
        self.raw(HEADS_AT + 8 * class)
    }

    fn set_head(&mut self, class: usize, block: Addr) {
        self.set_raw(HEADS_AT + 8 * class, block);
    }

    fn mark(&mut self, class: usize, nonempty: bool) {
        let (w, bit) = (class / 64, 1u64 << (class % 64));
        let word = self.raw(BITMAP_AT + 8 * w);
        let word = if nonempty { word | bit } else { word & !bit };
        self.set_raw(BITMAP_AT + 8 * w, word);
        let summary = self.raw(SUMMARY_AT);
        let summary = if word != 0 { summary | 1 << w } else { summary & !(1 << w) };
        self.set_raw(SUMMARY_AT, summary);
    }

    /// The smallest non-empty class `>= class`.
    fn nonempty_from(&self, class: usize) -> Option<usize> {
        if class >= CLASSES {
            return None;
        }
        let w = class / 64;
        let word = self.raw(BITMAP_AT + 8 * w) & (!0u64 << (class % 64));
        if word != 0 {
            return Some(w * 64 + word.trailing_zeros() as usize);
        }
        let summary = self.raw(SUMMARY_AT) & (!0u64).checked_shl(w as u32 + 1).unwrap_or(0);
        if summary == 0 {
            return None;
        }
        let w = summary.trailing_zeros() as usize;
        Some(w * 64 + self.raw(BITMAP_AT + 8 * w).trailing_zeros() as usize)
            .filter(|&c| c < CLASSES)
    }

    /// The largest non-empty class.
    fn highest_nonempty(&self) -> Option<usize> {
        let summary = self.raw(SUMMARY_AT);
        if summary == 0 {
            return None;
        }
        let w = 63 - summary.leading_zeros() as usize;
        let word = self.raw(BITMAP_AT + 8 * w);
        (word != 0).then(|| w * 64 + 63 - word.leading_zeros() as usize).filter(|&c| c < CLASSES)
    }

    // Tags: every value read from the arena is checked here before it is used.

    /// Record the first damage found; always `None`, so callers can `return self.damaged(..)`.
    fn damaged<T>(&mut self, at: Addr, block: Addr, kind: CorruptionKind) -> Option<T> {
        if self.corruption.is_none() {
            self.corruption = Some(Corruption { at, block, kind });
        }
        None
    }

    fn guard_ok(&mut self, at: Addr, block: Addr) -> Option<()> {
        if self.load(at) == GUARD_MAGIC {
            Some(())
        } else {
            self.damaged(at, block, CorruptionKind::GuardOverwritten)
        }
    }

    /// The header of the block at `start`: its size (checked) and status word.
    fn header(&mut self, start: Addr) -> Option<(Bytes, u64)> {
        let l = self.layout;
        if l.guard {
            self.guard_ok(start, start)?;
            self.guard_ok(start.wrapping_add(8), start)?;
        }
        let size = self.load(l.size_at(start));
        let fits = size <= self.top.saturating_sub(start);
        if size < l.min_block || size % ALIGN != 0 || !fits {
            let at = l.size_at(start);
            return self.damaged(at, start, CorruptionKind::BadSize { size });
        }
        Some((size, self.load(l.status_at(start))))
    }

    /// Check the footer of the block `[start, start + size)` (whose header said `size`).
    fn footer(&mut self, start: Addr, size: Bytes) -> Option<()> {
        let end = start + size;
        if self.layout.guard {
            self.guard_ok(end - 16, start)?;
        }
        let footer = self.load(end - 8);
        if footer != size {
            return self.damaged(
                end - 8,
                start,
                CorruptionKind::TagMismatch { header: size, footer },
            );
        }
        Some(())
    }

    /// The block ending at `end` (> 0), found through its footer: `(start, size, status)`.
    fn block_below(&mut self, end: Addr) -> Option<(Addr, Bytes, u64)> {
        let l = self.layout;
        if l.guard {
            self.guard_ok(end.wrapping_sub(16), end)?;
        }
        let at = end.wrapping_sub(8);
        let size = self.load(at);
        if size < l.min_block || size % ALIGN != 0 || size > end {
            return self.damaged(at, end, CorruptionKind::BadSize { size });
        }
        let start = end - size;
        let (header, status) = self.header(start)?;
        if header != size {
            let kind = CorruptionKind::TagMismatch { header, footer: size };
            return self.damaged(at, start, kind);
        }
        Some((start, size, status))
    }

    /// The free block a link (or list head) of `class` points to, and its size. `at` is where
    /// the link is stored and `owner` the block holding it.
    fn linked(&mut self, link: Addr, at: Addr, owner: Addr, class: usize) -> Option<Bytes> {
        let broken = CorruptionKind::BrokenLink { link };
        if link >= self.top || link % ALIGN != 0 {
            return self.damaged(at, owner, broken);
        }
        let (size, status) = self.header(link)?;
        if status != FREE || class_of(size) != class {
            return self.damaged(at, owner, broken);
        }
        Some(size)
    }

    /// Write the tags of the block `[start, start + size)`.
    fn set_tags(&mut self, start: Addr, size: Bytes, status: u64) {
        let l = self.layout;
        let end = start + size;
        if l.guard {
            self.store(start, GUARD_MAGIC);
            self.store(start + 8, GUARD_MAGIC);
            self.store(end - 16, GUARD_MAGIC);
        }
        self.store(l.size_at(start), size);
        self.store(l.status_at(start), status);
        self.store(end - 8, size);
    }

    // The free lists.

    /// Make `[start, start + size)` a free block at the head of its class list.
    fn insert(&mut self, start: Addr, size: Bytes) {
        let l = self.layout;
        self.set_tags(start, size, FREE);
        let class = class_of(size);
        let head = self.head(class);
        self.store(l.next_at(start), head);
        self.store(l.prev_at(start), NIL);
        if head == NIL {
            self.mark(class, true);
        } else {
            self.store(l.prev_at(head), start);
        }
        self.set_head(class, start);
        self.free_blocks = self.free_blocks.wrapping_add(1);
        self.free_bytes = self.free_bytes.wrapping_add(size);
    }

    /// Take the free block `[block, block + size)` out of its list. Both links, and their
    /// links back, are checked before anything changes.
    fn unlink(&mut self, block: Addr, size: Bytes) -> Option<()> {
        let l = self.layout;
        let class = class_of(size);
        let (next_at, prev_at) = (l.next_at(block), l.prev_at(block));
        let (next, prev) = (self.load(next_at), self.load(prev_at));
        if next != NIL {
            self.linked(next, next_at, block, class)?;
            let back = self.load(l.prev_at(next));
            if back != block {
                return self.damaged(
                    l.prev_at(next),
                    next,
                    CorruptionKind::BrokenLink { link: back },
                );
            }
        }
        if prev != NIL {
            self.linked(prev, prev_at, block, class)?;
            let back = self.load(l.next_at(prev));
            if back != block {
                return self.damaged(
                    l.next_at(prev),
                    prev,
                    CorruptionKind::BrokenLink { link: back },
                );
            }
        } else if self.head(class) != block {
            return self.damaged(prev_at, block, CorruptionKind::BrokenLink { link: prev });
        }
        if prev == NIL {
            self.set_head(class, next);
            if next == NIL {
                self.mark(class, false);
            }
        } else {
            self.store(l.next_at(prev), next);
        }
        if next != NIL {
            self.store(l.prev_at(next), prev);
        }
        self.free_blocks = self.free_blocks.wrapping_sub(1);
        self.free_bytes = self.free_bytes.wrapping_sub(size);
        Some(())
    }

    /// Policy rules 1 and 2: a free block of at least `want` bytes, `(start, size)`. The outer
    /// `None` means damage was found.
    fn find_fit(&mut self, want: Bytes) -> Option<Option<(Addr, Bytes)>> {
        let class = class_of(want);
        let mut link = self.head(class);
        let (mut at, mut owner) = (link, link);
        let mut seen = 0;
        while link != NIL && seen < SCAN_LIMIT {
            if seen >= self.free_blocks {
                return self.damaged(at, owner, CorruptionKind::BrokenLink { link });
            }
            let size = self.linked(link, at, owner, class)?;
            if size >= want {
                return Some(Some((link, size)));
            }
            (at, owner) = (self.layout.next_at(link), link);
            link = self.load(at);
            seen += 1;
        }
        match self.nonempty_from(class + 1) {
            Some(larger) => {
                let head = self.head(larger);
                let size = self.linked(head, head, head, larger)?;
                Some(Some((head, size)))
            }
            None => Some(None),
        }
    }

    /// The leading gap that puts the payload of a block starting at `base + gap` on `align`:
    /// the smallest that is 0 or at least a smallest block.
    fn lead_gap(&self, base: Addr, align: Bytes) -> Bytes {
        if align <= ALIGN {
            return 0;
        }
        let l = self.layout;
        let gap = (align - (base + l.header) % align) % align;
        if gap == 0 || gap >= l.min_block {
            gap
        } else {
            gap + (l.min_block - gap).div_ceil(align) * align
        }
    }

    /// Carve a used block of `size` bytes, payload on `align`, from the low end of the free
    /// block `[start, start + len)`, which must hold it after the leading gap.
    fn take(&mut self, start: Addr, len: Bytes, size: Bytes, align: Bytes) -> Option<Allocation> {
        self.footer(start, len)?;
        self.unlink(start, len)?;
        let gap = self.lead_gap(start, align);
        if gap > 0 {
            self.insert(start, gap);
        }
        let block = start + gap;
        let rest = len - gap - size;
        let size = if rest >= self.layout.min_block {
            self.insert(block + size, rest);
            size
        } else {
            size + rest
        };
        Some(self.mark_used(block, size))
    }

    fn mark_used(&mut self, block: Addr, size: Bytes) -> Allocation {
        self.set_tags(block, size, USED);
        Allocation { start: block, size, payload: block + self.layout.header }
    }

    /// Make the arena hold `[0, end)`: doubling, lazily zeroed, copied up to `top`.
    fn reserve(&mut self, end: Bytes) {
        let needed = PROLOGUE + end as usize;
        if self.arena.len() >= needed {
            return;
        }
        let len = needed.max(2 * self.arena.len()).min(PROLOGUE + ARENA_LIMIT as usize);
        let mut grown = vec![0u8; len];
        let used = (PROLOGUE + self.top as usize).min(self.arena.len());
        grown[..used].copy_from_slice(&self.arena[..used]);
        self.arena = grown;
    }

    /// The free block ending at `top`, if the highest block is free.
    fn free_at_top(&mut self) -> Option<Option<(Addr, Bytes)>> {
        if self.top == 0 {
            return Some(None);
        }
        let (start, size, status) = self.block_below(self.top)?;
        Some((status == FREE).then_some((start, size)))
    }

    /// Place a block of `size` bytes, payload on `align`, by the policy. `None` at the limits
    /// (nothing changed) or on damage.
    fn place(&mut self, size: Bytes, align: Bytes) -> Option<Allocation> {
        let l = self.layout;
        let want = if align <= ALIGN { size } else { size + l.min_block + align - ALIGN };
        if want <= self.top {
            if let Some((start, len)) = self.find_fit(want)? {
                return self.take(start, len, size, align);
            }
        }
        let highest = self.free_at_top()?;
        let base = highest.map_or(self.top, |(start, _)| start);
        let gap = self.lead_gap(base, align);
        let end = base + gap + size;
        if let Some((start, len)) = highest.filter(|_| end <= self.top) {
            return self.take(start, len, size, align);
        }
        if end > ARENA_LIMIT || !self.params.may_grow_to(end) {
            return None;
        }
        if let Some((start, len)) = highest {
            self.footer(start, len)?;
            self.unlink(start, len)?;
        }
        self.reserve(end);
        self.top = end;
        if gap > 0 {
            self.insert(base, gap);
        }
        Some(self.mark_used(base + gap, size))
    }

    /// Give `[start, start + size)` back, merging with free neighbours if coalescing is on.
    fn release(&mut self, mut start: Addr, mut size: Bytes) -> Option<()> {
        if self.params.coalesce {
            let below = if start > 0 { Some(self.block_below(start)?) } else { None };
            let end = start + size;
            let above = if end < self.top {
                let (len, status) = self.header(end)?;
                if status == FREE {
                    self.footer(end, len)?;
                    Some(len)
                } else {
                    None
                }
            } else {
                None
            };
            if let Some((below, len, FREE)) = below {
                self.unlink(below, len)?;
                (start, size) = (below, size + len);
            }
            if let Some(len) = above {
                self.unlink(end, len)?;
                size += len;
            }
        }
        self.insert(start, size);
        Some(())
    }

    /// The checked size of the live block at `start`.
    fn live_size(&mut self, start: Addr) -> Option<Bytes> {
        if start >= self.top {
            return self.damaged(start, start, CorruptionKind::BadSize { size: 0 });
        }
        let (size, _) = self.header(start)?;
        self.footer(start, size)?;
        Some(size)
    }
}

impl Strategy for BoundaryTag {
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        if self.corruption.is_some() || req.align > ARENA_LIMIT {
            return None;
        }
        let size = self.block_size(req.size)?;
        self.place(size, req.align.max(ALIGN))
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        if self.corruption.is_some() {
            return None;
        }
        let new = self.block_size(req.size)?;
        let start = old.start;
        let size = self.live_size(start)?;
        let end = start + size;
        let min_block = self.layout.min_block;
        // 1. Shrink in place.
        if new <= size {
            if size - new < min_block {
                return Some(Allocation { start, size, payload: old.payload });
            }
            let block = self.mark_used(start, new);
            self.release(start + new, size - new)?;
            return Some(block);
        }
        let above = if end < self.top {
            let (len, status) = self.header(end)?;
            if status == FREE {
                self.footer(end, len)?;
                Some(len)
            } else {
                None
            }
        } else {
            None
        };
        // 2. Grow into the free block above.
        if let Some(len) = above.filter(|&len| size + len >= new) {
            self.unlink(end, len)?;
            let rest = size + len - new;
            let size = if rest >= min_block {
                self.insert(start + new, rest);
                new
            } else {
                size + len
            };
            return Some(self.mark_used(start, size));
        }
        // 3. Grow in place past `top`.
        if end == self.top || above.is_some_and(|len| end + len == self.top) {
            let new_top = start + new;
            if new_top > ARENA_LIMIT || !self.params.may_grow_to(new_top) {
                return None;
            }
            if let Some(len) = above {
                self.unlink(end, len)?;
            }
            self.reserve(new_top);
            self.top = new_top;
            return Some(self.mark_used(start, new));
        }
        // 4. Move.
        let block = self.place(new, ALIGN)?;
        self.release(start, size);
        Some(block)
    }

    fn free(&mut self, block: Allocation) {
        if self.corruption.is_some() {
            return;
        }
        if let Some(size) = self.live_size(block.start) {
            self.release(block.start, size);
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
            let size = self.load(self.top - 8);
            if size <= self.top && plausible(self.top - size, size) {
                let start = self.top - size;
                if self.load(l.status_at(start)) == FREE {
                    largest = largest.max(size);
                }
            }
        }
        largest.min(self.free_bytes)
    }

    fn write(&mut self, block: Allocation, offset: Bytes, len: Bytes) {
        let from = block.payload.saturating_add(offset);
        let to = from.saturating_add(len).min(self.top);
        if from < to {
            let range = PROLOGUE + from as usize..PROLOGUE + to as usize;
            if let Some(bytes) = self.arena.get_mut(range) {
                bytes.fill(WRITE_BYTE);
            }
        }
    }

    fn corruption(&self) -> Option<Corruption> {
        self.corruption
    }
}
