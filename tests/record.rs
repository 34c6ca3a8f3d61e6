//! `replay record` on real Debian programs, and the importers on files the real tools wrote.
//! These run real programs: python3, sort, gzip, xz, heaptrack (installed by
//! `.ci/install-deps`; a test fails, not skips, when one is missing).

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// `target/release` (or `debug`): where cargo put the `replay` binary and the workspace's
/// shared libraries.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// `cargo test` builds no cdylib: build the interposer and the mtrace starter once, with the
/// same cargo, profile and target directory, and the `allocate` example (`examples/allocate.rs`)
/// that some tests record.
fn build_libraries() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let dir = profile_dir();
        let builds: [&[&str]; 2] = [
            &["build", "-p", "replay-interposer", "-p", "mtrace-start"],
            &["build", "-p", "alloc-replay", "--example", "allocate"],
        ];
        for args in builds {
            let mut cargo = std::process::Command::new(env!("CARGO"));
            cargo.args(args);
            if dir.ends_with("release") {
                cargo.arg("--release");
            }
            cargo.env("CARGO_TARGET_DIR", dir.parent().unwrap());
            cargo.current_dir(env!("CARGO_MANIFEST_DIR"));
            let status = cargo.status().expect("cargo runs");
            assert!(status.success(), "cargo {args:?} failed");
        }
    });
}

/// `examples/allocate.rs`, built by [`build_libraries`].
fn allocate() -> PathBuf {
    build_libraries();
    profile_dir().join("examples").join("allocate")
}

fn replay() -> Command {
    build_libraries();
    Command::cargo_bin("replay").expect("the replay binary is built")
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!("{name} is not installed (bash .ci/install-deps installs the test dependencies)");
}

/// Record `cmd`, returning the CSV's text and replay's note on standard error.
fn record(dir: &Path, name: &str, cmd: &[&str], env: &[(&str, &str)]) -> (PathBuf, String) {
    let out = dir.join(name);
    let mut command = replay();
    command.args(["record", "-o"]).arg(&out).arg("--").args(cmd);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    let note = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{note}");
    (out, note)
}

/// Count rows of the CSV by op.
fn ops(csv: &Path) -> std::collections::BTreeMap<String, u64> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for line in text.lines().skip(1) {
        let op = line.split(',').next().unwrap().to_string();
        *counts.entry(op).or_insert(0) += 1;
    }
    counts
}

fn replays_strictly(csv: &Path) {
    replay().arg(csv).args(["--alloc", "simulated", "--runs", "0", "-q"]).assert().success();
}

fn stats_json(args: &[&str]) -> Value {
    let out = replay().arg("stats").args(args).args(["--json", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

const PYTHON_HEAVY: &str = "
d = {}
for i in range(30000):
    d[str(i)] = [j for j in range(i % 10)]
    if i % 3 == 0:
        del d[str(i // 2)]
s = sorted(d.items(), key=lambda kv: len(kv[1]))
del d, s
";

fn mtrace_preload() -> String {
    let starter = profile_dir().join("libmtrace_start.so");
    format!("/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0:{}", starter.display())
}

#[test]
fn a_recorded_python_run_replays_strictly_with_as_many_mallocs_as_mtrace_sees() {
    let dir = tempfile::tempdir().unwrap();
    let python = tool("python3");
    let py = python.to_str().unwrap();
    let (csv, note) = record(
        dir.path(),
        "py.csv",
        &[py, "-S", "-c", PYTHON_HEAVY],
        &[("PYTHONMALLOC", "malloc")],
    );
    assert!(!note.contains("lost") && !note.contains("repaired"), "{note}");
    replays_strictly(&csv);
    let counts = ops(&csv);
    let recorded = counts.get("malloc").copied().unwrap_or(0)
        + counts.get("calloc").copied().unwrap_or(0)
        + counts.get("memalign").copied().unwrap_or(0);
    assert!(recorded > 50_000, "{counts:?}");
    assert!(counts["free"] <= recorded && counts["free"] * 10 > recorded * 9, "{counts:?}");

    // The same command under glibc's mtrace: `+` lines are its allocations.
    build_libraries();
    let mtrace = dir.path().join("py.mtrace");
    let status = std::process::Command::new(&python)
        .args(["-S", "-c", PYTHON_HEAVY])
        .env("PYTHONMALLOC", "malloc")
        .env("LD_PRELOAD", mtrace_preload())
        .env("MALLOC_TRACE", &mtrace)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&mtrace).unwrap();
    let seen = text.lines().filter(|l| l.contains(" + 0x")).count() as u64;
    let ratio = recorded as f64 / seen as f64;
    assert!((0.95..=1.05).contains(&ratio), "recorded {recorded} allocations, mtrace {seen}");
}

#[test]
fn recording_sort_and_perl_gives_balanced_traces_that_replay() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("numbers.txt");
    let numbers: String = (0..200_000u64).map(|i| format!("{}\n", (i * 7919) % 200_003)).collect();
    std::fs::write(&input, numbers).unwrap();
    let input = input.to_str().unwrap();
    for (name, cmd) in [
        ("sort.csv", vec![tool("sort").to_str().unwrap().to_string(), "-n".into(), input.into()]),
        // gzip is no use: it allocates nothing (static buffers). perl allocates plenty.
        (
            "perl.csv",
            vec![
                tool("perl").to_str().unwrap().to_string(),
                "-ne".into(),
                "$h{$_ % 1000} .= $_; END { print scalar(keys %h), qq(\\n) }".into(),
                input.into(),
            ],
        ),
    ] {
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let (csv, note) = record(dir.path(), name, &cmd, &[]);
        assert!(!note.contains("lost") && !note.contains("repaired"), "{name}: {note}");
        replays_strictly(&csv);
        let counts = ops(&csv);
        let allocated =
            counts.get("malloc").copied().unwrap_or(0) + counts.get("calloc").copied().unwrap_or(0);
        assert!(allocated >= 10, "{name}: {counts:?}");
        assert!(counts.get("free").copied().unwrap_or(0) <= allocated, "{name}: {counts:?}");
        let stats = stats_json(&[csv.to_str().unwrap()]);
        // sort sorts a big input with a thread per core: one or more.
        assert!(stats["threads"].as_u64().unwrap() >= 1, "{name}");
    }
}

/// A Python script whose 4 threads each make `calls` strings, keeping about half.
fn threaded_python(calls: u32) -> String {
    format!(
        "
import threading
def work(n):
    keep = []
    for i in range({calls}):
        keep.append(str(i * n) * (i % 7))
        if i % 2:
            keep.pop(0)
threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"
    )
}

#[test]
fn a_multithreaded_program_records_without_deadlock_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let script = threaded_python(20_000);
    let python = tool("python3");
    let (csv, note) = record(
        dir.path(),
        "threads.csv",
        &[python.to_str().unwrap(), "-S", "-c", &script],
        &[("PYTHONMALLOC", "malloc")],
    );
    assert!(!note.contains("lost"), "{note}");
    replays_strictly(&csv);
    let stats = stats_json(&[csv.to_str().unwrap()]);
    assert!(stats["threads"].as_u64().unwrap() >= 5, "{}", stats["threads"]);

    // xz with worker threads, which allocate and free across threads.
    let blob = dir.path().join("blob");
    let data: Vec<u8> =
        (0..6_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    std::fs::write(&blob, data).unwrap();
    let (csv, note) = record(
        dir.path(),
        "xz.csv",
        &[tool("xz").to_str().unwrap(), "-T4", "-1", "-c", "-k", blob.to_str().unwrap()],
        &[],
    );
    assert!(!note.contains("lost"), "{note}");
    replays_strictly(&csv);
    let stats = stats_json(&[csv.to_str().unwrap()]);
    assert!(stats["threads"].as_u64().unwrap() >= 2, "{}", stats["threads"]);
}

/// A thread that stops calling (the main thread in `join`) must not keep its records in its
/// buffer until it exits: `replay record` puts records in order as it reads them, and would
/// have to hold every later record until then. In the raw file (`RPLYREC2`, 48-byte records,
/// `seq` first, `op` at byte 44; 5 and 6 are end and clock records), no record comes after
/// records more than 100,000 calls younger.
#[test]
fn a_thread_that_stops_calling_does_not_hold_its_records_back() {
    let dir = tempfile::tempdir().unwrap();
    let script = threaded_python(60_000);
    let out = dir.path().join("late.csv");
    let python = tool("python3");
    let output = replay()
        .args(["record", "--keep-raw", "-o"])
        .arg(&out)
        .args(["--", python.to_str().unwrap(), "-S", "-c", &script])
        .env("PYTHONMALLOC", "malloc")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let raw = std::fs::read(dir.path().join("late.csv.raw")).unwrap();
    assert_eq!(&raw[..8], b"RPLYREC2");
    let (mut youngest, mut latest, mut calls) = (0u64, 0u64, 0u64);
    for record in raw[8..].chunks_exact(48) {
        let word = |at: usize| u64::from_le_bytes(record[at..at + 8].try_into().unwrap());
        let op = u32::from_le_bytes(record[44..48].try_into().unwrap());
        if op == 5 || op == 6 {
            continue;
        }
        calls += 1;
        youngest = youngest.max(word(0));
        latest = latest.max(youngest - word(0));
    }
    assert!(calls > 400_000, "{calls} calls");
    assert!(latest < 100_000, "a record came {latest} calls late");
}

#[test]
fn a_forked_child_is_not_recorded_and_exit_through_underscore_exit_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let python = tool("python3");
    let script = "
import os
keep = [str(i) * 3 for i in range(5000)]
pid = os.fork()
if pid == 0:
    junk = [str(i) * 5 for i in range(50000)]
    os._exit(0)
os.waitpid(pid, 0)
more = [str(i) for i in range(1000)]
os._exit(0)
";
    let (csv, note) = record(
        dir.path(),
        "fork.csv",
        &[python.to_str().unwrap(), "-S", "-c", script],
        &[("PYTHONMALLOC", "malloc")],
    );
    assert!(!note.contains("lost") && !note.contains("without"), "{note}");
    replays_strictly(&csv);
    // The child's 50,000 strings would be 50,000 more mallocs.
    let counts = ops(&csv);
    assert!(counts["malloc"] < 40_000, "{counts:?}");
}

/// `replay record` reads the raw file while the program writes it; a program that `exec`s
/// another starts a new file, and the trace is the new program's alone.
#[test]
fn a_program_that_execs_another_leaves_the_trace_of_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let python = tool("python3");
    let script = "
import os, sys
keep = [str(i) * 3 for i in range(100000)]
os.execv(sys.executable, [sys.executable, '-S', '-c', 'x = [str(i) * 2 for i in range(1000)]'])
";
    let (csv, note) = record(
        dir.path(),
        "exec.csv",
        &[python.to_str().unwrap(), "-S", "-c", script],
        &[("PYTHONMALLOC", "malloc")],
    );
    assert!(!note.contains("lost") && !note.contains("without"), "{note}");
    replays_strictly(&csv);
    // The first program's 100,000 strings would be 100,000 more mallocs.
    let counts = ops(&csv);
    assert!((1000..60_000).contains(&counts["malloc"]), "{counts:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the CSV is left");
}

/// A program that closes every descriptor it did not open (as daemons do) and opens its own
/// files on those numbers: the recording stops there, says so, and never writes into them.
#[test]
fn a_program_that_closes_every_descriptor_loses_its_later_calls_but_not_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let python = tool("python3");
    let own = dir.path().join("own.txt");
    let script = format!(
        "
import os
keep = [str(i) * 3 for i in range(20000)]
os.closerange(3, 4096)
fd = os.open({own:?}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
for n in range(3, 1024):
    if n != fd:
        os.dup2(fd, n)
more = [str(i) * 4 for i in range(20000)]
os.write(fd, b'only this')
"
    );
    let (csv, note) = record(
        dir.path(),
        "daemon.csv",
        &[python.to_str().unwrap(), "-S", "-c", &script],
        &[("PYTHONMALLOC", "malloc")],
    );
    assert_eq!(std::fs::read(&own).unwrap(), b"only this", "{note}");
    assert!(note.contains("the program closed the recording's file descriptor after"), "{note}");
    replays_strictly(&csv);
    // The first 20,000 strings are in the trace.
    let counts = ops(&csv);
    assert!(counts["malloc"] >= 20_000, "{counts:?}");
}

#[test]
fn recording_a_program_that_does_not_exist_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    replay()
        .args(["record", "-o"])
        .arg(dir.path().join("x.csv"))
        .args(["--", "/nonexistent/program"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot run /nonexistent/program"));
}

/// sort -n of the numbers of `traces/README.md`, under heaptrack and under mtrace. heaptrack's
/// preload library links libstdc++, whose constructor allocates a 72,704-byte exception pool
/// that stays live: the mtrace run preloads libstdc++ too, so both record the same process.
#[test]
fn mtrace_and_heaptrack_of_the_same_program_give_the_same_max_live_bytes() {
    build_libraries();
    let dir = tempfile::tempdir().unwrap();
    let numbers = dir.path().join("numbers.txt");
    let text: String = (1..=3000u64).map(|i| format!("{}\n", (i * 7919) % 3001)).collect();
    std::fs::write(&numbers, text).unwrap();
    let sort = tool("sort");
    let heaptrack = tool("heaptrack");
    let mut max_live = Vec::new();
    for raw in [false, true] {
        let out = dir.path().join(if raw { "raw" } else { "interpreted" });
        let mut command = std::process::Command::new(&heaptrack);
        if raw {
            command.arg("--raw");
        }
        let status = command
            .arg("-o")
            .arg(&out)
            .arg(&sort)
            .arg("-n")
            .arg(&numbers)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let file = if raw { out.with_extension("raw.zst") } else { out.with_extension("zst") };
        // The raw file has frees of blocks allocated before heaptrack started: --lenient.
        let stats = stats_json(&[file.to_str().unwrap(), "--format", "heaptrack", "--lenient"]);
        max_live.push(stats["max_live_bytes"].as_u64().unwrap());
    }
    let mtrace = dir.path().join("sort.mtrace");
    let status = std::process::Command::new(&sort)
        .arg("-n")
        .arg(&numbers)
        .env("LD_PRELOAD", format!("/usr/lib/x86_64-linux-gnu/libstdc++.so.6:{}", mtrace_preload()))
        .env("MALLOC_TRACE", &mtrace)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let stats = stats_json(&[mtrace.to_str().unwrap(), "--format", "mtrace", "--lenient"]);
    max_live.push(stats["max_live_bytes"].as_u64().unwrap());
    assert!(max_live[0] > 900_000, "{max_live:?}");
    assert!(max_live.iter().all(|&m| m == max_live[0]), "interpreted, raw, mtrace: {max_live:?}");
}

#[test]
fn the_committed_heaptrack_and_mtrace_fixtures_agree_on_max_live_bytes() {
    let traces = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/imports");
    let at = |name: &str| traces.join(name).display().to_string();
    let interpreted = stats_json(&[&at("sort-small.heaptrack.zst"), "--format", "heaptrack"]);
    let raw =
        stats_json(&[&at("sort-small.heaptrack.raw.zst"), "--format", "heaptrack", "--lenient"]);
    let mtrace =
        stats_json(&[&at("sort-small-libstdc++.mtrace"), "--format", "mtrace", "--lenient"]);
    assert_eq!(interpreted["max_live_bytes"], mtrace["max_live_bytes"]);
    assert_eq!(raw["max_live_bytes"], mtrace["max_live_bytes"]);
}

#[test]
fn a_malloc_lab_trace_imports_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("t.rep");
    std::fs::write(&rep, "20000\n3\n6\n1\na 0 512\na 1 128\nr 0 640\nf 1\na 2 64\nf 0\n").unwrap();
    let csv = dir.path().join("t.csv");
    replay()
        .args(["import", "--from", "rep"])
        .arg(&rep)
        .arg("-o")
        .arg(&csv)
        .assert()
        .success()
        .stderr(predicates::str::contains("imported 6 events (3 blocks)"));
    replays_strictly(&csv);
    replay()
        .arg(&rep)
        .args(["--format", "rep", "--alloc", "simulated", "--runs", "0", "-q"])
        .assert()
        .success();
    std::fs::write(&rep, "20000\n3\n1\n1\nf 2\n").unwrap();
    replay()
        .arg(&rep)
        .args(["--format", "rep"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("t.rep:5: free of 0x30, which is not live"));
}

/// Run `replay record -o DIR/NAME [extra] -- cmd` in `dir`: its output.
fn record_output(dir: &Path, name: &str, extra: &[&str], cmd: &[&str]) -> std::process::Output {
    let mut command = replay();
    command.current_dir(dir).args(["record", "-o"]).arg(dir.join(name)).args(extra).arg("--");
    command.args(cmd).env("PYTHONMALLOC", "malloc").output().unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn record_exits_with_the_programs_status() {
    let dir = tempfile::tempdir().unwrap();
    let sh = tool("sh");
    let output = record_output(dir.path(), "t.csv", &[], &[sh.to_str().unwrap(), "-c", "exit 7"]);
    let note = stderr(&output);
    assert_eq!(output.status.code(), Some(7), "{note}");
    assert!(note.contains("exited with status 7"), "{note}");
    replays_strictly(&dir.path().join("t.csv"));
}

#[test]
fn record_exits_128_plus_the_signal_of_a_killed_program() {
    let dir = tempfile::tempdir().unwrap();
    let python = tool("python3");
    let script = "
import os, resource, signal
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
keep = [str(i) * 3 for i in range(20000)]
os.kill(os.getpid(), signal.SIGSEGV)
";
    let output =
        record_output(dir.path(), "t.csv", &[], &[python.to_str().unwrap(), "-S", "-c", script]);
    let note = stderr(&output);
    assert_eq!(output.status.code(), Some(128 + 11), "{note}");
    assert!(note.contains("was killed by signal 11 (SIGSEGV"), "{note}");
    assert!(note.contains("the calls still in the interposer's buffers"), "{note}");
    replays_strictly(&dir.path().join("t.csv"));
}

/// A file size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so that `write` fails with
/// `EFBIG`) stands for a full filesystem: the interposer cannot write its raw file. That is an
/// error naming the file and the OS error, and no trace is written; writing the CSV itself to
/// a full device is one too.
#[test]
fn a_write_error_while_recording_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let python = tool("python3");
    let script = "
import os, resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
keep = [str(i) * 3 for i in range(2000)]
size = os.path.getsize(os.environ['REPLAY_RECORD_FILE'])
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 200000, size + 200000))
more = [str(i) * 4 for i in range(100000)]
";
    let output =
        record_output(dir.path(), "t.csv", &[], &[python.to_str().unwrap(), "-S", "-c", script]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    // The raw file lives in a private directory beside the output while the program runs.
    let raw_home = format!("writing {}/.replay-record.", dir.path().display());
    assert!(message.contains(&raw_home), "{message}");
    assert!(message.contains("/recording.raw failed"), "{message}");
    assert!(message.contains("File too large"), "{message}");
    assert!(message.contains("exited with status 0"), "{message}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no trace, no raw file");

    let full = std::fs::File::create("/dev/full").unwrap();
    let sh = tool("sh");
    build_libraries();
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("replay"))
        .args(["record", "-o", "-", "--", sh.to_str().unwrap(), "-c", "exit 0"])
        .stdout(full)
        .output()
        .unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("cannot write standard output: No space left on device"), "{message}");
}

/// The loader ignores `LD_PRELOAD` for a program run setuid to another user (its secure mode):
/// `replay` says so from the file's mode before running it (it used to call it "statically
/// linked"). As root, a copy of `true` owned by `nobody`; as another user, a system setuid-root
/// program.
#[test]
fn a_setuid_program_is_named_as_such() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    let program = if me == 0 {
        let copy = dir.path().join("setuid-true");
        std::fs::copy(tool("true"), &copy).unwrap();
        std::os::unix::fs::chown(&copy, Some(65534), None).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
        copy
    } else {
        ["su", "passwd", "mount", "chsh", "newgrp"]
            .iter()
            .flat_map(|name| [Path::new("/usr/bin").join(name), Path::new("/bin").join(name)])
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.mode() & 0o4000 != 0 && m.uid() != me))
            .expect("a setuid program owned by another user (su, passwd, mount...)")
    };
    let output = record_output(dir.path(), "t.csv", &[], &[program.to_str().unwrap()]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("it is setuid (mode 4755"), "{message}");
    assert!(message.contains("ignores LD_PRELOAD"), "{message}");
    assert!(!message.contains("statically linked"), "{message}");
}

/// A hand-made static x86-64 ELF executable (one `PT_LOAD`, no `PT_INTERP`) that would write
/// "ran\n" and exit 0.
fn static_elf() -> Vec<u8> {
    let base = 0x40_0000u64;
    let code: &[u8] = &[
        0xb8, 1, 0, 0, 0, // mov eax, 1 (write)
        0xbf, 1, 0, 0, 0, // mov edi, 1
        0x48, 0x8d, 0x35, 0x10, 0, 0, 0, // lea rsi, [rip + 16] (the text below)
        0xba, 4, 0, 0, 0, // mov edx, 4
        0x0f, 0x05, // syscall
        0xb8, 60, 0, 0, 0, // mov eax, 60 (exit)
        0x31, 0xff, // xor edi, edi
        0x0f, 0x05, // syscall
        b'r', b'a', b'n', b'\n',
    ];
    let size = 64 + 56 + code.len() as u64;
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(base + 64 + 56).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // shoff
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R + X
    for word in [0, base, base, size, size, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(code);
    elf
}

#[test]
fn a_statically_linked_program_is_named_as_such_and_not_run() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("static");
    std::fs::write(&program, static_elf()).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ran = std::process::Command::new(&program).output().unwrap();
    assert_eq!(ran.stdout, b"ran\n", "the hand-made program runs");
    let output = record_output(dir.path(), "t.csv", &[], &[program.to_str().unwrap()]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains("it is statically linked (its ELF headers name no program"),
        "{message}"
    );
    assert!(output.stdout.is_empty(), "not run: {:?}", output.stdout);
}

/// `env -u LD_PRELOAD prog` (or any exec with a clean environment): the new program is not
/// recorded, the trace ends at the exec, and the note says why.
#[test]
fn an_exec_that_strips_ld_preload_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let python = tool("python3");
    let script = "
import os
keep = [str(i) * 3 for i in range(5000)]
env = dict(os.environ)
del env['LD_PRELOAD']
os.execve('/bin/sh', ['sh', '-c', 'exit 3'], env)
";
    let output =
        record_output(dir.path(), "t.csv", &[], &[python.to_str().unwrap(), "-S", "-c", script]);
    let note = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{note}");
    assert!(note.contains("exec'd another with LD_PRELOAD"), "{note}");
    assert!(note.contains("removed from its environment"), "{note}");
    assert!(!note.contains("lost") && !note.contains("final flush"), "{note}");
    let csv = dir.path().join("t.csv");
    replays_strictly(&csv);
    assert!(ops(&csv)["malloc"] >= 5000, "the calls before the exec are all there");

    // coreutils' env, through execvp.
    let env = tool("env");
    let sh = tool("sh");
    let output = record_output(
        dir.path(),
        "env.csv",
        &[],
        &[env.to_str().unwrap(), "-u", "LD_PRELOAD", sh.to_str().unwrap(), "-c", "exit 0"],
    );
    let note = stderr(&output);
    assert!(output.status.success(), "{note}");
    assert!(note.contains("removed from its environment"), "{note}");

    // The environment kept, but the new program cannot load the interposer.
    use std::os::unix::fs::PermissionsExt;
    let program = dir.path().join("static");
    std::fs::write(&program, static_elf()).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = format!(
        "
import os
keep = [str(i) * 3 for i in range(5000)]
os.execv({program:?}, [{program:?}])
"
    );
    let output = record_output(
        dir.path(),
        "static.csv",
        &[],
        &[python.to_str().unwrap(), "-S", "-c", &script],
    );
    let note = stderr(&output);
    assert!(output.status.success(), "{note}");
    assert_eq!(output.stdout, b"ran\n");
    assert!(note.contains("exec'd another that did not load the interposer"), "{note}");
    replays_strictly(&dir.path().join("static.csv"));
}

/// Sizes and alignments near 2^64 (`malloc(SIZE_MAX)`, a `calloc` whose product overflows,
/// `memalign(2^63, ..)`, `pvalloc(SIZE_MAX)`, `reallocarray` overflowing...) go to the real
/// functions, which fail, and each is recorded as a failed call: nothing in the interposer
/// overflows (its arithmetic would abort the program with overflow checks on).
#[test]
fn huge_requests_pass_through_the_interposer_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let program = allocate();
    let output =
        record_output(dir.path(), "t.csv", &["--keep-raw"], &[program.to_str().unwrap(), "huge"]);
    let note = stderr(&output);
    assert!(output.status.success(), "{note}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "13 of 13 huge requests failed\n");
    assert!(note.contains("left out 13 allocations that failed"), "{note}");
    replays_strictly(&dir.path().join("t.csv"));
    // In the raw file (48-byte records: seq, time, ptr, size, arg, then tid and op as u32s),
    // the failed calls as the program made them.
    let raw = std::fs::read(dir.path().join("t.csv.raw")).unwrap();
    let mut failed = Vec::new();
    for record in raw[8..].chunks_exact(48) {
        let word = |at: usize| u64::from_le_bytes(record[at..at + 8].try_into().unwrap());
        let op = u32::from_le_bytes(record[44..48].try_into().unwrap());
        if op <= 4 && op != 3 && word(16) == 0 {
            failed.push((op, word(24), word(32)));
        }
    }
    let max = u64::MAX;
    assert_eq!(
        failed,
        [
            (0, max, 0),
            (0, max - 15, 0),
            (1, max, 0),
            (1, max, 0),
            (4, 16, 1 << 63),
            (4, max - 8, 16),
            (4, 1 << 63, 1 << 63),
            (4, max, 1 << 63),
            (4, max, 4096),
            (4, max, 4096),
            (4, max - 4000, 4096),
        ]
        .iter()
        .copied()
        .chain(failed.iter().filter(|r| r.0 == 2).copied())
        .collect::<Vec<_>>(),
    );
    let reallocs: Vec<u64> = failed.iter().filter(|r| r.0 == 2).map(|r| r.1).collect();
    assert_eq!(reallocs, [max, max], "realloc(p, SIZE_MAX), reallocarray overflowing");
}

/// 16 threads allocating at once, each through the interposer's locks (its buffer's, and the
/// file's when a buffer is written): every call is in the trace. `allocate`'s threads make
/// their calls with `calloc` of 1040 to 2048 bytes, which nothing else in it asks for.
#[test]
fn sixteen_threads_recording_at_once_lose_no_call() {
    let dir = tempfile::tempdir().unwrap();
    let program = allocate();
    let output = record_output(
        dir.path(),
        "t.csv",
        &[],
        &[program.to_str().unwrap(), "threads", "16", "20000"],
    );
    let note = stderr(&output);
    assert!(output.status.success(), "{note}");
    assert!(!note.contains("lost") && !note.contains("repaired"), "{note}");
    let csv = dir.path().join("t.csv");
    replays_strictly(&csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let ours = text
        .lines()
        .filter_map(|line| line.strip_prefix("calloc,"))
        .filter_map(|rest| rest.split(',').nth(1)?.parse::<u64>().ok())
        .filter(|size| (1040..=2048).contains(size))
        .count();
    assert_eq!(ours, 16 * 20_000);
    assert!(ops(&csv)["free"] >= 16 * 20_000);
    let stats = stats_json(&[csv.to_str().unwrap()]);
    assert!(stats["threads"].as_u64().unwrap() >= 17, "{}", stats["threads"]);
}

/// A C program whose four worker threads each allocate 2,000 blocks, wait for each other, and
/// then free the blocks of the next worker (every free crosses threads); the main thread only
/// starts and joins them.
const FOUR_THREADS: &str = r#"
#include <pthread.h>
#include <stdlib.h>
#define THREADS 4
#define BLOCKS 2000
static void *blocks[THREADS][BLOCKS];
static pthread_barrier_t barrier;
static void *work(void *arg) {
    long me = (long)arg;
    for (int i = 0; i < BLOCKS; i++) {
        blocks[me][i] = malloc(16 + (i * 37 + me * 11) % 3000);
        if (i % 3 == 0) blocks[me][i] = realloc(blocks[me][i], 5000);
    }
    pthread_barrier_wait(&barrier);
    long next = (me + 1) % THREADS;
    for (int i = 0; i < BLOCKS; i++) free(blocks[next][i]);
    return 0;
}
int main(void) {
    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, 0, THREADS);
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], 0, work, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], 0);
    return 0;
}
"#;

#[test]
fn a_recorded_four_thread_program_replays_on_four_os_threads() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("four.c");
    std::fs::write(&source, FOUR_THREADS).unwrap();
    let program = dir.path().join("four");
    let built = std::process::Command::new("cc")
        .args(["-O1", "-pthread", "-o"])
        .arg(&program)
        .arg(&source)
        .status()
        .expect("cc runs (bash .ci/install-deps installs gcc)");
    assert!(built.success());
    let output = record_output(dir.path(), "four.csv", &[], &[program.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let trace = dir.path().join("four.csv");

    // The threads the trace names: the four workers (their 2,000 mallocs each), and perhaps the
    // main thread, for what the C library allocates when it starts threads.
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut per_thread = std::collections::BTreeMap::<String, u64>::new();
    for line in text.lines().skip(1) {
        let malloc = u64::from(line.starts_with("malloc,"));
        *per_thread.entry(line.split(',').nth(5).unwrap().to_string()).or_default() += malloc;
    }
    let workers = per_thread.values().filter(|&&n| n >= 2000).count();
    assert_eq!(workers, 4, "{per_thread:?}");

    let out = replay()
        .arg(&trace)
        .args(["--alloc", "first-fit,glibc,jemalloc,mimalloc", "--runs", "0", "-q", "--json", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    for real in &results[1..] {
        let name = &real["allocator"];
        let threads = &real["threads"];
        assert_eq!(threads["os_threads"], per_thread.len() as u64, "{name}: {threads}");
        // Every worker frees 2,000 blocks another worker allocated.
        assert!(threads["cross_thread_orders"].as_u64().unwrap() >= 4 * 2000, "{name}");
        assert_eq!(threads["out_of_order"], serde_json::json!([0]), "{name}");
        for key in ["max_live_bytes", "peak_event", "ignored_frees", "failed_allocations"] {
            assert_eq!(real[key], results[0][key], "{name}: {key}");
        }
    }
}

// ---------------------------------------------------------------- process trees, formats, -o -,
// an installed binary (issue 14)

/// `hello.c` in `dir`, for gcc to compile.
fn hello_c(dir: &Path) -> PathBuf {
    let source = dir.join("hello.c");
    std::fs::write(&source, "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n")
        .unwrap();
    source
}

/// The files in `dir` whose names start with `prefix`, sorted.
fn files_starting(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// `replay TRACE --alloc first-fit --runs 0`: strict, exit 0.
fn replays_strictly_first_fit(trace: &Path) {
    let out = replay().arg(trace).args(["--alloc", "first-fit", "--runs", "0", "-q"]).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}: {}", trace.display(), stderr(&out));
}

/// The pid in a child's trace name `t.NAME.PID.csv`, and its name.
fn process_of_trace(name: &str, stem: &str, suffix: &str) -> Option<(String, u32)> {
    let middle = name.strip_prefix(stem)?.strip_prefix('.')?.strip_suffix(suffix)?;
    let (program, pid) = middle.rsplit_once('.')?;
    Some((program.to_string(), pid.parse().ok()?))
}

#[test]
fn gcc_compiling_hello_c_leaves_a_strictly_replayable_trace_for_gcc_cc1_and_as_each() {
    let dir = tempfile::tempdir().unwrap();
    hello_c(dir.path());
    let gcc = tool("gcc");
    let output =
        record_output(dir.path(), "t.csv", &[], &[gcc.to_str().unwrap(), "-O2", "-c", "hello.c"]);
    let note = stderr(&output);
    assert!(output.status.success(), "{note}");
    assert!(dir.path().join("hello.o").is_file(), "gcc compiled: {note}");
    let traces = files_starting(dir.path(), "t.");
    let programs: Vec<String> = traces
        .iter()
        .filter_map(|name| process_of_trace(name, "t", ".csv").map(|(program, _)| program))
        .collect();
    assert!(programs.contains(&"cc1".to_string()), "{traces:?}\n{note}");
    assert!(programs.contains(&"as".to_string()), "{traces:?}\n{note}");
    assert!(traces.contains(&"t.csv".to_string()), "{traces:?}");
    // The listing names every trace with its events, the first process's first.
    assert!(note.contains("processes recorded, one trace each"), "{note}");
    let gcc_line = note.lines().position(|l| l.trim_start().starts_with("gcc (pid "));
    let cc1_line = note.lines().position(|l| l.trim_start().starts_with("cc1 (pid "));
    assert!(gcc_line.is_some() && gcc_line < cc1_line, "{note}");
    for name in &traces {
        let path = dir.path().join(name);
        assert!(note.contains(&format!("events into {}", path.display())) || name == "t.csv");
        // Each keeps the thread column, and replays strictly.
        let header = std::fs::read_to_string(&path).unwrap();
        assert!(header.starts_with("op,ptr,size,old_ptr,align,thread,time_ns\n"), "{name}");
        replays_strictly_first_fit(&path);
    }
    let cc1 = traces.iter().find(|n| n.starts_with("t.cc1.")).unwrap();
    let (_, pid) = process_of_trace(cc1, "t", ".csv").unwrap();
    assert!(note.contains(&format!("cc1 (pid {pid}): ")), "{note}");
    // cc1 did the work: more events than the driver.
    let events = |name: &str| ops(&dir.path().join(name)).values().sum::<u64>();
    assert!(events(cc1) > events("t.csv"), "{note}");
}

#[test]
fn no_follow_records_the_first_process_alone() {
    let dir = tempfile::tempdir().unwrap();
    hello_c(dir.path());
    let gcc = tool("gcc");
    let output = record_output(
        dir.path(),
        "t.csv",
        &["--no-follow"],
        &[gcc.to_str().unwrap(), "-O2", "-c", "hello.c"],
    );
    let note = stderr(&output);
    assert!(output.status.success(), "{note}");
    assert_eq!(files_starting(dir.path(), "t."), ["t.csv"], "{note}");
    assert!(!note.contains("processes recorded"), "{note}");
    replays_strictly_first_fit(&dir.path().join("t.csv"));
}

/// A child forked without `exec` is not recorded (its heap starts as a copy of its parent's),
/// and the listing says so.
#[test]
fn a_fork_without_exec_is_listed_as_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let python = tool("python3");
    let script = "
import os
keep = [str(i) * 3 for i in range(1000)]
pid = os.fork()
if pid == 0:
    junk = [str(i) * 5 for i in range(5000)]
    os._exit(0)
os.waitpid(pid, 0)
";
    let output =
        record_output(dir.path(), "f.csv", &[], &[python.to_str().unwrap(), "-S", "-c", script]);
    let note = stderr(&output);
    assert!(output.status.success(), "{note}");
    assert!(note.contains("and 1 forked process that recorded nothing of its own"), "{note}");
    assert_eq!(files_starting(dir.path(), "f."), ["f.csv"], "{note}");
}

#[test]
fn a_csv_gz_output_is_gzip_for_every_process_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    hello_c(dir.path());
    let gcc = tool("gcc");
    let output = record_output(
        dir.path(),
        "x.csv.gz",
        &[],
        &[gcc.to_str().unwrap(), "-O2", "-c", "hello.c"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let traces = files_starting(dir.path(), "x.");
    assert!(traces.len() >= 3, "{traces:?}");
    for name in &traces {
        assert!(name.ends_with(".csv.gz"), "{traces:?}");
        let path = dir.path().join(name);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..2], b"\x1f\x8b", "{name} is gzip");
        replays_strictly_first_fit(&path);
    }
}

#[test]
fn an_rtrace_output_is_an_rtrace_that_replays() {
    let dir = tempfile::tempdir().unwrap();
    let sort = tool("sort");
    let input = dir.path().join("numbers.txt");
    let numbers: String = (0..2000u64).map(|i| format!("{}\n", (i * 7919) % 2003)).collect();
    std::fs::write(&input, numbers).unwrap();
    let output = record_output(
        dir.path(),
        "x.rtrace",
        &["--no-follow"],
        &[sort.to_str().unwrap(), "-n", input.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let path = dir.path().join("x.rtrace");
    assert_eq!(&std::fs::read(&path).unwrap()[..8], b"\x89RTRACE\n");
    replays_strictly_first_fit(&path);
    // The staged CSV is gone with the private directory: the trace alone is left.
    assert_eq!(files_starting(dir.path(), "."), Vec::<String>::new());
    assert_eq!(files_starting(dir.path(), "x."), ["x.rtrace"]);
}

#[test]
fn an_extension_record_cannot_write_is_refused_before_the_program_runs() {
    let dir = tempfile::tempdir().unwrap();
    let sh = tool("sh");
    for (name, expected) in [
        ("x.zst", "knows .csv (CSV), .csv.gz (gzip-compressed CSV) and .rtrace (binary), not .zst"),
        ("x.rtrace.gz", "an .rtrace file is not compressed"),
    ] {
        let output =
            record_output(dir.path(), name, &[], &[sh.to_str().unwrap(), "-c", "touch ran"]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(message.contains(&format!("cannot write {}", dir.path().join(name).display())));
        assert!(!dir.path().join("ran").exists(), "the program ran");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn dash_o_dash_keeps_the_programs_standard_output_out_of_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let sh = tool("sh");
    let output = replay()
        .current_dir(dir.path())
        .args(["record", "-o", "-", "--", sh.to_str().unwrap(), "-c"])
        .arg("echo from-the-program; ls / > /dev/null")
        .output()
        .unwrap();
    let note = stderr(&output);
    assert!(output.status.success(), "{note}");
    let csv = String::from_utf8(output.stdout).unwrap();
    assert!(csv.starts_with("op,ptr,size,old_ptr,align,thread,time_ns\n"), "{csv}");
    assert!(!csv.contains("from-the-program"), "{csv}");
    // The program's output went to standard error, before replay's note.
    assert!(note.contains("from-the-program\n"), "{note}");
    // The trace is the shell's; ls, another process, is listed but not written.
    assert!(note.contains("not written (-o - writes the first process's trace alone"), "{note}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written beside");
    let trace = dir.path().join("sh.csv");
    std::fs::write(&trace, &csv).unwrap();
    replays_strictly_first_fit(&trace);
}

/// A `replay` binary with nothing beside it (as `cargo install` leaves it) records with the
/// interposer it carries, cached privately: two directories of mode 0700 and the library, which
/// a later run checks byte for byte and replaces when it differs.
#[test]
fn a_lone_copy_of_the_binary_records_with_the_interposer_it_carries() {
    use std::os::unix::fs::PermissionsExt;
    build_libraries();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let lone = bin.join("replay");
    std::fs::copy(assert_cmd::cargo::cargo_bin("replay"), &lone).unwrap();
    let cache = dir.path().join("cache");
    let ls = tool("ls");
    let run = || {
        let out = dir.path().join("ls.csv");
        let output = std::process::Command::new(&lone)
            .args(["record", "-o"])
            .arg(&out)
            .args(["--", ls.to_str().unwrap(), "/"])
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(!stderr(&output).contains("cannot keep the interposer"), "{}", stderr(&output));
        replays_strictly_first_fit(&out);
    };
    run();
    let versions: Vec<PathBuf> =
        std::fs::read_dir(cache.join("replay")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let library = versions[0].join("libreplay_interposer.so");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache.join("replay")), 0o700);
    assert_eq!(mode(&versions[0]), 0o700);
    let bytes = std::fs::read(&library).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    // A damaged copy is replaced, and so is a symlink put in its place (never followed).
    std::fs::write(&library, b"not a library").unwrap();
    run();
    assert_eq!(std::fs::read(&library).unwrap(), bytes);
    let elsewhere = dir.path().join("elsewhere.so");
    std::fs::write(&elsewhere, b"planted").unwrap();
    std::fs::remove_file(&library).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &library).unwrap();
    run();
    assert!(!std::fs::symlink_metadata(&library).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"planted");
    assert_eq!(std::fs::read(&library).unwrap(), bytes);
}

/// What the README offers: `cargo install --path . --root DIR`, then `replay record -- ls`. The
/// install builds in release, with `--locked` as CI builds, in this build's own target
/// directory: after `cargo test --release` it finds every artifact built (about 2 s); run
/// alone under another profile, it builds the release first.
#[test]
fn cargo_install_into_a_temporary_root_gives_a_replay_that_records() {
    let root = tempfile::tempdir().unwrap();
    let target = profile_dir().parent().unwrap().to_path_buf();
    let status = std::process::Command::new(env!("CARGO"))
        .args(["install", "--locked", "--quiet", "--path", env!("CARGO_MANIFEST_DIR"), "--root"])
        .arg(root.path())
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo install failed");
    let installed = root.path().join("bin").join("replay");
    let beside: Vec<_> = std::fs::read_dir(root.path().join("bin")).unwrap().collect();
    assert_eq!(beside.len(), 1, "the binary alone: {beside:?}");
    let out = root.path().join("ls.csv");
    let output = std::process::Command::new(&installed)
        .args(["record", "-o"])
        .arg(&out)
        .args(["--", tool("ls").to_str().unwrap()])
        .env("XDG_CACHE_HOME", root.path().join("cache"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("recorded"), "{}", stderr(&output));
    replays_strictly_first_fit(&out);
}
