//! What every strategy shares: the heap model's types and limits ([`Addr`], [`Bytes`],
//! [`ALIGN`], [`ADDRESS_LIMIT`], [`OVERSIZED`], [`Request`], [`Allocation`], [`Params`]), the
//! [`Strategy`] trait, what a strategy reports when its in-heap metadata is damaged
//! ([`Corruption`]) and the [`StrategyEntry`] each strategy file exports. The rules are in the
//! module docs of [`crate::alloc`], which re-exports all of it.
//!
//! The strategy files import these from here (`use super::model::{...}`), never through the
//! re-exports of `alloc/mod.rs`: that file lists the strategies in `ALL`, so importing it back
//! would be an import cycle (see `tests/architecture.rs`).

/// A simulated address in the heap, in bytes from its base.
pub type Addr = u64;
/// A byte count.
pub type Bytes = u64;

/// Every block address, and every block size, is a multiple of this many bytes.
pub const ALIGN: Bytes = 16;

/// The simulated address space: no block may end past this address (128 TiB, the x86-64 Linux
/// user address space). A request whose block (size rounded up, alignment padding, tags) cannot
/// end at or below it is a failed allocation for every strategy, never a smaller block.
pub const ADDRESS_LIMIT: Bytes = 1 << 47;

/// What [`Params::need`] and [`Params::block_size`] return for a block that cannot end at or
/// below [`ADDRESS_LIMIT`]: `ADDRESS_LIMIT + ALIGN`, past the ceiling (so growing by it always
/// fails [`Params::may_grow_to`]) but small enough that adding it to any address `<=
/// ADDRESS_LIMIT`, adding alignment padding of up to `2^63`, or rounding it up to a power of
/// two, a page or a size class cannot overflow a `u64`.
pub const OVERSIZED: Bytes = ADDRESS_LIMIT + ALIGN;

/// Round `n` up to the next multiple of `to` (a power of two). `n + to - 1` must not overflow,
/// which holds for every address and block size below `2^63` (see [`ADDRESS_LIMIT`]).
#[inline]
pub const fn round_up(n: Bytes, to: Bytes) -> Bytes {
    (n + (to - 1)) & !(to - 1)
}

/// What a program asked for: `size` bytes whose address is a multiple of `align`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Requested byte count, as recorded (may be 0).
    pub size: Bytes,
    /// Required alignment of the returned address: a power of two, at least [`ALIGN`].
    pub align: Bytes,
}

impl Request {
    /// A request with the default alignment of [`ALIGN`] (malloc, calloc, realloc).
    pub const fn new(size: Bytes) -> Request {
        Request { size, align: ALIGN }
    }
}

/// A block a strategy handed out.
///
/// `[start, start + size)` is everything the block occupies in the heap: the payload, rounding,
/// alignment padding and any inline header or footer. `payload` is the address returned to the
/// program; `start <= payload` and `payload + requested <= start + size`.
///
/// Two allocations are equal when they are the same block: same `start`, `size` and `payload`.
/// [`Allocation::handle`] is left out of the comparison, since it says nothing about where the
/// block is or what it holds: two strategies that place a block alike are equal however they
/// find their records of it (the differential tests compare a strategy with a reference that
/// keeps none), and a test may write the expected block as `Allocation::at(start, size)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Allocation {
    pub start: Addr,
    pub size: Bytes,
    pub payload: Addr,
    /// The strategy's own note for finding its record of this block again (`tlsf`: the index
    /// of the block's record). The engine stores it with the block and hands it back unchanged
    /// in [`Strategy::free`], [`Strategy::reallocate`] and [`Strategy::write`], as a real
    /// allocator reads its header at a fixed distance before the payload. 0 means none, and is
    /// what [`Allocation::at`] and [`Allocation::aligned`] give; a strategy that needs no note
    /// leaves it 0 and ignores it. Not part of the block: equality ignores it.
    pub handle: u32,
}

impl PartialEq for Allocation {
    /// The same block: `start`, `size` and `payload` (not `handle`, see the type's docs).
    fn eq(&self, other: &Allocation) -> bool {
        (self.start, self.size, self.payload) == (other.start, other.size, other.payload)
    }
}

impl Eq for Allocation {}

impl Allocation {
    /// A block whose payload starts at its first byte (no header, no alignment padding).
    pub const fn at(start: Addr, size: Bytes) -> Allocation {
        Allocation { start, size, payload: start, handle: 0 }
    }

    /// The block `[start, start + size)` serving `req`: its payload is the first address in it
    /// aligned to `req.align` (see [`Params::block_size`]).
    pub const fn aligned(start: Addr, size: Bytes, req: Request) -> Allocation {
        Allocation { start, size, payload: round_up(start, req.align), handle: 0 }
    }

    /// The same block carrying the strategy's note `handle` (see [`Allocation::handle`]).
    #[inline]
    pub const fn with_handle(self, handle: u32) -> Allocation {
        Allocation { handle, ..self }
    }

    /// One past the last byte the block occupies.
    pub const fn end(&self) -> Addr {
        self.start + self.size
    }
}

/// Settings shared by all strategies, from the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Smallest block handed out (`MIN` in `need`); a multiple of [`ALIGN`], at least 16.
    pub min_size: Bytes,
    /// Merge a freed block with free neighbours at once (the free-list family's `--no-coalesce`
    /// turns this off).
    pub coalesce: bool,
    /// With `--heap-limit`, growth of `top` past this many bytes fails the request.
    pub heap_limit: Option<Bytes>,
    /// `--guard`: strategies with inline metadata add a magic value to every tag and check it
    /// (costing the extra bytes); others ignore it.
    pub guard: bool,
}

impl Default for Params {
    fn default() -> Params {
        Params { min_size: ALIGN, coalesce: true, heap_limit: None, guard: false }
    }
}

impl Params {
    /// Bytes a block needs for a request of `n` bytes: `max(MIN, round_up(max(n, 1), 16))`.
    ///
    /// When that is more than [`ADDRESS_LIMIT`] (the block could never fit), it is
    /// [`OVERSIZED`] instead: still more than the ceiling, so placing the block fails, and small
    /// enough that the caller's arithmetic on it cannot overflow. So the result is either a
    /// block size that holds `n` bytes or a size no block can have: never a smaller block.
    #[inline]
    pub fn need(&self, n: Bytes) -> Bytes {
        if n > ADDRESS_LIMIT {
            return OVERSIZED;
        }
        round_up(n.max(1), ALIGN).max(self.min_size).min(OVERSIZED)
    }

    /// Bytes a block needs for `req`: `need(size)`, plus `align - 16` bytes of padding when the
    /// request asks for more than 16-byte alignment (memalign). The payload is then the first
    /// address inside the block that is a multiple of `align`; the padding is internal waste.
    ///
    /// As for [`Params::need`], a block that could not end at or below [`ADDRESS_LIMIT`] is
    /// [`OVERSIZED`] (alignments up to `2^63` included).
    #[inline]
    pub fn block_size(&self, req: Request) -> Bytes {
        let padding = req.align.max(ALIGN) - ALIGN;
        self.need(req.size).saturating_add(padding).min(OVERSIZED)
    }

    /// Whether the heap may grow so that `top` becomes `new_top`: not past [`ADDRESS_LIMIT`],
    /// nor past `--heap-limit`.
    #[inline]
    pub fn may_grow_to(&self, new_top: Bytes) -> bool {
        new_top <= ADDRESS_LIMIT && self.heap_limit.is_none_or(|limit| new_top <= limit)
    }
}

/// An allocator strategy over the simulated heap.
///
/// The engine guarantees the calls are consistent: `free`, `reallocate` and `write` only ever
/// receive an [`Allocation`] this strategy returned and has not been given back yet, exactly as
/// returned (its [`Allocation::handle`] included). A strategy is `Any` so that the engine can
/// find a heap's concrete type and compile its fastest loop for it.
pub trait Strategy: Send + std::any::Any {
    /// Place a new block for `req`. `None` when the heap would have to grow past
    /// [`Params::heap_limit`] or the block cannot end at or below [`ADDRESS_LIMIT`]; the heap
    /// is then unchanged. `req.align` may be any power of two from 16 to `2^63`.
    fn allocate(&mut self, req: Request) -> Option<Allocation>;

    /// Resize `old` to hold `req.size` bytes, in place or by moving it. `None` when that needs
    /// growth past the heap limit or past [`ADDRESS_LIMIT`]; `old` then stays allocated and
    /// unchanged, as in C's `realloc`. "Needs" is by the strategy's own realloc rules, applied
    /// in order and not retried: a rule that grows the block in place at `top` fails at the
    /// limit even where a later rule could have moved the block into free space (each
    /// strategy's module docs say which of its rules do).
    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation>;

    /// Give a block back.
    fn free(&mut self, block: Allocation);

    /// The current footprint: one past the highest address the heap ever reached.
    fn top(&self) -> Bytes;

    /// Bytes in `[0, top)` that no live block occupies, by the strategy's own accounting. The
    /// conformance suite checks `top == live consumed bytes + free_bytes` after every event.
    fn free_bytes(&self) -> Bytes;

    /// The largest request that would succeed right now without growing the heap (0 if none).
    /// Called whenever live bytes reach a new maximum, so it must be cheap: O(1) or O(log n).
    fn largest_satisfiable(&self) -> Bytes;

    /// The program wrote `len` bytes of [`WRITE_BYTE`] starting `offset` bytes after the payload
    /// of the live `block` (a `write` event). The write may run past the block (a buffer
    /// overrun); bytes at or above `top` are dropped. A strategy whose metadata lives inside
    /// the heap applies it to its bytes, and may so find its own tags damaged; one whose
    /// metadata is kept out of band ignores it (the default).
    fn write(&mut self, _block: Allocation, _offset: Bytes, _len: Bytes) {}

    /// The first damage this strategy found in its own metadata, if any. Once this is `Some`,
    /// the heap can no longer be trusted: the engine stops replaying the strategy and reports
    /// it. Strategies with out-of-band metadata are never damaged (the default).
    fn corruption(&self) -> Option<Corruption> {
        None
    }

    /// Units of work done so far: a running count, deterministic for a given trace and
    /// parameters, that each strategy defines in its module docs (list entries, tree nodes or
    /// bitmap words visited, splits, merges), precisely enough to recompute by hand. Every
    /// strategy counts 1 for each call of `allocate`, `reallocate` and `free`, whether or not it
    /// succeeds, plus what its docs say (the README's "What `work` counts" sums them up).
    /// `work_per_event` in the reports is this over the events replayed. It catches algorithmic regressions exactly, on any machine, where timings
    /// only can within their noise. Counting costs a `u64` increment where the work is done.
    fn work(&self) -> u64 {
        0
    }

    /// Whether the bytes of a freed block can ever be handed out again. A strategy that never
    /// reuses memory (`bump`) is a baseline, not a choice: the reports never mark it best nor
    /// name it in their verdict. True unless a strategy says otherwise (the default).
    fn reuses_memory(&self) -> bool {
        true
    }
}

/// The byte a `write` event stores: `0x41` (`'A'`), so that a size or link overwritten by it
/// reads as `0x4141...`, far outside any simulated heap.
pub const WRITE_BYTE: u8 = 0x41;

/// Damage a strategy found in the metadata it keeps inside the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// Address of the damaged bytes (the tag, or the link, that failed its check).
    pub at: Addr,
    /// Start of the block the damaged bytes belong to.
    pub block: Addr,
    pub kind: CorruptionKind,
}

/// How the damage showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptionKind {
    /// `--guard`: the magic value of a tag was overwritten; caught before it was used.
    GuardOverwritten,
    /// A size read from a tag is impossible: zero, not a multiple of 16, or reaching outside
    /// `[0, top)`. Without a guard this is how damage is found: after it misled the allocator.
    BadSize { size: Bytes },
    /// A block's header and footer disagree.
    TagMismatch { header: Bytes, footer: Bytes },
    /// A free-list link points outside the heap, at a block that is not free, or back to a
    /// block the walk already visited (the walk would never end).
    BrokenLink { link: Addr },
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (at, block) = (self.at, self.block);
        match self.kind {
            CorruptionKind::GuardOverwritten => {
                write!(f, "heap corruption detected at {at:#x}: guard of the block at {block:#x} overwritten")
            }
            CorruptionKind::BadSize { size } => write!(
                f,
                "heap corruption: the size tag at {at:#x} of the block at {block:#x} reads {size:#x}, \
                 which leads outside the heap"
            ),
            CorruptionKind::TagMismatch { header, footer } => write!(
                f,
                "heap corruption: the block at {block:#x} has header size {header:#x} but footer \
                 size {footer:#x} (at {at:#x})"
            ),
            CorruptionKind::BrokenLink { link } => write!(
                f,
                "heap corruption: the free-list link at {at:#x} in the block at {block:#x} points \
                 to {link:#x}, which is not a free block of this heap"
            ),
        }
    }
}

/// One registered strategy: its CLI name, a one-line description and a constructor.
#[derive(Clone, Copy)]
pub struct StrategyEntry {
    /// The name used with `--alloc` and in every report.
    pub name: &'static str,
    /// One line for `--help` and the README.
    pub about: &'static str,
    /// Make a fresh, empty heap with this strategy.
    pub new: fn(&Params) -> Box<dyn Strategy>,
}

impl StrategyEntry {
    /// Whether this strategy reuses freed memory ([`Strategy::reuses_memory`]), asked of a fresh,
    /// empty heap with the default settings (every strategy's `new` is O(1) and allocates little).
    pub fn reuses_memory(&self) -> bool {
        (self.new)(&Params::default()).reuses_memory()
    }
}

impl std::fmt::Debug for StrategyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Generators for the strategies' property tests that reach the limits: sizes near
/// [`ADDRESS_LIMIT`], 2^63 and 2^64, alignments up to 2^63.
#[cfg(test)]
pub(crate) mod limits {
    use super::{Bytes, ADDRESS_LIMIT};
    use proptest::prelude::*;

    /// A size within a few hundred bytes of a limit: the ceiling (either side), half of it
    /// (two such blocks may fit), 2^63 and 2^64 - 1 (from below).
    pub fn near_a_limit() -> impl Strategy<Value = Bytes> {
        let at = prop_oneof![
            Just(ADDRESS_LIMIT),
            Just(ADDRESS_LIMIT / 2),
            Just(1 << 63),
            Just(Bytes::MAX)
        ];
        (at, 0u64..64, any::<bool>()).prop_map(|(at, k, up)| {
            if up {
                at.saturating_add(k * 8)
            } else {
                at - k * 8
            }
        })
    }

    /// `usual` seven times in eight, else a size near a limit.
    pub fn size(usual: impl Strategy<Value = Bytes>) -> impl Strategy<Value = Bytes> {
        prop_oneof![7 => usual, 1 => near_a_limit()]
    }

    /// log2 of an alignment: `usual` five times in six, else anything from 4 (16 bytes) to 63.
    pub fn align_log2(usual: impl Strategy<Value = u32>) -> impl Strategy<Value = u32> {
        prop_oneof![5 => usual, 1 => 4u32..=63]
    }
}

/// Random traces for the strategies' differential tests (a strategy against its plain
/// reference): one call at a time, and a seeded generator for long deterministic ones.
#[cfg(test)]
pub(crate) mod random {
    use super::{Bytes, Request};
    use proptest::prelude::*;

    /// One call of a random trace. Indices pick a live block modulo the number of live blocks.
    #[derive(Clone, Copy, Debug)]
    pub enum Op {
        Allocate(Request),
        Free(usize),
        Reallocate(usize, Bytes),
    }

    /// Allocations (of `size()` bytes, mostly 16-aligned, now and then any alignment up to
    /// 2^63), frees and reallocs, 4 : 3 : 2.
    pub fn op<S: Strategy<Value = Bytes> + 'static>(size: fn() -> S) -> impl Strategy<Value = Op> {
        let align = prop_oneof![
            6 => Just(16u64),
            1 => Just(32),
            1 => Just(64),
            1 => Just(256),
            1 => (4u32..=63).prop_map(|log2| 1 << log2),
        ];
        prop_oneof![
            4 => (size(), align).prop_map(|(size, align)| Op::Allocate(Request { size, align })),
            3 => any::<usize>().prop_map(Op::Free),
            2 => (any::<usize>(), size()).prop_map(|(i, size)| Op::Reallocate(i, size)),
        ]
    }

    /// A xorshift64 generator from `seed` (not 0): the same numbers on every run.
    pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn need_rounds_up_to_sixteen_and_respects_the_minimum() {
        let p = Params::default();
        assert_eq!(p.need(0), 16);
        assert_eq!(p.need(1), 16);
        assert_eq!(p.need(16), 16);
        assert_eq!(p.need(17), 32);
        let p = Params { min_size: 64, ..Params::default() };
        assert_eq!(p.need(1), 64);
        assert_eq!(p.need(65), 80);
    }

    #[test]
    fn a_block_past_the_address_space_is_oversized_never_smaller() {
        let p = Params::default();
        assert_eq!(p.need(ADDRESS_LIMIT), ADDRESS_LIMIT);
        assert_eq!(p.need(ADDRESS_LIMIT - 15), ADDRESS_LIMIT);
        for n in [ADDRESS_LIMIT + 1, u64::MAX - 15, u64::MAX] {
            assert_eq!(p.need(n), OVERSIZED, "{n}");
            assert_eq!(p.block_size(Request { size: n, align: 1 << 63 }), OVERSIZED, "{n}");
        }
        // Padding for the alignment past the ceiling, however small the size.
        assert_eq!(p.block_size(Request { size: 1, align: 1 << 63 }), OVERSIZED);
        assert_eq!(p.block_size(Request { size: 32, align: ADDRESS_LIMIT }), OVERSIZED);
        assert_eq!(p.block_size(Request { size: 16, align: ADDRESS_LIMIT }), ADDRESS_LIMIT);
        let huge_min = Params { min_size: 1 << 60, ..Params::default() };
        assert_eq!(huge_min.need(1), OVERSIZED);
        // Room for the arithmetic strategies do on it.
        assert!(OVERSIZED.checked_add(ADDRESS_LIMIT).is_some());
        assert!(OVERSIZED.checked_add(1 << 63).is_some());
        assert!(OVERSIZED.checked_next_power_of_two().is_some());
    }

    #[test]
    fn the_heap_may_never_grow_past_the_address_space() {
        assert!(Params::default().may_grow_to(ADDRESS_LIMIT));
        assert!(!Params::default().may_grow_to(ADDRESS_LIMIT + 1));
        let above = Params { heap_limit: Some(u64::MAX), ..Params::default() };
        assert!(!above.may_grow_to(OVERSIZED));
        let below = Params { heap_limit: Some(4096), ..Params::default() };
        assert!(below.may_grow_to(4096) && !below.may_grow_to(4112));
    }
}
