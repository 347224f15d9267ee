use std::time::Duration;

use loong_api::model::{MetricEvent, MetricType};
use loong_api::{Collector, Context, GroupInfo, Input, KeyValues, LogEvent, MetricInput, PipelineEvent, Result};

use crate::MockOptions;

const DESCRIPTION: &str = "mock input plugin: generates numbered log events";

/// How long an exhausted input with a zero interval waits per collect: the runner polls such an
/// input in a tight loop, and an input with nothing left to produce must not spin a core.
const EXHAUSTED_PAUSE: Duration = Duration::from_millis(50);

pub struct MockInput {
    options: MockOptions,
    tags: KeyValues,
    /// The index of the last event delivered; the next event gets `index + 1`.
    index: i64,
    /// Events delivered so far, checked against `MaxEvents`.
    produced: u64,
}

impl MockInput {
    pub fn new(options: MockOptions) -> Self {
        let mut tags = KeyValues::with_capacity(options.tags.len());
        for (k, v) in &options.tags {
            tags.push(k.clone(), v.clone());
        }
        MockInput {
            index: options.index,
            options,
            tags,
            produced: 0,
        }
    }

    /// The index of the last event delivered.
    pub fn index(&self) -> i64 {
        self.index
    }

    /// How many events have been delivered.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    fn remaining(&self) -> u64 {
        match self.options.max_events {
            0 => u64::MAX,
            max => max.saturating_sub(self.produced),
        }
    }

    fn event(&self, index: i64, timestamp: u64) -> PipelineEvent {
        if self.options.metric_name.is_empty() {
            return self.log(index, timestamp).into();
        }
        let mut metric = MetricEvent::single(
            self.options.metric_name.clone(),
            MetricType::Gauge,
            index as f64,
            timestamp,
        );
        for (k, v) in &self.options.fields {
            metric.tags.insert(k.clone(), v.clone());
        }
        metric.into()
    }

    fn log(&self, index: i64, timestamp: u64) -> LogEvent {
        let mut contents = KeyValues::with_capacity(1 + self.options.fields.len());
        contents.push("Index", index.to_string());
        for (k, v) in &self.options.fields {
            contents.insert(k.clone(), v.clone());
        }
        LogEvent {
            contents,
            timestamp,
            observed_timestamp: timestamp,
            ..Default::default()
        }
    }
}

impl Input for MockInput {
    fn init(&mut self, _ctx: &Context) -> Result<Option<Duration>> {
        anyhow::ensure!(
            self.options.events_per_collect > 0,
            "EventsPerCollect must be at least 1"
        );
        Ok(Some(self.options.interval.get()))
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_metric(&mut self) -> Option<&mut dyn MetricInput> {
        Some(self)
    }
}

impl MetricInput for MockInput {
    fn collect(&mut self, collector: &mut Collector) -> Result<()> {
        let count = self.remaining().min(self.options.events_per_collect as u64);
        if count == 0 {
            if self.options.interval.is_zero() {
                std::thread::sleep(EXHAUSTED_PAUSE);
            }
            return Ok(());
        }
        let timestamp = loong_api::model::now_nanos();
        let events: Vec<PipelineEvent> = (1..=count as i64)
            .map(|i| self.event(self.index.wrapping_add(i), timestamp))
            .collect();
        let group = GroupInfo {
            tags: self.tags.clone(),
            ..Default::default()
        };
        collector.collect(group, events)?;
        // Advanced only once the pipeline took the group, so the numbering stays gap-free even
        // when a collect fails.
        self.index = self.index.wrapping_add(count as i64);
        self.produced += count;
        if self.remaining() == 0 {
            // MaxEvents reached: a one-time pipeline may end.
            collector.done();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use loong_api::{CollectorClosed, CollectorSink, PipelineGroupEvents, Registry};
    use serde_json::json;

    use super::*;

    fn create(options: serde_json::Value) -> (Box<dyn Input>, Option<Duration>) {
        let mut registry = Registry::new();
        crate::register(&mut registry);
        assert!(registry.problems().is_empty(), "{:?}", registry.problems());
        let (mut input, warnings) = registry.create_input(crate::NAME, &options).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let interval = input
            .init(&Context::builder("test").plugin(crate::NAME, crate::NAME).build())
            .unwrap();
        (input, interval)
    }

    fn indexes(groups: &[PipelineGroupEvents]) -> Vec<i64> {
        groups
            .iter()
            .flat_map(|g| &g.events)
            .map(|e| e.as_log().unwrap().contents.get_str("Index").unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn defaults_match_loongcollector_and_poll_every_second() {
        let (mut input, interval) = create(json!({}));
        assert_eq!(interval, Some(Duration::from_secs(1)));
        let (mut collector, collected) = Collector::memory();
        let metric = input.as_metric().unwrap();
        metric.collect(&mut collector).unwrap();
        metric.collect(&mut collector).unwrap();
        let groups = collected.to_array();
        assert_eq!(groups.len(), 2);
        assert!(groups[0].group.tags.is_empty());
        let log = groups[0].events[0].as_log().unwrap();
        assert_eq!(log.contents.len(), 1);
        assert!(log.timestamp > 0);
        assert_eq!(indexes(&groups), vec![1, 2]);
    }

    #[test]
    fn events_carry_fields_after_index_and_tags_on_the_group() {
        let (mut input, _) = create(json!({
            "Tags": {"app": "demo", "shard": 3},
            "Fields": {"content": "mock log", "ok": true},
            "Index": 41,
        }));
        let (mut collector, collected) = Collector::memory();
        input.as_metric().unwrap().collect(&mut collector).unwrap();
        let groups = collected.to_array();
        let tags: Vec<_> = groups[0]
            .group
            .tags
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        assert_eq!(tags, vec![(&b"app"[..], &b"demo"[..]), (b"shard", b"3")]);
        let log = groups[0].events[0].as_log().unwrap();
        let contents: Vec<_> = log.contents.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        assert_eq!(
            contents,
            vec![(&b"Index"[..], &b"42"[..]), (b"content", b"mock log"), (b"ok", b"true")]
        );
        assert_eq!(log.body().map(|b| b.as_ref()), Some(&b"mock log"[..]));
    }

    #[test]
    fn a_field_named_index_replaces_the_counter() {
        let (mut input, _) = create(json!({"Fields": {"Index": "fixed"}}));
        let (mut collector, collected) = Collector::memory();
        input.as_metric().unwrap().collect(&mut collector).unwrap();
        let log = collected.to_array().remove(0).events.remove(0);
        let contents = &log.as_log().unwrap().contents;
        assert_eq!(contents.len(), 1);
        assert_eq!(contents.get_str("Index").as_deref(), Some("fixed"));
    }

    #[test]
    fn batches_stop_exactly_at_max_events_without_gaps_or_duplicates() {
        let (mut input, interval) = create(json!({"EventsPerCollect": 4, "MaxEvents": 10, "Interval": "10ms"}));
        assert_eq!(interval, Some(Duration::from_millis(10)));
        let (mut collector, collected) = Collector::memory();
        let metric = input.as_metric().unwrap();
        for _ in 0..5 {
            metric.collect(&mut collector).unwrap();
        }
        let groups = collected.to_array();
        assert_eq!(groups.iter().map(|g| g.events.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
        assert_eq!(indexes(&groups), (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn a_refused_group_is_not_counted() {
        struct Closed;
        impl CollectorSink for Closed {
            fn send(&self, _: PipelineGroupEvents) -> Result<(), CollectorClosed> {
                Err(CollectorClosed)
            }
        }
        let mut input = MockInput::new(MockOptions {
            events_per_collect: 3,
            ..Default::default()
        });
        let err = input.collect(&mut Collector::new(Arc::new(Closed))).unwrap_err();
        assert!(err.downcast_ref::<CollectorClosed>().is_some(), "{err:#}");
        assert_eq!((input.index(), input.produced()), (0, 0));

        let (mut collector, collected) = Collector::memory();
        input.collect(&mut collector).unwrap();
        assert_eq!(indexes(&collected.to_array()), vec![1, 2, 3]);
    }

    #[test]
    fn zero_interval_polls_immediately_and_rests_once_exhausted() {
        let (mut input, interval) = create(json!({"Interval": 0, "MaxEvents": 1}));
        assert_eq!(interval, Some(Duration::ZERO));
        let (mut collector, collected) = Collector::memory();
        let metric = input.as_metric().unwrap();
        metric.collect(&mut collector).unwrap();
        let start = std::time::Instant::now();
        metric.collect(&mut collector).unwrap();
        assert!(start.elapsed() >= EXHAUSTED_PAUSE);
        assert_eq!(indexes(&collected.to_array()), vec![1]);
    }

    #[test]
    fn zero_events_per_collect_is_rejected_at_init() {
        let mut input = MockInput::new(MockOptions {
            events_per_collect: 0,
            ..Default::default()
        });
        let err = input.init(&Context::builder("test").build()).unwrap_err();
        assert!(err.to_string().contains("EventsPerCollect"), "{err}");
    }

    #[test]
    fn metric_name_makes_metrics_tagged_with_fields() {
        let options: MockOptions =
            serde_json::from_value(json!({"MetricName": "m", "Fields": {"k": "v"}, "EventsPerCollect": 2})).unwrap();
        let mut input = MockInput::new(options);
        let (mut collector, got) = Collector::memory();
        input.collect(&mut collector).unwrap();
        let groups = got.to_array();
        let values: Vec<_> = groups[0]
            .events
            .iter()
            .map(|e| match e {
                PipelineEvent::Metric(m) => (
                    m.name.clone(),
                    m.value.clone(),
                    m.tags.get_str("k").unwrap().into_owned(),
                ),
                other => panic!("not a metric: {other:?}"),
            })
            .collect();
        use loong_api::model::MetricValue::Single;
        assert_eq!(
            values,
            vec![
                ("m".into(), Single(1.0), "v".into()),
                ("m".into(), Single(2.0), "v".into())
            ]
        );
    }

    #[test]
    fn documents_every_option() {
        let mut registry = Registry::new();
        crate::register(&mut registry);
        let doc = registry.doc(loong_api::PluginKind::Input, crate::NAME).unwrap();
        assert!(
            doc.description.starts_with("Generates log events"),
            "{}",
            doc.description
        );
        let names: Vec<_> = doc.options.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Tags",
                "Fields",
                "Index",
                "EventsPerCollect",
                "MaxEvents",
                "Interval",
                "MetricName"
            ]
        );
        assert!(doc.options.iter().all(|o| !o.description.is_empty()));
    }
}
