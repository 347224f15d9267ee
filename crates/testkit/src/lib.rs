//! Test kit for loong-rs plugins.
//!
//! * [`mock_context`]: a [`Context`] with in-memory checkpoints and no extensions, as the runner would
//!   build it for one plugin.
//! * Sample data: [`log_events`] / [`log_events_with_prefix`], [`sample_events`] (every event kind),
//!   [`sample_log_groups`].
//! * [`MetricsCapture`]: a metrics recorder a test reads counters back from.
//! * [`Conformance`]: the contract suite every flusher runs from its tests.
//! * [`http_sink::HttpSink`]: a real HTTP server recording what flushers send it.
//! * [`receiver::Receiver`]: the in-process HTTP server under it and under the protocol receivers
//!   of the flushers (a handler hook, a free port, going down and up, stopping when dropped).
//! * [`tls::Pki`]: a test CA and certificates signed by it, as PEM files.
//!
//! The kit depends on `loong-api` and no plugin, so any plugin crate can take it as a
//! dev-dependency without a dependency cycle.

pub mod conformance;
pub mod http_sink;
mod metrics_capture;
pub mod receiver;
pub mod services;
pub mod tls;

use loong_api::model::{
    ByteArrayEvent, GroupInfo, LogEvent, MetricEvent, MetricType, MetricValue, PipelineEvent, SpanEvent,
    SpanInnerEvent, SpanKind, SpanLink, StatusCode, TypedValue, convert,
};
use loong_api::{Context, LogGroup, PipelineGroupEvents};

pub use conformance::Conformance;
pub use metrics_capture::MetricsCapture;

/// The timestamp sample data carries: 2023-11-14T22:13:20Z, in nanoseconds.
pub const SAMPLE_TIME_NS: u64 = 1_700_000_000_000_000_000;

/// The context the runner would give a plugin of `plugin_type` (instance `{plugin_type}/1`) in a
/// pipeline named `test` writing to `test_project`/`test_logstore`.
pub fn mock_context(plugin_type: &str) -> Context {
    Context::builder("test")
        .project("test_project")
        .logstore("test_logstore")
        .plugin(plugin_type, format!("{plugin_type}/1"))
        .build()
}

/// A group of `n` log events whose bodies are `log-0`, `log-1`, …
pub fn log_events(n: usize) -> PipelineGroupEvents {
    log_events_with_prefix("log", n)
}

/// A group of `n` log events whose bodies (`content`) are `{prefix}-0`, `{prefix}-1`, …; each also
/// has a `seq` content and a file offset, and the group has a tag (`host`) and metadata
/// (`__path__`), so converters and headers have something to show.
pub fn log_events_with_prefix(prefix: &str, n: usize) -> PipelineGroupEvents {
    let mut info = GroupInfo::default();
    info.tags.insert("host", "test-host");
    info.metadata.insert("__path__", "/var/log/test.log");
    let events = (0..n)
        .map(|i| {
            let mut e = LogEvent::with_body(format!("{prefix}-{i}"), SAMPLE_TIME_NS + i as u64);
            e.contents.insert("seq", i.to_string());
            e.offset = (i * 100) as u64;
            PipelineEvent::Log(e)
        })
        .collect();
    PipelineGroupEvents::new(info, events)
}

/// One group holding an event of every kind, in this order: a log (body `sample-0`), a counter
/// with a typed value, a histogram (multi-value), a span with a link and an inner event, and a byte
/// array (`raw bytes`).
pub fn sample_events() -> Vec<PipelineGroupEvents> {
    let mut group = log_events_with_prefix("sample", 1);
    let mut counter = MetricEvent::single("requests_total", MetricType::Counter, 42.0, SAMPLE_TIME_NS);
    counter.unit = "1".into();
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
        timestamp: SAMPLE_TIME_NS,
        ..Default::default()
    };
    let mut span = SpanEvent {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        span_id: "00f067aa0ba902b7".into(),
        parent_span_id: "b7ad6b7169203331".into(),
        name: "GET /api".into(),
        kind: SpanKind::Server,
        status: StatusCode::Ok,
        start_time: SAMPLE_TIME_NS,
        end_time: SAMPLE_TIME_NS + 250_000_000,
        timestamp: SAMPLE_TIME_NS,
        ..Default::default()
    };
    span.tags.insert("http.status_code", "200");
    let mut link = SpanLink {
        trace_id: "5bf92f3577b34da6a3ce929d0e0e4737".into(),
        span_id: "10f067aa0ba902b8".into(),
        ..Default::default()
    };
    link.tags.insert("link.kind", "follows");
    span.links.push(link);
    span.events.push(SpanInnerEvent {
        timestamp: SAMPLE_TIME_NS + 100_000_000,
        name: "cache miss".into(),
        ..Default::default()
    });
    let bytes = ByteArrayEvent {
        data: "raw bytes".into(),
        timestamp: SAMPLE_TIME_NS,
        observed_timestamp: SAMPLE_TIME_NS + 1,
    };
    group
        .events
        .extend([counter.into(), histogram.into(), span.into(), bytes.into()]);
    vec![group]
}

/// Two V1 log groups (3 logs with bodies `v1-a-*`, 2 with `v1-b-*`), converted from
/// [`log_events_with_prefix`] groups the way the runner converts V2 data for a V1 flusher.
pub fn sample_log_groups() -> Vec<LogGroup> {
    convert::events_to_log_groups(&[log_events_with_prefix("v1-a", 3), log_events_with_prefix("v1-b", 2)])
}

/// The body of a V1 log, as [`loong_api::LogEvent::body`] defines it for V2: the `content` key, or
/// the first content when there is none.
pub fn v1_body(log: &loong_api::Log) -> Option<&str> {
    log.contents
        .iter()
        .find(|c| c.key == loong_api::model::BODY_KEY)
        .or(log.contents.first())
        .map(|c| c.value.as_str())
}

#[cfg(test)]
mod tests {
    use loong_api::model::EventType;

    use super::*;

    #[test]
    fn sample_events_cover_every_kind() {
        let groups = sample_events();
        let kinds: Vec<EventType> = groups[0].events.iter().map(PipelineEvent::event_type).collect();
        for kind in [EventType::Log, EventType::Metric, EventType::Span, EventType::ByteArray] {
            assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
        }
    }

    #[test]
    fn log_events_have_numbered_bodies_and_convert_to_v1() {
        let group = log_events(3);
        let bodies: Vec<_> = group
            .events
            .iter()
            .map(|e| e.as_log().unwrap().body().unwrap().clone())
            .collect();
        assert_eq!(bodies, ["log-0", "log-1", "log-2"]);
        let v1 = sample_log_groups();
        assert_eq!(v1.len(), 2);
        assert_eq!(v1_body(&v1[1].logs[1]), Some("v1-b-1"));
        assert_eq!(v1[0].log_tags[0].key, "host");
    }

    #[test]
    fn mock_context_names_the_instance() {
        let ctx = mock_context("flusher_x");
        assert_eq!(ctx.plugin_type(), "flusher_x");
        assert_eq!(ctx.plugin_id(), "flusher_x/1");
        assert_eq!(ctx.config_name(), "test");
    }
}
