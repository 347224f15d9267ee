//! One-time pipelines (LoongCollector's `onetime_pipeline_config`): read every source to its end
//! once, deliver everything, commit the checkpoints, stop. For backfills, and the clean way to
//! benchmark.
//!
//! * [`run`]: run some configs once, in parallel, and report each outcome (`loong run --once`).
//! * [`OnetimeConfigs`]: the agent's one-time directory. A config runs when it appears or its text
//!   changes; a config that finished is remembered (by a hash of its text, in the checkpoint store)
//!   and not run again after a restart, like LoongCollector's onetime config checkpoint. Removing
//!   the file of a running one cancels it.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::builder::{self, Env};
use crate::config::{ConfigError, PipelineConfig};
use crate::runner::{OnetimeOutcome, RunningPipeline};

/// Creates, initialises and starts `config` as a one-time pipeline.
pub fn start(mut config: PipelineConfig, env: &Env) -> Result<RunningPipeline, ConfigError> {
    config.onetime = true;
    let created = builder::create(config, env)?;
    for w in &created.warnings {
        tracing::warn!("{w}");
    }
    Ok(RunningPipeline::start(created.init()?, Vec::new()))
}

/// Runs every config once, all at the same time, until each is delivered, timed out or `cancel`
/// is set. Returns the outcome of each, by pipeline name, in the order given.
pub fn run(
    configs: Vec<PipelineConfig>,
    env: &Env,
    cancel: Arc<AtomicBool>,
) -> Vec<(String, Result<OnetimeOutcome, ConfigError>)> {
    let mut started = Vec::new();
    for config in configs {
        let name = config.name.clone();
        match start(config, env) {
            Ok(p) => {
                let cancel = cancel.clone();
                started.push((name, Ok(std::thread::spawn(move || p.finish(&cancel)))));
            }
            Err(e) => started.push((name, Err(e))),
        }
    }
    started
        .into_iter()
        .map(|(name, r)| {
            let outcome = r.map(|t| {
                t.join().unwrap_or(OnetimeOutcome {
                    undelivered: 0,
                    dropped: 0,
                    timed_out: true,
                })
            });
            (name, outcome)
        })
        .collect()
}

const CHECKPOINT_KEY: &str = "onetime_pipeline_configs";

/// What the checkpoint store remembers of a finished one-time config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Finished {
    config_hash: u64,
    /// Seconds since the epoch when it finished.
    finished_at: u64,
    success: bool,
}

struct Running {
    hash: u64,
    cancel: Arc<AtomicBool>,
    thread: JoinHandle<OnetimeOutcome>,
}

/// The one-time config directory of the agent.
pub struct OnetimeConfigs {
    dir: PathBuf,
    env: Env,
    finished: BTreeMap<String, Finished>,
    running: BTreeMap<String, Running>,
    /// Text hashes of files that failed to load, so a bad file is reported once.
    failed: BTreeMap<String, u64>,
}

fn text_hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl OnetimeConfigs {
    pub fn new(dir: PathBuf, env: Env) -> Self {
        let finished = env
            .checkpoints
            .get(CHECKPOINT_KEY)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        OnetimeConfigs {
            dir,
            env,
            finished,
            running: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names of the one-time pipelines still running.
    pub fn running(&self) -> Vec<String> {
        self.running.keys().cloned().collect()
    }

    /// Starts new or changed configs, cancels removed ones, records the ones that ended.
    pub fn scan(&mut self) {
        self.collect_finished();
        let files = match crate::agent::list_configs(&self.dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot read the one-time config directory");
                return;
            }
        };
        let mut seen = Vec::new();
        for (path, text) in files {
            let Some(name) = crate::config::config_name(&path) else {
                continue;
            };
            let hash = text_hash(&text);
            seen.push(name.clone());
            if self.finished.get(&name).is_some_and(|f| f.config_hash == hash)
                || self.running.get(&name).is_some_and(|r| r.hash == hash)
                || self.failed.get(&name) == Some(&hash)
            {
                continue;
            }
            if let Some(old) = self.running.remove(&name) {
                tracing::info!(pipeline = %name, "one-time config changed; cancelling the running version");
                old.cancel.store(true, Ordering::Release);
                let _ = old.thread.join();
            }
            match PipelineConfig::parse(&path, &text).and_then(|c| start(c, &self.env)) {
                Ok(pipeline) => {
                    tracing::info!(pipeline = %name, "one-time pipeline started");
                    self.failed.remove(&name);
                    let cancel = Arc::new(AtomicBool::new(false));
                    let c = cancel.clone();
                    let thread = std::thread::spawn(move || pipeline.finish(&c));
                    self.running.insert(name, Running { hash, cancel, thread });
                }
                Err(e) => {
                    tracing::error!("{e}; the one-time pipeline is not started");
                    self.failed.insert(name, hash);
                }
            }
        }
        let removed: Vec<String> = self.running.keys().filter(|n| !seen.contains(n)).cloned().collect();
        for name in removed {
            if let Some(r) = self.running.remove(&name) {
                tracing::info!(pipeline = %name, "one-time config removed; stopping");
                r.cancel.store(true, Ordering::Release);
                let _ = r.thread.join();
            }
        }
    }

    fn collect_finished(&mut self) {
        let done: Vec<String> = self
            .running
            .iter()
            .filter(|(_, r)| r.thread.is_finished())
            .map(|(n, _)| n.clone())
            .collect();
        for name in done {
            let r = self.running.remove(&name).expect("listed");
            let cancelled = r.cancel.load(Ordering::Acquire);
            let outcome = r.thread.join().unwrap_or(OnetimeOutcome {
                undelivered: 0,
                dropped: 0,
                timed_out: true,
            });
            if cancelled {
                continue;
            }
            if outcome.success() {
                tracing::info!(pipeline = %name, "one-time pipeline finished: everything delivered");
            } else {
                tracing::error!(pipeline = %name, ?outcome, "one-time pipeline ended without delivering everything");
            }
            self.finished.insert(
                name,
                Finished {
                    config_hash: r.hash,
                    finished_at: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                    success: outcome.success(),
                },
            );
            let bytes = serde_json::to_vec(&self.finished).expect("serialisable");
            if let Err(e) = self.env.checkpoints.save(CHECKPOINT_KEY, &bytes) {
                tracing::error!(error = %format!("{e:#}"), "cannot record finished one-time pipelines");
            }
        }
    }

    /// Cancels every running one-time pipeline (agent exit); their checkpoints keep what was
    /// delivered, so the next start resumes them.
    pub fn shutdown(mut self) {
        for r in self.running.values() {
            r.cancel.store(true, Ordering::Release);
        }
        for (_, r) in std::mem::take(&mut self.running) {
            let _ = r.thread.join();
        }
    }
}
