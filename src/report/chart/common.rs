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
/// One colour per row of the per-strategy charts, in row order: eight of Paul Tol's "muted"
/// scheme (chosen to stay apart for readers with any of the common colour-vision deficiencies,
/// and on white; its purple is left out, too close to its rose), interleaved with four of Okabe
/// and Ito's (blue, orange, vermillion, black), which differ from all eight in hue or lightness.
/// Twelve colours cover the nine simulations and the three real allocators of `--alloc all`;
/// from the thirteenth row on, colours repeat and the
/// lines are dashed ([`line_dash`]). Tableau 10, used before, had two close reds and ran out at
/// ten.
pub const STRATEGY_COLOURS: [RGBColor; 12] = [
    RGBColor(0x00, 0x72, 0xb2), // Okabe-Ito blue
    RGBColor(0xe6, 0x9f, 0x00), // Okabe-Ito orange
    RGBColor(0x11, 0x77, 0x33), // Tol green
    RGBColor(0xcc, 0x66, 0x77), // Tol rose
    RGBColor(0x88, 0xcc, 0xee), // Tol cyan
    RGBColor(0x88, 0x22, 0x55), // Tol wine
    RGBColor(0xdd, 0xcc, 0x77), // Tol sand
    RGBColor(0x33, 0x22, 0x88), // Tol indigo
    RGBColor(0x44, 0xaa, 0x99), // Tol teal
    RGBColor(0xd5, 0x5e, 0x00), // Okabe-Ito vermillion
    RGBColor(0x99, 0x99, 0x33), // Tol olive
    RGBColor(0x00, 0x00, 0x00), // Okabe-Ito black
];
/// How much of a real allocator's colour fills its bar: real allocators' bars are pale with a
/// full-colour outline, so they read apart from the simulations' solid bars.
pub const REAL_FILL_MIX: f64 = 0.3;
/// Stroke width of a real allocator's bar outline, in pixels.
pub const REAL_OUTLINE_PX: u32 = 2;
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

/// The dash pattern of row `i`'s line, `(dash, gap)` in pixels, or `None` for a solid line: a
/// real allocator's line is dashed, and so is a row past the palette's end (where colours
/// repeat), with a shorter dash, so that no two rows of a chart look alike.
pub(super) fn line_dash(i: usize, real: bool) -> Option<(u32, u32)> {
    match (real, i >= STRATEGY_COLOURS.len()) {
        (true, _) => Some((7, 4)),
        (false, true) => Some((2, 3)),
        (false, false) => None,
    }
}

/// The fill of row `i`'s bar and, for a real allocator, its outline (see [`REAL_FILL_MIX`]).
pub(super) fn bar_styles(i: usize, real: bool) -> (ShapeStyle, Option<ShapeStyle>) {
    let colour = strategy_colour(i);
    if real {
        let pale = mix_with_white(colour, REAL_FILL_MIX);
        (pale.filled(), Some(colour.stroke_width(REAL_OUTLINE_PX)))
    } else {
        (colour.filled(), None)
    }
}

/// `colour` at `share` (0 to 1) over white, as an opaque colour.
pub fn mix_with_white(colour: RGBColor, share: f64) -> RGBColor {
    let mix = |c: u8| (255.0 - (255.0 - f64::from(c)) * share).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

/// The sentence a caption adds on how real allocators are drawn, when there are any.
pub(super) fn real_style_note(rows: &[Row], bars: bool) -> String {
    let how = if bars { "pale, outlined bars" } else { "dashed lines" };
    real_note(rows, &format!("Real allocators (NAME (real)) are the {how}."))
}

/// Where the value axis of a bar chart stops when one value would squash the others: when the
/// largest of `values` is more than [`OUTLIER_FACTOR`] times the next largest, the axis is
/// scaled to the next largest and the outlier's bar is cut (`Some(next largest)`); otherwise
/// `None` (scale to the largest). `bump`, which never reuses memory, is the usual outlier.
pub fn outlier_cap(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    match sorted[..] {
        [top, next, ..] if next > 0.0 && top > OUTLIER_FACTOR * next => Some(next),
        _ => None,
    }
}

/// See [`outlier_cap`].
pub const OUTLIER_FACTOR: f64 = 2.0;

/// A duration in the unit that suits it: `850 ns`, `12 µs`, `4.2 ms`, `1.5 s` (never
/// `10000000 ns`).
pub fn human_ns(ns: f64) -> String {
    let (value, unit) = match ns.abs() {
        n if n >= 1e9 => (ns / 1e9, "s"),
        n if n >= 1e6 => (ns / 1e6, "ms"),
        n if n >= 1e3 => (ns / 1e3, "µs"),
        _ => (ns, "ns"),
    };
    let digits = if value.abs() >= 10.0 || value.fract().abs() < 1e-9 { 0 } else { 1 };
    format!("{value:.digits$} {unit}")
}

/// The labelled values of a log axis from `low` to `high`: the powers of ten, and 2 and 5 times
/// them as well when the axis spans fewer than three decades (plotters' own log labels crowd
/// and repeat at a decade's end, so the charts draw these instead).
pub fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    if !(low > 0.0 && high > low && high.is_finite()) {
        return vec![];
    }
    let steps: &[f64] = if high / low < 1e3 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    let mut ticks = vec![];
    let mut decade = 10f64.powf(low.log10().floor());
    while decade <= high {
        for step in steps {
            let v = decade * step;
            if v >= low * (1.0 - 1e-9) && v <= high {
                ticks.push(v);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// A count with thousands separators: `457,600`.
pub use crate::words::thousands;

/// A rate in short form: `950`, `12.30k`, `4.56M`, `2M`.
pub fn short_count(v: f64) -> String {
    match v.abs() {
        a if a >= 1e9 => format!("{:.2}G", v / 1e9),
        a if a >= 1e6 => format!("{:.2}M", v / 1e6),
        a if a >= 1e3 => format!("{:.2}k", v / 1e3),
        _ => format!("{v:.0}"),
    }
    .replace(".00", "")
}

/// Pixel rows for labels that want to sit at `wanted` (any order), at least `gap` pixels apart
/// and inside `[low, high]` as far as room allows, each moved as little as the others let it:
/// the direct labels at the ends of the memory chart's lines. Returned in the order of `wanted`.
pub fn nudge_apart(wanted: &[i32], gap: i32, (low, high): (i32, i32)) -> Vec<i32> {
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| (wanted[i], i));
    let mut placed: Vec<i32> = order.iter().map(|&i| wanted[i].clamp(low, high)).collect();
    for k in 1..placed.len() {
        placed[k] = placed[k].max(placed[k - 1] + gap);
    }
    if let Some(last) = placed.last_mut() {
        *last = (*last).min(high);
    }
    for k in (0..placed.len().saturating_sub(1)).rev() {
        placed[k] = placed[k].min(placed[k + 1] - gap);
    }
    let mut out = vec![0; wanted.len()];
    for (k, &i) in order.iter().enumerate() {
        out[i] = placed[k];
    }
    out
}

/// A horizontal bar over segments `[from, to)` of a segmented y axis, from `base` to `top`
/// along x, `gap` pixels in from the top and bottom.
pub(super) fn hbar(
    (from, to): (i32, i32),
    (base, top): (f64, f64),
    style: ShapeStyle,
    gap: u32,
) -> Rectangle<(f64, SegmentValue<i32>)> {
    let mut bar =
        Rectangle::new([(base, SegmentValue::Exact(from)), (top, SegmentValue::Exact(to))], style);
    bar.set_margin(gap, gap, 0, 0);
    bar
}

/// Pixels a text of `chars` characters takes across, about, at `font_px` (0.6 em a character,
/// as `tests/svg_layout.rs` estimates it).
pub fn text_px(chars: usize, font_px: f64) -> f64 {
    chars as f64 * 0.6 * font_px
}

/// The pixel size SVG text of nominal size `size` gets from plotters (it scales fonts by 1/1.24).
pub fn font_px(size: u32) -> f64 {
    f64::from(size) / 1.24
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

/// A bar over segments `[from, to)` of a segmented x axis, from `base` up to `top`, in `style`.
pub(super) fn styled_bar(
    (from, to): (i32, i32),
    (base, top): (f64, f64),
    style: ShapeStyle,
    gap: u32,
) -> Rectangle<(SegmentValue<i32>, f64)> {
    let mut bar =
        Rectangle::new([(SegmentValue::Exact(from), base), (SegmentValue::Exact(to), top)], style);
    bar.set_margin(0, 0, gap, gap);
    bar
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
    fn the_palette_keeps_twelve_rows_apart_and_dashes_what_colour_alone_cannot() {
        // Every pair of the twelve colours differs by at least 60 in one channel: none of
        // Tableau's two close reds.
        for (i, a) in STRATEGY_COLOURS.iter().enumerate() {
            for b in &STRATEGY_COLOURS[i + 1..] {
                let far = [(a.0, b.0), (a.1, b.1), (a.2, b.2)]
                    .iter()
                    .map(|&(x, y)| (i32::from(x) - i32::from(y)).abs())
                    .max();
                assert!(far >= Some(60), "{a:?} and {b:?} are too close");
            }
        }
        assert_eq!(line_dash(3, false), None);
        assert!(line_dash(3, true).is_some());
        assert!(line_dash(12, false).is_some());
        assert!(bar_styles(10, true).1.is_some());
        assert!(bar_styles(1, false).1.is_none());
    }

    #[test]
    fn only_a_bar_more_than_twice_the_next_is_cut() {
        assert_eq!(outlier_cap(&[254.0, 98.0, 10.0]), Some(98.0));
        assert_eq!(outlier_cap(&[99.9, 99.8, 100.0]), None);
        assert_eq!(outlier_cap(&[5.0]), None);
        assert_eq!(outlier_cap(&[5.0, 0.0]), None);
    }

    #[test]
    fn durations_are_shown_in_the_unit_that_suits_them() {
        assert_eq!(human_ns(10_000_000.0), "10 ms");
        assert_eq!(human_ns(850.0), "850 ns");
        assert_eq!(human_ns(1_000.0), "1 µs");
        assert_eq!(human_ns(4_200_000.0), "4.2 ms");
        assert_eq!(thousands(457_600u64), "457,600");
        assert_eq!(thousands(999u64), "999");
        assert_eq!(thousands(1_000_000u64), "1,000,000");
        assert_eq!(short_count(35_310_000.0), "35.31M");
        assert_eq!(short_count(2_000_000.0), "2M");
    }

    #[test]
    fn a_log_axis_is_labelled_once_a_tick_at_one_two_and_five_or_at_each_decade() {
        assert_eq!(log_ticks(1e6, 45e6), [1e6, 2e6, 5e6, 1e7, 2e7]);
        assert_eq!(log_ticks(10.0, 1e5), [10.0, 100.0, 1e3, 1e4, 1e5]);
        assert_eq!(log_ticks(0.0, 10.0), Vec::<f64>::new());
    }

    #[test]
    fn labels_that_want_one_row_are_nudged_apart_within_the_bounds() {
        assert_eq!(nudge_apart(&[100, 100, 100], 12, (0, 400)), [100, 112, 124]);
        assert_eq!(nudge_apart(&[395, 50, 398], 12, (0, 400)), [388, 50, 400]);
        assert_eq!(nudge_apart(&[10, 300], 12, (0, 400)), [10, 300]);
        assert_eq!(nudge_apart(&[], 12, (0, 400)), Vec::<i32>::new());
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
