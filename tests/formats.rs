//! Formats people already have (issue 14): Android's `record_allocs` and Firefox's `logalloc`
//! traces, written here by hand from their formats, replayed strictly, converted to CSV and
//! back with every event kept; a zip of one Android trace read directly; a 300-thread Android
//! trace on 300 OS threads; every shipped format replayed with no `--format`; `-` for standard
//! input. Nothing here depends on timing.

use replay::trace::{self, Event, Format, ParseOptions, Trace};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const STRICT: ParseOptions = ParseOptions { lenient: false, one_thread: false };

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces").join(name)
}

fn replay(args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("replay")).args(args).output().expect("replay runs")
}

fn replay_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("replay"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("replay starts");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `replay TRACE --alloc first-fit --runs 0 -q --json -` (and `extra`): the JSON.
fn json_of(trace: &Path, extra: &[&str]) -> Value {
    let mut args = vec![trace.to_str().unwrap(), "--runs", "0", "-q", "--json", "-"];
    if !extra.contains(&"--alloc") {
        args.extend(["--alloc", "first-fit"]);
    }
    args.extend(extra);
    let out = replay(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn load(path: &Path, format: Format) -> Trace {
    trace::load(path, format, STRICT).unwrap_or_else(|e| panic!("{e}"))
}

/// Events and the thread of each, as recorded ids: what a conversion must keep.
fn events_and_threads(trace: &Trace) -> (Vec<Event>, Vec<Option<u64>>) {
    let threads = trace.threads.iter().map(|&t| trace.thread_ids[t as usize]).collect();
    (trace.events.clone(), threads)
}

/// `IN` converted with `replay convert IN -o OUT` (and `extra`) into `dir`.
fn convert(input: &Path, dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec!["convert", input.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend(extra);
    let run = replay(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    out
}

#[test]
fn a_hand_written_android_trace_replays_strictly_with_its_threads() {
    let path = data("android-small.txt");
    let trace = load(&path, Format::Android);
    assert_eq!(
        trace.events,
        [
            Event::malloc(0, 24),
            Event::calloc(1, 64),
            Event::memalign(2, 100, 64),
            Event::malloc(3, 4000),
            Event::realloc(0, 48),
            Event::malloc(4, 32),
            Event::free(4),
            Event::free(1),
            Event::free(3),
            Event::free(0),
            Event::free(2),
        ]
    );
    assert_eq!(trace.thread_ids, [Some(1200), Some(1201), Some(1202)]);
    let json = json_of(&path, &[]);
    assert_eq!(json["trace"]["format"], "android");
    assert_eq!(json["trace"]["events"], 11);
    assert!(json["trace"].get("skipped").is_none_or(|s| s.as_object().unwrap().is_empty()));
}

#[test]
fn an_android_trace_converts_to_csv_and_back_with_every_event_kept() {
    let dir = tempfile::tempdir().unwrap();
    let original = data("android-small.txt");
    let csv = convert(&original, dir.path(), "t.csv", &[]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("op,ptr,size,old_ptr,align,thread,time_ns"));
    assert_eq!(lines.next(), Some("malloc,0x7a4e0010,24,,,1200,"));
    assert_eq!(lines.next(), Some("calloc,0x7a4e0040,64,,,1200,1000"));
    assert!(text.contains("\nmemalign,0x7a4e1000,100,,64,1201,1200\n"), "{text}");
    assert!(text.contains("\nrealloc,0x7a4e3000,48,0x7a4e0010,,1200,1400\n"), "{text}");
    let back = convert(&csv, dir.path(), "back.txt", &["--to", "android"]);
    let expected = events_and_threads(&load(&original, Format::Android));
    assert_eq!(events_and_threads(&load(&csv, Format::Csv)), expected);
    assert_eq!(events_and_threads(&load(&back, Format::Android)), expected);
    // And the way back is found with no --format, as android.
    assert_eq!(json_of(&back, &[])["trace"]["format"], "android");
    // `replay import` reads it too.
    let imported = dir.path().join("imported.csv");
    let run = replay(&["import", original.to_str().unwrap(), "-o", imported.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(&imported).unwrap(), text);
}

#[test]
fn a_hand_written_logalloc_log_replays_strictly_raw_and_munged_alike() {
    let raw = load(&data("logalloc-small.log"), Format::Logalloc);
    let munged = load(&data("logalloc-small-munged.log"), Format::Logalloc);
    let expected = [
        Event::malloc(0, 32),
        Event::calloc(1, 148),
        Event::realloc(0, 64),
        Event::memalign(2, 240, 256),
        Event::memalign(3, 8, 64),
        Event::memalign(4, 100, 4096),
        Event::memalign(5, 16, 32),
        Event::free(0),
        Event::free(2),
        Event::free(3),
        Event::free(1),
        Event::free(4),
        Event::free(5),
    ];
    assert_eq!(raw.events, expected);
    assert_eq!(munged.events, expected);
    assert_eq!(raw.thread_ids, [Some(18545), Some(18546), Some(18547)]);
    assert_eq!(raw.threads, munged.threads);
    for name in ["logalloc-small.log", "logalloc-small-munged.log"] {
        let json = json_of(&data(name), &[]);
        assert_eq!(json["trace"]["format"], "logalloc", "{name}");
        assert_eq!(json["trace"]["events"], 13, "{name}");
    }
}

#[test]
fn a_logalloc_log_converts_to_csv_and_back_with_every_event_kept() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["logalloc-small.log", "logalloc-small-munged.log"] {
        let original = data(name);
        let csv = convert(&original, dir.path(), &format!("{name}.csv"), &[]);
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(text.starts_with("op,ptr,size,old_ptr,align,thread,time_ns\n"), "{text}");
        let back = convert(&csv, dir.path(), &format!("{name}.back"), &["--to", "logalloc"]);
        let expected = events_and_threads(&load(&original, Format::Logalloc));
        assert_eq!(events_and_threads(&load(&csv, Format::Csv)), expected, "{name}");
        assert_eq!(events_and_threads(&load(&back, Format::Logalloc)), expected, "{name}");
    }
}

/// A zip archive of `files` (name, content), deflated.
fn zip_of(path: &Path, files: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn a_zip_holding_one_android_trace_is_read_directly() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(data("android-small.txt")).unwrap();
    let zipped = dir.path().join("trace.zip");
    zip_of(&zipped, &[("app/trace.txt", &text)]);
    let expected = load(&data("android-small.txt"), Format::Android);
    assert_eq!(load(&zipped, Format::Android).events, expected.events);
    let json = json_of(&zipped, &[]);
    assert_eq!(json["trace"]["format"], "android");
    assert_eq!(json["trace"]["events"], 11);
    // From standard input too.
    let bytes = std::fs::read(&zipped).unwrap();
    let out = replay_with_stdin(&["-", "--alloc", "first-fit", "--runs", "0", "-q"], &bytes);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_zip_of_no_trace_or_of_several_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none.zip");
    zip_of(&none, &[]);
    let two = dir.path().join("two.zip");
    zip_of(&two, &[("a.txt", b"1: malloc 0x10 8\n"), ("b.txt", b"1: malloc 0x10 8\n")]);
    for (path, message) in [
        (&none, "the zip archive holds no file (expected one trace)".to_string()),
        (
            &two,
            "the zip archive holds 2 files (a.txt, b.txt); expected one trace: unzip the one to \
             replay"
                .to_string(),
        ),
    ] {
        let out = replay(&[path.to_str().unwrap(), "--alloc", "first-fit"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains(&format!("{}: {message}", path.display())),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_300_thread_android_trace_replays_on_300_os_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.txt");
    let mut text = String::new();
    for t in 0..300u64 {
        for i in 0..4u64 {
            text += &format!(
                "{}: malloc {:#x} {}\n",
                5000 + t,
                0x10_0000 + 0x1000 * (4 * t + i),
                16 + i
            );
        }
    }
    for t in 0..300u64 {
        for i in 0..4u64 {
            text += &format!("{}: free {:#x}\n", 5000 + t, 0x10_0000 + 0x1000 * (4 * t + i));
        }
        text += &format!("{}: thread_done 0x0\n", 5000 + t);
    }
    std::fs::write(&path, text).unwrap();
    let json = json_of(&path, &["--alloc", "first-fit,glibc"]);
    let results = json["results"].as_array().unwrap();
    let glibc = results.iter().find(|r| r["allocator"] == "glibc").expect("a glibc row");
    assert_eq!(glibc["error"], Value::Null);
    assert_eq!(glibc["threads"]["os_threads"], 300, "{}", glibc["threads"]);
    assert_eq!(glibc["max_live_bytes"], results[0]["max_live_bytes"]);
}

#[test]
fn every_shipped_format_replays_with_no_format_given() {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("t.rep");
    std::fs::write(&rep, "20000\n2\n4\n1\na 0 512\nr 0 640\na 1 128\nf 0\n").unwrap();
    let rtrace = convert(&shipped("xz.csv"), dir.path(), "xz.rtrace", &[]);
    let cases = [
        (shipped("sort-small.mtrace"), "mtrace"),
        (shipped("imports/sort-small.heaptrack.zst"), "heaptrack"),
        (shipped("imports/sort-small.heaptrack.raw.zst"), "heaptrack"),
        (shipped("python-dict.csv.gz"), "csv"),
        (rep, "rep"),
        (rtrace, "rtrace"),
    ];
    for (path, format) in cases {
        let json = json_of(&path, &[]);
        assert_eq!(json["trace"]["format"], format, "{}", path.display());
        let out = replay(&["stats", path.to_str().unwrap()]);
        assert!(out.status.success(), "stats {}: {}", path.display(), stderr(&out));
    }
}

#[test]
fn the_readmes_mtrace_example_replays_as_given() {
    // `replay traces/sort-small.mtrace` once failed with `the header has no "op" column`.
    let out = replay(&[shipped("sort-small.mtrace").to_str().unwrap(), "--runs", "0", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_gzipped_csv_on_standard_input_replays_through_simulations_and_a_real_allocator() {
    let bytes = std::fs::read(shipped("python-dict.csv.gz")).unwrap();
    let args = ["-", "--alloc", "first-fit,glibc", "--runs", "0", "-q", "--json", "-"];
    let out = replay_with_stdin(&args, &bytes);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["trace"]["path"], "<stdin>");
    assert_eq!(json["trace"]["format"], "csv");
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1]["allocator"], "glibc");
    assert_eq!(results[1]["error"], Value::Null);
    assert_eq!(results[1]["max_live_bytes"], results[0]["max_live_bytes"]);
    // The same figures as from the file.
    let from_file = json_of(&shipped("python-dict.csv.gz"), &[]);
    assert_eq!(results[0]["max_live_bytes"], from_file["results"][0]["max_live_bytes"]);
}

#[test]
fn standard_input_works_for_stats_convert_and_import_in_any_format() {
    let dir = tempfile::tempdir().unwrap();
    let android = std::fs::read(data("android-small.txt")).unwrap();
    let out = replay_with_stdin(&["stats", "-"], &android);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("trace       <stdin>"), "{text}");
    assert!(text.contains("threads: 3"), "{text}");
    let csv = dir.path().join("from-stdin.csv");
    let out = replay_with_stdin(&["convert", "-", "-o", csv.to_str().unwrap()], &android);
    assert!(out.status.success(), "{}", stderr(&out));
    let imported = dir.path().join("imported.csv");
    let log = std::fs::read(data("logalloc-small.log")).unwrap();
    let out = replay_with_stdin(&["import", "-", "-o", imported.to_str().unwrap()], &log);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("from <stdin> (logalloc)"), "{}", stderr(&out));
    assert_eq!(load(&imported, Format::Csv).events.len(), 13);
}

#[test]
fn bad_input_names_the_file_or_stdin_and_the_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let android = dir.path().join("bad.txt");
    std::fs::write(&android, "1: malloc 0x10 8\n1: malloc 0x20\n").unwrap();
    let out = replay(&[android.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "{}:2: malloc needs \"POINTER SIZE\" (then optionally START_NS END_NS): found 1 field",
            android.display()
        )),
        "{}",
        stderr(&out)
    );
    // A recording started mid-run frees a pointer it never saw: strict refuses, --lenient counts.
    let mid_run = b"1: free 0x99\n1: malloc 0x10 8\n1: free 0x10\n";
    let out = replay_with_stdin(&["-", "--alloc", "first-fit"], mid_run);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("<stdin>:1: free of 0x99, which is not live (allocated before"),
        "{}",
        stderr(&out)
    );
    let out =
        replay_with_stdin(&["-", "--alloc", "first-fit", "--lenient", "--json", "-"], mid_run);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["trace"]["skipped"]["not_live"], 1, "{}", json["trace"]);
    // Garbage: what was tried.
    let out = replay_with_stdin(&["-"], b"hello\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("<stdin>:1: cannot tell the trace's format from this line, \"hello\""),
        "{}",
        stderr(&out)
    );
    // A log of two processes: both listed, and how to pick one.
    let out = replay_with_stdin(&["-"], b"10 10 malloc(8)=0x10\n20 20 malloc(8)=0x10\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "<stdin>:2: the log holds the calls of 2 processes: pid 10 (1 line from line 1), pid \
             20 (1 line from line 2); replay one at a time, e.g. grep '^10 ' LOG | replay -"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn format_overrides_detection() {
    // A rep header is also a line of numbers: --format says how to read the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    std::fs::write(&path, "1: malloc 0x10 8\n1: free 0x10\n").unwrap();
    let out = replay(&[path.to_str().unwrap(), "--format", "logalloc", "--alloc", "first-fit"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(":1: unrecognised line"), "{}", stderr(&out));
}
