//! Memory of the replayer's own that lives outside every allocator's heap: anonymous `mmap`s,
//! prefaulted (`MAP_POPULATE`) so that their pages are resident before the replay's baseline is
//! read and no page fault of the replayer's lands inside the measured loop.
//!
//! The measured replay keeps its block table and its memory series here, not in `Vec`s: in the
//! child of `glibc` (and of `preload:`) the Rust global allocator is the measured allocator, and
//! a `Vec` would put the replayer's tables into the heap being measured.

use std::ffi::c_void;

/// `len` zeroed values of `T` in a private anonymous mapping. `T` must be valid when all its
/// bytes are zero (integers, raw pointers, and structs of them).
pub struct Mapped<T: Copy> {
    ptr: *mut T,
    len: usize,
}

impl<T: Copy> Mapped<T> {
    /// Map and prefault room for `len` values (at least one page is mapped).
    ///
    /// # Safety
    /// `T` must be valid when all its bytes are zero.
    pub unsafe fn zeroed(len: usize) -> std::io::Result<Mapped<T>> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| std::io::Error::other("table too large"))?
            .max(1);
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapped { ptr: ptr.cast(), len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `len` values, zero-initialised by the kernel (valid, see `zeroed`) or written.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl<T: Copy> Drop for Mapped<T> {
    fn drop(&mut self) {
        let bytes = (self.len * std::mem::size_of::<T>()).max(1);
        // SAFETY: the mapping made in `zeroed`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast::<c_void>(), bytes) };
    }
}
