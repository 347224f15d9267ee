use std::collections::BTreeMap;

use loong_api::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pushes log lines to Grafana Loki's push API (`/loki/api/v1/push`): a snappy-compressed
/// `logproto.PushRequest` protobuf (`Content-Type: application/x-protobuf`), or JSON with
/// `PushFormat: json`.
///
/// Example: `{Type: flusher_loki, URL: "http://loki:3100/loki/api/v1/push", TenantID: team-a,
/// StaticLabels: {job: loong}, DynamicLabels: [content.level, tag.host.name]}`.
///
/// Each event is one entry: its line is the event converted by `Convert` (LoongCollector's
/// `custom_single` JSON by default; `custom_single_flatten` with `OnlyContents` gives just the
/// contents), its time the event's time (now when it has none), its stream the labels:
/// `StaticLabels` plus, per event, each `DynamicLabels` value found (the prefix removed:
/// `content.level` → `level`, `tag.host.name` → `host_name`; characters Loki does not allow in a
/// label name become `_`; a dynamic label wins over a static one of the same name; a missing or
/// empty value leaves the label out). An event left with no label at all can never be stored: it
/// is counted as rejected. `X-Scope-OrgID` carries `TenantID`.
///
/// Order: Loki (with `unordered_writes` off, the default before 2.4) rejects an entry older than
/// the newest of its stream. Entries of a stream are sorted by time within a flush, and the
/// requests of one flush go out one after the other in that order; across flushes the pipeline
/// keeps the order events arrived in, so entries older than what a stream already holds (a file
/// read late, a clock gone back) may be rejected as `entry out of order`: they are counted and
/// logged, not retried, since a retry cannot succeed. Loki 2.4+ accepts them within its window;
/// `OutOfOrderAction` can also rewrite their time or drop them here.
///
/// Guarantees: a push answered 2xx is delivered. 429, 5xx, 401, 403, 408, timeouts and connection
/// errors are retried with backoff from `MinBackoff` doubling to `MaxBackoff`, `MaxRetries` attempts
/// per flush; then the batch goes back to the pipeline, which retries it, sending only the pushes
/// not yet accepted, until delivered, so an outage loses nothing. A 400 (out of order, too old,
/// invalid labels…) can never succeed: the entries Loki reports ignored (`total ignored: N`, or the
/// whole push when it does not say) are counted in `loki_rejected_entries_total` and logged. Pushes
/// are sent within the flush, so a slow Loki holds the pipeline (back-pressure); nothing is in
/// flight at stop. Batching over time is the pipeline's aggregator's job: `MaxMessageWait` is
/// accepted for compatibility and has no effect, and `MaxMessageBytes` bounds each push. When the
/// agent exits (`set_urgent`), backoffs are capped at 500 ms. Credentials never appear in logs.
/// Metrics: `loki_pushes_total{status_class}`, `loki_entries_sent_total`,
/// `loki_rejected_entries_total`, `loki_retries_total`, `loki_transport_errors_total`,
/// `loki_sent_bytes_total`, `loki_push_duration_seconds`.
///
/// Tested against a Loki push receiver written in the test suite (no Loki server installs on the
/// build machines): it decodes the real snappy + protobuf `PushRequest` (and the JSON form), parses
/// and validates label sets as Loki does, stores entries per tenant and stream, enforces Loki's
/// per-stream order (2.4+: at most an hour behind the newest; or strictly ordered, answering
/// `entry out of order`), de-duplicates identical entries, and answers scripted 429/5xx failures
/// or goes down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LokiConfig {
    /// Push endpoint, e.g. `http://localhost:3100/loki/api/v1/push`. Required.
    #[serde(rename = "URL")]
    pub url: String,
    /// Tenant sent as `X-Scope-OrgID`; empty for a single-tenant Loki.
    #[serde(rename = "TenantID")]
    pub tenant_id: String,
    /// Labels of every stream. At least one of `StaticLabels` and `DynamicLabels` is required.
    #[serde(rename = "StaticLabels")]
    pub static_labels: BTreeMap<String, String>,
    /// Labels taken from each event: `content.<key>`, `tag.<key>` (a tag's output name, after
    /// `Convert.TagFieldsRename`) or `metadata.<key>`.
    #[serde(rename = "DynamicLabels")]
    pub dynamic_labels: Vec<String>,
    /// Accepted for compatibility; no effect (a flush sends what it is given at once).
    #[serde(rename = "MaxMessageWait")]
    pub max_message_wait: Duration,
    /// Largest push in bytes of log lines; a larger flush is sent as several pushes.
    #[serde(rename = "MaxMessageBytes")]
    pub max_message_bytes: i64,
    /// Time limit of one push request.
    #[serde(rename = "Timeout")]
    pub timeout: Duration,
    /// Delay before the first retry.
    #[serde(rename = "MinBackoff")]
    pub min_backoff: Duration,
    /// Longest delay between retries.
    #[serde(rename = "MaxBackoff")]
    pub max_backoff: Duration,
    /// Attempts per push within one flush (0 or 1: no retry within the flush; the pipeline's retry
    /// still keeps the data).
    #[serde(rename = "MaxRetries")]
    pub max_retries: i64,
    /// How events become lines.
    #[serde(rename = "Convert")]
    pub convert: ConvertConfig,
    /// `protobuf` (snappy-compressed `logproto.PushRequest`, what Promtail sends) or `json`.
    #[serde(rename = "PushFormat")]
    pub push_format: String,
    /// An entry older than the newest this flusher already sent to its stream (in an earlier
    /// flush): `accept` sends it as it is and lets Loki decide (2.4+ takes it within an hour, older
    /// versions reject it); `rewrite_timestamp` sends it with the stream's newest time (its line
    /// keeps the original time), so an ordered Loki takes it; `drop` leaves it out and counts it
    /// in `loki_rejected_entries_total`.
    #[serde(rename = "OutOfOrderAction")]
    pub out_of_order_action: String,
    /// HTTP client settings, with Prometheus' names as LoongCollector takes them.
    #[serde(rename = "ClientConfig")]
    pub client_config: ClientConfig,
}

impl Default for LokiConfig {
    fn default() -> Self {
        LokiConfig {
            url: String::new(),
            tenant_id: String::new(),
            static_labels: BTreeMap::new(),
            dynamic_labels: Vec::new(),
            max_message_wait: Duration::from_secs(1),
            max_message_bytes: 1024 * 1024,
            timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            max_retries: 10,
            convert: ConvertConfig::default(),
            push_format: "protobuf".to_owned(),
            out_of_order_action: "accept".to_owned(),
            client_config: ClientConfig::default(),
        }
    }
}

/// LoongCollector's `Convert` options of flusher_loki.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ConvertConfig {
    /// `custom_single` (`{"contents":{…},"tags":{…},"time":…}`) or `custom_single_flatten` (the
    /// same in one flat object).
    #[serde(rename = "Protocol")]
    pub protocol: String,
    /// `json`.
    #[serde(rename = "Encoding")]
    pub encoding: String,
    /// Renames tags, keyed by the tag's output name; an empty new name drops the tag.
    #[serde(rename = "TagFieldsRename")]
    pub tag_fields_rename: BTreeMap<String, String>,
    /// Renames the protocol's own keys: `contents`, `tags`, `time`.
    #[serde(rename = "ProtocolFieldsRename")]
    pub protocol_fields_rename: BTreeMap<String, String>,
    /// With `custom_single_flatten`: the line holds only the contents (no tags, no time).
    #[serde(rename = "OnlyContents")]
    pub only_contents: bool,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        ConvertConfig {
            protocol: loong_converter::PROTOCOL_CUSTOM_SINGLE.to_owned(),
            encoding: loong_converter::ENCODING_JSON.to_owned(),
            tag_fields_rename: BTreeMap::new(),
            protocol_fields_rename: BTreeMap::new(),
            only_contents: false,
        }
    }
}

/// Prometheus' HTTP client config, the subset a push needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ClientConfig {
    /// Basic authentication (Grafana Cloud: the instance id and an API token).
    #[serde(rename = "basic_auth")]
    pub basic_auth: BasicAuth,
    /// Sent as `Authorization: Bearer <token>`.
    #[serde(rename = "bearer_token")]
    pub bearer_token: String,
    /// TLS of an `https://` URL.
    #[serde(rename = "tls_config")]
    pub tls_config: TlsConfig,
    /// Proxy for the pushes (`http://host:port`); empty uses none.
    #[serde(rename = "proxy_url")]
    pub proxy_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BasicAuth {
    /// User name.
    #[serde(rename = "username")]
    pub username: String,
    /// Password (or API token).
    #[serde(rename = "password")]
    pub password: String,
}

/// TLS (rustls; certificates are verified against the public web roots plus `ca_file` unless
/// `insecure_skip_verify`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM file of CA certificates trusted besides the public web roots.
    #[serde(rename = "ca_file")]
    pub ca_file: String,
    /// PEM client certificate chain.
    #[serde(rename = "cert_file")]
    pub cert_file: String,
    /// PEM private key of `cert_file`.
    #[serde(rename = "key_file")]
    pub key_file: String,
    /// Name the server certificate must match, when it differs from the URL's host.
    #[serde(rename = "server_name")]
    pub server_name: String,
    /// Accept any server certificate. Only for testing: logs a warning at start.
    #[serde(rename = "insecure_skip_verify")]
    pub insecure_skip_verify: bool,
    /// Lowest TLS version: `TLS12` / `1.2` (default) or `TLS13` / `1.3`.
    #[serde(rename = "min_version")]
    pub min_version: String,
}
