//! The conformance suite: every registered strategy (everything in `alloc::ALL`) replays random
//! allocation streams under a shadow model of live ranges that fails on overlap, misalignment,
//! out-of-heap addresses, a shrinking heap or accounting drift, and that expects a request to
//! fail exactly when its block cannot fit under the address-space ceiling (`ADDRESS_LIMIT`).

use proptest::prelude::*;
use replay::alloc::{Allocation, Params, Request, StrategyEntry, ADDRESS_LIMIT, ALIGN, ALL};
use replay::engine::{NoProbe, Outcome, Replayer};
use replay::trace::{BlockId, Event, Op};
use std::collections::BTreeMap;

/// Strategies that cannot hand freed memory back as one block (`bump` never reuses memory).
const NEVER_REUSES: &[&str] = &["bump"];

/// Strategies whose heap is capped below the address-space ceiling: they may refuse a request
/// that would fit under `ADDRESS_LIMIT`. (boundary-tag's sparse arena stops at
/// `boundary_tag::ARENA_LIMIT`, 16 GiB; every other rule of the shadow holds for it.)
const CAPPED_BELOW_THE_CEILING: &[&str] = &["boundary-tag"];

/// Whether a request of `size` bytes aligned to `align` cannot fit under the ceiling for any
/// strategy: its block, at least `need(size)` bytes, and at least `align - 16` bytes of padding
/// (or, without padding, `align` bytes aligned to itself), would end past `ADDRESS_LIMIT`.
fn cannot_fit(params: &Params, size: u64, align: u64) -> bool {
    params.need(size) > ADDRESS_LIMIT || align > ADDRESS_LIMIT
}

/// Whether a strategy may refuse a request, without a heap limit, when its heap reaches `top`:
/// only when even a generous bound on where its block could end passes the ceiling. That bound
/// covers every strategy's rounding: `top + block` for the free-list family, bump and tlsf,
/// whole pages or a 7-page slab for slab, tags for boundary-tag, and buddy's doubling of the
/// heap to a power of two of up to twice the block (`2 * top + 4 * block`).
fn may_fail(params: &Params, top: u64, size: u64, align: u64) -> bool {
    let block = params.block_size(Request { size, align });
    params.heap_limit.is_some() || 2 * top + 4 * block + 32 * 1024 > ADDRESS_LIMIT
}

/// Live ranges as the engine sees them: `start -> (end, id)`.
#[derive(Default)]
struct Shadow {
    live: BTreeMap<u64, (u64, BlockId)>,
}

impl Shadow {
    fn insert(
        &mut self,
        who: &str,
        id: BlockId,
        b: Allocation,
        requested: u64,
        align: u64,
        top: u64,
    ) {
        assert!(b.size > 0, "{who}: block {id} has size 0");
        assert_eq!(b.start % ALIGN, 0, "{who}: block {id} at {:#x} is not 16-aligned", b.start);
        assert_eq!(b.size % ALIGN, 0, "{who}: block {id} size {} is not a multiple of 16", b.size);
        assert_eq!(b.payload % align, 0, "{who}: payload of {id} not aligned to {align}");
        assert!(b.payload >= b.start, "{who}: payload of {id} before its block");
        assert!(b.payload + requested <= b.end(), "{who}: block {id} too small for {requested}");
        assert!(b.end() <= top, "{who}: block {id} ends at {:#x}, above top {top:#x}", b.end());
        if let Some((&s, &(e, other))) = self.live.range(..b.end()).next_back() {
            assert!(
                e <= b.start,
                "{who}: block {id} [{:#x},{:#x}) overlaps block {other} [{s:#x},{e:#x})",
                b.start,
                b.end()
            );
        }
        self.live.insert(b.start, (b.end(), id));
    }

    fn remove(&mut self, b: Allocation) {
        self.live.remove(&b.start).expect("shadow knows every live block");
    }
}

/// Replay `events` through `entry`, checking every invariant after every event. Returns the
/// replayer at the end.
fn replay_checked(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
) -> Replayer {
    let who = entry.name;
    let mut replayer = Replayer::new(entry, params, blocks);
    let mut shadow = Shadow::default();
    let mut top = 0;
    for (i, event) in events.iter().enumerate() {
        let before = replayer.block(event.id);
        let outcome = replayer.apply(i as u64, event, &mut NoProbe);
        let after = replayer.block(event.id);
        let strategy = replayer.strategy();
        let align = if event.op == Op::Memalign { event.align() } else { ALIGN };
        if event.op.allocates() || event.op == Op::Realloc {
            let failed = outcome == Outcome::Failed;
            if cannot_fit(params, event.size, align) {
                assert!(
                    failed,
                    "{who}: event {i} ({event:?}) cannot fit under the ceiling, yet got {after:?}"
                );
            } else if failed && !CAPPED_BELOW_THE_CEILING.contains(&who) {
                assert!(
                    may_fail(params, top, event.size, align),
                    "{who}: event {i} ({event:?}) fits under the ceiling (top {top:#x}), yet failed"
                );
            }
            if failed {
                assert_eq!(before, after, "{who}: a failed event {i} changed its block");
                assert_eq!(strategy.top(), top, "{who}: a failed event {i} grew the heap");
            }
        }
        assert!(strategy.top() >= top, "{who}: top shrank at event {i}");
        top = strategy.top();
        assert!(top <= ADDRESS_LIMIT, "{who}: top {top:#x} is past the ceiling at event {i}");
        if before != after {
            if let Some(b) = before {
                shadow.remove(b);
            }
            if let Some(b) = after {
                shadow.insert(who, event.id, b, event.size, align, top);
            }
        }
        let heap = replayer.heap();
        assert_eq!(
            top,
            heap.live_consumed + strategy.free_bytes(),
            "{who}: footprint != live consumed + free bytes after event {i} ({event:?})"
        );
        assert!(
            strategy.largest_satisfiable() <= strategy.free_bytes(),
            "{who}: largest satisfiable request exceeds free bytes after event {i}"
        );
        assert_eq!(heap.live_blocks as usize, shadow.live.len(), "{who}: live count drifted");
    }
    replayer
}

/// One step of a random stream: an op byte (picks allocate, free, realloc or memalign, and the
/// block), a size and log2 of a memalign's alignment.
type Step = (u8, u64, u8);

/// Request sizes: mostly small, about one in eight near a limit: just below and above the
/// address-space ceiling, at half of it, near 2^63 and near 2^64.
fn size() -> impl Strategy<Value = u64> {
    let near =
        |at: u64| {
            (0u64..64, any::<bool>()).prop_map(move |(k, up)| {
                if up {
                    at.saturating_add(k * 8)
                } else {
                    at - k * 8
                }
            })
        };
    prop_oneof![
        28 => 0u64..1200,
        1 => near(ADDRESS_LIMIT),
        1 => near(ADDRESS_LIMIT / 2),
        1 => near(1 << 63),
        1 => near(u64::MAX),
    ]
}

/// log2 of a memalign's alignment: mostly 4 to 7 (16 to 128 bytes), sometimes anything up to 63.
fn align_log2() -> impl Strategy<Value = u8> {
    prop_oneof![6 => 4u8..8, 1 => 4u8..=63]
}

fn step() -> impl Strategy<Value = Step> {
    (any::<u8>(), size(), align_log2())
}

/// A random but valid event stream from `steps`.
fn events_from(steps: &[Step]) -> (Vec<Event>, u32) {
    let mut events = Vec::new();
    let mut live: Vec<BlockId> = Vec::new();
    let mut next: BlockId = 0;
    for &(op, size, align_log2) in steps {
        let pick = |n: usize| usize::from(op) * 7919 % n.max(1);
        match op % 8 {
            0..=2 => {
                events.push(Event::malloc(next, size));
                live.push(next);
                next += 1;
            }
            3 => {
                events.push(Event::memalign(next, size, 1 << align_log2));
                live.push(next);
                next += 1;
            }
            4..=6 if !live.is_empty() => {
                events.push(Event::free(live.swap_remove(pick(live.len()))));
            }
            7 if !live.is_empty() => events.push(Event::realloc(live[pick(live.len())], size)),
            _ => {
                events.push(Event::calloc(next, size));
                live.push(next);
                next += 1;
            }
        }
    }
    // Free everything left, so the end state is an empty heap.
    events.extend(live.into_iter().map(Event::free));
    (events, next)
}

fn params_strategy() -> impl Strategy<Value = Params> {
    (
        prop_oneof![Just(16u64), Just(64)],
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(8192u64))],
    )
        .prop_map(|(min_size, coalesce, heap_limit)| Params {
            min_size,
            coalesce,
            heap_limit,
            ..Params::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_strategy_keeps_the_heap_invariants_on_random_streams(
        steps in proptest::collection::vec(step(), 1..400),
        params in params_strategy(),
    ) {
        let (events, blocks) = events_from(&steps);
        for entry in ALL {
            let replayer = replay_checked(entry, &params, &events, blocks);
            let strategy = replayer.strategy();
            prop_assert_eq!(replayer.heap().live_consumed, 0);
            if params.coalesce && !NEVER_REUSES.contains(&entry.name) {
                prop_assert_eq!(
                    strategy.largest_satisfiable(), strategy.top(),
                    "{}: freeing everything with coalescing on must leave one free block", entry.name
                );
            }
        }
    }
}

#[test]
fn every_strategy_survives_a_large_steady_state_trace() {
    let trace = replay::trace::synth::steady_state(2_000, 20_000, 42);
    for entry in ALL {
        replay_checked(entry, &Params::default(), &trace.events, trace.blocks);
    }
}

#[test]
fn every_strategy_counts_failures_at_the_heap_limit_and_ignores_their_frees() {
    // Two 4000-byte blocks fit under a 10000-byte limit in every strategy (even with headers or
    // power-of-two rounding); the third cannot, and its free is ignored.
    let events = [
        Event::malloc(0, 4000),
        Event::malloc(1, 4000),
        Event::malloc(2, 4000),
        Event::free(2),
        Event::free(1),
        Event::free(0),
    ];
    let params = Params { heap_limit: Some(10_000), ..Params::default() };
    for entry in ALL {
        let replayer = replay_checked(entry, &params, &events, 3);
        let heap = replayer.heap();
        assert_eq!((heap.failed_allocations, heap.ignored_frees), (1, 1), "{}", entry.name);
        assert!(replayer.strategy().top() <= 10_000, "{}", entry.name);
    }
}

#[test]
fn a_request_near_two_to_the_sixty_four_fails_for_every_strategy() {
    const LIMIT: u64 = ADDRESS_LIMIT;
    let events = [
        Event::malloc(0, 16),
        Event::malloc(1, u64::MAX),
        Event::malloc(2, u64::MAX - 15),
        Event::memalign(3, 16, 1 << 63),
        Event::malloc(4, LIMIT + 1),
        // Realloc to a size that cannot fit: fails, block 0 stays as it was.
        Event::realloc(0, u64::MAX),
        Event::realloc(0, LIMIT + 1),
        Event::free(1),
        Event::free(2),
        Event::free(3),
        Event::free(4),
        Event::free(0),
    ];
    for entry in ALL {
        let replayer = replay_checked(entry, &Params::default(), &events, 5);
        let heap = replayer.heap();
        assert_eq!(
            (heap.failed_allocations, heap.ignored_frees),
            (6, 4),
            "{}: every request past the address-space ceiling fails",
            entry.name
        );
        assert!(replayer.strategy().top() <= LIMIT, "{}", entry.name);
    }
}
