use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Keeps only the log events whose fields match regular expressions; the others are dropped and
/// counted in `discarded_events_total`. Every expression must match a field's whole value (`.` also
/// matches line breaks). All the rules given must hold for an event to be kept; with no rule every
/// event is kept, and with a rule an event without contents is dropped. Metric, span and raw events
/// always pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FilterRegexNativeOptions {
    /// Fields that must exist and match the expression at the same position of `FilterRegex`.
    #[serde(rename = "FilterKey")]
    pub filter_key: Vec<String>,
    /// Expressions for the fields of `FilterKey`; the two lists must be as long.
    #[serde(rename = "FilterRegex")]
    pub filter_regex: Vec<String>,
    /// Field → expression: every field must exist and match (LoongCollector's older form of
    /// `FilterKey`/`FilterRegex`).
    #[serde(rename = "Include")]
    pub include: BTreeMap<String, String>,
    /// Field → expression: an event where any of these fields matches is dropped (a loong-rs
    /// addition).
    #[serde(rename = "Exclude")]
    pub exclude: BTreeMap<String, String>,
    /// A condition tree, as in LoongCollector: `{"operator": "and"|"or", "operands": [a, b]}`,
    /// `{"operator": "not", "operands": [a]}`, or a leaf `{"key": field, "exp": expression,
    /// "type": "regex"}` (a missing field does not match). `and`/`or` also take more than two
    /// operands.
    #[serde(rename = "ConditionExp")]
    pub condition_exp: Option<serde_json::Value>,
    /// In kept events, replace every byte that is not part of valid UTF-8, in keys and values,
    /// with a space.
    #[serde(rename = "DiscardingNonUTF8")]
    pub discarding_non_utf8: bool,
}
