//! The librdkafka producer: its configuration from [`KafkaConfig`], the context that receives
//! delivery reports and logs, and the round-robin partitioner librdkafka lacks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Result, bail};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, Partitioner, ProducerContext};

use crate::config::KafkaConfig;
use crate::delivery::Ticket;

/// How messages are spread over partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionerType {
    Random,
    RoundRobin,
    Hash,
}

impl PartitionerType {
    pub fn parse(s: &str) -> Result<PartitionerType> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "" | "random" => PartitionerType::Random,
            "roundrobin" => PartitionerType::RoundRobin,
            "hash" => PartitionerType::Hash,
            other => bail!("PartitionerType {other:?}: use random, roundrobin or hash"),
        })
    }
}

/// The settings librdkafka gets for `config`.
pub fn client_config(config: &KafkaConfig, partitioner: PartitionerType) -> Result<ClientConfig> {
    let brokers: Vec<&str> = config
        .brokers
        .iter()
        .map(|b| b.trim())
        .filter(|b| !b.is_empty())
        .collect();
    if brokers.is_empty() {
        bail!("Brokers is empty");
    }
    if let Some(bad) = brokers.iter().find(|b| b.contains([',', ';', ' '])) {
        bail!("Brokers: {bad:?} holds several addresses; give each broker as its own list item");
    }
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers.join(","));
    if !config.client_id.is_empty() {
        c.set("client.id", &config.client_id);
    }
    version(&mut c, &config.version)?;

    let ms = |d: loong_api::Duration| d.get().as_millis().min(i32::MAX as u128).to_string();
    let timeout_ms = config.timeout.get().as_millis();
    if timeout_ms < 10 {
        bail!("Timeout must be at least 10ms, got {}", config.timeout);
    }
    c.set("message.timeout.ms", ms(config.timeout));
    c.set("socket.timeout.ms", timeout_ms.clamp(10, 300_000).to_string());
    c.set(
        "socket.connection.setup.timeout.ms",
        timeout_ms.clamp(1000, 300_000).to_string(),
    );
    c.set(
        "request.timeout.ms",
        config.broker_timeout.get().as_millis().clamp(1, 900_000).to_string(),
    );
    if !config.keep_alive.get().is_zero() {
        c.set("socket.keepalive.enable", "true");
    }

    if !matches!(config.required_acks, -1..=1) {
        bail!("RequiredAcks must be 0, 1 or -1, got {}", config.required_acks);
    }
    c.set("acks", config.required_acks.to_string());
    if !(1000..=1_000_000_000).contains(&config.max_message_bytes) {
        bail!(
            "MaxMessageBytes must be between 1000 and 1000000000, got {}",
            config.max_message_bytes
        );
    }
    c.set("message.max.bytes", config.max_message_bytes.to_string());
    c.set("batch.size", config.max_message_bytes.min(1_000_000).to_string());

    let compression = match config.compression.trim().to_ascii_lowercase().as_str() {
        "" | "none" => "none",
        "gzip" => "gzip",
        "snappy" => "snappy",
        "lz4" => "lz4",
        "zstd" => "zstd",
        other => bail!("Compression {other:?}: use none, gzip, snappy, lz4 or zstd"),
    };
    c.set("compression.codec", compression);
    if compression == "gzip" {
        if !(0..=9).contains(&config.compression_level) {
            bail!(
                "CompressionLevel must be between 0 and 9 for gzip, got {}",
                config.compression_level
            );
        }
        c.set("compression.level", config.compression_level.to_string());
    }

    if config.max_open_requests >= 1 {
        c.set(
            "max.in.flight.requests.per.connection",
            config.max_open_requests.to_string(),
        );
    }
    c.set("message.send.max.retries", config.max_retries.max(0).to_string());
    let init = config.backoff.init.get().as_millis().clamp(1, 300_000);
    let max = config.backoff.max.get().as_millis().clamp(init, 300_000);
    c.set("retry.backoff.ms", init.to_string());
    c.set("retry.backoff.max.ms", max.to_string());
    if config.bulk_max_size >= 1 {
        c.set("batch.num.messages", config.bulk_max_size.min(1_000_000).to_string());
    }
    c.set(
        "linger.ms",
        config.bulk_flush_frequency.get().as_millis().min(900_000).to_string(),
    );
    if config.queue_buffering_max_messages < 1 {
        bail!(
            "QueueBufferingMaxMessages must be at least 1, got {}",
            config.queue_buffering_max_messages
        );
    }
    c.set(
        "queue.buffering.max.messages",
        config.queue_buffering_max_messages.to_string(),
    );

    let refresh = config
        .metadata
        .refresh_frequency
        .get()
        .as_millis()
        .clamp(1000, 3_600_000);
    c.set("topic.metadata.refresh.interval.ms", refresh.to_string());
    c.set(
        "topic.metadata.refresh.fast.interval.ms",
        config
            .metadata
            .retry
            .backoff
            .get()
            .as_millis()
            .clamp(1, 60_000)
            .to_string(),
    );
    c.set("topic.metadata.refresh.sparse", (!config.metadata.full).to_string());

    match partitioner {
        // Keyless messages would otherwise stick to one partition for a while.
        PartitionerType::Random => {
            c.set("partitioner", "random");
            c.set("sticky.partitioning.linger.ms", "0");
        }
        PartitionerType::RoundRobin => {
            c.set("sticky.partitioning.linger.ms", "0");
        }
        // Sarama's hash partitioner (LoongCollector's): FNV-1a of the key, absolute value mod count.
        PartitionerType::Hash => {
            c.set("partitioner", "fnv1a");
        }
    }
    crate::auth::apply(&mut c, &config.authentication)?;
    Ok(c)
}

/// `Version`: brokers from 0.10 on answer ApiVersion requests; older ones need the version given.
fn version(c: &mut ClientConfig, v: &str) -> Result<()> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(());
    }
    let parts: Vec<u32> = v
        .split('.')
        .map(|p| p.parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("Version {v:?}: expected x.y.z or x.y.z.w, e.g. 2.8.0"))?;
    if !(3..=4).contains(&parts.len()) {
        bail!("Version {v:?}: expected x.y.z or x.y.z.w, e.g. 2.8.0");
    }
    if parts[0] == 0 && parts[1] < 8 {
        bail!("Version {v:?}: Kafka before 0.8 is not supported");
    }
    if parts[0] == 0 && parts[1] < 10 {
        c.set("api.version.request", "false");
        c.set("broker.version.fallback", v);
    }
    Ok(())
}

/// Receives delivery reports (into the batch's [`Ticket`]) and librdkafka's logs and errors.
pub struct Context {
    pub span: tracing::Span,
    pub round_robin: Option<RoundRobin>,
    /// The distinct errors librdkafka reported about the cluster (authentication, connection…) since
    /// the flush began (a few at most), for the flush error to say why messages were not delivered.
    pub errors: parking_lot::Mutex<Vec<String>>,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let _e = self.span.enter();
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility = fac, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility = fac, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let _e = self.span.enter();
        tracing::warn!(target: "librdkafka", error = %error, "{reason}");
        let mut errors = self.errors.lock();
        if errors.len() < 4 && !errors.iter().any(|e| e == reason) {
            errors.push(reason.to_owned());
        }
    }
}

impl ProducerContext<RoundRobin> for Context {
    type DeliveryOpaque = Box<Ticket>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Box<Ticket>) {
        (*ticket).report(result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
    }

    fn get_custom_partitioner(&self) -> Option<&RoundRobin> {
        self.round_robin.as_ref()
    }
}

/// Sarama's round-robin: partition after partition, over all of a topic's partitions.
#[derive(Default)]
pub struct RoundRobin {
    next: Arc<AtomicU32>,
}

impl Partitioner for RoundRobin {
    fn partition(&self, _: &str, _: Option<&[u8]>, partition_cnt: i32, _: impl Fn(i32) -> bool) -> i32 {
        if partition_cnt <= 0 {
            return rdkafka::producer::PARTITION_UA;
        }
        (self.next.fetch_add(1, Ordering::Relaxed) % partition_cnt as u32) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> KafkaConfig {
        KafkaConfig {
            brokers: vec!["127.0.0.1:9092".into()],
            topic: "t".into(),
            ..KafkaConfig::default()
        }
    }

    #[test]
    fn options_map_to_librdkafka_settings() {
        let mut c = base();
        c.compression = "GZIP".into();
        c.compression_level = 6;
        c.required_acks = -1;
        c.max_message_bytes = 2_000_000;
        c.timeout = loong_api::Duration::from_secs(7);
        let rd = client_config(&c, PartitionerType::Hash).unwrap();
        assert_eq!(rd.get("compression.codec"), Some("gzip"));
        assert_eq!(rd.get("compression.level"), Some("6"));
        assert_eq!(rd.get("acks"), Some("-1"));
        assert_eq!(rd.get("message.max.bytes"), Some("2000000"));
        assert_eq!(rd.get("message.timeout.ms"), Some("7000"));
        assert_eq!(rd.get("partitioner"), Some("fnv1a"));
        assert_eq!(rd.get("client.id"), Some("LogtailPlugin"));
        assert_eq!(rd.get("linger.ms"), Some("0"));
        assert_eq!(rd.get("api.version.request"), None, "1.0.0 brokers answer ApiVersion");
    }

    #[test]
    fn old_versions_turn_api_version_requests_off() {
        let mut c = base();
        c.version = "0.9.0.1".into();
        let rd = client_config(&c, PartitionerType::Random).unwrap();
        assert_eq!(rd.get("api.version.request"), Some("false"));
        assert_eq!(rd.get("broker.version.fallback"), Some("0.9.0.1"));
        for bad in ["1.0", "x.y.z", "0.7.0"] {
            c.version = bad.into();
            assert!(client_config(&c, PartitionerType::Random).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_are_init_errors() {
        type Change = fn(&mut KafkaConfig);
        let cases: Vec<(Change, &str)> = vec![
            (|c| c.brokers.clear(), "Brokers"),
            (|c| c.brokers = vec!["a:1,b:2".into()], "own list item"),
            (|c| c.compression = "brotli".into(), "Compression"),
            (|c| c.required_acks = 2, "RequiredAcks"),
            (|c| c.max_message_bytes = 10, "MaxMessageBytes"),
            (
                |c| {
                    c.compression = "gzip".into();
                    c.compression_level = 11
                },
                "CompressionLevel",
            ),
        ];
        for (change, want) in cases {
            let mut c = base();
            change(&mut c);
            let err = client_config(&c, PartitionerType::Random).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should mention {want}");
        }
        assert!(PartitionerType::parse("sticky").is_err());
        assert_eq!(
            PartitionerType::parse("RoundRobin").unwrap(),
            PartitionerType::RoundRobin
        );
    }

    #[test]
    fn round_robin_cycles_over_partitions() {
        let rr = RoundRobin::default();
        let got: Vec<i32> = (0..7).map(|_| rr.partition("t", None, 3, |_| true)).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2, 0]);
    }
}
