//! `replay record -o OUT -- CMD ARGS...`: run a program under the interposer
//! (`libreplay_interposer.so`, the workspace's `interposer/` crate, built next to the `replay`
//! binary) and turn its raw recording into a native CSV trace with `thread` and `time_ns`.
//!
//! The program runs with `LD_PRELOAD` naming the interposer first (any `LD_PRELOAD` it already
//! had follows), `REPLAY_RECORD_FILE` (the raw file, in a new private directory beside OUT)
//! and `REPLAY_RECORD_PARENT` (this process's pid: only our direct child records, so the
//! programs it forks or spawns do not). The raw file is read as the program writes it and
//! converted at once by [`crate::trace::recorded::to_csv_streaming`]: the conversion runs on
//! the other core while the program runs, and little is left to do when it exits. It is
//! converted again as a whole by [`crate::trace::recorded::to_csv`] when what was read cannot
//! stand for the recording: the program `exec`ed another (which starts a new file), or the
//! records cannot be put in order as they come (a damaged file). It is then removed
//! (`--keep-raw` keeps it).
//!
//! The CSV always parses strictly: problems (lost records, an ordering race between threads)
//! are repaired and counted, and the counts printed. The program's own exit status is reported
//! but does not change `replay`'s: a program that fails still leaves a trace.

use crate::cli::RecordArgs;
use crate::report::write::{self, Destination};
use crate::trace::recorded::{self, RecordingSummary, Streamed, STREAM_READ};
use crate::trace::TraceError;
use crate::Error;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

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
    File(Pipe),
    Stdout(Vec<u8>),
}

/// Bytes gathered before a batch goes to the writing thread.
const BATCH: usize = 1 << 20;

/// Batches in flight between the conversion and the writing thread.
const IN_FLIGHT: usize = 16;

/// Bytes written between syncs on the writing thread.
const SYNC_EVERY: usize = 32 << 20;

/// A file written on another thread: the conversion fills batches, the thread writes them in
/// order (writing to the page cache costs as much as a good part of the formatting, and the
/// other core is idle while the conversion runs). Emptied batches come back to be refilled.
struct Pipe {
    batch: Vec<u8>,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<io::Result<write::AtomicFile>>>,
}

impl Pipe {
    fn new(mut file: write::AtomicFile) -> Pipe {
        let (full, batches) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (emptied, empty) = mpsc::channel();
        let writer = std::thread::spawn(move || {
            let mut unsynced = 0;
            for mut batch in batches {
                file.write_all(&batch)?;
                // Syncing as it goes leaves little for the commit's sync, after the conversion.
                unsynced += batch.len();
                if unsynced >= SYNC_EVERY {
                    file.file()?.sync_data()?;
                    unsynced = 0;
                }
                batch.clear();
                let _ = emptied.send(batch);
            }
            file.flush()?;
            Ok(file)
        });
        Pipe { batch: Vec::with_capacity(BATCH), full: Some(full), empty, writer: Some(writer) }
    }

    /// The writing thread's outcome: the file, or the error that stopped it.
    fn join(&mut self) -> io::Result<write::AtomicFile> {
        self.full = None;
        match self.writer.take() {
            Some(writer) => {
                writer.join().map_err(|_| io::Error::other("the writing thread panicked"))?
            }
            None => Err(io::Error::other("the writing thread already stopped")),
        }
    }

    /// Hand the current batch to the writing thread.
    fn send(&mut self) -> io::Result<()> {
        let next = self.empty.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        let sent = match &self.full {
            Some(full) => full.send(batch).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The thread stopped on an error: that error is the one to report.
            self.join().map(|_| ())
        }
    }

    /// Write what is left and wait for the writing thread: the file, ready to commit.
    fn finish(mut self) -> io::Result<write::AtomicFile> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        self.join()
    }
}

/// Dropped unfinished (the conversion failed), the thread is waited for: it drops the file,
/// which removes its temporary file.
impl Drop for Pipe {
    fn drop(&mut self) {
        self.full = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Write for Pipe {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.batch.extend_from_slice(data);
        if self.batch.len() >= BATCH {
            self.send()?;
        }
        Ok(data.len())
    }

    /// Batches are written by [`Pipe::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The raw file, read as the program writes it (the conversion keeps up on the other core
/// instead of starting when the program ends), until the program has exited.
struct Tail {
    /// The program's exit status, sent by the thread that waits for it.
    exit: Receiver<io::Result<ExitStatus>>,
    /// The program's exit status, once it exited.
    status: Option<io::Result<ExitStatus>>,
    file: File,
    /// Bytes read so far.
    read: u64,
    /// How long to wait for more before reading again: from [`POLL_MIN`], doubling while
    /// nothing comes, up to [`POLL_MAX`].
    pause: Duration,
}

/// How long to wait for the program to write more before looking again, at first and at most
/// (a program that makes no calls for a while costs a few wake-ups a second). The program's
/// exit ends a wait at once.
const POLL_MIN: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(32);

impl Tail {
    /// Wait until the program has created the raw file `raw`: the file, or (the program
    /// exited without creating it) the program's status and the error opening it.
    fn open(mut child: Child, raw: &Path) -> Result<Tail, (io::Result<ExitStatus>, io::Error)> {
        let (exited, exit) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = exited.send(child.wait());
        });
        let mut status = None;
        let mut pause = POLL_MIN;
        loop {
            // Opened after looking at the program, so that a program that exited has written
            // whatever it was going to: not found then, it will never be.
            match File::open(raw) {
                Ok(file) => {
                    return Ok(Tail { exit, status, file, read: 0, pause: POLL_MIN });
                }
                Err(e) if e.kind() != io::ErrorKind::NotFound || status.is_some() => {
                    return Err((status.unwrap_or_else(|| wait(&exit)), e))
                }
                Err(_) => match exit.recv_timeout(pause) {
                    Ok(exited) => status = Some(exited),
                    Err(RecvTimeoutError::Timeout) => pause = (pause * 2).min(POLL_MAX),
                    Err(RecvTimeoutError::Disconnected) => status = Some(Err(waiter_gone())),
                },
            }
        }
    }

    /// Append the bytes written since the last call to `bytes`, waiting until some come: false
    /// once the program has exited and everything it wrote has been read.
    fn more(&mut self, bytes: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            let n = (&mut self.file).take(STREAM_READ as u64).read_to_end(bytes)?;
            self.read += n as u64;
            if n > 0 {
                self.pause = POLL_MIN;
                return Ok(true);
            }
            if self.status.is_some() {
                return Ok(false);
            }
            match self.exit.recv_timeout(self.pause) {
                // Read once more: what it wrote before exiting is in the file now.
                Ok(status) => self.status = Some(status),
                Err(RecvTimeoutError::Timeout) => self.pause = (self.pause * 2).min(POLL_MAX),
                Err(RecvTimeoutError::Disconnected) => self.status = Some(Err(waiter_gone())),
            }
        }
    }

    /// Wait for the program to exit (it has, unless the conversion stopped on an error).
    fn wait(&mut self) -> io::Result<ExitStatus> {
        self.status.take().unwrap_or_else(|| wait(&self.exit))
    }

    /// Whether what was read is the whole recording: the file at `raw` is still the one read
    /// (a program that `exec`s another starts a new file, see the interposer's docs) and holds
    /// nothing beyond what was read.
    fn whole(&self, raw: &Path) -> bool {
        match (self.file.metadata(), std::fs::metadata(raw)) {
            (Ok(read), Ok(now)) => {
                read.dev() == now.dev() && read.ino() == now.ino() && read.len() == self.read
            }
            _ => false,
        }
    }
}

/// The program's exit status, from the thread that waits for it.
fn wait(exit: &Receiver<io::Result<ExitStatus>>) -> io::Result<ExitStatus> {
    exit.recv().unwrap_or_else(|_| Err(waiter_gone()))
}

fn waiter_gone() -> io::Error {
    io::Error::other("the thread waiting for the program stopped")
}

impl Output {
    /// The empty output for `dest`.
    fn new(dest: &Destination) -> io::Result<Output> {
        Ok(match dest {
            Destination::File(path) => Output::File(Pipe::new(write::AtomicFile::create(path)?)),
            Destination::Stdout => Output::Stdout(Vec::new()),
        })
    }

    /// Convert the raw file `raw`, read as a whole.
    fn convert_whole(&mut self, raw: &Path) -> Result<RecordingSummary, TraceError> {
        let bytes = std::fs::read(raw)
            .map_err(|source| TraceError::Io { path: raw.to_path_buf(), source })?;
        let summary = match self {
            Output::File(pipe) => recorded::to_csv(&bytes, raw, pipe),
            Output::Stdout(csv) => recorded::to_csv(&bytes, raw, csv),
        };
        // Unmapping the raw bytes takes a while: done on the other core.
        std::thread::spawn(move || drop(bytes));
        summary
    }

    /// Write the CSV to its destination: the file is committed, standard output written.
    fn finish(self, dest: &Destination) -> io::Result<()> {
        match self {
            Output::File(pipe) => pipe.finish().and_then(write::AtomicFile::commit),
            Output::Stdout(csv) => write::write(dest, &csv),
        }
    }
}

pub fn record(args: &RecordArgs) -> Result<(), Error> {
    let interposer = find_interposer()?;
    let dest = Destination::parse(&args.output);
    // The raw file goes into a new private directory (an unpredictable name) beside OUT, or in
    // the system's temporary directory for `-o -`, removed at the end and on a signal (see
    // `crate::cleanup`); `--keep-raw` moves it to OUT.raw (`-o -`: $TMPDIR/replay-record-PID.raw).
    let (raw_home, kept_raw) = match &dest {
        Destination::File(path) => {
            let mut name = path.clone().into_os_string();
            name.push(".raw");
            (write::parent_of(path).to_path_buf(), PathBuf::from(name))
        }
        Destination::Stdout => {
            let kept = format!("replay-record-{}.raw", std::process::id());
            (std::env::temp_dir(), std::env::temp_dir().join(kept))
        }
    };
    let raw_dir = crate::cleanup::temp_dir_in(&raw_home, ".replay-record.", "", 0o700)
        .map_err(|source| Error::Output { dest: raw_home.display().to_string(), source })?;
    let raw = raw_dir.path().join("recording.raw");
    let Some((program, rest)) = args.command.split_first() else {
        return Err(Error::Usage("no command to record (replay record -o OUT -- CMD ...)".into()));
    };
    let mut preload = interposer.into_os_string();
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|p| !p.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    // A file gets the CSV as it is converted (its temporary file is renamed over it only on
    // success); standard output gets it once the whole conversion succeeded.
    let output_error = |source| Error::Output { dest: dest.to_string(), source };
    let mut out = Output::new(&dest).map_err(output_error)?;
    let child = Command::new(program)
        .args(rest)
        .env("LD_PRELOAD", &preload)
        .env("REPLAY_RECORD_FILE", &raw)
        .env("REPLAY_RECORD_PARENT", std::process::id().to_string())
        .spawn()
        .map_err(|e| Error::Usage(format!("cannot run {}: {e}", Path::new(program).display())))?;
    let _child_note = crate::cleanup::child(child.id());
    let no_recording = |e: io::Error| {
        Error::Usage(format!(
            "{} left no recording in {} ({e}): a statically linked program cannot be recorded \
             with LD_PRELOAD",
            Path::new(program).display(),
            raw.display()
        ))
    };
    let mut tail = Tail::open(child, &raw).map_err(|(_, e)| no_recording(e))?;
    let read_error = |source| TraceError::Io { path: raw.clone(), source };
    let streamed = match &mut out {
        Output::File(pipe) => {
            recorded::to_csv_streaming(&raw, pipe, |bytes| tail.more(bytes).map_err(read_error))
        }
        Output::Stdout(csv) => {
            recorded::to_csv_streaming(&raw, csv, |bytes| tail.more(bytes).map_err(read_error))
        }
    };
    let status = tail.wait();
    let converted = match streamed {
        // What was read may not be the recording: the program `exec`ed another, which started
        // a new file.
        Ok(Streamed::Converted(summary)) if tail.whole(&raw) => Ok((summary, out)),
        Err(e) if tail.whole(&raw) => Err(e.into()),
        // Start over with the whole file (see `to_csv_streaming`).
        _ => {
            drop(out);
            (|| {
                let mut out = Output::new(&dest).map_err(output_error)?;
                if !raw.exists() {
                    return Err(no_recording(io::ErrorKind::NotFound.into()));
                }
                Ok((out.convert_whole(&raw)?, out))
            })()
        }
    };
    // Removing a large file takes a while (its pages are freed when the last descriptor
    // closes, here): done on the other core, beside the commit.
    let read = tail.file;
    if args.keep_raw {
        if let Err(e) = std::fs::rename(&raw, &kept_raw) {
            eprintln!("replay: warning: cannot keep the raw file as {}: {e}", kept_raw.display());
        }
    }
    let removal = std::thread::spawn(move || {
        drop(raw_dir);
        drop(read);
    });
    let committed = converted.and_then(|(summary, out)| {
        let status = status.map_err(|e| {
            Error::Usage(format!("cannot wait for {}: {e}", Path::new(program).display()))
        })?;
        out.finish(&dest).map_err(output_error)?;
        Ok((summary, status))
    });
    let _ = removal.join();
    let (summary, status) = committed?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw recording of `threads` threads, each flushing its records in chunks of `chunk`.
    fn recording(threads: u32, chunk: usize, calls: u64) -> Vec<u8> {
        let mut buffers: Vec<Vec<[u64; 6]>> = vec![Vec::new(); threads as usize];
        let mut bytes = b"RPLYREC2".to_vec();
        let mut flush = |buffer: &mut Vec<[u64; 6]>| {
            for r in buffer.drain(..) {
                for word in &r[..5] {
                    bytes.extend_from_slice(&word.to_le_bytes());
                }
                bytes.extend_from_slice(&(r[5] as u32).to_le_bytes());
                bytes.extend_from_slice(
                    &if r[2] == 0 { 5u32 } else { (r[0] % 2) as u32 * 3 }.to_le_bytes(),
                );
            }
        };
        for seq in 0..calls {
            let t = (seq * 7 % u64::from(threads)) as usize;
            // Even calls allocate a block, odd ones free it.
            let ptr = 0x1000 + 16 * (seq / 2);
            buffers[t].push([seq, 1000 + 3 * seq, ptr, 8 + seq % 50, 0, 100 + t as u64]);
            if buffers[t].len() == chunk {
                flush(&mut buffers[t]);
            }
        }
        for buffer in &mut buffers {
            flush(buffer);
        }
        flush(&mut vec![[calls, 0, 0, 0, 0, 100]]);
        bytes
    }

    #[test]
    fn the_threaded_writer_gives_the_bytes_a_sequential_conversion_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        // Batches of several megabytes: many sends and syncs.
        let bytes = recording(3, 64, 400_000);
        let mut sequential = Vec::new();
        let expected = recorded::to_csv(&bytes, Path::new("t.raw"), &mut sequential).unwrap();
        assert!(sequential.len() > 2 * BATCH);
        let mut pipe = Pipe::new(write::AtomicFile::create(&path).unwrap());
        let summary = recorded::to_csv(&bytes, Path::new("t.raw"), &mut pipe).unwrap();
        pipe.finish().unwrap().commit().unwrap();
        assert_eq!(summary, expected);
        assert_eq!(summary.threads, 3);
        assert_eq!(std::fs::read(&path).unwrap(), sequential);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_unfinished_threaded_writer_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut pipe = Pipe::new(write::AtomicFile::create(&path).unwrap());
        pipe.write_all(&vec![b'x'; 3 * BATCH]).unwrap();
        drop(pipe);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
