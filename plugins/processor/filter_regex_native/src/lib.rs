//! `processor_filter_regex_native`: keeps only the log events whose fields match regular
//! expressions, as LoongCollector's processor of the same name (`FilterKey`/`FilterRegex`, the
//! older `Include` map, the `ConditionExp` expression tree, `DiscardingNonUTF8`), plus an `Exclude`
//! map.

mod config;
mod expr;
mod processor;

pub use config::FilterRegexNativeOptions;
pub use processor::FilterRegexNative;

/// The config `Type` of this processor.
pub const NAME: &str = "processor_filter_regex_native";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: FilterRegexNativeOptions| {
        Box::new(FilterRegexNative::new(options))
    });
}
