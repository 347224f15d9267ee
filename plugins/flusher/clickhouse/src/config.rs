use std::collections::BTreeMap;

use loong_api::Duration;
use loong_converter::ConvertConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Inserts events into ClickHouse over its HTTP interface (`INSERT … FORMAT JSONEachRow`), with
/// LoongCollector's table layout or, with `Columns`, into a table of your own. V1 and V2.
///
/// LoongCollector's layout (no `Columns`): on first use the flusher creates, if missing,
/// `` `Database`.`ilogtail_<Table>` `` with columns `_timestamp Int64` (seconds at insert) and `_log String`
/// (the event as the `Convert` protocol writes it: by default `custom_single` JSON,
/// `{"contents":{…},"tags":{…},"time":<seconds>}`) and `ENGINE = Null`, plus
/// `` `ilogtail_<Table>_buffer` `` `AS` it with `ENGINE = Buffer(…)` from the `Buffer*` options, and inserts
/// into the buffer table. The Null table keeps nothing by itself: attach a materialized view that
/// parses `_log` into your table, e.g.
/// `CREATE MATERIALIZED VIEW logs_mv TO logs AS SELECT toDateTime(visitParamExtractUInt(_log, 'time')) AS time,
/// visitParamExtractRaw(_log, 'contents') AS contents FROM ilogtail_demo` (tested).
///
/// Typed mapping (`Columns`): rows go straight into `` `Database`.`Table` ``, which must exist; each
/// key is a column and each value says where its value comes from: `content.<key>`, `tag.<key>`,
/// `metadata.<key>` (the group's), `body` (the `content` content), `contents` / `tags` (all of them as
/// a JSON object), `log` (the `Convert` JSON, as `_log`), `timestamp` (event time, seconds),
/// `timestamp_ms`, `timestamp_ns`, `insert_time` (seconds at insert) or `offset` (the event's
/// position in its file, 0 when unknown). A value missing from an
/// event is left out of the row, so the column gets its default (the type's default before
/// ClickHouse 19.x; its `DEFAULT` expression where the server applies it to omitted JSONEachRow
/// fields, `input_format_defaults_for_omitted_fields`). The table's columns are read once (`DESCRIBE`): a
/// mapping to a column that does not exist fails the flush with that name (and is retried) rather
/// than losing rows; times are written as numbers, or as text for string columns.
///
/// Example:
///
/// ```yaml
/// flushers:
///   - Type: flusher_clickhouse
///     Addresses: [127.0.0.1:8123]
///     Authentication:
///       PlainText: {Database: default, Username: loong, Password: "${CH_PASSWORD}"}
///     Table: nginx
///     Columns: {time: timestamp, host: tag.host.name, status: content.status, message: body}
/// ```
///
/// Guarantees: a flush returns only once ClickHouse has accepted every row of the batch (one
/// `INSERT` per flush, atomic in ClickHouse), so a slow server holds the pipeline (back-pressure).
/// Transport errors, timeouts, server errors and refused credentials fail the flush, and the
/// pipeline retries it with backoff, trying the next of `Addresses` first: an outage loses nothing.
/// A row ClickHouse can never take (a value its column cannot parse) makes it refuse the whole
/// `INSERT`; the flusher then splits the insert until the refused rows are isolated, inserts all the
/// others, and logs and counts the refused ones in `clickhouse_rejected_rows_total` instead of
/// retrying them forever. Delivery is at least once: an insert whose answer is lost after ClickHouse
/// committed it is sent again. With LoongCollector's layout, accepted rows wait in ClickHouse's
/// memory (the Buffer table) until a `Buffer*` limit flushes them, and a crash of ClickHouse (not a
/// clean stop) loses them: use `Columns` for direct, durable inserts. Credentials never appear in
/// logs or errors. Metrics: `clickhouse_inserted_rows_total`, `clickhouse_insert_bytes_total`
/// (before compression), `clickhouse_sent_bytes_total` (after), `clickhouse_rejected_rows_total`,
/// `clickhouse_failed_requests_total`, `clickhouse_insert_duration_seconds`.
///
/// Tested against ClickHouse 18.16 (Debian's); the HTTP interface and the SQL used exist in every
/// later version. Differences from LoongCollector, which speaks the native protocol: `Addresses`
/// are HTTP interface addresses (`host:8123`, or a full `http(s)://` URL); `Compression` `br` is not
/// offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ClickHouseConfig {
    /// ClickHouse HTTP interface addresses (`host:port`, or `http://` / `https://` URLs). Tried in
    /// order: a server that fails sends the next attempt to the next address. Required.
    #[serde(rename = "Addresses")]
    pub addresses: Vec<String>,
    /// Credentials, database and TLS.
    #[serde(rename = "Authentication")]
    pub authentication: Authentication,
    /// Cluster name: the tables of LoongCollector's layout are created `ON CLUSTER` it.
    #[serde(rename = "Cluster")]
    pub cluster: String,
    /// Table name. Without `Columns`, the base of LoongCollector's `ilogtail_<Table>` and
    /// `ilogtail_<Table>_buffer`; with `Columns`, the table the rows go to. Required.
    #[serde(rename = "Table")]
    pub table: String,
    /// Typed mapping (a loong-rs addition): column name → source (`content.<key>`, `tag.<key>`,
    /// `metadata.<key>`, `body`, `contents`, `tags`, `log`, `timestamp`, `timestamp_ms`,
    /// `timestamp_ns`, `insert_time`, `offset`). Empty: LoongCollector's layout.
    #[serde(rename = "Columns")]
    pub columns: BTreeMap<String, String>,
    /// How events become the `_log` value (and the `log` source): `Protocol` `custom_single`
    /// (default) or `custom_single_flatten`, `Encoding` `json`, with `TagFieldsRename` and
    /// `ProtocolFieldsRename`.
    #[serde(rename = "Convert")]
    pub convert: ConvertConfig,
    /// Body compression: `lz4` (default) or `zstd` (ClickHouse's own compressed blocks), `gzip` or
    /// `deflate` (HTTP `Content-Encoding`), or `none`.
    #[serde(rename = "Compression")]
    pub compression: String,
    /// Longest a request may run, in seconds (sent as ClickHouse's `max_execution_time`; the client
    /// waits that long plus `DialTimeout`).
    #[serde(rename = "MaxExecutionTime")]
    pub max_execution_time: i64,
    /// Time limit to connect to a server.
    #[serde(rename = "DialTimeout")]
    pub dial_timeout: Duration,
    /// Kept for LoongCollector compatibility: a flusher has one insert in flight at a time.
    #[serde(rename = "MaxOpenConns")]
    pub max_open_conns: i64,
    /// Idle connections kept per server.
    #[serde(rename = "MaxIdleConns")]
    pub max_idle_conns: i64,
    /// How long an idle connection is kept.
    #[serde(rename = "ConnMaxLifetime")]
    pub conn_max_lifetime: Duration,
    /// Kept for LoongCollector compatibility (a native-protocol setting).
    #[serde(rename = "BlockBufferSize")]
    pub block_buffer_size: u8,
    /// LoongCollector's layout: `num_layers` of the Buffer table.
    #[serde(rename = "BufferNumLayers")]
    pub buffer_num_layers: i64,
    /// LoongCollector's layout: the Buffer table's `min_time`, seconds. ClickHouse flushes a buffer
    /// when all `Min` limits are reached, or any `Max` one.
    #[serde(rename = "BufferMinTime")]
    pub buffer_min_time: i64,
    /// LoongCollector's layout: the Buffer table's `max_time`, seconds.
    #[serde(rename = "BufferMaxTime")]
    pub buffer_max_time: i64,
    /// LoongCollector's layout: the Buffer table's `min_rows`.
    #[serde(rename = "BufferMinRows")]
    pub buffer_min_rows: i64,
    /// LoongCollector's layout: the Buffer table's `max_rows`.
    #[serde(rename = "BufferMaxRows")]
    pub buffer_max_rows: i64,
    /// LoongCollector's layout: the Buffer table's `min_bytes`.
    #[serde(rename = "BufferMinBytes")]
    pub buffer_min_bytes: i64,
    /// LoongCollector's layout: the Buffer table's `max_bytes`.
    #[serde(rename = "BufferMaxBytes")]
    pub buffer_max_bytes: i64,
    /// Log every insert (rows, bytes, server) at info level.
    #[serde(rename = "Debug")]
    pub debug: bool,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            addresses: Vec::new(),
            authentication: Authentication::default(),
            cluster: String::new(),
            table: String::new(),
            columns: BTreeMap::new(),
            convert: ConvertConfig::default(),
            compression: "lz4".to_owned(),
            max_execution_time: 60,
            dial_timeout: Duration::from_secs(10),
            max_open_conns: 5,
            max_idle_conns: 5,
            conn_max_lifetime: Duration::from_secs(600),
            block_buffer_size: 10,
            buffer_num_layers: 16,
            buffer_min_time: 10,
            buffer_max_time: 100,
            buffer_min_rows: 10_000,
            buffer_max_rows: 1_000_000,
            buffer_min_bytes: 10_000_000,
            buffer_max_bytes: 100_000_000,
            debug: false,
        }
    }
}

/// Credentials, database and TLS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Authentication {
    /// User, password and database.
    #[serde(rename = "PlainText")]
    pub plain_text: PlainText,
    /// TLS to the servers.
    #[serde(rename = "TLS")]
    pub tls: TlsConfig,
}

/// User, password (sent as HTTP Basic credentials) and database.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PlainText {
    /// ClickHouse user; empty uses the server's `default` user.
    #[serde(rename = "Username")]
    pub username: String,
    /// Password of `Username`. Never logged.
    #[serde(rename = "Password")]
    pub password: String,
    /// Database of `Table`; empty means `default`.
    #[serde(rename = "Database")]
    pub database: String,
}

/// TLS settings. Server certificates are always verified (public web roots plus `CAFile`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TlsConfig {
    /// Use `https://` for addresses given without a scheme.
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    /// PEM file of CA certificates trusted besides the public web roots.
    #[serde(rename = "CAFile")]
    pub ca_file: String,
    /// PEM client certificate chain.
    #[serde(rename = "CertFile")]
    pub cert_file: String,
    /// PEM private key of `CertFile`.
    #[serde(rename = "KeyFile")]
    pub key_file: String,
    /// Lowest TLS version: `1.2` (default) or `1.3` (`1.0` and `1.1` are refused as insecure).
    #[serde(rename = "MinVersion")]
    pub min_version: String,
    /// Highest TLS version: `1.2` or `1.3` (default).
    #[serde(rename = "MaxVersion")]
    pub max_version: String,
}

/// Shows everything but the password.
impl std::fmt::Debug for PlainText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainText")
            .field("username", &self.username)
            .field("password", &if self.password.is_empty() { "" } else { "<redacted>" })
            .field("database", &self.database)
            .finish()
    }
}
