//! Real allocators: glibc's malloc, mimalloc, jemalloc and any preloaded library, replayed for
//! real, one allocator per fresh child process, beside the simulations.
//!
//! The files, each owning one thing:
//! - [`allocator`]: the [`RealAllocator`] trait every backend implements, and [`AllocatorStats`],
//!   the figures an allocator reports about itself;
//! - [`glibc`], [`mimalloc`], [`jemalloc`], [`preload`]: one backend each;
//! - [`registry`]: the built-in allocators ([`REAL`]) and the names `--alloc` takes for real
//!   allocators ([`RealSpec`]: a built-in name or `preload:PATH`);
//! - [`measure`]: the measured replay, on one thread: exact live figures from usable sizes,
//!   resident memory, throughput, latency; its docs define every figure, say what touching
//!   costs and which figure we recommend as the footprint;
//! - [`threads`]: the measured replay on the trace's own threads (one OS thread per recorded
//!   thread, ordered per block), and its model against `memory_replay`'s and `trace_run`'s;
//! - [`mapped`], [`resident`]: the replayer's own memory outside every heap (`mmap`), and the
//!   process's resident memory read without allocating;
//! - [`child`]: the child process and its protocol ([`spawn`] on the parent's side);
//! - [`run`]: the parent's plan for one allocator: `--runs` children, then `--runs` latency
//!   children, each killed past `--real-timeout` ([`run::RealResult`]).
//!
//! # Isolation
//! Each replay runs in a fresh process (re-executing `replay`), so heaps and resident memory never
//! mix, and a crash inside an allocator is a [`ChildFailure`] for it, not the end of `replay`.
//! Inside the child, the measured heap holds only the trace's blocks: the events are a mapped
//! file, the block table and series are anonymous mappings, everything is made before the loop,
//! and nothing inside the loop allocates (see [`measure`] and [`child`]).

pub mod allocator;
pub mod child;
pub mod glibc;
pub mod jemalloc;
pub mod mapped;
pub mod measure;
pub mod mimalloc;
pub mod preload;
pub mod registry;
pub mod resident;
pub mod run;
pub mod threads;

pub use allocator::{AllocatorStats, RealAllocator};
pub use child::{
    spawn, spawn_on, spawn_with_timeout, ChildFailure, ChildReport, ChildRequest, EventsImage,
    FailureKind,
};
pub use measure::{Measured, MemorySample, Mode, Options};
pub use registry::{RealEntry, RealSpec, REAL};
