//! What the charts share: their sizes and palette, as named constants, the [`Chart`] they
//! produce, [`render`] (a chart into an SVG string, drawing errors returned) and the helpers for
//! axes, bars, legends and heap pictures. Every chart file imports it (`use super::common::*`);
//! `chart/mod.rs`, which names every chart file, re-exports it and is imported by none of them.

use crate::report::{ExportError, Report};
use crate::results::ResultRecord;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::RangedCoordi32;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width and height of a chart, in pixels.
pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 420;
/// Space around a chart's plotting area, in pixels.
pub const MARGIN: u32 = 12;
/// Height of the area for x-axis labels, width of the area for y-axis labels.
pub const X_LABEL_AREA: u32 = 45;
pub const Y_LABEL_AREA: u32 = 80;
/// Pixels between bars of different strategies, on each side.
pub const BAR_GAP: u32 = 6;

pub const FONT: &str = "sans-serif";
pub const TITLE_SIZE: u32 = 20;
pub const LABEL_SIZE: u32 = 13;
pub const NOTE_SIZE: u32 = 12;

pub const BACKGROUND: RGBColor = WHITE;
pub const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// One colour per strategy, in registry order (Tableau 10).
pub const STRATEGY_COLOURS: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];
/// Bytes a program asked for, in the heap pictures.
pub const LIVE_COLOUR: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
/// Bytes of live blocks nobody asked for (rounding, headers, padding).
pub const WASTE_COLOUR: RGBColor = RGBColor(0xf0, 0x9a, 0x2e);
/// Free heap bytes.
pub const FREE_COLOUR: RGBColor = RGBColor(0xd8, 0xd8, 0xd8);
/// The live bytes of the trace, where charts show them behind the strategies.
pub const TRACE_LIVE_COLOUR: RGBColor = RGBColor(0x99, 0x99, 0x99);

/// One chart of the report.
#[derive(Clone, Debug)]
pub struct Chart {
    /// File name stem: the chart is `NAME.svg`.
    pub name: &'static str,
    pub title: &'static str,
    /// One line on how to read it.
    pub caption: String,
    pub svg: String,
}

pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub(super) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draw a chart of `size` pixels with `draw` into an SVG string.
pub(super) fn render(
    name: &'static str,
    title: &'static str,
    caption: String,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> Result<Chart, ExportError> {
    let mut svg = String::new();
    let drawn = (|| {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&BACKGROUND)?;
        draw(&root)?;
        root.present()?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })();
    drawn.map_err(|e| ExportError::Chart { chart: name, message: e.to_string() })?;
    Ok(Chart { name, title, caption, svg })
}

/// One bar (or line) of the per-strategy charts: a simulated strategy or a real allocator, with
/// its figures as the JSON has them ([`Report::records`]).
pub(super) struct Row {
    /// The strategy's name; a real allocator's carries ` (real)`, so a reader tells
    /// `glibc (real)` from a simulation.
    pub label: String,
    pub record: ResultRecord,
}

impl Row {
    pub fn is_real(&self) -> bool {
        self.record.is_real()
    }
}

/// The rows of the per-strategy charts: the simulations in their order, then the real
/// allocators (as the tables have them). A real allocator whose replay failed has no figures
/// to draw and is left out (its error is in the table).
pub(super) fn rows(report: &Report) -> Vec<Row> {
    let rows = report.records().into_iter().filter(|r| r.error.is_none());
    rows.map(|record| {
        let label = if record.is_real() {
            format!("{} (real)", record.allocator)
        } else {
            record.allocator.clone()
        };
        Row { label, record }
    })
    .collect()
}

/// The sentence a caption adds when real allocators are drawn.
pub(super) fn real_note(rows: &[Row], note: &str) -> String {
    if rows.iter().any(Row::is_real) {
        format!(" {note}")
    } else {
        String::new()
    }
}

/// Pixels per character of an axis label, about, in [`LABEL_SIZE`] sans-serif.
const LABEL_CHAR_WIDTH: f64 = 7.0;

/// The width of a chart with one labelled slot per row along x: [`WIDTH`], or wider when two
/// neighbouring labels (`mimalloc (real)`, `jemalloc (real)`) would not fit side by side.
pub(super) fn width_for(labels: &[&str]) -> u32 {
    let widest_pair = labels
        .windows(2)
        .map(|w| (w[0].len() + w[1].len()) as f64 / 2.0)
        .fold(labels.first().map_or(0.0, |l| l.len() as f64), f64::max);
    let slot = widest_pair * LABEL_CHAR_WIDTH + 10.0;
    let needed = slot * labels.len() as f64 + f64::from(Y_LABEL_AREA + 2 * MARGIN);
    WIDTH.max(needed.ceil() as u32)
}

/// The colour of the strategy in row `i`.
pub fn strategy_colour(i: usize) -> RGBColor {
    STRATEGY_COLOURS[i % STRATEGY_COLOURS.len()]
}

/// The binary unit to show byte figures up to `max` in: its size and name.
pub fn byte_unit(max: f64) -> (f64, &'static str) {
    const UNITS: [(f64, &str); 4] = [
        (1024.0 * 1024.0 * 1024.0, "GiB"),
        (1024.0 * 1024.0, "MiB"),
        (1024.0, "KiB"),
        (1.0, "bytes"),
    ];
    UNITS.into_iter().find(|(size, _)| max >= 2.0 * size).unwrap_or((1.0, "bytes"))
}

/// The label of segment `v` of a chart with one segment per name (every `group` segments, the
/// middle one of a group carries the name).
pub(super) fn group_label(v: &SegmentValue<i32>, names: &[&str], group: i32) -> String {
    match v {
        SegmentValue::CenterOf(i) if i % group == (group - 1) / 2 => {
            names.get((i / group) as usize).map_or(String::new(), |n| n.to_string())
        }
        _ => String::new(),
    }
}

/// A category axis of `n` segments, `0 .. n - 1` (plotters' integer ranges include their end).
/// One segment would make a range of zero width, so it gets a second, empty one.
pub(super) fn segments(n: i32) -> SegmentedCoord<RangedCoordi32> {
    (0..(n - 1).max(1)).into_segmented()
}

/// A bar over segments `[from, to)` of a segmented axis, up to `value`.
pub(super) fn bar(
    from: i32,
    to: i32,
    value: f64,
    colour: RGBColor,
) -> Rectangle<(SegmentValue<i32>, f64)> {
    bar_between((from, to), (0.0, value), colour, BAR_GAP)
}

/// A bar over segments `[from, to)` of a segmented axis, from `base` up to `top`, `gap` pixels
/// in from each side.
pub(super) fn bar_between(
    (from, to): (i32, i32),
    (base, top): (f64, f64),
    colour: RGBColor,
    gap: u32,
) -> Rectangle<(SegmentValue<i32>, f64)> {
    let mut bar = Rectangle::new(
        [(SegmentValue::Exact(from), base), (SegmentValue::Exact(to), top)],
        colour.filled(),
    );
    bar.set_margin(0, 0, gap, gap);
    bar
}

/// Draw the chart's series legend at `position`, in `font`, on a box that lets the bars show
/// through a little.
pub(super) fn draw_series_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font: TextStyle<'_>,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(font)
        .background_style(BACKGROUND.mix(0.85))
        .border_style(INK)
        .draw()?;
    Ok(())
}

pub(super) fn title_style() -> TextStyle<'static> {
    (FONT, TITLE_SIZE).into_font().color(&INK)
}

pub(super) fn label_style() -> TextStyle<'static> {
    (FONT, LABEL_SIZE).into_font().color(&INK)
}

pub(super) fn note_style() -> TextStyle<'static> {
    (FONT, NOTE_SIZE).into_font().color(&INK)
}

/// Short byte count for axis labels: `16B`, `4K`, `2M`.
pub(super) fn short_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => format!("{b}B"),
    }
}

/// Draw a legend of coloured swatches with names in a row, from pixel `(x, y)`.
pub(super) fn swatch_legend(area: &Area, x: i32, y: i32, items: &[(RGBColor, &str)]) -> DrawResult {
    let mut x = x;
    for (colour, name) in items {
        area.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], colour.filled()))?;
        area.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], INK.stroke_width(1)))?;
        area.draw(&Text::new(name.to_string(), (x + 20, y + 1), note_style()))?;
        x += 30 + 7 * name.len() as i32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_axes_use_the_largest_unit_that_keeps_two_or_more() {
        assert_eq!(byte_unit(3000.0).1, "KiB");
        assert_eq!(byte_unit(1500.0).1, "bytes");
        assert_eq!(byte_unit(5.0 * 1024.0 * 1024.0).1, "MiB");
        assert_eq!(short_bytes(16), "16B");
        assert_eq!(short_bytes(4096), "4K");
        assert_eq!(short_bytes(1 << 21), "2M");
    }

    #[test]
    fn charts_of_the_simulations_keep_their_width_and_long_real_labels_widen_them() {
        let simulated = crate::alloc::ALL.iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(width_for(&simulated), WIDTH);
        let mut all = simulated.clone();
        all.extend(["glibc (real)", "mimalloc (real)", "jemalloc (real)"]);
        assert!(width_for(&all) > WIDTH);
        assert_eq!(width_for(&[]), WIDTH);
    }
}
