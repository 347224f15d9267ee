use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Counts and discards every event (metrics `blackhole_events_total`, `blackhole_bytes_total`,
/// `blackhole_groups_total`): for benchmarks and for trying a pipeline without a backend. No
/// options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BlackholeConfig {}
