//! Chart 4: latency percentiles (p50, p99, p99.9, max) of malloc and free per strategy and
//! real allocator: horizontal bars (names at the left, never rotated), malloc above free, the
//! legend above the plots, times in ns, µs or ms as they come, on a log scale when the values
//! span more than a decade. A maximum that is most likely a preemption
//! ([`crate::engine::timing::max_is_preemption`], `max_preempted` in the records) is kept out of
//! the scale: its bar runs to the plot's end, grey, labelled with its value.

use super::common::*;
use crate::report::{ExportError, Report};
use crate::results::{LatencyRecord, PercentilesRecord};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colours of the four percentiles, light to dark.
const PERCENTILE_COLOURS: [RGBColor; 4] = [
    RGBColor(0x9e, 0xca, 0xe1),
    RGBColor(0x42, 0x92, 0xc6),
    RGBColor(0x08, 0x51, 0x9c),
    RGBColor(0x08, 0x30, 0x6b),
];
/// A maximum taken for a preemption, drawn past the scale.
const PREEMPTED_COLOUR: RGBColor = RGBColor(0xbb, 0xbb, 0xbb);
const PERCENTILE_NAMES: [&str; 4] = ["p50", "p99", "p99.9", "max"];
/// Segments per row: a gap and four bars.
const GROUP: i32 = 5;
/// Pixels per segment.
const SEGMENT_PX: u32 = 8;
/// Height of the title, of the legend line, and of a panel's own title.
const TITLE_PX: u32 = 36;
const LEGEND_PX: u32 = 26;
const PANEL_TITLE_PX: u32 = 22;

/// Which operation's percentiles a panel shows.
type PercentilesOf = fn(&LatencyRecord) -> Option<PercentilesRecord>;

/// p50, p99, p99.9 and max; `None` for one the record lacks (no bar is drawn for it).
fn values(p: &PercentilesRecord) -> [Option<u64>; 4] {
    [p.p50, p.p99, p.p999, p.max]
}

/// The range of the time axis, in ns: from the smallest to the largest value that is not a
/// preempted maximum, with room; whether it spans more than a decade (then it is a log scale).
fn axis_range(all: &[u64]) -> (f64, f64, bool) {
    let low = all.iter().copied().filter(|&v| v > 0).min().unwrap_or(1) as f64;
    let high = all.iter().copied().max().unwrap_or(1).max(1) as f64;
    if high > 10.0 * low {
        let low = 10f64.powf(low.log10().floor());
        (low, high * 2.5, true)
    } else {
        (0.0, high * 1.15, false)
    }
}

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let ops: [(&str, PercentilesOf); 2] = [("malloc", |l| l.malloc), ("free", |l| l.free)];
    let percentiles = |row: &Row| -> Vec<PercentilesRecord> {
        let Some(l) = row.record.latency_ns.as_ref() else { return vec![] };
        ops.iter().filter_map(|(_, of)| of(l)).collect()
    };
    let mut scaled = vec![];
    let mut preempted = 0;
    for p in rows.iter().flat_map(percentiles) {
        for (k, v) in values(&p).into_iter().enumerate() {
            match v {
                Some(_) if k == 3 && p.max_preempted => preempted += 1,
                Some(v) => scaled.push(v),
                None => {}
            }
        }
    }
    let (low, high, log) = axis_range(&scaled);
    let preempted_note = if preempted > 0 {
        " A grey maximum is most likely the thread being preempted, not the allocator (over 1 ms \
         and 1,000 times its p99): it is kept out of the scale, its bar runs to the end, and its \
         value is written on it."
    } else {
        ""
    };
    let caption = format!(
        "Time per call{} (shorter is better): for each strategy the median, 99th, 99.9th \
         percentile and slowest call of malloc (top) and free (bottom); every figure includes \
         ~{} ns of clock reads.{preempted_note}{}{}",
        if log { ", log scale" } else { "" },
        report.clock_overhead_ns,
        real_style_note(&rows, true),
        real_note(
            &rows,
            "A real allocator times every call; its figures are the medians of its runs' \
             percentiles."
        )
    );
    let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let n = rows.len().max(1) as i32;
    let name_px =
        text_px(names.iter().map(|s| s.chars().count()).max().unwrap_or(0), font_px(LABEL_SIZE));
    let y_area = (name_px.ceil() as u32 + 16).max(60);
    let panel_h = PANEL_TITLE_PX + n as u32 * GROUP as u32 * SEGMENT_PX + X_LABEL_AREA + 2 * MARGIN;
    let size = (WIDTH, TITLE_PX + LEGEND_PX + 2 * panel_h);
    render("latency", "Latency percentiles", caption, size, |root| {
        let root = root.titled("Latency percentiles of malloc and free", title_style())?;
        let (legend, panels) = root.split_vertically(LEGEND_PX);
        let mut items: Vec<(RGBColor, &str)> =
            PERCENTILE_COLOURS.iter().copied().zip(PERCENTILE_NAMES).collect();
        if preempted > 0 {
            items.push((PREEMPTED_COLOUR, "max, preempted (off the scale)"));
        }
        swatch_legend(&legend, y_area as i32 + MARGIN as i32, 4, &items)?;
        let panels = panels.split_evenly((2, 1));
        for (panel, (op, of)) in panels.iter().zip(ops) {
            if log {
                let x = (low..high).log_scale();
                draw_panel(panel, (op, of), &rows, &names, y_area, x, true)?;
            } else {
                draw_panel(panel, (op, of), &rows, &names, y_area, low..high, false)?;
            }
        }
        Ok(())
    })
}

/// One operation's panel, on the time axis `x` (ns).
fn draw_panel<X>(
    panel: &Area,
    (op, of): (&str, PercentilesOf),
    rows: &[Row],
    names: &[&str],
    y_area: u32,
    x: X,
    log: bool,
) -> super::common::DrawResult
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let n = rows.len().max(1) as i32;
    let mut chart = ChartBuilder::on(panel)
        .caption(op, label_style())
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x, segments(n * GROUP))?;
    let (low, high) = {
        let r = chart.x_range();
        (r.start, r.end)
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels((n * GROUP) as usize + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(s) if s % GROUP == 2 => {
                names.get((n - 1 - s / GROUP) as usize).map_or(String::new(), |n| n.to_string())
            }
            _ => String::new(),
        })
        .x_labels(8)
        // A log axis gets its labels from `log_ticks` below.
        .x_label_formatter(&|v| if log { String::new() } else { human_ns(*v) })
        .x_desc("time per call")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .draw()?;
    if log {
        let (base_x, base_y) = panel.get_base_pixel();
        let below = label_style().pos(Pos::new(HPos::Center, VPos::Top));
        for tick in log_ticks(low, high) {
            let (x, y) = chart.backend_coord(&(tick, SegmentValue::Exact(0)));
            let at = (x - base_x, y - base_y + 10);
            panel.draw(&Text::new(human_ns(tick), at, below.clone()))?;
        }
    }
    let inside = note_style().pos(Pos::new(HPos::Right, VPos::Center));
    for (i, row) in rows.iter().enumerate() {
        let Some(p) = row.record.latency_ns.as_ref().and_then(of) else { continue };
        for (k, v) in values(&p).into_iter().enumerate() {
            let Some(v) = v else { continue };
            // Row i (from the top) is group n - 1 - i: a gap, then max, p99.9, p99, p50.
            let s = (n - 1 - i as i32) * GROUP + 4 - k as i32;
            let off_scale = k == 3 && p.max_preempted;
            let (colour, end) = if off_scale {
                (PREEMPTED_COLOUR, high)
            } else {
                (PERCENTILE_COLOURS[k], (v as f64).clamp(low, high))
            };
            let fill = if row.is_real() { mix_with_white(colour, 0.5) } else { colour };
            chart.draw_series([hbar((s, s + 1), (low, end), fill.filled(), 1)])?;
            if row.is_real() {
                chart.draw_series([hbar((s, s + 1), (low, end), colour.stroke_width(1), 1)])?;
            }
            if off_scale {
                chart.draw_series([Text::new(
                    format!("preempted: {}", human_ns(v as f64)),
                    (end, SegmentValue::CenterOf(s)),
                    inside.clone(),
                )])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_axis_is_logarithmic_only_when_the_values_span_more_than_a_decade() {
        assert_eq!(axis_range(&[20, 4_000]), (10.0, 10_000.0, true));
        let (low, _, log) = axis_range(&[50, 90]);
        assert_eq!((low, log), (0.0, false));
        assert!(!axis_range(&[]).2);
    }
}
