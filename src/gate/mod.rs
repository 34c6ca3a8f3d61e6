//! The regression gate: `replay compare`, `--baseline`, `replay merge`.
//!
//! Memory figures and `work_per_event` are exact functions of trace, strategy and settings, so
//! they are gated exactly: any change is real. Timings are noisy, so a throughput change counts
//! only when it passes its threshold *and* a Mann-Whitney U test over the repetitions says it is
//! significant ([`stats`]); otherwise its verdict is `noise`. See [`thresholds`] for the
//! defaults. A figure or strategy the baseline has and the new result lacks fails the gate too
//! (unless `--allow-missing`), so that renaming or dropping a figure cannot pass unnoticed.

pub mod compare;
pub mod hash;
pub mod merge;
pub mod stats;
pub mod thresholds;

use compare::{Comparison, Verdict};

/// The comparison as a terminal table, regressions first, and a closing verdict line; with
/// `quiet` (`-q`), the verdict alone: the summary line and any MISSING or REGRESSION line.
pub fn text(c: &Comparison, quiet: bool) -> String {
    if quiet {
        return verdict(c);
    }
    let mut out = format!("compare {} -> {}\n", c.old_name, c.new_name);
    for note in &c.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    // Unchanged figures are only counted: the table shows what moved.
    let rows: Vec<Vec<String>> = c
        .rows
        .iter()
        .filter(|r| r.verdict != Verdict::Unchanged)
        .map(|r| {
            vec![
                r.allocator.clone(),
                r.metric.to_string(),
                r.old_text(),
                r.new_text(),
                r.change_text(),
                r.verdict_text(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&crate::report::table::render(
        &["strategy", "metric", "old", "new", "change", "verdict"],
        &rows,
    ));
    out.push('\n');
    out.push_str(&verdict(c));
    out
}

/// The summary line, then what fails or would fail the gate: missing figures and strategies,
/// and every regression.
fn verdict(c: &Comparison) -> String {
    let mut out = summary(c);
    out.push('\n');
    let missing = if c.allow_missing { "missing (allowed)" } else { "MISSING" };
    for m in &c.missing {
        out.push_str(&format!("{missing}: {m}: in {}, not in {}\n", c.old_name, c.new_name));
    }
    if !c.missing.is_empty() && !c.allow_missing {
        out.push_str(
            "(a figure or strategy that is not compared cannot regress: the gate fails; pass \
             --allow-missing to accept it)\n",
        );
    }
    for r in c.rows.iter().filter(|r| r.verdict == Verdict::Regressed) {
        out.push_str(&format!(
            "REGRESSION: {} {}: {} -> {} ({})\n",
            r.allocator,
            r.metric,
            r.old_text(),
            r.new_text(),
            r.change_text()
        ));
    }
    out
}

fn summary(c: &Comparison) -> String {
    let count = |v: Verdict| c.rows.iter().filter(|r| r.verdict == v).count();
    let mut text = format!(
        "{} regressed, {} improved, {} noise, {} worse within threshold or not gated, {} unchanged",
        count(Verdict::Regressed),
        count(Verdict::Improved),
        count(Verdict::Noise),
        count(Verdict::Tolerated) + count(Verdict::NotGated),
        count(Verdict::Unchanged)
    );
    if count(Verdict::Changed) > 0 {
        text.push_str(&format!(", {} changed (not scores)", count(Verdict::Changed)));
    }
    if !c.missing.is_empty() {
        text.push_str(&format!(", {} missing", c.missing.len()));
    }
    text
}

/// The comparison as Markdown for a pull-request comment: a headline, a table of every figure
/// that moved (regressions first), and the unchanged ones folded away.
pub fn markdown(c: &Comparison) -> String {
    let regressions = c.regressions();
    let mut out = if regressions > 0 {
        format!(
            "### :x: replay: {regressions} regression{}\n\n",
            if regressions == 1 { "" } else { "s" }
        )
    } else if !c.passed() {
        format!("### :x: replay: {} missing from the new result\n\n", c.missing.len())
    } else {
        "### :white_check_mark: replay: no regression\n\n".to_string()
    };
    out.push_str(&format!("`{}` → `{}` · {}\n\n", c.old_name, c.new_name, summary(c)));
    for note in &c.notes {
        out.push_str(&format!("- {note}\n"));
    }
    for m in &c.missing {
        out.push_str(&format!("- **missing** from `{}`: {m}\n", c.new_name));
    }
    if !c.notes.is_empty() || !c.missing.is_empty() {
        out.push('\n');
    }
    let table = |rows: &[&compare::Row]| {
        let mut t = String::from("| strategy | metric | old | new | change | verdict |\n");
        t.push_str("|---|---|---:|---:|---:|---|\n");
        for r in rows {
            let verdict = if r.verdict == Verdict::Regressed {
                format!("**{}**", r.verdict_text())
            } else {
                r.verdict_text()
            };
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                r.allocator,
                r.metric,
                r.old_text(),
                r.new_text(),
                r.change_text(),
                verdict
            ));
        }
        t
    };
    let moved: Vec<&compare::Row> =
        c.rows.iter().filter(|r| r.verdict != Verdict::Unchanged).collect();
    let same: Vec<&compare::Row> =
        c.rows.iter().filter(|r| r.verdict == Verdict::Unchanged).collect();
    if moved.is_empty() {
        out.push_str("Every figure is unchanged.\n");
    } else {
        out.push_str(&table(&moved));
    }
    if !same.is_empty() && !moved.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>{}</summary>\n\n{}\n</details>\n",
            crate::words::count(same.len() as u64, "unchanged figure", "unchanged figures"),
            table(&same)
        ));
    }
    out.push_str(&format!(
        "\nMemory figures and work per event are exact; throughput is judged over every run \
         (one-sided Mann-Whitney U test, α = {:.4} per strategy), so a change within the noise \
         reads `noise`.\n",
        c.alpha
    ));
    out
}
