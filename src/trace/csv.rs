//! The native trace format: CSV with a header row.
//!
//! ```text
//! op,ptr,size,old_ptr
//! malloc,0x55d0c0a2b2a0,24,
//! realloc,0x55d0c0a2b300,100,0x55d0c0a2b2a0
//! free,0x55d0c0a2b300,,
//! ```
//!
//! # Columns
//! The first row that is not a comment names the columns; their order is free, and columns
//! with other names are ignored.
//! - `op` (required): `malloc`, `calloc`, `realloc`, `free`, `memalign` (`aligned_alloc` and
//!   `posix_memalign` are read as `memalign`) or `write`.
//! - `ptr` (required): the pointer an allocation returned, or the one passed to `free`.
//! - `size` (required): the requested byte count (for `calloc`, already multiplied). Ignored for
//!   `free`, where it may be empty.
//! - `old_ptr`: the pointer passed to `realloc` (`ptr` is the one it returned). Needed as soon as
//!   the trace has a `realloc`.
//! - `align`: the alignment passed to `memalign`, a power of two. Needed as soon as the trace has
//!   a `memalign`. Replayed rounded up to at least 16.
//! - `offset`: for a `write` (the safety lab), bytes from the payload start to the first byte
//!   written; `size` is then the number of bytes written. Needed as soon as the trace has a
//!   `write`. Both must be below 4 GiB. `ptr` may be a pointer that is no longer live: that is a
//!   use-after-free, which the replay reports (a pointer never allocated is an error).
//! - `thread`, `time_ns`: read but not used yet. When not empty they must be numbers, so that a
//!   later version that uses them does not reject traces this one accepted.
//!
//! Numbers are decimal or hex with a `0x` prefix, without sign or spaces. Lines starting with
//! `#` are comments; blank lines are ignored. A field may be quoted (`"0x10"`), as CSV allows.
//! A `.csv.gz` file is decompressed on the fly by [`super::open`].
//!
//! # What C allows, and how it is replayed
//! - `free` of pointer 0 (`free(NULL)`) does nothing: no event.
//! - An allocation that returned 0 failed in the recorded program: no event.
//! - `realloc` with `old_ptr` 0 or empty (`realloc(NULL, n)`) is replayed as a `malloc`.
//! - `realloc(p, 0)` that returned 0 freed `p`: replayed as `free(p)`.
//! - `realloc(p, n)` with `n > 0` that returned 0 failed: `p` stays live, no event.
//! - `realloc` that returned its own `old_ptr` (grown in place) keeps its block, as any realloc.
//!
//! # Block ids
//! Each allocation gets the next id (0, 1, 2, ...); ids are never reused, even when the recorded
//! program reuses an address. A `realloc` keeps the id of its old block, now found at `ptr`.
//! (Streaming a large trace recycles the ids of freed blocks instead: see [`super::rtrace`].)
//!
//! # Validation
//! Strict by default: the first of these is an error naming the file and line.
//!
//! | problem | message |
//! |---|---|
//! | empty file | `trace.csv: the file is empty (expected a header row such as "op,ptr,size,old_ptr")` |
//! | header without a required column | `trace.csv:1: the header has no "ptr" column (required: op, ptr, size; optional: old_ptr, align, thread, time_ns)` |
//! | a column named twice | `trace.csv:1: the header names column "size" twice` |
//! | wrong number of fields | `trace.csv:4: found 2 fields, but the header names 4` |
//! | unknown op | `trace.csv:7: unknown op "mallok" (expected one of malloc, calloc, realloc, free, memalign, write)` |
//! | empty field | `trace.csv:3: size is missing` |
//! | not a number | `trace.csv:3: size "abc" is not a number` (pointers add a hint on the syntax) |
//! | too big | `trace.csv:9: size 99999999999999999999999 does not fit in 64 bits` |
//! | realloc without the column | `trace.csv:5: realloc needs an old_ptr column in the header` |
//! | memalign without the column | `trace.csv:5: memalign needs an align column in the header` |
//! | write without the column | `trace.csv:5: write needs an offset column in the header` |
//! | write through a pointer never allocated | `trace.csv:9: write to 0x10, which was never allocated in this trace` |
//! | bad alignment | `trace.csv:5: align 24 is not a power of two` |
//! | free of a dead pointer | `trace.csv:1042: free of 0x55d0c0a2b2a0, which is not live (freed twice, or allocated before recording started?)` |
//! | realloc of a dead pointer | `trace.csv:8: realloc of 0x10, which is not live (freed already, or allocated before recording started?)` |
//! | allocation of a live pointer | `trace.csv:6: malloc returned 0x10, which is still live (a free of it is missing from the trace?)` |
//! | malformed CSV | `trace.csv:12: malformed CSV: ...` (as the csv crate words it) |
//!
//! A file without events is an error of [`super::load`].
//!
//! # Cost
//! A plain line (no quote) is split in the input buffer, 8 bytes at a time, without copying; the
//! csv crate reads only the header and quoted records (see `parse_into`). Per line, what remains
//! is parsing its numbers, one pointer-map lookup per allocation or free, and one pushed event.
//! 57-67% of the speed of the bare csv crate's record loop on `cargo bench --bench parse` (was
//! 41-50%), about 435-505 MiB/s on a shared 2-core machine.
//!
//! With `--lenient` ([`ParseOptions::lenient`]) every problem from "wrong number of fields" on is
//! counted in [`Trace::skipped`] instead, and the event dropped or repaired: a free of a dead
//! pointer is dropped; a realloc of a dead pointer becomes a malloc of the pointer it returned;
//! an allocation of a live pointer first frees the block that held it (its free must have been
//! lost, since an allocator cannot hand out a live address). Problems with the header are errors
//! even then: without columns, no line can be read.

use super::builder::{number_message, parse_number, show, Builder, Collect, NumError, Sink};
use super::{Op, ParseOptions, Trace, TraceError};
use csv::ByteRecord;
use std::io::Read;
use std::path::Path;

/// What a `free` of a dead pointer probably means.
const FREE_HINT: &str = "freed twice, or allocated before recording started?";
/// What a `realloc` of a dead pointer probably means.
const REALLOC_HINT: &str = "freed already, or allocated before recording started?";

/// The header every message suggests.
const EXAMPLE_HEADER: &str = "op,ptr,size,old_ptr";

/// Parse a native CSV trace from `input`; `path` is only used in messages.
pub fn parse(input: impl Read, path: &Path, options: ParseOptions) -> Result<Trace, TraceError> {
    parse_with_size_hint(input, path, options, 0)
}

/// [`parse`], reserving room for the events of an input of `bytes` bytes (0: unknown).
pub fn parse_with_size_hint(
    input: impl Read,
    path: &Path,
    options: ParseOptions,
    bytes: u64,
) -> Result<Trace, TraceError> {
    // Real traces take 25-40 bytes a line; a little too much room beats copying everything once.
    let capacity = usize::try_from(bytes / 24).unwrap_or(0).min(1 << 28);
    let mut builder = Builder::new(path, options, Collect(Vec::with_capacity(capacity)));
    parse_into(input, path, &mut builder)?;
    Ok(builder.into_trace())
}

/// Parse a native CSV trace from `input` into `builder`, event by event: memory stays O(live
/// blocks) whatever the sink does with the events.
///
/// Two paths read the same grammar. A plain line (no `"`, not more than [`MAX_FIELDS`] fields)
/// is split at its commas right in the input buffer ([`Feed::next_plain`]): exactly what the csv
/// crate would make of it, at a fraction of the cost. Anything else (the header, quoted fields,
/// which may span lines) is read by the csv crate, which reads the same buffer through [`Feed`]
/// a line at a time, so that it holds nothing back when it returns a record and the fast path
/// can take over again at the next line. Both feed the same `read_row` and `apply`.
pub(crate) fn parse_into<S: Sink>(
    input: impl Read,
    path: &Path,
    builder: &mut Builder<S>,
) -> Result<(), TraceError> {
    // Line numbers: `Feed` counts the newlines handed out; a record's line is the count before
    // it, plus one (see `record_line` for records read by the csv crate). For that to hold,
    // records end at `\n` only (a `\r` before it is stripped from the last field, see
    // `read_row`), and the input gets a final `\n` of its own (a blank line at the end changes
    // nothing).
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(1 << 16)
        .from_reader(Feed::new(input));
    let mut record = ByteRecord::new();
    let columns = read_header(&mut reader, &mut record, path)?;
    if columns.offset.is_some() {
        builder.track_dead_pointers();
    }
    let mut ends = [0u32; MAX_FIELDS];
    loop {
        let feed = reader.get_mut();
        match feed.next_plain(&mut ends) {
            Ok(Plain::Line(start, len, fields)) => {
                let line = feed.newlines;
                let split = Split { line: &feed.buf[start..start + len], ends: &ends[..fields] };
                match read_row(&split, &columns) {
                    Ok(row) => apply(builder, line, row)?,
                    Err(message) if is_blank(&split) => drop(message),
                    Err(message) => builder.malformed(line, || message)?,
                }
                continue;
            }
            Ok(Plain::End) => break,
            Ok(Plain::Other) => {}
            Err(source) => return Err(TraceError::Io { path: path.to_path_buf(), source }),
        }
        // Not a plain line: the csv crate reads the next record, exactly as it always did.
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                let line = reader.get_ref().newlines;
                csv_error(builder, path, line, error)?;
                continue;
            }
        }
        let line = record_line(reader.get_ref(), &record);
        match read_row(&record, &columns) {
            Ok(row) => apply(builder, line, row)?,
            Err(message) if is_blank(&record) => drop(message),
            Err(message) => builder.malformed(line, || message)?,
        }
    }
    Ok(())
}

/// The line `record` (just read by the csv crate from `feed`) starts on. See `parse_into`.
#[inline]
fn record_line<R: Read>(feed: &Feed<R>, record: &ByteRecord) -> u64 {
    // Newlines inside quoted fields; none in any trace written by a program.
    let fields = record.as_slice();
    let inside =
        if fields.contains(&b'\n') { fields.iter().filter(|&&b| b == b'\n').count() } else { 0 };
    // `newlines` counts through the record's terminator.
    (feed.newlines + 1).saturating_sub(inside as u64 + 1)
}

/// The most fields a line may have to be split by the fast path; longer ones go to the csv
/// crate (and are an error anyway unless the header is as long).
const MAX_FIELDS: usize = 16;

/// Read block size. The buffer grows beyond it only for a line (or quoted record) that does not
/// fit.
const BLOCK: usize = 1 << 16;

/// The input, read a block at a time into a buffer that both paths of `parse_into` read: the
/// fast path directly, the csv crate through `Read`, one line per call. Counts the newlines
/// consumed, for line numbers, and adds the final `\n` after the last byte of the input.
struct Feed<R> {
    source: R,
    buf: Vec<u8>,
    /// Unread bytes: `buf[pos..end]`.
    pos: usize,
    end: usize,
    /// Whether `source` is exhausted (and the final `\n` added).
    eof: bool,
    /// Newlines consumed so far (by either path).
    newlines: u64,
}

/// What [`Feed::next_plain`] found at the start of the unread input.
enum Plain {
    /// A plain line at `buf[start..start + len]` (its `\n` excluded, and consumed), with the end
    /// of each of its fields in the `ends` given (this many of them).
    Line(usize, usize, usize),
    /// Something for the csv crate: a quote, too many fields (nothing consumed).
    Other,
    /// The end of the input.
    End,
}

/// A plain line split at its commas: field `i` ends at `ends[i]`, and starts after the comma
/// that ended field `i - 1`.
struct Split<'a> {
    line: &'a [u8],
    ends: &'a [u32],
}

/// A record's fields, however it was split.
trait Fields {
    fn count(&self) -> usize;
    /// Field `index`, which must be below `count()`.
    fn field(&self, index: usize) -> &[u8];
}

impl Fields for ByteRecord {
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn field(&self, index: usize) -> &[u8] {
        self.get(index).unwrap_or_default()
    }
}

impl Fields for Split<'_> {
    #[inline]
    fn count(&self) -> usize {
        self.ends.len()
    }
    #[inline]
    fn field(&self, index: usize) -> &[u8] {
        let start = if index == 0 { 0 } else { self.ends[index - 1] as usize + 1 };
        &self.line[start..self.ends[index] as usize]
    }
}

impl<R: Read> Feed<R> {
    fn new(source: R) -> Feed<R> {
        Feed { source, buf: vec![0; BLOCK], pos: 0, end: 0, eof: false, newlines: 0 }
    }

    /// Read more of the source after the unread bytes (moved to the front of the buffer, which
    /// grows if they fill it). `false`: nothing more to read.
    #[cold]
    fn refill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.source.read(&mut self.buf[self.end..])?;
        if n == 0 {
            self.eof = true;
            self.buf[self.end] = b'\n';
            self.end += 1;
        } else {
            self.end += n;
        }
        Ok(true)
    }

    /// Consume the blank and comment lines ahead, then the next line if it is plain. A line is
    /// blank if empty (the csv crate skips it; a line of spaces is a record, as there) and a
    /// comment if it starts with `#` (quotes in it mean nothing).
    #[inline]
    fn next_plain(&mut self, ends: &mut [u32; MAX_FIELDS]) -> std::io::Result<Plain> {
        loop {
            let rest = &self.buf[self.pos..self.end];
            let found = if rest.first() == Some(&b'#') {
                match rest.iter().position(|&b| b == b'\n') {
                    Some(len) => {
                        self.pos += len + 1;
                        self.newlines += 1;
                        continue;
                    }
                    None => None,
                }
            } else {
                match split(rest, ends) {
                    Scan::Line(len, fields) => Some((len, fields)),
                    Scan::Incomplete => None,
                    Scan::Other => return Ok(Plain::Other),
                }
            };
            match found {
                Some((0, _)) => {
                    self.pos += 1;
                    self.newlines += 1;
                }
                Some((len, fields)) => {
                    let start = self.pos;
                    self.pos += len + 1;
                    self.newlines += 1;
                    return Ok(Plain::Line(start, len, fields));
                }
                // No whole line left: read on. (The final `\n` ends every input.)
                None if self.refill()? => {}
                None if self.pos == self.end => return Ok(Plain::End),
                None => return Ok(Plain::Other),
            }
        }
    }
}

/// What [`split`] found.
enum Scan {
    /// A plain line of this many bytes (its `\n` excluded) and fields.
    Line(usize, usize),
    /// A quote, or too many fields.
    Other,
    /// No `\n`.
    Incomplete,
}

/// Split the line at the start of `rest` at its commas, writing the end of each field to
/// `ends`, if it is plain. Looks at 8 bytes at a time: fields are a dozen bytes or less, and
/// lines have 3 or 4 of them.
#[inline]
fn split(rest: &[u8], ends: &mut [u32; MAX_FIELDS]) -> Scan {
    let mut fields = 0;
    let mut i = 0;
    loop {
        // The next comma, newline or quote at or after `i`.
        let next = match rest.get(i..i + 8) {
            Some(word) => {
                let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
                let found = special_bytes(word);
                if found == 0 {
                    i += 8;
                    continue;
                }
                i + (found.trailing_zeros() / 8) as usize
            }
            None => match rest[i..].iter().position(|&b| matches!(b, b',' | b'\n' | b'"')) {
                Some(at) => i + at,
                None => return Scan::Incomplete,
            },
        };
        match rest[next] {
            b',' if fields + 1 < MAX_FIELDS => {
                ends[fields] = next as u32;
                fields += 1;
            }
            b'\n' => {
                ends[fields] = next as u32;
                return Scan::Line(next, fields + 1);
            }
            _ => return Scan::Other,
        }
        i = next + 1;
    }
}

/// The high bit of each byte of `word` (little-endian) that is a comma, newline or quote, and
/// maybe of some bytes after such a byte (never before the first one: use the lowest bit).
#[inline]
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The classic "has a zero byte": exact for the lowest zero byte, as the borrow only
    // propagates upwards.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    zero(word ^ (ONES * u64::from(b',')))
        | zero(word ^ (ONES * u64::from(b'\n')))
        | zero(word ^ (ONES * u64::from(b'"')))
}

/// The csv crate reads through this, a line at a time: when it has read a record, it has read
/// exactly through its `\n`, and kept nothing buffered that the fast path would miss.
impl<R: Read> Read for Feed<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.end && !self.refill()? {
            return Ok(0);
        }
        let rest = &self.buf[self.pos..self.end];
        let line = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        let n = line.min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        // Only the last byte handed out can be a newline.
        if n > 0 && rest[n - 1] == b'\n' {
            self.newlines += 1;
        }
        Ok(n)
    }
}

/// Whether `record` is a line of spaces (or the `\r` of an empty CRLF line).
#[cold]
fn is_blank(record: &impl Fields) -> bool {
    record.count() == 1 && record.field(0).iter().all(u8::is_ascii_whitespace)
}

/// Where each column is. Optional columns are `None` when the header does not name them.
struct Columns {
    /// Fields in the header; every row must have as many.
    count: usize,
    op: usize,
    ptr: usize,
    size: usize,
    old_ptr: Option<usize>,
    align: Option<usize>,
    offset: Option<usize>,
    thread: Option<usize>,
    time_ns: Option<usize>,
}

fn read_header<R: Read>(
    reader: &mut csv::Reader<Feed<R>>,
    record: &mut ByteRecord,
    path: &Path,
) -> Result<Columns, TraceError> {
    let found = match reader.read_byte_record(record) {
        Ok(found) => found,
        Err(error) => return Err(fatal_csv_error(path, 1, error)),
    };
    if !found {
        return Err(TraceError::File {
            path: path.to_path_buf(),
            message: format!(
                "the file is empty (expected a header row such as \"{EXAMPLE_HEADER}\")"
            ),
        });
    }
    let line = record_line(reader.get_ref(), record);
    let invalid = |message: String| TraceError::Invalid { path: path.to_path_buf(), line, message };

    let mut named: [Option<usize>; 8] = [None; 8];
    const NAMES: [&str; 8] =
        ["op", "ptr", "size", "old_ptr", "align", "thread", "time_ns", "offset"];
    for (index, name) in record.iter().enumerate() {
        let name = name.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(name); // a UTF-8 byte order mark
        let name = name.trim_ascii(); // also the `\r` of a CRLF line
        if let Some(which) = NAMES.iter().position(|n| n.as_bytes() == name) {
            if named[which].is_some() {
                return Err(invalid(format!("the header names column \"{}\" twice", NAMES[which])));
            }
            named[which] = Some(index);
        }
    }
    let required = |which: usize| {
        named[which].ok_or_else(|| {
            invalid(format!(
                "the header has no \"{}\" column (required: op, ptr, size; optional: old_ptr, \
                 align, offset, thread, time_ns)",
                NAMES[which]
            ))
        })
    };
    Ok(Columns {
        count: record.len(),
        op: required(0)?,
        ptr: required(1)?,
        size: required(2)?,
        old_ptr: named[3],
        align: named[4],
        thread: named[5],
        time_ns: named[6],
        offset: named[7],
    })
}

/// One row's fields, read and checked for form (not yet against the live blocks).
struct Row {
    op: Op,
    ptr: u64,
    size: u64,
    /// 0 when not a realloc, or `realloc(NULL, ..)`.
    old_ptr: u64,
    /// A power of two for memalign, 0 otherwise.
    align: u64,
    /// For a write: the offset into the payload; 0 otherwise.
    offset: u64,
}

/// Read `record`'s fields, or say what is wrong with them.
#[inline]
fn read_row(record: &impl Fields, columns: &Columns) -> Result<Row, String> {
    if record.count() != columns.count {
        return Err(format!(
            "found {} fields, but the header names {}",
            record.count(),
            columns.count
        ));
    }
    // In bounds: the row has as many fields as the header. The `\r` of a CRLF line ends the
    // last field.
    let field = |index: usize| {
        let text = record.field(index);
        text.strip_suffix(b"\r").unwrap_or(text)
    };
    let number = |name: &str, index: usize| {
        let text = field(index);
        parse_number(text).map_err(|error| number_message(name, text, error))
    };

    let op = match field(columns.op) {
        b"malloc" => Op::Malloc,
        b"free" => Op::Free,
        b"realloc" => Op::Realloc,
        b"calloc" => Op::Calloc,
        b"memalign" | b"aligned_alloc" | b"posix_memalign" => Op::Memalign,
        b"write" => Op::Write,
        other => {
            return Err(format!(
                "unknown op \"{}\" (expected one of malloc, calloc, realloc, free, memalign, \
                 write)",
                show(other)
            ))
        }
    };
    let ptr = number("ptr", columns.ptr)?;
    let size = match (op, parse_number(field(columns.size))) {
        (_, Ok(size)) => size,
        (Op::Free, Err(NumError::Empty)) => 0,
        (_, Err(error)) => return Err(number_message("size", field(columns.size), error)),
    };
    let old_ptr = match (op, columns.old_ptr) {
        (Op::Realloc, None) => {
            return Err("realloc needs an old_ptr column in the header".to_string())
        }
        (Op::Realloc, Some(index)) => match parse_number(field(index)) {
            Ok(old) => old,
            Err(NumError::Empty) => 0,
            Err(error) => return Err(number_message("old_ptr", field(index), error)),
        },
        _ => 0,
    };
    let align = match (op, columns.align) {
        (Op::Memalign, None) => {
            return Err("memalign needs an align column in the header".to_string())
        }
        (Op::Memalign, Some(index)) => {
            let align = number("align", index)?;
            if !align.is_power_of_two() {
                return Err(format!("align {align} is not a power of two"));
            }
            align
        }
        _ => 0,
    };
    let offset = match (op, columns.offset) {
        (Op::Write, None) => return Err("write needs an offset column in the header".to_string()),
        (Op::Write, Some(index)) => number("offset", index)?,
        _ => 0,
    };
    for (name, index) in [("thread", columns.thread), ("time_ns", columns.time_ns)] {
        if let Some(index) = index {
            if !field(index).is_empty() {
                number(name, index)?;
            }
        }
    }
    Ok(Row { op, ptr, size, old_ptr, align, offset })
}

/// Check `row` against the live blocks and record its event.
#[inline]
fn apply<S: Sink>(builder: &mut Builder<S>, line: u64, row: Row) -> Result<(), TraceError> {
    let Row { op, ptr, size, old_ptr, align, offset } = row;
    match op {
        Op::Free => builder.free(line, ptr, FREE_HINT),
        Op::Write => builder.write(line, ptr, offset, size),
        Op::Realloc => builder.realloc(line, line, old_ptr, ptr, size, REALLOC_HINT),
        _ => builder.alloc(line, op, ptr, size, align),
    }
}

/// A CSV-level error on a row: reading failed (always an error), or the row is malformed.
#[cold]
fn csv_error<S: Sink>(
    builder: &mut Builder<S>,
    path: &Path,
    line: u64,
    error: csv::Error,
) -> Result<(), TraceError> {
    if error.is_io_error() {
        return Err(fatal_csv_error(path, line, error));
    }
    builder.malformed(line, || format!("malformed CSV: {error}"))
}

fn fatal_csv_error(path: &Path, line: u64, error: csv::Error) -> TraceError {
    let message = format!("malformed CSV: {error}");
    match error.into_kind() {
        csv::ErrorKind::Io(source) => TraceError::Io { path: path.to_path_buf(), source },
        _ => TraceError::Invalid { path: path.to_path_buf(), line, message },
    }
}
