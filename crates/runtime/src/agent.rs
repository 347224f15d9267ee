//! The agent: every pipeline config of a directory, kept running and re-read on change.
//!
//! A valid changed file reloads its pipeline, carrying unsent batches over; a removed file (or
//! `enable: false`) stops it; an invalid file is reported and the previous version keeps running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::builder::{self, Env};
use crate::config::{self, ConfigError, PipelineConfig};
use crate::onetime::OnetimeConfigs;
use crate::runner::{Batch, RunningPipeline, StopMode};

pub struct AgentOptions {
    pub config_dir: PathBuf,
    /// Directory of one-time pipeline configs (LoongCollector's `onetime_pipeline_config`), if any.
    pub onetime_config_dir: Option<PathBuf>,
    /// How often the directory is re-scanned (LoongCollector: 10 s).
    pub scan_interval: Duration,
}

/// What `/health` reports.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Health {
    pub pipelines: Vec<String>,
    /// Config files that failed to load, with the reason.
    pub config_errors: BTreeMap<String, String>,
}

struct Entry {
    running: RunningPipeline,
    text: String,
}

pub struct Agent {
    env: Env,
    options: AgentOptions,
    pipelines: BTreeMap<String, Entry>,
    /// Text of files that failed or are disabled, so an unchanged bad file is reported once.
    settled: BTreeMap<PathBuf, String>,
    health: Arc<RwLock<Health>>,
    onetime: Option<OnetimeConfigs>,
}

impl Agent {
    pub fn new(env: Env, options: AgentOptions) -> Self {
        let onetime = options
            .onetime_config_dir
            .clone()
            .map(|dir| OnetimeConfigs::new(dir, env.clone()));
        Agent {
            onetime,
            env,
            options,
            pipelines: BTreeMap::new(),
            settled: BTreeMap::new(),
            health: Arc::default(),
        }
    }

    pub fn health(&self) -> Arc<RwLock<Health>> {
        self.health.clone()
    }

    /// Names of the running pipelines.
    pub fn pipelines(&self) -> Vec<String> {
        self.pipelines.keys().cloned().collect()
    }

    /// Applies what changed in the config directories since the last scan.
    pub fn scan(&mut self) {
        if let Some(onetime) = &mut self.onetime {
            onetime.scan();
        }
        let files = match list_configs(&self.options.config_dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::error!(dir = %self.options.config_dir.display(), error = %e, "cannot read the config directory");
                return;
            }
        };
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for (path, text) in &files {
            let Some(name) = config::config_name(path) else {
                continue;
            };
            if let Some(first) = seen.get(&name) {
                let e = ConfigError::file(
                    path,
                    format!("config name {name:?} is already used by {}", first.display()),
                );
                errors.insert(path.display().to_string(), e.to_string());
                if self.settled.get(path) != Some(text) {
                    tracing::error!("{e}");
                    self.settled.insert(path.clone(), text.clone());
                }
                continue;
            }
            seen.insert(name.clone(), path.clone());
            if self.pipelines.get(&name).is_some_and(|e| e.text == *text) {
                continue;
            }
            if self.settled.get(path) == Some(text) {
                if let Some(e) = self.health.read().config_errors.get(&path.display().to_string()) {
                    errors.insert(path.display().to_string(), e.clone());
                }
                continue;
            }
            self.settled.remove(path);
            if let Err(e) = self.apply(&name, path, text) {
                tracing::error!(
                    "{e}; {}",
                    if self.pipelines.contains_key(&name) {
                        "the previous version keeps running"
                    } else {
                        "the pipeline is not started"
                    }
                );
                errors.insert(path.display().to_string(), e.to_string());
                self.settled.insert(path.clone(), text.clone());
            }
        }
        let removed: Vec<String> = self
            .pipelines
            .keys()
            .filter(|n| !seen.contains_key(*n))
            .cloned()
            .collect();
        for name in removed {
            tracing::info!(pipeline = %name, "config removed; stopping");
            if let Some(entry) = self.pipelines.remove(&name) {
                entry.running.stop(StopMode::Drain);
            }
        }
        self.settled.retain(|p, _| files.iter().any(|(f, _)| f == p));
        let mut pipelines = self.pipelines();
        pipelines.extend(self.onetime.iter().flat_map(|o| o.running()));
        *self.health.write() = Health {
            pipelines,
            config_errors: errors,
        };
    }

    fn apply(&mut self, name: &str, path: &Path, text: &str) -> Result<(), ConfigError> {
        let config = PipelineConfig::parse(path, text)?;
        if !config.enable {
            if let Some(entry) = self.pipelines.remove(name) {
                tracing::info!(pipeline = %name, "config disabled; stopping");
                entry.running.stop(StopMode::Drain);
            }
            self.settled.insert(path.to_owned(), text.to_owned());
            return Ok(());
        }
        let created = builder::create(config, &self.env)?;
        for w in &created.warnings {
            tracing::warn!(file = %path.display(), "{w}");
        }
        let (carried, previous) = match self.pipelines.remove(name) {
            Some(old) => {
                tracing::info!(pipeline = %name, "config changed; reloading");
                let previous = old.running.config().clone();
                (old.running.stop(StopMode::Handover), Some((previous, old.text)))
            }
            None => (Vec::new(), None),
        };
        match created.init() {
            Ok(built) => {
                let running = RunningPipeline::start(built, carried);
                self.pipelines.insert(
                    name.to_owned(),
                    Entry {
                        running,
                        text: text.to_owned(),
                    },
                );
                Ok(())
            }
            Err(e) => {
                if let Some((config, old_text)) = previous {
                    self.restart_previous(name, config, old_text, carried);
                }
                Err(e)
            }
        }
    }

    /// The new version failed to initialise after the old one stopped (a port still in use, say):
    /// bring the old version back with the batches it had.
    fn restart_previous(&mut self, name: &str, config: PipelineConfig, text: String, carried: Vec<Batch>) {
        match builder::create(config, &self.env).and_then(|c| c.init()) {
            Ok(built) => {
                let running = RunningPipeline::start(built, carried);
                self.pipelines.insert(name.to_owned(), Entry { running, text });
            }
            Err(e) => {
                tracing::error!(pipeline = %name, error = %e, "the previous version could not be restarted either")
            }
        }
    }

    /// Scans every `scan_interval` until `stop` receives (or is dropped).
    pub fn run_until(&mut self, stop: &crossbeam_channel::Receiver<()>) {
        loop {
            self.scan();
            match stop.recv_timeout(self.options.scan_interval) {
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }

    /// Stops every pipeline, in parallel, each within its own `StopTimeout`.
    pub fn shutdown(mut self) {
        if let Some(onetime) = self.onetime.take() {
            onetime.shutdown();
        }
        let pipelines = std::mem::take(&mut self.pipelines);
        let threads: Vec<_> = pipelines
            .into_values()
            .map(|e| std::thread::spawn(move || drop(e.running.stop(StopMode::Drain))))
            .collect();
        for t in threads {
            let _ = t.join();
        }
        tracing::info!("all pipelines stopped");
    }
}

/// Config files of `dir` with their text, sorted by path.
pub(crate) fn list_configs(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && config::is_config_file(&path) {
            match std::fs::read_to_string(&path) {
                Ok(text) => out.push((path, text)),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read config file")
                }
            }
        }
    }
    out.sort();
    Ok(out)
}
