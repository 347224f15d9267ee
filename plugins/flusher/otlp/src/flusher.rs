use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::Bytes;
use loong_api::{BatchKey, Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents};
use loong_http_client::{Progress, send_all};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::sync::Semaphore;

use crate::client::{Metrics, Outcome, Sender, Signal, Transport, parse_headers};
use crate::config::{OtlpConfig, SignalConfig};
use crate::convert::{self, Batch, Enabled};

/// Requests of one flush in flight at once.
const CONCURRENCY: usize = 4;

pub struct OtlpFlusher {
    config: OtlpConfig,
    running: Option<Running>,
    urgent: Arc<AtomicBool>,
    /// Which requests of the batch being retried were already accepted, so a retry sends the rest.
    progress: Option<Progress>,
}

struct Running {
    runtime: tokio::runtime::Handle,
    /// Logs, metrics, traces; `None` for a signal without an endpoint.
    senders: [Option<Arc<Sender>>; 3],
    dropped: [metrics::Counter; 3],
    warned: [AtomicBool; 3],
    max_bytes: usize,
    slots: Arc<Semaphore>,
}

/// One encoded export request.
struct Request {
    signal: usize,
    body: Bytes,
    items: u64,
}

fn encode<R: Batch>(
    signal: usize,
    resources: Vec<R>,
    max: usize,
    wrap: impl Fn(Vec<R>) -> Bytes,
    out: &mut Vec<Request>,
) {
    for part in convert::split(resources, max) {
        let items = part.iter().map(Batch::count).sum();
        out.push(Request {
            signal,
            body: wrap(part),
            items,
        });
    }
}

impl OtlpFlusher {
    pub fn new(config: OtlpConfig) -> Self {
        OtlpFlusher {
            config,
            running: None,
            urgent: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }

    fn running(&self) -> Result<&Running> {
        self.running
            .as_ref()
            .ok_or_else(|| anyhow!("flusher_otlp used before init or after stop"))
    }

    fn enabled(&self) -> Result<Enabled> {
        let s = &self.running()?.senders;
        Ok(Enabled {
            logs: s[0].is_some(),
            metrics: s[1].is_some(),
            traces: s[2].is_some(),
        })
    }

    /// Counts (and warns once about) events of signals that have no endpoint.
    fn skip(&self, skipped: [u64; 3]) -> Result<()> {
        let running = self.running()?;
        for (i, n) in skipped.into_iter().enumerate() {
            if n == 0 {
                continue;
            }
            running.dropped[i].increment(n);
            if !running.warned[i].swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    signal = Signal::ALL[i].name(),
                    events = n,
                    "flusher_otlp: no endpoint for this signal; its events are dropped (counted in otlp_dropped_events_total)"
                );
            }
        }
        Ok(())
    }

    fn requests(&self, converted: convert::Converted) -> Result<Vec<Request>> {
        let max = self.running()?.max_bytes;
        let mut out = Vec::new();
        encode(
            0,
            converted.logs,
            max,
            |resource_logs| ExportLogsServiceRequest { resource_logs }.encode_to_vec().into(),
            &mut out,
        );
        encode(
            1,
            converted.metrics,
            max,
            |resource_metrics| ExportMetricsServiceRequest { resource_metrics }.encode_to_vec().into(),
            &mut out,
        );
        encode(
            2,
            converted.spans,
            max,
            |resource_spans| ExportTraceServiceRequest { resource_spans }.encode_to_vec().into(),
            &mut out,
        );
        Ok(out)
    }

    /// Sends every request not yet accepted for this batch; an error if some still failed.
    fn send_all(&mut self, batch: BatchKey, requests: Vec<Request>) -> Result<()> {
        let mut progress = Progress::resume(self.progress.take(), batch, requests.len());
        let running = self.running()?;
        let todo: Vec<_> = requests
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !progress.is_sent(*i))
            .map(|(i, r)| {
                let sender = running.senders[r.signal]
                    .clone()
                    .expect("only enabled signals are converted");
                (i, (sender, r.body, r.items))
            })
            .collect();
        let outcomes = send_all(
            &running.runtime,
            &running.slots,
            todo,
            |(sender, body, items)| async move {
                let outcome = sender.send(body, items).await;
                (sender.signal, outcome)
            },
            "flusher_otlp",
        );
        let mut failed = Vec::new();
        for (i, outcome) in outcomes {
            match outcome {
                Some((signal, Outcome::Sent(accepted))) => {
                    progress.mark_sent(i);
                    if accepted.rejected > 0 || !accepted.message.is_empty() {
                        tracing::warn!(
                            signal = signal.name(),
                            rejected = accepted.rejected,
                            message = %accepted.message,
                            "flusher_otlp: the receiver accepted the request partially"
                        );
                    }
                }
                Some((signal, Outcome::Rejected(e))) => {
                    // No retry can make the receiver accept it; holding the pipeline for it would
                    // stop all delivery. Counted in otlp_rejected_items_total.
                    tracing::error!(signal = signal.name(), error = %e, "flusher_otlp: request rejected by the receiver");
                    progress.mark_sent(i);
                }
                Some((signal, Outcome::Failed(e))) => failed.push(format!("{}: {e}", signal.name())),
                None => failed.push(format!("request {i} was not sent: the runtime stopped")),
            }
        }
        progress.finish(failed, &mut self.progress, "OTLP requests")
    }
}

/// `host:port` → `http://host:port`.
fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    }
}

fn build_sender(
    ctx: &Context,
    signal: Signal,
    grpc: bool,
    endpoint: &str,
    config: &SignalConfig,
    headers: &[(String, String)],
    urgent: Arc<AtomicBool>,
) -> Result<Sender> {
    let gzip = match config.compression.trim().to_ascii_lowercase().as_str() {
        "" | "none" => false,
        "gzip" => true,
        other => bail!("unsupported Compression {other:?} (supported: gzip, none)"),
    };
    let (header_map, metadata) = parse_headers(headers)?;
    let tls = loong_http_client::client_config(&config.tls)?;
    let timeout = config.timeout.get();
    if timeout.is_zero() {
        bail!("Timeout must be more than 0");
    }
    let endpoint = with_scheme(endpoint.trim());
    let transport = if grpc {
        let uri: http::Uri = endpoint.parse().with_context(|| format!("Endpoint {endpoint:?}"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            other => bail!("Endpoint {endpoint:?}: the scheme must be http or https, not {other:?}"),
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            bail!("Endpoint {endpoint:?}: a gRPC endpoint has no path");
        }
        // TLS is ours (the same rustls settings as the HTTP transport), so tonic is built without
        // its own TLS features; with one of them on, tonic would refuse `https` URIs given to a
        // custom connector.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http2()
            .build();
        let _guard = ctx.runtime().enter();
        let channel = tonic::transport::Endpoint::from(uri)
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .connect_with_connector_lazy(connector);
        Transport::Grpc { channel, metadata }
    } else {
        let mut url = reqwest::Url::parse(&endpoint).with_context(|| format!("Endpoint {endpoint:?}"))?;
        match url.scheme() {
            "http" | "https" => {}
            other => bail!("Endpoint {endpoint:?}: the scheme must be http or https, not {other}"),
        }
        if url.path().is_empty() || url.path() == "/" {
            url.set_path(signal.http_path());
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(CONCURRENCY + 1)
            .use_preconfigured_tls(tls)
            .no_proxy()
            .build()
            .context("creating the HTTP client")?;
        Transport::Http {
            client,
            url,
            headers: header_map,
        }
    };
    Ok(Sender {
        signal,
        transport,
        gzip,
        retry: config.retry.clone(),
        urgent,
        metrics: Metrics::new(ctx, signal),
    })
}

impl Flusher for OtlpFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let config = &self.config;
        match config.version.trim() {
            "" | "v1" => {}
            other => bail!("unsupported Version {other:?} (supported: v1)"),
        }
        let grpc = match config.protocol.trim().to_ascii_lowercase().as_str() {
            "" | "grpc" => true,
            "http" | "http/protobuf" => false,
            other => bail!("unsupported Protocol {other:?} (supported: grpc, http)"),
        };
        if config.max_request_bytes < 1024 {
            bail!(
                "MaxRequestBytes must be at least 1024, got {}",
                config.max_request_bytes
            );
        }
        let mut senders: [Option<Arc<Sender>>; 3] = [None, None, None];
        for (i, (signal, section)) in Signal::ALL
            .into_iter()
            .zip([&config.logs, &config.metrics, &config.traces])
            .enumerate()
        {
            let own = section.as_ref().map(|s| s.endpoint.trim()).unwrap_or_default();
            let endpoint = if own.is_empty() { config.endpoint.trim() } else { own };
            if endpoint.is_empty() {
                continue;
            }
            let defaults = SignalConfig::default();
            let settings = section.as_ref().unwrap_or(&defaults);
            let mut headers: Vec<(String, String)> = Vec::new();
            for (k, v) in config.headers.iter().chain(settings.headers.iter()) {
                headers.retain(|(old, _)| !old.eq_ignore_ascii_case(k));
                headers.push((k.clone(), v.clone()));
            }
            let sender = build_sender(ctx, signal, grpc, endpoint, settings, &headers, self.urgent.clone())
                .with_context(|| match signal {
                    Signal::Logs => "Logs",
                    Signal::Metrics => "Metrics",
                    Signal::Traces => "Traces",
                })?;
            senders[i] = Some(Arc::new(sender));
        }
        if senders.iter().all(Option::is_none) {
            bail!("no endpoint: set Endpoint, or Logs/Metrics/Traces.Endpoint");
        }
        let m = ctx.metrics();
        let dropped = Signal::ALL.map(|s| m.counter_with("otlp_dropped_events_total", &[("signal", s.name())]));
        self.running = Some(Running {
            runtime: ctx.runtime().clone(),
            senders,
            dropped,
            warned: Default::default(),
            max_bytes: config.max_request_bytes as usize,
            slots: Arc::new(Semaphore::new(CONCURRENCY)),
        });
        Ok(())
    }

    fn description(&self) -> &str {
        "otlp flusher: sends logs, metrics and traces over OTLP/gRPC or OTLP/HTTP"
    }

    /// Requests are sent inside `flush`/`export`, so nothing queues in the flusher: a slow receiver
    /// holds the flush call, and through the pipeline's bounded queues, the inputs.
    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        self.running.is_some() || self.urgent.load(Ordering::Relaxed)
    }

    fn set_urgent(&mut self, flag: bool) {
        self.urgent.store(flag, Ordering::Relaxed);
    }

    fn stop(&mut self) -> Result<()> {
        self.running = None;
        self.progress = None;
        Ok(())
    }

    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        Some(self)
    }

    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV1 for OtlpFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        let enabled = self.enabled()?;
        let converted = if enabled.logs {
            convert::Converted {
                logs: convert::convert_v1(groups, loong_api::model::now_nanos()),
                ..Default::default()
            }
        } else {
            convert::Converted {
                skipped: [groups.iter().map(|g| g.logs.len() as u64).sum(), 0, 0],
                ..Default::default()
            }
        };
        let batch = BatchKey::of(groups);
        if self.progress.as_ref().is_none_or(|p| !p.is_for(batch)) {
            self.skip(converted.skipped)?;
        }
        let requests = self.requests(converted)?;
        self.send_all(batch, requests)
    }
}

impl FlusherV2 for OtlpFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        let converted = convert::convert_v2(groups, self.enabled()?, loong_api::model::now_nanos());
        // Skipped events are counted once per batch, not on every retry of it.
        let batch = BatchKey::of(groups);
        if self.progress.as_ref().is_none_or(|p| !p.is_for(batch)) {
            self.skip(converted.skipped)?;
        }
        let requests = self.requests(converted)?;
        self.send_all(batch, requests)
    }
}
