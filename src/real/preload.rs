//! `preload:PATH`: any malloc-compatible shared library, preloaded into the child with
//! `LD_PRELOAD=PATH` (see [`super::child`]). The calls go to the process's `malloc`, `calloc`,
//! `realloc`, `posix_memalign` and `free`, which the dynamic linker resolves to the preloaded
//! library (it is first in the global scope); the Rust global allocator of the child is then
//! that library too, which the measured replay allows for as it does for glibc.
//!
//! `malloc_usable_size` is used only when the library itself defines it: the symbol is looked up
//! in the library's own handle (`dlopen(PATH, RTLD_NOLOAD)`) and kept only if `dladdr` places it
//! in the same object as the library's `malloc`. A lookup through the global scope could find
//! glibc's `malloc_usable_size`, which would read a foreign pointer's header and crash or lie.
//! Without it the live consumed bytes are the requested ones, and internal fragmentation is
//! unknown. Making the backend also checks that `malloc` really resolves to the library (that
//! `LD_PRELOAD` took effect).

use super::allocator::{AllocatorStats, Bytes, RealAllocator};
use std::ffi::{c_void, CStr, CString};
use std::path::{Path, PathBuf};

/// `size_t malloc_usable_size(void *)`.
type UsableSize = unsafe extern "C" fn(*mut c_void) -> usize;

/// The preloaded library behind the process's `malloc`.
#[derive(Debug)]
pub struct Preload {
    path: PathBuf,
    /// The library's own `malloc_usable_size`, if it defines one.
    usable_size: Option<UsableSize>,
}

/// The object (its load base) that defines the symbol at `addr`, if any.
fn object_of(addr: *mut c_void) -> Option<*mut c_void> {
    // SAFETY: dladdr only reads the dynamic linker's tables; `info` is a valid out-parameter.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    (unsafe { libc::dladdr(addr, &mut info) } != 0).then_some(info.dli_fbase)
}

/// Look `name` up in the object behind `handle` (and its dependencies: see the module docs).
fn symbol(handle: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `handle` is a live handle from dlopen and `name` NUL-terminated.
    let addr = unsafe { libc::dlsym(handle, name.as_ptr()) };
    (!addr.is_null()).then_some(addr)
}

/// The registry's constructor.
pub fn new(path: &Path) -> Result<Box<dyn RealAllocator>, String> {
    Ok(Box::new(Preload::new(path)?))
}

impl Preload {
    /// The backend for the library at `path`, which must already be loaded (preloaded).
    pub fn new(path: &Path) -> Result<Preload, String> {
        let shown = path.display();
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("preload:{shown}: the path contains a NUL byte"))?;
        // SAFETY: RTLD_NOLOAD only looks the library up among those loaded; nothing is run.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
        if handle.is_null() {
            return Err(format!(
                "preload:{shown}: the library is not loaded (LD_PRELOAD did not take)"
            ));
        }
        // The object the handle names, and the library's own malloc and malloc_usable_size (dlsym
        // on a handle also searches the library's dependencies, glibc among them).
        let library = object_of(dynamic_section(handle))
            .ok_or_else(|| format!("preload:{shown}: cannot find where the library is loaded"))?;
        let own = |name: &CStr| symbol(handle, name).filter(|&f| object_of(f) == Some(library));
        let own_malloc = own(c"malloc")
            .ok_or_else(|| format!("preload:{shown}: the library does not define malloc"))?;
        if symbol(libc::RTLD_DEFAULT, c"malloc") != Some(own_malloc) {
            return Err(format!(
                "preload:{shown}: malloc does not resolve to the library (is it preloaded first?)"
            ));
        }
        let usable_size = own(c"malloc_usable_size")
            // SAFETY: a function the library exports under this name has this C signature.
            .map(|f| unsafe { std::mem::transmute::<*mut c_void, UsableSize>(f) });
        // The handle is left open: the library stays loaded for the life of the process anyway.
        Ok(Preload { path: path.to_path_buf(), usable_size })
    }
}

/// The address of the dynamic section of the object behind `handle` (an address inside it, for
/// `dladdr`), from its link map; null if `dlinfo` fails.
fn dynamic_section(handle: *mut c_void) -> *mut c_void {
    let mut map: *mut LinkMap = std::ptr::null_mut();
    // SAFETY: RTLD_DI_LINKMAP stores a `struct link_map *` into the out-parameter.
    let ok = unsafe {
        libc::dlinfo(handle, libc::RTLD_DI_LINKMAP, (&mut map as *mut *mut LinkMap).cast())
    };
    if ok != 0 || map.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: the link map of a loaded object is valid while it is loaded.
    unsafe { (*map).l_ld }
}

/// The head of glibc's `struct link_map` (`<link.h>`): the fields this module reads.
#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const std::ffi::c_char,
    l_ld: *mut c_void,
}

impl RealAllocator for Preload {
    fn name(&self) -> String {
        format!("preload:{}", self.path.display())
    }

    /// The file name the path resolves to (`libtcmalloc_minimal.so.4.5.10`): libraries have no
    /// common way to tell their version, and their file names usually carry it.
    fn version(&self) -> String {
        let resolved = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        resolved.file_name().map_or_else(
            || self.path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    }

    #[inline(always)]
    unsafe fn usable_size(&self, ptr: *mut c_void) -> Option<usize> {
        self.usable_size.map(|f| f(ptr))
    }

    fn knows_usable_size(&self) -> bool {
        self.usable_size.is_some()
    }

    fn resident(&self) -> Option<Bytes> {
        None
    }

    fn stats(&self) -> AllocatorStats {
        AllocatorStats::default()
    }
}
