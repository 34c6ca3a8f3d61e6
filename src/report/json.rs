//! `--json`: the machine-readable results, as the typed document of [`crate::results`] (the
//! same types `replay compare` reads them back with).

use super::{ExportError, Exporter, Report};
use crate::results::{Document, Settings, Tool, TraceInfo, SCHEMA_VERSION};

pub struct JsonExporter;

/// The document of a report.
pub fn document(report: &Report) -> Document {
    let t = &report.trace;
    Document {
        schema_version: SCHEMA_VERSION,
        tool: Tool::this(),
        trace: TraceInfo {
            path: t.path.clone(),
            format: t.format.to_string(),
            events: t.events,
            blocks: t.blocks,
            skipped: t.skipped.iter().map(|(k, v)| (k.name().to_string(), *v)).collect(),
            content_hash: t.content_hash.clone(),
        },
        settings: Settings {
            min_size: report.params.min_size,
            coalesce: report.params.coalesce,
            heap_limit: report.params.heap_limit,
            runs: report.timing.runs,
            timing_parallel: report.timing.parallel,
            clock_overhead_ns: report.clock_overhead_ns,
            samples: report.samples,
            guard: report.params.guard,
            test_slowdown: report.test_slowdown.clone(),
        },
        results: report.records(),
        verdict: Some(super::verdict::record(report)),
    }
}

impl Exporter for JsonExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        Ok(document(report).to_json()?)
    }
}
