use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Sets an event's time from a log field read with a strptime-style format. The format must match a
/// prefix of the field (text after it is ignored, as in LoongCollector). A field that does not
/// parse, or gives a time before 1970, leaves the event as it was and is counted in
/// `out_failed_events_total`; events without the field are counted in
/// `out_key_not_found_events_total`, parsed ones in `out_successful_events_total`.
///
/// Conversions: `%Y` `%y` `%C` (year, two-digit year, century), `%m` `%b` `%B` `%h` (month),
/// `%d` `%e` (day), `%j` (day of the year), `%H` `%I` `%p` (hour, 12-hour clock, AM/PM), `%M`,
/// `%S`, `%f` (fraction of a second, 1 to 9 digits; `%3f` reads at most 3), `%s` (seconds since
/// the epoch; digits beyond the tenth are a fraction, so 13 digits are milliseconds), `%z`
/// (`+0800`, `+08:00`, `Z`: wins over `SourceTimezone`), `%Z` (a zone name, skipped), `%a` `%A`
/// `%u` `%w` `%U` `%V` `%W` (read and ignored), `%D` `%F` `%T` `%R` `%r` `%c` `%x` `%X`
/// (composites), `%n` `%t` and spaces (any run of white space), `%%`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ParseTimestampOptions {
    /// The field holding the time. Required.
    #[serde(rename = "SourceKey")]
    pub source_key: String,
    /// The format of the time, as described above. Required.
    #[serde(rename = "SourceFormat")]
    pub source_format: String,
    /// The time zone of times without `%z`: `GMT+HH:MM` or `GMT-HH:MM` as in LoongCollector, `UTC`,
    /// or an IANA name such as `Asia/Shanghai` (daylight saving time included). Empty means the
    /// agent's local time zone.
    #[serde(rename = "SourceTimezone")]
    pub source_timezone: String,
    /// The year of times whose format has none: a year, or 0 (and -1) for the current year, taking
    /// the previous or next one around New Year (a Dec 31 time read on Jan 1 is last year's).
    #[serde(rename = "SourceYear")]
    pub source_year: i32,
}

impl Default for ParseTimestampOptions {
    fn default() -> Self {
        ParseTimestampOptions {
            source_key: String::new(),
            source_format: String::new(),
            source_timezone: String::new(),
            source_year: -1,
        }
    }
}
