//! Traces: reading recorded allocation streams into a compact list of [`Event`]s.
//!
//! One file per input format (`csv.rs` is the native format, `mtrace.rs` glibc's `MALLOC_TRACE`
//! text). Every parser validates as it goes and every error carries the file and line.
//!
//! # Lines have a maximum length
//! Every text input is opened by [`open`] (or [`open_reporting`]), which caps its lines at
//! [`MAX_LINE_BYTES`] (1 MiB): a longer line (a file that is not a trace, or a small `.gz` that
//! expands to gigabytes without a newline) is an error naming the file and the line, even with
//! `--lenient`, and no parser ever holds more than that much of one line. The cap lives in one
//! place, the reader [`open`] returns; the binary `.rtrace` is not opened through it.
//!
//! # From pointers to block ids
//! A recorded program reuses an address once it has been freed; a replay must not confuse the two
//! blocks, so parsing maps every allocation to a fresh, dense [`BlockId`] (0, 1, 2, ...) and every
//! later `free`/`realloc` of that pointer to the same id. A `realloc` keeps its block's id: the
//! returned pointer maps to the id the old pointer had.
//!
//! # Events
//! [`Event`] is 16 bytes: `size: u64`, `id: u32`, `op: u8`, `align_log2: u8`, two padding bytes.
//! A trace of `n` events therefore takes `16 n` bytes, plus a small side table of line numbers
//! that is only non-empty where the event index and the line number drift apart.

mod builder;
pub mod csv;
mod csv_out;
pub mod heaptrack;
pub mod mtrace;
pub mod recorded;
pub mod rep;
pub mod rtrace;
pub mod synth;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
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

    /// Parse a trace file's op name (`aligned_alloc` and `posix_memalign` count as `memalign`).
    pub fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "malloc" => Op::Malloc,
            "calloc" => Op::Calloc,
            "realloc" => Op::Realloc,
            "free" => Op::Free,
            "memalign" | "aligned_alloc" | "posix_memalign" => Op::Memalign,
            "write" => Op::Write,
            _ => return None,
        })
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
/// repairs are listed in the docs of [`csv`].
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
}

impl Trace {
    /// The input line that produced event `index`. O(gaps before `index`): meant for messages.
    pub fn line_of(&self, index: u64) -> u64 {
        let before = self.gaps.partition_point(|(at, _)| *at <= index);
        let passed: i64 = self.gaps[..before].iter().map(|(_, lines)| lines).sum();
        (self.first_line + index).saturating_add_signed(passed)
    }

    /// Total events skipped by `--lenient`.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
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
    /// `csv::parse_into`): about 1.4x faster.
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
    /// heaptrack's data file, raw or interpreted (see [`heaptrack`]).
    Heaptrack,
    /// The CS:APP malloc lab's `.rep` trace.
    Rep,
    /// The binary format of [`rtrace`].
    Rtrace,
}

impl Format {
    /// The format of the file at `path`: an `.rtrace` file is recognised by its magic whatever
    /// `given` says (so `replay trace.rtrace` needs no `--format`); otherwise `given`.
    pub fn detect(path: &Path, given: Format) -> Format {
        if given == Format::Rtrace || rtrace::is_rtrace(path) {
            Format::Rtrace
        } else {
            given
        }
    }

    /// The name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Mtrace => "mtrace",
            Format::Heaptrack => "heaptrack",
            Format::Rep => "rep",
            Format::Rtrace => "rtrace",
        }
    }
}

/// Told the bytes of a trace file read so far (of the file as stored, before any
/// decompression), after every block read: for a progress bar.
pub type ReadProgress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// A reader that tells a [`ReadProgress`] how far it got.
struct Counted<R> {
    inner: R,
    read: u64,
    progress: Option<ReadProgress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(progress) = &self.progress {
            progress(self.read);
        }
        Ok(n)
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
    /// The error for `source`, met while reading line `line` of `path`: a line too long for
    /// [`LineCap`] is [`TraceError::Invalid`] at that line, anything else [`TraceError::Io`].
    pub fn read(path: &Path, line: u64, source: io::Error) -> TraceError {
        if source.get_ref().is_some_and(|error| error.is::<LineTooLong>()) {
            TraceError::Invalid { path: path.to_path_buf(), line, message: LineTooLong.to_string() }
        } else {
            TraceError::Io { path: path.to_path_buf(), source }
        }
    }
}

/// A reader that fails (with [`LineTooLong`]) rather than hand out more than
/// [`MAX_LINE_BYTES`] bytes without a newline, so that whatever reads lines from it buffers at
/// most that much of one. It knows no line numbers: the parser reading it does (the line too
/// long is the one after the last whole line it read).
struct LineCap<R> {
    inner: R,
    /// Bytes handed out since the last newline; above [`MAX_LINE_BYTES`] once failed.
    run: usize,
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let too_long = || io::Error::new(io::ErrorKind::InvalidData, LineTooLong);
        if self.run > MAX_LINE_BYTES {
            return Err(too_long());
        }
        // At most one byte past the maximum, so that the run never passes it unnoticed.
        let room = (MAX_LINE_BYTES + 1 - self.run).min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.run = match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(last) => n - last - 1,
            None => self.run + n,
        };
        if self.run > MAX_LINE_BYTES {
            return Err(too_long());
        }
        Ok(n)
    }
}

/// Open `path`, decompressing it transparently when its name ends in `.gz` or `.zst`, its lines
/// capped at [`MAX_LINE_BYTES`] (see the module docs).
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, TraceError> {
    open_reporting(path, None)
}

/// [`open`], telling `progress` (if any) how much of the file was read as it goes.
pub fn open_reporting(
    path: &Path,
    progress: Option<ReadProgress>,
) -> Result<Box<dyn Read + Send>, TraceError> {
    let file = std::fs::File::open(path)
        .map_err(|source| TraceError::Io { path: path.to_path_buf(), source })?;
    let reader = BufReader::with_capacity(1 << 16, Counted { inner: file, read: 0, progress });
    let input: Box<dyn Read + Send> = if path.extension().is_some_and(|ext| ext == "gz") {
        Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(reader)))
    } else if path.extension().is_some_and(|ext| ext == "zst") {
        Box::new(BufReader::with_capacity(1 << 16, ZstdFrames::new(reader, path)?))
    } else {
        Box::new(reader)
    };
    Ok(Box::new(LineCap { inner: input, run: 0 }))
}

/// Read and validate the trace at `path` in `format`.
pub fn load(path: &Path, format: Format, options: ParseOptions) -> Result<Trace, TraceError> {
    load_reporting(path, format, options, None)
}

/// [`load`], telling `progress` (if any) how much of the file was read as it goes.
pub fn load_reporting(
    path: &Path,
    format: Format,
    options: ParseOptions,
    progress: Option<ReadProgress>,
) -> Result<Trace, TraceError> {
    if Format::detect(path, format) == Format::Rtrace {
        return rtrace::Rtrace::open_with(path, options)?.load();
    }
    let input = open_reporting(path, progress)?;
    let trace = match format {
        Format::Csv => {
            // Only a plain file's length says how many events to expect.
            let compressed = path.extension().is_some_and(|ext| ext == "gz");
            let bytes = if compressed { 0 } else { std::fs::metadata(path).map_or(0, |m| m.len()) };
            csv::parse_with_size_hint(input, path, options, bytes)?
        }
        Format::Mtrace => mtrace::parse(input, path, options)?,
        Format::Heaptrack => heaptrack::parse(input, path, options)?,
        Format::Rep => rep::parse(input, path, options)?,
        Format::Rtrace => unreachable!("handled above"),
    };
    if trace.events.is_empty() {
        return Err(TraceError::File {
            path: path.to_path_buf(),
            message: "the trace has no events (an empty trace cannot be replayed)".into(),
        });
    }
    Ok(trace)
}

/// A zstd stream of one or more frames (heaptrack writes one), decoded by ruzstd (pure Rust),
/// checked as `zstd -t` checks it: every frame's content checksum (the low 32 bits of the XXH64
/// of its content, RFC 8878) when the frame has one, and its content size when its header gives
/// one; skippable frames are skipped; a truncated frame, or bytes after the last frame that are
/// not a frame, are errors. Errors say which frame (counted from 1) and how many decompressed
/// bytes came before the problem.
struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    /// Whether `decoder` is inside a frame (its header read, its content not all handed out).
    in_frame: bool,
    /// Frames begun so far, skippable ones included: the current frame's number.
    frames: u64,
    /// Content bytes of the current frame handed out so far.
    in_this_frame: u64,
    /// Content bytes handed out so far, from every frame.
    decoded: u64,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R, path: &Path) -> Result<Self, TraceError> {
        let mut frames = ZstdFrames {
            source,
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
            frames: 0,
            in_this_frame: 0,
            decoded: 0,
        };
        // The first frame's header now, so that a file that is not zstd says so at once.
        let started = frames
            .next_frame()
            .map_err(|source| TraceError::Io { path: path.to_path_buf(), source })?;
        if !started {
            return Err(TraceError::File {
                path: path.to_path_buf(),
                message: "not zstd: the file is empty".into(),
            });
        }
        Ok(frames)
    }

    /// The error for a problem in the current frame.
    fn corrupt(&self, what: impl fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "zstd frame {} (after {} decompressed bytes): {what}",
                self.frames, self.decoded
            ),
        )
    }

    /// Read the next frame's header, skipping skippable frames. `false` at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            self.frames += 1;
            self.in_this_frame = 0;
            match self.decoder.reset(&mut self.source) {
                Ok(()) => {
                    self.in_frame = true;
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(self.corrupt("a skippable frame is cut off (truncated file?)"));
                    }
                }
                Err(error) if self.frames == 1 => {
                    return Err(self.corrupt(format!("not zstd: {error}")))
                }
                Err(error) => {
                    return Err(self.corrupt(format!(
                        "not a zstd frame ({error}): trailing garbage after the last frame, or a \
                         damaged file"
                    )))
                }
            }
        }
    }

    /// The current frame is decoded and handed out: check it.
    fn finish_frame(&mut self) -> io::Result<()> {
        self.in_frame = false;
        let declared = self.decoder.content_size();
        if declared > 0 && declared != self.in_this_frame {
            return Err(self.corrupt(format!(
                "the frame header declares {declared} bytes of content, but {} were decoded",
                self.in_this_frame
            )));
        }
        if let Some(stored) = self.decoder.get_checksum_from_data() {
            let computed = self.decoder.get_calculated_checksum();
            if computed != Some(stored) {
                return Err(self.corrupt(format!(
                    "content checksum mismatch (stored {stored:#010x}, computed {:#010x}): the \
                     file is corrupt",
                    computed.unwrap_or(0)
                )));
            }
        }
        Ok(())
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                    let wanted = buf.len() - self.decoder.can_collect();
                    if let Err(error) = self
                        .decoder
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                    {
                        return Err(self.corrupt(format!("{error} (a truncated or damaged file?)")));
                    }
                }
                let n = self.decoder.read(buf)?;
                if n > 0 {
                    self.in_this_frame += n as u64;
                    self.decoded += n as u64;
                    return Ok(n);
                }
                self.finish_frame()?;
            }
            if !self.next_frame()? {
                return Ok(0);
            }
        }
    }
}
