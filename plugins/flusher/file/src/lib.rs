//! `flusher_file`: LoongCollector's local-file flusher. One JSON line per event (the format of
//! `flusher_stdout`), in `FilePath`, rolled at `MaxFileSize` with at most `MaxFiles` files kept, as
//! LoongCollector's spdlog-based flusher does (10 MiB, 10 files).
//!
//! The writing is `flusher_stdout`'s file output; this crate gives it LoongCollector's option names
//! and defaults.

use anyhow::{Result, bail};
use loong_api::{Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents};
use loong_flusher_stdout::{StdoutConfig, StdoutFlusher};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_file";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator::<FileConfig>(NAME, |config| Box::new(FileFlusher::new(config)));
}

/// Writes every event as a JSON line to a local file, rolled by size.
///
/// Lines have `flusher_stdout`'s format (V1: `{"key":"value",…,"__time__":"<seconds>"}`; V2:
/// `{"eventType":…,"timestamp":…,"tags":{…},…contents}`). When `FilePath` reaches `MaxFileSize` it is
/// renamed `FilePath.1` (older files shift to `.2`, …) and at most `MaxFiles` files are kept. Lines
/// are written when a batch is flushed; a batch is in the file before the pipeline acknowledges it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FileConfig {
    /// The file to write. Required.
    #[serde(rename = "FilePath")]
    pub file_path: String,
    /// Size in bytes at which the file is rolled (loong-rs addition; LoongCollector fixes 10 MiB).
    #[serde(rename = "MaxFileSize")]
    pub max_file_size: u64,
    /// Files kept, the current one included (loong-rs addition; LoongCollector fixes 10).
    #[serde(rename = "MaxFiles")]
    pub max_files: u32,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            file_path: String::new(),
            max_file_size: 10 * 1024 * 1024,
            max_files: 10,
        }
    }
}

pub struct FileFlusher {
    config: FileConfig,
    inner: StdoutFlusher,
}

impl FileFlusher {
    pub fn new(config: FileConfig) -> Self {
        let inner = StdoutFlusher::new(StdoutConfig {
            only_stdout: false,
            file_name: config.file_path.clone(),
            max_size: config.max_file_size.min(i64::MAX as u64) as i64,
            max_rolls: i64::from(config.max_files.max(2) - 1),
            ..StdoutConfig::default()
        });
        FileFlusher { config, inner }
    }
}

impl Flusher for FileFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        if self.config.file_path.trim().is_empty() {
            bail!("FilePath is empty");
        }
        if self.config.max_file_size == 0 {
            bail!("MaxFileSize must be more than 0");
        }
        self.inner.init(ctx)
    }

    fn description(&self) -> &str {
        "file flusher: writes events as JSON lines to a local file rolled by size"
    }

    fn is_ready(&self, project: &str, logstore: &str, key: i64) -> bool {
        self.inner.is_ready(project, logstore, key)
    }

    fn set_urgent(&mut self, flag: bool) {
        self.inner.set_urgent(flag)
    }

    fn stop(&mut self) -> Result<()> {
        self.inner.stop()
    }

    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        Some(self)
    }

    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV1 for FileFlusher {
    fn flush(&mut self, project: &str, logstore: &str, config: &str, groups: &[LogGroup]) -> Result<()> {
        self.inner.flush(project, logstore, config, groups)
    }
}

impl FlusherV2 for FileFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], ctx: &mut PipelineContext) -> Result<()> {
        self.inner.export(groups, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let read = path.clone();
        loong_testkit::Conformance::from_registry(register, NAME, json!({"FilePath": path.to_str().unwrap()}))
            .read_back(move || {
                std::fs::read_to_string(&read)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
                    .filter_map(|v| v["content"].as_str().map(str::to_owned))
                    .collect()
            })
            .run();
    }

    #[test]
    fn rolls_at_max_file_size_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roll.log");
        let mut f = FileFlusher::new(FileConfig {
            file_path: path.to_str().unwrap().to_owned(),
            max_file_size: 2000,
            max_files: 3,
        });
        f.init(&loong_testkit::mock_context(NAME)).unwrap();
        for i in 0..20 {
            f.export(
                &[loong_testkit::log_events_with_prefix(&format!("b{i}"), 10)],
                &mut PipelineContext::noop(),
            )
            .unwrap();
        }
        f.stop().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["roll.log", "roll.log.1", "roll.log.2"]);
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("b19-9"), "the newest lines are in FilePath");
    }

    #[test]
    fn file_path_is_required() {
        let mut f = FileFlusher::new(FileConfig::default());
        let err = f.init(&loong_testkit::mock_context(NAME)).unwrap_err().to_string();
        assert!(err.contains("FilePath is empty"), "{err}");
    }
}
