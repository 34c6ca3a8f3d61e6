//! Firefox's `logalloc` logs (`memory/replace/logalloc`: run Firefox with
//! `MALLOC_LOG=/path/to/log`), raw or munged. Checked against its README, `LogAlloc.cpp` (the
//! writer), `logalloc_munge.py` and `Replay.cpp` (logalloc-replay, the reader).
//!
//! # The format
//! One call per line: `PID TID FUNCTION(ARGS)[=RESULT]`, `ARGS` comma-separated:
//!
//! ```text
//! 18545 18545 malloc(32)=0x7f90495120e0
//! 18545 18545 calloc(1,148)=0x7f9049537480
//! 18545 18545 realloc(0x7f90495120e0,64)=0x7f9049536680
//! 18545 18545 posix_memalign(256,240)=0x7f9049583300
//! 18545 18545 jemalloc_stats()
//! 18545 18545 free(0x7f9049536680)
//! ```
//!
//! Functions: `malloc(SIZE)`, `calloc(COUNT,SIZE)`, `realloc(PTR,SIZE)`, `free(PTR)`,
//! `memalign(ALIGN,SIZE)`, `posix_memalign(ALIGN,SIZE)`, `aligned_alloc(ALIGN,SIZE)`,
//! `valloc(SIZE)` and `jemalloc_stats()`; every one but `free` and `jemalloc_stats` has a
//! result. Numbers are decimal, pointers hex (`0x` optional; `(nil)` is NULL). Old logs have
//! no `TID` column (`13663 malloc(42)=0x7f0c33502040`): the thread is then the process.
//!
//! The **munged** form, what `logalloc_munge.py` makes and logalloc-replay reads, numbers
//! processes from 1 and replaces each pointer by a slot `#N` (a freed slot is given to a later
//! allocation): `1 1 malloc(32)=#1`, `1 1 realloc(#1,64)=#1`, `1 1 free(#1)`. Both forms are
//! read; one file is one form (a `#N` in a log of pointers, or the other way round, is
//! malformed).
//!
//! # How it is replayed
//! - Thread ids become the events' threads (the CSV `thread` column when converted).
//! - `jemalloc_stats()` makes no event. A result of NULL (`=0x0`, `=(nil)`) is a failed call,
//!   as in every format: no event (a `realloc` that returned NULL left its block live, unless
//!   its size was 0).
//! - `valloc(SIZE)` is a memalign of alignment 4096; an alignment that is not a power of two
//!   is rounded up to one.
//! - Munged slots get made-up pointers (`#N` is at `16 N`, which the CSV of a conversion shows).
//!   The munger turns `free(NULL)` into a free of a slot that no allocation ever returns, and
//!   logalloc-replay frees what that slot holds, NULL; so here too a `free` (or `realloc`) of a
//!   slot that no allocation has returned so far is of NULL. A free of a slot that was freed
//!   already is an error, as a free of a dead pointer is in every format.
//! - Validation and `--lenient` are those of every format. A log started with the process
//!   (`MALLOC_LOG` is read at startup) frees nothing it did not see allocated, but a raw log
//!   cut out of a longer one may: strict parsing stops at the first such free, naming its
//!   line; `--lenient` drops them and counts them as `not_live`.
//!
//! # Several processes
//! Firefox runs many processes and all of them write to one log. A trace is one heap, so a
//! log of several processes is refused (even with `--lenient`) at the first line of a second
//! process, with a message that lists every process with its lines and says how to pick one:
//! `t.log:1201: the log holds the calls of 2 processes: pid 18545 (1200 lines from line 1),
//! pid 18600 (300 lines from line 1201); replay one at a time, e.g. grep '^18545 ' LOG |
//! replay -` (logalloc-replay itself replays the first process and ignores the others, which
//! would be silent here).
//!
//! # Messages
//! - `t.log:3: unrecognised line "..." (expected "PID TID FUNCTION(ARGS)=RESULT")`
//! - `t.log:3: unknown function "mallok" (expected malloc, calloc, realloc, free, memalign,
//!   posix_memalign, aligned_alloc, valloc or jemalloc_stats)`
//! - `t.log:3: calloc takes 2 arguments, found 1`; `t.log:3: malloc needs a result (=PTR)`;
//!   `t.log:3: free has no result`
//! - `t.log:3: size "x" is not a number`; `t.log:3: pointer "zz" is not hex`
//! - `t.log:3: a munged slot "#4" in a log of raw pointers` (and the other way round)
//! - `t.log:9: free of 0x7f00, which is not live (...)`

use super::builder::{number_message, parse_hex, parse_number, show, Builder, NumError, Sink};
use super::csv_out::{no_write_form, ImportSummary, LineFormat, LineSink};
use super::event::{Event, Op, ParseOptions, Trace, TraceError};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

const FREE_HINT: &str =
    "allocated before the log started, or freed twice? --lenient skips such events";
const REALLOC_HINT: &str =
    "allocated before the log started, or freed already? --lenient repairs such events";

/// The page size `valloc` aligns to.
const PAGE: u64 = 4096;

/// The functions, with their argument counts and whether they have a result.
const FUNCTIONS: [(&str, usize, bool); 9] = [
    ("malloc", 1, true),
    ("calloc", 2, true),
    ("realloc", 2, true),
    ("free", 1, false),
    ("memalign", 2, true),
    ("posix_memalign", 2, true),
    ("aligned_alloc", 2, true),
    ("valloc", 1, true),
    ("jemalloc_stats", 0, false),
];

/// Parse a logalloc log from `input`; `path` is only used in messages.
pub fn parse(input: impl Read, path: &Path, options: ParseOptions) -> Result<Trace, TraceError> {
    Builder::collect(path, options, |builder| read(input, path, builder))
}

/// Convert a logalloc log to the native CSV on `out`, with its threads (`thread`).
pub fn to_csv(
    input: impl Read,
    path: &Path,
    out: impl Write,
    options: ParseOptions,
) -> Result<ImportSummary, TraceError> {
    super::csv_out::convert(path, out, options, |builder| read(input, path, builder))
}

/// A pointer as the log writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    /// A raw pointer.
    Pointer(u64),
    /// A munged slot `#N`.
    Slot(u64),
}

/// One line, split: its process, thread, function, arguments and result.
struct Call<'a> {
    pid: u64,
    tid: u64,
    function: &'static str,
    args: Vec<&'a [u8]>,
    result: Option<&'a [u8]>,
}

/// The pid, thread and function of a line, if it reads as one of this format.
fn split(text: &[u8]) -> Result<Call<'_>, String> {
    let unrecognised = || {
        format!("unrecognised line \"{}\" (expected \"PID TID FUNCTION(ARGS)=RESULT\")", show(text))
    };
    let open = text.iter().position(|&b| b == b'(').ok_or_else(unrecognised)?;
    let close = open + text[open..].iter().position(|&b| b == b')').ok_or_else(unrecognised)?;
    let head: Vec<&[u8]> =
        text[..open].split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).collect();
    let (pid, tid, name) = match head[..] {
        [pid, tid, name] => (pid, Some(tid), name),
        [pid, name] => (pid, None, name),
        _ => return Err(unrecognised()),
    };
    let id = |text: &[u8]| {
        if text.iter().all(u8::is_ascii_digit) {
            parse_number(text).map_err(|_| unrecognised())
        } else {
            Err(unrecognised())
        }
    };
    let pid = id(pid)?;
    let tid = tid.map(id).transpose()?.unwrap_or(pid);
    let Some(&(function, _, _)) = FUNCTIONS.iter().find(|(f, _, _)| f.as_bytes() == name) else {
        let names: Vec<&str> = FUNCTIONS.iter().map(|(f, _, _)| *f).collect();
        return Err(format!(
            "unknown function \"{}\" (expected {} or {})",
            show(name),
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        ));
    };
    let inside = text[open + 1..close].trim_ascii();
    let args = if inside.is_empty() {
        Vec::new()
    } else {
        inside.split(|&b| b == b',').map(<[u8]>::trim_ascii).collect()
    };
    let after = text[close + 1..].trim_ascii();
    let result = match after {
        [] => None,
        [b'=', value @ ..] => Some(value.trim_ascii()),
        _ => return Err(unrecognised()),
    };
    Ok(Call { pid, tid, function, args, result })
}

/// Whether `line` (a trimmed line of the file) reads as a call of this format: for
/// [`super::detect`].
pub(crate) fn looks_like(line: &[u8]) -> bool {
    split(line).is_ok()
}

fn value(text: &[u8]) -> Result<Value, String> {
    if let Some(slot) = text.strip_prefix(b"#") {
        return match parse_number(slot) {
            Ok(n) if slot.iter().all(u8::is_ascii_digit) && n <= u64::MAX / 16 => {
                Ok(Value::Slot(n))
            }
            _ => Err(format!("slot \"{}\" is not a number of a munged log", show(text))),
        };
    }
    if text == b"(nil)" {
        return Ok(Value::Pointer(0));
    }
    let digits = text.strip_prefix(b"0x").or_else(|| text.strip_prefix(b"0X")).unwrap_or(text);
    parse_hex(digits).map(Value::Pointer).map_err(|error| match error {
        NumError::TooBig => format!("pointer {} does not fit in 64 bits", show(text)),
        _ => format!("pointer \"{}\" is not hex", show(text)),
    })
}

fn number(name: &str, text: &[u8]) -> Result<u64, String> {
    parse_number(text).map_err(|error| number_message(name, text, error))
}

/// Pointers of one log: which form it is, and which munged slots allocations returned.
#[derive(Default)]
struct Pointers {
    /// `Some(true)` once a `#N` slot was read, `Some(false)` once a raw pointer was.
    munged: Option<bool>,
    /// Slots that an allocation returned so far (munged logs).
    returned: HashSet<u64>,
}

impl Pointers {
    /// The pointer `text` names; `result`: it is what an allocation returned.
    fn read(&mut self, text: &[u8], result: bool) -> Result<u64, String> {
        let value = value(text)?;
        let munged = matches!(value, Value::Slot(_));
        match self.munged {
            Some(form) if form != munged => {
                return Err(if munged {
                    format!("a munged slot \"{}\" in a log of raw pointers", show(text))
                } else {
                    format!("a raw pointer \"{}\" in a munged log (of #N slots)", show(text))
                })
            }
            _ => self.munged = Some(munged),
        }
        Ok(match value {
            Value::Pointer(ptr) => ptr,
            Value::Slot(0) => 0,
            Value::Slot(n) if result => {
                self.returned.insert(n);
                n * 16
            }
            // A slot no allocation returned holds NULL (see the module docs).
            Value::Slot(n) if !self.returned.contains(&n) => 0,
            Value::Slot(n) => n * 16,
        })
    }
}

/// Feed every line of `input` to `builder`.
pub(crate) fn read<S: Sink>(
    input: impl Read,
    path: &Path,
    builder: &mut Builder<S>,
) -> Result<(), TraceError> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    builder.input_has_threads();
    let mut pointers = Pointers::default();
    let mut process: Option<u64> = None;
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
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        let call = match split(trimmed) {
            Ok(call) => call,
            Err(message) => {
                builder.malformed(line, || message)?;
                continue;
            }
        };
        match process {
            None => process = Some(call.pid),
            Some(first) if first != call.pid => {
                return Err(several_processes(path, &mut input, line, first, call.pid))
            }
            Some(_) => {}
        }
        match apply(&call, &mut pointers, builder, line) {
            Ok(outcome) => outcome?,
            Err(message) => builder.malformed(line, || message)?,
        }
    }
    Ok(())
}

/// Hand `call` to `builder`: `Err` for a malformed line, `Ok` with what the builder said.
fn apply<S: Sink>(
    call: &Call<'_>,
    pointers: &mut Pointers,
    builder: &mut Builder<S>,
    line: u64,
) -> Result<Result<(), TraceError>, String> {
    let &(function, arity, has_result) =
        FUNCTIONS.iter().find(|(f, _, _)| *f == call.function).ok_or("unknown function")?;
    if call.args.len() != arity {
        return Err(format!(
            "{function} takes {arity} argument{}, found {}",
            if arity == 1 { "" } else { "s" },
            call.args.len()
        ));
    }
    match (has_result, call.result) {
        (true, None) => return Err(format!("{function} needs a result (=PTR)")),
        (false, Some(_)) => return Err(format!("{function} has no result")),
        _ => {}
    }
    if function == "jemalloc_stats" {
        return Ok(Ok(()));
    }
    let args = &call.args;
    let align = |text: &[u8]| -> Result<u64, String> {
        let align = number("alignment", text)?;
        align.max(1).checked_next_power_of_two().ok_or_else(|| {
            format!("alignment {align} is above the largest power of two of 64 bits")
        })
    };
    // Arguments first, then the result: a realloc's old slot may be the one it returns.
    enum Do {
        Alloc(Op, u64, u64),
        Realloc(u64, u64),
        Free(u64),
    }
    let what = match function {
        "malloc" => Do::Alloc(Op::Malloc, number("size", args[0])?, 0),
        "calloc" => {
            let count = number("count", args[0])?;
            let size = number("size", args[1])?;
            let total = count.checked_mul(size).ok_or_else(|| {
                format!("calloc of {count} x {size} bytes does not fit in 64 bits")
            })?;
            Do::Alloc(Op::Calloc, total, 0)
        }
        "realloc" => Do::Realloc(pointers.read(args[0], false)?, number("size", args[1])?),
        "free" => Do::Free(pointers.read(args[0], false)?),
        "valloc" => Do::Alloc(Op::Memalign, number("size", args[0])?, PAGE),
        _ => Do::Alloc(Op::Memalign, number("size", args[1])?, align(args[0])?),
    };
    let result = match call.result {
        Some(text) => pointers.read(text, true)?,
        None => 0,
    };
    builder.on_thread(Some(call.tid));
    Ok(match what {
        Do::Alloc(op, size, align) => builder.alloc(line, op, result, size, align),
        Do::Realloc(old, size) => builder.realloc(line, line, old, result, size, REALLOC_HINT),
        Do::Free(ptr) => builder.free(line, ptr, FREE_HINT),
    })
}

/// The error for a log of several processes, met at `line` (of process `second`): the rest of
/// `input` is read to list them all.
fn several_processes(
    path: &Path,
    input: &mut impl BufRead,
    line: u64,
    first: u64,
    second: u64,
) -> TraceError {
    // (pid, lines, first line), in order of appearance.
    let mut seen: Vec<(u64, u64, u64)> = vec![(first, line - 1, 1), (second, 1, line)];
    let mut at = line;
    let mut text = Vec::new();
    loop {
        text.clear();
        match input.read_until(b'\n', &mut text) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        at += 1;
        let Ok(call) = split(text.trim_ascii()) else { continue };
        match seen.iter_mut().find(|(pid, _, _)| *pid == call.pid) {
            Some(entry) => entry.1 += 1,
            None => seen.push((call.pid, 1, at)),
        }
    }
    let list: Vec<String> = seen
        .iter()
        .map(|(pid, lines, from)| {
            format!(
                "pid {pid} ({lines} line{} from line {from})",
                if *lines == 1 { "" } else { "s" }
            )
        })
        .collect();
    TraceError::Invalid {
        path: path.to_path_buf(),
        line,
        message: format!(
            "the log holds the calls of {} processes: {}; replay one at a time, e.g. \
             grep '^{first} ' LOG | replay -",
            seen.len(),
            list.join(", ")
        ),
    }
}

/// Writes validated events as raw lines of this format (process 1), with their recorded
/// pointers and threads (thread 1 where the input says none). A calloc is written as
/// `calloc(1,SIZE)` (the CSV keeps only the product); a memalign with its alignment as
/// replayed (a power of two of at least 16).
pub(crate) type LogallocSink<W> = LineSink<W, LogallocLines>;

/// The lines of this format (see [`LogallocSink`]).
pub(crate) struct LogallocLines;

impl LineFormat for LogallocLines {
    const NAME: &'static str = "logalloc";
    const NO_THREAD: u64 = 1;

    fn line(
        out: &mut impl Write,
        tid: u64,
        event: &Event,
        ptr: u64,
        old_ptr: u64,
    ) -> std::io::Result<()> {
        let size = event.size;
        match event.op {
            Op::Malloc => writeln!(out, "1 {tid} malloc({size})={ptr:#x}"),
            Op::Calloc => writeln!(out, "1 {tid} calloc(1,{size})={ptr:#x}"),
            Op::Memalign => writeln!(out, "1 {tid} memalign({},{size})={ptr:#x}", event.align()),
            Op::Realloc => writeln!(out, "1 {tid} realloc({old_ptr:#x},{size})={ptr:#x}"),
            Op::Free => writeln!(out, "1 {tid} free({ptr:#x})"),
            Op::Write => Err(no_write_form(Self::NAME)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::SkipKind;

    fn parse_str(text: &str, lenient: bool) -> Result<Trace, TraceError> {
        parse(
            text.as_bytes(),
            Path::new("t.log"),
            ParseOptions { lenient, ..ParseOptions::default() },
        )
    }

    fn error(text: &str) -> String {
        parse_str(text, false).unwrap_err().to_string()
    }

    #[test]
    fn the_readmes_example_reads_the_same_raw_and_munged() {
        let raw = parse_str(
            "18545 18545 malloc(32)=0x7f90495120e0\n\
             18545 18545 calloc(1,148)=0x7f9049537480\n\
             18545 18545 realloc(0x7f90495120e0,64)=0x7f9049536680\n\
             18545 18545 posix_memalign(256,240)=0x7f9049583300\n\
             18545 18545 jemalloc_stats()\n\
             18545 18545 free(0x7f9049536680)\n",
            false,
        )
        .unwrap();
        let munged = parse_str(
            "1 1 malloc(32)=#1\n1 1 calloc(1,148)=#2\n1 1 realloc(#1,64)=#1\n\
             1 1 posix_memalign(256,240)=#3\n1 1 jemalloc_stats()\n1 1 free(#1)\n",
            false,
        )
        .unwrap();
        let expected = [
            Event::malloc(0, 32),
            Event::calloc(1, 148),
            Event::realloc(0, 64),
            Event::memalign(2, 240, 256),
            Event::free(0),
        ];
        assert_eq!(raw.events, expected);
        assert_eq!(munged.events, expected);
        assert_eq!(raw.line_of(4), 6);
    }

    #[test]
    fn every_function_and_both_line_shapes_are_read() {
        let trace = parse_str(
            "7 1 malloc(8)=0x10\n\
             7 2 memalign(48,8)=0x40\n\
             7 aligned_alloc(64,8)=0x80\n\
             7 2 valloc(10)=0x1000\n\
             7 1 malloc(9)=0x0\n\
             7 1 realloc(0x0,5)=0x200\n\
             7 1 realloc(0x200,0)=(nil)\n\
             7 1 free(0x0)\n\
             7 1 free(0x10)\n",
            false,
        )
        .unwrap();
        assert_eq!(
            trace.events,
            [
                Event::malloc(0, 8),
                Event::memalign(1, 8, 64),
                Event::memalign(2, 8, 64),
                Event::memalign(3, 10, 4096),
                Event::malloc(4, 5),
                Event::free(4),
                Event::free(0),
            ]
        );
        // Threads 1, 2 and 7 (the old form without a thread: the process).
        assert_eq!(trace.thread_ids, [Some(1), Some(2), Some(7)]);
    }

    #[test]
    fn a_munged_free_of_a_slot_never_returned_is_of_null() {
        // logalloc_munge.py gives free(NULL) a slot of its own, which no allocation returns.
        let trace = parse_str("1 1 malloc(8)=#1\n1 1 free(#2)\n1 1 free(#1)\n", false).unwrap();
        assert_eq!(trace.events, [Event::malloc(0, 8), Event::free(0)]);
        assert_eq!(
            error("1 1 malloc(8)=#1\n1 1 free(#1)\n1 1 free(#1)\n"),
            "t.log:3: free of 0x10, which is not live (allocated before the log started, or \
             freed twice? --lenient skips such events)"
        );
    }

    #[test]
    fn bad_lines_name_their_line_and_what_is_wrong() {
        assert_eq!(
            error("1 1 malloc(8)=0x10\nhello\n"),
            "t.log:2: unrecognised line \"hello\" (expected \"PID TID FUNCTION(ARGS)=RESULT\")"
        );
        assert_eq!(
            error("1 1 mallok(8)=0x10\n"),
            "t.log:1: unknown function \"mallok\" (expected malloc, calloc, realloc, free, \
             memalign, posix_memalign, aligned_alloc, valloc or jemalloc_stats)"
        );
        assert_eq!(error("1 1 calloc(8)=0x10\n"), "t.log:1: calloc takes 2 arguments, found 1");
        assert_eq!(error("1 1 malloc(8)\n"), "t.log:1: malloc needs a result (=PTR)");
        assert_eq!(error("1 1 free(0x10)=0x10\n"), "t.log:1: free has no result");
        assert_eq!(error("1 1 malloc(x)=0x10\n"), "t.log:1: size \"x\" is not a number");
        assert_eq!(error("1 1 malloc(8)=zz\n"), "t.log:1: pointer \"zz\" is not hex");
        assert_eq!(
            error("1 1 malloc(8)=0x10\n1 1 malloc(8)=#2\n"),
            "t.log:2: a munged slot \"#2\" in a log of raw pointers"
        );
        assert_eq!(
            error("1 1 free(0x10)\n"),
            "t.log:1: free of 0x10, which is not live (allocated before the log started, or \
             freed twice? --lenient skips such events)"
        );
        let lenient = parse_str("1 1 free(0x10)\n1 1 malloc(8)=0x20\n", true).unwrap();
        assert_eq!(lenient.events, [Event::malloc(0, 8)]);
        assert_eq!(lenient.skipped[&SkipKind::NotLive], 1);
    }

    #[test]
    fn a_log_of_several_processes_is_refused_with_every_process_listed() {
        let text = "10 10 malloc(8)=0x10\n10 10 free(0x10)\n20 21 malloc(8)=0x10\n\
                    10 10 malloc(8)=0x10\n30 30 jemalloc_stats()\n20 21 free(0x10)\n";
        for lenient in [false, true] {
            assert_eq!(
                parse_str(text, lenient).unwrap_err().to_string(),
                "t.log:3: the log holds the calls of 3 processes: pid 10 (3 lines from line 1), \
                 pid 20 (2 lines from line 3), pid 30 (1 line from line 5); replay one at a \
                 time, e.g. grep '^10 ' LOG | replay -"
            );
        }
    }

    #[test]
    fn the_writer_writes_lines_this_parser_reads_back_to_the_same_events() {
        let text = "5 7 malloc(24)=0x10\n5 8 calloc(2,8)=0x20\n5 7 memalign(64,8)=0x40\n\
                    5 8 realloc(0x10,100)=0x80\n5 7 free(0x80)\n5 8 free(0x20)\n5 7 free(0x40)\n";
        let mut out = Vec::new();
        super::super::csv_out::convert_into(
            Path::new("t.log"),
            LogallocSink::new(&mut out),
            ParseOptions::default(),
            |builder| read(text.as_bytes(), Path::new("t.log"), builder),
        )
        .unwrap();
        let written = String::from_utf8(out).unwrap();
        assert_eq!(
            written,
            "1 7 malloc(24)=0x10\n1 8 calloc(1,16)=0x20\n1 7 memalign(64,8)=0x40\n\
             1 8 realloc(0x10,100)=0x80\n1 7 free(0x80)\n1 8 free(0x20)\n1 7 free(0x40)\n"
        );
        let (first, again) = (parse_str(text, false).unwrap(), parse_str(&written, false).unwrap());
        assert_eq!(again.events, first.events);
        assert_eq!(again.threads, first.threads);
    }
}
