//! The command line, end to end: exit codes, outputs, and the figures of a hand-computed trace.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::Path;

fn replay() -> Command {
    Command::cargo_bin("replay").expect("the replay binary is built")
}

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name).display().to_string()
}

fn json_of(args: &[&str]) -> Value {
    let out = replay().args(args).args(["--json", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json - prints only JSON")
}

fn result<'a>(doc: &'a Value, allocator: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["allocator"] == allocator)
        .unwrap_or_else(|| panic!("no result for {allocator}"))
}

#[test]
fn the_table_has_a_row_for_every_strategy() {
    let out = replay()
        .args([&data("cli-small.csv"), "--alloc", "simulated", "--runs", "1"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for entry in replay::alloc::ALL {
        assert!(stdout.contains(entry.name), "no row for {}:\n{stdout}", entry.name);
    }
    assert!(stdout.contains("one strategy at a time"), "{stdout}");
}

#[test]
fn json_output_has_the_documented_keys() {
    let doc = json_of(&[&data("cli-small.csv"), "--alloc", "simulated", "--runs", "2"]);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["trace"]["events"], 14);
    assert_eq!(doc["settings"]["timing_parallel"], false);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), replay::alloc::ALL.len());
    for r in results {
        for key in [
            "allocator",
            "events",
            "peak_footprint_bytes",
            "max_live_bytes",
            "overhead",
            "internal_fragmentation",
            "external_fragmentation",
            "peak_event",
            "failed_allocations",
            "throughput_events_per_sec",
        ] {
            assert!(r.get(key).is_some(), "missing {key} in {r}");
        }
        assert!(r["throughput_events_per_sec"].as_f64().unwrap() > 0.0);
        assert_eq!(r["throughput"]["runs"].as_array().unwrap().len(), 2);
        for op in ["malloc", "free"] {
            for p in ["p50", "p99", "p999", "max"] {
                assert!(r["latency_ns"][op][p].is_u64(), "latency_ns.{op}.{p} in {r}");
            }
        }
        assert!(r["latency_ns"]["realloc"].is_null(), "this trace has no realloc");
    }
}

#[test]
fn a_hand_computed_trace_gives_the_exact_figures() {
    // A=100 -> [0,112), B=20 -> [112,144), C=50 -> [144,208), D=10 -> [208,224),
    // E=30 -> [224,256): 210 bytes live in 256 consumed, at event 4. Then A and C are freed
    // and F=40, G=60 fit into the holes in every free-list strategy: the heap never grows again.
    let doc =
        json_of(&[&data("cli-small.csv"), "--alloc", "first-fit,best-fit,bump", "--runs", "0"]);
    for name in ["first-fit", "best-fit"] {
        let r = result(&doc, name);
        assert_eq!(r["peak_footprint_bytes"], 256, "{name}");
        assert_eq!(r["max_live_bytes"], 210, "{name}");
        assert_eq!(r["peak_event"], 4, "{name}");
        assert_eq!(r["internal_fragmentation"].as_f64().unwrap(), 46.0 / 256.0, "{name}");
        assert_eq!(r["external_fragmentation"].as_f64().unwrap(), 0.0, "{name}");
        assert_eq!(r["overhead"].as_f64().unwrap(), 46.0 / 210.0, "{name}");
    }
    // bump never reuses: F and G go on top, 256 + 48 + 64.
    assert_eq!(result(&doc, "bump")["peak_footprint_bytes"], 368);
    assert!(result(&doc, "bump")["throughput_events_per_sec"].is_null(), "--runs 0 skips timing");
}

#[test]
fn the_json_file_is_written_and_the_table_still_printed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    replay()
        .args([&data("cli-small.csv"), "--alloc", "first-fit", "--runs", "1", "--json"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("first-fit"));
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(doc["results"][0]["allocator"], "first-fit");
}

#[test]
fn an_unknown_strategy_is_a_usage_error_listing_the_valid_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    replay()
        .args([&data("cli-small.csv"), "--alloc", "first-fit,fastest", "--json"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown strategy 'fastest'"))
        .stderr(predicate::str::contains("best-fit"));
    assert!(!out.exists());
}

#[test]
fn a_bad_trace_fails_with_its_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    replay()
        .args([&data("cli-double-free.csv"), "--json"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cli-double-free.csv:4:"))
        .stderr(predicate::str::contains("panicked").not());
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file left");
}

#[test]
fn lenient_replays_the_valid_events_and_counts_the_rest() {
    let doc = json_of(&[
        &data("cli-double-free.csv"),
        "--alloc",
        "simulated",
        "--lenient",
        "--runs",
        "0",
    ]);
    assert_eq!(doc["trace"]["events"], 2);
    assert_eq!(doc["trace"]["skipped"]["not_live"], 1);
}

#[test]
fn a_missing_trace_file_is_exit_status_2() {
    replay()
        .arg("no/such/trace.csv")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/trace.csv"));
}

#[test]
fn bad_flags_are_exit_status_2() {
    replay().args([&data("cli-small.csv"), "--heap-limit", "lots"]).assert().code(2);
    replay().args([&data("cli-small.csv"), "--runs", "-1"]).assert().code(2);
    replay().arg("--no-such-flag").assert().code(2);
    replay().assert().code(2);
}

#[test]
fn a_heap_limit_makes_requests_fail_and_the_report_counts_them() {
    let doc =
        json_of(&[&data("cli-small.csv"), "--alloc", "bump", "--heap-limit", "256", "--runs", "0"]);
    let bump = result(&doc, "bump");
    // F (48) and G (64) would grow bump past 256 bytes.
    assert_eq!(bump["failed_allocations"], 2);
    assert_eq!(bump["ignored_frees"], 2);
    assert_eq!(bump["peak_footprint_bytes"], 256);
}

fn shipped(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces").join(name).display().to_string()
}

#[test]
fn the_readme_command_replays_a_shipped_real_trace_through_every_strategy() {
    let doc = json_of(&[&shipped("perl-hash.csv"), "--alloc", "simulated", "--runs", "1"]);
    assert_eq!(doc["trace"]["events"], 101_002);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), replay::alloc::ALL.len());
    for r in results {
        assert_eq!(r["events"], 101_002);
        assert!(
            r["peak_footprint_bytes"].as_u64().unwrap() >= r["max_live_bytes"].as_u64().unwrap()
        );
    }
}

#[test]
fn an_imported_mtrace_replays_exactly_like_the_mtrace_itself() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sort.csv");
    replay()
        .args(["import", "--from", "mtrace", &shipped("sort-small.mtrace"), "-o"])
        .arg(&csv)
        .assert()
        .success()
        .stderr(predicate::str::contains("imported 428 events"));
    let from_csv = json_of(&[csv.to_str().unwrap(), "--alloc", "simulated", "--runs", "0"]);
    let from_mtrace = json_of(&[
        &shipped("sort-small.mtrace"),
        "--format",
        "mtrace",
        "--alloc",
        "simulated",
        "--runs",
        "0",
    ]);
    assert_eq!(from_csv["results"], from_mtrace["results"]);
}

#[test]
fn a_bad_mtrace_import_fails_with_its_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.mtrace");
    std::fs::write(
        &bad,
        "= Start\n@ ./a.out:[0x401136] + 0x4052a0 0x18\n@ ./a.out:[0x40114e] - 0x999\n",
    )
    .unwrap();
    let out = dir.path().join("out.csv");
    replay()
        .args(["import", "--from", "mtrace"])
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.mtrace:3:"));
    assert!(!out.exists());
}

#[test]
fn every_strategy_passes_verification_on_the_real_traces() {
    for trace in ["perl-hash.csv", "xz.csv", "python-dict.csv.gz"] {
        let doc = json_of(&[&shipped(trace), "--alloc", "simulated", "--verify", "--runs", "0"]);
        for r in doc["results"].as_array().unwrap() {
            assert_eq!(r["safety"]["verified"], true);
            assert_eq!(
                r["safety"]["verify_errors"], 0,
                "{trace}: {}: {}",
                r["allocator"], r["safety"]
            );
            assert_eq!(r["safety"]["overruns"], 0);
            assert!(r["safety"]["corruption"].is_null());
        }
    }
}

fn boundary_tag_run(args: &[&str]) -> (Value, String) {
    let out = replay()
        .args([&shipped("overrun.csv"), "--alloc", "first-fit,boundary-tag", "--runs", "0"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json = replay()
        .args([&shipped("overrun.csv"), "--alloc", "first-fit,boundary-tag", "--runs", "0"])
        .args(args)
        .args(["--json", "-"])
        .output()
        .unwrap();
    (serde_json::from_slice(&json.stdout).unwrap(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn the_guard_catches_the_overrun_late_and_names_both_lines() {
    let (doc, table) = boundary_tag_run(&["--guard", "--verify"]);
    let corruption = &result(&doc, "boundary-tag")["safety"]["corruption"];
    // The write on line 7 runs into the next block's header; the free on line 11 finds it.
    assert_eq!(corruption["line"], 11);
    assert_eq!(corruption["culprit_line"], 7);
    assert!(corruption["message"].as_str().unwrap().starts_with("heap corruption detected at 0x"));
    assert!(
        table.contains("overrun.csv:11: heap corruption detected at 0x50: guard of the block at 0x50 overwritten")
            && table.contains("(last write into the block below: line 7)"),
        "{table}"
    );
    assert!(table.contains("overrun.csv:7: buffer overrun"), "{table}");
    // Strategies with out-of-band metadata are not damaged by the overrun.
    assert!(result(&doc, "first-fit")["safety"]["corruption"].is_null());
    assert_eq!(result(&doc, "first-fit")["events"], 10);
    assert_eq!(result(&doc, "boundary-tag")["events"], 8, "the replay stops before line 11");
}

#[test]
fn without_the_guard_the_damaged_size_is_reported_and_the_run_ends_cleanly() {
    let (doc, table) = boundary_tag_run(&[]);
    let corruption = &result(&doc, "boundary-tag")["safety"]["corruption"];
    assert_eq!(corruption["line"], 11);
    assert_eq!(corruption["culprit_line"], 7);
    assert!(
        corruption["message"].as_str().unwrap().contains("reads 0x4141414141414141"),
        "{table}"
    );
    assert!(!table.contains("guard"), "{table}");
}

#[test]
fn verify_reports_the_use_after_free_with_its_line() {
    let doc = json_of(&[
        &shipped("use-after-free.csv"),
        "--alloc",
        "simulated",
        "--verify",
        "--runs",
        "0",
    ]);
    for r in doc["results"].as_array().unwrap() {
        let safety = &r["safety"];
        assert_eq!(safety["use_after_free"], 1, "{}", r["allocator"]);
        assert_eq!(safety["findings"][0]["kind"], "use_after_free");
        assert_eq!(safety["findings"][0]["line"], 7);
        assert_eq!(safety["verify_errors"], 0);
    }
}

#[test]
fn simulated_runs_every_strategy_of_the_registry_in_its_order() {
    let doc = json_of(&[&shipped("xz.csv"), "--alloc", "simulated", "--runs", "0"]);
    let registry: Vec<&str> = replay::alloc::ALL.iter().map(|e| e.name).collect();
    assert_eq!(allocators(&doc), registry);
}

/// The `allocator` of every result, in order.
fn allocators(doc: &Value) -> Vec<&str> {
    let results = doc["results"].as_array().unwrap();
    results.iter().map(|r| r["allocator"].as_str().unwrap()).collect()
}

#[test]
fn all_the_default_runs_every_simulated_strategy_then_every_builtin_real_allocator_once() {
    let simulated = replay::alloc::ALL.iter().map(|e| e.name);
    let expected: Vec<&str> = simulated.chain(replay::real::REAL.iter().map(|e| e.name)).collect();
    for alloc in [None, Some("all,glibc")] {
        let mut args = vec![shipped("xz.csv"), "--runs".into(), "0".into()];
        if let Some(alloc) = alloc {
            args.extend(["--alloc".into(), alloc.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let doc = json_of(&args);
        assert_eq!(allocators(&doc), expected, "--alloc {alloc:?}");
        for r in doc["results"].as_array().unwrap() {
            let real = replay::real::REAL.iter().any(|e| r["allocator"] == e.name);
            assert_eq!(r["kind"], if real { "real" } else { "simulated" }, "{r}");
            assert!(r["error"].is_null(), "{r}");
            assert_eq!(r["max_live_bytes"], doc["results"][0]["max_live_bytes"]);
        }
    }
}

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn only_the_command_line_modules_know_clap_and_the_cli() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    for file in files {
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        let code: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if name != "cli.rs" && name != "main.rs" {
            assert!(!code.contains("clap::") && !code.contains("use clap"), "{name} uses clap");
        }
        if !["cli.rs", "main.rs", "commands.rs"].contains(&name.as_str()) {
            assert!(!code.contains("cli::"), "{name} imports the command line (crate::cli)");
        }
    }
}

// The first hour (issue 14): typos, timing honesty, counts, colours, help, the CI example.

#[test]
fn a_mistyped_subcommand_is_answered_with_the_subcommand_it_resembles() {
    for args in [&["stat", "t.csv"][..], &["stat"], &["mrege", "a.json", "b.json"]] {
        let out = replay().args(args).env("NO_COLOR", "1").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let (typed, meant) =
            if args[0] == "mrege" { ("mrege", "merge") } else { ("stat", "stats") };
        assert!(stderr.contains(&format!("unrecognized subcommand '{typed}'")), "{stderr}");
        assert!(stderr.contains(&format!("a similar subcommand exists: '{meant}'")), "{stderr}");
    }
    // A file of that name is a trace, not a typo.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("cli-small.csv"), dir.path().join("stat")).unwrap();
    replay()
        .current_dir(dir.path())
        .args(["stat", "--alloc", "bump", "--runs", "0"])
        .assert()
        .success()
        .stdout(predicate::str::contains("trace stat (csv): 14 events"));
    // A word like no subcommand is still a trace path, with the usual error.
    replay()
        .arg("nothing-like-it")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing-like-it: No such file"));
}

#[test]
fn a_mistyped_strategy_is_answered_with_the_strategy_it_resembles() {
    replay().args([&data("cli-small.csv"), "--alloc", "frist-fit"]).assert().code(2).stderr(
        predicate::str::contains(
            "unknown strategy 'frist-fit' in --alloc: did you mean 'first-fit'? (valid: all,",
        ),
    );
    // Nothing alike: no suggestion, only the list.
    replay()
        .args([&data("cli-small.csv"), "--alloc", "qqq"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown strategy 'qqq' in --alloc (valid: all,"));
}

#[test]
fn a_pass_too_short_to_time_is_warned_of_and_marked_and_a_long_one_is_not() {
    // The fake clock charges 10 ns an event and 1 ns a unit of work: 14 events take ~150 ns a
    // pass, 600000 events over 6 ms.
    let out = replay()
        .args([&data("cli-small.csv"), "--alloc", "first-fit,bump", "--fake-clock", "--json", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: a timed pass under 5 ms is too short to time well"),
        "{stderr}"
    );
    assert!(stderr.contains("first-fit 1") && stderr.contains(" ns a pass"), "{stderr}");
    assert!(stderr.contains(", bump 1"), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result(&doc, "first-fit")["throughput"]["too_short"], true);

    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.rtrace");
    replay()
        .args(["gen", "--events", "600000", "--live", "100", "-o"])
        .arg(&long)
        .assert()
        .success();
    let out = replay()
        .arg(&long)
        .args(["--alloc", "bump", "--fake-clock", "--samples", "0", "--json", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("too short"));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(result(&doc, "bump")["throughput"].get("too_short").is_none());
    // -q: no warning on the terminal (the JSON still has it).
    replay()
        .args([&data("cli-small.csv"), "--alloc", "bump", "--fake-clock", "-q"])
        .assert()
        .success()
        .stderr("");
}

#[test]
fn counts_of_one_read_in_the_singular() {
    let out = replay()
        .args([&shipped("overrun.csv"), "--alloc", "first-fit", "--verify"])
        .args(["--fake-clock", "--runs", "1"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("verify: 1 buffer overrun, 0 uses after free in the trace"), "{table}");
    assert!(table.contains("median [min .. max] of 1 untimed run;"), "{table}");
    let out = replay()
        .args([&shipped("use-after-free.csv"), "--alloc", "first-fit", "--verify", "--runs", "0"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("verify: 0 buffer overruns, 1 use after free in the trace"), "{table}");
}

#[test]
fn errors_are_coloured_like_claps_only_when_colour_is_wanted() {
    // CLICOLOR_FORCE stands in for a terminal; NO_COLOR wins over it, for clap and for replay.
    let stderr = |args: &[&str], no_color: bool| {
        let mut command = replay();
        command.args(args).env("CLICOLOR_FORCE", "1").env_remove("NO_COLOR");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let ours = ["no-such-trace.csv"];
    let claps = ["no-such-trace.csv", "--no-such-flag"];
    for args in [&ours[..], &claps[..]] {
        let coloured = stderr(args, false);
        let at = coloured.find("error:").unwrap();
        assert!(coloured[..at].contains("\x1b["), "{args:?}: {coloured:?}");
        let plain = stderr(args, true);
        assert!(plain.contains("error:") && !plain.contains('\x1b'), "{args:?}: {plain:?}");
    }
}

#[test]
fn the_alloc_help_hangs_every_wrapped_line_under_its_description() {
    let out = replay().arg("--help").env("COLUMNS", "100").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let start = help.find("Simulated:").unwrap();
    let end = start + help[start..].find("[default: all]").unwrap();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut entries = 0;
    for line in help[start..end].lines().filter(|l| !l.trim().is_empty() && !l.ends_with(':')) {
        // An entry is `  NAME` (12 columns) then its description, in clap's 10-column indent;
        // its continuation lines start where the description does.
        if indent(line) == 12 {
            entries += 1;
            assert!(line.as_bytes()[24] == b' ' && line.as_bytes()[25] != b' ', "{line:?}");
        } else {
            assert_eq!(indent(line), 25, "{line:?}\n{help}");
        }
    }
    assert!(entries >= 10, "{help}");
}

#[test]
fn the_ci_example_is_a_workflow_another_project_can_copy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(root.join("docs/ci-example.yml")).unwrap();
    // A YAML document of a workflow: spaces only, the keys GitHub needs at the top level.
    assert!(!yaml.contains('\t'));
    for key in ["name:", "on:", "permissions:", "env:", "jobs:"] {
        assert!(yaml.lines().any(|l| l.starts_with(key)), "no top-level {key}");
    }
    // It installs replay from its repository, writes to ci/, and names nothing of this one.
    assert!(yaml.contains("cargo install --locked --git \"$REPLAY_GIT\""));
    assert!(yaml.contains("mkdir -p ci"));
    // Outside comments, no word starts with a directory of this repository (`./` dropped).
    let code: String = yaml
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("./", "");
    for entry in std::fs::read_dir(root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let path = format!("{name}/");
        for (at, _) in code.match_indices(&path) {
            let before = code[..at].chars().last().unwrap_or(' ');
            assert!(!" \n\"'=(".contains(before), "names this repository's {path}");
        }
    }
    assert!(!code.contains("target/release") && !code.contains("traces/"));
    // Throughput is gated only because the baseline is made on the same runner, and it says so.
    assert!(yaml.contains("same job") && yaml.contains("throughput=off"));
    // A failed build leaves no diff: the comment step says so instead of failing on it.
    assert!(yaml.contains("if [ ! -s ci/diff.md ]"));
}

#[test]
fn the_readme_and_traces_readme_name_what_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let deps = std::fs::read_to_string(root.join(".ci/install-deps")).unwrap();
    // Every package .ci/install-deps installs is named in the Quick start's comment.
    let quick = &readme[readme.find("## Quick start").unwrap()..readme.find("## What").unwrap()];
    for package in ["chromium", "heaptrack", "tcmalloc", "python3", "perl", "xz-utils"] {
        assert!(deps.contains(package), "{package}");
        assert!(quick.contains(package), "the Quick start does not name {package}");
    }
    // Every repository path in backquotes in traces/README.md exists.
    let traces = std::fs::read_to_string(root.join("traces/README.md")).unwrap();
    for quoted in traces.split('`').skip(1).step_by(2) {
        let top = ["src/", "tests/", "traces/", "tools/", "benches/", "docs/"];
        if top.iter().any(|t| quoted.starts_with(t)) && !quoted.contains(' ') {
            assert!(
                root.join(quoted).exists(),
                "traces/README.md names {quoted}, which is not there"
            );
        }
    }
}
