//! Where a pass's events come from: an [`EventSource`] hands them out a chunk at a time
//! ([`CHUNK_EVENTS`] events), from memory ([`InMemory`]) or from an `.rtrace` file read again for
//! every pass ([`Rtrace`]).

use crate::trace::rtrace::Rtrace;
use crate::trace::{Event, TraceError};

/// Events a pass replays at a time (1 MiB of them): the unit of reading and of progress.
pub const CHUNK_EVENTS: usize = crate::trace::rtrace::CHUNK_EVENTS;

/// Where a pass's events come from. Each pass reads the events afresh, in order, a chunk at a
/// time (see the [engine's docs](super)); passes may run at the same time on several threads.
pub trait EventSource: Sync {
    /// Events in the trace.
    fn len(&self) -> u64;
    /// Whether the trace has no events.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every block id is below this: sizes the engine's table.
    fn slots(&self) -> u32;
    /// Call `each(chunk, index of its first event)` for consecutive chunks of at most
    /// [`CHUNK_EVENTS`] events, until the trace ends or `each` returns `false`.
    fn for_each_chunk(&self, each: &mut dyn FnMut(&[Event], u64) -> bool)
        -> Result<(), TraceError>;
}

/// Events already in memory (a parsed [`crate::trace::Trace`], a test's array).
#[derive(Clone, Copy, Debug)]
pub struct InMemory<'a> {
    pub events: &'a [Event],
    /// Every block id is below this.
    pub blocks: u32,
}

impl EventSource for InMemory<'_> {
    fn len(&self) -> u64 {
        self.events.len() as u64
    }
    fn slots(&self) -> u32 {
        self.blocks
    }
    fn for_each_chunk(
        &self,
        each: &mut dyn FnMut(&[Event], u64) -> bool,
    ) -> Result<(), TraceError> {
        for (i, chunk) in self.events.chunks(CHUNK_EVENTS).enumerate() {
            if !each(chunk, (i * CHUNK_EVENTS) as u64) {
                break;
            }
        }
        Ok(())
    }
}

/// An `.rtrace` file, read again for every pass.
impl EventSource for Rtrace {
    fn len(&self) -> u64 {
        self.header.events
    }
    fn slots(&self) -> u32 {
        self.header.slots
    }
    fn for_each_chunk(
        &self,
        each: &mut dyn FnMut(&[Event], u64) -> bool,
    ) -> Result<(), TraceError> {
        Rtrace::for_each_chunk(self, CHUNK_EVENTS, each)
    }
}
