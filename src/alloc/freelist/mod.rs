//! PLACEHOLDER (being written on the `freelist` branch): the free-list family.
use super::StrategyEntry;
pub const FIRST_FIT: StrategyEntry = StrategyEntry { name: "first-fit", ..super::bump::ENTRY };
pub const NEXT_FIT: StrategyEntry = StrategyEntry { name: "next-fit", ..super::bump::ENTRY };
pub const BEST_FIT: StrategyEntry = StrategyEntry { name: "best-fit", ..super::bump::ENTRY };
pub const WORST_FIT: StrategyEntry = StrategyEntry { name: "worst-fit", ..super::bump::ENTRY };
