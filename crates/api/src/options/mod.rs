//! Decoding plugin options with LoongCollector's semantics.
//!
//! A plugin's options are a struct with `Default` (its constructor's defaults), `serde` and
//! `schemars` derives; doc comments on the fields are the option docs shown by `loong plugins` and
//! rendered into `docs/plugins/`. Decoding a config object:
//!
//! 1. matches keys case-insensitively against the option names (LoongCollector's decoder does), at
//!    every nesting level; an unknown key is a warning naming it and the nearest known key;
//! 2. merges the given object over the defaults, so `Retry: {MaxRetryTimes: 5}` keeps the other
//!    `Retry` defaults;
//! 3. deserializes the result; a wrong type is an error naming the key path (`Retry.MaxRetryTimes`).

mod docs;
mod duration;

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

pub use docs::{OptionDoc, PluginDoc, options_doc};
pub use duration::Duration;

/// What a plugin's options struct must be. Implemented for every type that qualifies.
pub trait PluginOptions: Serialize + DeserializeOwned + JsonSchema + Default + Send + 'static {}
impl<T: Serialize + DeserializeOwned + JsonSchema + Default + Send + 'static> PluginOptions for T {}

/// An option that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", key.as_deref().map(|k| format!("key {k:?}: ")).unwrap_or_default())]
pub struct OptionError {
    /// Dotted path of the key (`Retry.MaxRetryTimes`); `None` when the whole object is wrong.
    pub key: Option<String>,
    pub message: String,
}

/// A problem that does not stop the config from loading, such as an unknown key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionWarning {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for OptionWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key {:?}: {}", self.key, self.message)
    }
}

/// Decodes `value` (a config object without its `Type`) over `T::default()`.
pub fn decode<T: PluginOptions>(value: &Value) -> Result<(T, Vec<OptionWarning>), OptionError> {
    let user = match value {
        Value::Null => Map::new(),
        Value::Object(map) => map.clone(),
        other => {
            return Err(OptionError {
                key: None,
                message: format!("options must be an object of key: value, found {}", kind_of(other)),
            });
        }
    };
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let root = schema.as_value();
    let mut warnings = Vec::new();
    let user = canonicalize(Value::Object(user), root, root, "", &mut warnings);

    let mut merged = serde_json::to_value(T::default()).map_err(|e| OptionError {
        key: None,
        message: format!("the plugin's defaults do not serialize: {e}"),
    })?;
    merge(&mut merged, user);

    let options = serde_path_to_error::deserialize::<_, T>(merged).map_err(|e| {
        let path = e.path().to_string();
        OptionError {
            key: (path != ".").then_some(path),
            message: e.into_inner().to_string(),
        }
    })?;
    Ok((options, warnings))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Follows `$ref`, `anyOf`/`oneOf`/`allOf` (Option<T> is `anyOf [T, null]`) to the schema node that
/// describes an object or array, if any.
fn resolve<'a>(node: &'a Value, root: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..16 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or_default();
            match root.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => {
                    node = target;
                    continue;
                }
                None => return node,
            }
        }
        if node.get("properties").is_some() || node.get("additionalProperties").is_some() || node.get("items").is_some()
        {
            return node;
        }
        let alternatives = ["anyOf", "oneOf", "allOf"]
            .iter()
            .find_map(|k| node.get(*k).and_then(Value::as_array));
        match alternatives.and_then(|alts| alts.iter().find(|a| a.get("type") != Some(&Value::from("null")))) {
            Some(next) => node = next,
            None => return node,
        }
    }
    node
}

fn canonicalize(value: Value, node: &Value, root: &Value, path: &str, warnings: &mut Vec<OptionWarning>) -> Value {
    let node = resolve(node, root);
    match value {
        Value::Object(map) => {
            let props = node.get("properties").and_then(Value::as_object);
            let extra = node.get("additionalProperties").filter(|v| v.is_object());
            let mut out = Map::with_capacity(map.len());
            for (key, v) in map {
                let known = props.and_then(|p| {
                    p.get_key_value(&key)
                        .or_else(|| p.iter().find(|(name, _)| name.eq_ignore_ascii_case(&key)))
                });
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (known, extra) {
                    (Some((name, child)), _) => {
                        let v = canonicalize(v, child, root, &child_path, warnings);
                        out.insert(name.clone(), v);
                    }
                    (None, Some(child)) => {
                        let v = canonicalize(v, child, root, &child_path, warnings);
                        out.insert(key, v);
                    }
                    (None, None) if props.is_none() => {
                        out.insert(key, v);
                    }
                    (None, None) => {
                        let names = props
                            .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>())
                            .unwrap_or_default();
                        let message = match nearest(&key, &names) {
                            Some(n) => format!("unknown option, ignored (did you mean {n:?}?)"),
                            None => {
                                format!("unknown option, ignored (known: {})", names.join(", "))
                            }
                        };
                        warnings.push(OptionWarning {
                            key: child_path,
                            message,
                        });
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => match node.get("items") {
            Some(child) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| canonicalize(v, child, root, &format!("{path}[{i}]"), warnings))
                    .collect(),
            ),
            None => Value::Array(items),
        },
        other => other,
    }
}

/// The known name closest to `key`, if it is close enough to be a likely typo.
pub fn nearest<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    names
        .iter()
        .map(|n| (*n, strsim::jaro_winkler(&key, &n.to_ascii_lowercase())))
        .filter(|(_, score)| *score >= 0.75)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, _)| n)
}

/// Objects merge key by key (nested objects too); anything else replaces.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (slot, over) => *slot = over,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    /// Test options.
    #[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
    #[serde(default)]
    struct Opts {
        #[serde(rename = "RemoteURL")]
        remote_url: String,
        #[serde(rename = "Concurrency")]
        concurrency: u32,
        #[serde(rename = "Timeout")]
        timeout: Duration,
        #[serde(rename = "Retry")]
        retry: Retry,
        #[serde(rename = "Headers")]
        headers: BTreeMap<String, String>,
        #[serde(rename = "Tls")]
        tls: Option<Tls>,
    }

    impl Default for Opts {
        fn default() -> Self {
            Opts {
                remote_url: String::new(),
                concurrency: 1,
                timeout: Duration::from_secs(60),
                retry: Retry::default(),
                headers: BTreeMap::new(),
                tls: None,
            }
        }
    }

    #[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
    #[serde(default)]
    struct Retry {
        #[serde(rename = "Enable")]
        enable: bool,
        #[serde(rename = "MaxRetryTimes")]
        max_retry_times: u32,
    }

    impl Default for Retry {
        fn default() -> Self {
            Retry {
                enable: true,
                max_retry_times: 3,
            }
        }
    }

    #[derive(Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
    #[serde(default)]
    struct Tls {
        #[serde(rename = "CAFile")]
        ca_file: String,
    }

    #[test]
    fn keys_match_case_insensitively_and_nested_objects_merge() {
        let (o, warnings) = decode::<Opts>(&json!({
            "remoteurl": "http://x", "CONCURRENCY": 4, "retry": {"maxretrytimes": 5},
            "Headers": {"X-Db": "%{tag.db}"}, "tls": {"cafile": "/ca.pem"}
        }))
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(o.remote_url, "http://x");
        assert_eq!(o.concurrency, 4);
        assert_eq!(
            o.retry,
            Retry {
                enable: true,
                max_retry_times: 5
            }
        );
        assert_eq!(o.headers.get("X-Db").map(String::as_str), Some("%{tag.db}"));
        assert_eq!(o.tls.unwrap().ca_file, "/ca.pem");
        assert_eq!(o.timeout, Duration::from_secs(60));
    }

    #[test]
    fn durations_accept_nanoseconds_and_strings() {
        let (o, _) = decode::<Opts>(&json!({"Timeout": 5_000_000_000u64})).unwrap();
        assert_eq!(o.timeout, Duration::from_secs(5));
        let (o, _) = decode::<Opts>(&json!({"Timeout": "250ms"})).unwrap();
        assert_eq!(o.timeout, Duration::from_millis(250));
    }

    #[test]
    fn wrong_type_names_the_key_path() {
        let err = decode::<Opts>(&json!({"Retry": {"MaxRetryTimes": "many"}})).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("Retry.MaxRetryTimes"));
        assert!(err.message.contains("invalid type"), "{err}");
        let err = decode::<Opts>(&json!({"Concurrency": -1})).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("Concurrency"));
    }

    #[test]
    fn unknown_key_warns_with_nearest_known_key() {
        let (_, warnings) = decode::<Opts>(&json!({"Timout": "1s", "Retry": {"MaxRetryTime": 1}})).unwrap();
        assert_eq!(warnings.len(), 2);
        assert_eq!(warnings[0].key, "Timout");
        assert!(warnings[0].message.contains("\"Timeout\""), "{}", warnings[0]);
        assert_eq!(warnings[1].key, "Retry.MaxRetryTime");
        assert!(warnings[1].message.contains("\"MaxRetryTimes\""), "{}", warnings[1]);
    }

    #[test]
    fn non_object_options_are_an_error() {
        let err = decode::<Opts>(&json!([1, 2])).unwrap_err();
        assert_eq!(err.key, None);
        assert!(err.message.contains("a list"));
    }
}
