//! Pipeline configs as users write them: LoongCollector's YAML/JSON format.
//!
//! ```yaml
//! enable: true
//! global: {StructureType: v2}
//! inputs:     [{Type: input_file, FilePaths: [/var/log/*.log]}]
//! processors: [...]
//! aggregators: [...]   # at most one
//! flushers:   [{Type: flusher_http, RemoteURL: "http://127.0.0.1:8080"}]
//! extensions: [{Type: ext_basicauth/u1, Username: u, Password: "${PASS}"}]
//! ```
//!
//! `${VAR}` and `${VAR:default}` are replaced from the environment before parsing; `$${` writes a
//! literal `${`.

mod error;
mod substitute;

use std::path::{Path, PathBuf};

use loong_api::PluginKind;
use loong_api::registry::parse_type;
use serde_json::{Map, Value};

pub use error::ConfigError;
pub use substitute::substitute_env;

/// File extensions a config directory is scanned for.
pub const CONFIG_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// One plugin entry of a config: its `Type` split into type and id, and the remaining options.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub kind: PluginKind,
    /// Position in its section, from 0.
    pub index: usize,
    pub plugin_type: String,
    /// The `id` of `type/id`, naming this instance.
    pub id: Option<String>,
    /// Options without `Type`.
    pub options: Value,
}

impl PluginSpec {
    /// How errors name the plugin: `flushers[1] flusher_http`.
    pub fn label(&self) -> String {
        format!("{}[{}] {}", self.kind.section(), self.index, self.plugin_type)
    }

    /// The instance name: `type/id` as written, or `type/N` by position (N from 1).
    pub fn instance_name(&self) -> String {
        match &self.id {
            Some(id) => format!("{}/{id}", self.plugin_type),
            None => format!("{}/{}", self.plugin_type, self.index + 1),
        }
    }
}

/// A parsed pipeline config (plugins not yet created).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The file stem.
    pub name: String,
    pub path: PathBuf,
    pub enable: bool,
    pub global: Value,
    pub inputs: Vec<PluginSpec>,
    pub processors: Vec<PluginSpec>,
    pub aggregators: Vec<PluginSpec>,
    pub flushers: Vec<PluginSpec>,
    pub extensions: Vec<PluginSpec>,
    /// Run once (read every source to its end, deliver, stop) rather than continuously: set for
    /// configs of the one-time directory and `loong run --once`, never by the file itself.
    pub onetime: bool,
}

const TOP_LEVEL_KEYS: [&str; 7] = [
    "enable",
    "global",
    "inputs",
    "processors",
    "aggregators",
    "flushers",
    "extensions",
];

impl PipelineConfig {
    /// Reads and parses a config file. Plugin types and options are checked later, when the
    /// pipeline is built against a registry.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::file(path, format!("cannot read the file: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parses config text; `path` names the config (its stem) and picks YAML or JSON.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let name = config_name(path).ok_or_else(|| ConfigError::file(path, "the file name has no stem"))?;
        let text = substitute_env(text, |k| std::env::var(k).ok()).map_err(|e| ConfigError::file(path, e))?;
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let root: Value = if is_json {
            serde_json::from_str(&text).map_err(|e| ConfigError::file(path, format!("invalid JSON: {e}")))?
        } else {
            serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::file(path, format!("invalid YAML: {e}")))?
        };
        let Value::Object(mut root) = root else {
            return Err(ConfigError::file(
                path,
                "a pipeline config must be a mapping of enable/global/inputs/…",
            ));
        };
        let mut take = |key: &str| {
            let found = root.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
            found.and_then(|k| root.remove(&k))
        };
        let enable = match take("enable") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(ConfigError::key(
                    path,
                    None,
                    "enable",
                    format!("expected true or false, found {other}"),
                ));
            }
        };
        let global = match take("global") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v,
            Some(_) => return Err(ConfigError::key(path, None, "global", "expected a mapping")),
        };
        let mut section = |kind: PluginKind| -> Result<Vec<PluginSpec>, ConfigError> {
            match take(kind.section()) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| plugin_spec(path, kind, i, item))
                    .collect(),
                Some(_) => Err(ConfigError::key(
                    path,
                    None,
                    kind.section(),
                    "expected a list of plugins",
                )),
            }
        };
        let config = PipelineConfig {
            name,
            path: path.to_owned(),
            enable,
            global,
            inputs: section(PluginKind::Input)?,
            processors: section(PluginKind::Processor)?,
            aggregators: section(PluginKind::Aggregator)?,
            flushers: section(PluginKind::Flusher)?,
            extensions: section(PluginKind::Extension)?,
            onetime: false,
        };
        if let Some(unknown) = root.keys().next() {
            let hint = loong_api::options::nearest(unknown, &TOP_LEVEL_KEYS)
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            return Err(ConfigError::key(
                path,
                None,
                unknown,
                format!("unknown top-level key{hint}"),
            ));
        }
        if config.enable {
            if config.inputs.is_empty() {
                return Err(ConfigError::key(path, None, "inputs", "at least one input is required"));
            }
            if config.flushers.is_empty() {
                return Err(ConfigError::key(
                    path,
                    None,
                    "flushers",
                    "at least one flusher is required",
                ));
            }
            if config.aggregators.len() > 1 {
                return Err(ConfigError::key(
                    path,
                    None,
                    "aggregators",
                    "at most one aggregator is allowed",
                ));
            }
        }
        Ok(config)
    }

    /// Every plugin spec, extensions first (the order they are created in).
    pub fn all_plugins(&self) -> impl Iterator<Item = &PluginSpec> {
        self.extensions
            .iter()
            .chain(&self.inputs)
            .chain(&self.processors)
            .chain(&self.aggregators)
            .chain(&self.flushers)
    }
}

/// The config name of a file: its stem, if it has a config extension.
pub fn config_name(path: &Path) -> Option<String> {
    path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
}

/// Whether `path` looks like a pipeline config file.
pub fn is_config_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    !hidden
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| CONFIG_EXTENSIONS.iter().any(|c| c.eq_ignore_ascii_case(e)))
}

fn plugin_spec(path: &Path, kind: PluginKind, index: usize, item: Value) -> Result<PluginSpec, ConfigError> {
    let position = format!("{}[{index}]", kind.section());
    let Value::Object(mut map) = item else {
        return Err(ConfigError::plugin(path, &position, "expected a mapping with a Type"));
    };
    let type_key = map.keys().find(|k| k.eq_ignore_ascii_case("type")).cloned();
    let Some(Value::String(type_string)) = type_key.and_then(|k| map.remove(&k)) else {
        return Err(ConfigError::key(
            path,
            Some(&position),
            "Type",
            "every plugin needs a Type string",
        ));
    };
    let (plugin_type, id) = parse_type(&type_string);
    if plugin_type.is_empty() {
        return Err(ConfigError::key(path, Some(&position), "Type", "empty plugin type"));
    }
    Ok(PluginSpec {
        kind,
        index,
        plugin_type: plugin_type.to_owned(),
        id: id.map(str::to_owned),
        options: Value::Object(map),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::parse(Path::new(name), text)
    }

    #[test]
    fn parses_loongcollector_yaml() {
        let c = parse(
            "/etc/loong/app.yaml",
            r#"
enable: true
global: {StructureType: v2}
inputs:
  - Type: metric_mock
    Tags: {a: b}
processors:
  - Type: processor_x#2
flushers:
  - Type: flusher_stdout
    OnlyStdout: true
  - Type: flusher_http/main
    RemoteURL: http://127.0.0.1:1
extensions:
  - Type: ext_basicauth/u1
    Username: u
"#,
        )
        .unwrap();
        assert_eq!(c.name, "app");
        assert!(c.enable);
        assert_eq!(c.global["StructureType"], "v2");
        assert_eq!(c.inputs[0].plugin_type, "metric_mock");
        assert_eq!(c.inputs[0].options["Tags"]["a"], "b");
        assert!(c.inputs[0].options.get("Type").is_none());
        assert_eq!(c.processors[0].plugin_type, "processor_x");
        assert_eq!(c.flushers[1].id.as_deref(), Some("main"));
        assert_eq!(c.flushers[1].instance_name(), "flusher_http/main");
        assert_eq!(c.flushers[0].instance_name(), "flusher_stdout/1");
        assert_eq!(c.flushers[1].label(), "flushers[1] flusher_http");
        assert_eq!(c.extensions[0].instance_name(), "ext_basicauth/u1");
    }

    #[test]
    fn parses_json() {
        let c = parse(
            "p.json",
            r#"{"inputs":[{"Type":"metric_mock"}],"flushers":[{"Type":"flusher_stdout","OnlyStdout":true}]}"#,
        )
        .unwrap();
        assert_eq!(c.name, "p");
        assert_eq!(c.flushers[0].options["OnlyStdout"], true);
    }

    #[test]
    fn errors_name_file_plugin_and_key() {
        let err = parse("a.yaml", "inputs: [{Type: metric_mock}]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.yaml: key \"flushers\": at least one flusher is required"
        );
        let err = parse(
            "a.yaml",
            "inputs: [{Type: metric_mock}]\nflushers: [{OnlyStdout: true}]\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.yaml: flushers[0]: key \"Type\": every plugin needs a Type string"
        );
        let err = parse("a.yaml", "input: []\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown top-level key (did you mean inputs?)"),
            "{err}"
        );
        let err = parse("a.yaml", "inputs: [\n").unwrap_err();
        assert!(err.to_string().starts_with("a.yaml: invalid YAML"), "{err}");
    }

    #[test]
    fn disabled_config_needs_no_plugins() {
        let c = parse("off.yaml", "enable: false\n").unwrap();
        assert!(!c.enable);
    }

    #[test]
    fn recognises_config_files() {
        assert!(is_config_file(Path::new("/d/a.yaml")));
        assert!(is_config_file(Path::new("/d/a.JSON")));
        assert!(!is_config_file(Path::new("/d/.a.yaml")));
        assert!(!is_config_file(Path::new("/d/a.yaml.swp")));
    }
}
