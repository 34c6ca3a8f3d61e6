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
//! - the peak event (the last time live bytes reached a new maximum): the probe logs the block
//!   changes since the latest new maximum, and at the end undoes them, newest first, to get the
//!   heap as it was at the peak.
//!
//! Binning is honest and says so: a cell stands for a stated number of bytes and takes the
//! colour of the kind holding most of its bytes.

use crate::alloc::{Allocation, Bytes, Strategy, ALIGN};
use crate::replay::{HeapState, Outcome, Probe};
use crate::trace::Event;

/// Columns of the heap map; its rows wrap the address space like lines of text.
pub const MAP_COLUMNS: usize = 200;
/// The heap map has at most this many rows: larger heaps get larger cells.
pub const MAP_MAX_ROWS: usize = 64;
/// Columns of the heap timeline, spanning `[0, peak footprint)`.
pub const TIMELINE_COLUMNS: usize = 200;
/// Rows of the heap timeline (fewer when the trace has fewer events).
pub const TIMELINE_ROWS: usize = 120;

/// What the bytes of a cell mostly hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Bytes a live block's program asked for.
    Live,
    /// Bytes of live blocks the program did not ask for: rounding, headers, alignment padding.
    Waste,
    /// Heap bytes below `top` in no live block.
    Free,
    /// Addresses at or above `top`: not part of the heap (yet).
    Outside,
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
    /// Row after row; the last row is padded with [`Kind::Outside`].
    pub cells: Vec<Kind>,
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
    pub cells: Vec<Kind>,
}

/// Both pictures of one strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeapPictures {
    pub allocator: &'static str,
    pub map: HeapMap,
    pub timeline: HeapTimeline,
}

/// Bytes of live payload and of waste in each of a fixed number of bins from address 0, each
/// `1 << shift` bytes wide; the bins double in width when a block reaches past them.
#[derive(Clone, Debug)]
struct Bins {
    shift: u32,
    live: Vec<Bytes>,
    waste: Vec<Bytes>,
}

impl Bins {
    fn new(count: usize) -> Bins {
        Bins { shift: ALIGN.trailing_zeros(), live: vec![0; count], waste: vec![0; count] }
    }

    fn capacity(&self) -> Bytes {
        (self.live.len() as Bytes) << self.shift
    }

    /// Widen the bins (merging pairs) until they reach `end`.
    fn reach(&mut self, end: Bytes) {
        while self.capacity() < end {
            self.shift += 1;
            merge_pairs(&mut self.live);
            merge_pairs(&mut self.waste);
        }
    }

    /// Add (`add`) or take away the bytes `[start, end)` to the bins of `live` or waste bytes.
    #[inline]
    fn range(&mut self, start: Bytes, end: Bytes, live: bool, add: bool) {
        let bins = if live { &mut self.live } else { &mut self.waste };
        let mut at = start;
        while at < end {
            let i = (at >> self.shift) as usize;
            let n = end.min((i as Bytes + 1) << self.shift) - at;
            if add {
                bins[i] += n;
            } else {
                bins[i] -= n;
            }
            at += n;
        }
    }

    #[inline]
    fn block(&mut self, block: Allocation, requested: Bytes, add: bool) {
        if block.end() > self.capacity() {
            self.reach(block.end());
        }
        let payload_end = block.payload + requested;
        self.range(block.start, block.payload, false, add);
        self.range(block.payload, payload_end, true, add);
        self.range(payload_end, block.end(), false, add);
    }
}

/// `v[i] = v[2i] + v[2i + 1]`, zeros after.
fn merge_pairs(v: &mut [Bytes]) {
    for i in 0..v.len() {
        v[i] = if 2 * i < v.len() { v[2 * i] + v.get(2 * i + 1).copied().unwrap_or(0) } else { 0 };
    }
}

/// The kind of each of `live.len()` bins of `cell` bytes in a heap whose `top` is `top`.
fn kinds<'a>(
    live: &'a [Bytes],
    waste: &'a [Bytes],
    cell: Bytes,
    top: Bytes,
) -> impl Iterator<Item = Kind> + 'a {
    live.iter().zip(waste).enumerate().map(move |(i, (&live, &waste))| {
        let start = i as Bytes * cell;
        if start >= top {
            return Kind::Outside;
        }
        let inside = (start + cell).min(top) - start;
        let free = inside.saturating_sub(live + waste);
        if live >= waste && live >= free {
            Kind::Live
        } else if waste >= free {
            Kind::Waste
        } else {
            Kind::Free
        }
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
/// up front and, while replaying, only when the heap outgrows the bins, for timeline rows
/// (120 at most), and for the change log, which grows to the number of events after the last
/// new maximum of live bytes.
#[derive(Debug)]
pub struct LayoutProbe {
    /// Requested bytes per live block id (outcomes do not say it for a block that goes).
    requested: Vec<Bytes>,
    timeline: Bins,
    rows_at: Vec<u64>,
    rows: Vec<Row>,
    map: Bins,
    /// Block changes since the latest new maximum: `(block, requested, added)`.
    log: Vec<(Allocation, Bytes, bool)>,
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
            log: Vec::new(),
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
        self.log.push((block, requested, add));
    }

    /// The pictures of `allocator`'s heap.
    pub fn finish(mut self, allocator: &'static str) -> HeapPictures {
        // The heap map: undo the changes after the peak.
        for &(block, requested, added) in self.log.iter().rev() {
            self.map.block(block, requested, !added);
        }
        let map_cell: Bytes = 1 << self.map.shift;
        let rows = (self.peak_top.div_ceil(map_cell) as usize).div_ceil(MAP_COLUMNS).max(1);
        let cells = rows * MAP_COLUMNS;
        let map = HeapMap {
            event: self.peak_event,
            footprint: self.peak_top,
            cell_bytes: map_cell,
            columns: MAP_COLUMNS,
            cells: kinds(
                &self.map.live[..cells],
                &self.map.waste[..cells],
                map_cell,
                self.peak_top,
            )
            .collect(),
        };
        // The timeline: every row at the final width of the bins.
        self.timeline.reach(self.top);
        let shift = self.timeline.shift;
        let cell: Bytes = 1 << shift;
        // Bins double, so the heap may fill little more than half of them: keep those it used.
        let used = (self.top.div_ceil(cell) as usize).clamp(1, TIMELINE_COLUMNS);
        let mut timeline = HeapTimeline {
            width: used as Bytes * cell,
            cell_bytes: cell,
            columns: used,
            events: Vec::with_capacity(self.rows.len()),
            cells: Vec::with_capacity(self.rows.len() * TIMELINE_COLUMNS),
        };
        for mut row in self.rows {
            while row.bins.shift < shift {
                row.bins.shift += 1;
                merge_pairs(&mut row.bins.live);
                merge_pairs(&mut row.bins.waste);
            }
            timeline.events.push(row.event);
            let (live, waste) = (&row.bins.live[..used], &row.bins.waste[..used]);
            timeline.cells.extend(kinds(live, waste, cell, row.top));
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
    use crate::alloc::{bump, Params};
    use crate::replay::Replayer;

    fn heap_pictures(events: &[Event], blocks: u32) -> HeapPictures {
        let mut replayer = Replayer::new(&bump::ENTRY, &Params::default(), blocks);
        let mut probe = LayoutProbe::new(events.len() as u64, blocks);
        replayer.run(events, 0, &mut probe);
        probe.finish("bump")
    }

    #[test]
    fn timeline_rows_are_evenly_spaced_and_end_at_the_last_event() {
        assert_eq!(timeline_events(10, 5), [1, 3, 5, 7, 9]);
        assert_eq!(timeline_events(3, 5), [0, 1, 2]);
        assert!(timeline_events(0, 5).is_empty());
    }

    #[test]
    fn the_heap_map_shows_payload_rounding_and_holes() {
        // bump: 20 -> [0,32) (20 live, 12 waste), 16 -> [32,48), freed, 32 -> [48,80).
        let events =
            [Event::malloc(0, 20), Event::malloc(1, 16), Event::free(1), Event::malloc(2, 32)];
        let p = heap_pictures(&events, 3);
        let m = &p.map;
        assert_eq!((m.footprint, m.cell_bytes), (80, 16));
        use Kind::*;
        // Cells of 16 bytes: [0,16) live, [16,32) 4 live + 12 waste, [32,48) free, then live.
        assert_eq!(&m.cells[..6], [Live, Waste, Free, Live, Live, Outside]);
        assert!(m.cells[5..].iter().all(|&k| k == Outside));
        assert_eq!(m.cells.len() % MAP_COLUMNS, 0);
    }

    #[test]
    fn the_heap_map_is_the_heap_at_the_peak_even_when_it_changed_after() {
        // Live bytes 32, 64, 32, 48: the peak is event 1, with both blocks live.
        let events =
            [Event::malloc(0, 32), Event::malloc(1, 32), Event::free(0), Event::malloc(2, 16)];
        let m = heap_pictures(&events, 3).map;
        assert_eq!((m.event, m.footprint), (1, 64));
        use Kind::*;
        assert_eq!(&m.cells[..5], [Live, Live, Live, Live, Outside]);
    }

    #[test]
    fn bins_widen_by_merging_pairs_when_the_heap_outgrows_them() {
        // 200 cells of 16 bytes hold 3200 bytes; a 9600-byte block needs cells of 64.
        let events = [Event::malloc(0, 16), Event::malloc(1, 9600)];
        let t = heap_pictures(&events, 2).timeline;
        assert_eq!(t.cell_bytes, 64);
        use Kind::*;
        // Row 0 was taken with 16-byte cells, merged to 64: the cell ends at the top (16).
        assert_eq!(&t.cells[..2], [Live, Outside]);
        let row1 = &t.cells[t.columns..2 * t.columns];
        assert_eq!(row1.iter().filter(|&&k| k == Live).count(), 9616usize.div_ceil(64));
    }

    #[test]
    fn the_timeline_tracks_blocks_as_they_come_and_go() {
        let events = [Event::malloc(0, 32), Event::malloc(1, 32), Event::free(0), Event::free(1)];
        let p = heap_pictures(&events, 2);
        let t = &p.timeline;
        assert_eq!(t.events, [0, 1, 2, 3]);
        assert_eq!(t.cell_bytes, 16);
        let row = |r: usize| &t.cells[r * t.columns..r * t.columns + 4];
        use Kind::*;
        assert_eq!(row(0), [Live, Live, Outside, Outside]);
        assert_eq!(row(1), [Live, Live, Live, Live]);
        assert_eq!(row(2), [Free, Free, Live, Live]);
        assert_eq!(row(3), [Free, Free, Free, Free]);
    }
}
