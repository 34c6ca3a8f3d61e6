//! Loading a whole trace into memory in any [`Format`].

use super::event::{Format, ParseOptions, Trace, TraceError};
use super::input::{open_reporting, Compression, ReadProgress};
use super::{android, csv, heaptrack, logalloc, mtrace, rep, rtrace};
use std::path::Path;

/// Read and validate the trace at `path` in `format` (an `.rtrace` is recognised by its magic
/// whatever `format` says; [`Format::resolve`] finds the format of a file).
pub fn load(path: &Path, format: Format, options: ParseOptions) -> Result<Trace, TraceError> {
    load_reporting(path, format, options, None)
}

/// [`load`], telling `progress` (if any) how much of the file was read as it goes.
pub fn load_reporting(
    path: &Path,
    format: Format,
    options: ParseOptions,
    progress: Option<ReadProgress>,
) -> Result<Trace, TraceError> {
    if format == Format::Rtrace || rtrace::is_rtrace(path) {
        return rtrace::Rtrace::open_with(path, options)?.load();
    }
    let input = open_reporting(path, progress)?;
    let trace = match format {
        Format::Csv => {
            // Only a plain file's length says how many events to expect.
            let compressed = Compression::of_file(path) != Compression::None;
            let bytes = if compressed { 0 } else { std::fs::metadata(path).map_or(0, |m| m.len()) };
            csv::parse_with_size_hint(input, path, options, bytes)?
        }
        Format::Mtrace => mtrace::parse(input, path, options)?,
        Format::Heaptrack => heaptrack::parse(input, path, options)?,
        Format::Rep => rep::parse(input, path, options)?,
        Format::Android => android::parse(input, path, options)?,
        Format::Logalloc => logalloc::parse(input, path, options)?,
        Format::Rtrace => unreachable!("handled above"),
    };
    if trace.events.is_empty() {
        return Err(TraceError::File {
            path: path.to_path_buf(),
            message: "the trace has no events (an empty trace cannot be replayed)".into(),
        });
    }
    Ok(trace)
}
