//! `flusher_elasticsearch`: indexes what the pipeline delivers into Elasticsearch or OpenSearch
//! through the `_bulk` API, with LoongCollector's options (`Addresses`, `Index` with date patterns
//! and variables, `Authentication`, `HTTPConfig`, `Convert`).
//!
//! Where it differs from LoongCollector, on purpose: a flush returns only once every document was
//! accepted or rejected for good; items the cluster answers 429/5xx are retried alone, so nothing
//! is lost and nothing already accepted is sent twice. The document defaults to contents + tags +
//! `@timestamp` (LoongCollector's `custom_single` layout stays available through `Convert`), and
//! date patterns in `Index` use the event's time rather than the flush time.
//!
//! The `testing` feature adds [`testing::EsServer`], an in-process `_bulk` receiver for tests.

mod client;
mod config;
mod document;
mod flusher;
mod index;
mod json;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{Authentication, ConvertConfig, ElasticsearchConfig, HttpConfig, PlainText, RetryConfig, TlsConfig};
pub use flusher::ElasticsearchFlusher;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_elasticsearch";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |config: ElasticsearchConfig| {
        Box::new(ElasticsearchFlusher::new(config))
    });
}
