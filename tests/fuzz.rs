//! A deterministic mutation fuzzer for every input format `replay` reads: native CSV, CSV `.gz`,
//! mtrace, heaptrack (raw and interpreted, as text and as `.zst`), the malloc lab's `.rep`,
//! `.rtrace`, Android's `record_allocs` (as text and as a zip of one), Firefox's logalloc (raw
//! and munged), and the recorder's raw files. The binary reads every case twice: with its
//! `--format`, and without, so that detection by content sees every mutated input too.
//!
//! Each format starts from the shipped traces in `traces/` (cut to their first few KiB) and small
//! valid inputs built here, and applies seeded mutations: bit flips, random bytes, insertions,
//! deletions, duplicated ranges, splices of two inputs, huge numbers and boundary values (as
//! text for the text formats, as little-endian words for the binary ones). For `.rtrace`, half
//! the cases have their checksums recomputed after the mutation, so that the checks behind the
//! checksums are reached. Every case is loaded in-process through the library's loaders, with
//! `catch_unwind`: a panic fails the test naming the format, the seed and the case, and the
//! input is kept under `target/fuzz-failures/`. A watchdog aborts the run, naming the case, if
//! one case takes more than a minute (inputs are at most 64 KiB, so a case takes milliseconds):
//! a hang. A subset of the cases also runs through the real binary, under a 1 GiB limit on its
//! address space, and must exit with 0 or 2: never a signal (an abort, or an allocation sized by
//! hostile input that the limit refused) and never 101 (a panic).
//!
//! `REPLAY_FUZZ_CASES` (default 300) sets the in-process cases per format, `REPLAY_FUZZ_BINARY`
//! (default 8) the binary runs per format, `REPLAY_FUZZ_SEED` the seed (default 1). A long local
//! run: `REPLAY_FUZZ_CASES=200000 REPLAY_FUZZ_BINARY=2000 cargo test --release --test fuzz --
//! --nocapture` (it prints cases per format and the binary's peak RSS).

use replay::trace::{
    self, android, csv, heaptrack, logalloc, mtrace, recorded, rep, rtrace, Format, ParseOptions,
};
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Inputs are cut to this: every case is then fast, and a slow one is a hang.
const MAX_INPUT: usize = 64 << 10;
/// A case that runs longer than this is a hang.
const HANG: Duration = Duration::from_secs(60);
/// The binary's address-space limit.
const ADDRESS_SPACE_KIB: u64 = 1 << 20;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The input formats, as the fuzzer feeds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Csv,
    CsvGz,
    Mtrace,
    HeaptrackText,
    HeaptrackZst,
    Rep,
    Rtrace,
    Recorded,
    Android,
    AndroidZip,
    Logalloc,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::Csv,
        Kind::CsvGz,
        Kind::Mtrace,
        Kind::HeaptrackText,
        Kind::HeaptrackZst,
        Kind::Rep,
        Kind::Rtrace,
        Kind::Recorded,
        Kind::Android,
        Kind::AndroidZip,
        Kind::Logalloc,
    ];

    /// The file name a case of this kind is written to.
    fn file_name(self) -> &'static str {
        match self {
            Kind::Csv => "case.csv",
            Kind::CsvGz => "case.csv.gz",
            Kind::Mtrace => "case.mtrace",
            Kind::HeaptrackText => "case.heaptrack",
            Kind::HeaptrackZst => "case.zst",
            Kind::Rep => "case.rep",
            Kind::Rtrace => "case.rtrace",
            Kind::Recorded => "case.raw",
            Kind::Android => "case.txt",
            Kind::AndroidZip => "case.zip",
            Kind::Logalloc => "case.log",
        }
    }

    /// `--format` for the binary; `None`: the binary has no way to read it.
    fn format(self) -> Option<&'static str> {
        match self {
            Kind::Csv | Kind::CsvGz => Some("csv"),
            Kind::Mtrace => Some("mtrace"),
            Kind::HeaptrackText | Kind::HeaptrackZst => Some("heaptrack"),
            Kind::Rep => Some("rep"),
            Kind::Rtrace => Some("rtrace"),
            Kind::Android | Kind::AndroidZip => Some("android"),
            Kind::Logalloc => Some("logalloc"),
            Kind::Recorded => None,
        }
    }

    /// Whether the fuzzer mutates its bytes as binary data (words, records).
    fn binary(self) -> bool {
        matches!(self, Kind::Rtrace | Kind::Recorded)
    }

    /// Whether it is compressed text.
    fn compressed(self) -> bool {
        matches!(self, Kind::CsvGz | Kind::HeaptrackZst | Kind::AndroidZip)
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The first `MAX_INPUT / 4` bytes of `bytes`, cut after a newline.
fn head(bytes: &[u8]) -> Vec<u8> {
    let cut = MAX_INPUT / 4;
    if bytes.len() <= cut {
        return bytes.to_vec();
    }
    let end = bytes[..cut].iter().rposition(|&b| b == b'\n').map_or(cut, |i| i + 1);
    bytes[..end].to_vec()
}

/// The decompressed bytes of a shipped file.
fn decompressed(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    trace::open(path).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

/// Text CSV seeds: the small shipped traces, the heads of the large ones, and one of every op
/// and edge case.
fn csv_seeds() -> Vec<Vec<u8>> {
    let traces = root().join("traces");
    let mut seeds: Vec<Vec<u8>> = [
        "bump-never-reuses.csv",
        "coalescing.csv",
        "min-size.csv",
        "overrun.csv",
        "use-after-free.csv",
        "xz.csv",
        "perl-hash.csv",
    ]
    .iter()
    .map(|name| head(&std::fs::read(traces.join(name)).unwrap()))
    .collect();
    seeds.push(head(&decompressed(&traces.join("python-dict.csv.gz"))));
    seeds.push(
        b"op,ptr,size,old_ptr,align,offset,thread,time_ns\n\
          malloc,0x10,24,,,,1,100\ncalloc,0x40,0,,,,1,\nrealloc,0x80,100,0x10,,,2,\n\
          memalign,0x1000,64,,4096,,,\nwrite,0x80,8,,,4,,\nfree,0x80,,,,,,\n\
          write,0x80,1,,,0,,\nrealloc,0,0,0x40,,,,\nfree,0,,,,,,\nmalloc,0,99,,,,,\n\
          \"free\",\"0x1000\",,,,,,\n"
            .to_vec(),
    );
    seeds
}

fn mtrace_seeds() -> Vec<Vec<u8>> {
    let traces = root().join("traces");
    vec![
        head(&std::fs::read(traces.join("sort-small.mtrace")).unwrap()),
        head(&std::fs::read(traces.join("imports/sort-small-libstdc++.mtrace")).unwrap()),
        b"= Start\n@ ./p:[0x1] + 0x10 0x18\n@ ./p:[0x2] < 0x10\n@ ./p:[0x2] > 0x20 0x30\n\
          ! 0x20 0x40\n+ (nil) 0x10\n- 0x20\n- (nil)\n= End\n"
            .to_vec(),
    ]
}

fn heaptrack_seeds() -> Vec<Vec<u8>> {
    let imports = root().join("traces/imports");
    vec![
        head(&decompressed(&imports.join("sort-small.heaptrack.zst"))),
        head(&decompressed(&imports.join("sort-small.heaptrack.raw.zst"))),
        b"v 10400 3\na 10 4\na 20 5\n+ 0\n+ 1\n+ 0\n- 0\n- 1\n- 0\nc 12\n".to_vec(),
        b"v 10400 3\nm 1 x 55 0\n+ 10 4 aa0\n+ 20 4 bb0\n- aa0\n- bb0\n".to_vec(),
    ]
}

fn android_seeds() -> Vec<Vec<u8>> {
    vec![
        head(&std::fs::read(root().join("tests/data/android-small.txt")).unwrap()),
        b"1: malloc 0x10 24\n2: calloc 0x20 4 16 100 200\n1: realloc 0x30 0x10 64\n\
          2: memalign 0x40 64 100\n1: free 0x30 0 0 8\n2: free 0x20\n1: free 0x0\n\
          2: thread_done 0x0\n"
            .to_vec(),
    ]
}

fn logalloc_seeds() -> Vec<Vec<u8>> {
    let data = root().join("tests/data");
    vec![
        head(&std::fs::read(data.join("logalloc-small.log")).unwrap()),
        head(&std::fs::read(data.join("logalloc-small-munged.log")).unwrap()),
    ]
}

/// A zip holding `bytes` as its one file, stored or deflated.
fn zip_of(bytes: &[u8], deflate: bool) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let method =
        if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    zip.start_file("trace.txt", options).unwrap();
    zip.write_all(bytes).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

fn rep_seeds() -> Vec<Vec<u8>> {
    vec![
        b"20000\n3\n6\n1\na 0 512\na 1 128\nr 0 640\na 2 8\nf 1\nf 0\n".to_vec(),
        b"100 2 4 1\na 0 16\nf 0\na 1 4095\nf 1\n".to_vec(),
    ]
}

/// A raw recording: magic, then `(seq, time, ptr, size, arg, tid, op)` records.
fn recorded_seeds() -> Vec<Vec<u8>> {
    let raw = |records: &[(u64, u64, u64, u64, u32)]| {
        let mut bytes = b"RPLYREC2".to_vec(); // src/trace/recorded.rs's magic
        for &(seq, ptr, size, arg, op) in records {
            for word in [seq, 100 + seq, ptr, size, arg] {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
            bytes.extend_from_slice(&7u32.to_le_bytes());
            bytes.extend_from_slice(&op.to_le_bytes());
        }
        bytes
    };
    vec![
        raw(&[(2, 0x20, 8, 0, 0), (0, 0x10, 8, 0, 0), (1, 0x10, 0, 0, 3), (3, 0, 0, 0, 5)]),
        raw(&[
            (0, 0x10, 8, 0, 0),
            (1, 0x20, 16, 0x10, 2),
            (2, 0x40, 32, 64, 4),
            (3, 0x20, 0, 0, 3),
        ]),
    ]
}

/// `.rtrace` seeds: CSV seeds converted.
fn rtrace_seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (i, csv_text) in csv_seeds().iter().enumerate() {
        let source = dir.join(format!("seed{i}.csv"));
        let out = dir.join(format!("seed{i}.rtrace"));
        std::fs::write(&source, csv_text).unwrap();
        if rtrace::convert_to_file(&source, Format::Csv, ParseOptions::default(), &out).is_ok() {
            seeds.push(std::fs::read(&out).unwrap());
        }
    }
    assert!(seeds.len() >= 5, "the CSV seeds convert");
    seeds
}

// ---------------------------------------------------------------------------------------------
// Mutations

/// Text that breaks parsers: huge numbers, boundary values, quotes, separators, escapes.
const TOKENS: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "0xffffffffffffffff",
    "0x10000000000000000",
    "0x8000000000000000",
    "4294967295",
    "4294967296",
    "9223372036854775808",
    "-1",
    "0",
    "0x",
    "(nil)",
    "\"",
    "\"\"",
    ",",
    "\n",
    "\r\n",
    "#",
    " ",
    "\x1b[2J",
    "\0",
    "\u{202e}",
    "\u{feff}",
    "malloc",
    "free",
    "realloc",
    "memalign",
    "write",
    "+",
    "-",
    "<",
    ">",
    "a",
    "f",
    "r",
];

/// Boundary words for the binary formats.
const WORDS: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    15,
    16,
    63,
    64,
    255,
    256,
    65535,
    1 << 31,
    u32::MAX as u64,
    1 << 32,
    1 << 40,
    1 << 62,
    i64::MAX as u64,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

fn mutate(rng: &mut fastrand::Rng, input: &mut Vec<u8>, other: &[u8], binary: bool) {
    let most = if rng.bool() { 2 } else { 8 };
    let steps = 1 + rng.usize(..most);
    for _ in 0..steps {
        let len = input.len();
        let at = rng.usize(..=len);
        match rng.u8(..10) {
            0 | 1 if len > 0 => {
                let i = rng.usize(..len);
                input[i] ^= 1 << rng.u8(..8);
            }
            2 if len > 0 => {
                let i = rng.usize(..len);
                input[i] = rng.u8(..);
            }
            3 => {
                let n = rng.usize(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
                input.splice(at..at, bytes);
            }
            4 if len > 0 => {
                let n = rng.usize(1..=len.min(64));
                let start = rng.usize(..=len - n);
                input.drain(start..start + n);
            }
            5 if len > 0 => {
                // Duplicate a range somewhere else.
                let n = rng.usize(1..=len.min(256));
                let start = rng.usize(..=len - n);
                let copy = input[start..start + n].to_vec();
                input.splice(at..at, copy);
            }
            6 if !other.is_empty() => {
                // Splice: this input's head, the other's tail.
                let from = rng.usize(..other.len());
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            7 if binary && len >= 8 => {
                let word = WORDS[rng.usize(..WORDS.len())];
                let width = if rng.bool() { 4 } else { 8 };
                let i = rng.usize(..=len - width) & !(width - 1);
                input[i..i + width].copy_from_slice(&word.to_le_bytes()[..width]);
            }
            8 if binary && len >= 16 => {
                // A whole record: the op byte of a 16-byte record, or its id.
                let record = 96 + 16 * rng.usize(..len.saturating_sub(96) / 16 + 1);
                if record + 16 <= len {
                    match rng.u8(..3) {
                        0 => input[record + 12] = rng.u8(..8),
                        1 => input[record + 13] = [0, 1, 3, 4, 5, 63, 64, 255][rng.usize(..8)],
                        _ => input[record + 8..record + 12]
                            .copy_from_slice(&(rng.u32(..4)).to_le_bytes()),
                    }
                }
            }
            _ => {
                let token = TOKENS[rng.usize(..TOKENS.len())];
                input.splice(at..at, token.bytes());
            }
        }
    }
    input.truncate(MAX_INPUT);
}

/// Recompute an `.rtrace`'s checksums, if it still has a whole header.
fn fix_rtrace_checksums(bytes: &mut [u8]) {
    if bytes.len() < 96 {
        return;
    }
    let body = crc32fast::hash(&bytes[96..]);
    bytes[88..92].copy_from_slice(&body.to_le_bytes());
    let header = crc32fast::hash(&bytes[..92]);
    bytes[92..96].copy_from_slice(&header.to_le_bytes());
}

// ---------------------------------------------------------------------------------------------
// Running a case

/// Load `bytes` as `kind` through the library, strictly and leniently, as `replay` would; the
/// results do not matter, only that nothing panics or hangs. `dir` is scratch space.
fn load_in_process(kind: Kind, bytes: &[u8], dir: &Path) {
    let path = dir.join(kind.file_name());
    for lenient in [false, true] {
        let options = ParseOptions { lenient, one_thread: lenient };
        match kind {
            Kind::Csv => {
                let _ = csv::parse(bytes, &path, options);
                let _ = csv::parse(bytes, &path, ParseOptions { one_thread: !lenient, ..options });
            }
            Kind::Mtrace => {
                let _ = mtrace::parse(bytes, &path, options);
                let _ = mtrace::to_csv(bytes, &path, Vec::new(), options);
            }
            Kind::HeaptrackText => {
                let _ = heaptrack::parse(bytes, &path, options);
                let _ = heaptrack::to_csv(bytes, &path, Vec::new(), options);
            }
            Kind::Rep => {
                let _ = rep::parse(bytes, &path, options);
                let _ = rep::to_csv(bytes, &path, Vec::new(), options);
            }
            Kind::Recorded => {
                let _ = recorded::to_csv(bytes, &path, Vec::new());
                let _ = recorded::read(bytes, &path);
                return;
            }
            Kind::Android => {
                let _ = android::parse(bytes, &path, options);
                let _ = android::to_csv(bytes, &path, Vec::new(), options);
            }
            Kind::Logalloc => {
                let _ = logalloc::parse(bytes, &path, options);
                let _ = logalloc::to_csv(bytes, &path, Vec::new(), options);
            }
            Kind::AndroidZip => {
                std::fs::write(&path, bytes).unwrap();
                let _ = trace::load(&path, Format::Android, options);
                let _ = trace::detect(&path);
            }
            Kind::CsvGz | Kind::HeaptrackZst | Kind::Rtrace => {
                std::fs::write(&path, bytes).unwrap();
                let format = match kind {
                    Kind::CsvGz => Format::Csv,
                    Kind::HeaptrackZst => Format::Heaptrack,
                    _ => Format::Rtrace,
                };
                let _ = trace::load(&path, format, options);
                if kind == Kind::Rtrace {
                    if let Ok(opened) = rtrace::Rtrace::open_with(&path, options) {
                        let _ = rtrace::to_csv(&opened, Vec::new());
                    }
                } else {
                    let converted = dir.join("converted.rtrace");
                    let _ = rtrace::convert_to_file(&path, format, options, &converted);
                }
            }
        }
    }
}

/// What one run of the binary on `path` ended with.
struct BinaryRun {
    status: std::process::ExitStatus,
    stderr: String,
}

/// Run `replay ARGS` under the address-space limit.
fn run_binary(args: &[&str]) -> BinaryRun {
    let binary = assert_cmd::cargo::cargo_bin("replay");
    let script = format!("ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\"");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&binary)
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    BinaryRun { status: output.status, stderr: String::from_utf8_lossy(&output.stderr).into() }
}

/// The binary's runs for a case of `kind` written at `path`.
fn binary_args(kind: Kind, path: &Path, dir: &Path, lenient: bool) -> Vec<Vec<String>> {
    let path = path.to_str().unwrap().to_string();
    let mut runs = Vec::new();
    let lenient = if lenient { vec!["--lenient".to_string()] } else { vec![] };
    if let Some(format) = kind.format() {
        let mut run = vec![path.clone(), "--format".into(), format.into()];
        run.extend(
            ["--alloc", "simulated", "--runs", "1", "--fake-clock", "--quiet"].map(String::from),
        );
        run.extend(lenient.clone());
        // The same without --format: told by content.
        let mut detected = run.clone();
        detected.drain(1..3);
        runs.push(run);
        runs.push(detected);
        let mut stats = vec!["stats".to_string(), path.clone(), "--format".into(), format.into()];
        stats.extend(lenient.clone());
        runs.push(stats);
        let out = dir.join("out.csv").to_str().unwrap().to_string();
        if format == "rtrace" {
            runs.push(vec!["convert".into(), path, "-o".into(), out]);
        } else if format != "csv" {
            let mut import = vec!["import".into(), "--from".into(), format.into(), path];
            import.extend(["-o".into(), out]);
            import.extend(lenient);
            runs.push(import);
        }
    }
    runs
}

/// The failures of a run, for the final message.
#[derive(Default)]
struct Failures(Vec<String>);

/// The case being run, for the watchdog: its description and when it started (ms since the
/// start; 0 when none is running).
struct Current {
    what: Mutex<String>,
    since_ms: AtomicU64,
}

fn watchdog(current: Arc<Current>, started: Instant) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        let since = current.since_ms.load(Ordering::SeqCst);
        let now = started.elapsed().as_millis() as u64;
        if since > 0 && now.saturating_sub(since) > HANG.as_millis() as u64 {
            let what = current.what.lock().map(|w| w.clone()).unwrap_or_default();
            eprintln!("fuzz: HANG: {what} has run for more than {HANG:?}");
            std::process::abort();
        }
    });
}

fn keep_failure(kind: Kind, seed: u64, case: u64, bytes: &[u8]) -> PathBuf {
    let dir = root().join("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind:?}-seed{seed}-case{case}-{}", kind.file_name()));
    let _ = std::fs::write(&path, bytes);
    path
}

#[test]
fn every_input_format_survives_mutated_inputs_in_process_and_in_the_binary() {
    let cases = env_number("REPLAY_FUZZ_CASES", 300);
    let binary_cases = env_number("REPLAY_FUZZ_BINARY", 8);
    let seed = env_number("REPLAY_FUZZ_SEED", 1);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let current =
        Arc::new(Current { what: Mutex::new(String::new()), since_ms: AtomicU64::new(0) });
    watchdog(current.clone(), started);
    // Panics are caught and reported below; the default hook would print each one too.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    let mut failures = Failures::default();
    let mut peak_rss_kib = 0;
    for kind in Kind::ALL {
        let text_seeds = match kind {
            Kind::Csv | Kind::CsvGz => csv_seeds(),
            Kind::Mtrace => mtrace_seeds(),
            Kind::HeaptrackText | Kind::HeaptrackZst => heaptrack_seeds(),
            Kind::Rep => rep_seeds(),
            Kind::Rtrace => rtrace_seeds(dir.path()),
            Kind::Recorded => recorded_seeds(),
            Kind::Android | Kind::AndroidZip => android_seeds(),
            Kind::Logalloc => logalloc_seeds(),
        };
        let kind_started = Instant::now();
        let mut ran_binary = 0;
        for case in 0..cases {
            let mut rng = fastrand::Rng::with_seed(seed ^ (case << 8) ^ kind as u64);
            let mut bytes = text_seeds[rng.usize(..text_seeds.len())].clone();
            let other = &text_seeds[rng.usize(..text_seeds.len())];
            // Compressed kinds: mutate the text, the compressed bytes, or both.
            let deflate = rng.bool();
            let compress = |bytes: &[u8]| match kind {
                Kind::CsvGz => gzip(bytes),
                Kind::HeaptrackZst => zstd(bytes),
                Kind::AndroidZip => zip_of(bytes, deflate),
                _ => bytes.to_vec(),
            };
            if kind.compressed() {
                let how = rng.u8(..3);
                if how != 1 {
                    mutate(&mut rng, &mut bytes, other, false);
                }
                bytes = compress(&bytes);
                if how != 0 {
                    mutate(&mut rng, &mut bytes, &[], true);
                }
            } else {
                mutate(&mut rng, &mut bytes, other, kind.binary());
                if kind == Kind::Rtrace && rng.bool() {
                    fix_rtrace_checksums(&mut bytes);
                }
            }
            if let Ok(mut what) = current.what.lock() {
                *what = format!("{kind:?} seed {seed} case {case}");
            }
            current.since_ms.store(started.elapsed().as_millis().max(1) as u64, Ordering::SeqCst);
            let scratch = dir.path().join(format!("{kind:?}"));
            std::fs::create_dir_all(&scratch).unwrap();
            let outcome =
                catch_unwind(AssertUnwindSafe(|| load_in_process(kind, &bytes, &scratch)));
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let kept = keep_failure(kind, seed, case, &bytes);
                failures.0.push(format!(
                    "{kind:?} seed {seed} case {case}: panicked in-process: {message} (input: {})",
                    kept.display()
                ));
            }
            // Spread the binary's runs over the cases.
            if kind.format().is_some() && case * binary_cases / cases.max(1) >= ran_binary {
                ran_binary += 1;
                let path = scratch.join(kind.file_name());
                std::fs::write(&path, &bytes).unwrap();
                for args in binary_args(kind, &path, &scratch, case % 2 == 1) {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let run = run_binary(&args);
                    let fine = matches!(run.status.code(), Some(0 | 2));
                    if !fine {
                        let kept = keep_failure(kind, seed, case, &bytes);
                        failures.0.push(format!(
                            "{kind:?} seed {seed} case {case}: `replay {}` ended with {}: {} \
                             (input: {})",
                            args.join(" "),
                            run.status,
                            run.stderr.lines().last().unwrap_or_default(),
                            kept.display()
                        ));
                    }
                }
                peak_rss_kib = peak_rss_kib.max(children_peak_rss_kib());
            }
            current.since_ms.store(0, Ordering::SeqCst);
        }
        eprintln!(
            "fuzz: {kind:?}: {cases} cases in-process, {ran_binary} through the binary, {:.1} s",
            kind_started.elapsed().as_secs_f64()
        );
    }
    std::panic::set_hook(hook);
    eprintln!(
        "fuzz: {} failures; peak RSS of the binary's runs: {} KiB",
        failures.0.len(),
        peak_rss_kib
    );
    assert!(failures.0.is_empty(), "{} failures:\n{}", failures.0.len(), failures.0.join("\n"));
}

/// The largest resident set of any child waited for so far (`getrusage(RUSAGE_CHILDREN)`), KiB.
fn children_peak_rss_kib() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } == 0;
    if ok {
        usage.ru_maxrss.max(0) as u64
    } else {
        0
    }
}

#[test]
fn the_binary_runs_a_valid_trace_under_the_address_space_limit() {
    // Otherwise every binary case above would fail for the limit, not for its input.
    let trace = root().join("traces/perl-hash.csv");
    let run =
        run_binary(&[trace.to_str().unwrap(), "--alloc", "simulated", "--runs", "1", "--quiet"]);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
}
