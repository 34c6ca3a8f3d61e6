//! Heap layouts for the report's pictures: what every byte of a strategy's heap holds (live
//! payload, internal waste, free) at the peak event, and how that changes over the trace.
//!
//! The peak event and the peak footprint of a strategy are known only after its metrics pass,
//! and a picture needs them (the snapshot is taken at the peak, and the timeline's address axis
//! spans the peak footprint). So the layouts come from one more replay per strategy, after the
//! metrics pass and only with `--report`. That replay keeps the bytes of each kind per
//! address bin up to date as blocks come and go (O(bins a block covers) per event, usually one
//! or two), so a timeline row costs O(columns), not a walk over every live block.
//!
//! Binning is honest and says so: a cell stands for a stated number of bytes and takes the
//! colour of the kind holding most of its bytes.

use crate::alloc::Strategy;
use crate::alloc::{Addr, Allocation, Bytes, Params, StrategyEntry, ALIGN};
use crate::replay::{HeapState, Outcome, Probe, Replayer};
use crate::trace::Event;
use rayon::prelude::*;

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
/// `events[i]`, cut into `columns` cells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeapTimeline {
    /// The strategy's peak footprint, which every row spans.
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

/// Bytes of live payload and of waste in each of `cell_bytes`-sized bins from address 0.
struct Bins {
    cell_bytes: Bytes,
    live: Vec<Bytes>,
    waste: Vec<Bytes>,
}

impl Bins {
    fn new(cell_bytes: Bytes, columns: usize) -> Bins {
        Bins { cell_bytes, live: vec![0; columns], waste: vec![0; columns] }
    }

    /// Add (`sign` true) or take away the bytes `[start, end)` to the bins of `live` or waste.
    fn range(&mut self, start: Addr, end: Addr, live: bool, add: bool) {
        let bins = if live { &mut self.live } else { &mut self.waste };
        let mut at = start;
        while at < end {
            let i = (at / self.cell_bytes) as usize;
            let bin_end = (i as Bytes + 1) * self.cell_bytes;
            let n = end.min(bin_end) - at;
            if let Some(b) = bins.get_mut(i) {
                if add {
                    *b += n;
                } else {
                    *b -= n;
                }
            } else {
                return;
            }
            at += n;
        }
    }

    fn block(&mut self, (block, requested): (Allocation, Bytes), add: bool) {
        let payload_end = block.payload + requested;
        self.range(block.start, block.payload, false, add);
        self.range(block.payload, payload_end, true, add);
        self.range(payload_end, block.end(), false, add);
    }

    /// The kind of each bin in a heap whose `top` is `top`.
    fn kinds(&self, top: Bytes) -> impl Iterator<Item = Kind> + '_ {
        self.live.iter().zip(&self.waste).enumerate().map(move |(i, (&live, &waste))| {
            let start = i as Bytes * self.cell_bytes;
            if start >= top {
                return Kind::Outside;
            }
            let inside = (start + self.cell_bytes).min(top) - start;
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
}

/// The event indices after which the timeline's rows are taken: `rows` evenly spaced, the last
/// one being the last event.
pub fn timeline_events(events: u64, rows: usize) -> Vec<u64> {
    let rows = (rows as u64).min(events);
    (1..=rows).map(|k| k * events / rows - 1).collect()
}

/// Keeps [`Bins`] up to date as blocks come and go. Outcomes name blocks but not what was
/// requested for a block that goes, so the probe keeps the requested size per block id (one
/// table, allocated up front: nothing is allocated while replaying).
struct LayoutProbe {
    bins: Bins,
    requested: Vec<Bytes>,
}

impl Probe for LayoutProbe {
    #[inline]
    fn after_event(
        &mut self,
        _index: u64,
        event: &Event,
        outcome: Outcome,
        _heap: &HeapState,
        _strategy: &dyn Strategy,
    ) {
        let id = event.id as usize;
        if id >= self.requested.len() {
            self.requested.resize(id + 1, 0);
        }
        match outcome {
            Outcome::Placed { old, new, requested } => {
                if let Some(old) = old {
                    self.bins.block((old, self.requested[id]), false);
                }
                self.bins.block((new, requested), true);
                self.requested[id] = requested;
            }
            Outcome::Freed(block) => self.bins.block((block, self.requested[id]), false),
            Outcome::Failed
            | Outcome::IgnoredFree
            | Outcome::Wrote { .. }
            | Outcome::StrayWrite => {}
        }
    }
}

/// The heap pictures of `entry` on `events`, whose metrics pass found the peak at `peak_event`
/// and the peak footprint `peak_footprint`. One replay, in chunks between the rows of the
/// timeline; stops where the strategy found its metadata damaged (the rows after that are left
/// out).
pub fn heap_pictures(
    entry: &StrategyEntry,
    params: &Params,
    events: &[Event],
    blocks: u32,
    peak_event: u64,
    peak_footprint: Bytes,
) -> HeapPictures {
    let mut replayer = Replayer::new(entry, params, blocks);
    let columns = TIMELINE_COLUMNS;
    let cell_bytes = peak_footprint.div_ceil(columns as Bytes).next_multiple_of(ALIGN).max(ALIGN);
    let mut probe =
        LayoutProbe { bins: Bins::new(cell_bytes, columns), requested: vec![0; blocks as usize] };
    let rows = timeline_events(events.len() as u64, TIMELINE_ROWS);
    let mut timeline = HeapTimeline {
        width: peak_footprint,
        cell_bytes,
        columns,
        events: Vec::with_capacity(rows.len()),
        cells: Vec::with_capacity(rows.len() * columns),
    };
    let mut stops = rows.clone();
    if (peak_event as usize) < events.len() {
        stops.push(peak_event);
    }
    stops.sort_unstable();
    stops.dedup();
    let mut map = None;
    let mut next = 0u64;
    for stop in stops {
        let chunk = &events[next as usize..=stop as usize];
        if replayer.run(chunk, next, &mut probe) < chunk.len() as u64 {
            break;
        }
        next = stop + 1;
        if stop == peak_event {
            map = Some(heap_map(&replayer, stop));
        }
        if rows.binary_search(&stop).is_ok() {
            timeline.events.push(stop);
            timeline.cells.extend(probe.bins.kinds(replayer.strategy().top()));
        }
    }
    let map = map.unwrap_or_else(|| heap_map(&replayer, peak_event));
    HeapPictures { allocator: entry.name, map, timeline }
}

/// The heap map of the replayer's heap as it is now (after event `event`). O(ids ever used +
/// cells).
fn heap_map(replayer: &Replayer, event: u64) -> HeapMap {
    let footprint = replayer.strategy().top();
    let max_cells = (MAP_COLUMNS * MAP_MAX_ROWS) as Bytes;
    let cell_bytes = footprint.div_ceil(max_cells).next_power_of_two().max(ALIGN);
    let rows = (footprint.div_ceil(cell_bytes) as usize).div_ceil(MAP_COLUMNS).max(1);
    let mut bins = Bins::new(cell_bytes, rows * MAP_COLUMNS);
    for block in replayer.live_blocks() {
        bins.block(block, true);
    }
    HeapMap {
        event,
        footprint,
        cell_bytes,
        columns: MAP_COLUMNS,
        cells: bins.kinds(footprint).collect(),
    }
}

/// The pictures of every strategy, in parallel: `peaks[i]` is `(peak_event, peak_footprint)` of
/// `entries[i]`.
pub fn all_heap_pictures(
    entries: &[&'static StrategyEntry],
    peaks: &[(u64, Bytes)],
    params: &Params,
    events: &[Event],
    blocks: u32,
) -> Vec<HeapPictures> {
    entries
        .par_iter()
        .zip(peaks)
        .map(|(entry, &(event, footprint))| {
            heap_pictures(entry, params, events, blocks, event, footprint)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::bump;

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
        let p = heap_pictures(&bump::ENTRY, &Params::default(), &events, 3, 3, 80);
        let m = &p.map;
        assert_eq!((m.footprint, m.cell_bytes), (80, 16));
        use Kind::*;
        // Cells of 16 bytes: [0,16) live, [16,32) 4 live + 12 waste, [32,48) free, then live.
        assert_eq!(&m.cells[..6], [Live, Waste, Free, Live, Live, Outside]);
        assert!(m.cells[5..].iter().all(|&k| k == Outside));
        assert_eq!(m.cells.len() % MAP_COLUMNS, 0);
    }

    #[test]
    fn the_timeline_tracks_blocks_as_they_come_and_go() {
        let events = [Event::malloc(0, 32), Event::malloc(1, 32), Event::free(0), Event::free(1)];
        let p = heap_pictures(&bump::ENTRY, &Params::default(), &events, 2, 1, 64);
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
