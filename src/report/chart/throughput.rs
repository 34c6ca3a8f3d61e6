//! Chart 3: throughput per strategy, with the min-max spread of the runs.

use super::common::*;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let caption = format!(
        "Events replayed per second (median of {} untimed runs; higher is better); the whisker \
         spans the slowest to the fastest run.",
        report.timing.runs
    );
    render("throughput", "Throughput", caption, (WIDTH, HEIGHT), |root| {
        let results = &report.results;
        let names: Vec<&str> = results.iter().map(|r| r.allocator).collect();
        let n = results.len() as i32;
        let top =
            results.iter().filter_map(|r| r.throughput.as_ref()).map(|t| t.max).fold(0.0, f64::max);
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
            results.iter().enumerate().filter_map(|(i, r)| Some((i as i32, r.throughput.as_ref()?)))
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
