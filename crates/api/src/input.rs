use std::time::Duration;

use crate::{Collector, Context, Result};

/// What every input implements.
pub trait Input: Send {
    /// Prepares the input. A metric input returns the interval at which it wants to be polled
    /// (`None`: the pipeline's default, 1 s); a service input returns `None`.
    fn init(&mut self, ctx: &Context) -> Result<Option<Duration>>;

    fn description(&self) -> &str;

    fn as_metric(&mut self) -> Option<&mut dyn MetricInput> {
        None
    }

    fn as_service(&mut self) -> Option<&mut dyn ServiceInput> {
        None
    }
}

/// An input the runner polls on its interval (LoongCollector's `MetricInput`).
pub trait MetricInput: Input {
    /// Collects what is available now. May block briefly when the pipeline is full.
    fn collect(&mut self, collector: &mut Collector) -> Result<()>;
}

/// An input that produces data on its own (LoongCollector's `ServiceInput`): it reads files, listens
/// on a socket, follows stdin…
pub trait ServiceInput: Input {
    /// Starts the input's own thread(s) or task(s) and returns. They push into `collector`, whose
    /// `collect` blocks while the pipeline is full; that is how back-pressure reaches the source.
    fn start(&mut self, collector: Collector) -> Result<()>;

    /// Stops producing and waits for the input's threads/tasks to end. Data already collected is
    /// still delivered by the pipeline.
    fn stop(&mut self) -> Result<()>;
}
