use std::collections::BTreeMap;

use loong_api::Duration;
pub use loong_http_client::RetryConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Indexes events into Elasticsearch (7.x, 8.x) or OpenSearch through the `_bulk` API: one NDJSON
/// line pair per event, `{"index":{"_index":"<Index>"}}` then the document.
///
/// Example: `{Type: flusher_elasticsearch, Addresses: ["http://es-1:9200", "http://es-2:9200"],
/// Index: "app-%{tag.host.name}-%{+yyyy.MM.dd}", Authentication: {PlainText: {Username: elastic,
/// Password: "${ES_PASSWORD}"}}}`; with an API key: `Authentication: {APIKey: "<encoded key>"}`.
///
/// The document is the event's contents, then its tags (event tags, then group tags, under
/// LoongCollector's names: `__path__` → `log.file.path`, `__hostname__` → `host.name`, then
/// `Convert.TagFieldsRename`), then `@timestamp` (the event time, RFC 3339 in UTC with nanoseconds);
/// a key already written is not written again, so a content wins over a tag of the same name and a
/// content named `@timestamp` replaces the generated one. Metrics and spans are written in their V1
/// layout. With `Convert.Protocol` set to `custom_single` or `custom_single_flatten`, the document
/// is instead exactly what LoongCollector's converter makes (`{"contents":{…},"tags":{…},"time":…}`).
///
/// `Index` may hold `%{content.k}`, `%{tag.k}` and `%{metadata.k}` (from the event; a missing value
/// renders as the variable's name, as in LoongCollector) and date patterns `%{+yyyy.MM.dd}` (Joda
/// letters: `yyyy`/`YYYY`, `yy`, `MM`, `M`, `dd`, `d`, `HH`, `H`, `mm`, `ss`, `ww` (ISO week), `DDD`;
/// text in single quotes is literal) formatted from the event's own time in UTC. LoongCollector
/// formats the date from the flush time in local time; using the event time keeps a day's events in
/// that day's index whenever they are sent. `${VAR}` is substituted by the config loader.
///
/// Guarantees: an event is delivered when its bulk item answers 2xx. Items answered 429 or 5xx are
/// retried, alone (the items already accepted are never resent), with backoff per `Retry`; a whole
/// request answered 429, 5xx, 401, 403 or 408, a timeout or a connection error is retried the same
/// way, each request going to the next address of `Addresses` (round robin) and a connection error
/// failing over to the next address at once. When items still fail, the batch goes back to the
/// pipeline, which retries it — again sending only the items not yet accepted — until delivered, so
/// an outage loses nothing. An item answered with another 4xx (a mapping error, an invalid index
/// name) can never succeed: it is logged and counted in `es_rejected_documents_total`, not retried.
/// A request answered 413 is split in halves and resent. Requests are sent within the flush call,
/// so a slow cluster holds the pipeline (back-pressure) and nothing is in flight at stop. When the
/// agent exits (`set_urgent`), retry delays are capped at 500 ms. Credentials never appear in logs.
/// Metrics: `es_bulk_requests_total{status_class}`, `es_indexed_documents_total`,
/// `es_retried_documents_total`, `es_rejected_documents_total`, `es_transport_errors_total`,
/// `es_sent_bytes_total`, `es_request_duration_seconds`.
///
/// Tested against a `_bulk` receiver written in the test suite (no Elasticsearch or OpenSearch
/// server installs on the build machines): it parses the NDJSON strictly (duplicate keys, invalid
/// index names and bad JSON are rejected per item as Elasticsearch does), stores documents per
/// index, checks basic and API-key credentials, and answers scripted per-item or whole-request
/// 429/5xx/4xx failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ElasticsearchConfig {
    /// Cluster addresses, `http://host:9200` or `https://host:9200` (an address without a scheme
    /// gets `http://`, or `https://` with `Authentication.TLS.Enabled`); a path prefix is kept.
    /// Requests go round robin over them. Required.
    #[serde(rename = "Addresses")]
    pub addresses: Vec<String>,
    /// Target index, with `%{content.k}`, `%{tag.k}`, `%{metadata.k}` variables and `%{+yyyy.MM.dd}`
    /// date patterns (see above). Required.
    #[serde(rename = "Index")]
    pub index: String,
    /// Credentials and TLS.
    #[serde(rename = "Authentication")]
    pub authentication: Authentication,
    /// HTTP client settings.
    #[serde(rename = "HTTPConfig")]
    pub http_config: HttpConfig,
    /// Document format: empty (the default) for contents + tags + `@timestamp`, or LoongCollector's
    /// converter protocols.
    #[serde(rename = "Convert")]
    pub convert: ConvertConfig,
    /// How failed items and requests are retried before the batch goes back to the pipeline.
    #[serde(rename = "Retry")]
    pub retry: RetryConfig,
    /// Largest body of one `_bulk` request in bytes; a batch larger than that is sent as several
    /// requests, one after the other. At least one document per request.
    #[serde(rename = "BulkMaxBytes")]
    pub bulk_max_bytes: i64,
    /// Name of the generated event-time field; empty leaves it out.
    #[serde(rename = "TimestampField")]
    pub timestamp_field: String,
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        ElasticsearchConfig {
            addresses: Vec::new(),
            index: String::new(),
            authentication: Authentication::default(),
            http_config: HttpConfig::default(),
            convert: ConvertConfig::default(),
            retry: RetryConfig::default(),
            bulk_max_bytes: 10 * 1024 * 1024,
            timestamp_field: "@timestamp".to_owned(),
        }
    }
}

/// Credentials (basic or API key) and TLS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Authentication {
    /// Basic authentication; used when `Username` is set.
    #[serde(rename = "PlainText")]
    pub plain_text: PlainText,
    /// An API key, sent as `Authorization: ApiKey <APIKey>`: the `encoded` value Elasticsearch
    /// returns when the key is created (base64 of `id:api_key`). Takes precedence over `PlainText`.
    #[serde(rename = "APIKey")]
    pub api_key: String,
    /// TLS settings for `https://` addresses.
    #[serde(rename = "TLS")]
    pub tls: TlsConfig,
}

/// Username and password for basic authentication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PlainText {
    /// User name; empty means no basic authentication.
    #[serde(rename = "Username")]
    pub username: String,
    /// Password of `Username`.
    #[serde(rename = "Password")]
    pub password: String,
}

/// TLS of `https://` addresses (rustls; certificates are verified against the public web roots plus
/// `CAFile` unless `InsecureSkipVerify`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TlsConfig {
    /// Makes addresses without a scheme use `https://`. An `https://` address uses TLS either way.
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    /// PEM file of CA certificates trusted besides the public web roots.
    #[serde(rename = "CAFile")]
    pub ca_file: String,
    /// PEM client certificate chain, for clusters that require client certificates.
    #[serde(rename = "CertFile")]
    pub cert_file: String,
    /// PEM private key of `CertFile`.
    #[serde(rename = "KeyFile")]
    pub key_file: String,
    /// Lowest TLS version: `1.2` (default; `1.0` and `1.1` also mean 1.2, the lowest rustls speaks)
    /// or `1.3`.
    #[serde(rename = "MinVersion")]
    pub min_version: String,
    /// Highest TLS version: `1.3` (the default, and the only value supported).
    #[serde(rename = "MaxVersion")]
    pub max_version: String,
    /// Name the server certificate must match, when it differs from the address's host.
    #[serde(rename = "ServerName")]
    pub server_name: String,
    /// Accept any server certificate. Only for testing: logs a warning at start.
    #[serde(rename = "InsecureSkipVerify")]
    pub insecure_skip_verify: bool,
}

/// HTTP client settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct HttpConfig {
    /// Idle connections kept per host.
    #[serde(rename = "MaxIdleConnsPerHost")]
    pub max_idle_conns_per_host: i64,
    /// Longest wait for the response once the request is written: a duration (`30s`, or integer
    /// nanoseconds) or, as LoongCollector accepts, a unit name (`Second`, `Minute`…) meaning one of it.
    /// Empty: no limit besides `Timeout`.
    #[serde(rename = "ResponseHeaderTimeout")]
    pub response_header_timeout: String,
    /// Time limit of one whole request.
    #[serde(rename = "Timeout")]
    pub timeout: Duration,
    /// How long an idle connection is kept.
    #[serde(rename = "IdleConnTimeout")]
    pub idle_conn_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_idle_conns_per_host: 4,
            response_header_timeout: String::new(),
            timeout: Duration::from_secs(60),
            idle_conn_timeout: Duration::from_secs(90),
        }
    }
}

/// LoongCollector's `Convert` options of flusher_elasticsearch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ConvertConfig {
    /// Empty: the document is contents + tags + `@timestamp`. `custom_single`:
    /// `{"contents":{…},"tags":{…},"time":<seconds>}`; `custom_single_flatten`: the same in one flat
    /// object (LoongCollector's formats, byte for byte).
    #[serde(rename = "Protocol")]
    pub protocol: String,
    /// `json` (the only encoding of these protocols); empty means `json`.
    #[serde(rename = "Encoding")]
    pub encoding: String,
    /// Renames tags, keyed by the tag's output name (`host.name`, `log.file.path`, or its own key);
    /// an empty new name drops the tag. Applies to every format.
    #[serde(rename = "TagFieldsRename")]
    pub tag_fields_rename: BTreeMap<String, String>,
    /// Renames the converter protocols' own keys: `contents`, `tags`, `time`.
    #[serde(rename = "ProtocolFieldsRename")]
    pub protocol_fields_rename: BTreeMap<String, String>,
}
