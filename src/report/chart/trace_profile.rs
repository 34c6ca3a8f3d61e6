//! Chart 7: the trace itself: its request sizes (log2 buckets) and its live bytes over time.
//! The size axis labels every `step`-th bucket counted from the tallest, so the tallest always
//! has its label; the event axis has thousands separators and room for its last label.

use super::common::*;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

const HISTOGRAM_COLOUR: RGBColor = RGBColor(0x59, 0xa1, 0x4f);

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let caption = "Left: how many allocations asked for each size range (bucket k holds sizes \
                   from 2^k to 2^(k+1)-1 bytes). Right: bytes the program had live after each \
                   sampled event."
        .to_string();
    render("trace-profile", "Trace profile", caption, (WIDTH, HEIGHT), |root| {
        let root = root.titled("Trace profile", title_style())?;
        let (left, right) = root.split_horizontally(WIDTH / 2);
        let sizes = &report.trace.request_sizes;
        let k = sizes.len().max(1) as i32;
        let most = sizes.iter().copied().max().unwrap_or(0).max(1);
        let mut histogram = ChartBuilder::on(&left)
            .caption("request sizes", label_style())
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA - 10)
            .build_cartesian_2d(segments(k), 0.0..most as f64 * 1.1)?;
        let step = (k / 12 + 1).max(1);
        let tallest = sizes.iter().enumerate().max_by_key(|&(i, &n)| (n, std::cmp::Reverse(i)));
        let tallest = tallest.map_or(0, |(i, _)| i as i32);
        histogram
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k as usize + 1)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if (i - tallest) % step == 0 && *i < k => {
                    short_bytes(1u64.checked_shl(*i as u32).unwrap_or(u64::MAX))
                }
                _ => String::new(),
            })
            .x_desc("request size (bucket from)")
            .y_desc("allocations")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        histogram.draw_series(
            sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| bar(i as i32, i as i32 + 1, n as f64, HISTOGRAM_COLOUR)),
        )?;

        let samples = report
            .results
            .iter()
            .find(|r| !r.series.samples.is_empty())
            .map_or(&[][..], |r| &r.series.samples[..]);
        let events = report.trace.events.max(1);
        let top = samples.iter().map(|s| s.live_requested).max().unwrap_or(0).max(1);
        let (unit, unit_name) = byte_unit(top as f64);
        let mut live = ChartBuilder::on(&right)
            .caption("live bytes over time", label_style())
            .margin(MARGIN)
            // Half the widest event label past the axis end, so the last label is not cut.
            .margin_right(MARGIN + text_px(thousands(events).len(), font_px(LABEL_SIZE)) as u32 / 2)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA - 10)
            .build_cartesian_2d(0.0..events as f64, 0.0..top as f64 / unit * 1.1)?;
        live.configure_mesh()
            .x_desc("event index")
            .y_desc(format!("live bytes ({unit_name})"))
            .x_labels(4)
            .x_label_formatter(&|v| thousands(v.max(0.0) as u64))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        live.draw_series(AreaSeries::new(
            samples.iter().map(|s| (s.event as f64, s.live_requested as f64 / unit)),
            0.0,
            TRACE_LIVE_COLOUR.mix(0.6),
        ))?;
        Ok(())
    })
}
