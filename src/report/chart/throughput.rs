//! Chart 3: throughput per strategy and real allocator, with the min-max spread of the runs and
//! the median written above every bar. The axis is logarithmic when the rates span more than a
//! factor of [`OUTLIER_FACTOR`] (so `bump`, which never reuses memory and is the fastest, does
//! not squash the rest), linear otherwise.

use super::common::*;
use crate::report::{ExportError, Report};
use crate::results::ThroughputRecord;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let timed: Vec<(usize, &ThroughputRecord)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.record.throughput.as_ref()?)))
        .collect();
    let top = timed.iter().map(|(_, t)| t.max).fold(0.0, f64::max).max(1.0);
    let bottom = timed.iter().map(|(_, t)| t.min).fold(f64::INFINITY, f64::min);
    let log = bottom.is_finite() && bottom > 0.0 && top > OUTLIER_FACTOR * bottom;
    let caption = format!(
        "Events replayed per second (median of {}, written above the bar; higher is better){}; \
         the whisker spans the slowest to the fastest run.{}{}",
        report.timing.runs_in_words(),
        if log { ", log scale so that the fastest does not squash the rest" } else { "" },
        real_style_note(&rows, true),
        real_note(
            &rows,
            "A real allocator's runs are each a fresh process, its blocks touched as a program \
             would unless --no-touch."
        )
    );
    let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let size = (width_for(&names), HEIGHT);
    render("throughput", "Throughput", caption, size, |root| {
        if log {
            let low = 10f64.powf(bottom.log10().floor());
            draw(root, &rows, &names, &timed, (low..top * 2.0).log_scale(), low, true)
        } else {
            draw(root, &rows, &names, &timed, 0.0..top * 1.15, 0.0, false)
        }
    })
}

fn draw<Y>(
    root: &Area,
    rows: &[Row],
    names: &[&str],
    timed: &[(usize, &ThroughputRecord)],
    y: Y,
    base: f64,
    log: bool,
) -> super::common::DrawResult
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let n = rows.len() as i32;
    let mut chart = ChartBuilder::on(root)
        .caption("Throughput per strategy (min-max of runs)", title_style())
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(segments(n), y)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(names.len() + 1)
        .x_label_formatter(&|v| group_label(v, names, 1))
        .y_desc("events per second")
        // A log axis gets its labels from `log_ticks` below.
        .y_label_formatter(&|v| if log { String::new() } else { short_count(*v) })
        .label_style(label_style())
        .axis_desc_style(label_style())
        .draw()?;
    for &(i, t) in timed {
        let (fill, outline) = bar_styles(i, rows[i].is_real());
        let x = i as i32;
        chart.draw_series([styled_bar((x, x + 1), (base, t.median), fill, BAR_GAP)])?;
        if let Some(outline) = outline {
            chart.draw_series([styled_bar((x, x + 1), (base, t.median), outline, BAR_GAP)])?;
        }
        chart.draw_series([PathElement::new(
            [(SegmentValue::CenterOf(x), t.min), (SegmentValue::CenterOf(x), t.max)],
            INK.stroke_width(2),
        )])?;
    }
    if log {
        let range = chart.y_range();
        let left = label_style().pos(Pos::new(HPos::Right, VPos::Center));
        for tick in log_ticks(range.start, range.end) {
            let (x, y) = chart.backend_coord(&(SegmentValue::Exact(0), tick));
            root.draw(&Text::new(short_count(tick), (x - 10, y), left.clone()))?;
        }
    }
    // The medians above the whiskers, a few pixels up.
    let above = note_style().pos(Pos::new(HPos::Center, VPos::Bottom));
    for &(i, t) in timed {
        let (px, py) = chart.backend_coord(&(SegmentValue::CenterOf(i as i32), t.max));
        root.draw(&Text::new(short_count(t.median), (px, py - 3), above.clone()))?;
    }
    Ok(())
}
