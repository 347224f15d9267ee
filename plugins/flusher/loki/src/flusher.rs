use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, anyhow, bail};
use loong_api::{BatchKey, Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents};

use crate::client::{Metrics, Outcome, Pusher};
use crate::config::LokiConfig;
use crate::push::{Newest, Prepared, PushBuilder, Streams};

pub struct LokiFlusher {
    config: LokiConfig,
    running: Option<Running>,
    urgent: Arc<AtomicBool>,
    /// The pushes of the batch being retried and which of them are settled.
    progress: Option<Progress>,
    /// Newest time sent per stream, for `OutOfOrderAction`.
    newest: Newest,
}

struct Running {
    runtime: tokio::runtime::Handle,
    pusher: Arc<Pusher>,
    builder: PushBuilder,
}

struct Progress {
    /// The runner retries with the very same batch.
    batch: BatchKey,
    pushes: Vec<Prepared>,
    /// Accepted, or rejected for good.
    settled: Vec<bool>,
}

impl LokiFlusher {
    pub fn new(config: LokiConfig) -> Self {
        LokiFlusher {
            config,
            running: None,
            urgent: Arc::new(AtomicBool::new(false)),
            progress: None,
            newest: Newest::default(),
        }
    }

    fn send(&mut self, batch: BatchKey, collect: impl FnOnce(&PushBuilder, &mut Streams) -> Result<()>) -> Result<()> {
        let previous = self.progress.take();
        let running = self
            .running
            .as_ref()
            .ok_or_else(|| anyhow!("flusher_loki used before init or after stop"))?;
        let mut progress = match previous {
            Some(p) if p.batch == batch => p,
            _ => {
                let mut streams = Streams::default();
                collect(&running.builder, &mut streams)?;
                if streams.unlabelled > 0 {
                    running.pusher.metrics.rejected.increment(streams.unlabelled as u64);
                    tracing::error!(
                        entries = streams.unlabelled,
                        "flusher_loki: events without any label cannot be stored by Loki; dropped (set StaticLabels)"
                    );
                }
                let built = running.builder.finish(streams, &mut self.newest)?;
                if built.dropped > 0 {
                    running.pusher.metrics.rejected.increment(built.dropped as u64);
                    tracing::warn!(
                        entries = built.dropped,
                        "flusher_loki: entries older than their stream's newest dropped (OutOfOrderAction: drop)"
                    );
                }
                Progress {
                    batch,
                    settled: vec![false; built.pushes.len()],
                    pushes: built.pushes,
                }
            }
        };
        let pusher = running.pusher.clone();
        let (failure, progress) = running.runtime.block_on(async move {
            // In order: a later push may hold newer entries of the same streams.
            for i in 0..progress.pushes.len() {
                if progress.settled[i] {
                    continue;
                }
                match pusher.push(&progress.pushes[i]).await {
                    Outcome::Sent => progress.settled[i] = true,
                    Outcome::Rejected { entries, detail } => {
                        progress.settled[i] = true;
                        pusher.metrics.rejected.increment(entries as u64);
                        tracing::error!(
                            entries,
                            "flusher_loki: entries rejected by Loki (not retried): {detail}"
                        );
                    }
                    Outcome::Failed(e) => return (Some(e), progress),
                }
            }
            (None, progress)
        });
        match failure {
            None => Ok(()),
            Some(e) => {
                let left = progress.settled.iter().filter(|s| !**s).count();
                let total = progress.pushes.len();
                self.progress = Some(progress);
                bail!("{left} of {total} pushes not accepted yet; last error: {e}")
            }
        }
    }
}

impl Flusher for LokiFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let builder = PushBuilder::new(&self.config)?;
        let pusher = Pusher::new(&self.config, builder.format(), self.urgent.clone(), Metrics::new(ctx))?;
        self.running = Some(Running {
            runtime: ctx.runtime().clone(),
            pusher: Arc::new(pusher),
            builder,
        });
        Ok(())
    }

    fn description(&self) -> &str {
        "loki flusher: pushes log lines to Grafana Loki"
    }

    /// Pushes are sent inside `flush`/`export`; nothing queues up in the flusher.
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

impl FlusherV1 for LokiFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        self.send(BatchKey::of(groups), |b, s| b.collect_v1(groups, s))
    }
}

impl FlusherV2 for LokiFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        self.send(BatchKey::of(groups), |b, s| b.collect_v2(groups, s))
    }
}
