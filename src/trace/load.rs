//! Loading a whole trace into memory in any [`Format`], and recognising an `.rtrace` file.

use super::event::{Format, ParseOptions, Trace, TraceError};
use super::input::{open_reporting, ReadProgress};
use super::{csv, heaptrack, mtrace, rep, rtrace};
use std::path::Path;

impl Format {
    /// The format of the file at `path`: an `.rtrace` file is recognised by its magic whatever
    /// `given` says (so `replay trace.rtrace` needs no `--format`); otherwise `given`.
    pub fn detect(path: &Path, given: Format) -> Format {
        if given == Format::Rtrace || rtrace::is_rtrace(path) {
            Format::Rtrace
        } else {
            given
        }
    }
}

/// Read and validate the trace at `path` in `format`.
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
    if Format::detect(path, format) == Format::Rtrace {
        return rtrace::Rtrace::open_with(path, options)?.load();
    }
    let input = open_reporting(path, progress)?;
    let trace = match format {
        Format::Csv => {
            // Only a plain file's length says how many events to expect.
            let compressed = path.extension().is_some_and(|ext| ext == "gz");
            let bytes = if compressed { 0 } else { std::fs::metadata(path).map_or(0, |m| m.len()) };
            csv::parse_with_size_hint(input, path, options, bytes)?
        }
        Format::Mtrace => mtrace::parse(input, path, options)?,
        Format::Heaptrack => heaptrack::parse(input, path, options)?,
        Format::Rep => rep::parse(input, path, options)?,
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
