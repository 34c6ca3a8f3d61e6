//! Traces: reading recorded allocation streams into a compact list of [`Event`]s.
//!
//! One file per input format (`csv.rs` is the native format, `mtrace.rs` glibc's `MALLOC_TRACE`
//! text, `heaptrack.rs`, `rep.rs` the malloc lab's, `android.rs` Android's `record_allocs`,
//! `logalloc.rs` Firefox's, `rtrace.rs` the binary one). Every parser validates as it goes and
//! every error carries the file and line. [`Format::resolve`] (`detect.rs`) tells a file's
//! format from its content.
//!
//! The files, in the order they depend on each other (none imports one after it, and none
//! imports this file, which only declares and re-exports): `event.rs` (the events, the trace,
//! the options and errors), `input.rs` ([`open`]), `builder.rs` (validation, shared by every
//! parser), `csv_out.rs` (the one writer of native CSV), the formats, `text.rs` (every text
//! format behind one call), `rtrace.rs`, `detect.rs` ([`Format::resolve`]) and `load.rs`
//! ([`load`]).
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

pub mod android;
mod builder;
pub mod csv;
mod csv_out;
mod detect;
mod event;
pub mod heaptrack;
mod input;
mod load;
pub mod logalloc;
pub mod mtrace;
pub mod recorded;
pub mod rep;
pub mod rtrace;
pub mod synth;
mod text;

pub use csv_out::ImportSummary;
pub use detect::detect;
pub use event::{
    BlockId, Event, Format, LineTooLong, Op, ParseOptions, SkipKind, Trace, TraceError,
    MAX_LINE_BYTES,
};
pub use input::{open, open_reporting, Compression, ReadProgress};
pub use load::{load, load_reporting};
pub use text::{convert, TextFormat};
