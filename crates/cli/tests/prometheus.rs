//! flusher_prometheus end to end: the `loong` binary writes metric_mock's metrics to the real
//! Prometheus server (Debian's, remote write receiver on, started by scripts/services.sh), and a
//! running pipeline outlives a Prometheus restart (same port, same data) without losing a sample.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loong_api::MemoryCheckpoints;
use loong_runtime::builder::{self, Env};
use loong_runtime::{PipelineConfig, RunningPipeline, StopMode};
use loong_testkit::services::Service;
use serde_json::Value;

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").arg("-fsS").args(args).output().expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The series `selector` matches over the last hour, with their raw samples (ms, value).
fn query(prom: &Service, selector: &str) -> Vec<(Value, Vec<(i64, f64)>)> {
    let body = curl(&[
        "-G",
        &prom.url("/api/v1/query"),
        "--data-urlencode",
        &format!("query={selector}[1h]"),
    ]);
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let samples = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                        p[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect();
            (s["metric"].clone(), samples)
        })
        .collect()
}

fn sample_count(prom: &Service, selector: &str) -> usize {
    query(prom, selector).iter().map(|(_, s)| s.len()).sum()
}

fn wait(what: &str, timeout: Duration, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Values 1..=n in order with strictly increasing timestamps.
fn assert_every_sample_in_order(samples: &[(i64, f64)], n: usize) {
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    assert_eq!(values, (1..=n).map(|i| i as f64).collect::<Vec<_>>());
    assert!(samples.windows(2).all(|w| w[0].0 < w[1].0), "timestamps increase");
}

#[test]
fn loong_run_once_writes_every_sample_to_prometheus() {
    let prom = Service::start("prometheus");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("to_prometheus.yaml");
    std::fs::write(
        &config,
        format!(
            r#"# Two metric inputs → Prometheus remote write, in requests of at most 3 series.
global: {{StructureType: v2}}
inputs:
  - Type: metric_mock
    MetricName: loong_e2e_requests
    Fields: {{job: loong, instance: h1}}
    MaxEvents: 400
    Interval: 5ms
  - Type: metric_mock
    MetricName: loong_e2e_latency
    Fields: {{job: loong, instance: h2}}
    MaxEvents: 300
    Interval: 7ms
flushers:
  - Type: flusher_prometheus
    Endpoint: {}
    SeriesLimit: 3
    Concurrency: 2
"#,
            prom.url("/api/v1/write")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_loong"))
        .args(["run", "--once"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "loong run --once: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, instance, n) in [("loong_e2e_requests", "h1", 400), ("loong_e2e_latency", "h2", 300)] {
        let series = query(&prom, name);
        assert_eq!(series.len(), 1, "{name}: {series:?}");
        assert_eq!(series[0].0["job"], "loong");
        assert_eq!(series[0].0["instance"], instance);
        assert_every_sample_in_order(&series[0].1, n);
    }
}

fn runtime() -> tokio::runtime::Handle {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| tokio::runtime::Runtime::new().unwrap())
        .handle()
        .clone()
}

fn start(name: &str, yaml: &str) -> RunningPipeline {
    let env = Env {
        registry: Arc::new(loong_plugins_all::registry()),
        checkpoints: Arc::new(MemoryCheckpoints::default()),
        runtime: runtime(),
    };
    let config = PipelineConfig::parse(Path::new(&format!("{name}.yaml")), yaml).unwrap();
    RunningPipeline::start(builder::create(config, &env).unwrap().init().unwrap(), Vec::new())
}

#[test]
fn prometheus_stopped_mid_stream_and_restarted_loses_nothing() {
    let prom = Service::start("prometheus");
    let pipeline = start(
        "prometheus-outage",
        &format!(
            r#"
global: {{StructureType: v2, FlushRetry: {{InitialDelay: 100ms, MaxDelay: 1s}}}}
inputs: [{{Type: metric_mock, MetricName: loong_outage, Fields: {{job: loong}}, MaxEvents: 1500, Interval: 5ms}}]
flushers:
  - Type: flusher_prometheus
    Endpoint: {}
    SeriesLimit: 50
    Timeout: 2s
    Retry: {{MaxRetryTimes: 1, InitialDelay: 100ms, MaxDelay: 200ms}}
"#,
            prom.url("/api/v1/write")
        ),
    );
    wait("the first samples", Duration::from_secs(30), || {
        sample_count(&prom, "loong_outage") >= 200
    });
    prom.stop();
    std::thread::sleep(Duration::from_secs(3));
    prom.restart();
    wait("every sample after the restart", Duration::from_secs(60), || {
        sample_count(&prom, "loong_outage") >= 1500
    });
    pipeline.stop(StopMode::Drain);
    let series = query(&prom, "loong_outage");
    assert_eq!(series.len(), 1);
    assert_every_sample_in_order(&series[0].1, 1500);
}
