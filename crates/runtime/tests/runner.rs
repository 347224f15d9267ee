//! The runner's contract, with plugins written for the purpose: a counting input and a flusher that
//! can fail or be not-ready on demand.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loong_api::model::{Ack, AckSet, AckStatus};
use loong_api::{
    BatchKey, Collector, Context, Flusher, FlusherV1, FlusherV2, GroupInfo, Input, LogEvent, LogGroup,
    MemoryCheckpoints, MetricInput, PipelineContext, PipelineEvent, PipelineGroupEvents, Registry, Result,
};
use loong_runtime::builder::{self, Env};
use loong_runtime::{PipelineConfig, RunningPipeline, StopMode};
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Shared state of the test plugins, looked up by the `Probe` option.
#[derive(Default)]
struct Probe {
    produced: AtomicU64,
    delivered: Mutex<Vec<u64>>,
    acked: Mutex<Vec<(u64, AckStatus)>>,
    fail_remaining: AtomicUsize,
    ready: AtomicBool,
    ready_calls: AtomicU64,
    calls: AtomicU64,
    urgent: AtomicBool,
    stopped: AtomicBool,
    /// Per call: the batch's key, its events, and whether the call failed.
    calls_seen: Mutex<Vec<(BatchKey, Vec<u64>, bool)>>,
}

static PROBES: Mutex<Vec<(String, Arc<Probe>)>> = Mutex::new(Vec::new());

fn probe(name: &str) -> Arc<Probe> {
    let mut probes = PROBES.lock();
    if let Some((_, p)) = probes.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let p = Arc::new(Probe {
        ready: AtomicBool::new(true),
        ..Default::default()
    });
    probes.push((name.to_owned(), p.clone()));
    p
}

/// Produces events numbered 0, 1, 2… each in its own group with an acknowledgement.
#[derive(Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
struct CountOpts {
    #[serde(rename = "Probe")]
    probe: String,
    #[serde(rename = "Max")]
    max: u64,
    /// Zero-pad each body to this many bytes.
    #[serde(rename = "Pad")]
    pad: usize,
}

struct CountInput {
    opts: CountOpts,
    probe: Arc<Probe>,
}

impl Input for CountInput {
    fn init(&mut self, _: &Context) -> Result<Option<Duration>> {
        Ok(Some(Duration::ZERO))
    }
    fn description(&self) -> &str {
        "counts"
    }
    fn as_metric(&mut self) -> Option<&mut dyn MetricInput> {
        Some(self)
    }
}

impl MetricInput for CountInput {
    fn collect(&mut self, collector: &mut Collector) -> Result<()> {
        let n = self.probe.produced.load(Ordering::SeqCst);
        if self.opts.max > 0 && n >= self.opts.max {
            std::thread::sleep(Duration::from_millis(5));
            return Ok(());
        }
        let probe = self.probe.clone();
        let ack = Ack::new(move |status| probe.acked.lock().push((n, status)));
        let event = PipelineEvent::Log(LogEvent::with_body(format!("{n:0>width$}", width = self.opts.pad), 0));
        collector.collect_acked(GroupInfo::default(), vec![event], AckSet::single(ack))?;
        self.probe.produced.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
struct ProbeOpts {
    #[serde(rename = "Probe")]
    probe: String,
}

struct ProbeFlusher {
    probe: Arc<Probe>,
}

impl ProbeFlusher {
    fn take(&self, key: BatchKey, bodies: impl Iterator<Item = u64>) -> Result<()> {
        self.probe.calls.fetch_add(1, Ordering::SeqCst);
        let bodies: Vec<u64> = bodies.collect();
        let remaining = self.probe.fail_remaining.load(Ordering::SeqCst);
        self.probe.calls_seen.lock().push((key, bodies.clone(), remaining > 0));
        if remaining > 0 {
            self.probe.fail_remaining.store(remaining - 1, Ordering::SeqCst);
            anyhow::bail!("backend unavailable ({remaining} more failures)");
        }
        self.probe.delivered.lock().extend(bodies);
        Ok(())
    }
}

impl Flusher for ProbeFlusher {
    fn init(&mut self, _: &Context) -> Result<()> {
        Ok(())
    }
    fn description(&self) -> &str {
        "records what it is given"
    }
    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        self.probe.ready_calls.fetch_add(1, Ordering::SeqCst);
        self.probe.ready.load(Ordering::SeqCst) || self.probe.urgent.load(Ordering::SeqCst)
    }
    fn set_urgent(&mut self, flag: bool) {
        self.probe.urgent.store(flag, Ordering::SeqCst);
    }
    fn stop(&mut self) -> Result<()> {
        self.probe.stopped.store(true, Ordering::SeqCst);
        Ok(())
    }
    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        Some(self)
    }
    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV1 for ProbeFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        let bodies = groups
            .iter()
            .flat_map(|g| &g.logs)
            .map(|l| l.contents[0].value.parse::<u64>().unwrap());
        self.take(BatchKey::of(groups), bodies.collect::<Vec<_>>().into_iter())
    }
}

impl FlusherV2 for ProbeFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        let bodies: Vec<u64> = groups
            .iter()
            .flat_map(|g| &g.events)
            .map(|e| {
                std::str::from_utf8(e.as_log().unwrap().body().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        self.take(BatchKey::of(groups), bodies.into_iter())
    }
}

fn env() -> Env {
    let mut r = Registry::new();
    r.add_input_creator("metric_count", |o: CountOpts| {
        Box::new(CountInput {
            probe: probe(&o.probe),
            opts: o,
        })
    });
    r.add_flusher_creator("flusher_probe", |o: ProbeOpts| {
        Box::new(ProbeFlusher { probe: probe(&o.probe) })
    });
    assert!(r.problems().is_empty());
    Env {
        registry: Arc::new(r),
        checkpoints: Arc::new(MemoryCheckpoints::default()),
        runtime: tokio::runtime::Handle::try_current().unwrap_or_else(|_| {
            static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
            RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
                .handle()
                .clone()
        }),
    }
}

fn start(name: &str, yaml: &str, carried: Vec<loong_runtime::runner::Batch>) -> RunningPipeline {
    let config = PipelineConfig::parse(Path::new(&format!("{name}.yaml")), yaml).unwrap();
    let built = builder::create(config, &env()).unwrap().init().unwrap();
    RunningPipeline::start(built, carried)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn assert_exactly(delivered: &[u64], n: u64) {
    let set: BTreeSet<u64> = delivered.iter().copied().collect();
    assert_eq!(set.len(), delivered.len(), "duplicates delivered");
    assert_eq!(set, (0..n).collect::<BTreeSet<_>>(), "missing or extra events");
}

#[test]
fn failing_flusher_loses_nothing_and_acks_only_after_delivery() {
    let p = probe("retry");
    p.fail_remaining.store(6, Ordering::SeqCst);
    let pipeline = start(
        "retry",
        r#"
global: {StructureType: v2, FlushRetry: {InitialDelay: 5ms, MaxDelay: 20ms}}
inputs: [{Type: metric_count, Probe: retry, Max: 500}]
aggregators: []
flushers: [{Type: flusher_probe, Probe: retry}]
"#,
        Vec::new(),
    );
    wait_until("500 produced", Duration::from_secs(20), || {
        p.produced.load(Ordering::SeqCst) == 500
    });
    wait_until("all delivered", Duration::from_secs(30), || {
        p.delivered.lock().len() >= 500
    });
    assert!(
        p.calls.load(Ordering::SeqCst) >= 7,
        "the first six calls failed and were retried"
    );
    assert!(p.acked.lock().len() <= 500);
    pipeline.stop(StopMode::Drain);
    assert_exactly(&p.delivered.lock(), 500);
    let acked = p.acked.lock();
    assert_eq!(acked.len(), 500, "every event acknowledged once");
    assert!(acked.iter().all(|(_, s)| *s == AckStatus::Delivered));
    assert!(p.stopped.load(Ordering::SeqCst), "flusher stopped");
}

#[test]
fn not_ready_flusher_holds_the_pipeline_without_polling_and_input_stops() {
    let p = probe("hold");
    p.ready.store(false, Ordering::SeqCst);
    let pipeline = start(
        "hold",
        r#"
global: {StructureType: v2, DefaultLogQueueSize: 10, DefaultLogGroupQueueSize: 2}
inputs: [{Type: metric_count, Probe: hold}]
flushers: [{Type: flusher_probe, Probe: hold}]
"#,
        Vec::new(),
    );
    // Batches of 1024 events: one held by the flush loop, two queued, one the processor is blocked
    // sending; plus the input queue of 10 groups of one event.
    wait_until("input blocked", Duration::from_secs(20), || {
        let before = p.produced.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        before > 0 && p.produced.load(Ordering::SeqCst) == before
    });
    let produced = p.produced.load(Ordering::SeqCst);
    assert!(
        produced <= 1024 * (1 + 2 + 1) + 10 + 1,
        "bounded queues: {produced} produced"
    );
    let calls_before = p.ready_calls.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    let polls = p.ready_calls.load(Ordering::SeqCst) - calls_before;
    // A 10 ms busy poll would be ~200 calls in 2 s; the backoff caps the wait at 500 ms.
    assert!(polls <= 8, "is_ready polled {polls} times in 2 s");
    assert_eq!(p.produced.load(Ordering::SeqCst), produced, "input stopped reading");
    assert!(p.delivered.lock().is_empty());

    p.ready.store(true, Ordering::SeqCst);
    wait_until("delivery resumes", Duration::from_secs(10), || {
        p.delivered.lock().len() as u64 > produced
    });
    pipeline.stop(StopMode::Drain);
    let delivered = p.delivered.lock().clone();
    assert_exactly(&delivered, p.produced.load(Ordering::SeqCst));
}

#[test]
fn the_input_queue_is_bounded_in_bytes_too() {
    let p = probe("bytes");
    p.ready.store(false, Ordering::SeqCst);
    let pipeline = start(
        "bytes",
        r#"
global: {StructureType: v2, DefaultLogQueueSize: 1000, DefaultLogQueueBytes: 100000, DefaultLogGroupQueueSize: 1}
inputs: [{Type: metric_count, Probe: bytes, Pad: 10000}]
flushers: [{Type: flusher_probe, Probe: bytes}]
"#,
        Vec::new(),
    );
    wait_until("input blocked", Duration::from_secs(20), || {
        let before = p.produced.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        before > 0 && p.produced.load(Ordering::SeqCst) == before
    });
    let produced = p.produced.load(Ordering::SeqCst);
    // Downstream: three batches of ~3 MiB (≈315 events of 10 kB): held by the flush loop, queued,
    // and being sent by the processor. Upstream: 100 kB of the input queue, not its 1000 groups.
    assert!(
        produced <= 3 * 315 + 10 + 2,
        "the byte budget bounds the input queue: {produced} produced"
    );
    p.ready.store(true, Ordering::SeqCst);
    wait_until("delivery resumes", Duration::from_secs(10), || {
        p.delivered.lock().len() as u64 > produced
    });
    pipeline.stop(StopMode::Drain);
    assert_exactly(&p.delivered.lock().clone(), p.produced.load(Ordering::SeqCst));
}

#[test]
fn handover_carries_unsent_batches_to_the_new_instance() {
    let old = probe("handover-old");
    old.ready.store(false, Ordering::SeqCst);
    let pipeline = start(
        "handover",
        r#"
global: {StructureType: v1}
inputs: [{Type: metric_count, Probe: handover-old, Max: 300}]
aggregators: []
flushers: [{Type: flusher_probe, Probe: handover-old}]
"#,
        Vec::new(),
    );
    wait_until("300 produced", Duration::from_secs(20), || {
        old.produced.load(Ordering::SeqCst) == 300
    });
    std::thread::sleep(Duration::from_millis(100));
    let carried = pipeline.stop(StopMode::Handover);
    assert!(old.delivered.lock().is_empty());
    assert!(old.acked.lock().is_empty(), "nothing acknowledged before delivery");
    let events: usize = carried.iter().map(|b| b.event_count()).sum();
    let new = probe("handover-new");
    new.produced.store(u64::MAX / 2, Ordering::SeqCst);
    let pipeline = start(
        "handover",
        r#"
inputs: [{Type: metric_count, Probe: handover-new, Max: 1}]
flushers: [{Type: flusher_probe, Probe: handover-new}]
"#,
        carried,
    );
    wait_until("carried batches delivered", Duration::from_secs(10), || {
        new.delivered.lock().len() >= events
    });
    pipeline.stop(StopMode::Drain);
    // Everything the old instance held (aggregator content included) went to the new flusher.
    assert_eq!(events, 300);
    assert_exactly(&new.delivered.lock(), 300);
    assert_eq!(old.acked.lock().len(), 300);
}

#[test]
fn stop_is_bounded_and_leaves_undelivered_data_unacknowledged() {
    let p = probe("bounded");
    p.fail_remaining.store(usize::MAX, Ordering::SeqCst);
    let pipeline = start(
        "bounded",
        r#"
global: {StopTimeout: 1s, FlushRetry: {InitialDelay: 10ms, MaxDelay: 50ms}}
inputs: [{Type: metric_count, Probe: bounded, Max: 50}]
aggregators: []
flushers: [{Type: flusher_probe, Probe: bounded}]
"#,
        Vec::new(),
    );
    wait_until("50 produced", Duration::from_secs(20), || {
        p.produced.load(Ordering::SeqCst) == 50
    });
    let start = Instant::now();
    pipeline.stop(StopMode::Drain);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "stop took {:?}",
        start.elapsed()
    );
    assert!(p.urgent.load(Ordering::SeqCst), "set_urgent(true) was called");
    assert!(p.stopped.load(Ordering::SeqCst));
    let acked = p.acked.lock();
    assert_eq!(acked.len(), 50);
    assert!(acked.iter().all(|(_, s)| *s == AckStatus::Abandoned), "{acked:?}");
}

#[test]
fn explicit_drop_policy_is_counted_as_dropped() {
    let p = probe("drop");
    p.fail_remaining.store(usize::MAX, Ordering::SeqCst);
    let pipeline = start(
        "drop",
        r#"
global: {FlushRetry: {MaxRetries: 2, InitialDelay: 1ms, MaxDelay: 2ms}}
inputs: [{Type: metric_count, Probe: drop, Max: 20}]
aggregators: []
flushers: [{Type: flusher_probe, Probe: drop}]
"#,
        Vec::new(),
    );
    wait_until("all acknowledged", Duration::from_secs(20), || {
        p.acked.lock().len() == 20
    });
    pipeline.stop(StopMode::Drain);
    assert!(p.acked.lock().iter().all(|(_, s)| *s == AckStatus::Dropped));
    assert!(p.delivered.lock().is_empty());
}

#[test]
fn a_batch_key_names_one_batch_even_after_a_drop() {
    // A flusher resuming a partly sent batch relies on it: a retry has the key of the failed call,
    // and the batch after one given up on (MaxRetries) never has it, though it could reuse the memory.
    for structure in ["v1", "v2"] {
        let name = format!("key-{structure}");
        let p = probe(&name);
        p.fail_remaining.store(7, Ordering::SeqCst);
        let pipeline = start(
            &name,
            &format!(
                r#"
global: {{StructureType: {structure}, FlushRetry: {{MaxRetries: 2, InitialDelay: 1ms, MaxDelay: 1ms}}}}
inputs: [{{Type: metric_count, Probe: {name}, Max: 20000}}]
aggregators: []
flushers: [{{Type: flusher_probe, Probe: {name}}}]
"#
            ),
            Vec::new(),
        );
        wait_until("all acknowledged", Duration::from_secs(20), || {
            p.acked.lock().len() == 20000
        });
        pipeline.stop(StopMode::Drain);
        let calls = p.calls_seen.lock();
        let after_a_drop = calls.windows(2).filter(|w| w[0].2 && w[0].1 != w[1].1).count();
        assert!(
            after_a_drop >= 1,
            "{structure}: no batch followed a dropped one in {} calls",
            calls.len()
        );
        for pair in calls.windows(2) {
            let ((key, events, failed), (next_key, next_events, _)) = (&pair[0], &pair[1]);
            if *failed {
                assert_eq!(key == next_key, events == next_events, "{structure}: {pair:?}");
            }
        }
        let dropped = p.acked.lock().iter().filter(|(_, s)| *s == AckStatus::Dropped).count();
        assert!(dropped > 0, "{structure}: some batches were given up on");
    }
}
