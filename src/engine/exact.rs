//! The exact memory figures ([`MemoryStats`]), kept up to date after every event of the metrics
//! pass by [`MetricsProbe`]. Their definitions are in [`crate::metrics`].

use super::probe::{HeapState, Outcome, Probe};
use crate::alloc::Strategy;
use crate::metrics::MemoryStats;
use crate::trace::Event;

/// The metrics pass: tracks the figures of [`MemoryStats`] after every event.
#[derive(Debug, Default)]
pub struct MetricsProbe {
    pub stats: MemoryStats,
}

impl Probe for MetricsProbe {
    #[inline]
    fn after_event(
        &mut self,
        index: u64,
        _event: &Event,
        _outcome: Outcome,
        heap: &HeapState,
        strategy: &dyn Strategy,
    ) {
        let s = &mut self.stats;
        let footprint = strategy.top();
        s.events = index + 1;
        s.peak_footprint_bytes = s.peak_footprint_bytes.max(footprint);
        s.final_footprint_bytes = footprint;
        s.failed_allocations = heap.failed_allocations;
        s.ignored_frees = heap.ignored_frees;
        // `index == 0` records the state after the first event even when nothing is live yet
        // (a trace of malloc(0)s has max live bytes 0, reached at event 0).
        if heap.live_requested > s.max_live_bytes || index == 0 {
            s.max_live_bytes = heap.live_requested;
            s.peak_event = index;
            s.live_consumed_at_peak = heap.live_consumed;
            s.live_blocks_at_peak = heap.live_blocks;
            s.footprint_at_peak = footprint;
            s.largest_satisfiable_at_peak = strategy.largest_satisfiable();
        }
    }
}
