//! What every input format shares once a line has been read: mapping recorded pointers to dense
//! [`BlockId`]s, checking that each event makes sense (no free of a dead pointer, no allocation
//! of a live one), the `--lenient` repairs, and the table of line numbers.
//!
//! A parser turns each line into one call (`alloc`, `free`, `realloc`, `no_event` or
//! `malformed`); the builder decides what the call means and hands the resulting [`Event`]s to a
//! [`Sink`]: [`Collect`] keeps them for a [`Trace`], the CSV writer of `mtrace::to_csv` writes
//! them out with their recorded pointers.
//!
//! # Lenient repairs
//! - An invalid line (unknown op, bad number, wrong field count...) is dropped: `malformed`.
//! - A `free` (or a `realloc` to size 0 that returned NULL) of a pointer that is not live is
//!   dropped: `not_live`.
//! - A `realloc` of a pointer that is not live but that returned a pointer is replayed as a
//!   `malloc` of the returned pointer: the program owns that block from now on, and tracking it
//!   keeps its later `free` valid. Counted as `not_live`.
//! - An allocation (or `realloc`) that returned a pointer that is still live as another block:
//!   the old block is freed first (its free must have been lost: the allocator cannot hand out an
//!   address twice), then the allocation is replayed. Both events get the allocation's line.
//!   Counted as `still_live`.

use super::event::{BlockId, Event, Op, ParseOptions, SkipKind, Trace, TraceError};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

/// Where the builder's events go.
pub(crate) trait Sink {
    /// `event` allocated, resized or freed the block recorded at `ptr` (for `realloc`, moved from
    /// `old_ptr`; 0 otherwise).
    fn event(&mut self, event: Event, ptr: u64, old_ptr: u64) -> Result<(), TraceError>;

    /// The events that follow were recorded on thread `tid` (see [`Builder::on_thread`]).
    /// Ignored unless the sink writes threads out.
    #[inline]
    fn thread(&mut self, _tid: Option<u64>) {}

    /// The events that follow were recorded at `ns` (see [`Builder::on_time`]). Ignored unless
    /// the sink writes times out.
    #[inline]
    fn time(&mut self, _ns: Option<u64>) {}
}

/// Keeps the events, for a [`Trace`].
#[derive(Default)]
pub(crate) struct Collect(pub Vec<Event>);

impl Sink for Collect {
    #[inline]
    fn event(&mut self, event: Event, _ptr: u64, _old_ptr: u64) -> Result<(), TraceError> {
        self.0.push(event);
        Ok(())
    }
}

/// A hasher for recorded pointers: one 64x64->128 bit multiply, folded (the high half xored into
/// the low one), as foldhash does. Pointers are not attacker-chosen keys, so SipHash (the std
/// default) buys nothing here. The fold matters: pointers are multiples of 16, and the table
/// picks buckets by the hash's low bits, which a plain multiply would leave poorly mixed.
#[derive(Default, Clone, Copy)]
pub(crate) struct PtrHasher(u64);

impl Hasher for PtrHasher {
    #[inline]
    fn write_u64(&mut self, n: u64) {
        let full = u128::from(n) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (full as u64) ^ ((full >> 64) as u64);
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed; this keeps the trait complete.
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Recorded pointer -> id of the live block at that address.
pub(crate) type PtrMap = HashMap<u64, BlockId, BuildHasherDefault<PtrHasher>>;

/// Turns parsed lines into validated events. See the module docs.
pub(crate) struct Builder<S> {
    path: PathBuf,
    lenient: bool,
    /// Recorded pointer -> id, for exactly the blocks that are live at this point of the trace.
    live: PtrMap,
    /// Recorded pointer -> id of the block it last belonged to, for pointers that are no longer
    /// live; only kept when the trace may have `write` events (`track_dead`), to tell a
    /// use-after-free write from a write through a pointer that never existed.
    dead: PtrMap,
    track_dead: bool,
    /// Blocks allocated so far (distinct blocks, whatever their ids).
    blocks: u32,
    /// Ids in use so far: every id handed out is below this. Equal to `blocks` unless ids are
    /// recycled.
    slots: u32,
    /// Whether a freed block's id goes to the next allocation ([`Builder::recycle_ids`]).
    recycle: bool,
    /// Ids of freed blocks, for reuse (LIFO); empty unless `recycle`.
    free_ids: Vec<BlockId>,
    pub(crate) sink: S,
    /// Events handed to the sink.
    events: u64,
    first_line: u64,
    /// Line of the last event; 0 before the first.
    last_line: u64,
    gaps: Vec<(u64, i64)>,
    skipped: [u64; 3],
    /// Allocations that returned NULL and failed `realloc`s (no event).
    pub(crate) failed: u64,
    /// The recorded thread of each event, when the format says ([`Builder::track_threads`]).
    threads: Option<Threads>,
    want_threads: bool,
}

/// The recorded threads of a trace's events (see [`Trace::threads`]).
#[derive(Default)]
struct Threads {
    /// Recorded thread id -> its index in `ids`.
    index: HashMap<Option<u64>, u32>,
    ids: Vec<Option<u64>>,
    /// The thread of the line being read.
    current: u32,
    /// The thread of each event handed to the sink so far.
    of_events: Vec<u32>,
}

/// Display a recorded pointer the way C prints it.
fn hex(ptr: u64) -> String {
    format!("{ptr:#x}")
}

impl<S: Sink> Builder<S> {
    pub(crate) fn new(path: &Path, options: ParseOptions, sink: S) -> Builder<S> {
        Builder {
            path: path.to_path_buf(),
            lenient: options.lenient,
            live: PtrMap::default(),
            dead: PtrMap::default(),
            track_dead: false,
            blocks: 0,
            slots: 0,
            recycle: false,
            free_ids: Vec::new(),
            sink,
            events: 0,
            first_line: 0,
            last_line: 0,
            gaps: Vec::new(),
            skipped: [0; 3],
            failed: 0,
            threads: None,
            want_threads: false,
        }
    }

    /// Keep the recorded thread of every event for the [`Trace`], if the input names them
    /// (the format then calls [`Builder::input_has_threads`] and gives each line's thread with
    /// [`Builder::on_thread`]). Off for streaming sinks, whose memory must not grow with the
    /// trace.
    pub(crate) fn track_threads(&mut self) {
        self.want_threads = true;
    }

    /// The input names the thread of every line (CSV's `thread` column).
    pub(crate) fn input_has_threads(&mut self) {
        if self.want_threads {
            self.threads.get_or_insert_with(Threads::default);
        }
    }

    /// The line about to be handed over was recorded on thread `tid` (`None`: not said).
    /// Ignored unless [`Builder::track_threads`] was called.
    #[inline]
    pub(crate) fn on_thread(&mut self, tid: Option<u64>) {
        self.sink.thread(tid);
        if let Some(threads) = &mut self.threads {
            let next = threads.ids.len();
            threads.current = *threads.index.entry(tid).or_insert_with(|| {
                threads.ids.push(tid);
                // Below 2^32 threads: a trace has fewer threads than events.
                next as u32
            });
        }
    }

    /// The line about to be handed over was recorded at `ns` (`None`: not said): for a sink
    /// that writes times out (a conversion's CSV `time_ns`); a [`Trace`] keeps no times.
    #[inline]
    pub(crate) fn on_time(&mut self, ns: Option<u64>) {
        self.sink.time(ns);
    }

    /// Remember freed pointers, so that a later `write` through one is a use-after-free.
    pub(crate) fn track_dead_pointers(&mut self) {
        self.track_dead = true;
    }

    /// Give the id of every freed block to a later allocation, so that ids are bounded by the
    /// most blocks live at once rather than by the blocks of the whole trace: the engine's table
    /// of blocks (32 bytes an id) then stays small however long the trace. An id then means "a
    /// slot for one live block" rather than "one block of the trace". Not with write events
    /// (`track_dead_pointers`): a use-after-free names the id its pointer last had, which must
    /// not belong to another block by then; this call is ignored for such traces.
    pub(crate) fn recycle_ids(&mut self) {
        self.recycle = true;
    }

    /// Whether ids are being recycled (see [`Builder::recycle_ids`]).
    pub(crate) fn recycles_ids(&self) -> bool {
        self.recycle && !self.track_dead
    }

    /// `ptr` no longer belongs to block `id`.
    #[inline]
    fn died(&mut self, ptr: u64, id: BlockId) {
        if self.track_dead {
            self.dead.insert(ptr, id);
        }
    }

    /// Block `id` was freed: with [`Builder::recycle_ids`], its id goes to a later allocation.
    #[inline]
    fn released(&mut self, id: BlockId) {
        if self.recycle && !self.track_dead {
            self.free_ids.push(id);
        }
    }

    /// The program wrote `len` bytes at `offset` into the block at `ptr`: a write event, marked
    /// stale when `ptr` is no longer live. A pointer that was never allocated is an error.
    pub(crate) fn write(
        &mut self,
        line: u64,
        ptr: u64,
        offset: u64,
        len: u64,
    ) -> Result<(), TraceError> {
        let (Ok(offset), Ok(len)) = (u32::try_from(offset), u32::try_from(len)) else {
            return self.malformed(line, || {
                format!("write of {len} bytes at offset {offset}: both must be below 4 GiB")
            });
        };
        if let Some(&id) = self.live.get(&ptr) {
            return self.emit(line, Event::write(id, offset, len, false), ptr, 0);
        }
        match self.dead.get(&ptr) {
            Some(&id) => self.emit(line, Event::write(id, offset, len, true), ptr, 0),
            None => self.problem(line, SkipKind::NotLive, || {
                format!("write to {}, which was never allocated in this trace", hex(ptr))
            }),
        }
    }

    /// The error for `line`, in this builder's file.
    pub(crate) fn invalid(&self, line: u64, message: String) -> TraceError {
        TraceError::Invalid { path: self.path.clone(), line, message }
    }

    /// A line that does not parse: an error, or with `--lenient` a dropped line.
    /// `message` is only called when it is needed.
    #[cold]
    pub(crate) fn malformed(
        &mut self,
        line: u64,
        message: impl FnOnce() -> String,
    ) -> Result<(), TraceError> {
        self.problem(line, SkipKind::Malformed, message)
    }

    /// A free the format can name only by something other than a live pointer (heaptrack's
    /// allocation infos), with nothing live to free: an error, or with `--lenient` dropped and
    /// counted as `not_live`.
    #[cold]
    pub(crate) fn not_live(
        &mut self,
        line: u64,
        message: impl FnOnce() -> String,
    ) -> Result<(), TraceError> {
        self.problem(line, SkipKind::NotLive, message)
    }

    #[cold]
    fn problem(
        &mut self,
        line: u64,
        kind: SkipKind,
        message: impl FnOnce() -> String,
    ) -> Result<(), TraceError> {
        if self.lenient {
            self.skipped[kind as usize] += 1;
            Ok(())
        } else {
            Err(self.invalid(line, message()))
        }
    }

    #[inline]
    fn emit(&mut self, line: u64, event: Event, ptr: u64, old_ptr: u64) -> Result<(), TraceError> {
        if self.events == 0 {
            self.first_line = line;
        } else {
            let passed = line as i64 - self.last_line as i64 - 1;
            if passed != 0 {
                self.gaps.push((self.events, passed));
            }
        }
        self.last_line = line;
        self.events += 1;
        if let Some(threads) = &mut self.threads {
            threads.of_events.push(threads.current);
        }
        self.sink.event(event, ptr, old_ptr)
    }

    #[inline]
    fn new_id(&mut self, line: u64) -> Result<BlockId, TraceError> {
        self.blocks = self.blocks.checked_add(1).ok_or_else(|| {
            self.invalid(
                line,
                format!("more than {} blocks; traces this long are not supported", u32::MAX),
            )
        })?;
        if let Some(id) = self.free_ids.pop() {
            return Ok(id);
        }
        let id = self.slots;
        self.slots += 1; // below `blocks`, which did not overflow
        Ok(id)
    }

    /// The lenient repair for an allocation that returned the live pointer `ptr`: free its block.
    /// The caller maps `ptr` to the new block.
    #[cold]
    fn free_still_live(
        &mut self,
        line: u64,
        op: Op,
        ptr: u64,
        old_id: BlockId,
    ) -> Result<(), TraceError> {
        self.problem(line, SkipKind::StillLive, || {
            format!(
                "{op} returned {}, which is still live (a free of it is missing from the trace?)",
                hex(ptr)
            )
        })?;
        self.died(ptr, old_id);
        self.released(old_id);
        self.emit(line, Event::free(old_id), ptr, 0)
    }

    /// `malloc`, `calloc` or `memalign` returned `ptr` (0: it failed). `align` is only read for
    /// memalign, and must be a power of two (the parser checks).
    #[inline]
    pub(crate) fn alloc(
        &mut self,
        line: u64,
        op: Op,
        ptr: u64,
        size: u64,
        align: u64,
    ) -> Result<(), TraceError> {
        debug_assert!(op.allocates());
        if ptr == 0 {
            self.failed += 1;
            return Ok(());
        }
        let id = self.new_id(line)?;
        // One probe of the map: what `ptr` held before, if anything, comes back.
        if let Some(old_id) = self.live.insert(ptr, id) {
            self.free_still_live(line, op, ptr, old_id)?;
        }
        let event = match op {
            Op::Calloc => Event::calloc(id, size),
            Op::Memalign => Event::memalign(id, size, align),
            _ => Event::malloc(id, size),
        };
        self.emit(line, event, ptr, 0)
    }

    /// `free(ptr)`; `free(NULL)` is a no-op.
    #[inline]
    pub(crate) fn free(&mut self, line: u64, ptr: u64, hint: &str) -> Result<(), TraceError> {
        if ptr == 0 {
            return Ok(());
        }
        match self.live.remove(&ptr) {
            Some(id) => {
                self.died(ptr, id);
                self.released(id);
                self.emit(line, Event::free(id), ptr, 0)
            }
            None => self.problem(line, SkipKind::NotLive, || {
                format!("free of {}, which is not live ({hint})", hex(ptr))
            }),
        }
    }

    /// `realloc(old, size)` returned `ptr`. `old == 0` is `realloc(NULL, size)`, a malloc;
    /// `ptr == 0` with `size == 0` freed `old`; `ptr == 0` otherwise failed and left `old` live.
    /// `old_line` is the line that named `old` (mtrace writes it on a line of its own).
    pub(crate) fn realloc(
        &mut self,
        line: u64,
        old_line: u64,
        old: u64,
        ptr: u64,
        size: u64,
        hint: &str,
    ) -> Result<(), TraceError> {
        if old == 0 {
            return self.alloc(line, Op::Malloc, ptr, size, 0);
        }
        let Some(&id) = self.live.get(&old) else {
            self.problem(old_line, SkipKind::NotLive, || {
                format!("realloc of {}, which is not live ({hint})", hex(old))
            })?;
            // Lenient: the program owns the returned block from now on.
            return self.alloc(line, Op::Malloc, ptr, size, 0);
        };
        if ptr == 0 {
            if size == 0 {
                self.live.remove(&old);
                self.died(old, id);
                self.released(id);
                return self.emit(line, Event::free(id), old, 0);
            }
            self.failed += 1;
            return Ok(());
        }
        if ptr != old {
            if let Some(&other) = self.live.get(&ptr) {
                self.free_still_live(line, Op::Realloc, ptr, other)?;
            }
            self.live.remove(&old);
            self.died(old, id);
            self.live.insert(ptr, id);
        }
        self.emit(line, Event::realloc(id, size), ptr, old)
    }

    /// The trace so far, with the collected events.
    pub(crate) fn summary(&self) -> Summary {
        let mut skipped = BTreeMap::new();
        for kind in [SkipKind::Malformed, SkipKind::NotLive, SkipKind::StillLive] {
            let n = self.skipped[kind as usize];
            if n > 0 {
                skipped.insert(kind, n);
            }
        }
        Summary {
            events: self.events,
            blocks: self.blocks,
            slots: self.slots,
            skipped,
            failed: self.failed,
        }
    }

    /// The line of the first event, and the gaps between event indices and lines (as
    /// [`Trace::gaps`]).
    pub(crate) fn line_map(&self) -> (u64, &[(u64, i64)]) {
        (self.first_line, &self.gaps)
    }
}

/// Counts a builder ends with.
pub(crate) struct Summary {
    pub events: u64,
    pub blocks: u32,
    /// Ids used: `blocks`, or fewer when ids are recycled.
    pub slots: u32,
    pub skipped: BTreeMap<SkipKind, u64>,
    pub failed: u64,
}

impl Builder<Collect> {
    /// The trace a format's `read` makes of a file: the shared body of every `parse`.
    pub(crate) fn collect(
        path: &Path,
        options: ParseOptions,
        read: impl FnOnce(&mut Builder<Collect>) -> Result<(), TraceError>,
    ) -> Result<Trace, TraceError> {
        let mut builder = Builder::new(path, options, Collect::default());
        builder.track_threads();
        read(&mut builder)?;
        Ok(builder.into_trace())
    }

    /// The finished trace.
    pub(crate) fn into_trace(self) -> Trace {
        let summary = self.summary();
        // One thread is the same as none: only a trace of two or more keeps them.
        let (threads, thread_ids) = match self.threads {
            Some(t) if t.ids.len() > 1 => (t.of_events, t.ids),
            _ => (Vec::new(), Vec::new()),
        };
        Trace {
            path: self.path,
            events: self.sink.0,
            blocks: summary.blocks,
            gaps: self.gaps,
            first_line: self.first_line,
            skipped: summary.skipped,
            threads,
            thread_ids,
        }
    }
}

/// Why a field is not a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumError {
    Empty,
    NotANumber,
    TooBig,
}

/// Parse hex (`0x...`, `0X...`) or decimal digits, nothing else (no sign, no spaces).
#[inline]
pub(crate) fn parse_number(text: &[u8]) -> Result<u64, NumError> {
    match text {
        [] => Err(NumError::Empty),
        [b'0', b'x' | b'X', digits @ ..] => parse_hex(digits),
        // Up to 19 digits cannot overflow: no checked arithmetic (sizes have a few digits).
        _ if text.len() <= 19 => {
            let mut n: u64 = 0;
            let mut invalid = false;
            for &b in text {
                let digit = b.wrapping_sub(b'0');
                invalid |= digit > 9;
                n = n.wrapping_mul(10).wrapping_add(u64::from(digit)); // exact when valid
            }
            if invalid {
                return Err(NumError::NotANumber);
            }
            Ok(n)
        }
        _ => {
            let mut n: u64 = 0;
            for &b in text {
                let digit = b.wrapping_sub(b'0');
                if digit > 9 {
                    return Err(NumError::NotANumber);
                }
                n = match n.checked_mul(10).and_then(|n| n.checked_add(u64::from(digit))) {
                    Some(n) => n,
                    // Still tell "abc" apart from a long number.
                    None if text.iter().all(u8::is_ascii_digit) => return Err(NumError::TooBig),
                    None => return Err(NumError::NotANumber),
                };
            }
            Ok(n)
        }
    }
}

/// The value of each hex digit; 0xFF for every other byte.
pub(crate) const HEX_DIGITS: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Parse hex digits without a prefix (at least one). Branch-free per digit: a pointer has a
/// dozen of them, and this loop was a quarter of the CSV parse before it was.
#[inline]
pub(crate) fn parse_hex(digits: &[u8]) -> Result<u64, NumError> {
    if digits.is_empty() {
        return Err(NumError::NotANumber);
    }
    let mut n: u64 = 0;
    let mut invalid = 0u8;
    for &b in digits {
        let digit = HEX_DIGITS[usize::from(b)];
        invalid |= digit;
        n = (n << 4) | u64::from(digit & 0xF);
    }
    if invalid > 0xF {
        return Err(NumError::NotANumber);
    }
    if digits.len() <= 16 {
        return Ok(n);
    }
    // Checked after the digits: "0x1zzzzzzzzzzzzzzzzz" is not a number at all.
    let leading_zeros = digits.iter().take_while(|&&b| b == b'0').count();
    if digits.len() - leading_zeros > 16 {
        return Err(NumError::TooBig);
    }
    Ok(n)
}

/// `text` as it may be quoted in a message: at most 40 characters of it, each printable one as
/// it is and everything else escaped, so that a message never carries a terminal escape
/// sequence, a line break or a bidirectional override from the input to the user's terminal:
/// `\n`, `\r`, `\t`, `\"` and `\\`; other control bytes and bytes that are not UTF-8 as
/// `\xNN`; other control and format characters (C1 controls, bidi overrides, zero-width
/// characters) as `\u{NN}`, as Rust's `escape_debug` writes them. Every parser quotes input through this one function.
pub(crate) fn show(text: &[u8]) -> String {
    const MAX_CHARS: usize = 40;
    let mut out = String::with_capacity(text.len().min(4 * MAX_CHARS) + 3);
    let mut shown = 0;
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            if shown == MAX_CHARS {
                out.push_str("...");
                return out;
            }
            shown += 1;
            escape_char(c, &mut out);
        }
        for &byte in chunk.invalid() {
            if shown == MAX_CHARS {
                out.push_str("...");
                return out;
            }
            shown += 1;
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Append `c` to `out` as [`show`] writes it.
fn escape_char(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() || is_invisible_format(c) => {
            out.push_str(&format!("\\u{{{:x}}}", c as u32))
        }
        c => out.push(c),
    }
}

/// Format characters that change how a terminal shows the text around them: bidirectional
/// embeddings, overrides and isolates, zero-width characters, the byte order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{061c}')
}

/// The message for field `name` whose text `text` failed with `error`.
#[cold]
pub(crate) fn number_message(name: &str, text: &[u8], error: NumError) -> String {
    let hint = if name.contains("ptr") {
        " (expected hex such as 0x55d0c0a2b2a0, or decimal)"
    } else {
        ""
    };
    match error {
        NumError::Empty => format!("{name} is missing"),
        NumError::NotANumber => format!("{name} \"{}\" is not a number{hint}", show(text)),
        NumError::TooBig => format!("{name} {} does not fit in 64 bits", show(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(lenient: bool) -> Builder<Collect> {
        Builder::new(
            Path::new("t.csv"),
            ParseOptions { lenient, ..ParseOptions::default() },
            Collect::default(),
        )
    }

    #[test]
    fn numbers_parse_in_hex_and_decimal() {
        assert_eq!(parse_number(b"0x55d0c0a2b2a0"), Ok(0x55d0_c0a2_b2a0));
        assert_eq!(parse_number(b"0XfF"), Ok(255));
        assert_eq!(parse_number(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_number(b"0x000000ffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_number(b"18446744073709551616"), Err(NumError::TooBig));
        assert_eq!(parse_number(b"0x10000000000000000"), Err(NumError::TooBig));
        assert_eq!(parse_number(b"99999999999999999999x"), Err(NumError::NotANumber));
        assert_eq!(parse_number(b"0x"), Err(NumError::NotANumber));
        assert_eq!(parse_number(b"-1"), Err(NumError::NotANumber));
        assert_eq!(parse_number(b" 1"), Err(NumError::NotANumber));
        assert_eq!(parse_number(b""), Err(NumError::Empty));
    }

    #[test]
    fn pointers_that_share_low_bits_hash_apart() {
        let hash = |n: u64| {
            let mut h = PtrHasher::default();
            h.write_u64(n);
            h.finish()
        };
        let low: std::collections::HashSet<u64> =
            (0..64u64).map(|i| hash(0x5555_0000_0000 + i * 16) & 63).collect();
        assert!(low.len() > 32, "only {} distinct buckets", low.len());
    }

    #[test]
    fn events_on_the_same_line_map_back_to_it() {
        let mut b = builder(true);
        b.alloc(2, Op::Malloc, 0x10, 8, 0).unwrap();
        b.free(3, 0x10, "").unwrap();
        b.alloc(4, Op::Malloc, 0x20, 8, 0).unwrap();
        b.alloc(7, Op::Malloc, 0x20, 8, 0).unwrap(); // still live: free + malloc, both line 7
        b.free(8, 0x20, "").unwrap();
        let trace = b.into_trace();
        let lines: Vec<u64> = (0..trace.events.len() as u64).map(|i| trace.line_of(i)).collect();
        assert_eq!(lines, [2, 3, 4, 7, 7, 8]);
        assert_eq!(trace.skipped[&SkipKind::StillLive], 1);
    }
}
