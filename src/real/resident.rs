//! The process's resident memory, read from `/proc/self/statm` without allocating: the file is
//! opened once, before the replay, and each reading is one `pread` into a stack buffer and a
//! parse of its second field (resident pages, times the page size).
//!
//! The kernel keeps its resident counters per CPU and sums them when `statm` is read, so a
//! reading may be off by a few pages' worth of recent faults (at most 64 pages per CPU on
//! kernels before 6.2, less after); over a replay of thousands of pages that is well below a
//! percent. Between two readings the resident size is not seen: the sampled peak is a lower bound
//! of the true one. [`Resident::peak_since_reset`] reads the kernel's own high-water mark
//! (`VmHWM`, reset through `/proc/self/clear_refs` right before the replay), which misses
//! nothing.

use std::ffi::CStr;

/// An open `/proc/self/statm` (and `/proc/self/clear_refs`, to reset the high-water mark).
pub struct Resident {
    statm: libc::c_int,
    clear_refs: libc::c_int,
    page: u64,
}

fn open(path: &CStr, flags: libc::c_int) -> libc::c_int {
    // SAFETY: a NUL-terminated path; the fd is closed in `drop`.
    unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) }
}

impl Resident {
    /// Open the files (before the replay: this allocates nothing either, but may fault).
    pub fn open() -> std::io::Result<Resident> {
        let statm = open(c"/proc/self/statm", libc::O_RDONLY);
        if statm < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Not fatal when missing (a kernel without it): the high-water mark is then unknown.
        let clear_refs = open(c"/proc/self/clear_refs", libc::O_WRONLY);
        // SAFETY: no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        Ok(Resident { statm, clear_refs, page })
    }

    /// Resident bytes now; `None` if the read fails (it never does on Linux).
    #[inline]
    pub fn bytes(&self) -> Option<u64> {
        let mut buf = [0u8; 128];
        // SAFETY: reads at most `buf.len()` bytes into the stack buffer.
        let n = unsafe { libc::pread(self.statm, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return None;
        }
        parse_statm(&buf[..n as usize], self.page)
    }

    /// Reset the kernel's resident high-water mark to the current resident size (writes `5` to
    /// `/proc/self/clear_refs`); false when that is not possible.
    pub fn reset_peak(&self) -> bool {
        // SAFETY: writes one byte from a static buffer.
        self.clear_refs >= 0
            && unsafe { libc::write(self.clear_refs, c"5".as_ptr().cast(), 1) } == 1
    }

    /// The kernel's resident high-water mark (`VmHWM` of `/proc/self/status`), in bytes: the
    /// largest resident size since [`Resident::reset_peak`]. Allocates: call it after the replay.
    pub fn peak_since_reset(&self) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        let kib: u64 =
            line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    }
}

/// The resident bytes in a `statm` line ("size resident shared text lib data dt": the second
/// field, in pages).
fn parse_statm(line: &[u8], page: u64) -> Option<u64> {
    let resident = line.split(|&b| b == b' ').nth(1)?;
    if resident.is_empty() {
        return None;
    }
    let mut pages = 0u64;
    for &digit in resident {
        if !digit.is_ascii_digit() {
            return None;
        }
        pages = pages.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    pages.checked_mul(page)
}

impl Drop for Resident {
    fn drop(&mut self) {
        // SAFETY: fds opened in `open`, closed once.
        unsafe {
            libc::close(self.statm);
            if self.clear_refs >= 0 {
                libc::close(self.clear_refs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_field_of_statm_is_read_in_pages() {
        assert_eq!(parse_statm(b"5000 1234 100 10 0 900 0\n", 4096), Some(1234 * 4096));
        assert_eq!(parse_statm(b"5000", 4096), None);
        assert_eq!(parse_statm(b"5000 12x4 1", 4096), None);
        assert_eq!(parse_statm(b"5000  1", 4096), None);
    }

    #[test]
    fn this_process_has_resident_memory() {
        let resident = Resident::open().unwrap();
        assert!(resident.bytes().unwrap() > 0);
        assert!(resident.reset_peak());
        assert!(resident.peak_since_reset().unwrap() > 0);
    }
}
