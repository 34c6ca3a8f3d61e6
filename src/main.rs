//! `replay`: parse arguments -> load the trace -> replay it -> report.

use replay::cli::{Cli, Command};
use replay::{commands, Error};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The child that replays a trace through one real allocator: an internal protocol between
    // `replay` and itself (src/real/child.rs), not a command.
    if std::env::args_os().nth(1).as_deref() == Some(replay::real::child::CHILD_ARG.as_ref()) {
        std::process::exit(replay::real::child::main());
    }
    let cli = Cli::parse_args();
    // From here on SIGINT, SIGTERM and SIGHUP remove every temporary file before exiting.
    if let Err(e) = replay::cleanup::install() {
        replay::words::eprint_warning(format_args!(
            "cannot watch for signals ({e}): an interrupted run may leave temporary files"
        ));
    }
    let outcome = match &cli.command {
        Some(Command::Import(args)) => commands::import(args).map(|()| true),
        // The recorded program's exit status, once its trace is written.
        Some(Command::Record(args)) => match commands::record(args) {
            Ok(status) => return ExitCode::from(status),
            Err(error) => Err(error),
        },
        Some(Command::Stats(args)) => commands::stats(args).map(|()| true),
        Some(Command::Compare(args)) => commands::compare(args),
        Some(Command::Merge(args)) => commands::merge(args).map(|()| true),
        Some(Command::Gen(args)) => commands::gen(args).map(|()| true),
        Some(Command::Convert(args)) => commands::convert(args).map(|()| true),
        None => commands::run_config(&cli.run)
            .map_err(Error::Usage)
            .and_then(|config| commands::run(&config)),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        // A check failed: `--verify` caught a strategy breaking the heap model, or the gate
        // found a regression.
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            replay::words::eprint_error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}
