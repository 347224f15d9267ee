//! `flusher_checker`: a test helper (the `debug` section of plugins.yml) that keeps everything it
//! receives in memory, readable by tests in the same process through [`checker`]. It can also fail
//! its first calls or start not ready, to test the runner's delivery contract.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use loong_api::model::convert;
use loong_api::{
    Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents, ReadySignal, Result,
};
use parking_lot::{Condvar, Mutex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_checker";

/// Keeps every received group in memory for tests (read them with `loong_flusher_checker::checker(Name)`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CheckerConfig {
    /// Name tests look the received data up by; empty means the plugin id (`flusher_checker/1`).
    #[serde(rename = "Name")]
    pub name: String,
    /// The first N flush/export calls fail (to test retries); the data of a failed call is not kept.
    #[serde(rename = "FailFirst")]
    pub fail_first: u32,
    /// Readiness at start; tests change it with `CheckerHandle::set_ready`.
    #[serde(rename = "Ready")]
    pub ready: bool,
}

impl Default for CheckerConfig {
    fn default() -> Self {
        CheckerConfig {
            name: String::new(),
            fail_first: 0,
            ready: true,
        }
    }
}

#[derive(Default)]
struct State {
    v1: Vec<LogGroup>,
    v2: Vec<PipelineGroupEvents>,
    events: usize,
    calls: u64,
    failures_left: u32,
    ready: bool,
    ready_calls: u64,
    signal: Option<ReadySignal>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

fn shared(name: &str) -> Arc<Shared> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Shared>>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
        .lock()
        .entry(name.to_owned())
        .or_default()
        .clone()
}

/// What the checker named `name` received. Handles to the same name share state across instances
/// (a reloaded pipeline keeps adding to the same record).
pub fn checker(name: &str) -> CheckerHandle {
    CheckerHandle(shared(name))
}

#[derive(Clone)]
pub struct CheckerHandle(Arc<Shared>);

impl CheckerHandle {
    /// Groups received through `flush` (V1).
    pub fn log_groups(&self) -> Vec<LogGroup> {
        self.0.state.lock().v1.clone()
    }

    /// Groups received through `export` (V2).
    pub fn groups(&self) -> Vec<PipelineGroupEvents> {
        self.0.state.lock().v2.clone()
    }

    /// Events (V2) and logs (V1) received.
    pub fn event_count(&self) -> usize {
        self.0.state.lock().events
    }

    /// Bodies of every log received, V1 and V2, in arrival order.
    pub fn bodies(&self) -> Vec<String> {
        let state = self.0.state.lock();
        let v1 = state.v1.iter().flat_map(|g| &g.logs).map(|l| {
            let body = l.contents.iter().find(|c| c.key == "content").or(l.contents.first());
            body.map(|c| c.value.clone()).unwrap_or_default()
        });
        let v2 = state
            .v2
            .iter()
            .flat_map(|g| &g.events)
            .filter_map(|e| e.as_log())
            .map(|l| {
                l.body()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default()
            });
        v1.chain(v2).collect()
    }

    /// flush/export calls, failed ones included.
    pub fn flush_calls(&self) -> u64 {
        self.0.state.lock().calls
    }

    pub fn is_ready_calls(&self) -> u64 {
        self.0.state.lock().ready_calls
    }

    /// Makes the checker ready or not; becoming ready wakes the runner.
    pub fn set_ready(&self, ready: bool) {
        let signal = {
            let mut state = self.0.state.lock();
            state.ready = ready;
            state.signal.clone()
        };
        if ready && let Some(s) = signal {
            s.notify();
        }
    }

    /// Waits until at least `n` events were received; false on timeout.
    pub fn wait_for_events(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.0.state.lock();
        while state.events < n {
            if self.0.changed.wait_until(&mut state, deadline).timed_out() {
                return state.events >= n;
            }
        }
        true
    }

    pub fn clear(&self) {
        let mut state = self.0.state.lock();
        state.v1.clear();
        state.v2.clear();
        state.events = 0;
        state.calls = 0;
        state.ready_calls = 0;
    }
}

pub struct CheckerFlusher {
    config: CheckerConfig,
    shared: Option<Arc<Shared>>,
}

impl CheckerFlusher {
    pub fn new(config: CheckerConfig) -> Self {
        CheckerFlusher { config, shared: None }
    }

    fn record(&self, keep: impl FnOnce(&mut State) -> usize) -> Result<()> {
        let shared = self
            .shared
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("flusher_checker used before init"))?;
        let mut state = shared.state.lock();
        state.calls += 1;
        if state.failures_left > 0 {
            state.failures_left -= 1;
            anyhow::bail!(
                "flusher_checker: failing on purpose ({} more failures to go)",
                state.failures_left
            );
        }
        let n = keep(&mut state);
        state.events += n;
        shared.changed.notify_all();
        Ok(())
    }
}

impl Flusher for CheckerFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let name = if self.config.name.is_empty() {
            ctx.plugin_id()
        } else {
            &self.config.name
        };
        let shared = shared(name);
        {
            let mut state = shared.state.lock();
            state.failures_left = self.config.fail_first;
            state.ready = self.config.ready;
            state.signal = Some(ctx.ready_signal().clone());
        }
        self.shared = Some(shared);
        Ok(())
    }

    fn description(&self) -> &str {
        "checker flusher: keeps what it receives for tests"
    }

    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        self.shared.as_ref().is_some_and(|s| {
            let mut state = s.state.lock();
            state.ready_calls += 1;
            state.ready
        })
    }

    fn set_urgent(&mut self, flag: bool) {
        // An exiting agent must be able to stop: an urgent checker always takes data.
        if flag && let Some(s) = &self.shared {
            s.state.lock().ready = true;
        }
    }

    fn stop(&mut self) -> Result<()> {
        Ok(())
    }

    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        Some(self)
    }

    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV1 for CheckerFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        self.record(|state| {
            state.v1.extend_from_slice(groups);
            groups.iter().map(|g| g.logs.len()).sum()
        })
    }
}

impl FlusherV2 for CheckerFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        self.record(|state| {
            // Keep copies without the acknowledgements, so holding them never delays an input.
            state.v2.extend(
                groups
                    .iter()
                    .map(|g| PipelineGroupEvents::new(g.group.clone(), g.events.clone())),
            );
            groups.iter().map(|g| g.events.len()).sum()
        })
    }
}

/// The V1 view of what a checker received through V2, for comparisons.
pub fn as_log_groups(groups: &[PipelineGroupEvents]) -> Vec<LogGroup> {
    convert::events_to_log_groups(groups)
}

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |config: CheckerConfig| Box::new(CheckerFlusher::new(config)));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conformance() {
        loong_testkit::Conformance::from_registry(register, NAME, json!({"Name": "conformance"}))
            .read_back(|| checker("conformance").bodies())
            .run();
    }

    #[test]
    fn fails_first_calls_then_keeps_data_and_toggles_readiness() {
        let mut f = CheckerFlusher::new(CheckerConfig {
            name: "unit".into(),
            fail_first: 2,
            ready: false,
        });
        f.init(&loong_testkit::mock_context(NAME)).unwrap();
        let h = checker("unit");
        assert!(!f.is_ready("", "", 0));
        h.set_ready(true);
        assert!(f.is_ready("", "", 0));
        let batch = [loong_testkit::log_events("u", 3)];
        assert!(f.export(&batch, &mut PipelineContext::noop()).is_err());
        assert!(f.export(&batch, &mut PipelineContext::noop()).is_err());
        f.export(&batch, &mut PipelineContext::noop()).unwrap();
        assert_eq!(h.flush_calls(), 3);
        assert!(h.wait_for_events(3, Duration::from_secs(1)));
        assert_eq!(h.bodies(), vec!["u-0", "u-1", "u-2"]);
        assert!(!h.wait_for_events(4, Duration::from_millis(10)));
    }
}
