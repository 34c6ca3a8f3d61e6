//! The verdict end to end: every figure it quotes is its record's figure in the JSON, it is in
//! every output (terminal, Markdown, HTML, JSON), and bump, which never reuses memory, is never
//! ranked.

use assert_cmd::Command;
use replay::figures::Unit;
use replay::report::human_bytes;
use serde_json::Value;

fn replay() -> Command {
    let mut cmd = Command::cargo_bin("replay").expect("the replay binary is built");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// The JSON of a run on `trace` with these arguments.
fn json(trace: &str, args: &[&str]) -> Value {
    let out = replay().arg(trace).args(args).args(["--json", "-", "-q"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn result<'a>(doc: &'a Value, allocator: &str) -> &'a Value {
    let results = doc["results"].as_array().unwrap();
    results.iter().find(|r| r["allocator"] == allocator).unwrap()
}

/// Every pick of the verdict's rankings.
fn picks(doc: &Value) -> Vec<&Value> {
    let v = &doc["verdict"];
    let mut all = vec![];
    for contest in ["simulated", "real"] {
        for list in ["least_memory", "fastest", "trade_off"] {
            if let Some(picks) = v[contest][list].as_array() {
                all.extend(picks);
            }
        }
    }
    all
}

/// Checks that every figure of every pick equals the record's, and that the verdict's text
/// quotes it as the tables round it; returns the picks checked.
fn check_figures(doc: &Value) -> usize {
    let text = doc["verdict"]["text"].as_array().unwrap();
    let text: String = text.iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join(" ");
    let picks = picks(doc);
    for pick in &picks {
        let record = result(doc, pick["allocator"].as_str().unwrap());
        for key in ["peak_footprint_bytes", "overhead", "throughput_events_per_sec"] {
            assert_eq!(pick[key], record[key], "{key} of {}", pick["allocator"]);
        }
        assert!(text.contains(pick["allocator"].as_str().unwrap()), "{text}");
        let bytes = human_bytes(pick["peak_footprint_bytes"].as_u64().unwrap());
        assert!(
            text.contains(&format!("{bytes} peak footprint")) || text.contains(&bytes),
            "{text}"
        );
    }
    let v = &doc["verdict"];
    for list in ["least_memory", "fastest"] {
        if let Some(first) = v["simulated"][list].as_array().and_then(|p| p.first()) {
            let quoted = match list {
                "least_memory" => format!(
                    "({} peak footprint, {} above",
                    human_bytes(first["peak_footprint_bytes"].as_u64().unwrap()),
                    Unit::Ratio.short(first["overhead"].as_f64().unwrap())
                ),
                _ => format!(
                    "({} events/s)",
                    Unit::EventsPerSec.short(first["throughput_events_per_sec"].as_f64().unwrap())
                ),
            };
            assert!(text.contains(&quoted), "{quoted} not in {text}");
        }
    }
    let first = &doc["results"][0];
    let t = &v["trace"];
    assert_eq!(t["max_live_bytes"], first["max_live_bytes"]);
    assert_eq!(t["peak_event"], first["peak_event"]);
    assert_eq!(t["events"], doc["trace"]["events"]);
    assert!(
        text.contains(&format!("max of {}", human_bytes(t["max_live_bytes"].as_u64().unwrap())))
    );
    picks.len()
}

#[test]
fn every_figure_the_verdict_quotes_equals_its_records_figure_in_the_json() {
    let doc = json("tests/data/cli-small.csv", &["--alloc", "simulated", "--fake-clock"]);
    assert!(check_figures(&doc) >= 3);
    let v = &doc["verdict"];
    assert_eq!(v["speed"], "fake clock");
    assert_eq!(v["not_ranked"], serde_json::json!(["bump"]));
    // The five that tie at 256 B are all named.
    let least: Vec<&str> = v["simulated"]["least_memory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["allocator"].as_str().unwrap())
        .collect();
    assert_eq!(least, ["first-fit", "next-fit", "best-fit", "worst-fit", "tlsf"]);
    for pick in picks(&doc) {
        assert_ne!(pick["allocator"], "bump");
    }
    // The trace: 7 requests, 3 of them 32-63 B; its max live at event 4 of 14 (a peak).
    let t = &v["trace"];
    assert_eq!(t["shape"], "peak");
    assert_eq!(t["requests"], 7);
    assert_eq!(
        t["most_requests"],
        serde_json::json!({"from_bytes": 32, "below_bytes": 64, "requests": 3})
    );
    assert_eq!(t["p90_below_bytes"], 128);
    assert_eq!(t["final_live_bytes"], 0);
}

#[test]
fn without_timing_the_verdict_says_so_and_still_names_the_leanest() {
    let doc = json("tests/data/cli-small.csv", &["--alloc", "simulated", "--runs", "0"]);
    check_figures(&doc);
    let v = &doc["verdict"];
    assert_eq!(v["speed"], "not measured");
    assert_eq!(v["simulated"]["fastest"], serde_json::json!([]));
    assert_eq!(v["simulated"]["trade_off"], serde_json::json!([]));
    let text = v["text"].to_string();
    assert!(text.contains("Speed was not measured (--runs 0)"), "{text}");
}

#[test]
fn the_verdict_says_how_many_runs_its_speeds_are_the_medians_of() {
    // Real timing, but only the wording is checked, never a figure.
    let text = |args: &[&str]| {
        let mut all = vec!["--alloc", "bump,first-fit"];
        all.extend_from_slice(args);
        json("tests/data/cli-small.csv", &all)["verdict"]["text"].to_string()
    };
    // By default the runs go on until they agree: not "medians of 3 runs".
    let default = text(&[]);
    assert!(
        default.contains("Speeds are medians of 3 to 5 untimed runs (until they agree within 3%)."),
        "{default}"
    );
    assert!(text(&["--runs", "2"]).contains("Speeds are medians of 2 untimed runs."));
    assert!(!text(&["--runs", "1"]).contains("Speeds are medians"));
}

#[test]
fn the_verdict_is_after_the_terminal_tables_but_not_with_quiet() {
    let out = replay()
        .args(["tests/data/cli-small.csv", "--alloc", "simulated", "--fake-clock"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let verdict = stdout.find("\nverdict: Among the simulations that reuse memory").expect(&stdout);
    assert!(verdict > stdout.rfind("work/event").unwrap());
    let quiet =
        replay().args(["tests/data/cli-small.csv", "--alloc", "simulated", "-q"]).output().unwrap();
    assert!(!String::from_utf8(quiet.stdout).unwrap().contains("verdict"));
}

#[test]
fn the_verdict_opens_the_markdown_and_the_html_report_with_its_trade_off_chart() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("r.md");
    let report = dir.path().join("report");
    replay()
        .args(["tests/data/cli-small.csv", "--alloc", "simulated", "--fake-clock", "-q"])
        .arg("--markdown")
        .arg(&md)
        .arg("--report")
        .arg(&report)
        .assert()
        .success();
    let md = std::fs::read_to_string(md).unwrap();
    let table = md.find("| strategy |").unwrap();
    assert!(md[..table].contains("**Verdict.** Among the simulations that reuse memory"), "{md}");
    assert!(
        md.contains("Bold: the best value of its column among the simulations that reuse memory")
    );
    // A tie of five for the least footprint is not marked.
    assert!(!md.contains("**256 B**"), "{md}");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    let verdict = html.find("<section id=\"verdict\">").unwrap();
    assert!(verdict < html.find("id=\"results-table\"").unwrap());
    assert!(html.contains("id=\"chart-tradeoff\""));
    let svg = std::fs::read_to_string(report.join("tradeoff.svg")).unwrap();
    for name in ["first-fit", "tlsf", "slab", "buddy", "bump (never reuses)"] {
        assert!(svg.contains(name), "{name} has no label");
    }
}

#[test]
fn without_timing_there_is_no_trade_off_chart() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    replay()
        .args(["tests/data/cli-small.csv", "--alloc", "simulated", "--runs", "0", "-q", "--report"])
        .arg(&report)
        .assert()
        .success();
    assert!(!report.join("tradeoff.svg").exists());
}

#[test]
fn every_strategy_but_bump_reuses_memory() {
    for entry in replay::alloc::ALL {
        assert_eq!(entry.reuses_memory(), entry.name != "bump", "{}", entry.name);
    }
}

#[test]
fn the_simulations_are_compared_with_a_real_allocators_peak_footprint() {
    let doc = json("tests/data/cli-small.csv", &["--alloc", "first-fit,tlsf,glibc", "--runs", "1"]);
    check_figures(&doc);
    let glibc = result(&doc, "glibc");
    let rows = doc["verdict"]["simulated_vs_real"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let sim = result(&doc, row["simulated"].as_str().unwrap());
        assert_eq!(row["real"], "glibc");
        assert_eq!(row["simulated_peak_footprint_bytes"], sim["peak_footprint_bytes"]);
        assert_eq!(row["real_peak_footprint_bytes"], glibc["peak_footprint_bytes"]);
        let (a, b) = (
            sim["peak_footprint_bytes"].as_i64().unwrap(),
            glibc["peak_footprint_bytes"].as_i64().unwrap(),
        );
        assert_eq!(row["difference_bytes"].as_i64().unwrap(), a - b);
        if b > 0 {
            assert_eq!(row["ratio"].as_f64().unwrap(), a as f64 / b as f64);
        }
    }
    assert_eq!(doc["verdict"]["real"]["least_memory"][0]["allocator"], "glibc");
}
