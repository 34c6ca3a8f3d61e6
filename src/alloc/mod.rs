//! Allocator strategies: the shared heap model, the [`Strategy`] trait every strategy implements,
//! and the registry [`ALL`] that `--alloc all` means.
//!
//! # The heap model
//! Every strategy manages a simulated address range `[0, top)`. It starts empty (`top == 0`) and
//! grows upward only when a request cannot be served from free space, like `sbrk`; `top` never
//! decreases, and the footprint of a heap is `top`. Every block address is a multiple of
//! [`ALIGN`]. A request of `n` bytes needs a block of [`Params::need`]`(n) = max(MIN,
//! round_up(max(n, 1), 16))` bytes, where `MIN` is `--min-size` (16 by default).
//!
//! Strategies never see recorded pointers or block ids: the replay engine keeps the table of live
//! blocks and hands a strategy back the [`Allocation`] it returned when the block is freed or
//! reallocated. That keeps strategies free of bookkeeping that is not part of their design.
//!
//! # Adding a strategy
//! Write one file in this folder that exports a `pub const ENTRY: StrategyEntry` (with its own
//! tests), and list that entry once in [`ALL`]. Help text, name validation, `--alloc all` and the
//! conformance suite in `tests/conformance.rs` all follow from that list.

pub mod bump;
pub mod freelist;
pub mod tlsf;

/// A simulated address in the heap, in bytes from its base.
pub type Addr = u64;
/// A byte count.
pub type Bytes = u64;

/// Every block address, and every block size, is a multiple of this many bytes.
pub const ALIGN: Bytes = 16;

/// Round `n` up to the next multiple of `to` (a power of two).
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allocation {
    pub start: Addr,
    pub size: Bytes,
    pub payload: Addr,
}

impl Allocation {
    /// A block whose payload starts at its first byte (no header, no alignment padding).
    pub const fn at(start: Addr, size: Bytes) -> Allocation {
        Allocation { start, size, payload: start }
    }

    /// The block `[start, start + size)` serving `req`: its payload is the first address in it
    /// aligned to `req.align` (see [`Params::block_size`]).
    pub const fn aligned(start: Addr, size: Bytes, req: Request) -> Allocation {
        Allocation { start, size, payload: round_up(start, req.align) }
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
}

impl Default for Params {
    fn default() -> Params {
        Params { min_size: ALIGN, coalesce: true, heap_limit: None }
    }
}

impl Params {
    /// Bytes a block needs for a request of `n` bytes: `max(MIN, round_up(max(n, 1), 16))`.
    ///
    /// Saturates instead of overflowing for absurd sizes (they fail at the heap limit, or grow a
    /// simulated heap that never exists in memory).
    #[inline]
    pub fn need(&self, n: Bytes) -> Bytes {
        let n = n.clamp(1, Bytes::MAX - ALIGN);
        round_up(n, ALIGN).max(self.min_size)
    }

    /// Bytes a block needs for `req`: `need(size)`, plus `align - 16` bytes of padding when the
    /// request asks for more than 16-byte alignment (memalign). The payload is then the first
    /// address inside the block that is a multiple of `align`; the padding is internal waste.
    #[inline]
    pub fn block_size(&self, req: Request) -> Bytes {
        self.need(req.size).saturating_add(req.align.max(ALIGN) - ALIGN)
    }

    /// Whether the heap may grow so that `top` becomes `new_top`.
    #[inline]
    pub fn may_grow_to(&self, new_top: Bytes) -> bool {
        self.heap_limit.is_none_or(|limit| new_top <= limit)
    }
}

/// An allocator strategy over the simulated heap.
///
/// The engine guarantees the calls are consistent: `free` and `reallocate` only ever receive an
/// [`Allocation`] this strategy returned and has not been given back yet.
pub trait Strategy: Send {
    /// Place a new block for `req`. `None` when the heap would have to grow past
    /// [`Params::heap_limit`]; the heap is then unchanged.
    fn allocate(&mut self, req: Request) -> Option<Allocation>;

    /// Resize `old` to hold `req.size` bytes, in place or by moving it. `None` when that needs
    /// growth past the heap limit; `old` then stays allocated and unchanged, as in C's `realloc`.
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

impl std::fmt::Debug for StrategyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every strategy `replay` knows, in report order. `--alloc all` means this list.
pub static ALL: &[StrategyEntry] = &[
    bump::ENTRY,
    freelist::FIRST_FIT,
    freelist::NEXT_FIT,
    freelist::BEST_FIT,
    freelist::WORST_FIT,
    tlsf::ENTRY,
];

/// Look a strategy up by its CLI name.
pub fn by_name(name: &str) -> Option<&'static StrategyEntry> {
    ALL.iter().find(|entry| entry.name == name)
}

/// The valid names, comma-separated, for error messages.
pub fn names() -> String {
    ALL.iter().map(|entry| entry.name).collect::<Vec<_>>().join(", ")
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
    fn strategy_names_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(ALL[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
        }
    }
}
