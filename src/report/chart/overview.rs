//! Chart 1: peak footprint per strategy (and real allocator), against the trace's max live
//! bytes, the value above every bar. A footprint more than [`OUTLIER_FACTOR`] times every other
//! (`bump`'s, which never reuses memory) is cut at a white break, so it does not squash the rest.

use super::common::*;
use crate::report::human_bytes;
use crate::report::{ExportError, Report};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let footprint = |r: &Row| r.record.peak_footprint_bytes.unwrap_or(0);
    let cap = outlier_cap(&rows.iter().map(|r| footprint(r) as f64).collect::<Vec<_>>());
    let cut_note = if cap.is_some() {
        " A bar more than twice as tall as every other is cut at the white break."
    } else {
        ""
    };
    let caption = format!(
        "Peak heap size of each strategy; the black line is the most bytes the program had live \
         at once, so the gap above it is what the strategy cost.{cut_note}{}{}",
        real_style_note(&rows, true),
        real_note(
            &rows,
            "For a real allocator: its process's resident memory above the baseline before the \
             replay, the median of its runs."
        )
    );
    let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let size = (width_for(&names), HEIGHT);
    render("overview", "Peak footprint", caption, size, |root| {
        let n = rows.len() as i32;
        let max_live = rows.iter().filter_map(|r| r.record.max_live_bytes).max().unwrap_or(0);
        let top = match cap {
            Some(cap) => cap as u64,
            None => rows.iter().map(footprint).max().unwrap_or(0),
        };
        let (unit, unit_name) = byte_unit(top.max(max_live) as f64);
        // Room above the tallest bar for its label and the legend.
        let y_max = (top.max(max_live).max(1) as f64 / unit) * 1.3;
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
        let scale_top = top.max(max_live).max(1) as f64 / unit;
        let above = note_style().pos(Pos::new(HPos::Center, VPos::Bottom));
        for (i, r) in rows.iter().enumerate() {
            let v = footprint(r);
            let cut = v as f64 / unit > scale_top;
            let end = (v as f64 / unit).min(scale_top);
            let x = i as i32;
            let (fill, outline) = bar_styles(i, r.is_real());
            chart.draw_series([styled_bar((x, x + 1), (0.0, end), fill, BAR_GAP)])?;
            if let Some(outline) = outline {
                chart.draw_series([styled_bar((x, x + 1), (0.0, end), outline, BAR_GAP)])?;
            }
            if cut {
                let at = scale_top * 0.9;
                let gap = WHITE.filled();
                chart.draw_series([styled_bar((x, x + 1), (at, at + y_max * 0.02), gap, 0)])?;
            }
            chart.draw_series([Text::new(
                human_bytes(v),
                (SegmentValue::CenterOf(x), end + y_max * 0.01),
                above.clone(),
            )])?;
        }
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
