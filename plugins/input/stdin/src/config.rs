use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Collects the lines of the agent's standard input as log events (`content` is the line without
/// its line ending). End of input ends the input; the agent keeps running.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StdinOptions {
    /// Most lines per group. A smaller group is sent whenever no more input is waiting, so a line
    /// typed by hand is delivered at once.
    #[serde(rename = "BatchSize")]
    pub batch_size: usize,
    /// Longest line in bytes, without its line ending. A longer line is cut to this size and the rest
    /// of it skipped; cuts are counted in `input_truncated_lines_total`.
    #[serde(rename = "MaxLineSize")]
    pub max_line_size: usize,
}

impl Default for StdinOptions {
    fn default() -> Self {
        StdinOptions {
            batch_size: 1024,
            max_line_size: 512 * 1024,
        }
    }
}
