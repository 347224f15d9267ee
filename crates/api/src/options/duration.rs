use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration option. Accepts LoongCollector's integer nanoseconds (`5000000000`) and human
/// strings (`"5s"`, `"500ms"`, `"1m30s"`); written back as a human string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl std::ops::Deref for Duration {
    type Target = std::time::Duration;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    /// Integer nanoseconds or a human duration (`"10s"`, `"500ms"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(ns) = s.parse::<u64>() {
            return Ok(Duration(std::time::Duration::from_nanos(ns)));
        }
        humantime::parse_duration(s)
            .map(Duration)
            .map_err(|e| format!("invalid duration {s:?}: {e} (examples: \"10s\", \"500ms\", \"1m30s\")"))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: integer nanoseconds or a string like \"10s\" or \"500ms\"")
            }

            fn visit_u64<E: de::Error>(self, ns: u64) -> Result<Duration, E> {
                Ok(Duration(std::time::Duration::from_nanos(ns)))
            }

            fn visit_i64<E: de::Error>(self, ns: i64) -> Result<Duration, E> {
                u64::try_from(ns)
                    .map(|ns| Duration(std::time::Duration::from_nanos(ns)))
                    .map_err(|_| E::custom(format!("a duration cannot be negative ({ns})")))
            }

            fn visit_f64<E: de::Error>(self, ns: f64) -> Result<Duration, E> {
                if ns.is_finite() && ns >= 0.0 {
                    Ok(Duration(std::time::Duration::from_nanos(ns as u64)))
                } else {
                    Err(E::custom(format!("invalid duration {ns}")))
                }
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["integer", "string"],
            "format": "duration",
            "description": "integer nanoseconds, or a string such as \"10s\" or \"500ms\""
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nanoseconds_and_human_strings() {
        let d: Duration = serde_json::from_str("5000000000").unwrap();
        assert_eq!(d, Duration::from_secs(5));
        let d: Duration = serde_json::from_str("\"500ms\"").unwrap();
        assert_eq!(d, Duration::from_millis(500));
        let d: Duration = serde_json::from_str("\"1m30s\"").unwrap();
        assert_eq!(d, Duration::from_secs(90));
        assert_eq!(serde_json::to_string(&Duration::from_secs(90)).unwrap(), "\"1m 30s\"");
        let err = serde_json::from_str::<Duration>("\"soon\"").unwrap_err().to_string();
        assert!(err.contains("invalid duration"), "{err}");
        assert!(serde_json::from_str::<Duration>("-1").is_err());
    }
}
