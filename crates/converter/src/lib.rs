//! Turns log groups into request/message bodies: loong-rs's equivalent of LoongCollector's
//! `pkg/protocol/converter`, shared by flusher_http and the other flushers that send converted data.
//!
//! | Protocol | Encoding | Payloads | Body |
//! |---|---|---|---|
//! | `custom_single` | `json` | one per event | `{"contents":{…},"tags":{…},"time":<seconds>}` |
//! | `custom_single_flatten` | `json` | one per event | `{<contents>,<tags>,"time":<seconds>}` in one object |
//! | `jsonline` | `json` | one per group | flattened objects joined by `\n` (no trailing newline) |
//! | `influxdb` | `custom` | one per group | line protocol, every line ending in `\n` |
//! | `raw` | `custom` | one per byte array, or one per group joined by `Separator` | the bytes as-is |
//!
//! JSON objects have their keys sorted and, for a repeated key, keep the last value: the output of
//! Go's `encoding/json` on the maps LoongCollector builds, so bodies match byte for byte.
//!
//! Tags (V1): contents whose key starts with `__tag__:` and the group's `LogTags` become tags, with
//! LoongCollector's renames (`__hostname__` → `host.name`, `__path__` → `log.file.path`, …, see
//! [`standard_tag_name`]) and then `TagFieldsRename` (an empty new name drops the tag); `__log_topic__`
//! becomes `log.topic`, the group's `Source` becomes `host.ip` and its `Topic` (when set) `log.topic`.
//! Tags (V2): the event's tags, then the group's, renamed the same way.
//!
//! Deliberate differences from LoongCollector:
//! * `IgnoreUnExpectedData` is honoured everywhere: V1 `influxdb` and `raw` skip (or, when false, fail
//!   on) what they cannot express, where LoongCollector always fails the group.
//! * V2 `custom_single`/`custom_single_flatten`/`jsonline` (LoongCollector 3.x supports only `raw` and
//!   `influxdb` for V2) write metrics and spans in their V1 layout, byte arrays as `content`.
//! * Group-level payloads carry variable values (LoongCollector's `jsonline` carries none, so its
//!   templates render the key names); `%{tag.k}` on V1 group payloads matches LogTag `k` as well as
//!   `__tag__:k`; `%{metadata.k}` also works per event.
//! * `influxdb` leaves out empty tag values and non-finite floats (InfluxDB rejects both); a group with
//!   nothing to send yields no payload rather than an empty body.
//! * Kubernetes-specific names (`k8s.container.name`, …) are not used; `otlp_v1` is not implemented.

mod influx;
mod json;
pub mod prometheus;
mod template;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use loong_model::{
    BODY_KEY, KeyValues, LogGroup, PipelineEvent, PipelineGroupEvents,
    convert::{TAG_PREFIX, event_to_log, meta},
    v1::{Content, Log},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use template::{Template, VarKey};

/// How events are converted to request bodies (a flusher's `Convert` option).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ConvertConfig {
    /// Output protocol: `custom_single` (one JSON object per event), `custom_single_flatten` (the
    /// same with contents and tags at the top level), `jsonline` (flattened objects, one per line,
    /// one body per group), `influxdb` (line protocol from metrics) or `raw` (byte-array events as-is).
    #[serde(rename = "Protocol")]
    pub protocol: String,
    /// Encoding of the protocol: `json` for `custom_single`, `custom_single_flatten` and `jsonline`;
    /// `custom` for `influxdb` and `raw`.
    #[serde(rename = "Encoding")]
    pub encoding: String,
    /// `raw` only: when set, the byte arrays of a group are joined with it into one body; when empty,
    /// each byte array is its own body.
    #[serde(rename = "Separator")]
    pub separator: String,
    /// Skip events the protocol cannot express (a log for `influxdb`, a non-byte-array for `raw`)
    /// instead of failing the whole group.
    #[serde(rename = "IgnoreUnExpectedData")]
    pub ignore_unexpected_data: bool,
    /// Renames tags, keyed by the tag's output name (`host.name`, `log.file.path`, or the tag's own
    /// key); an empty new name drops the tag.
    #[serde(rename = "TagFieldsRename")]
    pub tag_fields_rename: BTreeMap<String, String>,
    /// Renames the protocol's own keys: `contents`, `tags`, `time`.
    #[serde(rename = "ProtocolFieldsRename")]
    pub protocol_fields_rename: BTreeMap<String, String>,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        ConvertConfig {
            protocol: PROTOCOL_CUSTOM_SINGLE.to_owned(),
            encoding: ENCODING_JSON.to_owned(),
            separator: String::new(),
            ignore_unexpected_data: true,
            tag_fields_rename: BTreeMap::new(),
            protocol_fields_rename: BTreeMap::new(),
        }
    }
}

pub const PROTOCOL_CUSTOM_SINGLE: &str = "custom_single";
pub const PROTOCOL_CUSTOM_SINGLE_FLATTEN: &str = "custom_single_flatten";
pub const PROTOCOL_JSONLINE: &str = "jsonline";
pub const PROTOCOL_INFLUXDB: &str = "influxdb";
pub const PROTOCOL_RAW: &str = "raw";
pub const ENCODING_JSON: &str = "json";
pub const ENCODING_CUSTOM: &str = "custom";

const SUPPORTED_PROTOCOLS: &str = "custom_single, custom_single_flatten, jsonline, influxdb, raw";

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("unsupported protocol {protocol:?} (supported: {SUPPORTED_PROTOCOLS}){note}")]
    UnsupportedProtocol { protocol: String, note: &'static str },
    #[error("unsupported encoding {encoding:?} for protocol {protocol} (supported: {supported})")]
    UnsupportedEncoding {
        encoding: String,
        protocol: &'static str,
        supported: &'static str,
    },
    #[error("template {template:?}: {reason}")]
    Template { template: String, reason: String },
    /// An event the protocol cannot express, with `IgnoreUnExpectedData` false.
    #[error("protocol {protocol} cannot convert {what}")]
    Unexpected { protocol: &'static str, what: String },
}

/// One request/message body plus the values of the selected variable keys for it.
///
/// A key missing from `vars` had no value in the event; [`Template::render`] then writes the key's
/// name, as LoongCollector does. Group-level payloads (`jsonline`, `influxdb`, joined `raw`) carry
/// every selected key, `""` when the group has no value for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub body: Bytes,
    pub vars: HashMap<VarKey, String>,
    /// Input events in this body (for `custom_single`, 1). Events left out were skipped as unexpected.
    pub events: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    CustomSingle,
    CustomSingleFlatten,
    Jsonline,
    Influxdb,
    Raw,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::CustomSingle => PROTOCOL_CUSTOM_SINGLE,
            Protocol::CustomSingleFlatten => PROTOCOL_CUSTOM_SINGLE_FLATTEN,
            Protocol::Jsonline => PROTOCOL_JSONLINE,
            Protocol::Influxdb => PROTOCOL_INFLUXDB,
            Protocol::Raw => PROTOCOL_RAW,
        }
    }

    fn encoding(self) -> &'static str {
        match self {
            Protocol::CustomSingle | Protocol::CustomSingleFlatten | Protocol::Jsonline => ENCODING_JSON,
            Protocol::Influxdb | Protocol::Raw => ENCODING_CUSTOM,
        }
    }
}

/// LoongCollector's output names for the standard tags (its `tagConversionMap`, outside Kubernetes).
pub fn standard_tag_name(key: &[u8]) -> Option<&'static str> {
    Some(match key {
        b"__path__" => "log.file.path",
        b"__hostname__" => "host.name",
        b"_node_ip_" => "k8s.node.ip",
        b"_node_name_" => "k8s.node.name",
        b"_namespace_" => "k8s.namespace.name",
        b"_pod_name_" => "k8s.pod.name",
        b"_pod_ip_" => "k8s.pod.ip",
        b"_pod_uid_" => "k8s.pod.uid",
        b"_container_name_" => "container.name",
        b"_container_ip_" => "container.ip",
        b"_image_name_" => "container.image.name",
        _ => return None,
    })
}

const TAG_HOST_IP: &str = "host.ip";
const TAG_LOG_TOPIC: &str = "log.topic";

/// Converts groups to payloads. Cheap to share: conversion takes `&self`.
#[derive(Debug, Clone)]
pub struct Converter {
    protocol: Protocol,
    separator: Vec<u8>,
    ignore_unexpected: bool,
    tag_rename: HashMap<Box<[u8]>, Box<str>>,
    key_time: Box<str>,
    key_contents: Box<str>,
    key_tags: Box<str>,
}

/// One event as the JSON protocols see it. Keys and values borrow from the event, the group or the
/// converter's renames; nothing is copied until written.
struct Record<'a> {
    contents: Vec<(&'a [u8], &'a [u8])>,
    tags: Vec<(&'a [u8], &'a [u8])>,
    time: u32,
}

impl Converter {
    /// Checks the protocol/encoding pair; an unknown one is an error naming the valid ones.
    pub fn new(config: &ConvertConfig) -> Result<Converter, ConvertError> {
        let protocol = match config.protocol.as_str() {
            PROTOCOL_CUSTOM_SINGLE => Protocol::CustomSingle,
            PROTOCOL_CUSTOM_SINGLE_FLATTEN => Protocol::CustomSingleFlatten,
            PROTOCOL_JSONLINE => Protocol::Jsonline,
            PROTOCOL_INFLUXDB => Protocol::Influxdb,
            PROTOCOL_RAW => Protocol::Raw,
            other => {
                return Err(ConvertError::UnsupportedProtocol {
                    protocol: other.to_owned(),
                    note: if other == "otlp_v1" {
                        "; otlp_v1 is not implemented by loong-rs"
                    } else {
                        ""
                    },
                });
            }
        };
        if config.encoding != protocol.encoding() {
            return Err(ConvertError::UnsupportedEncoding {
                encoding: config.encoding.clone(),
                protocol: protocol.name(),
                supported: protocol.encoding(),
            });
        }
        let rename = |key: &str| -> Box<str> {
            config
                .protocol_fields_rename
                .get(key)
                .map_or(key, String::as_str)
                .into()
        };
        Ok(Converter {
            protocol,
            separator: config.separator.as_bytes().to_vec(),
            ignore_unexpected: config.ignore_unexpected_data,
            tag_rename: config
                .tag_fields_rename
                .iter()
                .map(|(k, v)| (k.as_bytes().into(), v.as_str().into()))
                .collect(),
            key_time: rename("time"),
            key_contents: rename("contents"),
            key_tags: rename("tags"),
        })
    }

    /// `application/json` for the json encoding, `application/octet-stream` otherwise (LoongCollector's
    /// flusher_http default, influxdb included).
    pub fn content_type(&self) -> &'static str {
        match self.protocol.encoding() {
            ENCODING_JSON => "application/json",
            _ => "application/octet-stream",
        }
    }

    /// Payloads for one V1 `LogGroup`. `selected` lists the variable keys whose values each payload
    /// must carry (from the log for per-log protocols, from `LogTags` and the group header otherwise).
    pub fn convert_v1(&self, group: &LogGroup, selected: &[VarKey]) -> Result<Vec<Payload>, ConvertError> {
        self.convert_v1_counted(group, selected).map(|(p, _)| p)
    }

    /// [`convert_v1`](Self::convert_v1), also returning how many logs were skipped as unexpected.
    pub fn convert_v1_counted(
        &self,
        group: &LogGroup,
        selected: &[VarKey],
    ) -> Result<(Vec<Payload>, usize), ConvertError> {
        let header = |k: &str| -> Option<&str> {
            match k {
                meta::TOPIC => group.topic.as_deref(),
                meta::SOURCE => group.source.as_deref(),
                meta::CATEGORY => group.category.as_deref(),
                meta::MACHINE_UUID => group.machine_uuid.as_deref(),
                _ => None,
            }
        };
        match self.protocol {
            Protocol::CustomSingle | Protocol::CustomSingleFlatten | Protocol::Jsonline => {
                let mut payloads = Vec::new();
                let mut joined = Vec::new();
                for log in &group.logs {
                    let record = self.v1_record(log, group);
                    if self.protocol == Protocol::Jsonline {
                        if !joined.is_empty() {
                            joined.push(b'\n');
                        }
                        self.write_flat(&mut joined, &record);
                        continue;
                    }
                    let mut body = Vec::with_capacity(estimate_v1(log, group));
                    self.write_record(&mut body, &record);
                    let vars = self.record_vars(selected, &record, |k| header(k).map(str::to_owned));
                    payloads.push(Payload {
                        body: body.into(),
                        vars,
                        events: 1,
                    });
                }
                if self.protocol == Protocol::Jsonline && !group.logs.is_empty() {
                    payloads.push(Payload {
                        body: joined.into(),
                        vars: self.v1_group_vars(selected, group, header),
                        events: group.logs.len(),
                    });
                }
                Ok((payloads, 0))
            }
            Protocol::Influxdb => {
                let mut body = Vec::with_capacity(group.logs.iter().map(|l| estimate_v1(l, group)).sum());
                let mut written = 0;
                let mut skipped = 0;
                for log in &group.logs {
                    let start = body.len();
                    match influx::write_v1_metric(&mut body, log) {
                        Ok(()) => written += 1,
                        Err(why) => {
                            body.truncate(start);
                            self.unexpected(why)?;
                            skipped += 1;
                        }
                    }
                }
                let payloads = self.group_payload(body, written, || self.v1_group_vars(selected, group, header));
                Ok((payloads, skipped))
            }
            Protocol::Raw => {
                if !group.logs.is_empty() {
                    self.unexpected("V1 logs (raw sends V2 byte-array events only)".into())?;
                }
                Ok((Vec::new(), group.logs.len()))
            }
        }
    }

    /// Payloads for one V2 event group; see [`convert_v1`](Self::convert_v1). Metrics, spans and byte
    /// arrays given to a JSON protocol are written in their V1 layout
    /// ([`loong_model::convert::event_to_log`]) with the group's and their own tags.
    pub fn convert_v2(&self, group: &PipelineGroupEvents, selected: &[VarKey]) -> Result<Vec<Payload>, ConvertError> {
        self.convert_v2_counted(group, selected).map(|(p, _)| p)
    }

    /// [`convert_v2`](Self::convert_v2), also returning how many events were skipped as unexpected.
    pub fn convert_v2_counted(
        &self,
        group: &PipelineGroupEvents,
        selected: &[VarKey],
    ) -> Result<(Vec<Payload>, usize), ConvertError> {
        let metadata = &group.group.metadata;
        let meta_value = |k: &str| metadata.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
        match self.protocol {
            Protocol::CustomSingle | Protocol::CustomSingleFlatten | Protocol::Jsonline => {
                let mut payloads = Vec::new();
                let mut joined = Vec::new();
                for event in &group.events {
                    let converted: Log;
                    let record = match event {
                        PipelineEvent::Log(log) => Record {
                            contents: log.contents.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect(),
                            tags: self.v2_tags(&log.tags, &group.group.tags),
                            time: (log.timestamp / NANOS) as u32,
                        },
                        // Kept as bytes so invalid UTF-8 escapes per byte, as Go's marshaller does.
                        PipelineEvent::ByteArray(b) => Record {
                            contents: vec![(BODY_KEY.as_bytes(), b.data.as_ref())],
                            tags: self.v2_tags(&EMPTY_TAGS, &group.group.tags),
                            time: (b.timestamp / NANOS) as u32,
                        },
                        other => {
                            converted = event_to_log(other);
                            let own = other.tags().unwrap_or(&EMPTY_TAGS);
                            let mut tags = Vec::with_capacity(own.len() + group.group.tags.len());
                            for (k, v) in group.group.tags.iter().chain(own.iter()) {
                                self.push_tag(&mut tags, k, v);
                            }
                            Record {
                                contents: contents_of(&converted.contents),
                                tags,
                                time: converted.time,
                            }
                        }
                    };
                    if self.protocol == Protocol::Jsonline {
                        if !joined.is_empty() {
                            joined.push(b'\n');
                        }
                        self.write_flat(&mut joined, &record);
                        continue;
                    }
                    let mut body = Vec::with_capacity(event.size() + group.group.tags.byte_size() + 64);
                    self.write_record(&mut body, &record);
                    payloads.push(Payload {
                        body: body.into(),
                        vars: self.record_vars(selected, &record, meta_value),
                        events: 1,
                    });
                }
                if self.protocol == Protocol::Jsonline && !group.events.is_empty() {
                    payloads.push(Payload {
                        body: joined.into(),
                        vars: v2_group_vars(selected, group),
                        events: group.events.len(),
                    });
                }
                Ok((payloads, 0))
            }
            Protocol::Influxdb => {
                let mut body = Vec::with_capacity(group.byte_size() + 32 * group.events.len());
                let mut written = 0;
                let mut skipped = 0;
                for event in &group.events {
                    let start = body.len();
                    let result = match event {
                        PipelineEvent::Metric(m) => influx::write_metric(&mut body, m),
                        other => Err(format!("{} events", other.event_type().as_str())),
                    };
                    match result {
                        Ok(()) => written += 1,
                        Err(why) => {
                            body.truncate(start);
                            self.unexpected(why)?;
                            skipped += 1;
                        }
                    }
                }
                Ok((
                    self.group_payload(body, written, || v2_group_vars(selected, group)),
                    skipped,
                ))
            }
            Protocol::Raw => {
                let mut datas = Vec::with_capacity(group.events.len());
                for event in &group.events {
                    match event {
                        PipelineEvent::ByteArray(b) => datas.push(&b.data),
                        other => self.unexpected(format!("{} events", other.event_type().as_str()))?,
                    }
                }
                let skipped = group.events.len() - datas.len();
                if datas.is_empty() {
                    return Ok((Vec::new(), skipped));
                }
                let vars = v2_group_vars(selected, group);
                if self.separator.is_empty() {
                    let payloads = datas
                        .into_iter()
                        .map(|d| Payload {
                            body: d.clone(),
                            vars: vars.clone(),
                            events: 1,
                        })
                        .collect();
                    return Ok((payloads, skipped));
                }
                let size = datas.iter().map(|d| d.len()).sum::<usize>() + self.separator.len() * datas.len();
                let mut body = Vec::with_capacity(size);
                for (i, d) in datas.iter().enumerate() {
                    if i > 0 {
                        body.extend_from_slice(&self.separator);
                    }
                    body.extend_from_slice(d);
                }
                let events = datas.len();
                Ok((
                    vec![Payload {
                        body: body.into(),
                        vars,
                        events,
                    }],
                    skipped,
                ))
            }
        }
    }

    fn unexpected(&self, what: String) -> Result<(), ConvertError> {
        if self.ignore_unexpected {
            Ok(())
        } else {
            Err(ConvertError::Unexpected {
                protocol: self.protocol.name(),
                what,
            })
        }
    }

    fn group_payload(
        &self,
        body: Vec<u8>,
        events: usize,
        vars: impl FnOnce() -> HashMap<VarKey, String>,
    ) -> Vec<Payload> {
        if events == 0 {
            return Vec::new();
        }
        vec![Payload {
            body: body.into(),
            vars: vars(),
            events,
        }]
    }

    /// Adds a tag under its output name: the standard rename, then `TagFieldsRename`.
    fn push_tag<'a>(&'a self, tags: &mut Vec<(&'a [u8], &'a [u8])>, key: &'a [u8], value: &'a [u8]) {
        let name = standard_tag_name(key).map_or(key, str::as_bytes);
        match self.tag_rename.get(name) {
            Some(new) if new.is_empty() => {}
            Some(new) => tags.push((new.as_bytes(), value)),
            None => tags.push((name, value)),
        }
    }

    fn v2_tags<'a>(&'a self, own: &'a KeyValues, group: &'a KeyValues) -> Vec<(&'a [u8], &'a [u8])> {
        let mut tags = Vec::with_capacity(own.len() + group.len());
        for (k, v) in own.iter().chain(group.iter()) {
            self.push_tag(&mut tags, k, v);
        }
        tags
    }

    /// LoongCollector's `convertLogToMap`.
    fn v1_record<'a>(&'a self, log: &'a Log, group: &'a LogGroup) -> Record<'a> {
        let mut contents = Vec::with_capacity(log.contents.len());
        let mut tags = Vec::with_capacity(group.log_tags.len() + 4);
        for c in &log.contents {
            let key = c.key.as_str();
            if key == "__log_topic__" {
                tags.push((TAG_LOG_TOPIC.as_bytes(), c.value.as_bytes()));
            } else if key == "__tag__:__user_defined_id__" {
                continue;
            } else if let Some(tag) = key.strip_prefix(TAG_PREFIX).filter(|t| !t.is_empty()) {
                self.push_tag(&mut tags, tag.as_bytes(), c.value.as_bytes());
            } else if standard_tag_name(key.as_bytes()).is_some() {
                self.push_tag(&mut tags, key.as_bytes(), c.value.as_bytes());
            } else {
                contents.push((key.as_bytes(), c.value.as_bytes()));
            }
        }
        for t in &group.log_tags {
            if t.key == "__user_defined_id__" || t.key == "__pack_id__" {
                continue;
            }
            self.push_tag(&mut tags, t.key.as_bytes(), t.value.as_bytes());
        }
        tags.push((TAG_HOST_IP.as_bytes(), group.source.as_deref().unwrap_or("").as_bytes()));
        if let Some(topic) = group.topic.as_deref().filter(|t| !t.is_empty()) {
            tags.push((TAG_LOG_TOPIC.as_bytes(), topic.as_bytes()));
        }
        Record {
            contents,
            tags,
            time: log.time,
        }
    }

    /// LoongCollector's `findTargetValues`, plus `metadata.` keys (which it rejects per log).
    fn record_vars(
        &self,
        selected: &[VarKey],
        record: &Record<'_>,
        metadata: impl Fn(&str) -> Option<String>,
    ) -> HashMap<VarKey, String> {
        let last = |entries: &[(&[u8], &[u8])], key: &[u8]| {
            entries
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        let mut vars = HashMap::with_capacity(selected.len());
        for key in selected {
            let value = match key {
                VarKey::Content(k) => last(&record.contents, k.as_bytes()),
                VarKey::Tag(k) => last(&record.tags, k.as_bytes()).or_else(|| {
                    // A tag asked for by its original name after TagFieldsRename renamed it.
                    let new = self.tag_rename.get(k.as_bytes())?;
                    Some(last(&record.tags, new.as_bytes()).unwrap_or_default())
                }),
                VarKey::Metadata(k) => metadata(k),
            };
            if let Some(v) = value {
                vars.insert(key.clone(), v);
            }
        }
        vars
    }

    fn v1_group_vars<'a>(
        &self,
        selected: &[VarKey],
        group: &'a LogGroup,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> HashMap<VarKey, String> {
        selected
            .iter()
            .map(|key| {
                let value = match key {
                    VarKey::Content(_) => None,
                    VarKey::Tag(k) => group
                        .log_tags
                        .iter()
                        .rev()
                        .find(|t| t.key == *k || t.key.strip_prefix(TAG_PREFIX) == Some(k))
                        .map(|t| t.value.as_str()),
                    VarKey::Metadata(k) => header(k),
                };
                (key.clone(), value.unwrap_or_default().to_owned())
            })
            .collect()
    }

    /// `{"contents":{…},"tags":{…},"time":N}` with the keys renamed by `ProtocolFieldsRename`, or the
    /// flattened form, depending on the protocol.
    fn write_record(&self, out: &mut Vec<u8>, record: &Record<'_>) {
        if self.protocol != Protocol::CustomSingle {
            return self.write_flat(out, record);
        }
        #[derive(Clone, Copy)]
        enum Top {
            Time,
            Contents,
            Tags,
        }
        let mut top = vec![
            (self.key_time.as_bytes(), Top::Time),
            (self.key_contents.as_bytes(), Top::Contents),
            (self.key_tags.as_bytes(), Top::Tags),
        ];
        json::sort_dedup_last(&mut top);
        out.push(b'{');
        for (i, (key, which)) in top.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, key);
            out.push(b':');
            match which {
                Top::Time => json::write_u64(out, u64::from(record.time)),
                Top::Contents | Top::Tags => {
                    let mut entries = if matches!(which, Top::Contents) {
                        record.contents.clone()
                    } else {
                        record.tags.clone()
                    };
                    json::sort_dedup_last(&mut entries);
                    json::write_object(out, &entries);
                }
            }
        }
        out.push(b'}');
    }

    /// Contents, then tags, then `time` in one object; a later one wins a shared key.
    fn write_flat(&self, out: &mut Vec<u8>, record: &Record<'_>) {
        let mut entries: Vec<(&[u8], Option<&[u8]>)> =
            Vec::with_capacity(record.contents.len() + record.tags.len() + 1);
        entries.extend(record.contents.iter().map(|(k, v)| (*k, Some(*v))));
        entries.extend(record.tags.iter().map(|(k, v)| (*k, Some(*v))));
        entries.push((self.key_time.as_bytes(), None));
        json::sort_dedup_last(&mut entries);
        out.push(b'{');
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, k);
            out.push(b':');
            match v {
                Some(v) => json::write_str(out, v),
                None => json::write_u64(out, u64::from(record.time)),
            }
        }
        out.push(b'}');
    }
}

const NANOS: u64 = 1_000_000_000;
static EMPTY_TAGS: KeyValues = KeyValues::new();

fn contents_of(contents: &[Content]) -> Vec<(&[u8], &[u8])> {
    contents
        .iter()
        .map(|c| (c.key.as_bytes(), c.value.as_bytes()))
        .collect()
}

fn estimate_v1(log: &Log, group: &LogGroup) -> usize {
    let contents: usize = log.contents.iter().map(|c| c.key.len() + c.value.len() + 6).sum();
    let tags: usize = group.log_tags.iter().map(|t| t.key.len() + t.value.len() + 6).sum();
    contents + tags + 64
}

/// LoongCollector's `findTargetFieldsInGroup`: every selected key gets a value, `""` when missing.
fn v2_group_vars(selected: &[VarKey], group: &PipelineGroupEvents) -> HashMap<VarKey, String> {
    selected
        .iter()
        .map(|key| {
            let value = match key {
                VarKey::Content(_) => None,
                VarKey::Tag(k) => group.group.tags.get(k),
                VarKey::Metadata(k) => group.group.metadata.get(k),
            };
            let value = value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            (key.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests;
