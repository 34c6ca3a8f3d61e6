//! The subcommands, each a short pipeline over the library. The one place besides `main.rs` that
//! knows the command line ([`crate::cli`]): each command turns its arguments into the library's
//! plain configuration ([`RunConfig`], [`StatsConfig`], [`RecordConfig`], ...) and runs it.

use crate::alloc::{self, round_up, Params, ALIGN};
use crate::cleanup;
use crate::cli::{
    CompareArgs, ConvertArgs, GenArgs, GenPattern, GenSizes, ImportArgs, MergeArgs, OutputFormat,
    RecordArgs, RunArgs, StatsArgs,
};
use crate::config::{self, RunConfig};
use crate::engine::run::{run_all_timed, PassTimes};
use crate::engine::{clock_overhead_ns, EventSource, InMemory, Plan, Timing, CHUNK_EVENTS};
use crate::gate::compare::{self as gate_compare, ResultFile};
use crate::gate::hash;
use crate::gate::thresholds::Thresholds;
use crate::progress::Progress;
use crate::real::run::{RealPlan, RealResult};
use crate::record::RecordConfig;
use crate::report::breakdowns::{self, BreakdownsCsvExporter};
use crate::report::csv::CsvExporter;
use crate::report::html;
use crate::report::json::JsonExporter;
use crate::report::markdown::MarkdownExporter;
use crate::report::table::TableExporter;
use crate::report::write::{self, Destination};
use crate::report::{request_size_histogram, Exporter, Report, TraceSummary};
use crate::stats::StatsConfig;
use crate::trace::rtrace::Rtrace;
use crate::trace::{self, Format, ParseOptions, TextFormat};
use crate::words::count;
use crate::Error;
use std::path::{Path, PathBuf};

/// Uncompressed inputs larger than this are streamed rather than loaded whole: see `load`.
const STREAM_ABOVE_BYTES: u64 = 64 << 20;

/// A trace ready to replay: in memory, or an `.rtrace` file streamed by every pass.
enum Loaded {
    Memory(trace::Trace),
    /// `_temp` is the temporary `.rtrace` the input was converted into, if any; it is removed
    /// when this is dropped (or on a signal, see [`crate::cleanup`]).
    Stream {
        rtrace: Rtrace,
        _temp: Option<cleanup::TempFile>,
    },
}

/// A trace named on the command line, ready to be opened by path. `-` is standard input,
/// copied once into a private temporary file (mode 0600, in the system's temporary directory,
/// removed at the end or on a signal: see [`crate::cleanup`]): the streaming passes and the real
/// allocators' child processes read the trace by path, some of them more than once.
struct Input {
    /// The file to read.
    path: PathBuf,
    /// What messages and reports call it: the path as given, or `<stdin>`.
    shown: PathBuf,
    _spool: Option<cleanup::TempFile>,
}

impl Input {
    fn new(named: &Path) -> Result<Input, Error> {
        if named != Path::new("-") {
            return Ok(Input {
                path: named.to_path_buf(),
                shown: named.to_path_buf(),
                _spool: None,
            });
        }
        let shown = PathBuf::from("<stdin>");
        let dir = std::env::temp_dir();
        let temp_error = |source| Error::Output { dest: dir.display().to_string(), source };
        let (mut file, spool) =
            cleanup::temp_file_in(&dir, "replay-", "-stdin", Some(0o600)).map_err(temp_error)?;
        std::io::copy(&mut std::io::stdin().lock(), &mut file).map_err(|source| {
            Error::Trace(trace::TraceError::Io { path: shown.clone(), source })
        })?;
        drop(file);
        Ok(Input { path: spool.path().to_path_buf(), shown, _spool: Some(spool) })
    }

    /// `error`, calling the temporary copy of standard input `<stdin>`.
    fn named(&self, error: impl Into<Error>) -> Error {
        match error.into() {
            Error::Trace(e) => Error::Trace(e.naming(&self.path, &self.shown)),
            other => other,
        }
    }

    /// The trace's format: `given` (`--format`), or what its content says.
    fn format(&self, given: Option<Format>) -> Result<Format, Error> {
        Format::resolve(&self.path, given).map_err(|e| self.named(e))
    }
}

/// Load the trace for a run. An `.rtrace` file is streamed. Any other input is parsed whole
/// into memory only when its size is known to be small: an uncompressed file of at most
/// [`STREAM_ABOVE_BYTES`] on disk. A compressed file (gzip, zstd or zip, whatever the format
/// inside) says nothing sound about its decompressed size (2.6 MB of gzip can hold 82 million
/// events), so it is always streamed, like a large file or any file with `--stream`: parsed
/// once, event by event, into a temporary `.rtrace` file in the system's temporary directory (a
/// new file with an unpredictable name, removed at the end or on a signal), which every pass
/// then streams. Memory then stays bounded by a chunk plus the strategies' state, whatever the
/// trace's length.
fn load(
    input: &Input,
    format: Format,
    config: &RunConfig,
    progress: Option<trace::ReadProgress>,
) -> Result<Loaded, Error> {
    let path = &input.path;
    if format == Format::Rtrace {
        let rtrace = Rtrace::open_with(path, config.parse)?;
        return Ok(Loaded::Stream { rtrace, _temp: None });
    }
    let on_disk = std::fs::metadata(path).map_or(0, |m| m.len());
    let compressed = trace::Compression::of_file(path) != trace::Compression::None;
    let small = !compressed && on_disk <= STREAM_ABOVE_BYTES;
    if small && !config.stream {
        return Ok(Loaded::Memory(trace::load_reporting(path, format, config.parse, progress)?));
    }
    let name = input.path.file_name().map_or("trace".into(), |n| n.to_string_lossy().into_owned());
    let dir = std::env::temp_dir();
    let temp_error = |source| Error::Output { dest: dir.display().to_string(), source };
    let (mut file, temp) = cleanup::temp_file_in(&dir, "replay-", &format!("-{name}.rtrace"), None)
        .map_err(temp_error)?;
    trace::rtrace::convert(path, format, config.parse, &mut file, progress)?;
    drop(file);
    let mut rtrace = Rtrace::open(temp.path())?;
    rtrace.path = temp.path().to_path_buf();
    Ok(Loaded::Stream { rtrace, _temp: Some(temp) })
}

/// The wall time of each phase of a run, in the order they ran, for `--verbose`.
#[derive(Default)]
struct Phases {
    list: std::cell::RefCell<Vec<(String, std::time::Duration)>>,
    /// The allocator whose own passes took longest so far, and how long.
    slowest: std::cell::RefCell<Option<(String, std::time::Duration)>>,
}

impl Phases {
    /// Run `work`, counting its wall time as the phase `label`.
    fn time<T>(&self, label: &str, work: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = work();
        self.add(label.to_string(), started.elapsed());
        out
    }

    fn add(&self, label: String, spent: std::time::Duration) {
        self.list.borrow_mut().push((label, spent));
    }

    /// Note that `allocator`'s own passes took `spent`.
    fn own(&self, allocator: &str, spent: std::time::Duration) {
        let mut slowest = self.slowest.borrow_mut();
        if slowest.as_ref().is_none_or(|(_, longest)| spent > *longest) {
            *slowest = Some((allocator.to_string(), spent));
        }
    }

    /// The engine's passes, as [`run_all_timed`] timed them.
    fn add_passes(&self, passes: &PassTimes, strategies: usize) {
        if let Some((name, spent)) = passes.slowest {
            self.own(name, spent);
        }
        self.add(format!("metrics passes ({strategies} strategies, in parallel)"), passes.metrics);
        let spent = &passes.spent;
        self.add(
            format!(
                "timing passes ({} at once; summed over strategies: {} throughput passes {:.2} s, \
                 latency passes {:.2} s)",
                passes.timing_threads,
                spent.throughput_passes,
                spent.throughput.as_secs_f64(),
                spent.latency.as_secs_f64()
            ),
            passes.timing,
        );
    }

    /// Every phase and the total since `started`, a line each, for standard error.
    fn text(&self, started: std::time::Instant) -> String {
        let mut out = String::from("replay: wall time by phase:\n");
        for (label, spent) in self.list.borrow().iter() {
            out.push_str(&format!("  {:>8.3} s  {label}\n", spent.as_secs_f64()));
        }
        let total = started.elapsed();
        out.push_str(&format!("  {:>8.3} s  total\n", total.as_secs_f64()));
        if let Some((name, spent)) = self.slowest.borrow().as_ref() {
            let times = total.as_secs_f64() / spent.as_secs_f64().max(1e-9);
            out.push_str(&format!(
                "  {:>8.3} s  the slowest allocator's own passes ({name}; metrics and timing \
                 passes, or its child processes): the total is {times:.1}x that\n",
                spent.as_secs_f64()
            ));
        }
        out
    }
}

/// Where one result of a run goes, made ready before the replay.
enum Place {
    Ready(write::Prepared),
    /// A file inside the `--report` directory: written into the staged report.
    InReport(std::ffi::OsString),
}

/// Every output of a run, checked and made ready before the replay (see [`prepare_outputs`]).
struct Outputs {
    /// `--json`, `--csv`, `--markdown`, `--breakdowns-csv`, each with its exporter.
    results: Vec<(Place, &'static dyn Exporter, Destination)>,
    report: Option<write::ReportDir>,
    /// Whether a result goes to standard output (which then gets no table).
    to_stdout: bool,
}

/// Check every output of a run before the replay, so that nothing long runs for a result that
/// cannot be written: outputs that would overwrite an input (the trace, the baseline) or each
/// other, or mix on standard output, are refused (usage errors); every file output gets its
/// temporary file now and the report its staging directory, which proves its directory exists
/// and is writable.
fn prepare_outputs(config: &RunConfig, trace: &Path) -> Result<Outputs, Error> {
    let chosen: Vec<(&str, &Destination, &'static dyn Exporter)> = [
        ("--json", &config.json, &JsonExporter as &'static dyn Exporter),
        ("--csv", &config.csv, &CsvExporter),
        ("--markdown", &config.markdown, &MarkdownExporter),
        ("--breakdowns-csv", &config.breakdowns_csv, &BreakdownsCsvExporter),
    ]
    .into_iter()
    .filter_map(|(option, dest, exporter)| dest.as_ref().map(|d| (option, d, exporter)))
    .collect();
    let mut inputs = vec![trace];
    inputs.extend(config.baseline.as_deref());
    let named: Vec<(&str, &Destination)> = chosen.iter().map(|(o, d, _)| (*o, *d)).collect();
    write::check_distinct(&inputs, &named).map_err(Error::Usage)?;
    let report = match &config.report_dir {
        None => None,
        Some(dir) => Some(write::ReportDir::prepare(dir).map_err(|e| match e {
            write::ReportDirError::Refused(why) => Error::Usage(why),
            write::ReportDirError::Io(source) => {
                Error::Output { dest: dir.display().to_string(), source }
            }
        })?),
    };
    if let Some(report) = &report {
        for input in &inputs {
            if write::resolved_path(input).starts_with(report.target()) {
                return Err(Error::Usage(format!(
                    "{} is inside --report {}, which is replaced whole: put the report elsewhere",
                    input.display(),
                    report.target().display()
                )));
            }
        }
    }
    let stdout = write::FileId::stdout();
    let mut outputs = Outputs { results: Vec::new(), report: None, to_stdout: false };
    for (option, dest, exporter) in chosen {
        let output_error = |source| Error::Output { dest: dest.to_string(), source };
        let place = match (dest, &report) {
            (Destination::File(path), Some(report)) => {
                if write::resolved_path(path) == report.target() {
                    return Err(Error::Usage(format!(
                        "{option} {dest} is the --report directory; give it a file name"
                    )));
                }
                match report.entry_of(path) {
                    Some(name) => {
                        let text = name.to_string_lossy();
                        let own = text == "index.html" || text == breakdowns::REPORT_FILE;
                        if own || text.ends_with(".svg") {
                            return Err(Error::Usage(format!(
                                "{option} {dest} would be replaced by a file of the report \
                                 (index.html, breakdowns.csv and the .svg charts are the \
                                 report's own)"
                            )));
                        }
                        Place::InReport(name)
                    }
                    None => Place::Ready(write::Prepared::new(dest).map_err(output_error)?),
                }
            }
            _ => Place::Ready(write::Prepared::new(dest).map_err(output_error)?),
        };
        outputs.to_stdout |= match dest {
            Destination::Stdout => true,
            Destination::File(path) => stdout.is_some() && Some(write::FileId::of(path)) == stdout,
        };
        outputs.results.push((place, exporter, dest.clone()));
    }
    outputs.report = report;
    Ok(outputs)
}

/// What `replay TRACE ...` typed, turned into the run's configuration, with every check clap
/// cannot make (usage errors).
pub fn run_config(args: &RunArgs) -> Result<RunConfig, String> {
    let trace = args.trace.clone().ok_or("no trace given")?;
    if args.threads == Some(0) {
        return Err("--threads must be at least 1".into());
    }
    let chosen = config::parse_strategies(&args.alloc)?;
    let slowdowns = args
        .test_slowdown
        .iter()
        .map(|spec| {
            crate::alloc::slowdown::parse(spec, crate::alloc::ALL).map(|(e, s)| (e.name, s))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(RunConfig {
        trace,
        format: args.format.map(Format::from),
        parse: ParseOptions { lenient: args.lenient, one_thread: args.threads == Some(1) },
        strategies: chosen.simulated,
        real: chosen.real,
        touch: !args.no_touch,
        serial: args.serial,
        real_timeout: (args.real_timeout > 0)
            .then(|| std::time::Duration::from_secs(args.real_timeout)),
        params: Params {
            // Past the address-space ceiling every request fails (see alloc::ADDRESS_LIMIT).
            min_size: round_up(args.min_size.clamp(ALIGN, alloc::OVERSIZED), ALIGN),
            coalesce: !args.no_coalesce,
            heap_limit: args.heap_limit.as_deref().map(config::parse_bytes).transpose()?,
            guard: args.guard,
        },
        timing: Timing {
            runs: args.runs.unwrap_or(crate::engine::timing::MIN_RUNS),
            until_tight: args.runs.is_none(),
            parallel: args.parallel_timing && !args.sequential_timing,
            fake_clock: args.fake_clock,
        },
        threads: args.threads,
        verify: args.verify,
        json: args.json.as_deref().map(Destination::parse),
        csv: args.csv.as_deref().map(Destination::parse),
        markdown: args.markdown.as_deref().map(Destination::parse),
        breakdowns_csv: args.breakdowns_csv.as_deref().map(Destination::parse),
        report_dir: args.report.clone(),
        samples: args.samples,
        quiet: args.quiet,
        verbose: args.verbose,
        stream: args.stream,
        command_line: config::command_line(std::env::args_os()),
        baseline: args.baseline.clone(),
        thresholds: crate::gate::thresholds::Thresholds::parse(
            args.max_regression.as_deref().unwrap_or(""),
        )?,
        force: args.force,
        allow_missing: args.allow_missing,
        slowdowns,
        slowdown_specs: args.test_slowdown.clone(),
    })
}

/// `replay TRACE ...`: load, replay through every chosen strategy, report. Returns whether
/// every check passed: `false` when `--verify` caught a strategy breaking the heap model.
pub fn run(config: &RunConfig) -> Result<bool, Error> {
    // Read the baseline first: a bad one should fail before a long replay, not after.
    let started = std::time::Instant::now();
    let phases = Phases::default();
    let baseline =
        config.baseline.as_deref().map(ResultFile::read).transpose().map_err(Error::Usage)?;
    let input = Input::new(&config.trace)?;
    let detected = input.format(config.format)?;
    let outputs = prepare_outputs(config, &input.path)?;
    let progress = Progress::new(config.quiet);
    let parsing = progress.file_bar(format!("parsing {}", input.shown.display()), &input.path);
    let loaded = phases.time("load (parse, or convert to a temporary .rtrace)", || {
        load(
            &input,
            detected,
            config,
            Some(std::sync::Arc::new({
                let parsing = parsing.clone();
                move |read| parsing.set_position(read)
            })),
        )
    });
    let summarising = std::time::Instant::now();
    parsing.finish_and_clear();
    let loaded = loaded.map_err(|e| input.named(e))?;
    let format = detected.name();
    // What the report says about the trace, its line map, and where the passes read it.
    let (summary, lines, source): (TraceSummary, trace::Trace, Box<dyn EventSource + '_>) =
        match &loaded {
            Loaded::Memory(trace) => (
                TraceSummary {
                    path: input.shown.display().to_string(),
                    format,
                    events: trace.events.len() as u64,
                    blocks: trace.blocks,
                    skipped: trace.skipped.clone(),
                    request_sizes: request_size_histogram(&trace.events),
                    content_hash: hash::of_file(&input.path, hash::Algorithm::default()).ok(),
                },
                trace::Trace {
                    gaps: trace.gaps.clone(),
                    first_line: trace.first_line,
                    ..trace::Trace::default()
                },
                Box::new(InMemory { events: &trace.events, blocks: trace.blocks }),
            ),
            Loaded::Stream { rtrace, .. } => {
                let mut sizes: Vec<u64> = Vec::new();
                rtrace.for_each_chunk(CHUNK_EVENTS, &mut |chunk, _| {
                    let part = request_size_histogram(chunk);
                    if part.len() > sizes.len() {
                        sizes.resize(part.len(), 0);
                    }
                    sizes.iter_mut().zip(part).for_each(|(n, m)| *n += m);
                    true
                })?;
                (
                    TraceSummary {
                        path: input.shown.display().to_string(),
                        format,
                        events: rtrace.header.events,
                        blocks: u32::try_from(rtrace.header.blocks).unwrap_or(u32::MAX),
                        skipped: rtrace.header.skipped(),
                        request_sizes: sizes,
                        content_hash: hash::of_file(&input.path, hash::Algorithm::default()).ok(),
                    },
                    trace::Trace {
                        gaps: rtrace.gaps.clone(),
                        first_line: rtrace.header.first_line,
                        ..trace::Trace::default()
                    },
                    Box::new(rtrace.clone()),
                )
            }
        };
    phases.add("trace summary (content hash, request sizes)".into(), summarising.elapsed());
    let pool = {
        let mut builder = rayon::ThreadPoolBuilder::new();
        if let Some(n) = config.threads {
            builder = builder.num_threads(n);
        }
        builder.build().map_err(|e| Error::Usage(format!("cannot start threads: {e}")))?
    };
    let line_of = |index: u64| lines.line_of(index);
    let replaying = progress.events_bar(String::new(), 0);
    let plan = Plan {
        entries: &config.strategies,
        params: config.params,
        slowdowns: &config.slowdowns,
        source: source.as_ref(),
        timing: config.timing,
        verify: config.verify,
        line_of: &line_of,
        samples: config.samples,
        layout: config.report_dir.is_some(),
        advance: &|n| replaying.inc(n),
    };
    let (label, total) =
        crate::progress::replay_label(plan.entries.len(), plan.passes(), source.len());
    debug_assert_eq!(total, plan.events_to_replay());
    replaying.set_message(label);
    replaying.set_length(total);
    let results = pool.install(|| run_all_timed(&plan));
    replaying.finish_and_clear();
    let (mut results, passes) = results?;
    phases.add_passes(&passes, plan.entries.len());
    let heap = results.iter_mut().filter_map(|r| r.heap.take()).collect();
    let real = replay_real(config, &input, detected, &progress, &phases)?;
    let writing = std::time::Instant::now();
    let report = Report {
        trace: summary,
        params: config.params,
        timing: config.timing,
        clock_overhead_ns: if config.timing.runs > 0 && !config.timing.fake_clock {
            clock_overhead_ns()
        } else {
            0
        },
        samples: config.samples,
        results,
        real,
        heap,
        command_line: config.command_line.clone(),
        test_slowdown: config.slowdown_specs.clone(),
    };
    // Each result is written as soon as it is ready, so a late failure loses nothing; the
    // report (with any result that goes inside it) appears whole, at the end.
    let Outputs { results: places, report: report_dir, to_stdout } = outputs;
    let dir_name = config.report_dir.as_deref().unwrap_or(Path::new("")).display().to_string();
    let into_report = |name: &std::ffi::OsStr, bytes: &[u8]| match &report_dir {
        Some(dir) => dir.write_file(name, bytes).map_err(|source| Error::Output {
            dest: Path::new(&dir_name).join(name).display().to_string(),
            source,
        }),
        None => Err(Error::Usage("no --report directory".into())),
    };
    for (place, exporter, dest) in places {
        let bytes = exporter.export(&report)?;
        match place {
            Place::Ready(prepared) => prepared
                .finish(&bytes)
                .map_err(|source| Error::Output { dest: dest.to_string(), source })?,
            Place::InReport(name) => into_report(&name, &bytes)?,
        }
    }
    if report_dir.is_some() {
        for file in html::report_files(&report)? {
            into_report(file.name.as_ref(), &file.bytes)?;
        }
    }
    if let Some(dir) = report_dir {
        dir.commit().map_err(|source| Error::Output { dest: dir_name.clone(), source })?;
    }
    if !config.quiet && !to_stdout {
        emit(&Destination::Stdout, &TableExporter.export(&report)?)?;
    }
    phases.add("outputs (exports, files, table)".into(), writing.elapsed());
    if config.verbose {
        eprint!("{}", phases.text(started));
    }
    if !config.quiet {
        if let Some(warning) = crate::report::table::short_pass_warning(&report.records()) {
            crate::words::eprint_warning(warning);
        }
    }
    // A real allocator whose child failed has an error row in every output, and fails the run.
    let verified = report.results.iter().all(|r| r.safety.verify_errors == 0)
        && report.real.iter().all(|r| r.failure.is_none());
    let Some(old) = baseline else { return Ok(verified) };
    // The comparison reads this run as its JSON says it, so `--baseline` and `replay compare`
    // of the same two files agree exactly.
    let json = JsonExporter.export(&report)?;
    let new = ResultFile::parse(format!("this run of {}", input.shown.display()), &json)
        .map_err(Error::Usage)?;
    let note = gate_compare::check_same_trace(&old, &new, config.force, Some(&input.path))
        .map_err(Error::Usage)?;
    let comparison =
        gate_compare::compare(&old, &new, &config.thresholds, config.allow_missing, note);
    let text = crate::gate::text(&comparison, config.quiet);
    if to_stdout {
        eprint!("{text}");
    } else {
        emit(&Destination::Stdout, text.as_bytes())?;
    }
    Ok(verified && comparison.passed())
}

/// The real allocators of `--alloc`, one after another (each in its own child processes, so
/// they never share a heap or compete for the cores while timed), after every simulation's
/// passes: a real allocator's child is timed in every run (its memory figures come from its
/// timed runs), so nothing runs beside it, not even a simulation's untimed metrics pass.
/// The child reads `input` by path, in the format found for it (the same for every child).
fn replay_real(
    config: &RunConfig,
    input: &Input,
    format: Format,
    progress: &Progress,
    phases: &Phases,
) -> Result<Vec<RealResult>, Error> {
    if config.real.is_empty() {
        return Ok(Vec::new());
    }
    let plan = RealPlan {
        exe: crate::real::run::this_exe().map_err(Error::Usage)?,
        trace: input.path.clone(),
        format: format.name().to_string(),
        lenient: config.parse.lenient,
        runs: config.timing.runs,
        until_tight: config.timing.until_tight,
        touch: config.touch,
        serial: config.serial,
        fake_clock: config.timing.fake_clock,
        timeout: config.real_timeout,
        image: None,
    };
    // The trace is loaded once for every child; should that fail, each child loads it itself
    // and reports why it cannot, as a failure of its allocator.
    let image = phases
        .time("real allocators' events (the trace loaded once for every child)", || {
            crate::real::EventsImage::of(&plan.trace, &plan.format, plan.lenient)
        });
    let plan = RealPlan { image: image.ok().map(std::sync::Arc::new), ..plan };
    let mut results = Vec::new();
    for spec in &config.real {
        let bar = progress.events_bar(format!("replaying through {} (real)", spec.name()), 0);
        let started = std::time::Instant::now();
        let result = crate::real::run::replay(&plan, spec);
        let spent = started.elapsed();
        // How many child processes ran is known once they have: the throughput runs stop when
        // they agree.
        let children = result.runs.len() + usize::from(result.timed) * plan.runs as usize;
        let processes = crate::words::count(children as u64, "child process", "child processes");
        phases.add(format!("{} (real, {processes}, one at a time)", spec.name()), spent);
        phases.own(&spec.name(), spent);
        bar.finish_and_clear();
        if let Some(why) = &result.failure {
            eprintln!("replay: {why}");
        }
        results.push(result);
    }
    Ok(results)
}

/// `replay compare OLD NEW`: print the comparison (and write it as Markdown); `Ok(false)` when
/// a figure regressed past its threshold, or the baseline has a figure or strategy NEW lacks.
pub fn compare(args: &CompareArgs) -> Result<bool, Error> {
    let thresholds =
        Thresholds::parse(args.max_regression.as_deref().unwrap_or("")).map_err(Error::Usage)?;
    let markdown = args.markdown.as_deref().map(Destination::parse);
    let prepared = match &markdown {
        Some(dest) => {
            write::check_distinct(&[&args.old, &args.new], &[("--markdown", dest)])
                .map_err(Error::Usage)?;
            Some(prepare(dest)?)
        }
        None => None,
    };
    let old = ResultFile::read(&args.old).map_err(Error::Usage)?;
    let new = ResultFile::read(&args.new).map_err(Error::Usage)?;
    let note =
        gate_compare::check_same_trace(&old, &new, args.force, None).map_err(Error::Usage)?;
    let comparison = gate_compare::compare(&old, &new, &thresholds, args.allow_missing, note);
    if let (Some(dest), Some(prepared)) = (&markdown, prepared) {
        finish(dest, prepared, crate::gate::markdown(&comparison).as_bytes())?;
    }
    let text = crate::gate::text(&comparison, args.quiet);
    if markdown == Some(Destination::Stdout) {
        eprint!("{text}");
    } else {
        emit(&Destination::Stdout, text.as_bytes())?;
    }
    Ok(comparison.passed())
}

/// `replay merge A.json B.json ... -o OUT`: one result of the same trace from several jobs.
pub fn merge(args: &MergeArgs) -> Result<(), Error> {
    let dest = Destination::parse(&args.output);
    let inputs: Vec<&Path> = args.inputs.iter().map(PathBuf::as_path).collect();
    write::check_distinct(&inputs, &[("-o", &dest)]).map_err(Error::Usage)?;
    let prepared = prepare(&dest)?;
    let documents = args
        .inputs
        .iter()
        .map(|p| ResultFile::read(p))
        .collect::<Result<Vec<_>, String>>()
        .map_err(Error::Usage)?;
    let merged = crate::gate::merge::merge(&documents).map_err(Error::Usage)?;
    let bytes = merged.to_json().map_err(crate::report::ExportError::from)?;
    finish(&dest, prepared, &bytes)?;
    let n = merged.results.len();
    eprintln!(
        "replay: merged {} from {} into {dest}",
        count(n as u64, "result", "results"),
        count(documents.len() as u64, "file", "files")
    );
    Ok(())
}

/// `replay import [--from FORMAT] IN -o OUT`: convert another tool's trace into native CSV.
/// The CSV is built in memory and written atomically, so bad input leaves no partial file.
pub fn import(args: &ImportArgs) -> Result<(), Error> {
    let dest = Destination::parse(&args.output);
    let input = Input::new(&args.input)?;
    write::check_distinct(&[&input.path], &[("-o", &dest)]).map_err(Error::Usage)?;
    let prepared = prepare(&dest)?;
    let format = input.format(args.from.map(Format::from))?;
    if format == Format::Rtrace {
        return Err(Error::Usage(format!(
            "{} is an rtrace file: `replay convert` writes it out as CSV",
            input.shown.display()
        )));
    }
    let options = ParseOptions { lenient: args.lenient, ..ParseOptions::default() };
    let mut csv = Vec::new();
    let summary = trace::open(&input.path)
        .and_then(|reader| {
            trace::convert(reader, &input.path, format, options, &mut csv, TextFormat::Csv)
        })
        .map_err(|e| input.named(e))?;
    finish(&dest, prepared, &csv)?;
    let mut note = format!(
        "replay: imported {} ({}) from {} ({}) into {dest}",
        count(summary.events, "event", "events"),
        count(summary.blocks, "block", "blocks"),
        input.shown.display(),
        format.name()
    );
    if summary.failed > 0 {
        note.push_str(&format!(
            "; left out {} that failed in the recorded program",
            count(summary.failed, "allocation", "allocations")
        ));
    }
    for (kind, n) in &summary.skipped {
        note.push_str(&format!("; skipped {n} {} (--lenient)", kind.name()));
    }
    eprintln!("{note}");
    Ok(())
}

fn emit(dest: &Destination, bytes: &[u8]) -> Result<(), Error> {
    write::write(dest, bytes).map_err(|source| Error::Output { dest: dest.to_string(), source })
}

/// Make `dest` ready before the work that fills it (see [`write::Prepared`]).
fn prepare(dest: &Destination) -> Result<write::Prepared, Error> {
    write::Prepared::new(dest).map_err(|source| Error::Output { dest: dest.to_string(), source })
}

fn finish(dest: &Destination, prepared: write::Prepared, bytes: &[u8]) -> Result<(), Error> {
    prepared.finish(bytes).map_err(|source| Error::Output { dest: dest.to_string(), source })
}

/// `replay gen ... -o OUT`: write a synthetic trace, line by line (never whole in memory), to a
/// temporary file renamed over OUT at the end.
pub fn gen(args: &GenArgs) -> Result<(), Error> {
    use crate::trace::synth::{generate, GenSpec, Pattern, SizeDistribution};
    let spec = GenSpec {
        events: args.events,
        live: args.live.max(1),
        sizes: match args.sizes {
            GenSizes::Uniform => SizeDistribution::Uniform,
            GenSizes::PowerLaw => SizeDistribution::PowerLaw,
            GenSizes::Mixed => SizeDistribution::Mixed,
        },
        pattern: match args.pattern {
            GenPattern::Ramp => Pattern::Ramp,
            GenPattern::Peak => Pattern::Peak,
            GenPattern::Plateau => Pattern::Plateau,
            GenPattern::Random => Pattern::Random,
        },
        seed: args.seed,
    };
    if spec.events == 0 {
        return Err(Error::Usage("--events must be at least 1".into()));
    }
    let dest = Destination::parse(&args.output);
    let output_error = |source| Error::Output { dest: dest.to_string(), source };
    let summary = match &dest {
        Destination::Stdout => {
            match generate(&spec, std::io::BufWriter::new(std::io::stdout().lock())) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other.map_err(output_error)?,
            }
        }
        Destination::File(path) => {
            let mut file = write::AtomicFile::create(path).map_err(output_error)?;
            let summary = generate(&spec, &mut file).map_err(output_error)?;
            file.commit().map_err(output_error)?;
            summary
        }
    };
    eprintln!(
        "replay: generated {} ({}, at most {} live) into {dest}",
        count(summary.events, "event", "events"),
        count(summary.blocks, "block", "blocks"),
        summary.max_live
    );
    Ok(())
}

/// `replay convert IN -o OUT [--to FORMAT]`: any format to `.rtrace` (when OUT ends in
/// `.rtrace`, or `--to rtrace`), any text format to CSV (or to what `--to` names), an `.rtrace`
/// to CSV. Streams both ways; OUT is replaced atomically.
pub fn convert(args: &ConvertArgs) -> Result<(), Error> {
    use crate::trace::rtrace::{self, Rtrace};
    let input = Input::new(&args.input)?;
    let format = input.format(args.format.map(Format::from))?;
    let to = args.to.unwrap_or(if args.output.extension().is_some_and(|ext| ext == "rtrace") {
        OutputFormat::Rtrace
    } else {
        OutputFormat::Csv
    });
    let dest = Destination::parse(&args.output);
    write::check_distinct(&[&input.path], &[("-o", &dest)]).map_err(Error::Usage)?;
    let output_error = |source| Error::Output { dest: dest.to_string(), source };
    let options = ParseOptions { lenient: args.lenient, ..ParseOptions::default() };
    let text = match to {
        OutputFormat::Csv => TextFormat::Csv,
        OutputFormat::Android => TextFormat::Android,
        OutputFormat::Logalloc => TextFormat::Logalloc,
        OutputFormat::Rtrace => {
            let Destination::File(path) = &dest else {
                return Err(Error::Usage("an .rtrace file cannot go to standard output".into()));
            };
            if format == Format::Rtrace {
                return Err(Error::Usage(format!(
                    "{} is already an rtrace file",
                    input.shown.display()
                )));
            }
            let mut file = write::AtomicFile::create(path).map_err(output_error)?;
            let out = file.file().map_err(output_error)?;
            let header = rtrace::convert(&input.path, format, options, out, None)
                .map_err(|e| input.named(e))?;
            file.commit().map_err(output_error)?;
            let note = format!(
                "{} ({} in {})",
                count(header.events, "event", "events"),
                count(header.blocks, "block", "blocks"),
                count(header.slots, "recycled id", "recycled ids")
            );
            eprintln!("replay: converted {note} from {} into {dest}", input.shown.display());
            return Ok(());
        }
    };
    // Writes the converted trace to `out`: `Ok(None)` when `out` is a closed pipe.
    let write_out = |out: &mut dyn std::io::Write| -> Result<Option<u64>, Error> {
        let outcome = if format == Format::Rtrace {
            if text != TextFormat::Csv {
                return Err(Error::Usage(format!(
                    "{} is an rtrace file, which converts to CSV only: convert that CSV further",
                    input.shown.display()
                )));
            }
            Rtrace::open_with(&input.path, options).and_then(|rtrace| {
                rtrace::to_csv(&rtrace, &mut *out).map(|()| rtrace.header.events)
            })
        } else {
            trace::open(&input.path)
                .and_then(|reader| trace::convert(reader, &input.path, format, options, out, text))
                .map(|summary| summary.events)
        };
        match outcome {
            Err(crate::trace::TraceError::Write { source })
                if source.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                Ok(None)
            }
            other => other.map(Some).map_err(|e| input.named(e)),
        }
    };
    let events = match &dest {
        Destination::Stdout => write_out(&mut std::io::stdout().lock())?,
        Destination::File(path) => {
            let mut file = write::AtomicFile::create(path).map_err(output_error)?;
            let events = write_out(&mut file)?;
            file.commit().map_err(output_error)?;
            events
        }
    };
    if let Some(events) = events {
        eprintln!(
            "replay: converted {} from {} ({}) into {dest}",
            count(events, "event", "events"),
            input.shown.display(),
            format.name()
        );
    }
    Ok(())
}

/// `replay stats TRACE [--json FILE]`.
pub fn stats(args: &StatsArgs) -> Result<(), Error> {
    let input = Input::new(&args.trace)?;
    let format = input.format(args.format.map(Format::from))?;
    crate::stats::command(&StatsConfig {
        trace: input.path.clone(),
        shown: input.shown.clone(),
        format,
        parse: ParseOptions { lenient: args.lenient, ..ParseOptions::default() },
        json: args.json.as_deref().map(Destination::parse),
    })
}

/// `replay record -o OUT -- CMD ...`: the status to exit with (see [`crate::record::record`]).
pub fn record(args: &RecordArgs) -> Result<u8, Error> {
    crate::record::record(&RecordConfig {
        output: Destination::parse(&args.output),
        keep_raw: args.keep_raw,
        follow: !args.no_follow,
        command: args.command.clone(),
    })
}
