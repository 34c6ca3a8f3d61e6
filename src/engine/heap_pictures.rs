//! Heap layouts for the report's pictures: what every byte of a strategy's heap holds (live
//! payload, internal waste, free) at the peak event, and how that changes over the trace.
//!
//! They come from the metrics pass itself, as a probe ([`LayoutProbe`], only with `--report`),
//! so no strategy is replayed again. The probe keeps the bytes of each kind per address bin up
//! to date as blocks come and go: O(bins a block covers) per event, usually one or two, so a
//! timeline row costs O(columns), not a walk over every live block. Two things are known only
//! at the end of the pass, and the probe is built around them:
//! - the heap's final extent: bins are powers of two bytes wide, and when the heap outgrows
//!   them every pair of bins is merged into one (exact: bins hold byte counts), rows taken
//!   earlier are merged the same way at the end;
//! - the peak event (the first event at which live bytes reach their maximum, the metrics
//!   pass's rule): the probe logs the block changes since the latest new maximum, so that at the
//!   end it can undo them, newest first, to get the heap as it was at the peak. The log is
//!   bounded: when it holds [`LOG_LIMIT`] changes, the probe undoes them on a copy of the map's
//!   bins, keeps that copy as the snapshot of the heap at the latest peak, and logs nothing more
//!   until live bytes reach a new maximum (which makes the snapshot stale and starts a new log).
//!
//! # Bounded state
//! What the probe holds does not grow with the trace's length or with the sizes it requests:
//! the requested size per block id (like the engine's table, per block id), the bins of the map
//! (`MAP_COLUMNS * MAP_MAX_ROWS`) and of its snapshot, at most [`TIMELINE_ROWS`] timeline rows
//! of [`TIMELINE_COLUMNS`] bins, and a log of at most [`LOG_LIMIT`] changes (40 bytes each).
//! The time stays linear: a new maximum costs O(1) (the log is emptied, the snapshot marked
//! stale; a ramp of successive maxima never takes one), and a snapshot costs O(bins +
//! [`LOG_LIMIT`]) once per [`LOG_LIMIT`] changes logged, a few operations per event amortised.
//! (A snapshot at every new maximum would cost O(bins) each, 25,600 words per event on a ramp;
//! a second pass to the peak event the metrics found would replay every strategy again.) The
//! pictures are exactly those an unbounded log gives: bins hold byte counts, so undoing changes
//! on a copy and widening it later (merging pairs of bins) commute.
//!
//! Every address computation saturates: a block reaching near 2^64 (which no strategy hands
//! out, but a figure must not depend on that) widens the bins until they cover every address,
//! and no loop runs past that.
//!
//! Binning is honest and says so: a cell stands for a stated number of bytes and holds the
//! exact count of its bytes of each kind ([`Cell`]), which the charts draw in proportion.

use super::probe::{HeapState, Outcome, Probe};
use crate::alloc::{Allocation, Bytes, Strategy, ALIGN};
use crate::trace::Event;

/// Columns of the heap map; its rows wrap the address space like lines of text.
pub const MAP_COLUMNS: usize = 200;
/// The heap map has at most this many rows: larger heaps get larger cells.
pub const MAP_MAX_ROWS: usize = 64;
/// Columns of the heap timeline, spanning `[0, peak footprint)`.
pub const TIMELINE_COLUMNS: usize = 200;
/// Rows of the heap timeline (fewer when the trace has fewer events).
pub const TIMELINE_ROWS: usize = 120;
/// Block changes the probe logs after a new maximum of live bytes before it snapshots the heap
/// at that peak instead (see the module docs): 16384, 640 KiB of log.
pub const LOG_LIMIT: usize = 1 << 14;

/// The bytes of one cell of a heap picture, by what they hold. `live + waste + free` is the
/// part of the cell below the heap's top: the whole cell, less what reaches past the top (all
/// zero for a cell wholly outside the heap). Exact: the sums over a picture's cells are the
/// heap's live requested bytes, its live blocks' other bytes, and its free bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cell {
    /// Bytes a live block's program asked for.
    pub live: Bytes,
    /// Bytes of live blocks the program did not ask for: rounding, headers, alignment padding.
    pub waste: Bytes,
    /// Heap bytes below `top` in no live block.
    pub free: Bytes,
}

impl Cell {
    /// The cell's bytes below the heap's top.
    pub fn inside(&self) -> Bytes {
        self.live.saturating_add(self.waste).saturating_add(self.free)
    }
}

/// The heap of one strategy right after its peak event (the first event at which live
/// requested bytes reach their maximum), cut into rows of [`MAP_COLUMNS`] cells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeapMap {
    pub event: u64,
    /// `top` after the event: the cells cover `[0, footprint)`.
    pub footprint: Bytes,
    /// Bytes per cell: a power of two, at least 16.
    pub cell_bytes: Bytes,
    pub columns: usize,
    /// Row after row; the last row is padded with empty cells (outside the heap).
    pub cells: Vec<Cell>,
}

/// The heap of one strategy over time: row `i` is the address space `[0, width)` after event
/// `events[i]`, cut into `columns` cells (at most [`TIMELINE_COLUMNS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeapTimeline {
    /// The strategy's peak footprint, rounded up to a whole cell: every row spans it.
    pub width: Bytes,
    pub cell_bytes: Bytes,
    pub columns: usize,
    /// Increasing event indices, one per row.
    pub events: Vec<u64>,
    pub cells: Vec<Cell>,
}

/// Both pictures of one strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeapPictures {
    pub allocator: &'static str,
    pub map: HeapMap,
    pub timeline: HeapTimeline,
}

/// Bytes of live payload and of waste in each of a fixed number (at least 2) of bins from
/// address 0, each `1 << shift` bytes wide; the bins double in width when a block reaches past
/// them, until they cover every address (`shift` then stays below 64). Counts add and subtract
/// modulo 2^64, so undoing a change is exact whatever the blocks (even overlapping ones).
#[derive(Clone, Debug)]
struct Bins {
    shift: u32,
    live: Vec<Bytes>,
    waste: Vec<Bytes>,
}

impl Bins {
    fn new(count: usize) -> Bins {
        debug_assert!(count >= 2);
        Bins { shift: ALIGN.trailing_zeros(), live: vec![0; count], waste: vec![0; count] }
    }

    /// One past the last address the bins cover; `Bytes::MAX` once they cover every address.
    fn capacity(&self) -> Bytes {
        let count = self.live.len() as Bytes;
        if count > Bytes::MAX >> self.shift {
            Bytes::MAX
        } else {
            count << self.shift
        }
    }

    /// Widen the bins (merging pairs) until they reach `end`. At most 64 rounds: the capacity
    /// saturates at `Bytes::MAX` before `shift` reaches 64, as there are at least 2 bins.
    fn reach(&mut self, end: Bytes) {
        while self.capacity() < end {
            self.widen();
        }
    }

    /// Double the width of every bin.
    fn widen(&mut self) {
        self.shift += 1;
        merge_pairs(&mut self.live);
        merge_pairs(&mut self.waste);
    }

    /// Add (`add`) or take away the bytes `[start, end)` to the bins of `live` or waste bytes.
    /// The bins must reach `end`.
    #[inline]
    fn range(&mut self, start: Bytes, end: Bytes, live: bool, add: bool) {
        let bins = if live { &mut self.live } else { &mut self.waste };
        let mut at = start;
        while at < end {
            let i = (at >> self.shift) as usize;
            let bin_end = ((i as Bytes) << self.shift).saturating_add(1 << self.shift);
            let n = end.min(bin_end) - at;
            let Some(bin) = bins.get_mut(i) else { return };
            *bin = if add { bin.wrapping_add(n) } else { bin.wrapping_sub(n) };
            at += n;
        }
    }

    /// Add or take away a block: its payload's first `requested` bytes live, the rest waste.
    /// Clamped to the block, so no sum overflows whatever a strategy returned.
    #[inline]
    fn block(&mut self, block: Allocation, requested: Bytes, add: bool) {
        let end = block.start.saturating_add(block.size);
        if end > self.capacity() {
            self.reach(end);
        }
        let payload = block.payload.clamp(block.start, end);
        let payload_end = payload.saturating_add(requested).min(end);
        self.range(block.start, payload, false, add);
        self.range(payload, payload_end, true, add);
        self.range(payload_end, end, false, add);
    }

    /// Widen to `shift` (no narrower than now).
    fn widen_to(&mut self, shift: u32) {
        while self.shift < shift {
            self.widen();
        }
    }
}

/// `v[i] = v[2i] + v[2i + 1]`, zeros after.
fn merge_pairs(v: &mut [Bytes]) {
    for i in 0..v.len() {
        v[i] = match v.get(2 * i) {
            Some(&a) => a.wrapping_add(v.get(2 * i + 1).copied().unwrap_or(0)),
            None => 0,
        };
    }
}

/// The cells of `live.len()` bins of `cell` bytes in a heap whose `top` is `top`. Bins hold
/// exact counts; the clamps only keep a cell's kinds within its bytes whatever a strategy did.
fn cells<'a>(
    live: &'a [Bytes],
    waste: &'a [Bytes],
    cell: Bytes,
    top: Bytes,
) -> impl Iterator<Item = Cell> + 'a {
    live.iter().zip(waste).enumerate().map(move |(i, (&live, &waste))| {
        let start = (i as Bytes).checked_mul(cell).unwrap_or(Bytes::MAX);
        if start >= top {
            return Cell::default();
        }
        let inside = start.saturating_add(cell).min(top) - start;
        let live = live.min(inside);
        let waste = waste.min(inside - live);
        Cell { live, waste, free: inside - live - waste }
    })
}

/// The event indices after which the timeline's rows are taken: `rows` evenly spaced, the last
/// one being the last event.
pub fn timeline_events(events: u64, rows: usize) -> Vec<u64> {
    let rows = (rows as u64).min(events);
    (1..=rows).map(|k| k * events / rows - 1).collect()
}

/// A timeline row as taken: the bins then, and the heap's top.
#[derive(Debug)]
struct Row {
    event: u64,
    top: Bytes,
    bins: Bins,
}

/// Draws the heap pictures during the metrics pass (see the module docs). Allocates its tables
/// up front and, while replaying, only for block ids past the table, for timeline rows (120 at
/// most), for the change log (at most [`LOG_LIMIT`] entries) and for one snapshot of the map.
#[derive(Debug)]
pub struct LayoutProbe {
    /// Requested bytes per live block id (outcomes do not say it for a block that goes).
    requested: Vec<Bytes>,
    timeline: Bins,
    rows_at: Vec<u64>,
    rows: Vec<Row>,
    /// The map's bins now.
    map: Bins,
    /// The map's bins right after the latest peak event, when `snapshot_fresh`; then nothing is
    /// logged. Kept between snapshots so that taking one allocates nothing.
    snapshot: Option<Bins>,
    snapshot_fresh: bool,
    /// Block changes since the latest new maximum, `(block, requested, added)`, while there is
    /// no fresh snapshot: at most `log_limit` of them.
    log: Vec<(Allocation, Bytes, bool)>,
    /// [`LOG_LIMIT`]; smaller in tests, to show the snapshot changes nothing.
    log_limit: usize,
    max_live: Bytes,
    peak_event: u64,
    peak_top: Bytes,
    top: Bytes,
}

impl LayoutProbe {
    /// A probe for a trace of `events` events and `blocks` block ids.
    pub fn new(events: u64, blocks: u32) -> LayoutProbe {
        let rows_at = timeline_events(events, TIMELINE_ROWS);
        LayoutProbe {
            requested: vec![0; blocks as usize],
            timeline: Bins::new(TIMELINE_COLUMNS),
            rows: Vec::with_capacity(rows_at.len()),
            rows_at,
            map: Bins::new(MAP_COLUMNS * MAP_MAX_ROWS),
            snapshot: None,
            snapshot_fresh: false,
            log: Vec::new(),
            log_limit: LOG_LIMIT,
            max_live: 0,
            peak_event: 0,
            peak_top: 0,
            top: 0,
        }
    }

    #[inline]
    fn change(&mut self, block: Allocation, requested: Bytes, add: bool) {
        self.timeline.block(block, requested, add);
        self.map.block(block, requested, add);
        if !self.snapshot_fresh {
            self.log.push((block, requested, add));
            if self.log.len() >= self.log_limit {
                self.take_snapshot();
            }
        }
    }

    /// The map as it was right after the latest peak: the bins now with the log undone, newest
    /// change first. Empties the log; O(bins + log).
    #[cold]
    fn take_snapshot(&mut self) {
        let snapshot = match &mut self.snapshot {
            Some(snapshot) => {
                snapshot.shift = self.map.shift;
                snapshot.live.copy_from_slice(&self.map.live);
                snapshot.waste.copy_from_slice(&self.map.waste);
                snapshot
            }
            None => self.snapshot.insert(self.map.clone()),
        };
        for &(block, requested, added) in self.log.iter().rev() {
            snapshot.block(block, requested, !added);
        }
        self.log.clear();
        self.snapshot_fresh = true;
    }

    /// Block changes held in the log now (at most [`LOG_LIMIT`]).
    #[cfg(test)]
    fn logged_changes(&self) -> usize {
        self.log.len()
    }

    /// The pictures of `allocator`'s heap.
    pub fn finish(mut self, allocator: &'static str) -> HeapPictures {
        // The heap map: the heap at the peak, at the final width of the bins.
        if !self.snapshot_fresh {
            self.take_snapshot();
        }
        let mut at_peak = self.snapshot.take().unwrap_or_else(|| self.map.clone());
        at_peak.widen_to(self.map.shift);
        let map_cell: Bytes = 1 << at_peak.shift;
        let rows = (self.peak_top.div_ceil(map_cell) as usize)
            .div_ceil(MAP_COLUMNS)
            .clamp(1, MAP_MAX_ROWS);
        let count = rows * MAP_COLUMNS;
        let map = HeapMap {
            event: self.peak_event,
            footprint: self.peak_top,
            cell_bytes: map_cell,
            columns: MAP_COLUMNS,
            cells: cells(&at_peak.live[..count], &at_peak.waste[..count], map_cell, self.peak_top)
                .collect(),
        };
        // The timeline: every row at the final width of the bins.
        self.timeline.reach(self.top);
        let shift = self.timeline.shift;
        let cell: Bytes = 1 << shift;
        // Bins double, so the heap may fill little more than half of them: keep those it used.
        let used = (self.top.div_ceil(cell) as usize).clamp(1, TIMELINE_COLUMNS);
        let mut timeline = HeapTimeline {
            width: (used as Bytes).saturating_mul(cell),
            cell_bytes: cell,
            columns: used,
            events: Vec::with_capacity(self.rows.len()),
            cells: Vec::with_capacity(self.rows.len() * TIMELINE_COLUMNS),
        };
        for mut row in self.rows {
            row.bins.widen_to(shift);
            timeline.events.push(row.event);
            let (live, waste) = (&row.bins.live[..used], &row.bins.waste[..used]);
            timeline.cells.extend(cells(live, waste, cell, row.top));
        }
        HeapPictures { allocator, map, timeline }
    }
}

impl Probe for LayoutProbe {
    #[inline]
    fn after_event(
        &mut self,
        index: u64,
        event: &Event,
        outcome: Outcome,
        heap: &HeapState,
        strategy: &dyn Strategy,
    ) {
        let id = event.id as usize;
        if id >= self.requested.len() {
            self.requested.resize(id + 1, 0);
        }
        match outcome {
            Outcome::Placed { old, new, requested } => {
                if let Some(old) = old {
                    self.change(old, self.requested[id], false);
                }
                self.change(new, requested, true);
                self.requested[id] = requested;
            }
            Outcome::Freed(block) => self.change(block, self.requested[id], false),
            Outcome::Failed
            | Outcome::IgnoredFree
            | Outcome::Wrote { .. }
            | Outcome::StrayWrite => {}
        }
        // The same rule as the metrics pass's peak event.
        if heap.live_requested > self.max_live || index == 0 {
            self.max_live = heap.live_requested;
            self.peak_event = index;
            self.peak_top = strategy.top();
            self.map.reach(self.peak_top);
            self.log.clear();
            self.snapshot_fresh = false;
        }
        if self.rows_at.get(self.rows.len()) == Some(&index) {
            let top = strategy.top();
            self.top = self.top.max(top);
            self.timeline.reach(top);
            self.rows.push(Row { event: index, top, bins: self.timeline.clone() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::{bump, Params, Request, StrategyEntry, ALL};
    use crate::engine::replayer::Replayer;
    use crate::trace::synth::steady_state;

    fn heap_pictures(events: &[Event], blocks: u32) -> HeapPictures {
        pictures_with_log_limit(&bump::ENTRY, events, blocks, LOG_LIMIT)
    }

    fn pictures_with_log_limit(
        entry: &StrategyEntry,
        events: &[Event],
        blocks: u32,
        log_limit: usize,
    ) -> HeapPictures {
        let mut replayer = Replayer::new(entry, &Params::default(), blocks);
        let mut probe = LayoutProbe::new(events.len() as u64, blocks);
        probe.log_limit = log_limit;
        replayer.run(events, 0, &mut probe);
        probe.finish(entry.name)
    }

    #[test]
    fn the_layout_probe_state_does_not_grow_with_the_event_count() {
        // 100 blocks, then 200,000 events that free one and allocate it again: live bytes never
        // pass their first maximum, so every change after it would have to be remembered.
        let mut events: Vec<Event> = (0..100).map(|id| Event::malloc(id, 64)).collect();
        for k in 0..100_000 {
            events.push(Event::free(k % 100));
            events.push(Event::malloc(k % 100, 64));
        }
        let mut replayer = Replayer::new(&bump::ENTRY, &Params::default(), 100);
        let mut probe = LayoutProbe::new(events.len() as u64, 100);
        let mut done = 0;
        for chunk in events.chunks(10_000) {
            replayer.run(chunk, done, &mut probe);
            done += chunk.len() as u64;
            assert!(probe.logged_changes() <= LOG_LIMIT, "{} changes", probe.logged_changes());
            assert!(probe.log.capacity() <= LOG_LIMIT);
            assert!(probe.rows.len() <= TIMELINE_ROWS);
        }
        let p = probe.finish("bump");
        assert_eq!(p.map.event, 99);
        assert_eq!(p.map.footprint, 100 * 64);
        let top = 100 * 64 + 100_000 * 64;
        let t = &p.timeline;
        assert!(t.width >= top && t.width - top < t.cell_bytes, "{}", t.width);
    }

    #[test]
    fn a_bounded_log_draws_the_same_pictures_as_an_unbounded_one() {
        // Churn makes new maxima now and then: snapshots are taken, made stale, taken again.
        let trace = steady_state(300, 6000, 7);
        for entry in ALL {
            let unbounded = pictures_with_log_limit(entry, &trace.events, trace.blocks, usize::MAX);
            for limit in [1, 2, 7, 100, LOG_LIMIT] {
                let bounded = pictures_with_log_limit(entry, &trace.events, trace.blocks, limit);
                assert_eq!(bounded, unbounded, "{} with a log of {limit}", entry.name);
            }
        }
    }

    /// A strategy whose `top` is whatever the test says (the probe asks only that of it).
    struct Top(Bytes);

    impl Strategy for Top {
        fn allocate(&mut self, _: Request) -> Option<Allocation> {
            None
        }
        fn reallocate(&mut self, _: Allocation, _: Request) -> Option<Allocation> {
            None
        }
        fn free(&mut self, _: Allocation) {}
        fn top(&self) -> Bytes {
            self.0
        }
        fn free_bytes(&self) -> Bytes {
            0
        }
        fn largest_satisfiable(&self) -> Bytes {
            0
        }
    }

    #[test]
    fn heap_pictures_of_a_request_near_two_to_the_sixty_four_terminate() {
        // Blocks no strategy hands out (they end near or at 2^64, or are smaller than their
        // request): the pictures still come out, covering every address, and nothing overflows.
        let huge = [
            (Allocation { start: 0, size: u64::MAX - 15, payload: 16, handle: 0 }, u64::MAX),
            (
                Allocation { start: 1 << 63, size: (1 << 63) - 16, payload: 1 << 63, handle: 0 },
                1 << 62,
            ),
            (Allocation { start: u64::MAX - 15, size: 16, payload: u64::MAX, handle: 0 }, u64::MAX),
        ];
        for (block, requested) in huge {
            let events = [Event::malloc(0, requested), Event::free(0), Event::malloc(0, 1)];
            let mut probe = LayoutProbe::new(events.len() as u64, 1);
            let top = Top(block.start.saturating_add(block.size));
            let mut heap = HeapState { live_requested: requested, ..HeapState::default() };
            let placed = Outcome::Placed { old: None, new: block, requested };
            probe.after_event(0, &events[0], placed, &heap, &top);
            heap.live_requested = 0;
            probe.after_event(1, &events[1], Outcome::Freed(block), &heap, &top);
            let small = Allocation { start: 0, size: 16, payload: 0, handle: 0 };
            let placed = Outcome::Placed { old: None, new: small, requested: 1 };
            probe.after_event(2, &events[2], placed, &heap, &top);
            let p = probe.finish("huge");
            assert_eq!((p.map.event, p.map.footprint), (0, top.0));
            assert!(p.map.cells.len() <= MAP_COLUMNS * MAP_MAX_ROWS);
            assert!(p.map.cell_bytes.checked_mul(MAP_COLUMNS as Bytes).is_some());
            assert_eq!(p.timeline.events, [0, 1, 2]);
            assert_eq!(p.timeline.cells.len(), 3 * p.timeline.columns);
            let t = &p.timeline;
            assert!(t.width >= top.0 - t.cell_bytes && t.cell_bytes.is_power_of_two());
            // Live where the payload fits the block (not in the last block: it has none).
            assert_eq!(p.map.cells.iter().any(|c| c.live > 0), block.payload < top.0);
        }
    }

    #[test]
    fn timeline_rows_are_evenly_spaced_and_end_at_the_last_event() {
        assert_eq!(timeline_events(10, 5), [1, 3, 5, 7, 9]);
        assert_eq!(timeline_events(3, 5), [0, 1, 2]);
        assert!(timeline_events(0, 5).is_empty());
    }

    /// A cell of `live`, `waste` and `free` bytes.
    fn c(live: Bytes, waste: Bytes, free: Bytes) -> Cell {
        Cell { live, waste, free }
    }

    #[test]
    fn the_heap_map_shows_payload_rounding_and_holes() {
        // bump: 20 -> [0,32) (20 live, 12 waste), 16 -> [32,48), freed, 32 -> [48,80).
        let events =
            [Event::malloc(0, 20), Event::malloc(1, 16), Event::free(1), Event::malloc(2, 32)];
        let p = heap_pictures(&events, 3);
        let m = &p.map;
        assert_eq!((m.footprint, m.cell_bytes), (80, 16));
        // Cells of 16 bytes: [0,16) live, [16,32) 4 live + 12 waste, [32,48) free, then live.
        let expected = [c(16, 0, 0), c(4, 12, 0), c(0, 0, 16), c(16, 0, 0), c(16, 0, 0)];
        assert_eq!(&m.cells[..5], expected);
        assert!(m.cells[5..].iter().all(|&cell| cell == Cell::default()));
        assert_eq!(m.cells.len() % MAP_COLUMNS, 0);
    }

    #[test]
    fn a_cell_keeps_the_bytes_of_every_kind_it_holds_not_only_the_most() {
        // bump; the 9600-byte block widens the timeline's cells to 64 bytes. After the last
        // event, [0,64) holds a 20-byte request in a 32-byte block (20 live, 12 waste), a freed
        // 16-byte block, then 16 bytes of the last block, whose request fills it.
        let events =
            [Event::malloc(0, 20), Event::malloc(1, 16), Event::free(1), Event::malloc(2, 9600)];
        let t = heap_pictures(&events, 3).timeline;
        assert_eq!((t.cell_bytes, t.columns), (64, 9648usize.div_ceil(64)));
        let last_row = &t.cells[3 * t.columns..];
        assert_eq!(last_row[0], c(20 + 16, 12, 16));
        // The heap's last cell ends at its top, 48 + 9600 = 9648: 48 bytes of it inside.
        assert_eq!(last_row[t.columns - 1], c(48, 0, 0));
        let sum = |kind: fn(&Cell) -> Bytes| last_row.iter().map(kind).sum::<Bytes>();
        assert_eq!((sum(|c| c.live), sum(|c| c.waste), sum(|c| c.free)), (9620, 12, 16));
    }

    #[test]
    fn the_heap_map_is_the_heap_at_the_peak_even_when_it_changed_after() {
        // Live bytes 32, 64, 32, 48: the peak is event 1, with both blocks live.
        let events =
            [Event::malloc(0, 32), Event::malloc(1, 32), Event::free(0), Event::malloc(2, 16)];
        let m = heap_pictures(&events, 3).map;
        assert_eq!((m.event, m.footprint), (1, 64));
        assert_eq!(&m.cells[..5], [c(16, 0, 0), c(16, 0, 0), c(16, 0, 0), c(16, 0, 0), c(0, 0, 0)]);
    }

    #[test]
    fn bins_widen_by_merging_pairs_when_the_heap_outgrows_them() {
        // 200 cells of 16 bytes hold 3200 bytes; a 9600-byte block needs cells of 64.
        let events = [Event::malloc(0, 16), Event::malloc(1, 9600)];
        let t = heap_pictures(&events, 2).timeline;
        assert_eq!(t.cell_bytes, 64);
        // Row 0 was taken with 16-byte cells, merged to 64: the cell ends at the top (16).
        assert_eq!(&t.cells[..2], [c(16, 0, 0), Cell::default()]);
        let row1 = &t.cells[t.columns..2 * t.columns];
        assert_eq!(row1.iter().filter(|c| c.live > 0).count(), 9616usize.div_ceil(64));
        assert_eq!(row1.iter().map(|c| c.live).sum::<Bytes>(), 9616);
    }

    #[test]
    fn the_timeline_tracks_blocks_as_they_come_and_go() {
        let events = [Event::malloc(0, 32), Event::malloc(1, 32), Event::free(0), Event::free(1)];
        let p = heap_pictures(&events, 2);
        let t = &p.timeline;
        assert_eq!(t.events, [0, 1, 2, 3]);
        assert_eq!(t.cell_bytes, 16);
        let row = |r: usize| &t.cells[r * t.columns..r * t.columns + 4];
        let (live, free, none) = (c(16, 0, 0), c(0, 0, 16), Cell::default());
        assert_eq!(row(0), [live, live, none, none]);
        assert_eq!(row(1), [live, live, live, live]);
        assert_eq!(row(2), [free, free, live, live]);
        assert_eq!(row(3), [free, free, free, free]);
    }
}
