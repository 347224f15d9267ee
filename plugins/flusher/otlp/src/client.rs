//! Sending one encoded OTLP export request to one signal's endpoint, over gRPC (tonic) or HTTP
//! (reqwest), with the retry rules of the options' documentation.

use std::io::Write as _;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::{BufMut as _, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::Code;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::Channel;

use crate::config::RetryConfig;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Logs,
    Metrics,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Logs, Signal::Metrics, Signal::Traces];

    pub fn name(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }

    /// OTLP/HTTP's default path.
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
            Signal::Traces => "/v1/traces",
        }
    }

    /// The gRPC method (as in the generated `*ServiceClient::export`).
    fn grpc_path(self) -> &'static str {
        match self {
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        }
    }
}

/// What a receiver said about a request it accepted: items it rejected in a partial success.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub rejected: i64,
    pub message: String,
}

/// What became of one request.
#[derive(Debug)]
pub enum Outcome {
    Sent(Accepted),
    /// Refused with an answer no retry can change (gRPC `INVALID_ARGUMENT`, HTTP 400…).
    Rejected(String),
    /// Still failing after the retries.
    Failed(String),
}

enum Attempt {
    Ok(Accepted),
    Retry { error: String, after: Option<Duration> },
    Reject(String),
}

pub enum Transport {
    Grpc {
        channel: Channel,
        metadata: MetadataMap,
    },
    Http {
        client: reqwest::Client,
        url: reqwest::Url,
        headers: http::HeaderMap,
    },
}

pub struct Metrics {
    pub ok: metrics::Counter,
    pub rejected_requests: metrics::Counter,
    pub failed_attempts: metrics::Counter,
    pub retries: metrics::Counter,
    pub sent_items: metrics::Counter,
    pub sent_bytes: metrics::Counter,
    pub rejected_items: metrics::Counter,
    pub latency: metrics::Histogram,
}

impl Metrics {
    pub fn new(ctx: &loong_api::Context, signal: Signal) -> Self {
        let m = ctx.metrics();
        let s = ("signal", signal.name());
        let outcome = |o: &str| m.counter_with("otlp_requests_total", &[s, ("outcome", o)]);
        Metrics {
            ok: outcome("ok"),
            rejected_requests: outcome("rejected"),
            failed_attempts: outcome("failed"),
            retries: m.counter_with("otlp_retries_total", &[s]),
            sent_items: m.counter_with("otlp_sent_items_total", &[s]),
            sent_bytes: m.counter_with("otlp_sent_bytes_total", &[s]),
            rejected_items: m.counter_with("otlp_rejected_items_total", &[s]),
            latency: metrics::histogram!(
                "otlp_request_duration_seconds",
                m.labels()
                    .iter()
                    .map(|(k, v)| metrics::Label::new(k.clone(), v.clone()))
                    .chain([metrics::Label::new("signal", signal.name())])
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// One signal's endpoint.
pub struct Sender {
    pub signal: Signal,
    pub transport: Transport,
    pub gzip: bool,
    pub retry: RetryConfig,
    pub urgent: Arc<AtomicBool>,
    pub metrics: Metrics,
}

/// `headers` as HTTP headers and as gRPC metadata. Errors name the header, never its value.
pub fn parse_headers(headers: &[(String, String)]) -> Result<(http::HeaderMap, MetadataMap)> {
    let mut map = http::HeaderMap::new();
    let mut md = MetadataMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes()).with_context(|| format!("header name {k:?}"))?;
        let value = http::HeaderValue::from_str(v).with_context(|| format!("the value of header {k}"))?;
        map.insert(name, value);
        if k.to_ascii_lowercase().ends_with("-bin") {
            bail!("header {k}: binary (-bin) gRPC metadata is not supported");
        }
        let key = AsciiMetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .with_context(|| format!("metadata name {k:?}"))?;
        let value = AsciiMetadataValue::try_from(v.as_str()).with_context(|| format!("the value of header {k}"))?;
        md.insert(key, value);
    }
    Ok((map, md))
}

impl Sender {
    /// Sends `body` (an encoded `Export*ServiceRequest` of `items` items) until it is accepted,
    /// rejected, or the retries run out.
    pub async fn send(&self, body: Bytes, items: u64) -> Outcome {
        let wire = if self.gzip && matches!(self.transport, Transport::Http { .. }) {
            let mut gz =
                flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), flate2::Compression::fast());
            match gz.write_all(&body).and_then(|()| gz.finish()) {
                Ok(v) => Bytes::from(v),
                Err(e) => return Outcome::Failed(format!("gzip: {e}")),
            }
        } else {
            body.clone()
        };
        let mut retries = 0u32;
        loop {
            let start = Instant::now();
            let attempt = match &self.transport {
                Transport::Grpc { channel, metadata } => self.grpc(channel, metadata, wire.clone()).await,
                Transport::Http { client, url, headers } => self.http(client, url, headers, wire.clone()).await,
            };
            self.metrics.latency.record(start.elapsed().as_secs_f64());
            match attempt {
                Attempt::Ok(accepted) => {
                    self.metrics.ok.increment(1);
                    self.metrics.sent_bytes.increment(body.len() as u64);
                    let rejected = accepted.rejected.clamp(0, items as i64) as u64;
                    self.metrics.sent_items.increment(items - rejected);
                    self.metrics.rejected_items.increment(rejected);
                    return Outcome::Sent(accepted);
                }
                Attempt::Reject(e) => {
                    self.metrics.rejected_requests.increment(1);
                    self.metrics.rejected_items.increment(items);
                    return Outcome::Rejected(e);
                }
                Attempt::Retry { error, after } => {
                    self.metrics.failed_attempts.increment(1);
                    if !self.retry.enable || retries >= self.retry.max_count {
                        return Outcome::Failed(error);
                    }
                    let mut delay = after.unwrap_or_else(|| self.retry.default_delay.get());
                    if self.urgent.load(Ordering::Relaxed) {
                        delay = delay.min(Duration::from_millis(500));
                    }
                    retries += 1;
                    self.metrics.retries.increment(1);
                    tracing::debug!(signal = self.signal.name(), retry = retries, ?delay, %error, "flusher_otlp: retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn grpc(&self, channel: &Channel, metadata: &MetadataMap, body: Bytes) -> Attempt {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc = grpc.accept_compressed(CompressionEncoding::Gzip);
        if let Err(e) = grpc.ready().await {
            return Attempt::Retry {
                error: format!("connecting: {}", chain(&e)),
                after: None,
            };
        }
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = metadata.clone();
        let path = http::uri::PathAndQuery::from_static(self.signal.grpc_path());
        let result = match self.signal {
            Signal::Logs => grpc
                .unary(request, path, RawCodec::<ExportLogsServiceResponse>::default())
                .await
                .map(|r| {
                    let p = r.into_inner().partial_success.unwrap_or_default();
                    Accepted {
                        rejected: p.rejected_log_records,
                        message: p.error_message,
                    }
                }),
            Signal::Metrics => grpc
                .unary(request, path, RawCodec::<ExportMetricsServiceResponse>::default())
                .await
                .map(|r| {
                    let p = r.into_inner().partial_success.unwrap_or_default();
                    Accepted {
                        rejected: p.rejected_data_points,
                        message: p.error_message,
                    }
                }),
            Signal::Traces => grpc
                .unary(request, path, RawCodec::<ExportTraceServiceResponse>::default())
                .await
                .map(|r| {
                    let p = r.into_inner().partial_success.unwrap_or_default();
                    Accepted {
                        rejected: p.rejected_spans,
                        message: p.error_message,
                    }
                }),
        };
        match result {
            Ok(accepted) => Attempt::Ok(accepted),
            Err(status) => {
                let error = format!("gRPC status {:?}: {}", status.code(), status.message());
                match status.code() {
                    Code::InvalidArgument
                    | Code::NotFound
                    | Code::AlreadyExists
                    | Code::FailedPrecondition
                    | Code::Unimplemented => Attempt::Reject(error),
                    _ => Attempt::Retry { error, after: None },
                }
            }
        }
    }

    async fn http(
        &self,
        client: &reqwest::Client,
        url: &reqwest::Url,
        headers: &http::HeaderMap,
        body: Bytes,
    ) -> Attempt {
        let mut request = client
            .post(url.clone())
            .headers(headers.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf");
        if self.gzip {
            request = request.header(http::header::CONTENT_ENCODING, "gzip");
        }
        let response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    error: describe(e),
                    after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = loong_http_client::retry_after(response.headers());
        let json = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = response.bytes().await.unwrap_or_default();
        let detail = || {
            format!(
                "HTTP status {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(256)])
            )
        };
        match status.as_u16() {
            200..=299 => Attempt::Ok(partial_success(self.signal, &body, json)),
            401 | 403 | 408 | 429 | 500..=599 => Attempt::Retry {
                error: detail(),
                after: retry_after,
            },
            _ => Attempt::Reject(detail()),
        }
    }
}

/// The partial success of an OTLP/HTTP answer; an empty or undecodable body is a full success.
fn partial_success(signal: Signal, body: &[u8], json: bool) -> Accepted {
    use prost::Message as _;
    if body.is_empty() {
        return Accepted::default();
    }
    if json {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let p = &v["partialSuccess"];
        let key = match signal {
            Signal::Logs => "rejectedLogRecords",
            Signal::Metrics => "rejectedDataPoints",
            Signal::Traces => "rejectedSpans",
        };
        let rejected = match &p[key] {
            serde_json::Value::String(s) => s.parse().unwrap_or(0),
            v => v.as_i64().unwrap_or(0),
        };
        return Accepted {
            rejected,
            message: p["errorMessage"].as_str().unwrap_or_default().to_owned(),
        };
    }
    let (rejected, message) = match signal {
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_log_records, p.error_message)),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_data_points, p.error_message)),
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_spans, p.error_message)),
    }
    .unwrap_or_default();
    Accepted { rejected, message }
}

/// An error with its causes, which tonic and reqwest keep out of their own text.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A transport error without the URL (it may carry credentials).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "sending failed"
    };
    format!("{kind}: {}", chain(&e.without_url()))
}

/// A gRPC codec that sends an already encoded request (so a retry does not re-encode or copy the
/// message) and decodes the answer with prost.
struct RawCodec<R>(PhantomData<R>);

impl<R> Default for RawCodec<R> {
    fn default() -> Self {
        RawCodec(PhantomData)
    }
}

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

struct ProstDecoder<R>(PhantomData<R>);

impl<R: prost::Message + Default> Decoder for ProstDecoder<R> {
    type Item = R;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, tonic::Status> {
        R::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("decoding the answer: {e}")))
    }
}

impl<R: prost::Message + Default + Send + 'static> Codec for RawCodec<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = RawEncoder;
    type Decoder = ProstDecoder<R>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> ProstDecoder<R> {
        ProstDecoder(PhantomData)
    }
}
