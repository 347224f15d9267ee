use loong_api::{Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents, Result};

use crate::config::BlackholeConfig;

/// Metric handles, made once in `init` so a batch costs three atomic adds, not label lookups.
struct Counters {
    events: metrics::Counter,
    bytes: metrics::Counter,
    groups: metrics::Counter,
}

pub struct BlackholeFlusher {
    counters: Option<Counters>,
}

impl BlackholeFlusher {
    pub fn new(_: BlackholeConfig) -> Self {
        BlackholeFlusher { counters: None }
    }

    fn count(&self, groups: usize, events: usize, bytes: usize) {
        if let Some(c) = &self.counters {
            c.groups.increment(groups as u64);
            c.events.increment(events as u64);
            c.bytes.increment(bytes as u64);
        }
    }
}

/// Payload bytes of a V1 log: keys and values, the measure V2's `byte_size` uses.
fn log_bytes(log: &loong_api::Log) -> usize {
    log.contents.iter().map(|c| c.key.len() + c.value.len()).sum()
}

impl Flusher for BlackholeFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let m = ctx.metrics();
        self.counters = Some(Counters {
            events: m.counter("blackhole_events_total"),
            bytes: m.counter("blackhole_bytes_total"),
            groups: m.counter("blackhole_groups_total"),
        });
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
        let events = groups.iter().map(|g| g.logs.len()).sum();
        let bytes = groups.iter().flat_map(|g| &g.logs).map(log_bytes).sum();
        self.count(groups.len(), events, bytes);
        Ok(())
    }
}

impl FlusherV2 for BlackholeFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        // Events are counted per group; bytes need a pass over the events, but only over their
        // length fields, never over the payload itself.
        let events = groups.iter().map(|g| g.events.len()).sum();
        let bytes = groups.iter().map(PipelineGroupEvents::byte_size).sum();
        self.count(groups.len(), events, bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use loong_testkit::{MetricsCapture, log_events, mock_context, sample_events, sample_log_groups};

    use super::*;

    fn flusher(capture: &MetricsCapture) -> BlackholeFlusher {
        let mut f = BlackholeFlusher::new(BlackholeConfig::default());
        capture.scoped(|| f.init(&mock_context(crate::NAME))).unwrap();
        f
    }

    #[test]
    fn counts_v2_events_bytes_and_groups() {
        let capture = MetricsCapture::new();
        let mut f = flusher(&capture);
        let batch = [log_events(3), sample_events().remove(0)];
        f.export(&batch, &mut PipelineContext::noop()).unwrap();
        let bytes: usize = batch.iter().map(PipelineGroupEvents::byte_size).sum();
        assert_eq!(capture.counter("blackhole_events_total"), 3 + 5);
        assert_eq!(capture.counter("blackhole_groups_total"), 2);
        assert_eq!(capture.counter("blackhole_bytes_total"), bytes as u64);
        assert_eq!(
            capture.counter_with("blackhole_events_total", &[("plugin_type", crate::NAME)]),
            8
        );
    }

    #[test]
    fn counts_v1_logs_and_their_content_bytes() {
        let capture = MetricsCapture::new();
        let mut f = flusher(&capture);
        f.flush("p", "l", "c", &sample_log_groups()).unwrap();
        assert_eq!(capture.counter("blackhole_events_total"), 5);
        assert_eq!(capture.counter("blackhole_groups_total"), 2);

        let content = |k: &str, v: &str| loong_api::model::v1::Content {
            key: k.into(),
            value: v.into(),
        };
        let group = LogGroup {
            logs: vec![loong_api::Log {
                contents: vec![content("content", "hello"), content("k", "vv")],
                ..Default::default()
            }],
            ..Default::default()
        };
        let before = capture.counter("blackhole_bytes_total");
        f.flush("p", "l", "c", &[group]).unwrap();
        assert_eq!(capture.counter("blackhole_bytes_total") - before, 7 + 5 + 1 + 2);
    }

    #[test]
    fn is_always_ready_and_works_without_a_recorder() {
        let mut f = BlackholeFlusher::new(BlackholeConfig::default());
        f.init(&mock_context(crate::NAME)).unwrap();
        assert!(f.is_ready("", "", 0));
        f.export(&[log_events(1)], &mut PipelineContext::noop()).unwrap();
        f.stop().unwrap();
    }
}
