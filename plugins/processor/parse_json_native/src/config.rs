use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Turns the members of a JSON object held by a log field into fields. Strings are unescaped,
/// numbers and booleans keep their JSON text, `null` becomes an empty value, and nested objects and
/// arrays become their compact JSON text. Values that need no change share the bytes of the source
/// field (no copy). A field that is not a JSON object (an array, a number, invalid JSON, an empty
/// value) fails to parse.
///
/// Counters: `out_successful_events_total`, `out_failed_events_total`,
/// `out_key_not_found_events_total`, and `out_failed_kept_events_total` for failed events kept as
/// they were because `KeepingSourceWhenParseFail` is false (a failed parse never loses the line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ParseJsonOptions {
    /// The field to parse. Events without it pass unchanged.
    #[serde(rename = "SourceKey")]
    pub source_key: String,
    /// When a field is not a JSON object: true moves the source field to `RenamedSourceKey` (as
    /// LoongCollector does); false leaves the event exactly as it was. (LoongCollector deletes the
    /// source field then, and drops an event left empty; loong-rs never loses the line and counts
    /// it in `out_failed_kept_events_total`.)
    #[serde(rename = "KeepingSourceWhenParseFail")]
    pub keeping_source_when_parse_fail: bool,
    /// When the field parses: keep the source field, under `RenamedSourceKey`, besides the parsed
    /// fields (a parsed member of the same name wins).
    #[serde(rename = "KeepingSourceWhenParseSucceed")]
    pub keeping_source_when_parse_succeed: bool,
    /// The name a kept source field gets. Empty keeps `SourceKey`.
    #[serde(rename = "RenamedSourceKey")]
    pub renamed_source_key: String,
    /// When a field does not parse and `KeepingSourceWhenParseFail` is true, also copy it to
    /// `__raw_log__`.
    #[serde(rename = "CopingRawLog")]
    pub coping_raw_log: bool,
}

impl Default for ParseJsonOptions {
    fn default() -> Self {
        ParseJsonOptions {
            source_key: "content".into(),
            keeping_source_when_parse_fail: false,
            keeping_source_when_parse_succeed: false,
            renamed_source_key: String::new(),
            coping_raw_log: false,
        }
    }
}
