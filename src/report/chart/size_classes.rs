//! Internal waste at the peak by request size class: one stacked bar per simulated strategy,
//! a segment per size class (`waste_by_size_class` of the JSON), the bar's total on top. Also
//! the stacked-bar drawing that the free-holes chart shares ([`stacked_chart`]).

use super::common::*;
use crate::report::breakdowns::class_name;
use crate::report::{ExportError, Report};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of the legend column to the right of the bars, in pixels.
const LEGEND_WIDTH: u32 = 120;
/// Pixels between two legend entries, at most.
const LEGEND_STEP: i32 = 18;
/// The ends of the size-class colour ramp: light for small classes, dark for large ones.
const SMALL_CLASS: (f64, f64, f64) = (253.0, 231.0, 37.0);
const LARGE_CLASS: (f64, f64, f64) = (68.0, 1.0, 84.0);

/// The colour of size class `k` of the classes `0 ..= last` drawn (a ramp from yellow through
/// teal to purple, like viridis, so neighbours differ and order shows).
pub(super) fn class_colour(k: u32, last: u32) -> RGBColor {
    const MID: (f64, f64, f64) = (33.0, 145.0, 140.0);
    let t = if last == 0 { 0.0 } else { f64::from(k) / f64::from(last) };
    let (from, to, t) =
        if t < 0.5 { (SMALL_CLASS, MID, t * 2.0) } else { (MID, LARGE_CLASS, t * 2.0 - 1.0) };
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
}

/// A short byte count for a bar's top: `37 B`, `12.3K`, `1.4M`.
pub(super) fn compact_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1}K", b / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1}M", b / 1_048_576.0),
        _ => format!("{:.1}G", b / 1_073_741_824.0),
    }
}

/// One bar: the strategy's name, its segments as `(class, value)` (smallest class first) and
/// the text on top.
pub(super) struct Stack {
    pub label: String,
    pub segments: Vec<(u32, f64)>,
    pub top: String,
}

/// A stacked bar chart, one bar per [`Stack`], a legend of `classes` (`(class, name)`, in
/// order) under `legend_title` in a column on the right, `y_desc` on the y axis, whose labels
/// end in `y_suffix`.
pub(super) fn stacked_chart(
    (name, title, caption): (&'static str, &'static str, String),
    (heading, legend_title): (&str, &str),
    (y_desc, y_suffix): (&str, &str),
    stacks: &[Stack],
    classes: &[(u32, String)],
) -> Result<Chart, ExportError> {
    let names: Vec<&str> = stacks.iter().map(|s| s.label.as_str()).collect();
    let width = width_for(&names) + LEGEND_WIDTH;
    let last = classes.last().map_or(0, |c| c.0);
    render(name, title, caption, (width, HEIGHT), |root| {
        let (plot, legend) = root.split_horizontally(width - LEGEND_WIDTH);
        let n = stacks.len() as i32;
        let highest =
            stacks.iter().map(|s| s.segments.iter().map(|v| v.1).sum::<f64>()).fold(0.0, f64::max);
        let y_max = highest.max(1e-9) * 1.15;
        let mut chart = ChartBuilder::on(&plot)
            .caption(heading, title_style())
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(segments(n), 0.0..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len() + 1)
            .x_label_formatter(&|v| group_label(v, &names, 1))
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{v:.0}{y_suffix}"))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        for (i, stack) in stacks.iter().enumerate() {
            let i = i as i32;
            let mut base = 0.0;
            for &(class, value) in &stack.segments {
                let colour = class_colour(class, last);
                let segment = bar_between((i, i + 1), (base, base + value), colour, BAR_GAP);
                chart.draw_series(std::iter::once(segment))?;
                base += value;
            }
            let above = note_style().pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(std::iter::once(Text::new(
                stack.top.clone(),
                (SegmentValue::CenterOf(i), base + y_max * 0.01),
                above,
            )))?;
        }
        // The legend: a swatch and a name per class, top to bottom.
        let step = LEGEND_STEP.min((HEIGHT as i32 - 60) / (classes.len() as i32 + 1).max(1));
        let swatch = (step - 4).clamp(6, 14);
        let y0 = MARGIN as i32 + TITLE_SIZE as i32 + 10;
        legend.draw(&Text::new(legend_title.to_string(), (4, y0 - step), note_style()))?;
        for (k, (class, label)) in classes.iter().enumerate() {
            let y = y0 + k as i32 * step;
            let colour = class_colour(*class, last);
            legend.draw(&Rectangle::new([(4, y), (4 + swatch, y + swatch)], colour.filled()))?;
            legend.draw(&Text::new(label.clone(), (10 + swatch, y), note_style()))?;
        }
        Ok(())
    })
}

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let with: Vec<_> = rows
        .iter()
        .filter_map(|r| Some((r.label.clone(), r.record.waste_by_size_class.as_ref()?)))
        .collect();
    let mut classes: Vec<(u32, String)> = with
        .iter()
        .flat_map(|(_, w)| w.iter())
        .map(|c| {
            (crate::engine::at_peak::size_class(c.max_bytes), class_name(c.min_bytes, c.max_bytes))
        })
        .collect();
    classes.sort();
    classes.dedup();
    let most = with.iter().flat_map(|(_, w)| w.iter()).map(|c| c.waste_bytes).max().unwrap_or(0);
    let all = with.iter().map(|(_, w)| w.iter().map(|c| c.waste_bytes).sum::<u64>()).max();
    let (unit, unit_name) = byte_unit(all.unwrap_or(most) as f64);
    let stacks: Vec<Stack> = with
        .iter()
        .map(|(label, w)| Stack {
            label: label.clone(),
            segments: w
                .iter()
                .map(|c| {
                    (crate::engine::at_peak::size_class(c.max_bytes), c.waste_bytes as f64 / unit)
                })
                .collect(),
            top: compact_bytes(w.iter().map(|c| c.waste_bytes).sum()),
        })
        .collect();
    let caption = "Internal waste at the peak event (bytes the live blocks consume beyond their \
                   requests: rounding, headers, alignment padding), per strategy, split by the \
                   size class of the requests; the bar's total is the bytes internal \
                   fragmentation is the share of. Real allocators are not broken down."
        .to_string();
    stacked_chart(
        ("size-classes", "Internal waste by request size class", caption),
        ("Internal waste at the peak, by request size class", "requested size"),
        (&format!("waste ({unit_name})"), ""),
        &stacks,
        &classes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_tops_are_short_byte_counts() {
        assert_eq!(compact_bytes(37), "37 B");
        assert_eq!(compact_bytes(1536), "1.5K");
    }
}
