//! Chart 4: latency percentiles (p50, p99, p99.9, max) of malloc and free per strategy and
//! real allocator, on a log scale.

use super::common::*;
use crate::report::{ExportError, Report};
use crate::results::{LatencyRecord, PercentilesRecord};
use plotters::prelude::*;

/// Colours of the four percentiles, light to dark.
const PERCENTILE_COLOURS: [RGBColor; 4] = [
    RGBColor(0x9e, 0xca, 0xe1),
    RGBColor(0x42, 0x92, 0xc6),
    RGBColor(0x08, 0x51, 0x9c),
    RGBColor(0x08, 0x30, 0x6b),
];
const PERCENTILE_NAMES: [&str; 4] = ["p50", "p99", "p99.9", "max"];
/// Segments per strategy: four bars and a gap.
const GROUP: i32 = 5;

/// Which operation's percentiles a panel shows.
type PercentilesOf = fn(&LatencyRecord) -> Option<PercentilesRecord>;

/// p50, p99, p99.9 and max; `None` for one the record lacks (no bar is drawn for it).
fn values(p: &PercentilesRecord) -> [Option<u64>; 4] {
    [p.p50, p.p99, p.p999, p.max]
}

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let caption = format!(
        "Nanoseconds per call, log scale (lower is better): for each strategy the median, 99th, \
         99.9th percentile and slowest call of malloc (left) and free (right); every figure \
         includes ~{} ns of clock reads.{}",
        report.clock_overhead_ns,
        real_note(
            &rows,
            "A real allocator times every call; its figures are the medians of its runs' \
             percentiles."
        )
    );
    render("latency", "Latency percentiles", caption, (WIDTH, HEIGHT + 60), |root| {
        let root = root.titled("Latency percentiles of malloc and free", title_style())?;
        let panels = root.split_evenly((1, 2));
        let ops: [(&str, PercentilesOf); 2] = [("malloc", |l| l.malloc), ("free", |l| l.free)];
        let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        let n = rows.len() as i32;
        let top = rows
            .iter()
            .filter_map(|r| r.record.latency_ns.as_ref())
            .flat_map(|l| [l.malloc, l.free])
            .flatten()
            .filter_map(|p| p.max)
            .max()
            .unwrap_or(1)
            .max(10);
        for (panel, (op, of)) in panels.iter().zip(ops) {
            let mut chart = ChartBuilder::on(panel)
                .caption(op, label_style())
                .margin(MARGIN)
                .x_label_area_size(X_LABEL_AREA + 30)
                .y_label_area_size(Y_LABEL_AREA - 10)
                .build_cartesian_2d(
                    (0..n * GROUP - 2).into_segmented(),
                    (1.0..top as f64 * 2.0).log_scale(),
                )?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels((n * GROUP) as usize + 1)
                .x_label_formatter(&|v| group_label(v, &names, GROUP))
                .label_style(label_style())
                .x_label_style(note_style().transform(FontTransform::Rotate90))
                .y_desc("ns per call (log scale)")
                .y_label_formatter(&|v| format!("{v:.0}"))
                .axis_desc_style(label_style())
                .draw()?;
            for k in 0..4 {
                let colour = PERCENTILE_COLOURS[k];
                chart
                    .draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
                        let p = of(r.record.latency_ns.as_ref()?)?;
                        let from = i as i32 * GROUP + k as i32;
                        let top = values(&p)[k]?.max(1) as f64;
                        Some(bar_between((from, from + 1), (1.0, top), colour, 1))
                    }))?
                    .label(PERCENTILE_NAMES[k])
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                    });
            }
            draw_series_legend(&mut chart, SeriesLabelPosition::UpperLeft, note_style())?;
        }
        Ok(())
    })
}
