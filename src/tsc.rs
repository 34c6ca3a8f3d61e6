//! The time-stamp counter and the one set of checks that say whether it can be the clock: one
//! source file, compiled into both clocks that read it, the latency pass's (`Clock`,
//! `src/clock.rs`) and the interposer's (`interposer/src/lib.rs`, which includes this file with
//! `#[path]`), so that they cannot drift apart.
//!
//! The interposer runs this code inside `malloc`, so everything here allocates nothing, takes
//! no lock, and calls only async-signal-safe functions (`open`, `read`, `close`, `prctl`,
//! `clock_gettime`); it uses `core` and `libc` alone and names nothing of either crate.
//!
//! The counter is the clock when all of these hold, checked once by [`usable`]:
//! - it runs at a constant rate whatever the core's frequency or power state (CPUID's
//!   *invariant TSC*: leaf 0x80000007, EDX bit 8; `constant_tsc` and `nonstop_tsc` in
//!   `/proc/cpuinfo`);
//! - the kernel uses it as its own clock source (so it found it synchronised between CPUs:
//!   `/sys/devices/system/clocksource/clocksource0/current_clocksource` says `tsc`);
//! - the process may read it (`prctl(PR_GET_TSC)` says `PR_TSC_ENABLE`).
//!
//! Otherwise, and on every CPU other than x86_64, the clock is `CLOCK_MONOTONIC` in nanoseconds
//! ([`monotonic_ns`], through the vDSO: several times the cost of `rdtsc`).

/// Whether the time-stamp counter can be the clock (see the module docs). A few system calls:
/// call it once and keep the answer.
pub fn usable() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        // SAFETY: cpuid exists on every x86_64 CPU; leaf 0x80000007 is asked for only when
        // the CPU has it. (`__cpuid` is a safe function in recent Rust, unsafe in older ones.)
        #[allow(unused_unsafe)]
        let invariant = unsafe {
            __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
        };
        let mut allowed: libc::c_int = 0;
        // SAFETY: PR_GET_TSC writes the setting to the int it is given.
        let readable = unsafe {
            libc::prctl(libc::PR_GET_TSC, &mut allowed as *mut libc::c_int) == 0
                && allowed == libc::PR_TSC_ENABLE
        };
        invariant && readable && kernel_clock_is_tsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the kernel's current clock source is the TSC.
#[cfg(target_arch = "x86_64")]
fn kernel_clock_is_tsc() -> bool {
    let path = c"/sys/devices/system/clocksource/clocksource0/current_clocksource";
    let mut name = [0u8; 16];
    // SAFETY: open/read/close of a NUL-terminated path into a local buffer (no allocation).
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let n = libc::read(fd, name.as_mut_ptr().cast(), name.len());
        libc::close(fd);
        n >= 4 && &name[..4] == b"tsc\n"
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec to fill (served by the vDSO, no system call).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The clock now: the counter when `tsc` (what [`usable`] said), `CLOCK_MONOTONIC` in
/// nanoseconds otherwise. No fence: a read may be reordered by a few instructions around what
/// it times, an error of a few nanoseconds either way.
#[inline(always)]
pub fn now(tsc: bool) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if tsc {
        // SAFETY: rdtsc has no preconditions; `usable` checked that the counter is the clock.
        #[allow(unused_unsafe)]
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    let _ = tsc;
    monotonic_ns()
}

/// A reading of the clock ([`now`]) and `CLOCK_MONOTONIC` in nanoseconds at the same instant:
/// what turns the clock's ticks into nanoseconds. The counter is read on both sides of
/// `clock_gettime` and the middle taken; of three tries the one with the shortest gap is kept
/// (the first call of a process, or one that was interrupted, can be off by microseconds).
pub fn paired(tsc: bool) -> (u64, u64) {
    if !tsc {
        let ns = monotonic_ns();
        return (ns, ns);
    }
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..3 {
        let before = now(tsc);
        let ns = monotonic_ns();
        let gap = now(tsc).saturating_sub(before);
        if gap < best.0 {
            best = (gap, before + gap / 2, ns);
        }
    }
    (best.1, best.2)
}
