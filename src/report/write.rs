//! Where exported bytes go: a file, replaced whole, or stdout; and the checks every output
//! passes before any work starts.
//!
//! # How a file destination is written
//! - **A missing path or a regular file** is replaced whole: the bytes go to a new temporary file
//!   in the same directory (`.NAME.<random>.tmp`, created with `O_EXCL` by
//!   [`crate::cleanup::temp_file_in`], so a name planted in advance, a symlink included, is
//!   never opened), which is synced and renamed over the destination. Readers see the old file
//!   or the whole new one. A new file gets mode 0666 less the umask, a replaced one keeps its
//!   mode.
//! - **A symlink** is followed to the file it names, as `cp` does: that file is replaced (its
//!   temporary file goes beside it) and the link stays a link. A dangling symlink is refused.
//! - **An existing file that is not regular** (a device such as `/dev/null`, a FIFO, a terminal,
//!   `/dev/stdout`) is opened and written into directly: renaming over it would replace it.
//! - A directory is refused.
//!
//! [`AtomicFile::create`] (and so [`Prepared::new`]) makes the temporary file at once: creating
//! a file in the destination's directory is the honest check that the directory exists and is
//! writable, so a bad destination is found before a long replay, not after it.

use crate::cleanup;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A place to write a result: a path, or `-` for stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

impl Destination {
    pub fn parse(arg: &Path) -> Destination {
        if arg == Path::new("-") {
            Destination::Stdout
        } else {
            Destination::File(arg.to_path_buf())
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Stdout => f.write_str("standard output"),
            Destination::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Write `bytes` to `dest`, whole (see the module docs). A broken pipe on stdout is not an
/// error (the reader has seen all it wanted).
pub fn write(dest: &Destination, bytes: &[u8]) -> io::Result<()> {
    Prepared::new(dest)?.finish(bytes)
}

/// How a file destination is written: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Replace the regular (or missing) file at this path, symlinks resolved.
    Replace(PathBuf),
    /// Write into this existing special file.
    Into(PathBuf),
}

/// Decide how `path` is written, refusing a directory and a dangling symlink.
pub fn resolve(path: &Path) -> io::Result<Resolved> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            Err(io::Error::new(io::ErrorKind::IsADirectory, "it is a directory (give a file name)"))
        }
        Ok(meta) if meta.is_file() => Ok(Resolved::Replace(std::fs::canonicalize(path)?)),
        Ok(_) => Ok(Resolved::Into(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "it is a symlink to a missing file (not writing through a dangling symlink)",
                ));
            }
            if path.file_name().is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the output path names no file",
                ));
            }
            Ok(Resolved::Replace(path.to_path_buf()))
        }
        Err(e) => Err(e),
    }
}

/// `file` with `O_NONBLOCK` cleared: writes wait for a slow reader instead of failing.
fn blocking(file: std::fs::File) -> io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; F_GETFL and F_SETFL touch no memory.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}

/// The directory a file at `path` lives in (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A file written as a stream and replaced whole at [`AtomicFile::commit`] (see the module
/// docs). Dropped without a commit (an error on the way, a signal), the temporary file is
/// removed and the destination is left as it was. A special file is written into directly,
/// opened at the first write.
pub struct AtomicFile {
    target: Target,
    file: Option<io::BufWriter<std::fs::File>>,
}

enum Target {
    Replace { path: PathBuf, temp: cleanup::TempFile },
    Into(PathBuf),
}

impl AtomicFile {
    /// Create the temporary file now (or, for a special file, check that it can be opened for
    /// writing), so that a destination that cannot be written is found at once.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        match resolve(path)? {
            Resolved::Replace(target) => {
                let name = target.file_name().unwrap_or_default().to_string_lossy();
                // A new file: 0666 less the umask, like any file the user makes; a replaced
                // file keeps its mode.
                let old_mode = std::fs::metadata(&target).ok().map(|m| m.permissions().mode());
                let dir = parent_of(&target);
                let prefix = format!(".{name}.");
                let (file, temp) = cleanup::temp_file_in(dir, &prefix, ".tmp", Some(0o666))?;
                if let Some(mode) = old_mode {
                    file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
                }
                Ok(AtomicFile {
                    target: Target::Replace { path: target, temp },
                    file: Some(io::BufWriter::with_capacity(1 << 20, file)),
                })
            }
            Resolved::Into(path) => {
                // A blocking open of a FIFO would wait here until a reader comes; O_NONBLOCK
                // opens at once, or fails with ENXIO when there is no reader yet (then the
                // first write opens it, waiting for one). An open that succeeds is kept: closing
                // it would hand a reader that is already there an end of file, and the next
                // open would then wait for a reader that has gone.
                let file = match std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&path)
                {
                    Ok(file) => Some(io::BufWriter::with_capacity(1 << 20, blocking(file)?)),
                    Err(e) if e.raw_os_error() == Some(libc::ENXIO) => None,
                    Err(e) => return Err(e),
                };
                Ok(AtomicFile { target: Target::Into(path), file })
            }
        }
    }

    fn writer(&mut self) -> io::Result<&mut io::BufWriter<std::fs::File>> {
        if self.file.is_none() {
            match &self.target {
                Target::Into(path) => {
                    let file = std::fs::OpenOptions::new().write(true).open(path)?;
                    self.file = Some(io::BufWriter::with_capacity(1 << 20, file));
                }
                Target::Replace { .. } => return Err(io::Error::other("already committed")),
            }
        }
        self.file.as_mut().ok_or_else(|| io::Error::other("already committed"))
    }

    /// The open file, e.g. to seek back and rewrite a header.
    pub fn file(&mut self) -> io::Result<&mut std::fs::File> {
        let writer = self.writer()?;
        writer.flush()?;
        Ok(writer.get_mut())
    }

    /// Flush, sync and rename over the destination (a special file: flush).
    pub fn commit(mut self) -> io::Result<()> {
        let writer = self.writer()?;
        writer.flush()?;
        let writer = self.file.take().ok_or_else(|| io::Error::other("already committed"))?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        match self.target {
            Target::Replace { path, temp } => {
                file.sync_all()?;
                drop(file);
                temp.persist(&path)
            }
            Target::Into(_) => Ok(()),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// The process's umask, read without changing it (Linux's /proc; 022 if unreadable).
#[cfg(test)]
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Umask:"))?;
            u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
        })
        .unwrap_or(0o022)
}

/// A destination made ready before the work that fills it: for a file, its temporary file
/// exists (see [`AtomicFile::create`]).
pub enum Prepared {
    Stdout,
    File(AtomicFile),
}

impl Prepared {
    pub fn new(dest: &Destination) -> io::Result<Prepared> {
        Ok(match dest {
            Destination::Stdout => Prepared::Stdout,
            Destination::File(path) => Prepared::File(AtomicFile::create(path)?),
        })
    }

    /// Write `bytes` and commit. A broken pipe on stdout is not an error.
    pub fn finish(self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Prepared::Stdout => match io::stdout().lock().write_all(bytes) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            },
            Prepared::File(mut file) => {
                file.write_all(bytes)?;
                file.commit()
            }
        }
    }
}

/// What makes two paths the same file: the device and inode of an existing file, else the
/// path with its directory resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

impl FileId {
    pub fn of(path: &Path) -> FileId {
        match std::fs::metadata(path) {
            Ok(meta) => FileId::Inode(meta.dev(), meta.ino()),
            Err(_) => FileId::Path(resolved_path(path)),
        }
    }

    /// The file standard output is, if it can be told.
    pub fn stdout() -> Option<FileId> {
        // SAFETY: fstat writes only into the stat it is given.
        unsafe {
            let mut stat: libc::stat = std::mem::zeroed();
            (libc::fstat(1, &mut stat) == 0)
                .then_some(FileId::Inode(stat.st_dev as u64, stat.st_ino as u64))
        }
    }

    /// Whether this is `/dev/null`, which any number of outputs may share.
    fn is_null(&self) -> bool {
        *self == FileId::of(Path::new("/dev/null"))
    }
}

/// `path` made absolute with its symlinks resolved, as far as it exists: the deepest existing
/// ancestor is resolved and the missing rest appended.
pub fn resolved_path(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = path;
    loop {
        let probe = if existing.as_os_str().is_empty() { Path::new(".") } else { existing };
        if let Ok(full) = std::fs::canonicalize(probe) {
            return missing.iter().rev().fold(full, |p, name| p.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Refuse outputs that would destroy an input or each other, before any work starts:
/// an output naming one of `inputs` (by device and inode, so through a symlink or a hard link
/// too), two outputs naming the same file (`/dev/null` excepted), and more than one output to
/// standard output. `outputs` pairs each destination with the option that gave it.
pub fn check_distinct(inputs: &[&Path], outputs: &[(&str, &Destination)]) -> Result<(), String> {
    let stdout: Vec<&str> =
        outputs.iter().filter(|(_, d)| **d == Destination::Stdout).map(|(o, _)| *o).collect();
    if stdout.len() > 1 {
        return Err(format!(
            "{} write to standard output, where they would mix: send at most one there and \
             the others to files",
            stdout.join(" and ")
        ));
    }
    let id_of = |dest: &Destination| match dest {
        Destination::Stdout => FileId::stdout(),
        Destination::File(path) => Some(FileId::of(path)),
    };
    let inputs: Vec<(&Path, FileId)> = inputs.iter().map(|p| (*p, FileId::of(p))).collect();
    let mut seen: Vec<(&str, &Destination, FileId)> = Vec::new();
    for (option, dest) in outputs {
        let Some(id) = id_of(dest) else { continue };
        if let Some((input, _)) = inputs.iter().find(|(_, i)| *i == id) {
            return Err(format!(
                "{option} {dest} is the input {}: writing it would destroy it; choose another \
                 file",
                input.display()
            ));
        }
        if id.is_null() {
            continue;
        }
        if let Some((other, other_dest, _)) = seen.iter().find(|(_, _, i)| *i == id) {
            return Err(format!(
                "{other} {other_dest} and {option} {dest} are the same file: one would replace \
                 the other; give each its own file"
            ));
        }
        seen.push((option, dest, id));
    }
    Ok(())
}

/// `--report DIR`, built whole in a new directory beside DIR (`.DIR.<random>.report`) and
/// moved into place by [`ReportDir::commit`]: readers, and other runs writing the same DIR at the
/// same time, see the old report or a whole new one, never a mixture or a part; the last run
/// to finish wins. Dropped uncommitted (a failure, a signal), the staging directory goes and DIR
/// is left as it was.
///
/// DIR is created if missing, with its missing parents (removed again if the run fails, being
/// part of the report). An existing DIR is replaced whole, so only
/// one `replay` could have written is accepted: an empty directory, or one holding an
/// `index.html` written by `replay` and nothing but regular files. Anything else is refused
/// before the replay: `replay` never deletes a directory the user did not make for a report.
#[derive(Debug)]
pub struct ReportDir {
    /// DIR, symlinks resolved.
    target: PathBuf,
    stage: cleanup::TempDir,
    /// DIR's missing parents, made for it (dropped after `stage`, so removed after it).
    parents: cleanup::CreatedDirs,
}

/// Why a `--report` directory cannot be used.
#[derive(Debug)]
pub enum ReportDirError {
    /// Not a directory `replay` may replace: the message says why.
    Refused(String),
    /// Its staging directory could not be made (a missing or read-only parent).
    Io(io::Error),
}

impl ReportDir {
    /// Check DIR by the rules above and create the staging directory beside it.
    pub fn prepare(dir: &Path) -> Result<ReportDir, ReportDirError> {
        let refused =
            |why: &str| ReportDirError::Refused(format!("--report {}: {why}", dir.display()));
        let target = match std::fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => return Err(refused("it exists and is not a directory")),
            Ok(_) => {
                let target = std::fs::canonicalize(dir).map_err(ReportDirError::Io)?;
                if let Err(why) = replaceable(&target) {
                    return Err(refused(&why));
                }
                target
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(refused("it is a symlink to a missing directory"));
                }
                resolved_path(dir)
            }
            Err(e) => return Err(ReportDirError::Io(e)),
        };
        let Some(name) = target.file_name() else {
            return Err(refused("give the report a directory of its own"));
        };
        let prefix = format!(".{}.", name.to_string_lossy());
        let parents = cleanup::create_dirs(parent_of(&target)).map_err(ReportDirError::Io)?;
        let stage = cleanup::temp_dir_in(parent_of(&target), &prefix, ".report", 0o777)
            .map_err(ReportDirError::Io)?;
        Ok(ReportDir { target, stage, parents })
    }

    /// DIR, symlinks resolved.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// If `path` names a file directly inside DIR, its name there: such an output is written
    /// into the staged report, and lands with it.
    pub fn entry_of(&self, path: &Path) -> Option<std::ffi::OsString> {
        let full = resolved_path(path);
        (full.parent() == Some(self.target.as_path())).then(|| full.file_name().map(Into::into))?
    }

    /// Write the file `name` of the report (created new, synced).
    pub fn write_file(&self, name: &std::ffi::OsStr, bytes: &[u8]) -> io::Result<()> {
        let mut file = std::fs::File::create_new(self.stage.path().join(name))?;
        file.write_all(bytes)?;
        file.sync_all()
    }

    /// Move the staged report into place (see the type's docs).
    pub fn commit(self) -> io::Result<()> {
        let ReportDir { target, stage, parents } = self;
        parents.keep();
        for _ in 0..3 {
            // Under the signal path's lock: a run that exits 130 or 143 leaves no new report.
            let mut undisturbed = crate::cleanup::undisturbed();
            match std::fs::rename(stage.path(), &target) {
                Ok(()) => {
                    stage.keep_undisturbed(&mut undisturbed);
                    return Ok(());
                }
                // DIR exists and is not empty: another report (or another run's, just now).
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                    // Not under the lock (the fallback makes a temporary directory): the
                    // exchange is one step, the staging directory then holds the old report.
                    drop(undisturbed);
                    replaceable(&target).map_err(|why| {
                        io::Error::other(format!("{why} (it changed during the run)"))
                    })?;
                    match exchange(stage.path(), &target) {
                        // The staging directory now holds the old report: dropped, it goes.
                        Ok(()) => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("the directory kept changing during the run"))
    }
}

/// Whether DIR is one `replay` may replace: empty, or a report (see [`ReportDir`]).
fn replaceable(dir: &Path) -> Result<(), String> {
    let mut entries = 0;
    let mut has_index = false;
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        entries += 1;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            return Err(format!(
                "it holds {}, which is not a regular file, so it is not a replay report; give a \
                 new or empty directory",
                entry.file_name().to_string_lossy()
            ));
        }
        if entry.file_name() == "index.html" {
            let mut head = vec![0; super::html::PAGE_HEAD.len()];
            let read = std::fs::File::open(entry.path())
                .and_then(|mut f| io::Read::read_exact(&mut f, &mut head));
            has_index = read.is_ok() && head == super::html::PAGE_HEAD.as_bytes();
        }
    }
    if entries > 0 && !has_index {
        return Err("it is not empty and holds no index.html written by replay, so it is not a \
                    replay report (which would be replaced whole); give a new or empty directory"
            .into());
    }
    Ok(())
}

/// Swap two directories in one step (Linux's `renameat2(RENAME_EXCHANGE)`), or, where that is
/// not supported, move `b` aside, `a` into its place, and remove the old one.
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c =
            |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
        let (ca, cb) = (c(a)?, c(b)?);
        // SAFETY: two valid NUL-terminated paths.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) {
            return Err(e);
        }
    }
    // The fallback: for a moment DIR is absent (never partial).
    let aside = cleanup::temp_dir_in(parent_of(b), ".replay-old.", "", 0o700)?;
    std::fs::rename(b, aside.path())?;
    if let Err(e) = std::fs::rename(a, b) {
        let _ = std::fs::rename(aside.path(), b);
        aside.keep();
        return Err(e);
    }
    // `a` is gone (it is DIR now); make the caller's staging directory hold the old report,
    // so that dropping it removes that.
    std::fs::rename(aside.path(), a)?;
    aside.keep();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, b"old").unwrap();
        write(&Destination::File(path.clone()), b"new contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_streamed_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"part").unwrap();
        assert!(!path.exists());
        file.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"part");
        let mut failed = AtomicFile::create(&path).unwrap();
        failed.write_all(b"half").unwrap();
        drop(failed);
        assert_eq!(std::fs::read(&path).unwrap(), b"part");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn writing_into_a_missing_directory_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("out.json");
        assert!(write(&Destination::File(path), b"x").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_symlink_planted_where_a_temporary_might_go_is_never_followed() {
        // The old scheme's name for process ids near ours: every one a symlink to a victim.
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let me = std::process::id();
        for pid in me.saturating_sub(50)..me + 50 {
            let planted = dir.path().join(format!(".out.json.{pid}.tmp"));
            std::os::unix::fs::symlink(&victim, planted).unwrap();
        }
        write(&Destination::File(dir.path().join("out.json")), b"result").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(dir.path().join("out.json")).unwrap(), b"result");
    }

    #[test]
    fn a_symlinked_destination_replaces_the_file_it_names_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write(&Destination::File(link.clone()), b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(write(&Destination::File(dangling), b"x").is_err());
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn a_fifo_is_written_into_and_stays_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write(&Destination::File(fifo.clone()), b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        // A reader that is there before the destination is checked gets the bytes too, not an
        // end of file from the check (which then left the write waiting for a reader forever).
        // SAFETY: a valid NUL-terminated path; the descriptor is ours to close.
        let reader = unsafe { libc::open(name.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK) };
        assert!(reader >= 0);
        let mut file = AtomicFile::create(&fifo).unwrap();
        let mut got = [0u8; 64];
        // Nothing written yet, and the writer still there: EAGAIN, not the 0 of an end of file.
        // SAFETY: reading into a buffer of that size; the descriptor is ours.
        let early = unsafe { libc::read(reader, got.as_mut_ptr().cast(), got.len()) };
        assert_eq!((early, io::Error::last_os_error().raw_os_error()), (-1, Some(libc::EAGAIN)));
        file.write_all(b"after the check").unwrap();
        file.commit().unwrap();
        // SAFETY: reading into a buffer of that size; the descriptor is ours.
        let n = unsafe { libc::read(reader, got.as_mut_ptr().cast(), got.len()) };
        unsafe { libc::close(reader) };
        assert_eq!(&got[..n.max(0) as usize], b"after the check");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_new_file_gets_the_usual_permissions_and_a_replaced_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.json");
        write(&Destination::File(new.clone()), b"x").unwrap();
        let mode = std::fs::metadata(&new).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&Destination::File(new.clone()), b"y").unwrap();
        assert_eq!(std::fs::metadata(&new).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn outputs_naming_an_input_or_each_other_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("t.csv");
        std::fs::write(&trace, b"op,ptr,size\n").unwrap();
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&trace, &hard).unwrap();
        let file = |p: &Path| Destination::File(p.to_path_buf());
        let err = check_distinct(&[&trace], &[("--json", &file(&hard))]).unwrap_err();
        assert!(err.contains("is the input"), "{err}");
        let out = dir.path().join("out");
        let twice = [("--json", &file(&out)), ("--csv", &file(&dir.path().join("./out")))];
        assert!(check_distinct(&[&trace], &twice).unwrap_err().contains("same file"));
        let null = file(Path::new("/dev/null"));
        assert!(check_distinct(&[&trace], &[("--json", &null), ("--csv", &null)]).is_ok());
        let stdout = [("--json", &Destination::Stdout), ("--csv", &Destination::Stdout)];
        assert!(check_distinct(&[], &stdout).unwrap_err().contains("standard output"));
    }
}
