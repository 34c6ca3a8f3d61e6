//! Replay speed of every registered strategy at 1k, 100k and 1M live blocks.
//!
//! Each trace ramps up to `live` blocks and then churns (free a random block, allocate a new one)
//! for a million steps, so the per-event time shows how cost grows with the heap's size. The
//! replay includes the engine's own bookkeeping, as `replay`'s throughput pass does.
//!
//! `cargo bench --bench replay`; filter with e.g. `cargo bench --bench replay -- first-fit`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use replay::alloc::{Params, ALL};
use replay::replay::{NoProbe, Replayer};
use replay::trace::synth::steady_state;
use std::time::Duration;

const LIVE_BLOCKS: [usize; 3] = [1_000, 100_000, 1_000_000];
const CHURN_STEPS: usize = 1_000_000;

fn strategies(c: &mut Criterion) {
    let params = Params::default();
    for live in LIVE_BLOCKS {
        let trace = steady_state(live, CHURN_STEPS, 42);
        let mut group = c.benchmark_group(format!("replay/{live}-live"));
        group.throughput(Throughput::Elements(trace.events.len() as u64));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(4));
        for entry in ALL {
            group.bench_function(entry.name, |b| {
                b.iter_batched(
                    || Replayer::new(entry, &params, trace.blocks),
                    |mut replayer| {
                        replayer.run(&trace.events, 0, &mut NoProbe);
                        replayer
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, strategies);
criterion_main!(benches);
