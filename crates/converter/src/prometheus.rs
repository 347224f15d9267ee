//! Prometheus remote write (`prometheus.WriteRequest`, protobuf) from V2 metric events: the
//! `prometheus` format of LoongCollector's `ext_default_encoder`, shared by flusher_http (with
//! `Compression: snappy`) and flusher_prometheus.
//!
//! Every metric value becomes one series: a single value under the event's name, each value of a
//! multi-value event under `<name>_<field>`. Labels are the group's tags overlaid by the event's
//! tags, plus `__name__`, sorted by name as remote write requires. Label names that Prometheus
//! cannot store are sanitised (`[^a-zA-Z0-9_]` → `_`). Bodies hold at most `series_limit` series.

use std::collections::BTreeMap;

use bytes::Bytes;
use loong_model::{MetricValue, PipelineEvent, PipelineGroupEvents};
use prost::Message;

/// `prometheus.WriteRequest` (only the fields remote write 1.0 senders fill).
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The content type of a remote write body (before snappy compression).
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// Headers remote write receivers expect besides `Content-Encoding: snappy`.
pub const HEADERS: [(&str, &str); 1] = [("X-Prometheus-Remote-Write-Version", "0.1.0")];

/// The series of the metric events of `group`; other events are skipped (counted in the result).
pub fn series(group: &PipelineGroupEvents) -> (Vec<TimeSeries>, usize) {
    let mut out = Vec::new();
    let mut skipped = 0;
    for event in &group.events {
        let PipelineEvent::Metric(m) = event else {
            skipped += 1;
            continue;
        };
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in group.group.tags.iter().chain(m.tags.iter()) {
            labels.insert(label_name(k), String::from_utf8_lossy(v).into_owned());
        }
        let timestamp = (m.timestamp / 1_000_000) as i64;
        let mut push = |name: String, value: f64| {
            let mut labels = labels.clone();
            labels.insert("__name__".to_owned(), name);
            out.push(TimeSeries {
                labels: labels.into_iter().map(|(name, value)| Label { name, value }).collect(),
                samples: vec![Sample { value, timestamp }],
            });
        };
        match &m.value {
            MetricValue::Single(v) => push(metric_name(&m.name), *v),
            MetricValue::Multi(values) => {
                for (field, v) in values {
                    push(metric_name(&format!("{}_{field}", m.name)), *v);
                }
            }
        }
    }
    (out, skipped)
}

/// Encodes series into `WriteRequest` bodies of at most `series_limit` series each (0: no limit).
pub fn encode(series: Vec<TimeSeries>, series_limit: usize) -> Vec<Bytes> {
    if series.is_empty() {
        return Vec::new();
    }
    let limit = if series_limit == 0 { series.len() } else { series_limit };
    let mut bodies = Vec::with_capacity(series.len().div_ceil(limit));
    let mut rest = series;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(limit));
        let request = WriteRequest { timeseries: rest };
        bodies.push(Bytes::from(request.encode_to_vec()));
        rest = tail;
    }
    bodies
}

fn label_name(key: &[u8]) -> String {
    let mut s: String = String::from_utf8_lossy(key)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn metric_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use loong_model::{GroupInfo, MetricEvent, MetricType};

    #[test]
    fn one_series_per_value_with_sorted_labels_and_limits() {
        let mut group = GroupInfo::default();
        group.tags.push("host.name", Bytes::from_static(b"h1"));
        let mut single = MetricEvent::single("cpu.usage", MetricType::Gauge, 0.5, 1_700_000_000_123_000_000);
        single.tags.push("core", Bytes::from_static(b"0"));
        single.tags.push("host.name", Bytes::from_static(b"h2"));
        let multi = MetricEvent {
            name: "mem".into(),
            value: MetricValue::Multi(vec![("used".into(), 1.0), ("free".into(), 2.0)]),
            timestamp: 2_000_000,
            ..Default::default()
        };
        let group = PipelineGroupEvents::new(group, vec![single.into(), multi.into()]);
        let (series, skipped) = series(&group);
        assert_eq!(skipped, 0);
        assert_eq!(series.len(), 3);
        let names: Vec<Vec<(&str, &str)>> = series
            .iter()
            .map(|s| s.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect())
            .collect();
        assert_eq!(
            names[0],
            vec![("__name__", "cpu_usage"), ("core", "0"), ("host_name", "h2")]
        );
        assert_eq!(names[1], vec![("__name__", "mem_used"), ("host_name", "h1")]);
        assert_eq!(
            series[0].samples,
            vec![Sample {
                value: 0.5,
                timestamp: 1_700_000_000_123
            }]
        );
        assert_eq!(series[2].samples[0].timestamp, 2);

        let bodies = encode(series, 2);
        assert_eq!(bodies.len(), 2);
        let first = WriteRequest::decode(bodies[0].clone()).unwrap();
        let second = WriteRequest::decode(bodies[1].clone()).unwrap();
        assert_eq!((first.timeseries.len(), second.timeseries.len()), (2, 1));
    }
}
