//! Chart 6b: the heap timeline: time downwards, address across, so fragmentation can be watched
//! building up. A row is two pixels tall, too thin for the heap map's stacked bars, so each
//! cell is drawn in a mix of blue (bytes in live blocks: payload and waste alike; the heap map
//! tells them apart) and grey (free) in proportion to its bytes ([`mix`]): a cell that is
//! mostly in use but partly free is a paler blue, not solid blue.

use super::common::*;
use super::common::{Area, DrawResult};
use super::heap_map::{
    apportion, compact, legend, legend_width, panel_text, text_width, widest, HEADER, LINE,
};
use crate::engine::heap_pictures::{Cell, HeapTimeline, TIMELINE_COLUMNS, TIMELINE_ROWS};
use crate::report::human_bytes;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

/// Pixels per cell, across and down.
const CELL_PX: (i32, i32) = (1, 2);
const PANELS_ACROSS: usize = 3;
/// Space around a panel.
const PANEL_PAD: i32 = 20;
/// Steps of the colour mix: a cell's colour shows its share of free bytes to the nearest
/// eighth, as the heap map does (finer steps make runs of one colour rare and the file large).
const MIX_STEPS: u32 = 8;

const LEGEND: [(RGBColor, &str); 2] = [
    (LIVE_COLOUR, "in live blocks (payload and waste)"),
    (FREE_COLOUR, "free (cells in between: mixed in proportion to their bytes)"),
];

/// The colour of a cell: the colours of bytes in live blocks and of free bytes mixed in
/// proportion to its bytes of each (in [`MIX_STEPS`] steps, largest remainder); `None` for a
/// cell outside the heap.
fn mix(cell: &Cell) -> Option<RGBColor> {
    if cell.inside() == 0 {
        return None;
    }
    let used = cell.live.saturating_add(cell.waste);
    let steps = apportion([used as f64, cell.free as f64, 0.0], MIX_STEPS);
    let colours = [LIVE_COLOUR, FREE_COLOUR];
    let channel = |pick: fn(&RGBColor) -> u8| {
        let sum: u32 = steps.iter().zip(&colours).map(|(&n, c)| n * u32::from(pick(c))).sum();
        ((sum + MIX_STEPS / 2) / MIX_STEPS) as u8
    };
    Some(RGBColor(channel(|c| c.0), channel(|c| c.1), channel(|c| c.2)))
}

/// Runs of one colour in a row of cells: `(start, end, colour)`, by increasing start; cells
/// outside the heap are in none.
fn runs(row: &[Cell]) -> Vec<(usize, usize, RGBColor)> {
    let colours: Vec<Option<RGBColor>> = row.iter().map(mix).collect();
    let mut runs = Vec::new();
    let mut start = 0;
    while start < colours.len() {
        let colour = colours[start];
        let end =
            colours[start..].iter().position(|&c| c != colour).map_or(colours.len(), |n| start + n);
        if let Some(colour) = colour {
            runs.push((start, end, colour));
        }
        start = end;
    }
    runs
}

/// Draw the timeline's cells from pixel `(x, y)`, [`TIMELINE_COLUMNS`] pixels wide whatever
/// the columns: a run of one colour in a row is one rectangle, and one that the next rows
/// repeat (same cells, same colour: a part of the heap that did not change) grows down into
/// them, so a big heap does not make a huge file. A thin frame marks the address space the
/// rows span.
fn draw_mixed(area: &Area, (x, y): (i32, i32), t: &HeapTimeline) -> DrawResult {
    let columns = t.columns.max(1);
    let width = TIMELINE_COLUMNS as i32 * CELL_PX.0;
    let across = |column: usize| x + (column as i64 * width as i64 / columns as i64) as i32;
    let cell_h = CELL_PX.1;
    // Runs drawn down to row `last`, from the row they began in.
    let draw = |(start, end, colour, first): (usize, usize, RGBColor, usize), last: usize| {
        let top = y + first as i32 * cell_h;
        let corners = [(across(start), top), (across(end), y + (last as i32 + 1) * cell_h)];
        area.draw(&Rectangle::new(corners, colour.filled()))
    };
    // The runs of the row before, with the row each began in, by increasing start.
    let mut open: Vec<(usize, usize, RGBColor, usize)> = Vec::new();
    let rows = t.cells.len().div_ceil(columns);
    for (r, row) in t.cells.chunks(columns).enumerate() {
        let mut taken = vec![false; open.len()];
        let mut next = Vec::new();
        for (start, end, colour) in runs(row) {
            let first = match open.binary_search_by_key(&start, |o| o.0) {
                Ok(i) if open[i].1 == end && open[i].2 == colour => {
                    taken[i] = true;
                    open[i].3
                }
                _ => r,
            };
            next.push((start, end, colour, first));
        }
        for (run, _) in open.iter().zip(&taken).filter(|(_, &taken)| !taken) {
            draw(*run, r - 1)?;
        }
        open = next;
    }
    for run in open {
        draw(run, rows.saturating_sub(1))?;
    }
    let corners = [(x - 1, y - 1), (x + width + 1, y + rows as i32 * cell_h + 1)];
    area.draw(&Rectangle::new(corners, INK.mix(0.5)))?;
    Ok(())
}

/// The text above a strategy's timeline.
fn timeline_lines(allocator: &str, t: &HeapTimeline) -> Vec<String> {
    let last = t.events.last().copied().unwrap_or(0);
    vec![
        format!("{allocator}: 0 .. {}", human_bytes(t.width)),
        format!("1 cell = {}, {} across", human_bytes(t.cell_bytes), t.columns),
        format!("rows: events 0 .. {last}"),
    ]
}

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let caption = "Each strategy's heap over the trace: address 0 to its peak footprint across, \
                   time downwards (each row is the heap after an evenly spaced event, the last \
                   row the end of the trace). A row is too thin for the heap map's stacked bars, \
                   so each cell is a mix of blue (bytes in live blocks, payload and waste alike: \
                   the heap map tells them apart) and grey (free) in proportion to its bytes, to \
                   the nearest eighth: a cell a quarter free is a quarter of the way from blue \
                   to grey, so free space shows even where cells are large. Paler areas \
                   spreading between blue are fragmentation building up; blank is not yet part \
                   of the heap."
        .to_string();
    let texts: Vec<Vec<String>> =
        report.heap.iter().map(|p| timeline_lines(p.allocator, &p.timeline)).collect();
    let text_w = texts.iter().map(|t| widest(t)).max().unwrap_or(0);
    let panel_w = (TIMELINE_COLUMNS as i32 * CELL_PX.0).max(text_w) + 2 * PANEL_PAD;
    let title_h = 3 * LINE + 4;
    let panel_h = title_h + TIMELINE_ROWS as i32 * CELL_PX.1 + PANEL_PAD;
    let rows = report.heap.len().div_ceil(PANELS_ACROSS) as i32;
    let title = "Heap timeline (time downwards)";
    let width = (PANELS_ACROSS as i32 * panel_w)
        .max(legend_width(&LEGEND) + 2 * PANEL_PAD)
        .max(text_width(title, TITLE_SIZE) + 2 * PANEL_PAD);
    let size = (width as u32, (HEADER + rows * panel_h) as u32);
    let chart = render("heap-timeline", "Heap timeline", caption, size, |root| {
        root.draw(&Text::new(title, (PANEL_PAD, 10), title_style()))?;
        legend(root, (PANEL_PAD, 42), &LEGEND)?;
        for (i, (p, lines)) in report.heap.iter().zip(&texts).enumerate() {
            let x = (i % PANELS_ACROSS) as i32 * panel_w + PANEL_PAD;
            let y = HEADER + (i / PANELS_ACROSS) as i32 * panel_h;
            panel_text(root, (x, y), lines)?;
            draw_mixed(root, (x, y + title_h), &p.timeline)?;
        }
        Ok(())
    })?;
    Ok(compact(chart))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_takes_the_mix_of_its_bytes_colours() {
        let c = |live, waste, free| Cell { live, waste, free };
        assert_eq!(mix(&c(64, 0, 0)), Some(LIVE_COLOUR));
        assert_eq!(mix(&c(0, 0, 64)), Some(FREE_COLOUR));
        assert_eq!(mix(&c(16, 48, 0)), Some(LIVE_COLOUR), "waste is in a live block");
        assert_eq!(mix(&c(0, 0, 0)), None);
        // Half live, half free: halfway between the two colours, channel by channel.
        let half = mix(&c(32, 0, 32)).unwrap();
        let between = |a: u8, b: u8| (u32::from(a) + u32::from(b)).div_ceil(2) as u8;
        let (l, f) = (LIVE_COLOUR, FREE_COLOUR);
        assert_eq!(half, RGBColor(between(l.0, f.0), between(l.1, f.1), between(l.2, f.2)));
        // A mostly live cell with a tenth free is not the live colour.
        assert_ne!(mix(&c(90, 0, 10)), Some(LIVE_COLOUR));
    }

    #[test]
    fn a_row_is_cut_into_runs_of_one_colour_leaving_out_cells_outside_the_heap() {
        let c = |live, waste, free| Cell { live, waste, free };
        let row = [c(16, 0, 0), c(8, 8, 0), c(0, 0, 16), c(0, 0, 0), c(0, 0, 16)];
        let (live, free) = (LIVE_COLOUR, FREE_COLOUR);
        assert_eq!(runs(&row), [(0, 2, live), (2, 3, free), (4, 5, free)]);
    }
}
