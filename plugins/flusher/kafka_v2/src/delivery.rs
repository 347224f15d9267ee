//! Delivery state of one batch: a slot per message, updated by librdkafka's delivery reports (on
//! the producer's polling thread) and read by the flush that waits for them.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Where one message of the batch is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Not handed to the producer yet (or to be sent again).
    Todo,
    /// In the producer's queue, waiting for its delivery report.
    InFlight,
    /// Acknowledged by the broker.
    Delivered,
    /// Refused for good (too large, invalid topic…): logged and counted, never retried.
    Rejected,
    /// Failed this time; sent again by the next attempt.
    Failed(String),
}

/// Counters shared by every batch of one flusher.
pub struct Metrics {
    pub sent: metrics::Counter,
    pub sent_bytes: metrics::Counter,
    pub failed: metrics::Counter,
    pub rejected: metrics::Counter,
    pub duration: metrics::Histogram,
    /// Wakes the runner when a batch's last report arrives (the producer queue has room again).
    pub ready: loong_api::ReadySignal,
}

impl Metrics {
    pub fn new(ctx: &loong_api::Context) -> Metrics {
        let m = ctx.metrics();
        Metrics {
            sent: m.counter("kafka_sent_messages_total"),
            sent_bytes: m.counter("kafka_sent_bytes_total"),
            failed: m.counter("kafka_failed_messages_total"),
            rejected: m.counter("kafka_rejected_messages_total"),
            duration: m.histogram("kafka_delivery_duration_seconds"),
            ready: ctx.ready_signal().clone(),
        }
    }
}

struct Slots {
    slots: Vec<Slot>,
    in_flight: usize,
}

/// The slots of one batch.
pub struct BatchState {
    inner: Mutex<Slots>,
    changed: Condvar,
    metrics: Arc<Metrics>,
}

/// The delivery opaque of one message: which slot its report goes to.
pub struct Ticket {
    state: Arc<BatchState>,
    index: usize,
    bytes: usize,
}

/// Errors no retry can fix: the message itself is wrong for the broker.
pub fn is_permanent(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidMessage
        )
    )
}

impl BatchState {
    pub fn new(len: usize, metrics: Arc<Metrics>) -> Arc<BatchState> {
        Arc::new(BatchState {
            inner: Mutex::new(Slots {
                slots: vec![Slot::Todo; len],
                in_flight: 0,
            }),
            changed: Condvar::new(),
            metrics,
        })
    }

    pub fn len(&self) -> usize {
        self.inner.lock().slots.len()
    }

    /// Indexes of the messages to send now: never sent, or failed last time.
    pub fn to_send(&self) -> Vec<usize> {
        let inner = self.inner.lock();
        (0..inner.slots.len())
            .filter(|i| matches!(inner.slots[*i], Slot::Todo | Slot::Failed(_)))
            .collect()
    }

    /// Marks `index` in flight and returns the ticket its delivery report will carry. Called just
    /// before the message is handed to the producer, since the report may come at once.
    pub fn ticket(self: &Arc<Self>, index: usize, bytes: usize) -> Box<Ticket> {
        let mut inner = self.inner.lock();
        inner.slots[index] = Slot::InFlight;
        inner.in_flight += 1;
        Box::new(Ticket {
            state: self.clone(),
            index,
            bytes,
        })
    }

    /// The producer did not take message `index` (`send` returned an error).
    pub fn not_sent(&self, index: usize, error: &KafkaError, events: usize) {
        let mut inner = self.inner.lock();
        inner.in_flight -= 1;
        inner.slots[index] = if is_permanent(error) {
            self.reject(error, events);
            Slot::Rejected
        } else {
            self.metrics.failed.increment(1);
            Slot::Failed(error.to_string())
        };
    }

    fn reject(&self, error: &KafkaError, events: usize) {
        self.metrics.rejected.increment(1);
        tracing::error!(
            events,
            error = %error,
            "flusher_kafka_v2: message rejected; it can never be delivered and is dropped"
        );
    }

    /// Waits until no message is in flight or `deadline` passes; true when none is in flight.
    pub fn wait(&self, deadline: Instant) -> bool {
        let mut inner = self.inner.lock();
        while inner.in_flight > 0 {
            if self.changed.wait_until(&mut inner, deadline).timed_out() {
                return inner.in_flight == 0;
            }
        }
        true
    }

    /// Waits for the next delivery report of this batch, at most until `deadline`.
    pub fn wait_for_any(&self, deadline: Instant) {
        let mut inner = self.inner.lock();
        if inner.in_flight > 0 {
            self.changed.wait_until(&mut inner, deadline);
        }
    }

    /// Messages neither delivered nor rejected, and the last error among them.
    pub fn outstanding(&self) -> (usize, Option<String>) {
        let inner = self.inner.lock();
        let mut n = 0;
        let mut last = None;
        for s in &inner.slots {
            match s {
                Slot::Delivered | Slot::Rejected => {}
                Slot::Failed(e) => {
                    n += 1;
                    last = Some(e.clone());
                }
                Slot::InFlight => {
                    n += 1;
                    last.get_or_insert_with(|| "no delivery report yet".to_owned());
                }
                Slot::Todo => n += 1,
            }
        }
        (n, last)
    }

    #[cfg(test)]
    pub fn slots(&self) -> Vec<Slot> {
        self.inner.lock().slots.clone()
    }
}

impl Ticket {
    /// Records the delivery report of this message.
    pub fn report(self, result: Result<(), KafkaError>) {
        let state = &self.state;
        let m = &state.metrics;
        let mut inner = state.inner.lock();
        inner.slots[self.index] = match result {
            Ok(()) => {
                m.sent.increment(1);
                m.sent_bytes.increment(self.bytes as u64);
                Slot::Delivered
            }
            Err(e) if is_permanent(&e) => {
                state.reject(&e, 1);
                Slot::Rejected
            }
            Err(e) => {
                m.failed.increment(1);
                Slot::Failed(e.to_string())
            }
        };
        inner.in_flight -= 1;
        let done = inner.in_flight == 0;
        drop(inner);
        state.changed.notify_all();
        if done {
            m.ready.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn metrics() -> Arc<Metrics> {
        Arc::new(Metrics::new(&loong_api::Context::builder("t").build()))
    }

    #[test]
    fn reports_settle_slots_and_a_retry_sends_only_what_failed() {
        let state = BatchState::new(4, metrics());
        assert_eq!(state.to_send(), vec![0, 1, 2, 3]);
        let tickets: Vec<_> = (0..4).map(|i| state.ticket(i, 10)).collect();
        assert!(!state.wait(Instant::now() + Duration::from_millis(10)), "all in flight");
        let mut t = tickets.into_iter();
        t.next().unwrap().report(Ok(()));
        t.next()
            .unwrap()
            .report(Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)));
        t.next().unwrap().report(Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge,
        )));
        let last = t.next().unwrap();
        let (n, _) = state.outstanding();
        assert_eq!(n, 2, "one failed, one in flight");
        let s = state.clone();
        let waiter = std::thread::spawn(move || s.wait(Instant::now() + Duration::from_secs(10)));
        last.report(Ok(()));
        assert!(waiter.join().unwrap());
        assert_eq!(state.to_send(), vec![1], "only the timed-out message is sent again");
        assert_eq!(state.slots()[2], Slot::Rejected);
    }

    #[test]
    fn a_message_the_producer_refused_is_failed_or_rejected() {
        let state = BatchState::new(2, metrics());
        let _t0 = state.ticket(0, 1);
        state.not_sent(0, &KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), 1);
        let _t1 = state.ticket(1, 1);
        state.not_sent(
            1,
            &KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
            1,
        );
        assert!(matches!(state.slots()[0], Slot::Failed(_)));
        assert_eq!(state.slots()[1], Slot::Rejected);
        assert!(state.wait(Instant::now()), "nothing in flight");
    }
}
