//! Progress bars on standard error (indicatif): a bar of the bytes read while the trace is
//! parsed, then one of the events replayed over every pass of every strategy (its label says
//! so: [`replay_label`]). Shown only when standard error is a terminal and `--quiet` is off, so
//! pipes, files and CI logs never see them.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use std::fmt;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

/// How often a spinner redraws while nothing reports progress.
const TICK: Duration = Duration::from_millis(120);
const SPINNER: &str = "{spinner} {msg} {elapsed}";
const BAR: &str = "{msg} [{bar:30}] {pos}/{len} passes {elapsed}";
const BAR_CHARS: &str = "=> ";
const FILE_BAR: &str = "{msg} [{bar:30}] {percent}% {binary_bytes}/{binary_total_bytes}, \
                        {binary_bytes_per_sec}, ETA {eta} ({elapsed})";
const EVENTS_BAR: &str =
    "{msg} [{bar:30}] {percent}% {human_pos}/{human_len} events, {rate}, ETA {eta} ({elapsed})";

/// Makes progress bars, or hidden ones that draw nothing.
pub struct Progress {
    shown: bool,
}

impl Progress {
    /// Bars are shown when standard error is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Progress {
        Progress { shown: !quiet && std::io::stderr().is_terminal() }
    }

    /// A spinner with `message`, for a step of unknown length; `finish_and_clear` it after.
    pub fn spinner(&self, message: String) -> ProgressBar {
        if !self.shown {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template(SPINNER)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::new_spinner().with_style(style).with_message(message);
        bar.enable_steady_tick(TICK);
        bar
    }

    /// A bar of the bytes of the file at `path` read so far (`set_position` it), with the rate
    /// and the time left; a spinner if the file's length is unknown. `finish_and_clear` it.
    pub fn file_bar(&self, message: String, path: &Path) -> ProgressBar {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        if !self.shown || len == 0 {
            return self.spinner(message);
        }
        let style = ProgressStyle::with_template(FILE_BAR)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars(BAR_CHARS);
        // Nothing is timed while a trace is read: a steady tick keeps the rate and ETA fresh.
        let bar = ProgressBar::new(len).with_style(style).with_message(message);
        bar.enable_steady_tick(TICK);
        bar
    }

    /// A bar of `steps` steps with `message`; `inc` it from any thread, `finish_and_clear` it.
    pub fn bar(&self, message: String, steps: u64) -> ProgressBar {
        if !self.shown {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template(BAR)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars(BAR_CHARS);
        // No steady tick: a thread waking to redraw would disturb the timing passes; the bar
        // redraws when a step is done.
        ProgressBar::new(steps).with_style(style).with_message(message)
    }

    /// A bar counting replayed events over `total` (all passes of all strategies), with the
    /// rate and the time left; `inc` it from any thread, `finish_and_clear` it.
    pub fn events_bar(&self, message: String, total: u64) -> ProgressBar {
        if !self.shown {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template(EVENTS_BAR)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars(BAR_CHARS)
            .with_key("rate", |state: &ProgressState, out: &mut dyn fmt::Write| {
                let _ = write!(out, "{}", events_per_second(state.per_sec()));
            });
        // No steady tick, as for `bar`: it redraws (at most 20 times a second) as events are
        // counted, a chunk of 65536 at a time.
        ProgressBar::new(total).with_style(style).with_message(message)
    }
}

/// The label of the replay's events bar and the total it counts to: every pass of every
/// strategy over the trace's events, `replaying 9 strategies x 5 passes x 14 events` with a
/// total of 630, so that the label and the bar's `N/630 events` agree.
pub fn replay_label(strategies: usize, passes: u64, events: u64) -> (String, u64) {
    use crate::words::count;
    let total = strategies as u64 * passes * events;
    let label = format!(
        "replaying {} x {} x {}",
        count(strategies as u64, "strategy", "strategies"),
        count(passes, "pass", "passes"),
        count(events, "event", "events")
    );
    (label, total)
}

/// A rate of events as a person reads it: `12.5M events/s`, `840k events/s`, `95 events/s`.
fn events_per_second(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.1}M events/s", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.0}k events/s", rate / 1e3)
    } else {
        format!("{rate:.0} events/s")
    }
}

#[cfg(test)]
mod tests {
    use super::{events_per_second, replay_label};

    #[test]
    fn the_replay_bar_label_names_every_factor_of_the_total_it_counts() {
        let (label, total) = replay_label(9, 5, 14);
        assert_eq!(label, "replaying 9 strategies x 5 passes x 14 events");
        assert_eq!(total, 9 * 5 * 14);
        let (label, total) = replay_label(1, 1, 1);
        assert_eq!((label.as_str(), total), ("replaying 1 strategy x 1 pass x 1 event", 1));
    }

    #[test]
    fn rates_read_as_millions_thousands_or_units() {
        assert_eq!(events_per_second(12_490_260.87), "12.5M events/s");
        assert_eq!(events_per_second(840_400.0), "840k events/s");
        assert_eq!(events_per_second(95.4), "95 events/s");
    }
}
