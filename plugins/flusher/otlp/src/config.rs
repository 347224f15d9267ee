use std::collections::BTreeMap;
use std::fmt;

use loong_api::Duration;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use loong_http_client::TlsConfig;

/// Sends logs, metrics and traces to an OpenTelemetry Protocol (OTLP) receiver, over gRPC or over
/// HTTP with protobuf bodies, using the official `opentelemetry-proto` message definitions.
///
/// Example (an OpenTelemetry Collector with its default ports):
/// `{Type: flusher_otlp, Logs: {Endpoint: "http://otel:4317", Compression: gzip},
/// Metrics: {Endpoint: "http://otel:4317"}, Traces: {Endpoint: "http://otel:4317"}}`.
/// Over HTTP: `{Type: flusher_otlp, Protocol: http, Endpoint: "http://otel:4318",
/// Headers: {Authorization: "Bearer t0ken"}}` sends to `/v1/logs`, `/v1/metrics` and `/v1/traces`.
///
/// Mapping. Each event group becomes one `Resource` with one scope. The group's tags are the
/// resource's attributes under LoongCollector's names (`__hostname__` → `host.name`, `__path__` →
/// `log.file.path`, …; a V1 group's `Source` → `host.ip`, `Topic` → `log.topic`); the tags
/// `otlp.scope.name` / `otlp.scope.version` name the scope. A log event is a `LogRecord`: its
/// timestamp and observed timestamp (now when unset), `level` as `severity_text` (and the matching
/// `severity_number`; without a level, a `level` content is used), the `content` value as the body
/// (a string, or bytes when not UTF-8), every other content and the event's tags as string
/// attributes, the event name as `event_name`, and `trace_id`/`span_id` decoded from hex (an id that
/// is not valid hex of the right length is kept as a `trace_id`/`span_id` attribute instead). A
/// byte-array event is a log record whose body is the bytes. A metric event is a `Metric` with its
/// name, unit and description; tags and typed values are data-point attributes. Its type picks the
/// OTLP data: `Gauge` (gauge, untyped, meter), `Sum` (counter: cumulative and monotonic; rate
/// counter: delta; the tags `otlp.metric.aggregation.temporality` and `otlp.metric.ismonotonic`
/// override), `Histogram` (fields `count`, `sum`, `min`, `max`, and buckets named
/// LoongCollector's way `(lower,upper]` or Prometheus's `le_<bound>`/`le=<bound>`, cumulative),
/// `Summary` (fields `count`, `sum` and numeric quantiles). A single value is one data point; a
/// multi-value metric that is not a histogram or summary becomes one metric per field, named
/// `<name>.<field>` (fields a histogram or summary cannot place are sent that way too). A span
/// event is a `Span` with its ids, parent, trace state, name, kind, start and end times, status
/// (message from the `otlp.span.status.message` tag), attributes, events and links. V1 log
/// groups are sent as logs. The event's file offset and raw size are not sent.
///
/// Guarantees: a flush returns only when the receiver accepted every request of the batch. Requests
/// are cut at `MaxRequestBytes`. Transport errors, timeouts, gRPC `UNAVAILABLE`,
/// `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED`, `ABORTED`, `CANCELLED`, `DATA_LOSS`,
/// `OUT_OF_RANGE`, `UNAUTHENTICATED`, `PERMISSION_DENIED`, `INTERNAL`, `UNKNOWN`, and HTTP 401, 403,
/// 408, 429 and 5xx are retried per `Retry` (honouring an HTTP `Retry-After`);
/// when a request still fails, the batch goes back to the pipeline, which retries it later,
/// sending only the requests not yet accepted, so an outage loses nothing. Any other answer
/// (gRPC `INVALID_ARGUMENT`, `UNIMPLEMENTED`…, HTTP 400, 404, 413…) can never succeed: the request
/// is logged and its items counted in `otlp_rejected_items_total`, as are the items a receiver
/// reports rejected in a partial success. Events of a signal that has no endpoint are counted in
/// `otlp_dropped_events_total` with a warning. When the agent exits (`set_urgent`), retry delays are
/// capped at 500 ms. Header values never appear in logs or errors. Metrics (labelled `signal`):
/// `otlp_requests_total{outcome}`, `otlp_retries_total`, `otlp_sent_items_total`,
/// `otlp_sent_bytes_total` (protobuf bytes before compression), `otlp_request_duration_seconds`,
/// `otlp_rejected_items_total`, `otlp_dropped_events_total`.
///
/// Differences from LoongCollector: `Protocol: http` (LoongCollector has a separate
/// `flusher_otlp_http`), the top-level `Endpoint` and `Headers`, `TLS` and `MaxRequestBytes` are
/// additions; `Compression` is `gzip` or none (snappy and zstd are not offered); untyped and meter
/// metrics are sent as gauges instead of being dropped; counters are cumulative sums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct OtlpConfig {
    /// Version of the event mapping; only `v1` exists.
    #[serde(rename = "Version")]
    pub version: String,
    /// `grpc` (OTLP/gRPC, default) or `http` (OTLP/HTTP with `application/x-protobuf` bodies).
    #[serde(rename = "Protocol")]
    pub protocol: String,
    /// Endpoint of every signal that does not set its own. For `http`, `/v1/logs`, `/v1/metrics`
    /// and `/v1/traces` are appended to it.
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
    /// Headers (gRPC metadata) sent with every request of every signal; a signal's own `Headers`
    /// win on a shared name.
    #[serde(rename = "Headers")]
    pub headers: BTreeMap<String, String>,
    /// Where and how logs are sent. Logs are sent when this or the top-level `Endpoint` names an
    /// endpoint.
    #[serde(rename = "Logs")]
    pub logs: Option<SignalConfig>,
    /// Where and how metrics are sent; as `Logs`.
    #[serde(rename = "Metrics")]
    pub metrics: Option<SignalConfig>,
    /// Where and how traces (spans) are sent; as `Logs`.
    #[serde(rename = "Traces")]
    pub traces: Option<SignalConfig>,
    /// Largest request body (protobuf, before compression) in bytes; a batch that would exceed it is
    /// split over several requests. gRPC servers refuse messages over 4 MiB unless told otherwise.
    #[serde(rename = "MaxRequestBytes")]
    pub max_request_bytes: i64,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            version: "v1".to_owned(),
            protocol: "grpc".to_owned(),
            endpoint: String::new(),
            headers: BTreeMap::new(),
            logs: None,
            metrics: None,
            traces: None,
            max_request_bytes: 4 * 1024 * 1024 - 64 * 1024,
        }
    }
}

/// Settings of one signal (LoongCollector's `GrpcClientConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SignalConfig {
    /// The receiver: `http://host:port`, `https://host:port` or `host:port` (plain text). For
    /// `Protocol: http`, a URL without a path gets the signal's path (`/v1/logs`…); a URL with a
    /// path is used as it is. Empty: the top-level `Endpoint`.
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
    /// Request compression: `gzip`, or `none`/empty (the default) for none.
    #[serde(rename = "Compression")]
    pub compression: String,
    /// Headers (gRPC metadata) sent with every request of this signal.
    #[serde(rename = "Headers")]
    pub headers: BTreeMap<String, String>,
    /// Time limit of one request (and of connecting): integer milliseconds (as LoongCollector) or a
    /// duration string (`"5s"`). Default 5000.
    #[serde(rename = "Timeout")]
    pub timeout: Millis,
    /// How a failed request is retried before the batch is handed back to the pipeline's retry.
    #[serde(rename = "Retry")]
    pub retry: RetryConfig,
    /// TLS settings for an `https://` endpoint.
    #[serde(rename = "TLS")]
    pub tls: TlsConfig,
    /// Kept for LoongCollector compatibility: the flusher always waits for the receiver (it
    /// retries until it is reachable).
    #[serde(rename = "WaitForReady")]
    pub wait_for_ready: bool,
    /// Kept for LoongCollector compatibility (one endpoint, one connection).
    #[serde(rename = "BalancerName")]
    pub balancer_name: String,
    /// Kept for LoongCollector compatibility (the Rust client sizes its buffers itself).
    #[serde(rename = "ReadBufferSize")]
    pub read_buffer_size: i64,
    /// Kept for LoongCollector compatibility (the Rust client sizes its buffers itself).
    #[serde(rename = "WriteBufferSize")]
    pub write_buffer_size: i64,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            endpoint: String::new(),
            compression: String::new(),
            headers: BTreeMap::new(),
            timeout: Millis(Duration::from_secs(5)),
            retry: RetryConfig::default(),
            tls: TlsConfig::default(),
            wait_for_ready: false,
            balancer_name: String::new(),
            read_buffer_size: 0,
            write_buffer_size: 0,
        }
    }
}

/// Retry of one request (LoongCollector's `RetryConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RetryConfig {
    /// Retry a request that failed with a retryable error (see the guarantees above). Default true.
    #[serde(rename = "Enable")]
    pub enable: bool,
    /// Retries after the first attempt. Default 3.
    #[serde(rename = "MaxCount")]
    pub max_count: u32,
    /// Delay between attempts, unless the server asks for another (HTTP `Retry-After`). Default 1s.
    #[serde(rename = "DefaultDelay")]
    pub default_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enable: true,
            max_count: 3,
            default_delay: Duration::from_secs(1),
        }
    }
}

/// A duration whose plain integers are milliseconds (LoongCollector's `Timeout int`), also accepting
/// strings such as `"5s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub Duration);

impl Millis {
    pub fn get(self) -> std::time::Duration {
        self.0.get()
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Millis;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("integer milliseconds or a duration string like \"5s\"")
            }

            fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Millis, E> {
                Ok(Millis(Duration::from_millis(ms)))
            }

            fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Millis, E> {
                u64::try_from(ms)
                    .map(|ms| Millis(Duration::from_millis(ms)))
                    .map_err(|_| E::custom(format!("a timeout cannot be negative ({ms})")))
            }

            fn visit_f64<E: de::Error>(self, ms: f64) -> Result<Millis, E> {
                if ms.is_finite() && ms >= 0.0 {
                    Ok(Millis(Duration::from_millis(ms as u64)))
                } else {
                    Err(E::custom(format!("invalid timeout {ms}")))
                }
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Millis, E> {
                if let Ok(ms) = s.trim().parse::<u64>() {
                    return Ok(Millis(Duration::from_millis(ms)));
                }
                s.parse::<Duration>().map(Millis).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for Millis {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["integer", "string"],
            "format": "duration",
            "description": "integer milliseconds, or a string such as \"5s\" or \"500ms\""
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_integers_are_milliseconds() {
        let s: SignalConfig = serde_json::from_value(serde_json::json!({"Timeout": 1500})).unwrap();
        assert_eq!(s.timeout.get(), std::time::Duration::from_millis(1500));
        let s: SignalConfig = serde_json::from_value(serde_json::json!({"Timeout": "2s"})).unwrap();
        assert_eq!(s.timeout.get(), std::time::Duration::from_secs(2));
        assert!(serde_json::from_value::<SignalConfig>(serde_json::json!({"Timeout": -1})).is_err());
        assert_eq!(SignalConfig::default().timeout.get(), std::time::Duration::from_secs(5));
    }
}
