//! The default aggregator, used when a pipeline names none: batches events per source by count,
//! bytes and time, as LoongCollector's default does (1024 events or ~3 MiB per group, sent at least
//! every 3 s). The `aggregator_*` plugins configure the same batching.

use std::time::Duration;

use loong_api::batch::{Batcher, Limits, source_key};
use loong_api::{Aggregator, Context, PipelineGroupEvents, Result};

pub struct DefaultAggregator {
    batcher: Batcher,
}

impl Default for DefaultAggregator {
    fn default() -> Self {
        DefaultAggregator {
            batcher: Batcher::new(Limits::default()),
        }
    }
}

impl Aggregator for DefaultAggregator {
    fn init(&mut self, _: &Context) -> Result<Duration> {
        Ok(self.batcher.limits().interval)
    }

    fn description(&self) -> &str {
        "batches events per source by count, bytes and time"
    }

    fn record(&mut self, group: PipelineGroupEvents, ready: &mut Vec<PipelineGroupEvents>) -> Result<()> {
        self.batcher.add(source_key(&group.group), group, ready);
        Ok(())
    }

    fn get_result(&mut self, ready: &mut Vec<PipelineGroupEvents>, all: bool) -> Result<()> {
        self.batcher.due(ready, all);
        Ok(())
    }
}
