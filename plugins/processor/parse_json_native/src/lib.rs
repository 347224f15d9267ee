//! `processor_parse_json_native`: turns the members of a JSON object held by a log field into
//! fields, as LoongCollector's processor of the same name.
//!
//! Every top-level member becomes a field: strings without escapes, numbers and booleans are slices
//! of the source bytes (no copy); strings with escapes are unescaped; `null` becomes an empty
//! value; objects and arrays become their compact JSON text (a slice of the source when it is
//! already compact). What happens to the source field follows LoongCollector's
//! `KeepingSourceWhen…` options, except that a line that fails to parse is never lost.

mod config;
mod parse;
mod processor;

pub use config::ParseJsonOptions;
pub use processor::ParseJson;

/// The config `Type` of this processor.
pub const NAME: &str = "processor_parse_json_native";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: ParseJsonOptions| Box::new(ParseJson::new(options)));
}
