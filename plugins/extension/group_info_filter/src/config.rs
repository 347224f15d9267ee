use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Lets a flusher send only the groups whose tags and metadata match regex conditions.
///
/// Every condition of `Tags` and `Metas` must hold; otherwise the group is not sent by the flusher
/// that names this extension as its `FlushInterceptor` (other flushers still get it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct GroupInfoFilterConfig {
    /// Tag key → `{"Pattern": "<regex>", "Reverse": false}`. The regex is searched anywhere in the
    /// tag's value (anchor it with `^…$` to match the whole value); a missing tag has the value "".
    /// With `Reverse: true` the condition holds when the regex does NOT match.
    #[serde(rename = "Tags")]
    pub tags: BTreeMap<String, FilterCondition>,
    /// Metadata key → `{"Pattern": "<regex>", "Reverse": false}`, as for `Tags` but on the group's
    /// metadata (source path, host…), which is not itself sent.
    #[serde(rename = "Metas")]
    pub metas: BTreeMap<String, FilterCondition>,
}

/// One condition on a tag or metadata value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FilterCondition {
    /// The regular expression (RE2 syntax, as in LoongCollector).
    #[serde(rename = "Pattern")]
    pub pattern: String,
    /// Keep the group when the pattern does NOT match, instead of when it does.
    #[serde(rename = "Reverse")]
    pub reverse: bool,
}
