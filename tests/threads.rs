//! Real allocators on the trace's threads (`real::threads`): one OS thread per recorded thread,
//! every block's events in file order, no deadlock with hundreds of threads, and `--serial`.
//! Nothing here depends on timing: whatever order the threads run in, the checks hold.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const TCMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";

/// Every built-in real allocator and a preloaded one.
fn allocators() -> String {
    format!("glibc,mimalloc,jemalloc,preload:{TCMALLOC}")
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let text = format!("op,ptr,size,old_ptr,align,thread,time_ns\n{}\n", lines.join("\n"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `replay TRACE --alloc first-fit,ALLOCATORS --runs 0 --json -` (and `extra`): its results.
fn results(trace: &Path, allocators: &str, extra: &[&str]) -> Vec<Value> {
    let out = Command::new(assert_cmd::cargo::cargo_bin("replay"))
        .arg(trace)
        .args(["--alloc", &format!("first-fit,{allocators}"), "--runs", "0", "-q", "--json", "-"])
        .args(extra)
        .output()
        .expect("replay runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    json["results"].as_array().unwrap().clone()
}

/// Every real result has the simulation's exact figures, no failure, no ignored free, nothing
/// out of order, and replayed on `threads` OS threads.
fn check(results: &[Value], threads: u64, cross: u64) {
    let simulated = &results[0];
    assert_eq!(simulated["allocator"], "first-fit");
    for real in &results[1..] {
        let name = real["allocator"].as_str().unwrap();
        assert_eq!(real["error"], Value::Null, "{name}");
        for key in ["events", "max_live_bytes", "peak_event", "failed_allocations", "ignored_frees"]
        {
            assert_eq!(real[key], simulated[key], "{name}: {key}");
        }
        let t = &real["threads"];
        assert_eq!(t["os_threads"], threads, "{name}: {t}");
        assert_eq!(t["cross_thread_orders"], cross, "{name}: {t}");
        assert_eq!(t["out_of_order"], serde_json::json!([0]), "{name}: {t}");
    }
}

/// Thread 1 allocates `a`; thread 2 starts (allocating `b`) and then reallocs and frees `x`,
/// which thread 1 allocates only after 40,000 events of its own: a replay that let thread 2
/// run ahead in its own order would realloc `x` before it exists. Then thread 1 frees `b` and
/// thread 2 frees `a`.
fn wrong_order_trace(dir: &Path) -> PathBuf {
    let mut lines = vec!["malloc,0x10,100,,,1,".to_string(), "malloc,0x20,200,,,2,".to_string()];
    for i in 0..20_000u64 {
        let p = 0x10_0000 + i * 16;
        lines.push(format!("malloc,{p:#x},64,,,1,"));
        lines.push(format!("free,{p:#x},,,,1,"));
    }
    lines.extend(
        [
            "malloc,0x30,300,,,1,",
            "realloc,0x40,5000,0x30,,2,",
            "free,0x20,,,,1,",
            "free,0x40,,,,2,",
            "free,0x10,,,,2,",
        ]
        .map(String::from),
    );
    write(dir, "order.csv", &lines)
}

#[test]
fn a_trace_whose_wrong_order_would_free_a_block_before_it_exists_replays_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let trace = wrong_order_trace(dir.path());
    let results = results(&trace, &allocators(), &[]);
    assert_eq!(results.len(), 5);
    // x: malloc (1) -> realloc (2) -> free (2); b: malloc (2) -> free (1); a: malloc (1) ->
    // free (2): three orders cross threads.
    check(&results, 2, 3);
    assert_eq!(results[0]["max_live_bytes"], 5300);
}

#[test]
fn three_hundred_and_twenty_threads_replay_without_deadlock() {
    // Thread t allocates a block and frees the one thread t - 1 allocated just before, five
    // rounds over all 320 threads: every free crosses threads, and all 320 are alive at once.
    let threads = 320u64;
    let mut lines = Vec::new();
    let mut block = 0u64;
    for _round in 0..5 {
        for t in 0..threads {
            block += 1;
            lines.push(format!("malloc,{:#x},{},,,{},", block * 64, 32 + t, 1000 + t));
            if block > 1 {
                lines.push(format!("free,{:#x},,,,{},", (block - 1) * 64, 1000 + t));
            }
        }
    }
    lines.push(format!("free,{:#x},,,,1000,", block * 64));
    let dir = tempfile::tempdir().unwrap();
    let trace = write(dir.path(), "many.csv", &lines);
    let results = results(&trace, &allocators(), &[]);
    check(&results, threads, block);
}

#[test]
fn serial_replays_a_trace_with_threads_on_one_thread_with_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let trace = wrong_order_trace(dir.path());
    let results = results(&trace, "glibc,jemalloc", &["--serial"]);
    check(&results, 1, 0);
}

#[test]
fn a_trace_without_threads_replays_on_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("plain.csv");
    std::fs::write(&trace, "op,ptr,size\nmalloc,0x10,8\nmalloc,0x20,8\nfree,0x10,\nfree,0x20,\n")
        .unwrap();
    check(&results(&trace, "glibc", &[]), 1, 0);
    // A thread column naming one thread is the same.
    let one =
        write(dir.path(), "one.csv", &["malloc,0x10,8,,,9,".into(), "free,0x10,,,,9,".into()]);
    check(&results(&one, "glibc", &[]), 1, 0);
}
