//! Chart 2: overhead, internal and external fragmentation per strategy and real allocator, as
//! horizontal grouped bars (one group per row, names at the left, a value label on every bar).
//! External fragmentation is shown with what it means in bytes: the free bytes and the largest
//! usable hole at the peak (`at_peak` in the records), since a ratio near 100% of a few free
//! bytes is not alarming.

use super::common::*;
use crate::report::human_bytes;
use crate::report::{ExportError, Report};
use crate::results::ResultRecord;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colours of the three measures (Okabe-Ito blue, orange and bluish green: apart for
/// colour-blind readers).
const OVERHEAD_COLOUR: RGBColor = RGBColor(0x00, 0x72, 0xb2);
const INTERNAL_COLOUR: RGBColor = RGBColor(0xe6, 0x9f, 0x00);
const EXTERNAL_COLOUR: RGBColor = RGBColor(0x00, 0x9e, 0x73);
/// Segments per row: a gap and three bars.
const GROUP: i32 = 4;
/// Pixels per segment (a bar's height and its gaps).
const SEGMENT_PX: u32 = 13;
/// Height of the title and of the legend line above the plot.
const TITLE_PX: u32 = 36;
const LEGEND_PX: u32 = 26;

/// The label of a bar: its value, and for external fragmentation the bytes it stands for.
fn value_label(measure: usize, value: f64, record: &ResultRecord, cut: bool) -> String {
    let mut label = format!("{value:.1}%");
    if measure == 2 {
        if let Some(p) = &record.at_peak {
            label.push_str(&format!(
                " of {} free; largest usable hole {}",
                human_bytes(p.free_bytes),
                human_bytes(p.largest_satisfiable_bytes)
            ));
        }
    }
    if cut {
        label.push_str(" (bar cut)");
    }
    label
}

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let percent = |of: fn(&ResultRecord) -> Option<f64>| -> Vec<Option<f64>> {
        rows.iter().map(|r| of(&r.record).map(|v| v * 100.0)).collect()
    };
    // A figure a row does not have (a real allocator's external fragmentation) has no bar.
    let measures: [(&str, RGBColor, Vec<Option<f64>>); 3] = [
        ("overhead", OVERHEAD_COLOUR, percent(|r| r.overhead)),
        ("internal fragmentation", INTERNAL_COLOUR, percent(|r| r.internal_fragmentation)),
        ("external fragmentation", EXTERNAL_COLOUR, percent(|r| r.external_fragmentation)),
    ];
    let all: Vec<f64> = measures.iter().flat_map(|m| m.2.iter().flatten().copied()).collect();
    let cap = outlier_cap(&all);
    let cut_note = match cap {
        Some(cap) => format!(
            " Bars past {cap:.0}% (more than {OUTLIER_FACTOR} times any other) are cut at the \
             white break and carry their value, so they do not squash the rest."
        ),
        None => String::new(),
    };
    let caption = format!(
        "Per strategy, in percent: overhead (peak footprint over max live, minus 1), internal \
         fragmentation (share of live blocks not requested) and external fragmentation (share of \
         free bytes not in the largest usable hole, with those free bytes and that hole), both \
         at the peak event.{cut_note}{}{}",
        real_style_note(&rows, true),
        real_note(
            &rows,
            "A real allocator has no external fragmentation (no bar): it cannot tell its largest \
             satisfiable request; its overhead is from its resident memory, its internal \
             fragmentation from its usable sizes."
        )
    );
    let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let n = rows.len().max(1) as i32;
    let name_px =
        text_px(names.iter().map(|s| s.chars().count()).max().unwrap_or(0), font_px(LABEL_SIZE));
    let y_area = (name_px.ceil() as u32 + 16).max(60);
    let height =
        TITLE_PX + LEGEND_PX + n as u32 * GROUP as u32 * SEGMENT_PX + X_LABEL_AREA + 2 * MARGIN;
    let size = (WIDTH, height);
    render("fragmentation", "Overhead and fragmentation", caption, size, |root| {
        let root = root.titled("Overhead, internal and external fragmentation", title_style())?;
        let (legend, plot) = root.split_vertically(LEGEND_PX);
        let items: Vec<(RGBColor, &str)> = measures.iter().map(|m| (m.1, m.0)).collect();
        swatch_legend(&legend, y_area as i32 + MARGIN as i32, 4, &items)?;
        // Room right of the longest bar for its label.
        let scale_top = cap.unwrap_or_else(|| all.iter().copied().fold(0.0, f64::max)).max(1.0);
        let note_px = font_px(NOTE_SIZE);
        let longest_label = rows
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                measures.iter().enumerate().filter_map(move |(k, m)| {
                    let v = m.2[i]?;
                    Some((
                        v.min(scale_top),
                        value_label(k, v, &r.record, cap.is_some_and(|c| v > c)),
                    ))
                })
            })
            .map(|(v, label)| (v, text_px(label.chars().count(), note_px) + 8.0))
            .collect::<Vec<_>>();
        let plot_px = f64::from(WIDTH - y_area - 2 * MARGIN);
        // The smallest axis end at which every bar's label fits right of its bar.
        let x_max = longest_label
            .iter()
            .map(|&(v, label_px)| v * plot_px / (plot_px - label_px).max(plot_px * 0.2))
            .fold(scale_top * 1.05, f64::max);
        let mut chart = ChartBuilder::on(&plot)
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(y_area)
            .build_cartesian_2d(0.0..x_max, segments(n * GROUP))?;
        // Row i (from the top) is group n - 1 - i: a gap, then external, internal, overhead.
        let segment = |i: usize, k: usize| (n - 1 - i as i32) * GROUP + 3 - k as i32;
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
            .x_desc("percent")
            .x_label_formatter(&|v| format!("{v:.0}%"))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        let right = note_style().pos(Pos::new(HPos::Left, VPos::Center));
        for (k, (_, colour, values)) in measures.iter().enumerate() {
            for (i, (row, value)) in rows.iter().zip(values).enumerate() {
                let Some(v) = *value else { continue };
                let s = segment(i, k);
                let cut = cap.is_some_and(|c| v > c);
                let end = if cut { scale_top } else { v };
                let fill =
                    if row.is_real() { mix_with_white(*colour, REAL_FILL_MIX) } else { *colour };
                chart.draw_series([hbar((s, s + 1), (0.0, end), fill.filled(), 1)])?;
                if row.is_real() {
                    chart.draw_series([hbar((s, s + 1), (0.0, end), colour.stroke_width(1), 1)])?;
                }
                if cut {
                    let at = scale_top * 0.9;
                    chart.draw_series([hbar(
                        (s, s + 1),
                        (at, at + scale_top * 0.015),
                        WHITE.filled(),
                        0,
                    )])?;
                }
                chart.draw_series([Text::new(
                    value_label(k, v, &row.record, cut),
                    (end + x_max * 0.005, SegmentValue::CenterOf(s)),
                    right.clone(),
                )])?;
            }
        }
        Ok(())
    })
}
