//! Replay speed of every registered strategy at 1k, 100k and 1M live blocks.
//!
//! Each trace ramps up to `live` blocks and then churns (free a random block, allocate a new one)
//! for a million steps, so the per-event time shows how cost grows with the heap's size. The
//! replay includes the engine's own bookkeeping, as `replay`'s throughput pass does.
//!
//! `cargo bench --bench replay`; filter with e.g. `cargo bench --bench replay -- first-fit`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use replay::alloc::{Params, ALL};
use replay::engine::replayer::Setup;
use replay::engine::timing::throughput_of;
use replay::engine::{InMemory, LatencyProbe, NoProbe, Replayer};
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

/// The latency pass (a clock read before and after every strategy call, into histograms; one
/// call in `k` for strategies cheaper than the clock, `k` chosen from an untimed run as `replay`
/// does) against the untimed pass, on the same trace: their ratio is the timing overhead.
/// `cargo bench --bench replay -- overhead`.
fn timing_overhead(c: &mut Criterion) {
    let params = Params::default();
    let trace = steady_state(100_000, CHURN_STEPS, 42);
    let mut group = c.benchmark_group("overhead/100000-live");
    group.throughput(Throughput::Elements(trace.events.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for entry in ALL {
        let every = LatencyProbe::sampling_for(
            throughput_of(
                Setup::new(entry, &params),
                &InMemory { events: &trace.events, blocks: trace.blocks },
                &|_| {},
            )
            .expect("events in memory cannot fail to be read"),
            trace.events.len() as u64,
        );
        group.bench_function(format!("{}/untimed", entry.name), |b| {
            b.iter_batched(
                || Replayer::new(entry, &params, trace.blocks),
                |mut replayer| {
                    replayer.run(&trace.events, 0, &mut NoProbe);
                    replayer
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("{}/latency", entry.name), |b| {
            b.iter_batched(
                || (Replayer::new(entry, &params, trace.blocks), LatencyProbe::sampling(every)),
                |(mut replayer, mut probe)| {
                    replayer.run(&trace.events, 0, &mut probe);
                    (replayer, probe)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, strategies, timing_overhead);
criterion_main!(benches);
