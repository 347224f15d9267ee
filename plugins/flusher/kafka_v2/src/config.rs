use loong_api::Duration;
use loong_converter::ConvertConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Produces events to Kafka topics (librdkafka 2.12 through the `rdkafka` crate), one message per
/// payload of the converter: with the default `Convert` (`custom_single`, `json`), one JSON object per
/// event.
///
/// Example:
///
/// ```yaml
/// flushers:
///   - Type: flusher_kafka_v2
///     Brokers: ["127.0.0.1:9092"]
///     Topic: "app_%{content.application}"   # or a fixed name
///     PartitionerType: hash
///     HashKeys: ["content.application"]
///     Compression: zstd
///     RequiredAcks: -1
///     Headers: [{Key: source, Value: loong}]
///     Authentication:
///       SASL: {SaslMechanism: SCRAM-SHA-512, Username: "${KAFKA_USER}", Password: "${KAFKA_PASSWORD}"}
///       TLS: {Enabled: true, CAFile: /etc/kafka/ca.pem}
/// ```
///
/// `Topic` may hold `%{content.k}`, `%{tag.k}` and `%{metadata.k}` variables; each message goes to the
/// topic its own values make (a missing value is written as the variable's name, as LoongCollector
/// does). A missing topic is created by brokers that allow it (the producer asks, as sarama does);
/// elsewhere its messages fail the flush until the topic exists.
///
/// Guarantees: a flush returns only once every message of the batch has a delivery report; it
/// succeeds when the broker acknowledged all of them (per `RequiredAcks`; with `0` a message counts
/// as delivered once written to the socket). Messages that failed (broker down, unknown topic, a
/// delivery that took longer than `Timeout`) make the flush fail, and the pipeline retries the batch,
/// re-sending only the messages not yet acknowledged: an outage loses nothing, and a retry duplicates
/// nothing that was acknowledged. A message the broker can never accept (larger than
/// `MaxMessageBytes`, an invalid topic name, a record the broker rejects as invalid) is logged and
/// counted in `kafka_rejected_messages_total` instead of blocking the pipeline forever. `is_ready` is
/// false while the producer queue holds `QueueBufferingMaxMessages` messages or more; after
/// `set_urgent` (agent exit) a flush waits at most 1 s for reports before handing the batch back, and
/// `stop` waits at most 5 s for messages still in flight. Metrics: `kafka_sent_messages_total`,
/// `kafka_sent_bytes_total`, `kafka_failed_messages_total`, `kafka_rejected_messages_total`,
/// `kafka_delivery_duration_seconds` (per flush).
///
/// Differences from LoongCollector (sarama): `Version` only matters for brokers older than 0.10
/// (librdkafka asks newer brokers what they support); `PartitionerType: hash` keys messages with the
/// `HashKeys` values joined by `###` in the order configured (LoongCollector: map order) and picks
/// the partition with Sarama's FNV-1a hash, so the same key lands where LoongCollector puts it;
/// `Headers` values may use the same variables as `Topic`; `Metadata.Retry.Max` and `ChanBufferSize`
/// are accepted for compatibility; Kerberos is not supported (an init error says so);
/// `TLS.MinVersion`/`MaxVersion` are checked but not enforced (librdkafka uses OpenSSL's system
/// policy, TLS 1.2 or newer on Debian).
///
/// Tested against a real Kafka-protocol broker (Tansu 0.6): delivery and read-back, dynamic topics,
/// each partitioner, every compression, headers, oversized messages, broker outages; TLS (CA and
/// client certificates) through a TLS terminator in front of it. SASL is tested up to the broker's
/// SCRAM answer only: Tansu cannot keep users with in-memory storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` each (one list item per broker). Required.
    #[serde(rename = "Brokers")]
    pub brokers: Vec<String>,
    /// Topic of every message; may contain `%{content.k}`, `%{tag.k}`, `%{metadata.k}`. Required.
    #[serde(rename = "Topic")]
    pub topic: String,
    /// Kafka protocol version of the brokers (`x.y.z` or `x.y.z.w`, e.g. `2.8.0`). Brokers from 0.10 on
    /// report what they support; for older ones (`0.8.2.x`, `0.9.0.x`) this version is used instead.
    #[serde(rename = "Version")]
    pub version: String,
    /// Client ID sent to the brokers.
    #[serde(rename = "ClientID")]
    pub client_id: String,
    /// Time limit of one message's delivery, retries by the client included (librdkafka's
    /// `message.timeout.ms`), and of network requests. A message not acknowledged in time fails the
    /// flush, so the pipeline retries it.
    #[serde(rename = "Timeout")]
    pub timeout: Duration,
    /// How long the broker may wait for `RequiredAcks` replicas before answering.
    #[serde(rename = "BrokerTimeout")]
    pub broker_timeout: Duration,
    /// TCP keep-alive on broker connections when above 0.
    #[serde(rename = "KeepAlive")]
    pub keep_alive: Duration,
    /// Acknowledgements a message needs: `0` none (fire and forget), `1` the partition leader, `-1`
    /// all in-sync replicas.
    #[serde(rename = "RequiredAcks")]
    pub required_acks: i32,
    /// Largest message (and produce request) in bytes; a bigger message is rejected and counted.
    #[serde(rename = "MaxMessageBytes")]
    pub max_message_bytes: i64,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    #[serde(rename = "Compression")]
    pub compression: String,
    /// gzip level, 0 (store) to 9 (best).
    #[serde(rename = "CompressionLevel")]
    pub compression_level: i32,
    /// Requests in flight per broker connection at most.
    #[serde(rename = "MaxOpenRequests")]
    pub max_open_requests: i32,
    /// Retries of a failed produce request by the client, within `Timeout`.
    #[serde(rename = "MaxRetries")]
    pub max_retries: i32,
    /// Messages per produce request at most.
    #[serde(rename = "BulkMaxSize")]
    pub bulk_max_size: i32,
    /// How long messages wait to fill a request before it is sent (0: send at once).
    #[serde(rename = "BulkFlushFrequency")]
    pub bulk_flush_frequency: Duration,
    /// Backoff of the client's retries of failed requests.
    #[serde(rename = "Backoff")]
    pub backoff: BackoffConfig,
    /// Metadata refresh.
    #[serde(rename = "Metadata")]
    pub metadata: MetadataConfig,
    /// How messages are spread over a topic's partitions: `random`, `roundrobin` or `hash` (by
    /// `HashKeys`).
    #[serde(rename = "PartitionerType")]
    pub partitioner_type: String,
    /// With `hash`: the values that make a message's key, as `content.k`, `tag.k` or `metadata.k`.
    /// Messages with equal values go to the same partition. With none of them set, the key is the
    /// pipeline's logstore.
    #[serde(rename = "HashKeys")]
    pub hash_keys: Vec<String>,
    /// With `hash`: compute the key from the first message only and use it for all.
    #[serde(rename = "HashOnce")]
    pub hash_once: bool,
    /// Headers of every message. Values may contain the same variables as `Topic`.
    #[serde(rename = "Headers")]
    pub headers: Vec<HeaderConfig>,
    /// Protocol and encoding of the messages (as flusher_http's `Convert`).
    #[serde(rename = "Convert")]
    pub convert: ConvertConfig,
    /// SASL credentials and TLS.
    #[serde(rename = "Authentication")]
    pub authentication: AuthenticationConfig,
    /// Messages in the producer queue (sent, not yet acknowledged) at most; `is_ready` is false at
    /// this bound, and a flush waits for room.
    #[serde(rename = "QueueBufferingMaxMessages")]
    pub queue_buffering_max_messages: i32,
    /// Kept for LoongCollector compatibility (librdkafka sizes its per-broker queues itself).
    #[serde(rename = "ChanBufferSize")]
    pub chan_buffer_size: i32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: Vec::new(),
            topic: String::new(),
            version: "1.0.0".to_owned(),
            client_id: "LogtailPlugin".to_owned(),
            timeout: Duration::from_secs(30),
            broker_timeout: Duration::from_secs(10),
            keep_alive: Duration::default(),
            required_acks: 1,
            max_message_bytes: 1_000_000,
            compression: "none".to_owned(),
            compression_level: 4,
            max_open_requests: 5,
            max_retries: 3,
            bulk_max_size: 2048,
            bulk_flush_frequency: Duration::default(),
            backoff: BackoffConfig::default(),
            metadata: MetadataConfig::default(),
            partitioner_type: "random".to_owned(),
            hash_keys: Vec::new(),
            hash_once: false,
            headers: Vec::new(),
            convert: ConvertConfig::default(),
            authentication: AuthenticationConfig::default(),
            queue_buffering_max_messages: 100_000,
            chan_buffer_size: 256,
        }
    }
}

/// One message header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct HeaderConfig {
    /// Header name; an empty one is skipped.
    #[serde(rename = "Key")]
    pub key: String,
    /// Header value.
    #[serde(rename = "Value")]
    pub value: String,
}

/// Backoff between the client's retries: doubling from `Init` up to `Max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BackoffConfig {
    /// First backoff.
    #[serde(rename = "Init")]
    pub init: Duration,
    /// Longest backoff (at most 300 s).
    #[serde(rename = "Max")]
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            init: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// Topic metadata refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MetadataConfig {
    /// Metadata request retries.
    #[serde(rename = "Retry")]
    pub retry: MetadataRetryConfig,
    /// How often metadata is refreshed.
    #[serde(rename = "RefreshFrequency")]
    pub refresh_frequency: Duration,
    /// Refresh the metadata of every topic of the cluster, not only of those produced to.
    #[serde(rename = "Full")]
    pub full: bool,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            retry: MetadataRetryConfig::default(),
            refresh_frequency: Duration::from_secs(600),
            full: false,
        }
    }
}

/// Metadata request retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MetadataRetryConfig {
    /// Retries (kept for compatibility).
    #[serde(rename = "Max")]
    pub max: i32,
    /// Wait before a metadata refresh is repeated while a partition has no leader.
    #[serde(rename = "Backoff")]
    pub backoff: Duration,
}

impl Default for MetadataRetryConfig {
    fn default() -> Self {
        MetadataRetryConfig {
            max: 3,
            backoff: Duration::from_millis(250),
        }
    }
}

/// How the flusher authenticates to the brokers: SASL (`PlainText` or `SASL`) and/or TLS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AuthenticationConfig {
    /// SASL/PLAIN credentials (used when `SASL` is not set).
    #[serde(rename = "PlainText")]
    pub plain_text: Option<PlainTextConfig>,
    /// SASL with a mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (`Sasl` is accepted too).
    #[serde(rename = "SASL")]
    pub sasl: Option<SaslConfig>,
    /// TLS to the brokers.
    #[serde(rename = "TLS")]
    pub tls: Option<TlsConfig>,
    /// Not supported: a config that sets it fails to load.
    #[serde(rename = "Kerberos")]
    pub kerberos: Option<serde_json::Value>,
}

/// SASL/PLAIN user and password.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PlainTextConfig {
    /// User; empty turns PlainText off.
    #[serde(rename = "Username")]
    pub username: String,
    /// Password (use `${ENV_VAR}` to keep it out of the file).
    #[serde(rename = "Password")]
    pub password: String,
}

/// SASL mechanism and credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SaslConfig {
    /// `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(rename = "SaslMechanism")]
    pub sasl_mechanism: String,
    /// User. Required.
    #[serde(rename = "Username")]
    pub username: String,
    /// Password. Required (use `${ENV_VAR}` to keep it out of the file).
    #[serde(rename = "Password")]
    pub password: String,
}

/// TLS settings (OpenSSL, through librdkafka).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TlsConfig {
    /// Use TLS.
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    /// PEM file of the CA certificates that sign the brokers' certificates; empty uses the system's.
    #[serde(rename = "CAFile")]
    pub ca_file: String,
    /// PEM client certificate, for brokers that require client authentication.
    #[serde(rename = "CertFile")]
    pub cert_file: String,
    /// PEM private key of `CertFile`.
    #[serde(rename = "KeyFile")]
    pub key_file: String,
    /// Lowest TLS version: `1.0`, `1.1`, `1.2` or `1.3` (checked, not enforced: OpenSSL's policy
    /// applies).
    #[serde(rename = "MinVersion")]
    pub min_version: String,
    /// Highest TLS version, as `MinVersion`.
    #[serde(rename = "MaxVersion")]
    pub max_version: String,
    /// Accept any broker certificate and host name. Only for testing; logs a warning.
    #[serde(rename = "InsecureSkipVerify")]
    pub insecure_skip_verify: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: false,
            ca_file: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            min_version: "1.2".to_owned(),
            max_version: String::new(),
            insecure_skip_verify: false,
        }
    }
}
