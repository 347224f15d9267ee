use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, anyhow, bail};
use loong_api::{
    BatchKey, Context, Extension, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents,
};
use loong_converter::{Converter, Payload};
use loong_http_client::{Progress, send_all};
use tokio::sync::Semaphore;

use crate::config::HttpConfig;
use crate::request_builder::RequestBuilder;
use crate::service::{Metrics, Outcome, Service};

pub struct HttpFlusher {
    config: HttpConfig,
    running: Option<Running>,
    urgent: Arc<AtomicBool>,
    /// Which payloads of the batch being retried already went out, so a retry sends only the rest.
    progress: Option<Progress>,
}

struct Running {
    runtime: tokio::runtime::Handle,
    service: Arc<Service>,
    builder: RequestBuilder,
    converter: Option<Converter>,
    encoder: Option<Arc<dyn Extension>>,
    flush_interceptor: Option<Arc<dyn Extension>>,
    slots: Arc<Semaphore>,
    dropped: metrics::Counter,
}

impl HttpFlusher {
    pub fn new(config: HttpConfig) -> Self {
        HttpFlusher {
            config,
            running: None,
            urgent: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }

    fn running(&self) -> Result<&Running> {
        self.running
            .as_ref()
            .ok_or_else(|| anyhow!("flusher_http used before init or after stop"))
    }

    /// Sends every payload not yet sent for this batch; an error if some still failed.
    fn send_all(&mut self, batch: BatchKey, payloads: Vec<Payload>) -> Result<()> {
        let mut progress = Progress::resume(self.progress.take(), batch, payloads.len());
        let running = self.running()?;
        let mut todo = progress.pending();
        let capacity = (self.config.queue_capacity.max(1) as usize) + self.config.concurrency.max(1) as usize;
        if self.config.drop_event_when_queue_full && todo.len() > capacity {
            let dropped: Vec<usize> = todo.split_off(capacity);
            let events: usize = dropped.iter().map(|i| payloads[*i].events).sum();
            running.dropped.increment(events as u64);
            tracing::warn!(
                payloads = dropped.len(),
                events,
                "flusher_http: queue full, dropping (DropEventWhenQueueFull)"
            );
            for i in dropped {
                progress.mark_sent(i);
            }
        }
        let prepared = todo
            .iter()
            .map(|i| running.builder.build(&payloads[*i]).map(|p| (*i, p)))
            .collect::<Result<Vec<_>>>()?;
        let service = &running.service;
        let outcomes = send_all(
            &running.runtime,
            &running.slots,
            prepared,
            |p| {
                let service = service.clone();
                async move { service.send(&p).await }
            },
            "flusher_http",
        );
        let mut failed = Vec::new();
        for (i, outcome) in outcomes {
            match outcome {
                Some(Outcome::Sent) => progress.mark_sent(i),
                Some(Outcome::Rejected(e)) => {
                    // No retry can make the server accept it; holding the pipeline for it would stop
                    // all delivery. Counted in http_rejected_payloads_total.
                    tracing::error!(events = payloads[i].events, error = %e, "flusher_http: payload rejected by the server");
                    progress.mark_sent(i);
                }
                Some(Outcome::Failed(e)) => failed.push(e),
                // The runtime is shutting down: the payload counts as not sent.
                None => failed.push(format!("payload {i} was not sent: the runtime stopped")),
            }
        }
        progress.finish(failed, &mut self.progress, "requests")
    }
}

impl Flusher for HttpFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let config = &self.config;
        if config.remote_url.trim().is_empty() {
            bail!("RemoteURL is empty");
        }
        if config.concurrency < 1 {
            bail!("Concurrency must be at least 1, got {}", config.concurrency);
        }
        let encoder = config
            .encoder
            .as_ref()
            .map(|r| r.resolve(ctx, "Encoder", "an encoder extension", |e| e.as_encoder().is_some()))
            .transpose()?;
        let converter = match &encoder {
            Some(_) => None,
            None => Some(Converter::new(&config.convert).context("Convert")?),
        };
        let content_type = match (&converter, encoder.as_ref().and_then(|e| e.as_encoder())) {
            (Some(c), _) => c.content_type(),
            (None, Some(e)) => e.content_type(),
            (None, None) => "application/octet-stream",
        };
        let builder = RequestBuilder::new(config, content_type)?;
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
        let idle_per_host = if config.max_idle_conns_per_host > 0 {
            config.max_idle_conns_per_host as usize
        } else {
            config.concurrency as usize + 1
        };
        let mut client = reqwest::Client::builder()
            .timeout(config.timeout.get())
            .pool_max_idle_per_host(idle_per_host)
            .pool_idle_timeout(config.idle_conn_timeout.get())
            .use_preconfigured_tls(loong_http_client::client_config(&config.tls)?);
        client = match config.proxy.trim() {
            "" => client.no_proxy(),
            proxy => client.proxy(reqwest::Proxy::all(proxy).context("Proxy")?),
        };
        let client = client.build().context("creating the HTTP client")?;
        // One host: requests in flight are the connections, so MaxConnsPerHost caps them too.
        let concurrency = match config.max_conns_per_host {
            n if n > 0 => (config.concurrency as usize).min(n as usize),
            _ => config.concurrency as usize,
        };
        self.running = Some(Running {
            runtime: ctx.runtime().clone(),
            service: Arc::new(Service {
                client,
                retry: config.retry.clone(),
                authenticator,
                interceptors,
                urgent: self.urgent.clone(),
                metrics: Metrics::new(ctx),
            }),
            builder,
            converter,
            encoder,
            flush_interceptor,
            slots: Arc::new(Semaphore::new(concurrency)),
            dropped: ctx.metrics().counter("http_dropped_events_total"),
        });
        Ok(())
    }

    fn description(&self) -> &str {
        "http flusher: sends events to an HTTP endpoint"
    }

    /// Sending happens inside `flush`/`export`, so nothing queues up in the flusher: a slow endpoint
    /// holds the flush call, which holds the pipeline and so the input.
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

impl FlusherV1 for HttpFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        let running = self.running()?;
        let mut payloads = Vec::new();
        for group in groups {
            if let Some(enc) = running.encoder.as_ref().and_then(|e| e.as_encoder()) {
                let events = group.logs.len();
                payloads.extend(enc.encode_v1(group)?.into_iter().map(|body| Payload {
                    body,
                    vars: Default::default(),
                    events,
                }));
            } else if let Some(conv) = &running.converter {
                payloads.extend(conv.convert_v1(group, running.builder.selected())?);
            }
        }
        self.send_all(BatchKey::of(groups), payloads)
    }
}

impl FlusherV2 for HttpFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        let running = self.running()?;
        let mut payloads = Vec::new();
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
            if let Some(enc) = running.encoder.as_ref().and_then(|e| e.as_encoder()) {
                let events = group.events.len();
                payloads.extend(enc.encode_v2(group)?.into_iter().map(|body| Payload {
                    body,
                    vars: Default::default(),
                    events,
                }));
            } else if let Some(conv) = &running.converter {
                payloads.extend(conv.convert_v2(group, running.builder.selected())?);
            }
        }
        self.send_all(BatchKey::of(groups), payloads)
    }
}
