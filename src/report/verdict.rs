//! The verdict: the answer to "which allocator should I pick for this trace", first in every
//! report (the HTML page, the terminal after its tables, Markdown, and the JSON's `verdict`).
//!
//! Every rule is written here, once:
//!
//! - **Who is ranked.** The simulations that reuse memory, among themselves, and the real
//!   allocators, among themselves ([`Contest`]: their figures are measured differently). A
//!   simulation that never reuses memory (`bump`) is never ranked, and the verdict says so.
//! - **Least memory:** the least `peak_footprint_bytes`. **Fastest:** the greatest
//!   `throughput_events_per_sec` (the median of `--runs` passes); only when timed, and with
//!   `--fake-clock` named as made up. Equal figures tie, and every tied allocator is named.
//! - **Best trade-off:** among the allocators on the Pareto front of (peak footprint, throughput)
//!   (no other has at most its footprint and at least its throughput, one of them strictly), the
//!   one closest to the ideal corner once both figures are on a log scale running from 0 (the best
//!   value among those compared) to 1 (the worst): `x = ln(f / f_min) / ln(f_max / f_min)`, `y =
//!   ln(t_max / t) / ln(t_max / t_min)` (0 when all are equal), distance `sqrt(x² + y²)`. Log,
//!   because allocators differ by factors, not by bytes; normalised, so that neither figure
//!   outweighs the other by its unit.
//! - **The trace's shape**, from the live bytes of the memory series (the first simulation's:
//!   live bytes are the trace's, the same for every strategy): with `mean` the mean of the live
//!   bytes over the events (each sample weighing the events up to the next one) over the max,
//!   and `at` where the max is first reached, `(peak_event + 1) / events`: a **plateau** when
//!   `mean >= 0.75` (live bytes stay near their max most of the run), else a **ramp** when `at >=
//!   0.8` (they grow until the last fifth of the run), else a **peak**.
//! - **The size profile**, from the request size histogram (log2 classes): the class with most
//!   requests, and the least power of two that at least 90% of the requests are under.

use super::{human_bytes, Contest, Report};
use crate::figures::Unit;
use crate::results::{
    PickRecord, RankingRecord, ResultRecord, SizeClassRecord, TraceShapeRecord, VerdictRecord,
    VersusRecord,
};
use crate::words::thousands;

/// How the speeds the verdict quotes were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Speed {
    Measured,
    Fake,
    NotMeasured,
}

impl Speed {
    fn of(report: &Report) -> Speed {
        if report.timing.runs == 0 {
            Speed::NotMeasured
        } else if report.timing.fake_clock {
            Speed::Fake
        } else {
            Speed::Measured
        }
    }

    fn name(self) -> &'static str {
        match self {
            Speed::Measured => "measured",
            Speed::Fake => "fake clock",
            Speed::NotMeasured => "not measured",
        }
    }
}

/// A plateau's least mean live fraction.
pub const PLATEAU_MEAN: f64 = 0.75;
/// A ramp's least position of the max, as a fraction of the events.
pub const RAMP_AT: f64 = 0.8;
/// The share of requests the size profile quotes a bound for.
const SIZE_SHARE: f64 = 0.9;

/// The verdict of a report, with every figure it quotes.
pub fn record(report: &Report) -> VerdictRecord {
    let records = report.records();
    let speed = Speed::of(report);
    let not_ranked: Vec<String> = records
        .iter()
        .filter(|r| !r.is_real() && r.error.is_none() && Contest::of(r).is_none())
        .map(|r| r.allocator.clone())
        .collect();
    let simulated = ranking(&records, Contest::Simulated, speed);
    let real = ranking(&records, Contest::Real, speed);
    let trace = trace_shape(report);
    let mut text = vec![];
    if let Some(s) = &simulated {
        text.push(ranking_sentence("Among the simulations that reuse memory", s, speed));
    }
    if let Some(r) = &real {
        text.push(ranking_sentence("Of the real allocators", r, speed));
    }
    if simulated.is_none() && real.is_none() {
        text.push("No allocator that reuses memory has figures to compare.".into());
    }
    if let Some(note) = speed_note(speed, report) {
        text.push(note);
    }
    if !not_ranked.is_empty() {
        text.push(format!(
            "{} never {} memory, so {} not ranked.",
            and_list(&not_ranked),
            if not_ranked.len() == 1 { "reuses" } else { "reuse" },
            if not_ranked.len() == 1 { "it is" } else { "they are" }
        ));
    }
    text.push(trace_sentence(&trace));
    VerdictRecord {
        text,
        speed: speed.name().into(),
        not_ranked,
        simulated,
        real,
        trace,
        simulated_vs_real: versus_real(&records),
    }
}

/// The picks of one contest, `None` when no record of it has a footprint.
fn ranking(records: &[ResultRecord], contest: Contest, speed: Speed) -> Option<RankingRecord> {
    let entrants: Vec<&ResultRecord> = records
        .iter()
        .filter(|r| Contest::of(r) == Some(contest) && r.peak_footprint_bytes.is_some())
        .collect();
    let least = entrants.iter().filter_map(|r| r.peak_footprint_bytes).min()?;
    let least_memory = entrants
        .iter()
        .filter(|r| r.peak_footprint_bytes == Some(least))
        .map(|r| pick(r))
        .collect();
    let timed: Vec<(&ResultRecord, u64, f64)> = if speed == Speed::NotMeasured {
        vec![]
    } else {
        entrants
            .iter()
            .filter_map(|r| Some((*r, r.peak_footprint_bytes?, r.throughput_events_per_sec?)))
            .collect()
    };
    let fastest_value = timed.iter().map(|t| t.2).reduce(f64::max);
    let fastest = timed.iter().filter(|t| Some(t.2) == fastest_value).map(|t| pick(t.0)).collect();
    let trade_off = trade_off(&timed).into_iter().map(|i| pick(timed[i].0)).collect();
    Some(RankingRecord { least_memory, fastest, trade_off })
}

fn pick(r: &ResultRecord) -> PickRecord {
    PickRecord {
        allocator: r.allocator.clone(),
        peak_footprint_bytes: r.peak_footprint_bytes,
        overhead: r.overhead,
        throughput_events_per_sec: r.throughput_events_per_sec,
    }
}

/// Which of `points` (record, footprint, throughput) are on the Pareto front: none other has at
/// most its footprint and at least its throughput, with one of them strictly better.
pub fn pareto_front(points: &[(u64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(f, t)| !points.iter().any(|&(g, u)| g <= f && u >= t && (g < f || u > t)))
        .collect()
}

/// The indices of the best trade-off (several when they tie): see the module docs.
fn trade_off(timed: &[(&ResultRecord, u64, f64)]) -> Vec<usize> {
    let points: Vec<(u64, f64)> = timed.iter().map(|t| (t.1, t.2)).collect();
    let distances = trade_off_distances(&points);
    let best = distances.iter().flatten().copied().reduce(f64::min);
    (0..points.len()).filter(|&i| best.is_some() && distances[i] == best).collect()
}

/// Each point's distance to the ideal corner in normalised log space, `None` off the Pareto
/// front (see the module docs).
pub fn trade_off_distances(points: &[(u64, f64)]) -> Vec<Option<f64>> {
    let front = pareto_front(points);
    let log_f = |f: u64| (f.max(1) as f64).ln();
    let log_t = |t: f64| t.max(f64::MIN_POSITIVE).ln();
    let span = |values: Vec<f64>| {
        let lo = values.iter().copied().reduce(f64::min).unwrap_or(0.0);
        let hi = values.iter().copied().reduce(f64::max).unwrap_or(0.0);
        (lo, hi - lo)
    };
    let (f_lo, f_span) = span(points.iter().map(|p| log_f(p.0)).collect());
    let (t_lo, t_span) = span(points.iter().map(|p| log_t(p.1)).collect());
    let scaled = |v: f64, span: f64| if span > 0.0 { v / span } else { 0.0 };
    points
        .iter()
        .zip(front)
        .map(|(&(f, t), on_front)| {
            let x = scaled(log_f(f) - f_lo, f_span);
            let y = scaled(t_lo + t_span - log_t(t), t_span);
            on_front.then(|| (x * x + y * y).sqrt())
        })
        .collect()
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn names(picks: &[PickRecord]) -> Vec<String> {
    picks.iter().map(|p| p.allocator.clone()).collect()
}

fn bytes(p: &PickRecord) -> String {
    p.peak_footprint_bytes.map_or("-".into(), human_bytes)
}

fn throughput(p: &PickRecord) -> String {
    p.throughput_events_per_sec.map_or("-".into(), |t| Unit::EventsPerSec.short(t)) + " events/s"
}

/// `X uses least memory`, or `X and Y tie for least memory`.
fn who(picks: &[PickRecord], one: &str, tie: &str) -> String {
    if picks.len() == 1 {
        format!("{} {one}", picks[0].allocator)
    } else {
        format!("{} tie for {tie}", and_list(&names(picks)))
    }
}

fn ranking_sentence(lead: &str, r: &RankingRecord, speed: Speed) -> String {
    let mut parts = vec![];
    if let Some(first) = r.least_memory.first() {
        let overhead = first
            .overhead
            .map(|o| format!(", {} above the max live bytes", Unit::Ratio.short(o)))
            .unwrap_or_default();
        parts.push(format!(
            "{} ({} peak footprint{overhead})",
            who(&r.least_memory, "uses least memory", "least memory"),
            bytes(first)
        ));
    }
    if let Some(first) = r.fastest.first() {
        let how = if speed == Speed::Fake { " by the fake clock" } else { "" };
        parts.push(format!(
            "{}{how} ({})",
            who(&r.fastest, "is fastest", "fastest"),
            throughput(first)
        ));
    }
    let same = |a: &[PickRecord], b: &[PickRecord]| names(a) == names(b);
    if !r.trade_off.is_empty() {
        if same(&r.trade_off, &r.least_memory) && same(&r.trade_off, &r.fastest) {
            parts.push(format!(
                "so {} the best trade-off",
                if r.trade_off.len() == 1 { "it is" } else { "they are" }
            ));
        } else {
            let quoted: Vec<String> =
                r.trade_off.iter().map(|p| format!("{} at {}", bytes(p), throughput(p))).collect();
            parts.push(format!(
                "{} ({})",
                who(&r.trade_off, "is the best trade-off", "the best trade-off"),
                quoted.join("; ")
            ));
        }
    }
    let body = match parts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    };
    format!("{lead}, {body}.")
}

fn speed_note(speed: Speed, report: &Report) -> Option<String> {
    match speed {
        Speed::NotMeasured => Some(
            "Speed was not measured (--runs 0), so there is no fastest and no trade-off.".into(),
        ),
        Speed::Fake => Some(
            "Speeds are from the fake clock (--fake-clock: made up from the work counts, not \
             measured); real allocators are not timed under it."
                .into(),
        ),
        // By default the runs go on until they agree: "medians of 3 to 5 untimed runs (until
        // they agree within 3%)", not the 3 they start with.
        Speed::Measured => {
            Some(format!("Speeds are medians of {}.", report.timing.runs_in_words()))
                .filter(|_| report.timing.runs > 1 || report.timing.until_tight)
        }
    }
}

/// What the trace is like (see the module docs for the rules).
fn trace_shape(report: &Report) -> TraceShapeRecord {
    let records = report.records();
    let first = records.iter().find(|r| !r.is_real() && r.error.is_none());
    let series = first.map(|r| &r.series).filter(|s| !s.event.is_empty());
    let max_live = first.and_then(|r| r.max_live_bytes);
    let peak_event = first.and_then(|r| r.peak_event);
    let events = first.and_then(|r| r.events).unwrap_or(report.trace.events);
    let final_live = series.and_then(|s| s.live_requested_bytes.last().copied());
    let mean = series.zip(max_live).filter(|(_, m)| *m > 0).and_then(|(s, m)| {
        mean_live(&s.event, &s.live_requested_bytes, events).map(|mean| mean / m as f64)
    });
    let at = peak_event.filter(|_| events > 0).map(|p| (p + 1) as f64 / events as f64);
    let shape = mean.zip(at).map(|(mean, at)| shape(mean, at).to_string());
    let sizes = &report.trace.request_sizes;
    let requests: u64 = sizes.iter().sum();
    let (most_requests, p90_below) = size_profile(sizes);
    TraceShapeRecord {
        shape,
        events,
        max_live_bytes: max_live,
        peak_event,
        final_live_bytes: final_live,
        mean_live_fraction: mean,
        requests,
        most_requests,
        p90_below_bytes: p90_below,
    }
}

/// The shape of a trace whose live bytes average `mean` of their max and first reach it `at`
/// (a fraction of the events): see the module docs.
fn shape(mean: f64, at: f64) -> &'static str {
    if mean >= PLATEAU_MEAN {
        "plateau"
    } else if at >= RAMP_AT {
        "ramp"
    } else {
        "peak"
    }
}

/// The size class with most requests (the larger of tied classes), and the least power of two
/// that [`SIZE_SHARE`] of the requests are under, from a log2 histogram
/// ([`super::TraceSummary::request_sizes`]).
fn size_profile(sizes: &[u64]) -> (Option<SizeClassRecord>, Option<u64>) {
    let requests: u64 = sizes.iter().sum();
    if requests == 0 {
        return (None, None);
    }
    let class = |k: usize| (if k == 0 { 0 } else { 1u64 << k.min(63) }, 1u64 << (k + 1).min(63));
    let most = sizes.iter().enumerate().rev().max_by_key(|(_, n)| **n).map(|(k, n)| {
        let (from, below) = class(k);
        SizeClassRecord { from_bytes: from, below_bytes: below, requests: *n }
    });
    let mut seen = 0u64;
    let under = sizes.iter().enumerate().find_map(|(k, n)| {
        seen += n;
        (seen as f64 >= SIZE_SHARE * requests as f64).then(|| class(k).1)
    });
    (most, under)
}

/// The mean of the live bytes over events `0 .. events`, each sample standing for the events
/// from it up to the next sample (the last for the rest).
fn mean_live(event: &[u64], live: &[u64], events: u64) -> Option<f64> {
    let first = *event.first()?;
    let mut sum = 0.0;
    for (i, (&e, &l)) in event.iter().zip(live).enumerate() {
        let next = event.get(i + 1).copied().unwrap_or(events.max(e + 1));
        sum += l as f64 * (next - e) as f64;
    }
    let span = events.max(first + 1) - first;
    Some(sum / span as f64)
}

/// `16-31 B`, `1-2 KiB` (from the first up to, not including, the second).
fn size_class(c: &SizeClassRecord) -> String {
    if c.below_bytes <= 1024 {
        format!("{}-{} B", c.from_bytes, c.below_bytes - 1)
    } else {
        format!("{} to {}", human_bytes(c.from_bytes), human_bytes(c.below_bytes))
            .replace(".00", "")
    }
}

fn trace_sentence(t: &TraceShapeRecord) -> String {
    let mut out = String::new();
    match (&t.shape, t.max_live_bytes, t.peak_event) {
        (Some(shape), Some(max), Some(peak)) => {
            out.push_str(&format!(
                "The trace is a {shape}: its live bytes reach their max of {} at event {} \
                 of {} ({:.0}% of the way), average {:.0}% of that max, and {} {} live at the end",
                human_bytes(max),
                thousands(peak),
                thousands(t.events),
                (peak + 1) as f64 * 100.0 / t.events.max(1) as f64,
                t.mean_live_fraction.unwrap_or(0.0) * 100.0,
                t.final_live_bytes.map_or("-".into(), human_bytes),
                if t.final_live_bytes == Some(1) { "is" } else { "are" }
            ));
        }
        (None, Some(max), Some(peak)) => out.push_str(&format!(
            "The trace's live bytes reach their max of {} at event {} of {} (its shape needs the \
             memory series, which --samples 0 leaves out)",
            human_bytes(max),
            thousands(peak),
            thousands(t.events)
        )),
        _ => out.push_str(&format!(
            "The trace has {}",
            crate::words::count(t.events, "event", "events")
        )),
    }
    if let (Some(most), Some(p90)) = (&t.most_requests, t.p90_below_bytes) {
        out.push_str(&format!(
            "; most requests are {} ({:.0}% of {}), and {:.0}% are under {}",
            size_class(most),
            most.requests as f64 * 100.0 / t.requests as f64,
            thousands(t.requests),
            SIZE_SHARE * 100.0,
            human_bytes(p90).replace(".00", "")
        ));
    }
    out.push('.');
    out
}

/// Every simulation (bump too: how close it comes is a fact, not a ranking) against every real
/// allocator, by `peak_footprint_bytes`.
fn versus_real(records: &[ResultRecord]) -> Vec<VersusRecord> {
    let ok = |r: &&ResultRecord| r.error.is_none() && r.peak_footprint_bytes.is_some();
    let real: Vec<&ResultRecord> = records.iter().filter(|r| r.is_real()).filter(ok).collect();
    let simulated = records.iter().filter(|r| !r.is_real()).filter(ok);
    simulated
        .flat_map(|s| real.iter().map(move |r| (s, r)))
        .filter_map(|(s, r)| {
            let (a, b) = (s.peak_footprint_bytes?, r.peak_footprint_bytes?);
            Some(VersusRecord {
                simulated: s.allocator.clone(),
                real: r.allocator.clone(),
                simulated_peak_footprint_bytes: a,
                real_peak_footprint_bytes: b,
                ratio: (b > 0).then(|| a as f64 / b as f64),
                difference_bytes: (a as i128 - b as i128).clamp(i64::MIN as i128, i64::MAX as i128)
                    as i64,
            })
        })
        .collect()
}

/// A signed byte difference: `+1.50 KiB`, `-256 B`.
fn signed_bytes(d: i64) -> String {
    let sign = if d < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(d.unsigned_abs()))
}

/// The rule of the best trade-off, in one line for the reports.
pub const TRADE_OFF_RULE: &str = "Best trade-off: of the allocators on the Pareto front of (peak \
    footprint, throughput), none other being at most as large and at least as fast, the one \
    closest to the ideal corner once both figures are put on a log scale from 0 (the best among \
    those compared) to 1 (the worst).";

/// The rule of the trace's shape, in one line for the reports.
pub fn shape_rule() -> String {
    format!(
        "Shape: a plateau when the live bytes average at least {:.0}% of their max, else a ramp \
         when the max is reached in the last {:.0}% of the events, else a peak.",
        PLATEAU_MEAN * 100.0,
        (1.0 - RAMP_AT) * 100.0
    )
}

/// The verdict as the terminal shows it: one paragraph after the tables.
pub fn text(report: &Report) -> String {
    format!("verdict: {}\n", record(report).text.join(" "))
}

/// The verdict as Markdown: a paragraph before the table.
pub fn markdown(report: &Report) -> String {
    let v = record(report);
    format!("**Verdict.** {}\n\n", v.text.join(" "))
}

/// The simulations-vs-real table as Markdown; empty without real allocators.
pub fn versus_markdown(report: &Report) -> String {
    let rows = record(report).simulated_vs_real;
    let Some(m) = Matrix::of(&rows) else { return String::new() };
    let mut out = String::from(
        "\n**Simulations vs real allocators** (peak footprint: the simulation's heap top against \
         the real allocator's peak resident bytes above its baseline, median of its runs; each \
         cell is simulated / real and simulated - real)\n\n| simulation | simulated peak |",
    );
    for (real, peak) in &m.reals {
        out.push_str(&format!(" {real} ({}) |", human_bytes(*peak)));
    }
    out.push_str("\n|---|---:|");
    out.push_str(&"---:|".repeat(m.reals.len()));
    out.push('\n');
    for (sim, peak, cells) in &m.sims {
        out.push_str(&format!("| {sim} | {} |", human_bytes(*peak)));
        for cell in cells {
            out.push_str(&format!(" {} |", versus_cell(*cell)));
        }
        out.push('\n');
    }
    out
}

/// The simulations-vs-real records as a matrix: one row per simulation, one column per real
/// allocator, in the records' order; `None` without real allocators.
struct Matrix<'a> {
    /// Each real allocator and its peak footprint.
    reals: Vec<(&'a str, u64)>,
    /// Each simulation, its peak footprint, and its record against each real allocator.
    sims: Vec<(&'a str, u64, Vec<Option<&'a VersusRecord>>)>,
}

impl<'a> Matrix<'a> {
    fn of(rows: &'a [VersusRecord]) -> Option<Matrix<'a>> {
        let mut reals: Vec<(&str, u64)> = Vec::new();
        let mut sims: Vec<(&str, u64, Vec<Option<&VersusRecord>>)> = Vec::new();
        for r in rows {
            if !reals.iter().any(|(name, _)| *name == r.real) {
                reals.push((&r.real, r.real_peak_footprint_bytes));
            }
            if !sims.iter().any(|(name, _, _)| *name == r.simulated) {
                sims.push((&r.simulated, r.simulated_peak_footprint_bytes, Vec::new()));
            }
        }
        if reals.is_empty() {
            return None;
        }
        for (sim, _, cells) in &mut sims {
            *cells = reals
                .iter()
                .map(|(real, _)| rows.iter().find(|r| r.simulated == *sim && r.real == *real))
                .collect();
        }
        Some(Matrix { reals, sims })
    }
}

/// One cell of the matrix: `1.02x (+123.00 KiB)`.
fn versus_cell(r: Option<&VersusRecord>) -> String {
    r.map_or("-".into(), |r| {
        format!(
            "{} ({})",
            r.ratio.map_or("-".into(), |x| format!("{x:.2}x")),
            signed_bytes(r.difference_bytes)
        )
    })
}

/// The verdict section at the top of the HTML page (`escape` makes text safe in HTML; passed
/// in, since the page's module imports this one).
pub fn html(report: &Report, escape: fn(&str) -> String) -> String {
    let v = record(report);
    let mut out = String::from("<section id=\"verdict\">\n<h2>Verdict</h2>\n");
    for sentence in &v.text {
        out.push_str(&format!("<p>{}</p>\n", escape(sentence)));
    }
    out.push_str(&format!(
        "<p class=\"note\">{} {} Every figure here is in the JSON's <code>verdict</code>.</p>\n",
        escape(TRADE_OFF_RULE),
        escape(&shape_rule())
    ));
    out.push_str("</section>\n");
    out
}

/// The simulations-vs-real section of the HTML page; empty without real allocators.
pub fn versus_html(report: &Report, escape: fn(&str) -> String) -> String {
    let rows = record(report).simulated_vs_real;
    let Some(m) = Matrix::of(&rows) else { return String::new() };
    let mut out = String::from(
        "<h2 id=\"versus-real\">Simulations vs real allocators</h2>\n<table id=\"versus-table\">\n\
         <tr><th>simulation</th><th>simulated peak</th>",
    );
    for (real, peak) in &m.reals {
        out.push_str(&format!("<th>{} ({})</th>", escape(real), human_bytes(*peak)));
    }
    out.push_str("</tr>\n");
    for (sim, peak, cells) in &m.sims {
        out.push_str(&format!("<tr><td>{}</td><td>{}</td>", escape(sim), human_bytes(*peak)));
        for cell in cells {
            out.push_str(&format!("<td>{}</td>", escape(&versus_cell(*cell))));
        }
        out.push_str("</tr>\n");
    }
    out.push_str(
        "</table>\n<p class=\"note\">How close each simulation's peak footprint (the highest \
         address its heap reached) comes to each real allocator's (its process's resident bytes \
         above the baseline before the replay, at their highest sample, the median of its runs: \
         <code>peak_footprint_bytes</code> of both records). Each cell: simulated / real, and in \
         brackets simulated - real. A real allocator's figure counts whole pages and its own \
         metadata, so a simulation below it is expected.</p>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, kind: &str, footprint: u64, throughput: Option<f64>) -> ResultRecord {
        ResultRecord {
            allocator: name.into(),
            kind: Some(kind.into()),
            peak_footprint_bytes: Some(footprint),
            throughput_events_per_sec: throughput,
            ..ResultRecord::default()
        }
    }

    fn sentence(records: &[ResultRecord], contest: Contest, speed: Speed) -> String {
        let lead = match contest {
            Contest::Simulated => "Among the simulations that reuse memory",
            Contest::Real => "Of the real allocators",
        };
        ranking_sentence(lead, &ranking(records, contest, speed).unwrap(), speed)
    }

    #[test]
    fn the_verdict_names_the_leanest_the_fastest_and_the_trade_off_and_never_bump() {
        // bump is leanest and fastest here, and never ranked. first-fit is dominated by tlsf;
        // of the front (tlsf, slab), tlsf is at (0, ln 2 / ln 4 = 0.5), slab at (1, 0).
        let records = [
            record("bump", "simulated", 100, Some(90e6)),
            record("first-fit", "simulated", 300, Some(10e6)),
            record("tlsf", "simulated", 200, Some(20e6)),
            record("slab", "simulated", 1000, Some(40e6)),
            record("glibc", "real", 4096, Some(30e6)),
            record("jemalloc", "real", 8192, Some(30e6)),
        ];
        assert_eq!(
            sentence(&records, Contest::Simulated, Speed::Measured),
            "Among the simulations that reuse memory, tlsf uses least memory (200 B peak \
             footprint), slab is fastest (40.00M events/s), and tlsf is the best trade-off (200 B \
             at 20.00M events/s)."
        );
        assert_eq!(
            sentence(&records, Contest::Real, Speed::Measured),
            "Of the real allocators, glibc uses least memory (4.00 KiB peak footprint), glibc and \
             jemalloc tie for fastest (30.00M events/s), and glibc is the best trade-off (4.00 KiB \
             at 30.00M events/s)."
        );
        let distances = trade_off_distances(&[(300, 10e6), (200, 20e6), (1000, 40e6)]);
        assert_eq!(distances[0], None);
        assert!((distances[1].unwrap() - 0.5).abs() < 1e-12);
        assert!((distances[2].unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ties_are_said_and_one_allocator_best_at_both_is_the_trade_off() {
        let mut records: Vec<ResultRecord> = ["first-fit", "next-fit", "best-fit", "worst-fit"]
            .iter()
            .map(|n| record(n, "simulated", 256, Some(5e6)))
            .collect();
        records.push(record("tlsf", "simulated", 256, Some(9e6)));
        records[0].overhead = Some(0.219);
        assert_eq!(
            sentence(&records, Contest::Simulated, Speed::Fake),
            "Among the simulations that reuse memory, first-fit, next-fit, best-fit, worst-fit \
             and tlsf tie for least memory (256 B peak footprint, 21.90% above the max live \
             bytes), tlsf is fastest by the fake clock (9.00M events/s), and tlsf is the best \
             trade-off (256 B at 9.00M events/s)."
        );
        let lean_and_fast = [
            record("tlsf", "simulated", 200, Some(9e6)),
            record("slab", "simulated", 900, Some(8e6)),
        ];
        assert!(sentence(&lean_and_fast, Contest::Simulated, Speed::Measured)
            .ends_with("tlsf is fastest (9.00M events/s), and so it is the best trade-off."));
    }

    #[test]
    fn without_timing_the_verdict_names_only_the_leanest() {
        let records =
            [record("tlsf", "simulated", 200, None), record("slab", "simulated", 900, None)];
        let r = ranking(&records, Contest::Simulated, Speed::NotMeasured).unwrap();
        assert!(r.fastest.is_empty() && r.trade_off.is_empty());
        assert_eq!(
            ranking_sentence("Among them", &r, Speed::NotMeasured),
            "Among them, tlsf uses least memory (200 B peak footprint)."
        );
        assert!(ranking(
            &[record("bump", "simulated", 1, Some(1.0))],
            Contest::Simulated,
            Speed::Measured
        )
        .is_none());
    }

    #[test]
    fn a_trace_is_a_plateau_a_ramp_or_a_peak_by_its_written_rule() {
        assert_eq!(shape(0.75, 0.1), "plateau");
        assert_eq!(shape(0.74, 0.8), "ramp");
        assert_eq!(shape(0.74, 0.79), "peak");
        // Live 0, 100, 100, 0 at events 0, 1, 2, 3 of 4: mean 50.
        assert_eq!(mean_live(&[0, 1, 2, 3], &[0, 100, 100, 0], 4), Some(50.0));
        // Sampled every 2 events of 5, the last standing for itself: (10*2 + 30*2 + 50) / 5.
        assert_eq!(mean_live(&[0, 2, 4], &[10, 30, 50], 5), Some(26.0));
    }

    #[test]
    fn the_size_profile_names_the_busiest_class_and_the_bound_of_ninety_percent() {
        // 2 requests of 0-1 B, 5 of 16-31 B, 2 of 32-63 B, 1 of 1-2 KiB: 9 of 10 under 64 B.
        let mut sizes = vec![2, 0, 0, 0, 5, 2];
        sizes.extend([0, 0, 0, 0, 1]);
        let (most, under) = size_profile(&sizes);
        assert_eq!(most, Some(SizeClassRecord { from_bytes: 16, below_bytes: 32, requests: 5 }));
        assert_eq!(under, Some(64));
        assert_eq!(size_class(&most.unwrap()), "16-31 B");
        let kib = SizeClassRecord { from_bytes: 1024, below_bytes: 2048, requests: 1 };
        assert_eq!(size_class(&kib), "1 KiB to 2 KiB");
        assert_eq!(size_profile(&[]), (None, None));
        assert_eq!(thousands(1_234_567u64), "1,234,567");
    }
}
