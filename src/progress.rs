//! Progress bars on standard error (indicatif): a spinner while the trace is parsed, then a bar
//! of replay passes. Shown only when standard error is a terminal and `--quiet` is off, so
//! pipes, files and CI logs never see them.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How often a spinner redraws while nothing reports progress.
const TICK: Duration = Duration::from_millis(120);
const SPINNER: &str = "{spinner} {msg} {elapsed}";
const BAR: &str = "{msg} [{bar:30}] {pos}/{len} passes {elapsed}";
const BAR_CHARS: &str = "=> ";
const EVENTS_BAR: &str =
    "{msg} [{bar:30}] {percent}% {human_pos}/{human_len} events, {per_sec}, ETA {eta} ({elapsed})";

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
            .progress_chars(BAR_CHARS);
        // No steady tick, as for `bar`: it redraws (at most 20 times a second) as events are
        // counted, a chunk of 65536 at a time.
        ProgressBar::new(total).with_style(style).with_message(message)
    }
}
