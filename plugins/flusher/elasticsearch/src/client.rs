//! One `_bulk` request against the cluster: address selection (round robin, failover on
//! connection errors), credentials, and the classification of the answer, down to each item.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use bytes::Bytes;
use http::HeaderValue;
use loong_http_client::describe;
use serde::Deserialize;

use crate::config::ElasticsearchConfig;

/// What became of one bulk request.
#[derive(Debug)]
pub enum Answer {
    /// HTTP 200: the status of each item, in request order, with the error reason of failed ones.
    Items(Vec<(u16, Option<String>)>),
    /// The whole request failed in a way a retry may fix (connection, timeout, 429, 5xx, 401, 403).
    Retry { error: String, after: Option<Duration> },
    /// 413: the body is larger than the cluster takes.
    TooLarge(String),
    /// The whole request was refused with a status no retry can fix (400, 404…).
    Reject(String),
}

pub struct Metrics {
    pub requests_2xx: metrics::Counter,
    pub requests_4xx: metrics::Counter,
    pub requests_5xx: metrics::Counter,
    pub requests_other: metrics::Counter,
    pub transport_errors: metrics::Counter,
    pub sent_bytes: metrics::Counter,
    pub latency: metrics::Histogram,
    pub indexed: metrics::Counter,
    pub retried: metrics::Counter,
    pub rejected: metrics::Counter,
}

impl Metrics {
    pub fn new(ctx: &loong_api::Context) -> Self {
        let m = ctx.metrics();
        let class = |c: &str| m.counter_with("es_bulk_requests_total", &[("status_class", c)]);
        Metrics {
            requests_2xx: class("2xx"),
            requests_4xx: class("4xx"),
            requests_5xx: class("5xx"),
            requests_other: class("other"),
            transport_errors: m.counter("es_transport_errors_total"),
            sent_bytes: m.counter("es_sent_bytes_total"),
            latency: m.histogram("es_request_duration_seconds"),
            indexed: m.counter("es_indexed_documents_total"),
            retried: m.counter("es_retried_documents_total"),
            rejected: m.counter("es_rejected_documents_total"),
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    /// `<address>/_bulk` for every address.
    urls: Vec<reqwest::Url>,
    next: AtomicUsize,
    authorization: Option<HeaderValue>,
    pub metrics: Metrics,
}

/// `Second`, `Minute`… (LoongCollector's unit names, meaning one of that unit) or a duration.
fn parse_timeout(text: &str) -> Result<Option<Duration>> {
    let t = text.trim();
    Ok(Some(match t.to_ascii_lowercase().as_str() {
        "" => return Ok(None),
        "nanosecond" => Duration::from_nanos(1),
        "microsecond" => Duration::from_micros(1),
        "millisecond" => Duration::from_millis(1),
        "second" => Duration::from_secs(1),
        "minute" => Duration::from_secs(60),
        "hour" => Duration::from_secs(3600),
        _ => t
            .parse::<loong_api::Duration>()
            .map_err(anyhow::Error::msg)
            .context("HTTPConfig.ResponseHeaderTimeout")?
            .get(),
    }))
}

fn bulk_url(address: &str, tls: bool) -> Result<reqwest::Url> {
    let address = address.trim();
    if address.is_empty() {
        bail!("Addresses holds an empty address");
    }
    let full = if address.contains("://") {
        address.to_owned()
    } else if tls {
        format!("https://{address}")
    } else {
        format!("http://{address}")
    };
    // The address is not quoted in errors: it may carry credentials.
    let mut url = reqwest::Url::parse(&full).context("Addresses: an address is not a valid URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("Addresses must be http or https, not {}", url.scheme());
    }
    let path = format!("{}/_bulk", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

impl Client {
    pub fn new(config: &ElasticsearchConfig, metrics: Metrics) -> Result<Client> {
        if config.addresses.is_empty() {
            bail!("Addresses is empty: name at least one Elasticsearch address");
        }
        let auth = &config.authentication;
        let tls = &auth.tls;
        let urls = config
            .addresses
            .iter()
            .map(|a| bulk_url(a, tls.enabled))
            .collect::<Result<Vec<_>>>()?;
        let authorization = if !auth.api_key.trim().is_empty() {
            Some(format!("ApiKey {}", auth.api_key.trim()))
        } else if !auth.plain_text.username.is_empty() {
            let pair = format!("{}:{}", auth.plain_text.username, auth.plain_text.password);
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        } else {
            None
        };
        let authorization = authorization
            .map(|v| {
                let mut v =
                    HeaderValue::from_str(&v).context("Authentication: the credentials are not valid header text")?;
                v.set_sensitive(true);
                anyhow::Ok(v)
            })
            .transpose()?;
        let min_version = match tls.min_version.trim() {
            "1.0" | "1.1" => "1.2",
            v => v,
        };
        match tls.max_version.trim() {
            "" | "1.3" => {}
            other => bail!("Authentication.TLS.MaxVersion {other:?}: only 1.3 (or empty) is supported"),
        }
        let tls_config = loong_http_client::client_config(&loong_http_client::TlsConfig {
            ca_file: tls.ca_file.clone(),
            cert_file: tls.cert_file.clone(),
            key_file: tls.key_file.clone(),
            server_name: tls.server_name.clone(),
            insecure_skip_verify: tls.insecure_skip_verify,
            min_version: min_version.to_owned(),
        })
        .context("Authentication.TLS")?;
        let http = &config.http_config;
        let mut builder = reqwest::Client::builder()
            .timeout(http.timeout.get())
            .pool_max_idle_per_host(http.max_idle_conns_per_host.max(0) as usize)
            .pool_idle_timeout(http.idle_conn_timeout.get())
            .use_preconfigured_tls(tls_config)
            .no_proxy();
        if let Some(t) = parse_timeout(&http.response_header_timeout)? {
            builder = builder.read_timeout(t);
        }
        Ok(Client {
            http: builder.build().context("creating the HTTP client")?,
            urls,
            next: AtomicUsize::new(0),
            authorization,
            metrics,
        })
    }

    /// Sends one bulk body. The address is the next in turn; on a connection error the next
    /// addresses are tried at once, each once.
    pub async fn bulk(&self, body: Bytes, items: usize) -> Answer {
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last_error = String::new();
        for i in 0..self.urls.len() {
            let url = &self.urls[(first + i) % self.urls.len()];
            let mut request = self
                .http
                .post(url.clone())
                .header(http::header::CONTENT_TYPE, "application/x-ndjson")
                .body(body.clone());
            if let Some(auth) = &self.authorization {
                request = request.header(http::header::AUTHORIZATION, auth.clone());
            }
            let start = Instant::now();
            let result = request.send().await;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    self.metrics.latency.record(start.elapsed().as_secs_f64());
                    self.metrics.transport_errors.increment(1);
                    let connect = e.is_connect();
                    last_error = describe(e);
                    if connect {
                        // Nothing reached this node: the next one may take it now.
                        if i + 1 < self.urls.len() {
                            self.next.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    return Answer::Retry {
                        error: last_error,
                        after: None,
                    };
                }
            };
            let status = response.status();
            let retry_after = loong_http_client::retry_after(response.headers());
            let text = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    self.metrics.transport_errors.increment(1);
                    return Answer::Retry {
                        error: format!("reading the answer: {}", describe(e)),
                        after: None,
                    };
                }
            };
            self.metrics.latency.record(start.elapsed().as_secs_f64());
            let detail = || {
                format!(
                    "status {status}: {}",
                    String::from_utf8_lossy(&text[..text.len().min(512)])
                )
            };
            return match status.as_u16() {
                200..=299 => {
                    self.metrics.requests_2xx.increment(1);
                    self.metrics.sent_bytes.increment(body.len() as u64);
                    match parse_items(&text, items) {
                        Ok(items) => Answer::Items(items),
                        Err(e) => Answer::Retry {
                            error: format!("{e:#}"),
                            after: None,
                        },
                    }
                }
                413 => {
                    self.metrics.requests_4xx.increment(1);
                    Answer::TooLarge(detail())
                }
                401 | 403 | 408 | 429 => {
                    self.metrics.requests_4xx.increment(1);
                    Answer::Retry {
                        error: detail(),
                        after: retry_after,
                    }
                }
                400..=499 => {
                    self.metrics.requests_4xx.increment(1);
                    Answer::Reject(detail())
                }
                500..=599 => {
                    self.metrics.requests_5xx.increment(1);
                    Answer::Retry {
                        error: detail(),
                        after: retry_after,
                    }
                }
                _ => {
                    self.metrics.requests_other.increment(1);
                    Answer::Retry {
                        error: detail(),
                        after: retry_after,
                    }
                }
            };
        }
        Answer::Retry {
            error: last_error,
            after: None,
        }
    }
}

#[derive(Deserialize)]
struct Summary {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Full {
    items: Vec<std::collections::HashMap<String, ItemResult>>,
}

#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// The status of each item of a 200 answer. Without `errors: true` every item succeeded (the items
/// are then not decoded one by one).
pub fn parse_items(body: &[u8], sent: usize) -> Result<Vec<(u16, Option<String>)>> {
    let summary: Summary = serde_json::from_slice(body).context("the _bulk answer is not the expected JSON")?;
    if summary.items.is_none() {
        bail!("the _bulk answer has no items");
    }
    if !summary.errors {
        return Ok(vec![(201, None); sent]);
    }
    let full: Full = serde_json::from_slice(body).context("the _bulk answer's items are not the expected JSON")?;
    if full.items.len() != sent {
        bail!("the _bulk answer has {} items for {sent} documents", full.items.len());
    }
    Ok(full
        .items
        .into_iter()
        .map(|item| {
            let result = item.into_values().next();
            match result {
                Some(r) => {
                    let reason = r.error.map(|e| match (e.get("type"), e.get("reason")) {
                        (Some(t), Some(r)) => {
                            format!("{}: {}", t.as_str().unwrap_or_default(), r.as_str().unwrap_or_default())
                        }
                        _ => e.to_string(),
                    });
                    (r.status, reason)
                }
                None => (500, Some("empty item in the _bulk answer".to_owned())),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_timeouts() {
        assert_eq!(
            bulk_url("http://a:9200", false).unwrap().as_str(),
            "http://a:9200/_bulk"
        );
        assert_eq!(
            bulk_url("a:9200/es/", false).unwrap().as_str(),
            "http://a:9200/es/_bulk"
        );
        assert_eq!(bulk_url("a:9200", true).unwrap().as_str(), "https://a:9200/_bulk");
        assert!(
            bulk_url("ftp://a", false)
                .unwrap_err()
                .to_string()
                .contains("http or https")
        );
        assert_eq!(parse_timeout("Second").unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(parse_timeout("2m").unwrap(), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("").unwrap(), None);
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn item_statuses() {
        let ok = br#"{"took":3,"errors":false,"items":[{"index":{"status":201}},{"index":{"status":201}}]}"#;
        assert_eq!(parse_items(ok, 2).unwrap(), vec![(201, None), (201, None)]);
        let mixed = br#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"a","status":201}},
            {"index":{"_index":"a","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"_index":"a","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}"#;
        let got = parse_items(mixed, 3).unwrap();
        assert_eq!(got[0], (201, None));
        assert_eq!(
            got[1],
            (429, Some("es_rejected_execution_exception: queue full".into()))
        );
        assert_eq!(got[2].0, 400);
        assert!(parse_items(mixed, 2).unwrap_err().to_string().contains("3 items for 2"));
        assert!(parse_items(b"{}", 1).is_err());
        assert!(parse_items(b"<html>", 1).is_err());
    }
}
