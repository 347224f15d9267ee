//! `aggregator_base` and `aggregator_context`: LoongCollector's batching aggregators. Both batch
//! events per source (groups of the same tags and metadata, so a batch never mixes files) by
//! `MaxLogCount`, `MaxLogGroupBytes` and `Interval`, and carry every event's acknowledgement.
//! They differ as in LoongCollector: `aggregator_context` numbers its packs per source, so
//! `__pack_id__` lets a reader put a source's batches back in order; `aggregator_base` numbers
//! them per aggregator.

mod pack;

use std::collections::HashMap;
use std::time::Duration;

use loong_api::batch::{Batcher, Limits, source_key};
use loong_api::{Aggregator, Context, PipelineGroupEvents, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use pack::PackIds;

pub const BASE: &str = "aggregator_base";
pub const CONTEXT: &str = "aggregator_context";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_aggregator_creator(BASE, |o: BaseOptions| Box::new(BatchAggregator::new(o, false)));
    registry.add_aggregator_creator(CONTEXT, |o: BaseOptions| Box::new(BatchAggregator::new(o, true)));
}

/// Batches events per source by count, bytes and time (LoongCollector's `aggregator_base` /
/// `aggregator_context`).
///
/// A batch is sent when it holds `MaxLogCount` events or `MaxLogGroupBytes` bytes, or has been open
/// for `Interval`. Batches never mix sources (tags and metadata), and each event's delivery
/// acknowledgement travels with it. `aggregator_context` numbers `__pack_id__` per source,
/// `aggregator_base` per aggregator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BaseOptions {
    /// Events per batch at most.
    #[serde(rename = "MaxLogCount")]
    pub max_log_count: usize,
    /// Kept for LoongCollector compatibility: batches are cut by size and time, never held back, so
    /// no more than one batch per source is ever open.
    #[serde(rename = "MaxLogGroupCount")]
    pub max_log_group_count: usize,
    /// Bytes per batch at most (loong-rs addition; LoongCollector's fixed limit is ~3 MiB).
    #[serde(rename = "MaxLogGroupBytes")]
    pub max_log_group_bytes: usize,
    /// Longest a batch stays open (loong-rs addition; LoongCollector sends every 3 s).
    #[serde(rename = "Interval")]
    pub interval: loong_api::Duration,
    /// Add a `__pack_id__` tag (`<source id>-<sequence>`, hexadecimal) to every batch.
    #[serde(rename = "PackFlag")]
    pub pack_flag: bool,
    /// Topic of every batch (the `__topic__` metadata, LogGroup `Topic` in V1); empty keeps the
    /// input's.
    #[serde(rename = "Topic")]
    pub topic: String,
}

impl Default for BaseOptions {
    fn default() -> Self {
        let limits = Limits::default();
        BaseOptions {
            max_log_count: limits.max_events,
            max_log_group_count: 4,
            max_log_group_bytes: limits.max_bytes,
            interval: limits.interval.into(),
            pack_flag: true,
            topic: String::new(),
        }
    }
}

pub struct BatchAggregator {
    options: BaseOptions,
    per_source_packs: bool,
    batcher: Batcher,
    packs: HashMap<u64, PackIds>,
    shared_pack: PackIds,
}

impl BatchAggregator {
    pub fn new(options: BaseOptions, per_source_packs: bool) -> Self {
        let batcher = Batcher::new(Limits {
            max_events: options.max_log_count,
            max_bytes: options.max_log_group_bytes,
            interval: options.interval.get(),
        });
        BatchAggregator {
            options,
            per_source_packs,
            batcher,
            packs: HashMap::new(),
            shared_pack: PackIds::new(),
        }
    }

    /// Stamps the batches just cut: pack id and topic.
    fn finish(&mut self, ready: &mut [PipelineGroupEvents], from: usize) {
        for group in &mut ready[from..] {
            if !self.options.topic.is_empty() {
                group
                    .group
                    .metadata
                    .insert(loong_api::model::convert::meta::TOPIC, self.options.topic.clone());
            }
            if self.options.pack_flag {
                let packs = if self.per_source_packs {
                    self.packs.entry(source_key(&group.group)).or_default()
                } else {
                    &mut self.shared_pack
                };
                group.group.tags.insert(pack::TAG, packs.next_id());
            }
        }
    }
}

impl Aggregator for BatchAggregator {
    fn init(&mut self, _: &Context) -> Result<Duration> {
        anyhow::ensure!(self.options.max_log_count > 0, "MaxLogCount must be at least 1");
        anyhow::ensure!(
            self.options.max_log_group_bytes > 0,
            "MaxLogGroupBytes must be at least 1"
        );
        Ok(self.options.interval.get().max(Duration::from_millis(10)))
    }

    fn description(&self) -> &str {
        "batch aggregator: batches events per source by count, bytes and time"
    }

    fn record(&mut self, group: PipelineGroupEvents, ready: &mut Vec<PipelineGroupEvents>) -> Result<()> {
        let from = ready.len();
        self.batcher.add(source_key(&group.group), group, ready);
        self.finish(ready, from);
        Ok(())
    }

    fn get_result(&mut self, ready: &mut Vec<PipelineGroupEvents>, all: bool) -> Result<()> {
        let from = ready.len();
        self.batcher.due(ready, all);
        self.finish(ready, from);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
