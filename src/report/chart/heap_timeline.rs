//! Chart 6b: the heap timeline: time downwards, address across, coloured like the heap map, so
//! fragmentation can be watched building up.

use super::common::*;
use crate::engine::heap_pictures::{TIMELINE_COLUMNS, TIMELINE_ROWS};
use crate::report::human_bytes;
use crate::report::{ExportError, Report};
use plotters::prelude::*;

/// Pixels per cell, across and down.
const CELL_PX: (i32, i32) = (1, 2);
const PANELS_ACROSS: usize = 3;
const PANEL_TITLE: i32 = 34;
const PANEL_PAD: i32 = 36;
const HEADER: i32 = 70;

pub fn chart(report: &Report) -> Result<Chart, ExportError> {
    let caption = "Each strategy's heap over the trace: address 0 to its peak footprint across, \
                   time downwards (each row is the heap after an evenly spaced event, the last \
                   row the end of the trace); grey spreading between blue is fragmentation \
                   building up, blank is not yet part of the heap."
        .to_string();
    let panel_w = TIMELINE_COLUMNS as i32 * CELL_PX.0 + 2 * PANEL_PAD;
    let panel_h = PANEL_TITLE + TIMELINE_ROWS as i32 * CELL_PX.1 + PANEL_PAD;
    let rows = report.heap.len().div_ceil(PANELS_ACROSS) as i32;
    let size = (
        (PANELS_ACROSS as i32 * panel_w + 2 * PANEL_PAD).max(700) as u32,
        (HEADER + rows * panel_h) as u32,
    );
    render("heap-timeline", "Heap timeline", caption, size, |root| {
        root.draw(&Text::new("Heap timeline (time downwards)", (PANEL_PAD, 10), title_style()))?;
        heap_legend(root, PANEL_PAD, 42)?;
        for (i, p) in report.heap.iter().enumerate() {
            let t = &p.timeline;
            let x = (i % PANELS_ACROSS) as i32 * panel_w + PANEL_PAD;
            let y = HEADER + (i / PANELS_ACROSS) as i32 * panel_h;
            root.draw(&Text::new(
                format!("{}: 0 .. {}", p.allocator, human_bytes(t.width)),
                (x, y),
                label_style(),
            ))?;
            let last = t.events.last().copied().unwrap_or(0);
            let note = format!(
                "1 cell = {} ({} across); rows: events 0 .. {last}",
                human_bytes(t.cell_bytes),
                t.columns
            );
            root.draw(&Text::new(note, (x, y + 16), note_style()))?;
            let size = (TIMELINE_COLUMNS as i32 * CELL_PX.0, CELL_PX.1);
            draw_cells(root, (x, y + PANEL_TITLE), t.columns, &t.cells, size)?;
        }
        Ok(())
    })
}
