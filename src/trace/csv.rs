//! PLACEHOLDER (being written on the `trace` branch).
use super::{ParseOptions, Trace, TraceError};
use std::io::Read;
use std::path::Path;

pub fn parse(_input: impl Read, path: &Path, _options: ParseOptions) -> Result<Trace, TraceError> {
    Err(TraceError::File { path: path.to_path_buf(), message: "parser not written yet".into() })
}
