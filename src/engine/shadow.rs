//! The shadow heap model: what a strategy hands out must obey, checked against a copy of the live
//! ranges that does not trust the strategy. One model for both `--verify` (the [`Verifier`]
//! turns each [`Problem`] into a finding) and the conformance suite (`tests/conformance.rs`
//! fails on any).
//!
//! The rules, after every event:
//! - a placed block has a size, starts at a multiple of 16 and spans a multiple of 16 bytes, its
//!   payload is aligned as requested, the requested bytes fit between payload and block end, and
//!   the block lies inside `[0, top)`;
//! - no placed block overlaps another live block, and only live blocks are given back;
//! - `top` never decreases, and `top == live consumed bytes + the strategy's free bytes` (the
//!   footprint identity: no byte is lost or counted twice).
//!
//! Cost: O(log n) in live blocks per placement or free, O(1) per heap check.
//!
//! [`Verifier`]: super::verify::Verifier

use crate::alloc::{Addr, Allocation, Bytes, ALIGN};
use crate::trace::{Event, Op};
use std::collections::BTreeMap;
use std::fmt;

/// A broken rule of the heap model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A block of size 0 was placed at `start`.
    Empty { start: Addr },
    /// The block `[start, end)` does not start or end at a multiple of 16.
    Misaligned { start: Addr, end: Addr },
    /// The payload is not aligned to what the request asked for.
    PayloadMisaligned { payload: Addr, align: Bytes },
    /// The block cannot hold the requested bytes at its payload.
    TooSmall { start: Addr, end: Addr, requested: Bytes, payload: Addr },
    /// The block ends past `top`.
    PastTop { start: Addr, end: Addr, top: Bytes },
    /// The block overlaps the live block `[other_start, other_end)`.
    Overlap { start: Addr, end: Addr, other_start: Addr, other_end: Addr },
    /// A block starting at `start` was given back, but no live block starts there.
    NotLive { start: Addr },
    /// `top` went down.
    TopShrank { from: Bytes, to: Bytes },
    /// `top != live consumed + free bytes`.
    FootprintIdentity { top: Bytes, live_consumed: Bytes, free: Bytes },
}

impl Problem {
    /// Whether the problem is with a block just placed (the verifier says "placement: ").
    pub fn is_placement(&self) -> bool {
        !matches!(
            self,
            Problem::NotLive { .. } | Problem::TopShrank { .. } | Problem::FootprintIdentity { .. }
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Problem::Empty { start } => write!(f, "block at {start:#x} has size 0"),
            Problem::Misaligned { start, end } => {
                write!(f, "block [{start:#x}, {end:#x}) is not 16-byte aligned")
            }
            Problem::PayloadMisaligned { payload, align } => {
                write!(f, "payload {payload:#x} is not aligned to {align}")
            }
            Problem::TooSmall { start, end, requested, payload } => write!(
                f,
                "block [{start:#x}, {end:#x}) cannot hold {requested} bytes at {payload:#x}"
            ),
            Problem::PastTop { start, end, top } => {
                write!(f, "block [{start:#x}, {end:#x}) reaches past top {top:#x}")
            }
            Problem::Overlap { start, end, other_start: s, other_end: e } => {
                write!(f, "block [{start:#x}, {end:#x}) overlaps the live block [{s:#x}, {e:#x})")
            }
            Problem::NotLive { start } => write!(f, "freed block at {start:#x} was not live"),
            Problem::TopShrank { from, to } => write!(f, "top shrank from {from:#x} to {to:#x}"),
            Problem::FootprintIdentity { top, live_consumed, free } => write!(
                f,
                "footprint identity broken: top {top} != live consumed {live_consumed} + free \
                 {free}"
            ),
        }
    }
}

/// The live ranges and the highest `top` seen, kept from what the strategy returned.
#[derive(Clone, Debug, Default)]
pub struct Shadow {
    /// Live blocks: start -> end.
    live: BTreeMap<Addr, Addr>,
    /// `top` at the latest [`Shadow::check_heap`].
    top: Bytes,
}

impl Shadow {
    /// The alignment the payload of `event`'s block must have: a memalign's, else 16.
    pub fn alignment(event: &Event) -> Bytes {
        if event.op == Op::Memalign {
            event.align()
        } else {
            ALIGN
        }
    }

    /// Live blocks.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Check `block`, placed for `requested` bytes aligned to `align` in a heap of `top` bytes,
    /// and add it to the live ranges (even when it breaks a rule). The problems come in the
    /// order of the rules in the module docs; none when the placement is sound.
    pub fn place(
        &mut self,
        block: Allocation,
        requested: Bytes,
        align: Bytes,
        top: Bytes,
    ) -> Vec<Problem> {
        let (start, end, payload) = (block.start, block.end(), block.payload);
        let mut problems = Vec::new();
        if block.size == 0 {
            problems.push(Problem::Empty { start });
        }
        if start % ALIGN != 0 || (end - start) % ALIGN != 0 {
            problems.push(Problem::Misaligned { start, end });
        }
        if payload % align != 0 {
            problems.push(Problem::PayloadMisaligned { payload, align });
        }
        if payload < start || payload.saturating_add(requested) > end {
            problems.push(Problem::TooSmall { start, end, requested, payload });
        }
        if end > top {
            problems.push(Problem::PastTop { start, end, top });
        }
        let below = self.live.range(..end).next_back().map(|(s, e)| (*s, *e));
        if let Some((other_start, other_end)) = below.filter(|&(_, e)| e > start) {
            problems.push(Problem::Overlap { start, end, other_start, other_end });
        }
        self.live.insert(start, end);
        problems
    }

    /// Take `block` out of the live ranges: a problem if it was not there.
    pub fn remove(&mut self, block: Allocation) -> Option<Problem> {
        match self.live.remove(&block.start) {
            Some(_) => None,
            None => Some(Problem::NotLive { start: block.start }),
        }
    }

    /// Check the heap after an event: `top` did not go down since the last check, and it is
    /// `live_consumed + free` (the engine's and the strategy's sums).
    pub fn check_heap(&mut self, top: Bytes, live_consumed: Bytes, free: Bytes) -> Vec<Problem> {
        let mut problems = Vec::new();
        if top < self.top {
            problems.push(Problem::TopShrank { from: self.top, to: top });
        }
        self.top = top;
        if live_consumed.checked_add(free) != Some(top) {
            problems.push(Problem::FootprintIdentity { top, live_consumed, free });
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shadow_names_every_broken_rule_of_a_placement() {
        let mut shadow = Shadow::default();
        assert!(shadow.place(Allocation::at(0, 32), 20, 16, 64).is_empty());
        // Overlaps [0, 32), misaligned, payload not aligned to 64, and past top.
        let bad = Allocation { start: 24, size: 40, payload: 24, handle: 0 };
        let problems = shadow.place(bad, 8, 64, 48);
        assert_eq!(
            problems,
            [
                Problem::Misaligned { start: 24, end: 64 },
                Problem::PayloadMisaligned { payload: 24, align: 64 },
                Problem::PastTop { start: 24, end: 64, top: 48 },
                Problem::Overlap { start: 24, end: 64, other_start: 0, other_end: 32 },
            ]
        );
        assert_eq!(shadow.len(), 2);
        assert_eq!(shadow.remove(Allocation::at(128, 16)), Some(Problem::NotLive { start: 128 }));
    }

    #[test]
    fn the_shadow_catches_a_shrinking_heap_and_lost_bytes() {
        let mut shadow = Shadow::default();
        assert!(shadow.check_heap(64, 48, 16).is_empty());
        assert_eq!(
            shadow.check_heap(32, 16, 0),
            [
                Problem::TopShrank { from: 64, to: 32 },
                Problem::FootprintIdentity { top: 32, live_consumed: 16, free: 0 }
            ]
        );
    }
}
