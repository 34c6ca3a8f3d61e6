//! The memory time series (`--samples`): [`SeriesProbe`] samples the heap at evenly spaced events
//! of the metrics pass, the last event and the peak.

use super::probe::{HeapState, Outcome, Probe};
use crate::alloc::Strategy;
use crate::metrics::{MemoryStats, Sample, Series};
use crate::trace::Event;

/// Records the memory time series during the metrics pass (see [`crate::metrics`] for which
/// events). Costs one index comparison per event, plus a sample (with one
/// `largest_satisfiable` query) at each of the sampled events; the samples are allocated up
/// front, so nothing is allocated while replaying. The peak event is known only at the end of
/// the pass: [`SeriesProbe::finish`] adds its sample from the figures
/// [`MetricsProbe`](super::exact::MetricsProbe) kept.
#[derive(Debug)]
pub struct SeriesProbe {
    /// Distance between samples; `u64::MAX` when no samples are wanted.
    stride: u64,
    /// The next event index to sample.
    next: u64,
    /// Index of the last event of the trace, always sampled.
    last: u64,
    samples: Vec<Sample>,
}

impl SeriesProbe {
    /// A probe taking `samples` evenly spaced samples of a trace of `events` events (none when
    /// `samples` is 0).
    pub fn new(events: u64, samples: u64) -> SeriesProbe {
        if samples == 0 || events == 0 {
            return SeriesProbe {
                stride: u64::MAX,
                next: u64::MAX,
                last: u64::MAX,
                samples: vec![],
            };
        }
        let stride = events.div_ceil(samples).max(1);
        SeriesProbe {
            stride,
            next: 0,
            last: events - 1,
            samples: Vec::with_capacity(events.div_ceil(stride) as usize + 2),
        }
    }

    /// The series, with the sample at the peak event of `stats` put in its place.
    pub fn finish(mut self, stats: &MemoryStats) -> Series {
        if self.stride != u64::MAX && stats.events > 0 {
            let peak = Sample::at_peak(stats);
            if let Err(at) = self.samples.binary_search_by_key(&peak.event, |s| s.event) {
                self.samples.insert(at, peak);
            }
        }
        Series { samples: self.samples }
    }
}

impl Probe for SeriesProbe {
    #[inline]
    fn after_event(
        &mut self,
        index: u64,
        _event: &Event,
        _outcome: Outcome,
        heap: &HeapState,
        strategy: &dyn Strategy,
    ) {
        if index != self.next && index != self.last {
            return;
        }
        if index == self.next {
            self.next = self.next.saturating_add(self.stride);
        }
        let footprint = strategy.top();
        self.samples.push(Sample {
            event: index,
            footprint,
            live_requested: heap.live_requested,
            live_consumed: heap.live_consumed,
            free: footprint - heap.live_consumed,
            largest_satisfiable: strategy.largest_satisfiable(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::{bump, Params};
    use crate::engine::exact::MetricsProbe;
    use crate::engine::replayer::Replayer;

    /// The figures and the series of `samples` samples of `events` through bump.
    fn bump_series(events: &[Event], blocks: u32, samples: u64) -> (MemoryStats, Series) {
        let mut replayer = Replayer::new(&bump::ENTRY, &Params::default(), blocks);
        let mut probes = (MetricsProbe::default(), SeriesProbe::new(events.len() as u64, samples));
        replayer.run(events, 0, &mut probes);
        let (metrics, series) = probes;
        let series = series.finish(&metrics.stats);
        (metrics.stats, series)
    }

    #[test]
    fn the_series_samples_evenly_spaced_events_the_last_one_and_the_peak() {
        // Live bytes after each event: 10 30 60 50 20 10 0; the peak is event 2.
        let events = [
            Event::malloc(0, 10),
            Event::malloc(1, 20),
            Event::malloc(2, 30),
            Event::free(0),
            Event::free(2),
            Event::free(1),
            Event::malloc(3, 0),
        ];
        let (m, series) = bump_series(&events, 4, 3);
        assert_eq!(m.peak_event, 2);
        let at: Vec<u64> = series.samples.iter().map(|s| s.event).collect();
        // stride ceil(7 / 3) = 3: events 0, 3, 6 (the last), and the peak 2.
        assert_eq!(at, [0, 2, 3, 6]);
        let live: Vec<u64> = series.samples.iter().map(|s| s.live_requested).collect();
        assert_eq!(live, [10, 60, 50, 0]);
        let peak = series.samples[1];
        assert_eq!(peak, Sample::at_peak(&m));
        assert_eq!(peak.free, peak.footprint - peak.live_consumed);
    }
}
