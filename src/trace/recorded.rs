//! The raw file `replay record`'s interposer writes (see the docs of the `replay-interposer`
//! crate), and its conversion to the native CSV with `thread` and `time_ns` columns.
//!
//! # The raw file
//! `RPLYREC2`, then 48-byte records in little-endian order: `seq`, `time`, `ptr`, `size`,
//! `arg` (u64 each; `arg` is the old pointer of a `realloc`, the alignment of a `memalign`),
//! `tid`, `op` (u32 each; 0 malloc, 1 calloc, 2 realloc, 3 free, 4 memalign, 5 the end record,
//! 6 a clock record, 7 the status record: why recording stopped early, read by `replay record`
//! and skipped here, 8 the name record: the program's name, read by [`process_of`]). Threads write their records in chunks, so the file is not in `seq` order:
//! each thread's chunks are, and [`InOrder`] merges them.
//!
//! `time` is a reading of the interposer's clock: the CPU's time-stamp counter where the kernel
//! uses it as its own clock (cheaper to read than `clock_gettime`), `CLOCK_MONOTONIC` in
//! nanoseconds otherwise. A clock record holds a reading (`time`) and `CLOCK_MONOTONIC` (`ptr`)
//! at the same instant; one comes first in the file and one first in every chunk, taken when
//! the chunk is written, after its records. A record's time in nanoseconds is read off the line
//! through the file's first clock record and the last one before the record (its chunk's): the
//! counter runs at a constant rate, so this is exact up to the few tens of nanoseconds a clock
//! record is off by, and the identity when the clock is `CLOCK_MONOTONIC` itself.
//!
//! # Conversion
//! Records go through the shared validation in `seq` order, always with the `--lenient`
//! repairs, so the CSV parses strictly whatever happened; every repair is counted in the
//! summary, which `replay record` prints (a clean recording has none). `time_ns` is counted from
//! the first record; `thread` is the kernel's thread id. A message's "line" is the record's
//! place in `seq` order, from 1. Losses are counted: missing sequence numbers (a thread's buffer
//! never written, as when the program is killed) and a missing end record.
//!
//! [`to_csv`] converts a whole file; [`to_csv_streaming`] converts it as it is written (its
//! records are put in order as they come, by `Reorder`), giving the same CSV.

use super::builder::Builder;
use super::csv_out::ImportSummary;
use super::csv_out::{convert, CsvSink};
use super::event::{Op, ParseOptions, TraceError};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::ops::Range;
use std::path::Path;

const MAGIC: &[u8; 8] = b"RPLYREC2";
const RECORD_BYTES: usize = 48;
const OP_END: u32 = 5;
const OP_CLOCK: u32 = 6;
const OP_STATUS: u32 = 7;
const OP_NAME: u32 = 8;

/// Whether a record is a call (not an end, clock, status or name record).
#[inline]
fn is_call(op: u32) -> bool {
    op != OP_END && op != OP_CLOCK && op != OP_STATUS && op != OP_NAME
}

/// Turns readings of the interposer's clock into `CLOCK_MONOTONIC` nanoseconds, from the clock
/// records read so far: a line through the file's first clock record and the last one. Before
/// any clock record, readings are taken as nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
struct Clock {
    /// The first clock record: (reading, nanoseconds).
    origin: Option<(u64, u64)>,
    /// Nanoseconds per tick, as whole and fractional (in 2^-64ths) parts.
    whole: u64,
    fraction: u64,
}

impl Clock {
    /// A clock record: `ticks` read when `CLOCK_MONOTONIC` was `ns`.
    fn mark(&mut self, ticks: u64, ns: u64) {
        match self.origin {
            None => {
                self.origin = Some((ticks, ns));
                self.whole = 1;
                self.fraction = 0;
            }
            Some((t0, n0)) if ticks > t0 => {
                let rate = (u128::from(ns.saturating_sub(n0)) << 64) / u128::from(ticks - t0);
                self.whole = (rate >> 64) as u64;
                self.fraction = rate as u64;
            }
            // No tick since the origin: nothing to learn the rate from.
            Some(_) => {}
        }
    }

    /// `ticks` in nanoseconds (readings before the origin are taken as the origin).
    #[inline]
    fn ns(&self, ticks: u64) -> u64 {
        let Some((t0, n0)) = self.origin else {
            return ticks;
        };
        let d = ticks.saturating_sub(t0);
        let part = (u128::from(d) * u128::from(self.fraction)) >> 64;
        n0.saturating_add(d.saturating_mul(self.whole)).saturating_add(part as u64)
    }
}

/// One record of the raw file, its time in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRecord {
    pub seq: u64,
    pub time_ns: u64,
    pub ptr: u64,
    pub size: u64,
    pub arg: u64,
    pub tid: u32,
    pub op: u32,
}

/// What a raw recording held, beyond its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Events written, blocks, repairs, failed allocations.
    pub import: ImportSummary,
    /// Distinct threads that made calls.
    pub threads: u64,
    /// Calls the interposer numbered but whose record never reached the file.
    pub lost: u64,
    /// Whether the end record was written (the process exited through `exit` or `_exit`).
    pub complete: bool,
    /// Wall time from the first to the last record.
    pub span_ns: u64,
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn record_at(body: &[u8], index: usize) -> RawRecord {
    let at = index * RECORD_BYTES;
    RawRecord {
        seq: u64_at(body, at),
        time_ns: u64_at(body, at + 8),
        ptr: u64_at(body, at + 16),
        size: u64_at(body, at + 24),
        arg: u64_at(body, at + 32),
        tid: u32_at(body, at + 40),
        op: u32_at(body, at + 44),
    }
}

/// The body of a raw file (after the header), or the error for a file that is not one.
fn body<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8], TraceError> {
    match bytes.strip_prefix(MAGIC) {
        // A cut-off last record is left out.
        Some(body) => Ok(&body[..body.len() / RECORD_BYTES * RECORD_BYTES]),
        None => Err(TraceError::File {
            path: path.to_path_buf(),
            message: "not a recording of this replay's interposer (no RPLYREC2 header)".into(),
        }),
    }
}

/// A sequence of records already in order: runs of record indices (which may hold end records,
/// skipped) whose records, taken one after the other, never go down in `seq`.
#[derive(Default)]
struct Stream {
    runs: Vec<Range<usize>>,
    /// Next run to read, and next record in it.
    run: usize,
    at: usize,
}

/// The records of a raw file (end records left out) in `seq` order, and among equal `seq`s in
/// file order (a stable sort's order), without sorting: each thread writes its records in
/// chunks in `seq` order, so the file splits into a few streams already in order (one per
/// thread, as a rule), which are merged.
pub struct InOrder<'a> {
    body: &'a [u8],
    streams: Vec<Stream>,
    /// (seq, record index, stream) of each stream's next record, smallest first; only used when
    /// there are several streams.
    heads: BinaryHeap<Reverse<(u64, usize, usize)>>,
    /// Records (not counting end records).
    pub count: u64,
    /// Distinct thread ids among them.
    pub threads: u64,
    /// The last end record in the file, if any.
    pub end: Option<RawRecord>,
    /// Each clock record's index, and the clock as it reads the records that follow.
    clocks: Vec<(usize, Clock)>,
}

impl<'a> InOrder<'a> {
    /// Split `body` (whole records) into streams.
    fn new(body: &'a [u8]) -> InOrder<'a> {
        let mut streams: Vec<Stream> = Vec::new();
        // Thread id -> (its latest stream, the last seq in it).
        let mut open: HashMap<u32, (usize, u64)> = HashMap::new();
        let mut end = None;
        let mut count = 0;
        let mut clocks = Vec::new();
        let mut clock = Clock::default();
        // The run being read: its stream, start, end (past its last record), thread and last seq.
        let mut run: Option<(usize, usize, usize, u32, u64)> = None;
        for index in 0..body.len() / RECORD_BYTES {
            let at = index * RECORD_BYTES;
            match u32_at(body, at + 44) {
                OP_END => {
                    let mut r = record_at(body, index);
                    r.time_ns = clock.ns(r.time_ns);
                    end = Some(r);
                    continue;
                }
                OP_CLOCK => {
                    clock.mark(u64_at(body, at + 8), u64_at(body, at + 16));
                    clocks.push((index, clock));
                    continue;
                }
                OP_STATUS | OP_NAME => continue,
                _ => {}
            }
            count += 1;
            let seq = u64_at(body, at);
            let tid = u32_at(body, at + 40);
            if let Some((_, _, run_end, run_tid, last)) = &mut run {
                if *run_tid == tid && *last <= seq {
                    *run_end = index + 1;
                    *last = seq;
                    continue;
                }
            }
            if let Some((stream, start, run_end, run_tid, last)) = run.take() {
                streams[stream].runs.push(start..run_end);
                open.insert(run_tid, (stream, last));
            }
            let stream = match open.get(&tid) {
                Some(&(stream, last)) if last <= seq => stream,
                _ => {
                    streams.push(Stream::default());
                    streams.len() - 1
                }
            };
            open.insert(tid, (stream, seq));
            run = Some((stream, index, index + 1, tid, seq));
        }
        if let Some((stream, start, run_end, _, _)) = run {
            streams[stream].runs.push(start..run_end);
        }
        let mut order = InOrder {
            body,
            streams,
            heads: BinaryHeap::new(),
            count,
            threads: open.len() as u64,
            end,
            clocks,
        };
        if order.streams.len() > 1 {
            for stream in 0..order.streams.len() {
                order.push_head(stream);
            }
        }
        order
    }

    /// The index of `stream`'s next record, moving past it.
    #[inline]
    fn advance(&mut self, stream: usize) -> Option<usize> {
        let s = &mut self.streams[stream];
        loop {
            let run = s.runs.get(s.run)?;
            let index = s.at.max(run.start);
            if index >= run.end {
                s.run += 1;
                continue;
            }
            s.at = index + 1;
            if is_call(u32_at(self.body, index * RECORD_BYTES + 44)) {
                return Some(index);
            }
        }
    }

    fn push_head(&mut self, stream: usize) {
        if let Some(index) = self.advance(stream) {
            let seq = u64_at(self.body, index * RECORD_BYTES);
            self.heads.push(Reverse((seq, index, stream)));
        }
    }
}

impl Iterator for InOrder<'_> {
    type Item = RawRecord;

    #[inline]
    fn next(&mut self) -> Option<RawRecord> {
        let index = if self.streams.len() == 1 {
            self.advance(0)?
        } else {
            let Reverse((_, index, stream)) = self.heads.pop()?;
            self.push_head(stream);
            index
        };
        let mut r = record_at(self.body, index);
        // The clock as the last clock record before this record left it.
        let k = self.clocks.partition_point(|&(at, _)| at < index);
        if let Some((_, clock)) = k.checked_sub(1).map(|k| self.clocks[k]) {
            r.time_ns = clock.ns(r.time_ns);
        }
        Some(r)
    }
}

/// What a raw file says of its process, from its first records: the program's name (its
/// `comm`, from the name record) and when recording started (`CLOCK_MONOTONIC` nanoseconds,
/// from the first clock record). None for what the file does not hold.
pub fn process_of(bytes: &[u8]) -> (Option<String>, Option<u64>) {
    let Some(body) = bytes.strip_prefix(MAGIC) else {
        return (None, None);
    };
    let (mut name, mut started) = (None, None);
    // The status, clock and name records come first.
    for index in 0..(body.len() / RECORD_BYTES).min(3) {
        let r = record_at(body, index);
        match r.op {
            OP_CLOCK if started.is_none() => started = Some(r.ptr),
            OP_NAME if name.is_none() => {
                let mut text = Vec::with_capacity(24);
                for word in [r.ptr, r.size, r.arg] {
                    text.extend_from_slice(&word.to_le_bytes());
                }
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                name = Some(String::from_utf8_lossy(&text[..end]).into_owned());
            }
            _ => {}
        }
    }
    (name, started)
}

/// The records of a raw file in `seq` order (see [`InOrder`]), and its end record if any.
pub fn records<'a>(bytes: &'a [u8], path: &Path) -> Result<InOrder<'a>, TraceError> {
    Ok(InOrder::new(body(bytes, path)?))
}

/// The records of a raw file, in `seq` order, and its end record if any. A cut-off last
/// record is left out.
pub fn read(bytes: &[u8], path: &Path) -> Result<(Vec<RawRecord>, Option<RawRecord>), TraceError> {
    let order = records(bytes, path)?;
    let end = order.end;
    Ok((order.collect(), end))
}

/// Hands records, in `seq` order, to the builder: what both conversions share.
#[derive(Default)]
struct Feed {
    /// Records handed so far: the "line" of messages.
    line: u64,
    /// `time_ns` of the first record, the origin of the CSV's `time_ns`.
    first: Option<u64>,
    last: Option<RawRecord>,
}

impl Feed {
    #[inline]
    fn record<W: Write>(
        &mut self,
        builder: &mut Builder<CsvSink<W>>,
        r: RawRecord,
    ) -> Result<(), TraceError> {
        self.line += 1;
        let line = self.line;
        let start = *self.first.get_or_insert(r.time_ns);
        self.last = Some(r);
        builder.sink.thread = Some(u64::from(r.tid));
        builder.sink.time_ns = Some(r.time_ns.saturating_sub(start));
        match r.op {
            0 => builder.alloc(line, Op::Malloc, r.ptr, r.size, 0),
            1 => builder.alloc(line, Op::Calloc, r.ptr, r.size, 0),
            2 => builder.realloc(line, line, r.arg, r.ptr, r.size, ""),
            3 => builder.free(line, r.ptr, ""),
            4 => {
                // memalign rounds a non-power-of-two alignment up, as glibc does.
                let align = r.arg.max(1).checked_next_power_of_two().unwrap_or(1 << 63);
                builder.alloc(line, Op::Memalign, r.ptr, r.size, align)
            }
            op => builder.malformed(line, || format!("unknown op code {op}")),
        }
    }

    fn summary(
        &self,
        import: ImportSummary,
        count: u64,
        threads: u64,
        end: Option<RawRecord>,
    ) -> RecordingSummary {
        let numbered = match end {
            Some(end) => end.seq,
            None => self.last.map_or(0, |r| r.seq.saturating_add(1)),
        };
        let span_ns = self.last.map_or(0, |r| r.time_ns.saturating_sub(self.first.unwrap_or(0)));
        RecordingSummary {
            import,
            threads,
            lost: numbered.saturating_sub(count),
            complete: end.is_some(),
            span_ns,
        }
    }
}

/// Convert the raw recording `bytes` (named `path` in messages) to the native CSV on `out`.
pub fn to_csv(bytes: &[u8], path: &Path, out: impl Write) -> Result<RecordingSummary, TraceError> {
    let mut order = records(bytes, path)?;
    let (count, threads, end) = (order.count, order.threads, order.end);
    let mut feed = Feed::default();
    let import =
        convert(path, out, ParseOptions { lenient: true, ..ParseOptions::default() }, |builder| {
            order.try_for_each(|r| feed.record(builder, r))
        })?;
    Ok(feed.summary(import, count, threads, end))
}

/// Records put back in `seq` order as they are read, while the program still writes them.
///
/// The interposer numbers calls from 0 with one counter, so in a sound recording each number is
/// in exactly one record: a record can go as soon as every smaller number has gone, and one
/// that comes early waits at its place in a window of the numbers still to come. At the end
/// the records still waiting (behind a number that never came: a lost record) go in order. That
/// is the order [`InOrder`] gives, a stable sort's. A record whose number has already gone (a
/// repeated number: a damaged file) makes [`Reorder::push`] give up, and so does one
/// implausibly far ahead (its window would take too much memory): the whole file must then be
/// put in order by [`InOrder`].
#[derive(Default)]
struct Reorder {
    /// The smallest number that has not gone yet.
    next: u64,
    /// Slot `i` holds the record numbered `next + i`, if it came.
    window: VecDeque<Option<RawRecord>>,
    /// Records read (end records aside).
    count: u64,
    /// Distinct thread ids among them, and the last one seen.
    threads: HashSet<u32>,
    last_tid: Option<u32>,
    /// The last end record read.
    end: Option<RawRecord>,
}

/// How far ahead of the smallest number not gone a record may come, beyond the records read so
/// far: a sound recording's gaps are lost records, a few thousand (buffers of threads that never
/// flushed) unless more than a thousand threads ran at once.
const REORDER_SLACK: u64 = 1 << 20;

impl Reorder {
    /// Take record `r`, sending every record that can go now to `emit`, in order. False (and
    /// nothing sent) when `r` cannot be put in order this way.
    #[inline]
    fn push(
        &mut self,
        r: RawRecord,
        mut emit: impl FnMut(RawRecord) -> Result<(), TraceError>,
    ) -> Result<bool, TraceError> {
        if r.op == OP_END {
            self.end = Some(r);
            return Ok(true);
        }
        self.count += 1;
        if self.last_tid != Some(r.tid) {
            self.last_tid = Some(r.tid);
            self.threads.insert(r.tid);
        }
        if r.seq == self.next && self.window.is_empty() {
            // The rule when one thread makes the calls, or a thread's run goes on.
            self.next += 1;
            return emit(r).map(|()| true);
        }
        let Some(ahead) = r.seq.checked_sub(self.next) else {
            return Ok(false);
        };
        if ahead > self.count.saturating_mul(2).saturating_add(REORDER_SLACK) {
            return Ok(false);
        }
        let ahead = ahead as usize;
        if ahead >= self.window.len() {
            self.window.resize(ahead + 1, None);
        }
        if self.window[ahead].is_some() {
            return Ok(false);
        }
        self.window[ahead] = Some(r);
        while let Some(Some(r)) = self.window.front() {
            let r = *r;
            self.window.pop_front();
            self.next += 1;
            emit(r)?;
        }
        Ok(true)
    }

    /// Send the records still waiting, in order: every record has been pushed.
    fn finish(
        &mut self,
        emit: impl FnMut(RawRecord) -> Result<(), TraceError>,
    ) -> Result<(), TraceError> {
        self.window.drain(..).flatten().try_for_each(emit)
    }
}

/// What [`to_csv_streaming`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Streamed {
    /// The whole recording is on `out`.
    Converted(RecordingSummary),
    /// The records could not be put in order as they came (a damaged file, see `Reorder`):
    /// what went to `out` is to be thrown away, and the whole file converted with [`to_csv`].
    Unordered,
}

/// Convert a raw recording to the native CSV on `out` while it is being written: `more`
/// appends the bytes that came since its last call to the buffer (waiting until some came) and
/// says whether more may follow. The CSV is what [`to_csv`] gives for the whole file (or
/// [`Streamed::Unordered`]).
pub fn to_csv_streaming(
    path: &Path,
    out: impl Write,
    mut more: impl FnMut(&mut Vec<u8>) -> Result<bool, TraceError>,
) -> Result<Streamed, TraceError> {
    let mut feed = Feed::default();
    let mut order = Reorder::default();
    let mut unordered = false;
    let converted =
        convert(path, out, ParseOptions { lenient: true, ..ParseOptions::default() }, |builder| {
            let mut bytes = Vec::with_capacity(STREAM_READ + RECORD_BYTES);
            let mut clock = Clock::default();
            // Whether the header was read (and checked).
            let mut started = false;
            loop {
                let going = more(&mut bytes)?;
                let mut at = 0;
                if !started {
                    if bytes.len() < MAGIC.len() && going {
                        continue;
                    }
                    body(&bytes, path)?;
                    started = true;
                    at = MAGIC.len();
                }
                let records = (bytes.len() - at) / RECORD_BYTES;
                for index in 0..records {
                    let mut r = record_at(&bytes[at..], index);
                    if r.op == OP_CLOCK {
                        clock.mark(r.time_ns, r.ptr);
                        continue;
                    }
                    if r.op == OP_STATUS || r.op == OP_NAME {
                        continue;
                    }
                    r.time_ns = clock.ns(r.time_ns);
                    if !order.push(r, |r| feed.record(builder, r))? {
                        unordered = true;
                        return Ok(());
                    }
                }
                // A record cut off waits for the rest of its bytes; at the end it is left out.
                bytes.drain(..at + records * RECORD_BYTES);
                if !going {
                    return order.finish(|r| feed.record(builder, r));
                }
            }
        });
    if unordered {
        return Ok(Streamed::Unordered);
    }
    let import = converted?;
    let threads = order.threads.len() as u64;
    Ok(Streamed::Converted(feed.summary(import, order.count, threads, order.end)))
}

/// Bytes the caller of [`to_csv_streaming`] should read at a time.
pub const STREAM_READ: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(records: &[(u64, u64, u64, u64, u32)]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for &(seq, ptr, size, arg, op) in records {
            for word in [seq, seq.wrapping_add(100), ptr, size, arg] {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
            bytes.extend_from_slice(&7u32.to_le_bytes());
            bytes.extend_from_slice(&op.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn records_are_put_back_in_sequence_order() {
        // Thread buffers arrive out of order: the free (seq 1) after the malloc of seq 2.
        let bytes =
            raw(&[(2, 0x20, 8, 0, 0), (0, 0x10, 8, 0, 0), (1, 0x10, 0, 0, 3), (3, 0, 0, 0, 5)]);
        let mut csv = Vec::new();
        let summary = to_csv(&bytes, Path::new("t.rec"), &mut csv).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "op,ptr,size,old_ptr,align,thread,time_ns\n\
             malloc,0x10,8,,,7,0\nfree,0x10,,,,7,1\nmalloc,0x20,8,,,7,2\n"
        );
        assert_eq!(summary.lost, 0);
        assert!(summary.complete);
        assert_eq!(summary.threads, 1);
    }

    #[test]
    fn a_record_numbered_at_the_end_of_u64_does_not_overflow_the_count_of_lost_records() {
        // Found by tests/fuzz.rs with overflow checks on.
        let bytes = raw(&[(u64::MAX - 1, 0x10, 8, 0, 0), (u64::MAX, 0x10, 0, 0, 3)]);
        let summary = to_csv(&bytes, Path::new("t.rec"), Vec::new()).unwrap();
        assert_eq!(summary.lost, u64::MAX - 2);
    }

    #[test]
    fn missing_sequence_numbers_are_reported_as_lost() {
        let bytes = raw(&[(0, 0x10, 8, 0, 0), (5, 0x10, 0, 0, 3)]);
        let summary = to_csv(&bytes, Path::new("t.rec"), Vec::new()).unwrap();
        assert_eq!(summary.lost, 4);
        assert!(!summary.complete);
    }

    /// Records as the interposer writes them: `threads` threads each take sequence numbers in
    /// turn and flush a chunk when their buffer holds `chunk` records, then at exit every buffer
    /// is flushed and the end record written.
    fn interleaved(threads: u32, chunk: usize, calls: u64, mut rng: u64) -> Vec<RawRecord> {
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut buffers: Vec<Vec<RawRecord>> = vec![Vec::new(); threads as usize];
        let mut file = Vec::new();
        for seq in 0..calls {
            let t = (next() % u64::from(threads)) as usize;
            let op = (next() % 5) as u32;
            let record = RawRecord {
                seq,
                time_ns: 1000 + seq * 3,
                ptr: 0x1000 + 16 * (next() % 64),
                size: next() % 100,
                arg: if op == 2 { 0x1000 + 16 * (next() % 64) } else { next() % 3 * 8 },
                tid: 100 + t as u32,
                op,
            };
            buffers[t].push(record);
            if buffers[t].len() == chunk {
                file.append(&mut buffers[t]);
            }
        }
        for buffer in &mut buffers {
            file.append(buffer);
        }
        file.push(RawRecord { seq: calls, time_ns: 0, ptr: 0, size: 0, arg: 0, tid: 100, op: 5 });
        file
    }

    fn encode(records: &[RawRecord]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for r in records {
            for word in [r.seq, r.time_ns, r.ptr, r.size, r.arg] {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
            bytes.extend_from_slice(&r.tid.to_le_bytes());
            bytes.extend_from_slice(&r.op.to_le_bytes());
        }
        bytes
    }

    /// What the merge must give: the records in file order, stably sorted by `seq`.
    fn stable_sorted(records: &[RawRecord]) -> (Vec<RawRecord>, Option<RawRecord>) {
        let mut sorted: Vec<RawRecord> =
            records.iter().copied().filter(|r| r.op != OP_END).collect();
        sorted.sort_by_key(|r| r.seq);
        (sorted, records.iter().rev().copied().find(|r| r.op == OP_END))
    }

    #[test]
    fn several_threads_chunks_are_merged_in_sequence_order() {
        for (threads, chunk, seed) in [(1, 4, 1), (2, 3, 2), (3, 5, 3), (8, 2, 4), (5, 1024, 5)] {
            let file = interleaved(threads, chunk, 3000, seed);
            let bytes = encode(&file);
            let (records, end) = read(&bytes, Path::new("t.rec")).unwrap();
            assert!(records.iter().enumerate().all(|(i, r)| r.seq == i as u64));
            assert_eq!((records, end), stable_sorted(&file), "{threads} threads");
            let order = records_of(&bytes);
            assert_eq!(order.threads, u64::from(threads));
            assert_eq!(order.count, 3000);
        }
    }

    fn records_of(bytes: &[u8]) -> InOrder<'_> {
        records(bytes, Path::new("t.rec")).unwrap()
    }

    /// Damage `file` in round `round`'s way: chunks out of order within a thread, repeated
    /// sequence numbers, end records in the middle, or a thread id reused.
    fn damage(file: &mut [RawRecord], round: u32, rng: &mut u64) {
        for _ in 0..(round % 10) {
            *rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let i = (*rng >> 33) as usize % file.len();
            let j = (*rng >> 13) as usize % file.len();
            match round % 4 {
                0 => file.swap(i, j),
                1 => file[i].seq = file[j].seq,
                2 => file[i].op = OP_END,
                _ => file[i].tid = file[j].tid,
            }
        }
    }

    #[test]
    fn any_file_comes_out_as_a_stable_sort_would_put_it() {
        // Damaged files too: chunks out of order within a thread, repeated sequence numbers,
        // end records in the middle, a thread id reused, a record cut off at the end.
        let mut rng = 7u64;
        for round in 0..200 {
            let mut file =
                interleaved(1 + round % 4, 1 + round as usize % 7, 200, 11 + u64::from(round));
            damage(&mut file, round, &mut rng);
            let mut bytes = encode(&file);
            bytes.extend_from_slice(&[1, 2, 3]);
            let got = read(&bytes, Path::new("t.rec")).unwrap();
            assert_eq!(got, stable_sorted(&file), "round {round}");
        }
    }

    /// `to_csv_streaming` fed `bytes` in pieces of the given sizes (cycled).
    fn streamed(bytes: &[u8], pieces: &[usize]) -> (Result<Streamed, TraceError>, Vec<u8>) {
        let mut csv = Vec::new();
        let mut at = 0;
        let mut piece = pieces.iter().cycle();
        let result = to_csv_streaming(Path::new("t.rec"), &mut csv, |buffer| {
            let end = (at + piece.next().unwrap()).min(bytes.len());
            buffer.extend_from_slice(&bytes[at..end]);
            at = end;
            Ok(at < bytes.len())
        });
        (result, csv)
    }

    #[test]
    fn streaming_gives_what_the_whole_file_gives() {
        for (threads, chunk, seed) in [(1, 4, 1), (2, 3, 2), (3, 5, 3), (8, 2, 4), (5, 1024, 5)] {
            let mut file = interleaved(threads, chunk, 3000, seed);
            // A lost record (a gap in the numbers), and one without an end record.
            for lose in [None, Some(1234)] {
                if let Some(seq) = lose {
                    file.retain(|r| r.seq != seq);
                    file.pop();
                }
                let bytes = encode(&file);
                let mut whole = Vec::new();
                let expected = to_csv(&bytes, Path::new("t.rec"), &mut whole).unwrap();
                assert_eq!(expected.lost, u64::from(lose.is_some()));
                // Pieces that cut the header and records anywhere, and a piece of nothing.
                for pieces in [&[1][..], &[5, 0, 100, 47], &[4096], &[1 << 20]] {
                    let (got, csv) = streamed(&bytes, pieces);
                    assert_eq!(got.unwrap(), Streamed::Converted(expected.clone()));
                    assert_eq!(csv, whole, "{threads} threads, pieces {pieces:?}");
                }
            }
        }
    }

    #[test]
    fn a_repeated_sequence_number_is_left_to_the_whole_file_conversion() {
        let bytes = raw(&[(0, 0x10, 8, 0, 0), (1, 0x10, 0, 0, 3), (0, 0x20, 8, 0, 0)]);
        assert_eq!(streamed(&bytes, &[1 << 20]).0.unwrap(), Streamed::Unordered);
        // Far ahead of anything read: its window would be too large.
        let bytes = raw(&[(0, 0x10, 8, 0, 0), (1 << 40, 0x20, 8, 0, 0)]);
        assert_eq!(streamed(&bytes, &[1 << 20]).0.unwrap(), Streamed::Unordered);
        // A record still waiting for seq 1 when seq 3 comes is fine.
        let bytes = raw(&[(0, 0x10, 8, 0, 0), (3, 0x20, 8, 0, 0), (2, 0x10, 0, 0, 3)]);
        let (got, csv) = streamed(&bytes, &[48]);
        let Streamed::Converted(summary) = got.unwrap() else { panic!("not converted") };
        assert_eq!(summary.lost, 1);
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "op,ptr,size,old_ptr,align,thread,time_ns\n\
             malloc,0x10,8,,,7,0\nfree,0x10,,,,7,2\nmalloc,0x20,8,,,7,3\n"
        );
    }

    #[test]
    fn a_damaged_file_streams_as_the_whole_file_converts_or_is_left_to_it() {
        let mut rng = 3u64;
        let mut unordered = 0;
        for round in 0..200 {
            let mut file =
                interleaved(1 + round % 4, 1 + round as usize % 7, 200, 31 + u64::from(round));
            damage(&mut file, round, &mut rng);
            let mut bytes = encode(&file);
            bytes.extend_from_slice(&[1, 2, 3]);
            let mut whole = Vec::new();
            let expected = to_csv(&bytes, Path::new("t.rec"), &mut whole);
            match streamed(&bytes, &[1 + round as usize * 37]) {
                // Only repeated numbers give up; swapped records, lost ones and reused thread
                // ids stream.
                (Ok(Streamed::Unordered), _) => {
                    assert_eq!(round % 4, 1, "round {round}");
                    unordered += 1;
                }
                (Ok(Streamed::Converted(summary)), csv) => {
                    assert_eq!(summary, expected.unwrap(), "round {round}");
                    assert_eq!(csv, whole, "round {round}");
                }
                (Err(e), _) => assert_eq!(e.to_string(), expected.unwrap_err().to_string()),
            }
        }
        assert!(unordered > 40, "{unordered}");
    }

    #[test]
    fn a_stream_that_is_not_a_recording_is_an_error() {
        let (got, _) = streamed(b"RPLY", &[2]);
        assert!(got.unwrap_err().to_string().contains("no RPLYREC2 header"));
        // An older interposer's file.
        let (got, _) = streamed(b"RPLYREC1\0\0\0\0\0\0\0\0", &[3]);
        assert!(got.unwrap_err().to_string().contains("no RPLYREC2 header"));
        let (got, _) = streamed(b"RPLYREC2", &[3]);
        assert!(got.unwrap_err().to_string().contains("no events"));
    }

    #[test]
    fn clock_readings_become_nanoseconds_on_the_line_through_the_clock_records() {
        // Before any clock record, readings are nanoseconds.
        let mut clock = Clock::default();
        assert_eq!(clock.ns(12_345), 12_345);
        // The clock read as nanoseconds (no time-stamp counter): nothing changes.
        clock.mark(1_000, 1_000);
        clock.mark(9_000, 9_000);
        assert_eq!(clock.ns(5_000), 5_000);
        assert_eq!(clock.ns(20_000), 20_000);
        // A 2.6 GHz counter, far from zero, over an hour.
        let ticks = |ns: u64| 77_000_000_000 + ns * 26 / 10;
        let mut clock = Clock::default();
        clock.mark(ticks(5_000_000), 5_000_000);
        for at in [0u64, 1, 10, 1_000, 1_000_000, 3_600_000_000_000] {
            clock.mark(ticks(5_000_000 + at + 150_000), 5_000_000 + at + 150_000);
            let ns = 5_000_000 + at;
            assert!(clock.ns(ticks(ns)).abs_diff(ns) <= 1, "{at}: {}", clock.ns(ticks(ns)));
        }
        // Readings before the first clock record (another CPU's counter a little behind).
        assert_eq!(clock.ns(ticks(4_000_000)), 5_000_000);
    }

    #[test]
    fn a_recording_timed_by_a_counter_converts_as_one_timed_in_nanoseconds() {
        let file = interleaved(3, 16, 3000, 17);
        let in_ns = encode(&file);
        // The same recording with a counter at 4 ticks a nanosecond: a clock record first and
        // before each chunk (here, wherever the thread changes), as the interposer writes them.
        let ticks = |ns: u64| 4 * ns + 7;
        let mut timed = Vec::new();
        let clock = |ns: u64| RawRecord {
            seq: 0,
            time_ns: ticks(ns),
            ptr: ns,
            size: 0,
            arg: 0,
            tid: 1,
            op: OP_CLOCK,
        };
        timed.push(clock(500));
        for (i, r) in file.iter().enumerate() {
            if i == 0 || file[i - 1].tid != r.tid {
                timed.push(clock(r.time_ns + 40_000));
            }
            timed.push(RawRecord { time_ns: ticks(r.time_ns), ..*r });
        }
        let timed = encode(&timed);
        let (mut expected, mut whole) = (Vec::new(), Vec::new());
        let a = to_csv(&in_ns, Path::new("t.rec"), &mut expected).unwrap();
        let b = to_csv(&timed, Path::new("t.rec"), &mut whole).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(whole).unwrap(), String::from_utf8(expected.clone()).unwrap());
        let (streamed, csv) = streamed(&timed, &[1000]);
        assert_eq!(streamed.unwrap(), Streamed::Converted(a));
        assert_eq!(csv, expected);
    }

    #[test]
    fn a_multithreaded_recording_converts_as_the_sorted_records_do() {
        let file = interleaved(4, 16, 5000, 99);
        let mut sorted = stable_sorted(&file).0;
        sorted.push(*file.last().unwrap());
        let (mut merged, mut by_sort) = (Vec::new(), Vec::new());
        let a = to_csv(&encode(&file), Path::new("t.rec"), &mut merged).unwrap();
        let b = to_csv(&encode(&sorted), Path::new("t.rec"), &mut by_sort).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(merged).unwrap(), String::from_utf8(by_sort).unwrap());
        assert_eq!(a.threads, 4);
        assert!(a.complete);
        assert_eq!(a.lost, 0);
    }
}
