//! `flusher_otlp`: sends logs, metrics and traces to an OpenTelemetry Protocol receiver, over
//! OTLP/gRPC (tonic) or OTLP/HTTP with protobuf bodies (reqwest), with the official message
//! definitions of the `opentelemetry-proto` crate. Options follow LoongCollector's flusher of the
//! same name (`Logs`/`Metrics`/`Traces`, each with `Endpoint`, `Headers`, `Timeout`,
//! `Compression`, `Retry`), plus `Protocol: grpc|http` and `TLS`.
//!
//! A `flush`/`export` converts the batch (see [`OtlpConfig`] for the mapping), cuts it into
//! requests of at most `MaxRequestBytes`, sends them (four at a time) and returns once the receiver
//! accepted them all, or an error so the runner retries the batch; a retried batch skips the
//! requests that were already accepted.

mod client;
mod config;
mod convert;
mod flusher;

pub use config::{Millis, OtlpConfig, RetryConfig, SignalConfig};
pub use flusher::OtlpFlusher;
pub use loong_http_client::TlsConfig;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_otlp";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |config: OtlpConfig| Box::new(OtlpFlusher::new(config)));
}
