//! The loong-rs runtime: loads pipeline configs from a directory and keeps them running.
//!
//! * [`config`]: LoongCollector-format YAML/JSON pipeline configs, `${VAR:default}` substitution.
//! * [`builder`]: config → plugin instances (create + decode options, then init).
//! * [`runner`]: one running pipeline: threads, bounded queues, the flush loop and its delivery
//!   contract.
//! * [`agent`]: the set of pipelines of a config directory, with hot reload.
//! * [`checkpoint`]: durable checkpoints; [`monitor`]: `/metrics` and `/health`.

pub mod agent;
pub mod aggregate;
pub mod builder;
pub mod checkpoint;
pub mod config;
mod extensions;
pub mod monitor;
pub mod onetime;
pub mod runner;

pub use agent::{Agent, AgentOptions};
pub use builder::Env;
pub use config::{ConfigError, PipelineConfig};
pub use runner::{OnetimeOutcome, RunningPipeline, StopMode};
