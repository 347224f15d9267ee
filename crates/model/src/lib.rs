//! The data that flows through a loong-rs pipeline.
//!
//! * [`v1`]: LoongCollector's SLS `LogGroup` protobuf, wire-compatible with the `sls_logs` package, for
//!   flushers that implement `FlusherV1`.
//! * [`PipelineGroupEvents`] (V2): a group of typed events (log, metric, span, byte array) sharing
//!   metadata and tags. Log contents are [`bytes::Bytes`], so an input can slice its read buffer into
//!   events without copying.
//! * [`convert`]: the V1 ↔ V2 conversion rules.

pub mod ack;
pub mod convert;
mod events;
mod key_values;

pub use ack::{Ack, AckSet, AckStatus};
pub use events::*;
pub use key_values::KeyValues;

/// The generated `sls_logs` protobuf types (V1 data model).
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/sls_logs.rs"));

    pub use log::Content;
}

pub use v1::{Log, LogGroup, LogGroupList, LogTag};
