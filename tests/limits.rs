//! Figures at the limits, end to end: requests past the simulated address space, sums past
//! 2^64, ids too large for their made-up pointers, and counts that must not depend on the
//! format a trace is stored in.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::Path;

fn replay() -> Command {
    Command::cargo_bin("replay").expect("the replay binary is built")
}

fn json_of(args: &[&str]) -> Value {
    let out = replay().args(args).args(["--json", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json - prints only JSON")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_malloc_of_two_to_the_sixty_four_minus_one_fails_for_every_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write(dir.path(), "huge.csv", "op,ptr,size\nmalloc,0x10,18446744073709551615\n");
    let doc = json_of(&[&trace, "--alloc", "simulated", "--runs", "0"]);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), replay::alloc::ALL.len());
    for r in results {
        let name = &r["allocator"];
        assert_eq!(r["failed_allocations"], 1, "{name}");
        assert_eq!(r["max_live_bytes"], 0, "{name}");
        assert_eq!(r["peak_footprint_bytes"], 0, "{name}");
        assert_eq!(r["internal_fragmentation"].as_f64(), Some(0.0), "{name}");
    }
}

#[test]
fn a_realloc_past_the_address_space_fails_and_keeps_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write(
        dir.path(),
        "grow.csv",
        "op,ptr,size,old_ptr\nmalloc,0x10,100,\nrealloc,0x20,140737488355329,0x10\nfree,0x20,,\n",
    );
    let doc = json_of(&[&trace, "--alloc", "simulated", "--runs", "0"]);
    for r in doc["results"].as_array().unwrap() {
        let name = &r["allocator"];
        assert_eq!(r["failed_allocations"], 1, "{name}");
        assert_eq!(r["max_live_bytes"], 100, "{name}");
        let internal = r["internal_fragmentation"].as_f64().unwrap();
        assert!((0.0..0.5).contains(&internal), "{name}: internal {internal}");
    }
}

#[test]
fn stats_counts_the_same_blocks_for_csv_and_rtrace() {
    // Blocks freed and allocated again: the .rtrace recycles their ids, the CSV does not.
    let mut csv = String::from("op,ptr,size\n");
    for i in 0..50u64 {
        if i % 3 == 2 {
            csv.push_str(&format!("malloc,{:#x},{}\n", 0x10_0000 + 16 * i, 8 + i));
        } else {
            csv.push_str(&format!("malloc,0x1000,{}\nfree,0x1000,\n", 8 + i));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = write(dir.path(), "t.csv", &csv);
    let rtrace = dir.path().join("t.rtrace").display().to_string();
    replay().args(["convert", &trace, "-o", &rtrace]).assert().success();
    let stats = |path: &str| {
        let out = replay().args(["stats", path, "--json", "-"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc.as_object_mut().unwrap().remove("path");
        doc.as_object_mut().unwrap().remove("threads");
        doc
    };
    let (from_csv, from_rtrace) = (stats(&trace), stats(&rtrace));
    assert_eq!(from_csv["blocks"], 50);
    assert_eq!(from_csv["never_freed"], 16);
    assert_eq!(from_csv, from_rtrace);
}

#[test]
fn stats_add_live_bytes_past_two_to_the_sixty_four_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let max = u64::MAX;
    let trace = write(
        dir.path(),
        "two.csv",
        &format!("op,ptr,size\nmalloc,0x10,{max}\nmalloc,0x20,{max}\nfree,0x10,\n"),
    );
    let out = replay().args(["stats", &trace, "--json", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let twice = 2 * u128::from(max);
    assert!(text.contains(&format!("\"max_live_bytes\": {twice},")), "{text}");
    assert!(text.contains(&format!("\"total_bytes_allocated\": {twice},")), "{text}");
    assert!(text.contains(&format!("\"live_bytes_at_end\": {max},")), "{text}");
}

#[test]
fn a_rep_id_too_large_for_its_pointer_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace =
        write(dir.path(), "t.rep", "1 18446744073709551615 2 1\na 0 8\na 1152921504606846976 8\n");
    replay()
        .args([&trace, "--format", "rep", "--runs", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("t.rep:3: id 1152921504606846976 is too large"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn a_minimum_size_past_the_address_space_is_refused_and_one_below_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write(dir.path(), "one.csv", "op,ptr,size\nmalloc,0x10,1\nfree,0x10,\n");
    // 2^48: no block that large could ever be placed; refused, not cut down to a smaller one.
    let out =
        replay().args([&trace, "--runs", "0", "--min-size", "281474976710656"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--min-size"));
    // 2 TiB is a block of exactly 2 TiB in bump.
    let doc = json_of(&[&trace, "--alloc", "bump", "--runs", "0", "--min-size", "2199023255552"]);
    assert_eq!(doc["settings"]["min_size"], 2199023255552u64);
    assert_eq!(doc["results"][0]["peak_footprint_bytes"], 2199023255552u64);
}
