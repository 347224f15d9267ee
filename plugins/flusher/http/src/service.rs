//! Sending one prepared request with LoongCollector's retry rules: 2xx is success; 5xx, 401, 403,
//! 429 (honouring `Retry-After`), timeouts and connection errors are retried; any other status is a
//! rejection that no retry can fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loong_api::Extension;

use crate::request_builder::Prepared;
use loong_http_client::RetryConfig;

/// What became of one payload.
#[derive(Debug)]
pub enum Outcome {
    Sent,
    /// The server refused it with a status no retry can fix (a 400, say).
    Rejected(String),
    /// Still failing after the retries.
    Failed(String),
}

pub struct Service {
    pub client: reqwest::Client,
    pub retry: RetryConfig,
    pub authenticator: Option<Arc<dyn Extension>>,
    pub interceptors: Vec<Arc<dyn Extension>>,
    pub urgent: Arc<AtomicBool>,
    pub metrics: Metrics,
}

pub struct Metrics {
    pub requests_2xx: metrics::Counter,
    pub requests_4xx: metrics::Counter,
    pub requests_5xx: metrics::Counter,
    pub requests_other: metrics::Counter,
    pub transport_errors: metrics::Counter,
    pub retries: metrics::Counter,
    pub bytes_raw: metrics::Counter,
    pub bytes_sent: metrics::Counter,
    pub latency: metrics::Histogram,
    pub rejected: metrics::Counter,
}

impl Metrics {
    pub fn new(ctx: &loong_api::Context) -> Self {
        let m = ctx.metrics();
        let class = |c: &str| m.counter_with("http_requests_total", &[("status_class", c)]);
        Metrics {
            requests_2xx: class("2xx"),
            requests_4xx: class("4xx"),
            requests_5xx: class("5xx"),
            requests_other: class("other"),
            transport_errors: m.counter("http_transport_errors_total"),
            retries: m.counter("http_retries_total"),
            bytes_raw: m.counter("http_body_bytes_total"),
            bytes_sent: m.counter("http_sent_bytes_total"),
            latency: m.histogram("http_request_duration_seconds"),
            rejected: m.counter("http_rejected_payloads_total"),
        }
    }
}

enum Attempt {
    Ok,
    Retry { error: String, after: Option<Duration> },
    Reject(String),
}

impl Service {
    pub async fn send(&self, prepared: &Prepared) -> Outcome {
        let mut retries = 0u32;
        loop {
            let attempt = self.attempt(prepared).await;
            match attempt {
                Attempt::Ok => return Outcome::Sent,
                Attempt::Reject(e) => {
                    self.metrics.rejected.increment(1);
                    return Outcome::Rejected(e);
                }
                Attempt::Retry { error, after } => {
                    if !self.retry.enable || retries >= self.retry.max_retry_times {
                        return Outcome::Failed(error);
                    }
                    let delay = after.unwrap_or_else(|| self.backoff(retries));
                    let delay = if self.urgent.load(Ordering::Relaxed) {
                        delay.min(Duration::from_millis(500))
                    } else {
                        delay
                    };
                    retries += 1;
                    self.metrics.retries.increment(1);
                    tracing::debug!(retry = retries, ?delay, %error, "http flusher: retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// `min(initial·2^i, max)`, jittered in `[d/2, d]` (LoongCollector's formula).
    fn backoff(&self, retry: u32) -> Duration {
        self.retry.delay(retry)
    }

    async fn attempt(&self, prepared: &Prepared) -> Attempt {
        let mut builder = http::Request::builder()
            .method(http::Method::POST)
            .uri(prepared.url.as_str());
        if let Some(h) = builder.headers_mut() {
            h.extend(prepared.headers.clone());
        }
        let request = builder
            .body(prepared.body.clone())
            .expect("URL and headers were validated");
        let (mut parts, body) = request.into_parts();
        if let Some(auth) = &self.authenticator
            && let Some(a) = auth.as_client_authenticator()
            && let Err(e) = a.authenticate(&mut parts)
        {
            return Attempt::Retry {
                error: format!("authenticator: {e:#}"),
                after: None,
            };
        }
        for ext in &self.interceptors {
            if let Some(i) = ext.as_request_interceptor()
                && let Err(e) = i.before_request(&mut parts)
            {
                return Attempt::Retry {
                    error: format!("request interceptor: {e:#}"),
                    after: None,
                };
            }
        }
        let request = match reqwest::Request::try_from(http::Request::from_parts(parts, body)) {
            Ok(r) => r,
            Err(e) => return Attempt::Reject(format!("building the request: {e}")),
        };
        let start = Instant::now();
        let result = self.client.execute(request).await;
        self.metrics.latency.record(start.elapsed().as_secs_f64());
        let notify = |status: Option<http::StatusCode>| {
            for ext in &self.interceptors {
                if let Some(i) = ext.as_request_interceptor() {
                    i.after_response(status);
                }
            }
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                notify(None);
                self.metrics.transport_errors.increment(1);
                // Redact the URL: it may carry credentials in its query.
                return Attempt::Retry {
                    error: loong_http_client::describe(e),
                    after: None,
                };
            }
        };
        let status = response.status();
        notify(Some(status));
        let retry_after = loong_http_client::retry_after(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let detail = || {
            format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(256)])
            )
        };
        match status.as_u16() {
            200..=299 => {
                self.metrics.requests_2xx.increment(1);
                self.metrics.bytes_raw.increment(prepared.raw_len as u64);
                self.metrics.bytes_sent.increment(prepared.body.len() as u64);
                Attempt::Ok
            }
            500..=599 => {
                self.metrics.requests_5xx.increment(1);
                Attempt::Retry {
                    error: detail(),
                    after: retry_after,
                }
            }
            401 | 403 | 429 => {
                self.metrics.requests_4xx.increment(1);
                Attempt::Retry {
                    error: detail(),
                    after: retry_after,
                }
            }
            400..=499 => {
                self.metrics.requests_4xx.increment(1);
                Attempt::Reject(detail())
            }
            _ => {
                self.metrics.requests_other.increment(1);
                Attempt::Reject(detail())
            }
        }
    }
}
