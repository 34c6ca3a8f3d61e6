//! The report side, end to end: exporter snapshots, the same numbers in every format, and the
//! HTML report rendered by a real headless browser.

use assert_cmd::Command;
use replay::report::human_bytes;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn replay() -> Command {
    let mut cmd = Command::cargo_bin("replay").expect("the replay binary is built");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn expected(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected").join(name)
}

/// Compare `actual` with the committed file `name`; with `UPDATE_EXPECTED=1`, rewrite it.
fn assert_snapshot(name: &str, actual: &str) {
    let path = expected(name);
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_EXPECTED=1 writes it)", path.display()));
    assert!(
        want == actual,
        "{name} differs from {} (UPDATE_EXPECTED=1 rewrites it):\n{actual}",
        path.display()
    );
}

/// The chart names every full report has (timed, sampled, with heap pictures).
const CHARTS: [&str; 10] = [
    "overview",
    "fragmentation",
    "size-classes",
    "free-holes",
    "throughput",
    "latency",
    "memory",
    "heap-map",
    "heap-timeline",
    "trace-profile",
];

#[test]
fn exports_of_a_small_trace_with_a_fake_clock_match_their_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    replay()
        .args([
            "tests/data/cli-small.csv",
            "--alloc",
            "simulated",
            "--fake-clock",
            "--samples",
            "5",
        ])
        .args(["--json", &out("r.json"), "--csv", &out("r.csv"), "--markdown", &out("r.md")])
        .arg("-q")
        .assert()
        .success();
    for (file, snapshot) in [("r.json", "small.json"), ("r.csv", "small.csv"), ("r.md", "small.md")]
    {
        assert_snapshot(snapshot, &std::fs::read_to_string(dir.path().join(file)).unwrap());
    }
}

/// The value at a CSV column's key in a JSON result: nested keys are joined by `.`.
fn json_path<'a>(result: &'a Value, column: &str) -> &'a Value {
    column.split('.').fold(result, |v, k| &v[k])
}

/// Run `replay` on a trace with timing (made up, so the same everywhere) and every output.
fn every_output(dir: &Path, trace: &str) -> (Value, String, String, String, String) {
    let out = |name: &str| dir.join(name).display().to_string();
    let run = replay()
        .args([trace, "--alloc", "simulated", "--fake-clock", "--runs", "2", "--verify"])
        .args(["--json", &out("r.json"), "--csv", &out("r.csv"), "--markdown", &out("r.md")])
        .args(["--report", &out("report")])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let json: Value = serde_json::from_str(&read("r.json")).unwrap();
    let table = String::from_utf8(run.stdout).unwrap();
    (json, table, read("r.csv"), read("r.md"), read("report/index.html"))
}

#[test]
fn every_figure_of_the_registry_appears_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let (json, table, csv, md, html) = every_output(dir.path(), "traces/xz.csv");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let md_header = md.lines().find(|l| l.starts_with("| strategy")).unwrap();
    let html_header = &html[html.find("id=\"results-table\"").unwrap()..];
    let html_header = &html_header[..html_header.find("</tr>").unwrap()];
    let table_headers: Vec<&str> = table.lines().filter(|l| l.starts_with("strategy")).collect();
    assert_eq!(table_headers.len(), 2, "a memory and a speed table:\n{table}");
    for f in replay::figures::FIGURES {
        for r in json["results"].as_array().unwrap() {
            let at = json_path(r, f.key);
            // realloc latency is null for a strategy only if the trace has none; xz has some.
            assert!(at.is_number(), "JSON {} of {}: {at}", f.key, r["allocator"]);
        }
        assert!(header.contains(&f.key), "CSV header lacks {}", f.key);
        assert!(md_header.contains(&format!("| {} |", f.label)), "Markdown lacks {}", f.label);
        assert!(html_header.contains(&format!(">{}</a></th>", f.label)), "HTML lacks {}", f.label);
        assert!(html.contains(&format!("<code>{}</code>", f.key)), "HTML defines no {}", f.key);
        assert!(
            table_headers.iter().any(|h| h.contains(&format!("  {}", f.label))),
            "the terminal tables lack {}",
            f.label
        );
    }
    // Every CSV column, figure or not, is named by its place in the JSON result.
    for column in header.iter().skip(1) {
        let r = &json["results"][0];
        let mut at = r;
        for k in column.split('.') {
            if at.is_null() {
                break; // an object that is absent in this run (no corruption): null, empty cell
            }
            assert!(at.get(k).is_some(), "CSV column {column} is not a JSON key");
            at = &at[k];
        }
    }
}

#[test]
fn json_csv_and_markdown_carry_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    replay()
        .args(["traces/perl-hash.csv", "--alloc", "simulated", "--runs", "2"])
        .args(["--json", &out("r.json"), "--csv", &out("r.csv"), "--markdown", &out("r.md")])
        .arg("-q")
        .assert()
        .success();
    let json: Value = serde_json::from_slice(&std::fs::read(out("r.json")).unwrap()).unwrap();
    let results = json["results"].as_array().unwrap();

    let mut csv = csv::Reader::from_path(out("r.csv")).unwrap();
    let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), results.len());
    for (row, result) in rows.iter().zip(results) {
        for (column, cell) in header.iter().zip(row) {
            let want = json_path(result, column);
            match want {
                Value::Null => assert_eq!(cell, "", "{column} of {}", result["allocator"]),
                Value::String(s) => assert_eq!(cell, s),
                Value::Number(n) => {
                    let cell: f64 = cell.parse().unwrap_or_else(|_| panic!("{column}: {cell}"));
                    // Both files print the shortest decimal that reads back as the same f64;
                    // serde_json's default parser may land one ulp off it, hence the 1e-12.
                    let want = n.as_f64().unwrap();
                    assert!(
                        (cell - want).abs() <= 1e-12 * want.abs(),
                        "{column} of {}: {cell} in CSV, {want} in JSON",
                        result["allocator"]
                    );
                }
                other => panic!("{column}: unexpected JSON value {other}"),
            }
        }
    }

    // The Markdown table rounds for reading: its cells are the JSON figures, so rounded.
    let md = std::fs::read_to_string(out("r.md")).unwrap();
    let cells = |l: &str| -> Vec<String> {
        l.trim_matches('|').split('|').map(|c| c.trim().replace("**", "")).collect()
    };
    let header = cells(md.lines().find(|l| l.starts_with("| strategy")).unwrap());
    // The results table: the rows after its header and separator, up to its end (other tables
    // follow it, "Where the waste is").
    let table: Vec<Vec<String>> = md
        .lines()
        .skip_while(|l| !l.starts_with("| strategy"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(cells)
        .collect();
    assert_eq!(table.len(), results.len());
    let percent = |v: &Value| format!("{:.2}%", v.as_f64().unwrap() * 100.0);
    let mut checked = 0;
    for (row, r) in table.iter().zip(results) {
        assert_eq!(row[0], r["allocator"].as_str().unwrap());
        for (label, cell) in header.iter().zip(row).skip(1) {
            let key = match label.as_str() {
                "events" => "events",
                "peak footprint" => "peak_footprint_bytes",
                "max live" => "max_live_bytes",
                "overhead" => "overhead",
                "internal" => "internal_fragmentation",
                "external" => "external_fragmentation",
                "peak event" => "peak_event",
                "failed" => "failed_allocations",
                "work/event" => "work_per_event",
                "events/s (median)" => "throughput.median",
                l => &format!("latency_ns.{}", l.trim_end_matches(" ns").replace(' ', ".")),
            };
            let v = json_path(r, key);
            let want = match key {
                "peak_footprint_bytes" | "max_live_bytes" => human_bytes(v.as_u64().unwrap()),
                "overhead" | "internal_fragmentation" | "external_fragmentation" => percent(v),
                "work_per_event" => format!("{:.2}", v.as_f64().unwrap()),
                "throughput.median" => format!("{:.2}M", v.as_f64().unwrap() / 1e6),
                _ if v.is_null() => "-".to_string(),
                _ => v.to_string(),
            };
            assert_eq!(cell, &want, "{label} of {}", r["allocator"]);
            checked += 1;
        }
    }
    assert_eq!(checked, results.len() * replay::figures::FIGURES.len());
}

#[test]
fn the_json_series_has_every_figure_at_the_requested_samples_and_the_peak() {
    let out = replay()
        .args(["traces/perl-hash.csv", "--alloc", "first-fit,buddy", "--runs", "0"])
        .args(["--samples", "100", "--json", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["settings"]["samples"], 100);
    for r in json["results"].as_array().unwrap() {
        let s = &r["series"];
        let events: Vec<u64> =
            s["event"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert!(events.len() >= 100 && events.len() <= 102, "{} samples", events.len());
        assert!(events.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        assert_eq!(*events.last().unwrap(), r["events"].as_u64().unwrap() - 1);
        let peak = events.iter().position(|&e| e == r["peak_event"].as_u64().unwrap()).unwrap();
        for key in ["footprint_bytes", "live_requested_bytes", "live_consumed_bytes"] {
            assert_eq!(s[key].as_array().unwrap().len(), events.len(), "{key}");
        }
        assert_eq!(s["live_requested_bytes"][peak], r["max_live_bytes"]);
        assert_eq!(s["footprint_bytes"][peak], r["at_peak"]["footprint_bytes"]);
        assert_eq!(s["free_bytes"][peak], r["at_peak"]["free_bytes"]);
        assert_eq!(s["largest_satisfiable_bytes"][peak], r["at_peak"]["largest_satisfiable_bytes"]);
    }
}

/// Chromium, headless and cut off from everything, with a fresh profile. The test fails (it
/// does not skip) when Chromium is missing: `.ci/run` installs it.
fn chromium(args: &[&str], page: &Path) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.display());
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs (Debian's `chromium` package; .ci/run installs it)")
}

#[test]
fn the_html_report_renders_in_headless_chromium_with_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("new").join("report");
    replay()
        .args(["traces/perl-hash.csv", "--alloc", "simulated", "--runs", "1", "-q", "--report"])
        .arg(&report)
        .assert()
        .success();
    for chart in CHARTS {
        let svg = std::fs::read_to_string(report.join(format!("{chart}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<rect"), "{chart}.svg");
    }
    let index = report.join("index.html");
    let html = std::fs::read_to_string(&index).unwrap();
    for forbidden in ["<script", "http://", "https://", "@font-face", "@import"] {
        let outside_svg_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!outside_svg_namespace.contains(forbidden), "index.html has {forbidden}");
    }

    let out = chromium(&["--dump-dom"], &index);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8(out.stdout).unwrap();
    for chart in CHARTS {
        let start = dom
            .find(&format!("id=\"chart-{chart}\""))
            .unwrap_or_else(|| panic!("no {chart} chart in the rendered page"));
        let figure = &dom[start..start + dom[start..].find("</figure>").unwrap()];
        let svg = &figure[figure.find("<svg").expect("the chart is an inline SVG")..];
        let shapes = svg.matches("<rect").count() + svg.matches("<polyline").count();
        assert!(shapes >= 10, "the {chart} chart has only {shapes} shapes");
        assert!(svg.contains("<text"), "the {chart} chart has no text");
        assert!(figure.contains("<figcaption>"), "the {chart} chart has no caption");
    }
    assert!(dom.contains("id=\"results-table\"") && dom.contains("class=\"best\""));
    assert!(dom.contains("--report"), "the page shows the command line");

    let shot = dir.path().join("shot.png");
    let out =
        chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=1200,2000"], &index);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 50_000, "a blank screenshot?");
}

#[test]
fn a_report_without_timing_leaves_out_the_timing_charts() {
    let dir = tempfile::tempdir().unwrap();
    replay()
        .args(["traces/coalescing.csv", "--alloc", "first-fit", "--runs", "0", "-q", "--report"])
        .arg(dir.path())
        .assert()
        .success();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    for chart in CHARTS {
        let timed = chart == "throughput" || chart == "latency";
        assert_eq!(html.contains(&format!("id=\"chart-{chart}\"")), !timed, "{chart}");
        assert_eq!(dir.path().join(format!("{chart}.svg")).exists(), !timed, "{chart}");
    }
}

#[test]
fn a_report_of_a_strategy_stopped_by_corruption_still_has_its_pictures() {
    let dir = tempfile::tempdir().unwrap();
    replay()
        .args(["traces/overrun.csv", "--alloc", "simulated", "--verify", "--guard", "--runs", "0"])
        .args(["-q", "--json", "-", "--report"])
        .arg(dir.path())
        .assert()
        .success();
    // boundary-tag finds its tags damaged and stops after 8 of the 10 events.
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    for chart in ["heap-map", "heap-timeline", "memory"] {
        assert!(html.contains(&format!("id=\"chart-{chart}\"")), "{chart}");
    }
    assert!(html.contains("boundary-tag"));
}

/// `replay ARGS --threads 2` in `dir` under a 2 GiB limit of address space (`ulimit -v`): what
/// replaying a trace may take does not depend on the sizes it asks for. Two threads and two
/// malloc arenas, so that the address space reserved per thread stays the same on any machine.
fn replay_within_two_gib(dir: &Path, args: &[&str]) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("replay");
    std::process::Command::new("sh")
        .args(["-c", "ulimit -v 2097152 && exec \"$0\" \"$@\""])
        .arg(bin)
        .args(args)
        .args(["--threads", "2"])
        .env("MALLOC_ARENA_MAX", "2")
        .current_dir(dir)
        .output()
        .expect("sh runs")
}

#[test]
fn a_two_line_trace_of_a_two_gib_malloc_replays_with_a_report_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "op,ptr,size\nmalloc,0x10,2147483648\nfree,0x10,\n")
        .unwrap();
    let args = ["t.csv", "--alloc", "boundary-tag", "--runs", "1", "--report", "r", "--json"];
    let out = replay_within_two_gib(dir.path(), &[&args[..], &["r.json", "-q"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    let result = &json["results"][0];
    assert_eq!(result["peak_footprint_bytes"], (2u64 << 30) + 32, "{result}");
    let html = std::fs::read_to_string(dir.path().join("r/index.html")).unwrap();
    for chart in ["heap-map", "heap-timeline"] {
        assert!(html.contains(&format!("id=\"chart-{chart}\"")), "{chart}");
    }
    // --min-size 4 GiB: three blocks of 4 GiB in 12 GiB of simulated heap.
    std::fs::write(
        dir.path().join("m.csv"),
        "op,ptr,size\nmalloc,0x10,1\nmalloc,0x20,1\nmalloc,0x30,1\n",
    )
    .unwrap();
    let args = ["m.csv", "--alloc", "boundary-tag", "--min-size", "4294967296", "--runs", "1"];
    let out = replay_within_two_gib(dir.path(), &[&args[..], &["--report", "m", "-q"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The README's definitions, as the registry has them: the words, then a row per figure.
fn readme_definitions() -> String {
    use replay::figures::{Better, FIGURES, TERMS};
    let mut out = String::from("The words the definitions use:\n\n");
    for (term, meaning) in TERMS {
        out.push_str(&format!("- `{term}`: {meaning}\n"));
    }
    out.push_str("\nReported per strategy (the column header of the tables in brackets):\n\n");
    out.push_str("| figure | unit | better | gate (`--max-regression`) | definition |\n");
    out.push_str("|---|---|---|---|---|\n");
    for f in FIGURES {
        let better = match f.better {
            Better::Lower => "lower",
            Better::Higher => "higher",
            Better::Neither => "-",
        };
        let gate = match f.gate {
            None => "-".to_string(),
            Some(g) => match g.default {
                None => format!("`{}`, off by default", g.name),
                Some(t) => format!("`{}`, default {}%", g.name, t * 100.0),
            },
        };
        out.push_str(&format!(
            "| `{}` ({}) | {} | {better} | {gate} | {} |\n",
            f.key,
            f.label,
            f.unit.name(),
            f.definition.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out
}

#[test]
fn the_readme_defines_every_figure_as_the_registry_does() {
    const START: &str = "<!-- figures: generated from src/figures.rs by tests/reports.rs -->\n";
    const END: &str = "<!-- end of figures -->\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(START).expect("README.md has the figures' start marker") + START.len();
    let end = start + readme[start..].find(END).expect("README.md has the end marker");
    let want = readme_definitions();
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    assert!(
        readme[start..end] == want,
        "README.md's definitions differ from src/figures.rs (UPDATE_EXPECTED=1 rewrites them):\n{want}"
    );
}

#[test]
fn a_report_with_a_real_allocator_draws_it_in_every_per_strategy_chart() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let json = dir.path().join("r.json");
    replay()
        .args(["traces/perl-hash.csv", "--alloc", "first-fit,glibc", "--runs", "1", "-q"])
        .arg("--report")
        .arg(&report)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let read = |name: &str| std::fs::read_to_string(report.join(name)).unwrap();
    for chart in ["overview", "fragmentation", "throughput", "latency", "memory"] {
        let svg = read(&format!("{chart}.svg"));
        // Labelled so that a reader tells the real allocator from a simulation.
        assert!(svg.contains("glibc (real)"), "{chart}.svg has no glibc (real)");
        assert!(svg.contains("first-fit") && !svg.contains("first-fit (real)"), "{chart}.svg");
    }
    // glibc has no external fragmentation: its bar is left out, not drawn as 0 (the external
    // colour is first-fit's bar and the legend's swatch, nothing else).
    let fragmentation = read("fragmentation.svg");
    assert_eq!(fragmentation.matches("fill=\"#009E73\"").count(), 2, "{fragmentation}");
    // The memory chart has glibc's line: the area, first-fit's line and glibc's.
    let memory = read("memory.svg");
    assert!(memory.matches("<polyline").count() >= 2, "{memory}");
    let html = read("index.html");
    assert!(html.contains("<tr><td>glibc</td>"), "the HTML table lists glibc");
    assert!(html.contains("first run"), "the memory chart's caption says which run it shows");
    // The series behind glibc's line is in the JSON, in its own layout (`resident.series`).
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let series = doc["results"][1]["resident"]["series"].as_array().unwrap();
    let events: Vec<u64> = series.iter().map(|s| s["event"].as_u64().unwrap()).collect();
    assert_eq!(events, [65_535, 101_001]);
    assert!(series
        .iter()
        .all(|s| s["rss_above_baseline"].is_i64() && s["live_requested"].is_u64()));
}

#[test]
fn the_results_table_shows_each_p99_9_after_its_p99_and_scrolls_in_a_box_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (json, _, _, _, html) = every_output(dir.path(), "traces/xz.csv");
    let start = html
        .find("<div class=\"table-box\">\n<table id=\"results-table\">")
        .expect("the table is in a box of its own");
    let end = html[start..].find("</table>\n</div>").expect("the box closes after the table");
    let table = &html[start..start + end];
    let header = &table[..table.find("</tr>").unwrap()];
    let labels: Vec<&str> = header
        .split("</a></th>")
        .filter_map(|h| h.rsplit('>').next())
        .filter(|l| !l.is_empty())
        .collect();
    let first = &json["results"][0];
    let row = table.split("<tr>").nth(2).expect("a row per strategy");
    let cells: Vec<&str> = row
        .split("<td")
        .skip(1)
        .map(|c| &c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()])
        .collect();
    assert_eq!(cells.len(), labels.len() + 1, "{labels:?}");
    for op in ["malloc", "free", "realloc"] {
        let p99 = labels.iter().position(|l| *l == format!("{op} p99 ns")).unwrap();
        assert_eq!(labels[p99 + 1], format!("{op} p99.9 ns"), "{labels:?}");
        // The strategy's name is the first cell, then one per column.
        assert_eq!(cells[p99 + 2], first["latency_ns"][op]["p999"].to_string(), "{op}");
    }
}
