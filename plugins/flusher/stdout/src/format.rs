//! JSON lines for V1 logs and V2 events, written into a reused buffer: strings are escaped by
//! serde_json, the structure is written directly so no intermediate `Value` is built per event.

use std::borrow::Cow;

use loong_api::model::{
    ByteArrayEvent, KeyValues, LogEvent, MetricEvent, MetricValue, PipelineEvent, SpanEvent, TypedValue,
};
use loong_api::{LogGroup, PipelineGroupEvents};

fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

fn key(out: &mut Vec<u8>, first: &mut bool, k: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    string(out, k);
    out.push(b':');
}

fn float(out: &mut Vec<u8>, v: f64) {
    // JSON has no NaN or infinity; print them as strings rather than emit an invalid line.
    if v.is_finite() {
        out.extend_from_slice(serde_json::Number::from_f64(v).expect("finite").to_string().as_bytes());
    } else {
        string(out, &v.to_string());
    }
}

fn object_of(out: &mut Vec<u8>, kv: &KeyValues) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in kv.iter() {
        key(out, &mut first, &text(k));
        string(out, &text(v));
    }
    out.push(b'}');
}

/// `{"k":"v",…,"__time__":"<seconds>"}`, LoongCollector's `KeyValuePairs` form.
pub fn v1_pairs(out: &mut Vec<u8>, log: &loong_api::Log) {
    out.push(b'{');
    let mut first = true;
    for c in &log.contents {
        key(out, &mut first, &c.key);
        string(out, &c.value);
    }
    key(out, &mut first, "__time__");
    string(out, &log.time.to_string());
    out.push(b'}');
}

/// The whole log as its protobuf fields (`KeyValuePairs: false`).
pub fn v1_whole(out: &mut Vec<u8>, log: &loong_api::Log) {
    out.extend_from_slice(format!("{{\"Time\":{},\"Contents\":[", log.time).as_bytes());
    for (i, c) in log.contents.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"Key\":");
        string(out, &c.key);
        out.extend_from_slice(b",\"Value\":");
        string(out, &c.value);
        out.push(b'}');
    }
    out.push(b']');
    if let Some(ns) = log.time_ns {
        out.extend_from_slice(format!(",\"Time_ns\":{ns}").as_bytes());
    }
    out.push(b'}');
}

/// The `Tags` header of a V1 group.
pub fn v1_header(out: &mut Vec<u8>, group: &LogGroup) {
    out.extend_from_slice(b"{\"logGroup\":{\"topic\":");
    string(out, group.topic.as_deref().unwrap_or_default());
    out.extend_from_slice(b",\"logstore\":");
    string(out, group.category.as_deref().unwrap_or_default());
    out.extend_from_slice(format!(",\"logCount\":{},\"tags\":{{", group.logs.len()).as_bytes());
    let mut first = true;
    for t in &group.log_tags {
        key(out, &mut first, &t.key);
        string(out, &t.value);
    }
    out.extend_from_slice(b"}}}");
}

/// The `Tags` header of a V2 group.
pub fn v2_header(out: &mut Vec<u8>, group: &PipelineGroupEvents) {
    out.extend_from_slice(format!("{{\"group\":{{\"events\":{},\"metadata\":", group.events.len()).as_bytes());
    object_of(out, &group.group.metadata);
    out.extend_from_slice(b",\"tags\":");
    object_of(out, &group.group.tags);
    out.extend_from_slice(b"}}");
}

/// One V2 event: the fields every kind has, then the kind's own.
pub fn v2_event(out: &mut Vec<u8>, event: &PipelineEvent) {
    out.extend_from_slice(b"{\"eventType\":");
    string(out, event.event_type().as_str());
    out.extend_from_slice(b",\"name\":");
    string(out, event.name());
    out.extend_from_slice(
        format!(
            ",\"timestamp\":{},\"observedTimestamp\":{},\"tags\":",
            event.timestamp(),
            event.observed_timestamp()
        )
        .as_bytes(),
    );
    match event.tags() {
        Some(tags) => object_of(out, tags),
        None => out.extend_from_slice(b"{}"),
    }
    match event {
        PipelineEvent::Log(e) => log_fields(out, e),
        PipelineEvent::Metric(e) => metric_fields(out, e),
        PipelineEvent::Span(e) => span_fields(out, e),
        PipelineEvent::ByteArray(e) => byte_array_fields(out, e),
    }
    out.push(b'}');
}

fn log_fields(out: &mut Vec<u8>, e: &LogEvent) {
    out.extend_from_slice(format!(",\"offset\":{},\"level\":", e.offset).as_bytes());
    string(out, &e.level);
    out.extend_from_slice(b",\"traceID\":");
    string(out, &e.trace_id);
    out.extend_from_slice(b",\"spanID\":");
    string(out, &e.span_id);
    for (k, v) in e.contents.iter() {
        out.push(b',');
        string(out, &text(k));
        out.push(b':');
        string(out, &text(v));
    }
}

fn metric_fields(out: &mut Vec<u8>, e: &MetricEvent) {
    out.extend_from_slice(b",\"metricType\":");
    string(out, e.metric_type.as_str());
    if !e.unit.is_empty() {
        out.extend_from_slice(b",\"unit\":");
        string(out, &e.unit);
    }
    if !e.description.is_empty() {
        out.extend_from_slice(b",\"description\":");
        string(out, &e.description);
    }
    match &e.value {
        MetricValue::Single(v) => {
            out.extend_from_slice(b",\"value\":");
            float(out, *v);
        }
        MetricValue::Multi(values) => {
            out.extend_from_slice(b",\"values\":{");
            let mut first = true;
            for (k, v) in values {
                key(out, &mut first, k);
                float(out, *v);
            }
            out.push(b'}');
        }
    }
    if !e.typed_values.is_empty() {
        out.extend_from_slice(b",\"typedValues\":{");
        let mut first = true;
        for (k, v) in &e.typed_values {
            key(out, &mut first, k);
            match v {
                TypedValue::Str(s) => string(out, s),
                TypedValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                TypedValue::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
                TypedValue::Float(f) => float(out, *f),
            }
        }
        out.push(b'}');
    }
}

fn span_fields(out: &mut Vec<u8>, e: &SpanEvent) {
    for (k, v) in [
        ("traceID", &e.trace_id),
        ("spanID", &e.span_id),
        ("parentSpanID", &e.parent_span_id),
        ("traceState", &e.trace_state),
    ] {
        out.push(b',');
        string(out, k);
        out.push(b':');
        string(out, v);
    }
    out.extend_from_slice(b",\"kind\":");
    string(out, e.kind.as_str());
    out.extend_from_slice(b",\"status\":");
    string(out, e.status.as_str());
    out.extend_from_slice(format!(",\"startTime\":{},\"endTime\":{},\"links\":[", e.start_time, e.end_time).as_bytes());
    for (i, l) in e.links.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"traceID\":");
        string(out, &l.trace_id);
        out.extend_from_slice(b",\"spanID\":");
        string(out, &l.span_id);
        out.extend_from_slice(b",\"traceState\":");
        string(out, &l.trace_state);
        out.extend_from_slice(b",\"tags\":");
        object_of(out, &l.tags);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"events\":[");
    for (i, ev) in e.events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format!("{{\"timestamp\":{},\"name\":", ev.timestamp).as_bytes());
        string(out, &ev.name);
        out.extend_from_slice(b",\"tags\":");
        object_of(out, &ev.tags);
        out.push(b'}');
    }
    out.push(b']');
}

fn byte_array_fields(out: &mut Vec<u8>, e: &ByteArrayEvent) {
    out.extend_from_slice(b",\"byteArray\":");
    string(out, &text(&e.data));
}
