use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Prints every event as a JSON line to standard output, a rolling file, or the agent's log.
///
/// V1 logs print as `{"key":"value",…,"__time__":"<seconds>"}`; V2 events as
/// `{"eventType":"log|metric|span|byteArray","name":…,"timestamp":…,"observedTimestamp":…,"tags":{…},…}`
/// followed by the fields of their kind (a log's contents at the top level, as LoongCollector prints
/// them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StdoutConfig {
    /// Print to the process's standard output. When false, print to `FileName`, or to the agent's
    /// log (target `flusher_stdout`) when no file is named.
    #[serde(rename = "OnlyStdout")]
    pub only_stdout: bool,
    /// File to print to when `OnlyStdout` is false, rolled by size.
    #[serde(rename = "FileName")]
    pub file_name: String,
    /// Size in bytes at which `FileName` is rolled to `FileName.1` (older rolls shift to `.2`, …).
    /// 0 or less means 1 MiB.
    #[serde(rename = "MaxSize")]
    pub max_size: i64,
    /// Rolled files kept besides the current one. 0 or less means 1.
    #[serde(rename = "MaxRolls")]
    pub max_rolls: i64,
    /// Print V1 logs as `{"key":"value",…}` pairs. When false, print the whole log
    /// (`{"Time":…,"Contents":[{"Key":…,"Value":…}],"Time_ns":…}`).
    #[serde(rename = "KeyValuePairs")]
    pub key_value_pairs: bool,
    /// Print a header line before each group's events: `{"logGroup":{…}}` with the topic,
    /// logstore, logCount and tags for V1; `{"group":{…}}` with the events count, metadata and tags
    /// for V2.
    #[serde(rename = "Tags")]
    pub tags: bool,
}

impl Default for StdoutConfig {
    fn default() -> Self {
        StdoutConfig {
            only_stdout: false,
            file_name: String::new(),
            max_size: 1024 * 1024,
            max_rolls: 1,
            key_value_pairs: true,
            tags: false,
        }
    }
}
