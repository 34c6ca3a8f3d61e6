//! The subcommands, each a short pipeline over the library.

use crate::cli::{ImportArgs, ImportFormat};
use crate::config::RunConfig;
use crate::replay::{clock_overhead_ns, run_all, Plan};
use crate::report::json::JsonExporter;
use crate::report::table::TableExporter;
use crate::report::write::{self, Destination};
use crate::report::{Exporter, Report, TraceSummary};
use crate::trace::{self, Format, ParseOptions};
use crate::Error;

/// `replay TRACE ...`: load, replay through every chosen strategy, report. Returns whether
/// every check passed: `false` when `--verify` caught a strategy breaking the heap model.
pub fn run(config: &RunConfig) -> Result<bool, Error> {
    let trace = trace::load(&config.trace, config.format, config.parse)?;
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
    };
    let results = pool.install(|| run_all(&plan));
    let report = Report {
        trace: TraceSummary {
            path: config.trace.display().to_string(),
            format: match config.format {
                Format::Csv => "csv",
                Format::Mtrace => "mtrace",
            },
            events: trace.events.len() as u64,
            blocks: trace.blocks,
            skipped: trace.skipped.clone(),
        },
        params: config.params,
        timing: config.timing,
        clock_overhead_ns: if config.timing.runs > 0 { clock_overhead_ns() } else { 0 },
        results,
    };
    if let Some(dest) = &config.json {
        emit(dest, &JsonExporter.export(&report)?)?;
    }
    if !config.quiet && config.json != Some(Destination::Stdout) {
        emit(&Destination::Stdout, &TableExporter.export(&report)?)?;
    }
    Ok(report.results.iter().all(|r| r.safety.verify_errors == 0))
}

/// `replay import --from FORMAT IN -o OUT`: convert another tool's trace into native CSV.
/// The CSV is built in memory and written atomically, so bad input leaves no partial file.
pub fn import(args: &ImportArgs) -> Result<(), Error> {
    let input = trace::open(&args.input)?;
    let options = ParseOptions { lenient: args.lenient };
    let mut csv = Vec::new();
    let summary = match args.from {
        ImportFormat::Mtrace => trace::mtrace::to_csv(input, &args.input, &mut csv, options)?,
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
