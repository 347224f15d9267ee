//! flusher_prometheus end to end: the `loong` binary writes metric_mock's metrics to the real
//! Prometheus server (Debian's, remote write receiver on, started by scripts/services.sh), and a
//! running pipeline outlives a Prometheus restart (same port, same data) without losing a sample.

mod common;

use std::time::Duration;

use common::{run_once, start, wait};
use loong_runtime::StopMode;
use loong_testkit::services::{Service, prometheus_series as query};

fn sample_count(prom: &Service, selector: &str) -> usize {
    query(prom, selector).iter().map(|(_, s)| s.len()).sum()
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
    run_once(&config, Some(&dir.path().join("data")));
    for (name, instance, n) in [("loong_e2e_requests", "h1", 400), ("loong_e2e_latency", "h2", 300)] {
        let series = query(&prom, name);
        assert_eq!(series.len(), 1, "{name}: {series:?}");
        assert_eq!(series[0].0["job"], "loong");
        assert_eq!(series[0].0["instance"], instance);
        assert_every_sample_in_order(&series[0].1, n);
    }
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
