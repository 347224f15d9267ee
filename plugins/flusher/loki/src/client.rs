//! Sending one push with retries, as Loki's clients do: 2xx is success; 429, 5xx (and 401, 403,
//! 408, timeouts, connection errors: retrying them keeps the data) are retried with backoff; any
//! other status is a rejection no retry can fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue};
use loong_http_client::describe;

use crate::config::LokiConfig;
use crate::push::{Format, Prepared};

/// What became of one push.
#[derive(Debug)]
pub enum Outcome {
    Sent,
    /// Loki refused (some of) the entries for good; `entries` is how many it ignored.
    Rejected {
        entries: usize,
        detail: String,
    },
    /// Still failing after the attempts.
    Failed(String),
}

pub struct Metrics {
    pub pushes_2xx: metrics::Counter,
    pub pushes_4xx: metrics::Counter,
    pub pushes_5xx: metrics::Counter,
    pub pushes_other: metrics::Counter,
    pub transport_errors: metrics::Counter,
    pub retries: metrics::Counter,
    pub sent_bytes: metrics::Counter,
    pub entries_sent: metrics::Counter,
    pub rejected: metrics::Counter,
    pub latency: metrics::Histogram,
}

impl Metrics {
    pub fn new(ctx: &loong_api::Context) -> Self {
        let m = ctx.metrics();
        let class = |c: &str| m.counter_with("loki_pushes_total", &[("status_class", c)]);
        Metrics {
            pushes_2xx: class("2xx"),
            pushes_4xx: class("4xx"),
            pushes_5xx: class("5xx"),
            pushes_other: class("other"),
            transport_errors: m.counter("loki_transport_errors_total"),
            retries: m.counter("loki_retries_total"),
            sent_bytes: m.counter("loki_sent_bytes_total"),
            entries_sent: m.counter("loki_entries_sent_total"),
            rejected: m.counter("loki_rejected_entries_total"),
            latency: m.histogram("loki_push_duration_seconds"),
        }
    }
}

pub struct Pusher {
    http: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    min_backoff: Duration,
    max_backoff: Duration,
    attempts: u32,
    pub urgent: Arc<AtomicBool>,
    pub metrics: Metrics,
}

enum Attempt {
    Ok,
    Retry { error: String, after: Option<Duration> },
    Reject { entries: usize, detail: String },
}

/// Entries Loki says it ignored: the sum of every `total ignored: N out of M` in its answer.
pub fn ignored_entries(body: &str) -> Option<usize> {
    let mut total = None;
    let mut rest = body;
    while let Some(at) = rest.find("total ignored: ") {
        rest = &rest[at + "total ignored: ".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            *total.get_or_insert(0) += n;
        }
    }
    total
}

fn tls_version(v: &str) -> &str {
    match v.trim().to_ascii_uppercase().as_str() {
        "TLS10" | "TLS11" | "TLS12" => "1.2",
        "TLS13" => "1.3",
        _ => v.trim(),
    }
}

impl Pusher {
    pub fn new(config: &LokiConfig, format: Format, urgent: Arc<AtomicBool>, metrics: Metrics) -> Result<Pusher> {
        if config.url.trim().is_empty() {
            bail!("URL is empty");
        }
        // The URL is not quoted in errors: it may carry credentials.
        let url = reqwest::Url::parse(config.url.trim()).context("URL is not a valid URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("URL must be http or https, not {}", url.scheme());
        }
        let cc = &config.client_config;
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("loong-rs/", env!("CARGO_PKG_VERSION"))),
        );
        if !config.tenant_id.is_empty() {
            headers.insert(
                "x-scope-orgid",
                HeaderValue::from_str(&config.tenant_id).context("TenantID is not valid header text")?,
            );
        }
        let authorization = if !cc.basic_auth.username.is_empty() {
            let pair = format!("{}:{}", cc.basic_auth.username, cc.basic_auth.password);
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        } else if !cc.bearer_token.is_empty() {
            Some(format!("Bearer {}", cc.bearer_token))
        } else {
            None
        };
        if let Some(auth) = authorization {
            let mut v =
                HeaderValue::from_str(&auth).context("ClientConfig: the credentials are not valid header text")?;
            v.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, v);
        }
        let tls = &cc.tls_config;
        let tls = loong_http_client::client_config(&loong_http_client::TlsConfig {
            ca_file: tls.ca_file.clone(),
            cert_file: tls.cert_file.clone(),
            key_file: tls.key_file.clone(),
            server_name: tls.server_name.clone(),
            insecure_skip_verify: tls.insecure_skip_verify,
            min_version: tls_version(&tls.min_version).to_owned(),
        })
        .context("ClientConfig.tls_config")?;
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout.get())
            .use_preconfigured_tls(tls);
        builder = match cc.proxy_url.trim() {
            "" => builder.no_proxy(),
            proxy => builder.proxy(reqwest::Proxy::all(proxy).context("ClientConfig.proxy_url")?),
        };
        Ok(Pusher {
            http: builder.build().context("creating the HTTP client")?,
            url,
            headers,
            min_backoff: config.min_backoff.get(),
            max_backoff: config.max_backoff.get().max(config.min_backoff.get()),
            attempts: config.max_retries.clamp(1, i64::from(u32::MAX)) as u32,
            urgent,
            metrics,
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let (mut min, mut max) = (self.min_backoff, self.max_backoff);
        if self.urgent.load(Ordering::Relaxed) {
            let cap = Duration::from_millis(500);
            (min, max) = (min.min(cap), max.min(cap));
        }
        loong_http_client::backoff(min, max, attempt.saturating_sub(1))
    }

    pub async fn push(&self, push: &Prepared) -> Outcome {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.attempt(push).await {
                Attempt::Ok => return Outcome::Sent,
                Attempt::Reject { entries, detail } => return Outcome::Rejected { entries, detail },
                Attempt::Retry { error, after } => {
                    if attempt >= self.attempts {
                        return Outcome::Failed(error);
                    }
                    let delay = match after {
                        Some(d) if self.urgent.load(Ordering::Relaxed) => d.min(Duration::from_millis(500)),
                        Some(d) => d,
                        None => self.backoff(attempt),
                    };
                    self.metrics.retries.increment(1);
                    tracing::debug!(attempt, ?delay, %error, "flusher_loki: retrying a push");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(&self, push: &Prepared) -> Attempt {
        let start = Instant::now();
        let result = self
            .http
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(push.body.clone())
            .send()
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                self.metrics.latency.record(start.elapsed().as_secs_f64());
                self.metrics.transport_errors.increment(1);
                return Attempt::Retry {
                    error: describe(e),
                    after: None,
                };
            }
        };
        let status = response.status();
        let after = loong_http_client::retry_after(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        self.metrics.latency.record(start.elapsed().as_secs_f64());
        let text = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
        let detail = || format!("status {status}: {}", text.trim());
        match status.as_u16() {
            200..=299 => {
                self.metrics.pushes_2xx.increment(1);
                self.metrics.sent_bytes.increment(push.body.len() as u64);
                self.metrics.entries_sent.increment(push.entries as u64);
                Attempt::Ok
            }
            401 | 403 | 408 | 429 => {
                self.metrics.pushes_4xx.increment(1);
                Attempt::Retry { error: detail(), after }
            }
            400..=499 => {
                self.metrics.pushes_4xx.increment(1);
                let entries = ignored_entries(&text).unwrap_or(push.entries).min(push.entries);
                self.metrics.entries_sent.increment((push.entries - entries) as u64);
                Attempt::Reject {
                    entries,
                    detail: detail(),
                }
            }
            500..=599 => {
                self.metrics.pushes_5xx.increment(1);
                Attempt::Retry { error: detail(), after }
            }
            _ => {
                self.metrics.pushes_other.increment(1);
                Attempt::Retry { error: detail(), after }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_entries_are_summed_from_loki_s_answer() {
        let body = "entry with timestamp 2023-11-14 22:13:20 +0000 UTC ignored, reason: 'entry out of order',\n\
                    user 'fake', total ignored: 2 out of 5 for stream: {job=\"a\"}\n\
                    user 'fake', total ignored: 1 out of 1 for stream: {job=\"b\"}";
        assert_eq!(ignored_entries(body), Some(3));
        assert_eq!(
            ignored_entries("error at least one label pair is required per stream"),
            None
        );
        assert_eq!(tls_version("TLS13"), "1.3");
    }
}
