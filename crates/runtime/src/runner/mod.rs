//! Runs one pipeline: inputs → input queue → processors + aggregator → batch queue → flush loop.
//!
//! Threads, not async tasks, drive the stages: plugin methods are synchronous and may block, and a
//! blocked stage is exactly how back-pressure travels from a slow flusher to the input. Bounded
//! queues sit between the stages (`DefaultLogQueueSize` groups, `DefaultLogGroupQueueSize` batches).
//!
//! Stopping is bounded by `StopTimeout`: a watchdog sets the abort flag at the deadline, which makes
//! every blocked queue operation, readiness wait and retry wait give up. Data not delivered by then
//! is dropped *unacknowledged*, so inputs with checkpoints read it again after a restart.

mod flush;
mod process;
mod shared;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use loong_api::{Collector, CollectorClosed, CollectorSink, Input, PipelineGroupEvents};

use crate::builder::{Built, Slot};
use crate::config::PipelineConfig;
use crate::extensions::Extensions;
pub use flush::Batch;
use shared::{Shared, State};

/// How a pipeline stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Config removed or agent exiting: flushers go urgent, everything queued is delivered within
    /// the stop bound.
    Drain,
    /// Config updated: stop at a batch boundary and hand every undelivered batch to the new
    /// instance of the pipeline.
    Handover,
}

pub(crate) enum InMsg {
    /// A group and the bytes it holds of the input queue's byte budget.
    Group(PipelineGroupEvents, usize),
    /// Every input has stopped: flush the aggregator and finish.
    Drain,
}

pub(crate) enum FlushMsg {
    Batch(Batch),
    End,
}

/// A running pipeline.
pub struct RunningPipeline {
    config: PipelineConfig,
    shared: Arc<Shared>,
    input_tx: Sender<InMsg>,
    metric_inputs: Vec<(JoinHandle<()>, Sender<()>)>,
    service_inputs: Vec<Slot<dyn Input>>,
    process_thread: Option<JoinHandle<()>>,
    flush_thread: Option<JoinHandle<Vec<Batch>>>,
    extensions: Arc<Extensions>,
    stop_timeout: Duration,
    inputs_total: usize,
    /// When a one-time run must be over (`ExcutionTimeout` after the start).
    onetime_deadline: Instant,
}

/// What became of a one-time pipeline ([`RunningPipeline::finish`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnetimeOutcome {
    /// Events still undelivered when the deadline cut the pipeline off.
    pub undelivered: usize,
    /// Events the flush loop gave up on (`FlushRetry.MaxRetries`).
    pub dropped: u64,
    /// The deadline passed, or the run was cancelled, before every input was done.
    pub timed_out: bool,
}

impl OnetimeOutcome {
    /// Everything the inputs read was delivered.
    pub fn success(&self) -> bool {
        self.undelivered == 0 && self.dropped == 0 && !self.timed_out
    }
}

/// One per input: remembers whether that input said it is done.
struct QueueSink {
    tx: Sender<InMsg>,
    shared: Arc<Shared>,
    done: AtomicBool,
}

impl CollectorSink for QueueSink {
    fn send(&self, group: PipelineGroupEvents) -> Result<(), CollectorClosed> {
        if self.shared.inputs_closed() {
            return Err(CollectorClosed);
        }
        let bytes = group.byte_size();
        if !self.shared.reserve_queue_bytes(bytes) {
            return Err(CollectorClosed);
        }
        shared::send_blocking(&self.tx, InMsg::Group(group, bytes), &self.shared).map_err(|_| {
            self.shared.release_queue_bytes(bytes);
            CollectorClosed
        })
    }

    fn done(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            self.shared.input_done();
        }
    }
}

impl RunningPipeline {
    /// Starts the stages of a built pipeline; `carried` batches (from the previous instance of the
    /// same config) are delivered first.
    pub fn start(built: Built, carried: Vec<Batch>) -> RunningPipeline {
        let Built {
            config,
            global,
            ready,
            extensions,
            inputs,
            processors,
            aggregator,
            flushers,
        } = built;
        let name = config.name.clone();
        let shared = Arc::new(Shared::new(ready, global.default_log_queue_bytes));
        let (input_tx, input_rx) = bounded::<InMsg>(global.default_log_queue_size.max(1));
        let (flush_tx, flush_rx) = bounded::<FlushMsg>(global.default_log_group_queue_size.max(1));

        let flush_thread = {
            let shared = shared.clone();
            let global = global.clone();
            let name = name.clone();
            spawn(&format!("flush-{name}"), move || {
                flush::run(&name, flushers, flush_rx, carried, &global, &shared)
            })
        };
        let process_thread = {
            let shared = shared.clone();
            spawn(&format!("process-{name}"), move || {
                process::run(processors, aggregator, input_rx, flush_tx, &shared)
            })
        };

        let inputs_total = inputs.len();
        let mut metric_inputs = Vec::new();
        let mut service_inputs = Vec::new();
        for (mut slot, interval) in inputs {
            let collector = Collector::new(Arc::new(QueueSink {
                tx: input_tx.clone(),
                shared: shared.clone(),
                done: AtomicBool::new(false),
            }));
            if slot.plugin.as_service().is_some() {
                let result = {
                    let _g = slot.ctx.span().enter();
                    slot.plugin.as_service().expect("checked").start(collector.clone())
                };
                match result {
                    Ok(()) => service_inputs.push(slot),
                    Err(e) => {
                        // It will produce nothing: a one-time pipeline must not wait for it.
                        collector.done();
                        tracing::error!(pipeline = %name, plugin = %slot.label, error = %format!("{e:#}"), "input start failed")
                    }
                }
            } else {
                let (stop_tx, stop_rx) = bounded::<()>(1);
                let interval = interval.unwrap_or(Duration::from_secs(1));
                let shared = shared.clone();
                let thread = spawn(&format!("input-{name}"), move || {
                    poll_metric_input(slot, interval, collector, stop_rx, &shared)
                });
                metric_inputs.push((thread, stop_tx));
            }
        }
        tracing::info!(pipeline = %name, "pipeline started");
        RunningPipeline {
            config,
            shared,
            input_tx,
            metric_inputs,
            service_inputs,
            process_thread: Some(process_thread),
            flush_thread: Some(flush_thread),
            extensions,
            stop_timeout: global.stop_timeout.get(),
            inputs_total,
            onetime_deadline: Instant::now() + global.onetime_deadline(),
        }
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Every input has said it produced all it ever will ([`loong_api::Collector::done`]).
    pub fn inputs_done(&self) -> bool {
        self.shared.inputs_done() >= self.inputs_total
    }

    /// Ends a one-time pipeline: waits until every input is done, then delivers everything (retrying
    /// as long as it takes) and stops. `ExcutionTimeout` bounds the whole run; data cut off by it
    /// stays unacknowledged, so a later run resumes from the checkpoints. Setting `cancel` (SIGTERM)
    /// stops the pipeline as [`RunningPipeline::stop`] does.
    pub fn finish(self, cancel: &AtomicBool) -> OnetimeOutcome {
        let deadline = self.onetime_deadline;
        let cancelled = || cancel.load(Ordering::Acquire);
        while !self.inputs_done() && Instant::now() < deadline && !cancelled() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let timed_out = !self.inputs_done();
        if timed_out && !cancelled() {
            tracing::error!(pipeline = %self.name(), "one-time pipeline: ExcutionTimeout reached before its inputs were done");
        }
        let shared = self.shared.clone();
        let leftover = if cancelled() {
            self.stop(StopMode::Drain)
        } else {
            // Not urgent: a one-time run waits out backoffs rather than giving up after StopTimeout.
            self.shutdown(StopMode::Drain, deadline, false)
        };
        OnetimeOutcome {
            undelivered: leftover.iter().map(Batch::event_count).sum(),
            dropped: shared.dropped(),
            timed_out,
        }
    }

    /// Stops the pipeline within its `StopTimeout`. Returns the batches that were not delivered:
    /// for [`StopMode::Handover`] the caller passes them to the new instance; for
    /// [`StopMode::Drain`] they are what the deadline cut off (already counted and logged).
    pub fn stop(self, mode: StopMode) -> Vec<Batch> {
        let deadline = Instant::now() + self.stop_timeout;
        self.shutdown(mode, deadline, mode == StopMode::Drain)
    }

    fn shutdown(mut self, mode: StopMode, deadline: Instant, urgent: bool) -> Vec<Batch> {
        let name = self.config.name.clone();
        let watchdog = shared::Watchdog::start(self.shared.clone(), deadline);
        if urgent {
            self.shared.set_urgent();
        }

        for (_, stop_tx) in &self.metric_inputs {
            let _ = stop_tx.try_send(());
        }
        for mut slot in self.service_inputs.drain(..) {
            let _g = slot.ctx.span().enter();
            if let Err(e) = slot.plugin.as_service().expect("service input").stop() {
                tracing::error!(pipeline = %name, plugin = %slot.label, error = %format!("{e:#}"), "input stop failed");
            }
        }
        for (thread, _) in self.metric_inputs.drain(..) {
            join_until(thread, deadline + Duration::from_secs(1), &name, "input");
        }
        self.shared.close_inputs();
        if mode == StopMode::Handover {
            self.shared.set_state(State::Handover);
        }
        let _ = shared::send_blocking(&self.input_tx, InMsg::Drain, &self.shared);

        if let Some(t) = self.process_thread.take() {
            join_until(t, deadline + Duration::from_secs(1), &name, "process");
        }
        let leftover = match self.flush_thread.take() {
            Some(t) => join_until(t, deadline + Duration::from_secs(2), &name, "flush").unwrap_or_default(),
            None => Vec::new(),
        };
        watchdog.finish();
        self.extensions.stop_all();

        let events: usize = leftover.iter().map(Batch::event_count).sum();
        match mode {
            StopMode::Handover => {
                tracing::info!(pipeline = %name, batches = leftover.len(), events, "pipeline stopped for update")
            }
            StopMode::Drain if events > 0 => tracing::warn!(
                pipeline = %name, events,
                "stop timeout reached: undelivered events are left unacknowledged (inputs with checkpoints re-read them)"
            ),
            StopMode::Drain => tracing::info!(pipeline = %name, "pipeline stopped"),
        }
        leftover
    }
}

fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let mut thread_name: String = name.chars().take(15).collect();
    if thread_name.is_empty() {
        thread_name.push_str("loong");
    }
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(f)
        .expect("spawn a pipeline thread")
}

/// Joins a stage thread, giving up (and leaving it detached) at `deadline`: a plugin call that never
/// returns must not hang the agent's exit.
fn join_until<T: Send + 'static>(thread: JoinHandle<T>, deadline: Instant, pipeline: &str, stage: &str) -> Option<T> {
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            tracing::error!(pipeline, stage, "stage did not stop in time; leaving it behind");
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    thread.join().ok()
}

fn poll_metric_input(
    mut slot: Slot<dyn Input>,
    interval: Duration,
    mut collector: Collector,
    stop: Receiver<()>,
    shared: &Shared,
) {
    let _g = slot.ctx.span().clone().entered();
    let errors = slot.ctx.metrics().counter("input_collect_errors_total");
    let input = slot.plugin.as_metric().expect("metric input");
    loop {
        if shared.inputs_closed() || !stop.is_empty() {
            return;
        }
        if let Err(e) = input.collect(&mut collector) {
            errors.increment(1);
            if e.downcast_ref::<CollectorClosed>().is_some() {
                return;
            }
            tracing::warn!(plugin = %slot.label, error = %format!("{e:#}"), "collect failed");
        }
        if interval.is_zero() {
            continue;
        }
        match stop.recv_timeout(interval) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
