//! The vocabulary every reader of a trace shares: [`Event`]s and their [`Op`]s, the parsed
//! [`Trace`], how to read one ([`ParseOptions`], [`Format`]) and what goes wrong ([`TraceError`]).
//! A leaf: it imports no other file of `trace/`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Dense id of one allocated block, numbered from 0 in order of allocation. Never reused.
pub type BlockId = u32;

/// What one event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    /// `malloc(size)`: a new block `id`.
    Malloc = 0,
    /// `calloc(nmemb, size)` with `size = nmemb * size`: replayed as malloc.
    Calloc = 1,
    /// `realloc(ptr, size)` of the live block `id`; the block keeps its id.
    Realloc = 2,
    /// `free(ptr)` of the live block `id`.
    Free = 3,
    /// `memalign(align, size)` (also `aligned_alloc`, `posix_memalign`): a new block `id`.
    Memalign = 4,
    /// The program wrote into block `id` (the safety lab): see [`Event::write`].
    Write = 5,
}

impl Op {
    /// Every op, in the order of their numbers.
    pub const ALL: [Op; 6] =
        [Op::Malloc, Op::Calloc, Op::Realloc, Op::Free, Op::Memalign, Op::Write];

    /// The name used in trace files and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Op::Malloc => "malloc",
            Op::Calloc => "calloc",
            Op::Realloc => "realloc",
            Op::Free => "free",
            Op::Memalign => "memalign",
            Op::Write => "write",
        }
    }

    /// Whether the op creates a new block.
    pub const fn allocates(self) -> bool {
        matches!(self, Op::Malloc | Op::Calloc | Op::Memalign)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One replayable event. 16 bytes; see the module docs for the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Event {
    /// Requested byte count (0 for `free`).
    pub size: u64,
    /// The block this event allocates, resizes or frees.
    pub id: BlockId,
    pub op: Op,
    /// log2 of the requested alignment: 4 (16 bytes) for everything but `memalign`.
    pub align_log2: u8,
}

const _: () = assert!(std::mem::size_of::<Event>() == 16);

impl Event {
    pub const fn malloc(id: BlockId, size: u64) -> Event {
        Event { size, id, op: Op::Malloc, align_log2: 4 }
    }
    pub const fn calloc(id: BlockId, size: u64) -> Event {
        Event { size, id, op: Op::Calloc, align_log2: 4 }
    }
    pub const fn realloc(id: BlockId, size: u64) -> Event {
        Event { size, id, op: Op::Realloc, align_log2: 4 }
    }
    pub const fn free(id: BlockId) -> Event {
        Event { size: 0, id, op: Op::Free, align_log2: 4 }
    }
    /// `align` is rounded up to a power of two of at least 16.
    pub fn memalign(id: BlockId, size: u64, align: u64) -> Event {
        let align = align.max(16).checked_next_power_of_two().unwrap_or(1 << 63);
        Event { size, id, op: Op::Memalign, align_log2: align.trailing_zeros() as u8 }
    }

    /// The program wrote `len` bytes starting `offset` bytes into the payload of block `id`.
    /// `stale` marks a write through a pointer that was no longer live when it was written
    /// (a use-after-free): `id` is then the block the pointer last belonged to.
    ///
    /// Layout: `size` holds `offset << 32 | len`, and `align_log2` is 1 for a stale write and 0
    /// otherwise, so a write event is 16 bytes like every other.
    pub const fn write(id: BlockId, offset: u32, len: u32, stale: bool) -> Event {
        Event {
            size: (offset as u64) << 32 | len as u64,
            id,
            op: Op::Write,
            align_log2: stale as u8,
        }
    }

    /// For a write: bytes from the payload start to the first byte written.
    pub const fn write_offset(&self) -> u64 {
        self.size >> 32
    }

    /// For a write: bytes written.
    pub const fn write_len(&self) -> u64 {
        self.size & 0xFFFF_FFFF
    }

    /// For a write: whether it went through a pointer that was no longer live.
    pub const fn is_stale_write(&self) -> bool {
        self.align_log2 == 1
    }

    /// The requested alignment in bytes.
    pub const fn align(&self) -> u64 {
        1 << self.align_log2
    }
}

/// Why lenient parsing dropped (or repaired) an event; each kind is counted and reported. The
/// repairs are listed in the docs of [`csv`](super::csv).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipKind {
    /// A line that does not parse: unknown op, missing or non-numeric field, bad CSV.
    Malformed,
    /// `free` or `realloc` of a pointer that is not live.
    NotLive,
    /// An allocation returned a pointer that is still live.
    StillLive,
}

impl SkipKind {
    pub const fn name(self) -> &'static str {
        match self {
            SkipKind::Malformed => "malformed",
            SkipKind::NotLive => "not_live",
            SkipKind::StillLive => "still_live",
        }
    }
}

/// A parsed, validated trace.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Where it came from, for messages and reports.
    pub path: PathBuf,
    /// The events, in recorded order. Every `free`/`realloc` names a live block and every
    /// allocation a new one, so a replay never has to check.
    pub events: Vec<Event>,
    /// How many block ids were handed out: every id is below this.
    pub blocks: u32,
    /// Lines of the input that produced no event: `(event index, lines)` means that `lines`
    /// lines were passed over right before event `event index`. Sorted by event index, never 0.
    /// `-1` means that the event shares the line of the event before it: a `--lenient` repair
    /// can turn one line into two events (see [`SkipKind::StillLive`]).
    pub gaps: Vec<(u64, i64)>,
    /// The line of the first event (after the header, for CSV).
    pub first_line: u64,
    /// Events dropped or repaired by `--lenient`, by kind. Empty without `--lenient`.
    pub skipped: std::collections::BTreeMap<SkipKind, u64>,
    /// The recorded thread of every event, as an index into `thread_ids`, when the trace names
    /// two threads or more (a CSV `thread` column with two distinct values); empty otherwise.
    /// The simulations ignore it; the real allocators replay each thread on an OS thread of its
    /// own (see `real::threads`). 4 bytes an event, only for such traces.
    pub threads: Vec<u32>,
    /// The recorded thread ids, in order of first appearance (`None`: an empty `thread` field).
    /// Empty when `threads` is.
    pub thread_ids: Vec<Option<u64>>,
}

impl Trace {
    /// The input line that produced event `index`. O(gaps before `index`): meant for messages.
    pub fn line_of(&self, index: u64) -> u64 {
        let before = self.gaps.partition_point(|(at, _)| *at <= index);
        let passed: i64 = self.gaps[..before].iter().map(|(_, lines)| lines).sum();
        (self.first_line + index).saturating_add_signed(passed)
    }
}

/// A problem with a trace file, located by file and line.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid { path: PathBuf, line: u64, message: String },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// Writing a converted trace failed (`mtrace::to_csv`).
    #[error("cannot write the converted trace: {source}")]
    Write {
        #[source]
        source: io::Error,
    },
}

/// How to read a trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Skip invalid events (and count them) instead of failing on the first.
    pub lenient: bool,
    /// Read a CSV trace on the calling thread alone. By default, on a machine with two cores or
    /// more, its lines are read on a second thread while the calling one checks them (see
    /// `csv::parse_into`), which is faster: `cargo bench --bench parse` measures both
    /// (`benches/README.md`).
    pub one_thread: bool,
}

/// Input formats `replay` reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// The native CSV format (`op,ptr,size,...`).
    #[default]
    Csv,
    /// glibc's `MALLOC_TRACE` text.
    Mtrace,
    /// heaptrack's data file, raw or interpreted (see [`heaptrack`](super::heaptrack)).
    Heaptrack,
    /// The CS:APP malloc lab's `.rep` trace.
    Rep,
    /// The binary format of [`rtrace`](super::rtrace).
    Rtrace,
    /// Android's `record_allocs` text, as bionic's malloc debug writes it and `memory_replay`
    /// reads it (see [`android`](super::android)).
    Android,
    /// Firefox's `logalloc` log, raw or munged (see [`logalloc`](super::logalloc)).
    Logalloc,
}

impl Format {
    /// The name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Mtrace => "mtrace",
            Format::Heaptrack => "heaptrack",
            Format::Rep => "rep",
            Format::Rtrace => "rtrace",
            Format::Android => "android",
            Format::Logalloc => "logalloc",
        }
    }

    /// Every format, in the order content detection tries them (see
    /// [`detect`](super::detect)).
    pub const ALL: [Format; 7] = [
        Format::Rtrace,
        Format::Csv,
        Format::Android,
        Format::Logalloc,
        Format::Mtrace,
        Format::Heaptrack,
        Format::Rep,
    ];

    /// The format of that [`name`](Format::name).
    pub fn named(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name() == name)
    }
}

/// The longest line a text trace may have, in bytes, its `\n` not counted (1 MiB). Real
/// trace lines are shorter than 200 bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What reading a line longer than [`MAX_LINE_BYTES`] fails with (inside an [`io::Error`]);
/// [`TraceError::read`] turns it into an error at the parser's line.
#[derive(Debug)]
pub struct LineTooLong;

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line is longer than {} MiB ({MAX_LINE_BYTES} bytes): not a trace?",
            MAX_LINE_BYTES >> 20
        )
    }
}

impl std::error::Error for LineTooLong {}

impl TraceError {
    /// This error with the file `file` called `name` instead (a trace read from standard input
    /// through a temporary file is `<stdin>` in messages); other files are left as they are.
    pub fn naming(self, file: &Path, name: &Path) -> TraceError {
        let rename = |path: PathBuf| if path == file { name.to_path_buf() } else { path };
        match self {
            TraceError::Io { path, source } => TraceError::Io { path: rename(path), source },
            TraceError::Invalid { path, line, message } => {
                TraceError::Invalid { path: rename(path), line, message }
            }
            TraceError::File { path, message } => TraceError::File { path: rename(path), message },
            other => other,
        }
    }

    /// The error for `source`, met while reading line `line` of `path`: a line too long for
    /// the reader [`open`](super::input::open) returns is [`TraceError::Invalid`] at that
    /// line, anything else [`TraceError::Io`].
    pub fn read(path: &Path, line: u64, source: io::Error) -> TraceError {
        if source.get_ref().is_some_and(|error| error.is::<LineTooLong>()) {
            TraceError::Invalid { path: path.to_path_buf(), line, message: LineTooLong.to_string() }
        } else {
            TraceError::Io { path: path.to_path_buf(), source }
        }
    }
}
