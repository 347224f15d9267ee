//! What loong-rs's HTTP-speaking flushers share (flusher_http, and the flushers for Elasticsearch,
//! Loki, ClickHouse, Prometheus and OTLP/HTTP): the `TLS` options and the rustls client config built
//! from them, the `Compression` option, `Retry` with LoongCollector's jittered exponential backoff,
//! references to extensions (`Authenticator`, `RequestInterceptors`…), sending a batch's requests
//! concurrently while remembering which went out for the runner's retry, and transport error texts that
//! never carry the URL (which may hold credentials).

pub mod compression;
mod error;
mod extension_ref;
mod progress;
mod retry;
pub mod tls;

pub use compression::Compression;
pub use error::describe;
pub use extension_ref::ExtensionRef;
pub use progress::{Progress, send_all};
pub use retry::{RetryConfig, backoff, retry_after};
pub use tls::{TlsConfig, client_config};
