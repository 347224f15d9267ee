//! `aggregator_content_value_group`: batches events by the values of `GroupKeys` in their contents;
//! each batch gets those values as tags (LoongCollector's aggregator of the same name), so a
//! flusher can route on them (`%{tag.db}` in flusher_http's `Query`, a Kafka topic…).

use std::hash::{Hash, Hasher};
use std::time::Duration;

use bytes::Bytes;
use loong_aggregator_base::PackIds;
use loong_api::batch::{Batcher, Limits, source_key};
use loong_api::model::{KeyValues, PipelineEvent};
use loong_api::{Aggregator, Context, PipelineGroupEvents, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const NAME: &str = "aggregator_content_value_group";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_aggregator_creator(NAME, |o: ContentValueGroupOptions| Box::new(ContentValueGroup::new(o)));
}

/// Batches events by the values of some of their contents, which become the batch's tags.
///
/// Events whose `GroupKeys` values are equal (a missing key counts as the empty value) go into the
/// same batches, tagged `key=value` for each group key (a tag the group already has is kept). Batches
/// are cut like `aggregator_context`'s: 1024 events, ~3 MiB or 3 s. Acknowledgements follow the
/// events they belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ContentValueGroupOptions {
    /// Content keys whose values group the events. Required.
    #[serde(rename = "GroupKeys")]
    pub group_keys: Vec<String>,
    /// Add a `__pack_id__` tag to every batch.
    #[serde(rename = "EnablePackID")]
    pub enable_pack_id: bool,
    /// Topic of every batch (the `__topic__` metadata); empty keeps the input's.
    #[serde(rename = "Topic")]
    pub topic: String,
    /// Log a warning for an event that lacks a group key.
    #[serde(rename = "ErrIfKeyNotFound")]
    pub err_if_key_not_found: bool,
    /// Events per batch at most (loong-rs addition).
    #[serde(rename = "MaxLogCount")]
    pub max_log_count: usize,
}

impl Default for ContentValueGroupOptions {
    fn default() -> Self {
        ContentValueGroupOptions {
            group_keys: Vec::new(),
            enable_pack_id: true,
            topic: String::new(),
            err_if_key_not_found: false,
            max_log_count: Limits::default().max_events,
        }
    }
}

pub struct ContentValueGroup {
    options: ContentValueGroupOptions,
    batcher: Batcher,
    packs: PackIds,
}

impl ContentValueGroup {
    pub fn new(options: ContentValueGroupOptions) -> Self {
        let batcher = Batcher::new(Limits {
            max_events: options.max_log_count,
            ..Limits::default()
        });
        ContentValueGroup {
            options,
            batcher,
            packs: PackIds::new(),
        }
    }

    fn values(&self, event: &PipelineEvent) -> Vec<Bytes> {
        let contents: Option<&KeyValues> = match event {
            PipelineEvent::Log(l) => Some(&l.contents),
            _ => None,
        };
        self.options
            .group_keys
            .iter()
            .map(|k| match contents.and_then(|c| c.get(k)) {
                Some(v) => v.clone(),
                None => {
                    if self.options.err_if_key_not_found {
                        tracing::warn!(key = %k, "aggregator_content_value_group: an event lacks a group key");
                    }
                    Bytes::new()
                }
            })
            .collect()
    }

    fn stamp(&mut self, ready: &mut [PipelineGroupEvents]) {
        for g in ready {
            if !self.options.topic.is_empty() {
                g.group
                    .metadata
                    .insert(loong_api::model::convert::meta::TOPIC, self.options.topic.clone());
            }
            if self.options.enable_pack_id {
                g.group.tags.insert("__pack_id__", self.packs.next_id());
            }
        }
    }
}

impl Aggregator for ContentValueGroup {
    fn init(&mut self, _: &Context) -> Result<Duration> {
        anyhow::ensure!(!self.options.group_keys.is_empty(), "GroupKeys is empty");
        anyhow::ensure!(self.options.max_log_count > 0, "MaxLogCount must be at least 1");
        Ok(self.batcher.limits().interval)
    }

    fn description(&self) -> &str {
        "content value group aggregator: batches events by the values of some contents"
    }

    fn record(&mut self, mut group: PipelineGroupEvents, ready: &mut Vec<PipelineGroupEvents>) -> Result<()> {
        let from = ready.len();
        // Split the group by value; most groups hold one value only, which keeps them whole.
        let mut parts: Vec<(Vec<Bytes>, Vec<PipelineEvent>)> = Vec::new();
        for event in std::mem::take(&mut group.events) {
            let values = self.values(&event);
            match parts.iter_mut().find(|(v, _)| *v == values) {
                Some((_, events)) => events.push(event),
                None => parts.push((values, vec![event])),
            }
        }
        let whole = parts.len() == 1;
        for (values, events) in parts {
            let mut info = group.group.clone();
            for (k, v) in self.options.group_keys.iter().zip(&values) {
                if info.tags.get(k).is_none() {
                    info.tags.insert(k.clone(), v.clone());
                }
            }
            let mut part = PipelineGroupEvents::new(info, events);
            part.acks = if whole { group.acks.take() } else { group.acks.split() };
            let mut h = std::collections::hash_map::DefaultHasher::new();
            source_key(&part.group).hash(&mut h);
            values.hash(&mut h);
            self.batcher.add(h.finish(), part, ready);
        }
        // The parts hold their own splits now; this holder's status adds nothing to theirs.
        group.acks.take().complete(loong_api::model::AckStatus::Delivered);
        self.stamp(&mut ready[from..]);
        Ok(())
    }

    fn get_result(&mut self, ready: &mut Vec<PipelineGroupEvents>, all: bool) -> Result<()> {
        let from = ready.len();
        self.batcher.due(ready, all);
        self.stamp(&mut ready[from..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use loong_api::model::{Ack, AckSet, AckStatus, GroupInfo, LogEvent};
    use loong_api::{Aggregator, Registry};
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn event(db: Option<&str>, i: usize) -> PipelineEvent {
        let mut e = LogEvent::with_body(format!("e{i}"), 0);
        if let Some(db) = db {
            e.contents.insert("db", db.to_owned());
        }
        e.into()
    }

    #[test]
    fn groups_by_value_tags_batches_and_keeps_acks() {
        let mut registry = Registry::new();
        register(&mut registry);
        let (mut a, _) = registry
            .create_aggregator(NAME, &json!({"GroupKeys": ["db"], "EnablePackID": false}))
            .unwrap();
        a.init(&loong_testkit::mock_context(NAME)).unwrap();
        let delivered = Arc::new(AtomicUsize::new(0));
        let d = delivered.clone();
        let mut group = PipelineGroupEvents::new(
            GroupInfo::default(),
            vec![
                event(Some("a"), 0),
                event(Some("b"), 1),
                event(Some("a"), 2),
                event(None, 3),
            ],
        );
        group.acks = AckSet::single(Ack::new(move |s| {
            if s == AckStatus::Delivered {
                d.fetch_add(1, Ordering::SeqCst);
            }
        }));
        let mut ready = Vec::new();
        a.record(group, &mut ready).unwrap();
        a.get_result(&mut ready, true).unwrap();
        let mut got: Vec<(String, usize)> = ready
            .iter()
            .map(|g| (g.group.tags.get_str("db").unwrap().into_owned(), g.events.len()))
            .collect();
        got.sort();
        assert_eq!(got, vec![("".into(), 1), ("a".into(), 2), ("b".into(), 1)]);
        assert!(ready.iter().all(|g| g.group.tags.get("__pack_id__").is_none()));
        for g in ready.drain(..) {
            assert_eq!(
                delivered.load(Ordering::SeqCst),
                0,
                "acked only when every part is delivered"
            );
            g.acks.complete(AckStatus::Delivered);
        }
        assert_eq!(delivered.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn group_keys_are_required() {
        let mut a = ContentValueGroup::new(ContentValueGroupOptions::default());
        let err = a.init(&loong_testkit::mock_context(NAME)).unwrap_err().to_string();
        assert!(err.contains("GroupKeys is empty"), "{err}");
    }
}
