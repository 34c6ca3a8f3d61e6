//! The one writer of native CSV ([`CsvWriter`]), and writing validated events back out as rows
//! with their recorded pointers ([`CsvSink`], [`convert`]): what the importers (`replay import`)
//! and `replay record` produce. Shared so that every converted file has the same columns and
//! parses strictly to the events the converter validated; `replay gen` and `replay convert`
//! write through the same writer.

use super::builder::{Builder, Sink};
use super::event::{Event, Op, ParseOptions, SkipKind, TraceError};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// What a conversion to CSV (an importer's `to_csv`) wrote and what it left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Events written: the CSV parses, strictly, to exactly these.
    pub events: u64,
    /// Block ids those events use.
    pub blocks: u32,
    /// Events dropped or repaired (only with `--lenient`), by kind.
    pub skipped: BTreeMap<SkipKind, u64>,
    /// Allocations that returned NULL and failed reallocs: they changed nothing, so the CSV
    /// leaves them out.
    pub failed: u64,
}

/// The native CSV's optional columns, after `op,ptr,size,old_ptr`, in this order. A writer
/// writes exactly the columns it was made with, in every row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Columns {
    pub align: bool,
    /// The offset of a `write` event (the safety lab).
    pub offset: bool,
    pub thread: bool,
    pub time_ns: bool,
}

impl Columns {
    /// What the importers and `replay record` write: `op,ptr,size,old_ptr,align,thread,time_ns`.
    pub const CONVERTED: Columns =
        Columns { align: true, offset: false, thread: true, time_ns: true };
}

/// One row of native CSV. A field that is `None` is written empty; `ptr` and `old_ptr` in
/// lowercase hex with `0x`, every other number in decimal.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CsvRow {
    pub ptr: u64,
    /// The requested size (a `write` event's length).
    pub size: Option<u64>,
    pub old_ptr: Option<u64>,
    pub align: Option<u64>,
    pub offset: Option<u64>,
    pub thread: Option<u64>,
    pub time_ns: Option<u64>,
}

/// The one writer of native CSV (`op,ptr,size,old_ptr,...`): the importers, `replay record`,
/// `replay gen` and `replay convert` to CSV all write through it. Rows are formatted by hand on
/// the stack and go to `out` in large writes (`write!` per field was most of a conversion's
/// time). Nothing reaches `out` before the buffer fills or [`CsvWriter::finish`].
pub(crate) struct CsvWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    columns: Columns,
}

/// Bytes buffered before a write to `out`.
const FLUSH_AT: usize = 1 << 18;

/// The longest row: "memalign," (the longest op with its comma), two 18-character hex fields,
/// five 20-digit decimal fields, the six commas between them and the newline.
const MAX_ROW: usize = 9 + 2 * 18 + 5 * 20 + 6 + 1;

impl<W: Write> CsvWriter<W> {
    /// A writer of `columns`; the header row is the first thing written.
    pub fn new(out: W, columns: Columns) -> CsvWriter<W> {
        let mut buf = Vec::with_capacity(FLUSH_AT + MAX_ROW);
        buf.extend_from_slice(b"op,ptr,size,old_ptr");
        for (present, name) in [
            (columns.align, &b",align"[..]),
            (columns.offset, b",offset"),
            (columns.thread, b",thread"),
            (columns.time_ns, b",time_ns"),
        ] {
            if present {
                buf.extend_from_slice(name);
            }
        }
        buf.push(b'\n');
        CsvWriter { out, buf, columns }
    }

    /// Write one row of `op`: the fields of `row` that are columns of this writer.
    #[inline]
    pub fn row(&mut self, op: Op, row: &CsvRow) -> std::io::Result<()> {
        let mut line = Line::new();
        line.push_str(match op {
            Op::Malloc => b"malloc,",
            Op::Calloc => b"calloc,",
            Op::Realloc => b"realloc,",
            Op::Free => b"free,",
            Op::Memalign => b"memalign,",
            Op::Write => b"write,",
        });
        line.push_hex(row.ptr);
        line.push(b',');
        if let Some(size) = row.size {
            line.push_dec(size);
        }
        line.push(b',');
        if let Some(old) = row.old_ptr {
            line.push_hex(old);
        }
        let columns = self.columns;
        for (present, value) in [
            (columns.align, row.align),
            (columns.offset, row.offset),
            (columns.thread, row.thread),
            (columns.time_ns, row.time_ns),
        ] {
            if present {
                line.push(b',');
                if let Some(n) = value {
                    line.push_dec(n);
                }
            }
        }
        line.push(b'\n');
        self.buf.extend_from_slice(&line.bytes[..line.len]);
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Write everything buffered to `out` and flush it; `out` back.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One row being formatted, on the stack: the buffer then takes it in one copy (a copy per
/// field, of a length unknown to the compiler, cost more than the formatting).
struct Line {
    bytes: [u8; MAX_ROW],
    len: usize,
}

impl Line {
    #[inline]
    fn new() -> Line {
        Line { bytes: [0; MAX_ROW], len: 0 }
    }

    #[inline]
    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    #[inline]
    fn push_str(&mut self, text: &[u8]) {
        self.bytes[self.len..self.len + text.len()].copy_from_slice(text);
        self.len += text.len();
    }

    /// Append `n` in decimal, as `{n}` writes it.
    #[inline]
    fn push_dec(&mut self, mut n: u64) {
        let digits = n.checked_ilog10().map_or(1, |d| d as usize + 1);
        let end = self.len + digits;
        for at in (self.len..end).rev() {
            self.bytes[at] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.len = end;
    }

    /// Append `n` in lowercase hex with a `0x` prefix, as `{n:#x}` writes it.
    #[inline]
    fn push_hex(&mut self, n: u64) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let nibbles = (64 - n.leading_zeros() as usize).div_ceil(4).max(1);
        self.push_str(b"0x");
        let end = self.len + nibbles;
        for (i, at) in (self.len..end).rev().enumerate() {
            self.bytes[at] = DIGITS[((n >> (4 * i)) & 0xF) as usize];
        }
        self.len = end;
    }
}

/// The builder's sink of a conversion to CSV: writes each validated event as a row of
/// [`Columns::CONVERTED`], with its recorded pointers. `thread` and `time_ns` are written as
/// they are set when the event comes (empty when `None`).
pub(crate) struct CsvSink<W: Write> {
    writer: CsvWriter<W>,
    pub thread: Option<u64>,
    pub time_ns: Option<u64>,
}

impl<W: Write> Sink for CsvSink<W> {
    #[inline]
    fn event(&mut self, event: Event, ptr: u64, old_ptr: u64) -> Result<(), TraceError> {
        let mut row =
            CsvRow { ptr, thread: self.thread, time_ns: self.time_ns, ..CsvRow::default() };
        match event.op {
            Op::Free => {}
            Op::Realloc => {
                row.size = Some(event.size);
                row.old_ptr = Some(old_ptr);
            }
            Op::Memalign => {
                row.size = Some(event.size);
                row.align = Some(event.align());
            }
            Op::Write => {
                return Err(TraceError::Write {
                    source: std::io::Error::other("write events are not converted"),
                })
            }
            Op::Malloc | Op::Calloc => row.size = Some(event.size),
        }
        self.writer.row(event.op, &row).map_err(|source| TraceError::Write { source })
    }

    #[inline]
    fn thread(&mut self, tid: Option<u64>) {
        self.thread = tid;
    }

    #[inline]
    fn time(&mut self, ns: Option<u64>) {
        self.time_ns = ns;
    }
}

/// A sink that writes a trace out as text ([`CsvSink`], and the writers of other formats):
/// what [`convert_into`] needs of it.
pub(crate) trait TextSink: Sink {
    /// Write everything buffered and flush.
    fn finish(self) -> std::io::Result<()>;
}

impl<W: Write> TextSink for CsvSink<W> {
    fn finish(self) -> std::io::Result<()> {
        self.writer.finish().map(drop)
    }
}

/// A text format written one line per event, with its recorded pointers and thread: what a
/// [`LineSink`] needs to know of it.
pub(crate) trait LineFormat {
    /// The format's name, for messages.
    const NAME: &'static str;
    /// The thread written where the input says none.
    const NO_THREAD: u64;
    /// Write `event`'s line to `out`; a `write` event, which no other tool's format has, is
    /// [`no_write_form`].
    fn line(
        out: &mut impl Write,
        tid: u64,
        event: &Event,
        ptr: u64,
        old_ptr: u64,
    ) -> std::io::Result<()>;
}

/// The error for a `write` event (the safety lab's) in a format that has no such line.
pub(crate) fn no_write_form(format: &str) -> std::io::Error {
    std::io::Error::other(format!("write events (the safety lab) have no {format} form"))
}

/// Writes validated events as lines of the format `F` (see [`LineFormat`]).
pub(crate) struct LineSink<W: Write, F> {
    out: std::io::BufWriter<W>,
    thread: Option<u64>,
    format: std::marker::PhantomData<F>,
}

impl<W: Write, F: LineFormat> LineSink<W, F> {
    pub(crate) fn new(out: W) -> LineSink<W, F> {
        LineSink {
            out: std::io::BufWriter::with_capacity(1 << 16, out),
            thread: None,
            format: std::marker::PhantomData,
        }
    }
}

impl<W: Write, F: LineFormat> Sink for LineSink<W, F> {
    fn event(&mut self, event: Event, ptr: u64, old_ptr: u64) -> Result<(), TraceError> {
        F::line(&mut self.out, self.thread.unwrap_or(F::NO_THREAD), &event, ptr, old_ptr)
            .map_err(|source| TraceError::Write { source })
    }

    fn thread(&mut self, tid: Option<u64>) {
        self.thread = tid;
    }
}

impl<W: Write, F: LineFormat> TextSink for LineSink<W, F> {
    fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> CsvSink<W> {
    /// A sink writing [`Columns::CONVERTED`] to `out`.
    pub(crate) fn new(out: W) -> CsvSink<W> {
        CsvSink { writer: CsvWriter::new(out, Columns::CONVERTED), thread: None, time_ns: None }
    }
}

/// Run `read` (a format's reader, feeding a builder) and write the CSV to `out`. An input
/// without events is an error, as [`super::load`] would reject the output.
pub(crate) fn convert<W: Write>(
    path: &Path,
    out: W,
    options: ParseOptions,
    read: impl FnOnce(&mut Builder<CsvSink<W>>) -> Result<(), TraceError>,
) -> Result<ImportSummary, TraceError> {
    convert_into(path, CsvSink::new(out), options, read)
}

/// [`convert`], writing through any [`TextSink`].
pub(crate) fn convert_into<K: TextSink>(
    path: &Path,
    sink: K,
    options: ParseOptions,
    read: impl FnOnce(&mut Builder<K>) -> Result<(), TraceError>,
) -> Result<ImportSummary, TraceError> {
    let mut builder = Builder::new(path, options, sink);
    read(&mut builder)?;
    let summary = builder.summary();
    builder.sink.finish().map_err(|source| TraceError::Write { source })?;
    if summary.events == 0 {
        return Err(TraceError::File {
            path: path.to_path_buf(),
            message: "the trace has no events (an empty trace cannot be replayed)".into(),
        });
    }
    Ok(ImportSummary {
        events: summary.events,
        blocks: summary.blocks,
        skipped: summary.skipped,
        failed: summary.failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(columns: Columns, rows: &[(Op, CsvRow)]) -> String {
        let mut writer = CsvWriter::new(Vec::new(), columns);
        for (op, row) in rows {
            writer.row(*op, row).unwrap();
        }
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn a_writer_writes_the_header_and_every_row_with_exactly_its_columns() {
        let rows = [
            (
                Op::Malloc,
                CsvRow { ptr: 0x10, size: Some(24), thread: Some(7), ..CsvRow::default() },
            ),
            (
                Op::Realloc,
                CsvRow { ptr: 0x20, size: Some(0), old_ptr: Some(0x10), ..CsvRow::default() },
            ),
            (
                Op::Memalign,
                CsvRow { ptr: 0x40, size: Some(8), align: Some(64), ..CsvRow::default() },
            ),
            (Op::Write, CsvRow { ptr: 0x40, size: Some(4), offset: Some(2), ..CsvRow::default() }),
            (Op::Free, CsvRow { ptr: 0x40, time_ns: Some(99), ..CsvRow::default() }),
        ];
        assert_eq!(
            written(Columns::default(), &rows),
            "op,ptr,size,old_ptr\nmalloc,0x10,24,\nrealloc,0x20,0,0x10\nmemalign,0x40,8,\n\
             write,0x40,4,\nfree,0x40,,\n"
        );
        assert_eq!(
            written(Columns { align: true, offset: true, ..Columns::default() }, &rows),
            "op,ptr,size,old_ptr,align,offset\nmalloc,0x10,24,,,\nrealloc,0x20,0,0x10,,\n\
             memalign,0x40,8,,64,\nwrite,0x40,4,,,2\nfree,0x40,,,,\n"
        );
        assert_eq!(
            written(Columns::CONVERTED, &rows),
            "op,ptr,size,old_ptr,align,thread,time_ns\nmalloc,0x10,24,,,7,\n\
             realloc,0x20,0,0x10,,,\nmemalign,0x40,8,,64,,\nwrite,0x40,4,,,,\nfree,0x40,,,,,99\n"
        );
    }

    #[test]
    fn the_longest_row_fits() {
        let max = Some(u64::MAX);
        let row = CsvRow {
            ptr: u64::MAX,
            size: max,
            old_ptr: max,
            align: max,
            offset: max,
            thread: max,
            time_ns: max,
        };
        let all = Columns { align: true, offset: true, thread: true, time_ns: true };
        let text = written(all, &[(Op::Memalign, row)]);
        assert_eq!(text.lines().nth(1).unwrap().len() + 1, MAX_ROW);
    }

    #[test]
    fn numbers_are_written_as_format_writes_them() {
        let mut values = vec![0, 1, 9, 10, 15, 16, 99, 100, 255, 256, u64::MAX, u64::MAX - 1];
        for shift in 0..64 {
            values.extend([1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1]);
            values.push(0x9E37_79B9_7F4A_7C15u64.rotate_left(shift));
            values.push(10u64.saturating_pow(shift / 3));
        }
        for n in values {
            let mut row = Line::new();
            row.push_hex(n);
            row.push(b' ');
            row.push_dec(n);
            assert_eq!(std::str::from_utf8(&row.bytes[..row.len]).unwrap(), format!("{n:#x} {n}"));
        }
    }
}
