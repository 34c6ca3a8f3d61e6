//! Chart 6a: the heap map: each strategy's address space at the peak event, in rows like lines
//! of text. Every cell is a small stacked bar of its bytes ([`Cell`]): live payload from the
//! bottom, internal waste above it, free bytes above that, each in proportion to its byte
//! count, so a cell that is mostly live still shows its waste and its free part. Also the
//! drawing the heap timeline shares: the legend, the panel text, and text widths by the rule
//! the report's text test applies (0.6 em a character).

use super::common::*;
use super::common::{Area, DrawResult};
use crate::alloc::Bytes;
use crate::engine::heap_pictures::{Cell, HeapMap, MAP_COLUMNS};
use crate::report::human_bytes;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

/// Pixels per cell, across and down. A cell's height is its bar: [`LEVELS`] steps of 1 px.
const CELL_PX: (i32, i32) = (2, 8);
/// Steps of a cell's stacked bar: its bytes of each kind are shown to the nearest eighth of a
/// cell, the rounding carried along the row (see [`stack_levels`]).
const LEVELS: u32 = 8;
/// Panels per row of the chart.
const PANELS_ACROSS: usize = 2;
/// Space around a panel, and between its text lines and its cells.
const PANEL_PAD: i32 = 20;
/// Height of the chart's header (title and legend).
pub(super) const HEADER: i32 = 76;
/// Pixels from one line of a panel's text to the next.
pub(super) const LINE: i32 = 17;

/// Width in pixels of `text` in a font of `size`, by the report's text rule: 0.6 em a
/// character (plotters writes a smaller font size than asked, so this is an upper bound).
pub(super) fn text_width(text: &str, size: u32) -> i32 {
    (text.chars().count() as f64 * 0.6 * f64::from(size)).ceil() as i32
}

/// The lines of text above a panel: the strategy's name (in the label font), then notes.
pub(super) fn panel_text(area: &Area, (x, y): (i32, i32), lines: &[String]) -> DrawResult {
    for (i, line) in lines.iter().enumerate() {
        let style = if i == 0 { label_style() } else { note_style() };
        area.draw(&Text::new(line.clone(), (x, y + i as i32 * LINE), style))?;
    }
    Ok(())
}

/// The widest of a panel's text lines, in pixels.
pub(super) fn widest(lines: &[String]) -> i32 {
    let width =
        |(i, l): (usize, &String)| text_width(l, if i == 0 { LABEL_SIZE } else { NOTE_SIZE });
    lines.iter().enumerate().map(width).max().unwrap_or(0)
}

/// Swatches in a row from `(x, y)`.
pub(super) fn legend(area: &Area, (x, y): (i32, i32), items: &[(RGBColor, &str)]) -> DrawResult {
    swatch_legend(area, x, y, items)
}

/// The width of [`legend`], in pixels ([`swatch_legend`] gives an item 30 px and 7 a character).
pub(super) fn legend_width(items: &[(RGBColor, &str)]) -> i32 {
    items.iter().map(|(_, name)| 30 + 7 * name.len() as i32).sum()
}

/// The SVG without the attributes plotters writes that only repeat SVG's defaults
/// (`opacity="1"`, `stroke="none"`): the heap pictures draw thousands of shapes.
pub(super) fn compact(mut chart: Chart) -> Chart {
    chart.svg = chart.svg.replace(" opacity=\"1\"", "").replace(" stroke=\"none\"", "");
    chart
}

const LEGEND: [(RGBColor, &str); 3] = [
    (LIVE_COLOUR, "live payload (requested)"),
    (WASTE_COLOUR, "internal waste (headers, rounding, padding)"),
    (FREE_COLOUR, "free"),
];

/// The steps of each cell's bar held by its live, waste and free bytes, stacked in that order
/// from the bottom (the rest of a cell, past the heap's top, is left blank). A cell's steps
/// add up to its bytes inside the heap in steps, rounded (at least one step when it has any);
/// a kind gets steps only in a cell that holds some of it; the rounding of each kind is
/// carried to the next cell, so along a row every kind shows within about a step of its bytes
/// (a row of cells 6% waste shows about every other cell with one step of waste).
pub(super) fn stack_levels(row: &[Cell], cell_bytes: Bytes, levels: u32) -> Vec<[u32; 3]> {
    let mut carry = [0.0f64; 3];
    let step = cell_bytes as f64 / f64::from(levels);
    row.iter()
        .map(|cell| {
            let bytes = [cell.live, cell.waste, cell.free];
            let inside = cell.inside();
            if inside == 0 {
                carry = [0.0; 3];
                return [0; 3];
            }
            let units = ((inside as f64 / step).round() as u32).clamp(1, levels);
            let exact = bytes.map(|b| b as f64 / step);
            let mut want = [0.0f64; 3];
            for k in 0..3 {
                want[k] = if bytes[k] > 0 { (exact[k] + carry[k]).max(0.0) } else { 0.0 };
            }
            let total: f64 = want.iter().sum();
            if total <= 0.0 {
                want = exact;
            }
            let steps = apportion(want, units);
            for k in 0..3 {
                carry[k] =
                    if bytes[k] > 0 { exact[k] + carry[k] - f64::from(steps[k]) } else { 0.0 };
                carry[k] = carry[k].clamp(-1.0, 1.0);
            }
            steps
        })
        .collect()
}

/// `units` whole steps shared in proportion to `weights` (largest remainder; ties to the
/// earlier kind). A kind of weight 0 gets none; all weights 0 give all steps to none.
pub(super) fn apportion(weights: [f64; 3], units: u32) -> [u32; 3] {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return [0; 3];
    }
    let share = weights.map(|w| w / total * f64::from(units));
    let mut steps = share.map(|s| s.floor() as u32);
    let mut left = units.saturating_sub(steps.iter().sum());
    while left > 0 {
        let mut best = None;
        for k in 0..3 {
            let remainder = share[k] - f64::from(steps[k]);
            let better = match best {
                None => true,
                Some((_, r)) => remainder > r,
            };
            if weights[k] > 0.0 && better {
                best = Some((k, remainder));
            }
        }
        let Some((k, _)) = best else { break };
        steps[k] += 1;
        left -= 1;
    }
    steps
}

/// Draw the map's cells from pixel `(x, y)`: per row, one polygon per layer (the step outline
/// of free + waste + live, then of waste + live, then of live, each over the one before), so a
/// large heap makes a small file. A thin frame marks the address space the rows span.
fn draw_stacks(area: &Area, (x, y): (i32, i32), m: &HeapMap) -> DrawResult {
    let (w, h) = CELL_PX;
    let step = h / LEVELS as i32;
    let rows = m.cells.len().div_ceil(m.columns.max(1));
    for (r, row) in m.cells.chunks(m.columns.max(1)).enumerate() {
        let bottom = y + (r as i32 + 1) * h;
        let levels = stack_levels(row, m.cell_bytes, LEVELS);
        let layers = [
            (FREE_COLOUR, levels.iter().map(|l| l[0] + l[1] + l[2]).collect::<Vec<_>>()),
            (WASTE_COLOUR, levels.iter().map(|l| l[0] + l[1]).collect()),
            (LIVE_COLOUR, levels.iter().map(|l| l[0]).collect()),
        ];
        for (colour, heights) in layers {
            let points = step_outline(&heights, (x, bottom), (w, step));
            if !points.is_empty() {
                area.draw(&Polygon::new(points, colour.filled()))?;
            }
        }
    }
    let (right, low) = (x + m.columns as i32 * w, y + rows as i32 * h);
    area.draw(&Rectangle::new([(x - 1, y - 1), (right + 1, low + 1)], INK.mix(0.5)))?;
    Ok(())
}

/// The outline of the area under `heights` (steps of `step` px, one column of `w` px each),
/// from `(x, bottom)` rightwards: a vertex only where the height changes. Empty when all are
/// 0.
fn step_outline(
    heights: &[u32],
    (x, bottom): (i32, i32),
    (w, step): (i32, i32),
) -> Vec<(i32, i32)> {
    if heights.iter().all(|&h| h == 0) {
        return Vec::new();
    }
    let top = |h: u32| bottom - h as i32 * step;
    let mut points = vec![(x, bottom)];
    let mut previous = None;
    for (i, &height) in heights.iter().enumerate() {
        let at = x + i as i32 * w;
        if previous != Some(height) {
            if let Some(p) = previous {
                points.push((at, top(p)));
            }
            points.push((at, top(height)));
            previous = Some(height);
        }
    }
    let end = x + heights.len() as i32 * w;
    points.push((end, top(previous.unwrap_or(0))));
    points.push((end, bottom));
    points
}

/// The text above a strategy's map.
fn map_lines(allocator: &str, m: &HeapMap) -> Vec<String> {
    vec![
        allocator.to_string(),
        format!("{} heap after event {}", human_bytes(m.footprint), m.event),
        format!(
            "1 cell = {}, a row = {}",
            human_bytes(m.cell_bytes),
            human_bytes(m.cell_bytes.saturating_mul(m.columns as u64))
        ),
    ]
}

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let caption = "Each strategy's heap right after the peak event, address 0 at the top left, \
                   read left to right and down like text. A cell is the stated number of bytes \
                   and a small stacked bar of them: from its bottom, live payload (blue), \
                   internal waste (orange), free (grey), each as tall as its share of the cell's \
                   bytes, to the nearest eighth (the rounding carried along the row, so a row \
                   shows each kind within about an eighth of a cell of its bytes); a cell \
                   reaching past the heap's top is as tall as its bytes inside. Grey between \
                   blue is fragmentation; orange tops are waste inside blocks."
        .to_string();
    let texts: Vec<Vec<String>> =
        report.heap.iter().map(|p| map_lines(p.allocator, &p.map)).collect();
    let text_w = texts.iter().map(|t| widest(t)).max().unwrap_or(0);
    let panel_w = (MAP_COLUMNS as i32 * CELL_PX.0).max(text_w) + 2 * PANEL_PAD;
    let title_h = 3 * LINE + 4;
    // Each row of panels is as tall as its tallest map.
    let map_rows = |p: &crate::engine::heap_pictures::HeapPictures| {
        p.map.cells.len().div_ceil(p.map.columns.max(1)) as i32
    };
    let row_heights: Vec<i32> = report
        .heap
        .chunks(PANELS_ACROSS)
        .map(|row| title_h + row.iter().map(map_rows).max().unwrap_or(1) * CELL_PX.1 + PANEL_PAD)
        .collect();
    let title = "Heap map at the peak event";
    let width = (PANELS_ACROSS as i32 * panel_w)
        .max(legend_width(&LEGEND) + 2 * PANEL_PAD)
        .max(text_width(title, TITLE_SIZE) + 2 * PANEL_PAD);
    let size = (width as u32, (HEADER + row_heights.iter().sum::<i32>()) as u32);
    let chart = render("heap-map", "Heap map at the peak", caption, size, |root| {
        root.draw(&Text::new(title, (PANEL_PAD, 10), title_style()))?;
        legend(root, (PANEL_PAD, 42), &LEGEND)?;
        let mut y = HEADER;
        for (row, height) in report.heap.chunks(PANELS_ACROSS).zip(&row_heights) {
            for (i, p) in row.iter().enumerate() {
                let x = i as i32 * panel_w + PANEL_PAD;
                let lines = map_lines(p.allocator, &p.map);
                panel_text(root, (x, y), &lines)?;
                draw_stacks(root, (x, y + title_h), &p.map)?;
            }
            y += height;
        }
        Ok(())
    })?;
    Ok(compact(chart))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(live: Bytes, waste: Bytes, free: Bytes) -> Cell {
        Cell { live, waste, free }
    }

    #[test]
    fn a_cell_shows_each_kind_of_byte_in_proportion() {
        // 1 KiB cells: a quarter waste, half free; a full cell; a cell half past the top.
        let row = [c(256, 256, 512), c(1024, 0, 0), c(128, 0, 384)];
        assert_eq!(stack_levels(&row, 1024, 8), [[2, 2, 4], [8, 0, 0], [1, 0, 3]]);
        // Outside the heap: nothing drawn; a sliver of heap still gets a step.
        assert_eq!(stack_levels(&[c(0, 0, 0), c(1, 0, 0)], 1024, 8), [[0, 0, 0], [1, 0, 0]]);
    }

    #[test]
    fn waste_too_small_for_a_step_in_one_cell_still_shows_along_the_row() {
        // 100 cells of 1000 bytes, 6% waste each: 48 steps of waste in 800 (6%), give or take
        // one; no cell gets waste it does not hold.
        let mut row = vec![c(940, 60, 0); 100];
        row.push(c(1000, 0, 0));
        let levels = stack_levels(&row, 1000, 8);
        let waste: u32 = levels.iter().map(|l| l[1]).sum();
        assert!((47..=49).contains(&waste), "{waste} steps of waste");
        assert!(levels.iter().all(|l| l.iter().sum::<u32>() == 8));
        assert_eq!(levels[100], [8, 0, 0]);
    }

    #[test]
    fn whole_steps_are_shared_by_largest_remainder() {
        assert_eq!(apportion([1.0, 1.0, 2.0], 8), [2, 2, 4]);
        assert_eq!(apportion([5.0, 3.0, 0.0], 8), [5, 3, 0]);
        assert_eq!(apportion([1.0, 1.0, 1.0], 8), [3, 3, 2]);
        assert_eq!(apportion([0.0, 0.0, 0.0], 8), [0, 0, 0]);
        assert_eq!(apportion([0.01, 0.0, 0.0], 8), [8, 0, 0]);
    }

    #[test]
    fn a_layer_outline_has_a_vertex_only_where_its_height_changes() {
        assert_eq!(
            step_outline(&[2, 2, 1], (10, 100), (2, 1)),
            [(10, 100), (10, 98), (14, 98), (14, 99), (16, 99), (16, 100)]
        );
        assert!(step_outline(&[0, 0], (0, 0), (2, 1)).is_empty());
    }
}
