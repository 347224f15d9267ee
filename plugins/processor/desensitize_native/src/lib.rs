//! `processor_desensitize_native`: masks sensitive text in a log field, as LoongCollector's
//! processor of the same name. Text matching `ReplacedContentPattern` right after a match of
//! `ContentPatternBeforeReplacedString` is replaced by `ReplacingString` or by its MD5.

mod config;
mod processor;

pub use config::DesensitizeOptions;
pub use processor::Desensitize;

/// The config `Type` of this processor.
pub const NAME: &str = "processor_desensitize_native";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: DesensitizeOptions| Box::new(Desensitize::new(options)));
}
