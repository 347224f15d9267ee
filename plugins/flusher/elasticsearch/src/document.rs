//! Events → `_bulk` NDJSON: per event an action line `{"index":{"_index":"…"}}` and a document line,
//! written straight into one body buffer. Each item remembers its byte range so a retry can resend
//! exactly the items that failed.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use anyhow::{Context as _, Result, bail};
use loong_api::model::convert::{event_to_log, log_group_to_events, meta};
use loong_api::model::{BODY_KEY, KeyValues, PipelineEvent, now_nanos};
use loong_api::{LogGroup, PipelineGroupEvents};
use loong_converter::{Converter, Payload, VarKey, standard_tag_name};

use crate::config::ConvertConfig;
use crate::index::{Civil, IndexPattern};
use crate::json;

const NANOS: u64 = 1_000_000_000;

type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// The body of a bulk request under construction, and where each item (document) lies in it.
#[derive(Debug, Default)]
pub struct Bulk {
    pub body: Vec<u8>,
    /// Byte range of each item: its action line and its document line, both ending in `\n`.
    pub items: Vec<Range<usize>>,
}

/// Caches the calendar of the last second seen: events of a batch mostly share seconds.
#[derive(Default)]
struct Clock {
    second: Option<i64>,
    civil: Civil,
}

impl Clock {
    fn civil(&mut self, seconds: i64) -> Civil {
        if self.second != Some(seconds) {
            self.second = Some(seconds);
            self.civil = Civil::of(seconds);
        }
        self.civil
    }
}

pub struct DocBuilder {
    index: IndexPattern,
    /// The action line when the index never changes.
    constant_action: Option<Vec<u8>>,
    tag_rename: HashMap<Box<[u8]>, Box<str>>,
    timestamp_field: Option<Box<[u8]>>,
    /// LoongCollector's converter, when `Convert.Protocol` names one.
    converter: Option<Converter>,
}

/// One event as the native document sees it.
struct Doc<'a> {
    contents: Pairs<'a>,
    tags: Pairs<'a>,
    metadata: &'a KeyValues,
    /// Nanoseconds since the epoch, never 0.
    time: u64,
}

fn action_line(out: &mut Vec<u8>, index: &str) {
    out.extend_from_slice(b"{\"index\":{\"_index\":");
    json::write_str(out, index.as_bytes());
    out.extend_from_slice(b"}}\n");
}

fn time_or_now(ns: u64) -> u64 {
    if ns == 0 { now_nanos() } else { ns }
}

static EMPTY: KeyValues = KeyValues::new();

impl DocBuilder {
    pub fn new(index: &str, convert: &ConvertConfig, timestamp_field: &str) -> Result<DocBuilder> {
        let index = IndexPattern::parse(index)?;
        let constant_action = index.constant().map(|name| {
            let mut line = Vec::new();
            action_line(&mut line, &name);
            line
        });
        let converter = match convert.protocol.trim() {
            "" => None,
            p @ (loong_converter::PROTOCOL_CUSTOM_SINGLE | loong_converter::PROTOCOL_CUSTOM_SINGLE_FLATTEN) => {
                let encoding = match convert.encoding.trim() {
                    "" => loong_converter::ENCODING_JSON,
                    e => e,
                };
                let config = loong_converter::ConvertConfig {
                    protocol: p.to_owned(),
                    encoding: encoding.to_owned(),
                    tag_fields_rename: convert.tag_fields_rename.clone(),
                    protocol_fields_rename: convert.protocol_fields_rename.clone(),
                    ..Default::default()
                };
                Some(Converter::new(&config).context("Convert")?)
            }
            other => bail!(
                "Convert.Protocol {other:?} is not supported by flusher_elasticsearch: leave it empty, or use custom_single or custom_single_flatten"
            ),
        };
        Ok(DocBuilder {
            index,
            constant_action,
            tag_rename: renames(&convert.tag_fields_rename),
            timestamp_field: (!timestamp_field.is_empty()).then(|| timestamp_field.as_bytes().into()),
            converter,
        })
    }

    /// Appends the items of V2 groups.
    pub fn build_v2(&self, groups: &[PipelineGroupEvents], bulk: &mut Bulk) -> Result<()> {
        let mut clock = Clock::default();
        let mut index = String::new();
        for group in groups {
            if let Some(conv) = &self.converter {
                let payloads = conv.convert_v2(group, self.index.keys())?;
                let times = group.events.iter().map(PipelineEvent::timestamp);
                self.push_payloads(payloads, times, bulk, &mut clock, &mut index)?;
                continue;
            }
            for event in &group.events {
                let converted;
                let (contents, own_tags): (Pairs<'_>, &KeyValues) = match event {
                    PipelineEvent::Log(log) => {
                        (log.contents.iter().map(|(k, v)| (&k[..], &v[..])).collect(), &log.tags)
                    }
                    PipelineEvent::ByteArray(b) => (vec![(BODY_KEY.as_bytes(), &b.data[..])], &EMPTY),
                    other => {
                        converted = event_to_log(other);
                        let contents = converted
                            .contents
                            .iter()
                            .map(|c| (c.key.as_bytes(), c.value.as_bytes()))
                            .collect();
                        (contents, other.tags().unwrap_or(&EMPTY))
                    }
                };
                let doc = Doc {
                    contents,
                    tags: self.tags(own_tags, group),
                    metadata: &group.group.metadata,
                    time: time_or_now(event.timestamp()),
                };
                self.push_doc(&doc, bulk, &mut clock, &mut index);
            }
        }
        Ok(())
    }

    /// Appends the items of V1 groups. The native document reads them as their V2 conversion
    /// (`__tag__:` contents and `LogTags` are tags; `Topic` and `Source` become `log.topic` and
    /// `host.ip`), so V1 and V2 give the same documents.
    pub fn build_v1(&self, groups: &[LogGroup], bulk: &mut Bulk) -> Result<()> {
        match &self.converter {
            None => {
                let v2: Vec<PipelineGroupEvents> = groups.iter().map(log_group_to_events).collect();
                self.build_v2(&v2, bulk)
            }
            Some(conv) => {
                let mut clock = Clock::default();
                let mut index = String::new();
                for group in groups {
                    let payloads = conv.convert_v1(group, self.index.keys())?;
                    let times = group
                        .logs
                        .iter()
                        .map(|l| u64::from(l.time) * NANOS + u64::from(l.time_ns.unwrap_or(0)));
                    self.push_payloads(payloads, times, bulk, &mut clock, &mut index)?;
                }
                Ok(())
            }
        }
    }

    /// Output tags: the event's, then the group's, under their output names, then `log.topic` and
    /// `host.ip` from a V1 header.
    fn tags<'a>(&'a self, own: &'a KeyValues, group: &'a PipelineGroupEvents) -> Pairs<'a> {
        let mut tags = Vec::with_capacity(own.len() + group.group.tags.len() + 2);
        for (k, v) in own.iter().chain(group.group.tags.iter()) {
            self.push_tag(&mut tags, k, v);
        }
        for (key, name) in [(meta::TOPIC, "log.topic"), (meta::SOURCE, "host.ip")] {
            if let Some(v) = group.group.metadata.get(key).filter(|v| !v.is_empty()) {
                self.push_tag(&mut tags, name.as_bytes(), v);
            }
        }
        tags
    }

    fn push_tag<'a>(&'a self, tags: &mut Pairs<'a>, key: &'a [u8], value: &'a [u8]) {
        let name = standard_tag_name(key).map_or(key, str::as_bytes);
        match self.tag_rename.get(name) {
            Some(new) if new.is_empty() => {}
            Some(new) => tags.push((new.as_bytes(), value)),
            None => tags.push((name, value)),
        }
    }

    fn write_action(
        &self,
        bulk: &mut Bulk,
        index: &mut String,
        clock: &mut Clock,
        time: u64,
        lookup: impl Fn(&VarKey) -> Option<String>,
    ) {
        if let Some(line) = &self.constant_action {
            bulk.body.extend_from_slice(line);
            return;
        }
        let values: Vec<(VarKey, Option<String>)> = self.index.keys().iter().map(|k| (k.clone(), lookup(k))).collect();
        let find = |k: &VarKey| values.iter().find(|(key, _)| key == k).and_then(|(_, v)| v.as_deref());
        self.index.render(index, find, || clock.civil((time / NANOS) as i64));
        action_line(&mut bulk.body, index);
    }

    fn push_doc(&self, doc: &Doc<'_>, bulk: &mut Bulk, clock: &mut Clock, index: &mut String) {
        let start = bulk.body.len();
        self.write_action(bulk, index, clock, doc.time, |k| {
            let found = match k {
                VarKey::Content(name) => doc
                    .contents
                    .iter()
                    .find(|(key, _)| *key == name.as_bytes())
                    .map(|(_, v)| *v),
                VarKey::Tag(name) => doc
                    .tags
                    .iter()
                    .find(|(key, _)| *key == name.as_bytes())
                    .map(|(_, v)| *v),
                VarKey::Metadata(name) => doc.metadata.get(name).map(|v| &v[..]),
            };
            found.map(|v| String::from_utf8_lossy(v).into_owned())
        });
        let out = &mut bulk.body;
        out.push(b'{');
        let mut written: Vec<&[u8]> = Vec::with_capacity(doc.contents.len() + doc.tags.len() + 1);
        for (k, v) in doc.contents.iter().chain(doc.tags.iter()) {
            if written.contains(k) {
                continue;
            }
            if !written.is_empty() {
                out.push(b',');
            }
            written.push(k);
            json::write_str(out, k);
            out.push(b':');
            json::write_str(out, v);
        }
        if let Some(field) = &self.timestamp_field
            && !written.contains(&&field[..])
        {
            if !written.is_empty() {
                out.push(b',');
            }
            json::write_str(out, field);
            out.extend_from_slice(b":\"");
            clock.civil((doc.time / NANOS) as i64).write_rfc3339_seconds(out);
            out.push(b'.');
            json::write_padded(out, doc.time % NANOS, 9);
            out.extend_from_slice(b"Z\"");
        }
        out.extend_from_slice(b"}\n");
        bulk.items.push(start..bulk.body.len());
    }

    fn push_payloads(
        &self,
        payloads: Vec<Payload>,
        times: impl ExactSizeIterator<Item = u64>,
        bulk: &mut Bulk,
        clock: &mut Clock,
        index: &mut String,
    ) -> Result<()> {
        if payloads.len() != times.len() {
            bail!(
                "the converter made {} documents of {} events",
                payloads.len(),
                times.len()
            );
        }
        for (payload, time) in payloads.into_iter().zip(times) {
            let start = bulk.body.len();
            self.write_action(bulk, index, clock, time_or_now(time), |k| payload.vars.get(k).cloned());
            bulk.body.extend_from_slice(&payload.body);
            bulk.body.push(b'\n');
            bulk.items.push(start..bulk.body.len());
        }
        Ok(())
    }
}

fn renames(map: &BTreeMap<String, String>) -> HashMap<Box<[u8]>, Box<str>> {
    map.iter()
        .map(|(k, v)| (k.as_bytes().into(), v.as_str().into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use loong_api::model::{GroupInfo, LogEvent};
    use serde_json::{Value, json};

    use super::*;

    fn lines(bulk: &Bulk) -> Vec<Value> {
        String::from_utf8(bulk.body.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn group() -> PipelineGroupEvents {
        let mut info = GroupInfo::default();
        info.tags.insert("__hostname__", "h1");
        info.tags.insert("__path__", "/var/log/a.log");
        info.metadata.insert("__path__", "/var/log/a.log");
        let mut e = LogEvent::with_body("hello \"world\"", 1_700_000_000_123_456_789);
        e.contents.insert("level", "WARN");
        e.tags.insert("pod", "p-1");
        let mut shadow = LogEvent::with_body("second", 1_700_000_000_000_000_000);
        shadow.contents.insert("host.name", "from-content");
        shadow.contents.insert("@timestamp", "2020-01-01T00:00:00Z");
        PipelineGroupEvents::new(info, vec![e.into(), shadow.into()])
    }

    #[test]
    fn native_documents_hold_contents_tags_and_timestamp() {
        let b = DocBuilder::new(
            "logs-%{content.level}-%{+yyyy.MM.dd}",
            &ConvertConfig::default(),
            "@timestamp",
        )
        .unwrap();
        let mut bulk = Bulk::default();
        b.build_v2(&[group()], &mut bulk).unwrap();
        assert_eq!(bulk.items.len(), 2);
        assert_eq!(bulk.items[1].end, bulk.body.len());
        let l = lines(&bulk);
        assert_eq!(l[0], json!({"index": {"_index": "logs-WARN-2023.11.14"}}));
        assert_eq!(
            l[1],
            json!({"content": "hello \"world\"", "level": "WARN", "pod": "p-1", "host.name": "h1",
                   "log.file.path": "/var/log/a.log", "@timestamp": "2023-11-14T22:13:20.123456789Z"})
        );
        let text = String::from_utf8(bulk.body[bulk.items[1].clone()].to_vec()).unwrap();
        assert!(
            text.starts_with("{\"index\":{\"_index\":\"logs-content.level-2023.11.14\"}}\n"),
            "{text}"
        );
        // A content wins over a tag and over the generated timestamp: no key twice.
        assert_eq!(
            l[3],
            json!({"content": "second", "host.name": "from-content", "@timestamp": "2020-01-01T00:00:00Z",
                   "log.file.path": "/var/log/a.log"})
        );
        assert_eq!(text.matches("host.name").count(), 1);
    }

    #[test]
    fn tag_renames_and_no_timestamp() {
        let convert = ConvertConfig {
            tag_fields_rename: [
                ("host.name".to_owned(), "hostname".to_owned()),
                ("log.file.path".to_owned(), String::new()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let b = DocBuilder::new("i-%{tag.hostname}", &convert, "").unwrap();
        let mut bulk = Bulk::default();
        b.build_v2(&[group()], &mut bulk).unwrap();
        let l = lines(&bulk);
        assert_eq!(l[0]["index"]["_index"], "i-h1");
        assert_eq!(
            l[1],
            json!({"content": "hello \"world\"", "level": "WARN", "pod": "p-1", "hostname": "h1"})
        );
    }

    #[test]
    fn v1_gives_the_same_documents() {
        let b = DocBuilder::new("x", &ConvertConfig::default(), "@timestamp").unwrap();
        let (mut v1, mut v2) = (Bulk::default(), Bulk::default());
        let groups = loong_testkit::sample_log_groups();
        b.build_v1(&groups, &mut v1).unwrap();
        let back: Vec<PipelineGroupEvents> = groups.iter().map(log_group_to_events).collect();
        b.build_v2(&back, &mut v2).unwrap();
        assert_eq!(lines(&v1), lines(&v2));
        assert_eq!(v1.items.len(), 5);
    }

    #[test]
    fn converter_protocols_and_every_event_kind() {
        let convert = ConvertConfig {
            protocol: "custom_single".into(),
            ..Default::default()
        };
        let b = DocBuilder::new("c-%{tag.host}", &convert, "@timestamp").unwrap();
        let mut bulk = Bulk::default();
        b.build_v2(&loong_testkit::sample_events(), &mut bulk).unwrap();
        let l = lines(&bulk);
        assert_eq!(bulk.items.len(), 5);
        assert_eq!(l[0]["index"]["_index"], "c-test-host");
        assert_eq!(l[1]["contents"]["content"], "sample-0");
        assert_eq!(l[1]["time"], 1_700_000_000);

        let native = DocBuilder::new("n", &ConvertConfig::default(), "@timestamp").unwrap();
        let mut bulk = Bulk::default();
        native.build_v2(&loong_testkit::sample_events(), &mut bulk).unwrap();
        let l = lines(&bulk);
        assert_eq!(l.len(), 10);
        assert_eq!(
            l[3]["__name__"], "requests_total",
            "a metric in its V1 layout: {}",
            l[3]
        );
        assert_eq!(l[9]["content"], "raw bytes");

        let err = DocBuilder::new(
            "x",
            &ConvertConfig {
                protocol: "jsonline".into(),
                ..Default::default()
            },
            "",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("not supported by flusher_elasticsearch"), "{err}");
    }
}
