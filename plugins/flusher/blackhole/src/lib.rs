//! `flusher_blackhole`: accepts everything, counts it, keeps nothing. The sink of the throughput
//! benchmarks, so it does O(groups) work per batch, not O(bytes).

use loong_api::{Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_blackhole";

/// Counts and discards every event (`blackhole_events_total`, `blackhole_groups_total`): for
/// benchmarks and for trying a pipeline without a backend.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BlackholeConfig {}

#[derive(Default)]
pub struct BlackholeFlusher {
    events: Option<metrics::Counter>,
    groups: Option<metrics::Counter>,
}

impl BlackholeFlusher {
    fn count(&self, groups: usize, events: usize) {
        if let (Some(g), Some(e)) = (&self.groups, &self.events) {
            g.increment(groups as u64);
            e.increment(events as u64);
        }
    }
}

impl Flusher for BlackholeFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        self.events = Some(ctx.metrics().counter("blackhole_events_total"));
        self.groups = Some(ctx.metrics().counter("blackhole_groups_total"));
        Ok(())
    }

    fn description(&self) -> &str {
        "blackhole flusher: counts and discards everything"
    }

    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        true
    }

    fn set_urgent(&mut self, _: bool) {}

    fn stop(&mut self) -> Result<()> {
        Ok(())
    }

    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        Some(self)
    }

    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV1 for BlackholeFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        self.count(groups.len(), groups.iter().map(|g| g.logs.len()).sum());
        Ok(())
    }
}

impl FlusherV2 for BlackholeFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        self.count(groups.len(), groups.iter().map(|g| g.events.len()).sum());
        Ok(())
    }
}

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |_: BlackholeConfig| Box::new(BlackholeFlusher::default()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        loong_testkit::Conformance::from_registry(register, NAME, serde_json::json!({})).run();
    }
}
