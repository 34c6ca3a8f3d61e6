//! Chart 3: throughput per strategy and real allocator, with the min-max spread of the runs.

use super::common::*;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let caption = format!(
        "Events replayed per second (median of {} untimed runs; higher is better); the whisker \
         spans the slowest to the fastest run.{}",
        report.timing.runs,
        real_note(
            &rows,
            "A real allocator's runs are each a fresh process, its blocks touched as a program \
             would unless --no-touch."
        )
    );
    let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let size = (width_for(&names), HEIGHT);
    render("throughput", "Throughput", caption, size, |root| {
        let n = rows.len() as i32;
        let top = rows
            .iter()
            .filter_map(|r| r.record.throughput.as_ref())
            .map(|t| t.max)
            .fold(0.0, f64::max);
        let y_max = (top / 1e6).max(0.001) * 1.12;
        let mut chart = ChartBuilder::on(root)
            .caption("Throughput per strategy (min-max of runs)", title_style())
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(segments(n), 0.0..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len() + 1)
            .x_label_formatter(&|v| group_label(v, &names, 1))
            .y_desc("throughput (million events/s)")
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        let timed = || {
            let timed = rows.iter().enumerate();
            timed.filter_map(|(i, r)| Some((i as i32, r.record.throughput.as_ref()?)))
        };
        chart.draw_series(
            timed().map(|(i, t)| bar(i, i + 1, t.median / 1e6, strategy_colour(i as usize))),
        )?;
        chart.draw_series(timed().map(|(i, t)| {
            PathElement::new(
                [
                    (SegmentValue::CenterOf(i), t.min / 1e6),
                    (SegmentValue::CenterOf(i), t.max / 1e6),
                ],
                INK.stroke_width(2),
            )
        }))?;
        Ok(())
    })
}
