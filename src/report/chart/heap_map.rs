//! Chart 6a: the heap map: each strategy's address space at the peak event, in rows like lines
//! of text, coloured by live payload, internal waste and free bytes.

use super::common::*;
use crate::engine::heap_pictures::{MAP_COLUMNS, MAP_MAX_ROWS};
use crate::report::human_bytes;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

/// Pixels per cell, across and down.
const CELL_PX: (i32, i32) = (2, 2);
/// Panels per row of the chart.
const PANELS_ACROSS: usize = 2;
/// Height of a panel's title line, and space around a panel.
const PANEL_TITLE: i32 = 34;
const PANEL_PAD: i32 = 20;
/// Height of the chart's header (title and legend).
const HEADER: i32 = 70;

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let caption = "Each strategy's heap right after the peak event, address 0 at the top left, \
                   read left to right and down like text; a cell is the stated number of bytes, \
                   coloured by what most of its bytes hold: grey holes between blue blocks are \
                   fragmentation."
        .to_string();
    let panel_w = MAP_COLUMNS as i32 * CELL_PX.0 + 2 * PANEL_PAD;
    let panel_h = PANEL_TITLE + MAP_MAX_ROWS as i32 * CELL_PX.1 + PANEL_PAD;
    let rows = report.heap.len().div_ceil(PANELS_ACROSS) as i32;
    let size = ((PANELS_ACROSS as i32 * panel_w) as u32, (HEADER + rows * panel_h) as u32);
    render("heap-map", "Heap map at the peak", caption, size, |root| {
        root.draw(&Text::new("Heap map at the peak event", (PANEL_PAD, 10), title_style()))?;
        heap_legend(root, PANEL_PAD, 42)?;
        for (i, p) in report.heap.iter().enumerate() {
            let m = &p.map;
            let x = (i % PANELS_ACROSS) as i32 * panel_w + PANEL_PAD;
            let y = HEADER + (i / PANELS_ACROSS) as i32 * panel_h;
            root.draw(&Text::new(p.allocator.to_string(), (x, y), label_style()))?;
            let note = format!(
                "{} heap after event {}; 1 cell = {}, row = {}",
                human_bytes(m.footprint),
                m.event,
                human_bytes(m.cell_bytes),
                human_bytes(m.cell_bytes * m.columns as u64)
            );
            root.draw(&Text::new(note, (x, y + 16), note_style()))?;
            let size = (m.columns as i32 * CELL_PX.0, CELL_PX.1);
            draw_cells(root, (x, y + PANEL_TITLE), m.columns, &m.cells, size)?;
        }
        Ok(())
    })
}
