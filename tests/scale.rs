//! Scale: `replay gen`, the `.rtrace` format and `replay convert`, and streamed replays giving the
//! same figures as replays of traces in memory.

use assert_cmd::Command;
use predicates::prelude::*;
use replay::trace::rtrace::Rtrace;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn replay() -> Command {
    Command::cargo_bin("replay").expect("the replay binary is built")
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces").join(name)
}

fn gen(dir: &Path, name: &str, seed: u64) -> Vec<u8> {
    let out = dir.join(name);
    replay()
        .args(["gen", "--events", "20000", "--live", "500", "--sizes", "power-law"])
        .args(["--pattern", "peak", "--seed", &seed.to_string(), "-o"])
        .arg(&out)
        .assert()
        .success();
    std::fs::read(out).unwrap()
}

#[test]
fn gen_with_the_same_seed_writes_the_same_bytes_and_another_seed_others() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) =
        (gen(dir.path(), "a.csv", 5), gen(dir.path(), "b.csv", 5), gen(dir.path(), "c.csv", 6));
    assert!(a.len() > 100_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

fn convert(input: &Path, output: &Path, extra: &[&str]) {
    replay().arg("convert").arg(input).arg("-o").arg(output).args(extra).assert().success();
}

/// The replay's JSON without what names the file or the command.
fn figures(trace: &Path, extra: &[&str]) -> Value {
    let out = replay()
        .arg(trace)
        .args(["--alloc", "simulated", "--fake-clock", "--runs", "2", "--verify", "--json", "-"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.code() != Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let object = doc.as_object_mut().unwrap();
    object.remove("command_line");
    let trace = object.get_mut("trace").unwrap().as_object_mut().unwrap();
    trace.remove("path");
    trace.remove("format");
    // The content hash is of the file's bytes: an .rtrace of a CSV is another file.
    trace.remove("content_hash");
    doc
}

const SHIPPED: [&str; 7] = [
    "perl-hash.csv",
    "python-dict.csv.gz",
    "xz.csv",
    "coalescing.csv",
    "use-after-free.csv",
    "overrun.csv",
    "bump-never-reuses.csv",
];

#[test]
fn csv_to_rtrace_to_csv_to_rtrace_keeps_every_event_of_the_shipped_traces() {
    let dir = tempfile::tempdir().unwrap();
    for name in SHIPPED {
        let (first, csv, second) =
            (dir.path().join("1.rtrace"), dir.path().join("2.csv"), dir.path().join("2.rtrace"));
        convert(&shipped(name), &first, &[]);
        convert(&first, &csv, &[]);
        convert(&csv, &second, &[]);
        let (a, b) = (Rtrace::open(&first).unwrap(), Rtrace::open(&second).unwrap());
        assert_eq!(a.load().unwrap().events, b.load().unwrap().events, "{name}");
        assert_eq!((a.header.blocks, a.header.slots), (b.header.blocks, b.header.slots));
        // And the CSV parses, in memory, to the events the original CSV does.
        let load = |path: &Path| {
            replay::trace::load(path, replay::trace::Format::Csv, Default::default()).unwrap()
        };
        assert_eq!(load(&shipped(name)).events, load(&csv).events, "{name}");
    }
}

#[test]
fn an_mtrace_converts_to_rtrace_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (rtrace, csv) = (dir.path().join("s.rtrace"), dir.path().join("s.csv"));
    convert(&shipped("sort-small.mtrace"), &rtrace, &["--format", "mtrace"]);
    convert(&rtrace, &csv, &[]);
    assert_eq!(figures(&rtrace, &[]), figures(&csv, &[]));
}

#[test]
fn streamed_replays_give_the_figures_of_replays_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    for name in SHIPPED {
        let rtrace = dir.path().join("t.rtrace");
        convert(&shipped(name), &rtrace, &[]);
        let in_memory = figures(&shipped(name), &[]);
        assert_eq!(in_memory, figures(&shipped(name), &["--stream"]), "{name} --stream");
        assert_eq!(in_memory, figures(&rtrace, &[]), "{name} as rtrace");
    }
}

#[test]
fn a_report_of_a_streamed_trace_names_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let rtrace = dir.path().join("t.bin"); // recognised by its magic, not its name
    std::fs::copy(shipped("coalescing.csv"), dir.path().join("t.csv")).unwrap();
    convert(&dir.path().join("t.csv"), &dir.path().join("t.rtrace"), &[]);
    std::fs::rename(dir.path().join("t.rtrace"), &rtrace).unwrap();
    let out = replay()
        .arg(&rtrace)
        .args(["--alloc", "simulated", "--runs", "0", "--json", "-"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["trace"]["format"], "rtrace");
}

fn damaged(how: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.rtrace");
    convert(&shipped("perl-hash.csv"), &path, &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    how(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

fn fails_with(path: &Path, message: &str) {
    replay()
        .arg(path)
        .args(["--runs", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(message));
    replay()
        .arg("convert")
        .arg(path)
        .arg("-o")
        .arg(path.with_extension("csv"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(message));
}

#[test]
fn an_rtrace_with_a_bad_magic_is_refused() {
    let (_dir, path) = damaged(|b| b[1] = b'X');
    // Without the magic it is not recognised: read as CSV, it is not one either.
    replay()
        .arg(&path)
        .args(["--runs", "0", "--format", "rtrace"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an .rtrace file (bad magic)"));
}

#[test]
fn an_rtrace_with_a_damaged_event_fails_its_checksum() {
    let (_dir, path) = damaged(|b| b[96 + 16 * 1000] ^= 1);
    fails_with(&path, "the events are corrupt (checksum mismatch)");
}

#[test]
fn an_rtrace_with_a_damaged_header_fails_its_checksum() {
    let (_dir, path) = damaged(|b| b[16] ^= 1);
    fails_with(&path, "the rtrace header is corrupt (checksum mismatch)");
}

#[test]
fn a_truncated_rtrace_is_refused() {
    let (_dir, path) = damaged(|b| b.truncate(b.len() - 5));
    fails_with(&path, "truncated");
    let (_dir, path) = damaged(|b| b.truncate(40));
    fails_with(&path, "truncated");
}

#[test]
fn an_rtrace_of_a_newer_version_says_so() {
    let (_dir, path) = damaged(|b| b[8] = 2);
    fails_with(&path, "rtrace version 2");
}
