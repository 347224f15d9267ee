use std::path::{Path, PathBuf};

/// A config problem, naming the file, the plugin (`flushers[1] flusher_http`) and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}: {message}",
    file.display(),
    plugin.as_deref().map(|p| format!(": {p}")).unwrap_or_default(),
    key.as_deref().map(|k| format!(": key {k:?}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: PathBuf,
    pub plugin: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    fn new(file: &Path, plugin: Option<&str>, key: Option<&str>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            plugin: plugin.map(str::to_owned),
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self::new(file, None, None, message)
    }

    pub fn plugin(file: &Path, plugin: &str, message: impl Into<String>) -> Self {
        Self::new(file, Some(plugin), None, message)
    }

    pub fn key(file: &Path, plugin: Option<&str>, key: &str, message: impl Into<String>) -> Self {
        Self::new(file, plugin, Some(key), message)
    }
}
