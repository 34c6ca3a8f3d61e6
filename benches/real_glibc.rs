//! Does the measured replay distort what it measures? The same events of a shipped trace through
//! glibc's malloc, twice: from a plain loop (a `Vec` of pointers, the C calls, the same touching,
//! nothing else) and through `replay::real::measure::replay` in this process (its block table,
//! exact live figures, resident samples; no usable sizes asked, as in `replay`'s timed
//! throughput runs). Both are timed over the event loop
//! alone (`iter_custom`: an `Instant` around the plain loop; the replay's own `elapsed_ns`, the
//! clock read behind its events/s), so the ratio of their times is the ratio of events/s.
//!
//! Also the cost of touching: one store into each 4 KiB page, on a page already resident and on
//! a fresh one (which the kernel must fault in: what touching really costs a replay).
//!
//! `cargo bench --bench real_glibc`; the figures are in benches/README.md.

use criterion::{criterion_group, criterion_main, Criterion};
use replay::real::glibc::Glibc;
use replay::real::measure::{self, Options};
use replay::trace::{Event, Op, ParseOptions, Trace};
use std::ffi::c_void;
use std::hint::black_box;
use std::time::{Duration, Instant};

const TRACE: &str = "traces/python-dict.csv.gz";
const PAGE: usize = 4096;

fn load() -> Trace {
    replay::trace::load(TRACE.as_ref(), replay::trace::Format::Csv, ParseOptions::default())
        .expect("the shipped trace loads")
}

/// One byte per page of `[p + from, p + to)` and its first and last byte, as the replay does.
#[inline(always)]
unsafe fn touch(p: *mut u8, from: usize, to: usize) {
    if to <= from {
        return;
    }
    std::ptr::write_volatile(p.add(from), 0xA5);
    let mut at = ((p as usize + from) & !(PAGE - 1)) + PAGE;
    while at < p as usize + to {
        std::ptr::write_volatile(p.add(at - p as usize), 0xA5);
        at += PAGE;
    }
    std::ptr::write_volatile(p.add(to - 1), 0xA5);
}

/// The plain loop: what a replayer with no engine does. Returns the loop's time.
/// With `prefetch`, it asks for the table entry of the event 8 ahead, as the measured replay
/// does.
unsafe fn plain(
    events: &[Event],
    table: &mut [(*mut c_void, usize)],
    touching: bool,
    prefetch: bool,
) -> Duration {
    let start = Instant::now();
    for (i, e) in events.iter().enumerate() {
        #[cfg(target_arch = "x86_64")]
        if prefetch {
            if let Some(slot) = events.get(i + 8).and_then(|a| table.get(a.id as usize)) {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>((slot as *const (*mut c_void, usize)).cast::<i8>());
            }
        }
        let slot = &mut table[e.id as usize];
        let size = e.size as usize;
        match e.op {
            Op::Malloc | Op::Calloc | Op::Memalign => {
                let p = match e.op {
                    Op::Malloc => libc::malloc(size),
                    Op::Calloc => libc::calloc(1, size),
                    _ => {
                        let mut p = std::ptr::null_mut();
                        libc::posix_memalign(&mut p, e.align() as usize, size);
                        p
                    }
                };
                if touching && !p.is_null() {
                    touch(p.cast(), 0, size);
                }
                *slot = (p, size);
            }
            Op::Free => {
                libc::free(slot.0);
                *slot = (std::ptr::null_mut(), 0);
            }
            Op::Realloc => {
                let p = libc::realloc(slot.0, size.max(1));
                if !p.is_null() {
                    if touching && size > slot.1 {
                        touch(p.cast(), slot.1, size);
                    }
                    *slot = (p, size);
                }
            }
            Op::Write => {}
        }
    }
    let elapsed = start.elapsed();
    for slot in table.iter_mut().filter(|s| !s.0.is_null()) {
        libc::free(slot.0);
        *slot = (std::ptr::null_mut(), 0);
    }
    elapsed
}

fn harness(c: &mut Criterion) {
    let trace = load();
    let mut group = c.benchmark_group("real_glibc");
    group.sample_size(20);
    for touching in [true, false] {
        let suffix = if touching { "touch" } else { "no-touch" };
        let mut table = vec![(std::ptr::null_mut(), 0usize); trace.blocks as usize];
        for (name, prefetch) in [("plain_loop", false), ("plain_loop_prefetch", true)] {
            group.bench_function(format!("{name}/{suffix}"), |b| {
                b.iter_custom(|iters| {
                    // SAFETY: a parsed trace is valid: every free and realloc names a live block.
                    (0..iters)
                        .map(|_| unsafe { plain(&trace.events, &mut table, touching, prefetch) })
                        .sum()
                })
            });
        }
        let options = Options { touch: touching, usable_sizes: false, ..Options::default() };
        group.bench_function(format!("measured_replay/{suffix}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        // SAFETY: as above.
                        let m = unsafe {
                            measure::replay(&Glibc, &trace.events, trace.blocks, &options)
                        }
                        .expect("the replay's tables map");
                        Duration::from_nanos(m.elapsed_ns)
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

fn touching(c: &mut Criterion) {
    let mut group = c.benchmark_group("touch");
    const BYTES: usize = 1 << 20;
    // SAFETY: plain C allocations, freed below or in the iteration that made them.
    let resident = unsafe { libc::malloc(BYTES) }.cast::<u8>();
    unsafe { std::ptr::write_bytes(resident, 0, BYTES) };
    group.bench_function("1_MiB_resident/256_pages", |b| {
        b.iter(|| unsafe { touch(black_box(resident), 0, BYTES) })
    });
    // Fresh pages: a new anonymous mapping each time, as glibc makes for a block above its mmap
    // threshold; every touched page is a page fault.
    let map = || unsafe {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        libc::mmap(std::ptr::null_mut(), BYTES, prot, flags, -1, 0).cast::<u8>()
    };
    group.bench_function("1_MiB_fresh_mapping/untouched", |b| {
        b.iter(|| unsafe { libc::munmap(black_box(map()).cast(), BYTES) })
    });
    group.bench_function("1_MiB_fresh_mapping/256_pages_touched", |b| {
        b.iter(|| unsafe {
            let p = black_box(map());
            touch(p, 0, BYTES);
            libc::munmap(p.cast(), BYTES);
        })
    });
    unsafe { libc::free(resident.cast()) };
    group.finish();
}

criterion_group!(benches, harness, touching);
criterion_main!(benches);
