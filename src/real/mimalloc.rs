//! `mimalloc`: Microsoft's mimalloc, built from the C source bundled in the `libmimalloc-sys`
//! crate (its default, mimalloc 3; the `extended` feature exposes `mi_usable_size`,
//! `mi_version` and `mi_process_info`). Its symbols are all `mi_`-prefixed, so it is a heap of
//! its own beside glibc's: the replayer's Rust allocations never land in it.
//!
//! Its resident figure is `mi_process_info`'s `current_rss`, which on Linux is not read from the
//! kernel but is mimalloc's own count of the memory it has committed (`current_commit`): pages it
//! made readable and writable, touched or not. So it is an upper bound of what it has resident,
//! and does not fall with `--no-touch`. Reading it reads two atomics and calls `getrusage`: no
//! allocation.

use super::allocator::{AllocatorStats, Bytes, RealAllocator};
use libmimalloc_sys as mi;
use std::ffi::c_void;

/// mimalloc's default heap.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mimalloc;

/// The registry's constructor.
pub fn new() -> Result<Box<dyn RealAllocator>, String> {
    Ok(Box::new(Mimalloc))
}

/// mimalloc's `current_rss` and `current_commit` (see the module docs).
fn process_info() -> (Bytes, Bytes) {
    let (mut rss, mut commit) = (0usize, 0usize);
    let null = std::ptr::null_mut();
    // SAFETY: every out-parameter may be null; the two given are valid.
    unsafe { mi::mi_process_info(null, null, null, &mut rss, null, &mut commit, null, null) };
    (rss as Bytes, commit as Bytes)
}

impl RealAllocator for Mimalloc {
    fn name(&self) -> String {
        "mimalloc".into()
    }

    fn version(&self) -> String {
        // SAFETY: no preconditions. `major * 10000 + minor * 100 + patch` since mimalloc 3
        // (and major * 100 + minor before it).
        let v = unsafe { mi::mi_version() };
        if v >= 10_000 {
            format!("mimalloc {}.{}.{}", v / 10_000, v / 100 % 100, v % 100)
        } else {
            format!("mimalloc {}.{}", v / 100, v % 100)
        }
    }

    #[inline(always)]
    unsafe fn malloc(&self, size: usize) -> *mut c_void {
        mi::mi_malloc(size)
    }

    #[inline(always)]
    unsafe fn calloc(&self, size: usize) -> *mut c_void {
        mi::mi_calloc(1, size)
    }

    #[inline(always)]
    unsafe fn realloc(&self, ptr: *mut c_void, size: usize) -> *mut c_void {
        mi::mi_realloc(ptr, size)
    }

    #[inline(always)]
    unsafe fn memalign(&self, align: usize, size: usize) -> *mut c_void {
        mi::mi_malloc_aligned(size, align)
    }

    #[inline(always)]
    unsafe fn free(&self, ptr: *mut c_void) {
        mi::mi_free(ptr)
    }

    #[inline(always)]
    unsafe fn usable_size(&self, ptr: *mut c_void) -> Option<usize> {
        Some(mi::mi_usable_size(ptr))
    }

    fn knows_usable_size(&self) -> bool {
        true
    }

    fn resident(&self) -> Option<Bytes> {
        Some(process_info().0)
    }

    fn stats(&self) -> AllocatorStats {
        let (rss, commit) = process_info();
        AllocatorStats { resident: Some(rss), allocated: None, active: None, mapped: Some(commit) }
    }
}
