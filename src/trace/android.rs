//! Android's `record_allocs` text: what bionic's malloc debug writes with the `record_allocs`
//! option, and what AOSP's `memory_replay` (its `libmemory_trace`) reads, and ships app traces
//! in. Checked against `memory_trace::FillInEntryFromString` of Android 16.
//!
//! # The format
//! One record per line: the thread id (decimal), a colon, the operation, the pointer it
//! returned or was given (hex, `0x` optional), and the operation's arguments:
//!
//! ```text
//! 1234: malloc 0xb4000071f2a3c010 24            malloc(24)
//! 1234: calloc 0xb4000071f2a3c040 4 16          calloc(4, 16)
//! 1234: memalign 0xb4000071f2a3d000 64 100      memalign(64, 100)
//! 1234: realloc 0xb4000071f2a3c100 0xb4000071f2a3c010 48   realloc(old, 48) returned the first
//! 1234: realloc 0xb4000071f2a3c200 0x0 32       realloc(NULL, 32)
//! 1234: realloc 0x0 0xb4000071f2a3c200 0        realloc(p, 0), which freed p
//! 1234: free 0xb4000071f2a3c100                 free(p); `free 0x0` is free(NULL)
//! 1234: thread_done 0x0                         the thread ended
//! ```
//!
//! Newer traces add the call's start and end times (`START_NS END_NS`, decimal nanoseconds)
//! after the arguments, and to `free` and `realloc` a count of the block's bytes that were
//! resident when it was freed, after the times (`free p 0 0 N` when there are present bytes but
//! no times); `thread_done` may carry one time, its end. memory_replay's parser knows only
//! `malloc`, `calloc`, `memalign`, `realloc`, `free` and `thread_done` (bionic records
//! `posix_memalign`, `aligned_alloc`, `valloc` and `pvalloc` as `memalign`); this one also reads
//! `posix_memalign PTR ALIGN SIZE` and `aligned_alloc PTR ALIGN SIZE` as memalign, and
//! `valloc PTR SIZE` and `pvalloc PTR SIZE` as memalign with alignment 4096 (pvalloc's size
//! rounded up to a multiple of 4096). Blank lines are ignored. Such traces are often shipped as
//! a `.zip` holding one `.txt`: [`super::open`] reads it directly.
//!
//! # How it is replayed
//! - Each line's thread id becomes the event's thread (the CSV `thread` column when converted);
//!   the real allocators replay each thread on an OS thread of its own. `thread_done` makes no
//!   event.
//! - A start time becomes the CSV's `time_ns` when converted (as recorded: the device's
//!   monotonic clock); `0 0` is no time. A replay uses neither the times nor the present bytes.
//! - `calloc PTR N SIZE` is a calloc of `N * SIZE` bytes (a product above 64 bits is malformed).
//! - An alignment that is not a power of two is rounded up to one, as bionic's `memalign` does.
//! - `realloc NEW OLD SIZE` follows C, as in every format (see [`super::csv`]): `OLD` 0 is a
//!   malloc; `NEW` 0 with `SIZE` 0 freed `OLD`; `NEW` 0 otherwise failed and left `OLD` live.
//!   An allocation that returned 0 failed: no event.
//!
//! Validation and `--lenient` are those of every format. A recording usually starts while the
//! process runs, so it frees pointers it never saw allocated: strict parsing stops at the first
//! such `free` (or `realloc`), naming its line; `--lenient` drops them (and reads such a
//! `realloc` as a malloc) and counts them as `not_live`.
//!
//! # Messages
//! - `t.txt:3: unrecognised line "..." (expected "TID: OP POINTER ...")`
//! - `t.txt:3: unknown operation "mallok" (expected malloc, calloc, memalign, realloc, free,
//!   thread_done, posix_memalign, aligned_alloc, valloc or pvalloc)`
//! - `t.txt:3: malloc needs "POINTER SIZE" (then optionally START_NS END_NS): found 1 field`
//! - `t.txt:3: size "x" is not a number`, `t.txt:3: pointer "zz" is not hex`
//! - `t.txt:3: calloc of 4 x 4611686018427387904 bytes does not fit in 64 bits`
//! - `t.txt:9: free of 0x7f00, which is not live (allocated before recording started, or freed
//!   twice? --lenient skips such events)`

use super::builder::{number_message, parse_hex, parse_number, show, Builder, NumError, Sink};
use super::csv_out::{no_write_form, ImportSummary, LineFormat, LineSink};
use super::event::{Event, Op, ParseOptions, Trace, TraceError};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

const FREE_HINT: &str =
    "allocated before recording started, or freed twice? --lenient skips such events";
const REALLOC_HINT: &str =
    "allocated before recording started, or freed already? --lenient repairs such events";

/// The page size `valloc` and `pvalloc` align to.
const PAGE: u64 = 4096;

/// Parse an Android trace from `input`; `path` is only used in messages.
pub fn parse(input: impl Read, path: &Path, options: ParseOptions) -> Result<Trace, TraceError> {
    Builder::collect(path, options, |builder| read(input, path, builder))
}

/// Convert an Android trace to the native CSV on `out`, with its threads (`thread`) and start
/// times (`time_ns`).
pub fn to_csv(
    input: impl Read,
    path: &Path,
    out: impl Write,
    options: ParseOptions,
) -> Result<ImportSummary, TraceError> {
    super::csv_out::convert(path, out, options, |builder| read(input, path, builder))
}

/// What one line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    /// `thread_done`, or a blank line.
    Nothing,
    Alloc {
        op: Op,
        ptr: u64,
        size: u64,
        align: u64,
    },
    Realloc {
        ptr: u64,
        old: u64,
        size: u64,
    },
    Free {
        ptr: u64,
    },
}

/// One line, read: its thread, call and start time.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    tid: u64,
    call: Call,
    time_ns: Option<u64>,
}

/// The operations, and the fixed arguments after the pointer of each.
const OPS: [(&str, usize); 10] = [
    ("malloc", 1),
    ("calloc", 2),
    ("memalign", 2),
    ("realloc", 2),
    ("free", 0),
    ("thread_done", 0),
    ("posix_memalign", 2),
    ("aligned_alloc", 2),
    ("valloc", 1),
    ("pvalloc", 1),
];

/// Feed every line of `input` to `builder`.
pub(crate) fn read<S: Sink>(
    input: impl Read,
    path: &Path,
    builder: &mut Builder<S>,
) -> Result<(), TraceError> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    builder.input_has_threads();
    let mut text = Vec::with_capacity(128);
    let mut line = 0;
    loop {
        text.clear();
        let read = input
            .read_until(b'\n', &mut text)
            .map_err(|source| TraceError::read(path, line + 1, source))?;
        if read == 0 {
            break;
        }
        line += 1;
        let record = match read_line(text.trim_ascii()) {
            Ok(record) => record,
            Err(message) => {
                builder.malformed(line, || message)?;
                continue;
            }
        };
        if record.call == Call::Nothing {
            continue;
        }
        builder.on_thread(Some(record.tid));
        builder.on_time(record.time_ns);
        match record.call {
            Call::Nothing => {}
            Call::Alloc { op, ptr, size, align } => builder.alloc(line, op, ptr, size, align)?,
            Call::Realloc { ptr, old, size } => {
                builder.realloc(line, line, old, ptr, size, REALLOC_HINT)?
            }
            Call::Free { ptr } => builder.free(line, ptr, FREE_HINT)?,
        }
    }
    Ok(())
}

/// Whether `line` (a trimmed line of the file) reads as a record of this format: for
/// [`super::detect`].
pub(crate) fn looks_like(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
    let tid = line[..colon].trim_ascii();
    let rest = &line[colon + 1..];
    let name = rest.trim_ascii_start().split(u8::is_ascii_whitespace).next().unwrap_or(b"");
    !tid.is_empty()
        && tid.iter().all(u8::is_ascii_digit)
        && rest.first().is_some_and(u8::is_ascii_whitespace)
        && OPS.iter().any(|(op, _)| op.as_bytes() == name)
}

/// A pointer: hex, with or without `0x`.
fn pointer(text: &[u8]) -> Result<u64, String> {
    let digits = text.strip_prefix(b"0x").or_else(|| text.strip_prefix(b"0X")).unwrap_or(text);
    parse_hex(digits).map_err(|error| match error {
        NumError::TooBig => format!("pointer {} does not fit in 64 bits", show(text)),
        _ => format!("pointer \"{}\" is not hex", show(text)),
    })
}

fn number(name: &str, text: &[u8]) -> Result<u64, String> {
    parse_number(text).map_err(|error| number_message(name, text, error))
}

/// Read one line (without its newline and surrounding spaces).
fn read_line(text: &[u8]) -> Result<Record, String> {
    if text.is_empty() {
        return Ok(Record { tid: 0, call: Call::Nothing, time_ns: None });
    }
    let unrecognised =
        || format!("unrecognised line \"{}\" (expected \"TID: OP POINTER ...\")", show(text));
    let colon = text.iter().position(|&b| b == b':').ok_or_else(unrecognised)?;
    let tid = parse_number(text[..colon].trim_ascii()).map_err(|_| unrecognised())?;
    let words: Vec<&[u8]> =
        text[colon + 1..].split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).collect();
    let (&name, rest) = words.split_first().ok_or_else(unrecognised)?;
    let Some(&(op, fixed)) = OPS.iter().find(|(op, _)| op.as_bytes() == name) else {
        let names: Vec<&str> = OPS.iter().map(|(op, _)| *op).collect();
        return Err(format!(
            "unknown operation \"{}\" (expected {} or {})",
            show(name),
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        ));
    };
    // After the pointer and the fixed arguments: nothing, START_NS END_NS, or for free and
    // realloc those and PRESENT_BYTES; thread_done has at most END_NS.
    let extra = rest.len().checked_sub(1 + fixed);
    let allowed: &[usize] = match op {
        "thread_done" => &[0, 1],
        "free" | "realloc" => &[0, 2, 3],
        _ => &[0, 2],
    };
    let Some(extra) = extra.filter(|n| allowed.contains(n)) else {
        let usage = match op {
            "malloc" | "valloc" | "pvalloc" => "POINTER SIZE",
            "calloc" => "POINTER COUNT SIZE",
            "realloc" => "NEW_POINTER OLD_POINTER SIZE",
            "free" | "thread_done" => "POINTER",
            _ => "POINTER ALIGNMENT SIZE",
        };
        let then = match op {
            "thread_done" => "END_NS",
            "free" | "realloc" => "START_NS END_NS [PRESENT_BYTES]",
            _ => "START_NS END_NS",
        };
        let n = rest.len();
        return Err(format!(
            "{op} needs \"{usage}\" (then optionally {then}): found {n} field{}",
            if n == 1 { "" } else { "s" }
        ));
    };
    let ptr = pointer(rest[0])?;
    let args = &rest[1..1 + fixed];
    let extras = &rest[1 + fixed..];
    let time_ns = match (op, extra) {
        (_, 0) => None,
        ("thread_done", _) => {
            number("end time", extras[0])?;
            None
        }
        _ => {
            let start = number("start time", extras[0])?;
            let end = number("end time", extras[1])?;
            if extra == 3 {
                number("present bytes", extras[2])?;
            }
            (start != 0 || end != 0).then_some(start)
        }
    };
    let size_at = |i: usize| number("size", args[i]);
    let call = match op {
        "thread_done" => Call::Nothing,
        "free" => Call::Free { ptr },
        "malloc" => Call::Alloc { op: Op::Malloc, ptr, size: size_at(0)?, align: 0 },
        "calloc" => {
            let count = number("count", args[0])?;
            let size = size_at(1)?;
            let total = count.checked_mul(size).ok_or_else(|| {
                format!("calloc of {count} x {size} bytes does not fit in 64 bits")
            })?;
            Call::Alloc { op: Op::Calloc, ptr, size: total, align: 0 }
        }
        "realloc" => Call::Realloc { ptr, old: pointer(args[0])?, size: size_at(1)? },
        "valloc" => Call::Alloc { op: Op::Memalign, ptr, size: size_at(0)?, align: PAGE },
        "pvalloc" => {
            let size = size_at(0)?;
            let rounded = size.div_ceil(PAGE).checked_mul(PAGE).ok_or_else(|| {
                format!("pvalloc of {size} bytes: a whole number of pages does not fit in 64 bits")
            })?;
            Call::Alloc { op: Op::Memalign, ptr, size: rounded.max(PAGE), align: PAGE }
        }
        _ => {
            let align = number("alignment", args[0])?;
            let align = align.max(1).checked_next_power_of_two().ok_or_else(|| {
                format!("alignment {align} is above the largest power of two of 64 bits")
            })?;
            Call::Alloc { op: Op::Memalign, ptr, size: size_at(1)?, align }
        }
    };
    Ok(Record { tid, call, time_ns })
}

/// Writes validated events as lines of this format, with their recorded pointers and threads
/// (thread 0 where the input says none). Times and present bytes are not written: the native
/// CSV keeps no end times. A calloc is written as `calloc PTR 1 SIZE` (the CSV keeps only the
/// product); a memalign with its alignment as replayed (a power of two of at least 16).
pub(crate) type AndroidSink<W> = LineSink<W, AndroidLines>;

/// The lines of this format (see [`AndroidSink`]).
pub(crate) struct AndroidLines;

impl LineFormat for AndroidLines {
    const NAME: &'static str = "Android";
    const NO_THREAD: u64 = 0;

    fn line(
        out: &mut impl Write,
        tid: u64,
        event: &Event,
        ptr: u64,
        old_ptr: u64,
    ) -> std::io::Result<()> {
        let size = event.size;
        match event.op {
            Op::Malloc => writeln!(out, "{tid}: malloc {ptr:#x} {size}"),
            Op::Calloc => writeln!(out, "{tid}: calloc {ptr:#x} 1 {size}"),
            Op::Memalign => writeln!(out, "{tid}: memalign {ptr:#x} {} {size}", event.align()),
            Op::Realloc => writeln!(out, "{tid}: realloc {ptr:#x} {old_ptr:#x} {size}"),
            Op::Free => writeln!(out, "{tid}: free {ptr:#x}"),
            Op::Write => Err(no_write_form(Self::NAME)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str, lenient: bool) -> Result<Trace, TraceError> {
        parse(
            text.as_bytes(),
            Path::new("t.txt"),
            ParseOptions { lenient, ..ParseOptions::default() },
        )
    }

    fn error(text: &str) -> String {
        parse_str(text, false).unwrap_err().to_string()
    }

    #[test]
    fn every_operation_and_optional_field_is_read() {
        let trace = parse_str(
            "1: malloc 0x10 24\n\
             1: calloc 0x20 4 16 100 200\n\
             2: memalign 0x40 64 100\n\
             2: posix_memalign 0x80 32 8 0 0\n\
             2: aligned_alloc c0 48 8\n\
             3: valloc 0x1000 10\n\
             3: pvalloc 0x2000 5000\n\
             1: realloc 0x100 0x10 48 300 400 4096\n\
             1: realloc 0x200 0x0 8\n\
             1: realloc 0x0 0x200 0\n\
             \n\
             2: free 0x0\n\
             2: free 0x100 0 0 16\n\
             3: thread_done 0x0 999\n\
             3: thread_done 0x0\n",
            false,
        )
        .unwrap();
        assert_eq!(
            trace.events,
            [
                Event::malloc(0, 24),
                Event::calloc(1, 64),
                Event::memalign(2, 100, 64),
                Event::memalign(3, 8, 32),
                Event::memalign(4, 8, 64),
                Event::memalign(5, 10, 4096),
                Event::memalign(6, 8192, 4096),
                Event::realloc(0, 48),
                Event::malloc(7, 8),
                Event::free(7),
                Event::free(0),
            ]
        );
        assert_eq!(trace.thread_ids, [Some(1), Some(2), Some(3)]);
        assert_eq!(trace.threads, [0, 0, 1, 1, 1, 2, 2, 0, 0, 0, 1]);
        let lines: Vec<u64> = (0..11).map(|i| trace.line_of(i)).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13]);
    }

    #[test]
    fn bad_lines_name_their_line_and_what_is_wrong() {
        assert_eq!(
            error("1: malloc 0x10 8\nhello\n"),
            "t.txt:2: unrecognised line \"hello\" (expected \"TID: OP POINTER ...\")"
        );
        assert_eq!(
            error("1: mallok 0x10 8\n"),
            "t.txt:1: unknown operation \"mallok\" (expected malloc, calloc, memalign, realloc, \
             free, thread_done, posix_memalign, aligned_alloc, valloc or pvalloc)"
        );
        assert_eq!(
            error("1: malloc 0x10\n"),
            "t.txt:1: malloc needs \"POINTER SIZE\" (then optionally START_NS END_NS): found 1 \
             field"
        );
        assert_eq!(
            error("1: malloc 0x10 8 5\n"),
            "t.txt:1: malloc needs \"POINTER SIZE\" (then optionally START_NS END_NS): found 3 \
             fields"
        );
        assert_eq!(error("1: malloc 0x10 eight\n"), "t.txt:1: size \"eight\" is not a number");
        assert_eq!(error("1: free zz\n"), "t.txt:1: pointer \"zz\" is not hex");
        assert_eq!(
            error("1: calloc 0x10 4 4611686018427387904\n"),
            "t.txt:1: calloc of 4 x 4611686018427387904 bytes does not fit in 64 bits"
        );
        assert_eq!(
            error("1: malloc 0x10 8\n1: free 0x20\n"),
            "t.txt:2: free of 0x20, which is not live (allocated before recording started, or \
             freed twice? --lenient skips such events)"
        );
    }

    #[test]
    fn lenient_parsing_counts_frees_of_pointers_never_seen() {
        let trace = parse_str("1: free 0x20\n1: malloc 0x10 8\n1: free 0x10\n", true).unwrap();
        assert_eq!(trace.events, [Event::malloc(0, 8), Event::free(0)]);
        assert_eq!(trace.skipped[&super::super::event::SkipKind::NotLive], 1);
    }

    #[test]
    fn the_writer_writes_lines_this_parser_reads_back_to_the_same_events() {
        let text = "7: malloc 0x10 24\n8: calloc 0x20 2 8\n7: memalign 0x40 64 8\n\
                    8: realloc 0x80 0x10 100\n7: free 0x80\n8: free 0x20\n7: free 0x40\n";
        let mut out = Vec::new();
        let options = ParseOptions::default();
        super::super::csv_out::convert_into(
            Path::new("t.txt"),
            AndroidSink::new(&mut out),
            options,
            |builder| read(text.as_bytes(), Path::new("t.txt"), builder),
        )
        .unwrap();
        let written = String::from_utf8(out).unwrap();
        assert_eq!(
            written,
            "7: malloc 0x10 24\n8: calloc 0x20 1 16\n7: memalign 0x40 64 8\n\
             8: realloc 0x80 0x10 100\n7: free 0x80\n8: free 0x20\n7: free 0x40\n"
        );
        let again = parse_str(&written, false).unwrap();
        let first = parse_str(text, false).unwrap();
        assert_eq!(again.events, first.events);
        assert_eq!(again.threads, first.threads);
    }
}
