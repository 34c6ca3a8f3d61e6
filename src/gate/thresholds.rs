//! `--max-regression`: how much worse each figure may get before the gate fails.
//!
//! A threshold is a relative change in percent of the old value (`%` optional): `footprint=0`
//! fails on any growth of the peak footprint, `throughput=10%` on a median throughput more than
//! 10% lower (and significantly so, see [`super::stats`]). `off` leaves a figure out of the
//! gate (it is still shown). The names, and the defaults of figures not named, come from the
//! figure registry ([`crate::figures::FIGURES`], [`crate::figures::default_thresholds`]): the
//! exact memory figures and work are gated exactly; fragmentation at the peak is shown but not
//! gated (it can rise when the footprint falls); throughput at 10% (two shared cores move
//! medians by several percent); latency p99 comes from one pass per run, so it cannot be tested
//! for significance, and is off.

use crate::figures::{default_of, gate_names, Figure, REAL_MEMORY};

/// A threshold per gate name, as fractions (`0.1` for 10%); `None` for off.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    values: Vec<(&'static str, Option<f64>)>,
}

impl Default for Thresholds {
    fn default() -> Self {
        let values = gate_names().into_iter().map(|name| (name, default_of(name))).collect();
        Thresholds { values }
    }
}

impl Thresholds {
    /// The defaults, changed by `spec` (`NAME=PERCENT|off,...`).
    pub fn parse(spec: &str) -> Result<Thresholds, String> {
        let mut t = Thresholds::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                format!("--max-regression: '{part}' is not KEY=PERCENT or KEY=off")
            })?;
            let name = name.trim();
            let slot = t.values.iter_mut().find(|(n, _)| *n == name).ok_or_else(|| {
                format!(
                    "--max-regression: unknown figure '{name}' (valid: {})",
                    gate_names().join(", ")
                )
            })?;
            let value = value.trim();
            slot.1 = if value == "off" {
                None
            } else {
                let number = value.strip_suffix('%').unwrap_or(value).trim();
                let percent: f64 =
                    number.parse().ok().filter(|p: &f64| *p >= 0.0 && p.is_finite()).ok_or_else(
                        || {
                            format!(
                                "--max-regression: '{value}' for {name} is not a percentage >= 0 \
                                 or off"
                            )
                        },
                    )?;
                Some(percent / 100.0)
            };
        }
        Ok(t)
    }

    /// The threshold of a gate name, as a fraction; `None` when off or not a gate name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v)
    }

    /// The threshold `figure` is held to; `None` when it is off or never gated. A real
    /// allocator's repeated memory figures are held to [`REAL_MEMORY`]'s instead.
    pub fn of(&self, figure: &Figure, real: bool) -> Option<f64> {
        let gate = figure.gate?;
        if real && figure.kind == crate::figures::Kind::Exact && figure.runs.is_some() {
            return self.get(REAL_MEMORY.name);
        }
        self.get(gate.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_figures_change_and_the_rest_keep_their_defaults() {
        let t = Thresholds::parse("overhead=0.5%, throughput=5,p99=off").unwrap();
        assert_eq!(t.get("overhead"), Some(0.005));
        assert_eq!(t.get("throughput"), Some(0.05));
        assert_eq!(t.get("p99"), None);
        assert_eq!(t.get("footprint"), Some(0.0));
        assert_eq!(Thresholds::default().get("throughput"), Some(0.1));
        let p99 = crate::figures::FIGURES.iter().find(|f| f.key == "latency_ns.free.p99").unwrap();
        assert_eq!(Thresholds::parse("p99=20").unwrap().of(p99, false), Some(0.2));
        let footprint = &crate::figures::FIGURES[1];
        assert_eq!(Thresholds::default().of(footprint, true), Some(0.02));
        assert_eq!(Thresholds::default().of(footprint, false), Some(0.0));
    }

    #[test]
    fn bad_thresholds_say_what_is_wrong() {
        assert!(Thresholds::parse("speed=5%").unwrap_err().contains("unknown figure 'speed'"));
        assert!(Thresholds::parse("footprint").unwrap_err().contains("KEY=PERCENT"));
        assert!(Thresholds::parse("footprint=-1").unwrap_err().contains("percentage"));
    }
}
