use std::collections::BTreeMap;

use loong_api::Duration;
use loong_converter::ConvertConfig;

pub use loong_http_client::{ExtensionRef, RetryConfig, TlsConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Sends events to an HTTP endpoint (POST), one request per payload the converter makes.
///
/// Example: `{Type: flusher_http, RemoteURL: "http://127.0.0.1:8080/ingest", Convert: {Protocol: jsonline},
/// Compression: gzip, Headers: {X-Db: "%{tag.db}"}, Concurrency: 4}`. To InfluxDB 1.x: `RemoteURL:
/// http://host:8086/write, Query: {db: mydb}, Convert: {Protocol: influxdb, Encoding: custom}`. To a
/// Prometheus remote write receiver: `RemoteURL: http://host:9090/api/v1/write, Compression: snappy,
/// Encoder: {Type: ext_default_encoder, Options: {Format: prometheus}}`. Both are tested against the
/// real servers.
///
/// Guarantees: a 2xx answer is success. 5xx, 401, 403, 429 (waiting `Retry-After` when given),
/// timeouts and transport errors are retried per `Retry`; when a payload still fails, the batch goes
/// back to the pipeline, which retries it (sending only the payloads not yet accepted) until it is
/// delivered, so an outage loses nothing. Any other status (400, 413…) can never succeed: the payload
/// is logged and counted in `http_rejected_payloads_total` rather than blocking the pipeline forever.
/// Requests are sent within the flush call (up to `Concurrency` at once), so a slow or stalled
/// endpoint holds the pipeline and, through its bounded queues, the inputs: memory does not grow, and
/// nothing is in flight when the flusher stops. When the agent exits (`set_urgent`), retry delays are
/// capped at 500 ms. Credentials (URL user info, `Authorization` and other secret headers) never
/// appear in logs or errors. Metrics: `http_requests_total{status_class}`, `http_retries_total`,
/// `http_transport_errors_total`, `http_body_bytes_total` (before compression), `http_sent_bytes_total`
/// (after), `http_request_duration_seconds`, `http_rejected_payloads_total`, `http_dropped_events_total`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct HttpConfig {
    /// URL requests are POSTed to. Required.
    #[serde(rename = "RemoteURL")]
    pub remote_url: String,
    /// Headers of every request. Values may contain `%{content.k}`, `%{tag.k}` and `%{metadata.k}`.
    #[serde(rename = "Headers")]
    pub headers: BTreeMap<String, String>,
    /// Query parameters added to `RemoteURL`. Values may contain `%{…}` variables as `Headers`.
    #[serde(rename = "Query")]
    pub query: BTreeMap<String, String>,
    /// Time limit of one request.
    #[serde(rename = "Timeout")]
    pub timeout: Duration,
    /// How failed requests are retried before the batch is handed back to the pipeline's retry.
    #[serde(rename = "Retry")]
    pub retry: RetryConfig,
    /// Protocol and encoding of the bodies (ignored when `Encoder` is set).
    #[serde(rename = "Convert")]
    pub convert: ConvertConfig,
    /// An encoder extension (`Type` or `type/id`, plus options) that makes the bodies instead of `Convert`.
    #[serde(rename = "Encoder")]
    pub encoder: Option<ExtensionRef>,
    /// Requests in flight at once. Less than 1 is an init error.
    #[serde(rename = "Concurrency")]
    pub concurrency: i64,
    /// Payloads of one flush waiting for a free request slot at most; more wait (or are dropped, see
    /// `DropEventWhenQueueFull`).
    #[serde(rename = "QueueCapacity")]
    pub queue_capacity: i64,
    /// Drop (and count) the payloads beyond `QueueCapacity` instead of waiting for them.
    #[serde(rename = "DropEventWhenQueueFull")]
    pub drop_event_when_queue_full: bool,
    /// Body compression, sent as `Content-Encoding`: `gzip`, `snappy`, `zstd`, `lz4`, or empty for none.
    #[serde(rename = "Compression")]
    pub compression: String,
    /// A client authenticator extension (e.g. `ext_basicauth`) that adds credentials to every request.
    #[serde(rename = "Authenticator")]
    pub authenticator: Option<ExtensionRef>,
    /// Request interceptor extensions, applied in order (e.g. `ext_request_breaker`).
    #[serde(rename = "RequestInterceptors")]
    pub request_interceptors: Vec<ExtensionRef>,
    /// A flush interceptor extension that filters or edits groups before they are converted.
    #[serde(rename = "FlushInterceptor")]
    pub flush_interceptor: Option<ExtensionRef>,
    /// Kept for LoongCollector compatibility: interception always happens before conversion here.
    #[serde(rename = "AsyncIntercept")]
    pub async_intercept: bool,
    /// Connections (so requests in flight) to the host at most, when lower than `Concurrency`; 0 means
    /// no limit beyond `Concurrency`.
    #[serde(rename = "MaxConnsPerHost")]
    pub max_conns_per_host: i64,
    /// Idle connections kept per host; 0 means `Concurrency + 1`.
    #[serde(rename = "MaxIdleConnsPerHost")]
    pub max_idle_conns_per_host: i64,
    /// How long an idle connection is kept.
    #[serde(rename = "IdleConnTimeout")]
    pub idle_conn_timeout: Duration,
    /// Kept for LoongCollector compatibility (the Rust client sizes its buffers itself).
    #[serde(rename = "WriteBufferSize")]
    pub write_buffer_size: i64,
    /// TLS settings for an `https://` RemoteURL.
    #[serde(rename = "TLS")]
    pub tls: TlsConfig,
    /// Proxy for all requests (`http://host:port`, credentials allowed in the URL); empty uses none.
    #[serde(rename = "Proxy")]
    pub proxy: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            remote_url: String::new(),
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            timeout: Duration::from_secs(60),
            retry: RetryConfig::default(),
            convert: ConvertConfig::default(),
            encoder: None,
            concurrency: 1,
            queue_capacity: 1024,
            drop_event_when_queue_full: false,
            compression: String::new(),
            authenticator: None,
            request_interceptors: Vec::new(),
            flush_interceptor: None,
            async_intercept: false,
            max_conns_per_host: 0,
            max_idle_conns_per_host: 0,
            idle_conn_timeout: Duration::from_secs(90),
            write_buffer_size: 0,
            tls: TlsConfig::default(),
            proxy: String::new(),
        }
    }
}
