//! `flusher_loki`: pushes what the pipeline delivers to Grafana Loki, with LoongCollector's options
//! (`URL`, `TenantID`, `StaticLabels`, `DynamicLabels`, `MaxMessageBytes`, `Timeout`, `MinBackoff`,
//! `MaxBackoff`, `MaxRetries`, `Convert`, `ClientConfig`).
//!
//! Where it differs from LoongCollector, on purpose: a flush returns only once Loki accepted (or
//! refused for good) every entry, instead of handing them to a background batcher that drops them
//! after `MaxRetries`; failed pushes go back to the pipeline and are retried until delivered, and
//! a retried flush resends only the pushes not yet accepted. Label names Loki would refuse are
//! sanitized (`host.name` → `host_name`). A JSON push mode is available (`PushFormat: json`).
//!
//! The `testing` feature adds [`testing::LokiServer`], an in-process Loki push receiver for tests.

mod client;
mod config;
mod flusher;
pub mod labels;
pub mod proto;
mod push;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{BasicAuth, ClientConfig, ConvertConfig, LokiConfig, TlsConfig};
pub use flusher::LokiFlusher;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_loki";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |config: LokiConfig| Box::new(LokiFlusher::new(config)));
}
