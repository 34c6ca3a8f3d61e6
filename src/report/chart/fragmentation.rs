//! Chart 2: overhead, internal and external fragmentation per strategy (grouped bars).

use super::common::*;
use crate::report::{ExportError, Report};
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
    let caption = format!(
        "Per strategy, in percent: overhead (peak footprint over max live, minus 1), internal \
         fragmentation (share of live blocks not requested) and external fragmentation (share of \
         free bytes not in the largest usable hole), both at the peak event; bars above \
         {Y_CAP_PERCENT}% are cut and labelled."
    );
    render("fragmentation", "Overhead and fragmentation", caption, (WIDTH, HEIGHT), |root| {
        let results = &report.results;
        let names: Vec<&str> = results.iter().map(|r| r.allocator).collect();
        let n = results.len() as i32;
        let measures: [(&str, RGBColor, Vec<f64>); 3] = [
            (
                "overhead",
                OVERHEAD_COLOUR,
                results.iter().map(|r| r.memory.overhead().unwrap_or(0.0) * 100.0).collect(),
            ),
            (
                "internal fragmentation",
                INTERNAL_COLOUR,
                results.iter().map(|r| r.memory.internal_fragmentation() * 100.0).collect(),
            ),
            (
                "external fragmentation",
                EXTERNAL_COLOUR,
                results.iter().map(|r| r.memory.external_fragmentation() * 100.0).collect(),
            ),
        ];
        let highest = measures.iter().flat_map(|m| m.2.iter().copied()).fold(0.0, f64::max);
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
                .draw_series(values.iter().enumerate().map(|(i, &v)| {
                    let from = i as i32 * GROUP + k;
                    bar_between((from, from + 1), (0.0, v.min(y_max)), colour, 1)
                }))?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
            // Values cut at the top of the axis are written on their bar.
            chart.draw_series(values.iter().enumerate().filter(|(_, &v)| v > y_max).map(
                |(i, &v)| {
                    Text::new(
                        format!("{v:.0}%"),
                        (SegmentValue::CenterOf(i as i32 * GROUP + k), y_max * 0.97),
                        above.clone(),
                    )
                },
            ))?;
        }
        draw_series_legend(&mut chart, SeriesLabelPosition::UpperRight, label_style())?;
        Ok(())
    })
}
