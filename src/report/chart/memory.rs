//! Chart 5: memory over time: the footprint of every strategy over the event index, on top of
//! the trace's live bytes; for a real allocator, its process's resident memory above the
//! baseline, from its first run.

use super::common::*;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

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
         strategy held but did not use.{}",
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
        for (i, (row, line)) in rows.iter().zip(&lines).enumerate() {
            let colour = strategy_colour(i);
            chart
                .draw_series(LineSeries::new(
                    line.iter().map(|&(event, bytes)| (event as f64, bytes as f64 / unit)),
                    colour.stroke_width(2),
                ))?
                .label(row.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2))
                });
        }
        draw_series_legend(&mut chart, SeriesLabelPosition::UpperLeft, note_style())?;
        Ok(())
    })
}
