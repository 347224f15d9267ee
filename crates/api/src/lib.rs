//! The loong-rs plugin API.
//!
//! It mirrors LoongCollector's Go plugin system one to one (see
//! `docs/developer-guide/how-to-write-flusher-plugins.md`):
//!
//! * [`Flusher`] with [`FlusherV1::flush`] (SLS `LogGroup`s) and/or [`FlusherV2::export`]
//!   ([`PipelineGroupEvents`]), called by the runner after [`Flusher::is_ready`] says yes;
//! * inputs ([`MetricInput`] polled on an interval, [`ServiceInput`] pushing into a [`Collector`]),
//!   processors ([`ProcessorV1`], [`ProcessorV2`]), [`Aggregator`]s and [`Extension`]s;
//! * a [`Context`] per plugin instance: names, logging span, global config, extensions, checkpoints,
//!   metric records, the shared tokio runtime;
//! * a [`Registry`] of creators keyed by the config `Type`, and [`options`] decoding with
//!   LoongCollector's semantics.
//!
//! Plugin methods are synchronous. The runner calls them from its own threads, never from inside the
//! async runtime, so a plugin may block; a plugin that does async I/O spawns tasks on
//! [`Context::runtime`] and keeps its queue behind `is_ready` (see ARCHITECTURE.md).

mod aggregator;
pub mod batch;
mod collector;
mod context;
mod extension;
mod flusher;
pub mod global;
mod input;
pub mod options;
mod processor;
pub mod registry;

pub use aggregator::Aggregator;
pub use collector::{Collector, CollectorClosed, CollectorSink, PipelineContext};
pub use context::{
    CheckpointStore, Context, ContextBuilder, ExtensionHost, MemoryCheckpoints, MetricsRecord, ReadySignal,
};
pub use extension::{ClientAuthenticator, Encoder, Extension, FlushInterceptor, RequestInterceptor};
pub use flusher::{BatchKey, Flusher, FlusherV1, FlusherV2};
pub use global::{GlobalConfig, StructureType};
pub use input::{Input, MetricInput, ServiceInput};
pub use options::{Duration, PluginOptions};
pub use processor::{Processor, ProcessorV1, ProcessorV2};
pub use registry::{PluginKind, Registry};

pub use loong_model as model;
pub use loong_model::{GroupInfo, KeyValues, Log, LogEvent, LogGroup, PipelineEvent, PipelineGroupEvents, v1};

/// The error type plugin methods return.
pub type Error = anyhow::Error;
/// The result type plugin methods return.
pub type Result<T, E = Error> = std::result::Result<T, E>;
