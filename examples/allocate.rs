//! A program for `replay record` to record (used by `tests/record.rs` and the recording-overhead
//! figures in `benches/README.md`):
//!
//! - `allocate threads N CALLS`: N threads at once, each making CALLS allocations with `calloc`
//!   of 1040 to 2048 bytes (sizes that nothing else in the program asks `calloc` for, so a
//!   recording's `calloc` rows of those sizes are exactly these, N x CALLS), keeping its last 64
//!   blocks live and freeing the rest.
//! - `allocate huge`: requests whose sizes or alignments are near 2^64 (`malloc(SIZE_MAX)`, a
//!   `calloc` whose `nmemb * size` overflows, `memalign` with an alignment of 2^63, ...), each of
//!   which fails; prints how many did.

use std::alloc::{dealloc, Layout};
use std::ffi::c_void;

mod libc_calls {
    use std::ffi::c_void;
    extern "C" {
        pub fn malloc(size: usize) -> *mut c_void;
        pub fn calloc(nmemb: usize, size: usize) -> *mut c_void;
        pub fn realloc(old: *mut c_void, size: usize) -> *mut c_void;
        pub fn reallocarray(old: *mut c_void, nmemb: usize, size: usize) -> *mut c_void;
        pub fn memalign(align: usize, size: usize) -> *mut c_void;
        pub fn aligned_alloc(align: usize, size: usize) -> *mut c_void;
        pub fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32;
        pub fn valloc(size: usize) -> *mut c_void;
        pub fn pvalloc(size: usize) -> *mut c_void;
        pub fn free(p: *mut c_void);
    }
}

/// The libc functions, called through pointers the optimiser cannot see through: it would
/// otherwise drop a `malloc` whose block is only freed, and take it to succeed.
macro_rules! opaque {
    ($($name:ident: $ty:ty),*) => {
        $(
            fn $name() -> $ty {
                std::hint::black_box(libc_calls::$name as $ty)
            }
        )*
    };
}

opaque!(
    malloc: unsafe extern "C" fn(usize) -> *mut c_void,
    calloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    realloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    reallocarray: unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void,
    memalign: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    aligned_alloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    posix_memalign: unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> i32,
    valloc: unsafe extern "C" fn(usize) -> *mut c_void,
    pvalloc: unsafe extern "C" fn(usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void)
);

fn threads(n: usize, calls: usize) {
    let workers: Vec<_> = (0..n)
        .map(|t| {
            std::thread::spawn(move || {
                let mut live = std::collections::VecDeque::with_capacity(65);
                for i in 0..calls {
                    let size = 1040 + (i * 37 + t * 101) % 1009;
                    // SAFETY: a plain calloc, freed below with free.
                    let p = unsafe { calloc()(1, size) };
                    assert!(!p.is_null(), "calloc({size}) failed");
                    live.push_back(p as usize);
                    if live.len() > 64 {
                        // SAFETY: a block from calloc, freed once.
                        unsafe { free()(live.pop_front().unwrap_or(0) as *mut c_void) };
                    }
                }
                for p in live {
                    // SAFETY: as above.
                    unsafe { free()(p as *mut c_void) };
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker panicked");
    }
}

fn huge() {
    let max = usize::MAX;
    let mut failed = 0;
    let mut check = |p: *mut c_void| {
        if p.is_null() {
            failed += 1;
        } else {
            // SAFETY: a block the allocator gave, freed once.
            unsafe { free()(p) };
        }
    };
    // SAFETY: each call is a plain libc allocation call; all are expected to fail.
    unsafe {
        check(malloc()(max));
        check(malloc()(max - 15));
        check(calloc()(1 << 62, 8));
        check(calloc()(max, max));
        check(memalign()(1 << 63, 16));
        check(memalign()(16, max - 8));
        check(aligned_alloc()(1 << 63, 1 << 63));
        let mut out = std::ptr::null_mut();
        if posix_memalign()(&mut out, 1 << 63, max) == 0 {
            check(out);
        } else {
            check(std::ptr::null_mut());
        }
        check(valloc()(max));
        check(pvalloc()(max));
        check(pvalloc()(max - 4000));
        let block = malloc()(64);
        assert!(!block.is_null());
        check(realloc()(block, max));
        check(reallocarray()(block, 1 << 62, 8));
        free()(block);
    }
    // A Rust allocation, so that the program did allocate something that worked.
    let layout = Layout::from_size_align(100, 8).expect("a valid layout");
    // SAFETY: a non-zero size; freed at once.
    unsafe { dealloc(std::alloc::alloc(layout), layout) };
    println!("{failed} of 13 huge requests failed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<usize>().ok());
    match (args.get(1).map(String::as_str), number(2), number(3)) {
        (Some("threads"), Some(n), Some(calls)) => threads(n, calls),
        (Some("huge"), _, _) => huge(),
        _ => {
            eprintln!("usage: allocate threads N CALLS | allocate huge");
            std::process::exit(2);
        }
    }
}
