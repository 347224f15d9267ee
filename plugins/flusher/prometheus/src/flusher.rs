use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use loong_api::{BatchKey, Context, Extension, Flusher, FlusherV2, PipelineContext, PipelineGroupEvents};
use loong_converter::prometheus::{self as remote_write, TimeSeries};
use loong_converter::{Template, VarKey};

use crate::config::PrometheusConfig;
use crate::sender::{Metrics, Outcome, Prepared, Sender};

pub struct PrometheusFlusher {
    config: PrometheusConfig,
    running: Option<Running>,
    urgent: Arc<AtomicBool>,
    /// What is left of the batch being retried, so a retry sends only what was not accepted.
    progress: Option<Progress>,
}

struct Running {
    runtime: tokio::runtime::Handle,
    sender: Arc<Sender>,
    url: reqwest::Url,
    /// Remote write headers, constant `Headers`, and the URL's credentials.
    fixed_headers: HeaderMap,
    header_templates: Vec<(HeaderName, Template)>,
    query: Vec<(String, Template)>,
    flush_interceptor: Option<Arc<dyn Extension>>,
    lanes: usize,
    series_limit: usize,
}

struct Progress {
    /// The runner retries with the very same batch.
    batch: BatchKey,
    lanes: Vec<VecDeque<Chunk>>,
}

/// Where a chunk goes: the URL and headers rendered for its groups.
struct Target {
    url: reqwest::Url,
    headers: HeaderMap,
}

/// Series sent in one request, in order.
struct Chunk {
    target: Arc<Target>,
    series: Vec<TimeSeries>,
    /// The compressed body, made on the first attempt and kept for retries.
    body: Option<Bytes>,
}

impl Chunk {
    fn samples(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}

/// Header names whose values are never logged.
pub(crate) fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization" || n == "proxy-authorization" || n == "cookie" || n.contains("token") || n.contains("key")
}

impl PrometheusFlusher {
    pub fn new(config: PrometheusConfig) -> Self {
        PrometheusFlusher {
            config,
            running: None,
            urgent: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }

    fn running(&self) -> Result<&Running> {
        self.running
            .as_ref()
            .ok_or_else(|| anyhow!("flusher_prometheus used before init or after stop"))
    }

    /// Splits the series of the batch into lanes of chunks.
    fn plan(&self, groups: &[PipelineGroupEvents]) -> Result<Vec<VecDeque<Chunk>>> {
        let running = self.running()?;
        let mut lanes: Vec<VecDeque<Chunk>> = (0..running.lanes).map(|_| VecDeque::new()).collect();
        let default_target = Arc::new(Target {
            url: running.url.clone(),
            headers: running.fixed_headers.clone(),
        });
        let mut targets: HashMap<Vec<String>, Arc<Target>> = HashMap::new();
        for group in groups {
            let filtered;
            let group = match running
                .flush_interceptor
                .as_ref()
                .and_then(|f| f.as_flush_interceptor())
            {
                Some(interceptor) => {
                    let mut copy = PipelineGroupEvents::new(group.group.clone(), group.events.clone());
                    if !interceptor.intercept(&mut copy) || copy.events.is_empty() {
                        continue;
                    }
                    filtered = copy;
                    &filtered
                }
                None => group,
            };
            let (series, skipped) = remote_write::series(group);
            let mut skipped = skipped;
            let target = if running.header_templates.is_empty() && running.query.is_empty() {
                default_target.clone()
            } else {
                running.target_for(group, &mut targets)?
            };
            for mut s in series {
                // Prometheus stores no empty label; an empty metric name is refused as invalid.
                s.labels.retain(|l| !l.value.is_empty());
                if !s.labels.iter().any(|l| l.name == "__name__") {
                    skipped += 1;
                    continue;
                }
                let lane = &mut lanes[lane_of(&s, running.lanes)];
                match lane.back_mut() {
                    Some(c) if Arc::ptr_eq(&c.target, &target) && c.series.len() < running.series_limit => {
                        c.series.push(s)
                    }
                    _ => lane.push_back(Chunk {
                        target: target.clone(),
                        series: vec![s],
                        body: None,
                    }),
                }
            }
            if skipped > 0 {
                running.sender.metrics.skipped_events.increment(skipped as u64);
                tracing::debug!(
                    skipped,
                    "flusher_prometheus: events without a remote write form skipped"
                );
            }
        }
        Ok(lanes)
    }
}

fn lane_of(series: &TimeSeries, lanes: usize) -> usize {
    if lanes == 1 {
        return 0;
    }
    let mut h = DefaultHasher::new();
    for l in &series.labels {
        l.name.hash(&mut h);
        l.value.hash(&mut h);
    }
    (h.finish() % lanes as u64) as usize
}

impl Running {
    fn target_for(
        &self,
        group: &PipelineGroupEvents,
        targets: &mut HashMap<Vec<String>, Arc<Target>>,
    ) -> Result<Arc<Target>> {
        let lookup = |k: &VarKey| -> Option<&str> {
            let v = match k {
                VarKey::Tag(t) => group.group.tags.get(t.as_bytes()),
                VarKey::Metadata(m) => group.group.metadata.get(m.as_bytes()),
                VarKey::Content(_) => None,
            }?;
            std::str::from_utf8(v).ok()
        };
        let rendered: Vec<String> = self
            .header_templates
            .iter()
            .map(|(_, t)| t.render(lookup))
            .chain(self.query.iter().map(|(_, t)| t.render(lookup)))
            .collect();
        if let Some(t) = targets.get(&rendered) {
            return Ok(t.clone());
        }
        let mut headers = self.fixed_headers.clone();
        for ((name, _), value) in self.header_templates.iter().zip(&rendered) {
            let v = HeaderValue::from_str(value).with_context(|| {
                if is_secret_header(name.as_str()) {
                    format!("header {name}: invalid value")
                } else {
                    format!("header {name}: invalid value {value:?}")
                }
            })?;
            headers.insert(name.clone(), v);
        }
        let mut url = self.url.clone();
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for ((k, _), v) in self.query.iter().zip(&rendered[self.header_templates.len()..]) {
                pairs.append_pair(k, v);
            }
        }
        let target = Arc::new(Target { url, headers });
        targets.insert(rendered, target.clone());
        Ok(target)
    }
}

/// Sends the chunks of one lane in order. Returns the lane (what is left of it) and the error that
/// stopped it, if any.
async fn run_lane(sender: Arc<Sender>, mut lane: VecDeque<Chunk>) -> (VecDeque<Chunk>, Option<String>) {
    while let Some(chunk) = lane.front_mut() {
        let body = match &chunk.body {
            Some(b) => b.clone(),
            None => {
                let raw = remote_write::encode(chunk.series.clone(), 0).pop().unwrap_or_default();
                let compressed = match snap::raw::Encoder::new().compress_vec(&raw) {
                    Ok(c) => Bytes::from(c),
                    Err(e) => return (lane, Some(format!("snappy compression: {e}"))),
                };
                chunk.body = Some(compressed.clone());
                compressed
            }
        };
        let prepared = Prepared {
            url: chunk.target.url.clone(),
            headers: chunk.target.headers.clone(),
            body,
        };
        match sender.send(&prepared).await {
            Outcome::Sent => {
                sender.metrics.sent_samples.increment(chunk.samples() as u64);
                lane.pop_front();
            }
            Outcome::Rejected(e) => {
                let mut chunk = lane.pop_front().expect("front exists");
                if chunk.series.len() > 1 {
                    // Prometheus refuses the whole request for one bad sample: split it to deliver
                    // the others and find the bad ones.
                    tracing::debug!(series = chunk.series.len(), error = %e, "flusher_prometheus: request rejected, splitting it");
                    let second = chunk.series.split_off(chunk.series.len() / 2);
                    lane.push_front(Chunk {
                        target: chunk.target.clone(),
                        series: second,
                        body: None,
                    });
                    chunk.body = None;
                    lane.push_front(chunk);
                } else {
                    let samples = chunk.samples();
                    sender.metrics.rejected_samples.increment(samples as u64);
                    let series = chunk
                        .series
                        .first()
                        .map(|s| {
                            s.labels
                                .iter()
                                .map(|l| format!("{}={:?}", l.name, l.value))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default();
                    let timestamps: Vec<i64> = chunk
                        .series
                        .iter()
                        .flat_map(|s| &s.samples)
                        .map(|s| s.timestamp)
                        .collect();
                    tracing::error!(
                        series = %format_args!("{{{series}}}"),
                        ?timestamps,
                        samples,
                        error = %e,
                        "flusher_prometheus: samples rejected by the server (not retried)"
                    );
                }
            }
            Outcome::Failed(e) => return (lane, Some(e)),
        }
    }
    (lane, None)
}

impl Flusher for PrometheusFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let config = &self.config;
        if config.endpoint.trim().is_empty() {
            bail!("Endpoint is empty");
        }
        if config.concurrency < 1 {
            bail!("Concurrency must be at least 1, got {}", config.concurrency);
        }
        // The endpoint is never quoted in errors: it may carry credentials.
        let mut url = reqwest::Url::parse(config.endpoint.trim()).context("Endpoint is not a valid URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("Endpoint must be http or https, not {}", url.scheme());
        }
        let mut fixed_headers = HeaderMap::new();
        if !url.username().is_empty() || url.password().is_some() {
            let user = percent_decode(url.username());
            let pass = url.password().map(percent_decode).unwrap_or_default();
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            let mut value = HeaderValue::from_str(&format!("Basic {token}")).context("Endpoint credentials")?;
            value.set_sensitive(true);
            fixed_headers.insert(http::header::AUTHORIZATION, value);
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        let mut header_templates = Vec::new();
        for (k, v) in &config.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).with_context(|| format!("Headers: invalid name {k:?}"))?;
            let template = Template::parse(v).with_context(|| format!("Headers.{k}"))?;
            if template.keys().any(|k| matches!(k, VarKey::Content(_))) {
                bail!("Headers.{k}: only %{{tag.…}} and %{{metadata.…}} variables are available per group");
            }
            if template.is_constant() {
                let mut value = HeaderValue::from_str(v).with_context(|| format!("Headers.{k}: invalid value"))?;
                value.set_sensitive(is_secret_header(k));
                fixed_headers.insert(name, value);
            } else {
                header_templates.push((name, template));
            }
        }
        // The protocol's own headers win over `Headers`.
        for (name, value) in [
            ("content-encoding", "snappy"),
            ("content-type", remote_write::CONTENT_TYPE),
            ("user-agent", concat!("loong-rs/", env!("CARGO_PKG_VERSION"))),
        ]
        .into_iter()
        .chain(remote_write::HEADERS)
        {
            fixed_headers.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("valid name"),
                HeaderValue::from_static(value),
            );
        }
        let mut query = Vec::new();
        for (k, v) in &config.query {
            let template = Template::parse(v).with_context(|| format!("Query.{k}"))?;
            if template.keys().any(|k| matches!(k, VarKey::Content(_))) {
                bail!("Query.{k}: only %{{tag.…}} and %{{metadata.…}} variables are available per group");
            }
            query.push((k.clone(), template));
        }
        let authenticator = config
            .authenticator
            .as_ref()
            .map(|r| {
                r.resolve(ctx, "Authenticator", "a client authenticator", |e| {
                    e.as_client_authenticator().is_some()
                })
            })
            .transpose()?;
        let interceptors = config
            .request_interceptors
            .iter()
            .map(|r| {
                r.resolve(ctx, "RequestInterceptors", "a request interceptor", |e| {
                    e.as_request_interceptor().is_some()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let flush_interceptor = config
            .flush_interceptor
            .as_ref()
            .map(|r| {
                r.resolve(ctx, "FlushInterceptor", "a flush interceptor", |e| {
                    e.as_flush_interceptor().is_some()
                })
            })
            .transpose()?;
        let lanes = match config.max_conns_per_host {
            n if n > 0 => (config.concurrency as usize).min(n as usize),
            _ => config.concurrency as usize,
        };
        let idle = if config.max_idle_conns_per_host > 0 {
            config.max_idle_conns_per_host as usize
        } else {
            lanes + 1
        };
        let client = reqwest::Client::builder()
            .timeout(config.timeout.get())
            .pool_max_idle_per_host(idle)
            .pool_idle_timeout(config.idle_conn_timeout.get())
            .use_preconfigured_tls(loong_http_client::client_config(&config.tls)?)
            .no_proxy()
            .build()
            .context("creating the HTTP client")?;
        self.running = Some(Running {
            runtime: ctx.runtime().clone(),
            sender: Arc::new(Sender {
                client,
                retry: config.retry.clone(),
                authenticator,
                interceptors,
                urgent: self.urgent.clone(),
                metrics: Metrics::new(ctx),
            }),
            url,
            fixed_headers,
            header_templates,
            query,
            flush_interceptor,
            lanes,
            series_limit: config.series_limit(),
        });
        Ok(())
    }

    fn description(&self) -> &str {
        "prometheus flusher: remote write of metric events"
    }

    /// Requests are sent inside `export`, so nothing queues up in the flusher.
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

    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV2 for PrometheusFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        let batch = BatchKey::of(groups);
        let lanes = match self.progress.take() {
            Some(p) if p.batch == batch => p.lanes,
            _ => self.plan(groups)?,
        };
        let running = self.running()?;
        let sender = running.sender.clone();
        let results = running.runtime.block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, lane) in lanes.into_iter().enumerate() {
                let sender = sender.clone();
                tasks.spawn(async move { (i, run_lane(sender, lane).await) });
            }
            let mut out = Vec::new();
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok(r) => out.push(r),
                    Err(e) => tracing::warn!(error = %e, "flusher_prometheus: a send task did not finish"),
                }
            }
            out
        });
        let lanes_total = running.lanes;
        let mut left: Vec<VecDeque<Chunk>> = (0..lanes_total).map(|_| VecDeque::new()).collect();
        let mut errors = Vec::new();
        let mut finished = 0;
        for (i, (lane, error)) in results {
            finished += 1;
            left[i] = lane;
            errors.extend(error);
        }
        if finished < lanes_total {
            // A task died (runtime shutting down): what it held is unknown, so plan the batch anew.
            bail!("flusher_prometheus: the runtime stopped while sending");
        }
        if errors.is_empty() {
            return Ok(());
        }
        let pending: usize = left.iter().map(|l| l.len()).sum();
        self.progress = Some(Progress { batch, lanes: left });
        bail!(
            "{pending} remote write requests not accepted after retries; last error: {}",
            errors.last().expect("non-empty")
        )
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}
