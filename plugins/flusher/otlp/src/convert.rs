//! Events → OTLP messages (see the mapping in the options' documentation), and cutting the result
//! into requests no larger than `MaxRequestBytes`.

use loong_api::model::convert::{log_group_to_events, meta};
use loong_api::model::{
    ByteArrayEvent, KeyValues, LogEvent, MetricEvent, MetricType, MetricValue, PipelineEvent, SpanEvent, TypedValue,
};
use loong_api::{LogGroup, PipelineGroupEvents};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Summary, SummaryDataPoint, metric, number_data_point, summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;

/// Group tags that fill the scope instead of the resource (LoongCollector's names).
pub const TAG_SCOPE_NAME: &str = "otlp.scope.name";
pub const TAG_SCOPE_VERSION: &str = "otlp.scope.version";
/// Event tags that set OTLP fields instead of becoming attributes (LoongCollector's names).
pub const TAG_TEMPORALITY: &str = "otlp.metric.aggregation.temporality";
pub const TAG_MONOTONIC: &str = "otlp.metric.ismonotonic";
pub const TAG_STATUS_MESSAGE: &str = "otlp.span.status.message";
pub const TAG_DROPPED_ATTRIBUTES: &str = "otlp.span.dropped.attributes.count";
pub const TAG_DROPPED_EVENTS: &str = "otlp.span.dropped.events.count";
pub const TAG_DROPPED_LINKS: &str = "otlp.span.dropped.links.count";
pub const TAG_LOG_FLAGS: &str = "otlp.log.flag";
const TAG_SCOPE_DROPPED: &str = "otlp.scope.dropped.attributes.count";

const LEVEL_KEY: &str = "level";

fn is_internal(key: &[u8]) -> bool {
    matches!(
        key,
        b"otlp.scope.name"
            | b"otlp.scope.version"
            | b"otlp.scope.dropped.attributes.count"
            | b"otlp.metric.ismonotonic"
            | b"otlp.metric.aggregation.temporality"
            | b"otlp.metric.histogram.type"
            | b"otlp.span.status.message"
            | b"otlp.span.dropped.events.count"
            | b"otlp.span.dropped.links.count"
            | b"otlp.span.dropped.attributes.count"
            | b"otlp.log.flag"
    )
}

/// Which signals have an endpoint; events of the others are only counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enabled {
    pub logs: bool,
    pub metrics: bool,
    pub traces: bool,
}

/// One batch converted: a resource per group and signal, plus the events of disabled signals.
#[derive(Debug, Default)]
pub struct Converted {
    pub logs: Vec<ResourceLogs>,
    pub metrics: Vec<ResourceMetrics>,
    pub spans: Vec<ResourceSpans>,
    /// Events of signals without an endpoint: (logs, metrics, traces).
    pub skipped: [u64; 3],
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A string value, or bytes when it is not UTF-8.
fn any_bytes(v: &[u8]) -> AnyValue {
    AnyValue {
        value: Some(match std::str::from_utf8(v) {
            Ok(s) => any_value::Value::StringValue(s.to_owned()),
            Err(_) => any_value::Value::BytesValue(v.to_vec()),
        }),
    }
}

fn any_str(v: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(key: impl Into<String>, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

/// The attribute name of a tag: LoongCollector's standard name when it has one.
fn tag_key(key: &[u8]) -> String {
    loong_converter::standard_tag_name(key).map_or_else(|| text(key), str::to_owned)
}

/// Tags as attributes, renamed, without the internal `otlp.*` ones.
fn tag_attributes(tags: &KeyValues, out: &mut Vec<KeyValue>) {
    for (k, v) in tags.iter() {
        if !is_internal(k) {
            out.push(kv(tag_key(k), any_bytes(v)));
        }
    }
}

fn resource_and_scope(group: &PipelineGroupEvents) -> (Resource, InstrumentationScope) {
    let tags = &group.group.tags;
    let mut attributes = Vec::with_capacity(tags.len() + 2);
    tag_attributes(tags, &mut attributes);
    for (key, name) in [(meta::SOURCE, "host.ip"), (meta::TOPIC, "log.topic")] {
        if let Some(v) = group.group.metadata.get(key)
            && !v.is_empty()
            && !attributes.iter().any(|a| a.key == name)
        {
            attributes.push(kv(name, any_bytes(v)));
        }
    }
    let scope = InstrumentationScope {
        name: tags.get(TAG_SCOPE_NAME).map(|v| text(v)).unwrap_or_default(),
        version: tags.get(TAG_SCOPE_VERSION).map(|v| text(v)).unwrap_or_default(),
        dropped_attributes_count: tags
            .get(TAG_SCOPE_DROPPED)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0),
        ..Default::default()
    };
    (
        Resource {
            attributes,
            ..Default::default()
        },
        scope,
    )
}

/// Converts V2 groups; signals not `enabled` are counted in `skipped` instead.
pub fn convert_v2(groups: &[PipelineGroupEvents], enabled: Enabled, now: u64) -> Converted {
    let mut out = Converted::default();
    for group in groups {
        let (resource, scope) = resource_and_scope(group);
        let mut records = Vec::new();
        let mut metrics = Vec::new();
        let mut spans = Vec::new();
        for event in &group.events {
            match event {
                PipelineEvent::Log(e) if enabled.logs => records.push(log_record(e, now)),
                PipelineEvent::ByteArray(e) if enabled.logs => records.push(byte_array_record(e, now)),
                PipelineEvent::Metric(e) if enabled.metrics => metric(e, &mut metrics),
                PipelineEvent::Span(e) if enabled.traces => spans.push(span_of(e)),
                PipelineEvent::Log(_) | PipelineEvent::ByteArray(_) => out.skipped[0] += 1,
                PipelineEvent::Metric(_) => out.skipped[1] += 1,
                PipelineEvent::Span(_) => out.skipped[2] += 1,
            }
        }
        if !records.is_empty() {
            out.logs.push(ResourceLogs {
                resource: Some(resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope.clone()),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        if !metrics.is_empty() {
            out.metrics.push(ResourceMetrics {
                resource: Some(resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope.clone()),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        if !spans.is_empty() {
            out.spans.push(ResourceSpans {
                resource: Some(resource),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    out
}

/// Converts V1 groups (logs only) through the V2 model, so both exits send the same records.
pub fn convert_v1(groups: &[LogGroup], now: u64) -> Vec<ResourceLogs> {
    let v2: Vec<PipelineGroupEvents> = groups.iter().map(log_group_to_events).collect();
    let enabled = Enabled {
        logs: true,
        ..Default::default()
    };
    convert_v2(&v2, enabled, now).logs
}

/// OTLP's severity number for a level name; unspecified for names it does not know.
pub fn severity_number(level: &str) -> SeverityNumber {
    match level.trim().to_ascii_lowercase().as_str() {
        "trace" | "finest" => SeverityNumber::Trace,
        "debug" | "fine" | "finer" => SeverityNumber::Debug,
        "info" | "information" | "informational" | "notice" => SeverityNumber::Info,
        "warn" | "warning" => SeverityNumber::Warn,
        "error" | "err" | "severe" => SeverityNumber::Error,
        "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" => SeverityNumber::Fatal,
        _ => SeverityNumber::Unspecified,
    }
}

/// Lowercase or uppercase hex of exactly `N` bytes.
fn hex_id<const N: usize>(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// The id's bytes, or empty and the raw text kept as an attribute when it is not a valid id.
fn id_field<const N: usize>(raw: &str, name: &str, attributes: &mut Vec<KeyValue>) -> Vec<u8> {
    if raw.is_empty() {
        return Vec::new();
    }
    match hex_id::<N>(raw) {
        Some(id) => id,
        None => {
            attributes.push(kv(name, any_str(raw)));
            Vec::new()
        }
    }
}

fn log_record(e: &LogEvent, now: u64) -> LogRecord {
    let mut attributes = Vec::with_capacity(e.contents.len() + e.tags.len());
    let level_content = e.level.is_empty().then(|| e.contents.get(LEVEL_KEY)).flatten();
    let mut body = None;
    for (k, v) in e.contents.iter() {
        if k.as_ref() == loong_api::model::BODY_KEY.as_bytes() && body.is_none() {
            body = Some(any_bytes(v));
        } else if level_content.is_some() && k.as_ref() == LEVEL_KEY.as_bytes() {
            continue;
        } else {
            attributes.push(kv(text(k), any_bytes(v)));
        }
    }
    tag_attributes(&e.tags, &mut attributes);
    let severity_text = match level_content {
        Some(l) => text(l),
        None => e.level.clone(),
    };
    let trace_id = id_field::<16>(&e.trace_id, "trace_id", &mut attributes);
    let span_id = id_field::<8>(&e.span_id, "span_id", &mut attributes);
    LogRecord {
        time_unix_nano: e.timestamp,
        observed_time_unix_nano: if e.observed_timestamp != 0 {
            e.observed_timestamp
        } else {
            now
        },
        severity_number: severity_number(&severity_text) as i32,
        severity_text,
        body,
        attributes,
        flags: e
            .tags
            .get(TAG_LOG_FLAGS)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0),
        trace_id,
        span_id,
        event_name: e.name.clone(),
        ..Default::default()
    }
}

fn byte_array_record(e: &ByteArrayEvent, now: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: e.timestamp,
        observed_time_unix_nano: if e.observed_timestamp != 0 {
            e.observed_timestamp
        } else {
            now
        },
        body: Some(any_bytes(&e.data)),
        ..Default::default()
    }
}

fn point_attributes(e: &MetricEvent) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(e.tags.len() + e.typed_values.len());
    tag_attributes(&e.tags, &mut attributes);
    for (k, v) in &e.typed_values {
        let value = match v {
            TypedValue::Str(s) => any_value::Value::StringValue(s.clone()),
            TypedValue::Bool(b) => any_value::Value::BoolValue(*b),
            TypedValue::Int(i) => any_value::Value::IntValue(*i),
            TypedValue::Float(f) => any_value::Value::DoubleValue(*f),
        };
        attributes.push(kv(k.clone(), AnyValue { value: Some(value) }));
    }
    attributes
}

fn temporality(e: &MetricEvent, default: AggregationTemporality) -> i32 {
    let t = match e.tags.get(TAG_TEMPORALITY).map(|v| v.to_ascii_lowercase()) {
        Some(v) if v == b"delta" || v == b"aggregation_temporality_delta" => AggregationTemporality::Delta,
        Some(v) if v == b"cumulative" || v == b"aggregation_temporality_cumulative" => {
            AggregationTemporality::Cumulative
        }
        _ => default,
    };
    t as i32
}

fn number_data(e: &MetricEvent, value: f64) -> metric::Data {
    let point = NumberDataPoint {
        attributes: point_attributes(e),
        time_unix_nano: e.timestamp,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    };
    let monotonic = |default: bool| match e.tags.get(TAG_MONOTONIC).map(|v| v.as_ref()) {
        Some(b"true") => true,
        Some(b"false") => false,
        _ => default,
    };
    match e.metric_type {
        MetricType::Counter => metric::Data::Sum(Sum {
            data_points: vec![point],
            aggregation_temporality: temporality(e, AggregationTemporality::Cumulative),
            is_monotonic: monotonic(true),
        }),
        MetricType::RateCounter => metric::Data::Sum(Sum {
            data_points: vec![point],
            aggregation_temporality: temporality(e, AggregationTemporality::Delta),
            is_monotonic: monotonic(false),
        }),
        _ => metric::Data::Gauge(Gauge {
            data_points: vec![point],
        }),
    }
}

fn new_metric(e: &MetricEvent, name: String, data: metric::Data) -> Metric {
    Metric {
        name,
        description: e.description.clone(),
        unit: e.unit.clone(),
        data: Some(data),
        ..Default::default()
    }
}

/// Appends the OTLP metrics of one metric event.
fn metric(e: &MetricEvent, out: &mut Vec<Metric>) {
    let fields = match &e.value {
        MetricValue::Single(v) => {
            out.push(new_metric(e, e.name.clone(), number_data(e, *v)));
            return;
        }
        MetricValue::Multi(fields) => fields,
    };
    let mut placed = vec![false; fields.len()];
    match e.metric_type {
        MetricType::Histogram => {
            if let Some(data) = histogram(e, fields, &mut placed) {
                out.push(new_metric(e, e.name.clone(), data));
            }
        }
        MetricType::Summary => {
            if let Some(data) = summary(e, fields, &mut placed) {
                out.push(new_metric(e, e.name.clone(), data));
            }
        }
        _ => {}
    }
    for ((field, value), done) in fields.iter().zip(placed) {
        if !done {
            out.push(new_metric(e, format!("{}.{field}", e.name), number_data(e, *value)));
        }
    }
}

/// A histogram bucket field: LoongCollector's per-bucket `(lower,upper]`, or Prometheus's cumulative
/// `le_<upper>` / `le=<upper>`.
enum Bucket {
    PerBucket { lower: f64, upper: f64 },
    Cumulative { upper: f64 },
}

fn parse_bound(s: &str) -> Option<f64> {
    match s.trim() {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        other => other.parse().ok(),
    }
}

fn bucket(field: &str) -> Option<Bucket> {
    if let Some(inner) = field.strip_prefix('(').and_then(|f| f.strip_suffix(']')) {
        let (lower, upper) = inner.split_once(',')?;
        return Some(Bucket::PerBucket {
            lower: parse_bound(lower).or_else(|| (lower.trim() == "-inf").then_some(f64::NEG_INFINITY))?,
            upper: parse_bound(upper)?,
        });
    }
    let bound = field.strip_prefix("le_").or_else(|| field.strip_prefix("le="))?;
    Some(Bucket::Cumulative {
        upper: parse_bound(bound.trim_matches('"'))?,
    })
}

fn histogram(e: &MetricEvent, fields: &[(String, f64)], placed: &mut [bool]) -> Option<metric::Data> {
    let mut point = HistogramDataPoint {
        attributes: Vec::new(),
        time_unix_nano: e.timestamp,
        ..Default::default()
    };
    let mut count = None;
    let mut per_bucket: Vec<(f64, f64, f64)> = Vec::new();
    let mut cumulative: Vec<(f64, f64)> = Vec::new();
    for (i, (field, value)) in fields.iter().enumerate() {
        placed[i] = true;
        match field.as_str() {
            "count" => count = Some(*value),
            "sum" => point.sum = Some(*value),
            "min" => point.min = Some(*value),
            "max" => point.max = Some(*value),
            other => match bucket(other) {
                Some(Bucket::PerBucket { lower, upper }) => per_bucket.push((lower, upper, *value)),
                Some(Bucket::Cumulative { upper }) => cumulative.push((upper, *value)),
                None => placed[i] = false,
            },
        }
    }
    // Mixed styles cannot be merged: keep the cumulative ones as fields of their own.
    if !per_bucket.is_empty() && !cumulative.is_empty() {
        for (i, (field, _)) in fields.iter().enumerate() {
            if matches!(bucket(field), Some(Bucket::Cumulative { .. })) {
                placed[i] = false;
            }
        }
        cumulative.clear();
    }
    let (mut bounds, mut counts) = (Vec::new(), Vec::new());
    if !per_bucket.is_empty() {
        per_bucket.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, upper, c) in &per_bucket {
            bounds.push(*upper);
            counts.push(*c);
        }
    } else {
        cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut previous = 0.0;
        for (upper, c) in &cumulative {
            bounds.push(*upper);
            counts.push((c - previous).max(0.0));
            previous = *c;
        }
    }
    if count.is_none() && bounds.is_empty() {
        // Nothing of a histogram: the fields go out one by one.
        placed.iter_mut().for_each(|p| *p = false);
        return None;
    }
    let total: f64 = counts.iter().sum();
    let count = count.unwrap_or(total);
    if !bounds.is_empty() {
        // The last bucket is unbounded; add it when the fields stop at a finite bound.
        if bounds.last().is_some_and(|b| b.is_finite()) {
            counts.push((count - total).max(0.0));
        } else {
            bounds.pop();
        }
        point.explicit_bounds = bounds;
        point.bucket_counts = counts.iter().map(|c| *c as u64).collect();
    }
    point.count = count as u64;
    point.attributes = point_attributes(e);
    Some(metric::Data::Histogram(Histogram {
        data_points: vec![point],
        aggregation_temporality: temporality(e, AggregationTemporality::Cumulative),
    }))
}

fn summary(e: &MetricEvent, fields: &[(String, f64)], placed: &mut [bool]) -> Option<metric::Data> {
    let mut point = SummaryDataPoint {
        attributes: Vec::new(),
        time_unix_nano: e.timestamp,
        ..Default::default()
    };
    let mut any = false;
    for (i, (field, value)) in fields.iter().enumerate() {
        match field.as_str() {
            "count" => point.count = *value as u64,
            "sum" => point.sum = *value,
            other => match other
                .strip_prefix("quantile_")
                .unwrap_or(other)
                .parse::<f64>()
                .ok()
                .filter(|q| (0.0..=1.0).contains(q))
            {
                Some(quantile) => point.quantile_values.push(ValueAtQuantile {
                    quantile,
                    value: *value,
                }),
                None => continue,
            },
        }
        placed[i] = true;
        any = true;
    }
    if !any {
        return None;
    }
    point.quantile_values.sort_by(|a, b| a.quantile.total_cmp(&b.quantile));
    point.attributes = point_attributes(e);
    Some(metric::Data::Summary(Summary {
        data_points: vec![point],
    }))
}

fn count_tag(tags: &KeyValues, key: &str) -> u32 {
    tags.get(key)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

fn span_of(e: &SpanEvent) -> Span {
    let mut attributes = Vec::with_capacity(e.tags.len());
    tag_attributes(&e.tags, &mut attributes);
    let trace_id = id_field::<16>(&e.trace_id, "trace_id", &mut attributes);
    let span_id = id_field::<8>(&e.span_id, "span_id", &mut attributes);
    let parent_span_id = id_field::<8>(&e.parent_span_id, "parent_span_id", &mut attributes);
    let events = e
        .events
        .iter()
        .map(|ev| {
            let mut attributes = Vec::with_capacity(ev.tags.len());
            tag_attributes(&ev.tags, &mut attributes);
            span::Event {
                time_unix_nano: ev.timestamp,
                name: ev.name.clone(),
                attributes,
                dropped_attributes_count: 0,
            }
        })
        .collect();
    let links = e
        .links
        .iter()
        .map(|l| {
            let mut attributes = Vec::with_capacity(l.tags.len());
            tag_attributes(&l.tags, &mut attributes);
            let trace_id = id_field::<16>(&l.trace_id, "trace_id", &mut attributes);
            let span_id = id_field::<8>(&l.span_id, "span_id", &mut attributes);
            span::Link {
                trace_id,
                span_id,
                trace_state: l.trace_state.clone(),
                attributes,
                ..Default::default()
            }
        })
        .collect();
    Span {
        trace_id,
        span_id,
        trace_state: e.trace_state.clone(),
        parent_span_id,
        name: e.name.clone(),
        kind: e.kind as i32,
        start_time_unix_nano: e.start_time,
        end_time_unix_nano: e.end_time,
        attributes,
        dropped_attributes_count: count_tag(&e.tags, TAG_DROPPED_ATTRIBUTES),
        events,
        dropped_events_count: count_tag(&e.tags, TAG_DROPPED_EVENTS),
        links,
        dropped_links_count: count_tag(&e.tags, TAG_DROPPED_LINKS),
        status: Some(Status {
            message: e.tags.get(TAG_STATUS_MESSAGE).map(|v| text(v)).unwrap_or_default(),
            code: e.status as i32,
        }),
        ..Default::default()
    }
}

/// A resource message holding one scope whose items can be split over several requests.
pub trait Batch: Message + Clone + Default {
    type Item: Message;
    /// The items of the (single) scope.
    fn items(&mut self) -> &mut Vec<Self::Item>;
    /// Items as OTLP counts them in partial successes: log records, data points, spans.
    fn count(&self) -> u64;
}

impl Batch for ResourceLogs {
    type Item = LogRecord;
    fn items(&mut self) -> &mut Vec<LogRecord> {
        &mut self.scope_logs[0].log_records
    }
    fn count(&self) -> u64 {
        self.scope_logs.iter().map(|s| s.log_records.len() as u64).sum()
    }
}

impl Batch for ResourceMetrics {
    type Item = Metric;
    fn items(&mut self) -> &mut Vec<Metric> {
        &mut self.scope_metrics[0].metrics
    }
    fn count(&self) -> u64 {
        self.scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(|m| match &m.data {
                Some(metric::Data::Gauge(g)) => g.data_points.len(),
                Some(metric::Data::Sum(s)) => s.data_points.len(),
                Some(metric::Data::Histogram(h)) => h.data_points.len(),
                Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
                Some(metric::Data::Summary(s)) => s.data_points.len(),
                None => 0,
            } as u64)
            .sum()
    }
}

impl Batch for ResourceSpans {
    type Item = Span;
    fn items(&mut self) -> &mut Vec<Span> {
        &mut self.scope_spans[0].spans
    }
    fn count(&self) -> u64 {
        self.scope_spans.iter().map(|s| s.spans.len() as u64).sum()
    }
}

/// Bytes a message takes as a repeated field of its parent (tag, length, body).
fn field_len(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

/// Cuts resources into requests whose encoded size stays within `max` bytes; a resource too large
/// on its own is split by items (each part repeating the resource and scope). An item larger than
/// `max` goes alone.
pub fn split<R: Batch>(resources: Vec<R>, max: usize) -> Vec<Vec<R>> {
    let mut requests: Vec<Vec<R>> = Vec::new();
    let mut current: Vec<R> = Vec::new();
    let mut size = 0;
    let mut push = |r: R, len: usize, requests: &mut Vec<Vec<R>>| {
        if size + len > max && !current.is_empty() {
            requests.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(r);
    };
    for mut r in resources {
        let len = field_len(r.encoded_len());
        if len <= max {
            push(r, len, &mut requests);
            continue;
        }
        let items = std::mem::take(r.items());
        let shell = field_len(r.encoded_len()) + 8;
        let mut part = r.clone();
        let mut part_len = shell;
        for item in items {
            let item_len = field_len(item.encoded_len());
            if part_len + item_len > max && !part.items().is_empty() {
                let full = std::mem::replace(&mut part, r.clone());
                push(full, part_len, &mut requests);
                part_len = shell;
            }
            part_len += item_len;
            part.items().push(item);
        }
        if !part.items().is_empty() {
            push(part, part_len, &mut requests);
        }
    }
    if !current.is_empty() {
        requests.push(current);
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;
    use loong_api::model::{GroupInfo, SpanKind, StatusCode};

    fn string(v: &Option<AnyValue>) -> &str {
        match v.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a KeyValue> {
        attrs.iter().find(|a| a.key == key)
    }

    fn all() -> Enabled {
        Enabled {
            logs: true,
            metrics: true,
            traces: true,
        }
    }

    #[test]
    fn log_fields_map_to_a_log_record() {
        let mut info = GroupInfo::default();
        info.tags.insert("__hostname__", "h1");
        info.tags.insert("__path__", "/var/log/a.log");
        info.tags.insert("otlp.scope.name", "my-scope");
        let mut e = LogEvent::with_body("hello", 10);
        e.contents.insert("level", "WARN");
        e.contents.insert("user", "bob");
        e.tags.insert("__path__", "/x");
        e.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736".into();
        e.span_id = "not-hex".into();
        e.name = "login".into();
        let group = PipelineGroupEvents::new(info, vec![e.into()]);
        let c = convert_v2(&[group], all(), 99);
        let r = &c.logs[0];
        let res = &r.resource.as_ref().unwrap().attributes;
        assert_eq!(string(&attr(res, "host.name").unwrap().value), "h1");
        assert_eq!(string(&attr(res, "log.file.path").unwrap().value), "/var/log/a.log");
        assert!(attr(res, "otlp.scope.name").is_none());
        assert_eq!(r.scope_logs[0].scope.as_ref().unwrap().name, "my-scope");
        let rec = &r.scope_logs[0].log_records[0];
        assert_eq!(string(&rec.body), "hello");
        assert_eq!((rec.time_unix_nano, rec.observed_time_unix_nano), (10, 99));
        assert_eq!(rec.severity_text, "WARN");
        assert_eq!(rec.severity_number, SeverityNumber::Warn as i32);
        assert!(attr(&rec.attributes, "level").is_none(), "the level went to severity");
        assert_eq!(string(&attr(&rec.attributes, "user").unwrap().value), "bob");
        assert_eq!(string(&attr(&rec.attributes, "log.file.path").unwrap().value), "/x");
        assert_eq!(rec.trace_id.len(), 16);
        assert_eq!(rec.trace_id[0], 0x4b);
        assert!(rec.span_id.is_empty());
        assert_eq!(string(&attr(&rec.attributes, "span_id").unwrap().value), "not-hex");
        assert_eq!(rec.event_name, "login");
    }

    #[test]
    fn disabled_signals_are_counted() {
        let mut group = loong_testkit_free_group();
        group
            .events
            .push(MetricEvent::single("m", MetricType::Gauge, 1.0, 1).into());
        let c = convert_v2(
            &[group],
            Enabled {
                logs: true,
                ..Default::default()
            },
            1,
        );
        assert_eq!(c.skipped, [0, 1, 0]);
        assert!(c.metrics.is_empty());
        assert_eq!(c.logs[0].count(), 1);
    }

    fn loong_testkit_free_group() -> PipelineGroupEvents {
        PipelineGroupEvents::new(GroupInfo::default(), vec![LogEvent::with_body("x", 1).into()])
    }

    fn metrics_of(e: MetricEvent) -> Vec<Metric> {
        let mut out = Vec::new();
        metric(&e, &mut out);
        out
    }

    #[test]
    fn cumulative_le_buckets_become_per_bucket_counts() {
        let e = MetricEvent {
            name: "lat".into(),
            metric_type: MetricType::Histogram,
            value: MetricValue::Multi(vec![
                ("le_1".into(), 7.0),
                ("le_0.1".into(), 3.0),
                ("count".into(), 8.0),
                ("sum".into(), 2.5),
                ("weird".into(), 1.0),
            ]),
            timestamp: 5,
            ..Default::default()
        };
        let m = metrics_of(e);
        assert_eq!(m.len(), 2);
        let Some(metric::Data::Histogram(h)) = &m[0].data else {
            panic!("{m:?}")
        };
        let p = &h.data_points[0];
        assert_eq!(p.explicit_bounds, vec![0.1, 1.0]);
        assert_eq!(p.bucket_counts, vec![3, 4, 1]);
        assert_eq!((p.count, p.sum), (8, Some(2.5)));
        assert_eq!(h.aggregation_temporality, AggregationTemporality::Cumulative as i32);
        assert_eq!(m[1].name, "lat.weird");
    }

    #[test]
    fn loongcollector_buckets_and_summaries() {
        let e = MetricEvent {
            name: "h".into(),
            metric_type: MetricType::Histogram,
            value: MetricValue::Multi(vec![
                ("(-inf,1]".into(), 2.0),
                ("(1,5]".into(), 3.0),
                ("(5,+Inf]".into(), 1.0),
                ("count".into(), 6.0),
            ]),
            ..Default::default()
        };
        let m = metrics_of(e);
        let Some(metric::Data::Histogram(h)) = &m[0].data else {
            panic!()
        };
        assert_eq!(h.data_points[0].explicit_bounds, vec![1.0, 5.0]);
        assert_eq!(h.data_points[0].bucket_counts, vec![2, 3, 1]);

        let s = MetricEvent {
            name: "s".into(),
            metric_type: MetricType::Summary,
            value: MetricValue::Multi(vec![
                ("0.99".into(), 9.0),
                ("0.5".into(), 5.0),
                ("count".into(), 10.0),
                ("sum".into(), 50.0),
            ]),
            ..Default::default()
        };
        let m = metrics_of(s);
        let Some(metric::Data::Summary(s)) = &m[0].data else {
            panic!()
        };
        let q: Vec<f64> = s.data_points[0].quantile_values.iter().map(|q| q.quantile).collect();
        assert_eq!(q, vec![0.5, 0.99]);
        assert_eq!((s.data_points[0].count, s.data_points[0].sum), (10, 50.0));
    }

    #[test]
    fn multi_values_of_other_types_are_one_metric_per_field() {
        let e = MetricEvent {
            name: "cpu".into(),
            metric_type: MetricType::Counter,
            value: MetricValue::Multi(vec![("user".into(), 1.0), ("system".into(), 2.0)]),
            ..Default::default()
        };
        let m = metrics_of(e);
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cpu.user", "cpu.system"]);
        let Some(metric::Data::Sum(s)) = &m[1].data else {
            panic!()
        };
        assert!(s.is_monotonic);
        assert_eq!(s.data_points[0].value, Some(number_data_point::Value::AsDouble(2.0)));
    }

    #[test]
    fn spans_keep_every_field() {
        let mut e = SpanEvent {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_span_id: "b7ad6b7169203331".into(),
            name: "GET".into(),
            kind: SpanKind::Client,
            status: StatusCode::Error,
            start_time: 1,
            end_time: 2,
            ..Default::default()
        };
        e.tags.insert(TAG_STATUS_MESSAGE, "boom");
        e.tags.insert("http.method", "GET");
        e.tags.insert(TAG_DROPPED_LINKS, "3");
        let s = span_of(&e);
        assert_eq!(s.kind, 3);
        assert_eq!(s.status.as_ref().unwrap().code, 2);
        assert_eq!(s.status.as_ref().unwrap().message, "boom");
        assert_eq!(s.dropped_links_count, 3);
        assert_eq!(s.attributes.len(), 1);
        assert_eq!(s.parent_span_id.len(), 8);
    }

    #[test]
    fn split_respects_the_size_limit_and_keeps_every_item() {
        let group = PipelineGroupEvents::new(
            GroupInfo::default(),
            (0..1000)
                .map(|i| LogEvent::with_body(format!("{i:0>100}"), 1).into())
                .collect(),
        );
        let c = convert_v2(&[group.clone(), group], all(), 1);
        let requests = split(c.logs, 20_000);
        assert!(requests.len() > 10, "{}", requests.len());
        let mut total = 0;
        for r in &requests {
            let req = opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
                resource_logs: r.clone(),
            };
            assert!(req.encoded_len() <= 20_000, "{}", req.encoded_len());
            total += r.iter().map(Batch::count).sum::<u64>();
        }
        assert_eq!(total, 2000);
    }

    #[test]
    fn severity_names() {
        assert_eq!(severity_number("error"), SeverityNumber::Error);
        assert_eq!(severity_number("Info"), SeverityNumber::Info);
        assert_eq!(severity_number("whatever"), SeverityNumber::Unspecified);
    }
}
