//! The flush loop: one per pipeline. It takes a batch plus whatever else is queued, waits until each
//! flusher is ready, and hands the batch to every flusher in config order.
//!
//! Delivery contract: a failed flush/export is retried for *that* flusher, with jittered exponential
//! backoff, until it accepts (or `FlushRetry.MaxRetries` is reached, when the batch is dropped for it
//! and counted). The acknowledgements of a batch complete only once every flusher has accepted it,
//! which is what lets inputs advance their checkpoints safely.
//!
//! A batch dropped for a flusher stays allocated until that flusher's next call returns, so a flusher
//! that resumes a partly sent batch (keyed by [`loong_api::BatchKey`]) never mistakes a new batch
//! reusing its memory for a retry of it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use loong_api::global::FlushRetry;
use loong_api::model::{AckStatus, convert};
use loong_api::{Flusher, GlobalConfig, LogGroup, PipelineContext, PipelineGroupEvents, StructureType};
use rand::Rng;

use super::FlushMsg;
use super::shared::{Shared, State};
use crate::builder::Slot;

/// Groups on their way to the flushers, with which flushers already accepted them.
pub struct Batch {
    groups: Vec<PipelineGroupEvents>,
    created: Instant,
    accepted: Vec<bool>,
    dropped: bool,
    /// The flushers that gave up on this batch (`FlushRetry.MaxRetries`).
    dropped_for: Vec<usize>,
    v1: Option<Vec<LogGroup>>,
}

/// The memory of a batch some flushers gave up on, held until each of them is called again.
struct GivenUp {
    _groups: Vec<PipelineGroupEvents>,
    _v1: Option<Vec<LogGroup>>,
}

impl Batch {
    pub fn new(groups: Vec<PipelineGroupEvents>) -> Self {
        Batch {
            groups,
            created: Instant::now(),
            accepted: Vec::new(),
            dropped: false,
            dropped_for: Vec::new(),
            v1: None,
        }
    }

    pub fn event_count(&self) -> usize {
        self.groups.iter().map(|g| g.events.len()).sum()
    }

    pub fn groups(&self) -> &[PipelineGroupEvents] {
        &self.groups
    }

    fn is_fresh(&self) -> bool {
        !self.accepted.iter().any(|a| *a)
    }

    fn absorb(&mut self, other: Batch) {
        self.created = self.created.min(other.created);
        self.groups.extend(other.groups);
        self.v1 = None;
    }

    /// Completes the acknowledgements; returns the memory to hold for the flushers that dropped it.
    fn complete(mut self) -> Option<(Vec<usize>, Arc<GivenUp>)> {
        let status = if self.dropped {
            AckStatus::Dropped
        } else {
            AckStatus::Delivered
        };
        for g in &mut self.groups {
            g.acks.take().complete(status);
        }
        if self.dropped_for.is_empty() {
            return None;
        }
        let held = GivenUp {
            _groups: self.groups,
            _v1: self.v1,
        };
        Some((self.dropped_for, Arc::new(held)))
    }
}

struct FlusherMetrics {
    in_events: metrics::Counter,
    in_groups: metrics::Counter,
    in_size: metrics::Counter,
    total_delay_ms: metrics::Counter,
    errors: metrics::Counter,
    retries: metrics::Counter,
    dropped: metrics::Counter,
}

impl FlusherMetrics {
    fn new(slot: &Slot<dyn Flusher>) -> Self {
        let m = slot.ctx.metrics();
        FlusherMetrics {
            in_events: m.counter("in_events_total"),
            in_groups: m.counter("in_event_groups_total"),
            in_size: m.counter("in_size_bytes"),
            total_delay_ms: m.counter("total_delay_ms"),
            errors: m.counter("flush_errors_total"),
            retries: m.counter("flush_retries_total"),
            dropped: m.counter("flush_dropped_events_total"),
        }
    }
}

enum Outcome {
    Done,
    Interrupted,
}

struct Loop<'a> {
    name: &'a str,
    flushers: Vec<(Slot<dyn Flusher>, FlusherMetrics)>,
    retry: FlushRetry,
    structure: StructureType,
    project: String,
    logstore: String,
    logstore_key: i64,
    shared: &'a Shared,
    urgent_applied: bool,
    /// Per flusher: the batch it last gave up on, until its next call returns.
    given_up: Vec<Option<Arc<GivenUp>>>,
}

pub(crate) fn run(
    name: &str,
    flushers: Vec<Slot<dyn Flusher>>,
    rx: Receiver<FlushMsg>,
    carried: Vec<Batch>,
    global: &GlobalConfig,
    shared: &Shared,
) -> Vec<Batch> {
    let flushers = flushers.into_iter().map(|s| {
        let m = FlusherMetrics::new(&s);
        (s, m)
    });
    let flushers: Vec<_> = flushers.collect();
    let mut this = Loop {
        name,
        given_up: flushers.iter().map(|_| None).collect(),
        flushers,
        retry: global.flush_retry.clone(),
        structure: global.structure_type,
        project: global.project.clone(),
        logstore: global.logstore.clone(),
        logstore_key: logstore_key(&global.project, &global.logstore),
        shared,
        urgent_applied: false,
    };
    let mut pending: VecDeque<Batch> = carried
        .into_iter()
        .map(|b| Batch {
            accepted: Vec::new(),
            dropped_for: Vec::new(),
            ..b
        })
        .collect();
    let mut ended = false;
    let leftover = loop {
        this.apply_urgent();
        if pending.is_empty() && !ended {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(FlushMsg::Batch(b)) => pending.push_back(b),
                Ok(FlushMsg::End) | Err(RecvTimeoutError::Disconnected) => ended = true,
                Err(RecvTimeoutError::Timeout) => {
                    if shared.aborted() {
                        break Vec::new();
                    }
                    continue;
                }
            }
        }
        while let Ok(msg) = rx.try_recv() {
            match msg {
                FlushMsg::Batch(b) => pending.push_back(b),
                FlushMsg::End => ended = true,
            }
        }
        if shared.state() != State::Running {
            // Handover or abort: deliver nothing more; gather what is left for the caller.
            while !ended && !shared.aborted() {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(FlushMsg::Batch(b)) => pending.push_back(b),
                    Ok(FlushMsg::End) | Err(RecvTimeoutError::Disconnected) => ended = true,
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
            break pending.into_iter().collect();
        }
        let Some(mut batch) = pending.pop_front() else {
            if ended {
                break Vec::new();
            }
            continue;
        };
        // Take whatever else is queued along (LoongCollector does): fewer, larger flushes.
        while pending.front().is_some_and(Batch::is_fresh) && batch.is_fresh() {
            let next = pending.pop_front().expect("front exists");
            batch.absorb(next);
        }
        match this.deliver(&mut batch) {
            Outcome::Done => {
                if let Some((flushers, held)) = batch.complete() {
                    for i in flushers {
                        this.given_up[i] = Some(Arc::clone(&held));
                    }
                }
            }
            Outcome::Interrupted => pending.push_front(batch),
        }
    };
    for (slot, _) in &mut this.flushers {
        let _g = slot.ctx.span().enter();
        if let Err(e) = slot.plugin.stop() {
            tracing::error!(pipeline = name, plugin = %slot.label, error = %format!("{e:#}"), "flusher stop failed");
        }
    }
    leftover
}

/// A stable number for (project, logstore), LoongCollector's `logstoreKey`.
fn logstore_key(project: &str, logstore: &str) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (project, logstore).hash(&mut h);
    h.finish() as i64
}

impl Loop<'_> {
    fn apply_urgent(&mut self) {
        if self.shared.urgent() && !self.urgent_applied {
            self.urgent_applied = true;
            for (slot, _) in &mut self.flushers {
                let _g = slot.ctx.span().enter();
                slot.plugin.set_urgent(true);
            }
        }
    }

    fn deliver(&mut self, batch: &mut Batch) -> Outcome {
        batch.accepted.resize(self.flushers.len(), false);
        for i in 0..self.flushers.len() {
            if batch.accepted[i] {
                continue;
            }
            let mut attempt: u32 = 0;
            loop {
                if !self.wait_ready(i) {
                    return Outcome::Interrupted;
                }
                match self.call(i, batch) {
                    Ok(()) => {
                        batch.accepted[i] = true;
                        let m = &self.flushers[i].1;
                        m.in_events.increment(batch.event_count() as u64);
                        m.in_groups.increment(batch.groups.len() as u64);
                        m.in_size
                            .increment(batch.groups.iter().map(|g| g.byte_size() as u64).sum());
                        m.total_delay_ms.increment(batch.created.elapsed().as_millis() as u64);
                        break;
                    }
                    Err(e) => {
                        attempt += 1;
                        let (slot, m) = &self.flushers[i];
                        m.errors.increment(1);
                        if self.retry.max_retries > 0 && attempt >= self.retry.max_retries {
                            let events = batch.event_count();
                            m.dropped.increment(events as u64);
                            self.shared.add_dropped(events as u64);
                            tracing::error!(
                                pipeline = self.name, plugin = %slot.label, attempts = attempt, events,
                                error = %format!("{e:#}"), "flush failed; dropping the batch for this flusher (FlushRetry.MaxRetries)"
                            );
                            batch.accepted[i] = true;
                            batch.dropped = true;
                            batch.dropped_for.push(i);
                            break;
                        }
                        let delay = self.backoff(attempt);
                        if attempt == 1 || attempt.is_power_of_two() {
                            tracing::warn!(
                                pipeline = self.name, plugin = %slot.label, attempt, retry_in = ?delay,
                                error = %format!("{e:#}"), "flush failed; will retry"
                            );
                        }
                        m.retries.increment(1);
                        if !self.sleep(delay) {
                            return Outcome::Interrupted;
                        }
                    }
                }
            }
        }
        Outcome::Done
    }

    fn call(&mut self, i: usize, batch: &mut Batch) -> loong_api::Result<()> {
        let structure = self.structure;
        let (slot, _) = &mut self.flushers[i];
        let _g = slot.ctx.span().enter();
        let has_v2 = slot.plugin.as_v2().is_some();
        let use_v2 = has_v2 && (structure == StructureType::V2 || slot.plugin.as_v1().is_none());
        let result = if use_v2 {
            let mut ctx = PipelineContext::noop();
            slot.plugin.as_v2().expect("checked").export(&batch.groups, &mut ctx)
        } else {
            let groups = batch
                .v1
                .get_or_insert_with(|| convert::events_to_log_groups(&batch.groups));
            let config = slot.ctx.config_name().to_owned();
            slot.plugin
                .as_v1()
                .expect("validated at build")
                .flush(&self.project, &self.logstore, &config, groups)
        };
        self.given_up[i] = None;
        result
    }

    /// Waits until flusher `i` is ready. Sleeps on the pipeline's ready signal with a timeout that
    /// grows to 500 ms, so a flusher that never calls `notify_ready` still costs nothing measurable.
    fn wait_ready(&mut self, i: usize) -> bool {
        let mut wait = Duration::from_millis(1);
        loop {
            self.apply_urgent();
            let generation = self.shared.ready.generation();
            if self.shared.state() != State::Running {
                return false;
            }
            let (slot, _) = &self.flushers[i];
            if slot.plugin.is_ready(&self.project, &self.logstore, self.logstore_key) {
                return true;
            }
            self.shared.ready.wait_since(generation, wait);
            wait = (wait * 2).min(Duration::from_millis(500));
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let initial = self.retry.initial_delay.get().max(Duration::from_millis(1));
        let max = self.retry.max_delay.get().max(initial);
        let exp = initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(max);
        let exp = if self.shared.urgent() {
            exp.min(Duration::from_millis(500))
        } else {
            exp
        };
        let half = exp / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    /// Sleeps `d`, waking early when the pipeline stops; false when it must give up.
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            let generation = self.shared.ready.generation();
            if self.shared.state() != State::Running {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            self.shared.ready.wait_since(generation, until - now);
        }
    }
}
