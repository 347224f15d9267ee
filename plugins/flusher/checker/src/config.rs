use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Keeps every received group in memory for tests in the same process
/// (`loong_flusher_checker::checker(Name)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CheckerConfig {
    /// Name tests look the received data up by. Empty: the plugin id (`flusher_checker/1`).
    /// Instances with the same name share one record, so a reloaded pipeline keeps adding to it.
    #[serde(rename = "Name")]
    pub name: String,
    /// The first N flush/export calls fail, to test the runner's retries. Data of a failed call is
    /// not kept.
    #[serde(rename = "FailFirst")]
    pub fail_first: u32,
    /// Readiness at start. Tests change it with `CheckerHandle::set_ready`.
    #[serde(rename = "Ready")]
    pub ready: bool,
}

impl Default for CheckerConfig {
    fn default() -> Self {
        CheckerConfig {
            name: String::new(),
            fail_first: 0,
            ready: true,
        }
    }
}
