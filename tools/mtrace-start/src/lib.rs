//! `libmtrace_start.so`: calls glibc's `mtrace()` from a constructor, so that any program run
//! with `LD_PRELOAD=libc_malloc_debug.so.0:libmtrace_start.so MALLOC_TRACE=FILE` writes its
//! allocations to `FILE`. The Rust twin of `traces/tools/mtrace_start.c`, built by the
//! workspace's `cargo build` so the tests need no C compiler. `libc_malloc_debug.so.0` must come
//! first in `LD_PRELOAD`: its `mtrace` is the one that works (libc's own is a stub since 2.34).

extern "C" {
    fn mtrace();
}

extern "C" fn start() {
    // SAFETY: mtrace() takes no arguments and may be called at any time.
    unsafe { mtrace() }
}

#[used]
#[link_section = ".init_array"]
static START: extern "C" fn() = start;
