//! The latency pass's clock: cheap enough to read twice around every strategy call.
//!
//! On x86_64 it is the CPU's time-stamp counter (`rdtsc`, no fence: a few nanoseconds, against
//! 20-30 for `Instant::now()`, which goes through the vDSO). Its ticks are turned into
//! nanoseconds by a rate calibrated once per process against `Instant`: [`Clock::calibrated`]
//! spins for [`CALIBRATION`], reading both clocks at the start and the end, and divides. The
//! counter runs at a constant rate on every x86_64 CPU of the last fifteen years
//! (`constant_tsc`, `nonstop_tsc` in `/proc/cpuinfo`), whatever the core's frequency. Without
//! a fence, a read may be reordered by a few instructions around the call it times: the error is
//! a few nanoseconds either way, below the histograms' resolution for anything but the fastest
//! calls, and the same for every strategy.
//!
//! Elsewhere the clock is `Instant`, in nanoseconds since the calibration (one tick = 1 ns).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the calibration spins.
pub const CALIBRATION: Duration = Duration::from_millis(20);

/// A calibrated clock: read [`Clock::ticks`], convert differences with [`Clock::ns`].
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Nanoseconds per tick.
    ns_per_tick: f64,
    /// `Instant` at calibration: the origin of the fallback clock's ticks.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    origin: Instant,
}

impl Clock {
    /// The process's clock, calibrated at its first use.
    pub fn calibrated() -> Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        *CLOCK.get_or_init(|| Clock::calibrate(CALIBRATION))
    }

    /// Measure the tick rate over `span`.
    pub fn calibrate(span: Duration) -> Clock {
        let origin = Instant::now();
        let mut clock = Clock { ns_per_tick: 1.0, origin };
        if cfg!(target_arch = "x86_64") {
            let (t0, c0) = (Instant::now(), clock.ticks());
            while t0.elapsed() < span {
                std::hint::spin_loop();
            }
            let (ns, c1) = (t0.elapsed().as_nanos() as f64, clock.ticks());
            clock.ns_per_tick = ns / (c1.wrapping_sub(c0).max(1)) as f64;
        }
        clock
    }

    /// The counter now.
    #[inline(always)]
    pub fn ticks(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: rdtsc has no preconditions; every x86_64 CPU has it.
            #[allow(unused_unsafe)]
            unsafe {
                std::arch::x86_64::_rdtsc()
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self.origin.elapsed().as_nanos() as u64
        }
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
