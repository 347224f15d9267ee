//! Queries over ClickHouse's HTTP interface, with failover between `Addresses` and the reading of
//! its errors: ClickHouse answers most exceptions with HTTP 500 and `Code: N` in the body, so the
//! code, not the status, tells a row it can never parse from a server that is unwell.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderValue;
use loong_http_client::describe;

use crate::compression::Compression;

/// Why a request did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The data itself was refused (a value that cannot be parsed…): no retry can fix it.
    Rejected(String),
    /// The server, the network or the configuration failed: retry later.
    Failed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Rejected(e) | Failure::Failed(e) => f.write_str(e),
        }
    }
}

/// ClickHouse error codes that mean "this data can never be inserted".
const DATA_ERRORS: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    25,  // CANNOT_PARSE_ESCAPE_SEQUENCE
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    131, // TOO_LARGE_STRING_SIZE
    321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    376, // CANNOT_PARSE_UUID
    441, // CANNOT_PARSE_IPV4
    442, // CANNOT_PARSE_IPV6
];

/// The `Code: N` of a ClickHouse error text (`Code: 27, e.displayText() = …` before 21.x,
/// `Code: 27. DB::Exception: …` after).
pub fn error_code(body: &str) -> Option<u32> {
    let rest = &body[body.find("Code: ")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub struct Client {
    pub http: reqwest::Client,
    /// Base URLs of the servers (no credentials: those go in `auth`).
    pub servers: Vec<reqwest::Url>,
    /// The server the next request goes to first.
    pub current: AtomicUsize,
    pub auth: Option<HeaderValue>,
    pub max_execution_time: u64,
    pub compression: Compression,
    pub metrics: Metrics,
    pub debug: bool,
}

pub struct Metrics {
    pub inserted_rows: metrics::Counter,
    pub insert_bytes: metrics::Counter,
    pub sent_bytes: metrics::Counter,
    pub rejected_rows: metrics::Counter,
    pub failed_requests: metrics::Counter,
    pub latency: metrics::Histogram,
}

impl Metrics {
    pub fn new(ctx: &loong_api::Context) -> Self {
        let m = ctx.metrics();
        Metrics {
            inserted_rows: m.counter("clickhouse_inserted_rows_total"),
            insert_bytes: m.counter("clickhouse_insert_bytes_total"),
            sent_bytes: m.counter("clickhouse_sent_bytes_total"),
            rejected_rows: m.counter("clickhouse_rejected_rows_total"),
            failed_requests: m.counter("clickhouse_failed_requests_total"),
            latency: m.histogram("clickhouse_insert_duration_seconds"),
        }
    }
}

impl Client {
    /// Runs a statement that takes no data (DDL, DESCRIBE) and returns the answer.
    pub async fn query(&self, sql: &str) -> Result<Bytes, Failure> {
        self.request(None, Bytes::from(sql.to_owned()), Compression::None).await
    }

    /// Runs `INSERT … FORMAT …` (`sql`) with `rows` as its data.
    pub async fn insert(&self, sql: &str, rows: &Bytes) -> Result<(), Failure> {
        let body = self
            .compression
            .encode(rows)
            .map_err(|e| Failure::Failed(format!("compressing the rows: {e:#}")))?;
        let sent = body.len();
        let start = Instant::now();
        self.request(Some(sql), body, self.compression).await?;
        self.metrics.latency.record(start.elapsed().as_secs_f64());
        self.metrics.insert_bytes.increment(rows.len() as u64);
        self.metrics.sent_bytes.increment(sent as u64);
        Ok(())
    }

    /// Sends to the current server, and on a failure that another server may not have, to the
    /// next ones; a data error is returned at once.
    async fn request(&self, query: Option<&str>, body: Bytes, compression: Compression) -> Result<Bytes, Failure> {
        let n = self.servers.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut errors = Vec::new();
        for k in 0..n {
            let i = (first + k) % n;
            match self.request_to(i, query, body.clone(), compression).await {
                Ok(answer) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(Failure::Rejected(e)) => return Err(Failure::Rejected(e)),
                Err(Failure::Failed(e)) => {
                    self.metrics.failed_requests.increment(1);
                    errors.push(format!("{}: {e}", self.server_name(i)));
                }
            }
        }
        // Start with the next server next time.
        self.current.store((first + 1) % n, Ordering::Relaxed);
        Err(Failure::Failed(errors.join("; ")))
    }

    /// `host:port` of server `i`, for messages.
    pub fn server_name(&self, i: usize) -> String {
        let u = &self.servers[i];
        format!(
            "{}:{}",
            u.host_str().unwrap_or("?"),
            u.port_or_known_default().unwrap_or(0)
        )
    }

    async fn request_to(
        &self,
        i: usize,
        query: Option<&str>,
        body: Bytes,
        compression: Compression,
    ) -> Result<Bytes, Failure> {
        let mut url = self.servers[i].clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(sql) = query {
                q.append_pair("query", sql);
            }
            q.append_pair("max_execution_time", &self.max_execution_time.to_string());
            if compression.native() {
                q.append_pair("decompress", "1");
            }
        }
        let mut request = self.http.post(url).body(body);
        if let Some(auth) = &self.auth {
            request = request.header(http::header::AUTHORIZATION, auth.clone());
        }
        if let Some(encoding) = compression.content_encoding() {
            request = request.header(http::header::CONTENT_ENCODING, encoding);
        }
        let response = request.send().await.map_err(|e| Failure::Failed(describe(e)))?;
        let status = response.status();
        let answer = response
            .bytes()
            .await
            .map_err(|e| Failure::Failed(format!("reading the answer: {}", describe(e))))?;
        if status.is_success() {
            if self.debug {
                tracing::info!(server = %self.server_name(i), status = status.as_u16(), "flusher_clickhouse: request done");
            }
            return Ok(answer);
        }
        let text = String::from_utf8_lossy(&answer[..answer.len().min(1024)])
            .trim()
            .to_owned();
        let error = format!("status {status}: {text}");
        match error_code(&text) {
            Some(code) if DATA_ERRORS.contains(&code) => Err(Failure::Rejected(error)),
            _ => Err(Failure::Failed(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_of_old_and_new_servers() {
        assert_eq!(
            error_code("Code: 27, e.displayText() = DB::Exception: Cannot parse input"),
            Some(27)
        );
        assert_eq!(error_code("Code: 60. DB::Exception: Table x doesn't exist"), Some(60));
        assert_eq!(error_code("Bad gateway"), None);
    }
}
