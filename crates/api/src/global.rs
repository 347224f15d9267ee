//! The `global` section of a pipeline config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Duration;

/// Which data model the pipeline's processors and flushers see first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StructureType {
    /// SLS `LogGroup`s (`FlusherV1::flush`), LoongCollector's default.
    #[default]
    #[serde(rename = "v1", alias = "V1")]
    V1,
    /// Event groups (`FlusherV2::export`).
    #[serde(rename = "v2", alias = "V2")]
    V2,
}

/// Pipeline-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct GlobalConfig {
    /// `v1` or `v2`. A flusher is called through the interface of this version when it has it, and
    /// through the other one (with the data converted) when it does not.
    #[serde(rename = "StructureType")]
    pub structure_type: StructureType,
    /// Project name: a label on metrics and the `project` argument of `flush`/`is_ready`.
    #[serde(rename = "Project")]
    pub project: String,
    /// Logstore name: a label on metrics and the `logstore` argument of `flush`/`is_ready`.
    #[serde(rename = "Logstore")]
    pub logstore: String,
    /// Capacity of the queue between inputs and processors, in event groups. A full queue blocks
    /// the inputs (back-pressure).
    #[serde(rename = "DefaultLogQueueSize")]
    pub default_log_queue_size: usize,
    /// Bytes of event data the queue between inputs and processors holds at most (loong-rs
    /// addition): with file inputs a group is a whole read block, so the group count alone does
    /// not bound memory. A full queue blocks the inputs.
    #[serde(rename = "DefaultLogQueueBytes")]
    pub default_log_queue_bytes: usize,
    /// Capacity of the queue of batches between the aggregator and the flushers.
    #[serde(rename = "DefaultLogGroupQueueSize")]
    pub default_log_group_queue_size: usize,
    /// How the runner retries a flusher whose `flush`/`export` failed.
    #[serde(rename = "FlushRetry")]
    pub flush_retry: FlushRetry,
    /// Longest time a stop (config removed or agent exiting) may take. Data not delivered by then
    /// is not acknowledged, so inputs with checkpoints read it again after a restart.
    #[serde(rename = "StopTimeout")]
    pub stop_timeout: Duration,
    /// One-time pipelines only (`onetime_pipeline_config` or `loong run --once`): the longest the
    /// pipeline may run, in seconds, before it is stopped as failed. Like LoongCollector (which
    /// spells the key this way) it is held between 600 and 604800 (7 days, also the default).
    #[serde(rename = "ExcutionTimeout")]
    pub excution_timeout: Option<u64>,
    /// Set by the agent, never by a config: the pipeline reads its sources to the end once, delivers
    /// everything and exits (LoongCollector's one-time pipelines). Inputs read files from their
    /// beginning and call [`crate::Collector::done`] when they have produced all they will.
    #[serde(skip)]
    #[schemars(skip)]
    pub onetime: bool,
}

impl GlobalConfig {
    /// How long a one-time pipeline may run: `ExcutionTimeout` held to LoongCollector's bounds.
    pub fn onetime_deadline(&self) -> std::time::Duration {
        const MIN: u64 = 600;
        const MAX: u64 = 604_800;
        let secs = self.excution_timeout.map_or(MAX, |s| s.clamp(MIN, MAX));
        std::time::Duration::from_secs(secs)
    }
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            structure_type: StructureType::V1,
            project: String::new(),
            logstore: String::new(),
            default_log_queue_size: 1000,
            default_log_queue_bytes: 8 * 1024 * 1024,
            default_log_group_queue_size: 4,
            flush_retry: FlushRetry::default(),
            stop_timeout: Duration::from_secs(30),
            excution_timeout: None,
            onetime: false,
        }
    }
}

/// Retry policy of the flush loop. Delays double from `InitialDelay` up to `MaxDelay`, jittered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FlushRetry {
    /// Attempts before a batch is dropped for a flusher (counted in `flush_dropped_events_total`).
    /// `0`, the default, retries until the flusher accepts: nothing is ever dropped.
    #[serde(rename = "MaxRetries")]
    pub max_retries: u32,
    #[serde(rename = "InitialDelay")]
    pub initial_delay: Duration,
    #[serde(rename = "MaxDelay")]
    pub max_delay: Duration,
}

impl Default for FlushRetry {
    fn default() -> Self {
        FlushRetry {
            max_retries: 0,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        }
    }
}
