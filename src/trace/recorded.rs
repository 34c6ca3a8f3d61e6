//! The raw file `replay record`'s interposer writes (see the docs of the `replay-interposer`
//! crate), and its conversion to the native CSV with `thread` and `time_ns` columns.
//!
//! # The raw file
//! `RPLYREC1`, then 48-byte records in little-endian order: `seq`, `time_ns`, `ptr`, `size`,
//! `arg` (u64 each; `arg` is the old pointer of a `realloc`, the alignment of a `memalign`),
//! `tid`, `op` (u32 each; 0 malloc, 1 calloc, 2 realloc, 3 free, 4 memalign, 5 the end record).
//! Threads write their records in chunks, so the file is not in `seq` order: it is sorted here.
//!
//! # Conversion
//! Records go through the shared validation in `seq` order, always with the `--lenient`
//! repairs, so the CSV parses strictly whatever happened; every repair is counted in the
//! summary, which `replay record` prints (a clean recording has none). `time_ns` is counted from
//! the first record; `thread` is the kernel's thread id. A message's "line" is the record's
//! place in `seq` order, from 1. Losses are counted: missing sequence numbers (a thread's buffer
//! never written, as when the program is killed) and a missing end record.

use super::mtrace::ImportSummary;
use super::{Op, ParseOptions, TraceError};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"RPLYREC1";
const RECORD_BYTES: usize = 48;
const OP_END: u32 = 5;

/// One record of the raw file.
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

/// The records of a raw file, in `seq` order, and its end record if any. A cut-off last
/// record is left out.
pub fn read(bytes: &[u8], path: &Path) -> Result<(Vec<RawRecord>, Option<RawRecord>), TraceError> {
    let Some(body) = bytes.strip_prefix(MAGIC) else {
        return Err(TraceError::File {
            path: path.to_path_buf(),
            message: "not a recording of replay's interposer (no RPLYREC1 header)".into(),
        });
    };
    let mut records = Vec::with_capacity(body.len() / RECORD_BYTES);
    let mut end = None;
    for chunk in body.chunks_exact(RECORD_BYTES) {
        let record = RawRecord {
            seq: u64_at(chunk, 0),
            time_ns: u64_at(chunk, 8),
            ptr: u64_at(chunk, 16),
            size: u64_at(chunk, 24),
            arg: u64_at(chunk, 32),
            tid: u32_at(chunk, 40),
            op: u32_at(chunk, 44),
        };
        if record.op == OP_END {
            end = Some(record);
        } else {
            records.push(record);
        }
    }
    // Each thread's chunks are in order: a stable sort merges such runs in about linear time.
    records.sort_by_key(|r| r.seq);
    Ok((records, end))
}

/// Convert the raw recording `bytes` (named `path` in messages) to the native CSV on `out`.
pub fn to_csv(bytes: &[u8], path: &Path, out: impl Write) -> Result<RecordingSummary, TraceError> {
    let (records, end) = read(bytes, path)?;
    let start = records.first().map_or(0, |r| r.time_ns);
    let mut threads: Vec<u32> = records.iter().map(|r| r.tid).collect();
    threads.sort_unstable();
    threads.dedup();
    let numbered = match end {
        Some(end) => end.seq,
        None => records.last().map_or(0, |r| r.seq + 1),
    };
    let span_ns = records.last().map_or(0, |r| r.time_ns.saturating_sub(start));
    let import = super::csv_out::convert(path, out, ParseOptions { lenient: true }, |builder| {
        for (index, r) in records.iter().enumerate() {
            let line = index as u64 + 1;
            builder.sink.thread = Some(u64::from(r.tid));
            builder.sink.time_ns = Some(r.time_ns.saturating_sub(start));
            match r.op {
                0 => builder.alloc(line, Op::Malloc, r.ptr, r.size, 0)?,
                1 => builder.alloc(line, Op::Calloc, r.ptr, r.size, 0)?,
                2 => builder.realloc(line, line, r.arg, r.ptr, r.size, "")?,
                3 => builder.free(line, r.ptr, "")?,
                4 => {
                    // memalign rounds a non-power-of-two alignment up, as glibc does.
                    let align = r.arg.max(1).checked_next_power_of_two().unwrap_or(1 << 63);
                    builder.alloc(line, Op::Memalign, r.ptr, r.size, align)?
                }
                op => builder.malformed(line, || format!("unknown op code {op}"))?,
            }
        }
        Ok(())
    })?;
    Ok(RecordingSummary {
        import,
        threads: threads.len() as u64,
        lost: numbered.saturating_sub(records.len() as u64),
        complete: end.is_some(),
        span_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(records: &[(u64, u64, u64, u64, u32)]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for &(seq, ptr, size, arg, op) in records {
            for word in [seq, 100 + seq, ptr, size, arg] {
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
    fn missing_sequence_numbers_are_reported_as_lost() {
        let bytes = raw(&[(0, 0x10, 8, 0, 0), (5, 0x10, 0, 0, 3)]);
        let summary = to_csv(&bytes, Path::new("t.rec"), Vec::new()).unwrap();
        assert_eq!(summary.lost, 4);
        assert!(!summary.complete);
    }
}
