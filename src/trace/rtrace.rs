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
//! The file is exactly that long: anything shorter or longer is an error. A reader checks the
//! magic, the version, the header's checksum and the length on opening, and the body's checksum
//! before replaying ([`Rtrace::open`] reads the file once for it: a few hundred milliseconds a
//! GB). Every event's op is checked as it is read. What the events mean (a free names a live
//! block...) was checked when the file was written, and the checksum vouches that it is what was
//! written.
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
use super::{BlockId, Event, Format, Op, ParseOptions, SkipKind, Trace, TraceError};
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

/// Decode whole records from `bytes` onto `events`. Returns the index (within `bytes`) of the
/// first record with an unknown op, if any.
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
        events.push(Event {
            size: u64::from_le_bytes(record[0..8].try_into().expect("8 bytes")),
            id: u32::from_le_bytes(record[8..12].try_into().expect("4 bytes")),
            op,
            align_log2: record[13],
        });
    }
    Ok(())
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

/// What [`convert`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertSummary {
    pub header: Header,
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

/// Parse the trace at `path` (CSV, .csv.gz or mtrace) event by event and write it to `out` as an
/// `.rtrace`, recycling block ids. Memory is O(live blocks), whatever the trace's length.
/// `out` is written from the start; its header is written last. `progress`, if any, is told how
/// much of the input was read as it goes.
pub fn convert(
    path: &Path,
    format: Format,
    options: ParseOptions,
    out: &mut File,
    progress: Option<super::ReadProgress>,
) -> Result<Header, TraceError> {
    let write_error = |source| TraceError::Write { source };
    let input = super::open_reporting(path, progress)?;
    out.seek(SeekFrom::Start(0)).map_err(write_error)?;
    out.set_len(0).map_err(write_error)?;
    let writer = io::BufWriter::with_capacity(1 << 20, out.try_clone().map_err(write_error)?);
    let sink = RtraceSink::new(writer).map_err(write_error)?;
    let mut builder = Builder::new(path, options, sink);
    builder.recycle_ids();
    match format {
        Format::Csv => super::csv::parse_into(input, path, &mut builder, options)?,
        Format::Mtrace => super::mtrace::read(input, path, &mut builder)?,
        Format::Heaptrack => super::heaptrack::read(input, path, &mut builder)?,
        Format::Rep => super::rep::read(input, path, &mut builder)?,
        Format::Rtrace => {
            return Err(TraceError::File {
                path: path.to_path_buf(),
                message: "is already an rtrace file".into(),
            })
        }
    }
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
    pub header: Header,
    /// The line map ([`Trace::gaps`]), read on opening: small for every real trace.
    pub gaps: Vec<(u64, i64)>,
}

impl Rtrace {
    /// Open and check `path`: header, length, and the checksum of the whole body.
    pub fn open(path: &Path) -> Result<Rtrace, TraceError> {
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
        // The body's checksum, read in large blocks; the line map is kept.
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1 << 22];
        let mut left = len - HEADER_LEN as u64 - header.line_map_entries * RECORD_LEN as u64;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            file.read_exact(&mut buf[..n]).map_err(io_error)?;
            crc.update(&buf[..n]);
            left -= n as u64;
        }
        let mut map = vec![0u8; header.line_map_entries as usize * RECORD_LEN];
        file.read_exact(&mut map).map_err(io_error)?;
        crc.update(&map);
        if crc.finalize() != header.body_crc {
            return Err(bad("the events are corrupt (checksum mismatch)".into()));
        }
        let gaps = map
            .chunks_exact(RECORD_LEN)
            .map(|e| {
                let index = u64::from_le_bytes(e[0..8].try_into().expect("8 bytes"));
                (index, i64::from_le_bytes(e[8..16].try_into().expect("8 bytes")))
            })
            .collect();
        Ok(Rtrace { path: path.to_path_buf(), header, gaps })
    }

    /// Read the events, in chunks of up to `chunk` events, calling `each(events, index of the
    /// first)` for each; `each` returns `false` to stop. One bulk read a chunk.
    pub fn for_each_chunk(
        &self,
        chunk: usize,
        each: &mut dyn FnMut(&[Event], u64) -> bool,
    ) -> Result<(), TraceError> {
        let path = &self.path;
        let io_error = |source| TraceError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io_error)?;
        file.seek(SeekFrom::Start(HEADER_LEN as u64)).map_err(io_error)?;
        let chunk = chunk.max(1);
        let mut bytes = vec![0u8; chunk * RECORD_LEN];
        let mut events = Vec::with_capacity(chunk);
        let mut first = 0u64;
        while first < self.header.events {
            let n = (self.header.events - first).min(chunk as u64) as usize;
            let bytes = &mut bytes[..n * RECORD_LEN];
            file.read_exact(bytes).map_err(|source| match source.kind() {
                io::ErrorKind::UnexpectedEof => TraceError::File {
                    path: path.to_path_buf(),
                    message: "truncated while reading (was the file changed?)".into(),
                },
                _ => io_error(source),
            })?;
            events.clear();
            if let Err(at) = decode(bytes, &mut events) {
                return Err(TraceError::File {
                    path: path.to_path_buf(),
                    message: format!("event {}: unknown op byte", first + at as u64),
                });
            }
            if let Some(bad) = events.iter().position(|e| e.id >= self.header.slots) {
                return Err(TraceError::File {
                    path: path.to_path_buf(),
                    message: format!("event {}: block id out of range", first + bad as u64),
                });
            }
            if !each(&events, first) {
                break;
            }
            first += n as u64;
        }
        Ok(())
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
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    let writes = rtrace.header.flags & FLAG_WRITES != 0;
    let header: &[u8] =
        if writes { b"op,ptr,size,old_ptr,align,offset\n" } else { b"op,ptr,size,old_ptr,align\n" };
    out.write_all(header).map_err(write_error)?;
    let tail = if writes { "," } else { "" };
    let mut failed = None;
    rtrace.for_each_chunk(CHUNK_EVENTS, &mut |events, _| {
        for e in events {
            let ptr = pointer_of(e.id);
            let written = match e.op {
                Op::Free => writeln!(out, "free,{ptr:#x},,,{tail}"),
                Op::Realloc => writeln!(out, "realloc,{ptr:#x},{},{ptr:#x},{tail}", e.size),
                Op::Memalign => writeln!(out, "memalign,{ptr:#x},{},,{}{tail}", e.size, e.align()),
                Op::Write => writeln!(
                    out,
                    "write,{ptr:#x},{},,,{}",
                    e.write_len(),
                    e.write_offset() // a stale write's pointer is dead by now: same event
                ),
                op => writeln!(out, "{},{ptr:#x},{},,{tail}", op.name(), e.size),
            };
            if let Err(error) = written {
                failed = Some(error);
                return false;
            }
        }
        true
    })?;
    if let Some(error) = failed {
        return Err(write_error(error));
    }
    out.flush().map_err(write_error)
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
