//! Every output whole or absent, never where it must not go: temporary files, special files,
//! outputs that would destroy an input or each other, destinations checked before the replay,
//! `--report` replaced whole, and clean-up on SIGINT and SIGTERM.
//!
//! No test here depends on the machine's speed: a test that interrupts `replay` waits for a
//! condition it can see (a temporary file appearing) with a generous timeout, on a run long
//! enough (`--runs 1000`) that it is still going when the signal comes.

use assert_cmd::Command;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn replay() -> Command {
    Command::cargo_bin("replay").expect("the replay binary is built")
}

/// The `replay` binary, for tests that need a running child to signal.
fn replay_exe() -> PathBuf {
    assert_cmd::cargo::cargo_bin("replay")
}

fn trace(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces").join(name)
}

/// A copy of a small shipped trace in `dir`.
fn small_trace(dir: &Path) -> PathBuf {
    let path = dir.join("t.csv");
    std::fs::copy(trace("coalescing.csv"), &path).unwrap();
    path
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Wait until `ready` holds, for at most a minute (a loaded machine is slow, never that slow).
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A running `replay`, killed if a test fails before it exits.
struct Running(std::process::Child);

impl Running {
    fn spawn(command: &mut std::process::Command) -> Running {
        Running(command.spawn().unwrap())
    }
}

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Wait for `child` to exit, killing it after a minute.
fn exit_status(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("replay did not exit after the signal");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// A generated trace of `events` events in `dir`, gzip-compressed if `gz`.
fn generated(dir: &Path, events: u64, gz: bool) -> PathBuf {
    let csv = dir.join("gen.csv");
    replay().args(["gen", "--events", &events.to_string(), "-o"]).arg(&csv).assert().success();
    if !gz {
        return csv;
    }
    let path = dir.join("gen.csv.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut std::fs::File::open(&csv).unwrap(), &mut encoder).unwrap();
    encoder.finish().unwrap();
    std::fs::remove_file(csv).unwrap();
    path
}

#[test]
fn a_symlink_planted_where_a_temporary_might_go_is_never_followed() {
    // The old temporary name was `.NAME.PID.tmp`: plant one for every process id the next
    // `replay` is likely to get, each a symlink to a file it must not touch.
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let mut probe = std::process::Command::new("true").spawn().unwrap();
    let next = probe.id();
    probe.wait().unwrap();
    for pid in next..next + 5000 {
        std::os::unix::fs::symlink(&victim, dir.path().join(format!(".out.json.{pid}.tmp")))
            .unwrap();
    }
    let output = replay()
        .arg(&t)
        .args(["--alloc", "first-fit", "--runs", "0", "-q", "--json"])
        .arg(dir.path().join("out.json"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let json = std::fs::read(dir.path().join("out.json")).unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
    assert!(!std::fs::symlink_metadata(dir.path().join("out.json")).unwrap().is_symlink());
}

#[test]
fn json_to_a_fifo_is_written_into_and_leaves_it_a_fifo() {
    // What `--json /dev/null` as root must do too: write into the special file, never rename
    // over it (that would replace /dev/null with a regular file).
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    let fifo = dir.path().join("results");
    let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    // A reader that never blocks, open before replay starts, so that replay's writes (a few
    // KiB, less than a pipe holds) go straight into the pipe.
    use std::os::unix::fs::OpenOptionsExt;
    let mut reader =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    let output = replay()
        .arg(&t)
        .args(["--alloc", "first-fit", "--runs", "0", "-q", "--json"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
    let mut json = Vec::new();
    let _ = std::io::Read::read_to_end(&mut reader, &mut json);
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("the JSON came through");
    assert_eq!(doc["results"][0]["allocator"], "first-fit");
    assert_eq!(entries(dir.path()), ["results", "t.csv"]);
}

#[test]
fn an_output_naming_the_input_trace_is_refused_before_replaying() {
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    let before = std::fs::read(&t).unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&t, &link).unwrap();
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&t, &hard).unwrap();
    for (option, output) in [("--json", &t), ("--csv", &link), ("--markdown", &hard)] {
        let result =
            replay().arg(&t).args(["--runs", "0", "-q", option]).arg(output).output().unwrap();
        assert_eq!(result.status.code(), Some(2), "{option}: {}", stderr_of(&result));
        assert!(stderr_of(&result).contains("is the input"), "{}", stderr_of(&result));
        assert_eq!(std::fs::read(&t).unwrap(), before, "{option} overwrote the trace");
    }
    // Other commands too: the same rule for `import`.
    let mtrace = dir.path().join("sort.mtrace");
    std::fs::copy(trace("sort-small.mtrace"), &mtrace).unwrap();
    let before = std::fs::read(&mtrace).unwrap();
    let output =
        replay().args(["import", "--from", "mtrace"]).arg(&mtrace).arg("-o").arg(&mtrace).output();
    assert_eq!(output.unwrap().status.code(), Some(2));
    assert_eq!(std::fs::read(&mtrace).unwrap(), before);
}

#[test]
fn two_outputs_to_the_same_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    let output = replay()
        .arg(&t)
        .args(["--runs", "0", "-q", "--json"])
        .arg(dir.path().join("x"))
        .arg("--csv")
        .arg(dir.path().join(".").join("x"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("are the same file"), "{}", stderr_of(&output));
    assert_eq!(entries(dir.path()), ["t.csv"]);
}

#[test]
fn two_outputs_to_standard_output_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    let output =
        replay().arg(&t).args(["--runs", "0", "--json", "-", "--csv", "-"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "nothing is written");
    assert!(stderr_of(&output).contains("standard output"), "{}", stderr_of(&output));
}

#[test]
fn a_missing_output_directory_is_reported_before_the_replay() {
    // The trace is bad at its third line: a run that read it first would report that. The
    // destinations are checked first, so the message names the one that cannot be written.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "op,ptr,size\nmalloc,0x10,16\nfree,0x20,\n").unwrap();
    // --json's directory must exist; --report makes missing parents, but not under a file.
    for (option, output) in
        [("--json", dir.path().join("missing/out.json")), ("--report", bad.join("report"))]
    {
        let output =
            replay().arg(&bad).args(["--runs", "0", "-q", option]).arg(&output).output().unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("cannot write"), "{option}: {stderr}");
        assert!(!stderr.contains("bad.csv:3"), "{option}: the trace was read first: {stderr}");
    }
    // A report whose missing parents were made for it takes them away again on failure.
    let report = dir.path().join("new").join("report");
    let output = replay().arg(&bad).args(["--runs", "0", "-q", "--report"]).arg(&report).output();
    assert!(stderr_of(&output.unwrap()).contains("bad.csv:3"));
    assert_eq!(entries(dir.path()), ["bad.csv"]);
}

#[test]
fn a_report_that_fails_half_way_leaves_no_partial_directory() {
    // A file-size limit between the largest chart and index.html (which holds them all): the
    // charts can be written, index.html cannot, as on a disk that fills up half way.
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    let report = dir.path().join("report");
    let mut command = std::process::Command::new(replay_exe());
    command.arg(&t).args(["--alloc", "first-fit", "--runs", "0", "-q", "--report"]).arg(&report);
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: 40_000, rlim_max: 40_000 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("too large"), "{}", stderr_of(&output));
    assert_eq!(entries(dir.path()), ["t.csv"], "no report directory, no staging directory");
}

#[test]
fn a_report_replaces_an_earlier_report_whole_and_refuses_a_directory_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    let report = dir.path().join("report");
    let run = |extra: &[&str]| {
        replay()
            .arg(&t)
            .args(["--alloc", "first-fit", "--runs", "0", "-q", "--report"])
            .arg(&report)
            .args(extra)
            .output()
            .unwrap()
    };
    // A result inside the report directory lands with the report.
    let inside = report.join("results.json");
    let first = run(&["--json", inside.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr_of(&first));
    assert!(entries(&report).contains(&"results.json".to_string()));
    assert!(entries(&report).contains(&"index.html".to_string()));
    // The second run replaces the whole directory: the first run's results.json is gone.
    let second = run(&[]);
    assert!(second.status.success(), "{}", stderr_of(&second));
    assert!(!entries(&report).contains(&"results.json".to_string()));
    assert!(entries(&report).contains(&"index.html".to_string()));
    assert_eq!(entries(dir.path()), ["report", "t.csv"]);
    // A directory of the user's is never replaced.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), b"mine").unwrap();
    let refused = replay().arg(&t).args(["--runs", "0", "-q", "--report"]).arg(&mine).output();
    let refused = refused.unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr_of(&refused));
    assert!(stderr_of(&refused).contains("not a replay report"), "{}", stderr_of(&refused));
    assert_eq!(entries(&mine), ["notes.txt"]);
}

#[test]
fn two_runs_writing_one_report_at_once_leave_one_whole_report() {
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    let report = dir.path().join("report");
    let inside = report.join("results.json");
    let spawn = |alloc: &str| {
        Running::spawn(
            std::process::Command::new(replay_exe())
                .arg(&t)
                .args(["--alloc", alloc, "--runs", "0", "-q", "--report"])
                .arg(&report)
                .arg("--json")
                .arg(&inside),
        )
    };
    let (mut a, mut b) = (spawn("bump"), spawn("tlsf"));
    assert!(exit_status(&mut a).success() && exit_status(&mut b).success());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&inside).unwrap()).unwrap();
    let winner = json["results"][0]["allocator"].as_str().unwrap().to_string();
    let page = std::fs::read_to_string(report.join("index.html")).unwrap();
    let loser = if winner == "bump" { "tlsf" } else { "bump" };
    assert!(page.contains(&format!("<td>{winner}</td>")), "index.html is {winner}'s");
    assert!(!page.contains(&format!("<td>{loser}</td>")), "index.html mixes in {loser}");
    assert_eq!(entries(dir.path()), ["report", "t.csv"]);
}

#[test]
fn sigint_removes_every_temporary_file_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let t = generated(dir.path(), 300_000, false);
    let (tmp, out) = (dir.path().join("tmp"), dir.path().join("out"));
    std::fs::create_dir(&tmp).unwrap();
    std::fs::create_dir(&out).unwrap();
    let mut child = Running::spawn(
        std::process::Command::new(replay_exe())
            .arg(&t)
            .args(["--alloc", "simulated", "--stream", "--runs", "1000", "-q", "--json"])
            .arg(out.join("r.json"))
            .arg("--report")
            .arg(out.join("report"))
            .env("TMPDIR", &tmp),
    );
    // The outputs' temporaries exist before the replay; the streaming .rtrace once it starts.
    wait_for("the temporary .rtrace", || !entries(&tmp).is_empty());
    assert_eq!(entries(&out).len(), 2, "{:?}", entries(&out));
    signal(&child, libc::SIGINT);
    assert_eq!(exit_status(&mut child).code(), Some(130));
    assert_eq!(entries(&tmp), Vec::<String>::new());
    assert_eq!(entries(&out), Vec::<String>::new());
}

#[test]
fn a_compressed_trace_is_streamed_never_loaded_whole() {
    // 300,000 events gzip to well under the 64 MiB that an uncompressed trace may take in
    // memory; a compressed one is streamed through a temporary .rtrace all the same (its size
    // on disk says nothing sound about what it holds). SIGTERM then cleans it up: 143.
    let dir = tempfile::tempdir().unwrap();
    let t = generated(dir.path(), 300_000, true);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut child = Running::spawn(
        std::process::Command::new(replay_exe())
            .arg(&t)
            .args(["--alloc", "simulated", "--runs", "1000", "-q"])
            .env("TMPDIR", &tmp),
    );
    wait_for("the temporary .rtrace", || {
        entries(&tmp).iter().any(|name| name.ends_with("gen.csv.gz.rtrace"))
    });
    signal(&child, libc::SIGTERM);
    assert_eq!(exit_status(&mut child).code(), Some(143));
    assert_eq!(entries(&tmp), Vec::<String>::new());
}

/// `cargo test` builds no cdylib: build the interposer `record` preloads, with the same cargo,
/// profile and target directory (as tests/record.rs does).
fn build_interposer() {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo.args(["build", "-p", "replay-interposer"]);
        if dir.ends_with("release") {
            cargo.arg("--release");
        }
        cargo.env("CARGO_TARGET_DIR", dir.parent().unwrap());
        cargo.current_dir(env!("CARGO_MANIFEST_DIR"));
        assert!(cargo.status().expect("cargo runs").success(), "building the interposer failed");
    });
}

#[test]
fn sigterm_to_record_stops_the_program_removes_the_raw_file_and_exits_143() {
    build_interposer();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!("echo $$ > {}; exec sleep 600", pid_file.display());
    let mut child = Running::spawn(
        std::process::Command::new(replay_exe())
            .args(["record", "-o"])
            .arg(out.join("rec.csv"))
            .args(["--", "/bin/sh", "-c", &script]),
    );
    // The program is running (sleep) once its raw file exists in replay's private directory.
    let raw_exists = || {
        std::fs::read_dir(&out).unwrap().flatten().any(|e| {
            e.path().is_dir() && std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some())
        })
    };
    // The pid file exists as soon as the shell opens it: wait for the whole line (a SIGTERM
    // before it is written would leave no pid to check, and "/proc//stat" is /proc/stat).
    let pid_written =
        || std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n') && s.len() > 1);
    wait_for("the raw recording", || raw_exists() && pid_written());
    signal(&child, libc::SIGTERM);
    assert_eq!(exit_status(&mut child).code(), Some(143));
    assert_eq!(entries(&out), Vec::<String>::new(), "no raw file, no temporary CSV");
    // The program got the SIGTERM too: it is gone (or a zombie waiting for init to reap it).
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    wait_for("the program to end", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'))
        })
    });
}

#[test]
fn runs_past_the_maximum_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = small_trace(dir.path());
    for (option, value) in [("--runs", "1000000"), ("--samples", "100001"), ("--threads", "0")] {
        let output = replay().arg(&t).args([option, value, "-q"]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{option} {value}");
        assert!(stderr_of(&output).contains(value), "{}", stderr_of(&output));
    }
    let help = replay().arg("--help").output().unwrap();
    let help =
        String::from_utf8_lossy(&help.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("At most 1000"), "{help}");
}
