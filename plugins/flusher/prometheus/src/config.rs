use std::collections::BTreeMap;

use loong_api::Duration;
pub use loong_http_client::{ExtensionRef, RetryConfig, TlsConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Sends metric events to a Prometheus remote write endpoint (`prometheus.WriteRequest`, protobuf,
/// snappy-compressed, remote write 1.0), as LoongCollector's flusher of the same name. V2 pipelines
/// only (`global: {StructureType: v2}`).
///
/// Example:
///
/// ```yaml
/// global: {StructureType: v2}
/// inputs: [{Type: metric_mock, MetricName: requests, Fields: {job: web}, Interval: 1s}]
/// flushers:
///   - Type: flusher_prometheus
///     Endpoint: http://127.0.0.1:9090/api/v1/write
///     SeriesLimit: 1000
///     Authenticator: {Type: ext_basicauth}
/// extensions:
///   - Type: ext_basicauth
///     Username: loong
///     Password: ${PROM_PASSWORD}
/// ```
///
/// Each value of a metric event is one series with one sample: a single value under the event's
/// name, each value of a multi-value event under `<name>_<field>`; labels are the group's tags
/// overlaid by the event's tags, plus `__name__`, sanitised to what Prometheus accepts. Other events
/// (logs, spans, byte arrays) have no remote write form: they are skipped and counted in
/// `prometheus_skipped_events_total`. Tested against the real Prometheus server
/// (`--web.enable-remote-write-receiver`).
///
/// Guarantees: an export returns only once every request of the batch got an answer, so a slow
/// endpoint holds the pipeline (back-pressure) instead of growing memory. Series are spread over
/// `Concurrency` lanes by their labels and each lane sends its requests one after another, so the
/// samples of one series always arrive in order, as Prometheus requires. A 2xx answer is success.
/// 5xx, 401, 403, 408, 429 (waiting `Retry-After` when given), timeouts and transport errors are
/// retried per `Retry`; when a request still fails, the batch goes back to the pipeline, which
/// retries it (sending only what was not yet accepted) until it is delivered: an outage loses
/// nothing. Prometheus answers 400 for samples it can never store (out of order, duplicate timestamp
/// with another value, too old) and rejects the whole request; the flusher then splits the request
/// to find those samples, delivers all the others, and logs and counts the rejected ones in
/// `prometheus_rejected_samples_total` instead of retrying them forever. A request whose response is
/// lost after Prometheus stored it is sent again; resent samples are identical, which Prometheus
/// ignores. Credentials (URL user info, `Authorization` and other secret headers) never appear in
/// logs or errors. Metrics: `prometheus_requests_total{status_class}`, `prometheus_retries_total`,
/// `prometheus_transport_errors_total`, `prometheus_sent_samples_total`,
/// `prometheus_rejected_samples_total`, `prometheus_skipped_events_total`, `prometheus_sent_bytes_total`
/// (after compression), `prometheus_request_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PrometheusConfig {
    /// Remote write URL, e.g. `http://localhost:9090/api/v1/write`. Required.
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
    /// Series (one sample each) per request at most. 0 or less means LoongCollector's default, 1000.
    #[serde(rename = "SeriesLimit")]
    pub series_limit: i64,
    /// Extra headers of every request. Values may contain `%{tag.k}` and `%{metadata.k}` (the group's
    /// tags and metadata); groups with different values go in different requests. The remote write
    /// headers (`Content-Encoding: snappy`, `Content-Type: application/x-protobuf`,
    /// `X-Prometheus-Remote-Write-Version: 0.1.0`, `User-Agent`) are always sent.
    #[serde(rename = "Headers")]
    pub headers: BTreeMap<String, String>,
    /// Query parameters added to `Endpoint`; values may contain variables as `Headers`.
    #[serde(rename = "Query")]
    pub query: BTreeMap<String, String>,
    /// Time limit of one request.
    #[serde(rename = "Timeout")]
    pub timeout: Duration,
    /// How failed requests are retried before the batch is handed back to the pipeline's retry
    /// (5xx, 401, 403, 408, 429, timeouts and transport errors are retried).
    #[serde(rename = "Retry")]
    pub retry: RetryConfig,
    /// Requests in flight at once: series are spread over this many lanes by their labels, each
    /// lane sending in order. Less than 1 is an init error.
    #[serde(rename = "Concurrency")]
    pub concurrency: i64,
    /// Connections to the host at most, when lower than `Concurrency`; 0 means `Concurrency`.
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
    /// Kept for LoongCollector compatibility: requests are sent within the export call, so no queue
    /// builds up inside the flusher.
    #[serde(rename = "QueueCapacity")]
    pub queue_capacity: i64,
    /// Kept for LoongCollector compatibility, without effect: with no internal queue nothing is
    /// ever dropped for lack of room (LoongCollector drops by default; loong-rs never does).
    #[serde(rename = "DropEventWhenQueueFull")]
    pub drop_event_when_queue_full: bool,
    /// A client authenticator extension (e.g. `ext_basicauth`, `ext_bearer_token`) that adds
    /// credentials to every request.
    #[serde(rename = "Authenticator")]
    pub authenticator: Option<ExtensionRef>,
    /// Request interceptor extensions, applied in order (e.g. `ext_request_breaker`).
    #[serde(rename = "RequestInterceptors")]
    pub request_interceptors: Vec<ExtensionRef>,
    /// A flush interceptor extension that filters or edits groups before they are encoded.
    #[serde(rename = "FlushInterceptor")]
    pub flush_interceptor: Option<ExtensionRef>,
    /// Kept for LoongCollector compatibility: interception always happens before encoding here.
    #[serde(rename = "AsyncIntercept")]
    pub async_intercept: bool,
    /// TLS settings for an `https://` endpoint (the public web roots are trusted by default), as
    /// flusher_http's.
    #[serde(rename = "TLS")]
    pub tls: TlsConfig,
}

/// LoongCollector's default `SeriesLimit`.
pub const DEFAULT_SERIES_LIMIT: usize = 1000;

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            endpoint: String::new(),
            series_limit: DEFAULT_SERIES_LIMIT as i64,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            timeout: Duration::from_secs(60),
            retry: RetryConfig::default(),
            concurrency: 1,
            max_conns_per_host: 50,
            max_idle_conns_per_host: 50,
            idle_conn_timeout: Duration::from_secs(90),
            write_buffer_size: 64 * 1024,
            queue_capacity: 1024,
            drop_event_when_queue_full: false,
            authenticator: None,
            request_interceptors: Vec::new(),
            flush_interceptor: None,
            async_intercept: false,
            tls: TlsConfig::default(),
        }
    }
}

impl PrometheusConfig {
    pub fn series_limit(&self) -> usize {
        if self.series_limit <= 0 {
            DEFAULT_SERIES_LIMIT
        } else {
            self.series_limit as usize
        }
    }
}
