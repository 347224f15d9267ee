use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use loong_api::{BatchKey, Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents};
use loong_converter::{Converter, Payload};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use crate::client::{self, PartitionerType, RoundRobin};
use crate::config::KafkaConfig;
use crate::delivery::{BatchState, Metrics};
use crate::router::Router;

/// Longest wait for delivery reports in one flush once the agent is exiting.
const URGENT_WAIT: Duration = Duration::from_secs(1);
/// Longest wait in `stop` for messages still in flight.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// Time a flush waits beyond `Timeout`: librdkafka reports a timed-out message shortly after it.
const REPORT_MARGIN: Duration = Duration::from_secs(5);

type KafkaProducer = ThreadedProducer<client::Context, RoundRobin>;

pub struct KafkaFlusher {
    config: KafkaConfig,
    running: Option<Running>,
    urgent: Arc<AtomicBool>,
    /// The batch being retried: which of its messages are already delivered.
    progress: Option<Progress>,
}

struct Running {
    producer: KafkaProducer,
    converter: Converter,
    router: Router,
    metrics: Arc<Metrics>,
    queue_bound: i32,
}

struct Progress {
    /// The runner retries with the very same batch.
    batch: BatchKey,
    state: Arc<BatchState>,
}

impl KafkaFlusher {
    pub fn new(config: KafkaConfig) -> Self {
        KafkaFlusher {
            config,
            running: None,
            urgent: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }

    fn running(&self) -> Result<&Running> {
        self.running
            .as_ref()
            .ok_or_else(|| anyhow!("flusher_kafka_v2 used before init or after stop"))
    }

    /// Produces every message of the batch not yet delivered and waits for their reports.
    fn send_all(&mut self, batch: BatchKey, payloads: Vec<Payload>) -> Result<()> {
        let running = self
            .running
            .as_ref()
            .ok_or_else(|| anyhow!("flusher_kafka_v2 used before init or after stop"))?;
        let state = match self.progress.take() {
            Some(p) if p.batch == batch && p.state.len() == payloads.len() => p.state,
            _ => BatchState::new(payloads.len(), running.metrics.clone()),
        };
        running.producer.context().errors.lock().clear();
        let started = Instant::now();
        let urgent = self.urgent.load(Ordering::Relaxed);
        let deadline = started
            + if urgent {
                URGENT_WAIT
            } else {
                self.config.timeout.get() + REPORT_MARGIN
            };
        for i in state.to_send() {
            let p = &payloads[i];
            let topic = running.router.topic(p);
            let key = running.router.key(p);
            let mut record =
                BaseRecord::with_opaque_to(topic.as_ref(), state.ticket(i, p.body.len())).payload(p.body.as_ref());
            if let Some(k) = &key {
                record = record.key(k.as_bytes());
            }
            if let Some(h) = running.router.headers(p) {
                record = record.headers(h);
            }
            loop {
                match running.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if Instant::now() < deadline =>
                    {
                        // The producer queue is full: wait for reports to make room.
                        record = back;
                        state.wait_for_any((Instant::now() + Duration::from_millis(50)).min(deadline));
                    }
                    Err((e, back)) => {
                        // The ticket travels back in the record; it must not report.
                        drop(back);
                        state.not_sent(i, &e, p.events);
                        break;
                    }
                }
            }
        }
        state.wait(deadline);
        running.metrics.duration.record(started.elapsed().as_secs_f64());
        let (outstanding, last_error) = state.outstanding();
        if outstanding == 0 {
            return Ok(());
        }
        let total = state.len();
        self.progress = Some(Progress { batch, state });
        let client = std::mem::take(&mut *running.producer.context().errors.lock());
        bail!(
            "{outstanding} of {total} messages not delivered; last error: {}{}",
            last_error.unwrap_or_default(),
            if client.is_empty() {
                String::new()
            } else {
                format!(" (client: {})", client.join("; "))
            }
        )
    }
}

impl Flusher for KafkaFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let config = &self.config;
        let partitioner = PartitionerType::parse(&config.partitioner_type)?;
        let converter = Converter::new(&config.convert).context("Convert")?;
        let router = Router::new(config, partitioner, ctx.logstore())?;
        let rd = client::client_config(config, partitioner)?;
        let context = client::Context {
            span: ctx.span().clone(),
            round_robin: (partitioner == PartitionerType::RoundRobin).then(RoundRobin::default),
            errors: Default::default(),
        };
        let producer = KafkaProducer::from_config_and_context(&rd, context).context("creating the Kafka producer")?;
        self.running = Some(Running {
            producer,
            converter,
            router,
            metrics: Arc::new(Metrics::new(ctx)),
            queue_bound: config.queue_buffering_max_messages,
        });
        Ok(())
    }

    fn description(&self) -> &str {
        "kafka flusher: produces events to Kafka topics"
    }

    /// Ready while the producer queue is below `QueueBufferingMaxMessages` (it only holds messages
    /// of a batch whose flush gave up waiting for them).
    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        if self.urgent.load(Ordering::Relaxed) {
            return true;
        }
        self.running
            .as_ref()
            .is_some_and(|r| r.producer.in_flight_count() < r.queue_bound)
    }

    fn set_urgent(&mut self, flag: bool) {
        self.urgent.store(flag, Ordering::Relaxed);
    }

    fn stop(&mut self) -> Result<()> {
        self.progress = None;
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        if let Err(e) = running.producer.flush(STOP_WAIT) {
            tracing::warn!(
                error = %e,
                in_flight = running.producer.in_flight_count(),
                "flusher_kafka_v2: messages still in flight at stop are abandoned (their batches were not acknowledged)"
            );
        }
        Ok(())
    }

    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        Some(self)
    }

    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV1 for KafkaFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        let running = self.running()?;
        let mut payloads = Vec::new();
        for group in groups {
            payloads.extend(running.converter.convert_v1(group, running.router.selected())?);
        }
        self.send_all(BatchKey::of(groups), payloads)
    }
}

impl FlusherV2 for KafkaFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        let running = self.running()?;
        let mut payloads = Vec::new();
        for group in groups {
            payloads.extend(running.converter.convert_v2(group, running.router.selected())?);
        }
        self.send_all(BatchKey::of(groups), payloads)
    }
}
