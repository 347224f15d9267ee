use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Extracts fields from a log field with a regular expression: the expression must match the whole
/// field, and capture group *i* becomes the field named by the *i*-th entry of `Keys`. Parsed values
/// share the bytes of the source field (no copy).
///
/// Counters: `out_successful_events_total`, `out_failed_events_total`,
/// `out_key_not_found_events_total`, and `out_failed_kept_events_total` for failed events kept as
/// they were because `KeepingSourceWhenParseFail` is false (a failed parse never loses the line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ParseRegexOptions {
    /// The field to parse. Events without it pass unchanged.
    #[serde(rename = "SourceKey")]
    pub source_key: String,
    /// The regular expression (Rust `regex` syntax, close to RE2/PCRE without look-around and
    /// back-references). It must match the whole field; `.` also matches line breaks, so multi-line
    /// logs parse as LoongCollector parses them. Required.
    #[serde(rename = "Regex")]
    pub regex: String,
    /// Names of the fields the capture groups become, in order. The expression needs at least as
    /// many groups; extra groups are ignored. A single entry with commas (`["a,b"]`) is a
    /// comma-separated list, as in old Logtail configs. May be empty only for `(.*)`, which then
    /// keeps the whole line under `content`.
    #[serde(rename = "Keys")]
    pub keys: Vec<String>,
    /// When a line does not match: true moves the source field to `RenamedSourceKey` (as
    /// LoongCollector does); false leaves the event exactly as it was. (LoongCollector deletes the
    /// source field then, and drops an event left empty; loong-rs never loses the line and counts
    /// it in `out_failed_kept_events_total`.)
    #[serde(rename = "KeepingSourceWhenParseFail")]
    pub keeping_source_when_parse_fail: bool,
    /// When a line matches: keep the source field, under `RenamedSourceKey`, besides the parsed
    /// fields (a parsed field of the same name wins).
    #[serde(rename = "KeepingSourceWhenParseSucceed")]
    pub keeping_source_when_parse_succeed: bool,
    /// The name a kept source field gets. Empty keeps `SourceKey`.
    #[serde(rename = "RenamedSourceKey")]
    pub renamed_source_key: String,
    /// When a line does not match and `KeepingSourceWhenParseFail` is true, also copy it to
    /// `__raw_log__`.
    #[serde(rename = "CopingRawLog")]
    pub coping_raw_log: bool,
}

impl Default for ParseRegexOptions {
    fn default() -> Self {
        ParseRegexOptions {
            source_key: "content".into(),
            regex: String::new(),
            keys: Vec::new(),
            keeping_source_when_parse_fail: false,
            keeping_source_when_parse_succeed: false,
            renamed_source_key: String::new(),
            coping_raw_log: false,
        }
    }
}
