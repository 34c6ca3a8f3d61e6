//! Chart 1: peak footprint per strategy, against the trace's max live bytes.

use super::common::*;
use crate::report::human_bytes;
use crate::report::{ExportError, Report};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let caption = "Peak heap size of each strategy; the black line is the most bytes the program \
                   had live at once, so the gap above it is what the strategy cost."
        .to_string();
    render("overview", "Peak footprint", caption, (WIDTH, HEIGHT), |root| {
        let results = &report.results;
        let names: Vec<&str> = results.iter().map(|r| r.allocator).collect();
        let n = results.len() as i32;
        let max_live = results.iter().map(|r| r.memory.max_live_bytes).max().unwrap_or(0);
        let top = results.iter().map(|r| r.memory.peak_footprint_bytes).max().unwrap_or(0);
        let (unit, unit_name) = byte_unit(top.max(max_live) as f64);
        let y_max = (top.max(max_live).max(1) as f64 / unit) * 1.15;
        let mut chart = ChartBuilder::on(root)
            .caption("Peak footprint per strategy vs max live bytes", title_style())
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(segments(n), 0.0..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len() + 1)
            .x_label_formatter(&|v| group_label(v, &names, 1))
            .y_desc(format!("peak footprint ({unit_name})"))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        chart.draw_series(results.iter().enumerate().map(|(i, r)| {
            bar(
                i as i32,
                i as i32 + 1,
                r.memory.peak_footprint_bytes as f64 / unit,
                strategy_colour(i),
            )
        }))?;
        let above = note_style().pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(results.iter().enumerate().map(|(i, r)| {
            let v = r.memory.peak_footprint_bytes;
            Text::new(
                human_bytes(v),
                (SegmentValue::CenterOf(i as i32), v as f64 / unit + y_max * 0.01),
                above.clone(),
            )
        }))?;
        let live = max_live as f64 / unit;
        chart
            .draw_series(LineSeries::new(
                [(SegmentValue::Exact(0), live), (SegmentValue::Exact(n), live)],
                INK.stroke_width(2),
            ))?
            .label(format!("max live bytes ({})", human_bytes(max_live)))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], INK.stroke_width(2)));
        draw_series_legend(&mut chart, SeriesLabelPosition::UpperRight, label_style())?;
        Ok(())
    })
}
