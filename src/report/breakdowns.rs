//! "Where the waste is": the breakdowns of every simulated strategy's heap at the peak event
//! (`waste_by_size_class` and `free_holes_at_peak` of the JSON, defined in
//! [`crate::engine::at_peak`]) as tables: a section of the HTML report ([`html_section`]), of
//! the Markdown ([`markdown_section`]), and a long-format CSV, one row per strategy and class
//! ([`BreakdownsCsvExporter`]: `--breakdowns-csv FILE` and `breakdowns.csv` of `--report`).
//!
//! Everything is read from the records ([`Report::records`]), as the JSON has it.

use super::{human_bytes, ExportError, Exporter, Report};
use crate::engine::at_peak::{class_bounds, size_class};
use crate::results::ResultRecord;
use crate::words::count;

/// The records that have breakdowns (the simulated strategies), in report order.
fn broken_down(report: &Report) -> Vec<ResultRecord> {
    let records = report.records().into_iter();
    records.filter(|r| r.waste_by_size_class.is_some() && r.free_holes_at_peak.is_some()).collect()
}

/// Size class `class`'s name (holes are never empty: their first class is `1-16 B`).
fn class_label(class: u32, holes: bool) -> String {
    let (min, max) = class_bounds(class);
    class_name(if holes { min.max(1) } else { min }, max)
}

/// A size class's name from its bounds, in the tables and the charts: `0-16 B` (holes: `1-16
/// B`), `17-32 B`, ..., `513-1024 B`, then `1-2 KiB`, `2-4 KiB`, ... (from 1 KiB up the lower
/// end is the class below's top, not included).
pub fn class_name(min: u64, max: u64) -> String {
    if max <= 1024 {
        return format!("{min}-{max} B");
    }
    if max == u64::MAX {
        return "> 8 EiB".into();
    }
    let lo = max / 2;
    let (shift, name) = match lo {
        b if b >= 1 << 30 => (30, "GiB"),
        b if b >= 1 << 20 => (20, "MiB"),
        _ => (10, "KiB"),
    };
    format!("{}-{} {name}", lo >> shift, max >> shift)
}

/// The classes any record has, smallest first.
fn classes_of(records: &[ResultRecord], holes: bool) -> Vec<u32> {
    let mut classes: Vec<u32> = records
        .iter()
        .flat_map(|r| -> Vec<u32> {
            if holes {
                let h = r.free_holes_at_peak.iter().flat_map(|h| h.classes.iter());
                h.map(|c| size_class(c.max_bytes)).collect()
            } else {
                let w = r.waste_by_size_class.iter().flatten();
                w.map(|c| size_class(c.max_bytes)).collect()
            }
        })
        .collect();
    classes.sort_unstable();
    classes.dedup();
    classes
}

/// A ratio in percent, for a cell.
fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{:.2}%", r * 100.0))
}

/// A summary row's cell of one record.
type Cell = fn(&ResultRecord) -> String;

/// The two tables, as rows of cells: `(caption, id, header, rows)`; a row's first cell names it.
type Table = (&'static str, &'static str, Vec<String>, Vec<Vec<String>>);

fn tables(report: &Report) -> Vec<Table> {
    let records = broken_down(report);
    if records.is_empty() {
        return vec![];
    }
    let mut header = vec!["requested size".to_string()];
    header.extend(records.iter().map(|r| r.allocator.clone()));
    let mut waste_rows: Vec<Vec<String>> = classes_of(&records, false)
        .into_iter()
        .map(|class| {
            let mut row = vec![class_label(class, false)];
            row.extend(records.iter().map(|r| {
                let w = r.waste_by_size_class.iter().flatten();
                let c = w.into_iter().find(|c| size_class(c.max_bytes) == class);
                c.map_or("-".into(), |c| {
                    format!(
                        "{} ({})",
                        human_bytes(c.waste_bytes),
                        count(c.blocks, "block", "blocks")
                    )
                })
            }));
            row
        })
        .collect();
    let mut total = vec!["all: waste (internal fragmentation)".to_string()];
    total.extend(records.iter().map(|r| {
        let sum: u64 = r.waste_by_size_class.iter().flatten().map(|c| c.waste_bytes).sum();
        format!("{} ({})", human_bytes(sum), percent(r.internal_fragmentation))
    }));
    waste_rows.push(total);

    let mut hole_header = vec!["hole size".to_string()];
    hole_header.extend(records.iter().map(|r| r.allocator.clone()));
    let mut hole_rows: Vec<Vec<String>> = classes_of(&records, true)
        .into_iter()
        .map(|class| {
            let mut row = vec![class_label(class, true)];
            row.extend(records.iter().map(|r| {
                let h = r.free_holes_at_peak.iter().flat_map(|h| h.classes.iter());
                let c = h.into_iter().find(|c| size_class(c.max_bytes) == class);
                c.map_or("-".into(), |c| {
                    format!("{} ({})", human_bytes(c.bytes), count(c.holes, "hole", "holes"))
                })
            }));
            row
        })
        .collect();
    let summary: [(&str, Cell); 4] = [
        ("free bytes at the peak", |r| r.at_peak.map_or("-".into(), |a| human_bytes(a.free_bytes))),
        ("largest hole", |r| {
            r.free_holes_at_peak.as_ref().map_or("-".into(), |h| human_bytes(h.largest_bytes))
        }),
        ("largest satisfiable request", |r| {
            r.at_peak.map_or("-".into(), |a| human_bytes(a.largest_satisfiable_bytes))
        }),
        ("external fragmentation", |r| percent(r.external_fragmentation)),
    ];
    for (name, cell) in summary {
        let mut row = vec![name.to_string()];
        row.extend(records.iter().map(cell));
        hole_rows.push(row);
    }
    vec![
        (
            "Internal waste at the peak by request size class: waste bytes (consumed minus \
             requested) of the blocks live at the peak event whose request is in the class, \
             and how many they are.",
            "waste-table",
            header,
            waste_rows,
        ),
        (
            "Free holes at the peak by size: bytes and count of the address ranges below the \
             footprint that no live block covers, per hole size class; then what external \
             fragmentation's ratio means in bytes: the free bytes, the largest hole, and the \
             largest request the strategy itself could serve (at most the largest hole; smaller \
             when its free lists keep neighbouring free bytes apart).",
            "holes-table",
            hole_header,
            hole_rows,
        ),
    ]
}

/// The HTML section "Where the waste is" (nothing when no strategy has breakdowns), its text
/// made safe by `escape` (the page's own, passed in: `html.rs` calls this file).
pub fn html_section(out: &mut String, report: &Report, escape: fn(&str) -> String) {
    let tables = tables(report);
    if tables.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"waste\">Where the waste is</h2>\n");
    out.push_str(
        "<p class=\"note\">At the peak event, for every simulated strategy: the internal waste \
         by the size class of the requests, and the free holes by their size. The classes add \
         up to the at-peak figures of the results table. Also in <a href=\"breakdowns.csv\">\
         breakdowns.csv</a> and in the JSON (<code>waste_by_size_class</code>, \
         <code>free_holes_at_peak</code>).</p>\n",
    );
    for (caption, id, header, rows) in tables {
        // The caption is a paragraph above the table, not a <caption>: a wide table scrolls
        // inside its box, and a caption would be as wide as the table, cut off at the box.
        out.push_str(&format!(
            "<p class=\"note\">{}</p>\n<div style=\"overflow-x: auto\"><table id=\"{id}\">\n<tr>",
            escape(caption)
        ));
        for h in &header {
            out.push_str(&format!("<th>{}</th>", escape(h)));
        }
        out.push_str("</tr>\n");
        for row in rows {
            out.push_str("<tr>");
            for cell in row {
                out.push_str(&format!("<td>{}</td>", escape(&cell)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table></div>\n");
    }
}

/// The Markdown section "Where the waste is" (nothing when no strategy has breakdowns).
pub fn markdown_section(out: &mut String, report: &Report) {
    let tables = tables(report);
    if tables.is_empty() {
        return;
    }
    out.push_str("\n### Where the waste is\n");
    for (caption, _, header, rows) in tables {
        out.push_str(&format!("\n{caption}\n\n| {} |\n|---|", header.join(" | ")));
        out.push_str(&"---:|".repeat(header.len() - 1));
        out.push('\n');
        for row in rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
}

/// The name of the long-format CSV in a `--report` directory.
pub const REPORT_FILE: &str = "breakdowns.csv";

/// The header of the long-format CSV.
pub const CSV_HEADER: [&str; 8] = [
    "allocator",
    "breakdown",
    "class_min_bytes",
    "class_max_bytes",
    "count",
    "bytes",
    "requested_bytes",
    "waste_bytes",
];

/// `--breakdowns-csv` and `breakdowns.csv` of `--report`: one row per strategy and class, in
/// the columns of [`CSV_HEADER`]. `breakdown` is `waste` (a request size class: `count` live
/// blocks, `bytes` they consume, `requested_bytes`, `waste_bytes`), `holes` (a hole size class:
/// `count` holes, `bytes` in them) or `largest_hole` (`bytes` of the largest hole, `count` 1,
/// or 0 when nothing is free; no class). Exact integers; empty cells where a column does not
/// apply.
pub struct BreakdownsCsvExporter;

impl Exporter for BreakdownsCsvExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(CSV_HEADER)?;
        for r in broken_down(report) {
            let name = r.allocator.as_str();
            for c in r.waste_by_size_class.iter().flatten() {
                out.write_record([
                    name,
                    "waste",
                    &c.min_bytes.to_string(),
                    &c.max_bytes.to_string(),
                    &c.blocks.to_string(),
                    &c.consumed_bytes.to_string(),
                    &c.requested_bytes.to_string(),
                    &c.waste_bytes.to_string(),
                ])?;
            }
            if let Some(h) = &r.free_holes_at_peak {
                for c in &h.classes {
                    out.write_record([
                        name,
                        "holes",
                        &c.min_bytes.to_string(),
                        &c.max_bytes.to_string(),
                        &c.holes.to_string(),
                        &c.bytes.to_string(),
                        "",
                        "",
                    ])?;
                }
                let largest = (h.largest_bytes > 0) as u8;
                let bytes = h.largest_bytes.to_string();
                out.write_record([
                    name,
                    "largest_hole",
                    "",
                    "",
                    &largest.to_string(),
                    &bytes,
                    "",
                    "",
                ])?;
            }
        }
        out.into_inner().map_err(|e| ExportError::Csv(e.into_error().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_read_as_byte_ranges() {
        assert_eq!(class_name(0, 16), "0-16 B");
        assert_eq!(class_name(1, 16), "1-16 B");
        assert_eq!(class_name(17, 32), "17-32 B");
        assert_eq!(class_name(513, 1024), "513-1024 B");
        assert_eq!(class_name(1025, 2048), "1-2 KiB");
        assert_eq!(class_name(2049, 4096), "2-4 KiB");
        assert_eq!(class_name((1 << 20) + 1, 1 << 21), "1-2 MiB");
        assert_eq!(class_label(0, true), "1-16 B");
    }
}
