//! `processor_parse_timestamp_native`: sets an event's time from a log field, as LoongCollector's
//! processor of the same name.
//!
//! The field is read with a strptime-style `SourceFormat` (LoongCollector's conversions, plus `%f`
//! for fractions of a second and `%s` with milli-, micro- or nanosecond digits), taken in
//! `SourceTimezone`, and becomes the event's timestamp in nanoseconds. A field that does not parse
//! leaves the event as it was.

mod config;
mod processor;
mod strptime;

pub use config::ParseTimestampOptions;
pub use processor::ParseTimestamp;

/// The config `Type` of this processor.
pub const NAME: &str = "processor_parse_timestamp_native";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: ParseTimestampOptions| {
        Box::new(ParseTimestamp::new(options))
    });
}
