//! Telling a trace's format from its content, so that `replay t.mtrace`, `replay -` and a
//! heaptrack `.zst` need no `--format`: the one place that decides ([`Format::resolve`]), used
//! by `replay`, `stats`, `convert`, `import` and (through the format name it hands over) the
//! real allocators' child processes.
//!
//! # How
//! An `.rtrace` is told by its magic bytes, whatever `--format` says (it is no text). Any other
//! file is opened as every reader opens it ([`super::open`]: gzip, zstd and a zip of one file
//! are told by their own first bytes and decompressed), and its first line that is neither
//! blank nor a `#` comment decides, the formats tried in the order of [`Format::ALL`]:
//!
//! | format | its first line |
//! |---|---|
//! | csv | a header: comma-separated names, one of them `op` |
//! | android | `TID: OP POINTER ...`, `OP` one of its operations (`1234: malloc 0x10 24`) |
//! | logalloc | `PID [TID] FUNCTION(ARGS)[=RESULT]`, a function of its own (`1 1 malloc(8)=#1`) |
//! | mtrace | `= Start`, an `@ CALLER` line, or `+ 0x... 0x...` (pointers with `0x` or `(nil)`) |
//! | heaptrack | `v VERSION ...`, or another of its one-letter lines (`+ SIZE TRACE PTR` without `0x`) |
//! | rep | one to four decimal numbers (the header) |
//!
//! A file with no such line (empty, or all comments) is read as CSV, whose parser then says
//! what is missing. A first line that is none of these is an error listing what was tried,
//! unless the name ends in `.csv`, `.mtrace` or `.rep` (before any `.gz`/`.zst`/`.zip`), which
//! then decides, so that a broken CSV gets the CSV parser's own message. `--format` overrides
//! all of this (but for an `.rtrace`).

use super::builder::show;
use super::event::{Format, TraceError};
use super::input::open;
use super::{android, logalloc, rtrace};
use std::io::Read;
use std::path::Path;

/// How much of the (decompressed) file detection reads at most.
const SNIFF_BYTES: u64 = 64 << 10;

impl Format {
    /// The format of the trace at `path`: an `.rtrace` whatever `given` says; otherwise
    /// `given`, or, without one, the format its content says (see the module docs).
    pub fn resolve(path: &Path, given: Option<Format>) -> Result<Format, TraceError> {
        if rtrace::is_rtrace(path) {
            return Ok(Format::Rtrace);
        }
        match given {
            Some(format) => Ok(format),
            None => detect(path),
        }
    }
}

/// The format of the trace at `path`, from its content (see the module docs).
pub fn detect(path: &Path) -> Result<Format, TraceError> {
    if rtrace::is_rtrace(path) {
        return Ok(Format::Rtrace);
    }
    let mut start = Vec::new();
    open(path)?
        .take(SNIFF_BYTES)
        .read_to_end(&mut start)
        .map_err(|source| TraceError::read(path, 1, source))?;
    let mut lines: Vec<&[u8]> = start.split(|&b| b == b'\n').collect();
    // A line cut off by the limit says nothing sure, unless it is the only one.
    if start.len() as u64 == SNIFF_BYTES && lines.len() > 1 {
        lines.pop();
    }
    let first = lines.iter().enumerate().find_map(|(at, line)| {
        let line = line.trim_ascii();
        (!line.is_empty() && !line.starts_with(b"#")).then_some((at as u64 + 1, line))
    });
    let Some((line, text)) = first else { return Ok(Format::Csv) };
    if let Some(format) = classify(text) {
        return Ok(format);
    }
    if let Some(format) = by_name(path) {
        return Ok(format);
    }
    Err(TraceError::Invalid {
        path: path.to_path_buf(),
        line,
        message: format!(
            "cannot tell the trace's format from this line, \"{}\": it reads as none of csv (a \
             header with an op column), android (\"TID: OP POINTER ...\"), logalloc (\"PID TID \
             FUNCTION(ARGS)=RESULT\"), mtrace (\"= Start\", \"@ CALLER + PTR SIZE\"), heaptrack \
             (\"v VERSION ...\"), rep (its header numbers) or rtrace (its magic bytes); give \
             the format with --format",
            show(text)
        ),
    })
}

/// The format that the first meaningful line `line` (trimmed) says, if any.
fn classify(line: &[u8]) -> Option<Format> {
    let words: Vec<&[u8]> = line.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).collect();
    let is_pointer = |w: &[u8]| w.starts_with(b"0x") || w == b"(nil)";
    let is_hex = |w: &[u8]| w.iter().all(u8::is_ascii_hexdigit);
    let is_decimal = |w: &[u8]| w.iter().all(u8::is_ascii_digit);
    if line.contains(&b',')
        && line.split(|&b| b == b',').any(|field| {
            let field = field.trim_ascii();
            field == b"op" || field == b"\"op\""
        })
    {
        return Some(Format::Csv);
    }
    if android::looks_like(line) {
        return Some(Format::Android);
    }
    if logalloc::looks_like(line) {
        return Some(Format::Logalloc);
    }
    match words[..] {
        [b"=", ..] | [b"@", ..] => return Some(Format::Mtrace),
        [b"+" | b">" | b"!", ptr, size]
            if is_pointer(ptr) && (is_pointer(size) || size == b"0") =>
        {
            return Some(Format::Mtrace)
        }
        [b"-" | b"<", ptr] if is_pointer(ptr) => return Some(Format::Mtrace),
        [b"v", ref rest @ ..] if !rest.is_empty() && rest.iter().all(|w| is_hex(w)) => {
            return Some(Format::Heaptrack)
        }
        [b"+", size, trace, ptr] if is_hex(size) && is_hex(trace) && is_hex(ptr) => {
            return Some(Format::Heaptrack)
        }
        [b"X" | b"x" | b"I" | b"m" | b"t" | b"i" | b"s" | b"c" | b"R" | b"A" | b"a", _, ..] => {
            return Some(Format::Heaptrack)
        }
        _ => {}
    }
    if (1..=4).contains(&words.len()) && words.iter().all(|w| is_decimal(w)) {
        return Some(Format::Rep);
    }
    None
}

/// The format the name of `path` says, for a file whose content says none.
fn by_name(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let name = [".gz", ".zst", ".zip"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(&name);
    [(".csv", Format::Csv), (".mtrace", Format::Mtrace), (".rep", Format::Rep)]
        .into_iter()
        .find_map(|(suffix, format)| name.ends_with(suffix).then_some(format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_formats_first_line_is_told_apart() {
        let cases: [(&str, Option<Format>); 16] = [
            ("op,ptr,size,old_ptr", Some(Format::Csv)),
            ("ptr,\"op\",size", Some(Format::Csv)),
            ("1234: malloc 0xabd0000 20", Some(Format::Android)),
            ("7: thread_done 0x0", Some(Format::Android)),
            ("18545 18545 malloc(32)=0x7f90495120e0", Some(Format::Logalloc)),
            ("1 jemalloc_stats()", Some(Format::Logalloc)),
            ("= Start", Some(Format::Mtrace)),
            ("@ ./prog:[0x11db] + 0x563b395502a0 0x18", Some(Format::Mtrace)),
            ("+ 0x563b395502a0 0x18", Some(Format::Mtrace)),
            ("- (nil)", Some(Format::Mtrace)),
            ("v 10400 3", Some(Format::Heaptrack)),
            ("+ 11c00 4 55ab2963a530", Some(Format::Heaptrack)),
            ("X /usr/bin/ls", Some(Format::Heaptrack)),
            ("20000", Some(Format::Rep)),
            ("20000 2 4 1", Some(Format::Rep)),
            ("malloc,0x10,8", None),
        ];
        for (line, format) in cases {
            assert_eq!(classify(line.as_bytes()), format, "{line}");
        }
    }

    #[test]
    fn a_name_decides_only_when_the_content_does_not() {
        assert_eq!(by_name(Path::new("a/t.csv.gz")), Some(Format::Csv));
        assert_eq!(by_name(Path::new("t.MTRACE")), Some(Format::Mtrace));
        assert_eq!(by_name(Path::new("t.txt")), None);
    }
}
