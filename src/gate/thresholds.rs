//! `--max-regression`: how much worse each figure may get before the gate fails.
//!
//! A threshold is a relative change in percent of the old value (`%` optional): `footprint=0`
//! fails on any growth of the peak footprint, `throughput=10%` on a median throughput more than
//! 10% lower (and significantly so, see [`super::stats`]). `off` leaves a figure out of the
//! gate (it is still shown). Figures not named keep their defaults ([`DEFAULTS`]).

/// The figures a threshold can be set for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `peak_footprint_bytes`.
    Footprint,
    /// `overhead`.
    Overhead,
    /// `internal_fragmentation`.
    Internal,
    /// `external_fragmentation`.
    External,
    /// `failed_allocations`.
    Failed,
    /// `work_per_event`.
    Work,
    /// Median throughput over `--runs` repetitions.
    Throughput,
    /// Latency p99 of malloc and free.
    P99,
}

/// Names, in the order of `--help`.
pub const KEYS: [(&str, Key); 8] = [
    ("footprint", Key::Footprint),
    ("overhead", Key::Overhead),
    ("internal", Key::Internal),
    ("external", Key::External),
    ("failed", Key::Failed),
    ("work", Key::Work),
    ("throughput", Key::Throughput),
    ("p99", Key::P99),
];

/// The default `--max-regression`. The exact memory figures and work are gated exactly;
/// fragmentation at the peak is shown but not gated (it can rise when the footprint falls);
/// throughput at 10% (two shared cores move medians by several percent); latency p99 comes
/// from one pass per run, so it cannot be tested for significance, and is off.
pub const DEFAULTS: &str =
    "footprint=0,overhead=0,internal=off,external=off,failed=0,work=0,throughput=10%,p99=off";

/// A threshold per figure, as fractions (`0.1` for 10%); `None` for off.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    values: [Option<f64>; 8],
}

impl Default for Thresholds {
    fn default() -> Self {
        let mut t = Thresholds { values: [None; 8] };
        t.apply(DEFAULTS).expect("the defaults parse");
        t
    }
}

impl Thresholds {
    /// The defaults, changed by `spec` (`KEY=PERCENT|off,...`).
    pub fn parse(spec: &str) -> Result<Thresholds, String> {
        let mut t = Thresholds::default();
        t.apply(spec)?;
        Ok(t)
    }

    fn apply(&mut self, spec: &str) -> Result<(), String> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let names = || KEYS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
            let (name, value) = part.split_once('=').ok_or_else(|| {
                format!("--max-regression: '{part}' is not KEY=PERCENT or KEY=off")
            })?;
            let index = KEYS.iter().position(|(n, _)| *n == name.trim()).ok_or_else(|| {
                format!("--max-regression: unknown figure '{name}' (valid: {})", names())
            })?;
            let value = value.trim();
            self.values[index] = if value == "off" {
                None
            } else {
                let number = value.strip_suffix('%').unwrap_or(value).trim();
                let percent: f64 = number.parse().ok().filter(|p: &f64| *p >= 0.0 && p.is_finite()).ok_or_else(
                    || format!("--max-regression: '{value}' for {name} is not a percentage >= 0 or off"),
                )?;
                Some(percent / 100.0)
            };
        }
        Ok(())
    }

    /// The threshold of `key`, as a fraction; `None` when off.
    pub fn get(&self, key: Key) -> Option<f64> {
        let index = KEYS.iter().position(|(_, k)| *k == key).expect("every key is listed");
        self.values[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_figures_change_and_the_rest_keep_their_defaults() {
        let t = Thresholds::parse("overhead=0.5%, throughput=5,p99=off").unwrap();
        assert_eq!(t.get(Key::Overhead), Some(0.005));
        assert_eq!(t.get(Key::Throughput), Some(0.05));
        assert_eq!(t.get(Key::P99), None);
        assert_eq!(t.get(Key::Footprint), Some(0.0));
        assert_eq!(Thresholds::default().get(Key::Throughput), Some(0.1));
    }

    #[test]
    fn bad_thresholds_say_what_is_wrong() {
        assert!(Thresholds::parse("speed=5%").unwrap_err().contains("unknown figure 'speed'"));
        assert!(Thresholds::parse("footprint").unwrap_err().contains("KEY=PERCENT"));
        assert!(Thresholds::parse("footprint=-1").unwrap_err().contains("percentage"));
    }
}
