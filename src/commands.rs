//! The subcommands, each a short pipeline over the library.

use crate::cli::{CompareArgs, ImportArgs, ImportFormat, MergeArgs};
use crate::config::RunConfig;
use crate::gate::compare::{self as gate_compare, Document};
use crate::gate::thresholds::Thresholds;
use crate::progress::Progress;
use crate::replay::{clock_overhead_ns, run_all, Plan};
use crate::report::csv::CsvExporter;
use crate::report::html;
use crate::report::json::JsonExporter;
use crate::report::markdown::MarkdownExporter;
use crate::report::table::TableExporter;
use crate::report::write::{self, Destination};
use crate::report::{request_size_histogram, Exporter, Report, TraceSummary};
use crate::trace::{self, Format, ParseOptions};
use crate::Error;

/// `replay TRACE ...`: load, replay through every chosen strategy, report. Returns whether
/// every check passed: `false` when `--verify` caught a strategy breaking the heap model.
pub fn run(config: &RunConfig) -> Result<bool, Error> {
    crate::alloc::slowdown::set(config.slowdowns.clone());
    // Read the baseline first: a bad one should fail before a long replay, not after.
    let baseline =
        config.baseline.as_deref().map(Document::read).transpose().map_err(Error::Usage)?;
    let progress = Progress::new(config.quiet);
    let parsing = progress.spinner(format!("parsing {}", config.trace.display()));
    let trace = trace::load(&config.trace, config.format, config.parse);
    parsing.finish_and_clear();
    let trace = trace?;
    let replaying = progress.bar(format!("replaying {} events", trace.events.len()), 0);
    let pool = {
        let mut builder = rayon::ThreadPoolBuilder::new();
        if let Some(n) = config.threads {
            builder = builder.num_threads(n);
        }
        builder.build().map_err(|e| Error::Usage(format!("cannot start threads: {e}")))?
    };
    let line_of = |index: u64| trace.line_of(index);
    let plan = Plan {
        entries: &config.strategies,
        params: config.params,
        events: &trace.events,
        blocks: trace.blocks,
        timing: config.timing,
        verify: config.verify,
        line_of: &line_of,
        samples: config.samples,
        layout: config.report_dir.is_some(),
        done: &|| replaying.inc(1),
    };
    replaying.set_length(plan.steps());
    let mut results = pool.install(|| run_all(&plan));
    replaying.finish_and_clear();
    let heap = results.iter_mut().filter_map(|r| r.heap.take()).collect();
    let report = Report {
        trace: TraceSummary {
            path: config.trace.display().to_string(),
            format: match config.format {
                Format::Csv => "csv",
                Format::Mtrace => "mtrace",
                Format::Heaptrack => "heaptrack",
                Format::Rep => "rep",
            },
            events: trace.events.len() as u64,
            blocks: trace.blocks,
            skipped: trace.skipped.clone(),
            request_sizes: request_size_histogram(&trace.events),
            content_hash: crate::gate::hash::of_file(&config.trace).ok(),
        },
        params: config.params,
        timing: config.timing,
        clock_overhead_ns: if config.timing.runs > 0 && !config.timing.fake_clock {
            clock_overhead_ns()
        } else {
            0
        },
        samples: config.samples,
        results,
        heap,
        command_line: config.command_line.clone(),
        test_slowdown: config.slowdown_specs.clone(),
    };
    // The report directory first: other outputs may be meant to go into it.
    if let Some(dir) = &config.report_dir {
        std::fs::create_dir_all(dir)
            .map_err(|source| Error::Output { dest: dir.display().to_string(), source })?;
    }
    // Each result is written as soon as it is ready, so a late failure loses nothing.
    let mut to_stdout = false;
    let exports: [(&Option<Destination>, &dyn Exporter); 3] = [
        (&config.json, &JsonExporter),
        (&config.csv, &CsvExporter),
        (&config.markdown, &MarkdownExporter),
    ];
    for (dest, exporter) in exports {
        if let Some(dest) = dest {
            emit(dest, &exporter.export(&report)?)?;
            to_stdout |= *dest == Destination::Stdout;
        }
    }
    if let Some(dir) = &config.report_dir {
        for file in html::report_files(&report)? {
            emit(&Destination::File(dir.join(&file.name)), &file.bytes)?;
        }
    }
    if !config.quiet && !to_stdout {
        emit(&Destination::Stdout, &TableExporter.export(&report)?)?;
    }
    let verified = report.results.iter().all(|r| r.safety.verify_errors == 0);
    let Some(old) = baseline else { return Ok(verified) };
    // The comparison reads this run as its JSON says it, so `--baseline` and `replay compare`
    // of the same two files agree exactly.
    let json = JsonExporter.export(&report)?;
    let new = Document::parse(format!("this run of {}", config.trace.display()), &json)
        .map_err(Error::Usage)?;
    gate_compare::check_same_trace(&old, &new, config.force).map_err(Error::Usage)?;
    let comparison = gate_compare::compare(&old, &new, &config.thresholds);
    let text = crate::gate::text(&comparison);
    if to_stdout {
        eprint!("{text}");
    } else {
        emit(&Destination::Stdout, text.as_bytes())?;
    }
    Ok(verified && comparison.regressions() == 0)
}

/// `replay compare OLD NEW`: print the comparison (and write it as Markdown); `Ok(false)` when
/// a figure regressed past its threshold.
pub fn compare(args: &CompareArgs) -> Result<bool, Error> {
    let thresholds =
        Thresholds::parse(args.max_regression.as_deref().unwrap_or("")).map_err(Error::Usage)?;
    let old = Document::read(&args.old).map_err(Error::Usage)?;
    let new = Document::read(&args.new).map_err(Error::Usage)?;
    gate_compare::check_same_trace(&old, &new, args.force).map_err(Error::Usage)?;
    let comparison = gate_compare::compare(&old, &new, &thresholds);
    let markdown = args.markdown.as_deref().map(Destination::parse);
    if let Some(dest) = &markdown {
        emit(dest, crate::gate::markdown(&comparison).as_bytes())?;
    }
    let text = crate::gate::text(&comparison);
    if markdown == Some(Destination::Stdout) {
        eprint!("{text}");
    } else {
        emit(&Destination::Stdout, text.as_bytes())?;
    }
    Ok(comparison.regressions() == 0)
}

/// `replay merge A.json B.json ... -o OUT`: one result of the same trace from several jobs.
pub fn merge(args: &MergeArgs) -> Result<(), Error> {
    let documents = args
        .inputs
        .iter()
        .map(|p| Document::read(p))
        .collect::<Result<Vec<_>, String>>()
        .map_err(Error::Usage)?;
    let merged = crate::gate::merge::merge(&documents).map_err(Error::Usage)?;
    let mut bytes = serde_json::to_vec_pretty(&merged).map_err(crate::report::ExportError::from)?;
    bytes.push(b'\n');
    let dest = Destination::parse(&args.output);
    emit(&dest, &bytes)?;
    let n = merged["results"].as_array().map_or(0, Vec::len);
    eprintln!("replay: merged {n} results from {} files into {dest}", documents.len());
    Ok(())
}

/// `replay import --from FORMAT IN -o OUT`: convert another tool's trace into native CSV.
/// The CSV is built in memory and written atomically, so bad input leaves no partial file.
pub fn import(args: &ImportArgs) -> Result<(), Error> {
    let input = trace::open(&args.input)?;
    let options = ParseOptions { lenient: args.lenient };
    let mut csv = Vec::new();
    let summary = match args.from {
        ImportFormat::Mtrace => trace::mtrace::to_csv(input, &args.input, &mut csv, options)?,
        ImportFormat::Heaptrack => trace::heaptrack::to_csv(input, &args.input, &mut csv, options)?,
        ImportFormat::Rep => trace::rep::to_csv(input, &args.input, &mut csv, options)?,
    };
    let dest = Destination::parse(&args.output);
    emit(&dest, &csv)?;
    let mut note = format!(
        "replay: imported {} events ({} blocks) from {} into {dest}",
        summary.events,
        summary.blocks,
        args.input.display()
    );
    if summary.failed > 0 {
        note.push_str(&format!(
            "; left out {} allocations that failed in the recorded program",
            summary.failed
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
