//! `--report DIR`: `index.html`, one self-contained page (inline SVG and CSS, no scripts, no
//! fonts, nothing fetched), and every chart as an SVG file beside it for linking elsewhere.

use super::chart::{self, Chart};
use super::columns::columns;
use super::{best_rows, human_bytes, ExportError, Exporter, Report};

/// The page's style sheet.
const STYLE: &str = "
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { white-space: nowrap; padding: 0.3em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; background: #e3f2e1; }
figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
dt { font-weight: bold; margin-top: 0.6em; } dd { margin-left: 1.5em; }
pre { background: #f4f4f4; padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
.note { color: #555; font-size: 0.9em; }
";

/// The definitions the page lists (the same as `metrics.rs`'s docs, in words).
const DEFINITIONS: [(&str, &str); 9] = [
    ("live bytes", "after an event: the sum of the requested sizes of the live blocks."),
    (
        "footprint",
        "after an event: the strategy's heap top, the highest address its heap has grown to; \
         it never shrinks. The peak footprint is its largest value over the trace.",
    ),
    (
        "max live",
        "the largest live bytes over the trace; the peak event is the first event that reaches it.",
    ),
    (
        "overhead",
        "peak footprint / max live - 1 (Johnstone and Wilson's fragmentation measure #4): the \
         memory a strategy needs beyond what the program ever had live at once.",
    ),
    (
        "internal fragmentation",
        "at the peak event: (consumed - live) / consumed, where consumed is the sum of the sizes \
         of the blocks holding the live requests (rounding, headers and padding included).",
    ),
    (
        "external fragmentation",
        "at the peak event: 1 - largest satisfiable request / free bytes, where free bytes = \
         footprint - consumed: how much of the free memory is in holes too small to use whole.",
    ),
    ("failed", "allocations refused because the heap would have grown past --heap-limit."),
    (
        "throughput",
        "events replayed per second in an untimed pass (no probe); the median of --runs passes.",
    ),
    (
        "latency",
        "nanoseconds per strategy call, from a separate pass that reads the clock around every \
         call (so each figure includes the cost of those reads).",
    ),
];

/// How every `index.html` of a report begins: how `--report` recognises a directory that
/// `replay` wrote, which it may replace (see [`super::write::ReportDir`]).
pub const PAGE_HEAD: &str =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>replay report: ";

/// One file of the report directory.
pub struct ReportFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// `index.html` alone.
pub struct HtmlExporter;

impl Exporter for HtmlExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        Ok(page(report, &chart::all(report)?).into_bytes())
    }
}

/// Every file of the report: the charts as `NAME.svg`, then `index.html` (last, so that a
/// directory with an index has all its charts).
pub fn report_files(report: &Report) -> Result<Vec<ReportFile>, ExportError> {
    let charts = chart::all(report)?;
    let mut files: Vec<ReportFile> = charts
        .iter()
        .map(|c| ReportFile { name: format!("{}.svg", c.name), bytes: c.svg.clone().into_bytes() })
        .collect();
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

    out.push_str("<h2 id=\"trace\">Trace</h2>\n<ul>\n");
    out.push_str(&format!("<li>format: {}</li>\n", t.format));
    out.push_str(&format!("<li>{} events, {} distinct blocks</li>\n", t.events, t.blocks));
    if let Some(live) = report.results.first().map(|r| r.memory.max_live_bytes) {
        out.push_str(&format!("<li>max live bytes: {}</li>\n", human_bytes(live)));
    }
    for (kind, n) in &t.skipped {
        out.push_str(&format!("<li>skipped by --lenient: {n} {}</li>\n", kind.name()));
    }
    let p = &report.params;
    out.push_str(&format!(
        "<li>settings: min size {} B, coalescing {}, heap limit {}, {} timing runs{}, {} samples \
         per strategy</li>\n</ul>\n",
        p.min_size,
        if p.coalesce { "on" } else { "off" },
        p.heap_limit.map_or("none".to_string(), human_bytes),
        report.timing.runs,
        if report.timing.fake_clock { " (fake clock: timings are made up)" } else { "" },
        report.samples
    ));

    results_table(&mut out, report);

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

    out.push_str("<h2 id=\"definitions\">Definitions</h2>\n<dl>\n");
    for (term, meaning) in DEFINITIONS {
        out.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", escape(term), escape(meaning)));
    }
    out.push_str("</dl>\n");

    out.push_str("<h2 id=\"provenance\">How this report was made</h2>\n");
    out.push_str(&format!(
        "<pre id=\"command\">{}</pre>\n<p class=\"note\">replay {} (alloc-replay)</p>\n",
        escape(&report.command_line),
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("</body>\n</html>\n");
    out
}

fn results_table(out: &mut String, report: &Report) {
    let columns = columns(report.timing.runs > 0);
    out.push_str(
        "<h2 id=\"results\">Results</h2>\n<table id=\"results-table\">\n<tr><th>strategy</th>",
    );
    for c in &columns {
        out.push_str(&format!("<th>{}</th>", escape(c.header)));
    }
    out.push_str("</tr>\n");
    let best: Vec<Vec<bool>> =
        columns.iter().map(|c| best_rows(report.results.iter().map(c.value), c.better)).collect();
    for (i, r) in report.results.iter().enumerate() {
        out.push_str(&format!("<tr><td>{}</td>", escape(r.allocator)));
        for (c, best) in columns.iter().zip(&best) {
            let cell = (c.value)(r).map_or("-".to_string(), c.text);
            let class = if best[i] { " class=\"best\"" } else { "" };
            out.push_str(&format!("<td{class}>{}</td>", escape(&cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n<p class=\"note\">Highlighted: the best value of its column.</p>\n");
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
