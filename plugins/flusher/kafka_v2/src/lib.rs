//! `flusher_kafka_v2`: produces what the pipeline delivers to Kafka, as LoongCollector's flusher of
//! the same name: `Convert` makes the messages (one JSON object per event by default), `Topic` may
//! take `%{content.k}` / `%{tag.k}` values per message, `PartitionerType` spreads them (random,
//! roundrobin, or hash of `HashKeys`), and `Authentication` adds SASL (PLAIN, SCRAM) and TLS.
//!
//! The client is librdkafka (2.12, built from source by the `rdkafka` crate). Where it differs from
//! LoongCollector (sarama, fire and forget), on purpose: a `flush`/`export` returns once every message
//! of the batch has its delivery report, and fails when some were not acknowledged, so the runner's
//! delivery contract retries them instead of dropping them; a retried batch re-sends only the
//! messages not yet acknowledged.

mod auth;
mod client;
mod config;
mod delivery;
mod flusher;
mod router;

pub use config::{
    AuthenticationConfig, BackoffConfig, HeaderConfig, KafkaConfig, MetadataConfig, MetadataRetryConfig,
    PlainTextConfig, SaslConfig, TlsConfig,
};
pub use flusher::KafkaFlusher;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_kafka_v2";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |config: KafkaConfig| Box::new(KafkaFlusher::new(config)));
}
