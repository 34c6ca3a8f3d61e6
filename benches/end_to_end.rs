//! The whole run, as `replay TRACE --alloc simulated` does it: a generated trace (`replay gen`'s
//! generator, 1M events, 10k live blocks, mixed sizes, plateau) converted to an `.rtrace` file,
//! then every strategy's metrics pass streamed from it (in parallel, as `run_all` does), with
//! and without one throughput pass and the latency pass.
//!
//! `cargo bench --bench end_to_end`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use replay::alloc::{Params, ALL};
use replay::engine::{run_all, Plan, Timing};
use replay::trace::rtrace;
use replay::trace::synth::{generate, GenSpec, Pattern, SizeDistribution};
use replay::trace::{Format, ParseOptions};
use std::time::Duration;

const EVENTS: u64 = 1_000_000;

fn end_to_end(c: &mut Criterion) {
    let spec = GenSpec {
        events: EVENTS,
        live: 10_000,
        sizes: SizeDistribution::Mixed,
        pattern: Pattern::Plateau,
        seed: 1,
    };
    let dir = std::env::temp_dir();
    let csv_path = dir.join(format!("replay-e2e-{}.csv", std::process::id()));
    let rtrace_path = csv_path.with_extension("rtrace");
    generate(&spec, std::fs::File::create(&csv_path).unwrap()).unwrap();
    let source =
        rtrace::convert_to_file(&csv_path, Format::Csv, ParseOptions::default(), &rtrace_path)
            .unwrap();
    let entries: Vec<_> = ALL.iter().collect();

    let mut group = c.benchmark_group("end-to-end/1M-events");
    group.throughput(Throughput::Elements(EVENTS));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    for runs in [0, 1] {
        let name =
            if runs == 0 { "all strategies, metrics only" } else { "all strategies, --runs 1" };
        group.bench_function(name, |b| {
            b.iter(|| {
                let plan = Plan {
                    entries: &entries,
                    params: Params::default(),
                    slowdowns: &[],
                    source: &source,
                    timing: Timing { runs, until_tight: false, parallel: false, fake_clock: false },
                    verify: false,
                    line_of: &|i| i,
                    samples: 1000,
                    layout: false,
                    advance: &|_| {},
                };
                run_all(&plan).unwrap()
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_file(&csv_path);
    let _ = std::fs::remove_file(&rtrace_path);
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
