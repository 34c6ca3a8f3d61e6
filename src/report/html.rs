//! `--report DIR`: `index.html`, one self-contained page (inline SVG and CSS, no scripts, no
//! fonts, nothing fetched), every chart as an SVG file beside it for linking elsewhere, and
//! `breakdowns.csv` (see [`super::breakdowns`]).

use super::chart::{self, Chart};
use super::{best_rows, best_rows_of, human_bytes, shown_figures, ExportError, Exporter, Report};
use crate::figures::{Better, FIGURES, TERMS};
use crate::results::{PercentilesRecord, ResultRecord};

/// The page's style sheet.
const STYLE: &str = "
body { font-family: sans-serif; margin: 2em auto; max-width: 1500px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
p, ul, dl, figcaption { max-width: 60em; }
.table-box { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.8em; }
th, td { white-space: nowrap; padding: 0.25em 0.35em; border-bottom: 1px solid #ddd; text-align: right; }
th { white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0; background: #fff; }
td.best { font-weight: bold; background: #e3f2e1; }
figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
dt { font-weight: bold; margin-top: 0.6em; } dd { margin-left: 1.5em; }
pre { background: #f4f4f4; padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
.note { color: #555; font-size: 0.9em; }
";

/// How every `index.html` of a report begins: how `--report` recognises a directory that
/// `replay` wrote, which it may replace (see [`super::write::ReportDir`]).
pub const PAGE_HEAD: &str =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>replay report: ";

/// One file of the report directory.
pub struct ReportFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Every file of the report: the charts as `NAME.svg`, then `index.html` (last, so that a
/// directory with an index has all its charts).
pub fn report_files(report: &Report) -> Result<Vec<ReportFile>, ExportError> {
    let charts = chart::all(report)?;
    let mut files: Vec<ReportFile> = charts
        .iter()
        .map(|c| ReportFile { name: format!("{}.svg", c.name), bytes: c.svg.clone().into_bytes() })
        .collect();
    let breakdowns = super::breakdowns::BreakdownsCsvExporter.export(report)?;
    files.push(ReportFile { name: super::breakdowns::REPORT_FILE.into(), bytes: breakdowns });
    files.push(ReportFile { name: "index.html".into(), bytes: page(report, &charts).into_bytes() });
    Ok(files)
}

/// Text made safe to put in HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(report: &Report, charts: &[Chart]) -> String {
    let t = &report.trace;
    let mut out = String::new();
    out.push_str(PAGE_HEAD);
    out.push_str(&format!("{}</title>\n", escape(&t.path)));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&format!("<h1>replay report: <code>{}</code></h1>\n", escape(&t.path)));
    out.push_str(&super::verdict::html(report, escape));

    out.push_str("<h2 id=\"trace\">Trace</h2>\n<ul>\n");
    out.push_str(&format!("<li>format: {}</li>\n", t.format));
    out.push_str(&format!(
        "<li>{}, {}</li>\n",
        crate::words::count(t.events, "event", "events"),
        crate::words::count(t.blocks, "distinct block", "distinct blocks")
    ));
    if let Some(live) = report.results.first().map(|r| r.memory.max_live_bytes) {
        out.push_str(&format!("<li>max live bytes: {}</li>\n", human_bytes(live)));
    }
    for (kind, n) in &t.skipped {
        out.push_str(&format!("<li>skipped by --lenient: {n} {}</li>\n", kind.name()));
    }
    let p = &report.params;
    out.push_str(&format!(
        "<li>settings: min size {} B, coalescing {}, heap limit {}, {}{}, {} samples \
         per strategy</li>\n</ul>\n",
        p.min_size,
        if p.coalesce { "on" } else { "off" },
        p.heap_limit.map_or("none".to_string(), human_bytes),
        report.timing.runs_in_words(),
        if report.timing.fake_clock { " (fake clock: timings are made up)" } else { "" },
        report.samples
    ));

    results_table(&mut out, report);
    out.push_str(&super::verdict::versus_html(report, escape));
    super::breakdowns::html_section(&mut out, report, escape);

    out.push_str("<h2 id=\"charts\">Charts</h2>\n");
    for c in charts {
        out.push_str(&format!(
            "<figure id=\"chart-{name}\" class=\"chart\">\n<h3>{title}</h3>\n{svg}\n\
             <figcaption>{caption} <a href=\"{name}.svg\">SVG</a></figcaption>\n</figure>\n",
            name = c.name,
            title = escape(c.title),
            svg = c.svg.trim(),
            caption = escape(&c.caption),
        ));
    }

    definitions(&mut out);

    out.push_str("<h2 id=\"provenance\">How this report was made</h2>\n");
    out.push_str(&format!(
        "<pre id=\"command\">{}</pre>\n<p class=\"note\">replay {} (alloc-replay)</p>\n",
        escape(&report.command_line),
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("</body>\n</html>\n");
    out
}

/// The words the figures are defined with, then every figure: its name, its key in the JSON
/// and CSV, its unit and its definition, all from the registry.
fn definitions(out: &mut String) {
    out.push_str("<h2 id=\"definitions\">Definitions</h2>\n<dl>\n");
    for (term, meaning) in TERMS {
        out.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", escape(term), escape(meaning)));
    }
    for f in FIGURES {
        out.push_str(&format!(
            "<dt id=\"figure-{key}\">{name} <code>{key}</code></dt><dd>{definition} ({unit})</dd>\n",
            key = escape(f.key),
            name = escape(f.name),
            definition = escape(f.definition),
            unit = f.unit.name(),
        ));
    }
    out.push_str("</dl>\n");
}

/// A column of the results table that is not a registry figure: a latency p99.9, in the JSON
/// and CSV (`key`) but too noisy to gate. Shown right after the registry column `after`.
struct Tail {
    after: &'static str,
    key: &'static str,
    label: &'static str,
    read: fn(&ResultRecord) -> Option<u64>,
}

fn p999(p: Option<PercentilesRecord>) -> Option<u64> {
    p.and_then(|p| p.p999)
}

const TAILS: [Tail; 3] = [
    Tail {
        after: "latency_ns.malloc.p99",
        key: "latency_ns.malloc.p999",
        label: "malloc p99.9 ns",
        read: |r| p999(r.latency_ns.and_then(|l| l.malloc)),
    },
    Tail {
        after: "latency_ns.free.p99",
        key: "latency_ns.free.p999",
        label: "free p99.9 ns",
        read: |r| p999(r.latency_ns.and_then(|l| l.free)),
    },
    Tail {
        after: "latency_ns.realloc.p99",
        key: "latency_ns.realloc.p999",
        label: "realloc p99.9 ns",
        read: |r| p999(r.latency_ns.and_then(|l| l.realloc)),
    },
];

/// One column of the results table: its header and, per record, its cell and its value (to
/// mark the best).
struct Column {
    header: String,
    cells: Vec<String>,
    best: Vec<bool>,
}

/// The table's columns: every figure shown ([`shown_figures`]), each p99.9 after its p99.
fn columns(report: &Report, records: &[ResultRecord]) -> Vec<Column> {
    let mut columns = Vec::new();
    for c in shown_figures(report) {
        columns.push(Column {
            header: format!(
                "<th title=\"{}\"><a href=\"#figure-{}\">{}</a></th>",
                escape(c.definition),
                escape(c.key),
                escape(c.label)
            ),
            cells: records.iter().map(|r| c.short(r)).collect(),
            best: best_rows(records, c),
        });
        for t in TAILS.iter().filter(|t| t.after == c.key) {
            let values: Vec<Option<u64>> = records.iter().map(t.read).collect();
            columns.push(Column {
                header: format!(
                    "<th title=\"99.9th percentile, measured as {after} is (JSON and CSV: {key})\">\
                     <a href=\"#figure-{after}\">{label}</a></th>",
                    after = escape(t.after),
                    key = escape(t.key),
                    label = escape(t.label)
                ),
                cells: values
                    .iter()
                    .map(|v| v.map_or("-".to_string(), |v| v.to_string()))
                    .collect(),
                best: best_rows_of(records, |r| (t.read)(r).map(|v| v as f64), Better::Lower),
            });
        }
    }
    columns
}

fn results_table(out: &mut String, report: &Report) {
    let records = report.records();
    let columns = columns(report, &records);
    out.push_str(
        "<h2 id=\"results\">Results</h2>\n<div class=\"table-box\">\n<table id=\"results-table\">\n\
         <tr><th>strategy</th>",
    );
    for c in &columns {
        out.push_str(&c.header);
    }
    out.push_str("</tr>\n");
    for (i, r) in records.iter().enumerate() {
        out.push_str(&format!("<tr><td>{}</td>", escape(&r.allocator)));
        for c in &columns {
            let class = if c.best[i] { " class=\"best\"" } else { "" };
            out.push_str(&format!("<td{class}>{}</td>", escape(&c.cells[i])));
        }
        out.push_str("</tr>\n");
    }
    out.push_str(&format!(
        "</table>\n</div>\n<p class=\"note\">{} A table wider than the page scrolls sideways \
         in its box, the strategy column staying in view.</p>\n",
        escape(&super::best_legend("Highlighted"))
    ));
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
