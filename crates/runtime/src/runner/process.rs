//! The processing stage: processors in config order, then the aggregator, then the batch queue.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use loong_api::model::{AckStatus, convert};
use loong_api::{Aggregator, PipelineGroupEvents, Processor};

use super::flush::Batch;
use super::shared::{Shared, send_blocking};
use super::{FlushMsg, InMsg};
use crate::builder::Slot;

pub(crate) fn run(
    mut processors: Vec<Slot<dyn Processor>>,
    (mut aggregator, interval): (Slot<dyn Aggregator>, Duration),
    rx: Receiver<InMsg>,
    tx: Sender<FlushMsg>,
    shared: &Shared,
) {
    let interval = if interval.is_zero() {
        Duration::from_secs(1)
    } else {
        interval
    };
    let mut next_tick = Instant::now() + interval;
    let mut ready: Vec<PipelineGroupEvents> = Vec::new();
    let agg_errors = aggregator.ctx.metrics().counter("aggregator_errors_total");
    loop {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        let draining = match rx.recv_timeout(timeout) {
            Ok(InMsg::Group(mut group, bytes)) => {
                shared.release_queue_bytes(bytes);
                run_processors(&mut processors, &mut group);
                if group.events.is_empty() {
                    // Filtered out by a processor: handled, so the input may move past it.
                    group.acks.take().complete(AckStatus::Delivered);
                } else if let Err(e) = aggregator.plugin.record(group, &mut ready) {
                    agg_errors.increment(1);
                    tracing::error!(plugin = %aggregator.label, error = %format!("{e:#}"), "aggregator failed");
                }
                false
            }
            Ok(InMsg::Drain) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => {
                next_tick = Instant::now() + interval;
                if let Err(e) = aggregator.plugin.get_result(&mut ready, false) {
                    agg_errors.increment(1);
                    tracing::error!(plugin = %aggregator.label, error = %format!("{e:#}"), "aggregator failed");
                }
                false
            }
        };
        if draining {
            let _ = aggregator.plugin.get_result(&mut ready, true);
        }
        if !ready.is_empty() {
            let batch = Batch::new(std::mem::take(&mut ready));
            if send_blocking(&tx, FlushMsg::Batch(batch), shared).is_err() {
                return;
            }
        }
        if draining {
            let _ = send_blocking(&tx, FlushMsg::End, shared);
            return;
        }
    }
}

fn run_processors(processors: &mut [Slot<dyn Processor>], group: &mut PipelineGroupEvents) {
    for slot in processors {
        if let Some(p) = slot.plugin.as_v2() {
            p.process(group);
        } else if let Some(p) = slot.plugin.as_v1() {
            // A V1 processor sees the group as a LogGroup; its result replaces the events.
            let mut log_group = convert::events_to_log_group(group);
            let logs = p.process_logs(std::mem::take(&mut log_group.logs));
            log_group.logs = logs;
            let converted = convert::log_group_to_events(&log_group);
            group.events = converted.events;
        }
        if group.events.is_empty() {
            return;
        }
    }
}
