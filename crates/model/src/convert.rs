//! Conversion between the V1 (`LogGroup`) and V2 (`PipelineGroupEvents`) data models.
//!
//! V1 → V2 (LoongCollector's rules): every `Log` becomes a log event whose timestamp is
//! `Time·1e9 + Time_ns`; a content whose key starts with `__tag__:` becomes an event tag without the
//! prefix, except `__tag__:__file_offset__`, which becomes the event's offset; `LogTags` become the
//! group's tags and `Topic`/`Source`/`Category`/`MachineUUID` its metadata (keys in [`meta`]).
//!
//! V2 → V1 is the inverse for logs. Other event kinds become one `Log` each: a metric uses
//! LoongCollector's V1 metric layout (`__name__`, `__labels__`, `__time_nano__`, `__value__`), a span
//! lists its fields with attributes, links and events as JSON, and a byte array is the `content`.

use crate::{
    ByteArrayEvent, GroupInfo, KeyValues, Log, LogEvent, LogGroup, LogTag, MetricEvent, MetricValue, PipelineEvent,
    PipelineGroupEvents, SpanEvent, TypedValue, v1::Content,
};

/// Prefix that marks a V1 content as a tag.
pub const TAG_PREFIX: &str = "__tag__:";
/// The V1 content that carries a log's file offset.
pub const FILE_OFFSET_KEY: &str = "__tag__:__file_offset__";

/// Group metadata keys that carry the V1 `LogGroup` header fields.
pub mod meta {
    pub const TOPIC: &str = "__topic__";
    pub const SOURCE: &str = "__source__";
    pub const CATEGORY: &str = "__category__";
    pub const MACHINE_UUID: &str = "__machine_uuid__";
}

const NANOS: u64 = 1_000_000_000;

/// Converts one V1 group to V2.
pub fn log_group_to_events(group: &LogGroup) -> PipelineGroupEvents {
    let mut metadata = KeyValues::new();
    for (key, value) in [
        (meta::TOPIC, &group.topic),
        (meta::SOURCE, &group.source),
        (meta::CATEGORY, &group.category),
        (meta::MACHINE_UUID, &group.machine_uuid),
    ] {
        if let Some(v) = value {
            metadata.push(key, v.clone());
        }
    }
    let tags = group
        .log_tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    let events = group
        .logs
        .iter()
        .map(|log| PipelineEvent::Log(log_to_event(log)))
        .collect();
    PipelineGroupEvents::new(GroupInfo { metadata, tags }, events)
}

/// Converts one V1 log to a V2 log event.
pub fn log_to_event(log: &Log) -> LogEvent {
    let mut event = LogEvent {
        timestamp: u64::from(log.time) * NANOS + u64::from(log.time_ns.unwrap_or(0)),
        contents: KeyValues::with_capacity(log.contents.len()),
        ..Default::default()
    };
    for c in &log.contents {
        if c.key == FILE_OFFSET_KEY {
            event.offset = c.value.parse().unwrap_or(0);
        } else if let Some(tag) = c.key.strip_prefix(TAG_PREFIX) {
            event.tags.push(tag.to_owned(), c.value.clone());
        } else {
            event.raw_size += c.value.len() as u64;
            event.contents.push(c.key.clone(), c.value.clone());
        }
    }
    event
}

/// Converts V2 groups to V1 log groups, one `LogGroup` per `PipelineGroupEvents`.
pub fn events_to_log_groups(groups: &[PipelineGroupEvents]) -> Vec<LogGroup> {
    groups.iter().map(events_to_log_group).collect()
}

/// Converts one V2 group to a V1 `LogGroup`.
pub fn events_to_log_group(group: &PipelineGroupEvents) -> LogGroup {
    let md = &group.group.metadata;
    let meta_text = |k: &str| md.get(k).map(|v| text(v));
    LogGroup {
        logs: group.events.iter().map(event_to_log).collect(),
        category: meta_text(meta::CATEGORY),
        topic: meta_text(meta::TOPIC),
        source: meta_text(meta::SOURCE),
        machine_uuid: meta_text(meta::MACHINE_UUID),
        log_tags: group
            .group
            .tags
            .iter()
            .map(|(k, v)| LogTag {
                key: text(k),
                value: text(v),
            })
            .collect(),
    }
}

/// Converts one V2 event of any kind to a V1 `Log`.
pub fn event_to_log(event: &PipelineEvent) -> Log {
    match event {
        PipelineEvent::Log(e) => log_event_to_log(e),
        PipelineEvent::Metric(e) => metric_to_log(e),
        PipelineEvent::Span(e) => span_to_log(e),
        PipelineEvent::ByteArray(e) => byte_array_to_log(e),
    }
}

fn log_with_time(ts: u64, capacity: usize) -> Log {
    let ns = (ts % NANOS) as u32;
    Log {
        time: (ts / NANOS) as u32,
        time_ns: (ns != 0).then_some(ns),
        contents: Vec::with_capacity(capacity),
        values: Vec::new(),
    }
}

fn content(key: impl Into<String>, value: impl Into<String>) -> Content {
    Content {
        key: key.into(),
        value: value.into(),
    }
}

/// The bytes as text, invalid UTF-8 replaced. `str::from_utf8` first: its ASCII fast path is several
/// times quicker than the lossy decoder's, and nearly every log line is valid.
fn text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn log_event_to_log(e: &LogEvent) -> Log {
    let mut log = log_with_time(e.timestamp, e.contents.len() + e.tags.len() + 1);
    log.contents
        .extend(e.contents.iter().map(|(k, v)| content(text(k), text(v))));
    log.contents.extend(
        e.tags
            .iter()
            .map(|(k, v)| content(format!("{TAG_PREFIX}{}", text(k)), text(v))),
    );
    if e.offset != 0 {
        log.contents.push(content(FILE_OFFSET_KEY, e.offset.to_string()));
    }
    log
}

/// `k1#$#v1|k2#$#v2`, sorted by key: LoongCollector's V1 label encoding.
fn encode_labels(tags: &KeyValues) -> String {
    let mut pairs: Vec<(String, String)> = tags.iter().map(|(k, v)| (text(k), text(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}#$#{v}"))
        .collect::<Vec<_>>()
        .join("|")
}

fn metric_to_log(e: &MetricEvent) -> Log {
    let mut log = log_with_time(e.timestamp, 4);
    log.contents.push(content("__name__", e.name.clone()));
    log.contents.push(content("__labels__", encode_labels(&e.tags)));
    log.contents.push(content("__time_nano__", e.timestamp.to_string()));
    let value = match &e.value {
        MetricValue::Single(v) => v.to_string(),
        MetricValue::Multi(values) => {
            let map: serde_json::Map<String, serde_json::Value> =
                values.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect();
            serde_json::Value::Object(map).to_string()
        }
    };
    log.contents.push(content("__value__", value));
    for (k, v) in &e.typed_values {
        let v = match v {
            TypedValue::Str(s) => s.clone(),
            TypedValue::Bool(b) => b.to_string(),
            TypedValue::Int(i) => i.to_string(),
            TypedValue::Float(f) => f.to_string(),
        };
        log.contents.push(content(format!("__typed_value__:{k}"), v));
    }
    log
}

/// Tags as a JSON object of strings.
pub fn tags_json(tags: &KeyValues) -> serde_json::Value {
    serde_json::Value::Object(
        tags.iter()
            .map(|(k, v)| (text(k), serde_json::Value::String(text(v))))
            .collect(),
    )
}

fn span_to_log(e: &SpanEvent) -> Log {
    let mut log = log_with_time(e.timestamp, 14);
    let links: Vec<_> = e
        .links
        .iter()
        .map(|l| {
            serde_json::json!({"traceId": l.trace_id, "spanId": l.span_id, "traceState": l.trace_state,
                               "attributes": tags_json(&l.tags)})
        })
        .collect();
    let events: Vec<_> = e
        .events
        .iter()
        .map(|ev| serde_json::json!({"timestamp": ev.timestamp, "name": ev.name, "attributes": tags_json(&ev.tags)}))
        .collect();
    for (k, v) in [
        ("traceId", e.trace_id.clone()),
        ("spanId", e.span_id.clone()),
        ("parentSpanId", e.parent_span_id.clone()),
        ("name", e.name.clone()),
        ("traceState", e.trace_state.clone()),
        ("kind", e.kind.as_str().to_owned()),
        ("status", e.status.as_str().to_owned()),
        ("startTime", e.start_time.to_string()),
        ("endTime", e.end_time.to_string()),
        ("duration", e.end_time.saturating_sub(e.start_time).to_string()),
        ("attributes", tags_json(&e.tags).to_string()),
        ("links", serde_json::Value::Array(links).to_string()),
        ("events", serde_json::Value::Array(events).to_string()),
    ] {
        log.contents.push(content(k, v));
    }
    log
}

fn byte_array_to_log(e: &ByteArrayEvent) -> Log {
    let mut log = log_with_time(e.timestamp, 1);
    log.contents.push(content(crate::BODY_KEY, text(&e.data)));
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricType, SpanKind};

    fn v1_group() -> LogGroup {
        LogGroup {
            logs: vec![Log {
                time: 1_700_000_000,
                time_ns: Some(123),
                contents: vec![
                    content("content", "hello world"),
                    content("level", "info"),
                    content("__tag__:__path__", "/var/log/a.log"),
                    content(FILE_OFFSET_KEY, "4096"),
                ],
                values: vec![],
            }],
            category: None,
            topic: Some("t".into()),
            source: Some("10.0.0.1".into()),
            machine_uuid: None,
            log_tags: vec![LogTag {
                key: "__hostname__".into(),
                value: "h1".into(),
            }],
        }
    }

    #[test]
    fn v1_to_v2_applies_loongcollector_rules() {
        let g = log_group_to_events(&v1_group());
        assert_eq!(g.group.tags.get_str("__hostname__").as_deref(), Some("h1"));
        assert_eq!(g.group.metadata.get_str(meta::TOPIC).as_deref(), Some("t"));
        assert_eq!(g.group.metadata.get_str(meta::SOURCE).as_deref(), Some("10.0.0.1"));
        let PipelineEvent::Log(e) = &g.events[0] else {
            panic!("not a log")
        };
        assert_eq!(e.timestamp, 1_700_000_000_000_000_123);
        assert_eq!(e.offset, 4096);
        assert_eq!(e.body().map(|b| b.as_ref()), Some(&b"hello world"[..]));
        assert_eq!(e.tags.get_str("__path__").as_deref(), Some("/var/log/a.log"));
        assert_eq!(e.contents.len(), 2);
    }

    #[test]
    fn v1_round_trips_through_v2() {
        let original = v1_group();
        let back = events_to_log_group(&log_group_to_events(&original));
        assert_eq!(back, original);
    }

    #[test]
    fn metric_uses_v1_metric_layout() {
        let mut m = MetricEvent::single("cpu", MetricType::Gauge, 0.5, 2 * NANOS);
        m.tags.insert("host", "b");
        m.tags.insert("app", "a");
        let log = event_to_log(&PipelineEvent::Metric(m));
        let get = |k: &str| log.contents.iter().find(|c| c.key == k).map(|c| c.value.as_str());
        assert_eq!(get("__name__"), Some("cpu"));
        assert_eq!(get("__labels__"), Some("app#$#a|host#$#b"));
        assert_eq!(get("__value__"), Some("0.5"));
        assert_eq!(get("__time_nano__"), Some("2000000000"));
        assert_eq!(log.time, 2);
    }

    #[test]
    fn span_fields_are_json() {
        let span = SpanEvent {
            trace_id: "t1".into(),
            kind: SpanKind::Server,
            end_time: 5,
            start_time: 2,
            ..Default::default()
        };
        let log = event_to_log(&PipelineEvent::Span(span));
        let get = |k: &str| log.contents.iter().find(|c| c.key == k).map(|c| c.value.clone());
        assert_eq!(get("kind").as_deref(), Some("server"));
        assert_eq!(get("duration").as_deref(), Some("3"));
        let links: serde_json::Value = serde_json::from_str(&get("links").unwrap()).unwrap();
        assert!(links.is_array());
    }
}
