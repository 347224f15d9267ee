use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use loong_api::{Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents, Result};
use parking_lot::{Condvar, Mutex};

use crate::config::CheckerConfig;

/// What one accepted call delivered, kept in arrival order.
enum Received {
    V1(LogGroup),
    V2(PipelineGroupEvents),
}

struct State {
    received: Vec<Received>,
    events: usize,
    calls: u64,
    ready_calls: u64,
    ready: bool,
    /// The context of the instance initialised last, to wake its runner.
    ctx: Option<Context>,
}

impl Default for State {
    fn default() -> Self {
        State {
            received: Vec::new(),
            events: 0,
            calls: 0,
            ready_calls: 0,
            ready: true,
            ctx: None,
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled whenever events arrive.
    arrived: Condvar,
}

fn shared(name: &str) -> Arc<Shared> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Shared>>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
        .lock()
        .entry(name.to_owned())
        .or_default()
        .clone()
}

/// What the checker named `name` received (created empty if no checker of that name exists yet, so
/// a test may take the handle before starting the pipeline).
pub fn checker(name: &str) -> CheckerHandle {
    CheckerHandle(shared(name))
}

/// A test's view of one checker's record. Cheap to clone.
#[derive(Clone)]
pub struct CheckerHandle(Arc<Shared>);

impl CheckerHandle {
    /// Groups received through `flush` (V1), in arrival order.
    pub fn log_groups(&self) -> Vec<LogGroup> {
        let state = self.0.state.lock();
        state
            .received
            .iter()
            .filter_map(|r| match r {
                Received::V1(g) => Some(g.clone()),
                Received::V2(_) => None,
            })
            .collect()
    }

    /// Groups received through `export` (V2), in arrival order, without their acknowledgements.
    pub fn groups(&self) -> Vec<PipelineGroupEvents> {
        let state = self.0.state.lock();
        state
            .received
            .iter()
            .filter_map(|r| match r {
                Received::V2(g) => Some(PipelineGroupEvents::new(g.group.clone(), g.events.clone())),
                Received::V1(_) => None,
            })
            .collect()
    }

    /// Logs (V1) plus events (V2) received by accepted calls.
    pub fn event_count(&self) -> usize {
        self.0.state.lock().events
    }

    /// The body of every log received, V1 and V2, in arrival order: the `content` key, or the
    /// first content when there is none. Events of other kinds have no body.
    pub fn bodies(&self) -> Vec<String> {
        let state = self.0.state.lock();
        let mut out = Vec::new();
        for r in &state.received {
            match r {
                Received::V1(g) => out.extend(g.logs.iter().map(|l| {
                    let body = l
                        .contents
                        .iter()
                        .find(|c| c.key == loong_api::model::BODY_KEY)
                        .or(l.contents.first());
                    body.map(|c| c.value.clone()).unwrap_or_default()
                })),
                Received::V2(g) => out.extend(g.events.iter().filter_map(|e| e.as_log()).map(|l| {
                    l.body()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default()
                })),
            }
        }
        out
    }

    /// flush/export calls, failed ones included.
    pub fn flush_calls(&self) -> u64 {
        self.0.state.lock().calls
    }

    /// `is_ready` calls: how often the runner polled.
    pub fn is_ready_calls(&self) -> u64 {
        self.0.state.lock().ready_calls
    }

    /// Makes the checker ready or not. Becoming ready wakes the runner (`Context::notify_ready`).
    pub fn set_ready(&self, ready: bool) {
        let wake = {
            let mut state = self.0.state.lock();
            let became_ready = ready && !state.ready;
            state.ready = ready;
            became_ready.then(|| state.ctx.clone()).flatten()
        };
        // Outside the lock: the runner's wake-up may call is_ready at once.
        if let Some(ctx) = wake {
            ctx.notify_ready();
        }
    }

    /// Waits until at least `n` events were received; false if `timeout` passes first.
    pub fn wait_for_events(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.0.state.lock();
        while state.events < n {
            if self.0.arrived.wait_until(&mut state, deadline).timed_out() {
                return state.events >= n;
            }
        }
        true
    }

    /// Forgets what was received and the call counts; readiness is kept.
    pub fn clear(&self) {
        let mut state = self.0.state.lock();
        state.received.clear();
        state.events = 0;
        state.calls = 0;
        state.ready_calls = 0;
    }
}

pub struct CheckerFlusher {
    config: CheckerConfig,
    shared: Option<Arc<Shared>>,
    failures_left: u32,
    urgent: bool,
}

impl CheckerFlusher {
    pub fn new(config: CheckerConfig) -> Self {
        CheckerFlusher {
            failures_left: config.fail_first,
            config,
            shared: None,
            urgent: false,
        }
    }

    /// Counts the call, fails it while `FailFirst` says so, else keeps what `keep` returns.
    fn record(&mut self, events: usize, keep: impl FnOnce() -> Vec<Received>) -> Result<()> {
        let shared = self
            .shared
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("flusher_checker used before init"))?;
        if self.failures_left > 0 {
            self.failures_left -= 1;
            shared.state.lock().calls += 1;
            anyhow::bail!(
                "flusher_checker: failing on purpose (FailFirst; {} more to go)",
                self.failures_left
            );
        }
        let received = keep();
        let mut state = shared.state.lock();
        state.calls += 1;
        state.received.extend(received);
        state.events += events;
        shared.arrived.notify_all();
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
            state.ready = self.config.ready;
            state.ctx = Some(ctx.clone());
        }
        self.shared = Some(shared);
        Ok(())
    }

    fn description(&self) -> &str {
        "checker flusher: keeps what it receives in memory for tests"
    }

    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        let mut state = shared.state.lock();
        state.ready_calls += 1;
        // An exiting agent must be able to stop: an urgent checker always takes data.
        self.urgent || state.ready
    }

    fn set_urgent(&mut self, flag: bool) {
        self.urgent = flag;
    }

    fn stop(&mut self) -> Result<()> {
        // Everything accepted is already in the record; nothing is buffered.
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
        let events = groups.iter().map(|g| g.logs.len()).sum();
        self.record(events, || groups.iter().cloned().map(Received::V1).collect())
    }
}

impl FlusherV2 for CheckerFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        let events = groups.iter().map(|g| g.events.len()).sum();
        self.record(events, || {
            groups
                .iter()
                // Copies without the acknowledgements: a kept copy must not delay an input's ack.
                .map(|g| Received::V2(PipelineGroupEvents::new(g.group.clone(), g.events.clone())))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use loong_testkit::{log_events, log_events_with_prefix, mock_context, sample_log_groups};

    use super::*;

    fn flusher(name: &str, fail_first: u32, ready: bool) -> CheckerFlusher {
        let mut f = CheckerFlusher::new(CheckerConfig {
            name: name.into(),
            fail_first,
            ready,
        });
        f.init(&mock_context(crate::NAME)).unwrap();
        f
    }

    #[test]
    fn fails_the_first_calls_then_keeps_data() {
        let mut f = flusher("unit-fail", 2, true);
        let h = checker("unit-fail");
        let batch = [log_events_with_prefix("u", 3)];
        let err = f.export(&batch, &mut PipelineContext::noop()).unwrap_err();
        assert!(err.to_string().contains("failing on purpose"), "{err}");
        assert!(f.export(&batch, &mut PipelineContext::noop()).is_err());
        assert_eq!(h.event_count(), 0, "failed calls keep nothing");
        f.export(&batch, &mut PipelineContext::noop()).unwrap();
        assert_eq!(h.flush_calls(), 3);
        assert_eq!(h.event_count(), 3);
        assert_eq!(h.bodies(), ["u-0", "u-1", "u-2"]);
        assert_eq!(h.groups()[0].events, batch[0].events);
    }

    #[test]
    fn keeps_v1_and_v2_in_arrival_order() {
        let mut f = flusher("unit-order", 0, true);
        let h = checker("unit-order");
        f.export(&[log_events(1)], &mut PipelineContext::noop()).unwrap();
        f.flush("p", "l", "c", &sample_log_groups()).unwrap();
        f.export(&[log_events_with_prefix("late", 1)], &mut PipelineContext::noop())
            .unwrap();
        assert_eq!(h.log_groups(), sample_log_groups());
        assert_eq!(h.groups().len(), 2);
        assert_eq!(h.event_count(), 7);
        assert_eq!(
            h.bodies(),
            ["log-0", "v1-a-0", "v1-a-1", "v1-a-2", "v1-b-0", "v1-b-1", "late-0"]
        );
        h.clear();
        assert_eq!((h.event_count(), h.flush_calls(), h.bodies().len()), (0, 0, 0));
    }

    #[test]
    fn readiness_follows_the_handle_and_wakes_the_runner() {
        let signal = loong_api::ReadySignal::default();
        let ctx = loong_api::Context::builder("test")
            .plugin(crate::NAME, "flusher_checker/1")
            .ready_signal(signal.clone())
            .build();
        let mut f = CheckerFlusher::new(CheckerConfig {
            name: "unit-ready".into(),
            fail_first: 0,
            ready: false,
        });
        f.init(&ctx).unwrap();
        let h = checker("unit-ready");
        assert!(!f.is_ready("", "", 0));
        let before = signal.generation();
        h.set_ready(true);
        assert!(signal.generation() > before, "becoming ready notifies the runner");
        assert!(f.is_ready("", "", 0));
        let again = signal.generation();
        h.set_ready(true);
        assert_eq!(signal.generation(), again, "no wake-up when nothing changed");
        h.set_ready(false);
        assert!(!f.is_ready("", "", 0));
        assert_eq!(h.is_ready_calls(), 3);
    }

    #[test]
    fn urgent_is_always_ready() {
        let mut f = flusher("unit-urgent", 0, false);
        assert!(!f.is_ready("", "", 0));
        f.set_urgent(true);
        assert!(f.is_ready("", "", 0));
    }

    #[test]
    fn empty_name_means_the_plugin_id() {
        let mut f = flusher("", 0, true);
        f.export(&[log_events(2)], &mut PipelineContext::noop()).unwrap();
        assert_eq!(checker("flusher_checker/1").event_count(), 2);
    }

    #[test]
    fn wait_for_events_wakes_on_arrival_and_times_out() {
        let mut f = flusher("unit-wait", 0, true);
        let h = checker("unit-wait");
        let waiting = Arc::new(AtomicBool::new(false));
        let (w, h2) = (waiting.clone(), h.clone());
        let waiter = std::thread::spawn(move || {
            w.store(true, Ordering::SeqCst);
            h2.wait_for_events(4, Duration::from_secs(30))
        });
        while !waiting.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let start = Instant::now();
        f.export(&[log_events(2)], &mut PipelineContext::noop()).unwrap();
        f.export(&[log_events(2)], &mut PipelineContext::noop()).unwrap();
        assert!(waiter.join().unwrap());
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(!h.wait_for_events(5, Duration::from_millis(20)));
    }

    #[test]
    fn options_decode_with_loongcollector_names() {
        let mut registry = loong_api::Registry::new();
        crate::register(&mut registry);
        let (_, warnings) = registry
            .create_flusher(
                crate::NAME,
                &serde_json::json!({"Name": "x", "FailFirst": 2, "Ready": false}),
            )
            .unwrap();
        assert!(warnings.is_empty());
        let (config, _) = loong_api::options::decode::<CheckerConfig>(&serde_json::json!({"failfirst": 3})).unwrap();
        assert_eq!(
            config,
            CheckerConfig {
                name: String::new(),
                fail_first: 3,
                ready: true
            }
        );
    }
}
