//! `--markdown`: the results as a GitHub-flavoured Markdown table, fit for a pull-request
//! comment. The best value of each column is in bold. Figures are rounded for reading (bytes in
//! binary units, ratios in percent); `--csv` and `--json` have the exact ones.

use super::{best_rows, ExportError, Exporter, Report};

pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let t = &report.trace;
        let mut out = format!(
            "**replay** {} · `{}` ({}): {}, {}\n\n",
            env!("CARGO_PKG_VERSION"),
            t.path,
            t.format,
            crate::words::count(t.events, "event", "events"),
            crate::words::count(t.blocks, "block", "blocks")
        );
        out.push_str(&super::verdict::markdown(report));
        let columns = super::shown_figures(report);
        let records = report.records();
        out.push_str("| strategy |");
        for c in &columns {
            out.push_str(&format!(" {} |", c.label));
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(columns.len()));
        out.push('\n');
        let best: Vec<Vec<bool>> = columns.iter().map(|c| best_rows(&records, c)).collect();
        for (i, r) in records.iter().enumerate() {
            out.push_str(&format!("| {} |", r.allocator));
            for (c, best) in columns.iter().zip(&best) {
                let cell = c.short(r);
                if best[i] {
                    out.push_str(&format!(" **{cell}** |"));
                } else {
                    out.push_str(&format!(" {cell} |"));
                }
            }
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&super::best_legend("Bold"));
        out.push(' ');
        if report.timing.runs > 0 {
            out.push_str(&format!(
                "Throughput: median of {}; latency includes ~{} ns of clock reads.\n",
                report.timing.runs_in_words(),
                report.clock_overhead_ns
            ));
        } else {
            out.push_str("Timing skipped (`--runs 0`).\n");
        }
        out.push_str(&super::verdict::versus_markdown(report));
        super::breakdowns::markdown_section(&mut out, report);
        Ok(out.into_bytes())
    }
}
