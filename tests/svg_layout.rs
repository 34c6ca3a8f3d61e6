//! The layout of every chart the report writes: no text element is cut off by the edge of its
//! SVG and no two text elements overlap (issue 15, "Must show" 1).
//!
//! The binary writes reports for several traces and `--alloc` choices, and every `*.svg` in
//! each report directory is checked, whichever chart it is, so a chart added later is checked
//! too. SVG has no text metrics, so a text's box is estimated from what plotters writes: `x`,
//! `y`, `font-size`, `text-anchor`, `dy` (plotters' vertical alignment, in `em` or `ex`) and a
//! `transform="rotate(a, cx, cy)"`. A character is taken to be 0.6 em wide (a little wider than
//! the average sans-serif glyph, so the estimate errs towards finding a problem) and a line 1 em
//! high, from 0.8 em above the baseline to 0.2 em below it. A rotated box is replaced by the
//! axis-aligned box around it. Two boxes overlap when they share more than [`SLACK_PX`] pixels
//! both across and down; a box is cut off when it reaches more than [`SLACK_PX`] past the
//! viewBox.

use assert_cmd::Command;
use std::path::Path;

/// Pixels of overlap (or overhang) forgiven, for rounding in the estimate.
const SLACK_PX: f64 = 1.0;
/// Estimated width of one character, in em.
const CHAR_EM: f64 = 0.6;

#[derive(Clone, Debug)]
struct TextBox {
    text: String,
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

/// An attribute's value in one element's start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

fn number(tag: &str, name: &str) -> f64 {
    attribute(tag, name).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

/// A length in `em`, `ex` (half an em) or pixels, in pixels at font size `em`.
fn length(value: &str, em: f64) -> f64 {
    let value = value.trim();
    if let Some(v) = value.strip_suffix("em") {
        v.parse::<f64>().unwrap_or(0.0) * em
    } else if let Some(v) = value.strip_suffix("ex") {
        v.parse::<f64>().unwrap_or(0.0) * em * 0.5
    } else {
        value.trim_end_matches("px").parse().unwrap_or(0.0)
    }
}

/// The number of characters a text shows (entities count as one).
fn shown_chars(text: &str) -> usize {
    let mut n = 0;
    let mut in_entity = false;
    for c in text.chars() {
        match c {
            '&' => {
                in_entity = true;
                n += 1;
            }
            ';' if in_entity => in_entity = false,
            _ if in_entity => {}
            _ => n += 1,
        }
    }
    n
}

/// Rotate `(x, y)` by `degrees` about `(cx, cy)` (SVG's sense: clockwise on screen).
fn rotate((x, y): (f64, f64), degrees: f64, (cx, cy): (f64, f64)) -> (f64, f64) {
    let (s, c) = degrees.to_radians().sin_cos();
    let (dx, dy) = (x - cx, y - cy);
    (cx + dx * c - dy * s, cy + dx * s + dy * c)
}

/// The estimated box of the text element whose start tag is `tag` and whose content is `text`.
fn text_box(tag: &str, text: &str) -> TextBox {
    let em = number(tag, "font-size").max(1.0);
    let (x, y) = (number(tag, "x"), number(tag, "y"));
    let width = shown_chars(text) as f64 * CHAR_EM * em;
    let left = match attribute(tag, "text-anchor").unwrap_or("start") {
        "middle" => x - width / 2.0,
        "end" => x - width,
        _ => x,
    };
    let mut baseline = y + attribute(tag, "dy").map_or(0.0, |dy| length(dy, em));
    baseline += match attribute(tag, "dominant-baseline") {
        Some("middle" | "central") => 0.3 * em,
        Some("hanging" | "text-before-edge") => 0.8 * em,
        Some("text-after-edge") => -0.2 * em,
        _ => 0.0,
    };
    let (top, bottom) = (baseline - 0.8 * em, baseline + 0.2 * em);
    let mut corners =
        vec![(left, top), (left + width, top), (left, bottom), (left + width, bottom)];
    if let Some(transform) = attribute(tag, "transform") {
        if let Some(args) = transform.trim().strip_prefix("rotate(") {
            let args: Vec<f64> = args
                .trim_end_matches(')')
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse().ok())
                .collect();
            let angle = args.first().copied().unwrap_or(0.0);
            let centre = (args.get(1).copied().unwrap_or(0.0), args.get(2).copied().unwrap_or(0.0));
            corners = corners.into_iter().map(|p| rotate(p, angle, centre)).collect();
        }
    }
    let xs = corners.iter().map(|p| p.0);
    let ys = corners.iter().map(|p| p.1);
    TextBox {
        text: text.to_string(),
        left: xs.clone().fold(f64::INFINITY, f64::min),
        right: xs.fold(f64::NEG_INFINITY, f64::max),
        top: ys.clone().fold(f64::INFINITY, f64::min),
        bottom: ys.fold(f64::NEG_INFINITY, f64::max),
    }
}

/// The viewBox `(x, y, width, height)` of an SVG and the boxes of its non-empty texts.
fn layout(svg: &str) -> ((f64, f64, f64, f64), Vec<TextBox>) {
    let root = &svg[svg.find("<svg").expect("an <svg> element")..];
    let root = &root[..root.find('>').expect("a closed <svg> tag")];
    let view: Vec<f64> = attribute(root, "viewBox")
        .expect("a viewBox")
        .split_whitespace()
        .map(|v| v.parse().expect("a number in the viewBox"))
        .collect();
    let mut boxes = vec![];
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        rest = &rest[start..];
        let tag_end = rest.find('>').expect("a closed <text> tag");
        let tag = &rest[..tag_end];
        let close = rest.find("</text>").expect("a </text>");
        let content = rest[tag_end + 1..close].trim();
        if !content.is_empty() {
            boxes.push(text_box(tag, content));
        }
        rest = &rest[close..];
    }
    ((view[0], view[1], view[2], view[3]), boxes)
}

/// What is wrong with one SVG's text layout: a line per text cut off and per overlapping pair.
fn layout_problems(svg: &str) -> Vec<String> {
    let ((vx, vy, vw, vh), boxes) = layout(svg);
    let mut problems = vec![];
    for b in &boxes {
        if b.left < vx - SLACK_PX
            || b.top < vy - SLACK_PX
            || b.right > vx + vw + SLACK_PX
            || b.bottom > vy + vh + SLACK_PX
        {
            problems.push(format!(
                "{:?} is cut off: its box x {:.0}..{:.0}, y {:.0}..{:.0} leaves the viewBox \
                 {vx} {vy} {vw} {vh}",
                b.text, b.left, b.right, b.top, b.bottom
            ));
        }
    }
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let across = a.right.min(b.right) - a.left.max(b.left);
            let down = a.bottom.min(b.bottom) - a.top.max(b.top);
            if across > SLACK_PX && down > SLACK_PX {
                problems.push(format!(
                    "{:?} and {:?} overlap by {across:.0} x {down:.0} px",
                    a.text, b.text
                ));
            }
        }
    }
    problems
}

/// Write a report of `trace` with `args` into a fresh directory and return every problem of
/// every SVG in it, each line naming its file.
fn report_problems(trace: &Path, args: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("report");
    Command::cargo_bin("replay")
        .expect("the replay binary is built")
        .arg(trace)
        .args(args)
        .arg("--report")
        .arg(&out)
        .arg("-q")
        .assert()
        .success();
    let mut svgs: Vec<_> = std::fs::read_dir(&out)
        .expect("the report directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    svgs.sort();
    assert!(!svgs.is_empty(), "the report of {} has no SVG", trace.display());
    let mut problems = vec![];
    for svg in svgs {
        let text = std::fs::read_to_string(&svg).expect("an SVG the report wrote");
        let name = svg.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        problems.extend(layout_problems(&text).into_iter().map(|p| format!("{name}: {p}")));
    }
    problems
}

fn assert_no_problems(trace: &str, args: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(trace);
    let problems = report_problems(&path, args);
    assert!(
        problems.is_empty(),
        "{} text layout problems in the report of {trace} {args:?}:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn no_chart_text_of_python_dict_with_every_allocator_is_cut_off_or_overlaps() {
    assert_no_problems("traces/python-dict.csv.gz", &["--alloc", "all", "--fake-clock"]);
}

#[test]
fn no_chart_text_of_a_small_trace_through_the_simulations_is_cut_off_or_overlaps() {
    assert_no_problems("traces/coalescing.csv", &["--alloc", "simulated", "--runs", "3"]);
}

#[test]
fn no_chart_text_of_the_real_allocators_alone_is_cut_off_or_overlaps() {
    assert_no_problems("traces/perl-hash.csv", &["--alloc", "real", "--runs", "1"]);
}

#[test]
fn no_chart_text_of_a_trace_with_times_is_cut_off_or_overlaps() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let trace = dir.path().join("timed.csv");
    let mut csv = String::from("op,ptr,size,old_ptr,align,thread,time_ns\n");
    for i in 0..300u64 {
        let (ptr, ns) = (0x1000 + i * 0x1000, i * 1_000_000);
        csv.push_str(&format!("malloc,{ptr:#x},{},,,1,{ns}\n", 16u64 << (i % 7)));
        if i % 3 == 0 {
            csv.push_str(&format!("free,{ptr:#x},,,,1,{}\n", ns + 500));
        }
    }
    std::fs::write(&trace, csv).expect("the trace is written");
    let trace = trace.to_string_lossy().into_owned();
    assert_no_problems(&trace, &["--alloc", "simulated", "--fake-clock"]);
}

#[test]
fn the_layout_check_finds_a_label_past_the_edge_and_two_labels_on_each_other() {
    let svg = r#"<svg width="100" height="50" viewBox="0 0 100 50" xmlns="http://www.w3.org/2000/svg">
<text x="95" y="10" dy="0.76em" text-anchor="start" font-size="10">
267%
</text>
<text x="10" y="30" dy="0.76em" text-anchor="start" font-size="10">
first-fit
</text>
<text x="20" y="32" dy="0.76em" text-anchor="start" font-size="10">
next-fit
</text>
</svg>"#;
    let problems = layout_problems(svg);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("\"267%\" is cut off"), "{problems:#?}");
    assert!(problems[1].contains("\"first-fit\" and \"next-fit\" overlap"), "{problems:#?}");
}

#[test]
fn a_rotated_label_is_checked_in_its_rotated_box() {
    // 10 characters of 6 px, rotated a quarter turn about their start: 60 px down, not across.
    let svg = r#"<svg width="100" height="50" viewBox="0 0 100 50" xmlns="http://www.w3.org/2000/svg">
<text x="50" y="10" dy="0.76em" text-anchor="start" font-size="10" transform="rotate(90, 50, 10)">
boundary-t
</text>
</svg>"#;
    let problems = layout_problems(svg);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("y 10..70"), "{problems:#?}");
}
