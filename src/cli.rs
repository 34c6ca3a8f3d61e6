//! The command line, as the user types it (clap derive): the only module that knows clap.
//! `commands.rs` turns each command's arguments into the library's plain configuration
//! (`config::RunConfig`, `stats::StatsConfig`, `record::RecordConfig`); no other library module
//! imports this one.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The largest values the numeric options take. Past them a run would only make a huge output
/// or exhaust the machine (`--runs 1000000` on a 10-event trace wrote a 254 MB JSON), so they are
/// refused with a usage error. Each option's help states its maximum (a test checks that the
/// help and these agree).
pub const MAX_RUNS: u32 = 1000;
pub const MAX_SAMPLES: u64 = 100_000;
pub const MAX_THREADS: u64 = 1024;
/// The simulated address space: a larger minimum block could never be placed.
pub const MAX_MIN_SIZE: u64 = crate::alloc::ADDRESS_LIMIT;
pub const MAX_GEN_EVENTS: u64 = 1_000_000_000;
pub const MAX_GEN_LIVE: u64 = 10_000_000;
/// `--real-timeout`: at most a week, in seconds.
pub const MAX_REAL_TIMEOUT: u64 = 604_800;

#[derive(Debug, Parser)]
#[command(
    name = "replay",
    version,
    about = "Replay a recorded allocation trace through allocator strategies and compare their \
             memory use and speed",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

impl Cli {
    /// The command line of this process, parsed as clap does, except that a first word which
    /// resembles a subcommand and is no file (`replay stat t.csv`) is refused as a mistyped
    /// subcommand ([`mistyped_subcommand`]) instead of being read as a trace path. Exits (2) on
    /// a usage error, as clap does.
    pub fn parse_args() -> Cli {
        let args: Vec<OsString> = std::env::args_os().collect();
        if let Some(error) = mistyped_subcommand(&args) {
            error.exit();
        }
        Cli::parse_from(args)
    }
}

/// clap's own `unrecognized subcommand` error, with its tip, when the first argument of `args`
/// (after the program name) is not a subcommand but resembles one ([`crate::words::did_you_mean`])
/// and cannot be a trace: it names no existing file and has no `.` or `/`, as trace paths do.
/// Without this check the word would be taken for the trace (`replay stat` would fail with
/// `stat: No such file or directory`, and `replay stat t.csv` with a riddle about `<TRACE>`).
pub fn mistyped_subcommand(args: &[OsString]) -> Option<clap::Error> {
    let word = args.get(1)?.to_str()?;
    if word.starts_with('-') || word.contains(['.', '/']) || Path::new(word).exists() {
        return None;
    }
    let mut command = Cli::command();
    let names: Vec<String> =
        command.get_subcommands().map(|sub| sub.get_name().to_string()).collect();
    if names.iter().any(|name| name == word) {
        return None;
    }
    let suggestion = crate::words::did_you_mean(word, names.iter().map(String::as_str))?;
    let suggestion = ContextValue::String(suggestion.to_string());
    command.build();
    let usage = command.render_usage();
    let mut error = clap::Error::new(ErrorKind::InvalidSubcommand).with_cmd(&command);
    error.insert(ContextKind::InvalidSubcommand, ContextValue::String(word.to_string()));
    error.insert(ContextKind::SuggestedSubcommand, suggestion);
    error.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
    Some(error)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert a trace from another tool's format into replay's CSV.
    Import(ImportArgs),
    /// Run a program and record every malloc/free of each of its processes into a trace. Exits with
    /// the program's status (128 + the signal when it was killed) once the trace is written;
    /// 2, with no trace, when recording fails (a program that cannot be recorded: statically
    /// linked, setuid; a write error; no recording).
    Record(RecordArgs),
    /// Profile a trace itself: ops, threads, live bytes, request sizes, lifetimes, shape.
    Stats(StatsArgs),
    /// Compare two --json results: per strategy and figure, old, new, change and a verdict.
    /// Exit status 1 when any figure regressed past its threshold, 2 on bad input.
    Compare(CompareArgs),
    /// Join --json results of the same trace and settings, run in separate jobs, into one.
    Merge(MergeArgs),
    /// Generate a synthetic trace (native CSV), reproducible from its seed: program behaviours
    /// after Wilson et al. (ramp, peak, plateau) with a choice of size distributions.
    Gen(GenArgs),
    /// Convert a trace between formats: any to the binary .rtrace or to CSV, by the output's
    /// extension (`replay convert trace.csv -o trace.rtrace`, `replay convert t.rtrace -o t.csv`),
    /// or to what --to names (`replay convert t.csv -o t.txt --to android`).
    Convert(ConvertArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where to write the trace, in the format its extension says: .csv, .csv.gz (gzip) or
    /// .rtrace; `-` for CSV on standard output (the program's own standard output then goes to
    /// standard error). The other processes of the tree go beside it, as OUT's name with the
    /// program's name and pid before the extension: t.csv, t.cc1.4242.csv, ...
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    /// Keep the interposer's raw recordings next to the traces (as TRACE.raw), for debugging.
    #[arg(long)]
    pub keep_raw: bool,

    /// Record the process replay starts alone (and what it `exec`s), not the processes it
    /// starts in turn.
    #[arg(long)]
    pub no_follow: bool,

    /// The program to run and its arguments (after `--`). Every process of its tree that loads
    /// the interposer is recorded (children inherit LD_PRELOAD), one trace each; a child
    /// forked without `exec` is not (its heap starts as a copy of its parent's).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The trace to profile (`-` for standard input).
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,

    /// Format of the trace file (by default told from its content).
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,

    /// Skip invalid events (and count them) instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,

    /// Also write the profile as JSON to FILE (`-` for standard output, which replaces the text).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The long help of `--max-regression`: the names and defaults come from the figure registry,
/// the strategy count from `ALL`.
fn max_regression_help() -> String {
    let all = crate::alloc::ALL.len();
    let runs = crate::gate::stats::min_runs;
    format!(
        "How much worse each figure may get, in percent of the old value, or `off` to leave it \
         out of the gate. Figures: {}. Unnamed figures keep their defaults: {}. Throughput \
         regresses only when the drop also passes a one-sided Mann-Whitney U test over the runs \
         (alpha {} over all strategies, Bonferroni: it takes --runs {} for one strategy, {} for \
         all {all}).",
        crate::figures::gate_names().join(", "),
        crate::figures::default_thresholds(),
        crate::gate::stats::ALPHA,
        runs(1),
        runs(all)
    )
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline result (replay --json).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,

    /// The result to judge against it.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,

    /// Also write the comparison as Markdown, for a pull-request comment (`-` for standard
    /// output).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Print no table: only the verdict (the summary line and any REGRESSION or MISSING line).
    /// The exit status is the same; --markdown is still written in full.
    #[arg(short, long)]
    pub quiet: bool,

    #[arg(long, value_name = "LIST", long_help = max_regression_help(), help = "How much worse each figure may get (e.g. footprint=0,throughput=5%,p99=off)")]
    pub max_regression: Option<String>,

    /// Compare even when the results replayed different traces (by content hash).
    #[arg(long)]
    pub force: bool,

    /// Pass even when NEW lacks a strategy or a figure that OLD has (they are still listed).
    /// Without it, anything missing fails the gate: a figure that is not compared cannot
    /// regress.
    #[arg(long)]
    pub allow_missing: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Result files (replay --json) of the same trace and settings.
    #[arg(value_name = "JSON", required = true, num_args = 2..)]
    pub inputs: Vec<PathBuf>,

    /// Where to write the merged result (`-` for standard output).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The trace to replay, in any format --format names (told from its content), gzip-, zstd-
    /// or zip-compressed or not; `-` reads it from standard input.
    #[arg(required = true, value_name = "TRACE")]
    pub trace: Option<PathBuf>,

    /// Strategies to run: a comma-separated list of names, or `simulated`, `real`, `all` (both).
    #[arg(short, long, value_name = "LIST", default_value = "all", long_help = alloc_help())]
    pub alloc: String,

    /// Real allocators only: do not write the blocks (by default every block is written as a
    /// program would: one byte per 4 KiB page and its first and last byte), measuring the
    /// allocator alone; resident memory then counts only what the allocator itself touched.
    #[arg(long)]
    pub no_touch: bool,

    /// Real allocators only: replay a trace with a `thread` column on one OS thread, in file
    /// order. By default each recorded thread replays on an OS thread of its own, ordered with
    /// the others only where a block passes between them (README, "Real threads").
    #[arg(long)]
    pub serial: bool,

    /// Real allocators only: kill a child replay (each run is one) still running after this
    /// many seconds, and report that allocator as failed (exit status 1; the others' results
    /// are still written). 0: no timeout. At most 604800 (a week).
    #[arg(long, value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(..=MAX_REAL_TIMEOUT))]
    pub real_timeout: u64,

    /// Format of the trace file (by default told from its content).
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,

    /// Skip invalid events (and count them) instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,

    /// Smallest block handed out, in bytes (rounded up to a multiple of 16; at least 16, at
    /// most 140737488355328 = 128 TiB, the simulated address space).
    #[arg(long, value_name = "BYTES", default_value_t = 16,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(..=MAX_MIN_SIZE))]
    pub min_size: u64,

    /// Keep every freed block as its own free-list entry instead of merging free neighbours.
    #[arg(long)]
    pub no_coalesce: bool,

    /// Fail any request that would grow the heap past this size (e.g. 65536, 64K, 512M, 2G;
    /// units are binary). The replay goes on; failures are counted.
    #[arg(long, value_name = "BYTES")]
    pub heap_limit: Option<String>,

    /// Check the replay as it goes, independently of the strategy: every block aligned, inside
    /// the heap and overlapping no live block, the byte accounting exact; and report writes
    /// (`write` events) past a block's requested size (overruns) or into freed blocks
    /// (use-after-free), with their lines.
    #[arg(long)]
    pub verify: bool,

    /// Strategies with inline tags (boundary-tag) add a magic value to every tag and check it on
    /// every free and merge, so heap corruption is caught where it happens.
    #[arg(long)]
    pub guard: bool,

    /// Untimed throughput runs per strategy, exactly N (the median is reported); 0 skips all
    /// timing. At most 1000. Without it: at least 3, then more until the runs agree within 3%
    /// (the range of the middle half of them over their median), at most 5; the JSON
    /// (`throughput.runs_made`, `throughput.stopped`) and the table say how many and why. A real
    /// allocator's runs (each a fresh process) follow the same rule, then N latency runs (3).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(..=i64::from(MAX_RUNS)))]
    pub runs: Option<u32>,

    /// Time one strategy at a time (the default).
    #[arg(long)]
    pub sequential_timing: bool,

    /// Time as many strategies at once as there are cores (`--threads` fewer), each timed pass
    /// alone on its core and never beside a metrics pass or a real allocator. Faster; not the
    /// default until benches/README.md shows its medians match one-at-a-time timing.
    #[arg(long, conflicts_with = "sequential_timing")]
    pub parallel_timing: bool,

    /// Print on standard error how long each phase of the run took (wall time): loading the
    /// trace, the metrics passes, the throughput and latency passes, each real allocator, the
    /// outputs.
    #[arg(short, long)]
    pub verbose: bool,

    /// Threads for the parallel passes (default: one per core). With 1, a CSV trace is also
    /// parsed on one thread (by default its lines are read on a second thread). 1 to 1024.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_THREADS))]
    pub threads: Option<usize>,

    /// Write the results as JSON to FILE (`-` for standard output). Like every output, FILE is
    /// checked before the replay (its directory must exist and be writable; it may not be an
    /// input or another output) and replaced whole at the end.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write the results as CSV to FILE, one row per strategy (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Write the results as a Markdown table to FILE, for a pull-request comment (`-` for
    /// standard output).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Write where the waste is to FILE as CSV (`-` for standard output), one row per strategy
    /// and size class: the internal waste at the peak by request size class and the free holes
    /// at the peak by size (as `breakdowns.csv` of --report; see the README).
    #[arg(long, value_name = "FILE")]
    pub breakdowns_csv: Option<PathBuf>,

    /// Write an HTML report with charts to DIR/index.html, and every chart as an SVG file
    /// beside it. Adds one replay per strategy for the heap maps. The report is built beside
    /// DIR and moved into place at the end, whole or not at all: DIR is created (its parent
    /// must exist) or replaced whole, which is refused unless it is empty or an earlier replay
    /// report. --json/--csv/--markdown files named inside DIR land with the report.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// Samples of the memory time series per strategy: evenly spaced events, plus the last
    /// and the peak event (in the JSON as `series`, and in the report's charts). At most 100000.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(..=MAX_SAMPLES))]
    pub samples: u64,

    /// Read the trace in chunks, once per pass, instead of loading it whole: memory stays
    /// bounded whatever the trace's length. Automatic for .rtrace files, for compressed inputs
    /// (.gz, .zst) and for inputs over 64 MiB (the trace is then converted once to a temporary
    /// .rtrace).
    #[arg(long)]
    pub stream: bool,

    /// Made-up timings instead of measured ones, so tests get the same output on every machine:
    /// an event takes 10 ns plus 1 ns per unit of work, run k times 1.00/1.02/0.99/1.01/0.98;
    /// latencies 10/100/1000/10000 ns. Real allocators cannot run on a made-up clock: they are
    /// still replayed (`--runs` runs, for their memory figures, which stay measured), but their
    /// throughput and latency are left out (null, `-`), as with `--runs 0`.
    #[arg(long, hide = true)]
    pub fake_clock: bool,

    /// Print no table and no progress bar (errors are still printed). The progress bar is
    /// only ever shown when standard error is a terminal.
    #[arg(short, long)]
    pub quiet: bool,

    /// Compare this run with a baseline result (replay --json) as `replay compare` does, after
    /// writing this run's own outputs; exit status 1 on a regression.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    #[arg(long, value_name = "LIST", long_help = max_regression_help(), help = "With --baseline: how much worse each figure may get (e.g. footprint=0,throughput=5%)")]
    pub max_regression: Option<String>,

    /// With --baseline: compare even when the baseline replayed a different trace.
    #[arg(long)]
    pub force: bool,

    /// With --baseline: pass even when this run lacks a strategy or a figure that the baseline
    /// has (e.g. timings with --runs 0); they are still listed.
    #[arg(long)]
    pub allow_missing: bool,

    /// For tests of the gate: slow a strategy down on purpose. `STRATEGY=N` does every
    /// operation N times (on shadow heaps), `STRATEGY=spin:K` spins K iterations after each;
    /// both count as work. Repeatable.
    #[arg(long, value_name = "STRATEGY=HOW", hide = true)]
    pub test_slowdown: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Format of the input file (by default told from its content).
    #[arg(long, value_enum)]
    pub from: Option<ImportFormat>,

    /// The file to convert (`-` for standard input).
    #[arg(value_name = "IN")]
    pub input: PathBuf,

    /// Where to write the CSV (`-` for standard output).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    /// Drop invalid events (and count them) instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Events in the trace: 1 to 1000000000.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=MAX_GEN_EVENTS))]
    pub events: u64,

    /// The most blocks live at once (the pattern's high level): at most 10000000.
    #[arg(long, value_name = "L", default_value_t = 10_000,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(..=MAX_GEN_LIVE))]
    pub live: u64,

    /// How request sizes are drawn.
    #[arg(long, value_enum, default_value_t = GenSizes::Mixed)]
    pub sizes: GenSizes,

    /// How the number of live blocks moves over the trace.
    #[arg(long, value_enum, default_value_t = GenPattern::Plateau)]
    pub pattern: GenPattern,

    /// Seed of the generator: the same seed gives the same file.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,

    /// Where to write the trace (`-` for standard output).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenSizes {
    /// Uniform in 1..=4096 bytes.
    Uniform,
    /// Density proportional to size^-2, from 16 bytes to 1 MiB.
    PowerLaw,
    /// Modelled on the shipped traces: mostly tiny blocks, a few up to 256 KiB.
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenPattern {
    /// Live blocks grow steadily to L.
    Ramp,
    /// Four phases, each building up to L blocks and freeing most of them.
    Peak,
    /// A quick ramp to L, then churn at that level.
    Plateau,
    /// A random walk between 0 and L live blocks.
    Random,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The trace to convert, in any format (`-` for standard input).
    #[arg(value_name = "IN")]
    pub input: PathBuf,

    /// Where to write: a name ending in .rtrace gets the binary format, any other name CSV
    /// (unless --to says otherwise).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    /// Format of the input file (by default told from its content).
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,

    /// Format to write (by default by OUT's name: .rtrace, or CSV).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub to: Option<OutputFormat>,

    /// Drop invalid events (and count them) instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// replay's native CSV (`op,ptr,size,...`), optionally gzip-compressed.
    Csv,
    /// glibc's MALLOC_TRACE text, as written by mtrace().
    Mtrace,
    /// heaptrack's data file (.zst or .gz; raw or interpreted).
    Heaptrack,
    /// The CS:APP malloc lab's .rep trace.
    Rep,
    /// replay's binary trace format (`replay convert`); also recognised by its first bytes.
    Rtrace,
    /// Android's record_allocs text (memory_replay's format; a .zip of one .txt is read too).
    Android,
    /// Firefox's logalloc log, raw or munged (#N slots).
    Logalloc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// glibc's MALLOC_TRACE text, as written by mtrace().
    Mtrace,
    /// heaptrack's data file (.zst or .gz; raw or interpreted).
    Heaptrack,
    /// The CS:APP malloc lab's .rep trace.
    Rep,
    /// Android's record_allocs text (memory_replay's format; a .zip of one .txt is read too).
    Android,
    /// Firefox's logalloc log, raw or munged (#N slots).
    Logalloc,
}

/// What `replay convert --to` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// replay's native CSV, with thread and time_ns columns.
    Csv,
    /// replay's binary trace format.
    Rtrace,
    /// Android's record_allocs text, with each event's thread.
    Android,
    /// Firefox's logalloc log (raw, process 1), with each event's thread.
    Logalloc,
}

/// `--alloc`'s long help, generated from the registry so that it cannot drift.
fn alloc_help() -> String {
    let mut help = String::from(
        "Strategies to run: a comma-separated list of names; `simulated` for every simulated \
         strategy, `real` for every built-in real allocator (not preload:PATH), `all` (the \
         default) for both. The simulations are reported first, then the real allocators.\n\n\
         Simulated:",
    );
    for entry in crate::alloc::ALL {
        help.push_str(&alloc_help_entry(entry.name, entry.about));
    }
    help.push_str("\n\nReal (each replayed for real in fresh child processes):");
    for entry in crate::real::REAL {
        help.push_str(&alloc_help_entry(entry.name, entry.about));
    }
    help.push_str(&alloc_help_entry(
        "preload:PATH",
        "any malloc-compatible shared library, preloaded into the child",
    ));
    help
}

/// The widest line of an `--alloc` help entry. clap indents long help by 10 columns and wraps
/// only lines wider than the terminal (at most 100 columns), so lines of at most 70 columns
/// stay as they are on any terminal of 80 columns or more, and keep their hanging indent.
const ALLOC_HELP_WIDTH: usize = 70;
/// Where an entry's description starts: two spaces, the name in 12 columns, one space.
const ALLOC_HELP_INDENT: usize = 15;

/// One name of `--alloc`'s long help and its description, wrapped by words to
/// [`ALLOC_HELP_WIDTH`] with every continuation line under the description's first word.
fn alloc_help_entry(name: &str, about: &str) -> String {
    let mut out = format!("\n  {name:<12}");
    // The column the line has reached: the name's end, then each word's.
    let mut column = out.len() - 1;
    for word in about.split_whitespace() {
        if column >= ALLOC_HELP_INDENT && column + 1 + word.len() > ALLOC_HELP_WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(ALLOC_HELP_INDENT - 1));
            column = ALLOC_HELP_INDENT - 1;
        }
        out.push(' ');
        out.push_str(word);
        column += 1 + word.len();
    }
    out
}

impl From<InputFormat> for crate::trace::Format {
    fn from(format: InputFormat) -> crate::trace::Format {
        use crate::trace::Format;
        match format {
            InputFormat::Csv => Format::Csv,
            InputFormat::Mtrace => Format::Mtrace,
            InputFormat::Heaptrack => Format::Heaptrack,
            InputFormat::Rep => Format::Rep,
            InputFormat::Rtrace => Format::Rtrace,
            InputFormat::Android => Format::Android,
            InputFormat::Logalloc => Format::Logalloc,
        }
    }
}

impl From<ImportFormat> for crate::trace::Format {
    fn from(format: ImportFormat) -> crate::trace::Format {
        use crate::trace::Format;
        match format {
            ImportFormat::Mtrace => Format::Mtrace,
            ImportFormat::Heaptrack => Format::Heaptrack,
            ImportFormat::Rep => Format::Rep,
            ImportFormat::Android => Format::Android,
            ImportFormat::Logalloc => Format::Logalloc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help of `--name` (of the subcommand `sub`, if given), flattened to one line.
    fn help_of(sub: Option<&str>, name: &str) -> String {
        let mut command = Cli::command();
        let command = match sub {
            Some(sub) => command.find_subcommand_mut(sub).unwrap(),
            None => &mut command,
        };
        let arg = command.get_arguments().find(|a| a.get_long() == Some(name)).unwrap();
        arg.get_help().unwrap().to_string().split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn every_maximum_is_the_one_its_help_states() {
        for (sub, name, max) in [
            (None, "runs", u64::from(MAX_RUNS)),
            (None, "samples", MAX_SAMPLES),
            (None, "threads", MAX_THREADS),
            (None, "min-size", MAX_MIN_SIZE),
            (None, "real-timeout", MAX_REAL_TIMEOUT),
            (Some("gen"), "events", MAX_GEN_EVENTS),
            (Some("gen"), "live", MAX_GEN_LIVE),
        ] {
            let help = help_of(sub, name);
            assert!(help.contains(&max.to_string()), "--{name}: {help}");
        }
    }

    #[test]
    fn the_max_regression_help_counts_the_registry_and_the_runs_its_test_needs() {
        let all = crate::alloc::ALL.len();
        let runs = crate::gate::stats::min_runs(all);
        let help = max_regression_help();
        assert!(help.contains(&format!(", {runs} for all {all})")), "{help}");
        for name in crate::figures::gate_names() {
            assert!(help.contains(&format!("{name}=")), "{name}: {help}");
        }
    }

    #[test]
    fn runs_past_the_maximum_are_refused_and_the_maximum_is_accepted() {
        let parse = |runs: &str| Cli::try_parse_from(["replay", "t.csv", "--runs", runs]);
        assert!(parse("1000").is_ok());
        let err = parse("1001").unwrap_err().to_string();
        assert!(err.contains("1001") && err.contains("0..=1000"), "{err}");
        assert!(Cli::try_parse_from(["replay", "t.csv", "--threads", "0"]).is_err());
        assert!(Cli::try_parse_from(["replay", "t.csv", "--samples", "100001"]).is_err());
        let gen =
            |events: &str| Cli::try_parse_from(["replay", "gen", "--events", events, "-o", "-"]);
        assert!(gen("1000000000").is_ok() && gen("1000000001").is_err() && gen("0").is_err());
    }

    #[test]
    fn only_a_word_that_cannot_be_a_trace_is_taken_for_a_mistyped_subcommand() {
        let args = |words: &[&str]| {
            std::iter::once("replay")
                .chain(words.iter().copied())
                .map(OsString::from)
                .collect::<Vec<_>>()
        };
        assert!(mistyped_subcommand(&args(&["stat", "t.csv"])).is_some());
        assert!(mistyped_subcommand(&args(&["stats", "t.csv"])).is_none(), "the subcommand itself");
        assert!(mistyped_subcommand(&args(&["stat.csv"])).is_none(), "a trace path");
        assert!(mistyped_subcommand(&args(&["./stat"])).is_none(), "a trace path");
        assert!(mistyped_subcommand(&args(&["--alloc", "stat"])).is_none());
        assert!(mistyped_subcommand(&args(&["qqq"])).is_none(), "like no subcommand");
    }

    #[test]
    fn alloc_help_entries_wrap_to_their_width_under_the_description() {
        let entry = alloc_help_entry("next-fit", &"word ".repeat(40));
        let lines: Vec<&str> = entry.trim_start_matches('\n').lines().collect();
        assert!(lines.len() > 2, "{entry}");
        assert!(lines[0].starts_with("  next-fit     word"), "{entry}");
        for line in &lines {
            assert!(line.len() <= ALLOC_HELP_WIDTH, "{line:?}");
        }
        for line in &lines[1..] {
            assert!(line.starts_with(&" ".repeat(ALLOC_HELP_INDENT)), "{line:?}");
            assert!(!line[ALLOC_HELP_INDENT..].starts_with(' '), "{line:?}");
        }
    }
}
