//! heaptrack's data files (`heaptrack.APP.PID.zst`, or `.gz`; decompressed by [`super::open`],
//! which checks every zstd frame's content checksum and every gzip member's CRC, so a damaged
//! file is refused rather than read as other events), in both of its formats. Checked against
//! heaptrack 1.4 (Debian 12, file format version 3).
//!
//! # The raw format (`heaptrack --raw`, what the preloaded library writes)
//! ```text
//! v 10400 3                      version lines, modules (m), traces (t), ...: no event
//! + 11c00 4 55ab2963a530         an allocation: size, trace index, pointer (all hex)
//! - 55ab2963a530                 a free: pointer
//! ```
//! Pointers are matched as in every format: a `-` frees the live block at that address.
//!
//! # The interpreted format (what `heaptrack` stores by default)
//! ```text
//! a 1d8 10                       allocation info #n (n counts `a` lines from 0): size, trace
//! + 2                            an allocation described by info #2
//! - 2                            a free of a block described by info #2
//! ```
//! The interpreted file has no pointers. **How frees are matched**: a `- n` frees the most
//! recently allocated block of info `n` that is still live (last in, first out). Every block of
//! one info has the same size, so the live bytes and blocks after every event are exactly those
//! of the recorded program, and so is everything measured from them (max live bytes, request
//! sizes); which of two equal blocks died first is a guess, so block lifetimes and the heap's
//! layout in a replay may differ from the program's. Blocks get made-up pointers (16, 32, ...,
//! never reused), which the CSV of `replay import` shows.
//!
//! heaptrack records a `realloc` as a free of the old block and an allocation of the new one,
//! so it is replayed that way. It also never writes a free of a pointer it did not see
//! allocated in the interpreted format; in the raw one, such frees (of blocks allocated before
//! heaptrack started) are errors, and `--lenient` drops them, as for mtrace.
//!
//! Lines of other kinds (`v X x I m t i s c R A #` and `*`) produce no event.
//!
//! # Messages
//! - `t.zst:9: unrecognised line "+ 1 2" (expected "+ SIZE TRACE PTR" or "+ INFO" ...)`
//! - `t.zst:9: unknown line kind "Q"`
//! - `t.zst:9: allocation info #7 is not defined by an "a SIZE TRACE" line before it`
//! - `t.zst:9: free of a block of allocation info #2, none of which is live`
//! - `t.zst:9: a raw "+ SIZE TRACE PTR" line in an interpreted file` (and the other way round)

use super::builder::{number_message, parse_hex, show, Builder, NumError, Sink};
use super::csv_out::ImportSummary;
use super::event::{Op, ParseOptions, Trace, TraceError};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

const FREE_HINT: &str =
    "allocated before heaptrack started, or freed twice? --lenient skips such events";

/// Parse a heaptrack file (already decompressed) from `input`; `path` is only for messages.
pub fn parse(input: impl Read, path: &Path, options: ParseOptions) -> Result<Trace, TraceError> {
    Builder::collect(path, options, |builder| read(input, path, builder))
}

/// Convert a heaptrack file to the native CSV on `out`.
pub fn to_csv(
    input: impl Read,
    path: &Path,
    out: impl Write,
    options: ParseOptions,
) -> Result<ImportSummary, TraceError> {
    super::csv_out::convert(path, out, options, |builder| read(input, path, builder))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Unknown,
    Raw,
    Interpreted,
}

fn hex(name: &str, text: &[u8]) -> Result<u64, String> {
    parse_hex(text).map_err(|e| match e {
        NumError::TooBig => number_message(name, text, e),
        _ => format!("{name} \"{}\" is not hex", show(text)),
    })
}

/// Fix the file's format at its first line that tells, and check later lines against it.
fn want(mode: &mut Mode, m: Mode) -> Result<(), String> {
    if *mode == Mode::Unknown {
        *mode = m;
    }
    if *mode == m {
        Ok(())
    } else if m == Mode::Raw {
        Err("a raw \"+ SIZE TRACE PTR\" line in an interpreted file".into())
    } else {
        Err("an interpreted \"+ INFO\" or \"a SIZE TRACE\" line in a raw file".into())
    }
}

pub(crate) fn read<S: Sink>(
    input: impl Read,
    path: &Path,
    builder: &mut Builder<S>,
) -> Result<(), TraceError> {
    let input = BufReader::with_capacity(1 << 16, input);
    let mut mode = Mode::Unknown;
    // Interpreted: size of each allocation info, and the made-up pointers of its live blocks.
    let mut infos: Vec<(u64, Vec<u64>)> = Vec::new();
    let mut next_ptr = 16u64;
    let mut line = 0u64;
    for text in input.split(b'\n') {
        let text = text.map_err(|source| TraceError::read(path, line + 1, source))?;
        line += 1;
        let words: Vec<&[u8]> =
            text.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).collect();
        let Some(kind) = words.first() else { continue };
        let outcome: Result<(), String> = match (*kind, &words[1..]) {
            (b"+", [size, _trace, ptr]) => {
                match (want(&mut mode, Mode::Raw), hex("size", size), hex("pointer", ptr)) {
                    (Ok(()), Ok(size), Ok(ptr)) => {
                        builder.alloc(line, Op::Malloc, ptr, size, 0)?;
                        Ok(())
                    }
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
                }
            }
            (b"+", [info]) => {
                match (want(&mut mode, Mode::Interpreted), hex("allocation info", info)) {
                    (Ok(()), Ok(info)) => match infos.get_mut(info as usize) {
                        Some((size, live)) => {
                            let ptr = next_ptr;
                            next_ptr += 16;
                            live.push(ptr);
                            let size = *size;
                            builder.alloc(line, Op::Malloc, ptr, size, 0)?;
                            Ok(())
                        }
                        None => Err(format!(
                            "allocation info #{info} is not defined by an \"a SIZE TRACE\" line \
                         before it"
                        )),
                    },
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            (b"-", [arg]) if mode == Mode::Interpreted => match hex("allocation info", arg) {
                Ok(info) => match infos.get_mut(info as usize).map(|(_, live)| live.pop()) {
                    Some(Some(ptr)) => {
                        builder.free(line, ptr, FREE_HINT)?;
                        Ok(())
                    }
                    Some(None) => {
                        builder.not_live(line, || {
                            format!(
                                "free of a block of allocation info #{info}, none of which is live"
                            )
                        })?;
                        Ok(())
                    }
                    None => Err(format!(
                        "allocation info #{info} is not defined by an \"a SIZE TRACE\" line \
                         before it"
                    )),
                },
                Err(e) => Err(e),
            },
            // Raw, or a file whose first event is a free: a pointer.
            (b"-", [ptr]) => match hex("pointer", ptr) {
                Ok(ptr) => {
                    builder.free(line, ptr, FREE_HINT)?;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            (b"a", [size, _trace]) => match (want(&mut mode, Mode::Interpreted), hex("size", size))
            {
                (Ok(()), Ok(size)) => {
                    infos.push((size, Vec::new()));
                    Ok(())
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            },
            (b"+" | b"-" | b"a", _) => Err(format!(
                "unrecognised line \"{}\" (expected \"+ SIZE TRACE PTR\" or \"+ INFO\", \
                 \"- PTR\" or \"- INFO\", \"a SIZE TRACE\")",
                show(&text)
            )),
            (
                b"v" | b"X" | b"x" | b"I" | b"m" | b"t" | b"i" | b"s" | b"c" | b"R" | b"A" | b"#"
                | b"*",
                _,
            ) => Ok(()),
            _ if kind.starts_with(b"#") => Ok(()),
            _ => Err(format!("unknown line kind \"{}\"", show(kind))),
        };
        if let Err(message) = outcome {
            builder.malformed(line, || message)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::Event;

    fn parse_str(text: &str, lenient: bool) -> Result<Trace, TraceError> {
        parse(
            text.as_bytes(),
            Path::new("t.zst"),
            ParseOptions { lenient, ..ParseOptions::default() },
        )
    }

    #[test]
    fn the_raw_format_matches_frees_by_pointer() {
        let trace =
            parse_str("v 10400 3\nm 1 x 55 0\n+ 10 4 aa0\n+ 20 4 bb0\n- aa0\nc 12\n- bb0\n", false)
                .unwrap();
        assert_eq!(
            trace.events,
            [Event::malloc(0, 16), Event::malloc(1, 32), Event::free(0), Event::free(1)]
        );
    }

    #[test]
    fn the_interpreted_format_frees_the_latest_live_block_of_an_info() {
        let trace =
            parse_str("v 10400 3\na 10 4\na 20 5\n+ 0\n+ 1\n+ 0\n- 0\n- 1\n- 0\n", false).unwrap();
        assert_eq!(
            trace.events,
            [
                Event::malloc(0, 16),
                Event::malloc(1, 32),
                Event::malloc(2, 16),
                Event::free(2),
                Event::free(1),
                Event::free(0)
            ]
        );
    }

    #[test]
    fn bad_heaptrack_lines_name_their_line() {
        let error = |text: &str| parse_str(text, false).unwrap_err().to_string();
        assert_eq!(
            error("a 10 4\n+ 3\n"),
            "t.zst:2: allocation info #3 is not defined by an \"a SIZE TRACE\" line before it"
        );
        assert_eq!(
            error("a 10 4\n- 0\n"),
            "t.zst:2: free of a block of allocation info #0, none of which is live"
        );
        assert_eq!(
            error("a 10 4\n+ 10 4 aa0\n"),
            "t.zst:2: a raw \"+ SIZE TRACE PTR\" line in an interpreted file"
        );
        assert_eq!(error("Q 1\n"), "t.zst:1: unknown line kind \"Q\"");
        assert_eq!(error("+ zz 4 aa0\n"), "t.zst:1: size \"zz\" is not hex");
        assert!(error("- aa0\n").starts_with("t.zst:1: free of 0xaa0, which is not live"));
    }
}
