//! A test-only knob that slows a strategy down on purpose (the hidden `--test-slowdown
//! STRATEGY=HOW`), so tests can show that the regression gate catches a slower strategy, and
//! does not cry wolf over one slower by less than the noise.
//!
//! Two ways, both adding work per operation that [`Strategy::work`] counts:
//! - `STRATEGY=N` (a whole number >= 1): every operation is done `N` times, on `N` identical
//!   heaps (the real one and `N - 1` shadows fed the same calls). Placements stay exactly those
//!   of the real heap, memory figures are unchanged, `work` is multiplied by exactly `N`, and
//!   the time by about `N`.
//! - `STRATEGY=spin:K`: after every operation, a loop of `K` iterations that the optimiser
//!   cannot remove; each counts 1 unit of work. A small `K` costs a few nanoseconds an
//!   operation: a slowdown below the timing noise.
//!
//! The setting is a value, passed down: the command line's list of `(strategy, how)` goes into
//! the run's plan (`engine::Plan::slowdowns`), which hands each strategy's slowdown to the passes
//! that build its heap (`engine::replayer::Setup`). Nothing is kept between runs: two runs in one
//! process may slow different strategies.

use super::model::{Allocation, Bytes, Corruption, Params, Request, Strategy, StrategyEntry};

/// How one strategy is slowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slowdown {
    /// Do every operation this many times (>= 1).
    Repeat(u32),
    /// Spin this many iterations after every operation.
    Spin(u32),
}

/// Parse `STRATEGY=N` or `STRATEGY=spin:K`, `STRATEGY` the name of one of `strategies` (the
/// caller passes [`crate::alloc::ALL`]: `alloc/mod.rs`, which defines it, names this file, so
/// this file may not import it back).
pub fn parse(
    spec: &str,
    strategies: &'static [StrategyEntry],
) -> Result<(&'static StrategyEntry, Slowdown), String> {
    let bad = || format!("--test-slowdown '{spec}': expected STRATEGY=N or STRATEGY=spin:K");
    let (name, how) = spec.split_once('=').ok_or_else(bad)?;
    let entry = strategies.iter().find(|entry| entry.name == name.trim()).ok_or_else(|| {
        let names: Vec<&str> = strategies.iter().map(|entry| entry.name).collect();
        format!("--test-slowdown: unknown strategy '{name}' (valid: {})", names.join(", "))
    })?;
    let how = how.trim();
    let slowdown = match how.strip_prefix("spin:") {
        Some(k) => Slowdown::Spin(k.parse().map_err(|_| bad())?),
        None => match how.parse() {
            Ok(n) if n >= 1 => Slowdown::Repeat(n),
            _ => return Err(bad()),
        },
    };
    Ok((entry, slowdown))
}

/// The slowdown `slowdowns` gives the strategy `name`, if any (the first one naming it).
pub fn of(slowdowns: &[(&str, Slowdown)], name: &str) -> Option<Slowdown> {
    slowdowns.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// A fresh heap of `entry`'s strategy, slowed as `slowdown` says (`None`: as it is).
pub fn new_strategy(
    entry: &StrategyEntry,
    params: &Params,
    slowdown: Option<Slowdown>,
) -> Box<dyn Strategy> {
    let strategy = (entry.new)(params);
    match slowdown {
        None | Some(Slowdown::Repeat(1)) | Some(Slowdown::Spin(0)) => strategy,
        Some(Slowdown::Repeat(n)) => Box::new(Slowed {
            inner: strategy,
            shadows: (1..n).map(|_| (entry.new)(params)).collect(),
            spin: 0,
            spun: 0,
        }),
        Some(Slowdown::Spin(k)) => {
            Box::new(Slowed { inner: strategy, shadows: Vec::new(), spin: k, spun: 0 })
        }
    }
}

/// A strategy whose operations are repeated on shadow heaps and followed by a spin loop.
struct Slowed {
    inner: Box<dyn Strategy>,
    /// Heaps fed exactly the calls `inner` gets: being deterministic, they place every block
    /// where `inner` does (with the same handle), so the same [`Allocation`]s are valid for them.
    shadows: Vec<Box<dyn Strategy>>,
    spin: u32,
    /// Spin iterations so far (work units).
    spun: u64,
}

impl Slowed {
    #[inline(never)]
    fn spin(&mut self) {
        for i in 0..self.spin {
            std::hint::black_box(i);
        }
        self.spun += u64::from(self.spin);
    }
}

impl Strategy for Slowed {
    fn allocate(&mut self, req: Request) -> Option<Allocation> {
        for s in &mut self.shadows {
            std::hint::black_box(s.allocate(req));
        }
        let placed = self.inner.allocate(req);
        self.spin();
        placed
    }

    fn reallocate(&mut self, old: Allocation, req: Request) -> Option<Allocation> {
        for s in &mut self.shadows {
            std::hint::black_box(s.reallocate(old, req));
        }
        let placed = self.inner.reallocate(old, req);
        self.spin();
        placed
    }

    fn free(&mut self, block: Allocation) {
        for s in &mut self.shadows {
            s.free(block);
        }
        self.inner.free(block);
        self.spin();
    }

    fn top(&self) -> Bytes {
        self.inner.top()
    }

    fn free_bytes(&self) -> Bytes {
        self.inner.free_bytes()
    }

    fn largest_satisfiable(&self) -> Bytes {
        self.inner.largest_satisfiable()
    }

    fn write(&mut self, block: Allocation, offset: Bytes, len: Bytes) {
        for s in &mut self.shadows {
            s.write(block, offset, len);
        }
        self.inner.write(block, offset, len);
    }

    fn corruption(&self) -> Option<Corruption> {
        self.inner.corruption()
    }

    fn work(&self) -> u64 {
        self.inner.work() + self.shadows.iter().map(|s| s.work()).sum::<u64>() + self.spun
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::{freelist, tlsf};

    static KNOWN: [StrategyEntry; 2] = [tlsf::ENTRY, freelist::FIRST_FIT];

    #[test]
    fn a_slowdown_names_a_strategy_and_how() {
        assert_eq!(parse("tlsf=2", &KNOWN).unwrap().1, Slowdown::Repeat(2));
        assert_eq!(parse("first-fit=spin:40", &KNOWN).unwrap().1, Slowdown::Spin(40));
        assert!(parse("tlsf=0", &KNOWN).is_err());
        assert!(parse("tlsf", &KNOWN).is_err());
        let unknown = parse("nope=2", &KNOWN).unwrap_err();
        assert!(unknown.contains("unknown strategy 'nope' (valid: tlsf, first-fit)"), "{unknown}");
    }

    #[test]
    fn repeating_every_operation_twice_doubles_the_work_and_keeps_the_placements() {
        let params = Params::default();
        let mut plain = (tlsf::ENTRY.new)(&params);
        let mut slowed = Slowed {
            inner: (tlsf::ENTRY.new)(&params),
            shadows: vec![(tlsf::ENTRY.new)(&params)],
            spin: 3,
            spun: 0,
        };
        let mut blocks = Vec::new();
        for size in [10, 200, 3000, 40] {
            let a = plain.allocate(Request::new(size));
            assert_eq!(a, slowed.allocate(Request::new(size)));
            blocks.push(a.unwrap());
        }
        for b in blocks {
            plain.free(b);
            slowed.free(b);
        }
        assert_eq!(slowed.work(), 2 * plain.work() + 8 * 3);
    }
}
