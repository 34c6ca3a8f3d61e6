//! Where the waste is: the breakdowns at the peak event (internal waste by request size class,
//! free holes by size) checked against a trace computed by hand, in the JSON, the CSV, the
//! report and in process, and, on synthetic traces, that they add up to the at-peak figures
//! for every strategy.

use assert_cmd::Command;
use replay::alloc::{Params, ALL};
use replay::engine::at_peak::Breakdowns;
use replay::engine::replayer::Setup;
use replay::engine::{metrics_pass_of, InMemory, Pass};
use replay::trace::Event;
use serde_json::Value;

fn replay() -> Command {
    let mut cmd = Command::cargo_bin("replay").expect("the replay binary is built");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Twelve events; the peak is event 9 (795 live bytes), two frees follow it, so the heap at the
/// peak is found by replaying the events up to it.
///
/// ```text
/// event  op                  live bytes after
///   0    malloc A 10          10
///   1    malloc B 100        110
///   2    malloc C 0          110
///   3    malloc D 300        410
///   4    malloc E 5          415
///   5    free B              315
///   6    malloc F 40         355
///   7    free D               55
///   8    malloc G 600        655
///   9    malloc H 140        795   <- peak
///  10    free A              785
///  11    free G              185
/// ```
///
/// first-fit (blocks of need(n) = max(16, round_up(max(n, 1), 16)) bytes, no headers):
/// A [0,16) B [16,128) C [128,144) D [144,448) E [448,464); free B: [16,128) free; F (48)
/// takes [16,64), [64,128) stays free; free D: [144,448) free (C and E live around it);
/// G (608) fits in no hole, the highest free block does not end at top 464: G [464,1072);
/// H (144) skips [64,128) (64 bytes) and takes [144,288), leaving [288,448) free.
/// At the peak, footprint 1072, live A [0,16) F [16,64) C [128,144) H [144,288) E [448,464)
/// G [464,1072):
///   0-16 B:    A, C, E: 3 blocks, 15 requested, 48 consumed, waste 33
///   33-64 B:   F: 40 requested, 48 consumed, waste 8
///   129-256 B: H: 140 requested, 144 consumed, waste 4
///   513-1024 B: G: 600 requested, 608 consumed, waste 8      (sum 53 = 848 - 795)
///   holes [64,128) 64 B (class 33-64) and [288,448) 160 B (class 129-256): 224 = 1072 - 848,
///   the largest 160.
///
/// slab (class = the smallest slab class >= need; a slab of class c is c / gcd(c, 4096) pages
/// from a best-fit page allocator; an empty slab's pages go back at once):
/// A, C, E: class 16, slab [0,4096), slots [0,16) [16,32) [32,48); B: class 112, slab of 7
/// pages [4096,32768), freed whole at event 5; D: class 320, 5 pages [32768,53248), freed at
/// event 7, its run merges into [16384,53248); F: class 48, 3 pages [4096,16384) (best fit in
/// [4096,32768)), slot [4096,4144); G (608): class 640, 5 pages [16384,36864), slot
/// [16384,17024); H (144): class 160, 5 pages (20480 bytes) fit in no free run ([36864,53248)
/// is 16384), the highest ends at top 53248, so the slab is [36864,57344), slot [36864,37024).
/// At the peak, footprint 57344:
///   0-16 B:    3 blocks, 15 requested, 48 consumed, waste 33
///   33-64 B:   F: 40, 48, waste 8
///   129-256 B: H: 140, 160, waste 20
///   513-1024 B: G: 600, 640, waste 40                       (sum 101 = 896 - 795)
///   holes [48,4096) 4048 B (class 2049-4096), [4144,16384) 12240 B (8193-16384),
///   [17024,36864) 19840 B and [37024,57344) 20320 B (16385-32768): 56448 = 57344 - 896,
///   the largest 20320.
const HAND_TRACE: &str = "op,ptr,size
malloc,0x10,10
malloc,0x20,100
malloc,0x30,0
malloc,0x40,300
malloc,0x50,5
free,0x20,
malloc,0x60,40
free,0x40,
malloc,0x70,600
malloc,0x80,140
free,0x10,
free,0x70,
";

/// The same trace as events, block ids A = 0 ... H = 7.
fn hand_events() -> Vec<Event> {
    vec![
        Event::malloc(0, 10),
        Event::malloc(1, 100),
        Event::malloc(2, 0),
        Event::malloc(3, 300),
        Event::malloc(4, 5),
        Event::free(1),
        Event::malloc(5, 40),
        Event::free(3),
        Event::malloc(6, 600),
        Event::malloc(7, 140),
        Event::free(0),
        Event::free(6),
    ]
}

/// `(min, max, blocks, requested, consumed, waste)` per request size class, by hand.
type WasteRow = (u64, u64, u64, u64, u64, u64);
const FIRST_FIT_WASTE: [WasteRow; 4] = [
    (0, 16, 3, 15, 48, 33),
    (33, 64, 1, 40, 48, 8),
    (129, 256, 1, 140, 144, 4),
    (513, 1024, 1, 600, 608, 8),
];
const SLAB_WASTE: [WasteRow; 4] = [
    (0, 16, 3, 15, 48, 33),
    (33, 64, 1, 40, 48, 8),
    (129, 256, 1, 140, 160, 20),
    (513, 1024, 1, 600, 640, 40),
];
/// `(min, max, holes, bytes)` per hole size class, by hand.
const FIRST_FIT_HOLES: [(u64, u64, u64, u64); 2] = [(33, 64, 1, 64), (129, 256, 1, 160)];
const SLAB_HOLES: [(u64, u64, u64, u64); 3] =
    [(2049, 4096, 1, 4048), (8193, 16384, 1, 12240), (16385, 32768, 2, 40160)];

fn entry(name: &str) -> &'static replay::alloc::StrategyEntry {
    ALL.iter().find(|e| e.name == name).unwrap()
}

/// The metrics pass of `events` through `name`, and its breakdowns.
fn breakdowns(
    name: &str,
    params: &Params,
    events: &[Event],
) -> (replay::metrics::MemoryStats, Breakdowns) {
    let blocks = events.iter().map(|e| e.id + 1).max().unwrap_or(0);
    let source = InMemory { events, blocks };
    let setup = Setup::new(entry(name), params);
    let (stats, _, observed) =
        metrics_pass_of(setup, &source, Pass::default(), &|i| i, &|_| {}).unwrap();
    (stats, observed.at_peak.expect("the metrics pass breaks the heap at the peak down"))
}

fn waste_rows(b: &Breakdowns) -> Vec<WasteRow> {
    let w = b.waste.iter();
    w.map(|c| {
        (c.min_bytes, c.max_bytes, c.blocks, c.requested_bytes, c.consumed_bytes, c.waste_bytes)
    })
    .collect()
}

fn hole_rows(b: &Breakdowns) -> Vec<(u64, u64, u64, u64)> {
    b.holes.classes.iter().map(|c| (c.min_bytes, c.max_bytes, c.holes, c.bytes)).collect()
}

#[test]
fn first_fit_and_slab_break_a_hand_computed_trace_down_as_computed_by_hand() {
    let events = hand_events();
    let (stats, ff) = breakdowns("first-fit", &Params::default(), &events);
    assert_eq!((stats.peak_event, stats.max_live_bytes, stats.footprint_at_peak), (9, 795, 1072));
    assert_eq!(waste_rows(&ff), FIRST_FIT_WASTE);
    assert_eq!(hole_rows(&ff), FIRST_FIT_HOLES);
    assert_eq!((ff.holes.holes, ff.holes.bytes, ff.holes.largest_bytes), (2, 224, 160));
    let (stats, slab) = breakdowns("slab", &Params::default(), &events);
    assert_eq!((stats.peak_event, stats.footprint_at_peak), (9, 57344));
    assert_eq!(waste_rows(&slab), SLAB_WASTE);
    assert_eq!(hole_rows(&slab), SLAB_HOLES);
    assert_eq!((slab.holes.holes, slab.holes.bytes, slab.holes.largest_bytes), (4, 56448, 20320));
}

#[test]
fn the_json_csv_and_report_carry_the_hand_computed_breakdowns() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("hand.csv");
    std::fs::write(&trace, HAND_TRACE).unwrap();
    let (json, csv, report) =
        (dir.path().join("r.json"), dir.path().join("b.csv"), dir.path().join("report"));
    replay()
        .arg(&trace)
        .args(["--alloc", "first-fit,slab", "--runs", "0", "-q", "--json"])
        .arg(&json)
        .arg("--breakdowns-csv")
        .arg(&csv)
        .arg("--report")
        .arg(&report)
        .assert()
        .success();

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for (r, waste, holes, largest) in [
        (&doc["results"][0], &FIRST_FIT_WASTE[..], &FIRST_FIT_HOLES[..], 160),
        (&doc["results"][1], &SLAB_WASTE[..], &SLAB_HOLES[..], 20320),
    ] {
        let w: Vec<WasteRow> = r["waste_by_size_class"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let n = |k: &str| c[k].as_u64().unwrap();
                let (min, max) = (n("min_bytes"), n("max_bytes"));
                (min, max, n("blocks"), n("requested_bytes"), n("consumed_bytes"), n("waste_bytes"))
            })
            .collect();
        assert_eq!(w, waste, "{}", r["allocator"]);
        let h = &r["free_holes_at_peak"];
        let classes: Vec<(u64, u64, u64, u64)> = h["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let n = |k: &str| c[k].as_u64().unwrap();
                (n("min_bytes"), n("max_bytes"), n("holes"), n("bytes"))
            })
            .collect();
        assert_eq!(classes, holes, "{}", r["allocator"]);
        assert_eq!(h["largest_bytes"], largest);
        assert_eq!(h["bytes"], r["at_peak"]["free_bytes"]);
        assert!(r["at_peak"]["largest_satisfiable_bytes"].as_u64() <= h["largest_bytes"].as_u64());
    }

    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        csv,
        "allocator,breakdown,class_min_bytes,class_max_bytes,count,bytes,requested_bytes,waste_bytes
first-fit,waste,0,16,3,48,15,33
first-fit,waste,33,64,1,48,40,8
first-fit,waste,129,256,1,144,140,4
first-fit,waste,513,1024,1,608,600,8
first-fit,holes,33,64,1,64,,
first-fit,holes,129,256,1,160,,
first-fit,largest_hole,,,1,160,,
slab,waste,0,16,3,48,15,33
slab,waste,33,64,1,48,40,8
slab,waste,129,256,1,160,140,20
slab,waste,513,1024,1,640,600,40
slab,holes,2049,4096,1,4048,,
slab,holes,8193,16384,1,12240,,
slab,holes,16385,32768,2,40160,,
slab,largest_hole,,,1,20320,,
"
    );
    assert_eq!(std::fs::read_to_string(report.join("breakdowns.csv")).unwrap(), csv);
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    for id in [
        "id=\"waste\"",
        "id=\"waste-table\"",
        "id=\"holes-table\"",
        "id=\"chart-size-classes\"",
        "id=\"chart-free-holes\"",
    ] {
        assert!(html.contains(id), "index.html has no {id}");
    }
    // The 129-256 B row: 4 B of waste under first-fit, 20 B under slab; the largest holes.
    assert!(
        html.contains("<td>129-256 B</td><td>4 B (1 block)</td><td>20 B (1 block)</td>"),
        "{html}"
    );
    assert!(html.contains("<td>largest hole</td><td>160 B</td><td>19.84 KiB</td>"), "{html}");
    // Each chart's legend names the classes of the table.
    for (svg, class) in [("size-classes.svg", "513-1024 B"), ("free-holes.svg", "16-32 KiB")] {
        let svg = std::fs::read_to_string(report.join(svg)).unwrap();
        assert!(svg.contains(class), "{svg}");
    }
}

#[test]
fn a_markdown_table_shows_where_the_waste_is() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("hand.csv");
    std::fs::write(&trace, HAND_TRACE).unwrap();
    let out = replay()
        .arg(&trace)
        .args(["--alloc", "first-fit,slab", "--runs", "0", "-q", "--markdown", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("### Where the waste is"), "{md}");
    assert!(md.contains("| 513-1024 B | 8 B (1 block) | 40 B (1 block) |"), "{md}");
    assert!(md.contains("| free bytes at the peak | 224 B | 55.1"), "{md}");
}

#[test]
fn breakdowns_csv_refuses_a_file_of_the_report_and_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("hand.csv");
    std::fs::write(&trace, HAND_TRACE).unwrap();
    let report = dir.path().join("report");
    let out = replay()
        .arg(&trace)
        .args(["--alloc", "first-fit", "--runs", "0", "-q", "--report"])
        .arg(&report)
        .arg("--csv")
        .arg(report.join("breakdowns.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("breakdowns.csv"));
    let out = replay()
        .arg(&trace)
        .args(["--alloc", "first-fit", "--runs", "0", "-q", "--breakdowns-csv"])
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_classes_add_up_to_the_at_peak_figures_for_every_strategy() {
    let params = [
        Params::default(),
        Params { coalesce: false, ..Params::default() },
        Params { min_size: 64, ..Params::default() },
    ];
    for seed in 1..=3 {
        let trace = replay::trace::synth::steady_state(300, 1500, seed);
        for p in &params {
            for e in ALL {
                let (m, b) = breakdowns(e.name, p, &trace.events);
                let what = format!("{} seed {seed} {p:?}", e.name);
                let sum = |f: fn(&replay::engine::at_peak::WasteClass) -> u64| {
                    b.waste.iter().map(f).sum::<u64>()
                };
                assert_eq!(sum(|c| c.blocks), m.live_blocks_at_peak, "{what}");
                assert_eq!(sum(|c| c.requested_bytes), m.max_live_bytes, "{what}");
                assert_eq!(sum(|c| c.consumed_bytes), m.live_consumed_at_peak, "{what}");
                assert_eq!(sum(|c| c.waste_bytes), m.live_consumed_at_peak - m.max_live_bytes);
                let holes = &b.holes;
                assert_eq!(holes.bytes, m.free_bytes_at_peak(), "{what}");
                assert_eq!(holes.classes.iter().map(|c| c.bytes).sum::<u64>(), holes.bytes);
                assert_eq!(holes.classes.iter().map(|c| c.holes).sum::<u64>(), holes.holes);
                assert!(m.largest_satisfiable_at_peak <= holes.largest_bytes, "{what}");
                for c in b.waste.iter() {
                    assert!(
                        c.min_bytes <= c.max_bytes
                            && c.waste_bytes == c.consumed_bytes - c.requested_bytes
                    );
                }
                for c in &holes.classes {
                    assert!(c.bytes >= c.holes * c.min_bytes && c.bytes <= c.holes * c.max_bytes);
                }
                // Cut at the peak, the trace's last event is the peak: the metrics pass's own
                // heap is read, not a second replay, and it must be the same heap.
                let cut = &trace.events[..=m.peak_event as usize];
                assert_eq!(breakdowns(e.name, p, cut).1, b, "{what}: the replay to the peak");
            }
        }
    }
}
