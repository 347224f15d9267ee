//! Events → Loki pushes: each event becomes an entry (time, line) of the stream its labels name;
//! entries of a stream are sorted by time; the streams are cut into pushes of at most
//! `MaxMessageBytes` of lines, encoded as snappy protobuf or JSON.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use loong_api::model::convert::log_group_to_events;
use loong_api::model::{PipelineEvent, now_nanos};
use loong_api::{LogGroup, PipelineGroupEvents};
use loong_converter::{Converter, Payload, VarKey};
use prost::Message;

use crate::config::LokiConfig;
use crate::labels;
use crate::proto::{self, wire};

const NANOS: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "" | "protobuf" | "proto" => Format::Protobuf,
            "json" => Format::Json,
            other => bail!("PushFormat {other:?}: use protobuf or json"),
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// What to do with an entry older than the newest already sent to its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfOrder {
    Accept,
    RewriteTimestamp,
    Drop,
}

impl OutOfOrder {
    pub fn parse(text: &str) -> Result<OutOfOrder> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "" | "accept" => OutOfOrder::Accept,
            "rewrite_timestamp" => OutOfOrder::RewriteTimestamp,
            "drop" => OutOfOrder::Drop,
            other => bail!("OutOfOrderAction {other:?}: use accept, rewrite_timestamp or drop"),
        })
    }
}

/// The newest time sent per stream (label text), for `OutOfOrderAction`; bounded.
#[derive(Default)]
pub struct Newest(HashMap<String, i64>);

const NEWEST_STREAMS_MAX: usize = 100_000;

/// The pushes of one flush, and the entries `OutOfOrderAction: drop` left out.
pub struct Built {
    pub pushes: Vec<Prepared>,
    pub dropped: usize,
}

/// One push, ready to be sent (again).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: Bytes,
    pub entries: usize,
}

struct Entry {
    time: i64,
    line: Bytes,
}

struct Stream {
    labels: BTreeMap<String, String>,
    text: String,
    entries: Vec<Entry>,
}

/// Streams gathered from the groups of one flush.
#[derive(Default)]
pub struct Streams {
    by_key: HashMap<String, usize>,
    streams: Vec<Stream>,
    /// Events that got no label at all: Loki can never store them.
    pub unlabelled: usize,
}

pub struct PushBuilder {
    converter: Converter,
    /// Dynamic label keys and the label name each becomes.
    dynamic: Vec<(VarKey, String)>,
    selected: Vec<VarKey>,
    static_labels: BTreeMap<String, String>,
    only_contents: bool,
    format: Format,
    out_of_order: OutOfOrder,
    max_bytes: usize,
}

fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl PushBuilder {
    pub fn new(config: &LokiConfig) -> Result<PushBuilder> {
        let c = &config.convert;
        let protocol = c.protocol.trim();
        if protocol != loong_converter::PROTOCOL_CUSTOM_SINGLE
            && protocol != loong_converter::PROTOCOL_CUSTOM_SINGLE_FLATTEN
        {
            bail!(
                "Convert.Protocol {protocol:?} is not supported by flusher_loki: use custom_single or custom_single_flatten"
            );
        }
        if c.only_contents && protocol != loong_converter::PROTOCOL_CUSTOM_SINGLE_FLATTEN {
            bail!("Convert.OnlyContents needs Convert.Protocol custom_single_flatten");
        }
        let converter = Converter::new(&loong_converter::ConvertConfig {
            protocol: protocol.to_owned(),
            encoding: if c.encoding.trim().is_empty() {
                "json".to_owned()
            } else {
                c.encoding.trim().to_owned()
            },
            tag_fields_rename: c.tag_fields_rename.clone(),
            protocol_fields_rename: c.protocol_fields_rename.clone(),
            ..Default::default()
        })
        .context("Convert")?;
        for name in config.static_labels.keys() {
            if !labels::is_valid_name(name) {
                bail!("StaticLabels: {name:?} is not a valid Loki label name ([a-zA-Z_][a-zA-Z0-9_]*)");
            }
        }
        let mut dynamic = Vec::new();
        for text in &config.dynamic_labels {
            let Some(key) = VarKey::parse(text.trim()) else {
                bail!("DynamicLabels: {text:?} must be content.<key>, tag.<key> or metadata.<key>");
            };
            let name = labels::sanitize_name(key.name());
            dynamic.push((key, name));
        }
        if config.static_labels.is_empty() && dynamic.is_empty() {
            bail!("at least one label is required: set StaticLabels or DynamicLabels");
        }
        if config.max_message_bytes < 1 {
            bail!("MaxMessageBytes must be at least 1, got {}", config.max_message_bytes);
        }
        Ok(PushBuilder {
            converter,
            selected: dynamic.iter().map(|(k, _)| k.clone()).collect(),
            dynamic,
            static_labels: config.static_labels.clone(),
            only_contents: c.only_contents,
            format: Format::parse(&config.push_format)?,
            out_of_order: OutOfOrder::parse(&config.out_of_order_action)?,
            max_bytes: config.max_message_bytes as usize,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn collect_v2(&self, groups: &[PipelineGroupEvents], streams: &mut Streams) -> Result<()> {
        for group in groups {
            let payloads = self.converter.convert_v2(group, &self.selected)?;
            if payloads.len() != group.events.len() {
                bail!(
                    "the converter made {} lines of {} events",
                    payloads.len(),
                    group.events.len()
                );
            }
            for (payload, event) in payloads.into_iter().zip(&group.events) {
                let line = if self.only_contents {
                    contents_line(event)
                } else {
                    payload.body.clone()
                };
                self.add(streams, &payload, event.timestamp(), line);
            }
        }
        Ok(())
    }

    pub fn collect_v1(&self, groups: &[LogGroup], streams: &mut Streams) -> Result<()> {
        if self.only_contents {
            let v2: Vec<PipelineGroupEvents> = groups.iter().map(log_group_to_events).collect();
            return self.collect_v2(&v2, streams);
        }
        for group in groups {
            let payloads = self.converter.convert_v1(group, &self.selected)?;
            if payloads.len() != group.logs.len() {
                bail!(
                    "the converter made {} lines of {} logs",
                    payloads.len(),
                    group.logs.len()
                );
            }
            for (payload, log) in payloads.into_iter().zip(&group.logs) {
                let time = u64::from(log.time) * NANOS + u64::from(log.time_ns.unwrap_or(0));
                let line = payload.body.clone();
                self.add(streams, &payload, time, line);
            }
        }
        Ok(())
    }

    fn add(&self, streams: &mut Streams, payload: &Payload, time: u64, line: Bytes) {
        let values: Vec<Option<&str>> = self
            .dynamic
            .iter()
            .map(|(k, _)| payload.vars.get(k).map(String::as_str).filter(|v| !v.is_empty()))
            .collect();
        let mut key = String::new();
        for v in &values {
            match v {
                Some(v) => {
                    key.push('\u{1}');
                    key.push_str(v);
                }
                None => key.push('\u{2}'),
            }
        }
        let index = match streams.by_key.get(&key) {
            Some(i) => *i,
            None => {
                let mut set = self.static_labels.clone();
                for ((_, name), v) in self.dynamic.iter().zip(&values) {
                    if let Some(v) = v {
                        set.insert(name.clone(), (*v).to_owned());
                    }
                }
                if set.is_empty() {
                    streams.unlabelled += 1;
                    return;
                }
                let text = labels::format(&set);
                streams.streams.push(Stream {
                    labels: set,
                    text,
                    entries: Vec::new(),
                });
                streams.by_key.insert(key, streams.streams.len() - 1);
                streams.streams.len() - 1
            }
        };
        let time = if time == 0 { now_nanos() } else { time };
        streams.streams[index].entries.push(Entry {
            time: i64::try_from(time).unwrap_or(i64::MAX),
            line,
        });
    }

    /// Sorts each stream by time, applies `OutOfOrderAction` against what earlier flushes sent, and
    /// cuts the streams into pushes.
    pub fn finish(&self, mut streams: Streams, newest: &mut Newest) -> Result<Built> {
        let mut dropped = 0;
        if newest.0.len() > NEWEST_STREAMS_MAX {
            newest.0.clear();
        }
        for s in &mut streams.streams {
            s.entries.sort_by_key(|e| e.time);
            let Some(last) = s.entries.last().map(|e| e.time) else {
                continue;
            };
            if self.out_of_order == OutOfOrder::Accept {
                continue;
            }
            let sent = newest.0.entry(s.text.clone()).or_insert(i64::MIN);
            let older = s.entries.iter().take_while(|e| e.time < *sent).count();
            if older > 0 {
                if self.out_of_order == OutOfOrder::Drop {
                    s.entries.drain(..older);
                    dropped += older;
                } else {
                    for e in &mut s.entries[..older] {
                        e.time = *sent;
                    }
                }
            }
            *sent = (*sent).max(last);
        }
        // Each push: (stream, first entry, end entry) slices.
        let mut pushes: Vec<Vec<(usize, usize, usize)>> = Vec::new();
        let mut current: Vec<(usize, usize, usize)> = Vec::new();
        let mut size = 0usize;
        for (si, s) in streams.streams.iter().enumerate() {
            let mut start = 0;
            for (ei, e) in s.entries.iter().enumerate() {
                let len = e.line.len();
                if size > 0 && size + len > self.max_bytes {
                    if ei > start {
                        current.push((si, start, ei));
                    }
                    pushes.push(std::mem::take(&mut current));
                    start = ei;
                    size = 0;
                }
                size += len;
            }
            if s.entries.len() > start {
                current.push((si, start, s.entries.len()));
            }
        }
        if !current.is_empty() {
            pushes.push(current);
        }
        let pushes = pushes
            .into_iter()
            .map(|slices| self.encode(&streams.streams, &slices))
            .collect::<Result<Vec<_>>>()?;
        Ok(Built { pushes, dropped })
    }

    fn encode(&self, streams: &[Stream], slices: &[(usize, usize, usize)]) -> Result<Prepared> {
        let entries = slices.iter().map(|(_, a, b)| b - a).sum();
        let body = match self.format {
            Format::Protobuf => {
                let request = wire::PushRequest {
                    streams: slices
                        .iter()
                        .map(|&(si, a, b)| wire::StreamAdapter {
                            labels: streams[si].text.clone(),
                            entries: streams[si].entries[a..b]
                                .iter()
                                .map(|e| wire::EntryAdapter {
                                    timestamp: Some(proto::timestamp(e.time)),
                                    line: e.line.clone(),
                                })
                                .collect(),
                            hash: 0,
                        })
                        .collect(),
                };
                let raw = request.encode_to_vec();
                Bytes::from(snap::raw::Encoder::new().compress_vec(&raw).context("snappy")?)
            }
            Format::Json => {
                let streams: Vec<serde_json::Value> = slices
                    .iter()
                    .map(|&(si, a, b)| {
                        let values: Vec<[String; 2]> = streams[si].entries[a..b]
                            .iter()
                            .map(|e| [e.time.to_string(), lossy(&e.line).into_owned()])
                            .collect();
                        serde_json::json!({"stream": streams[si].labels, "values": values})
                    })
                    .collect();
                Bytes::from(serde_json::to_vec(&serde_json::json!({ "streams": streams }))?)
            }
        };
        Ok(Prepared { body, entries })
    }
}

/// The line of `OnlyContents`: the event's contents as one JSON object, keys sorted, the last of a
/// repeated key kept (as the flatten protocol writes them).
fn contents_line(event: &PipelineEvent) -> Bytes {
    let mut map: BTreeMap<Cow<'_, str>, Cow<'_, str>> = BTreeMap::new();
    let converted;
    match event {
        PipelineEvent::Log(log) => {
            for (k, v) in log.contents.iter() {
                map.insert(lossy(k), lossy(v));
            }
        }
        PipelineEvent::ByteArray(b) => {
            map.insert(Cow::Borrowed(loong_api::model::BODY_KEY), lossy(&b.data));
        }
        other => {
            converted = loong_api::model::convert::event_to_log(other);
            for c in &converted.contents {
                map.insert(Cow::Borrowed(&c.key), Cow::Borrowed(&c.value));
            }
        }
    }
    Bytes::from(serde_json::to_vec(&map).expect("strings serialize"))
}

#[cfg(test)]
mod tests {
    use loong_api::model::{GroupInfo, LogEvent};
    use prost::Message;
    use serde_json::{Value, json};

    use super::*;

    fn builder(options: Value) -> PushBuilder {
        let (config, _) = loong_api::options::decode::<LokiConfig>(&options).unwrap();
        PushBuilder::new(&config).unwrap()
    }

    fn decode(p: &Prepared) -> proto::PushRequest {
        let raw = snap::raw::Decoder::new().decompress_vec(&p.body).unwrap();
        proto::PushRequest::decode(&raw[..]).unwrap()
    }

    fn group(host: &str, events: &[(&str, &str, u64)]) -> PipelineGroupEvents {
        let mut info = GroupInfo::default();
        info.tags.insert("__hostname__", host.to_owned());
        let events = events
            .iter()
            .map(|(body, level, t)| {
                let mut e = LogEvent::with_body(body.to_string(), *t);
                e.contents.insert("level", level.to_string());
                e.into()
            })
            .collect();
        PipelineGroupEvents::new(info, events)
    }

    #[test]
    fn streams_by_labels_sorted_by_time() {
        let b = builder(
            json!({"URL": "http://x", "StaticLabels": {"job": "loong", "level": "static"},
            "DynamicLabels": ["content.level", "tag.host.name"]}),
        );
        let mut streams = Streams::default();
        let groups = [
            group("h1", &[("b", "info", 20), ("a", "info", 10), ("c", "warn", 5)]),
            group("h2", &[("d", "info", 1)]),
        ];
        b.collect_v2(&groups, &mut streams).unwrap();
        let pushes = b.finish(streams, &mut Newest::default()).unwrap().pushes;
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].entries, 4);
        let req = decode(&pushes[0]);
        assert_eq!(req.streams.len(), 3);
        let got: Vec<(String, Vec<(i64, String)>)> = req
            .streams
            .iter()
            .map(|s| {
                let entries = s
                    .entries
                    .iter()
                    .map(|e| {
                        let t = e.timestamp.unwrap();
                        let line: Value = serde_json::from_str(&e.line).unwrap();
                        (
                            t.seconds * 1_000_000_000 + i64::from(t.nanos),
                            line["contents"]["content"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                (s.labels.clone(), entries)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "{host_name=\"h1\", job=\"loong\", level=\"info\"}".to_owned(),
                    vec![(10, "a".to_owned()), (20, "b".to_owned())]
                ),
                (
                    "{host_name=\"h1\", job=\"loong\", level=\"warn\"}".to_owned(),
                    vec![(5, "c".to_owned())]
                ),
                (
                    "{host_name=\"h2\", job=\"loong\", level=\"info\"}".to_owned(),
                    vec![(1, "d".to_owned())]
                ),
            ]
        );
        assert!(req.streams.iter().all(|s| s.hash == 0));
    }

    #[test]
    fn lines_follow_convert_and_only_contents() {
        let b = builder(json!({"URL": "http://x", "StaticLabels": {"job": "j"}}));
        let mut streams = Streams::default();
        b.collect_v2(
            &[group("h", &[("hello", "info", 1_700_000_000_000_000_000)])],
            &mut streams,
        )
        .unwrap();
        let line = decode(&b.finish(streams, &mut Newest::default()).unwrap().pushes[0]).streams[0].entries[0]
            .line
            .clone();
        assert_eq!(
            line,
            r#"{"contents":{"content":"hello","level":"info"},"tags":{"host.name":"h"},"time":1700000000}"#
        );

        let b = builder(json!({"URL": "http://x", "StaticLabels": {"job": "j"},
            "Convert": {"Protocol": "custom_single_flatten", "OnlyContents": true}}));
        let mut streams = Streams::default();
        b.collect_v2(&[group("h", &[("hello", "info", 1)])], &mut streams)
            .unwrap();
        b.collect_v1(&loong_testkit::sample_log_groups()[..1], &mut streams)
            .unwrap();
        let req = decode(&b.finish(streams, &mut Newest::default()).unwrap().pushes[0]);
        let lines: Vec<&str> = req.streams[0].entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines[0], r#"{"content":"hello","level":"info"}"#);
        assert_eq!(lines.len(), 4);
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with(r#"{"content":"v1-a-"#) && !l.contains("host")),
            "{lines:?}"
        );
    }

    #[test]
    fn max_message_bytes_cuts_pushes_keeping_order() {
        let b = builder(
            json!({"URL": "http://x", "StaticLabels": {"job": "j"}, "MaxMessageBytes": 200,
            "Convert": {"Protocol": "custom_single_flatten", "OnlyContents": true}}),
        );
        let mut streams = Streams::default();
        let events: Vec<(String, u64)> = (0..20).map(|i| (format!("line-{i:02}"), 100 - i as u64)).collect();
        let refs: Vec<(&str, &str, u64)> = events.iter().map(|(l, t)| (l.as_str(), "i", *t)).collect();
        b.collect_v2(&[group("h", &refs)], &mut streams).unwrap();
        let pushes = b.finish(streams, &mut Newest::default()).unwrap().pushes;
        assert!(pushes.len() > 3, "{} pushes", pushes.len());
        let mut times = Vec::new();
        for p in &pushes {
            let req = decode(p);
            let bytes: usize = req.streams.iter().flat_map(|s| &s.entries).map(|e| e.line.len()).sum();
            assert!(bytes <= 200, "{bytes}");
            times.extend(
                req.streams
                    .iter()
                    .flat_map(|s| &s.entries)
                    .map(|e| e.timestamp.unwrap().nanos),
            );
        }
        assert_eq!(
            times,
            (81..=100).collect::<Vec<_>>(),
            "sorted across the pushes of a flush"
        );
    }

    #[test]
    fn out_of_order_actions_apply_across_flushes() {
        for (action, want_times, want_dropped) in [
            ("accept", vec![10, 5, 8], 0),
            ("rewrite_timestamp", vec![10, 30, 30], 0),
            ("drop", vec![10, 40], 2),
        ] {
            let b = builder(json!({"URL": "http://x", "StaticLabels": {"job": "j"}, "OutOfOrderAction": action}));
            let mut newest = Newest::default();
            let mut times = Vec::new();
            let mut dropped = 0;
            for flush in [
                vec![("a", "i", 10), ("b", "i", 30)],
                vec![("c", "i", 5)],
                vec![("d", "i", 8), ("e", "i", 40)],
            ] {
                let mut streams = Streams::default();
                b.collect_v2(&[group("h", &flush)], &mut streams).unwrap();
                let built = b.finish(streams, &mut newest).unwrap();
                dropped += built.dropped;
                if let Some(p) = built.pushes.first() {
                    times.push(decode(p).streams[0].entries[0].timestamp.unwrap().nanos as i64);
                }
            }
            // The first entry of each flush that sent something.
            assert_eq!(times, want_times, "{action}");
            assert_eq!(dropped, want_dropped, "{action}");
        }
    }

    #[test]
    fn json_format_and_unlabelled_events() {
        let b = builder(json!({"URL": "http://x", "DynamicLabels": ["content.app"], "PushFormat": "json"}));
        let mut streams = Streams::default();
        let mut with = LogEvent::with_body("x", 1_700_000_000_000_000_001);
        with.contents.insert("app", "shop");
        let without = LogEvent::with_body("y", 5);
        b.collect_v2(
            &[PipelineGroupEvents::new(
                GroupInfo::default(),
                vec![with.into(), without.into()],
            )],
            &mut streams,
        )
        .unwrap();
        assert_eq!(streams.unlabelled, 1);
        let pushes = b.finish(streams, &mut Newest::default()).unwrap().pushes;
        let v: Value = serde_json::from_slice(&pushes[0].body).unwrap();
        assert_eq!(v["streams"][0]["stream"], json!({"app": "shop"}));
        assert_eq!(v["streams"][0]["values"][0][0], "1700000000000000001");
        assert!(
            v["streams"][0]["values"][0][1]
                .as_str()
                .unwrap()
                .contains("\"content\":\"x\"")
        );
    }

    #[test]
    fn option_errors() {
        for (options, want) in [
            (json!({"URL": "http://x"}), "at least one label"),
            (
                json!({"URL": "http://x", "StaticLabels": {"a.b": "x"}}),
                "not a valid Loki label name",
            ),
            (
                json!({"URL": "http://x", "DynamicLabels": ["level"]}),
                "must be content.<key>",
            ),
            (
                json!({"URL": "http://x", "DynamicLabels": ["content.a"], "PushFormat": "xml"}),
                "PushFormat",
            ),
            (
                json!({"URL": "http://x", "DynamicLabels": ["content.a"], "Convert": {"Protocol": "jsonline"}}),
                "not supported",
            ),
            (
                json!({"URL": "http://x", "DynamicLabels": ["content.a"], "Convert": {"OnlyContents": true}}),
                "OnlyContents",
            ),
            (
                json!({"URL": "http://x", "DynamicLabels": ["content.a"], "MaxMessageBytes": 0}),
                "MaxMessageBytes",
            ),
        ] {
            let (config, _) = loong_api::options::decode::<LokiConfig>(&options).unwrap();
            let err = PushBuilder::new(&config).err().unwrap().to_string();
            assert!(err.contains(want), "{options}: {err}");
        }
    }
}
