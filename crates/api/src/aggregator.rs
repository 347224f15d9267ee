use std::time::Duration;

use crate::{Context, PipelineGroupEvents, Result};

/// Batches groups between the processors and the flushers (LoongCollector's `Aggregator`, V2 form).
///
/// An aggregator that merges groups must merge their acknowledgements too
/// (`dst.acks.merge(src.acks.take())`), and one that divides a group gives each part
/// `group.acks.split()`; that keeps the delivery contract intact.
pub trait Aggregator: Send {
    /// Returns the interval at which the runner calls [`Aggregator::get_result`].
    fn init(&mut self, ctx: &Context) -> Result<Duration>;

    fn description(&self) -> &str;

    /// Takes one group; pushes to `ready` any batch that is full now.
    fn record(&mut self, group: PipelineGroupEvents, ready: &mut Vec<PipelineGroupEvents>) -> Result<()>;

    /// Pushes to `ready` every batch due by time. With `all`, everything held (the pipeline is
    /// stopping).
    fn get_result(&mut self, ready: &mut Vec<PipelineGroupEvents>, all: bool) -> Result<()>;
}
