//! The CS:APP malloc lab's `.rep` traces (Bryant and O'Hallaron, *Computer Systems: A
//! Programmer's Perspective*, the `mdriver` test driver).
//!
//! # The format
//! ```text
//! 20000      suggested heap size (ignored)
//! 2          number of block ids: every id is below it
//! 4          number of operations: the lines that follow
//! 1          weight (ignored)
//! a 0 512    allocate block id 0 of 512 bytes
//! r 0 640    realloc block 0 to 640 bytes
//! a 1 128
//! f 0        free block 0
//! ```
//! The four header numbers may share lines. Blank lines are ignored.
//!
//! # How it is replayed
//! The file names blocks by id, not by address: block id `n` is given the made-up pointer
//! `(n + 1) * 16`, which the CSV of `replay import` shows (so ids must be below `2^60 - 1`, or the
//! pointer would not fit in 64 bits: a larger id is a malformed line). An id that is allocated again after
//! its free is a new block, as in the driver. `a` is a `malloc`, `r` a `realloc`, `f` a `free`;
//! validation and `--lenient` are those of every format (see [`super::csv`]): an `f` or `r` of
//! an id that is not live is an error (`--lenient` drops the `f`, and reads the `r` as an `a`).
//!
//! # Messages
//! - `t.rep:2: header number "x" is not a number (expected four numbers: heap size, ids,
//!   operations, weight)`; `t.rep: the header needs four numbers, the file ends first`
//! - `t.rep:9: unrecognised line "q 1" (expected "a ID SIZE", "r ID SIZE" or "f ID")`
//! - `t.rep:9: id 7 is not below the header's 5 ids`
//! - `t.rep:9: id 1152921504606846976 is too large (ids must be below 1152921504606846975, so
//!   that the made-up pointer (id + 1) * 16 fits in 64 bits)`
//! - `t.rep:12: the header promises 10 operations, the file has 11` (also when it has fewer,
//!   on the last line)

use super::builder::{number_message, parse_number, show, Builder, Sink};
use super::csv_out::ImportSummary;
use super::event::{Op, ParseOptions, Trace, TraceError};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

const FREE_HINT: &str = "never allocated, or freed twice? --lenient skips such events";
const REALLOC_HINT: &str = "never allocated, or freed already? --lenient repairs such events";

/// Parse a `.rep` file from `input`; `path` is only used in messages.
pub fn parse(input: impl Read, path: &Path, options: ParseOptions) -> Result<Trace, TraceError> {
    Builder::collect(path, options, |builder| read(input, path, builder))
}

/// Convert a `.rep` file to the native CSV on `out` (pointers made up as in the module docs).
pub fn to_csv(
    input: impl Read,
    path: &Path,
    out: impl Write,
    options: ParseOptions,
) -> Result<ImportSummary, TraceError> {
    super::csv_out::convert(path, out, options, |builder| read(input, path, builder))
}

/// Ids are below this, so that the made-up pointer `(id + 1) * 16` fits in 64 bits.
const MAX_ID: u64 = u64::MAX / 16 - 1;

/// The made-up pointer of block id `id` (at most [`MAX_ID`]).
fn pointer(id: u64) -> u64 {
    (id + 1) * 16
}

pub(crate) fn read<S: Sink>(
    input: impl Read,
    path: &Path,
    builder: &mut Builder<S>,
) -> Result<(), TraceError> {
    let input = BufReader::with_capacity(1 << 16, input);
    let mut header: Vec<u64> = Vec::with_capacity(4);
    let mut ops = 0u64;
    let mut line = 0u64;
    for text in input.split(b'\n') {
        let text = text.map_err(|source| TraceError::read(path, line + 1, source))?;
        line += 1;
        let words: Vec<&[u8]> =
            text.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            continue;
        }
        if header.len() < 4 {
            for word in words {
                if header.len() == 4 {
                    return Err(builder.invalid(
                        line,
                        format!("\"{}\" after the four header numbers, on their line", show(word)),
                    ));
                }
                let n = parse_number(word).map_err(|_| {
                    builder.invalid(
                        line,
                        format!(
                            "header number \"{}\" is not a number (expected four numbers: heap \
                             size, ids, operations, weight)",
                            show(word)
                        ),
                    )
                })?;
                header.push(n);
            }
            continue;
        }
        ops += 1;
        let ids = header[1];
        let unrecognised = || {
            format!(
                "unrecognised line \"{}\" (expected \"a ID SIZE\", \"r ID SIZE\" or \"f ID\")",
                show(&text)
            )
        };
        let (op, id, size) = match words[..] {
            [op @ (b"a" | b"r"), id, size] => (op, id, Some(size)),
            [b"f", id] => (&b"f"[..], id, None),
            _ => {
                builder.malformed(line, unrecognised)?;
                continue;
            }
        };
        let id = match parse_number(id) {
            Ok(id) if id < ids && id <= MAX_ID => id,
            Ok(id) if id > MAX_ID => {
                builder.malformed(line, || {
                    format!(
                        "id {id} is too large (ids must be below {}, so that the made-up pointer \
                         (id + 1) * 16 fits in 64 bits)",
                        MAX_ID + 1
                    )
                })?;
                continue;
            }
            Ok(id) => {
                builder
                    .malformed(line, || format!("id {id} is not below the header's {ids} ids"))?;
                continue;
            }
            Err(e) => {
                builder.malformed(line, || number_message("id", id, e))?;
                continue;
            }
        };
        let size = match size.map(parse_number).transpose() {
            Ok(size) => size.unwrap_or(0),
            Err(e) => {
                builder.malformed(line, || number_message("size", size.unwrap_or(b""), e))?;
                continue;
            }
        };
        let ptr = pointer(id);
        match op {
            b"a" => builder.alloc(line, Op::Malloc, ptr, size, 0)?,
            b"r" => builder.realloc(line, line, ptr, ptr, size, REALLOC_HINT)?,
            _ => builder.free(line, ptr, FREE_HINT)?,
        }
    }
    if header.len() < 4 {
        return Err(TraceError::File {
            path: path.to_path_buf(),
            message: "the header needs four numbers (heap size, ids, operations, weight), the \
                      file ends first"
                .into(),
        });
    }
    if ops != header[2] {
        let promised = header[2];
        builder.malformed(line, || {
            format!("the header promises {promised} operations, the file has {ops}")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::Event;

    fn parse_str(text: &str) -> Result<Trace, TraceError> {
        parse(text.as_bytes(), Path::new("t.rep"), ParseOptions::default())
    }

    #[test]
    fn a_malloc_lab_trace_reads_as_malloc_realloc_free() {
        let trace = parse_str("20000\n2\n5\n1\na 0 512\nr 0 640\na 1 128\nf 0\nf 1\n").unwrap();
        assert_eq!(
            trace.events,
            [
                Event::malloc(0, 512),
                Event::realloc(0, 640),
                Event::malloc(1, 128),
                Event::free(0),
                Event::free(1)
            ]
        );
        assert_eq!(trace.line_of(0), 5);
    }

    #[test]
    fn an_id_allocated_again_after_its_free_is_a_new_block() {
        let trace = parse_str("0 1 4 1\na 0 8\nf 0\na 0 16\nf 0\n").unwrap();
        assert_eq!(trace.blocks, 2);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let error = |text: &str| parse_str(text).unwrap_err().to_string();
        assert_eq!(
            error("1\n2\n1\n1\nq 1\n"),
            "t.rep:5: unrecognised line \"q 1\" (expected \"a ID SIZE\", \"r ID SIZE\" or \"f ID\")"
        );
        assert_eq!(error("1 2 1 1\na 7 8\n"), "t.rep:2: id 7 is not below the header's 2 ids");
        assert_eq!(
            error("1 2 2 1\na 0 8\nf 1\n"),
            "t.rep:3: free of 0x20, which is not live (never allocated, or freed twice? \
             --lenient skips such events)"
        );
        assert_eq!(
            error("1 2 3 1\na 0 8\n"),
            "t.rep:2: the header promises 3 operations, the file has 1"
        );
        assert!(error("1 x 2 1\n").starts_with("t.rep:1: header number \"x\" is not a number"));
        assert!(error("1 2\n").starts_with("t.rep: the header needs four numbers"));
    }

    #[test]
    fn an_id_too_large_for_its_made_up_pointer_is_refused_not_wrapped() {
        // (2^60 + 1) * 16 would wrap around to the pointer of id 0.
        let text = "1 18446744073709551615 2 1\na 0 8\na 1152921504606846976 8\n";
        assert_eq!(
            parse_str(text).unwrap_err().to_string(),
            "t.rep:3: id 1152921504606846976 is too large (ids must be below 1152921504606846975, \
             so that the made-up pointer (id + 1) * 16 fits in 64 bits)"
        );
        let largest = format!("1 18446744073709551615 1 1\na {} 8\n", MAX_ID);
        assert_eq!(parse_str(&largest).unwrap().events, [Event::malloc(0, 8)]);
        let lenient = ParseOptions { lenient: true, ..ParseOptions::default() };
        let trace = parse(text.as_bytes(), Path::new("t.rep"), lenient).unwrap();
        assert_eq!(trace.events, [Event::malloc(0, 8)]);
    }
}
