//! glibc's `MALLOC_TRACE` text, as written by `mtrace()` (in `libc_malloc_debug.so` since
//! glibc 2.34), and its conversion to the native CSV ([`to_csv`]).
//!
//! # The format
//! Checked against glibc 2.36 (Debian 12); `traces/sort-small.mtrace` is a real recording.
//!
//! ```text
//! = Start
//! @ ./prog:[0x11db] + 0x563b395502a0 0x18     malloc, calloc, memalign, realloc(NULL, n)
//! @ ./prog:[0x1211] - 0x563b395502a0          free, and realloc(p, 0)
//! @ ./prog:[0x1295] < 0x563b395504a0          realloc(p, n): the old pointer...
//! @ ./prog:[0x1295] > 0x563b39550740 0xfa0    ...then the new one and the size
//! @ ./prog:[0x1280] ! 0x563b395504a0 0x4000000000000000   a realloc that failed
//! @ ./prog:[0x1227] + (nil) 0x4000000000000000             a malloc that failed
//! = End
//! ```
//!
//! Each line may start with `@ CALLER` (`file:[addr]`, `file:(symbol+off)[addr]` or `[addr]`),
//! which is ignored. Pointers are `%p` (`0x...`, or `(nil)` for NULL); sizes are `%#lx` (hex,
//! `0` without prefix). A realloc that grows in place writes `< p` then `> p size`. `free(NULL)`
//! writes nothing. `= End` only appears when the program calls `muntrace()`.
//!
//! # How it is replayed
//! - `+` is a `malloc`: the line does not say whether it came from calloc or memalign, so the
//!   alignment of a memalign is lost (replayed at the default 16).
//! - `-` is a `free`; `- (nil)` and `+ (nil) n` (a failed allocation) produce no event.
//! - `<` then `>` is one `realloc`, on the line of the `>`; other lines may come in between (a
//!   second thread). A `<` without its `>`, or a `>` without a `<`, is malformed.
//! - `!` is a failed realloc: no event, the old block stays live.
//! - `=` lines (`= Start`, `= End`) and blank lines produce no event.
//!
//! Validation and `--lenient` follow the native format (see [`super::csv`]), with one quirk in
//! practice: blocks allocated before `mtrace()` started (by the dynamic loader, or before the
//! call in the program) are freed in the trace but were never allocated in it. Strict parsing
//! stops at the first such `free` with a hint to use `--lenient`, which drops them.
//!
//! Messages specific to this format:
//! - `prog.mtrace:12: unrecognised line "..." (expected "+ PTR SIZE", "- PTR", "< PTR",
//!   "> PTR SIZE" or "! PTR SIZE", after an optional "@ caller")`
//! - `prog.mtrace:12: pointer "zz" is not hex (expected 0x... or (nil))`,
//!   `prog.mtrace:12: size "zz" is not hex`, `prog.mtrace:12: size 0x1ffffffffffffffff does
//!   not fit in 64 bits`
//! - `prog.mtrace:12: "> PTR SIZE" without the "< PTR" line of its realloc before it`
//! - `prog.mtrace:12: "< PTR" whose "> PTR SIZE" line never comes`
//! - `prog.mtrace:40: free of 0x55d0c0a2b2a0, which is not live (allocated before mtrace()
//!   started, or freed twice? --lenient skips such events)`

use super::builder::{parse_hex, show, Builder, NumError, Sink};
use super::csv_out::ImportSummary;
use super::event::{Op, ParseOptions, Trace, TraceError};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

const FREE_HINT: &str =
    "allocated before mtrace() started, or freed twice? --lenient skips such events";
const REALLOC_HINT: &str =
    "allocated before mtrace() started, or freed already? --lenient repairs such events";

/// Parse an mtrace file from `input`; `path` is only used in messages.
pub fn parse(input: impl Read, path: &Path, options: ParseOptions) -> Result<Trace, TraceError> {
    Builder::collect(path, options, |builder| read(input, path, builder))
}

/// Convert the mtrace file `input` (named `path` in messages) to the native CSV on `out`, with
/// the recorded pointers in hex, through the writer every importer shares (`csv_out.rs`).
///
/// The CSV holds exactly the events [`parse`] with the same `options` makes, so it parses
/// strictly to the same events: with `--lenient`, the repairs are written out as plain events
/// (a dropped free is left out; a realloc of a dead pointer becomes a `malloc`; an allocation of
/// a live pointer is preceded by a `free` of it). An input without events is an error, as
/// [`super::load`] would reject the output.
pub fn to_csv(
    input: impl Read,
    path: &Path,
    out: impl Write,
    options: ParseOptions,
) -> Result<ImportSummary, TraceError> {
    super::csv_out::convert(path, out, options, |builder| read(input, path, builder))
}

/// One line of the file, read.
enum Line {
    /// A marker (`= Start`), or blank.
    Nothing,
    /// `+ ptr size`
    Alloc { ptr: u64, size: u64 },
    /// `- ptr`
    Free { ptr: u64 },
    /// `< old`
    ReallocFrom { old: u64 },
    /// `> ptr size`
    ReallocTo { ptr: u64, size: u64 },
    /// `! old size`
    ReallocFailed { old: u64, size: u64 },
}

/// Feed every line of `input` to `builder`.
pub(crate) fn read<S: Sink>(
    input: impl Read,
    path: &Path,
    builder: &mut Builder<S>,
) -> Result<(), TraceError> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut text = Vec::with_capacity(128);
    let mut line = 0;
    // The `<` line of a realloc whose `>` has not come yet: (line, old pointer).
    let mut pending: Option<(u64, u64)> = None;
    loop {
        text.clear();
        let read = input
            .read_until(b'\n', &mut text)
            .map_err(|source| TraceError::read(path, line + 1, source))?;
        if read == 0 {
            break;
        }
        line += 1;
        let parsed = match read_line(text.trim_ascii()) {
            Ok(parsed) => parsed,
            Err(message) => {
                builder.malformed(line, || message)?;
                continue;
            }
        };
        match parsed {
            Line::Nothing => {}
            Line::Alloc { ptr, size } => builder.alloc(line, Op::Malloc, ptr, size, 0)?,
            Line::Free { ptr } => builder.free(line, ptr, FREE_HINT)?,
            Line::ReallocFrom { old } => {
                if let Some((from, _)) = pending.replace((line, old)) {
                    builder.malformed(from, dangling)?;
                }
            }
            Line::ReallocTo { ptr, size } => match pending.take() {
                Some((from, old)) => builder.realloc(line, from, old, ptr, size, REALLOC_HINT)?,
                None => builder.malformed(line, || {
                    "\"> PTR SIZE\" without the \"< PTR\" line of its realloc before it".into()
                })?,
            },
            // A size of 0 would read as realloc(p, 0), which frees; mtrace writes `!` only
            // for sizes above 0.
            Line::ReallocFailed { old, size } => {
                builder.realloc(line, line, old, 0, size.max(1), REALLOC_HINT)?
            }
        }
    }
    if let Some((from, _)) = pending {
        builder.malformed(from, dangling)?;
    }
    Ok(())
}

fn dangling() -> String {
    "\"< PTR\" whose \"> PTR SIZE\" line never comes".into()
}

/// Read one line (without its newline and surrounding spaces).
fn read_line(text: &[u8]) -> Result<Line, String> {
    if text.is_empty() || text[0] == b'=' {
        return Ok(Line::Nothing);
    }
    let unrecognised = || {
        format!(
            "unrecognised line \"{}\" (expected \"+ PTR SIZE\", \"- PTR\", \"< PTR\", \
             \"> PTR SIZE\" or \"! PTR SIZE\", after an optional \"@ caller\")",
            show(text)
        )
    };
    let words: Vec<&[u8]> =
        text.split(u8::is_ascii_whitespace).filter(|word| !word.is_empty()).collect();
    let n = words.len();
    // The op is found from the end: the caller is free text (a file name may hold spaces).
    let (op, args) = if n >= 2 && matches!(words[n - 2], b"-" | b"<") {
        (words[n - 2], &words[n - 1..])
    } else if n >= 3 && matches!(words[n - 3], b"+" | b">" | b"!") {
        (words[n - 3], &words[n - 2..])
    } else {
        return Err(unrecognised());
    };
    let caller = &words[..n - 1 - args.len()];
    if !(caller.is_empty() || caller[0] == b"@") {
        return Err(unrecognised());
    }
    let ptr = pointer(args[0])?;
    let size = || size(args[1]);
    Ok(match op {
        b"+" => Line::Alloc { ptr, size: size()? },
        b"-" => Line::Free { ptr },
        b"<" => Line::ReallocFrom { old: ptr },
        b">" => Line::ReallocTo { ptr, size: size()? },
        _ => Line::ReallocFailed { old: ptr, size: size()? },
    })
}

/// A `%p` pointer: `0x...` or `(nil)`.
fn pointer(text: &[u8]) -> Result<u64, String> {
    if text == b"(nil)" {
        return Ok(0);
    }
    let digits = text.strip_prefix(b"0x").unwrap_or(b"");
    parse_hex(digits).map_err(|error| match error {
        NumError::TooBig => format!("pointer {} does not fit in 64 bits", show(text)),
        _ => format!("pointer \"{}\" is not hex (expected 0x... or (nil))", show(text)),
    })
}

/// A `%#lx` size: `0x...`, or `0`.
fn size(text: &[u8]) -> Result<u64, String> {
    let digits = text.strip_prefix(b"0x").unwrap_or(text);
    parse_hex(digits).map_err(|error| match error {
        NumError::TooBig => format!("size {} does not fit in 64 bits", show(text)),
        _ => format!("size \"{}\" is not hex", show(text)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::Event;

    fn parse_str(text: &str, lenient: bool) -> Result<Trace, TraceError> {
        parse(
            text.as_bytes(),
            Path::new("t.mtrace"),
            ParseOptions { lenient, ..ParseOptions::default() },
        )
    }

    #[test]
    fn callers_of_every_shape_are_ignored() {
        let trace = parse_str(
            "= Start\n\
             @ ./prog:[0x401136] + 0x10 0x18\n\
             @ /lib/libc.so.6:(_IO_file_doallocate+8c)[0x758cc] + 0x20 0\n\
             @ [0x401136] - 0x10\n\
             - 0x20\n\
             = End\n",
            false,
        )
        .unwrap();
        assert_eq!(
            trace.events,
            [Event::malloc(0, 0x18), Event::malloc(1, 0), Event::free(0), Event::free(1)]
        );
        assert_eq!(trace.first_line, 2);
    }

    #[test]
    fn a_realloc_is_read_from_its_two_lines() {
        let trace = parse_str(
            "@ a + 0x10 0x18\n@ a < 0x10\n@ a > 0x40 0x64\n@ a < 0x40\n@ a > 0x40 0x80\n- 0x40\n",
            false,
        )
        .unwrap();
        assert_eq!(
            trace.events,
            [
                Event::malloc(0, 0x18),
                Event::realloc(0, 0x64),
                Event::realloc(0, 0x80),
                Event::free(0)
            ]
        );
        let lines: Vec<u64> = (0..4).map(|i| trace.line_of(i)).collect();
        assert_eq!(lines, [1, 3, 5, 6]);
    }
}
