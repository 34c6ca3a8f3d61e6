//! Parse throughput of the native CSV format (as `replay` runs it, and on one thread), against
//! the bare csv crate reading the same bytes record by record (on one thread), the read
//! throughput of the same events as an `.rtrace` file (from the page cache), and the content
//! hash every run computes over its trace file (`replay::gate::hash`, both algorithms), in one
//! run: `cargo bench --bench parse` (`-- hash` for the hash alone; `REPLAY_BENCH_HASH_MIB=1024`
//! hashes a 1 GiB file instead of 64 MiB).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use replay::gate::hash::{self, Algorithm};
use replay::trace::rtrace::{self, Rtrace, CHUNK_EVENTS};
use replay::trace::{csv, Format, ParseOptions};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// About `bytes` of a realistic trace: heap-like pointers, mostly small sizes, frees of random
/// live blocks, a realloc now and then, like `traces/perl-hash.csv`.
fn synthetic_csv(bytes: usize) -> Vec<u8> {
    let mut state: u64 = 0x853c_49e6_748f_ea9b;
    let mut random = move || {
        // xorshift64*: deterministic, good enough for a workload.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut out = b"op,ptr,size,old_ptr\n".to_vec();
    let mut live: Vec<u64> = Vec::new();
    let mut next: u64 = 0x55d0_c0a2_b2a0;
    while out.len() < bytes {
        let r = random();
        if live.len() > 10 && r % 100 < 45 {
            let ptr = live.swap_remove((random() % live.len() as u64) as usize);
            out.extend_from_slice(format!("free,{ptr:#x},,\n").as_bytes());
        } else if !live.is_empty() && r % 100 < 50 {
            let i = (random() % live.len() as u64) as usize;
            let size = 16 + random() % 2000;
            next += (size + 31) & !15;
            out.extend_from_slice(format!("realloc,{next:#x},{size},{:#x}\n", live[i]).as_bytes());
            live[i] = next;
        } else {
            let size = if r % 10 == 0 { random() % 100_000 } else { 1 + random() % 120 };
            next += (size + 31) & !15;
            out.extend_from_slice(format!("malloc,{next:#x},{size},\n").as_bytes());
            live.push(next);
        }
    }
    out
}

fn parse(c: &mut Criterion) {
    let input = synthetic_csv(16 << 20);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    // As `replay` reads a plain file: its length says how many events to make room for. By
    // default the lines are read on a second thread beside the one that checks them; with
    // `one_thread` (`replay --threads 1`), both on one.
    for (name, one_thread) in
        [("replay csv::parse", false), ("replay csv::parse, one thread", true)]
    {
        group.bench_function(name, |b| {
            b.iter(|| {
                let options = ParseOptions { one_thread, ..ParseOptions::default() };
                let path = Path::new("bench.csv");
                let bytes = input.len() as u64;
                let trace =
                    csv::parse_with_size_hint(input.as_slice(), path, options, bytes).unwrap();
                black_box(trace.events.len())
            })
        });
    }
    group.bench_function("bare csv crate read_byte_record", |b| {
        b.iter(|| {
            let mut reader = ::csv::ReaderBuilder::new()
                .has_headers(true)
                .buffer_capacity(1 << 16)
                .from_reader(input.as_slice());
            let mut record = ::csv::ByteRecord::new();
            let mut fields = 0;
            while reader.read_byte_record(&mut record).unwrap() {
                fields += record.len();
            }
            black_box(fields)
        })
    });
    group.finish();

    // The same events as an .rtrace file, read in chunks as every streamed pass reads them.
    let dir = std::env::temp_dir();
    let csv_path = dir.join(format!("replay-bench-{}.csv", std::process::id()));
    let rtrace_path = csv_path.with_extension("rtrace");
    std::fs::write(&csv_path, &input).unwrap();
    let rtrace =
        rtrace::convert_to_file(&csv_path, Format::Csv, ParseOptions::default(), &rtrace_path)
            .unwrap();
    let bytes = std::fs::metadata(&rtrace_path).unwrap().len();
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(bytes));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("rtrace chunks (bulk read + decode)", |b| {
        b.iter(|| {
            let mut n = 0u64;
            rtrace
                .for_each_chunk(CHUNK_EVENTS, &mut |events, _| {
                    n += events.len() as u64;
                    true
                })
                .unwrap();
            black_box(n)
        })
    });
    group.bench_function("rtrace open (header, length, checksum)", |b| {
        b.iter(|| black_box(Rtrace::open(&rtrace_path).unwrap().header.events))
    });
    group.finish();
    let _ = std::fs::remove_file(&csv_path);
    let _ = std::fs::remove_file(&rtrace_path);
}

/// `replay::gate::hash::of_file` over a file of pseudo-random bytes in the page cache.
fn content_hash(c: &mut Criterion) {
    let mib: usize =
        std::env::var("REPLAY_BENCH_HASH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let path = std::env::temp_dir().join(format!("replay-bench-hash-{}", std::process::id()));
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let piece: Vec<u8> = (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..mib {
            let mut block = piece.clone();
            block[0] = i as u8;
            std::io::Write::write_all(&mut file, &block).unwrap();
        }
    }
    let mut group = c.benchmark_group("hash");
    group.throughput(Throughput::Bytes((mib << 20) as u64));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for algorithm in [Algorithm::Crc32, Algorithm::Fnv1a64] {
        group.bench_function(format!("{} of_file", algorithm.prefix()), |b| {
            b.iter(|| black_box(hash::of_file(&path, algorithm).unwrap()))
        });
    }
    // The hash alone, on bytes already in memory: what of_file would reach if reading the
    // file cost nothing.
    let bytes = std::fs::read(&path).unwrap();
    group.bench_function("crc32 in memory", |b| b.iter(|| black_box(crc32fast::hash(&bytes))));
    group.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, parse, content_hash);
criterion_main!(benches);
