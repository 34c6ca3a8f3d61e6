//! `replay merge`: join the results of one trace replayed in separate jobs (a CI matrix, a batch
//! scheduler sharding strategies) into one document.

use super::compare::Document;
use serde_json::Value;

/// The first document with the results of all of them, in the order given. Errors when the
/// documents replayed different traces, used different settings or tool versions, or when a
/// strategy appears twice.
pub fn merge(documents: &[Document]) -> Result<Value, String> {
    let (first, rest) =
        documents.split_first().ok_or("replay merge needs at least one result file")?;
    let Some(hash) = first.content_hash() else {
        return Err(format!("{} has no trace content hash: cannot tell its trace", first.name));
    };
    let settings = |d: &Document| {
        let mut s = d.value["settings"].clone();
        if let Some(map) = s.as_object_mut() {
            map.remove("clock_overhead_ns");
        }
        s
    };
    let mut merged = first.value.clone();
    let mut results: Vec<Value> = first.results().to_vec();
    for d in rest {
        if d.content_hash() != Some(hash) {
            return Err(format!(
                "{} and {} replayed different traces ({} vs {})",
                first.name,
                d.name,
                hash,
                d.content_hash().unwrap_or("no content hash")
            ));
        }
        if settings(d) != settings(first) {
            return Err(format!(
                "{} and {} were run with different settings: {} vs {}",
                first.name,
                d.name,
                settings(first),
                settings(d)
            ));
        }
        if d.value["tool"] != first.value["tool"] {
            return Err(format!(
                "{} and {} come from different replay versions ({} vs {})",
                first.name, d.name, first.value["tool"]["version"], d.value["tool"]["version"]
            ));
        }
        for r in d.results() {
            if results.iter().any(|m| m["allocator"] == r["allocator"]) {
                return Err(format!(
                    "{} has a result for {}, which an earlier file already has",
                    d.name, r["allocator"]
                ));
            }
            results.push(r.clone());
        }
    }
    merged["results"] = Value::Array(results);
    Ok(merged)
}
