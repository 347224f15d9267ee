//! JSON lines for V1 logs and V2 events, written into a reused buffer. Strings are escaped by
//! serde_json; the structure is written directly, so rendering an event allocates nothing once the
//! buffer has grown to the size of a line.

use std::borrow::Cow;
use std::io::Write as _;

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

fn uint(out: &mut Vec<u8>, n: u64) {
    write!(out, "{n}").expect("writing to a Vec cannot fail");
}

/// `,"name":` (no comma before the first field of an object).
fn field(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    string(out, name);
    out.push(b':');
}

fn float(out: &mut Vec<u8>, v: f64) {
    // JSON has no NaN or infinity: print them as strings ("NaN", "inf") rather than emit an invalid
    // line or a null that hides the value.
    if v.is_finite() {
        serde_json::to_writer(&mut *out, &v).expect("writing to a Vec cannot fail");
    } else {
        write!(out, "\"{v}\"").expect("writing to a Vec cannot fail");
    }
}

fn object_of(out: &mut Vec<u8>, kv: &KeyValues) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in kv.iter() {
        field(out, &mut first, &text(k));
        string(out, &text(v));
    }
    out.push(b'}');
}

/// `{"k":"v",…,"__time__":"<seconds>"}`: LoongCollector's `KeyValuePairs` form. Tags converted from
/// V2 are contents named `__tag__:<key>`, so they print as such.
pub fn v1_pairs(out: &mut Vec<u8>, log: &loong_api::Log) {
    out.push(b'{');
    let mut first = true;
    for c in &log.contents {
        field(out, &mut first, &c.key);
        string(out, &c.value);
    }
    field(out, &mut first, "__time__");
    write!(out, "\"{}\"", log.time).expect("writing to a Vec cannot fail");
    out.push(b'}');
}

/// The whole log as its protobuf fields, as Go's `json.Marshal` of the log prints it
/// (`KeyValuePairs: false`).
pub fn v1_whole(out: &mut Vec<u8>, log: &loong_api::Log) {
    out.extend_from_slice(b"{\"Time\":");
    uint(out, log.time.into());
    out.extend_from_slice(b",\"Contents\":[");
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
        out.extend_from_slice(b",\"Time_ns\":");
        uint(out, ns.into());
    }
    out.push(b'}');
}

/// The `Tags` header of a V1 group: LoongCollector's `[LogGroup] topic …, logstore …, logcount …,
/// tags …` as JSON.
pub fn v1_header(out: &mut Vec<u8>, group: &LogGroup) {
    out.extend_from_slice(b"{\"logGroup\":{\"topic\":");
    string(out, group.topic.as_deref().unwrap_or_default());
    out.extend_from_slice(b",\"logstore\":");
    string(out, group.category.as_deref().unwrap_or_default());
    out.extend_from_slice(b",\"logCount\":");
    uint(out, group.logs.len() as u64);
    out.extend_from_slice(b",\"tags\":{");
    let mut first = true;
    for t in &group.log_tags {
        field(out, &mut first, &t.key);
        string(out, &t.value);
    }
    out.extend_from_slice(b"}}}");
}

/// The `Tags` header of a V2 group: LoongCollector's `[Event] event …, metadata …, tags …` as JSON.
pub fn v2_header(out: &mut Vec<u8>, group: &PipelineGroupEvents) {
    out.extend_from_slice(b"{\"group\":{\"events\":");
    uint(out, group.events.len() as u64);
    out.extend_from_slice(b",\"metadata\":");
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
    out.extend_from_slice(b",\"timestamp\":");
    uint(out, event.timestamp());
    out.extend_from_slice(b",\"observedTimestamp\":");
    uint(out, event.observed_timestamp());
    out.extend_from_slice(b",\"tags\":");
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

/// LoongCollector's log layout: `offset`, `level`, `traceID`, `spanID`, then every content as a
/// top-level field (so a content named `level` follows, and wins for JSON readers, the event's).
fn log_fields(out: &mut Vec<u8>, e: &LogEvent) {
    out.extend_from_slice(b",\"offset\":");
    uint(out, e.offset);
    out.extend_from_slice(b",\"level\":");
    string(out, &e.level);
    out.extend_from_slice(b",\"traceID\":");
    string(out, &e.trace_id);
    out.extend_from_slice(b",\"spanID\":");
    string(out, &e.span_id);
    let mut first = false;
    for (k, v) in e.contents.iter() {
        field(out, &mut first, &text(k));
        string(out, &text(v));
    }
}

fn metric_fields(out: &mut Vec<u8>, e: &MetricEvent) {
    let mut first = false;
    field(out, &mut first, "metricType");
    string(out, e.metric_type.as_str());
    if !e.unit.is_empty() {
        field(out, &mut first, "unit");
        string(out, &e.unit);
    }
    if !e.description.is_empty() {
        field(out, &mut first, "description");
        string(out, &e.description);
    }
    match &e.value {
        MetricValue::Single(v) => {
            field(out, &mut first, "value");
            float(out, *v);
        }
        MetricValue::Multi(values) => {
            field(out, &mut first, "values");
            out.push(b'{');
            let mut first = true;
            for (k, v) in values {
                field(out, &mut first, k);
                float(out, *v);
            }
            out.push(b'}');
        }
    }
    if !e.typed_values.is_empty() {
        field(out, &mut first, "typedValues");
        out.push(b'{');
        let mut first = true;
        for (k, v) in &e.typed_values {
            field(out, &mut first, k);
            match v {
                TypedValue::Str(s) => string(out, s),
                TypedValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                TypedValue::Int(i) => write!(out, "{i}").expect("writing to a Vec cannot fail"),
                TypedValue::Float(f) => float(out, *f),
            }
        }
        out.push(b'}');
    }
}

/// LoongCollector leaves spans unfinished; we print them in full with the field names of the V1
/// span conversion (OTLP's): the span's attributes are its `tags`.
fn span_fields(out: &mut Vec<u8>, e: &SpanEvent) {
    let mut first = false;
    for (k, v) in [
        ("traceId", &e.trace_id),
        ("spanId", &e.span_id),
        ("parentSpanId", &e.parent_span_id),
        ("traceState", &e.trace_state),
    ] {
        field(out, &mut first, k);
        string(out, v);
    }
    field(out, &mut first, "kind");
    string(out, e.kind.as_str());
    field(out, &mut first, "status");
    string(out, e.status.as_str());
    field(out, &mut first, "startTime");
    uint(out, e.start_time);
    field(out, &mut first, "endTime");
    uint(out, e.end_time);
    field(out, &mut first, "duration");
    uint(out, e.end_time.saturating_sub(e.start_time));
    field(out, &mut first, "links");
    out.push(b'[');
    for (i, l) in e.links.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"traceId\":");
        string(out, &l.trace_id);
        out.extend_from_slice(b",\"spanId\":");
        string(out, &l.span_id);
        out.extend_from_slice(b",\"traceState\":");
        string(out, &l.trace_state);
        out.extend_from_slice(b",\"attributes\":");
        object_of(out, &l.tags);
        out.push(b'}');
    }
    out.push(b']');
    field(out, &mut first, "events");
    out.push(b'[');
    for (i, ev) in e.events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"timestamp\":");
        uint(out, ev.timestamp);
        out.extend_from_slice(b",\"name\":");
        string(out, &ev.name);
        out.extend_from_slice(b",\"attributes\":");
        object_of(out, &ev.tags);
        out.push(b'}');
    }
    out.push(b']');
}

/// The bytes as a string (invalid UTF-8 replaced), escaped; LoongCollector writes them unescaped.
fn byte_array_fields(out: &mut Vec<u8>, e: &ByteArrayEvent) {
    out.extend_from_slice(b",\"byteArray\":");
    string(out, &text(&e.data));
}

#[cfg(test)]
mod tests {
    use loong_api::model::{MetricType, SpanKind};
    use serde_json::{Value, json};

    use super::*;

    fn render(f: impl FnOnce(&mut Vec<u8>)) -> Value {
        let mut out = Vec::new();
        f(&mut out);
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("invalid JSON {}: {e}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn non_finite_and_integer_values_stay_valid_json() {
        let mut m = MetricEvent::single("m", MetricType::Gauge, f64::INFINITY, 1);
        m.typed_values.push(("n".into(), TypedValue::Int(-3)));
        m.typed_values.push(("f".into(), TypedValue::Float(f64::NAN)));
        let v = render(|o| v2_event(o, &m.into()));
        assert_eq!(v["value"], "inf");
        assert_eq!(v["typedValues"], json!({"n": -3, "f": "NaN"}));
    }

    #[test]
    fn strings_are_escaped_and_invalid_utf8_replaced() {
        let mut log = LogEvent::with_body(&b"a\"b\\c\n\xff"[..], 0);
        log.tags.insert(&b"k\"\x00"[..], "v");
        let v = render(|o| v2_event(o, &log.into()));
        assert_eq!(v["content"], "a\"b\\c\n\u{fffd}");
        assert_eq!(v["tags"], json!({"k\"\u{0}": "v"}));
    }

    #[test]
    fn an_empty_span_is_complete() {
        let span = SpanEvent {
            kind: SpanKind::Client,
            start_time: 9,
            end_time: 4,
            ..Default::default()
        };
        let v = render(|o| v2_event(o, &span.into()));
        assert_eq!(v["links"], json!([]));
        assert_eq!(v["events"], json!([]));
        assert_eq!(v["duration"], 0, "an end before the start is no negative duration");
        assert_eq!(v["kind"], "client");
    }
}
