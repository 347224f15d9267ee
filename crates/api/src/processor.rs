use crate::{Context, Log, PipelineGroupEvents, Result};

/// What every processor implements.
pub trait Processor: Send {
    fn init(&mut self, ctx: &Context) -> Result<()>;

    fn description(&self) -> &str;

    fn as_v1(&mut self) -> Option<&mut dyn ProcessorV1> {
        None
    }

    fn as_v2(&mut self) -> Option<&mut dyn ProcessorV2> {
        None
    }
}

/// A processor of SLS logs (LoongCollector's `ProcessorV1`).
pub trait ProcessorV1: Processor {
    /// Returns the logs to pass on: changed, fewer, or more.
    fn process_logs(&mut self, logs: Vec<Log>) -> Vec<Log>;
}

/// A processor of V2 event groups (LoongCollector's `ProcessorV2`).
///
/// It changes the group in place (LoongCollector's C++ processors work the same way), which keeps
/// the hot path free of copies; dropping events is `group.events.retain(…)`. A processor never
/// loses data on a parse failure: it keeps the original content (see the `KeepingSourceWhen…`
/// options of the parsers).
pub trait ProcessorV2: Processor {
    fn process(&mut self, group: &mut PipelineGroupEvents);
}
