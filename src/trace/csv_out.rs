//! Writing validated events back out as native CSV rows, with their recorded pointers: what the
//! importers (`replay import`) and `replay record` produce. Shared so that every converted file
//! has the same columns and parses strictly to the events the converter validated.

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

/// The header of every converted file.
pub(crate) const HEADER: &str = "op,ptr,size,old_ptr,align,thread,time_ns\n";

/// Writes each event as a row. `thread` and `time_ns` are written as they are set when the
/// event comes (empty when `None`). Rows are formatted by hand into a buffer that goes to `out`
/// in large writes: `write!` per field was most of the conversion's time.
pub(crate) struct CsvSink<W> {
    out: W,
    buf: Vec<u8>,
    pub thread: Option<u64>,
    pub time_ns: Option<u64>,
}

/// Bytes buffered before a write to `out`.
const FLUSH_AT: usize = 1 << 18;

/// The longest row: "memalign," and five 20-digit (or 18-character hex) fields with commas.
const MAX_ROW: usize = 160;

impl<W: Write> CsvSink<W> {
    fn new(out: W) -> CsvSink<W> {
        CsvSink { out, buf: Vec::with_capacity(FLUSH_AT + MAX_ROW), thread: None, time_ns: None }
    }

    /// Write everything buffered to `out`, and flush it.
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

/// One row being formatted, on the stack: the buffer then takes it in one copy (a copy per
/// field, of a length unknown to the compiler, cost more than the formatting).
struct Row {
    bytes: [u8; MAX_ROW],
    len: usize,
}

impl Row {
    #[inline]
    fn new() -> Row {
        Row { bytes: [0; MAX_ROW], len: 0 }
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

impl<W: Write> Sink for CsvSink<W> {
    #[inline]
    fn event(&mut self, event: Event, ptr: u64, old_ptr: u64) -> Result<(), TraceError> {
        let mut row = Row::new();
        match event.op {
            Op::Free => {
                row.push_str(b"free,");
                row.push_hex(ptr);
                row.push_str(b",,,,");
            }
            Op::Realloc => {
                row.push_str(b"realloc,");
                row.push_hex(ptr);
                row.push(b',');
                row.push_dec(event.size);
                row.push(b',');
                row.push_hex(old_ptr);
                row.push_str(b",,");
            }
            Op::Memalign => {
                row.push_str(b"memalign,");
                row.push_hex(ptr);
                row.push(b',');
                row.push_dec(event.size);
                row.push_str(b",,");
                row.push_dec(event.align());
                row.push(b',');
            }
            Op::Write => {
                return Err(TraceError::Write {
                    source: std::io::Error::other("write events are not converted"),
                })
            }
            op @ (Op::Malloc | Op::Calloc) => {
                row.push_str(if op == Op::Calloc { b"calloc," } else { b"malloc," });
                row.push_hex(ptr);
                row.push(b',');
                row.push_dec(event.size);
                row.push_str(b",,,");
            }
        }
        if let Some(t) = self.thread {
            row.push_dec(t);
        }
        row.push(b',');
        if let Some(t) = self.time_ns {
            row.push_dec(t);
        }
        row.push(b'\n');
        self.buf.extend_from_slice(&row.bytes[..row.len]);
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf).map_err(|source| TraceError::Write { source })?;
            self.buf.clear();
        }
        Ok(())
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
    let mut sink = CsvSink::new(out);
    sink.buf.extend_from_slice(HEADER.as_bytes());
    let mut builder = Builder::new(path, options, sink);
    read(&mut builder)?;
    builder.sink.flush().map_err(|source| TraceError::Write { source })?;
    let summary = builder.summary();
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

    #[test]
    fn numbers_are_written_as_format_writes_them() {
        let mut values = vec![0, 1, 9, 10, 15, 16, 99, 100, 255, 256, u64::MAX, u64::MAX - 1];
        for shift in 0..64 {
            values.extend([1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1]);
            values.push(0x9E37_79B9_7F4A_7C15u64.rotate_left(shift));
            values.push(10u64.saturating_pow(shift / 3));
        }
        for n in values {
            let mut row = Row::new();
            row.push_hex(n);
            row.push(b' ');
            row.push_dec(n);
            assert_eq!(std::str::from_utf8(&row.bytes[..row.len]).unwrap(), format!("{n:#x} {n}"));
        }
    }
}
