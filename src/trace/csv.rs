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
//! - `thread`: the recorded thread of the call (any number: a kernel thread id, an index). The
//!   simulations replay in file order whatever it says; the real allocators replay each thread
//!   on an OS thread of its own (`real::threads`). An empty field is a thread of its own ("not
//!   said"). A trace whose lines all name one thread is single-threaded.
//! - `time_ns`: read but not used yet. When not empty it must be a number, so that a later
//!   version that uses it does not reject traces this one accepted.
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
//! | a quote that never closes | `trace.csv:3: a quoted field opens here and is never closed (a stray '"'?): the rest of the file would be read as one field` |
//!
//! A field that starts with `"` is quoted up to the next `"` that is not doubled, and may span
//! lines; a `"` elsewhere in a field is an ordinary byte. Every message names the line where its
//! record starts, however many lines its quoted fields span. Input quoted in a message is
//! escaped (control characters, bytes that are not UTF-8: see `builder::show`).
//!
//! A file without events is an error of [`super::load`].
//!
//! # Cost
//! A well-formed line is read in one pass over the input buffer, without copying: each field is
//! parsed as what its column holds (the op by name, numbers digit by digit) and must end at the
//! comma or newline where the header says; the csv crate reads only the header and every other
//! line (see `parse_into`). Per line, what remains is one pointer-map probe per allocation or
//! free and one pushed event: about half the time each. So on two cores, lines are read on one
//! while the other checks them. `cargo bench --bench parse` measures it that way and on one
//! thread (`--threads 1`), against the bare csv crate's record loop on one thread (which only
//! splits): the figures, and those of earlier versions, are in `benches/README.md` ("reading
//! traces").
//!
//! With `--lenient` ([`ParseOptions::lenient`]) every problem from "wrong number of fields" on is
//! counted in [`Trace::skipped`] instead, and the event dropped or repaired: a free of a dead
//! pointer is dropped; a realloc of a dead pointer becomes a malloc of the pointer it returned;
//! an allocation of a live pointer first frees the block that held it (its free must have been
//! lost, since an allocator cannot hand out a live address). Problems with the header are errors
//! even then: without columns, no line can be read; so is a quote that never closes, which
//! would otherwise drop the rest of the file as one malformed line.

use super::builder::{
    number_message, parse_number, show, Builder, Collect, NumError, Sink, HEX_DIGITS,
};
use super::event::{Op, ParseOptions, Trace, TraceError};
use csv::ByteRecord;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;

/// What a `free` of a dead pointer probably means.
const FREE_HINT: &str = "freed twice, or allocated before recording started?";
/// What a `realloc` of a dead pointer probably means.
const REALLOC_HINT: &str = "freed already, or allocated before recording started?";

/// The header every message suggests.
const EXAMPLE_HEADER: &str = "op,ptr,size,old_ptr";

/// Parse a native CSV trace from `input`; `path` is only used in messages.
pub fn parse(
    input: impl Read + Send,
    path: &Path,
    options: ParseOptions,
) -> Result<Trace, TraceError> {
    parse_with_size_hint(input, path, options, 0)
}

/// [`parse`], reserving room for the events of an input of `bytes` bytes (0: unknown).
pub fn parse_with_size_hint(
    input: impl Read + Send,
    path: &Path,
    options: ParseOptions,
    bytes: u64,
) -> Result<Trace, TraceError> {
    // Real traces take 25-40 bytes a line; a little too much room beats copying everything once.
    let capacity = usize::try_from(bytes / 24).unwrap_or(0).min(1 << 28);
    let mut builder = Builder::new(path, options, Collect(Vec::with_capacity(capacity)));
    builder.track_threads();
    parse_into(input, path, &mut builder, options)?;
    Ok(builder.into_trace())
}

/// Parse a native CSV trace from `input` into `builder`, event by event: memory stays O(live
/// blocks) whatever the sink does with the events.
///
/// Two paths read the same grammar ([`Lines`]). A well-formed line (every field where the
/// header says, each number plain decimal or hex, no quote) is parsed in one pass right in the
/// input buffer ([`fast_row`]): exactly the row the csv crate and `read_row` would make of it,
/// at a fraction of the cost. Anything else (the header, comments, blank lines, quoted fields,
/// which may span lines, and every line with a problem, so that its message comes from one
/// place) is read by the csv crate, which reads the same buffer through [`Feed`] a line at a
/// time, so that it holds nothing back when it returns a record and the fast path can take over
/// again at the next line.
///
/// Where the machine has two cores or more (and `options.one_thread` is off), the lines are
/// read on a thread of their own, a batch at a time, while this one checks them against the
/// live blocks (`builder`): the two halves of the work take about as long as each other.
/// Either way the events, messages and errors are the same, in the same order: the reading
/// thread stops at the first error it would report, and at the first the builder reports.
pub(crate) fn parse_into<S: Sink>(
    input: impl Read + Send,
    path: &Path,
    builder: &mut Builder<S>,
    options: ParseOptions,
) -> Result<(), TraceError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let beside = !options.one_thread && cores >= 2;
    parse_lines(Lines::new(input, path, true)?, builder, beside)
}

/// Feed `lines` to `builder`, reading them on another thread (`beside`) or on this one.
fn parse_lines<R: Read + Send, S: Sink>(
    lines: Lines<'_, R>,
    builder: &mut Builder<S>,
    beside: bool,
) -> Result<(), TraceError> {
    if lines.columns.offset.is_some() {
        builder.track_dead_pointers();
    }
    if lines.columns.thread.is_some() {
        builder.input_has_threads();
    }
    if beside {
        read_beside(lines, builder)
    } else {
        read_all(lines, builder)
    }
}

/// Feed every line to `builder`, on this thread.
fn read_all<R: Read, S: Sink>(
    mut lines: Lines<'_, R>,
    builder: &mut Builder<S>,
) -> Result<(), TraceError> {
    lines.each(|line| line.apply(builder))
}

/// Lines handed from the reading thread to the building one at a time: enough to make the
/// hand-over cheap, few enough to stay in the cache.
const BATCH_LINES: usize = 8192;

/// Feed every line to `builder`, reading them on another thread (see [`parse_into`]).
fn read_beside<R: Read + Send, S: Sink>(
    mut lines: Lines<'_, R>,
    builder: &mut Builder<S>,
) -> Result<(), TraceError> {
    std::thread::scope(|scope| {
        let (full, batches) = mpsc::sync_channel::<Vec<Line>>(4);
        let (emptied, empty) = mpsc::channel::<Vec<Line>>();
        let reading = scope.spawn(move || -> Result<(), TraceError> {
            let mut batch = Vec::with_capacity(BATCH_LINES);
            let read = lines.each(|line| {
                batch.push(line);
                if batch.len() == BATCH_LINES {
                    let next = empty.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH_LINES));
                    // Sending fails when the builder stopped (on an error of its own): nothing
                    // more to read then.
                    full.send(std::mem::replace(&mut batch, next)).map_err(|_| Stop::Built)?;
                }
                Ok(())
            });
            // The lines before an error go first: one of them may fail first.
            let _ = full.send(batch);
            match read {
                Err(Stop::Read(error)) => Err(error),
                Ok(()) | Err(Stop::Built) => Ok(()),
            }
        });
        let built = (|| {
            for mut batch in &batches {
                for line in batch.drain(..) {
                    line.apply(builder)?;
                }
                let _ = emptied.send(batch);
            }
            Ok(())
        })();
        // Stops the reading thread, if it is still reading, at its next batch.
        drop(batches);
        let read = reading.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        built.and(read)
    })
}

/// Why the reading thread stopped early.
enum Stop {
    /// The input could not be read.
    Read(TraceError),
    /// The builder stopped.
    Built,
}

impl From<TraceError> for Stop {
    fn from(error: TraceError) -> Stop {
        Stop::Read(error)
    }
}

/// One line of the trace, read and checked for form.
enum Line {
    /// A well-formed row, and its line.
    Row(u64, Row),
    /// A line that is not, and what is wrong with it.
    Malformed(u64, String),
}

impl Line {
    /// Check the line against the live blocks and record its event.
    #[inline]
    fn apply<S: Sink>(self, builder: &mut Builder<S>) -> Result<(), TraceError> {
        match self {
            Line::Row(line, row) => apply(builder, line, row),
            Line::Malformed(line, message) => builder.malformed(line, || message),
        }
    }
}

/// The lines of a native CSV trace, read and checked for form (see [`parse_into`]).
struct Lines<'a, R> {
    reader: csv::Reader<Feed<R>>,
    record: ByteRecord,
    columns: Columns,
    layout: Layout,
    path: &'a Path,
    /// Whether well-formed lines take the fast path (off in tests, to compare).
    fast: bool,
}

impl<'a, R: Read> Lines<'a, R> {
    /// Read the header of `input`.
    fn new(input: R, path: &'a Path, fast: bool) -> Result<Lines<'a, R>, TraceError> {
        // Line numbers: `Feed` counts the newlines handed out; a record's line is the count
        // before it, plus one. For records read by the csv crate, `Feed` follows the quotes in
        // the bytes it hands out (`Quoting`), so it knows the line where a record starts even
        // when a quoted field spans lines, and where a quote that never closes opened. For
        // that to hold, records end at `\n` only (a `\r` before it is stripped from the last
        // field, see `read_row`), and the input gets a final `\n` of its own (a blank line at
        // the end changes nothing).
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(1 << 16)
            .from_reader(Feed::new(input));
        let mut record = ByteRecord::new();
        let columns = read_header(&mut reader, &mut record, path)?;
        let layout = Layout::new(&columns);
        Ok(Lines { reader, record, columns, layout, path, fast })
    }

    /// Hand every line that is not blank or a comment to `f`, in order, until `f` fails. An
    /// error of its own only when the input cannot be read.
    #[inline]
    fn each<E: From<TraceError>>(
        &mut self,
        mut f: impl FnMut(Line) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            if self.fast {
                let feed = self.reader.get_mut();
                if let Some((row, len)) = fast_row(&feed.buf[feed.pos..feed.end], &self.layout) {
                    feed.pos += len;
                    feed.newlines += 1;
                    f(Line::Row(feed.newlines, row))?;
                    continue;
                }
            }
            // Not a well-formed line (or not a whole one in the buffer): the csv crate reads
            // the next record.
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(error) => {
                    let feed = self.reader.get_ref();
                    if error.is_io_error() {
                        // The line being read: every newline before it was handed out.
                        let line = feed.newlines + 1;
                        return Err(fatal_csv_error(self.path, line, error).into());
                    }
                    let line = feed.record_line;
                    f(Line::Malformed(line, format!("malformed CSV: {error}")))?;
                    continue;
                }
            }
            let feed = self.reader.get_ref();
            if let Some(opened) = feed.unterminated_quote() {
                return Err(unterminated_quote(self.path, opened).into());
            }
            let line = feed.record_line;
            match read_row(&self.record, &self.columns) {
                Ok(row) => f(Line::Row(line, row))?,
                Err(_) if is_blank(&self.record) => {}
                Err(message) => f(Line::Malformed(line, message))?,
            }
        }
    }
}

/// The error for a quoted field that opens on line `opened` and is never closed: the csv crate
/// would make one field of the rest of the file. Fatal even with `--lenient`, which would
/// otherwise drop the rest of the file as one malformed line.
#[cold]
fn unterminated_quote(path: &Path, opened: u64) -> TraceError {
    TraceError::Invalid {
        path: path.to_path_buf(),
        line: opened,
        message: "a quoted field opens here and is never closed (a stray '\"'?): the rest of \
                  the file would be read as one field"
            .into(),
    }
}

/// Where the bytes the csv crate has read stand in the CSV grammar, as far as quotes go: what
/// [`Feed`] tracks to know where a record starts and whether the input ended inside quotes.
/// The csv crate's own rules (RFC 4180, as its `Reader` is configured in [`Lines::new`]): a
/// field that starts with `"` is quoted until the next `"` that is not doubled; a `"` anywhere
/// else is an ordinary byte; a record that starts with `#` is a comment; blank lines are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quoting {
    /// At the start of a line, between records.
    RecordStart,
    /// At the start of a field within a record.
    FieldStart,
    /// Inside a field that is not quoted (or whose quotes closed).
    Unquoted,
    /// Inside quotes.
    Quoted,
    /// Right after a `"` inside quotes: it closes them unless another `"` follows.
    QuoteInQuoted,
    /// In a comment line.
    Comment,
}

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
    /// Where the bytes handed to the csv crate so far leave it (see [`Quoting`]).
    quoting: Quoting,
    /// The line the record the csv crate read last (or is reading) starts on.
    record_line: u64,
    /// The line of the quote that opened the quoted field the csv crate is in, if it is.
    quote_line: u64,
}

impl<R: Read> Feed<R> {
    fn new(source: R) -> Feed<R> {
        Feed {
            source,
            buf: vec![0; BLOCK],
            pos: 0,
            end: 0,
            eof: false,
            newlines: 0,
            quoting: Quoting::RecordStart,
            record_line: 1,
            quote_line: 0,
        }
    }

    /// Follow `bytes`, just handed to the csv crate, through the grammar of [`Quoting`]. They
    /// are on one line: only the last can be a newline.
    fn track(&mut self, bytes: &[u8]) {
        let line = self.newlines + 1;
        for &byte in bytes {
            let at_start = self.quoting == Quoting::RecordStart;
            if at_start && byte != b'\n' && byte != b'#' {
                self.record_line = line;
            }
            self.quoting = match (self.quoting, byte) {
                (Quoting::RecordStart, b'\n') => Quoting::RecordStart,
                (Quoting::RecordStart, b'#') => Quoting::Comment,
                (Quoting::Comment, b'\n') => Quoting::RecordStart,
                (Quoting::Comment, _) => Quoting::Comment,
                (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
                (Quoting::Quoted, _) => Quoting::Quoted,
                (Quoting::RecordStart | Quoting::FieldStart, b'"') => {
                    self.quote_line = line;
                    Quoting::Quoted
                }
                (Quoting::QuoteInQuoted, b'"') => Quoting::Quoted,
                (_, b',') => Quoting::FieldStart,
                (_, b'\n') => Quoting::RecordStart,
                (_, _) => Quoting::Unquoted,
            };
        }
    }

    /// The line of the quote that opened a field that is still open at the end of the input
    /// (the csv crate then ends the record there, without complaint), if any.
    fn unterminated_quote(&self) -> Option<u64> {
        (self.quoting == Quoting::Quoted && self.eof && self.pos == self.end)
            .then_some(self.quote_line)
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
        let newline = n > 0 && rest[n - 1] == b'\n';
        self.track(&out[..n]);
        // Only the last byte handed out can be a newline.
        if newline {
            self.newlines += 1;
        }
        Ok(n)
    }
}

/// What a column holds, for [`fast_row`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Op,
    /// A number, kept in this slot of [`fast_row`]'s values (see [`Slot`]).
    Number(u8),
    /// A column `replay` does not read.
    Other,
}

/// The slots of the numbers [`fast_row`] keeps.
struct Slot;

impl Slot {
    const PTR: u8 = 0;
    const SIZE: u8 = 1;
    const OLD_PTR: u8 = 2;
    const ALIGN: u8 = 3;
    const OFFSET: u8 = 4;
    const THREAD: u8 = 5;
    /// `time_ns`: checked, not kept.
    const CHECKED: u8 = 6;
    const COUNT: usize = 7;
}

/// The header's columns in order, for [`fast_row`].
struct Layout {
    roles: Vec<Role>,
    /// Whether the header has the column a realloc, a memalign or a write needs.
    old_ptr: bool,
    align: bool,
    offset: bool,
}

impl Layout {
    fn new(columns: &Columns) -> Layout {
        let mut roles = vec![Role::Other; columns.count];
        roles[columns.op] = Role::Op;
        roles[columns.ptr] = Role::Number(Slot::PTR);
        roles[columns.size] = Role::Number(Slot::SIZE);
        for (column, slot) in [
            (columns.old_ptr, Slot::OLD_PTR),
            (columns.align, Slot::ALIGN),
            (columns.offset, Slot::OFFSET),
            (columns.thread, Slot::THREAD),
            (columns.time_ns, Slot::CHECKED),
        ] {
            if let Some(index) = column {
                roles[index] = Role::Number(slot);
            }
        }
        Layout {
            roles,
            old_ptr: columns.old_ptr.is_some(),
            align: columns.align.is_some(),
            offset: columns.offset.is_some(),
        }
    }
}

/// The well-formed line at the start of `rest`, parsed in one pass, and its length with its
/// `\n`; `None` for anything else: a line with a problem (the slow path words the message), a
/// quote, a comment, a blank line, or no whole line in `rest`. Accepts a subset of what
/// `read_row` accepts, and makes the same `Row` of it: every field in the header's order, split
/// at commas and ended by `\n` (or `\r\n`); numbers of 1-19 decimal or `0x` and 1-16 hex
/// digits; ignored columns anything without a quote.
#[inline(always)] // one copy per caller: its result stays in registers
fn fast_row(rest: &[u8], layout: &Layout) -> Option<(Row, usize)> {
    // A comment, even where the first column is one whose text is ignored.
    if rest.first() == Some(&b'#') {
        return None;
    }
    let mut op = None;
    // The numbers read, and which were there (a bit per slot); empty fields are 0 and absent.
    let mut values = [0u64; Slot::COUNT];
    let mut present = 0u32;
    let mut at = 0;
    let last = layout.roles.len() - 1;
    for (index, &role) in layout.roles.iter().enumerate() {
        at = match role {
            Role::Number(slot) => {
                let (value, end) = number_at(rest, at)?;
                if end > at {
                    values[usize::from(slot)] = value;
                    present |= 1 << slot;
                }
                end
            }
            Role::Op => {
                let end = at
                    + rest
                        .get(at..)?
                        .iter()
                        .position(|&b| matches!(b, b',' | b'\n' | b'\r' | b'"'))?;
                op = Some(op_named(&rest[at..end])?);
                end
            }
            Role::Other => {
                at + rest
                    .get(at..)?
                    .iter()
                    .position(|&b| matches!(b, b',' | b'\n' | b'\r' | b'"'))?
            }
        };
        // The field's end: a comma, or the line's end after the last field.
        at = match (rest.get(at)?, index == last) {
            (b',', false) | (b'\n', true) => at + 1,
            (b'\r', true) if rest.get(at + 1) == Some(&b'\n') => at + 2,
            _ => return None,
        };
    }
    let op = op?;
    let has = |slot: u8| present & (1 << slot) != 0;
    let value = |slot: u8| values[usize::from(slot)];
    // What `read_row` requires of each op; anything missing is its message to give.
    let ok = has(Slot::PTR)
        && match op {
            Op::Free => true,
            Op::Realloc => layout.old_ptr && has(Slot::SIZE),
            Op::Memalign => layout.align && has(Slot::SIZE) && value(Slot::ALIGN).is_power_of_two(),
            Op::Write => layout.offset && has(Slot::SIZE) && has(Slot::OFFSET),
            _ => has(Slot::SIZE),
        };
    if !ok {
        return None;
    }
    let only = |wanted: Op, slot: u8| if op == wanted { value(slot) } else { 0 };
    let row = Row {
        op,
        ptr: value(Slot::PTR),
        size: value(Slot::SIZE),
        old_ptr: only(Op::Realloc, Slot::OLD_PTR),
        align: only(Op::Memalign, Slot::ALIGN),
        offset: only(Op::Write, Slot::OFFSET),
        thread: has(Slot::THREAD).then(|| value(Slot::THREAD)),
    };
    Some((row, at))
}

/// The number starting at `rest[at]` and where it ends: `(0, at)` for an empty field. `None`
/// for anything `fast_row` leaves to the slow path: no end in `rest`, a byte that is not a
/// digit, more digits than fit for sure, `0x` without digits.
#[inline(always)] // one copy per caller: its result stays in registers
fn number_at(rest: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut n: u64 = 0;
    let mut end = at;
    if rest.get(at) == Some(&b'0') && matches!(rest.get(at + 1), Some(b'x' | b'X')) {
        end += 2;
        loop {
            let digit = HEX_DIGITS[usize::from(*rest.get(end)?)];
            if digit > 0xF {
                break;
            }
            n = (n << 4) | u64::from(digit);
            end += 1;
        }
        let digits = end - at - 2;
        return (1..=16).contains(&digits).then_some((n, end));
    }
    loop {
        let digit = rest.get(end)?.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(digit));
        end += 1;
    }
    (end - at <= 19).then_some((n, end))
}

/// Whether `record` is a line of spaces (or the `\r` of an empty CRLF line).
#[cold]
fn is_blank(record: &ByteRecord) -> bool {
    record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace)
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
        Err(error) => {
            let line = if error.is_io_error() { reader.get_ref().newlines + 1 } else { 1 };
            return Err(fatal_csv_error(path, line, error));
        }
    };
    if !found {
        return Err(TraceError::File {
            path: path.to_path_buf(),
            message: format!(
                "the file is empty (expected a header row such as \"{EXAMPLE_HEADER}\")"
            ),
        });
    }
    if let Some(opened) = reader.get_ref().unterminated_quote() {
        return Err(unterminated_quote(path, opened));
    }
    let line = reader.get_ref().record_line;
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
    /// The recorded thread; `None` without a `thread` column or with an empty field.
    thread: Option<u64>,
}

/// Read `record`'s fields, or say what is wrong with them.
#[inline]
fn read_row(record: &ByteRecord, columns: &Columns) -> Result<Row, String> {
    if record.len() != columns.count {
        return Err(format!(
            "found {} fields, but the header names {}",
            record.len(),
            columns.count
        ));
    }
    // In bounds: the row has as many fields as the header. The `\r` of a CRLF line ends the
    // last field.
    let field = |index: usize| {
        let text = record.get(index).unwrap_or_default();
        text.strip_suffix(b"\r").unwrap_or(text)
    };
    let number = |name: &str, index: usize| {
        let text = field(index);
        parse_number(text).map_err(|error| number_message(name, text, error))
    };

    let op = match op_named(field(columns.op)) {
        Some(op) => op,
        None => {
            let other = field(columns.op);
            return Err(format!(
                "unknown op \"{}\" (expected one of malloc, calloc, realloc, free, memalign, \
                 write)",
                show(other)
            ));
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
    let mut thread = None;
    for (name, index) in [("thread", columns.thread), ("time_ns", columns.time_ns)] {
        if let Some(index) = index {
            if !field(index).is_empty() {
                let value = number(name, index)?;
                if name == "thread" {
                    thread = Some(value);
                }
            }
        }
    }
    Ok(Row { op, ptr, size, old_ptr, align, offset, thread })
}

/// The op a trace names `text`, if any.
#[inline(always)] // one copy per caller: its result stays in registers
fn op_named(text: &[u8]) -> Option<Op> {
    Some(match text {
        b"malloc" => Op::Malloc,
        b"free" => Op::Free,
        b"realloc" => Op::Realloc,
        b"calloc" => Op::Calloc,
        b"memalign" | b"aligned_alloc" | b"posix_memalign" => Op::Memalign,
        b"write" => Op::Write,
        _ => return None,
    })
}

/// Check `row` against the live blocks and record its event.
#[inline]
fn apply<S: Sink>(builder: &mut Builder<S>, line: u64, row: Row) -> Result<(), TraceError> {
    let Row { op, ptr, size, old_ptr, align, offset, thread } = row;
    builder.on_thread(thread);
    match op {
        Op::Free => builder.free(line, ptr, FREE_HINT),
        Op::Write => builder.write(line, ptr, offset, size),
        Op::Realloc => builder.realloc(line, line, old_ptr, ptr, size, REALLOC_HINT),
        _ => builder.alloc(line, op, ptr, size, align),
    }
}

fn fatal_csv_error(path: &Path, line: u64, error: csv::Error) -> TraceError {
    let message = format!("malformed CSV: {error}");
    match error.into_kind() {
        csv::ErrorKind::Io(source) => TraceError::read(path, line, source),
        _ => TraceError::Invalid { path: path.to_path_buf(), line, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What parsing `text` gives, with or without the fast path, on one thread or two, in a
    /// form that compares.
    fn outcome(text: &str, lenient: bool, fast: bool, beside: bool) -> Result<String, String> {
        let path = Path::new("t.csv");
        let options = ParseOptions { lenient, ..ParseOptions::default() };
        let mut builder = Builder::new(path, options, Collect::default());
        builder.track_threads();
        let parsed = Lines::new(text.as_bytes(), path, fast)
            .and_then(|lines| parse_lines(lines, &mut builder, beside));
        match parsed {
            Ok(()) => {
                let trace = builder.into_trace();
                Ok(format!(
                    "{:?} blocks {} first line {} gaps {:?} skipped {:?} threads {:?} {:?}",
                    trace.events,
                    trace.blocks,
                    trace.first_line,
                    trace.gaps,
                    trace.skipped,
                    trace.threads,
                    trace.thread_ids
                ))
            }
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn each_event_keeps_its_recorded_thread_in_order_of_first_appearance() {
        // The quoted line takes the csv crate's path; the others the fast one.
        let text = "op,ptr,size,thread\nmalloc,0x10,8,7\nmalloc,0x20,8,\"3\"\nfree,0x10,,7\n\
                    free,0x20,,\n";
        let trace = parse(text.as_bytes(), Path::new("t.csv"), ParseOptions::default()).unwrap();
        assert_eq!(trace.threads, [0, 1, 0, 2]);
        assert_eq!(trace.thread_ids, [Some(7), Some(3), None]);
    }

    #[test]
    fn a_trace_on_one_thread_or_without_the_column_keeps_no_threads() {
        for text in [
            "op,ptr,size,thread\nmalloc,0x10,8,5\nfree,0x10,,5\n",
            "op,ptr,size\nmalloc,0x10,8\nfree,0x10,\n",
        ] {
            let trace =
                parse(text.as_bytes(), Path::new("t.csv"), ParseOptions::default()).unwrap();
            assert!(trace.threads.is_empty() && trace.thread_ids.is_empty(), "{text}");
        }
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => (0u64..8).prop_map(|i| format!("{:#x}", i * 16)),
            2 => (0u64..8).prop_map(|i| format!("0X{:X}", i * 16 + 0xA0)),
            3 => (0u64..200).prop_map(|n| n.to_string()),
            2 => Just(String::new()),
            1 => prop::sample::select(vec![
                "0x", "0x00000000000000010", "0x1ffffffffffffffff", "99999999999999999999",
                "18446744073709551615", "007", "\"0x10\"", "\"", "1 ", " 1", "-1", "0x1g",
                "\"a,b\"", "\"x\ny\"",
            ])
            .prop_map(String::from),
            1 => "[ -~]{0,5}",
        ]
    }

    fn op() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "malloc",
            "malloc",
            "free",
            "free",
            "realloc",
            "calloc",
            "memalign",
            "aligned_alloc",
            "posix_memalign",
            "write",
            "mallok",
            "",
            "\"malloc\"",
            "malloc ",
        ])
        .prop_map(String::from)
    }

    /// A header (columns in any order, maybe an unknown one) and lines for it, near valid.
    fn document() -> impl Strategy<Value = String> {
        let names = prop::sample::subsequence(
            vec!["old_ptr", "align", "offset", "thread", "time_ns", "other"],
            0..=6,
        );
        (names, any::<u64>())
            .prop_flat_map(|(optional, seed)| {
                let mut columns = vec!["op", "ptr", "size"];
                columns.extend(optional);
                // A fixed shuffle of the columns, from the seed.
                let mut order: Vec<&str> = Vec::new();
                let mut state = seed | 1;
                for column in columns {
                    state =
                        state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let at = (state >> 33) as usize % (order.len() + 1);
                    order.insert(at, column);
                }
                let width = order.len();
                let op_column = order.iter().position(|&c| c == "op").unwrap_or(0);
                let line = (op(), prop::collection::vec(field(), width - 1), 0..24u8).prop_map(
                    move |(op, numbers, shape)| {
                        let mut numbers = numbers.into_iter();
                        // The op goes where its column is, but now and then elsewhere.
                        let op_at = if shape == 5 { width - 1 } else { op_column };
                        let fields: Vec<String> = (0..width)
                            .map(|i| if i == op_at { op.clone() } else { numbers.next().unwrap() })
                            .collect();
                        match shape {
                            0 => String::new(),
                            1 => format!("# {op}"),
                            2 => fields[..width - 1].join(","),
                            3 => format!("{},", fields.join(",")),
                            4 => format!("{}\r", fields.join(",")),
                            _ => fields.join(","),
                        }
                    },
                );
                (Just(order.join(",")), prop::collection::vec(line, 0..40))
            })
            .prop_map(|(header, lines)| format!("{header}\n{}", lines.join("\n")))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// The fast path and the reading thread are optimisations only: every input, valid or
        /// not, gives the same events, line numbers, repairs and errors with them as without.
        #[test]
        fn the_fast_path_parses_exactly_as_the_csv_crate_path(text in document()) {
            for lenient in [false, true] {
                let expected = outcome(&text, lenient, false, false);
                prop_assert_eq!(&outcome(&text, lenient, true, false), &expected);
                prop_assert_eq!(&outcome(&text, lenient, true, true), &expected);
            }
        }
    }

    /// Reads `text`, then fails.
    struct FailingAfter<'a>(&'a [u8]);

    impl Read for FailingAfter<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("the disk is on fire"));
            }
            let n = out.len().min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_comes_after_the_lines_before_it_on_one_thread_or_two() {
        let good: String = (0..20_000).map(|i| format!("malloc,{:#x},8\n", 16 * (i + 1))).collect();
        let bad = format!("{good}free,0x999990,\n");
        for (text, expected) in [
            (&good, "t.csv: the disk is on fire"),
            // The free of a pointer never allocated comes first.
            (&bad, "t.csv:20002: free of 0x999990, which is not live"),
        ] {
            for beside in [false, true] {
                let path = Path::new("t.csv");
                let input = format!("op,ptr,size\n{text}");
                let mut builder = Builder::new(path, ParseOptions::default(), Collect::default());
                let error = Lines::new(FailingAfter(input.as_bytes()), path, true)
                    .and_then(|lines| parse_lines(lines, &mut builder, beside))
                    .unwrap_err()
                    .to_string();
                assert!(error.starts_with(expected), "{error}");
            }
        }
    }

    #[test]
    fn well_formed_lines_take_the_fast_path() {
        let columns = Columns {
            count: 5,
            op: 1,
            ptr: 0,
            size: 2,
            old_ptr: Some(3),
            align: None,
            offset: None,
            thread: Some(4),
            time_ns: None,
        };
        let layout = Layout::new(&columns);
        let row = |line: &str| {
            fast_row(line.as_bytes(), &layout)
                .map(|(row, len)| (row.op, row.ptr, row.size, row.old_ptr, len))
        };
        assert_eq!(row("0x10,malloc,24,,7\n"), Some((Op::Malloc, 0x10, 24, 0, 18)));
        assert_eq!(row("0x20,realloc,0x40,0x10,\r\n"), Some((Op::Realloc, 0x20, 0x40, 0x10, 25)));
        assert_eq!(row("0x20,free,,0x99,\n"), Some((Op::Free, 0x20, 0, 0, 17)));
        // Left to the csv crate path: no whole line, a quote, a problem to word.
        assert_eq!(row("0x10,malloc,24,,7"), None);
        assert_eq!(row("\"0x10\",malloc,24,,7\n"), None);
        assert_eq!(row("0x10,malloc,,,7\n"), None);
        assert_eq!(row("0x10,malloc,24,,\n\n"), Some((Op::Malloc, 0x10, 24, 0, 17)));
        assert_eq!(row("0x10,malloc,24,,x\n"), None);
        assert_eq!(row("0x10,malloc,24\n"), None);
        assert_eq!(row("0x10,malloc,24,,7,8\n"), None);
        assert_eq!(row("0x,malloc,24,,7\n"), None);
        assert_eq!(row("0x1ffffffffffffffff,malloc,24,,7\n"), None);
    }
}
