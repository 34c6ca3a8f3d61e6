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
//! # The address-space ceiling
//! The simulated address space ends at [`ADDRESS_LIMIT`] (2^47 bytes, 128 TiB: the user address
//! space of x86-64 Linux). No block may end past it, and `top` never exceeds it. A request whose
//! block (its size rounded up, alignment padding, tags, a power-of-two or size-class rounding:
//! whatever the strategy's rules make of it) cannot end at or below the ceiling is a *failed
//! allocation*, for every strategy, as one past `--heap-limit` is: `allocate` and `reallocate`
//! return `None`, the heap is unchanged, a failed `reallocate` keeps the old block, and the engine
//! counts it in `failed_allocations`. Never a smaller block. Because every address and every
//! block a strategy deals in is then at most about 2^47, strategies do their address arithmetic
//! in `u64` without overflow; [`Params::need`] and [`Params::block_size`] return
//! [`OVERSIZED`] for requests that cannot fit, a value past the ceiling that is still small
//! enough for such arithmetic.
//!
//! Strategies never see recorded pointers or block ids: the replay engine keeps the table of live
//! blocks and hands a strategy back the [`Allocation`] it returned when the block is freed or
//! reallocated. That keeps strategies free of bookkeeping that is not part of their design.
//!
//! # Files
//! `model.rs` defines everything above and what the strategies share: the types and limits, the
//! [`Strategy`] trait, [`Corruption`] and [`StrategyEntry`]; this file re-exports it all (so
//! `crate::alloc::Strategy` is the path outside this folder) and owns only the registry. A
//! strategy file imports from `model.rs` directly (`use super::model::{...}`), never from this
//! file: this file names every strategy in [`ALL`], so importing it back would be an import cycle
//! (`tests/architecture.rs`). For the same reason `slowdown::parse` is handed `ALL` by its caller.
//!
//! # Adding a strategy
//! Write one file in this folder that exports a `pub const ENTRY: StrategyEntry` (with its own
//! tests), and list that entry once in [`ALL`]. Help text, name validation, `--alloc all` and the
//! conformance suite in `tests/conformance.rs` all follow from that list.

pub mod boundary_tag;
pub mod buddy;
pub mod bump;
pub mod freelist;
mod model;
pub mod slab;
pub mod slowdown;
pub mod tlsf;

pub use model::{
    round_up, Addr, Allocation, Bytes, Corruption, CorruptionKind, Params, Request, Strategy,
    StrategyEntry, ADDRESS_LIMIT, ALIGN, OVERSIZED, WRITE_BYTE,
};

/// Every strategy `replay` knows, in report order. `--alloc all` means this list.
pub static ALL: &[StrategyEntry] = &[
    bump::ENTRY,
    freelist::FIRST_FIT,
    freelist::NEXT_FIT,
    freelist::BEST_FIT,
    freelist::WORST_FIT,
    boundary_tag::ENTRY,
    slab::ENTRY,
    buddy::ENTRY,
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
    fn strategy_names_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(ALL[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
        }
    }

    #[test]
    fn a_slowed_strategy_fails_past_the_address_space_like_its_own() {
        // Here rather than in slowdown.rs, which must not import `ALL` (see `slowdown::parse`).
        use slowdown::Slowdown;
        for entry in ALL {
            for how in [Slowdown::Repeat(2), Slowdown::Spin(1)] {
                let params = Params::default();
                let mut slowed = slowdown::new_strategy(entry, &params, Some(how));
                let a = slowed.allocate(Request::new(100)).unwrap();
                assert_eq!(slowed.allocate(Request::new(u64::MAX)), None, "{} {how:?}", entry.name);
                let huge = Request { size: 16, align: 1 << 63 };
                assert_eq!(slowed.allocate(huge), None, "{} {how:?}", entry.name);
                let grown = slowed.reallocate(a, Request::new(u64::MAX));
                assert_eq!(grown, None, "{} {how:?}", entry.name);
                assert!(slowed.top() < 1 << 20, "{} {how:?}", entry.name);
                slowed.free(a);
            }
        }
    }
}
