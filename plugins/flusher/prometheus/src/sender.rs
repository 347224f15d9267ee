//! Sending one remote write request with its retries: 2xx is success; 5xx, 401, 403, 408, 429
//! (honouring `Retry-After`), timeouts and connection errors are retried; any other status (400 for
//! out-of-order or duplicate samples, 413…) is a rejection that no retry can fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use loong_api::Extension;

use loong_http_client::{RetryConfig, describe};

/// What became of one request.
#[derive(Debug)]
pub enum Outcome {
    Sent,
    /// The server refused it with a status no retry can fix.
    Rejected(String),
    /// Still failing after the retries.
    Failed(String),
}

/// A request ready to be sent (again).
pub struct Prepared {
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    /// Snappy-compressed `WriteRequest`.
    pub body: Bytes,
}

pub struct Sender {
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
    pub sent_bytes: metrics::Counter,
    pub sent_samples: metrics::Counter,
    pub rejected_samples: metrics::Counter,
    pub skipped_events: metrics::Counter,
    pub latency: metrics::Histogram,
}

impl Metrics {
    pub fn new(ctx: &loong_api::Context) -> Self {
        let m = ctx.metrics();
        let class = |c: &str| m.counter_with("prometheus_requests_total", &[("status_class", c)]);
        Metrics {
            requests_2xx: class("2xx"),
            requests_4xx: class("4xx"),
            requests_5xx: class("5xx"),
            requests_other: class("other"),
            transport_errors: m.counter("prometheus_transport_errors_total"),
            retries: m.counter("prometheus_retries_total"),
            sent_bytes: m.counter("prometheus_sent_bytes_total"),
            sent_samples: m.counter("prometheus_sent_samples_total"),
            rejected_samples: m.counter("prometheus_rejected_samples_total"),
            skipped_events: m.counter("prometheus_skipped_events_total"),
            latency: m.histogram("prometheus_request_duration_seconds"),
        }
    }
}

enum Attempt {
    Ok,
    Retry { error: String, after: Option<Duration> },
    Reject(String),
}

impl Sender {
    pub async fn send(&self, prepared: &Prepared) -> Outcome {
        let mut retries = 0u32;
        loop {
            match self.attempt(prepared).await {
                Attempt::Ok => return Outcome::Sent,
                Attempt::Reject(e) => return Outcome::Rejected(e),
                Attempt::Retry { error, after } => {
                    if !self.retry.enable || retries >= self.retry.max_retry_times {
                        return Outcome::Failed(error);
                    }
                    let delay = after.unwrap_or_else(|| self.retry.delay(retries));
                    let delay = if self.urgent.load(Ordering::Relaxed) {
                        delay.min(Duration::from_millis(500))
                    } else {
                        delay
                    };
                    retries += 1;
                    self.metrics.retries.increment(1);
                    tracing::debug!(retry = retries, ?delay, %error, "flusher_prometheus: retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
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
        if let Some(a) = self.authenticator.as_ref().and_then(|a| a.as_client_authenticator())
            && let Err(e) = a.authenticate(&mut parts)
        {
            return Attempt::Retry {
                error: format!("authenticator: {e:#}"),
                after: None,
            };
        }
        for i in self.interceptors.iter().filter_map(|e| e.as_request_interceptor()) {
            if let Err(e) = i.before_request(&mut parts) {
                return Attempt::Retry {
                    error: format!("request interceptor: {e:#}"),
                    after: None,
                };
            }
        }
        let request = match reqwest::Request::try_from(http::Request::from_parts(parts, body)) {
            Ok(r) => r,
            Err(e) => return Attempt::Reject(format!("building the request: {}", e.without_url())),
        };
        let start = Instant::now();
        let result = self.client.execute(request).await;
        self.metrics.latency.record(start.elapsed().as_secs_f64());
        let notify = |status: Option<http::StatusCode>| {
            for i in self.interceptors.iter().filter_map(|e| e.as_request_interceptor()) {
                i.after_response(status);
            }
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                notify(None);
                self.metrics.transport_errors.increment(1);
                return Attempt::Retry {
                    error: describe(e),
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
                String::from_utf8_lossy(&body[..body.len().min(512)]).trim_end()
            )
        };
        match status.as_u16() {
            200..=299 => {
                self.metrics.requests_2xx.increment(1);
                self.metrics.sent_bytes.increment(prepared.body.len() as u64);
                Attempt::Ok
            }
            500..=599 => {
                self.metrics.requests_5xx.increment(1);
                Attempt::Retry {
                    error: detail(),
                    after: retry_after,
                }
            }
            401 | 403 | 408 | 429 => {
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
