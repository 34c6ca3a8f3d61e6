//! Suggestions for mistyped names of the command line: strategies (`--alloc frist-fit`) here,
//! subcommands in [`crate::cli::mistyped_subcommand`]; the likeness rule is
//! [`crate::words::did_you_mean`].

/// What to add to the error for an unknown `--alloc` name: `: did you mean 'first-fit'?`, or
/// nothing when no known name (a group, a simulated strategy, a real allocator) is alike.
pub fn strategy(typed: &str) -> String {
    let groups = ["all", "simulated", "real"];
    let simulated = crate::alloc::ALL.iter().map(|entry| entry.name);
    let real = crate::real::registry::REAL.iter().map(|entry| entry.name);
    let known = groups.into_iter().chain(simulated).chain(real);
    crate::words::did_you_mean(typed, known)
        .map_or_else(String::new, |name| format!(": did you mean '{name}'?"))
}

#[cfg(test)]
mod tests {
    use super::strategy;

    #[test]
    fn a_mistyped_strategy_or_allocator_gets_the_name_it_resembles() {
        assert_eq!(strategy("frist-fit"), ": did you mean 'first-fit'?");
        assert_eq!(strategy("jemaloc"), ": did you mean 'jemalloc'?");
        assert_eq!(strategy("simulatd"), ": did you mean 'simulated'?");
        assert_eq!(strategy("qqq"), "");
    }
}
