//! The regression gate: `replay compare`, `--baseline`, `replay merge`, work per event and the
//! test-only slowdown knob.

use assert_cmd::Command;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn replay() -> Command {
    Command::cargo_bin("replay").expect("the replay binary is built")
}

fn trace(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces").join(name).display().to_string()
}

/// A hand-made result: one strategy with the given footprint and throughput runs.
fn doc(hash: &str, results: Vec<Value>) -> Value {
    json!({
        "schema_version": 1,
        "tool": {"name": "replay", "version": "0.1.0"},
        "trace": {"path": "app.csv", "format": "csv", "events": 1000, "blocks": 10,
                  "skipped": {}, "content_hash": hash},
        "settings": {"min_size": 16, "coalesce": true, "heap_limit": null, "runs": 5,
                     "timing_parallel": false, "clock_overhead_ns": 20, "samples": 0,
                     "guard": false, "test_slowdown": []},
        "results": results,
    })
}

fn result(allocator: &str, footprint: u64, runs: &[f64]) -> Value {
    json!({
        "allocator": allocator,
        "events": 1000,
        "peak_footprint_bytes": footprint,
        "max_live_bytes": 1000,
        "overhead": (footprint as f64 - 1000.0) / 1000.0,
        "internal_fragmentation": 0.0,
        "external_fragmentation": 0.0,
        "failed_allocations": 0,
        "work": 3000,
        "work_per_event": 3.0,
        "throughput": {"median": runs[runs.len() / 2], "min": 0.0, "max": 0.0, "runs": runs},
    })
}

const FAST: [f64; 5] = [100e6, 101e6, 99e6, 102e6, 98e6];

struct Pair {
    _dir: tempfile::TempDir,
    old: PathBuf,
    new: PathBuf,
}

fn pair(old: Value, new: Value) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let (o, n) = (dir.path().join("old.json"), dir.path().join("new.json"));
    std::fs::write(&o, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    std::fs::write(&n, serde_json::to_vec_pretty(&new).unwrap()).unwrap();
    Pair { _dir: dir, old: o, new: n }
}

fn compare(p: &Pair, extra: &[&str]) -> (i32, String, String) {
    let out = replay().arg("compare").arg(&p.old).arg(&p.new).args(extra).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn compare_calls_a_smaller_footprint_an_improvement_and_exits_zero() {
    let p = pair(
        doc("h1", vec![result("tlsf", 1500, &FAST)]),
        doc("h1", vec![result("tlsf", 1200, &FAST)]),
    );
    let (code, out, _) = compare(&p, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("tlsf") && out.contains("peak footprint") && out.contains("improved"),
        "{out}"
    );
    assert!(out.contains("1500") && out.contains("1200"), "{out}");
}

#[test]
fn a_footprint_regression_past_its_threshold_exits_one_naming_strategy_metric_and_values() {
    let p = pair(
        doc("h1", vec![result("tlsf", 1500, &FAST)]),
        doc("h1", vec![result("tlsf", 1530, &FAST)]),
    );
    let (code, out, _) = compare(&p, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "REGRESSION: tlsf peak footprint: 1500 (1.46 KiB) -> 1530 (1.49 KiB) (+2.00%)"
        ),
        "{out}"
    );
}

#[test]
fn a_footprint_regression_under_its_threshold_is_tolerated() {
    let p = pair(
        doc("h1", vec![result("tlsf", 1500, &FAST)]),
        doc("h1", vec![result("tlsf", 1530, &FAST)]),
    );
    let (code, out, _) = compare(&p, &["--max-regression", "footprint=5%,overhead=off"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("worse (within threshold) (threshold 5%)"), "{out}");
}

#[test]
fn a_throughput_drop_that_the_runs_do_not_support_is_noise() {
    // Median 20% lower, but the runs overlap: not significant.
    let noisy = [80e6, 120e6, 70e6, 101e6, 60e6];
    let p = pair(
        doc("h1", vec![result("tlsf", 1500, &FAST)]),
        doc("h1", vec![result("tlsf", 1500, &noisy)]),
    );
    let (code, out, _) = compare(&p, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("noise (threshold 10%"), "{out}");
}

#[test]
fn a_clear_throughput_drop_is_a_regression_and_can_be_excluded() {
    let slow = [50e6, 51e6, 49e6, 52e6, 48e6];
    let p = pair(
        doc("h1", vec![result("tlsf", 1500, &FAST)]),
        doc("h1", vec![result("tlsf", 1500, &slow)]),
    );
    let (code, out, _) = compare(&p, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("REGRESSION: tlsf throughput: 100.000M/s -> 50.000M/s (-50.00%)"),
        "{out}"
    );
    let (code, out, _) = compare(&p, &["--max-regression", "throughput=off"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("worse (not gated)"), "{out}");
}

#[test]
fn results_of_different_traces_are_refused_unless_forced() {
    let p = pair(
        doc("h1", vec![result("tlsf", 1500, &FAST)]),
        doc("h2", vec![result("tlsf", 1500, &FAST)]),
    );
    let (code, _, err) = compare(&p, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("replayed different traces")
            && err.contains("old.json")
            && err.contains("--force"),
        "{err}"
    );
    let (code, out, _) = compare(&p, &["--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("different traces (compared with --force)"), "{out}");
}

#[test]
fn unreadable_malformed_and_foreign_files_exit_two_naming_the_file() {
    let good = doc("h1", vec![result("tlsf", 1500, &FAST)]);
    let p = pair(good.clone(), good.clone());
    std::fs::write(&p.new, b"{ not json").unwrap();
    let (code, _, err) = compare(&p, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("new.json is not JSON"), "{err}");

    std::fs::write(&p.new, b"{\"hello\": 1}").unwrap();
    let (code, _, err) = compare(&p, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("new.json is not a replay --json result"), "{err}");

    let mut future = good.clone();
    future["schema_version"] = json!(99);
    std::fs::write(&p.new, serde_json::to_vec(&future).unwrap()).unwrap();
    let (code, _, err) = compare(&p, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("new.json has schema_version 99"), "{err}");

    std::fs::remove_file(&p.new).unwrap();
    let (code, _, err) = compare(&p, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read") && err.contains("new.json"), "{err}");

    let (code, _, err) = compare(&pair(good.clone(), good), &["--max-regression", "speed=5%"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown figure 'speed'"), "{err}");
}

#[test]
fn the_markdown_diff_is_a_table_with_regressions_first() {
    let old = doc("h1", vec![result("first-fit", 1500, &FAST), result("tlsf", 1500, &FAST)]);
    let new = doc("h1", vec![result("first-fit", 1400, &FAST), result("tlsf", 1600, &FAST)]);
    let p = pair(old, new);
    let md = p.old.with_file_name("diff.md");
    let (code, _, _) = compare(&p, &["--markdown", md.to_str().unwrap()]);
    assert_eq!(code, 1);
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.starts_with("### :x: replay: 2 regressions"), "{md}");
    let rows: Vec<&str> =
        md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| strategy")).collect();
    assert!(
        rows[0].starts_with(
            "| tlsf | peak footprint | 1500 (1.46 KiB) | 1600 (1.56 KiB) | +6.67% | **regressed"
        ),
        "{md}"
    );
    assert!(rows[1].contains("tlsf | overhead") && rows[1].contains("**regressed"), "{md}");
    assert!(rows[2].contains("first-fit | peak footprint") && rows[2].contains("improved"), "{md}");
    assert!(md.contains("<details><summary>"), "{md}");
}

#[test]
fn merge_joins_shards_of_one_trace_and_refuses_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap();
        path.display().to_string()
    };
    let a = write("a.json", &doc("h1", vec![result("first-fit", 1500, &FAST)]));
    let b = write("b.json", &doc("h1", vec![result("tlsf", 1400, &FAST)]));
    let all = dir.path().join("all.json").display().to_string();
    replay().args(["merge", &a, &b, "-o", &all]).assert().success();
    let merged: Value = serde_json::from_slice(&std::fs::read(&all).unwrap()).unwrap();
    let names: Vec<&str> = merged["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["allocator"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first-fit", "tlsf"]);

    let out = replay().args(["merge", &a, &a, "-o", &all]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("first-fit"), "duplicate named");

    let other = write("c.json", &doc("h2", vec![result("buddy", 1400, &FAST)]));
    let out = replay().args(["merge", &a, &other, "-o", &all]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different traces"));

    let mut settings = doc("h1", vec![result("buddy", 1400, &FAST)]);
    settings["settings"]["min_size"] = json!(64);
    let other = write("d.json", &settings);
    let out = replay().args(["merge", &a, &other, "-o", &all]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different settings"));
}

/// A real run's JSON.
fn run_json(args: &[&str]) -> Vec<u8> {
    let out = replay().args(args).args(["--json", "-", "-q"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The JSON with every timing left out: what must not depend on the machine or the run.
fn without_timing(bytes: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    v["settings"]["clock_overhead_ns"] = Value::Null;
    // The verdict quotes timings (who is fastest); with the fake clock it is compared whole.
    v["verdict"] = Value::Null;
    for r in v["results"].as_array_mut().unwrap() {
        for key in ["throughput", "throughput_events_per_sec", "latency_ns"] {
            r[key] = Value::Null;
        }
    }
    v
}

#[test]
fn memory_figures_and_work_are_identical_across_runs_and_thread_counts() {
    let t = trace("perl-hash.csv");
    // With the fake clock every byte is the same, floats included.
    let fake = |threads: &[&str]| {
        let mut args = vec![t.as_str(), "--alloc", "simulated", "--fake-clock", "--samples", "50"];
        args.extend_from_slice(threads);
        run_json(&args)
    };
    let one = fake(&["--threads", "1"]);
    assert_eq!(one, fake(&[]), "--threads 1 and the default differ");
    assert_eq!(one, fake(&["--threads", "2"]));
    assert_eq!(one, fake(&["--threads", "1"]));
    // Measured timings differ from run to run; nothing else does.
    let a =
        without_timing(&run_json(&[&t, "--alloc", "simulated", "--runs", "1", "--threads", "1"]));
    let b = without_timing(&run_json(&[&t, "--alloc", "simulated", "--runs", "1"]));
    assert_eq!(a, b);
    assert!(a["results"][1]["work"].as_u64().unwrap() > 0);
}

#[test]
fn a_worse_setting_is_caught_as_a_footprint_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json").display().to_string();
    let t = trace("xz.csv");
    replay()
        .args([&t, "--alloc", "simulated", "--runs", "3", "--fake-clock", "-q", "--json", &base])
        .assert()
        .success();
    let out = replay()
        .args([&t, "--alloc", "simulated", "--runs", "3", "--fake-clock", "--min-size", "64"])
        .args(["--baseline", &base])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "REGRESSION: first-fit peak footprint: 97611952 (93.09 MiB) -> 97614560 (93.09 MiB)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("settings differ: min_size 16 -> 64"), "{stdout}");
    // The run's own outputs are still there: the results table comes first.
    assert!(stdout.contains("peak footprint") && stdout.contains("work/event"), "{stdout}");
}

#[test]
fn the_same_configuration_twice_is_never_flagged_at_the_default_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json").display().to_string();
    let t = trace("perl-hash.csv");
    // The fake clock's runs spread by 4% (as quiet real runs do), the same in every process.
    replay()
        .args([&t, "--alloc", "simulated", "--runs", "5", "--fake-clock", "-q", "--json", &base])
        .assert()
        .success();
    let out = replay()
        .args([
            &t,
            "--alloc",
            "simulated",
            "--runs",
            "5",
            "--fake-clock",
            "-q",
            "--baseline",
            &base,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// A run of one strategy on perl-hash.csv with the given extra arguments, timed by the fake
/// clock (an event takes 10 ns plus 1 ns per unit of work: the same timings on any machine).
fn one_strategy_run(dir: &Path, name: &str, alloc: &str, extra: &[&str]) -> (String, Value) {
    let path = dir.join(name).display().to_string();
    replay()
        .args([&trace("perl-hash.csv"), "--alloc", alloc, "--runs", "5", "--fake-clock"])
        .args(["-q", "--json", &path])
        .args(extra)
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, v)
}

#[test]
fn a_doubled_strategy_is_caught_by_work_exactly_and_by_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let (base, b) = one_strategy_run(dir.path(), "base.json", "tlsf", &[]);
    let (slow, s) =
        one_strategy_run(dir.path(), "slow.json", "tlsf", &["--test-slowdown", "tlsf=2"]);
    let (bw, sw) = (&b["results"][0], &s["results"][0]);
    assert_eq!(sw["work"].as_u64().unwrap(), 2 * bw["work"].as_u64().unwrap());
    assert_eq!(
        sw["work_per_event"].as_f64().unwrap(),
        2.0 * bw["work_per_event"].as_f64().unwrap()
    );
    assert_eq!(sw["peak_footprint_bytes"], bw["peak_footprint_bytes"], "placements unchanged");
    let out = replay().args(["compare", &base, &slow]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("REGRESSION: tlsf work per event"), "{stdout}");
    assert!(stdout.contains("REGRESSION: tlsf throughput"), "{stdout}");
}

#[test]
fn a_slowdown_below_the_noise_is_seen_by_work_but_not_flagged_by_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let (base, b) = one_strategy_run(dir.path(), "base.json", "best-fit", &[]);
    let (slow, s) = one_strategy_run(
        dir.path(),
        "slow.json",
        "best-fit",
        &["--test-slowdown", "best-fit=spin:1"],
    );
    // One unit of work per malloc, free and realloc: every event of this trace is one. Best
    // fit does ~5 units an event, so on the fake clock the slowdown is 1/15 (~6%): under the
    // default throughput threshold (10%), as one spin iteration (~1-2 ns) is on a real ~150 ns.
    let events = b["results"][0]["events"].as_u64().unwrap();
    let (bw, sw) =
        (b["results"][0]["work"].as_u64().unwrap(), s["results"][0]["work"].as_u64().unwrap());
    assert_eq!(sw, bw + events);
    let out =
        replay().args(["compare", &base, &slow, "--max-regression", "work=off"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("REGRESSION"), "{stdout}");
    let out = replay().args(["compare", &base, &slow]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "work per event catches it exactly:\n{stdout}");
    assert!(
        stdout.contains("REGRESSION: best-fit work per event")
            && !stdout.contains("REGRESSION: best-fit throughput"),
        "{stdout}"
    );
}

/// A real result of every strategy on a shipped trace, with made-up timings.
fn real_result(extra: &[&str]) -> Value {
    let out = replay()
        .args([
            &trace("xz.csv"),
            "--alloc",
            "simulated",
            "--fake-clock",
            "--runs",
            "3",
            "--json",
            "-",
        ])
        .args(["-q", "--samples", "0"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_figure_removed_from_the_new_result_fails_the_gate_naming_it() {
    let old = real_result(&[]);
    let mut new = old.clone();
    // Renamed in every result: the footprint row would silently disappear.
    for r in new["results"].as_array_mut().unwrap() {
        let v = r.as_object_mut().unwrap().remove("peak_footprint_bytes").unwrap();
        r["peak_footprint"] = v;
    }
    let p = pair(old.clone(), new);
    let (code, out, _) = compare(&p, &[]);
    assert_eq!(code, 1, "{out}");
    for name in ["bump", "tlsf", "buddy"] {
        assert!(
            out.contains(&format!("MISSING: {name}: peak footprint (peak_footprint_bytes)")),
            "{out}"
        );
    }
    assert!(out.contains("9 missing"), "{out}");
    // Allowed: listed, not failed on.
    let (code, out, _) = compare(&p, &["--allow-missing"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("missing (allowed): tlsf: peak footprint"), "{out}");

    // One latency percentile gone from one strategy.
    let mut new = old.clone();
    new["results"][2]["latency_ns"]["free"].as_object_mut().unwrap().remove("p99");
    let (code, out, _) = compare(&pair(old, new), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISSING: next-fit: free p99 (latency_ns.free.p99)"), "{out}");
}

#[test]
fn a_result_with_every_figure_stripped_fails_the_gate() {
    let old = real_result(&[]);
    let mut new = old.clone();
    for r in new["results"].as_array_mut().unwrap() {
        *r = json!({"allocator": r["allocator"]});
    }
    let (code, out, _) = compare(&pair(old, new), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("0 regressed") && out.contains("MISSING: bump: overhead"), "{out}");
    let figures = replay::figures::FIGURES.len() * replay::alloc::ALL.len();
    assert!(out.contains(&format!("{figures} missing")), "{out}");
}

#[test]
fn strategies_missing_from_the_new_result_fail_the_gate_naming_each() {
    let old = real_result(&[]);
    let mut new = old.clone();
    let kept: Vec<Value> = new["results"].as_array().unwrap()[..5].to_vec();
    new["results"] = Value::Array(kept);
    let p = pair(old.clone(), new);
    let (code, out, _) = compare(&p, &[]);
    assert_eq!(code, 1, "{out}");
    for name in ["boundary-tag", "slab", "buddy", "tlsf"] {
        assert!(out.contains(&format!("MISSING: strategy {name}: in ")), "{name}: {out}");
    }
    let (code, out, _) = compare(&p, &["--allow-missing"]);
    assert_eq!(code, 0, "{out}");
    // A strategy only the new result has is a note, not a failure.
    let p = pair(pair_swap(&old), old);
    let (code, out, _) = compare(&p, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("note: tlsf is in") && out.contains("new.json only"), "{out}");
}

/// `doc` without its last strategy.
fn pair_swap(doc: &Value) -> Value {
    let mut d = doc.clone();
    d["results"].as_array_mut().unwrap().pop();
    d
}

#[test]
fn a_baseline_run_without_the_timings_the_baseline_has_fails_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    std::fs::write(&base, serde_json::to_vec(&real_result(&[])).unwrap()).unwrap();
    let run = |extra: &[&str]| {
        replay()
            .args([&trace("xz.csv"), "--alloc", "simulated", "--runs", "0", "--baseline"])
            .arg(&base)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("MISSING: bump: throughput (throughput_events_per_sec)"), "{text}");
    let out = run(&["--allow-missing"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_result_of_another_schema_version_is_refused_before_its_layout_is_read() {
    let mut other = real_result(&[]);
    other["schema_version"] = json!(2);
    other["results"] = json!("a layout this replay does not know");
    let (code, _, err) = compare(&pair(real_result(&[]), other), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("new.json has schema_version 2") && err.contains("reads only version 1"));
    let mut text = real_result(&[]);
    text["schema_version"] = json!("1");
    let (code, _, err) = compare(&pair(real_result(&[]), text), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("not a version number"), "{err}");
}

#[test]
fn a_baseline_hashed_the_old_way_still_gates_a_run_of_its_trace() {
    use replay::gate::hash::{of_file, Algorithm};
    let dir = tempfile::tempdir().unwrap();
    let mut old = real_result(&[]);
    let fnv = of_file(Path::new(&trace("xz.csv")), Algorithm::Fnv1a64).unwrap();
    assert!(fnv.starts_with("fnv1a64:"), "{fnv}");
    old["trace"]["content_hash"] = json!(fnv);
    let base = dir.path().join("base.json");
    std::fs::write(&base, serde_json::to_vec(&old).unwrap()).unwrap();
    let run = |t: &str| {
        replay()
            .args([&trace(t), "--alloc", "simulated", "--fake-clock", "--runs", "3", "--baseline"])
            .arg(&base)
            .output()
            .unwrap()
    };
    let out = run("xz.csv");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("hashed its trace with fnv1a64") && text.contains("matches"), "{text}");
    // Another trace does not match the old hash either.
    let out = run("perl-hash.csv");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("replayed different traces"));
    // Two files alone cannot be matched: said, and --force still compares.
    let p = pair(old, real_result(&[]));
    let (code, _, err) = compare(&p, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("hashed its trace with fnv1a64") && err.contains("crc32"), "{err}");
    let (code, out, _) = compare(&p, &["--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(compared with --force)"), "{out}");
}

#[test]
fn a_change_of_a_ratio_is_shown_in_percentage_points_in_the_table_and_the_markdown() {
    let (mut old, mut new) = (result("first-fit", 1105, &FAST), result("first-fit", 1105, &FAST));
    old["overhead"] = json!(0.105);
    new["overhead"] = json!(0.2588);
    let p = pair(doc("crc32:1:1", vec![old]), doc("crc32:1:1", vec![new]));
    let md = p._dir.path().join("diff.md");
    let (code, stdout, _) = compare(&p, &["--markdown", md.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("10.5000%") && stdout.contains("25.8800%"), "{stdout}");
    assert!(stdout.contains("+15.38 pp"), "{stdout}");
    assert!(!stdout.contains("146.48%"), "{stdout}");
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("| +15.38 pp |"), "{markdown}");
    // Other figures keep their change in percent of the old value.
    let (old, new) = (result("first-fit", 1000, &FAST), result("first-fit", 1100, &FAST));
    let p = pair(doc("crc32:1:1", vec![old]), doc("crc32:1:1", vec![new]));
    let (_, stdout, _) = compare(&p, &[]);
    assert!(stdout.contains("+10.00%") && stdout.contains("+10.00 pp"), "{stdout}");
}

#[test]
fn quiet_compare_prints_the_verdict_but_not_the_table_and_exits_the_same() {
    let p = pair(
        doc("crc32:1:1", vec![result("first-fit", 1000, &FAST)]),
        doc("crc32:1:1", vec![result("first-fit", 1200, &FAST)]),
    );
    let (loud_code, loud, _) = compare(&p, &[]);
    let (code, quiet, _) = compare(&p, &["-q"]);
    assert_eq!((loud_code, code), (1, 1));
    assert!(loud.contains("strategy") && loud.contains("verdict"), "{loud}");
    assert!(!quiet.contains("verdict") && !quiet.contains("compare "), "{quiet}");
    assert!(quiet.starts_with("2 regressed, "), "{quiet}");
    assert!(quiet.contains("REGRESSION: first-fit overhead: 0.0000% -> 20.0000% (+20.00 pp)"));
    assert!(quiet.contains("REGRESSION: first-fit peak footprint"), "{quiet}");
    let p = pair(
        doc("crc32:1:1", vec![result("first-fit", 1000, &FAST)]),
        doc("crc32:1:1", vec![result("first-fit", 1000, &FAST)]),
    );
    let (code, quiet, _) = compare(&p, &["--quiet"]);
    assert_eq!(code, 0);
    assert_eq!(quiet.lines().count(), 1, "{quiet}");
}
