use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use parking_lot::{Condvar, Mutex};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Extension, GlobalConfig, Result};

/// Everything a plugin instance may ask of the agent (LoongCollector's `Context`).
///
/// Built by the runtime for every plugin of a pipeline, or by [`Context::builder`] in tests.
/// Cheap to clone: a plugin may keep one for its threads.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    config_name: String,
    project: String,
    logstore: String,
    plugin_type: String,
    plugin_id: String,
    global: Arc<GlobalConfig>,
    span: tracing::Span,
    extensions: Arc<dyn ExtensionHost>,
    checkpoints: Arc<dyn CheckpointStore>,
    metrics: MetricsRecord,
    runtime: tokio::runtime::Handle,
    ready: ReadySignal,
}

impl Context {
    pub fn builder(config_name: impl Into<String>) -> ContextBuilder {
        ContextBuilder::new(config_name)
    }

    /// The pipeline config's name (its file stem).
    pub fn config_name(&self) -> &str {
        &self.inner.config_name
    }

    pub fn project(&self) -> &str {
        &self.inner.project
    }

    pub fn logstore(&self) -> &str {
        &self.inner.logstore
    }

    /// The plugin's `Type` (`flusher_http`).
    pub fn plugin_type(&self) -> &str {
        &self.inner.plugin_type
    }

    /// The instance name: `type/id` as configured, or `type/N` by position.
    pub fn plugin_id(&self) -> &str {
        &self.inner.plugin_id
    }

    /// The pipeline's `global` section.
    /// True in a one-time pipeline: read every source to its end once, then call
    /// [`crate::Collector::done`].
    pub fn is_onetime(&self) -> bool {
        self.inner.global.onetime
    }

    pub fn global(&self) -> &GlobalConfig {
        &self.inner.global
    }

    /// The logger of this plugin: a span carrying the pipeline and plugin names. The runner enters
    /// it around every call into the plugin; enter it yourself in threads you spawn.
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    /// The extension configured under `name` (`ext_basicauth` or `ext_basicauth/u1`). When the
    /// pipeline has none and `options` is given, one is created with those options.
    pub fn get_extension(&self, name: &str, options: Option<&serde_json::Value>) -> Result<Arc<dyn Extension>> {
        self.inner.extensions.get_extension(name, options)
    }

    /// Persists `value` under `key` for this plugin instance; survives restarts.
    pub fn save_checkpoint(&self, key: &str, value: &[u8]) -> Result<()> {
        self.inner.checkpoints.save(&self.checkpoint_key(key), value)
    }

    pub fn get_checkpoint(&self, key: &str) -> Option<Vec<u8>> {
        self.inner.checkpoints.get(&self.checkpoint_key(key))
    }

    /// [`Context::save_checkpoint`] for any serializable value (stored as JSON).
    pub fn save_checkpoint_object<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.save_checkpoint(key, &serde_json::to_vec(value)?)
    }

    pub fn get_checkpoint_object<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get_checkpoint(key) {
            Some(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).with_context(|| format!("checkpoint {key}"))?,
            )),
            None => Ok(None),
        }
    }

    fn checkpoint_key(&self, key: &str) -> String {
        format!("{}/{}/{}", self.inner.config_name, self.inner.plugin_id, key)
    }

    /// Metric handles labelled `project, logstore, pipeline_name, plugin_id, plugin_type`.
    pub fn metrics(&self) -> &MetricsRecord {
        &self.inner.metrics
    }

    /// The agent's shared tokio runtime, for plugins that do async I/O. Spawn on it; never
    /// `block_on` from inside one of its tasks.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.runtime
    }

    /// Wakes the runner when a flusher that said `is_ready() == false` can take data again.
    pub fn notify_ready(&self) {
        self.inner.ready.notify();
    }

    /// The signal [`Context::notify_ready`] raises (the runner waits on it).
    pub fn ready_signal(&self) -> &ReadySignal {
        &self.inner.ready
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config_name", &self.inner.config_name)
            .field("plugin_id", &self.inner.plugin_id)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Context`]; every part has a usable default, so tests set only what they need.
pub struct ContextBuilder {
    config_name: String,
    project: String,
    logstore: String,
    plugin_type: String,
    plugin_id: Option<String>,
    global: Arc<GlobalConfig>,
    extensions: Option<Arc<dyn ExtensionHost>>,
    checkpoints: Option<Arc<dyn CheckpointStore>>,
    runtime: Option<tokio::runtime::Handle>,
    ready: Option<ReadySignal>,
}

impl ContextBuilder {
    pub fn new(config_name: impl Into<String>) -> Self {
        ContextBuilder {
            config_name: config_name.into(),
            project: String::new(),
            logstore: String::new(),
            plugin_type: String::new(),
            plugin_id: None,
            global: Arc::new(GlobalConfig::default()),
            extensions: None,
            checkpoints: None,
            runtime: None,
            ready: None,
        }
    }

    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = project.into();
        self
    }

    pub fn logstore(mut self, logstore: impl Into<String>) -> Self {
        self.logstore = logstore.into();
        self
    }

    /// The plugin's type and instance name.
    pub fn plugin(mut self, plugin_type: impl Into<String>, plugin_id: impl Into<String>) -> Self {
        self.plugin_type = plugin_type.into();
        self.plugin_id = Some(plugin_id.into());
        self
    }

    pub fn global(mut self, global: Arc<GlobalConfig>) -> Self {
        self.global = global;
        self
    }

    pub fn extensions(mut self, host: Arc<dyn ExtensionHost>) -> Self {
        self.extensions = Some(host);
        self
    }

    pub fn checkpoints(mut self, store: Arc<dyn CheckpointStore>) -> Self {
        self.checkpoints = Some(store);
        self
    }

    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    pub fn ready_signal(mut self, ready: ReadySignal) -> Self {
        self.ready = Some(ready);
        self
    }

    pub fn build(self) -> Context {
        let plugin_id = self.plugin_id.unwrap_or_else(|| self.plugin_type.clone());
        let labels = vec![
            ("project".to_owned(), self.project.clone()),
            ("logstore".to_owned(), self.logstore.clone()),
            ("pipeline_name".to_owned(), self.config_name.clone()),
            ("plugin_id".to_owned(), plugin_id.clone()),
            ("plugin_type".to_owned(), self.plugin_type.clone()),
        ];
        let span = tracing::info_span!("plugin", pipeline = %self.config_name, plugin = %plugin_id);
        Context {
            inner: Arc::new(Inner {
                span,
                metrics: MetricsRecord {
                    labels: Arc::new(labels),
                },
                extensions: self.extensions.unwrap_or_else(|| Arc::new(NoExtensions)),
                checkpoints: self
                    .checkpoints
                    .unwrap_or_else(|| Arc::new(MemoryCheckpoints::default())),
                runtime: self.runtime.unwrap_or_else(fallback_runtime),
                ready: self.ready.unwrap_or_default(),
                config_name: self.config_name,
                project: self.project,
                logstore: self.logstore,
                plugin_type: self.plugin_type,
                plugin_id,
                global: self.global,
            }),
        }
    }
}

/// The runtime used when none is given: inside a tokio runtime, that one; otherwise a small one
/// made once for the process (tests, tools).
fn fallback_runtime() -> tokio::runtime::Handle {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        return handle;
    }
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("loong-io")
                .enable_all()
                .build()
                .expect("start the fallback tokio runtime")
        })
        .handle()
        .clone()
}

/// Finds (or creates) the extensions a pipeline configured.
pub trait ExtensionHost: Send + Sync {
    fn get_extension(&self, name: &str, options: Option<&serde_json::Value>) -> Result<Arc<dyn Extension>>;
}

struct NoExtensions;

impl ExtensionHost for NoExtensions {
    fn get_extension(&self, name: &str, _: Option<&serde_json::Value>) -> Result<Arc<dyn Extension>> {
        anyhow::bail!("no extension named {name} is configured")
    }
}

/// Durable key → bytes storage for input checkpoints.
pub trait CheckpointStore: Send + Sync {
    fn save(&self, key: &str, value: &[u8]) -> Result<()>;
    fn get(&self, key: &str) -> Option<Vec<u8>>;
}

/// A [`CheckpointStore`] in memory, for tests.
#[derive(Default)]
pub struct MemoryCheckpoints(Mutex<HashMap<String, Vec<u8>>>);

impl CheckpointStore for MemoryCheckpoints {
    fn save(&self, key: &str, value: &[u8]) -> Result<()> {
        self.0.lock().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.lock().get(key).cloned()
    }
}

/// Metric handles with the plugin's labels (LoongCollector's metric record). Handles are cheap to
/// keep: create them once in `init`, not per event.
#[derive(Clone, Debug)]
pub struct MetricsRecord {
    labels: Arc<Vec<(String, String)>>,
}

impl MetricsRecord {
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    fn metric_labels(&self, extra: &[(&str, &str)]) -> Vec<metrics::Label> {
        self.labels
            .iter()
            .map(|(k, v)| metrics::Label::new(k.clone(), v.clone()))
            .chain(
                extra
                    .iter()
                    .map(|(k, v)| metrics::Label::new(k.to_string(), v.to_string())),
            )
            .collect()
    }

    pub fn counter(&self, name: &'static str) -> metrics::Counter {
        self.counter_with(name, &[])
    }

    /// A counter with labels beyond the plugin's own (e.g. `status_class`).
    pub fn counter_with(&self, name: &'static str, extra: &[(&str, &str)]) -> metrics::Counter {
        metrics::counter!(name, self.metric_labels(extra))
    }

    pub fn gauge(&self, name: &'static str) -> metrics::Gauge {
        metrics::gauge!(name, self.metric_labels(&[]))
    }

    pub fn histogram(&self, name: &'static str) -> metrics::Histogram {
        metrics::histogram!(name, self.metric_labels(&[]))
    }
}

/// A wake-up signal between a flusher that regained capacity and the runner waiting on `is_ready`.
#[derive(Clone, Default)]
pub struct ReadySignal(Arc<(Mutex<u64>, Condvar)>);

impl ReadySignal {
    pub fn notify(&self) {
        let (lock, cvar) = &*self.0;
        *lock.lock() += 1;
        cvar.notify_all();
    }

    /// The current generation; pass it to [`ReadySignal::wait_since`].
    pub fn generation(&self) -> u64 {
        *self.0.0.lock()
    }

    /// Waits until notified after `generation` was read, or `timeout` passes.
    pub fn wait_since(&self, generation: u64, timeout: Duration) {
        let (lock, cvar) = &*self.0;
        let mut current = lock.lock();
        if *current == generation {
            cvar.wait_for(&mut current, timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_namespaced_per_pipeline_and_plugin() {
        let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::default());
        let a = Context::builder("p1")
            .plugin("input_file", "input_file/1")
            .checkpoints(store.clone())
            .build();
        let b = Context::builder("p2")
            .plugin("input_file", "input_file/1")
            .checkpoints(store.clone())
            .build();
        a.save_checkpoint_object("offsets", &vec![1u64, 2]).unwrap();
        assert_eq!(
            a.get_checkpoint_object::<Vec<u64>>("offsets").unwrap(),
            Some(vec![1, 2])
        );
        assert_eq!(b.get_checkpoint("offsets"), None);
        assert!(store.get("p1/input_file/1/offsets").is_some());
    }

    #[test]
    fn ready_signal_wakes_a_waiter() {
        let signal = ReadySignal::default();
        let gen_before = signal.generation();
        let s = signal.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            s.notify();
        });
        let start = std::time::Instant::now();
        signal.wait_since(gen_before, Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(10));
        t.join().unwrap();
    }
}
