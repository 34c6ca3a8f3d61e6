//! The binary trace format, `.rtrace`: parsed, validated events, ready to replay at the speed of
//! a disk read. `replay convert trace.csv -o trace.rtrace` writes one; `replay` reads it wherever
//! it reads CSV (recognised by its magic, whatever its name); `replay convert t.rtrace -o t.csv`
//! writes CSV back.
//!
//! # Layout (version 1)
//! All integers little-endian. A 96-byte header, the events, then the line map.
//!
//! | offset | bytes | field |
//! |---:|---:|---|
//! | 0 | 8 | magic: `89 52 54 52 41 43 45 0A` (`\x89RTRACE\n`: the high byte and the newline catch 7-bit and line-ending mangling, as PNG's do) |
//! | 8 | 4 | version: 1 |
//! | 12 | 4 | flags: bit 0, block ids are recycled (see below); bit 1, the source had write events (an `offset` column) |
//! | 16 | 8 | events |
//! | 24 | 8 | blocks: distinct blocks allocated |
//! | 32 | 4 | slots: every event's block id is below this |
//! | 36 | 4 | header length: 96 (where the events start) |
//! | 40 | 8 | line of the first event in the source |
//! | 48 | 8 | line-map entries |
//! | 56 | 24 | events skipped by `--lenient`: malformed, not live, still live |
//! | 80 | 8 | allocations that failed in the recorded program (no event) |
//! | 88 | 4 | CRC-32 (IEEE, as zlib's) of everything after the header: events and line map |
//! | 92 | 4 | CRC-32 of header bytes 0..92 |
//! | 96 | 16 x events | the events, each as [`Event`] is in memory: `size` u64, `id` u32, `op` u8 (0 malloc, 1 calloc, 2 realloc, 3 free, 4 memalign, 5 write), `align_log2` u8, 2 zero bytes |
//! | ... | 16 x entries | the line map, as [`Trace::gaps`]: event index u64, lines passed i64 |
//!
//! The file is exactly that long: anything shorter or longer is an error. A checksum is not
//! validation: an `.rtrace` is checked as strictly as every other format. On opening
//! ([`Rtrace::open`], one streaming read of the file: a few hundred milliseconds a GB) a reader
//! checks the magic, the version, the header's checksum and the length; the header's counts
//! against the file before anything is sized from them (no more slots or blocks than events,
//! known flags); the body's checksum; the line map (in order, lines that fit); and what every
//! event means, as the builder checks a parsed CSV: its op byte known, its alignment byte one its
//! op allows, its id below `slots`, a free, realloc or write of a live block, an allocation of a
//! block that is not live. That takes two bits of memory per slot, whatever the length. Errors
//! name the event (`t.rtrace: event 12: free of block 3, which is not live (freed twice?)`);
//! when the body's checksum fails too, the checksum is what is reported. With `--lenient` the
//! events are repaired as the builder repairs a CSV's (and counted alike): see
//! [`Rtrace::open_with`]. Every later pass checks again, as it reads them, what keeps the replay
//! sound should the file change since (each op byte and alignment, each id below `slots`).
//!
//! # Block ids: recycled
//! Converting recycles the ids of freed blocks (flag bit 0): the next allocation takes the id
//! the last freed block had. Ids then number *slots for live blocks*, not blocks, and there are
//! only as many as the most blocks live at once, so the engine's table of blocks stays small
//! however long the trace (a 100-million-event trace with 50 million blocks would otherwise need
//! 1.6 GB for it). So in an `.rtrace`, unlike a parsed CSV, a block's id is reused after it is
//! freed, just as the recorded program reused its address. The memory figures do not depend on
//! ids. A trace with write events (the safety lab) keeps one id per block, because a
//! use-after-free names the block its pointer last belonged to.
//!
//! # Back to CSV
//! Recorded pointers are not kept: [`to_csv`] makes them up from the ids (block id `i` is at
//! `0x10000 + 16 i`; a realloc stays at its address). Parsing that CSV and converting it again
//! gives the same events, the same ids included. Line numbers refer to the new file.

use super::builder::{Builder, Sink};
use super::csv_out::{Columns, CsvRow, CsvWriter};
use super::event::{BlockId, Event, Format, Op, ParseOptions, SkipKind, Trace, TraceError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The first eight bytes of every `.rtrace` file.
pub const MAGIC: [u8; 8] = *b"\x89RTRACE\n";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the header; the events start here.
pub const HEADER_LEN: usize = 96;
/// Bytes of one event (and of one line-map entry).
pub const RECORD_LEN: usize = 16;
/// Flag: block ids are recycled.
pub const FLAG_RECYCLED_IDS: u32 = 1;
/// Flag: the source had write events (an `offset` column).
pub const FLAG_WRITES: u32 = 2;
/// Events read at a time when streaming: 1 MiB of them.
pub const CHUNK_EVENTS: usize = 1 << 16;

/// What the header says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub flags: u32,
    pub events: u64,
    pub blocks: u64,
    pub slots: u32,
    pub first_line: u64,
    pub line_map_entries: u64,
    /// Skipped by `--lenient`: malformed, not live, still live.
    pub skipped: [u64; 3],
    pub failed: u64,
    pub body_crc: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&self.flags.to_le_bytes());
        h[16..24].copy_from_slice(&self.events.to_le_bytes());
        h[24..32].copy_from_slice(&self.blocks.to_le_bytes());
        h[32..36].copy_from_slice(&self.slots.to_le_bytes());
        h[36..40].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[40..48].copy_from_slice(&self.first_line.to_le_bytes());
        h[48..56].copy_from_slice(&self.line_map_entries.to_le_bytes());
        for (i, n) in self.skipped.iter().enumerate() {
            h[56 + 8 * i..64 + 8 * i].copy_from_slice(&n.to_le_bytes());
        }
        h[80..88].copy_from_slice(&self.failed.to_le_bytes());
        h[88..92].copy_from_slice(&self.body_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[92..96].copy_from_slice(&crc.to_le_bytes());
        h
    }

    fn decode(h: &[u8; HEADER_LEN], path: &Path) -> Result<Header, TraceError> {
        let bad = |message: String| TraceError::File { path: path.to_path_buf(), message };
        let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"));
        if h[..8] != MAGIC {
            return Err(bad("not an .rtrace file (bad magic)".into()));
        }
        let version = u32_at(8);
        if version != VERSION {
            return Err(bad(format!(
                "rtrace version {version}, but this replay reads version {VERSION} only \
                 (convert the trace again from its CSV)"
            )));
        }
        if crc32fast::hash(&h[..92]) != u32_at(92) {
            return Err(bad("the rtrace header is corrupt (checksum mismatch)".into()));
        }
        if u32_at(36) as usize != HEADER_LEN {
            return Err(bad(format!("rtrace header length {} is not {HEADER_LEN}", u32_at(36))));
        }
        Ok(Header {
            flags: u32_at(12),
            events: u64_at(16),
            blocks: u64_at(24),
            slots: u32_at(32),
            first_line: u64_at(40),
            line_map_entries: u64_at(48),
            skipped: [u64_at(56), u64_at(64), u64_at(72)],
            failed: u64_at(80),
            body_crc: u32_at(88),
        })
    }

    /// The file length this header promises.
    fn file_len(&self) -> Option<u64> {
        let records = self.events.checked_add(self.line_map_entries)?;
        records.checked_mul(RECORD_LEN as u64)?.checked_add(HEADER_LEN as u64)
    }

    /// `--lenient`'s counts, as [`Trace::skipped`] has them.
    pub fn skipped(&self) -> BTreeMap<SkipKind, u64> {
        [SkipKind::Malformed, SkipKind::NotLive, SkipKind::StillLive]
            .into_iter()
            .zip(self.skipped)
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Encode `event` as its 16 bytes.
#[inline]
fn encode(event: &Event, out: &mut Vec<u8>) {
    let mut record = [0u8; RECORD_LEN];
    record[0..8].copy_from_slice(&event.size.to_le_bytes());
    record[8..12].copy_from_slice(&event.id.to_le_bytes());
    record[12] = event.op as u8;
    record[13] = event.align_log2;
    out.extend_from_slice(&record);
}

/// Decode whole records from `bytes` onto `events`, as every pass reads them after
/// [`Rtrace::open`] checked them all: only what keeps the replay sound if the file changed since
/// (a known op byte, an alignment below 2^64), not the whole form of [`decode_record`]. Returns
/// the index (within `bytes`) of the first record that fails, if any.
#[inline]
fn decode(bytes: &[u8], events: &mut Vec<Event>) -> Result<(), usize> {
    events.reserve(bytes.len() / RECORD_LEN);
    for (i, record) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        let op = match record[12] {
            0 => Op::Malloc,
            1 => Op::Calloc,
            2 => Op::Realloc,
            3 => Op::Free,
            4 => Op::Memalign,
            5 => Op::Write,
            _ => return Err(i),
        };
        if record[13] >= 64 {
            return Err(i);
        }
        events.push(Event {
            size: u64::from_le_bytes(record[0..8].try_into().expect("8 bytes")),
            id: u32::from_le_bytes(record[8..12].try_into().expect("4 bytes")),
            op,
            align_log2: record[13],
        });
    }
    Ok(())
}

/// One record as an event, if it is well formed: a known op byte, the alignment its op allows
/// (4, that is 16 bytes, for everything but memalign, which takes 4 to 63; a write's is its
/// stale mark, 0 or 1), zero padding, and a free's size 0. Otherwise what is wrong
/// ([`malformed_message`]). Branch-light: this runs for every event of every pass.
#[inline(always)]
fn decode_record(record: &[u8]) -> Option<Event> {
    let record: &[u8; RECORD_LEN] = record.try_into().ok()?;
    let size = u64::from_le_bytes(record[0..8].try_into().ok()?);
    let id = u32::from_le_bytes(record[8..12].try_into().ok()?);
    let (op_byte, align_log2) = (record[12], record[13]);
    let padding = u16::from_le_bytes([record[14], record[15]]);
    let (op, align_ok) = match op_byte {
        0 => (Op::Malloc, align_log2 == 4),
        1 => (Op::Calloc, align_log2 == 4),
        2 => (Op::Realloc, align_log2 == 4),
        3 => (Op::Free, align_log2 == 4 && size == 0),
        4 => (Op::Memalign, align_log2.wrapping_sub(4) <= 59),
        5 => (Op::Write, align_log2 <= 1),
        _ => return None,
    };
    (align_ok && padding == 0).then_some(Event { size, id, op, align_log2 })
}

/// What is wrong with a record [`decode_record`] refused.
#[cold]
fn malformed_message(record: &[u8]) -> String {
    let op = match record[12] {
        op @ 0..=5 => Op::ALL[usize::from(op)],
        other => return format!("unknown op byte {other}"),
    };
    let size = u64::from_le_bytes(record[0..8].try_into().unwrap_or_default());
    format!(
        "malformed {op} record (alignment byte {}, padding {:02x}{:02x}, size {size})",
        record[13], record[14], record[15]
    )
}

/// What [`Checker::check`] does with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fix {
    /// It is valid: replay it as it is.
    Keep,
    /// `--lenient`: drop it.
    Drop,
    /// `--lenient`: a realloc of a dead block, replayed as a malloc of it.
    AsMalloc,
    /// `--lenient`: an allocation of a live block; free that block first, then allocate.
    FreeFirst,
}

/// The meaning of an `.rtrace`'s events, checked as they stream by, as the builder checks every
/// parsed format (see [`super::builder`]): no free, realloc or write of a block that is not
/// live, no allocation of one that is. Memory: two bits per slot (the header's `slots`, checked
/// against the file's length before this is made), whatever the number of events. With
/// `--lenient`, the builder's repairs, counted by the same kinds.
struct Checker {
    slots: u32,
    /// Whether the file may have write events (flag bit 1).
    writes: bool,
    lenient: bool,
    /// One bit per slot: whether its block is live.
    live: Vec<u64>,
    /// One bit per slot: whether it was ever allocated (kept only with `writes`: a stale write
    /// names a block that existed).
    seen: Vec<u64>,
    /// Allocating events checked (or made by a repair): the header's `blocks`.
    allocations: u64,
    /// One past the highest id allocated: the header's `slots`.
    used: u64,
    /// Events dropped or repaired, as [`Header::skipped`].
    skipped: [u64; 3],
}

impl Checker {
    fn new(header: &Header, lenient: bool) -> Checker {
        let words = (header.slots as usize).div_ceil(64);
        let writes = header.flags & FLAG_WRITES != 0;
        Checker {
            slots: header.slots,
            writes,
            lenient,
            live: vec![0; words],
            seen: if writes { vec![0; words] } else { Vec::new() },
            allocations: 0,
            used: 0,
            skipped: [0; 3],
        }
    }

    /// A problem of `kind`: an error, or with `--lenient` counted and repaired by `fix`.
    #[cold]
    fn problem(
        &mut self,
        kind: SkipKind,
        fix: Fix,
        message: impl FnOnce() -> String,
    ) -> Result<Fix, String> {
        if self.lenient {
            self.skipped[kind as usize] += 1;
            Ok(fix)
        } else {
            Err(message())
        }
    }

    /// Check the record `record`, decoding it: the event and what to do with it (`None`: a
    /// malformed record dropped by `--lenient`), or what is wrong with it.
    #[inline]
    fn check(&mut self, record: &[u8]) -> Result<Option<(Event, Fix)>, String> {
        let event = match decode_record(record) {
            Some(event) if event.id < self.slots && (event.op != Op::Write || self.writes) => event,
            Some(event) => {
                let slots = self.slots;
                let message = || {
                    if event.id >= slots {
                        format!("block id {} is not below the header's {slots} slots", event.id)
                    } else {
                        "a write event in a file whose header says it has none".to_string()
                    }
                };
                self.problem(SkipKind::Malformed, Fix::Drop, message)?;
                return Ok(None);
            }
            None => {
                self.problem(SkipKind::Malformed, Fix::Drop, || malformed_message(record))?;
                return Ok(None);
            }
        };
        let id = event.id as usize;
        let (word, bit) = (id / 64, 1u64 << (id % 64));
        let live = self.live[word] & bit != 0;
        let fix = match event.op {
            Op::Malloc | Op::Calloc | Op::Memalign => {
                let fix = if live {
                    self.problem(SkipKind::StillLive, Fix::FreeFirst, || {
                        format!(
                            "{} of block {id}, which is still live (a free of it is missing?)",
                            event.op
                        )
                    })?
                } else {
                    Fix::Keep
                };
                self.allocated(id);
                fix
            }
            Op::Free if live => {
                self.live[word] &= !bit;
                Fix::Keep
            }
            Op::Free => self.problem(SkipKind::NotLive, Fix::Drop, || {
                format!("free of block {id}, which is not live (freed twice?)")
            })?,
            Op::Realloc if live => Fix::Keep,
            Op::Realloc => {
                let fix = self.problem(SkipKind::NotLive, Fix::AsMalloc, || {
                    format!("realloc of block {id}, which is not live (freed already?)")
                })?;
                self.allocated(id);
                fix
            }
            Op::Write if event.is_stale_write() => {
                if self.seen[word] & bit != 0 {
                    Fix::Keep
                } else {
                    self.problem(SkipKind::NotLive, Fix::Drop, || {
                        format!("write to block {id}, which was never allocated")
                    })?
                }
            }
            Op::Write if live => Fix::Keep,
            Op::Write => self.problem(SkipKind::NotLive, Fix::Drop, || {
                format!("write to block {id}, which is not live (and not marked stale)")
            })?,
        };
        Ok(Some((event, fix)))
    }

    /// The common case of [`Checker::check`], for a file without write events: whether the
    /// record is a valid event, which is then applied. Changes nothing when it is not: `check`
    /// then says what is wrong. About a nanosecond an event.
    #[inline(always)]
    fn check_valid(&mut self, record: &[u8]) -> bool {
        let Ok(record) = <&[u8; RECORD_LEN]>::try_from(record) else { return false };
        let id = u32::from_le_bytes([record[8], record[9], record[10], record[11]]);
        let (op, align_log2) = (record[12], record[13]);
        let padding = u16::from_le_bytes([record[14], record[15]]);
        if self.writes || id >= self.slots || padding != 0 {
            return false;
        }
        let id = id as usize;
        let bit = 1u64 << (id % 64);
        let Some(word) = self.live.get_mut(id / 64) else { return false };
        let live = *word & bit != 0;
        // One dispatch on the op byte: its alignment and what it does to the block together
        // (the ops of a real trace come in no predictable order).
        match op {
            0 | 1 | 4
                if !live && (align_log2 == 4 || op == 4 && align_log2.wrapping_sub(4) <= 59) =>
            {
                *word |= bit;
                self.allocations += 1;
                self.used = self.used.max(id as u64 + 1);
                true
            }
            3 if live && align_log2 == 4 && record[..8] == [0; 8] => {
                *word &= !bit;
                true
            }
            2 => live && align_log2 == 4,
            _ => false,
        }
    }

    /// Block `id` was allocated.
    #[inline]
    fn allocated(&mut self, id: usize) {
        let (word, bit) = (id / 64, 1u64 << (id % 64));
        self.live[word] |= bit;
        if self.writes {
            self.seen[word] |= bit;
        }
        self.allocations += 1;
        self.used = self.used.max(id as u64 + 1);
    }

    /// The events `fix` makes of `event`, onto `out`.
    #[inline]
    fn repaired(event: Event, fix: Fix, out: &mut Vec<Event>) {
        match fix {
            Fix::Keep => out.push(event),
            Fix::Drop => {}
            Fix::AsMalloc => out.push(Event::malloc(event.id, event.size)),
            Fix::FreeFirst => {
                out.push(Event::free(event.id));
                out.push(event);
            }
        }
    }
}

/// Writes events as an `.rtrace` body, buffering a chunk at a time and checksumming as it goes.
pub(crate) struct RtraceSink<W: Write> {
    out: W,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
}

impl<W: Write> RtraceSink<W> {
    fn new(mut out: W) -> io::Result<RtraceSink<W>> {
        // A placeholder header, rewritten when the counts are known.
        out.write_all(&[0u8; HEADER_LEN])?;
        Ok(RtraceSink {
            out,
            buf: Vec::with_capacity(CHUNK_EVENTS * RECORD_LEN),
            crc: crc32fast::Hasher::new(),
        })
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.crc.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> Sink for RtraceSink<W> {
    #[inline]
    fn event(&mut self, event: Event, _ptr: u64, _old_ptr: u64) -> Result<(), TraceError> {
        encode(&event, &mut self.buf);
        if self.buf.len() >= CHUNK_EVENTS * RECORD_LEN {
            self.flush_buf().map_err(|source| TraceError::Write { source })?;
        }
        Ok(())
    }
}

/// [`convert`] the trace at `path` into a new (or emptied) file at `output`, and open it.
pub fn convert_to_file(
    path: &Path,
    format: Format,
    options: ParseOptions,
    output: &Path,
) -> Result<Rtrace, TraceError> {
    let io_error = |source| TraceError::Io { path: output.to_path_buf(), source };
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(output)
        .map_err(io_error)?;
    convert(path, format, options, &mut file, None)?;
    drop(file);
    Rtrace::open(output)
}

/// Parse the trace at `path` (any text format, compressed or not) event by event and write it to `out` as an
/// `.rtrace`, recycling block ids. Memory is O(live blocks), whatever the trace's length.
/// `out` is written from the start; its header is written last. `progress`, if any, is told how
/// much of the input was read as it goes.
pub fn convert(
    path: &Path,
    format: Format,
    options: ParseOptions,
    out: &mut File,
    progress: Option<super::input::ReadProgress>,
) -> Result<Header, TraceError> {
    let write_error = |source| TraceError::Write { source };
    let input = super::input::open_reporting(path, progress)?;
    out.seek(SeekFrom::Start(0)).map_err(write_error)?;
    out.set_len(0).map_err(write_error)?;
    let writer = io::BufWriter::with_capacity(1 << 20, out.try_clone().map_err(write_error)?);
    let sink = RtraceSink::new(writer).map_err(write_error)?;
    let mut builder = Builder::new(path, options, sink);
    builder.recycle_ids();
    super::text::read(format, input, path, &mut builder, options)?;
    let recycled = builder.recycles_ids();
    let summary = builder.summary();
    if summary.events == 0 {
        return Err(TraceError::File {
            path: path.to_path_buf(),
            message: "the trace has no events (an empty trace cannot be replayed)".into(),
        });
    }
    let (first_line, gaps) = builder.line_map();
    let (first_line, gaps) = (first_line, gaps.to_vec());
    let mut sink = builder.sink;
    for (index, lines) in &gaps {
        sink.buf.extend_from_slice(&index.to_le_bytes());
        sink.buf.extend_from_slice(&lines.to_le_bytes());
        if sink.buf.len() >= CHUNK_EVENTS * RECORD_LEN {
            sink.flush_buf().map_err(write_error)?;
        }
    }
    sink.flush_buf().map_err(write_error)?;
    let RtraceSink { out: mut writer, crc, .. } = sink;
    let body_crc = crc.finalize();
    writer.flush().map_err(write_error)?;
    drop(writer);
    let header = Header {
        flags: if recycled { FLAG_RECYCLED_IDS } else { FLAG_WRITES },
        events: summary.events,
        blocks: u64::from(summary.blocks),
        slots: summary.slots,
        first_line,
        line_map_entries: gaps.len() as u64,
        skipped: [SkipKind::Malformed, SkipKind::NotLive, SkipKind::StillLive]
            .map(|kind| summary.skipped.get(&kind).copied().unwrap_or(0)),
        failed: summary.failed,
        body_crc,
    };
    out.seek(SeekFrom::Start(0)).map_err(write_error)?;
    out.write_all(&header.encode()).map_err(write_error)?;
    out.flush().map_err(write_error)?;
    Ok(header)
}

/// Whether the file at `path` starts with the `.rtrace` magic (false when it cannot be read).
pub fn is_rtrace(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == MAGIC
}

/// An `.rtrace` file, checked and ready to stream. See the module docs for what is checked.
#[derive(Clone, Debug)]
pub struct Rtrace {
    pub path: PathBuf,
    /// What the header says; with `--lenient` repairs (see [`Rtrace::open_with`]), the counts of
    /// the repaired events that are replayed.
    pub header: Header,
    /// The line map ([`Trace::gaps`]), read on opening: small for every real trace.
    pub gaps: Vec<(u64, i64)>,
    /// Events in the file (`header.events` but for repairs).
    file_events: u64,
    /// Whether `--lenient` repairs the events as they are read (see [`Rtrace::open_with`]).
    repair: bool,
}

/// Told each block of records read and the index of its first: `false` stops the reading.
type EachBlock<'a> = dyn FnMut(&[u8], u64) -> Result<bool, TraceError> + 'a;

/// Bytes of the file read at a time when opening.
const OPEN_BLOCK: usize = 1 << 22;

impl Header {
    /// Check the counts against each other and against the file's flags, before anything is
    /// sized from them: the length check has bounded `events` and `line_map_entries` by the
    /// file's length, and every slot and every block takes an allocating event.
    fn check_counts(&self) -> Result<(), String> {
        if self.flags & !(FLAG_RECYCLED_IDS | FLAG_WRITES) != 0 {
            return Err(format!("unknown flags {:#x} in the header", self.flags));
        }
        if self.flags == FLAG_RECYCLED_IDS | FLAG_WRITES {
            return Err("the header says block ids are recycled in a trace with write events, \
                        which this replay never writes"
                .into());
        }
        if u64::from(self.slots) > self.events || self.blocks > self.events {
            return Err(format!(
                "the header claims {} blocks in {} slots, more than its {} events can allocate",
                self.blocks, self.slots, self.events
            ));
        }
        Ok(())
    }
}

/// Check a line map read from a file: indices after 0, increasing and below `events`; lines
/// passed -1 (two events of one line) or at least 1; the last event's line below 2^63. Then
/// every line [`Trace::line_of`] computes is exact, without overflow.
fn check_line_map(gaps: &[(u64, i64)], header: &Header) -> Result<(), String> {
    let mut previous = 0u64;
    let mut passed: i128 = 0;
    for (k, &(index, lines)) in gaps.iter().enumerate() {
        if index <= previous || index >= header.events {
            return Err(format!("line-map entry {k} names event {index}, out of order or range"));
        }
        if lines == 0 || lines < -1 {
            return Err(format!("line-map entry {k} passes {lines} lines"));
        }
        previous = index;
        passed += i128::from(lines);
    }
    let last = i128::from(header.first_line) + i128::from(header.events) - 1 + passed;
    if !(0..=i128::from(i64::MAX)).contains(&last) {
        return Err(format!("the line map puts the last event on line {last}"));
    }
    Ok(())
}

/// The lines of consecutive events of a line map, one after the other.
struct Lines<'a> {
    next: u64,
    gaps: &'a [(u64, i64)],
    /// The line of event `next` before the gap at it, if any.
    line: i128,
}

impl<'a> Lines<'a> {
    fn new(first_line: u64, gaps: &'a [(u64, i64)]) -> Lines<'a> {
        Lines { next: 0, gaps, line: i128::from(first_line) }
    }

    /// The line of the next event.
    fn next_line(&mut self) -> i128 {
        if let Some(((at, passed), rest)) = self.gaps.split_first() {
            if *at == self.next {
                self.line += i128::from(*passed);
                self.gaps = rest;
            }
        }
        let line = self.line;
        self.next += 1;
        self.line += 1;
        line
    }
}

impl Rtrace {
    /// Open and check `path` strictly ([`Rtrace::open_with`] without `--lenient`).
    pub fn open(path: &Path) -> Result<Rtrace, TraceError> {
        Rtrace::open_with(path, ParseOptions::default())
    }

    /// Open and check `path`: header, length, the counts of the header against the file, the
    /// checksum of the whole body, the line map, and what every event means (as for every
    /// format: a free, realloc or write names a live block, an allocation one that is not), in
    /// one streaming read with two bits of memory per slot. The first problem is an error
    /// naming the event (`t.rtrace: event 12: free of block 3, which is not live`); a damaged
    /// body says so rather than naming the event the damage made wrong.
    ///
    /// With `options.lenient`, bad events are repaired as the builder repairs a CSV's (see
    /// [`super::builder`]) and counted in `header.skipped`: a malformed event or a free of a dead
    /// block is dropped, a realloc of a dead block becomes a malloc, an allocation of a live
    /// block frees it first; every pass then reads the repaired events. A damaged body, header
    /// or line map is an error even then.
    pub fn open_with(path: &Path, options: ParseOptions) -> Result<Rtrace, TraceError> {
        let io_error = |source| TraceError::Io { path: path.to_path_buf(), source };
        let bad = |message: String| TraceError::File { path: path.to_path_buf(), message };
        let mut file = File::open(path).map_err(io_error)?;
        let len = file.metadata().map_err(io_error)?.len();
        let mut h = [0u8; HEADER_LEN];
        if len < HEADER_LEN as u64 {
            if len >= 8 {
                file.read_exact(&mut h[..8]).map_err(io_error)?;
            }
            if len < 8 || h[..8] != MAGIC {
                return Err(bad("not an .rtrace file (bad magic)".into()));
            }
            return Err(bad(format!("truncated: {len} bytes, shorter than the header")));
        }
        file.read_exact(&mut h).map_err(io_error)?;
        let header = Header::decode(&h, path)?;
        match header.file_len() {
            Some(expected) if expected == len => {}
            Some(expected) if expected > len => {
                return Err(bad(format!(
                    "truncated: {len} bytes, but the header promises {expected} ({} events)",
                    header.events
                )))
            }
            _ => return Err(bad(format!("{len} bytes, more than the header promises"))),
        }
        if header.events == 0 {
            return Err(bad("the trace has no events (an empty trace cannot be replayed)".into()));
        }
        header.check_counts().map_err(bad)?;
        // The body's checksum and the events' meaning, read in large blocks; the line map is
        // kept. The first bad event is reported after the checksum, which comes first.
        let mut crc = crc32fast::Hasher::new();
        let mut checker = Checker::new(&header, options.lenient);
        let mut problem = None;
        let mut repairs = false;
        let mut index = 0u64;
        let mut buf = vec![0u8; OPEN_BLOCK];
        let mut left = header.events * RECORD_LEN as u64;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            file.read_exact(&mut buf[..n]).map_err(io_error)?;
            crc.update(&buf[..n]);
            left -= n as u64;
            if problem.is_some() {
                continue;
            }
            for record in buf[..n].chunks_exact(RECORD_LEN) {
                if checker.check_valid(record) {
                    index += 1;
                    continue;
                }
                match checker.check(record) {
                    Ok(Some((_, Fix::Keep))) => {}
                    Ok(_) => repairs = true,
                    Err(message) => {
                        problem = Some(format!("event {index}: {message}"));
                        break;
                    }
                }
                index += 1;
            }
        }
        let mut map = vec![0u8; header.line_map_entries as usize * RECORD_LEN];
        file.read_exact(&mut map).map_err(io_error)?;
        crc.update(&map);
        if crc.finalize() != header.body_crc {
            return Err(bad("the events are corrupt (checksum mismatch)".into()));
        }
        if let Some(problem) = problem {
            return Err(bad(problem));
        }
        let gaps: Vec<(u64, i64)> = map
            .chunks_exact(RECORD_LEN)
            .map(|e| {
                let index = u64::from_le_bytes(e[0..8].try_into().expect("8 bytes"));
                (index, i64::from_le_bytes(e[8..16].try_into().expect("8 bytes")))
            })
            .collect();
        check_line_map(&gaps, &header).map_err(bad)?;
        if !repairs {
            // Only now known: what the events use.
            if checker.allocations != header.blocks || checker.used != u64::from(header.slots) {
                return Err(bad(format!(
                    "the header claims {} blocks in {} slots, but the events allocate {} \
                     blocks in {} slots",
                    header.blocks, header.slots, checker.allocations, checker.used
                )));
            }
        }
        let file_events = header.events;
        let mut rtrace =
            Rtrace { path: path.to_path_buf(), header, gaps, file_events, repair: false };
        if repairs {
            rtrace.repair(checker)?;
        }
        Ok(rtrace)
    }

    /// Make this describe the events `--lenient` repairs ([`Rtrace::open_with`]) and read them
    /// from now on: their count, the line map of their lines (the lines of the events they come
    /// from), what was repaired. One more read of the file.
    fn repair(&mut self, checker: Checker) -> Result<(), TraceError> {
        let mut events = 0u64;
        let mut first_line = 0u64;
        let mut last_line = 0i128;
        let mut gaps = Vec::new();
        let mut lines = Lines::new(self.header.first_line, &self.gaps);
        self.read_repaired(CHUNK_EVENTS, &mut |_, _| true, &mut |made| {
            let line = lines.next_line();
            for _ in 0..made {
                if events == 0 {
                    first_line = line as u64; // below 2^63: the line map was checked
                } else if line - last_line - 1 != 0 {
                    gaps.push((events, (line - last_line - 1) as i64));
                }
                last_line = line;
                events += 1;
            }
        })?;
        if events == 0 {
            return Err(TraceError::File {
                path: self.path.clone(),
                message: "no event is left after the --lenient repairs (an empty trace cannot \
                          be replayed)"
                    .into(),
            });
        }
        for (count, more) in self.header.skipped.iter_mut().zip(checker.skipped) {
            *count += more;
        }
        self.header.events = events;
        self.header.blocks = checker.allocations;
        self.header.first_line = first_line;
        self.header.line_map_entries = gaps.len() as u64;
        self.gaps = gaps;
        self.repair = true;
        Ok(())
    }

    /// Read the events of the file in chunks of up to `chunk` (as they are, unchecked: see
    /// [`Rtrace::for_each_chunk`]), calling `each(records, index of the first)`.
    fn for_each_block(&self, chunk: usize, each: &mut EachBlock<'_>) -> Result<(), TraceError> {
        let path = &self.path;
        let io_error = |source| TraceError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io_error)?;
        file.seek(SeekFrom::Start(HEADER_LEN as u64)).map_err(io_error)?;
        let chunk = chunk.max(1);
        let mut bytes = vec![0u8; chunk * RECORD_LEN];
        let mut first = 0u64;
        while first < self.file_events {
            let n = (self.file_events - first).min(chunk as u64) as usize;
            let bytes = &mut bytes[..n * RECORD_LEN];
            file.read_exact(bytes).map_err(|source| match source.kind() {
                io::ErrorKind::UnexpectedEof => TraceError::File {
                    path: path.to_path_buf(),
                    message: "truncated while reading (was the file changed?)".into(),
                },
                _ => io_error(source),
            })?;
            if !each(bytes, first)? {
                break;
            }
            first += n as u64;
        }
        Ok(())
    }

    /// The repaired events, in chunks of up to about `chunk`, to `each`; `made(n)` is told
    /// after each event of the file how many events were made of it.
    fn read_repaired(
        &self,
        chunk: usize,
        each: &mut dyn FnMut(&[Event], u64) -> bool,
        made: &mut dyn FnMut(usize),
    ) -> Result<(), TraceError> {
        let mut checker = Checker::new(&self.header, true);
        let mut events = Vec::with_capacity(chunk.max(1) + 1);
        let mut next = 0u64;
        self.for_each_block(chunk, &mut |records, _| {
            events.clear();
            for record in records.chunks_exact(RECORD_LEN) {
                let before = events.len();
                // Lenient: every problem has its repair.
                if let Ok(Some((event, fix))) = checker.check(record) {
                    Checker::repaired(event, fix, &mut events);
                }
                made(events.len() - before);
            }
            for piece in events.chunks(chunk.max(1)) {
                if !each(piece, next) {
                    return Ok(false);
                }
                next += piece.len() as u64;
            }
            Ok(true)
        })
    }

    /// Read the events, in chunks of up to `chunk` events, calling `each(events, index of the
    /// first)` for each; `each` returns `false` to stop. One bulk read a chunk. Every record's op,
    /// alignment and id are checked again (the file may have changed since it was opened).
    pub fn for_each_chunk(
        &self,
        chunk: usize,
        each: &mut dyn FnMut(&[Event], u64) -> bool,
    ) -> Result<(), TraceError> {
        if self.repair {
            return self.read_repaired(chunk, each, &mut |_| {});
        }
        let path = &self.path;
        let slots = self.header.slots;
        let mut events = Vec::with_capacity(chunk.max(1));
        self.for_each_block(chunk, &mut |bytes, first| {
            events.clear();
            if let Err(at) = decode(bytes, &mut events) {
                return Err(TraceError::File {
                    path: path.to_path_buf(),
                    message: format!(
                        "event {}: malformed record (was the file changed?)",
                        first + at as u64
                    ),
                });
            }
            if let Some(bad) = events.iter().position(|e| e.id >= slots) {
                return Err(TraceError::File {
                    path: path.to_path_buf(),
                    message: format!("event {}: block id out of range", first + bad as u64),
                });
            }
            Ok(each(&events, first))
        })
    }

    /// The whole trace in memory.
    pub fn load(&self) -> Result<Trace, TraceError> {
        let mut all = Vec::with_capacity(self.header.events as usize);
        self.for_each_chunk(CHUNK_EVENTS, &mut |events, _| {
            all.extend_from_slice(events);
            true
        })?;
        Ok(Trace {
            path: self.path.clone(),
            events: all,
            blocks: self.header.slots,
            gaps: self.gaps.clone(),
            first_line: self.header.first_line,
            skipped: self.header.skipped(),
            // The format keeps no threads: an `.rtrace` replays on one thread.
            threads: Vec::new(),
            thread_ids: Vec::new(),
        })
    }
}

/// The made-up address of block id `id` (see the module docs).
fn pointer_of(id: BlockId) -> u64 {
    0x10000 + 16 * u64::from(id)
}

/// Write the events of `rtrace` as native CSV to `out`, with pointers made up from the block ids
/// (see the module docs). Streams: memory is one chunk.
pub fn to_csv(rtrace: &Rtrace, out: impl Write) -> Result<(), TraceError> {
    let write_error = |source| TraceError::Write { source };
    let writes = rtrace.header.flags & FLAG_WRITES != 0;
    let columns = Columns { align: true, offset: writes, ..Columns::default() };
    let mut out = CsvWriter::new(out, columns);
    let mut failed = None;
    rtrace.for_each_chunk(CHUNK_EVENTS, &mut |events, _| {
        for e in events {
            let ptr = pointer_of(e.id);
            let row = match e.op {
                Op::Free => CsvRow { ptr, ..CsvRow::default() },
                // A realloc stays at its address.
                Op::Realloc => {
                    CsvRow { ptr, size: Some(e.size), old_ptr: Some(ptr), ..CsvRow::default() }
                }
                Op::Memalign => {
                    CsvRow { ptr, size: Some(e.size), align: Some(e.align()), ..CsvRow::default() }
                }
                // A stale write's pointer is dead by now: the same event.
                Op::Write => CsvRow {
                    ptr,
                    size: Some(e.write_len()),
                    offset: Some(e.write_offset()),
                    ..CsvRow::default()
                },
                Op::Malloc | Op::Calloc => CsvRow { ptr, size: Some(e.size), ..CsvRow::default() },
            };
            if let Err(error) = out.row(e.op, &row) {
                failed = Some(error);
                return false;
            }
        }
        true
    })?;
    if let Some(error) = failed {
        return Err(write_error(error));
    }
    out.finish().map(drop).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_survives_encoding() {
        let header = Header {
            flags: FLAG_RECYCLED_IDS,
            events: 10,
            blocks: 7,
            slots: 3,
            first_line: 2,
            line_map_entries: 1,
            skipped: [1, 2, 3],
            failed: 4,
            body_crc: 0xDEAD_BEEF,
        };
        let decoded = Header::decode(&header.encode(), Path::new("t.rtrace")).unwrap();
        assert_eq!(decoded, header);
    }

    #[test]
    fn events_survive_encoding() {
        let events = [
            Event::malloc(0, 24),
            Event::calloc(1, 1 << 40),
            Event::memalign(2, 100, 4096),
            Event::realloc(0, 7),
            Event::write(1, 3, 5, true),
            Event::free(2),
        ];
        let mut bytes = Vec::new();
        events.iter().for_each(|e| encode(e, &mut bytes));
        let mut back = Vec::new();
        decode(&bytes, &mut back).unwrap();
        assert_eq!(back, events);
        bytes[16 + 12] = 6;
        assert_eq!(decode(&bytes, &mut Vec::new()), Err(1));
    }
}
