//! `processor_parse_delimiter_native`: splits a log field at a separator into the fields named by
//! `Keys`, as LoongCollector's processor of the same name.
//!
//! A one-character separator reads CSV-style quoting (`Quote`, doubled to escape it); a separator of
//! two to four characters splits plainly. Unquoted fields and quoted fields without escaped quotes
//! are slices of the source bytes (no copy). Extra fields follow `OverflowedFieldsTreatment`, missing
//! ones `AllowingShortenedFields`. What happens to the source field follows LoongCollector's
//! `KeepingSourceWhen…` options, except that a line that fails to parse is never lost.

mod config;
mod processor;
mod split;

pub use config::{OverflowedFieldsTreatment, ParseDelimiterOptions};
pub use processor::ParseDelimiter;

/// The config `Type` of this processor.
pub const NAME: &str = "processor_parse_delimiter_native";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: ParseDelimiterOptions| {
        Box::new(ParseDelimiter::new(options))
    });
}
