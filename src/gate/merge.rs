//! `replay merge`: join the results of one trace replayed in separate jobs (a CI matrix, a batch
//! scheduler sharding strategies) into one document.

use super::compare::ResultFile;
use crate::results::{Document, Settings};

/// The settings two jobs must share: all of them but the clock's measured overhead.
fn comparable(s: &Settings) -> Settings {
    Settings { clock_overhead_ns: 0, ..s.clone() }
}

/// The first document with the results of all of them, in the order given. Errors when the
/// documents replayed different traces, used different settings or tool versions, or when a
/// strategy appears twice.
pub fn merge(files: &[ResultFile]) -> Result<Document, String> {
    let (first, rest) = files.split_first().ok_or("replay merge needs at least one result file")?;
    let Some(hash) = first.content_hash() else {
        return Err(format!("{} has no trace content hash: cannot tell its trace", first.name));
    };
    let mut merged = first.document.clone();
    // The first file's verdict ranks only its own results.
    merged.verdict = None;
    for f in rest {
        let d = &f.document;
        if f.content_hash() != Some(hash) {
            return Err(format!(
                "{} and {} replayed different traces ({} vs {})",
                first.name,
                f.name,
                hash,
                f.content_hash().unwrap_or("no content hash")
            ));
        }
        if comparable(&d.settings) != comparable(&first.document.settings) {
            let json = |s: &Settings| {
                serde_json::to_string(&comparable(s)).unwrap_or_else(|e| e.to_string())
            };
            return Err(format!(
                "{} and {} were run with different settings: {} vs {}",
                first.name,
                f.name,
                json(&first.document.settings),
                json(&d.settings)
            ));
        }
        if d.tool != first.document.tool {
            return Err(format!(
                "{} and {} come from different replay versions ({} vs {})",
                first.name, f.name, first.document.tool.version, d.tool.version
            ));
        }
        for r in &d.results {
            if merged.result(&r.allocator).is_some() {
                return Err(format!(
                    "{} has a result for \"{}\", which an earlier file already has",
                    f.name, r.allocator
                ));
            }
            merged.results.push(r.clone());
        }
    }
    Ok(merged)
}
