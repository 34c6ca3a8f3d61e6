//! Chart 5: memory over time: the footprint of every strategy over the event index, on top of
//! the trace's live bytes.

use super::common::*;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let caption = "Heap footprint of each strategy (lines) after each sampled event, over the \
                   bytes the program had live (grey area): the gap between a line and the area \
                   is memory that strategy held but did not use."
        .to_string();
    render("memory", "Memory over time", caption, (WIDTH, HEIGHT + 40), |root| {
        let results = &report.results;
        let events = results.iter().map(|r| r.memory.events).max().unwrap_or(0).max(1);
        let top = results
            .iter()
            .flat_map(|r| r.series.samples.iter())
            .map(|s| s.footprint.max(s.live_requested))
            .max()
            .unwrap_or(0)
            .max(1);
        let (unit, unit_name) = byte_unit(top as f64);
        let mut chart = ChartBuilder::on(root)
            .caption("Footprint per strategy over live bytes", title_style())
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(0.0..events as f64, 0.0..top as f64 / unit * 1.08)?;
        chart
            .configure_mesh()
            .x_desc("event index")
            .y_desc(format!("bytes ({unit_name})"))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        // The trace's live bytes: the same for every strategy unless some requests failed at
        // the heap limit, so the series of the first strategy with samples.
        if let Some(first) = results.iter().find(|r| !r.series.samples.is_empty()) {
            chart
                .draw_series(AreaSeries::new(
                    first
                        .series
                        .samples
                        .iter()
                        .map(|s| (s.event as f64, s.live_requested as f64 / unit)),
                    0.0,
                    TRACE_LIVE_COLOUR.mix(0.45),
                ))?
                .label("live bytes (requested)")
                .legend(|(x, y)| {
                    Rectangle::new(
                        [(x, y - 5), (x + 16, y + 5)],
                        TRACE_LIVE_COLOUR.mix(0.45).filled(),
                    )
                });
        }
        for (i, r) in results.iter().enumerate() {
            let colour = strategy_colour(i);
            chart
                .draw_series(LineSeries::new(
                    r.series.samples.iter().map(|s| (s.event as f64, s.footprint as f64 / unit)),
                    colour.stroke_width(2),
                ))?
                .label(r.allocator)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2))
                });
        }
        draw_series_legend(&mut chart, SeriesLabelPosition::UpperLeft, note_style())?;
        Ok(())
    })
}
