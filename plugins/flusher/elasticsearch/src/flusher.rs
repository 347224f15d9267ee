use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use loong_api::{BatchKey, Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents};

use crate::client::{Answer, Client, Metrics};
use crate::config::{ElasticsearchConfig, RetryConfig};
use crate::document::{Bulk, DocBuilder};

pub struct ElasticsearchFlusher {
    config: ElasticsearchConfig,
    running: Option<Running>,
    urgent: Arc<AtomicBool>,
    /// The batch being retried: its body and which items are settled, so a retry sends only the rest.
    progress: Option<Progress>,
}

struct Running {
    runtime: tokio::runtime::Handle,
    client: Arc<Client>,
    builder: DocBuilder,
}

struct Progress {
    /// The runner retries with the very same batch.
    batch: BatchKey,
    body: Bytes,
    items: Vec<Range<usize>>,
    /// Accepted, or rejected for good.
    settled: Vec<bool>,
}

impl ElasticsearchFlusher {
    pub fn new(config: ElasticsearchConfig) -> Self {
        ElasticsearchFlusher {
            config,
            running: None,
            urgent: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }

    fn running(&self) -> Result<&Running> {
        self.running
            .as_ref()
            .ok_or_else(|| anyhow!("flusher_elasticsearch used before init or after stop"))
    }

    /// Sends the batch (or, on the runner's retry of the same batch, what is left of it).
    fn send(&mut self, batch: BatchKey, build: impl FnOnce(&DocBuilder, &mut Bulk) -> Result<()>) -> Result<()> {
        let previous = self.progress.take();
        let running = self.running()?;
        let mut progress = match previous {
            Some(p) if p.batch == batch => p,
            _ => {
                let mut bulk = Bulk::default();
                build(&running.builder, &mut bulk)?;
                Progress {
                    batch,
                    settled: vec![false; bulk.items.len()],
                    body: Bytes::from(bulk.body),
                    items: bulk.items,
                }
            }
        };
        let client = running.client.clone();
        let retry = self.config.retry.clone();
        let max_bytes = self.config.bulk_max_bytes.max(1) as usize;
        let urgent = self.urgent.clone();
        let (result, progress) = running.runtime.block_on(async move {
            let result = deliver(&client, &mut progress, &retry, max_bytes, &urgent).await;
            (result, progress)
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let left = progress.settled.iter().filter(|s| !**s).count();
                let total = progress.items.len();
                self.progress = Some(progress);
                bail!("{left} of {total} documents not indexed yet; last error: {e}")
            }
        }
    }
}

/// Sends the items not yet settled, in requests of at most `max_bytes`, retrying per `retry`.
/// `Ok` once every item is accepted or rejected for good; else the last error.
async fn deliver(
    client: &Client,
    progress: &mut Progress,
    retry: &RetryConfig,
    max_bytes: usize,
    urgent: &AtomicBool,
) -> std::result::Result<(), String> {
    let mut attempt = 0;
    loop {
        let pending: Vec<usize> = (0..progress.items.len()).filter(|&i| !progress.settled[i]).collect();
        if pending.is_empty() {
            return Ok(());
        }
        let mut last_error = String::new();
        let mut retry_after = None;
        let mut requests = chunks(&pending, &progress.items, max_bytes);
        requests.reverse();
        while let Some(chunk) = requests.pop() {
            let body = chunk_body(&progress.body, &progress.items, &chunk);
            match client.bulk(body, chunk.len()).await {
                Answer::Items(statuses) => {
                    for (&i, (status, reason)) in chunk.iter().zip(statuses) {
                        let reason = reason.unwrap_or_default();
                        match status {
                            200..=299 => {
                                progress.settled[i] = true;
                                client.metrics.indexed.increment(1);
                            }
                            429 | 500..=599 => {
                                client.metrics.retried.increment(1);
                                last_error = format!("item answered {status}: {reason}");
                            }
                            _ => {
                                progress.settled[i] = true;
                                client.metrics.rejected.increment(1);
                                tracing::warn!(status, reason = %reason, "flusher_elasticsearch: document rejected; not retried");
                            }
                        }
                    }
                }
                Answer::Retry { error, after } => {
                    client.metrics.retried.increment(chunk.len() as u64);
                    last_error = error;
                    retry_after = retry_after.max(after);
                }
                Answer::TooLarge(detail) if chunk.len() > 1 => {
                    // Halves, the first sent first.
                    let (first, second) = chunk.split_at(chunk.len() / 2);
                    requests.push(second.to_vec());
                    requests.push(first.to_vec());
                    last_error = detail;
                }
                Answer::TooLarge(detail) | Answer::Reject(detail) => {
                    for &i in &chunk {
                        progress.settled[i] = true;
                    }
                    client.metrics.rejected.increment(chunk.len() as u64);
                    tracing::warn!(documents = chunk.len(), error = %detail, "flusher_elasticsearch: request rejected; not retried");
                }
            }
        }
        if progress.settled.iter().all(|s| *s) {
            return Ok(());
        }
        if !retry.enable || attempt >= retry.max_retry_times {
            return Err(last_error);
        }
        attempt += 1;
        let urgent = urgent.load(Ordering::Relaxed);
        let delay = retry_after.map_or_else(
            || backoff(retry, attempt, urgent),
            |d| {
                if urgent { d.min(URGENT_MAX_DELAY) } else { d }
            },
        );
        tokio::time::sleep(delay).await;
    }
}

/// Delays are capped at this once the agent is exiting.
const URGENT_MAX_DELAY: Duration = Duration::from_millis(500);

/// The delay before retry number `attempt` (1 for the first).
fn backoff(retry: &RetryConfig, attempt: u32, urgent: bool) -> Duration {
    let d = retry.delay(attempt.saturating_sub(1));
    if urgent { d.min(URGENT_MAX_DELAY) } else { d }
}

/// Groups the items (in order) into requests of at most `max_bytes`; an item larger than that
/// goes alone.
fn chunks(pending: &[usize], items: &[Range<usize>], max_bytes: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut size = 0;
    for &i in pending {
        let len = items[i].len();
        match out.last_mut() {
            Some(current) if size + len <= max_bytes => current.push(i),
            _ => {
                out.push(vec![i]);
                size = 0;
            }
        }
        size += len;
    }
    out
}

/// The body of a request holding `chunk`: a slice of the batch's body when the items are
/// adjacent (the usual case), else a copy of their lines.
fn chunk_body(body: &Bytes, items: &[Range<usize>], chunk: &[usize]) -> Bytes {
    let adjacent = chunk.windows(2).all(|w| items[w[0]].end == items[w[1]].start);
    match (chunk.first(), chunk.last()) {
        (Some(&first), Some(&last)) if adjacent => body.slice(items[first].start..items[last].end),
        _ => {
            let mut out = Vec::with_capacity(chunk.iter().map(|&i| items[i].len()).sum());
            for &i in chunk {
                out.extend_from_slice(&body[items[i].clone()]);
            }
            Bytes::from(out)
        }
    }
}

impl Flusher for ElasticsearchFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let builder = DocBuilder::new(&self.config.index, &self.config.convert, &self.config.timestamp_field)?;
        if self.config.bulk_max_bytes < 1 {
            bail!("BulkMaxBytes must be at least 1, got {}", self.config.bulk_max_bytes);
        }
        let client = Client::new(&self.config, Metrics::new(ctx))?;
        self.running = Some(Running {
            runtime: ctx.runtime().clone(),
            client: Arc::new(client),
            builder,
        });
        Ok(())
    }

    fn description(&self) -> &str {
        "elasticsearch flusher: indexes events through the _bulk API"
    }

    /// Requests are sent inside `flush`/`export`; nothing queues up in the flusher.
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

impl FlusherV1 for ElasticsearchFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        self.send(BatchKey::of(groups), |b, bulk| b.build_v1(groups, bulk))
    }
}

impl FlusherV2 for ElasticsearchFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        self.send(BatchKey::of(groups), |b, bulk| b.build_v2(groups, bulk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_size_and_keep_order() {
        let items: Vec<Range<usize>> = vec![0..10, 10..20, 20..50, 50..55, 55..60];
        assert_eq!(
            chunks(&[0, 1, 2, 3, 4], &items, 25),
            vec![vec![0, 1], vec![2], vec![3, 4]]
        );
        assert_eq!(chunks(&[1, 3], &items, 100), vec![vec![1, 3]]);
        let body = Bytes::from((0..60u8).collect::<Vec<_>>());
        assert_eq!(chunk_body(&body, &items, &[0, 1]), body.slice(0..20));
        let gap = chunk_body(&body, &items, &[1, 3]);
        assert_eq!(gap.len(), 15);
        assert_eq!(&gap[..10], &body[10..20]);
        assert_eq!(&gap[10..], &body[50..55]);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_urgent_caps_it() {
        let retry = RetryConfig {
            initial_delay: Duration::from_millis(100).into(),
            max_delay: Duration::from_millis(400).into(),
            ..Default::default()
        };
        for (attempt, max) in [(1, 100), (2, 200), (3, 400), (9, 400)] {
            let d = backoff(&retry, attempt, false);
            assert!(
                d >= Duration::from_millis(max / 2) && d <= Duration::from_millis(max),
                "{attempt}: {d:?}"
            );
        }
        let slow = RetryConfig {
            initial_delay: Duration::from_secs(60).into(),
            max_delay: Duration::from_secs(60).into(),
            ..Default::default()
        };
        assert!(backoff(&slow, 1, true) <= Duration::from_millis(500));
    }
}
