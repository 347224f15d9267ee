//! `processor_parse_regex_native`: extracts fields from a log field with a regular expression, as
//! LoongCollector's processor of the same name.
//!
//! The expression must match the whole field; capture group *i* becomes the field named by the
//! *i*-th entry of `Keys`. Field values are slices of the source field's bytes (no copy). What
//! happens to the source field follows LoongCollector's `KeepingSourceWhenParseFail` /
//! `KeepingSourceWhenParseSucceed` / `RenamedSourceKey` / `CopingRawLog`, except that a line that
//! fails to parse is never lost (see `loong_processor_parse_common`).

mod config;
mod processor;

pub use config::ParseRegexOptions;
pub use processor::ParseRegex;

/// The config `Type` of this processor.
pub const NAME: &str = "processor_parse_regex_native";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: ParseRegexOptions| Box::new(ParseRegex::new(options)));
}
