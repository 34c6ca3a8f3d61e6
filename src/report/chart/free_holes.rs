//! Free holes at the peak by size class: one stacked bar per simulated strategy, a segment per
//! hole size class (`free_holes_at_peak.classes` of the JSON), in percent of the strategy's
//! free bytes at the peak (bump's free bytes would squash everyone else's in bytes), with the
//! free bytes on top.

use super::common::*;
use super::size_classes::{compact_bytes, stacked_chart, Stack};
use crate::engine::at_peak::size_class;
use crate::report::breakdowns::class_name;
use crate::report::{ExportError, Report};

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let with: Vec<_> = rows
        .iter()
        .filter_map(|r| Some((r.label.clone(), r.record.free_holes_at_peak.as_ref()?)))
        .collect();
    let mut classes: Vec<(u32, String)> = with
        .iter()
        .flat_map(|(_, h)| h.classes.iter())
        .map(|c| (size_class(c.max_bytes), class_name(c.min_bytes, c.max_bytes)))
        .collect();
    classes.sort();
    classes.dedup();
    let stacks: Vec<Stack> = with
        .iter()
        .map(|(label, h)| Stack {
            label: label.clone(),
            segments: h
                .classes
                .iter()
                .map(|c| (size_class(c.max_bytes), 100.0 * c.bytes as f64 / h.bytes.max(1) as f64))
                .collect(),
            top: compact_bytes(h.bytes),
        })
        .collect();
    let caption = "Free holes at the peak event (address ranges below the footprint that no live \
                   block covers), per strategy: the share of its free bytes in holes of each \
                   size class; on top, the free bytes in all. A strategy whose free bytes are \
                   mostly in small holes cannot serve a large request without growing: that is \
                   its external fragmentation, in sizes. Real allocators are not broken down."
        .to_string();
    stacked_chart(
        ("free-holes", "Free holes at the peak by size", caption),
        ("Free bytes at the peak, by hole size", "hole size"),
        ("share of free bytes", "%"),
        &stacks,
        &classes,
    )
}
