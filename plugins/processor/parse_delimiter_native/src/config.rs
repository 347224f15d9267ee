use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Splits a log field at `Separator` into the fields named by `Keys`. Leading spaces and trailing
/// spaces and `\r` of the field are ignored. With a one-character separator, a field may be quoted
/// with `Quote` (the separator is then part of the value, and a doubled quote stands for one quote);
/// a quote inside an unquoted field, text after a closing quote, or a missing closing quote fails
/// the parse. Values that need no unescaping share the bytes of the source field (no copy).
///
/// Counters: `out_successful_events_total`, `out_failed_events_total`,
/// `out_key_not_found_events_total`, and `out_failed_kept_events_total` for failed events kept as
/// they were because `KeepingSourceWhenParseFail` is false (a failed parse never loses the line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ParseDelimiterOptions {
    /// The field to parse. Events without it pass unchanged; an empty (or all-space) field fails and
    /// is left as it is.
    #[serde(rename = "SourceKey")]
    pub source_key: String,
    /// The separator: one to four characters (bytes). `\t` written as the two characters backslash
    /// and `t` means a tab. Required.
    #[serde(rename = "Separator")]
    pub separator: String,
    /// The quote character of a one-character separator. Ignored for longer separators, and when it
    /// equals the separator.
    #[serde(rename = "Quote")]
    pub quote: String,
    /// Names of the fields, in order. A field named `_` is skipped when
    /// `OverflowedFieldsTreatment` is `discard`. Required.
    #[serde(rename = "Keys")]
    pub keys: Vec<String>,
    /// Whether a line with fewer fields than `Keys` parses (the missing keys are left out). When
    /// false, such a line fails.
    #[serde(rename = "AllowingShortenedFields")]
    pub allowing_shortened_fields: bool,
    /// What to do with fields beyond `Keys`: `extend` adds each as `__column<i>__`, where `<i>` is
    /// the field's position counted from 0 over all fields (with 3 keys the first extra field is
    /// `__column3__`); `keep` adds the rest of the line, from the separator before the first extra
    /// field, as one field `__column<n>__` with `<n>` the number of keys; `discard` drops them.
    #[serde(rename = "OverflowedFieldsTreatment")]
    pub overflowed_fields_treatment: OverflowedFieldsTreatment,
    /// When a line does not parse: true moves the source field to `RenamedSourceKey` (as
    /// LoongCollector does); false leaves the event exactly as it was. (LoongCollector deletes the
    /// source field then, and drops an event left empty; loong-rs never loses the line and counts
    /// it in `out_failed_kept_events_total`.)
    #[serde(rename = "KeepingSourceWhenParseFail")]
    pub keeping_source_when_parse_fail: bool,
    /// When a line parses: keep the source field, under `RenamedSourceKey`, besides the parsed
    /// fields (a parsed field of the same name wins).
    #[serde(rename = "KeepingSourceWhenParseSucceed")]
    pub keeping_source_when_parse_succeed: bool,
    /// The name a kept source field gets. Empty keeps `SourceKey`.
    #[serde(rename = "RenamedSourceKey")]
    pub renamed_source_key: String,
    /// When a line does not parse and `KeepingSourceWhenParseFail` is true, also copy it to
    /// `__raw_log__`.
    #[serde(rename = "CopingRawLog")]
    pub coping_raw_log: bool,
}

/// What happens to fields beyond `Keys`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverflowedFieldsTreatment {
    /// Each extra field becomes `__column<i>__`.
    #[default]
    Extend,
    /// The rest of the line becomes one field `__column<n>__`.
    Keep,
    /// Extra fields are dropped.
    Discard,
}

impl Default for ParseDelimiterOptions {
    fn default() -> Self {
        ParseDelimiterOptions {
            source_key: "content".into(),
            separator: String::new(),
            quote: "\"".into(),
            keys: Vec::new(),
            allowing_shortened_fields: true,
            overflowed_fields_treatment: OverflowedFieldsTreatment::Extend,
            keeping_source_when_parse_fail: false,
            keeping_source_when_parse_succeed: false,
            renamed_source_key: String::new(),
            coping_raw_log: false,
        }
    }
}
