//! Chart 5: memory over time: the footprint of every strategy over the event index, on top of
//! the trace's live bytes; for a real allocator, its process's resident memory above the
//! baseline, from its first run. Every line carries its name at its end (labels nudged apart
//! where lines end close together) instead of a legend; real allocators' lines are dashed. The
//! x axis counts events, with thousands separators: the trace keeps no times (a CSV's `time_ns`
//! is checked, not kept), so there are no seconds to show.

use super::common::*;
use crate::report::{ExportError, Report};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Pixels between the direct labels at the lines' ends, at least.
const LABEL_GAP_PX: i32 = 13;

/// A row's line: (event index, bytes) after each sampled event. A simulation's footprint
/// (`series`); a real allocator's resident bytes above the baseline (`resident.series`, its
/// first run), 0 where it fell below the baseline.
fn footprint_line(row: &Row) -> Vec<(u64, u64)> {
    match &row.record.resident {
        Some(resident) if row.is_real() => {
            resident.series.iter().map(|s| (s.event, s.rss_above_baseline.max(0) as u64)).collect()
        }
        _ => {
            let series = &row.record.series;
            series.event.iter().copied().zip(series.footprint_bytes.iter().copied()).collect()
        }
    }
}

/// A row's live bytes (requested) after each sampled event.
fn live_line(row: &Row) -> Vec<(u64, u64)> {
    match &row.record.resident {
        Some(resident) if row.is_real() => {
            resident.series.iter().map(|s| (s.event, s.live_requested)).collect()
        }
        _ => {
            let series = &row.record.series;
            series.event.iter().copied().zip(series.live_requested_bytes.iter().copied()).collect()
        }
    }
}

/// Whether the report has a memory series to draw.
pub fn has_series(report: &Report) -> bool {
    rows(report).iter().any(|r| !footprint_line(r).is_empty())
}

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let rows = rows(report);
    let caption = format!(
        "Heap footprint of each strategy (lines) after each sampled event, over the bytes the \
         program had live (grey area): the gap between a line and the area is memory that \
         strategy held but did not use. Each line is named at its end.{}{}",
        real_style_note(&rows, false),
        real_note(
            &rows,
            "A real allocator's line is its process's resident memory above the baseline before \
             the replay, sampled every 65,536 events and after the last, in its first run."
        )
    );
    render("memory", "Memory over time", caption, (WIDTH, HEIGHT + 40), |root| {
        let lines: Vec<Vec<(u64, u64)>> = rows.iter().map(footprint_line).collect();
        let events = rows.iter().filter_map(|r| r.record.events).max().unwrap_or(0).max(1);
        // The trace's live bytes: the same for every strategy unless some requests failed at
        // the heap limit, so the series of the first row with samples (a simulation's, which
        // has the most samples, when there is one).
        let live = rows.iter().map(live_line).find(|l| !l.is_empty()).unwrap_or_default();
        let lives = rows.iter().map(live_line);
        let top = lines
            .iter()
            .cloned()
            .chain(lives)
            .flat_map(|l| l.into_iter().map(|(_, bytes)| bytes))
            .max()
            .unwrap_or(0)
            .max(1);
        let (unit, unit_name) = byte_unit(top as f64);
        let label_chars = rows.iter().map(|r| r.label.chars().count()).max().unwrap_or(0);
        let label_area = text_px(label_chars, font_px(NOTE_SIZE)).ceil() as u32 + 16;
        let mut chart = ChartBuilder::on(root)
            .caption("Footprint per strategy over live bytes", title_style())
            .margin(MARGIN)
            .margin_right(MARGIN + label_area)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(0.0..events as f64, 0.0..top as f64 / unit * 1.08)?;
        chart
            .configure_mesh()
            .x_desc("event index")
            .y_desc(format!("bytes ({unit_name})"))
            .x_labels(8)
            .x_label_formatter(&|v| thousands(v.max(0.0) as u64))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        if !live.is_empty() {
            chart
                .draw_series(AreaSeries::new(
                    live.iter().map(|&(event, bytes)| (event as f64, bytes as f64 / unit)),
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
        let mut ends = vec![];
        for (i, (row, line)) in rows.iter().zip(&lines).enumerate() {
            let colour = strategy_colour(i);
            let points = line.iter().map(|&(event, bytes)| (event as f64, bytes as f64 / unit));
            match line_dash(i, row.is_real()) {
                Some((dash, gap)) => {
                    let style = colour.stroke_width(2);
                    chart.draw_series(DashedLineSeries::new(points, dash, gap, style))?;
                }
                None => {
                    chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
                }
            }
            if let Some(&(event, bytes)) = line.last() {
                ends.push((i, chart.backend_coord(&(event as f64, bytes as f64 / unit))));
            }
        }
        draw_series_legend(&mut chart, SeriesLabelPosition::UpperLeft, note_style())?;
        // The names at the lines' ends, right of the plot, nudged apart.
        let (top_px, bottom_px) = {
            let (_, y0) = chart.backend_coord(&(0.0, top as f64 / unit * 1.08));
            let (_, y1) = chart.backend_coord(&(0.0, 0.0));
            (y0, y1)
        };
        let plot_right = chart.backend_coord(&(events as f64, 0.0)).0;
        let wanted: Vec<i32> = ends.iter().map(|&(_, (_, y))| y).collect();
        let placed = nudge_apart(&wanted, LABEL_GAP_PX, (top_px, bottom_px));
        let left = note_style().pos(Pos::new(HPos::Left, VPos::Center));
        for (&(i, (x, y)), &at) in ends.iter().zip(&placed) {
            let colour = strategy_colour(i);
            let from = x.max(plot_right - 2);
            root.draw(&PathElement::new(
                [(from, y), (plot_right + 6, at)],
                colour.stroke_width(1),
            ))?;
            let label = rows[i].label.as_str();
            root.draw(&Text::new(label.to_string(), (plot_right + 9, at), left.clone()))?;
        }
        Ok(())
    })
}
