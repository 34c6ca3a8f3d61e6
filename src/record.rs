//! `replay record -o OUT -- CMD ARGS...`: run a program under the interposer
//! (`libreplay_interposer.so`, the workspace's `interposer/` crate, built next to the `replay`
//! binary) and turn its raw recording into a native CSV trace with `thread` and `time_ns`.
//!
//! The program runs with `LD_PRELOAD` naming the interposer first (any `LD_PRELOAD` it already
//! had follows), `REPLAY_RECORD_FILE` (the raw file: `OUT.raw`, or a temporary file for `-o -`)
//! and `REPLAY_RECORD_PARENT` (this process's pid: only our direct child records, so the
//! programs it forks or spawns do not). The raw file is converted by
//! [`crate::trace::recorded::to_csv`] and then removed (`--keep-raw` keeps it).
//!
//! The CSV always parses strictly: problems (lost records, an ordering race between threads)
//! are repaired and counted, and the counts printed. The program's own exit status is reported
//! but does not change `replay`'s: a program that fails still leaves a trace.

use crate::cli::RecordArgs;
use crate::report::write::{self, Destination};
use crate::trace::recorded;
use crate::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The interposer's file name, as cargo builds it.
pub const INTERPOSER: &str = "libreplay_interposer.so";

/// The interposer next to the running `replay` binary (or, for a test binary in `deps/`, one
/// directory up).
pub fn find_interposer() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot find replay's own binary: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for candidate in [dir.join(INTERPOSER), dir.join("..").join(INTERPOSER)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::Usage(format!(
        "{INTERPOSER} is not next to {} (build the whole workspace: `cargo build --release` at \
         the repository's root builds it)",
        exe.display()
    )))
}

/// Where the CSV goes while it is converted.
enum Output {
    File(write::AtomicFile),
    Stdout(Vec<u8>),
}

pub fn record(args: &RecordArgs) -> Result<(), Error> {
    let interposer = find_interposer()?;
    let dest = Destination::parse(&args.output);
    let raw = match &dest {
        Destination::File(path) => {
            let mut name = path.clone().into_os_string();
            name.push(".raw");
            PathBuf::from(name)
        }
        Destination::Stdout => {
            std::env::temp_dir().join(format!("replay-record-{}.raw", std::process::id()))
        }
    };
    let _ = std::fs::remove_file(&raw);
    let Some((program, rest)) = args.command.split_first() else {
        return Err(Error::Usage("no command to record (replay record -o OUT -- CMD ...)".into()));
    };
    let mut preload = interposer.into_os_string();
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|p| !p.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    let status = Command::new(program)
        .args(rest)
        .env("LD_PRELOAD", &preload)
        .env("REPLAY_RECORD_FILE", &raw)
        .env("REPLAY_RECORD_PARENT", std::process::id().to_string())
        .status()
        .map_err(|e| Error::Usage(format!("cannot run {}: {e}", Path::new(program).display())))?;
    let bytes = std::fs::read(&raw).map_err(|e| {
        Error::Usage(format!(
            "{} left no recording in {} ({e}): a statically linked program cannot be recorded \
             with LD_PRELOAD",
            Path::new(program).display(),
            raw.display()
        ))
    })?;
    // The raw file is in memory now: it is removed on the other core, while the conversion runs
    // (unlinking a large file takes a while).
    let removal = (!args.keep_raw).then(|| {
        let raw = raw.clone();
        std::thread::spawn(move || {
            let _ = std::fs::remove_file(raw);
        })
    });
    // A file gets the CSV as it is converted (its temporary file is renamed over it only on
    // success); standard output gets it once the whole conversion succeeded.
    let output_error = |source| Error::Output { dest: dest.to_string(), source };
    let out = match &dest {
        Destination::File(path) => write::AtomicFile::create(path).map(Output::File),
        Destination::Stdout => Ok(Output::Stdout(Vec::with_capacity(bytes.len() / 2))),
    };
    let converted = out.map(|mut out| {
        let summary = match &mut out {
            Output::File(file) => recorded::to_csv(&bytes, &raw, file),
            Output::Stdout(csv) => recorded::to_csv(&bytes, &raw, csv),
        };
        (summary, out)
    });
    // Unmapping the raw bytes also takes a while: done beside the commit.
    let release = std::thread::spawn(move || drop(bytes));
    if let Some(removal) = removal {
        let _ = removal.join();
    }
    let (summary, out) = converted.map_err(output_error)?;
    let summary = summary?;
    match out {
        Output::File(file) => file.commit(),
        Output::Stdout(csv) => write::write(&dest, &csv),
    }
    .map_err(output_error)?;
    let _ = release.join();
    let import = &summary.import;
    let mut note = format!(
        "replay: recorded {} events ({} blocks, {} thread{}, {:.3} s) into {dest}",
        import.events,
        import.blocks,
        summary.threads,
        if summary.threads == 1 { "" } else { "s" },
        summary.span_ns as f64 / 1e9
    );
    if import.failed > 0 {
        note.push_str(&format!("; left out {} allocations that failed", import.failed));
    }
    if summary.lost > 0 {
        note.push_str(&format!(
            "; lost {} calls (their records never reached the file)",
            summary.lost
        ));
    }
    if !summary.complete {
        note.push_str(
            "; the program ended without the interposer's final flush (killed by a signal?): \
             the end of the trace may be missing",
        );
    }
    for (kind, n) in &import.skipped {
        note.push_str(&format!("; repaired {n} {} events", kind.name()));
    }
    if !status.success() {
        note.push_str(&format!("; the program exited with {status}"));
    }
    eprintln!("{note}");
    Ok(())
}
