//! The registry of built-in real allocators, [`REAL`], and the names `--alloc` takes for real
//! allocators ([`RealSpec::parse`]): a built-in name or `preload:PATH`.

use super::allocator::RealAllocator;
use std::path::{Path, PathBuf};

/// One built-in real allocator: its CLI name, a one-line description and a constructor.
#[derive(Clone, Copy)]
pub struct RealEntry {
    /// The name used with `--alloc` and in every report.
    pub name: &'static str,
    /// One line for `--help` and the README.
    pub about: &'static str,
    /// The backend (called in the child, before the replay: it may allocate).
    pub new: fn() -> Result<Box<dyn RealAllocator>, String>,
}

impl std::fmt::Debug for RealEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every built-in real allocator, in report order. `--alloc real` means this list.
pub static REAL: &[RealEntry] = &[
    RealEntry {
        name: "glibc",
        about: "the C library's malloc (ptmalloc2), with malloc_usable_size and mallinfo2",
        new: super::glibc::new,
    },
    RealEntry {
        name: "mimalloc",
        about: "mimalloc 3 (bundled by libmimalloc-sys), with mi_usable_size and mi_process_info",
        new: super::mimalloc::new,
    },
    RealEntry {
        name: "jemalloc",
        about: "jemalloc 5.3 (bundled by tikv-jemalloc-sys, prefixed symbols), with its stats.*",
        new: super::jemalloc::new,
    },
];

/// The prefix of a preloaded library's name: `preload:PATH`.
pub const PRELOAD_PREFIX: &str = "preload:";

/// A real allocator as `--alloc` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RealSpec {
    /// One of [`REAL`].
    Builtin(&'static str),
    /// `preload:PATH`: a shared library preloaded into the child.
    Preload(PathBuf),
}

/// Look a built-in real allocator up by its CLI name.
pub fn by_name(name: &str) -> Option<&'static RealEntry> {
    REAL.iter().find(|entry| entry.name == name)
}

/// The built-in names, comma-separated, for error messages.
pub fn names() -> String {
    REAL.iter().map(|entry| entry.name).collect::<Vec<_>>().join(", ")
}

impl RealSpec {
    /// `glibc`, `mimalloc`, `jemalloc` or `preload:PATH`; `None` for any other name (which may be
    /// a simulated strategy's). A `preload:` path must name an existing file and contain no
    /// space or colon (`LD_PRELOAD` splits on them); a relative path is made absolute, so the
    /// child finds it wherever it runs.
    pub fn parse(name: &str) -> Option<Result<RealSpec, String>> {
        if let Some(entry) = by_name(name) {
            return Some(Ok(RealSpec::Builtin(entry.name)));
        }
        let path = name.strip_prefix(PRELOAD_PREFIX)?;
        Some(Self::preload(Path::new(path)))
    }

    fn preload(path: &Path) -> Result<RealSpec, String> {
        let shown = path.display();
        if path.as_os_str().is_empty() {
            return Err("preload: needs the path of a shared library (preload:PATH)".into());
        }
        let text = path.to_string_lossy();
        if text.contains([' ', ':']) || path.to_str().is_none() {
            return Err(format!(
                "preload:{shown}: LD_PRELOAD cannot name a path with a space, a colon or bytes \
                 that are not UTF-8"
            ));
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(format!("preload:{shown}: not a file")),
            Err(e) => return Err(format!("preload:{shown}: {e}")),
        }
        let absolute = std::path::absolute(path).map_err(|e| format!("preload:{shown}: {e}"))?;
        Ok(RealSpec::Preload(absolute))
    }

    /// The name in reports: the built-in's, or `preload:PATH` as given (made absolute).
    pub fn name(&self) -> String {
        match self {
            RealSpec::Builtin(name) => (*name).to_string(),
            RealSpec::Preload(path) => format!("{PRELOAD_PREFIX}{}", path.display()),
        }
    }

    /// The library the child must be started with in `LD_PRELOAD`, if any.
    pub fn preload_path(&self) -> Option<&Path> {
        match self {
            RealSpec::Builtin(_) => None,
            RealSpec::Preload(path) => Some(path),
        }
    }

    /// Make the backend: in the child, before the replay.
    pub fn open(&self) -> Result<Box<dyn RealAllocator>, String> {
        match self {
            RealSpec::Builtin(name) => match by_name(name) {
                Some(entry) => (entry.new)(),
                None => Err(format!("unknown real allocator {name} (known: {})", names())),
            },
            RealSpec::Preload(path) => super::preload::new(path),
        }
    }
}
