//! `replay`: replay recorded memory-allocation traces through allocator strategies and measure
//! how much memory each wastes and how fast it runs.
//!
//! The modules follow the data: [`trace`] (files -> events) -> [`alloc`] (strategies) ->
//! [`engine`] (driving events through a strategy) -> [`metrics`] (computing the figures) ->
//! [`results`] (the typed results document) -> [`figures`] (the registry: each figure defined
//! once) -> [`report`] (tables, JSON, CSV, Markdown, HTML, charts) and [`gate`] (comparing
//! results).
//! [`cli`], [`config`] and [`commands`] are the program around them; [`cleanup`] removes its
//! temporary files, also on SIGINT and SIGTERM.

pub mod alloc;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod engine;
pub mod figures;
pub mod gate;
pub mod metrics;
pub mod progress;
pub mod real;
pub mod record;
pub mod report;
pub mod results;
pub mod stats;
pub mod suggest;
pub mod trace;
pub mod words;

/// Everything that can stop a command. Every kind is bad input or bad usage: exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Export(#[from] report::ExportError),
    #[error("cannot write {dest}: {source}")]
    Output {
        dest: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        2
    }
}
