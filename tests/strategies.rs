//! The written rules behind `failed_allocations`, `ignored_frees` and `work`, end to end: tiny
//! hand-made traces whose figures are computed by hand in the comments, from the README and the
//! strategies' module docs.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn replay() -> Command {
    Command::cargo_bin("replay").expect("the replay binary is built")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The results of `trace` through `alloc` with `args`, by strategy name.
fn results(trace: &str, alloc: &str, args: &[&str]) -> Vec<(String, Value)> {
    let out = replay()
        .args([trace, "--alloc", alloc, "--runs", "0", "--json", "-"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("--json - prints only JSON");
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["allocator"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

#[test]
fn a_realloc_of_a_block_whose_allocation_failed_is_replayed_as_a_malloc() {
    // Limit 4096. malloc 8192 fails everywhere; the realloc of that block to 128 bytes is
    // malloc(128), which fits everywhere (slab: one 1-page slab of the class 128); its free is a
    // real free. The second block fails, and so does the malloc(5000) its realloc becomes: 3
    // failed allocations, and the last free is ignored.
    let dir = tempfile::tempdir().unwrap();
    let trace = write(
        dir.path(),
        "t.csv",
        "op,ptr,size,old_ptr\n\
         malloc,0x10,8192,\nrealloc,0x20,128,0x10\nfree,0x20,,\n\
         malloc,0x30,8192,\nrealloc,0x40,5000,0x30\nfree,0x40,,\n",
    );
    let all = results(&trace, "simulated", &["--heap-limit", "4096"]);
    assert_eq!(all.len(), replay::alloc::ALL.len());
    for (name, r) in &all {
        assert_eq!(r["failed_allocations"], 3, "{name}");
        assert_eq!(r["ignored_frees"], 1, "{name}");
        assert_eq!(r["max_live_bytes"], 128, "{name}");
        assert_eq!(r["peak_event"], 1, "{name}");
    }
    // The realloc counts as the malloc it is replayed as, and the ignored free counts nothing.
    // bump, 1 per malloc and per free: fail 1, malloc(128) 1, free 1, fail 1, fail 1 = 5.
    // first-fit (one leaf: every search counts 1): a failing malloc is call, choice, highest
    // free block = 3; malloc(128) growing at a bare top 3; the free 3 (call, search, insert):
    // 3 + 3 + 3 + 3 + 3 = 15.
    let work = |name: &str| &all.iter().find(|(n, _)| n == name).unwrap().1["work"];
    assert_eq!(*work("bump"), 5);
    assert_eq!(*work("first-fit"), 15);
}

#[test]
fn a_realloc_that_would_grow_at_top_past_the_limit_is_a_failed_allocation() {
    // Each trace: a block x, a block at the top, free x, realloc the top block to a size x's
    // room holds, then a malloc of that size (it fits in x's room: no growth, no failure).
    // The realloc's rule is to grow at the top (free-list rule 3, boundary-tag rule 3, slab's
    // page allocator for a large realloc), past the limit: 1 failed allocation, the old block
    // kept (max live = x + the top block), and the footprint unchanged by it.
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // first-fit: x [0, 64), a [64, 80); a -> 48 needs top 112 > 96.
        ("first-fit", "96", 64, 16, 48, 80),
        // boundary-tag: x [0, 128), b [128, 176) (tags: 24 bytes); b -> 60 (block 96) needs
        // top 224 > 200.
        ("boundary-tag", "200", 100, 20, 60, 176),
        // slab: x 3 pages [0, 12288), l 1 page [12288, 16384); l -> 5000 (2 pages) needs top
        // 20480 > 16384.
        ("slab", "16384", 9000, 3000, 5000, 16384),
    ];
    for (name, limit, x, top_block, grown, footprint) in cases {
        let trace = write(
            dir.path(),
            &format!("{name}.csv"),
            &format!(
                "op,ptr,size,old_ptr\nmalloc,0x10,{x},\nmalloc,0x20,{top_block},\nfree,0x10,,\n\
                 realloc,0x30,{grown},0x20\nmalloc,0x40,{grown},\n"
            ),
        );
        let all = results(&trace, name, &["--heap-limit", limit]);
        let r = &all[0].1;
        assert_eq!(r["failed_allocations"], 1, "{name}");
        assert_eq!(r["ignored_frees"], 0, "{name}");
        assert_eq!(r["max_live_bytes"], x + top_block, "{name}");
        assert_eq!(r["peak_footprint_bytes"], footprint, "{name}");
    }
}
