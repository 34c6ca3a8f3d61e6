//! The latency pass's clock: cheap enough to read twice around every strategy call.
//!
//! It is the CPU's time-stamp counter (`rdtsc`, no fence; what reading it costs is measured on
//! every timed run: `clock_overhead_ns` in the JSON) when the counter passes the checks of `src/tsc.rs`,
//! the one set the interposer's clock (`replay record`) passes too: an invariant TSC, the
//! kernel's own clock source, readable by the process. Its ticks are turned into nanoseconds by
//! a rate calibrated once per process: [`Clock::calibrated`] pairs a counter reading with
//! `CLOCK_MONOTONIC` (as the interposer's clock records do), spins for [`CALIBRATION`], pairs
//! them again and divides. Without a fence, a read may be reordered by a few instructions
//! around the call it times: the error is a few nanoseconds either way, below the histograms'
//! resolution for anything but the fastest calls, and the same for every strategy.
//!
//! Otherwise (and on CPUs other than x86_64) the clock is `CLOCK_MONOTONIC` in nanoseconds (one
//! tick = 1 ns).

#[path = "tsc.rs"]
mod tsc;

use std::sync::OnceLock;
use std::time::Duration;

/// How long the calibration spins.
pub const CALIBRATION: Duration = Duration::from_millis(20);

/// A calibrated clock: read [`Clock::ticks`], convert differences with [`Clock::ns`].
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Whether the ticks are the time-stamp counter's (else `CLOCK_MONOTONIC` nanoseconds).
    tsc: bool,
    /// Nanoseconds per tick.
    ns_per_tick: f64,
}

impl Clock {
    /// The process's clock, calibrated at its first use.
    pub fn calibrated() -> Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        *CLOCK.get_or_init(|| Clock::calibrate(CALIBRATION))
    }

    /// Check the counter and measure its rate over `span`.
    fn calibrate(span: Duration) -> Clock {
        let tsc = tsc::usable();
        let mut clock = Clock { tsc, ns_per_tick: 1.0 };
        if tsc {
            let span = span.as_nanos() as u64;
            let (c0, n0) = tsc::paired(true);
            while tsc::monotonic_ns().saturating_sub(n0) < span {
                std::hint::spin_loop();
            }
            let (c1, n1) = tsc::paired(true);
            clock.ns_per_tick = n1.saturating_sub(n0) as f64 / (c1.wrapping_sub(c0).max(1)) as f64;
        }
        clock
    }

    /// The clock now.
    #[inline(always)]
    pub fn ticks(&self) -> u64 {
        tsc::now(self.tsc)
    }

    /// `ticks` ticks in nanoseconds.
    #[inline]
    pub fn ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick) as u64
    }

    /// Nanoseconds per tick (1 for the fallback clock).
    pub fn ns_per_tick(&self) -> f64 {
        self.ns_per_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_clock_is_the_counter_exactly_when_the_shared_checks_pass() {
        let clock = Clock::calibrated();
        assert_eq!(clock.tsc, tsc::usable());
        if !clock.tsc {
            assert_eq!(clock.ns_per_tick(), 1.0);
        }
    }

    #[test]
    fn without_the_counter_a_paired_reading_is_one_monotonic_time() {
        let before = tsc::monotonic_ns();
        let (time, ns) = tsc::paired(false);
        assert_eq!(time, ns);
        assert!(ns >= before && tsc::now(false) >= ns);
    }

    #[test]
    fn the_calibrated_clock_agrees_with_instant_over_a_sleep() {
        let clock = Clock::calibrated();
        // Any CPU of the last decades ticks at 0.5-6 GHz.
        let rate = clock.ns_per_tick();
        assert!(rate == 1.0 || (0.15..2.0).contains(&rate), "{rate} ns per tick");
        let (t0, c0) = (Instant::now(), clock.ticks());
        std::thread::sleep(Duration::from_millis(50));
        let (ns, c1) = (t0.elapsed().as_nanos() as f64, clock.ticks());
        let measured = clock.ns(c1 - c0) as f64;
        assert!((measured / ns - 1.0).abs() < 0.05, "clock says {measured} ns, Instant {ns} ns");
    }

    #[test]
    fn ticks_never_go_backwards_on_one_thread() {
        let clock = Clock::calibrated();
        let mut last = clock.ticks();
        for _ in 0..10_000 {
            let now = clock.ticks();
            assert!(now >= last);
            last = now;
        }
    }
}
