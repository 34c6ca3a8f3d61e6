//! The safety lab's engine side: `--verify`, a check of every replay that does not trust the
//! strategy, and what the replay found about the trace's own memory errors.
//!
//! The [`Verifier`] checks every event of the metrics pass against the shadow heap model
//! ([`Shadow`]: alignment, bounds, overlap, a `top` that never decreases, the footprint identity;
//! see [`super::shadow`]), each broken rule a `verify_error` finding (a bug in the strategy), and
//! watches the program's writes:
//! - a `write` that runs past its block's requested size is a buffer overrun, and a `write`
//!   through a pointer that was no longer live is a use-after-free. Both are the program's errors,
//!   not the strategy's: they are reported with their lines and the replay goes on.
//!
//! A strategy that keeps its metadata inside the heap may find it damaged by an overrun (see
//! [`crate::alloc::Corruption`]); the engine then stops that strategy's replay, and the report
//! names the write that most likely did it.
//!
//! Cost: O(log n) in live blocks per event, in the metrics pass only.

use super::probe::{HeapState, Outcome, Probe};
use super::shadow::{Problem, Shadow};
use crate::alloc::Strategy;
use crate::trace::Event;

/// At most this many findings of each kind are kept with their messages; all are counted.
pub const MAX_FINDINGS: usize = 50;

/// What kind of problem a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// The program wrote past the requested size of a block.
    Overrun,
    /// The program wrote through a pointer that was no longer live.
    UseAfterFree,
    /// The strategy broke a rule of the heap model (a bug in the strategy).
    VerifyError,
    /// The strategy found its inline metadata damaged; its replay stopped there.
    Corruption,
}

impl FindingKind {
    pub const fn name(self) -> &'static str {
        match self {
            FindingKind::Overrun => "overrun",
            FindingKind::UseAfterFree => "use_after_free",
            FindingKind::VerifyError => "verify_error",
            FindingKind::Corruption => "corruption",
        }
    }
}

/// One problem found during a replay, located by event and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    /// Index of the event it was found at.
    pub event: u64,
    /// The trace line of that event.
    pub line: u64,
    pub message: String,
    /// For corruption: the line of the last write that ran into the damaged bytes, if any.
    pub culprit_line: Option<u64>,
}

impl Finding {
    /// The message with the culprit, as printed after `file:line: `.
    pub fn text(&self) -> String {
        match self.culprit_line {
            Some(line) => {
                format!("{} (last write into the block below: line {line})", self.message)
            }
            None => self.message.clone(),
        }
    }
}

/// The safety figures of one replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Safety {
    /// Whether `--verify` ran (the counts below are only meaningful then, but for corruption).
    pub verified: bool,
    pub overruns: u64,
    pub use_after_free: u64,
    pub verify_errors: u64,
    /// The damage that stopped the replay, if any.
    pub corruption: Option<Finding>,
    /// The first [`MAX_FINDINGS`] overruns, use-after-frees and verify errors, in trace order.
    pub findings: Vec<Finding>,
}

/// The `--verify` probe. Findings carry event indices; lines are filled in by `line_of`.
pub struct Verifier<'a> {
    shadow: Shadow,
    line_of: &'a (dyn Fn(u64) -> u64 + Sync),
    pub safety: Safety,
}

impl<'a> Verifier<'a> {
    pub fn new(line_of: &'a (dyn Fn(u64) -> u64 + Sync)) -> Verifier<'a> {
        Verifier {
            shadow: Shadow::default(),
            line_of,
            safety: Safety { verified: true, ..Safety::default() },
        }
    }

    fn report(&mut self, kind: FindingKind, event: u64, message: impl FnOnce() -> String) {
        let count = match kind {
            FindingKind::Overrun => &mut self.safety.overruns,
            FindingKind::UseAfterFree => &mut self.safety.use_after_free,
            _ => &mut self.safety.verify_errors,
        };
        *count += 1;
        if *count as usize <= MAX_FINDINGS {
            let line = (self.line_of)(event);
            self.safety.findings.push(Finding {
                kind,
                event,
                line,
                message: message(),
                culprit_line: None,
            });
        }
    }

    /// A broken rule of the heap model: a verify error.
    fn broken(&mut self, index: u64, problem: Problem) {
        self.report(FindingKind::VerifyError, index, || {
            if problem.is_placement() {
                format!("placement: {problem}")
            } else {
                problem.to_string()
            }
        });
    }
}

impl Probe for Verifier<'_> {
    fn after_event(
        &mut self,
        index: u64,
        event: &Event,
        outcome: Outcome,
        heap: &HeapState,
        strategy: &dyn Strategy,
    ) {
        let top = strategy.top();
        match outcome {
            Outcome::Placed { old, new, requested } => {
                if let Some(old) = old {
                    self.shadow.remove(old);
                }
                let align = Shadow::alignment(event);
                for problem in self.shadow.place(new, requested, align, top) {
                    self.broken(index, problem);
                }
            }
            Outcome::Freed(block) => {
                if let Some(problem) = self.shadow.remove(block) {
                    self.broken(index, problem);
                }
            }
            Outcome::Wrote { requested, offset, len, .. } => {
                if offset + len > requested {
                    self.report(FindingKind::Overrun, index, || {
                        format!(
                            "buffer overrun: write of {len} bytes at offset {offset} into block {} \
                             ({requested} bytes requested) runs {} bytes past its end",
                            event.id,
                            offset + len - requested
                        )
                    });
                }
            }
            Outcome::StrayWrite => {
                self.report(FindingKind::UseAfterFree, index, || {
                    format!(
                        "use after free: write of {} bytes at offset {} into block {}, which is \
                         no longer live",
                        event.write_len(),
                        event.write_offset(),
                        event.id
                    )
                });
            }
            Outcome::Failed | Outcome::IgnoredFree => {}
        }
        for problem in self.shadow.check_heap(top, heap.live_consumed, strategy.free_bytes()) {
            self.broken(index, problem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::{bump, Allocation, Bytes, Params, Request, StrategyEntry};
    use crate::engine::replayer::Replayer;

    /// A broken strategy: every block at address 0, and it claims no free bytes.
    struct AlwaysZero;

    impl Strategy for AlwaysZero {
        fn allocate(&mut self, req: Request) -> Option<Allocation> {
            Some(Allocation::at(0, Params::default().need(req.size)))
        }
        fn reallocate(&mut self, _old: Allocation, req: Request) -> Option<Allocation> {
            self.allocate(req)
        }
        fn free(&mut self, _block: Allocation) {}
        fn top(&self) -> Bytes {
            4096
        }
        fn free_bytes(&self) -> Bytes {
            0
        }
        fn largest_satisfiable(&self) -> Bytes {
            0
        }
    }

    const ALWAYS_ZERO: StrategyEntry = StrategyEntry {
        name: "always-zero",
        about: "broken on purpose",
        new: |_| Box::new(AlwaysZero),
    };

    /// Lines are event index + 2 (a header line, then one event a line).
    fn line_of(index: u64) -> u64 {
        index + 2
    }

    /// Replay `events` through `entry` with the verifier watching: the events replayed, and
    /// what the verifier found.
    fn verified(entry: &StrategyEntry, events: &[Event], blocks: u32) -> (u64, Safety) {
        let mut replayer = Replayer::new(entry, &Params::default(), blocks);
        let mut verifier = Verifier::new(&line_of);
        let replayed = replayer.run(events, 0, &mut verifier);
        (replayed, verifier.safety)
    }

    #[test]
    fn verify_catches_a_strategy_that_hands_out_overlapping_blocks() {
        let events = [Event::malloc(0, 16), Event::malloc(1, 16)];
        let (_, safety) = verified(&ALWAYS_ZERO, &events, 2);
        let overlap = safety
            .findings
            .iter()
            .find(|f| f.message.contains("overlaps the live block [0x0, 0x10)"))
            .expect("the overlap is reported");
        assert_eq!((overlap.kind, overlap.event, overlap.line), (FindingKind::VerifyError, 1, 3));
        assert!(safety.findings.iter().any(|f| f.message.contains("footprint identity broken")));
        assert!(safety.verify_errors >= 2);
    }

    #[test]
    fn a_correct_strategy_passes_verification_on_a_real_trace() {
        let trace = crate::trace::synth::steady_state(500, 5_000, 3);
        for entry in crate::alloc::ALL {
            let (_, safety) = verified(entry, &trace.events, trace.blocks);
            assert_eq!(safety.verify_errors, 0, "{}: {:?}", entry.name, safety.findings.first());
        }
    }

    #[test]
    fn overruns_and_uses_after_free_are_reported_with_their_lines_and_the_replay_goes_on() {
        let events = [
            Event::malloc(0, 24),
            Event::write(0, 0, 24, false),  // fits exactly
            Event::write(0, 16, 16, false), // 8 bytes past the end
            Event::free(0),
            Event::write(0, 0, 4, true), // use after free
            Event::malloc(1, 8),
        ];
        let (replayed, safety) = verified(&bump::ENTRY, &events, 2);
        assert_eq!(replayed, 6, "the replay went on");
        assert_eq!((safety.overruns, safety.use_after_free, safety.verify_errors), (1, 1, 0));
        assert_eq!(safety.findings[0].line, 4);
        assert!(
            safety.findings[0].message.contains("runs 8 bytes past its end"),
            "{}",
            safety.findings[0].message
        );
        assert_eq!(
            (safety.findings[1].kind, safety.findings[1].line),
            (FindingKind::UseAfterFree, 6)
        );
    }
}
