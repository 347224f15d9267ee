//! `flusher_stdout`: prints what the pipeline delivers as one JSON object per line, to standard
//! output (`OnlyStdout`), to a size-rolled file (`FileName`), or else to the agent's own log
//! (`tracing`, target `flusher_stdout`), as LoongCollector's flusher of the same name does.
//!
//! Differences from LoongCollector, on purpose: lines on stdout and in the file carry no date prefix
//! (they are JSON lines a program can read); the `Tags` header is a JSON line too; spans are printed
//! in full; and every line is valid JSON (LoongCollector prints content values with Go syntax, byte
//! arrays unescaped, and nothing for spans).

mod config;
mod flusher;
mod format;
mod output;

pub use config::StdoutConfig;
pub use flusher::StdoutFlusher;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_stdout";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator::<StdoutConfig>(NAME, |config| Box::new(StdoutFlusher::new(config)));
}
