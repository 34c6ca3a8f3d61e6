//! Real allocators replayed in child processes of the built `replay` binary
//! (`replay::real::spawn`): exact figures equal to the simulations', resident memory that
//! follows touching, a preloaded tcmalloc, and a crashing allocator reported, not panicked on.
//! Nothing here depends on timing: timings are only checked to be present and ordered.

use replay::real::measure::Mode;
use replay::real::{
    spawn, spawn_on, ChildFailure, ChildReport, ChildRequest, EventsImage, FailureKind, Options,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const TCMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
const BUILTIN: [&str; 3] = ["glibc", "mimalloc", "jemalloc"];

fn exe() -> PathBuf {
    assert_cmd::cargo::cargo_bin("replay")
}

fn request(trace: &Path, allocator: &str, options: Options) -> ChildRequest {
    ChildRequest {
        trace: trace.to_path_buf(),
        format: "csv".into(),
        lenient: false,
        allocator: allocator.into(),
        options,
    }
}

fn replay_real(trace: &Path, allocator: &str, options: Options) -> ChildReport {
    spawn(&exe(), &request(trace, allocator, options)).unwrap_or_else(|failure| panic!("{failure}"))
}

/// `max_live_bytes` and `peak_event` of the simulation `first-fit`, from `replay --json -`.
fn simulated_peak(trace: &str) -> (u64, u64) {
    let out = Command::new(exe())
        .args([trace, "--alloc", "first-fit", "--runs", "0", "-q", "--json", "-"])
        .output()
        .expect("replay runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let result = &json["results"][0];
    (result["max_live_bytes"].as_u64().unwrap(), result["peak_event"].as_u64().unwrap())
}

fn write_trace(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("op,ptr,size,old_ptr\n{}\n", lines.join("\n"))).unwrap();
    path
}

/// 64 blocks of 1 MiB, all live at once, then freed.
fn big_blocks(dir: &Path) -> PathBuf {
    let mut lines: Vec<String> =
        (0..64).map(|i| format!("malloc,{:#x},{},", 0x10_0000 * (i + 1), 1 << 20)).collect();
    lines.extend((0..64).map(|i| format!("free,{:#x},,", 0x10_0000 * (i + 1))));
    write_trace(dir, "big.csv", &lines)
}

#[test]
fn every_builtin_real_allocator_has_the_simulations_max_live_bytes_and_peak_event() {
    let (max_live, peak_event) = simulated_peak("traces/perl-hash.csv");
    for allocator in BUILTIN {
        let report = replay_real(Path::new("traces/perl-hash.csv"), allocator, Options::default());
        let m = &report.measured;
        assert_eq!((m.max_live_bytes, m.peak_event), (max_live, peak_event), "{allocator}");
        assert_eq!(m.events, 101_002, "{allocator}");
        assert_eq!((m.failed_allocations, m.ignored_frees), (0, 0), "{allocator}");
        assert!(m.usable_sizes_known, "{allocator}");
        // Usable sizes are never below the requested ones.
        assert!(m.live_consumed_at_peak >= m.max_live_bytes, "{allocator}");
        let internal = m.internal_fragmentation.expect("usable sizes are known");
        assert!((0.0..1.0).contains(&internal), "{allocator}: {internal}");
        assert!(m.rss_peak_above_baseline > 0, "{allocator}");
        assert!(m.events_per_sec > 0.0 && m.latency_ns.is_none(), "{allocator}");
        assert!(!report.version.is_empty() && report.version.starts_with(allocator));
        // A sample after every 65,536 events and after the last.
        let events: Vec<u64> = m.series.iter().map(|s| s.event).collect();
        assert_eq!(events, [65_535, 101_001], "{allocator}");
    }
}

#[test]
fn a_child_started_on_the_parents_events_image_measures_what_one_that_loads_the_trace_does() {
    let trace = Path::new("traces/perl-hash.csv");
    let image = EventsImage::of(trace, "csv", false).expect("the trace loads");
    for allocator in BUILTIN {
        let loads = replay_real(trace, allocator, Options::default());
        let request = request(trace, allocator, Options::default());
        let mapped = spawn_on(&exe(), &request, Some(&image), None)
            .unwrap_or_else(|failure| panic!("{failure}"));
        assert_ne!(mapped.pid, loads.pid);
        let exact = |r: &ChildReport| {
            let m = &r.measured;
            (r.trace_events, r.trace_blocks, m.events, m.max_live_bytes, m.peak_event)
        };
        assert_eq!(exact(&mapped), exact(&loads), "{allocator}");
        let more = |r: &ChildReport| {
            let m = &r.measured;
            (m.live_blocks_at_peak, m.failed_allocations, m.ignored_frees, m.writes)
        };
        assert_eq!(more(&mapped), more(&loads), "{allocator}");
        assert_eq!(mapped.measured.events, 101_002, "{allocator}");
    }
    // An image that cannot be made says why, as the child would.
    let missing = EventsImage::of(Path::new("traces/no-such-trace.csv"), "csv", false);
    assert!(missing.expect_err("no such file").contains("no-such-trace.csv"));
}

#[test]
fn each_run_is_a_fresh_process() {
    let a = replay_real(Path::new("traces/coalescing.csv"), "glibc", Options::default());
    let b = replay_real(Path::new("traces/coalescing.csv"), "glibc", Options::default());
    assert_ne!(a.pid, b.pid);
    assert_eq!(a.measured.max_live_bytes, 208);
}

#[test]
fn allocators_that_report_statistics_report_them() {
    let trace = Path::new("traces/perl-hash.csv");
    let jemalloc = replay_real(trace, "jemalloc", Options::default()).measured;
    let at_end = jemalloc.allocator_stats_at_end;
    assert!(at_end.resident.is_some() && at_end.allocated.is_some());
    assert!(at_end.active.is_some() && at_end.mapped.is_some());
    assert!(jemalloc.allocator_resident_peak.is_some());
    let mimalloc = replay_real(trace, "mimalloc", Options::default()).measured;
    assert!(mimalloc.allocator_resident_peak.is_some());
    let glibc = replay_real(trace, "glibc", Options::default()).measured;
    assert!(glibc.allocator_resident_peak.is_none());
    assert!(glibc.allocator_stats_at_end.mapped.is_some());
}

#[test]
fn touching_makes_big_blocks_resident_and_no_touch_leaves_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let trace = big_blocks(dir.path());
    let size = 64u64 << 20;
    for allocator in BUILTIN {
        let touched = replay_real(&trace, allocator, Options::default()).measured;
        let untouched =
            replay_real(&trace, allocator, Options { touch: false, ..Options::default() }).measured;
        assert_eq!(touched.max_live_bytes, size, "{allocator}");
        assert_eq!(untouched.max_live_bytes, size, "{allocator}");
        assert!(touched.touched && !untouched.touched);
        let (with, without) = (touched.rss_hwm_above_baseline, untouched.rss_hwm_above_baseline);
        let (with, without) = (with.unwrap(), without.unwrap());
        // Every page of every block was written: all 64 MiB resident at the peak, less what
        // the kernel has not yet added to the process's counters: it counts resident pages per
        // CPU and adds them in batches (a few dozen pages each; 7 pages short was seen on a
        // loaded 2-core machine), so the reading may fall short of the truth by up to 1 MiB.
        let batches = 1 << 20;
        assert!(with + batches >= size, "{allocator}: {with} resident with touching");
        // mimalloc asks for transparent huge pages on its arenas (its `allow_thp` option, on
        // by default), so the one header it writes makes a whole 2 MiB page resident.
        if allocator != "mimalloc" {
            assert!(without < size / 4, "{allocator}: {without} resident without touching");
        }
    }
}

#[test]
fn a_failed_allocation_is_counted_and_its_free_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "malloc,0x1000,100,".to_string(),
        format!("malloc,0x2000,{},", 1u64 << 62),
        "realloc,0x3000,0,0x1000".to_string(),
        "free,0x2000,,".to_string(),
        "free,0x3000,,".to_string(),
    ];
    let trace = write_trace(dir.path(), "fail.csv", &lines);
    for allocator in BUILTIN {
        let m = replay_real(&trace, allocator, Options::default()).measured;
        assert_eq!((m.failed_allocations, m.ignored_frees), (1, 1), "{allocator}");
        assert_eq!((m.max_live_bytes, m.peak_event), (100, 0), "{allocator}");
    }
}

#[test]
fn the_latency_mode_times_every_call_by_kind() {
    let trace = Path::new("traces/perl-hash.csv");
    let counts = |op: &str| {
        std::fs::read_to_string(trace).unwrap().lines().filter(|l| l.starts_with(op)).count() as u64
    };
    let (mallocs, frees, reallocs) = (counts("malloc,"), counts("free,"), counts("realloc,"));
    for allocator in BUILTIN {
        let options = Options { mode: Mode::Latency, ..Options::default() };
        let m = replay_real(trace, allocator, options).measured;
        let latency = m.latency_ns.expect("latency mode");
        let malloc = latency.malloc.expect("mallocs");
        let free = latency.free.expect("frees");
        assert_eq!(malloc.count, mallocs, "{allocator}");
        assert_eq!(free.count, frees, "{allocator}");
        assert_eq!(latency.realloc.map_or(0, |r| r.count), reallocs, "{allocator}");
        for p in [malloc, free] {
            assert!(p.p50 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max, "{allocator}: {p:?}");
        }
    }
}

#[test]
fn a_preloaded_tcmalloc_replays_with_its_own_usable_sizes() {
    assert!(Path::new(TCMALLOC).exists(), "{TCMALLOC} is missing: run `bash .ci/install-deps`");
    let (max_live, peak_event) = simulated_peak("traces/perl-hash.csv");
    let name = format!("preload:{TCMALLOC}");
    let report = replay_real(Path::new("traces/perl-hash.csv"), &name, Options::default());
    let m = &report.measured;
    assert_eq!((m.max_live_bytes, m.peak_event), (max_live, peak_event));
    assert_eq!(report.allocator, name);
    assert!(report.version.starts_with("libtcmalloc_minimal.so"), "{}", report.version);
    // tcmalloc exports malloc_usable_size (its size classes round requests up).
    assert!(m.usable_sizes_known && m.live_consumed_at_peak > m.max_live_bytes);
    assert!(m.rss_peak_above_baseline > 0);
}

/// Build a shared library from C source with the system's `cc`.
fn build_library(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    std::fs::write(&c, source).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .expect("cc runs");
    assert!(status.success(), "cc failed on {name}.c");
    so
}

/// A malloc that passes everything to glibc's, but aborts on a request of 777777 bytes.
const ABORTING_MALLOC: &str = r#"
#include <stdlib.h>
extern void *__libc_malloc(size_t);
void *malloc(size_t n) {
    if (n == 777777) abort();
    return __libc_malloc(n);
}
"#;

#[test]
fn a_preloaded_library_that_aborts_is_a_failure_naming_sigabrt() {
    let dir = tempfile::tempdir().unwrap();
    let library = build_library(dir.path(), "aborting", ABORTING_MALLOC);
    let lines = ["malloc,0x1000,64,", "malloc,0x2000,777777,", "free,0x1000,,"].map(String::from);
    let trace = write_trace(dir.path(), "abort.csv", &lines);
    let name = format!("preload:{}", library.display());
    let failure: ChildFailure =
        spawn(&exe(), &request(&trace, &name, Options::default())).expect_err("it aborts");
    assert_eq!(failure.kind, FailureKind::Signal { signal: libc::SIGABRT, core_dumped: false });
    let message = failure.to_string();
    assert!(message.contains("SIGABRT") && message.contains(&name), "{message}");
}

#[test]
fn a_preloaded_library_without_malloc_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let library =
        build_library(dir.path(), "nomalloc", "int not_an_allocator(void) { return 1; }\n");
    let name = format!("preload:{}", library.display());
    let failure =
        spawn(&exe(), &request(Path::new("traces/coalescing.csv"), &name, Options::default()))
            .expect_err("not an allocator");
    assert!(
        matches!(&failure.kind, FailureKind::Refused(why) if why.contains("does not define malloc")),
        "{failure}"
    );
}

#[test]
fn a_bad_trace_is_an_error_from_the_child_naming_the_file() {
    let failure =
        spawn(&exe(), &request(Path::new("traces/no-such-trace.csv"), "glibc", Options::default()))
            .expect_err("no such trace");
    assert!(
        matches!(&failure.kind, FailureKind::Refused(why) if why.contains("no-such-trace.csv")),
        "{failure}"
    );
}

#[test]
fn names_that_are_not_real_allocators_are_refused_before_any_child_runs() {
    for name in ["first-fit", "preload:", "preload:/no/such/lib.so", "preload:/tmp/a b.so"] {
        let failure =
            spawn(&exe(), &request(Path::new("traces/coalescing.csv"), name, Options::default()))
                .expect_err(name);
        assert!(matches!(failure.kind, FailureKind::Refused(_)), "{name}: {failure}");
    }
}

/// `replay ARGS` from the crate root: status, stdout, stderr.
fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(exe())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("replay runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_runs_a_real_allocator_makes_3_to_5_throughput_runs_as_a_strategy_does_and_says_why() {
    let (code, out, err) =
        run_cli(&["traces/perl-hash.csv", "--alloc", "bump,glibc", "--json", "-", "-q"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    for r in json["results"].as_array().unwrap() {
        let t = &r["throughput"];
        let made = t["runs_made"].as_u64().unwrap();
        assert_eq!(t["runs"].as_array().unwrap().len() as u64, made, "{r}");
        assert!((3..=5).contains(&made), "{r}");
        // Whatever the machine's noise, the reason given is the rule's, and fits the count.
        let stopped = t["stopped"].as_str().unwrap();
        let spread = t["spread"].as_f64().unwrap();
        if spread < 0.03 {
            assert!(stopped.starts_with("spread ") && stopped.ends_with(" < 3%"), "{r}");
        } else {
            assert_eq!(made, 5, "{r}");
            assert!(stopped.starts_with("max runs (5), spread "), "{r}");
        }
    }
    // The latency runs stay 3, each a fresh process.
    let glibc = &json["results"][1];
    assert_eq!(glibc["latency_ns_runs"].as_array().unwrap().len(), 3, "{glibc}");
}

#[test]
fn simulations_and_real_allocators_share_one_table_and_one_json() {
    let (code, out, err) = run_cli(&[
        "traces/perl-hash.csv",
        "--alloc",
        "first-fit,tlsf,glibc,mimalloc,jemalloc",
        "--runs",
        "2",
        "--json",
        "-",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = json["results"].as_array().unwrap();
    let names: Vec<&str> = results.iter().map(|r| r["allocator"].as_str().unwrap()).collect();
    assert_eq!(names, ["first-fit", "tlsf", "glibc", "mimalloc", "jemalloc"]);
    let live = &results[0]["max_live_bytes"];
    for r in results {
        // The trace's own figures are the same for every allocator, simulated or real.
        assert_eq!(&r["max_live_bytes"], live, "{}", r["allocator"]);
        assert_eq!(r["peak_event"], results[0]["peak_event"]);
        let real = r["allocator"].as_str().unwrap().contains("malloc") || r["allocator"] == "glibc";
        assert_eq!(r["kind"], if real { "real" } else { "simulated" });
        if real {
            assert!(r["version"].is_string(), "{r}");
            // Internal fragmentation from the allocator's usable sizes.
            let internal = r["internal_fragmentation"].as_f64().unwrap();
            assert!((0.0..1.0).contains(&internal), "{internal}");
            assert!(r["external_fragmentation"].is_null() && r["work_per_event"].is_null());
            let runs = r["resident"]["rss_peak_above_baseline"].as_array().unwrap();
            assert_eq!(runs.len(), 2);
            assert!(r["peak_footprint_bytes"].as_u64().unwrap() > 0);
            assert_eq!(r["throughput"]["runs"].as_array().unwrap().len(), 2);
            assert_eq!(r["throughput"]["stopped"], "--runs 2", "{r}");
            assert!(r["latency_ns"]["malloc"]["p50"].is_u64());
            // A latency run per throughput run, each a fresh process; each percentile is the
            // median of the runs' (of two, the lower).
            let runs = r["latency_ns_runs"].as_array().unwrap();
            assert_eq!(runs.len(), 2, "{r}");
            for kind in ["malloc", "free", "realloc"] {
                for p in ["p50", "p99", "p999", "max"] {
                    let of_runs = runs.iter().map(|run| run[kind][p].as_u64().unwrap());
                    let lower = of_runs.min().unwrap();
                    assert_eq!(r["latency_ns"][kind][p].as_u64(), Some(lower), "{kind} {p}");
                }
            }
        } else {
            assert!(r.get("latency_ns_runs").is_none(), "{r}");
        }
    }
}

#[test]
fn a_crashing_allocator_is_an_error_row_and_exit_one_and_the_others_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let library = build_library(dir.path(), "aborting", ABORTING_MALLOC);
    let lines = ["malloc,0x1000,64,", "malloc,0x2000,777777,", "free,0x1000,,"].map(String::from);
    let trace = write_trace(dir.path(), "abort.csv", &lines);
    let alloc = format!("first-fit,glibc,preload:{}", library.display());
    let json = dir.path().join("r.json");
    let csv = dir.path().join("r.csv");
    let (code, out, err) = run_cli(&[
        trace.to_str().unwrap(),
        "--alloc",
        &alloc,
        "--runs",
        "1",
        "--json",
        json.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("SIGABRT"), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["peak_footprint_bytes"].as_u64().map(|b| b > 0), Some(true));
    assert!(results[2]["error"].as_str().unwrap().contains("SIGABRT"), "{}", results[2]);
    assert!(results[2]["peak_footprint_bytes"].is_null());
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 4);
    assert!(out.contains("glibc") && out.contains("aborting.so"), "{out}");
}

#[test]
fn tcmalloc_replays_preloaded_from_the_command_line() {
    let (code, out, err) = run_cli(&[
        "traces/xz.csv",
        "--alloc",
        &format!("preload:{TCMALLOC}"),
        "--runs",
        "1",
        "--json",
        "-",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &json["results"][0];
    assert_eq!(r["kind"], "real");
    assert!(r["version"].as_str().unwrap().starts_with("libtcmalloc_minimal.so"), "{r}");
}

#[test]
fn the_gate_holds_a_real_allocators_footprint_to_its_runs_not_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let args = ["traces/perl-hash.csv", "--alloc", "glibc", "--runs", "5", "-q", "--json"];
    let (code, _, err) = run_cli(&[&args[..], &[base.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{err}");
    // The same result, one run's peak 1% higher: within real=2%, not a regression.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&base).unwrap()).unwrap();
    let r = &mut doc["results"][0];
    let runs = r["resident"]["rss_peak_above_baseline"].as_array_mut().unwrap();
    let bumped = runs[0].as_u64().unwrap() * 101 / 100;
    runs[0] = serde_json::json!(bumped);
    let new = dir.path().join("new.json");
    std::fs::write(&new, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (code, out, _) =
        run_cli(&["compare", base.to_str().unwrap(), new.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0, "{out}");
    // Every run half as high again: past 2%, and significant over 5 runs (on a heap this
    // small, runs differ by a 64 KiB step of the kernel's counters: 8%).
    let runs = doc["results"][0]["resident"]["rss_peak_above_baseline"].as_array_mut().unwrap();
    for run in runs.iter_mut() {
        *run = serde_json::json!(run.as_u64().unwrap() * 3 / 2 + 65536);
    }
    std::fs::write(&new, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (code, out, _) = run_cli(&["compare", base.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("REGRESSION: glibc peak footprint"), "{out}");
}

#[test]
fn with_runs_zero_a_real_allocator_has_its_memory_figures_and_no_timings() {
    let (code, out, err) =
        run_cli(&["traces/xz.csv", "--alloc", "glibc", "--runs", "0", "--json", "-", "-q"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &json["results"][0];
    assert!(r["peak_footprint_bytes"].as_u64().unwrap() > r["max_live_bytes"].as_u64().unwrap());
    assert!(r["throughput"].is_null() && r["latency_ns"].is_null(), "{r}");
    assert_eq!(r["resident"]["rss_peak_above_baseline"].as_array().unwrap().len(), 1);
}

#[test]
fn timed_runs_take_the_usable_sizes_from_the_latency_run_and_they_match_an_untimed_run() {
    // The timed throughput runs do not ask usable sizes; the latency run does, and what it
    // finds is what the one memory run of `--runs 0` finds.
    let json = |runs: &str| -> serde_json::Value {
        let (code, out, err) = run_cli(&[
            "traces/perl-hash.csv",
            "--alloc",
            "real",
            "--runs",
            runs,
            "--json",
            "-",
            "-q",
        ]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let (timed, untimed) = (json("1"), json("0"));
    for (t, u) in
        timed["results"].as_array().unwrap().iter().zip(untimed["results"].as_array().unwrap())
    {
        let name = &t["allocator"];
        assert!(
            t["throughput_events_per_sec"].is_f64() && u["throughput_events_per_sec"].is_null()
        );
        let internal = t["internal_fragmentation"].as_f64().unwrap();
        assert!(internal > 0.0, "{name}: {internal}");
        assert_eq!(t["internal_fragmentation"], u["internal_fragmentation"], "{name}");
        // The series is the sized run's: its consumed bytes are the usable ones.
        let series = t["resident"]["series"].as_array().unwrap();
        let (requested, consumed) = series
            .iter()
            .map(|s| (s["live_requested"].as_u64().unwrap(), s["live_consumed"].as_u64().unwrap()))
            .fold((0, 0), |(r, c), (a, b)| (r + a, c + b));
        assert!(consumed > requested, "{name}: {consumed} {requested}");
        // Sample by sample, the live bytes are those of the untimed run.
        let live = |r: &serde_json::Value| -> Vec<(u64, u64)> {
            let series = r["resident"]["series"].as_array().unwrap();
            let field = |s: &serde_json::Value, f: &str| s[f].as_u64().unwrap();
            series.iter().map(|s| (field(s, "live_requested"), field(s, "live_consumed"))).collect()
        };
        assert_eq!(live(t), live(u), "{name}");
    }
}

#[test]
fn with_the_fake_clock_a_real_allocator_keeps_its_memory_figures_and_has_no_timings() {
    // A real allocator cannot run on a made-up clock: its timings are left out, not measured
    // beside the simulations' made-up ones.
    let (code, out, err) = run_cli(&[
        "traces/xz.csv",
        "--alloc",
        "first-fit,glibc",
        "--fake-clock",
        "--runs",
        "2",
        "--json",
        "-",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (simulated, real) = (&json["results"][0], &json["results"][1]);
    assert_eq!(simulated["throughput"]["runs"].as_array().unwrap().len(), 2, "{simulated}");
    assert!(simulated["latency_ns"]["malloc"]["p50"].is_u64());
    assert_eq!(real["allocator"], "glibc");
    assert!(real["throughput"].is_null() && real["latency_ns"].is_null(), "{real}");
    assert!(real["throughput_events_per_sec"].is_null());
    // Its memory figures are measured as always, over every run.
    assert_eq!(real["resident"]["rss_peak_above_baseline"].as_array().unwrap().len(), 2);
    assert!(real["peak_footprint_bytes"].as_u64().unwrap() > 0);
}

/// A malloc that passes everything to glibc's, but never returns from a request of 777778
/// bytes (it waits for a signal that never comes).
const HANGING_MALLOC: &str = r#"
#include <stdlib.h>
#include <unistd.h>
extern void *__libc_malloc(size_t);
void *malloc(size_t n) {
    if (n == 777778) for (;;) pause();
    return __libc_malloc(n);
}
"#;

/// A trace whose second malloc hangs in `HANGING_MALLOC`, and that library's `--alloc` name.
fn hanging(dir: &Path) -> (PathBuf, String) {
    let library = build_library(dir, "hanging", HANGING_MALLOC);
    let lines = ["malloc,0x1000,64,", "malloc,0x2000,777778,", "free,0x1000,,"].map(String::from);
    (write_trace(dir, "hang.csv", &lines), format!("preload:{}", library.display()))
}

#[test]
fn a_child_that_hangs_is_killed_at_the_timeout_and_is_a_failure_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, name) = hanging(dir.path());
    let timeout = std::time::Duration::from_secs(1);
    let failure = replay::real::spawn_with_timeout(
        &exe(),
        &request(&trace, &name, Options::default()),
        Some(timeout),
    )
    .expect_err("it hangs");
    assert_eq!(failure.kind, FailureKind::TimedOut(timeout));
    let message = failure.to_string();
    assert!(message.contains("timeout of 1 s") && message.contains(&name), "{message}");
    assert!(message.contains("--real-timeout") && message.contains("SIGKILL"), "{message}");
    // A child that ends in time is not touched by the timeout.
    let report = replay::real::spawn_with_timeout(
        &exe(),
        &request(Path::new("traces/coalescing.csv"), "glibc", Options::default()),
        Some(std::time::Duration::from_secs(600)),
    )
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(report.measured.max_live_bytes, 208);
}

#[test]
fn a_hanging_allocator_is_an_error_row_and_exit_one_and_the_others_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, name) = hanging(dir.path());
    let json = dir.path().join("r.json");
    let (code, out, err) = run_cli(&[
        trace.to_str().unwrap(),
        "--alloc",
        &format!("first-fit,{name},glibc"),
        "--runs",
        "1",
        "--real-timeout",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("timeout of 2 s"), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    let names: Vec<&str> = results.iter().map(|r| r["allocator"].as_str().unwrap()).collect();
    assert_eq!(names, ["first-fit", name.as_str(), "glibc"]);
    assert!(results[1]["error"].as_str().unwrap().contains("--real-timeout"), "{}", results[1]);
    assert!(results[1]["peak_footprint_bytes"].is_null());
    assert_eq!(results[2]["max_live_bytes"], results[0]["max_live_bytes"]);
    assert!(results[2]["error"].is_null(), "{}", results[2]);
    assert!(out.contains("hanging.so") && out.contains("glibc"), "{out}");
}

/// The processes whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: the comm may hold spaces, so read after its ')'.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Poll `done` every 50 ms for up to 30 s (generous: a loaded machine is slow, never wrong).
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..600 {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

#[test]
fn a_child_replay_dies_with_replay_when_replay_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, name) = hanging(dir.path());
    let mut parent = Command::new(exe())
        .arg(&trace)
        .args(["--alloc", &name, "--runs", "0", "--real-timeout", "0", "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Vec::new();
    assert!(eventually(|| {
        child = children_of(parent.id());
        !child.is_empty()
    }));
    // SAFETY: a signal to the process this test started.
    unsafe { libc::kill(parent.id() as libc::pid_t, libc::SIGINT) };
    parent.wait().unwrap();
    let gone = |pid: u32| {
        // A zombie still has a stat: gone means no such process, or one that is dead.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| s[s.rfind(')').unwrap() + 1..].trim_start().starts_with(['Z', 'X']))
    };
    assert!(eventually(|| child.iter().all(|&pid| gone(pid))), "{child:?} still running");
}
