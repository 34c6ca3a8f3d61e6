//! Words for people: a count with its noun in the right number (`1 buffer overrun`, `2 buffer
//! overruns`), and the suggestion for a mistyped name (`did you mean 'first-fit'?`). Every
//! message that says how many of something goes through [`count`], so none says `1 runs`.
//! And how replay's own messages on standard error look: `replay: error: ...` and
//! `replay: warning: ...`, their label coloured as clap colours its own errors ([`eprint_error`],
//! [`eprint_warning`]). This module imports nothing from the crate, so any module may use it.

use anstyle::{AnsiColor, Color, Style};
use std::fmt::Display;

/// clap's style for `error:` (bold red), and cargo's for `warning:` (bold yellow).
const ERROR: Style = Style::new().bold().fg_color(Some(Color::Ansi(AnsiColor::Red)));
const WARNING: Style = Style::new().bold().fg_color(Some(Color::Ansi(AnsiColor::Yellow)));

/// `replay: error: MESSAGE` on standard error, `error:` in colour as clap writes its own usage
/// errors: only when standard error is a terminal and `NO_COLOR` is not set (or
/// `CLICOLOR_FORCE` is), the rule clap follows too (anstream's), so every error of one run looks
/// the same.
pub fn eprint_error(message: impl Display) {
    anstream::eprintln!("replay: {ERROR}error:{ERROR:#} {message}");
}

/// `replay: warning: MESSAGE` on standard error, coloured as [`eprint_error`] decides.
pub fn eprint_warning(message: impl Display) {
    anstream::eprintln!("replay: {WARNING}warning:{WARNING:#} {message}");
}

/// `n` and its noun: `one` when `n` is exactly 1, `many` otherwise (`0 runs`, `1 run`).
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", noun(n, one, many))
}

/// A count with thousands separators: `457,600`.
pub fn thousands(n: impl Into<u128>) -> String {
    let digits = n.into().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The noun alone, for a count written another way (`1,024 blocks`): `one` for exactly 1.
pub fn noun<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// How alike a typed name must be to a known one to be suggested: clap's own rule for
/// subcommands and values (Jaro similarity above 0.7), so that `replay stat` and
/// `--alloc frist-fit` are answered the same way.
const SIMILAR: f64 = 0.7;

/// The known name most like `typed`, if any is alike enough to be what was meant (not `typed`
/// itself). Jaro similarity, as clap uses: `frist-fit` finds `first-fit`, `xyz` finds nothing.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .filter(|name| *name != typed)
        .map(|name| (strsim::jaro(typed, name), name))
        .filter(|(similarity, _)| *similarity > SIMILAR)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_a_thing_is_singular_and_any_other_count_plural() {
        assert_eq!(count(1u64, "run", "runs"), "1 run");
        assert_eq!(count(0u64, "run", "runs"), "0 runs");
        assert_eq!(count(3u32, "use after free", "uses after free"), "3 uses after free");
    }

    #[test]
    fn a_transposed_or_truncated_name_is_suggested_and_an_unlike_one_is_not() {
        let known = ["first-fit", "next-fit", "best-fit", "bump", "buddy"];
        assert_eq!(did_you_mean("frist-fit", known), Some("first-fit"));
        assert_eq!(did_you_mean("bets-fit", known), Some("best-fit"));
        assert_eq!(did_you_mean("stat", ["stats", "gen", "merge"]), Some("stats"));
        assert_eq!(did_you_mean("xyz", known), None);
        assert_eq!(did_you_mean("first-fit", ["first-fit"]), None);
    }
}
