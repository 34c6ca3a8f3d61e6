//! The subcommands, each a short pipeline over the library.

use crate::cli::ImportArgs;
use crate::config::RunConfig;
use crate::replay::{clock_overhead_ns, run_all};
use crate::report::json::JsonExporter;
use crate::report::table::TableExporter;
use crate::report::write::{self, Destination};
use crate::report::{Exporter, Report, TraceSummary};
use crate::trace::{self, Format};
use crate::Error;

/// `replay TRACE ...`: load, replay through every chosen strategy, report.
pub fn run(config: &RunConfig) -> Result<(), Error> {
    let trace = trace::load(&config.trace, config.format, config.parse)?;
    let pool = {
        let mut builder = rayon::ThreadPoolBuilder::new();
        if let Some(n) = config.threads {
            builder = builder.num_threads(n);
        }
        builder.build().map_err(|e| Error::Usage(format!("cannot start threads: {e}")))?
    };
    let results = pool.install(|| {
        run_all(&config.strategies, &config.params, &trace.events, trace.blocks, config.timing)
    });
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
    Ok(())
}

/// `replay import --from FORMAT IN -o OUT`: convert another tool's trace into native CSV.
pub fn import(args: &ImportArgs) -> Result<(), Error> {
    let _ = args;
    Err(Error::Usage("import is not wired yet".into()))
}

fn emit(dest: &Destination, bytes: &[u8]) -> Result<(), Error> {
    write::write(dest, bytes).map_err(|source| Error::Output { dest: dest.to_string(), source })
}
