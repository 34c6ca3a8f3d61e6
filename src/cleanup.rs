//! Temporary files and directories that never outlive the run, even an interrupted one.
//!
//! Every temporary path `replay` creates is made here: the file an output is written to before
//! it is renamed into place ([`crate::report::write`]), the directory a `--report` is built in,
//! the streaming `.rtrace` in the system's temporary directory, and the directory `record`'s raw
//! recording goes into. Each is created new, under a name nobody can guess (the `tempfile`
//! crate: random letters, `O_CREAT | O_EXCL`, so an existing name, a planted symlink included,
//! is never opened or followed), and noted in one process-wide registry while it exists.
//!
//! On SIGINT, SIGTERM or SIGHUP, a thread that waits for them ([`install`]; signal-hook's
//! iterator, so the raw handler does nothing but wake it) takes the registry's lock, forwards
//! SIGTERM and SIGHUP to the program `replay record` runs (SIGINT from a terminal reaches it
//! already), waits up to [`CHILD_GRACE`] for it to exit, removes every noted path and exits with
//! 128 + the signal's number: 130, 143, 129. It keeps the lock until the process is gone, and
//! paths are created and noted under that same lock, so none can be created unseen in between.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// How long the signal path waits for `record`'s program to exit before cleaning up anyway.
pub const CHILD_GRACE: Duration = Duration::from_secs(2);

/// One thing the signal path must undo.
#[derive(Debug)]
enum Entry {
    File(PathBuf),
    Dir(PathBuf),
    /// A directory made as a missing parent: removed only if empty.
    EmptyDir(PathBuf),
    Child(u32),
}

#[derive(Debug)]
struct Registry {
    next: u64,
    entries: Vec<(u64, Entry)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { next: 0, entries: Vec::new() });

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Registry {
    fn note(&mut self, entry: Entry) -> Note {
        let id = self.next;
        self.next += 1;
        self.entries.push((id, entry));
        Note { id }
    }
}

/// A registry entry, forgotten when dropped (its owner has removed or renamed the path, or
/// waited for the program).
#[derive(Debug)]
pub struct Note {
    id: u64,
}

impl Drop for Note {
    fn drop(&mut self) {
        registry().entries.retain(|(id, _)| *id != self.id);
    }
}

/// Start the thread that cleans up on SIGINT, SIGTERM and SIGHUP (once; later calls do
/// nothing). Until this is called, those signals end the process as they always do.
pub fn install() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).map(|mut signals| {
                std::thread::spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        clean_up_and_exit(signal);
                    }
                });
            });
    });
    result
}

/// The signal path: see the module docs.
fn clean_up_and_exit(signal: i32) -> ! {
    let registry = registry();
    let children: Vec<u32> = registry
        .entries
        .iter()
        .filter_map(|(_, e)| match e {
            Entry::Child(pid) => Some(*pid),
            _ => None,
        })
        .collect();
    for &pid in &children {
        if signal != signal_hook::consts::SIGINT {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, signal) };
        }
    }
    let deadline = Instant::now() + CHILD_GRACE;
    while children.iter().any(|&pid| running(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Newest first: a staging directory goes before the parents made for it.
    for (_, entry) in registry.entries.iter().rev() {
        match entry {
            Entry::File(path) => drop(std::fs::remove_file(path)),
            Entry::Dir(path) => drop(std::fs::remove_dir_all(path)),
            Entry::EmptyDir(path) => drop(std::fs::remove_dir(path)),
            Entry::Child(_) => {}
        }
    }
    // The lock is held until the process is gone: nothing new can be created meanwhile.
    std::process::exit(128 + signal)
}

/// Whether our child `pid` has not exited yet. Looks without reaping it (`WNOWAIT`): the
/// thread that waits for it still gets its status.
fn running(pid: u32) -> bool {
    // SAFETY: waitid writes only into the siginfo it is given.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
            return false; // already reaped (or not ours)
        }
        info.si_pid() == 0
    }
}

/// Start the program `replay record` runs and note it, so that a SIGTERM to `replay` reaches
/// it too. Both happen under the registry's lock: a signal that arrives while the program starts
/// waits until it is noted, and is then forwarded to it (noting it after `spawn` returned would
/// let a signal in between end `replay` and leave the program running). Keep the note until the
/// program has been waited for.
pub fn spawn_child(command: &mut std::process::Command) -> io::Result<(std::process::Child, Note)> {
    let mut registry = registry();
    let child = command.spawn()?;
    let note = registry.note(Entry::Child(child.id()));
    Ok((child, note))
}

/// While this lives the signal path waits: a rename into place and forgetting its note happen
/// together, before the signal path runs or not at all (it then exits first). Without it, an
/// output renamed into place just as a signal's clean-up runs would outlive a run that exits
/// 130 or 143.
pub struct Undisturbed(MutexGuard<'static, Registry>);

/// Hold off the signal path: see [`Undisturbed`].
pub fn undisturbed() -> Undisturbed {
    Undisturbed(registry())
}

impl Undisturbed {
    /// Forget `note` now, under the lock this holds (dropping it would wait for that lock).
    fn forget(&mut self, note: Note) {
        self.0.entries.retain(|(id, _)| *id != note.id);
        std::mem::forget(note);
    }
}

/// A temporary file, removed when dropped unless [`TempFile::persist`]ed.
#[derive(Debug)]
pub struct TempFile {
    path: Option<tempfile::TempPath>,
    _note: Note,
}

impl TempFile {
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Rename the file to `target` (replacing `target` if it is a file). Undisturbed by a
    /// signal: the file lands and is forgotten, or the signal path removes it first.
    pub fn persist(self, target: &Path) -> io::Result<()> {
        let TempFile { path, _note: note } = self;
        let path = path.ok_or_else(|| io::Error::other("already persisted"))?;
        let mut undisturbed = undisturbed();
        path.persist(target).map_err(|e| e.error)?;
        undisturbed.forget(note);
        Ok(())
    }
}

/// Create a new file in `dir` named `{prefix}{random}{suffix}`, with `mode` (before the umask)
/// if given, else 0600: the open file and its [`TempFile`].
pub fn temp_file_in(
    dir: &Path,
    prefix: &str,
    suffix: &str,
    mode: Option<u32>,
) -> io::Result<(std::fs::File, TempFile)> {
    use std::os::unix::fs::PermissionsExt;
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix).rand_bytes(10);
    if let Some(mode) = mode {
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    let mut registry = registry();
    let (file, path) = builder.tempfile_in(dir).map_err(without_path)?.into_parts();
    let note = registry.note(Entry::File(path.to_path_buf()));
    Ok((file, TempFile { path: Some(path), _note: note }))
}

/// A temporary directory, removed with everything in it when dropped unless
/// [`TempDir::keep`] is called.
#[derive(Debug)]
pub struct TempDir {
    dir: Option<tempfile::TempDir>,
    _note: Note,
}

impl TempDir {
    pub fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), |d| d.path())
    }

    /// Stop removing the directory (it has been renamed away, or must stay).
    pub fn keep(mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
    }

    /// [`TempDir::keep`], under the lock `undisturbed` holds (the directory was just renamed
    /// into place under it).
    pub fn keep_undisturbed(self, undisturbed: &mut Undisturbed) {
        let TempDir { dir, _note: note } = self;
        if let Some(dir) = dir {
            let _ = dir.keep();
        }
        undisturbed.forget(note);
    }
}

/// Create a new directory in `dir` named `{prefix}{random}{suffix}` with `mode` (before the
/// umask).
pub fn temp_dir_in(dir: &Path, prefix: &str, suffix: &str, mode: u32) -> io::Result<TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(prefix)
        .suffix(suffix)
        .rand_bytes(10)
        .permissions(std::fs::Permissions::from_mode(mode));
    let mut registry = registry();
    let dir = builder.tempdir_in(dir).map_err(without_path)?;
    let note = registry.note(Entry::Dir(dir.path().to_path_buf()));
    Ok(TempDir { dir: Some(dir), _note: note })
}

/// The directories [`create_dirs`] made, removed again (if still empty, newest first) when
/// dropped unless [`CreatedDirs::keep`] is called.
#[derive(Debug)]
pub struct CreatedDirs {
    dirs: Vec<(PathBuf, Note)>,
}

impl CreatedDirs {
    /// Leave the directories in place.
    pub fn keep(mut self) {
        self.dirs.clear();
    }
}

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        while let Some((dir, note)) = self.dirs.pop() {
            let _ = std::fs::remove_dir(dir);
            drop(note);
        }
    }
}

/// Create `dir` and whichever of its parents are missing (`mkdir -p`), noting each one made
/// here, so that a failed or interrupted run takes them away again.
pub fn create_dirs(dir: &Path) -> io::Result<CreatedDirs> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.as_os_str().is_empty() && !at.exists() {
        missing.push(at.to_path_buf());
        at = at.parent().unwrap_or(Path::new(""));
    }
    let mut created = CreatedDirs { dirs: Vec::new() };
    for dir in missing.into_iter().rev() {
        let mut registry = registry();
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                let note = registry.note(Entry::EmptyDir(dir.clone()));
                created.dirs.push((dir, note));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

/// tempfile's errors end with the temporary path it tried (` at path "..."`); the caller names
/// the destination, which says more to the user.
fn without_path(e: io::Error) -> io::Error {
    let text = e.to_string();
    match text.rfind(" at path ") {
        Some(at) => io::Error::new(e.kind(), &text[..at]),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noted() -> Vec<PathBuf> {
        registry()
            .entries
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::File(p) | Entry::Dir(p) | Entry::EmptyDir(p) => Some(p.clone()),
                Entry::Child(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_temporary_file_is_noted_while_it_exists_and_forgotten_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (_, temp) = temp_file_in(dir.path(), ".x.", ".tmp", None).unwrap();
        let path = temp.path().to_path_buf();
        assert!(noted().contains(&path) && path.exists());
        drop(temp);
        assert!(!noted().contains(&path) && !path.exists());
    }

    #[test]
    fn a_persisted_file_stays_and_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (_, temp) = temp_file_in(dir.path(), ".x.", ".tmp", Some(0o644)).unwrap();
        let path = temp.path().to_path_buf();
        temp.persist(&dir.path().join("x")).unwrap();
        assert!(!noted().contains(&path) && dir.path().join("x").exists());
    }

    #[test]
    fn a_persist_waits_while_the_signal_path_holds_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        let (_, temp) = temp_file_in(dir.path(), ".x.", ".tmp", None).unwrap();
        // Standing in for the signal path, which holds the lock until the process exits.
        let held = undisturbed();
        let (done, landed) = std::sync::mpsc::channel();
        let persisting = {
            let target = target.clone();
            std::thread::spawn(move || done.send(temp.persist(&target).is_ok()).unwrap())
        };
        // However long we wait, nothing lands while the lock is held (a wrong build may pass
        // this on a slow machine, a right one never fails it).
        assert!(landed.recv_timeout(std::time::Duration::from_millis(200)).is_err());
        assert!(!target.exists());
        drop(held);
        assert!(landed.recv().unwrap());
        persisting.join().unwrap();
        assert!(target.exists());
    }

    #[test]
    fn a_started_program_is_noted_before_a_signal_can_see_the_registry() {
        let (mut child, note) =
            spawn_child(std::process::Command::new("true").stdout(std::process::Stdio::null()))
                .unwrap();
        let pid = child.id();
        assert!(registry().entries.iter().any(|(_, e)| matches!(e, Entry::Child(p) if *p == pid)));
        child.wait().unwrap();
        drop(note);
        assert!(!registry().entries.iter().any(|(_, e)| matches!(e, Entry::Child(p) if *p == pid)));
    }

    #[test]
    fn missing_parents_made_for_a_failed_run_are_taken_away_again() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a").join("b");
        let created = create_dirs(&deep).unwrap();
        assert!(deep.is_dir() && noted().contains(&dir.path().join("a")));
        drop(created);
        assert!(!dir.path().join("a").exists());
        create_dirs(&deep).unwrap().keep();
        assert!(deep.is_dir() && !noted().contains(&deep));
    }

    #[test]
    fn a_temporary_directory_goes_with_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let temp = temp_dir_in(dir.path(), ".r.", "", 0o755).unwrap();
        std::fs::write(temp.path().join("a"), b"a").unwrap();
        let path = temp.path().to_path_buf();
        assert!(noted().contains(&path));
        drop(temp);
        assert!(!path.exists() && !noted().contains(&path));
    }
}
