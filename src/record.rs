//! `replay record -o OUT -- CMD ARGS...`: run a program under the interposer
//! (`libreplay_interposer.so`, the workspace's `interposer/` crate) and turn its raw recording
//! into a trace with `thread` and `time_ns`, and likewise for every other process of its tree.
//!
//! The program runs with `LD_PRELOAD` naming the interposer first (any `LD_PRELOAD` it already
//! had follows), `REPLAY_RECORD_FILE` (the first process's raw file, in a new private directory
//! beside OUT), `REPLAY_RECORD_PARENT` (this process's pid: the process whose parent it is
//! writes that file) and `REPLAY_RECORD_DIR` (that directory, where the other processes write
//! theirs; not set with `--no-follow`). The first raw file is read as the program writes it and
//! converted at once by [`crate::trace::recorded::to_csv_streaming`]: the conversion runs on
//! the other core while the program runs, and little is left to do when it exits. It is
//! converted again as a whole by [`crate::trace::recorded::to_csv`] when what was read cannot
//! stand for the recording: the program `exec`ed another (which starts a new file), or the
//! records cannot be put in order as they come (a damaged file). It is then removed
//! (`--keep-raw` keeps it).
//!
//! # Processes
//! Every process of the tree that loads the interposer records: children inherit `LD_PRELOAD`
//! and the other variables through `fork` + `exec` (and `posix_spawn`, `vfork`), so the
//! compiler proper (`cc1`) and the assembler (`as`) that `gcc` starts record as well as `gcc`.
//! Each process writes its own raw file, `PID-START.raw` (START: its start time in
//! `/proc/PID/stat`, so that a pid the kernel hands out again later gets another file), whose
//! third record names its program (see [`crate::trace::recorded::process_of`]). A process that
//! `exec`s another program starts its file anew, as the first process does: a process's trace
//! is that of its last program (`sh -c 'exec ./app'` gives app's). Once the first process has
//! exited, the others' files are converted whole into traces beside OUT, named by program and
//! pid before OUT's extension ([`trace_of_process`]: `-o t.csv` gives `t.csv` for the first
//! process and `t.cc1.4242.csv`, `t.as.4243.csv` for the others), and listed in the order they
//! started, with their events. A process still running then (a daemon the program left behind)
//! is converted as far as it got, and the listing says so. One that made no call has no trace.
//! With `-o -` only the first process's trace is written (standard output holds one trace); the
//! others are listed, with their events, as not written.
//!
//! A child forked without `exec` is not recorded: its heap starts as a copy of its parent's,
//! so its frees of blocks it inherited would be frees of blocks its trace never allocated, and
//! the trace would not replay strictly. Such a child leaves a mark (`PID-START.fork`), and the
//! listing counts the forked children that left no recording of their own (a fork without
//! `exec`, or an `exec` of a program that does not load the interposer).
//!
//! # Output
//! OUT's extension says the format, as for `replay convert`: `.csv` (or none) the native CSV,
//! `.csv.gz` (or `.gz`) the same gzip-compressed (on the writing thread), `.rtrace` the binary
//! format (the CSV is staged in the private directory, then converted as `replay convert` does;
//! it keeps no threads). Any other extension is refused before the program runs
//! ([`TraceFormat::of`]). `-o -` writes CSV to standard output, and the program's own standard
//! output (and its children's) goes to standard error instead, so that the trace is the only
//! thing on standard output.
//!
//! # Where the interposer comes from
//! `build.rs` builds the interposer and `replay` carries it inside ([`EMBEDDED`]), so that a
//! binary alone (`cargo install`) records. A `libreplay_interposer.so` next to the binary (or
//! one directory up, for a test binary in `deps/`), as `cargo build` leaves it, is used first.
//! Otherwise the carried copy is written once to the user's cache,
//! `$XDG_CACHE_HOME/replay/interposer-CRC-LEN/libreplay_interposer.so` (`~/.cache` without
//! `XDG_CACHE_HOME`), and used from there by every later run ([`cached_interposer`]): both
//! directories are created 0700 and must be real directories owned by the user and writable by
//! no one else; the library is opened without following symlinks and compared with the carried
//! bytes whole; a missing or differing copy is written to a new temporary file of an
//! unpredictable name in the same directory, synced and renamed over it. When the cache cannot
//! be used, a copy goes into a new private directory in `$TMPDIR` for the run, removed at the
//! end (processes still running then that `exec` a new program find no interposer to load).
//!
//! The CSV always parses strictly: problems (lost records, an ordering race between threads)
//! are repaired and counted, and the counts printed, with the cause of what is missing: the
//! program was killed by a signal, closed the recording's descriptor, or `exec`ed a program
//! that does not record (the interposer's status record says which, see its docs).
//!
//! # Exit status
//! Once the trace is written, `replay record` exits with the program's status, as `time` and
//! heaptrack do: its exit code, or 128 + the signal that killed it. When the trace cannot be
//! written whole, `replay record` fails with status 2 and a message that also says how the
//! program ended; a failed recording takes precedence over the program's status, since the
//! trace the caller asked for does not exist. That is: the program cannot be run, or cannot be
//! recorded (checked before it runs, from its file: setuid or setgid to another user, which
//! the loader's secure mode runs without `LD_PRELOAD`; statically linked; the other word
//! size), it left no recording, the interposer could not write the raw file (a full
//! filesystem, a file size limit: the error is named, with the file), or the CSV could not be
//! written. No trace is written then (and an existing one is left as it was). Another process
//! whose trace cannot be written (its raw file cut short by a write error, its destination not
//! writable) makes `replay record` exit 2 too, once the rest are written.

use crate::report::write::{self, Destination};
use crate::trace::recorded::{self, RecordingSummary, Streamed, STREAM_READ};
use crate::trace::TraceError;
use crate::Error;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

/// The interposer's file name, as cargo builds it.
pub const INTERPOSER: &str = "libreplay_interposer.so";

/// The interposer, built by `build.rs` and carried inside the binary (empty when the crate was
/// built without the interposer's sources).
const EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libreplay_interposer.so"));

/// The interposer to preload, and the temporary directory holding it when it could not be
/// cached (removed when dropped). See "Where the interposer comes from" in the module docs.
fn find_interposer() -> Result<(PathBuf, Option<crate::cleanup::TempDir>), Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot find replay's own binary: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for candidate in [dir.join(INTERPOSER), dir.join("..").join(INTERPOSER)] {
        if candidate.is_file() {
            return Ok((candidate, None));
        }
    }
    if EMBEDDED.is_empty() {
        return Err(Error::Usage(format!(
            "{INTERPOSER} is not next to {}, and this replay was built without it inside \
             (build the whole workspace: `cargo build --release` at the repository's root \
             builds it)",
            exe.display()
        )));
    }
    let cached = cache_home()
        .ok_or_else(|| io::Error::other("neither XDG_CACHE_HOME nor HOME is set"))
        .and_then(|home| cached_interposer(&home, EMBEDDED));
    match cached {
        Ok(path) => Ok((path, None)),
        Err(e) => {
            // A private copy for this run instead.
            let temp = crate::cleanup::temp_dir_in(&std::env::temp_dir(), "replay-", "", 0o700)
                .map_err(|source| Error::Output {
                    dest: std::env::temp_dir().display().to_string(),
                    source,
                })?;
            let path = temp.path().join(INTERPOSER);
            std::fs::write(&path, EMBEDDED)
                .map_err(|source| Error::Output { dest: path.display().to_string(), source })?;
            eprintln!(
                "replay: note: cannot keep the interposer in the cache ({e}); using a copy in {}",
                temp.path().display()
            );
            Ok((path, Some(temp)))
        }
    }
}

/// `$XDG_CACHE_HOME` when it is an absolute path, else `$HOME/.cache`.
fn cache_home() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    xdg.or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).filter(|p| p.is_absolute())?;
        Some(home.join(".cache"))
    })
}

/// The interposer `bytes` in the cache under `home`: `home/replay/interposer-CRC-LEN/`
/// [`INTERPOSER`], written there first when it is missing or differs. Both directories are
/// made private (0700) and must be directories (not symlinks) owned by this user and writable
/// by nobody else; the library is read back (not followed if a symlink) and compared with
/// `bytes` whole; a new copy is written to a temporary file of an unpredictable name in the same
/// directory, synced and renamed over the name.
fn cached_interposer(home: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(home)?;
    let replay = home.join("replay");
    private_dir(&replay)?;
    let version = replay.join(format!("interposer-{:08x}-{}", crc32fast::hash(bytes), bytes.len()));
    private_dir(&version)?;
    let path = version.join(INTERPOSER);
    if holds(&path, bytes)? {
        return Ok(path);
    }
    let (mut file, temp) =
        crate::cleanup::temp_file_in(&version, ".libreplay_interposer.", ".tmp", Some(0o644))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    temp.persist(&path)?;
    Ok(path)
}

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

/// Make `dir` (its parent exists) unless it exists, and check it is a private directory of ours:
/// not a symlink, owned by this user, writable by nobody else.
fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if !meta.file_type().is_dir() {
        Err(io::Error::other(format!("{} is not a directory (a symlink?)", dir.display())))
    } else if meta.uid() != euid || meta.mode() & 0o022 != 0 {
        Err(io::Error::other(format!(
            "{} is not private (owner uid {}, mode {:o})",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )))
    } else {
        Ok(())
    }
}

/// Whether the file at `path` is a regular file of ours, writable by nobody else, holding
/// exactly `bytes` (a symlink is not followed: it does not).
fn holds(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if !meta.is_file() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
        return Ok(false);
    }
    if meta.len() != bytes.len() as u64 {
        return Ok(false);
    }
    let mut held = Vec::with_capacity(bytes.len());
    file.read_to_end(&mut held)?;
    Ok(held == bytes)
}

/// The file the writing thread of a [`Pipe`] writes: as is, or gzip-compressed.
enum Encoded {
    Plain(write::AtomicFile),
    Gzip(GzEncoder<write::AtomicFile>),
}

impl Encoded {
    fn file(&mut self) -> io::Result<&mut write::AtomicFile> {
        Ok(match self {
            Encoded::Plain(file) => file,
            Encoded::Gzip(encoder) => encoder.get_mut(),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Encoded::Plain(file) => file.write_all(bytes),
            Encoded::Gzip(encoder) => encoder.write_all(bytes),
        }
    }
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
    /// A pipe into `file`, gzip-compressed on the writing thread when `gzip` is set.
    fn new(file: write::AtomicFile, gzip: bool) -> Pipe {
        let (full, batches) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (emptied, empty) = mpsc::channel();
        let writer = std::thread::spawn(move || {
            let mut file = if gzip {
                Encoded::Gzip(GzEncoder::new(file, flate2::Compression::default()))
            } else {
                Encoded::Plain(file)
            };
            let mut unsynced = 0;
            for mut batch in batches {
                file.write_all(&batch)?;
                // Syncing as it goes leaves little for the commit's sync, after the conversion.
                unsynced += batch.len();
                if unsynced >= SYNC_EVERY {
                    file.file()?.file()?.sync_data()?;
                    unsynced = 0;
                }
                batch.clear();
                let _ = emptied.send(batch);
            }
            let mut file = match file {
                Encoded::Plain(file) => file,
                Encoded::Gzip(encoder) => encoder.finish()?,
            };
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

/// What `replay record` writes, chosen by OUT's name (see [`TraceFormat::of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// The native CSV (`.csv`, or no extension).
    Csv,
    /// The native CSV, gzip-compressed (`.csv.gz`, `.gz`).
    CsvGz,
    /// The binary `.rtrace` format (it keeps no threads).
    Rtrace,
}

impl TraceFormat {
    /// The format OUT's name asks for, and the part of the name that says so (the suffix kept
    /// by the other processes' traces): `.csv`, `.csv.gz` or `.gz`, `.rtrace`, or none. An
    /// error naming what can be written for any other extension.
    pub fn of(path: &Path) -> Result<(TraceFormat, &'static str), String> {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        for (suffix, format) in [
            (".csv.gz", TraceFormat::CsvGz),
            (".csv", TraceFormat::Csv),
            (".rtrace", TraceFormat::Rtrace),
        ] {
            if name.len() > suffix.len() && name.ends_with(suffix) {
                return Ok((format, suffix));
            }
        }
        let extension = path.extension().map(|e| e.to_string_lossy());
        match extension.as_deref() {
            None => Ok((TraceFormat::Csv, "")),
            Some("gz") if name.ends_with(".rtrace.gz") => Err(format!(
                "cannot write {}: an .rtrace file is not compressed (write .rtrace, or .csv.gz)",
                path.display()
            )),
            Some("gz") => Ok((TraceFormat::CsvGz, ".gz")),
            Some(other) => Err(format!(
                "cannot write {}: replay record writes what OUT's extension says, and knows \
                 .csv (CSV), .csv.gz (gzip-compressed CSV) and .rtrace (binary), not .{other}",
                path.display()
            )),
        }
    }
}

/// Where a trace goes while it is converted.
enum Sink {
    /// A file (CSV or gzip-compressed CSV), written on another thread.
    File(Pipe),
    /// An `.rtrace`: the CSV is written to a staging file in the raw file's private directory,
    /// then converted (as `replay convert` does) into the destination.
    Staged {
        csv: io::BufWriter<File>,
        staged: PathBuf,
        _temp: crate::cleanup::TempFile,
        out: write::AtomicFile,
    },
    /// Standard output: written once the whole conversion succeeded.
    Stdout(Vec<u8>),
    /// Nowhere (a process's trace that `-o -` does not write): only counted.
    Nowhere(io::Sink),
}

/// A trace being written to its destination in its format.
struct Output {
    sink: Sink,
    dest: Destination,
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::File(pipe) => pipe.write(data),
            Sink::Staged { csv, .. } => csv.write(data),
            Sink::Stdout(bytes) => bytes.write(data),
            Sink::Nowhere(sink) => sink.write(data),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.sink {
            Sink::File(pipe) => pipe.write_all(data),
            Sink::Staged { csv, .. } => csv.write_all(data),
            Sink::Stdout(bytes) => bytes.write_all(data),
            Sink::Nowhere(sink) => sink.write_all(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Output {
    /// The empty output for `dest` in `format`; `staging` is the private directory an `.rtrace`'s
    /// CSV is staged in. The destination file's temporary file is created now, so that one that
    /// cannot be written is found before the program runs.
    fn new(dest: &Destination, format: TraceFormat, staging: &Path) -> io::Result<Output> {
        let sink = match dest {
            Destination::File(path) => match format {
                TraceFormat::Csv | TraceFormat::CsvGz => Sink::File(Pipe::new(
                    write::AtomicFile::create(path)?,
                    format == TraceFormat::CsvGz,
                )),
                TraceFormat::Rtrace => {
                    let out = write::AtomicFile::create(path)?;
                    let (file, temp) =
                        crate::cleanup::temp_file_in(staging, ".staged.", ".csv", Some(0o600))?;
                    Sink::Staged {
                        csv: io::BufWriter::with_capacity(1 << 20, file),
                        staged: temp.path().to_path_buf(),
                        _temp: temp,
                        out,
                    }
                }
            },
            Destination::Stdout => Sink::Stdout(Vec::new()),
        };
        Ok(Output { sink, dest: dest.clone() })
    }

    /// Nowhere: a trace only counted.
    fn nowhere() -> Output {
        Output { sink: Sink::Nowhere(io::sink()), dest: Destination::Stdout }
    }

    /// Convert the raw file `raw`, read as a whole.
    fn convert_whole(&mut self, raw: &Path) -> Result<RecordingSummary, TraceError> {
        let bytes = std::fs::read(raw)
            .map_err(|source| TraceError::Io { path: raw.to_path_buf(), source })?;
        let summary = recorded::to_csv(&bytes, raw, &mut *self);
        // Unmapping the raw bytes takes a while: done on the other core.
        std::thread::spawn(move || drop(bytes));
        summary
    }

    /// Write the trace to its destination: the file is committed (an `.rtrace` converted from
    /// its staged CSV first), standard output written.
    fn finish(self) -> Result<(), Error> {
        let dest = self.dest;
        let output_error = |source| Error::Output { dest: dest.to_string(), source };
        match self.sink {
            Sink::File(pipe) => {
                pipe.finish().and_then(write::AtomicFile::commit).map_err(output_error)
            }
            Sink::Staged { mut csv, staged, _temp, mut out } => {
                csv.flush().map_err(output_error)?;
                drop(csv);
                let options = crate::trace::ParseOptions::default();
                let file = out.file().map_err(output_error)?;
                crate::trace::rtrace::convert(
                    &staged,
                    crate::trace::Format::Csv,
                    options,
                    file,
                    None,
                )
                .map_err(|e| match e {
                    TraceError::Write { source } => output_error(source),
                    e => Error::from(e),
                })?;
                out.commit().map_err(output_error)
            }
            Sink::Stdout(csv) => write::write(&dest, &csv).map_err(output_error),
            Sink::Nowhere(_) => Ok(()),
        }
    }
}

/// What `replay record` runs and where its trace goes.
#[derive(Clone, Debug)]
pub struct RecordConfig {
    /// Where the trace goes (its format by its extension, see [`TraceFormat::of`]).
    pub output: Destination,
    /// Keep the interposer's raw recording next to the output (as OUT.raw).
    pub keep_raw: bool,
    /// Record every process of the tree that loads the interposer, not only the first.
    pub follow: bool,
    /// The program to run and its arguments.
    pub command: Vec<std::ffi::OsString>,
}

/// Run the program under the interposer and write its trace, and those of the other processes
/// of its tree (see "Processes" in the module docs): the status to exit with, the program's own
/// ([`exit_code`]), once the traces are written. An error (exit status 2) when the first
/// process's trace cannot be written whole: the program cannot be run or recorded (checked
/// before it runs: see [`check_loadable`]), the interposer could not write its raw file (a full
/// filesystem, a file size limit: the raw file's status record names the error), or the trace
/// cannot be written; and, once the others are written, when another process's trace could not
/// be. The program's own status is then in the message, not in the exit status.
pub fn record(config: &RecordConfig) -> Result<u8, Error> {
    let dest = config.output.clone();
    let (format, suffix) = match &dest {
        Destination::File(path) => TraceFormat::of(path).map_err(Error::Usage)?,
        Destination::Stdout => (TraceFormat::Csv, ".csv"),
    };
    let Some((program, rest)) = config.command.split_first() else {
        return Err(Error::Usage("no command to record (replay record -o OUT -- CMD ...)".into()));
    };
    let (interposer, _interposer_copy) = find_interposer()?;
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
    let shown = Path::new(program).display();
    if let Some(path) = find_program(Path::new(program)) {
        check_loadable(&path, 0)
            .map_err(|why| Error::Usage(format!("cannot record {shown}: {why}")))?;
    }
    let mut preload = interposer.into_os_string();
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|p| !p.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    // The interposer opens the file again by this name if the program closes its descriptor
    // (see its status record), maybe after a `chdir`: an absolute path. So is the directory
    // the other processes of the tree write theirs in.
    let raw_env = std::path::absolute(&raw).unwrap_or_else(|_| raw.clone());
    let dir_env = std::path::absolute(raw_dir.path()).unwrap_or_else(|_| raw_dir.path().into());
    // A file gets the trace as it is converted (its temporary file is renamed over it only on
    // success); standard output gets it once the whole conversion succeeded.
    let output_error = |source| Error::Output { dest: dest.to_string(), source };
    let mut out = Output::new(&dest, format, raw_dir.path()).map_err(output_error)?;
    let mut command = Command::new(program);
    command
        .args(rest)
        .env("LD_PRELOAD", &preload)
        .env("REPLAY_RECORD_FILE", &raw_env)
        .env("REPLAY_RECORD_PARENT", std::process::id().to_string());
    if config.follow {
        command.env("REPLAY_RECORD_DIR", &dir_env);
    } else {
        command.env_remove("REPLAY_RECORD_DIR");
    }
    if matches!(dest, Destination::Stdout) {
        // Standard output is the trace's: the program's output goes to standard error.
        use std::os::fd::AsFd;
        let stderr = io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| Error::Output { dest: "standard error".into(), source })?;
        command.stdout(stderr);
    }
    let (child, _child_note) = crate::cleanup::spawn_child(&mut command)
        .map_err(|e| Error::Usage(format!("cannot run {shown}: {e}")))?;
    let pid = child.id();
    let no_recording = |e: io::Error, status: Option<&ExitStatus>| {
        let ended = status.map_or(String::new(), |s| format!("; it {}", describe(s)));
        Error::Usage(format!(
            "{shown} left no recording in {} ({e}): the interposer was not loaded into it \
             (LD_PRELOAD is ignored by statically linked programs and by programs run setuid, \
             setgid or with file capabilities, and a wrapper may clear it){ended}",
            raw.display()
        ))
    };
    let mut tail = match Tail::open(child, &raw) {
        Ok(tail) => tail,
        Err((status, e)) => return Err(no_recording(e, status.ok().as_ref())),
    };
    let read_error = |source| TraceError::Io { path: raw.clone(), source };
    let streamed =
        recorded::to_csv_streaming(&raw, &mut out, |bytes| tail.more(bytes).map_err(read_error));
    let status = tail.wait();
    // Why recording stopped early, if it did: read once the program has exited, from the file
    // now at the path (a program that `exec`ed one that records started another).
    let stopped = Stop::read(&raw);
    let first = process_head(&raw).0.unwrap_or_else(|| program_name(Path::new(program)));
    let converted = match &stopped {
        // The raw file is cut short: no trace is better than one that looks whole.
        Ok(Some(Stop::WriteFailed { error, calls })) => Err(Error::Usage(format!(
            "cannot record {shown}: writing {} failed after {calls} calls: {error} (the \
             interposer stopped recording there); no trace written{}",
            raw.display(),
            status.as_ref().map_or(String::new(), |s| format!("; {shown} {}", describe(s)))
        ))),
        Ok(_) => match streamed {
            // What was read may not be the recording: the program `exec`ed another, which
            // started a new file.
            Ok(Streamed::Converted(summary)) if tail.whole(&raw) => Ok((summary, out)),
            Err(e) if tail.whole(&raw) => Err(e),
            // Start over with the whole file (see `to_csv_streaming`).
            _ => {
                drop(out);
                (|| {
                    let mut out = Output::new(&dest, format, raw_dir.path())
                        .map_err(|source| TraceError::Write { source })?;
                    Ok((out.convert_whole(&raw)?, out))
                })()
            }
        }
        .map_err(|e| match e {
            // The CSV could not be written: name its destination.
            TraceError::Write { source } => output_error(source),
            // The recording is unusable: how the program ended may say why (killed before
            // any record was written).
            e => match status.as_ref() {
                Ok(status) if !status.success() => {
                    Error::Usage(format!("{e}; {shown} {}", describe(status)))
                }
                _ => Error::from(e),
            },
        }),
        Err(e) => Err(Error::Usage(format!("cannot read the recording {}: {e}", raw.display()))),
    };
    // Removing a large file takes a while (its pages are freed when the last descriptor
    // closes, here): done on the other core, beside the commit.
    let read = tail.file;
    if config.keep_raw {
        if let Err(e) = std::fs::rename(&raw, &kept_raw) {
            eprintln!("replay: warning: cannot keep the raw file as {}: {e}", kept_raw.display());
        }
    }
    let removal = std::thread::spawn(move || drop(read));
    let committed = converted.and_then(|(summary, out)| {
        let status = status.map_err(|e| Error::Usage(format!("cannot wait for {shown}: {e}")))?;
        out.finish()?;
        Ok((summary, status))
    });
    let _ = removal.join();
    let (summary, status) = committed?;
    let stopped = stopped.ok().flatten();
    eprintln!("{}", note(&summary, stopped, &status, &dest, &shown.to_string()));
    // The other processes of the tree, once the first has exited.
    let others = if config.follow {
        others(raw_dir.path(), &dest, format, suffix, config.keep_raw)
    } else {
        Others::default()
    };
    let failed = others.list(&first, pid, summary.import.events, &dest);
    drop(raw_dir);
    match failed {
        Some(message) => Err(Error::Usage(message)),
        None => Ok(exit_code(&status)),
    }
}

/// What `replay record` prints once the trace is written: what it holds, what was repaired,
/// what is missing and why, and how the program ended.
fn note(
    summary: &RecordingSummary,
    stopped: Option<Stop>,
    status: &ExitStatus,
    dest: &Destination,
    program: &str,
) -> String {
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
    use std::os::unix::process::ExitStatusExt;
    // Whether how the program ended is said already.
    let mut told = false;
    match stopped {
        Some(Stop::FileClosed { calls }) => note.push_str(&format!(
            "; the program closed the recording's file descriptor after {calls} calls (as \
             daemons close every descriptor they did not open): the calls from then on are not \
             in the trace"
        )),
        Some(Stop::ExecWithoutPreload { calls }) => note.push_str(&format!(
            "; after {calls} calls the program exec'd another with LD_PRELOAD (or \
             REPLAY_RECORD_FILE, REPLAY_RECORD_PARENT) removed from its environment, which is \
             not recorded: the trace ends at the exec"
        )),
        Some(Stop::Exec { calls }) => note.push_str(&format!(
            "; after {calls} calls the program exec'd another that did not load the interposer \
             (statically linked, setuid or setgid?): the trace ends at the exec"
        )),
        Some(Stop::WriteFailed { .. }) | None if summary.complete => {}
        Some(Stop::WriteFailed { .. }) | None => match status.signal() {
            Some(_) => {
                note.push_str(&format!(
                    "; {program} {}: the calls still in the interposer's buffers are not in the \
                     trace",
                    describe(status)
                ));
                told = true;
            }
            None => note.push_str(
                "; the program ended without the interposer's final flush (it left through a \
                 raw exit system call, or an exec the interposer does not see): the end of the \
                 trace may be missing",
            ),
        },
    }
    for (kind, n) in &import.skipped {
        note.push_str(&format!("; repaired {n} {} events", kind.name()));
    }
    if !status.success() && !told {
        note.push_str(&format!("; {program} {}", describe(status)));
    }
    note
}

/// The program name and start time in the head of the raw file at `raw` (see
/// [`recorded::process_of`]).
fn process_head(raw: &Path) -> (Option<String>, Option<u64>) {
    let mut head = Vec::new();
    match File::open(raw).and_then(|f| f.take(8 + 3 * 48).read_to_end(&mut head)) {
        Ok(_) => recorded::process_of(&head),
        Err(_) => (None, None),
    }
}

/// A program's name as a process of it is named: its file name (at most 15 bytes, as the
/// kernel keeps it).
fn program_name(program: &Path) -> String {
    let name = program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.chars().take(15).collect()
}

/// The trace of process `pid` of program `name` beside `path` (whose name ends in `suffix`,
/// its format's): `t.csv` gives `t.NAME.PID.csv`, `t.csv.gz` gives `t.NAME.PID.csv.gz`. The
/// name keeps letters, digits and `._+-`; anything else becomes `_`.
pub fn trace_of_process(path: &Path, suffix: &str, name: &str, pid: u32) -> PathBuf {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = file.strip_suffix(suffix).unwrap_or(&file);
    let mut clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._+-".contains(c) { c } else { '_' })
        .collect();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        clean = "process".into();
    }
    path.with_file_name(format!("{stem}.{clean}.{pid}{suffix}"))
}

/// One process of the tree other than the first, as its raw file tells.
struct Process {
    pid: u32,
    name: String,
    /// When it started recording (`CLOCK_MONOTONIC`): the listing's order.
    started: u64,
    /// Where its trace goes; none for `-o -`, which writes the first process's alone.
    dest: Option<PathBuf>,
    /// What its trace holds (none: it made no calls, and has no trace), or why it could not be
    /// written.
    outcome: Result<Option<RecordingSummary>, String>,
    stopped: Option<Stop>,
    /// It had not finished when the first process exited: its trace stops there.
    running: bool,
}

/// The other processes of the tree.
#[derive(Default)]
struct Others {
    processes: Vec<Process>,
    /// Children forked by a recorded process that made no recording of their own.
    unrecorded_forks: u64,
}

/// The name of a file the interposer writes for a process of the tree (`PID-START.raw`, or the
/// mark `PID-START.fork`): (pid, start, whether a mark).
fn process_file(name: &str) -> Option<(u32, u64, bool)> {
    let (base, mark) = match name.strip_suffix(".raw") {
        Some(base) => (base, false),
        None => (name.strip_suffix(".fork")?, true),
    };
    let (pid, start) = base.split_once('-')?;
    Some((pid.parse().ok()?, start.parse().ok()?, mark))
}

/// Whether process `pid`, started at `start` (clock ticks since boot), is still running.
fn is_running(pid: u32, start: u64) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    let fields: Vec<&[u8]> =
        stat[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty()).collect();
    let state = fields.first().and_then(|f| f.first()).copied();
    let started = fields.get(19).and_then(|f| std::str::from_utf8(f).ok()?.parse::<u64>().ok());
    started == Some(start) && !matches!(state, Some(b'Z' | b'X'))
}

/// Convert the raw files the other processes of the tree left in `dir` (see "Processes" in the
/// module docs) into traces beside `dest` (whose name ends in `suffix`), in `format`.
fn others(
    dir: &Path,
    dest: &Destination,
    format: TraceFormat,
    suffix: &str,
    keep_raw: bool,
) -> Others {
    let mut raws = Vec::new();
    let mut marks = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        match process_file(&name.to_string_lossy()) {
            Some((pid, start, true)) => drop(marks.insert((pid, start))),
            Some((pid, start, false)) => raws.push((pid, start, entry.path())),
            None => {}
        }
    }
    let mut others = Others::default();
    for &(pid, start, _) in &raws {
        marks.remove(&(pid, start));
    }
    others.unrecorded_forks = marks.len() as u64;
    for (pid, start, raw) in raws {
        let bytes = match std::fs::read(&raw) {
            Ok(bytes) => bytes,
            Err(e) => {
                others.processes.push(Process {
                    pid,
                    name: "?".into(),
                    started: u64::MAX,
                    dest: None,
                    outcome: Err(format!("cannot read its recording {}: {e}", raw.display())),
                    stopped: None,
                    running: false,
                });
                continue;
            }
        };
        let (name, started) = recorded::process_of(&bytes);
        let name = name.unwrap_or_else(|| "process".into());
        let calls = recorded::records(&bytes, &raw).map_or(0, |order| order.count);
        let stopped = Stop::read(&raw).ok().flatten();
        let running = is_running(pid, start);
        let trace = match dest {
            Destination::File(path) => Some(trace_of_process(path, suffix, &name, pid)),
            Destination::Stdout => None,
        };
        let outcome = match &stopped {
            Some(Stop::WriteFailed { error, calls }) => Err(format!(
                "writing {} failed after {calls} calls: {error} (the interposer stopped \
                 recording there); no trace written",
                raw.display()
            )),
            _ if calls == 0 => Ok(None),
            _ => (|| {
                let mut out = match &trace {
                    Some(path) => Output::new(&Destination::File(path.clone()), format, dir)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                    None => Output::nowhere(),
                };
                let summary =
                    recorded::to_csv(&bytes, &raw, &mut out).map_err(|e| e.to_string())?;
                out.finish().map_err(|e| e.to_string())?;
                Ok(Some(summary))
            })(),
        };
        if let (true, Some(path)) = (keep_raw, &trace) {
            let mut kept = path.clone().into_os_string();
            kept.push(".raw");
            if let Err(e) = std::fs::rename(&raw, &kept) {
                eprintln!("replay: warning: cannot keep the raw file as {kept:?}: {e}");
            }
        }
        others.processes.push(Process {
            pid,
            name,
            started: started.unwrap_or(u64::MAX),
            dest: trace,
            outcome,
            stopped,
            running,
        });
    }
    others.processes.sort_by_key(|p| (p.started, p.pid));
    others
}

impl Others {
    /// Print the list of every process recorded (the first, `first` of pid `pid`, wrote
    /// `events` events to `dest`): the message of the traces that could not be written, if any.
    fn list(&self, first: &str, pid: u32, events: u64, dest: &Destination) -> Option<String> {
        if self.processes.is_empty() && self.unrecorded_forks == 0 {
            return None;
        }
        let mut text = format!(
            "replay: {} processes recorded, one trace each (--no-follow records the first \
             alone):\n  {first} (pid {pid}): {events} events into {dest}",
            self.processes.len() + 1
        );
        let mut failed = Vec::new();
        for p in &self.processes {
            let into = p.dest.as_ref().map(|path| path.display().to_string());
            text.push_str(&format!("\n  {} (pid {}): ", p.name, p.pid));
            match (&p.outcome, into) {
                (Ok(Some(summary)), Some(into)) => {
                    text.push_str(&format!("{} events into {into}", summary.import.events));
                }
                (Ok(Some(summary)), None) => text.push_str(&format!(
                    "{} events, not written (-o - writes the first process's trace alone: \
                     give -o FILE to have every process's)",
                    summary.import.events
                )),
                (Ok(None), _) => text.push_str("no calls, no trace"),
                (Err(why), _) => {
                    text.push_str(why);
                    failed.push(format!("the trace of {} (pid {}): {why}", p.name, p.pid));
                }
            }
            if let Ok(Some(summary)) = &p.outcome {
                text.push_str(&process_note(summary, p.stopped.as_ref(), p.running, first));
            }
        }
        if self.unrecorded_forks > 0 {
            text.push_str(&format!(
                "\n  and {} forked process{} that recorded nothing of {} own: a fork that does \
                 not exec is not recorded (its heap starts as a copy of its parent's), nor one \
                 that execs a program that does not load the interposer",
                self.unrecorded_forks,
                if self.unrecorded_forks == 1 { "" } else { "es" },
                if self.unrecorded_forks == 1 { "its" } else { "their" },
            ));
        }
        eprintln!("{text}");
        (!failed.is_empty()).then(|| format!("cannot record {}", failed.join("; ")))
    }
}

/// What a listed process's trace lacks or had repaired.
fn process_note(
    summary: &RecordingSummary,
    stopped: Option<&Stop>,
    running: bool,
    first: &str,
) -> String {
    let mut note = String::new();
    if summary.import.failed > 0 {
        note.push_str(&format!("; left out {} allocations that failed", summary.import.failed));
    }
    if summary.lost > 0 {
        note.push_str(&format!("; lost {} calls", summary.lost));
    }
    match stopped {
        Some(Stop::FileClosed { calls }) => note
            .push_str(&format!("; it closed the recording's file descriptor after {calls} calls")),
        Some(Stop::ExecWithoutPreload { calls }) => note.push_str(&format!(
            "; after {calls} calls it exec'd a program with LD_PRELOAD removed: the trace ends \
             at the exec"
        )),
        Some(Stop::Exec { calls }) => note.push_str(&format!(
            "; after {calls} calls it exec'd a program that did not load the interposer: the \
             trace ends at the exec"
        )),
        _ if running => {
            note.push_str(&format!("; still running when {first} exited: the trace stops there"))
        }
        _ if !summary.complete => note.push_str(
            "; it ended without the interposer's final flush (killed?): the end of the trace \
             may be missing",
        ),
        _ => {}
    }
    for (kind, n) in &summary.import.skipped {
        note.push_str(&format!("; repaired {n} {} events", kind.name()));
    }
    note
}

/// Why the interposer stopped recording before the program's end, from the raw file's status
/// record (see the interposer's `OP_STATUS`); `calls` is how many it had numbered by then.
#[derive(Debug)]
enum Stop {
    WriteFailed { error: io::Error, calls: u64 },
    FileClosed { calls: u64 },
    ExecWithoutPreload { calls: u64 },
    Exec { calls: u64 },
}

/// Where the status record is, and its op code.
const STATUS_AT: u64 = 8;
const OP_STATUS: u32 = 7;

impl Stop {
    /// The cause in the status record of the raw file at `raw`: none when it is still the one
    /// written at the start (or the file has none).
    fn read(raw: &Path) -> io::Result<Option<Stop>> {
        use std::os::unix::fs::FileExt;
        let file = match File::open(raw) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut record = [0u8; 48];
        if file.read_at(&mut record, STATUS_AT)? < record.len() {
            return Ok(None);
        }
        let word = |at: usize| u64::from_le_bytes(record[at..at + 8].try_into().unwrap_or([0; 8]));
        let op = u32::from_le_bytes(record[44..48].try_into().unwrap_or([0; 4]));
        if op != OP_STATUS {
            return Ok(None);
        }
        let calls = word(0);
        Ok(match word(16) {
            1 => Some(Stop::WriteFailed {
                error: io::Error::from_raw_os_error(i32::try_from(word(24)).unwrap_or(0)),
                calls,
            }),
            2 => Some(Stop::FileClosed { calls }),
            3 => Some(Stop::ExecWithoutPreload { calls }),
            4 => Some(Stop::Exec { calls }),
            _ => None,
        })
    }
}

/// The status `replay record` exits with for the program's: its exit code, or 128 + the signal
/// that killed it (as shells, `time` and heaptrack report it).
pub fn exit_code(status: &ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        (None, None) => u8::MAX,
    }
}

/// How the program ended, in words: "exited with status 7", "was killed by signal 11
/// (SIGSEGV, core dumped)".
fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!(
            "was killed by signal {signal} ({}{})",
            signal_name(signal),
            if status.core_dumped() { ", core dumped" } else { "" }
        ),
        (None, None) => format!("ended with {status}"),
    }
}

/// Linux's name for signal `number`.
fn signal_name(number: i32) -> String {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(number)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| NAMES.get(n))
        .map_or_else(|| format!("SIG{number}"), |name| (*name).to_string())
}

/// The file `Command` runs for `program`: the path itself when it has a `/`, else the first
/// executable file of that name in `PATH`. None when there is none (running it then fails with
/// its own message).
fn find_program(program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| {
        std::fs::metadata(candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Whether the loader will load the interposer into the program at `path` (`depth`: scripts
/// followed to their interpreter so far): an error saying why not for a program run setuid or
/// setgid to another user (the loader's secure mode ignores `LD_PRELOAD`), a statically linked
/// one (no program interpreter: no loader at all) or one of the other word size. Files this
/// cannot read or does not know are let through: running them says the rest.
fn check_loadable(path: &Path, depth: u32) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let mode = meta.mode();
    // The process's effective ids own its /proc directory.
    let (euid, egid) =
        std::fs::metadata("/proc/self").map_or((u32::MAX, u32::MAX), |m| (m.uid(), m.gid()));
    let mut head = Vec::new();
    if File::open(path).and_then(|f| f.take(1 << 16).read_to_end(&mut head)).is_err() {
        return Ok(());
    }
    if let Some(line) = head.strip_prefix(b"#!") {
        // A script runs its interpreter (the kernel ignores a script's own setuid bit).
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        let interpreter = line
            .split(|b| b.is_ascii_whitespace())
            .find(|word| !word.is_empty())
            .map(|word| PathBuf::from(std::ffi::OsStr::from_bytes(word)));
        return match interpreter {
            Some(interpreter) if depth < 4 => check_loadable(&interpreter, depth + 1)
                .map_err(|why| format!("its interpreter {}: {why}", interpreter.display())),
            _ => Ok(()),
        };
    }
    if mode & 0o4000 != 0 && meta.uid() != euid {
        return Err(format!(
            "it is setuid (mode {:o}, owned by uid {}, and replay runs as uid {euid}): the \
             loader runs it in secure mode, which ignores LD_PRELOAD, so the interposer cannot \
             be loaded into it (record a copy without the setuid bit, or run replay as its owner)",
            mode & 0o7777,
            meta.uid()
        ));
    }
    // Set-group-id without group execute is mandatory locking, not setgid.
    if mode & 0o2010 == 0o2010 && meta.gid() != egid {
        return Err(format!(
            "it is setgid (mode {:o}, group gid {}, and replay runs as gid {egid}): the loader \
             runs it in secure mode, which ignores LD_PRELOAD, so the interposer cannot be \
             loaded into it (record a copy without the setgid bit)",
            mode & 0o7777,
            meta.gid()
        ));
    }
    // The loader itself (`ld.so PROGRAM`) has no interpreter, but reads LD_PRELOAD.
    let loader = path.file_name().is_some_and(|name| {
        let name = name.as_encoded_bytes();
        name.starts_with(b"ld-") || name.starts_with(b"ld.so")
    });
    match elf_interpreter(&head) {
        Some(Elf::Static) if !loader => {
            Err("it is statically linked (its ELF headers name no program interpreter): no loader \
             runs, so nothing reads LD_PRELOAD and the interposer cannot be loaded into it"
                .into())
        }
        Some(Elf::OtherClass) => Err(format!(
            "it is a {}-bit program and the interposer a {}-bit library: the loader cannot load \
             it into the program",
            if usize::BITS == 64 { 32 } else { 64 },
            usize::BITS
        )),
        Some(Elf::Static | Elf::Dynamic) | None => Ok(()),
    }
}

/// What an ELF file's program headers say about its loading.
#[derive(Debug, PartialEq, Eq)]
enum Elf {
    /// It names a program interpreter (`PT_INTERP`): the loader runs, and reads `LD_PRELOAD`.
    Dynamic,
    /// No program interpreter: statically linked (static-pie included).
    Static,
    /// 32-bit where replay is 64-bit, or the other way round.
    OtherClass,
}

/// What the ELF file starting with `head` is; None when it is not ELF or its program headers
/// are not all in `head`.
fn elf_interpreter(head: &[u8]) -> Option<Elf> {
    const PT_INTERP: u32 = 3;
    if head.len() < 64 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let big = match head[5] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let int = |at: usize, len: usize| -> Option<u64> {
        let bytes = head.get(at..at.checked_add(len)?)?;
        let mut word = [0u8; 8];
        if big {
            word[8 - len..].copy_from_slice(bytes);
            Some(u64::from_be_bytes(word))
        } else {
            word[..len].copy_from_slice(bytes);
            Some(u64::from_le_bytes(word))
        }
    };
    let wide = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    if wide != (usize::BITS == 64) {
        return Some(Elf::OtherClass);
    }
    let (phoff, phentsize, phnum) = if wide {
        (int(0x20, 8)?, int(0x36, 2)?, int(0x38, 2)?)
    } else {
        (int(0x1c, 4)?, int(0x2a, 2)?, int(0x2c, 2)?)
    };
    for i in 0..phnum {
        let at = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        if int(at, 4)? == u64::from(PT_INTERP) {
            return Some(Elf::Dynamic);
        }
    }
    Some(Elf::Static)
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
        let mut pipe = Pipe::new(write::AtomicFile::create(&path).unwrap(), false);
        let summary = recorded::to_csv(&bytes, Path::new("t.raw"), &mut pipe).unwrap();
        pipe.finish().unwrap().commit().unwrap();
        assert_eq!(summary, expected);
        assert_eq!(summary.threads, 3);
        assert_eq!(std::fs::read(&path).unwrap(), sequential);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_exit_status_is_the_programs_code_or_128_plus_its_signal() {
        use std::os::unix::process::ExitStatusExt;
        // wait(2) statuses: code << 8 when it exited, the signal (| 0x80 for a core) when not.
        assert_eq!(exit_code(&ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(&ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(&ExitStatus::from_raw(255 << 8)), 255);
        assert_eq!(exit_code(&ExitStatus::from_raw(9)), 137);
        let segv = ExitStatus::from_raw(11 | 0x80);
        assert_eq!(exit_code(&segv), 139);
        assert_eq!(describe(&segv), "was killed by signal 11 (SIGSEGV, core dumped)");
        assert_eq!(describe(&ExitStatus::from_raw(7 << 8)), "exited with status 7");
        assert_eq!(signal_name(64), "SIG64");
    }

    /// An ELF header with `phnum` program headers of the given types, 64- or 32-bit.
    fn elf(wide: bool, types: &[u32]) -> Vec<u8> {
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(b"\x7fELF");
        head[4] = if wide { 2 } else { 1 };
        head[5] = 1;
        let (phoff, entsize) = if wide { (64u64, 56u16) } else { (52, 32) };
        if wide {
            head[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
            head[0x36..0x38].copy_from_slice(&entsize.to_le_bytes());
            head[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        } else {
            head[0x1c..0x20].copy_from_slice(&(phoff as u32).to_le_bytes());
            head[0x2a..0x2c].copy_from_slice(&entsize.to_le_bytes());
            head[0x2c..0x2e].copy_from_slice(&(types.len() as u16).to_le_bytes());
        }
        head.resize(phoff as usize, 0);
        for &t in types {
            let mut entry = vec![0u8; usize::from(entsize)];
            entry[..4].copy_from_slice(&t.to_le_bytes());
            head.extend(entry);
        }
        head
    }

    #[test]
    fn an_elf_file_is_dynamic_when_it_names_a_program_interpreter() {
        assert_eq!(elf_interpreter(&elf(true, &[6, 3, 1])), Some(Elf::Dynamic));
        assert_eq!(elf_interpreter(&elf(true, &[1, 1, 2])), Some(Elf::Static));
        assert_eq!(elf_interpreter(&elf(false, &[3])), Some(Elf::OtherClass));
        // Program headers past what was read, or a huge count: not known.
        let mut cut = elf(true, &[1, 3]);
        cut.truncate(64 + 56 + 2);
        assert_eq!(elf_interpreter(&cut), None);
        let mut huge = elf(true, &[1]);
        huge[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_interpreter(&huge), None);
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
        let sh = std::fs::read("/bin/sh").unwrap();
        assert_eq!(elf_interpreter(&sh), Some(Elf::Dynamic));
    }

    #[test]
    fn the_output_format_is_the_one_its_extension_names_and_others_are_refused() {
        let of = |name: &str| TraceFormat::of(Path::new(name));
        assert_eq!(of("t.csv"), Ok((TraceFormat::Csv, ".csv")));
        assert_eq!(of("dir.d/t"), Ok((TraceFormat::Csv, "")));
        assert_eq!(of("t.csv.gz"), Ok((TraceFormat::CsvGz, ".csv.gz")));
        assert_eq!(of("t.gz"), Ok((TraceFormat::CsvGz, ".gz")));
        assert_eq!(of("t.rtrace"), Ok((TraceFormat::Rtrace, ".rtrace")));
        for refused in ["t.zst", "t.rtrace.gz", "t.json", "t.mtrace", "t.csv.xz"] {
            let message = of(refused).unwrap_err();
            assert!(message.starts_with(&format!("cannot write {refused}: ")), "{message}");
        }
    }

    #[test]
    fn another_processs_trace_is_named_by_its_program_and_pid_before_the_extension() {
        let at = |name: &str, suffix: &str, program: &str| {
            trace_of_process(Path::new(name), suffix, program, 42).display().to_string()
        };
        assert_eq!(at("out/t.csv", ".csv", "cc1"), "out/t.cc1.42.csv");
        assert_eq!(at("t.csv.gz", ".csv.gz", "as"), "t.as.42.csv.gz");
        assert_eq!(at("t.rtrace", ".rtrace", "ld"), "t.ld.42.rtrace");
        assert_eq!(at("trace", "", "cc1plus"), "trace.cc1plus.42");
        // A name (up to 15 bytes of anything) cannot leave the directory or hide the file.
        assert_eq!(at("t.csv", ".csv", "a/b c"), "t.a_b_c.42.csv");
        assert_eq!(at("t.csv", ".csv", ".."), "t.process.42.csv");
        assert_eq!(at("t.csv", ".csv", ""), "t.process.42.csv");
        assert_eq!(program_name(Path::new("/usr/bin/a-very-long-program-name")), "a-very-long-pro");
    }

    #[test]
    fn a_process_file_name_gives_its_pid_and_start_time() {
        assert_eq!(process_file("123-4567.raw"), Some((123, 4567, false)));
        assert_eq!(process_file("123-4567.fork"), Some((123, 4567, true)));
        for other in ["recording.raw", "123.raw", "x-1.raw", "1-2.csv", ".staged.abc.csv"] {
            assert_eq!(process_file(other), None, "{other}");
        }
        // This process runs, started when /proc says; not at another time.
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let start: u64 = after.split(' ').nth(19).unwrap().parse().unwrap();
        assert!(is_running(std::process::id(), start));
        assert!(!is_running(std::process::id(), start + 1));
    }

    #[test]
    fn the_cache_refuses_a_directory_others_can_write_or_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("cache");
        let path = cached_interposer(&home, b"library bytes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"library bytes");
        assert!(path.ends_with(INTERPOSER));
        // Found again as it is; another version goes beside it.
        assert_eq!(cached_interposer(&home, b"library bytes").unwrap(), path);
        assert_ne!(cached_interposer(&home, b"other bytes").unwrap(), path);
        std::fs::set_permissions(home.join("replay"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        let e = cached_interposer(&home, b"library bytes").unwrap_err();
        assert!(e.to_string().contains("is not private"), "{e}");
        let linked = dir.path().join("linked");
        std::fs::create_dir(&linked).unwrap();
        std::os::unix::fs::symlink(home.join("replay"), linked.join("replay")).unwrap();
        let e = cached_interposer(&linked, b"library bytes").unwrap_err();
        assert!(e.to_string().contains("is not a directory (a symlink?)"), "{e}");
    }

    #[test]
    fn an_unfinished_threaded_writer_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut pipe = Pipe::new(write::AtomicFile::create(&path).unwrap(), false);
        pipe.write_all(&vec![b'x'; 3 * BATCH]).unwrap();
        drop(pipe);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
