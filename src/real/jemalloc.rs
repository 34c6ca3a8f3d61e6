//! `jemalloc`: jemalloc 5.3, built from the source bundled in `tikv-jemalloc-sys`, with its
//! symbols prefixed (`_rjem_malloc`...: the crate's default), so it is a heap of its own beside
//! glibc's and the replayer's Rust allocations never land in it. Built with statistics on (the
//! `stats` feature), which `stats.*` need.
//!
//! Statistics come from `tikv-jemalloc-ctl` through MIBs looked up once, when the backend is made:
//! `stats.allocated`, `stats.active`, `stats.resident` and `stats.mapped`, after advancing the
//! `epoch` (jemalloc caches its statistics until then). Reading them allocates nothing through
//! any `malloc`: the ctl crate passes a stack variable to `mallctlbymib`, and jemalloc keeps the
//! merged statistics in metadata it allocated (from its own `base` allocator, counted in
//! `stats.metadata` and `stats.resident`) the first time the epoch was advanced. That first
//! advance happens here, when the backend is made, so before the replay's baseline. An advance
//! merges every arena's counters: a few microseconds, done every 64 Ki events at most.

use super::allocator::{AllocatorStats, Bytes, RealAllocator};
use std::ffi::c_void;
use tikv_jemalloc_ctl::{epoch, epoch_mib, stats, version};
use tikv_jemalloc_sys as je;

/// jemalloc, with the MIBs of the statistics it reports.
pub struct Jemalloc {
    epoch: epoch_mib,
    allocated: stats::allocated_mib,
    active: stats::active_mib,
    resident: stats::resident_mib,
    mapped: stats::mapped_mib,
}

/// The registry's constructor.
pub fn new() -> Result<Box<dyn RealAllocator>, String> {
    Ok(Box::new(Jemalloc::new()?))
}

impl Jemalloc {
    /// Look the MIBs up and advance the epoch once.
    pub fn new() -> Result<Jemalloc, String> {
        let error = |e: tikv_jemalloc_ctl::Error| format!("jemalloc's mallctl failed: {e}");
        let jemalloc = Jemalloc {
            epoch: epoch::mib().map_err(error)?,
            allocated: stats::allocated::mib().map_err(error)?,
            active: stats::active::mib().map_err(error)?,
            resident: stats::resident::mib().map_err(error)?,
            mapped: stats::mapped::mib().map_err(error)?,
        };
        jemalloc.epoch.advance().map_err(error)?;
        Ok(jemalloc)
    }
}

impl RealAllocator for Jemalloc {
    fn name(&self) -> String {
        "jemalloc".into()
    }

    fn version(&self) -> String {
        match version::read() {
            // `5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c`: the release is enough.
            Ok(v) => format!("jemalloc {}", v.split('-').next().unwrap_or(v)),
            Err(e) => format!("jemalloc (version unknown: {e})"),
        }
    }

    #[inline(always)]
    unsafe fn malloc(&self, size: usize) -> *mut c_void {
        je::malloc(size)
    }

    #[inline(always)]
    unsafe fn calloc(&self, size: usize) -> *mut c_void {
        je::calloc(1, size)
    }

    #[inline(always)]
    unsafe fn realloc(&self, ptr: *mut c_void, size: usize) -> *mut c_void {
        je::realloc(ptr, size)
    }

    /// `posix_memalign`, not `mallocx` (whose behaviour for size 0 is undefined).
    #[inline(always)]
    unsafe fn memalign(&self, align: usize, size: usize) -> *mut c_void {
        let mut out = std::ptr::null_mut();
        if je::posix_memalign(&mut out, align, size) != 0 {
            return std::ptr::null_mut();
        }
        out
    }

    #[inline(always)]
    unsafe fn free(&self, ptr: *mut c_void) {
        je::free(ptr)
    }

    #[inline(always)]
    unsafe fn usable_size(&self, ptr: *mut c_void) -> Option<usize> {
        Some(je::malloc_usable_size(ptr))
    }

    fn knows_usable_size(&self) -> bool {
        true
    }

    fn resident(&self) -> Option<Bytes> {
        self.epoch.advance().ok()?;
        self.resident.read().ok().map(|b| b as Bytes)
    }

    fn stats(&self) -> AllocatorStats {
        if self.epoch.advance().is_err() {
            return AllocatorStats::default();
        }
        AllocatorStats {
            resident: self.resident.read().ok().map(|b| b as Bytes),
            allocated: self.allocated.read().ok().map(|b| b as Bytes),
            active: self.active.read().ok().map(|b| b as Bytes),
            mapped: self.mapped.read().ok().map(|b| b as Bytes),
        }
    }
}
