//! The trace parsers through the library API: what each format means, every kind of bad input
//! (each message checked with its line), `--lenient`, `.gz`, and the traces shipped in `traces/`.

use proptest::prelude::*;
use replay::trace::{self, csv, mtrace, Event, Format, Op, ParseOptions, SkipKind, Trace};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

const STRICT: ParseOptions = ParseOptions { lenient: false, one_thread: false };
const LENIENT: ParseOptions = ParseOptions { lenient: true, one_thread: false };

fn parse(text: &str) -> Trace {
    match csv::parse(text.as_bytes(), Path::new("trace.csv"), STRICT) {
        Ok(trace) => trace,
        Err(error) => panic!("{error}"),
    }
}

fn lenient(text: &str) -> Trace {
    match csv::parse(text.as_bytes(), Path::new("trace.csv"), LENIENT) {
        Ok(trace) => trace,
        Err(error) => panic!("{error}"),
    }
}

/// The message strict parsing fails with.
fn error(text: &str) -> String {
    match csv::parse(text.as_bytes(), Path::new("trace.csv"), STRICT) {
        Ok(trace) => panic!("parsed, to {:?}", trace.events),
        Err(error) => error.to_string(),
    }
}

fn mtrace_error(text: &str) -> String {
    match mtrace::parse(text.as_bytes(), Path::new("prog.mtrace"), STRICT) {
        Ok(trace) => panic!("parsed, to {:?}", trace.events),
        Err(error) => error.to_string(),
    }
}

fn lines(trace: &Trace) -> Vec<u64> {
    (0..trace.events.len() as u64).map(|i| trace.line_of(i)).collect()
}

fn skipped(trace: &Trace, kind: SkipKind) -> u64 {
    trace.skipped.get(&kind).copied().unwrap_or(0)
}

/// Panics unless every free and realloc names a live block and every allocation a new id below
/// `trace.blocks`: the promise a parsed trace makes to the replay.
fn assert_consistent(trace: &Trace) {
    let mut live = HashSet::new();
    let mut seen = HashSet::new();
    for (i, event) in trace.events.iter().enumerate() {
        assert!(event.id < trace.blocks, "event {i}: id {} >= blocks", event.id);
        match event.op {
            Op::Free => assert!(live.remove(&event.id), "event {i}: free of dead {}", event.id),
            Op::Realloc => assert!(live.contains(&event.id), "event {i}: dead realloc"),
            Op::Write => assert!(
                live.contains(&event.id) != event.is_stale_write(),
                "event {i}: a write is stale exactly when its block is dead"
            ),
            _ => {
                assert!(seen.insert(event.id), "event {i}: id {} reused", event.id);
                assert!(live.insert(event.id));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the native format means

#[test]
fn the_example_from_the_docs_parses_to_three_events_of_one_block() {
    let trace = parse(
        "op,ptr,size,old_ptr\n\
         malloc,0x55d0c0a2b2a0,24,\n\
         realloc,0x55d0c0a2b300,100,0x55d0c0a2b2a0\n\
         free,0x55d0c0a2b300,,\n",
    );
    assert_eq!(trace.events, [Event::malloc(0, 24), Event::realloc(0, 100), Event::free(0)]);
    assert_eq!(trace.blocks, 1);
    assert_eq!(trace.first_line, 2);
    assert_eq!(lines(&trace), [2, 3, 4]);
    assert!(trace.gaps.is_empty());
    assert!(trace.skipped.is_empty());
}

#[test]
fn columns_are_found_by_name_in_any_order_and_unknown_ones_are_ignored() {
    let trace = parse(
        "size,comment,ptr,op,time_ns,thread\n\
         24,hello,0x10,malloc,1000,1\n\
         ,bye,16,free,,\n",
    );
    assert_eq!(trace.events, [Event::malloc(0, 24), Event::free(0)]);
}

#[test]
fn pointers_and_sizes_may_be_hex_or_decimal_and_fields_may_be_quoted() {
    let trace = parse("op,ptr,size\nmalloc,255,0x20\nfree,\"0xff\",7\n");
    assert_eq!(trace.events, [Event::malloc(0, 32), Event::free(0)]);
}

#[test]
fn every_op_name_is_understood() {
    let trace = parse(
        "op,ptr,size,align\n\
         malloc,0x10,1,\n\
         calloc,0x20,2,\n\
         memalign,0x30,3,64\n\
         aligned_alloc,0x40,4,8\n\
         posix_memalign,0x50,5,4096\n",
    );
    assert_eq!(
        trace.events,
        [
            Event::malloc(0, 1),
            Event::calloc(1, 2),
            Event::memalign(2, 3, 64),
            Event::memalign(3, 4, 16),
            Event::memalign(4, 5, 4096),
        ]
    );
    assert_eq!(trace.events[2].align(), 64);
    assert_eq!(trace.events[3].align(), 16, "alignments below 16 are rounded up");
    assert_eq!(trace.events[2].op, Op::Memalign);
}

#[test]
fn a_reused_address_is_a_new_block_and_a_realloc_keeps_its_id() {
    let trace = parse(
        "op,ptr,size,old_ptr\n\
         malloc,0x10,8,\n\
         malloc,0x20,8,\n\
         free,0x10,,\n\
         malloc,0x10,8,\n\
         realloc,0x30,64,0x20\n\
         realloc,0x30,128,0x30\n\
         realloc,0x20,16,0x30\n\
         free,0x20,,\n\
         free,0x10,,\n",
    );
    assert_eq!(
        trace.events,
        [
            Event::malloc(0, 8),
            Event::malloc(1, 8),
            Event::free(0),
            Event::malloc(2, 8),
            Event::realloc(1, 64),
            Event::realloc(1, 128),
            Event::realloc(1, 16),
            Event::free(1),
            Event::free(2),
        ]
    );
    assert_eq!(trace.blocks, 3);
}

#[test]
fn the_c_edge_cases_are_replayed_as_documented() {
    let trace = parse(
        "op,ptr,size,old_ptr\n\
         free,0,,\n\
         malloc,0,1000000,\n\
         realloc,0x10,8,\n\
         realloc,0x20,8,0\n\
         realloc,0,16,0x10\n\
         realloc,0,0,0x10\n\
         free,0x20,,\n",
    );
    assert_eq!(
        trace.events,
        [
            Event::malloc(0, 8), // realloc(NULL, 8) on line 4
            Event::malloc(1, 8), // realloc(0, 8) on line 5
            Event::free(0),      // realloc(0x10, 0) returning NULL on line 7
            Event::free(1),
        ]
    );
    // free(NULL) and the failed malloc and realloc produce no events, but keep their lines.
    assert_eq!(lines(&trace), [4, 5, 7, 8]);
}

#[test]
fn a_failed_realloc_leaves_its_block_live() {
    let trace = parse("op,ptr,size,old_ptr\nmalloc,0x10,8,\nrealloc,0,64,0x10\nfree,0x10,,\n");
    assert_eq!(trace.events, [Event::malloc(0, 8), Event::free(0)]);
}

#[test]
fn blank_lines_comments_and_crlf_keep_line_numbers_right() {
    let trace = parse(
        "# recorded by hand\r\n\
         op,ptr,size\r\n\
         malloc,0x10,8\r\n\
         \r\n\
         \r\n\
         # a comment\r\n\
         malloc,0x20,8\r\n\
         free,0,\r\n\
         free,0x10,\r\n\
         \x20  \r\n\
         free,0x20,",
    );
    assert_eq!(trace.first_line, 3);
    assert_eq!(lines(&trace), [3, 7, 9, 11]);
    assert_eq!(trace.gaps, [(1, 3), (2, 1), (3, 1)]);
}

// ---------------------------------------------------------------------------------------------
// Every kind of bad input, with its line

#[test]
fn a_comment_line_is_skipped_even_when_the_first_column_is_one_replay_ignores() {
    // The fast path read this as a malloc when the first column was an ignored one.
    let t = parse("note,op,ptr,size\n#,malloc,0x10,16\nx,malloc,0x20,32\n");
    assert_eq!(t.events, vec![Event::malloc(0, 32)]);
    assert_eq!(lines(&t), vec![3]);
}

#[test]
fn a_free_of_a_dead_pointer_is_an_error_on_its_line() {
    let mut text = String::from("op,ptr,size\n");
    for i in 0..1039 {
        text += &format!("malloc,{},8\n", 0x1000 + 16 * i);
    }
    text += "malloc,0x55d0c0a2b2a0,24\nfree,0x55d0c0a2b2a0,\nfree,0x55d0c0a2b2a0,\n";
    assert_eq!(
        error(&text),
        "trace.csv:1043: free of 0x55d0c0a2b2a0, which is not live \
         (freed twice, or allocated before recording started?)"
    );
}

#[test]
fn a_realloc_of_a_dead_pointer_is_an_error() {
    assert_eq!(
        error("op,ptr,size,old_ptr\nmalloc,0x10,8,\nrealloc,0x30,8,0x20\n"),
        "trace.csv:3: realloc of 0x20, which is not live \
         (freed already, or allocated before recording started?)"
    );
}

#[test]
fn an_allocation_of_a_live_pointer_is_an_error() {
    assert_eq!(
        error("op,ptr,size\nmalloc,0x10,8\ncalloc,0x10,8\n"),
        "trace.csv:3: calloc returned 0x10, which is still live \
         (a free of it is missing from the trace?)"
    );
    assert_eq!(
        error("op,ptr,size,old_ptr\nmalloc,0x10,8,\nmalloc,0x20,8,\nrealloc,0x20,9,0x10\n"),
        "trace.csv:4: realloc returned 0x20, which is still live \
         (a free of it is missing from the trace?)"
    );
}

#[test]
fn an_unknown_op_is_an_error() {
    assert_eq!(
        error("op,ptr,size\nmalloc,0x10,8\n\n\n\nfree,0x10,\nmallok,0x10,8\n"),
        "trace.csv:7: unknown op \"mallok\" (expected one of malloc, calloc, realloc, free, memalign, write)"
    );
}

#[test]
fn a_field_that_is_not_a_number_is_an_error() {
    assert_eq!(
        error("op,ptr,size\nmalloc,0x10,8\nmalloc,0x20,abc\n"),
        "trace.csv:3: size \"abc\" is not a number"
    );
    assert_eq!(
        error("op,ptr,size\nmalloc,0xzz,8\n"),
        "trace.csv:2: ptr \"0xzz\" is not a number (expected hex such as 0x55d0c0a2b2a0, or decimal)"
    );
    assert_eq!(error("op,ptr,size\nmalloc,0x10,-1\n"), "trace.csv:2: size \"-1\" is not a number");
    assert_eq!(error("op,ptr,size\nfree,0x10,x\n"), "trace.csv:2: size \"x\" is not a number");
    assert_eq!(
        error("op,ptr,size,old_ptr\nrealloc,0x10,8,q\n"),
        "trace.csv:2: old_ptr \"q\" is not a number (expected hex such as 0x55d0c0a2b2a0, or decimal)"
    );
    assert_eq!(
        error("op,ptr,size,thread\nmalloc,0x10,8,main\n"),
        "trace.csv:2: thread \"main\" is not a number"
    );
    assert_eq!(
        error("op,ptr,size,time_ns\nmalloc,0x10,8,1.5\n"),
        "trace.csv:2: time_ns \"1.5\" is not a number"
    );
}

#[test]
fn a_number_too_big_for_64_bits_is_an_error() {
    let mut text = String::from("op,ptr,size\n");
    for i in 0..7 {
        text += &format!("malloc,{},8\n", 0x1000 + 16 * i);
    }
    text += "malloc,0x20,99999999999999999999999\n";
    assert_eq!(error(&text), "trace.csv:9: size 99999999999999999999999 does not fit in 64 bits");
    assert_eq!(
        error("op,ptr,size\nmalloc,0x10000000000000000,8\n"),
        "trace.csv:2: ptr 0x10000000000000000 does not fit in 64 bits"
    );
}

#[test]
fn a_missing_field_is_an_error() {
    assert_eq!(error("op,ptr,size\nmalloc,0x10,\n"), "trace.csv:2: size is missing");
    assert_eq!(error("op,ptr,size\nmalloc,,8\n"), "trace.csv:2: ptr is missing");
    assert_eq!(error("op,ptr,size\nfree,,\n"), "trace.csv:2: ptr is missing");
}

#[test]
fn a_line_with_the_wrong_number_of_fields_is_an_error() {
    assert_eq!(
        error("op,ptr,size\nmalloc,0x10,8\nmalloc,0x20\n"),
        "trace.csv:3: found 2 fields, but the header names 3"
    );
    assert_eq!(
        error("op,ptr,size\nmalloc,0x10,8,\n"),
        "trace.csv:2: found 4 fields, but the header names 3"
    );
}

#[test]
fn a_missing_header_or_column_is_an_error_even_when_lenient() {
    for options in [STRICT, LENIENT] {
        let parse = |text: &str| match csv::parse(text.as_bytes(), Path::new("trace.csv"), options)
        {
            Ok(_) => panic!("parsed"),
            Err(error) => error.to_string(),
        };
        assert_eq!(
            parse(""),
            "trace.csv: the file is empty (expected a header row such as \"op,ptr,size,old_ptr\")"
        );
        assert_eq!(
            parse("malloc,0x10,8\nfree,0x10,\n"),
            "trace.csv:1: the header has no \"op\" column \
             (required: op, ptr, size; optional: old_ptr, align, offset, thread, time_ns)"
        );
        assert_eq!(
            parse("op,size,old_ptr\nmalloc,8,\n"),
            "trace.csv:1: the header has no \"ptr\" column \
             (required: op, ptr, size; optional: old_ptr, align, offset, thread, time_ns)"
        );
        assert_eq!(
            parse("# comment\nop,ptr,size,size\n"),
            "trace.csv:2: the header names column \"size\" twice"
        );
    }
}

#[test]
fn realloc_and_memalign_need_their_columns() {
    assert_eq!(
        error("op,ptr,size\nmalloc,0x10,8\nrealloc,0x10,16\n"),
        "trace.csv:3: realloc needs an old_ptr column in the header"
    );
    assert_eq!(
        error("op,ptr,size\nmemalign,0x10,8\n"),
        "trace.csv:2: memalign needs an align column in the header"
    );
    assert_eq!(error("op,ptr,size,align\nmemalign,0x10,8,\n"), "trace.csv:2: align is missing");
    assert_eq!(
        error("op,ptr,size,align\nmalloc,0x10,8,\nmemalign,0x20,8,24\n"),
        "trace.csv:3: align 24 is not a power of two"
    );
    assert_eq!(
        error("op,ptr,size,align\nmemalign,0x20,8,0\n"),
        "trace.csv:2: align 0 is not a power of two"
    );
}

#[test]
fn a_trace_without_events_cannot_be_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.csv");
    std::fs::write(&path, "op,ptr,size\nfree,0,\n").unwrap();
    let message = trace::load(&path, Format::Csv, STRICT).unwrap_err().to_string();
    assert!(
        message.ends_with("empty.csv: the trace has no events (an empty trace cannot be replayed)"),
        "{message}"
    );
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let message =
        trace::load(Path::new("no/such/trace.csv"), Format::Csv, STRICT).unwrap_err().to_string();
    assert!(message.starts_with("no/such/trace.csv: "), "{message}");
}

// ---------------------------------------------------------------------------------------------
// --lenient

#[test]
fn lenient_parsing_drops_bad_lines_and_counts_each_kind() {
    let trace = lenient(
        "op,ptr,size,old_ptr\n\
         malloc,0x10,8,\n\
         mallok,0x20,8,\n\
         malloc,0x20,abc,\n\
         malloc,0x20\n\
         free,0x99,,\n\
         free,0x10,,\n\
         free,0x10,,\n\
         malloc,0x30,8,\n",
    );
    assert_eq!(trace.events, [Event::malloc(0, 8), Event::free(0), Event::malloc(1, 8)]);
    assert_eq!(lines(&trace), [2, 7, 9]);
    assert_eq!(skipped(&trace, SkipKind::Malformed), 3);
    assert_eq!(skipped(&trace, SkipKind::NotLive), 2);
    assert_eq!(skipped(&trace, SkipKind::StillLive), 0);
    assert_eq!(trace.skipped.values().sum::<u64>(), 5);
}

#[test]
fn lenient_parsing_frees_a_block_whose_address_is_handed_out_again() {
    let trace = lenient("op,ptr,size\nmalloc,0x10,8\nmalloc,0x10,24\nfree,0x10,\n");
    assert_eq!(
        trace.events,
        [Event::malloc(0, 8), Event::free(0), Event::malloc(1, 24), Event::free(1)]
    );
    assert_eq!(lines(&trace), [2, 3, 3, 4], "the repair shares the allocation's line");
    assert_eq!(skipped(&trace, SkipKind::StillLive), 1);
    assert_consistent(&trace);
}

#[test]
fn lenient_parsing_repairs_a_realloc_onto_a_live_address() {
    let trace = lenient(
        "op,ptr,size,old_ptr\nmalloc,0x10,8,\nmalloc,0x20,8,\nrealloc,0x20,64,0x10\nfree,0x20,,\n",
    );
    assert_eq!(
        trace.events,
        [
            Event::malloc(0, 8),
            Event::malloc(1, 8),
            Event::free(1),
            Event::realloc(0, 64),
            Event::free(0),
        ]
    );
    assert_eq!(lines(&trace), [2, 3, 4, 4, 5]);
    assert_eq!(skipped(&trace, SkipKind::StillLive), 1);
}

#[test]
fn lenient_parsing_turns_a_realloc_of_a_dead_pointer_into_a_malloc() {
    let trace =
        lenient("op,ptr,size,old_ptr\nrealloc,0x20,64,0x10\nrealloc,0,0,0x99\nfree,0x20,,\n");
    assert_eq!(trace.events, [Event::malloc(0, 64), Event::free(0)]);
    assert_eq!(lines(&trace), [2, 4]);
    assert_eq!(skipped(&trace, SkipKind::NotLive), 2);
}

// ---------------------------------------------------------------------------------------------
// Files: .gz, mtrace, shipped traces

#[test]
fn a_gzipped_trace_reads_like_the_plain_one() {
    let text = "op,ptr,size,old_ptr\nmalloc,0x10,8,\n\nrealloc,0x20,9,0x10\nfree,0x20,,\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();

    let trace = trace::load(&path, Format::Csv, STRICT).unwrap();
    assert_eq!(trace.events, parse(text).events);
    assert_eq!(lines(&trace), [2, 4, 5]);
    assert_eq!(trace.path, path);
}

/// What glibc 2.36 wrote for a test program (callers shortened): malloc(0), calloc,
/// realloc(NULL, 40), realloc(p, 0), a failed malloc, memalign, a failed realloc, a realloc.
const REAL_MTRACE: &str = "= Start
@ ./edge:[0x11db] + 0x563b395502a0 0
@ ./edge:[0x11ee] + 0x563b395504a0 0x18
@ ./edge:[0x11fc] + 0x563b395504c0 0x28
@ ./edge:[0x1211] - 0x563b395504c0
@ ./edge:[0x1227] + (nil) 0x4000000000000000
@ ./edge:[0x123a] + 0x563b39550540 0x64
@ ./edge:[0x1280] ! 0x563b395504a0 0x4000000000000000
@ ./edge:[0x1295] < 0x563b395504a0
@ ./edge:[0x1295] > 0x563b39550740 0xfa0
@ /lib/x86_64-linux-gnu/libc.so.6:(_IO_file_doallocate+8c)[0x758cc] + 0x563b39552020 0x1000
@ ./edge:[0x131d] - 0x563b395502a0
@ ./edge:[0x1329] - 0x563b39550540
@ ./edge:[0x134d] - 0x563b39550740
= End
";

#[test]
fn a_real_mtrace_file_parses_with_its_line_numbers() {
    let trace = mtrace::parse(REAL_MTRACE.as_bytes(), Path::new("prog.mtrace"), STRICT).unwrap();
    assert_eq!(
        trace.events,
        [
            Event::malloc(0, 0),
            Event::malloc(1, 0x18),
            Event::malloc(2, 0x28),
            Event::free(2),
            Event::malloc(3, 0x64),
            Event::realloc(1, 0xfa0),
            Event::malloc(4, 0x1000),
            Event::free(0),
            Event::free(3),
            Event::free(1),
        ]
    );
    assert_eq!(lines(&trace), [2, 3, 4, 5, 7, 10, 11, 12, 13, 14]);
}

#[test]
fn mtrace_errors_name_their_line() {
    assert_eq!(
        mtrace_error("= Start\n@ ./p:[0x1] - 0x55d0c0a2b2a0\n"),
        "prog.mtrace:2: free of 0x55d0c0a2b2a0, which is not live \
         (allocated before mtrace() started, or freed twice? --lenient skips such events)"
    );
    assert_eq!(
        mtrace_error("= Start\n@ ./p:[0x1] < 0x10\n@ ./p:[0x1] > 0x20 0x8\n"),
        "prog.mtrace:2: realloc of 0x10, which is not live \
         (allocated before mtrace() started, or freed already? --lenient repairs such events)"
    );
    assert_eq!(
        mtrace_error("+ 0x10 0x8\nhello world\n"),
        "prog.mtrace:2: unrecognised line \"hello world\" (expected \"+ PTR SIZE\", \"- PTR\", \
         \"< PTR\", \"> PTR SIZE\" or \"! PTR SIZE\", after an optional \"@ caller\")"
    );
    assert_eq!(
        mtrace_error("+ 0x10 0x8\n+ 0x10 0x8\n"),
        "prog.mtrace:2: malloc returned 0x10, which is still live \
         (a free of it is missing from the trace?)"
    );
    assert_eq!(
        mtrace_error("+ 0x10 0x8\n> 0x20 0x8\n"),
        "prog.mtrace:2: \"> PTR SIZE\" without the \"< PTR\" line of its realloc before it"
    );
    assert_eq!(
        mtrace_error("+ 0x10 0x8\n< 0x10\n- 0x10\n"),
        "prog.mtrace:2: \"< PTR\" whose \"> PTR SIZE\" line never comes"
    );
    assert_eq!(mtrace_error("+ 0x10 zz\n"), "prog.mtrace:1: size \"zz\" is not hex");
    assert_eq!(
        mtrace_error("+ 16 0x8\n"),
        "prog.mtrace:1: pointer \"16\" is not hex (expected 0x... or (nil))"
    );
    assert_eq!(
        mtrace_error("+ 0x10 0x1ffffffffffffffff\n"),
        "prog.mtrace:1: size 0x1ffffffffffffffff does not fit in 64 bits"
    );
}

#[test]
fn lenient_mtrace_parsing_drops_frees_of_blocks_from_before_the_recording() {
    let text = "= Start\n- 0x99\n+ 0x10 0x8\n< 0x98\n> 0x20 0x10\nnonsense\n- 0x10\n- 0x20\n";
    let trace = mtrace::parse(text.as_bytes(), Path::new("p.mtrace"), LENIENT).unwrap();
    assert_eq!(
        trace.events,
        [Event::malloc(0, 8), Event::malloc(1, 16), Event::free(0), Event::free(1)]
    );
    assert_eq!(lines(&trace), [3, 5, 7, 8]);
    assert_eq!(skipped(&trace, SkipKind::NotLive), 2);
    assert_eq!(skipped(&trace, SkipKind::Malformed), 1);
}

/// `to_csv` of `text`, then the CSV parsed strictly: the same events as `mtrace::parse`.
fn assert_converts_faithfully(text: &[u8], options: ParseOptions) -> replay::trace::ImportSummary {
    let path = Path::new("in.mtrace");
    let mut out = Vec::new();
    let summary = mtrace::to_csv(text, path, &mut out, options).unwrap();
    let from_mtrace = mtrace::parse(text, path, options).unwrap();
    let from_csv = csv::parse(out.as_slice(), Path::new("out.csv"), STRICT).unwrap();
    assert_eq!(from_csv.events, from_mtrace.events);
    assert_eq!(summary.events, from_csv.events.len() as u64);
    assert_eq!(summary.blocks, from_csv.blocks);
    assert_eq!(summary.skipped, from_mtrace.skipped);
    summary
}

#[test]
fn mtrace_converts_to_csv_with_the_recorded_pointers() {
    let mut out = Vec::new();
    let summary = mtrace::to_csv(REAL_MTRACE.as_bytes(), Path::new("p"), &mut out, STRICT).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let head: Vec<&str> = csv.lines().take(7).collect();
    assert_eq!(
        head,
        [
            "op,ptr,size,old_ptr,align,thread,time_ns",
            "malloc,0x563b395502a0,0,,,,",
            "malloc,0x563b395504a0,24,,,,",
            "malloc,0x563b395504c0,40,,,,",
            "free,0x563b395504c0,,,,,",
            "malloc,0x563b39550540,100,,,,",
            "realloc,0x563b39550740,4000,0x563b395504a0,,,",
        ]
    );
    assert_eq!(summary.failed, 2, "the failed malloc and the failed realloc");
    assert_converts_faithfully(REAL_MTRACE.as_bytes(), STRICT);
}

#[test]
fn lenient_conversion_writes_its_repairs_so_the_csv_parses_strictly() {
    let text = b"- 0x99\n+ 0x10 0x8\n+ 0x10 0x20\n< 0x98\n> 0x30 0x10\n- 0x10\n- 0x30\n";
    let summary = assert_converts_faithfully(text, LENIENT);
    assert_eq!(summary.skipped.get(&SkipKind::NotLive), Some(&2));
    assert_eq!(summary.skipped.get(&SkipKind::StillLive), Some(&1));
}

#[test]
fn converting_an_mtrace_without_events_is_an_error() {
    let message =
        mtrace::to_csv(&b"= Start\n= End\n"[..], Path::new("p.mtrace"), Vec::new(), STRICT)
            .unwrap_err()
            .to_string();
    assert_eq!(message, "p.mtrace: the trace has no events (an empty trace cannot be replayed)");
}

fn shipped_traces() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e != "md"))
        .collect();
    paths.sort();
    paths
}

fn format_of(path: &Path) -> Format {
    if path.extension().is_some_and(|e| e == "mtrace") {
        Format::Mtrace
    } else {
        Format::Csv
    }
}

#[test]
fn every_shipped_trace_parses_strictly() {
    let paths = shipped_traces();
    assert!(paths.len() >= 7, "{paths:?}");
    for path in paths {
        let trace =
            trace::load(&path, format_of(&path), STRICT).unwrap_or_else(|error| panic!("{error}"));
        assert_consistent(&trace);
    }
}

#[test]
fn the_shipped_traces_have_the_event_counts_in_their_readme() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces");
    for (name, events, blocks) in [
        ("coalescing.csv", 10, 5),
        ("min-size.csv", 24, 12),
        ("bump-never-reuses.csv", 20, 10),
        ("sort-small.mtrace", 428, 221),
        ("xz.csv", 437, 225),
        ("perl-hash.csv", 101_002, 47_957),
        ("python-dict.csv.gz", 457_600, 200_872),
        ("overrun.csv", 10, 4),
        ("use-after-free.csv", 6, 2),
    ] {
        let path = dir.join(name);
        let trace = trace::load(&path, format_of(&path), STRICT).unwrap();
        assert_eq!((trace.events.len(), trace.blocks), (events, blocks), "{name}");
    }
}

#[test]
fn the_shipped_mtrace_converts_faithfully() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/sort-small.mtrace");
    let text = std::fs::read(path).unwrap();
    assert_converts_faithfully(&text, STRICT);
}

// ---------------------------------------------------------------------------------------------
// No input makes a parser panic

/// A line that is nearly valid: right ops and shapes, with pointers from a small pool so that
/// frees, reallocs and reuse collide, and now and then a broken field.
fn near_valid_csv_line() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec![
        "malloc",
        "calloc",
        "realloc",
        "free",
        "memalign",
        "aligned_alloc",
        "mallok",
        "",
    ]);
    let number = prop_oneof![
        8 => (0u64..6).prop_map(|i| format!("{:#x}", i * 16)),
        2 => (0u64..100).prop_map(|n| n.to_string()),
        1 => Just("99999999999999999999999".to_string()),
        1 => Just("0x".to_string()),
        1 => Just(String::new()),
        1 => Just("\"".to_string()),
        1 => "[ -~]{0,6}",
    ];
    (op, number.clone(), number.clone(), number.clone(), number, 0..20u8).prop_map(
        |(op, ptr, size, old, align, shape)| match shape {
            0 => format!("{op},{ptr}"),
            1 => String::new(),
            2 => format!("#{op}"),
            _ => format!("{op},{ptr},{size},{old},{align}"),
        },
    )
}

fn near_valid_mtrace_line() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec!["+", "-", "<", ">", "!", "=", "@", "?"]);
    let number = prop_oneof![
        8 => (0u64..6).prop_map(|i| format!("{:#x}", i * 16)),
        1 => Just("(nil)".to_string()),
        1 => Just("0".to_string()),
        1 => Just("0x1ffffffffffffffff".to_string()),
        1 => "[ -~]{0,6}",
    ];
    (any::<bool>(), op, number.clone(), number, 0..3usize).prop_map(|(caller, op, a, b, args)| {
        let caller = if caller { "@ ./p:[0x1] " } else { "" };
        format!("{caller}{op} {}", [a, b][..args].join(" "))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_make_a_parser_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for options in [STRICT, LENIENT] {
            let _ = csv::parse(bytes.as_slice(), Path::new("r.csv"), options);
            let mut with_header = b"op,ptr,size,old_ptr,align\n".to_vec();
            with_header.extend_from_slice(&bytes);
            let _ = csv::parse(with_header.as_slice(), Path::new("r.csv"), options);
            let _ = mtrace::parse(bytes.as_slice(), Path::new("r.mtrace"), options);
            let _ = mtrace::to_csv(bytes.as_slice(), Path::new("r.mtrace"), Vec::new(), options);
        }
    }

    #[test]
    fn near_valid_csv_never_panics_and_lenient_parsing_stays_consistent(
        lines in prop::collection::vec(near_valid_csv_line(), 0..60)
    ) {
        let text = format!("op,ptr,size,old_ptr,align\n{}\n", lines.join("\n"));
        if let Ok(trace) = csv::parse(text.as_bytes(), Path::new("r.csv"), STRICT) {
            assert_consistent(&trace);
            prop_assert!(trace.skipped.is_empty());
        }
        let trace = match csv::parse(text.as_bytes(), Path::new("r.csv"), LENIENT) {
            Ok(trace) => trace,
            // The one line error `--lenient` does not skip: it would drop the rest of the file.
            Err(error) if error.to_string().contains("is never closed") => return Ok(()),
            Err(error) => panic!("{error}"),
        };
        assert_consistent(&trace);
        let last = trace.events.len() as u64;
        if last > 0 {
            prop_assert!(trace.line_of(last - 1) <= text.lines().count() as u64);
        }
    }

    #[test]
    fn near_valid_mtrace_never_panics_and_converts_faithfully(
        lines in prop::collection::vec(near_valid_mtrace_line(), 0..60)
    ) {
        let text = lines.join("\n");
        let _ = mtrace::parse(text.as_bytes(), Path::new("r.mtrace"), STRICT);
        let trace = mtrace::parse(text.as_bytes(), Path::new("r.mtrace"), LENIENT).unwrap();
        assert_consistent(&trace);
        if !trace.events.is_empty() {
            assert_converts_faithfully(text.as_bytes(), LENIENT);
        }
    }
}

#[test]
fn a_write_names_its_block_offset_and_length() {
    let trace = parse("op,ptr,size,offset\nmalloc,0x10,24,\nwrite,0x10,8,16\nfree,0x10,,\n");
    let write = trace.events[1];
    assert_eq!(write.op, Op::Write);
    assert_eq!((write.id, write.write_offset(), write.write_len()), (0, 16, 8));
    assert!(!write.is_stale_write());
}

#[test]
fn a_write_through_a_freed_pointer_is_a_stale_write_to_the_block_it_belonged_to() {
    let trace =
        parse("op,ptr,size,offset\nmalloc,0x10,24,\nfree,0x10,,\nmalloc,0x20,8,\nwrite,0x10,4,0\n");
    let write = trace.events[3];
    assert_eq!((write.op, write.id), (Op::Write, 0));
    assert!(write.is_stale_write());
}

#[test]
fn a_write_through_a_pointer_never_allocated_is_an_error() {
    assert_eq!(
        error("op,ptr,size,offset\nmalloc,0x10,24,\nwrite,0x99,4,0\n"),
        "trace.csv:3: write to 0x99, which was never allocated in this trace"
    );
}

#[test]
fn a_write_needs_an_offset_column() {
    assert_eq!(
        error("op,ptr,size\nmalloc,0x10,24\nwrite,0x10,4\n"),
        "trace.csv:3: write needs an offset column in the header"
    );
}

#[test]
fn a_write_of_4_gib_or_more_is_an_error() {
    assert_eq!(
        error("op,ptr,size,offset\nmalloc,0x10,24,\nwrite,0x10,4294967296,0\n"),
        "trace.csv:3: write of 4294967296 bytes at offset 0: both must be below 4 GiB"
    );
}

// ---------------------------------------------------------------------------------------------
// Input that must be refused (issue 11): quotes, damaged compressed files, invalid .rtrace
// events and counts, control characters in messages

/// The message parsing `text` fails with, on one thread and on two, which must agree.
fn error_both_ways(text: &str, options: ParseOptions) -> String {
    let messages: Vec<String> = [true, false]
        .into_iter()
        .map(|one_thread| {
            let options = ParseOptions { one_thread, ..options };
            match csv::parse(text.as_bytes(), Path::new("trace.csv"), options) {
                Ok(trace) => panic!("parsed, to {:?}", trace.events),
                Err(error) => error.to_string(),
            }
        })
        .collect();
    assert_eq!(messages[0], messages[1]);
    messages[0].clone()
}

#[test]
fn an_unterminated_quote_is_an_error_at_the_line_where_it_opens() {
    // The stray quote used to make one field of the rest of the file: one event, and the double
    // free after it never seen.
    let text = "op,ptr,size\nmalloc,0x10,8\nfree,0x10,\"\nfree,0x10,\nfree,0x10,\n";
    for options in [STRICT, LENIENT] {
        let message = error_both_ways(text, options);
        assert!(message.starts_with("trace.csv:3: a quoted field opens here and is never closed"));
    }
    // In the header, in the middle of a record, and after a quoted field that did close.
    assert!(error("op,ptr,\"size\n").starts_with("trace.csv:1: a quoted field opens"));
    let text = "op,ptr,size,note\nmalloc,0x10,8,\"a\nb\"\nmalloc,0x20,8,\nfree,0x20,,\"x\n\n";
    assert!(error_both_ways(text, STRICT).starts_with("trace.csv:5: a quoted field opens"));
    // A quote inside a field is an ordinary byte, and a comment's quote opens nothing.
    let trace = parse("op,ptr,size,note\n# say \"hi\nmalloc,0x10,8,a\"b\nfree,0x10,,\n");
    assert_eq!(trace.events, [Event::malloc(0, 8), Event::free(0)]);
}

#[test]
fn errors_inside_quoted_fields_that_span_lines_name_the_line_where_the_record_starts() {
    for (text, line) in [
        ("op,ptr,size\nmalloc,0x10,\"8\ny\"\n", 2),
        ("op,ptr,size\nmalloc,0x10,8\nmalloc,0x20,\"8\n\ny\"", 3),
        ("op,ptr,size,note\nmalloc,0x10,8,\"a\n\nb\"\nfree,0x20,,\n", 5),
        ("op,ptr,size,note\n\n# c\nmalloc,0x10,8,\"a\r\nb\"\r\nfree,0x20,,\"\"\"\"\r\n", 6),
    ] {
        let message = error_both_ways(text, STRICT);
        assert!(message.starts_with(&format!("trace.csv:{line}: ")), "{text:?}: {message}");
    }
}

#[test]
fn control_characters_from_the_input_are_escaped_in_errors() {
    let csv_message = error("op,ptr,size\nmalloc,0x10,\x1b[2J\x07\r\u{202e}\u{85}\n");
    assert_eq!(
        csv_message,
        "trace.csv:2: size \"\\x1b[2J\\x07\\r\\u{202e}\\u{85}\" is not a number"
    );
    let mtrace_message = mtrace_error("+ 0x10 \x1b]0;owned\x07\n");
    assert!(mtrace_message.contains("\\x1b]0;owned\\x07"), "{mtrace_message}");
    let bytes = b"op,ptr,size\n\xff\xfe\x1b,0x10,8\n";
    let message = csv::parse(&bytes[..], Path::new("trace.csv"), STRICT).unwrap_err().to_string();
    assert_eq!(
        message,
        "trace.csv:2: unknown op \"\\xff\\xfe\\x1b\" (expected one of malloc, calloc, realloc, \
         free, memalign, write)"
    );
    let heaptrack_message =
        trace::heaptrack::parse(&b"\x1b[31m 1\n"[..], Path::new("t.zst"), STRICT).unwrap_err();
    assert!(heaptrack_message.to_string().contains("\"\\x1b[31m\""), "{heaptrack_message}");
    let rep_message =
        trace::rep::parse(&b"1 1 1 1\na 0 \x1b\n"[..], Path::new("t.rep"), STRICT).unwrap_err();
    assert!(rep_message.to_string().contains("\"\\x1b\""), "{rep_message}");
    for message in [csv_message, mtrace_message, message] {
        assert!(!message.chars().any(|c| c.is_control()), "{message:?}");
    }
}

/// The committed heaptrack file, `damage`d, as a `.zst` file in `dir`: what loading it says.
fn load_damaged_zst(dir: &Path, damage: impl FnOnce(&mut Vec<u8>)) -> Result<Trace, String> {
    let mut bytes = std::fs::read("traces/imports/sort-small.heaptrack.zst").unwrap();
    damage(&mut bytes);
    let path = dir.join("damaged.zst");
    std::fs::write(&path, bytes).unwrap();
    trace::load(&path, Format::Heaptrack, LENIENT).map_err(|e| e.to_string())
}

#[test]
fn a_heaptrack_zst_with_a_wrong_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = load_damaged_zst(dir.path(), |_| {}).unwrap();
    // The last four bytes are the checksum of the content.
    let error = load_damaged_zst(dir.path(), |b| *b.last_mut().unwrap() ^= 1).unwrap_err();
    assert!(error.contains("damaged.zst: zstd frame 1"), "{error}");
    assert!(error.contains("content checksum mismatch"), "{error}");
    // A flipped bit anywhere in the frame is caught (by the decoder or by the checksum).
    let len = std::fs::metadata("traces/imports/sort-small.heaptrack.zst").unwrap().len() as usize;
    for at in (12..len - 4).step_by(97) {
        for bit in [0, 3, 7] {
            let damaged = load_damaged_zst(dir.path(), |b| b[at] ^= 1 << bit);
            match damaged {
                Err(error) => {
                    assert!(error.starts_with(dir.path().join("damaged.zst").to_str().unwrap()))
                }
                Ok(trace) => panic!("byte {at} bit {bit}: {} events accepted", trace.events.len()),
            }
        }
    }
    // Truncated, or followed by garbage.
    let error = load_damaged_zst(dir.path(), |b| b.truncate(b.len() - 9)).unwrap_err();
    assert!(error.contains("zstd frame 1"), "{error}");
    let error = load_damaged_zst(dir.path(), |b| b.extend_from_slice(b"junk\n")).unwrap_err();
    assert!(error.contains("zstd frame 2") && error.contains("trailing garbage"), "{error}");
    // Several frames, and skippable frames, are read as `zstd -d` reads them.
    let twice = load_damaged_zst(dir.path(), |b| {
        let copy = b.clone();
        b.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        b.extend_from_slice(&copy);
    });
    assert_eq!(twice.unwrap().events.len(), 2 * good.events.len());
}

#[test]
fn a_damaged_or_truncated_gzip_trace_is_refused() {
    let text: String = (0..400).map(|i| format!("malloc,{:#x},8\n", 16 * (i + 1))).collect();
    let text = format!("op,ptr,size\n{text}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let good = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv.gz");
    let load = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        trace::load(&path, Format::Csv, STRICT).map_err(|e| e.to_string())
    };
    assert_eq!(load(&good).unwrap().events.len(), 400);
    let n = good.len();
    // The CRC-32 and the length at the end, the deflate data, a cut, garbage after it.
    let mut damaged = vec![];
    for at in [n - 8, n - 3, n / 2] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x10;
        damaged.push(bytes);
    }
    damaged.push(good[..n - 6].to_vec());
    damaged.push(good[..n / 2].to_vec());
    damaged.push([&good[..], b"garbage"].concat());
    for bytes in damaged {
        let error = load(&bytes).unwrap_err();
        assert!(error.starts_with(path.to_str().unwrap()), "{error}");
    }
}

/// Records as an `.rtrace` body has them: `(op byte, id, size, align_log2)`.
type Record = (u8, u32, u64, u8);

const MALLOC: u8 = 0;
const REALLOC: u8 = 2;
const FREE: u8 = 3;
const MEMALIGN: u8 = 4;

/// An `.rtrace` file of `records`, with valid checksums, and its header's counts as given.
fn write_rtrace(path: &Path, records: &[Record], slots: u32, blocks: u64, gaps: &[(u64, i64)]) {
    let mut body = Vec::new();
    for &(op, id, size, align) in records {
        body.extend_from_slice(&size.to_le_bytes());
        body.extend_from_slice(&id.to_le_bytes());
        body.extend_from_slice(&[op, align, 0, 0]);
    }
    for (index, lines) in gaps {
        body.extend_from_slice(&index.to_le_bytes());
        body.extend_from_slice(&lines.to_le_bytes());
    }
    let mut h = vec![0u8; 96];
    h[..8].copy_from_slice(b"\x89RTRACE\n");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[12..16].copy_from_slice(&1u32.to_le_bytes()); // recycled ids
    h[16..24].copy_from_slice(&(records.len() as u64).to_le_bytes());
    h[24..32].copy_from_slice(&blocks.to_le_bytes());
    h[32..36].copy_from_slice(&slots.to_le_bytes());
    h[36..40].copy_from_slice(&96u32.to_le_bytes());
    h[40..48].copy_from_slice(&2u64.to_le_bytes());
    h[48..56].copy_from_slice(&(gaps.len() as u64).to_le_bytes());
    h[88..92].copy_from_slice(&crc32fast::hash(&body).to_le_bytes());
    let crc = crc32fast::hash(&h[..92]);
    h[92..96].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, [h, body].concat()).unwrap();
}

/// What loading an `.rtrace` of `records` (header counts from the records) gives.
fn load_rtrace(records: &[Record], options: ParseOptions) -> Result<Trace, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.rtrace");
    let slots = records.iter().map(|r| r.1 + 1).max().unwrap_or(0);
    let blocks = records.iter().filter(|r| matches!(r.0, 0 | 1 | 4)).count() as u64;
    write_rtrace(&path, records, slots, blocks, &[]);
    trace::load(&path, Format::Rtrace, options)
        .map_err(|e| e.to_string().replace(path.to_str().unwrap(), "t.rtrace"))
}

#[test]
fn an_rtrace_that_frees_a_block_twice_is_refused_like_its_csv() {
    let double_free = [(MALLOC, 0, 8, 4), (FREE, 0, 0, 4), (FREE, 0, 0, 4)];
    assert_eq!(
        load_rtrace(&double_free, STRICT).unwrap_err(),
        "t.rtrace: event 2: free of block 0, which is not live (freed twice?)"
    );
    assert!(error("op,ptr,size\nmalloc,0x10,8\nfree,0x10,\nfree,0x10,\n")
        .starts_with("trace.csv:4: free of 0x10, which is not live"));
    // Every other kind, each refused as its CSV is, and each repaired by --lenient as its CSV
    // is: the same events and the same counts.
    let cases: [(&[Record], &str, &str); 6] = [
        (
            &[(FREE, 0, 0, 4), (MALLOC, 0, 8, 4)],
            "event 0: free of block 0",
            "free,0x10,,\nmalloc,0x10,8,\n",
        ),
        (
            &[(MALLOC, 0, 8, 4), (MALLOC, 0, 9, 4)],
            "event 1: malloc of block 0, which is still live",
            "malloc,0x10,8,\nmalloc,0x10,9,\n",
        ),
        (
            &[(MALLOC, 0, 8, 4), (FREE, 0, 0, 4), (REALLOC, 0, 9, 4)],
            "event 2: realloc of block 0, which is not live",
            "malloc,0x10,8,\nfree,0x10,,\nrealloc,0x10,9,0x10\n",
        ),
        (&[(MALLOC, 0, 8, 4), (MEMALIGN, 1, 8, 255)], "event 1: malformed memalign record", ""),
        (&[(MALLOC, 0, 8, 4), (9, 0, 8, 4)], "event 1: unknown op byte 9", ""),
        (&[(MALLOC, 0, 8, 4), (MALLOC, 1, 8, 3)], "event 1: malformed malloc record", ""),
    ];
    for (records, message, csv_text) in cases {
        let error = load_rtrace(records, STRICT).unwrap_err();
        assert!(error.starts_with(&format!("t.rtrace: {message}")), "{error}");
        if !csv_text.is_empty() {
            let csv_text = format!("op,ptr,size,old_ptr\n{csv_text}");
            error_both_ways(&csv_text, STRICT);
            let from_csv = lenient(&csv_text);
            let from_rtrace = load_rtrace(records, LENIENT).unwrap();
            assert_eq!(from_rtrace.skipped, from_csv.skipped, "{csv_text}");
            let ops = |t: &Trace| t.events.iter().map(|e| (e.op, e.size)).collect::<Vec<_>>();
            assert_eq!(ops(&from_rtrace), ops(&from_csv), "{csv_text}");
        }
    }
    // An id beyond the header's slots.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.rtrace");
    write_rtrace(&path, &[(MALLOC, 0, 8, 4), (MALLOC, 7, 8, 4)], 1, 2, &[]);
    let error = trace::load(&path, Format::Rtrace, STRICT).unwrap_err().to_string();
    assert!(error.ends_with("event 1: block id 7 is not below the header's 1 slots"), "{error}");
}

#[test]
fn an_rtrace_header_claiming_more_slots_than_the_file_can_hold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.rtrace");
    // 256 bytes: 10 events; 2^32 - 1 slots would be a 128 GiB table of blocks.
    let records = [(MALLOC, 0, 8, 4), (FREE, 0, 0, 4)].repeat(5);
    write_rtrace(&path, &records, u32::MAX, 5, &[]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 256);
    let error = trace::rtrace::Rtrace::open(&path).unwrap_err().to_string();
    assert!(error.contains("more than its 10 events can allocate"), "{error}");
    write_rtrace(&path, &records, 1, u64::MAX, &[]);
    let error = trace::rtrace::Rtrace::open(&path).unwrap_err().to_string();
    assert!(error.contains("more than its 10 events can allocate"), "{error}");
    // Counts the events contradict, and a line map that would overflow a line number.
    write_rtrace(&path, &records, 3, 5, &[]);
    let error = trace::rtrace::Rtrace::open(&path).unwrap_err().to_string();
    assert!(error.contains("but the events allocate 5 blocks in 1 slots"), "{error}");
    write_rtrace(&path, &records, 1, 5, &[(1, i64::MAX), (2, i64::MAX)]);
    let error = trace::rtrace::Rtrace::open(&path).unwrap_err().to_string();
    assert!(error.contains("the line map puts the last event on line"), "{error}");
    write_rtrace(&path, &records, 1, 5, &[(3, 1), (2, 1)]);
    let error = trace::rtrace::Rtrace::open(&path).unwrap_err().to_string();
    assert!(error.contains("line-map entry 1 names event 2, out of order"), "{error}");
    write_rtrace(&path, &records, 1, 5, &[(3, 4), (5, -1)]);
    let trace = trace::load(&path, Format::Rtrace, STRICT).unwrap();
    assert_eq!(lines(&trace), [2, 3, 4, 9, 10, 10, 11, 12, 13, 14]);
}

/// Run the `replay` binary on `args` under `ulimit -v` of `kib` KiB (address space): its exit
/// status (`None` when a signal ended it) and what it wrote to stderr.
fn replay_limited(kib: u64, args: &[&str]) -> (Option<i32>, String) {
    let binary = env!("CARGO_BIN_EXE_replay");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib}; exec \"$0\" \"$@\""))
        .arg(binary)
        .args(args)
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_line_longer_than_the_maximum_is_refused_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let long = vec![b'a'; 8 << 20];
    // Each format: its file name, a valid first line, its --format.
    let cases = [
        ("t.csv", "op,ptr,size\n", "csv", Format::Csv),
        ("t.csv.gz", "op,ptr,size\n", "csv", Format::Csv),
        ("t.mtrace", "= Start\n", "mtrace", Format::Mtrace),
        ("t.heaptrack", "v 10400 3\n", "heaptrack", Format::Heaptrack),
        ("t.rep", "20000\n", "rep", Format::Rep),
    ];
    for (name, first, format, parsed_as) in cases {
        let path = dir.path().join(name);
        let mut bytes = first.as_bytes().to_vec();
        bytes.extend_from_slice(&long);
        if name.ends_with(".gz") {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            bytes = gz.finish().unwrap();
        }
        std::fs::write(&path, &bytes).unwrap();
        let path = path.to_str().unwrap();
        let expected = format!(
            "{path}:2: line is longer than 1 MiB ({} bytes): not a trace?",
            trace::MAX_LINE_BYTES
        );
        for lenient in [false, true] {
            let mut args = vec![path, "--format", format, "--alloc", "bump"];
            if lenient {
                args.push("--lenient");
            }
            let (status, stderr) = replay_limited(4 << 20, &args);
            assert_eq!(status, Some(2), "{name} (lenient: {lenient}): {stderr}");
            assert!(stderr.contains(&expected), "{name} (lenient: {lenient}): {stderr}");
        }
        // The library says the same (and conversion to .rtrace, below).
        let error = trace::load(Path::new(path), parsed_as, STRICT).unwrap_err().to_string();
        assert_eq!(error, expected);
    }
    for (name, format) in [("t.csv", "csv"), ("t.mtrace", "mtrace")] {
        let path = dir.path().join(name);
        let out = dir.path().join(format!("{format}.rtrace"));
        let (status, stderr) = replay_limited(
            4 << 20,
            &["convert", path.to_str().unwrap(), "-o", out.to_str().unwrap(), "--format", format],
        );
        assert_eq!(status, Some(2), "convert {name}: {stderr}");
        assert!(stderr.contains(":2: line is longer than 1 MiB"), "convert {name}: {stderr}");
    }

    // 2 GiB of one line, in a 2 MB .gz (32 gzip members of 64 MiB of 'a' each, which a .gz
    // may be): refused within a 400 MB address space, not killed for want of memory.
    let member = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"op,ptr,size\n").unwrap();
        gz.finish().unwrap()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..64 {
        gz.write_all(&long[..1 << 20]).unwrap();
    }
    let aaaa = gz.finish().unwrap();
    let path = dir.path().join("huge.csv.gz");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&member).unwrap();
    for _ in 0..32 {
        file.write_all(&aaaa).unwrap();
    }
    drop(file);
    assert!(std::fs::metadata(&path).unwrap().len() < 4 << 20);
    let path = path.to_str().unwrap();
    for args in [vec![path], vec![path, "--lenient"], vec![path, "--alloc", "simulated"]] {
        let (status, stderr) = replay_limited(400_000, &args);
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("{path}:2: line is longer than 1 MiB")), "{stderr}");
    }
}
