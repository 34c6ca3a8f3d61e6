//! The trade-off chart: peak footprint (x) against throughput (y), one labelled point per
//! strategy and per real allocator, and the Pareto front of each contest of the verdict
//! ([`crate::report::verdict`]) as a step line. Drawn only when there are timings: without them
//! there is no speed to trade against (the verdict says so), and the one exact cost figure,
//! `work_per_event`, counts each strategy's own kind of step, so it does not compare across
//! strategies.
//!
//! An axis is logarithmic when its values span more than [`LOG_SPAN`] times (bump and slab
//! would squash everyone else on a linear one). Labels are placed greedily, point by point: the
//! first of [`OFFSETS`] (then the same at twice the distance) whose box overlaps no label nor
//! point already placed and stays inside the plotting area; failing all, the one that overlaps
//! least.

use super::common::*;
use crate::report::verdict::pareto_front;
use crate::report::{Contest, ExportError, Report};
use crate::results::ResultRecord;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// An axis whose largest value is more than this many times its least is logarithmic.
pub const LOG_SPAN: f64 = 10.0;
/// Pixels per character of a point label, about, in [`NOTE_SIZE`] sans-serif (a little wide,
/// so that estimated boxes cover the drawn text).
const CHAR_WIDTH: f64 = 7.0;
/// Height of a point label's box, in pixels.
const LABEL_HEIGHT: i32 = NOTE_SIZE as i32 + 4;
/// Radius of a point's marker, in pixels.
const POINT_RADIUS: i32 = 5;
/// Where a label may go relative to its point, in order of preference: right, left, above,
/// below, then the four corners (`(dx, dy)` of the box's anchor, in units of the gap).
const OFFSETS: [(i32, i32); 8] =
    [(1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 1), (-1, -1), (-1, 1)];
/// Pixels between a point and its label.
const GAP: i32 = 8;
/// The colour of the real allocators' front, and of points never ranked.
const MUTED: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// One point: a record with both figures.
struct Point {
    label: String,
    footprint: u64,
    throughput: f64,
    contest: Option<Contest>,
    colour: RGBColor,
}

/// An axis: values to plot coordinates (`log10` when logarithmic), and back for tick labels.
#[derive(Clone, Copy)]
struct Axis {
    log: bool,
    range: (f64, f64),
}

impl Axis {
    fn of(values: impl Iterator<Item = f64> + Clone) -> Axis {
        let lo = values.clone().fold(f64::INFINITY, f64::min).max(f64::MIN_POSITIVE);
        let hi = values.fold(0.0, f64::max).max(lo);
        let log = hi / lo > LOG_SPAN;
        let (a, b) = if log { (lo.log10(), hi.log10()) } else { (lo, hi) };
        let pad = ((b - a) * 0.12).max(if log { 0.1 } else { b.abs() * 0.1 + 1e-9 });
        let low = if log { a - pad } else { (a - pad).max(0.0) };
        Axis { log, range: (low, b + pad) }
    }

    fn at(self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    }

    fn value(self, coordinate: f64) -> f64 {
        if self.log {
            10f64.powf(coordinate)
        } else {
            coordinate
        }
    }

    fn name(self) -> &'static str {
        if self.log {
            ", log scale"
        } else {
            ""
        }
    }
}

/// A box in pixels: `(left, top, right, bottom)`.
type Boxed = (i32, i32, i32, i32);

fn overlap(a: Boxed, b: Boxed) -> i64 {
    let w = (a.2.min(b.2) - a.0.max(b.0)).max(0) as i64;
    let h = (a.3.min(b.3) - a.1.max(b.1)).max(0) as i64;
    w * h
}

/// Boxes for `labels` of points at pixels `at`, inside `area`, placed greedily (see the module
/// docs).
fn place_labels(labels: &[String], at: &[(i32, i32)], area: Boxed) -> Vec<Boxed> {
    let mut taken: Vec<Boxed> = at
        .iter()
        .map(|&(x, y)| (x - POINT_RADIUS, y - POINT_RADIUS, x + POINT_RADIUS, y + POINT_RADIUS))
        .collect();
    let mut placed = vec![];
    for (label, &(x, y)) in labels.iter().zip(at) {
        let w = (label.chars().count() as f64 * CHAR_WIDTH).ceil() as i32;
        let h = LABEL_HEIGHT;
        let candidate = |(dx, dy): (i32, i32), distance: i32| -> Boxed {
            let gap = GAP * distance;
            let left = match dx {
                1 => x + gap,
                -1 => x - gap - w,
                _ => x - w / 2,
            };
            let top = match dy {
                1 => y + gap,
                -1 => y - gap - h,
                _ => y - h / 2,
            };
            (left, top, left + w, top + h)
        };
        let outside = |b: Boxed| {
            let inside = (b.0.max(area.0), b.1.max(area.1), b.2.min(area.2), b.3.min(area.3));
            let kept =
                ((inside.2 - inside.0).max(0) as i64) * ((inside.3 - inside.1).max(0) as i64);
            (w as i64 * h as i64 - kept) * 4
        };
        let cost = |b: Boxed| outside(b) + taken.iter().map(|&t| overlap(b, t)).sum::<i64>();
        let candidates = [1, 2, 4].into_iter().flat_map(|d| OFFSETS.map(|o| candidate(o, d)));
        let mut best = candidate(OFFSETS[0], 1);
        let mut best_cost = i64::MAX;
        for b in candidates {
            let c = cost(b);
            if c < best_cost {
                (best, best_cost) = (b, c);
            }
            if c == 0 {
                break;
            }
        }
        // Never past the plotting area, even when every place overlaps something.
        let shift_x = (area.0 - best.0).max(0) - (best.2 - area.2).max(0);
        let shift_y = (area.1 - best.1).max(0) - (best.3 - area.3).max(0);
        let best = (best.0 + shift_x, best.1 + shift_y, best.2 + shift_x, best.3 + shift_y);
        taken.push(best);
        placed.push(best);
    }
    placed
}

fn points(report: &Report) -> Vec<Point> {
    let rows = rows(report);
    rows.iter()
        .enumerate()
        .filter_map(|(i, row): (usize, &Row)| {
            let r: &ResultRecord = &row.record;
            let contest = Contest::of(r);
            let label = match contest {
                None if !r.is_real() => format!("{} (never reuses)", row.label),
                _ => row.label.clone(),
            };
            Some(Point {
                label,
                footprint: r.peak_footprint_bytes?,
                throughput: r.throughput_events_per_sec?,
                contest,
                colour: if contest.is_none() { MUTED } else { strategy_colour(i) },
            })
        })
        .collect()
}

/// The chart, `None` when no record has both a footprint and a throughput.
pub fn chart(report: &Report) -> Result<Option<Chart>, ExportError> {
    let points = points(report);
    if points.is_empty() {
        return Ok(None);
    }
    let fake =
        if report.timing.fake_clock { " Throughput is from the fake clock (made up)." } else { "" };
    let caption = format!(
        "Peak footprint (left is leaner) against throughput (up is faster), one point per \
         allocator: filled circles the simulations that reuse memory, the hollow circle bump \
         (never reuses memory, never ranked), triangles the real allocators. The step line joins \
         the Pareto front of the simulations (black) and of the real allocators (grey): no \
         allocator is both leaner and faster than a point on it.{fake}"
    );
    let chart =
        render("tradeoff", "Trade-off", caption, (WIDTH, HEIGHT + 60), |root| draw(root, &points))?;
    Ok(Some(chart))
}

fn draw(root: &Area, points: &[Point]) -> super::common::DrawResult {
    let x = Axis::of(points.iter().map(|p| p.footprint as f64));
    let y = Axis::of(points.iter().map(|p| p.throughput));
    let (unit, unit_name) = byte_unit(x.value(x.range.1));
    let mut chart = ChartBuilder::on(root)
        .caption("Peak footprint against throughput", title_style())
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x.range.0..x.range.1, y.range.0..y.range.1)?;
    let x_label = |v: &f64| {
        let bytes = x.value(*v) / unit;
        if bytes >= 100.0 {
            format!("{bytes:.0}")
        } else if bytes >= 10.0 {
            format!("{bytes:.1}")
        } else {
            format!("{bytes:.2}")
        }
    };
    let y_label = |v: &f64| {
        let m = y.value(*v) / 1e6;
        if m >= 100.0 {
            format!("{m:.0}")
        } else if m >= 10.0 {
            format!("{m:.1}")
        } else {
            format!("{m:.2}")
        }
    };
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .x_desc(format!("peak footprint ({unit_name}{})", x.name()))
        .y_desc(format!("throughput (million events/s{})", y.name()))
        .label_style(label_style())
        .axis_desc_style(label_style())
        .light_line_style(BACKGROUND)
        .draw()?;
    let at = |p: &Point| (x.at(p.footprint as f64), y.at(p.throughput));
    for (contest, colour) in [(Contest::Simulated, INK), (Contest::Real, MUTED)] {
        let of: Vec<&Point> = points.iter().filter(|p| p.contest == Some(contest)).collect();
        let figures: Vec<(u64, f64)> = of.iter().map(|p| (p.footprint, p.throughput)).collect();
        let mut front: Vec<&Point> =
            of.iter().zip(pareto_front(&figures)).filter(|(_, on)| *on).map(|(p, _)| *p).collect();
        front.sort_by_key(|p| p.footprint);
        // A step from each point right to the next one's footprint, then up to its throughput.
        let mut steps = vec![];
        for (i, p) in front.iter().enumerate() {
            steps.push(at(p));
            if let Some(next) = front.get(i + 1) {
                steps.push((at(next).0, at(p).1));
            }
        }
        if steps.len() > 1 {
            chart.draw_series(LineSeries::new(steps, colour.stroke_width(2)))?;
        }
    }
    for p in points {
        let style = if p.contest.is_none() { p.colour.stroke_width(2) } else { p.colour.filled() };
        if p.contest == Some(Contest::Real) {
            chart.draw_series([TriangleMarker::new(at(p), POINT_RADIUS + 2, style)])?;
        } else {
            chart.draw_series([Circle::new(at(p), POINT_RADIUS, style)])?;
        }
    }
    let pixels: Vec<(i32, i32)> = points.iter().map(|p| chart.backend_coord(&at(p))).collect();
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let area = (xs.start + 2, ys.start + 2, xs.end - 2, ys.end - 2);
    let labels: Vec<String> = points.iter().map(|p| p.label.clone()).collect();
    for ((label, b), (px, _)) in labels.iter().zip(place_labels(&labels, &pixels, area)).zip(pixels)
    {
        // Anchored on the side facing its point, so that a label drawn narrower than its box
        // stays next to the point.
        let (h, x) = if b.2 <= px {
            (HPos::Right, b.2)
        } else if b.0 >= px {
            (HPos::Left, b.0)
        } else {
            (HPos::Center, (b.0 + b.2) / 2)
        };
        let style = note_style().pos(Pos::new(h, VPos::Top));
        root.draw(&Text::new(label.clone(), (x, b.1 + 2), style))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_crowded_points_are_placed_apart_and_inside_the_area() {
        // Five points at one spot and two near the right edge: no two labels overlap, none
        // leaves the area.
        let at = [(100, 100), (100, 100), (100, 100), (102, 101), (98, 99), (590, 50), (595, 52)];
        let labels: Vec<String> =
            ["first-fit", "next-fit", "best-fit", "worst-fit", "tlsf", "slab", "buddy"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let area = (0, 0, 600, 400);
        let boxes = place_labels(&labels, &at, area);
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.0 >= area.0 && a.1 >= area.1 && a.2 <= area.2 && a.3 <= area.3, "{a:?}");
            for b in &boxes[i + 1..] {
                assert_eq!(overlap(*a, *b), 0, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn an_axis_is_logarithmic_only_past_ten_times() {
        assert!(!Axis::of([100.0, 1000.0].into_iter()).log);
        assert!(Axis::of([100.0, 1001.0].into_iter()).log);
    }
}
