//! `flusher_prometheus`: Prometheus remote write of V2 metric events, as LoongCollector's flusher of
//! the same name (which is flusher_http with the `prometheus` encoder): `Endpoint`, `SeriesLimit`,
//! `Headers`, `Authenticator`, `Retry`…
//!
//! Bodies are `prometheus.WriteRequest` protobufs made by [`loong_converter::prometheus`], snappy
//! block-compressed, with the remote write 1.0 headers. Series are spread over `Concurrency` lanes
//! by their labels and each lane sends in order, so one series' samples never overtake each other.
//!
//! Where it differs, on purpose: an export returns only once every request was answered, and returns
//! an error when some still failed after `Retry`, so the runner's delivery contract retries them
//! (sending only what was not accepted) instead of LoongCollector's "data dropped". A request that
//! Prometheus refuses with a 400 (out-of-order, duplicate or too old samples) is split until the
//! refused samples are isolated: the others are delivered, the refused ones logged and counted.

mod config;
mod flusher;
mod sender;

pub use config::{DEFAULT_SERIES_LIMIT, ExtensionRef, PrometheusConfig, RetryConfig, TlsConfig};
pub use flusher::PrometheusFlusher;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_prometheus";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |config: PrometheusConfig| {
        Box::new(PrometheusFlusher::new(config))
    });
}
