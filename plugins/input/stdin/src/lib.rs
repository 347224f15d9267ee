//! `input_stdin`: collects the lines of the agent's standard input as log events.
//!
//! A thread reads stdin through a large buffer and turns every line into a log whose `content` is
//! the line without its line ending, sliced out of one shared buffer per group (no copy per line).
//! Lines are grouped up to `BatchSize`; a group is also sent as soon as no more input is waiting,
//! so interactive input shows up at once while piped bulk input travels in full groups.
//!
//! Standard input is one stream per process, so one reader at a time holds it: a second
//! `input_stdin` (or the new instance after a config reload) waits until the previous reader has
//! let go, and receives whatever the previous one had read but not delivered.

mod config;
mod reader;
mod stdin;

pub use config::StdinOptions;
pub use stdin::StdinInput;

/// The config `Type` of this input.
pub const NAME: &str = "input_stdin";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_input_creator(NAME, |options: StdinOptions| Box::new(StdinInput::new(options)));
}
