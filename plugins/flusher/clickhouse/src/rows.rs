//! Events → `JSONEachRow` rows, one line per event, all in one buffer with the end of each row
//! remembered, so an insert (or a part of one, when ClickHouse refuses a row) is a slice of it.

use std::borrow::Cow;

use anyhow::{Result, bail};
use bytes::Bytes;
use loong_api::model::convert::{FILE_OFFSET_KEY, TAG_PREFIX, event_to_log, meta};
use loong_api::model::{BODY_KEY, KeyValues, LogEvent, PipelineEvent};
use loong_api::{Log, LogGroup, PipelineGroupEvents};
use loong_converter::{Converter, standard_tag_name};

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Content(String),
    Tag(String),
    Metadata(String),
    Body,
    Contents,
    Tags,
    Log,
    Timestamp,
    TimestampMs,
    TimestampNs,
    InsertTime,
    Offset,
}

impl Source {
    pub fn parse(s: &str) -> Result<Source> {
        let s = s.trim();
        let prefixed = |p: &str| s.strip_prefix(p).filter(|k| !k.is_empty()).map(str::to_owned);
        Ok(if let Some(k) = prefixed("content.") {
            Source::Content(k)
        } else if let Some(k) = prefixed("tag.") {
            Source::Tag(k)
        } else if let Some(k) = prefixed("metadata.") {
            Source::Metadata(k)
        } else {
            match s {
                "body" => Source::Body,
                "contents" => Source::Contents,
                "tags" => Source::Tags,
                "log" => Source::Log,
                "timestamp" => Source::Timestamp,
                "timestamp_ms" => Source::TimestampMs,
                "timestamp_ns" => Source::TimestampNs,
                "insert_time" => Source::InsertTime,
                "offset" => Source::Offset,
                other => bail!(
                    "unknown source {other:?} (use content.<key>, tag.<key>, metadata.<key>, body, contents, tags, \
                     log, timestamp, timestamp_ms, timestamp_ns, insert_time or offset)"
                ),
            }
        })
    }

    /// Sources whose values are numbers.
    pub fn numeric(&self) -> bool {
        matches!(
            self,
            Source::Timestamp | Source::TimestampMs | Source::TimestampNs | Source::InsertTime | Source::Offset
        )
    }
}

/// One column of the typed mapping.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub source: Source,
    /// Write numbers as JSON strings (the column holds text).
    pub quote_numbers: bool,
}

/// Whether a ClickHouse type holds text, so numbers must be written quoted.
pub fn is_text_type(ty: &str) -> bool {
    let mut t = ty.trim();
    while let Some(inner) = t
        .strip_prefix("Nullable(")
        .or_else(|| t.strip_prefix("LowCardinality("))
    {
        t = inner.strip_suffix(')').unwrap_or(inner);
    }
    ["String", "FixedString", "Enum", "UUID", "IPv4", "IPv6"]
        .iter()
        .any(|p| t.starts_with(p))
}

pub enum Layout {
    /// LoongCollector's `_timestamp`, `_log`.
    LoongCollector,
    Columns(Vec<Column>),
}

/// Rows of one batch: row `i` is `data[ends[i-1]..ends[i]]` (each ends with `\n`).
pub struct Rows {
    pub data: Bytes,
    pub ends: Vec<usize>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Rows `range` as one body, without copying.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Bytes {
        let start = if range.start == 0 {
            0
        } else {
            self.ends[range.start - 1]
        };
        self.data.slice(start..self.ends[range.end - 1])
    }
}

pub struct RowWriter {
    pub layout: Layout,
    converter: Converter,
    uses_log: bool,
}

/// One event, seen the same way whatever its model.
enum Event<'a> {
    V1 {
        log: &'a Log,
        group: &'a LogGroup,
    },
    V2 {
        log: &'a LogEvent,
        group: &'a PipelineGroupEvents,
    },
    /// A V2 metric, span or byte array, in its V1 layout.
    V2Other {
        log: Log,
        event: &'a PipelineEvent,
        group: &'a PipelineGroupEvents,
    },
}

fn tag_matches(raw: &[u8], wanted: &str) -> bool {
    raw == wanted.as_bytes() || standard_tag_name(raw) == Some(wanted)
}

fn pairs(t: &KeyValues) -> Vec<(&[u8], &[u8])> {
    t.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect()
}

impl Event<'_> {
    /// The V1 form of the event, when it has one.
    fn v1(&self) -> Option<&Log> {
        match self {
            Event::V1 { log, .. } => Some(log),
            Event::V2Other { log, .. } => Some(log),
            Event::V2 { .. } => None,
        }
    }

    fn time_ns(&self) -> u64 {
        match (self, self.v1()) {
            (Event::V2 { log, .. }, _) => log.timestamp,
            (_, Some(log)) => u64::from(log.time) * 1_000_000_000 + u64::from(log.time_ns.unwrap_or(0)),
            (_, None) => 0,
        }
    }

    /// The position in its file (V1: the `__tag__:__file_offset__` content); 0 when unknown.
    fn offset(&self) -> u64 {
        match self {
            Event::V2 { log, .. } => log.offset,
            _ => self
                .content(FILE_OFFSET_KEY)
                .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                .unwrap_or(0),
        }
    }

    /// Contents, without V1's `__tag__:` ones.
    fn contents(&self) -> Vec<(&[u8], &[u8])> {
        match (self, self.v1()) {
            (Event::V2 { log, .. }, _) => pairs(&log.contents),
            (_, Some(log)) => log
                .contents
                .iter()
                .filter(|c| !c.key.starts_with(TAG_PREFIX))
                .map(|c| (c.key.as_bytes(), c.value.as_bytes()))
                .collect(),
            (_, None) => Vec::new(),
        }
    }

    fn content(&self, key: &str) -> Option<&[u8]> {
        match (self, self.v1()) {
            (Event::V2 { log, .. }, _) => log.contents.get(key).map(|v| v.as_ref()),
            (_, Some(log)) => log
                .contents
                .iter()
                .rev()
                .find(|c| c.key == key)
                .map(|c| c.value.as_bytes()),
            (_, None) => None,
        }
    }

    /// Tags: the event's own, then the group's.
    fn tags(&self) -> Vec<(&[u8], &[u8])> {
        match self {
            Event::V1 { log, group } => log
                .contents
                .iter()
                .filter_map(|c| {
                    c.key
                        .strip_prefix(TAG_PREFIX)
                        .map(|k| (k.as_bytes(), c.value.as_bytes()))
                })
                .chain(group.log_tags.iter().map(|t| (t.key.as_bytes(), t.value.as_bytes())))
                .collect(),
            Event::V2 { log, group } => {
                let mut t = pairs(&log.tags);
                t.extend(pairs(&group.group.tags));
                t
            }
            Event::V2Other { event, group, .. } => {
                let mut t = event.tags().map(pairs).unwrap_or_default();
                t.extend(pairs(&group.group.tags));
                t
            }
        }
    }

    fn tag(&self, key: &str) -> Option<&[u8]> {
        fn find<'t>(t: &'t KeyValues, key: &str) -> Option<&'t [u8]> {
            t.iter().find(|(k, _)| tag_matches(k, key)).map(|(_, v)| v.as_ref())
        }
        match self {
            Event::V1 { .. } => self
                .tags()
                .into_iter()
                .find(|(k, _)| tag_matches(k, key))
                .map(|(_, v)| v),
            Event::V2 { log, group } => find(&log.tags, key).or_else(|| find(&group.group.tags, key)),
            Event::V2Other { event, group, .. } => event
                .tags()
                .and_then(|t| find(t, key))
                .or_else(|| find(&group.group.tags, key)),
        }
    }

    fn metadata(&self, key: &str) -> Option<&[u8]> {
        match self {
            Event::V1 { group, .. } => match key {
                meta::TOPIC => group.topic.as_deref(),
                meta::SOURCE => group.source.as_deref(),
                meta::CATEGORY => group.category.as_deref(),
                meta::MACHINE_UUID => group.machine_uuid.as_deref(),
                _ => None,
            }
            .map(str::as_bytes),
            Event::V2 { group, .. } | Event::V2Other { group, .. } => group.group.metadata.get(key).map(|v| v.as_ref()),
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(s)).expect("writing to a Vec cannot fail");
}

fn write_u64(out: &mut Vec<u8>, n: u64, quoted: bool) {
    if quoted {
        out.push(b'"');
    }
    out.extend_from_slice(n.to_string().as_bytes());
    if quoted {
        out.push(b'"');
    }
}

/// `{"k":"v",…}` as text.
fn object(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut o = Vec::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>() + 2);
    o.push(b'{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        write_str(&mut o, k);
        o.push(b':');
        write_str(&mut o, v);
    }
    o.push(b'}');
    o
}

impl RowWriter {
    pub fn new(layout: Layout, converter: Converter) -> Self {
        let uses_log = match &layout {
            Layout::LoongCollector => true,
            Layout::Columns(cols) => cols.iter().any(|c| c.source == Source::Log),
        };
        RowWriter {
            layout,
            converter,
            uses_log,
        }
    }

    pub fn v1(&self, groups: &[LogGroup], insert_time: u64) -> Result<Rows> {
        let mut rows = Builder::with_capacity(groups.iter().map(|g| g.logs.len()).sum());
        for group in groups {
            let logs = self.log_values(self.converter.convert_v1(group, &[])?, group.logs.len())?;
            for (i, log) in group.logs.iter().enumerate() {
                self.write(&mut rows, &Event::V1 { log, group }, logs.get(i), insert_time);
            }
        }
        Ok(rows.finish())
    }

    pub fn v2(&self, groups: &[PipelineGroupEvents], insert_time: u64) -> Result<Rows> {
        let mut rows = Builder::with_capacity(groups.iter().map(|g| g.events.len()).sum());
        for group in groups {
            let logs = self.log_values(self.converter.convert_v2(group, &[])?, group.events.len())?;
            for (i, event) in group.events.iter().enumerate() {
                let ev = match event {
                    PipelineEvent::Log(log) => Event::V2 { log, group },
                    other => Event::V2Other {
                        log: event_to_log(other),
                        event: other,
                        group,
                    },
                };
                self.write(&mut rows, &ev, logs.get(i), insert_time);
            }
        }
        Ok(rows.finish())
    }

    /// The converted bodies, one per event, when some column needs them.
    fn log_values(&self, payloads: Vec<loong_converter::Payload>, events: usize) -> Result<Vec<Bytes>> {
        if !self.uses_log {
            return Ok(Vec::new());
        }
        if payloads.len() != events {
            bail!(
                "Convert made {} bodies for {events} events: use a protocol with one body per event (custom_single)",
                payloads.len()
            );
        }
        Ok(payloads.into_iter().map(|p| p.body).collect())
    }

    fn write(&self, rows: &mut Builder, ev: &Event<'_>, log: Option<&Bytes>, insert_time: u64) {
        let out = &mut rows.data;
        match &self.layout {
            Layout::LoongCollector => {
                out.extend_from_slice(b"{\"_timestamp\":");
                write_u64(out, insert_time, false);
                out.extend_from_slice(b",\"_log\":");
                write_str(out, log.map(|b| b.as_ref()).unwrap_or_default());
                out.push(b'}');
            }
            Layout::Columns(columns) => {
                out.push(b'{');
                let mut first = true;
                for col in columns {
                    let start = out.len();
                    if !first {
                        out.push(b',');
                    }
                    write_str(out, col.name.as_bytes());
                    out.push(b':');
                    let value: Option<Cow<[u8]>> = match &col.source {
                        Source::Timestamp => {
                            write_u64(out, ev.time_ns() / 1_000_000_000, col.quote_numbers);
                            None
                        }
                        Source::TimestampMs => {
                            write_u64(out, ev.time_ns() / 1_000_000, col.quote_numbers);
                            None
                        }
                        Source::TimestampNs => {
                            write_u64(out, ev.time_ns(), col.quote_numbers);
                            None
                        }
                        Source::InsertTime => {
                            write_u64(out, insert_time, col.quote_numbers);
                            None
                        }
                        Source::Offset => {
                            write_u64(out, ev.offset(), col.quote_numbers);
                            None
                        }
                        Source::Content(k) => ev.content(k).map(Cow::Borrowed),
                        Source::Body => ev.content(BODY_KEY).map(Cow::Borrowed),
                        Source::Tag(k) => ev.tag(k).map(Cow::Borrowed),
                        Source::Metadata(k) => ev.metadata(k).map(Cow::Borrowed),
                        Source::Contents => Some(Cow::Owned(object(&ev.contents()))),
                        Source::Tags => Some(Cow::Owned(object(&ev.tags()))),
                        Source::Log => log.map(|b| Cow::Borrowed(b.as_ref())),
                    };
                    match value {
                        Some(v) => write_str(out, &v),
                        // Absent: the column keeps its default.
                        None if !col.source.numeric() => {
                            out.truncate(start);
                            continue;
                        }
                        None => {}
                    }
                    first = false;
                }
                out.push(b'}');
            }
        }
        out.push(b'\n');
        rows.ends.push(out.len());
    }
}

struct Builder {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Builder {
    fn with_capacity(rows: usize) -> Self {
        Builder {
            data: Vec::with_capacity(rows * 256),
            ends: Vec::with_capacity(rows),
        }
    }

    fn finish(self) -> Rows {
        Rows {
            data: self.data.into(),
            ends: self.ends,
        }
    }
}

#[cfg(test)]
mod tests {
    use loong_api::model::{GroupInfo, MetricEvent, MetricType};
    use loong_converter::ConvertConfig;
    use serde_json::{Value, json};

    use super::*;

    fn lines(rows: &Rows) -> Vec<Value> {
        (0..rows.len())
            .map(|i| serde_json::from_slice(&rows.slice(i..i + 1)).unwrap())
            .collect()
    }

    fn columns(spec: &[(&str, &str, bool)]) -> RowWriter {
        RowWriter::new(
            Layout::Columns(
                spec.iter()
                    .map(|(n, s, q)| Column {
                        name: n.to_string(),
                        source: Source::parse(s).unwrap(),
                        quote_numbers: *q,
                    })
                    .collect(),
            ),
            Converter::new(&ConvertConfig::default()).unwrap(),
        )
    }

    #[test]
    fn loongcollector_layout_has_the_custom_single_json_in_log() {
        let w = RowWriter::new(
            Layout::LoongCollector,
            Converter::new(&ConvertConfig::default()).unwrap(),
        );
        let rows = w.v2(&[loong_testkit::log_events(2)], 42).unwrap();
        let got = lines(&rows);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["_timestamp"], 42);
        let log: Value = serde_json::from_str(got[1]["_log"].as_str().unwrap()).unwrap();
        assert_eq!(
            log,
            json!({"contents": {"content": "log-1", "seq": "1"}, "tags": {"host": "test-host"}, "time": 1_700_000_000})
        );
        assert_eq!(rows.slice(0..2), rows.data);
    }

    #[test]
    fn typed_columns_take_contents_tags_metadata_and_times() {
        let w = columns(&[
            ("msg", "body", false),
            ("seq", "content.seq", false),
            ("host", "tag.host", false),
            ("path", "metadata.__path__", false),
            ("t", "timestamp", false),
            ("t_ms", "timestamp_ms", false),
            ("t_text", "timestamp_ns", true),
            ("missing", "content.nope", false),
            ("all", "contents", false),
        ]);
        let rows = w.v2(&[loong_testkit::log_events(2)], 0).unwrap();
        let got = lines(&rows);
        assert_eq!(
            got[1],
            json!({"msg": "log-1", "seq": "1", "host": "test-host", "path": "/var/log/test.log",
                   "t": 1_700_000_000, "t_ms": 1_700_000_000_000u64, "t_text": "1700000000000000001",
                   "all": "{\"content\":\"log-1\",\"seq\":\"1\"}"})
        );
        // V1: the same rows from the converted groups, tags from LogTags and __tag__: contents.
        let v1 = w
            .v1(
                &loong_api::model::convert::events_to_log_groups(&[loong_testkit::log_events(2)]),
                0,
            )
            .unwrap();
        let mut v1_rows = lines(&v1);
        v1_rows[1].as_object_mut().unwrap().remove("path");
        let mut want = got[1].clone();
        want.as_object_mut().unwrap().remove("path");
        assert_eq!(v1_rows[1]["host"], "test-host");
        assert_eq!(v1_rows[1]["msg"], want["msg"]);
        assert_eq!(v1_rows[1]["t_ms"], want["t_ms"]);
    }

    #[test]
    fn metrics_and_standard_tag_names() {
        let mut info = GroupInfo::default();
        info.tags.insert("__hostname__", "h1");
        let mut m = MetricEvent::single("cpu", MetricType::Gauge, 0.5, 2_000_000_000);
        m.tags.insert("core", "3");
        let group = PipelineGroupEvents::new(info, vec![m.into()]);
        let w = columns(&[
            ("name", "content.__name__", false),
            ("core", "tag.core", false),
            ("host", "tag.host.name", false),
            ("log", "log", false),
        ]);
        let got = lines(&w.v2(&[group], 0).unwrap());
        assert_eq!(got[0]["name"], "cpu");
        assert_eq!(got[0]["core"], "3");
        assert_eq!(got[0]["host"], "h1");
        assert!(got[0]["log"].as_str().unwrap().contains("__value__"));
        assert!(Source::parse("content.").is_err());
        assert!(Source::parse("time").is_err());
        assert!(is_text_type("LowCardinality(Nullable(String))"));
        assert!(!is_text_type("Nullable(DateTime)"));
    }
}
