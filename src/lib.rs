//! `replay`: replay recorded memory-allocation traces through allocator strategies and measure
//! how much memory each wastes and how fast it runs.
//!
//! The modules follow the data: [`trace`] (files -> events) -> [`alloc`] (strategies) ->
//! [`replay`] (driving events through a strategy) -> [`metrics`] (the figures) -> [`report`].

pub mod alloc;
pub mod trace;
