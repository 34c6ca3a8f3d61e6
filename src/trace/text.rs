//! Every text format behind one call: [`read`] feeds a trace of any text [`Format`] to a
//! builder, and [`convert`] writes one out in any text format ([`TextFormat`]): native CSV,
//! Android's `record_allocs` or Firefox's `logalloc`. What `replay convert`, `replay import`,
//! the loaders and the `.rtrace` writer share, so that a new format is added in one place.

use super::builder::{Builder, Sink};
use super::csv_out::{CsvSink, ImportSummary};
use super::event::{Format, ParseOptions, TraceError};
use super::{android, csv, heaptrack, logalloc, mtrace, rep};
use std::io::{Read, Write};
use std::path::Path;

/// Feed the trace `input` (named `path` in messages), of the text format `format`, to
/// `builder`. An `.rtrace` is not text: an error.
pub(crate) fn read<S: Sink>(
    format: Format,
    input: impl Read + Send,
    path: &Path,
    builder: &mut Builder<S>,
    options: ParseOptions,
) -> Result<(), TraceError> {
    match format {
        Format::Csv => csv::parse_into(input, path, builder, options),
        Format::Mtrace => mtrace::read(input, path, builder),
        Format::Heaptrack => heaptrack::read(input, path, builder),
        Format::Rep => rep::read(input, path, builder),
        Format::Android => android::read(input, path, builder),
        Format::Logalloc => logalloc::read(input, path, builder),
        Format::Rtrace => Err(TraceError::File {
            path: path.to_path_buf(),
            message: "is already an rtrace file".into(),
        }),
    }
}

/// The text formats a trace can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    /// The native CSV, with `thread` and `time_ns` columns.
    Csv,
    /// Android's `record_allocs` (see [`android`]).
    Android,
    /// Firefox's `logalloc`, raw (see [`logalloc`]).
    Logalloc,
}

/// Convert the trace `input` (named `path` in messages), of the text format `format`, to `to`
/// on `out`, with its recorded pointers. The output parses strictly to exactly the events that
/// parsing `input` with `options` makes (the `--lenient` repairs written out as plain events:
/// see [`super::mtrace::to_csv`]). An input without events is an error.
pub fn convert(
    input: impl Read + Send,
    path: &Path,
    format: Format,
    options: ParseOptions,
    out: impl Write,
    to: TextFormat,
) -> Result<ImportSummary, TraceError> {
    use super::csv_out::convert_into;
    match to {
        TextFormat::Csv => convert_into(path, CsvSink::new(out), options, |builder| {
            read(format, input, path, builder, options)
        }),
        TextFormat::Android => {
            convert_into(path, android::AndroidSink::new(out), options, |builder| {
                read(format, input, path, builder, options)
            })
        }
        TextFormat::Logalloc => {
            convert_into(path, logalloc::LogallocSink::new(out), options, |builder| {
                read(format, input, path, builder, options)
            })
        }
    }
}
