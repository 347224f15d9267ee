use std::sync::Arc;

use crate::{GroupInfo, PipelineEvent, PipelineGroupEvents};
use loong_model::AckSet;

/// The pipeline has stopped taking data; the input should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline no longer accepts data")]
pub struct CollectorClosed;

/// Where a [`Collector`] delivers groups: the runtime's bounded input queue, or a test's vector.
pub trait CollectorSink: Send + Sync {
    /// Delivers one group, blocking while the destination is full.
    fn send(&self, group: PipelineGroupEvents) -> Result<(), CollectorClosed>;

    /// The input behind this collector has produced everything it ever will.
    fn done(&self) {}
}

/// The handle inputs push data into (LoongCollector's `PipelineCollector`). Cheap to clone and
/// `Send`, so an input's threads can each own one.
#[derive(Clone)]
pub struct Collector {
    sink: Arc<dyn CollectorSink>,
}

impl Collector {
    pub fn new(sink: Arc<dyn CollectorSink>) -> Self {
        Collector { sink }
    }

    /// Pushes one group of events. Blocks while the pipeline is full.
    pub fn collect(&self, group: GroupInfo, events: Vec<PipelineEvent>) -> Result<(), CollectorClosed> {
        self.sink.send(PipelineGroupEvents::new(group, events))
    }

    /// Pushes a group whose delivery the input wants acknowledged.
    pub fn collect_acked(
        &self,
        group: GroupInfo,
        events: Vec<PipelineEvent>,
        acks: AckSet,
    ) -> Result<(), CollectorClosed> {
        self.sink.send(PipelineGroupEvents { group, events, acks })
    }

    /// Pushes whole groups.
    pub fn collect_list(&self, groups: Vec<PipelineGroupEvents>) -> Result<(), CollectorClosed> {
        groups.into_iter().try_for_each(|g| self.sink.send(g))
    }

    /// Tells the pipeline this input has produced everything it ever will (it reached the end of
    /// its sources in a one-time pipeline, see [`crate::Context::is_onetime`]). A one-time
    /// pipeline ends once all its inputs are done and everything they collected is delivered.
    /// Calling it more than once is harmless.
    pub fn done(&self) {
        self.sink.done()
    }

    /// A collector that keeps what it is given, for tests and for in-process use.
    pub fn memory() -> (Collector, MemoryCollected) {
        let store = Arc::new(MemorySink::default());
        (Collector { sink: store.clone() }, MemoryCollected(store))
    }
}

#[derive(Default)]
struct MemorySink(parking_lot::Mutex<Vec<PipelineGroupEvents>>);

impl CollectorSink for MemorySink {
    fn send(&self, group: PipelineGroupEvents) -> Result<(), CollectorClosed> {
        self.0.lock().push(group);
        Ok(())
    }
}

/// What a [`Collector::memory`] collector received.
#[derive(Clone)]
pub struct MemoryCollected(Arc<MemorySink>);

impl MemoryCollected {
    /// Takes everything collected so far (LoongCollector's `ToArray`).
    pub fn to_array(&self) -> Vec<PipelineGroupEvents> {
        std::mem::take(&mut *self.0.0.lock())
    }

    pub fn len(&self) -> usize {
        self.0.0.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Passed to [`crate::FlusherV2::export`] (LoongCollector's `PipelineContext`). Flushers get one whose
/// collector keeps nothing useful; it exists so the signature matches the Go API.
pub struct PipelineContext {
    collector: Collector,
}

impl PipelineContext {
    pub fn new(collector: Collector) -> Self {
        PipelineContext { collector }
    }

    /// A context whose collector discards what it is given.
    pub fn noop() -> Self {
        struct Discard;
        impl CollectorSink for Discard {
            fn send(&self, _: PipelineGroupEvents) -> Result<(), CollectorClosed> {
                Ok(())
            }
        }
        PipelineContext {
            collector: Collector::new(Arc::new(Discard)),
        }
    }

    pub fn collector(&self) -> &Collector {
        &self.collector
    }
}

impl Default for PipelineContext {
    fn default() -> Self {
        Self::noop()
    }
}
