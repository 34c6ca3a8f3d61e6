//! The interface every real allocator backend implements ([`RealAllocator`]) and the figures an
//! allocator reports about itself ([`AllocatorStats`]).
//!
//! A backend is a thin, zero-cost wrapper over a C allocator's entry points: every method is one
//! call into the allocator and nothing else, so that the measured replay
//! ([`super::measure`]) times the allocator, not the wrapper. None of the methods may allocate
//! through the Rust global allocator (which, in the child of `glibc` and `preload:`, *is* the
//! measured allocator): a backend prepares whatever it needs (jemalloc's mallctl MIBs, the
//! preloaded library's `malloc_usable_size`) when it is made, before the replay starts.

use std::ffi::c_void;

/// A byte count.
pub type Bytes = u64;

/// What an allocator says about its own memory, where it says it (`None` where it has no such
/// figure). Each backend's docs say which of its figures fills which field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AllocatorStats {
    /// Bytes of physical memory the allocator holds, by its own accounting (jemalloc
    /// `stats.resident`; mimalloc's process info `current_rss`, which on Linux is its committed
    /// memory).
    pub resident: Option<Bytes>,
    /// Bytes handed out to the program and not yet freed, as the allocator counts them (jemalloc
    /// `stats.allocated`; glibc `mallinfo2` `uordblks + hblkhd`).
    pub allocated: Option<Bytes>,
    /// Bytes in pages that hold live allocations (jemalloc `stats.active`).
    pub active: Option<Bytes>,
    /// Bytes of address space the allocator has mapped (jemalloc `stats.mapped`; glibc
    /// `mallinfo2` `arena + hblkhd`: the main arena's `sbrk` span, other arenas and the
    /// `mmap`ped chunks).
    pub mapped: Option<Bytes>,
}

/// A real allocator: one process-wide heap behind C's allocation calls, callable from any
/// thread (`Sync`: the threaded replay calls it from one OS thread per recorded thread).
///
/// # Safety
/// The methods are as unsafe as the C calls they wrap: `realloc`, `free` and `usable_size` take
/// only pointers this allocator returned and that were not freed since; `memalign` needs a
/// power-of-two `align` that is a multiple of `size_of::<*const ()>()`. (One section for all
/// the methods, hence the `allow`.)
#[allow(clippy::missing_safety_doc)]
pub trait RealAllocator: Sync {
    /// The name used with `--alloc` and in every report (`glibc`, `preload:/path/lib.so`).
    fn name(&self) -> String;
    /// The allocator's version, as it tells it (glibc `gnu_get_libc_version`, `mi_version`,
    /// jemalloc's `version` mallctl, a preloaded library's file name).
    fn version(&self) -> String;
    /// `malloc(size)`; null when it fails. The calls default to the process's C symbols
    /// (`malloc`, `calloc`, `realloc`, `posix_memalign`, `free`): glibc's, or a preloaded
    /// library's; mimalloc and jemalloc, which live beside them, override every one.
    #[inline(always)]
    unsafe fn malloc(&self, size: usize) -> *mut c_void {
        libc::malloc(size)
    }
    /// `calloc(1, size)`; null when it fails.
    #[inline(always)]
    unsafe fn calloc(&self, size: usize) -> *mut c_void {
        libc::calloc(1, size)
    }
    /// `realloc(ptr, size)` with `size > 0` (`realloc(p, 0)` means different things in
    /// different allocators: glibc frees `p`); null when it fails, `ptr` then still live.
    #[inline(always)]
    unsafe fn realloc(&self, ptr: *mut c_void, size: usize) -> *mut c_void {
        libc::realloc(ptr, size)
    }
    /// An allocation of `size` bytes aligned to `align`; null when it fails.
    #[inline(always)]
    unsafe fn memalign(&self, align: usize, size: usize) -> *mut c_void {
        let mut out = std::ptr::null_mut();
        if libc::posix_memalign(&mut out, align, size) != 0 {
            return std::ptr::null_mut();
        }
        out
    }
    /// `free(ptr)`.
    #[inline(always)]
    unsafe fn free(&self, ptr: *mut c_void) {
        libc::free(ptr)
    }
    /// The bytes usable at `ptr` (`malloc_usable_size` and its kin): what the block really
    /// occupies for the program. `None` when the allocator does not tell.
    unsafe fn usable_size(&self, ptr: *mut c_void) -> Option<usize>;
    /// Whether [`RealAllocator::usable_size`] ever returns `Some` (decided once, when the backend
    /// is made).
    fn knows_usable_size(&self) -> bool;
    /// The allocator's resident bytes by its own accounting, cheaply enough to be read every
    /// 64 Ki events during a replay, without allocating; `None` when it has no such figure.
    fn resident(&self) -> Option<Bytes>;
    /// Everything the allocator reports about itself (may be slower than
    /// [`RealAllocator::resident`]; called before and after a replay, never inside it).
    fn stats(&self) -> AllocatorStats;
}
