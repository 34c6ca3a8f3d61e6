//! `glibc`: the C library's own malloc (ptmalloc2), called through the `libc` crate.
//!
//! In this process the Rust global allocator is glibc's malloc too, so the replayer's own memory
//! would share the measured heap: the measured replay keeps its tables in `mmap`ped memory
//! instead (see [`super::measure`]). Statistics come from `mallinfo2` (glibc 2.33 and later),
//! which walks every arena under its lock: slow enough that it is read only before and after a
//! replay. glibc reports no resident figure of its own.

use super::allocator::{AllocatorStats, Bytes, RealAllocator};
use std::ffi::{c_void, CStr};

/// The C library's malloc.
#[derive(Clone, Copy, Debug, Default)]
pub struct Glibc;

/// The registry's constructor.
pub fn new() -> Result<Box<dyn RealAllocator>, String> {
    Ok(Box::new(Glibc))
}

extern "C" {
    /// glibc's version string, e.g. `2.41` (`<gnu/libc-version.h>`).
    fn gnu_get_libc_version() -> *const std::ffi::c_char;
}

impl RealAllocator for Glibc {
    fn name(&self) -> String {
        "glibc".into()
    }

    fn version(&self) -> String {
        // SAFETY: glibc returns a pointer to a static, NUL-terminated string.
        let version = unsafe { CStr::from_ptr(gnu_get_libc_version()) };
        format!("glibc {}", version.to_string_lossy())
    }

    #[inline(always)]
    unsafe fn usable_size(&self, ptr: *mut c_void) -> Option<usize> {
        Some(libc::malloc_usable_size(ptr))
    }

    fn knows_usable_size(&self) -> bool {
        true
    }

    fn resident(&self) -> Option<Bytes> {
        None
    }

    fn stats(&self) -> AllocatorStats {
        // SAFETY: mallinfo2 has no preconditions; it does not allocate.
        let info = unsafe { libc::mallinfo2() };
        AllocatorStats {
            resident: None,
            allocated: Some((info.uordblks + info.hblkhd) as Bytes),
            active: None,
            mapped: Some((info.arena + info.hblkhd) as Bytes),
        }
    }
}
