//! Chart 2: overhead, internal and external fragmentation per strategy and real allocator
//! (grouped bars).

use super::common::*;
use crate::report::{ExportError, Report};
use crate::results::ResultRecord;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colours of the three measures.
const OVERHEAD_COLOUR: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
const INTERNAL_COLOUR: RGBColor = RGBColor(0xf2, 0x8e, 0x2b);
const EXTERNAL_COLOUR: RGBColor = RGBColor(0xe1, 0x57, 0x59);
/// The y axis stops at this many percent; taller bars are cut there and carry their value.
const Y_CAP_PERCENT: f64 = 200.0;
/// Segments per strategy: three bars and a gap.
const GROUP: i32 = 4;

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let caption = format!(
        "Per strategy, in percent: overhead (peak footprint over max live, minus 1), internal \
         fragmentation (share of live blocks not requested) and external fragmentation (share of \
         free bytes not in the largest usable hole), both at the peak event; bars above \
         {Y_CAP_PERCENT}% are cut and labelled.{}",
        real_note(
            &rows,
            "A real allocator has no external fragmentation (no bar): it cannot tell its largest \
             satisfiable request; its overhead is from its resident memory, its internal \
             fragmentation from its usable sizes."
        )
    );
    let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let size = (width_for(&names), HEIGHT);
    render("fragmentation", "Overhead and fragmentation", caption, size, |root| {
        let n = rows.len() as i32;
        let percent = |of: fn(&ResultRecord) -> Option<f64>| -> Vec<Option<f64>> {
            rows.iter().map(|r| of(&r.record).map(|v| v * 100.0)).collect()
        };
        // A figure a row does not have (a real allocator's external fragmentation) has no bar.
        let measures: [(&str, RGBColor, Vec<Option<f64>>); 3] = [
            ("overhead", OVERHEAD_COLOUR, percent(|r| r.overhead)),
            ("internal fragmentation", INTERNAL_COLOUR, percent(|r| r.internal_fragmentation)),
            ("external fragmentation", EXTERNAL_COLOUR, percent(|r| r.external_fragmentation)),
        ];
        let highest =
            measures.iter().flat_map(|m| m.2.iter().flatten().copied()).fold(0.0, f64::max);
        let y_max = highest.clamp(10.0, Y_CAP_PERCENT) * 1.12;
        let mut chart = ChartBuilder::on(root)
            .caption("Overhead, internal and external fragmentation", title_style())
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d((0..n * GROUP - 2).into_segmented(), 0.0..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels((n * GROUP) as usize + 1)
            .x_label_formatter(&|v| group_label(v, &names, GROUP))
            .y_desc("percent")
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        let above = note_style().pos(Pos::new(HPos::Center, VPos::Bottom));
        for (k, (name, colour, values)) in measures.iter().enumerate() {
            let k = k as i32;
            let colour = *colour;
            chart
                .draw_series(values.iter().enumerate().filter_map(|(i, &v)| {
                    let from = i as i32 * GROUP + k;
                    Some(bar_between((from, from + 1), (0.0, v?.min(y_max)), colour, 1))
                }))?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
            // Values cut at the top of the axis are written on their bar.
            let cut = values.iter().enumerate().filter_map(|(i, &v)| Some((i, v?)));
            chart.draw_series(cut.filter(|&(_, v)| v > y_max).map(|(i, v)| {
                Text::new(
                    format!("{v:.0}%"),
                    (SegmentValue::CenterOf(i as i32 * GROUP + k), y_max * 0.97),
                    above.clone(),
                )
            }))?;
        }
        draw_series_legend(&mut chart, SeriesLabelPosition::UpperRight, label_style())?;
        Ok(())
    })
}
