//! `flusher_http`: sends what the pipeline delivers to an HTTP endpoint, as LoongCollector's
//! flusher of the same name: `Convert` (or an `Encoder` extension) makes the bodies, `Headers` and
//! `Query` may take `%{content.k}` / `%{tag.k}` / `%{metadata.k}` values per payload, `Compression`
//! encodes them, and `Retry` resends what failed.
//!
//! Where it differs, on purpose: a `flush`/`export` returns only once its payloads were sent (with
//! `Concurrency` of them in flight), and returns an error when some still failed after `Retry`, so the
//! runner's delivery contract retries them instead of LoongCollector's "data dropped". A retried batch
//! skips the payloads that already succeeded.

mod config;
mod flusher;
mod request_builder;
mod service;

pub use config::{ExtensionRef, HttpConfig, RetryConfig, TlsConfig};
pub use flusher::HttpFlusher;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_http";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |config: HttpConfig| Box::new(HttpFlusher::new(config)));
}
