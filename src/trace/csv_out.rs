//! Writing validated events back out as native CSV rows, with their recorded pointers: what the
//! importers (`replay import`) and `replay record` produce. Shared so that every converted file
//! has the same columns and parses strictly to the events the converter validated.

use super::builder::{Builder, Sink};
use super::mtrace::ImportSummary;
use super::{Event, Op, ParseOptions, TraceError};
use std::io::{BufWriter, Write};
use std::path::Path;

/// The header of every converted file.
pub(crate) const HEADER: &str = "op,ptr,size,old_ptr,align,thread,time_ns\n";

/// Writes each event as a row. `thread` and `time_ns` are written as they are set when the
/// event comes (empty when `None`).
pub(crate) struct CsvSink<W> {
    out: W,
    pub thread: Option<u64>,
    pub time_ns: Option<u64>,
}

impl<W: Write> Sink for CsvSink<W> {
    fn event(&mut self, event: Event, ptr: u64, old_ptr: u64) -> Result<(), TraceError> {
        let out = &mut self.out;
        match event.op {
            Op::Free => write!(out, "free,{ptr:#x},,,,"),
            Op::Realloc => write!(out, "realloc,{ptr:#x},{},{old_ptr:#x},,", event.size),
            Op::Memalign => {
                write!(out, "memalign,{ptr:#x},{},,{},", event.size, event.align())
            }
            Op::Write => Err(std::io::Error::other("write events are not converted")),
            op => write!(out, "{},{ptr:#x},{},,,", op.name(), event.size),
        }
        .and_then(|()| match self.thread {
            Some(t) => write!(out, "{t},"),
            None => out.write_all(b","),
        })
        .and_then(|()| match self.time_ns {
            Some(t) => writeln!(out, "{t}"),
            None => out.write_all(b"\n"),
        })
        .map_err(|source| TraceError::Write { source })
    }
}

/// Run `read` (a format's reader, feeding a builder) and write the CSV to `out`. An input
/// without events is an error, as [`super::load`] would reject the output.
pub(crate) fn convert<W: Write>(
    path: &Path,
    out: W,
    options: ParseOptions,
    read: impl FnOnce(&mut Builder<CsvSink<BufWriter<W>>>) -> Result<(), TraceError>,
) -> Result<ImportSummary, TraceError> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    out.write_all(HEADER.as_bytes()).map_err(|source| TraceError::Write { source })?;
    let sink = CsvSink { out, thread: None, time_ns: None };
    let mut builder = Builder::new(path, options, sink);
    read(&mut builder)?;
    builder.sink.out.flush().map_err(|source| TraceError::Write { source })?;
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
