//! What a replay run needs ([`RunConfig`]), and the checks of what the user typed that clap
//! cannot make: strategy lists, byte counts. Errors here are usage errors (exit status 2). Plain
//! data: `commands::run_config` fills a [`RunConfig`] from the command line ([`crate::cli`]),
//! which this module does not know.

use crate::alloc::{self, Bytes, Params, StrategyEntry};
use crate::engine::Timing;
use crate::report::write::Destination;
use crate::trace::{Format, ParseOptions};
use std::path::PathBuf;

/// A replay run, ready to go.
#[derive(Debug)]
pub struct RunConfig {
    /// The trace (`-`: standard input).
    pub trace: PathBuf,
    /// `--format`; `None`: told from the trace's content (`Format::resolve`).
    pub format: Option<Format>,
    pub parse: ParseOptions,
    pub strategies: Vec<&'static StrategyEntry>,
    /// Real allocators to replay, each in child processes (`--alloc glibc,preload:PATH`).
    pub real: Vec<crate::real::RealSpec>,
    /// Write every block of a real allocator as a program would (off with `--no-touch`).
    pub touch: bool,
    /// Replay a real allocator on one thread even when the trace has threads (`--serial`).
    pub serial: bool,
    /// `--real-timeout`: how long one child replay of a real allocator may run before it is
    /// killed and the allocator reported as failed; `None` for no limit.
    pub real_timeout: Option<std::time::Duration>,
    pub params: Params,
    pub timing: Timing,
    pub threads: Option<usize>,
    /// `--verify`: check every placement and write in the metrics pass.
    pub verify: bool,
    pub json: Option<Destination>,
    pub csv: Option<Destination>,
    pub markdown: Option<Destination>,
    /// `--breakdowns-csv FILE`.
    pub breakdowns_csv: Option<Destination>,
    /// `--report DIR`.
    pub report_dir: Option<PathBuf>,
    /// Samples of the memory time series per strategy.
    pub samples: u64,
    pub quiet: bool,
    /// `--verbose`: the wall time of each phase, on standard error.
    pub verbose: bool,
    /// `--stream`: read the trace in chunks per pass even when it is small.
    pub stream: bool,
    /// The command line as typed, for the report to say what produced it.
    pub command_line: String,
    /// `--baseline FILE`: compare the run with this result.
    pub baseline: Option<PathBuf>,
    /// `--max-regression`, parsed.
    pub thresholds: crate::gate::thresholds::Thresholds,
    /// `--force`.
    pub force: bool,
    /// `--allow-missing`.
    pub allow_missing: bool,
    /// The hidden `--test-slowdown` settings, parsed, and as typed.
    pub slowdowns: Vec<(&'static str, crate::alloc::slowdown::Slowdown)>,
    pub slowdown_specs: Vec<String>,
}

/// Arguments joined by spaces, each quoted for a POSIX shell when it needs to be; the program
/// by its file name (where a build put it says nothing about the run).
pub fn command_line(mut args: impl Iterator<Item = std::ffi::OsString>) -> String {
    let program = args.next().map(|p| {
        std::path::Path::new(&p).file_name().map_or(p.clone(), |name| name.to_os_string())
    });
    let quote = |arg: std::ffi::OsString| {
        let arg = arg.to_string_lossy().into_owned();
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
        if !arg.is_empty() && arg.chars().all(plain) {
            arg
        } else {
            format!("'{}'", arg.replace('\'', "'\\''"))
        }
    };
    program.into_iter().chain(args).map(quote).collect::<Vec<_>>().join(" ")
}

/// What `--alloc` chose: simulated strategies and real allocators, each once, in the order
/// named.
#[derive(Debug, Default)]
pub struct Chosen {
    pub simulated: Vec<&'static StrategyEntry>,
    pub real: Vec<crate::real::RealSpec>,
}

/// `--alloc LIST`: names of strategies ([`alloc::ALL`]) and real allocators
/// ([`crate::real::REAL`], `preload:PATH`), and the groups `simulated` (every simulated
/// strategy), `real` (every built-in real allocator) and `all` (both). Reports list the
/// simulations first, then the real allocators, each in the order named.
pub fn parse_strategies(list: &str) -> Result<Chosen, String> {
    use crate::real::{RealSpec, REAL};
    let valid = || {
        format!(
            "valid: all, simulated, real, {}, {}, preload:PATH",
            alloc::names(),
            crate::real::registry::names()
        )
    };
    let mut chosen = Chosen::default();
    let add_real = |chosen: &mut Chosen, spec: RealSpec| {
        if !chosen.real.iter().any(|r| r.name() == spec.name()) {
            chosen.real.push(spec);
        }
    };
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "all" | "simulated" => {
                for entry in alloc::ALL {
                    if !chosen.simulated.iter().any(|e| e.name == entry.name) {
                        chosen.simulated.push(entry);
                    }
                }
                if name == "all" {
                    REAL.iter().for_each(|e| add_real(&mut chosen, RealSpec::Builtin(e.name)));
                }
            }
            "real" => REAL.iter().for_each(|e| add_real(&mut chosen, RealSpec::Builtin(e.name))),
            _ => {
                if let Some(entry) = alloc::by_name(name) {
                    if !chosen.simulated.iter().any(|e| e.name == entry.name) {
                        chosen.simulated.push(entry);
                    }
                } else if let Some(spec) = RealSpec::parse(name) {
                    add_real(&mut chosen, spec.map_err(|e| format!("--alloc {name}: {e}"))?);
                } else {
                    return Err(format!(
                        "unknown strategy '{name}' in --alloc{} ({})",
                        crate::suggest::strategy(name),
                        valid()
                    ));
                }
            }
        }
    }
    if chosen.simulated.is_empty() && chosen.real.is_empty() {
        return Err(format!("--alloc names no strategy ({})", valid()));
    }
    Ok(chosen)
}

/// A byte count with an optional binary unit: `4096`, `64K`, `64KiB`, `512M`, `2G`, `1T`.
pub fn parse_bytes(text: &str) -> Result<Bytes, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let bad =
        || format!("--heap-limit '{text}' is not a byte count (examples: 65536, 64K, 512M, 2G)");
    let number: Bytes = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(bad()),
    };
    number.checked_mul(1 << shift).ok_or_else(|| format!("--heap-limit '{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_quotes_only_the_arguments_that_need_it() {
        let args =
            ["/build/release/replay", "my trace.csv", "--alloc", "all", "it's"].map(Into::into);
        assert_eq!(command_line(args.into_iter()), "replay 'my trace.csv' --alloc all 'it'\\''s'");
    }

    #[test]
    fn byte_counts_take_binary_units() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("64K"), Ok(65536));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert!(parse_bytes("12 apples").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }

    #[test]
    fn an_unknown_strategy_lists_the_valid_names() {
        let err = parse_strategies("first-fit,frist-fit").unwrap_err();
        assert!(err.contains("'frist-fit'") && err.contains("best-fit"), "{err}");
    }

    #[test]
    fn simulated_means_the_whole_registry_and_duplicates_count_once() {
        let simulated = parse_strategies("simulated").unwrap();
        assert_eq!(simulated.simulated.len(), alloc::ALL.len());
        assert!(simulated.real.is_empty());
        let two = parse_strategies("bump, bump,first-fit").unwrap().simulated;
        assert_eq!(two.iter().map(|e| e.name).collect::<Vec<_>>(), ["bump", "first-fit"]);
    }

    #[test]
    fn real_allocators_and_groups_are_named_beside_the_strategies() {
        let c = parse_strategies("tlsf,glibc,real,glibc").unwrap();
        assert_eq!(c.simulated.iter().map(|e| e.name).collect::<Vec<_>>(), ["tlsf"]);
        let real: Vec<String> = c.real.iter().map(|r| r.name()).collect();
        assert_eq!(real, ["glibc", "mimalloc", "jemalloc"]);
        assert!(parse_strategies("real").unwrap().simulated.is_empty());
        let err = parse_strategies("preload:/no/such/lib.so").unwrap_err();
        assert!(err.contains("/no/such/lib.so"), "{err}");
    }

    #[test]
    fn all_is_every_simulated_strategy_then_every_builtin_real_allocator_each_once() {
        let names = |list: &str| {
            let c = parse_strategies(list).unwrap();
            let simulated = c.simulated.iter().map(|e| e.name.to_string());
            simulated.chain(c.real.iter().map(|r| r.name())).collect::<Vec<_>>()
        };
        let expected: Vec<String> = alloc::ALL
            .iter()
            .map(|e| e.name)
            .chain(crate::real::REAL.iter().map(|e| e.name))
            .map(String::from)
            .collect();
        assert_eq!(names("all"), expected);
        for list in ["all,glibc", "glibc,all", "all,all", "simulated,real", "tlsf,all,real"] {
            let mut chosen = names(list);
            assert_eq!(chosen.len(), expected.len(), "{list}: {chosen:?}");
            chosen.sort();
            let mut sorted = expected.clone();
            sorted.sort();
            assert_eq!(chosen, sorted, "{list}");
        }
        // Each group in its own order: the simulations of `ALL`, then the real ones of `REAL`.
        assert_eq!(names("simulated,real"), expected);
    }
}
