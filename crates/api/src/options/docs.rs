//! Option documentation derived from the options struct: the one source for `loong plugins` and
//! `docs/plugins/`.

use serde_json::Value;

use super::{PluginOptions, resolve};

/// One documented option.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OptionDoc {
    /// Dotted path: `Retry.MaxRetryTimes`.
    pub name: String,
    pub type_name: String,
    /// The default as JSON text; empty when there is none.
    pub default: String,
    pub description: String,
}

/// Documentation of one registered plugin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginDoc {
    pub name: String,
    pub kind: String,
    pub description: String,
    pub options: Vec<OptionDoc>,
}

/// The struct's doc comment and its options, nested structs flattened with dotted names.
pub fn options_doc<T: PluginOptions>() -> (String, Vec<OptionDoc>) {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let root = schema.as_value();
    let defaults = serde_json::to_value(T::default()).unwrap_or(Value::Null);
    let mut out = Vec::new();
    walk(root, root, &defaults, "", &mut out);
    (doc_text(root), out)
}

fn walk(node: &Value, root: &Value, defaults: &Value, prefix: &str, out: &mut Vec<OptionDoc>) {
    let node = resolve(node, root);
    let Some(props) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, child) in props {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let default = defaults.get(name).cloned().unwrap_or(Value::Null);
        let resolved = resolve(child, root);
        let own = doc_text(child);
        let description = if own.is_empty() { doc_text(resolved) } else { own };
        let description = description
            .split("\n\n")
            .map(|p| p.replace('\n', " "))
            .collect::<Vec<_>>()
            .join(" ");
        let nested = resolved.get("properties").is_some();
        out.push(OptionDoc {
            name: path.clone(),
            type_name: type_name(child, root),
            default: if nested || default.is_null() {
                String::new()
            } else {
                default.to_string()
            },
            description,
        });
        if nested {
            walk(resolved, root, &default, &path, out);
        }
    }
}

/// The doc comment schemars keeps as `description` (the root's `title` is only the type name).
fn doc_text(node: &Value) -> String {
    node.get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn type_name(node: &Value, root: &Value) -> String {
    if let Some(name) = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
    {
        if name == "Duration" {
            return "duration".into();
        }
        if let Some(target) = root.get("$defs").and_then(|d| d.get(name)) {
            let t = type_name(target, root);
            return if t == "object" { name.to_owned() } else { t };
        }
    }
    if node.get("format").and_then(Value::as_str) == Some("duration") {
        return "duration".into();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = node.get(key).and_then(Value::as_array) {
            let consts: Vec<String> = alts
                .iter()
                .filter_map(|a| a.get("const").or_else(|| a.get("enum").and_then(|e| e.get(0))))
                .map(|c| c.as_str().map(str::to_owned).unwrap_or_else(|| c.to_string()))
                .collect();
            if !consts.is_empty() {
                return format!("one of: {}", consts.join(", "));
            }
            let types: Vec<String> = alts
                .iter()
                .filter(|a| a.get("type") != Some(&Value::from("null")))
                .map(|a| type_name(a, root))
                .collect();
            return types.join(" or ");
        }
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
            .collect();
        return format!("one of: {}", names.join(", "));
    }
    let ty = match node.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => String::new(),
    };
    match ty.as_str() {
        "array" => format!(
            "list of {}",
            node.get("items")
                .map(|i| type_name(i, root))
                .unwrap_or_else(|| "any".into())
        ),
        "object" => match node.get("additionalProperties") {
            Some(v) if v.is_object() => format!("map of {}", type_name(v, root)),
            _ => "object".into(),
        },
        "" => "any".into(),
        t => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::Duration;

    /// Prints events.
    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(default)]
    struct Opts {
        /// Print only to stdout.
        #[serde(rename = "OnlyStdout")]
        only_stdout: bool,
        /// Request timeout.
        #[serde(rename = "Timeout")]
        timeout: Duration,
        /// Extra headers.
        #[serde(rename = "Headers")]
        headers: BTreeMap<String, String>,
        /// Retry policy.
        #[serde(rename = "Retry")]
        retry: Retry,
        #[serde(rename = "Mode")]
        mode: crate::StructureType,
    }

    impl Default for Opts {
        fn default() -> Self {
            Opts {
                only_stdout: false,
                timeout: Duration::from_secs(60),
                headers: BTreeMap::new(),
                retry: Retry { max: 3 },
                mode: crate::StructureType::V1,
            }
        }
    }

    /// Retry.
    #[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default)]
    struct Retry {
        /// Attempts.
        #[serde(rename = "Max")]
        max: u32,
    }

    #[test]
    fn documents_every_option_with_type_default_and_description() {
        let (desc, docs) = options_doc::<Opts>();
        assert_eq!(desc, "Prints events.");
        let find = |n: &str| {
            docs.iter()
                .find(|d| d.name == n)
                .unwrap_or_else(|| panic!("{n} missing: {docs:?}"))
        };
        assert_eq!(find("OnlyStdout").type_name, "boolean");
        assert_eq!(find("OnlyStdout").default, "false");
        assert_eq!(find("OnlyStdout").description, "Print only to stdout.");
        assert_eq!(find("Timeout").type_name, "duration");
        assert_eq!(find("Timeout").default, "\"1m\"");
        assert_eq!(find("Headers").type_name, "map of string");
        assert_eq!(find("Retry.Max").default, "3");
        assert_eq!(find("Mode").type_name, "one of: v1, v2");
    }
}
