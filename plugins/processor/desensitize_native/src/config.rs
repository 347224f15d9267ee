use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Masks sensitive text in a log field: text matching `ReplacedContentPattern` right after a match
/// of `ContentPatternBeforeReplacedString` is replaced by `ReplacingString` (`Method: const`) or by
/// its MD5 in lower-case hex (`Method: md5`); the text before it stays. Expressions use the Rust
/// `regex` syntax (RE2's, as LoongCollector's). A field without a match keeps its bytes (no copy).
///
/// Counters: `out_successful_events_total` (events whose field was looked at),
/// `out_key_not_found_events_total` (events without the field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DesensitizeOptions {
    /// The field to mask.
    #[serde(rename = "SourceKey")]
    pub source_key: String,
    /// `const` (replace with `ReplacingString`) or `md5` (replace with the MD5 of the text). Required.
    #[serde(rename = "Method")]
    pub method: String,
    /// The replacement of `Method: const`. Required for it.
    #[serde(rename = "ReplacingString")]
    pub replacing_string: String,
    /// The expression for the text before the sensitive part (kept), such as `password":"`.
    #[serde(rename = "ContentPatternBeforeReplacedString")]
    pub content_pattern_before_replaced_string: String,
    /// The expression for the sensitive part (replaced), such as `[^"]+`. Required.
    #[serde(rename = "ReplacedContentPattern")]
    pub replaced_content_pattern: String,
    /// Replace every match; false replaces only the first.
    #[serde(rename = "ReplacingAll")]
    pub replacing_all: bool,
}

impl Default for DesensitizeOptions {
    fn default() -> Self {
        DesensitizeOptions {
            source_key: "content".into(),
            method: String::new(),
            replacing_string: String::new(),
            content_pattern_before_replaced_string: String::new(),
            replaced_content_pattern: String::new(),
            replacing_all: true,
        }
    }
}
