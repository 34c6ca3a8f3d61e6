//! The child process that replays a trace through one real allocator, and the parent's side of
//! the protocol ([`spawn`]).
//!
//! # Protocol
//! [`spawn`] runs `EXE __real-child` (with `LD_PRELOAD=PATH` for `preload:PATH`, and without any
//! inherited `LD_PRELOAD` otherwise), writes the [`ChildRequest`] as JSON on its standard input
//! and reads one [`ChildOutput`] as JSON on its standard output. Standard error is the
//! allocator's and the child's own (kept, and its tail quoted when the child fails). Any abnormal
//! end (a signal, a non-zero exit status, something on standard output that is not the report)
//! is a [`ChildFailure`] naming the allocator, the signal or status and the tail of standard
//! error: never a panic of the parent. Each call is one fresh process, so heaps and resident
//! memory never mix between allocators or runs.
//!
//! # Two stages, one process
//! Reading a trace allocates a lot (the CSV parser's map of live pointers, the growing event
//! vector) through the Rust global allocator, which in the child of `glibc` and `preload:` is
//! the measured allocator: its heap would start the replay full of freed chunks, and glibc's
//! dynamic mmap threshold would be raised by the large frees. So the child works in two stages:
//! 1. `__real-child`: reads the request, loads the trace with the crate's loaders (any format
//!    `replay` reads), writes the request and the events (16 bytes each) into an anonymous
//!    `memfd`, and `exec`s itself as `__real-child --run FD`;
//! 2. `__real-child --run FD`: a fresh process image (same pid, same pipes, a pristine heap)
//!    that maps the memfd (prefaulted, outside every heap), makes the allocator's backend,
//!    replays ([`super::measure::replay`]) and prints the report.
//!
//! A run of `replay` with real allocators does stage 1 once, in the parent ([`EventsImage`]:
//! the same loader and layout, without the request), and starts every child at stage 2 on that
//! memfd ([`spawn_on`]), the request then coming on standard input: the trace is parsed once,
//! not once per child. [`spawn`] and [`spawn_with_timeout`] still run both stages in the child.
//!
//! In stage 2 standard output is moved aside before the allocator is first called (fd 1 then
//! points at standard error), so that a library printing on standard output cannot corrupt the
//! report; the report is written to the saved descriptor.

use super::allocator::{AllocatorStats, RealAllocator};
use super::glibc::Glibc;
use super::jemalloc::Jemalloc;
use super::measure::{self, Measured, Options};
use super::mimalloc::Mimalloc;
use super::preload::Preload;
use super::registry::RealSpec;
use super::threads;
use crate::trace::{Event, Format, Op, ParseOptions};
use std::ffi::c_void;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The first argument that makes `replay` the child (an internal protocol, not a command).
pub const CHILD_ARG: &str = "__real-child";

/// What the parent asks one child to do.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChildRequest {
    /// The trace file, as `replay` reads it (any format; `.gz`/`.zst` transparently).
    pub trace: PathBuf,
    /// Its format's name (`csv`, `mtrace`, `heaptrack`, `rep`, `rtrace`); an `.rtrace` file is
    /// recognised whatever this says.
    pub format: String,
    /// `--lenient` parsing.
    pub lenient: bool,
    /// The allocator, as `--alloc` names it (`glibc`, `preload:/path/lib.so`).
    pub allocator: String,
    pub options: Options,
}

/// What one child measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChildReport {
    /// The allocator's name in reports.
    pub allocator: String,
    /// Its version, as it tells it.
    pub version: String,
    /// The child's process id (each run is a different process).
    pub pid: u32,
    /// Events and block ids of the trace the child loaded.
    pub trace_events: u64,
    pub trace_blocks: u32,
    /// The allocator's own figures before the replay (before its warm-up); those right after
    /// the last event are `measured.allocator_stats_at_end`.
    pub stats_before: AllocatorStats,
    pub measured: Measured,
}

/// The one JSON value a child prints on standard output.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildOutput {
    Report(Box<ChildReport>),
    /// The child could not replay (a bad trace, an allocator that cannot be set up): the message.
    Error(String),
}

/// How a child failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The child could not be started or talked to.
    Spawn(String),
    /// The child was killed by a signal (an allocator's abort, a segfault).
    Signal { signal: i32, core_dumped: bool },
    /// The child exited with a non-zero status without saying why.
    Exit(i32),
    /// The child said why it could not replay (exit status 2).
    Refused(String),
    /// The child exited 0 but its standard output was not a report.
    BadReport(String),
    /// The child ran longer than the timeout (`--real-timeout`) and was killed (SIGKILL).
    TimedOut(std::time::Duration),
}

/// A child that did not deliver a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildFailure {
    /// The allocator, as requested.
    pub allocator: String,
    pub kind: FailureKind,
    /// The last lines of the child's standard error (at most 20 lines, 4 KiB).
    pub stderr_tail: String,
}

/// `SIGABRT` for 6, and so on; `signal N` for one without a name here.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

impl std::fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = &self.allocator;
        match &self.kind {
            FailureKind::Spawn(why) => write!(f, "{who}: cannot run the replay's child: {why}")?,
            FailureKind::Signal { signal, core_dumped } => write!(
                f,
                "{who}: the child replaying it was killed by {} (signal {signal}){}",
                signal_name(*signal),
                if *core_dumped { ", core dumped" } else { "" }
            )?,
            FailureKind::Exit(code) => {
                write!(f, "{who}: the child replaying it exited with status {code}")?
            }
            FailureKind::Refused(why) => write!(f, "{who}: {why}")?,
            FailureKind::BadReport(why) => {
                write!(f, "{who}: the child replaying it printed no valid report: {why}")?
            }
            FailureKind::TimedOut(after) => write!(
                f,
                "{who}: the child replaying it ran past the timeout of {} s (--real-timeout) and \
                 was killed with SIGKILL",
                after.as_secs_f64()
            )?,
        }
        if !self.stderr_tail.trim().is_empty() {
            write!(f, "; its standard error ended with:\n{}", self.stderr_tail.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for ChildFailure {}

/// The last lines of `stderr`: at most 20 lines and 4 KiB.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[lines.len().saturating_sub(20)..].join("\n");
    if out.len() > 4096 {
        let mut cut = out.len() - 4096;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("...{}", &out[cut..]);
    }
    out
}

/// Replay `request` in a fresh child process: `exe` is the `replay` binary (the parent's own,
/// `std::env::current_exe()`, or `cargo_bin("replay")` in tests). Blocks until the child ends:
/// [`spawn_with_timeout`] without a timeout.
pub fn spawn(exe: &Path, request: &ChildRequest) -> Result<ChildReport, ChildFailure> {
    spawn_with_timeout(exe, request, None)
}

/// [`spawn`], but a child still running after `timeout` is killed (SIGKILL) and its failure is
/// [`FailureKind::TimedOut`] (with what it had written on standard error). Its standard output
/// and error are read on two threads while the parent waits, so a child writing more than a
/// pipe holds never blocks on them.
pub fn spawn_with_timeout(
    exe: &Path,
    request: &ChildRequest,
    timeout: Option<std::time::Duration>,
) -> Result<ChildReport, ChildFailure> {
    spawn_on(exe, request, None, timeout)
}

/// [`spawn_with_timeout`], the child starting at stage 2 on `image` when there is one (the
/// request's trace is then not read again; it must be the trace the image was made of).
pub fn spawn_on(
    exe: &Path,
    request: &ChildRequest,
    image: Option<&EventsImage>,
    timeout: Option<std::time::Duration>,
) -> Result<ChildReport, ChildFailure> {
    use std::sync::mpsc::Receiver;
    let fail = |kind, stderr: &[u8]| ChildFailure {
        allocator: request.allocator.clone(),
        kind,
        stderr_tail: tail(stderr),
    };
    let spec = match RealSpec::parse(&request.allocator) {
        Some(Ok(spec)) => spec,
        Some(Err(why)) => return Err(fail(FailureKind::Refused(why), b"")),
        None => {
            let why = format!(
                "not a real allocator (known: {}, or preload:PATH)",
                super::registry::names()
            );
            return Err(fail(FailureKind::Refused(why), b""));
        }
    };
    let json = serde_json::to_vec(request)
        .map_err(|e| fail(FailureKind::Spawn(format!("cannot encode the request: {e}")), b""))?;
    let mut command = Command::new(exe);
    command.arg(CHILD_ARG).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let image_fd = image.map(|image| std::os::fd::AsRawFd::as_raw_fd(&image.fd));
    if let Some(fd) = image_fd {
        command.arg("--run").arg(fd.to_string());
    }
    match spec.preload_path() {
        Some(path) => command.env("LD_PRELOAD", path),
        None => command.env_remove("LD_PRELOAD"),
    };
    // The child dies with `replay` (Ctrl-C, a kill): the kernel sends it SIGKILL when the
    // thread that made it ends, and this call blocks that thread until the child has ended.
    // The setting survives the child's re-execution of itself (stage 2).
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the call: then nobody waits for this child.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            // The image's descriptor, closed on exec in every other child, stays open in this
            // one (the flag is this process's own copy).
            if let Some(fd) = image_fd {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
    let mut child = command
        .spawn()
        .map_err(|e| fail(FailureKind::Spawn(format!("{}: {e}", exe.display())), b""))?;
    let started = std::time::Instant::now();
    // The request is small (far below a pipe's buffer), so writing it before reading the
    // child's output cannot block, even on a child that never reads it; a child that died at
    // once closes the pipe (EPIPE), and its status says why.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&json);
    }
    let stdout = child.stdout.take().map(read_on_a_thread);
    let stderr = child.stderr.take().map(read_on_a_thread);
    let (status, timed_out) = wait_at_most(&mut child, timeout)
        .map_err(|e| fail(FailureKind::Spawn(format!("waiting for the child: {e}")), b""))?;
    // The pipes close when the child ends, unless a process it started still holds them: with
    // a timeout, wait for them only until it is over (and a moment more).
    let left = timeout.map(|t| t.saturating_sub(started.elapsed()).max(PIPE_GRACE));
    let collect = |pipe: Option<Receiver<Vec<u8>>>| match (pipe, left) {
        (None, _) => Vec::new(),
        (Some(pipe), None) => pipe.recv().unwrap_or_default(),
        (Some(pipe), Some(left)) => pipe.recv_timeout(left).unwrap_or_default(),
    };
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    if let (true, Some(after)) = (timed_out, timeout) {
        return Err(fail(FailureKind::TimedOut(after), &stderr));
    }
    if let Some(signal) = status.signal() {
        let kind = FailureKind::Signal { signal, core_dumped: status.core_dumped() };
        return Err(fail(kind, &stderr));
    }
    let parsed = serde_json::from_slice::<ChildOutput>(&stdout);
    match (status.code(), parsed) {
        (Some(0), Ok(ChildOutput::Report(report))) => Ok(*report),
        (_, Ok(ChildOutput::Error(why))) => Err(fail(FailureKind::Refused(why), &stderr)),
        (Some(0), Err(_)) => {
            let shown = String::from_utf8_lossy(&stdout);
            let shown: String = shown.chars().take(200).collect();
            let why = if shown.is_empty() { "nothing".to_string() } else { format!("{shown:?}") };
            Err(fail(FailureKind::BadReport(why), &stderr))
        }
        (code, _) => Err(fail(FailureKind::Exit(code.unwrap_or(-1)), &stderr)),
    }
}

/// How long the pipes of a killed or timed child are waited for after it ended.
const PIPE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest pause between two looks at a running child where there are no pidfds (the
/// first ones are shorter).
const LONGEST_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Everything `pipe` gives until it closes, read on a thread of its own, sent when done.
fn read_on_a_thread(mut pipe: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = send.send(bytes);
    });
    receive
}

/// Wait for `child` to end, at most `timeout` (then it is killed with SIGKILL, and reaped):
/// its status, and whether the timeout killed it. A child that ended by itself just as the
/// timeout came is not counted as killed.
///
/// The wait ends as soon as the child does: it sleeps in `poll` on a pidfd of the child, which
/// becomes readable when the child exits. Only where the kernel has no pidfds (before Linux
/// 5.3) does it look at the child at growing intervals, up to [`LONGEST_PAUSE`], which can add
/// that much to every run.
fn wait_at_most(
    child: &mut std::process::Child,
    timeout: Option<std::time::Duration>,
) -> std::io::Result<(std::process::ExitStatus, bool)> {
    use std::time::{Duration, Instant};
    let Some(timeout) = timeout else { return Ok((child.wait()?, false)) };
    let deadline = Instant::now() + timeout;
    let exit = ExitSignal::of(child.id());
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, false));
        }
        let now = Instant::now();
        if now >= deadline {
            // `kill` sends SIGKILL; on a child that has just exited (not yet reaped) it is
            // harmless, and its own status then says so.
            let _ = child.kill();
            let status = child.wait()?;
            return Ok((status, status.signal() == Some(libc::SIGKILL)));
        }
        match &exit {
            Some(exit) => {
                exit.wait(deadline - now);
            }
            None => {
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

/// A pidfd of a child process: readable once the child has exited.
struct ExitSignal(std::os::fd::OwnedFd);

impl ExitSignal {
    /// A pidfd of the process `pid` (a child not yet reaped, so the pid is still its own), or
    /// `None` where the kernel has none.
    fn of(pid: u32) -> Option<ExitSignal> {
        use std::os::fd::FromRawFd;
        let pid = libc::pid_t::try_from(pid).ok()?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: `fd` was just opened for us and nothing else owns it.
        Some(ExitSignal(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    /// Sleep until the process has exited or `at_most` has passed (rounded up to a
    /// millisecond), or a signal came: whether it has exited. The caller looks at the child
    /// again either way.
    fn wait(&self, at_most: std::time::Duration) -> bool {
        use std::os::fd::AsRawFd;
        let ms = at_most.as_micros().div_ceil(1000).clamp(1, i32::MAX as u128) as i32;
        let mut fd = libc::pollfd { fd: self.0.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, for the duration of the call.
        let ready = unsafe { libc::poll(&mut fd, 1, ms) };
        ready == 1 && fd.revents & libc::POLLIN != 0
    }
}

/// The child's entry point: `replay __real-child [--run FD]`. Returns the exit status (0: a
/// report was printed; 2: an error was printed as [`ChildOutput::Error`]).
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let outcome = match args.as_slice() {
        [] => load_and_exec(),
        [flag, fd] if flag == "--run" => match fd.parse::<i32>() {
            Ok(fd) => run(fd),
            Err(_) => Err(format!("{CHILD_ARG}: bad descriptor {fd:?}")),
        },
        _ => Err(format!("{CHILD_ARG}: unexpected arguments {args:?} (an internal protocol)")),
    };
    match outcome {
        Ok(()) => 0,
        Err(why) => {
            let json = serde_json::to_string(&ChildOutput::Error(why.clone()))
                .unwrap_or_else(|_| String::from("{\"error\":\"unprintable error\"}"));
            // A second line on stderr, for a person reading it.
            eprintln!("replay {CHILD_ARG}: {why}");
            // Standard output may have been moved aside (stage 2): `REPORT_FD` says where.
            write_report(&json);
            2
        }
    }
}

/// The descriptor the report goes to: 1, or where stage 2 moved standard output.
static REPORT_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(1);

fn write_report(json: &str) {
    let fd = REPORT_FD.load(std::sync::atomic::Ordering::Relaxed);
    let mut bytes = json.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: writes from a valid buffer to a descriptor this process owns.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// The format named `name`, as the request gives it.
fn format_named(name: &str) -> Result<Format, String> {
    Format::named(name).ok_or_else(|| format!("unknown trace format {name:?}"))
}

/// The memfd's layout: this header, the request's JSON, zero padding to a multiple of 16, then
/// the events (16 bytes each, in `Event`'s own layout), then, for a trace with threads, each
/// event's thread (4 bytes each, native order). The header: magic, events (u64), blocks (u32),
/// the JSON's length (u32), threads (u32: 0 for a trace without).
const MAGIC: [u8; 8] = *b"RREAL01\0";
const HEADER: usize = 32;

/// Stage 1: load the trace, hand it to a fresh image of this program.
fn load_and_exec() -> Result<(), String> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read the request: {e}"))?;
    let request: ChildRequest =
        serde_json::from_slice(&input).map_err(|e| format!("bad request: {e}"))?;
    let format = format_named(&request.format)?;
    let options = ParseOptions { lenient: request.lenient, one_thread: false };
    let trace = crate::trace::load(&request.trace, format, options).map_err(|e| e.to_string())?;
    let json = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    // Flags 0: the descriptor survives exec, and is never closed here (exec replaces this
    // image; on error the process exits).
    let fd = std::os::fd::IntoRawFd::into_raw_fd(write_image(&trace, &json, 0)?);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let error = Command::new(exe).arg(CHILD_ARG).arg("--run").arg(fd.to_string()).exec();
    Err(format!("cannot re-execute this program: {error}"))
}

/// Write `trace`'s events (and threads) with the request `json` (empty: the child reads its
/// request on standard input) into a new memfd, in the layout of [`MAGIC`]; `flags` are
/// `memfd_create`'s.
fn write_image(
    trace: &crate::trace::Trace,
    json: &[u8],
    flags: libc::c_uint,
) -> Result<std::os::fd::OwnedFd, String> {
    // SAFETY: a NUL-terminated name and valid flags.
    let fd = unsafe { libc::memfd_create(c"replay-real-events".as_ptr(), flags) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a new descriptor owned by nothing else.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let file = std::fs::File::from(fd);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, &file);
    let mut header = [0u8; HEADER];
    header[..8].copy_from_slice(&MAGIC);
    header[8..16].copy_from_slice(&(trace.events.len() as u64).to_le_bytes());
    header[16..20].copy_from_slice(&trace.blocks.to_le_bytes());
    header[20..24].copy_from_slice(&(json.len() as u32).to_le_bytes());
    header[24..28].copy_from_slice(&(trace.thread_ids.len() as u32).to_le_bytes());
    let padding = (16 - (HEADER + json.len()) % 16) % 16;
    let write = |out: &mut std::io::BufWriter<&std::fs::File>, bytes: &[u8]| {
        out.write_all(bytes).map_err(|e| format!("cannot write the events: {e}"))
    };
    write(&mut out, &header)?;
    write(&mut out, json)?;
    write(&mut out, &[0u8; 16][..padding])?;
    for event in &trace.events {
        write(&mut out, &encode(event))?;
    }
    for thread in &trace.threads {
        write(&mut out, &thread.to_ne_bytes())?;
    }
    out.flush().map_err(|e| format!("cannot write the events: {e}"))?;
    drop(out);
    Ok(file.into())
}

/// A trace's events loaded once, by the parent, for every child of a run: stage 1 done once
/// (the same loader, the same layout, without a request), so that each child starts at stage
/// 2 and maps it instead of parsing the trace again. On a 1.4M-event CSV that parse took about
/// 0.3 s of every child's run.
#[derive(Debug)]
pub struct EventsImage {
    /// A memfd, closed on exec except in the children it is handed to.
    fd: std::os::fd::OwnedFd,
}

impl EventsImage {
    /// Load `trace` (`format` named as in [`ChildRequest::format`], `lenient` parsing) as a
    /// child's stage 1 would; the error is the one such a child would report.
    pub fn of(trace: &Path, format: &str, lenient: bool) -> Result<EventsImage, String> {
        let format = format_named(format)?;
        let options = ParseOptions { lenient, one_thread: false };
        let trace = crate::trace::load(trace, format, options).map_err(|e| e.to_string())?;
        Ok(EventsImage { fd: write_image(&trace, b"", libc::MFD_CLOEXEC)? })
    }
}

/// An event in its in-memory layout (`repr(C)`: size, id, op, align_log2, two zero bytes).
fn encode(event: &Event) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[std::mem::offset_of!(Event, size)..][..8].copy_from_slice(&event.size.to_ne_bytes());
    bytes[std::mem::offset_of!(Event, id)..][..4].copy_from_slice(&event.id.to_ne_bytes());
    bytes[std::mem::offset_of!(Event, op)] = event.op as u8;
    bytes[std::mem::offset_of!(Event, align_log2)] = event.align_log2;
    bytes
}

/// The memfd of stage 1, mapped read-only and prefaulted.
struct EventsMap {
    base: *mut c_void,
    len: usize,
}

impl Drop for EventsMap {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `run`, unmapped once.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// The recorded thread of every event (empty, and `count` 0, for a trace without threads).
struct Threads<'a> {
    of_events: &'a [u32],
    count: u32,
}

/// Replay through `alloc` (on the trace's threads, unless it has none or `options.serial`)
/// and gather its report.
fn measure_with<A: RealAllocator + ?Sized>(
    alloc: &A,
    events: &[Event],
    threads: &Threads<'_>,
    blocks: u32,
    options: &Options,
) -> Result<ChildReport, String> {
    let version = alloc.version();
    let stats_before = alloc.stats();
    let threaded = threads.count > 1 && !options.serial;
    // SAFETY: the events come from a trace the crate's loader validated (stage 1), and so do
    // their threads (each below the count: checked in `run`).
    let measured = unsafe {
        if threaded {
            threads::replay(alloc, events, threads.of_events, threads.count, blocks, options)
        } else {
            measure::replay(alloc, events, blocks, options)
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(ChildReport {
        allocator: alloc.name(),
        version,
        pid: std::process::id(),
        trace_events: events.len() as u64,
        trace_blocks: blocks,
        stats_before,
        measured,
    })
}

/// Stage 2: map the events, replay, report.
fn run(fd: i32) -> Result<(), String> {
    // SAFETY: fstat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(format!("fstat of the events: {}", std::io::Error::last_os_error()));
    }
    let len = st.st_size as usize;
    if len < HEADER {
        return Err("the events file is truncated".into());
    }
    // SAFETY: a private read-only mapping of the whole file.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            fd,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(format!("cannot map the events: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the descriptor is ours and no longer needed once mapped.
    unsafe { libc::close(fd) };
    let map = EventsMap { base, len };
    // SAFETY: `len` readable bytes at `base`, alive while `map` is.
    let bytes = unsafe { std::slice::from_raw_parts(map.base.cast::<u8>(), map.len) };
    if bytes[..8] != MAGIC {
        return Err("the events file is not this program's".into());
    }
    let word = |at: usize, n: usize| {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&bytes[at..at + n]);
        u64::from_le_bytes(b)
    };
    let (events, blocks, json_len, threads) =
        (word(8, 8) as usize, word(16, 4) as u32, word(20, 4) as usize, word(24, 4) as u32);
    let start = HEADER + json_len + (16 - (HEADER + json_len) % 16) % 16;
    let per_event = if threads > 0 { 20 } else { 16 };
    if events.checked_mul(per_event).and_then(|n| n.checked_add(start)) != Some(len) {
        return Err("the events file has the wrong length".into());
    }
    let request: ChildRequest = if json_len == 0 {
        // An image the parent made once for every child: the request comes on standard input.
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(|e| format!("cannot read the request: {e}"))?;
        serde_json::from_slice(&input).map_err(|e| format!("bad request: {e}"))?
    } else {
        serde_json::from_slice(&bytes[HEADER..HEADER + json_len])
            .map_err(|e| format!("bad request in the events file: {e}"))?
    };
    let raw = &bytes[start..start + 16 * events];
    let thread_bytes = &bytes[start + 16 * events..];
    // Every op byte must be an `Op` before the bytes may be read as events.
    if raw.chunks_exact(16).any(|e| e[std::mem::offset_of!(Event, op)] > Op::Write as u8) {
        return Err("the events file holds an unknown operation".into());
    }
    // SAFETY: `raw` is 16-aligned (the mapping is page-aligned and `start` a multiple of 16),
    // holds `events` events in `Event`'s layout (written by `encode`), every op valid.
    let events: &[Event] = unsafe { std::slice::from_raw_parts(raw.as_ptr().cast(), events) };
    if events.iter().any(|e| e.id >= blocks) {
        return Err("the events file names a block id past its count".into());
    }
    // SAFETY: 4-aligned (16-aligned start plus 16 bytes an event), `events.len()` values.
    let thread_of: &[u32] =
        unsafe { std::slice::from_raw_parts(thread_bytes.as_ptr().cast(), thread_bytes.len() / 4) };
    if thread_of.iter().any(|&t| t >= threads) {
        return Err("the events file names a thread past its count".into());
    }
    let threads = Threads { of_events: thread_of, count: threads };

    let spec = match RealSpec::parse(&request.allocator) {
        Some(spec) => spec?,
        None => return Err(format!("not a real allocator: {}", request.allocator)),
    };
    // From here on standard output is the report's alone (see the module docs).
    // SAFETY: dup and dup2 of this process's own descriptors.
    let report_fd = unsafe { libc::dup(1) };
    if report_fd < 0 || unsafe { libc::dup2(2, 1) } < 0 {
        return Err(format!(
            "cannot set standard output aside: {}",
            std::io::Error::last_os_error()
        ));
    }
    REPORT_FD.store(report_fd, std::sync::atomic::Ordering::Relaxed);

    // Each backend by its concrete type, so that its calls are inlined into the loop.
    let options = &request.options;
    let report = match &spec {
        RealSpec::Builtin("glibc") => measure_with(&Glibc, events, &threads, blocks, options),
        RealSpec::Builtin("mimalloc") => measure_with(&Mimalloc, events, &threads, blocks, options),
        RealSpec::Builtin("jemalloc") => {
            measure_with(&Jemalloc::new()?, events, &threads, blocks, options)
        }
        RealSpec::Preload(path) => {
            measure_with(&Preload::new(path)?, events, &threads, blocks, options)
        }
        // A built-in without a concrete arm here: through the trait object.
        RealSpec::Builtin(_) => {
            measure_with(spec.open()?.as_ref(), events, &threads, blocks, options)
        }
    }?;
    let json = serde_json::to_string(&ChildOutput::Report(Box::new(report)))
        .map_err(|e| format!("cannot encode the report: {e}"))?;
    write_report(&json);
    drop(map);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_exit_signal_stays_quiet_while_the_child_runs_and_fires_once_it_has_exited() {
        let mut child = Command::new("sleep").arg("1000").spawn().expect("sleep runs");
        let exit = ExitSignal::of(child.id()).expect("this kernel has pidfds (Linux 5.3 on)");
        assert!(!exit.wait(Duration::from_millis(10)), "the child still runs");
        assert!(child.try_wait().unwrap().is_none());
        child.kill().unwrap();
        assert!(exit.wait(Duration::from_secs(600)), "the killed child has exited");
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn a_child_is_waited_for_to_its_end_and_one_past_its_timeout_is_killed() {
        let mut quick = Command::new("true").spawn().expect("true runs");
        let (status, killed) = wait_at_most(&mut quick, Some(Duration::from_secs(600))).unwrap();
        assert!(status.success() && !killed);
        let mut slow = Command::new("sleep").arg("1000").spawn().expect("sleep runs");
        let (status, killed) = wait_at_most(&mut slow, Some(Duration::from_millis(20))).unwrap();
        assert!(killed && status.signal() == Some(libc::SIGKILL), "{status:?}");
    }
}
