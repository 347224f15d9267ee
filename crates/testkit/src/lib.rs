//! Test kit for loong-rs plugins.
//!
//! * [`mock_context`]: a [`Context`] with in-memory checkpoints and no extensions, as the runner would
//!   build it for one plugin.
//! * Sample data: [`log_events`], [`sample_events`] (every event kind), [`sample_log_groups`].
//! * [`conformance::Conformance`]: the suite every flusher runs.

pub mod conformance;

use loong_api::model::{
    ByteArrayEvent, GroupInfo, LogEvent, MetricEvent, MetricType, MetricValue, PipelineEvent, SpanEvent,
    SpanInnerEvent, SpanKind, SpanLink, StatusCode, TypedValue, convert,
};
use loong_api::{Context, LogGroup, PipelineGroupEvents};

pub use conformance::Conformance;

/// The context the runner would give a plugin of `plugin_type` in a pipeline named `test`.
pub fn mock_context(plugin_type: &str) -> Context {
    Context::builder("test")
        .project("test_project")
        .logstore("test_logstore")
        .plugin(plugin_type, format!("{plugin_type}/1"))
        .build()
}

/// A group of `n` log events whose bodies are `{prefix}-0`, `{prefix}-1`, …, with a group tag and
/// metadata.
pub fn log_events(prefix: &str, n: usize) -> PipelineGroupEvents {
    let mut info = GroupInfo::default();
    info.tags.insert("host", "test-host");
    info.metadata.insert("__path__", "/var/log/test.log");
    let events = (0..n)
        .map(|i| {
            let mut e = LogEvent::with_body(format!("{prefix}-{i}"), 1_700_000_000_000_000_000 + i as u64);
            e.contents.insert("seq", i.to_string());
            e.offset = (i * 100) as u64;
            PipelineEvent::Log(e)
        })
        .collect();
    PipelineGroupEvents::new(info, events)
}

/// One group with an event of every kind: log, counter and histogram metrics, span, byte array.
pub fn sample_events() -> Vec<PipelineGroupEvents> {
    let mut group = log_events("sample", 1);
    let mut counter = MetricEvent::single("requests_total", MetricType::Counter, 42.0, 1_700_000_000_000_000_000);
    counter.tags.insert("method", "GET");
    counter
        .typed_values
        .push(("unit_note".into(), TypedValue::Str("per host".into())));
    let histogram = MetricEvent {
        name: "latency_seconds".into(),
        metric_type: MetricType::Histogram,
        value: MetricValue::Multi(vec![
            ("le_0.1".into(), 3.0),
            ("le_1".into(), 7.0),
            ("count".into(), 8.0),
        ]),
        timestamp: 1_700_000_000_000_000_000,
        ..Default::default()
    };
    let mut span = SpanEvent {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        span_id: "00f067aa0ba902b7".into(),
        parent_span_id: "b7ad6b7169203331".into(),
        name: "GET /api".into(),
        kind: SpanKind::Server,
        status: StatusCode::Ok,
        start_time: 1_700_000_000_000_000_000,
        end_time: 1_700_000_000_250_000_000,
        timestamp: 1_700_000_000_000_000_000,
        ..Default::default()
    };
    span.tags.insert("http.status_code", "200");
    span.links.push(SpanLink {
        trace_id: "t2".into(),
        span_id: "s2".into(),
        ..Default::default()
    });
    span.events.push(SpanInnerEvent {
        timestamp: 1_700_000_000_100_000_000,
        name: "cache miss".into(),
        ..Default::default()
    });
    let bytes = ByteArrayEvent {
        data: "raw bytes".into(),
        timestamp: 1_700_000_000_000_000_000,
        observed_timestamp: 0,
    };
    group
        .events
        .extend([counter.into(), histogram.into(), span.into(), bytes.into()]);
    vec![group]
}

/// V1 log groups: the V1 form of two groups of log events.
pub fn sample_log_groups() -> Vec<LogGroup> {
    convert::events_to_log_groups(&[log_events("v1-a", 3), log_events("v1-b", 2)])
}
