//! `--report DIR`.
use super::{ExportError, Report};

/// One file of the report directory.
pub struct ReportFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

pub fn report_files(_report: &Report) -> Result<Vec<ReportFile>, ExportError> {
    Ok(vec![])
}
