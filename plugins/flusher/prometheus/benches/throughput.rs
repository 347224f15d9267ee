//! Throughput of flusher_prometheus into the real Prometheus server on loopback (started by
//! scripts/services.sh), per CPU-second of this process, i.e. of the agent's side only: samples/s
//! and MB/s of (uncompressed) remote write protobuf, for 1000 series with 5 labels each.
//!
//! `cargo bench -p loong-flusher-prometheus` prints one line per case (`cargo test` runs a short
//! smoke version).

use std::time::Instant;

use loong_api::model::{GroupInfo, MetricEvent, MetricType, now_nanos};
use loong_api::{PipelineContext, PipelineGroupEvents};
use loong_testkit::services::Service;
use serde_json::json;

fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// One scrape of 1000 series (10 metrics × 100 targets) at `ms`.
fn scrape(ms: u64) -> Vec<PipelineGroupEvents> {
    (0..10)
        .map(|g| {
            let mut info = GroupInfo::default();
            info.tags.insert("job", "node");
            info.tags.insert("region", "eu-west-1");
            let events = (0..100)
                .map(|t| {
                    let mut m = MetricEvent::single(
                        format!("node_metric_{g}"),
                        MetricType::Gauge,
                        (ms % 1000) as f64 + t as f64,
                        ms * 1_000_000,
                    );
                    m.tags.insert("instance", format!("10.0.0.{t}:9100"));
                    m.tags.insert("cpu", (t % 8).to_string());
                    m.tags.insert("mode", "user");
                    m.into()
                })
                .collect();
            PipelineGroupEvents::new(info, events)
        })
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let prom = Service::start("prometheus");
    for (case, concurrency) in [
        ("SeriesLimit 1000, Concurrency 1", 1),
        ("SeriesLimit 1000, Concurrency 2", 2),
    ] {
        let mut registry = loong_api::Registry::new();
        loong_flusher_prometheus::register(&mut registry);
        let options = json!({"Endpoint": prom.url("/api/v1/write"), "Concurrency": concurrency});
        let (mut f, _) = registry
            .create_flusher(loong_flusher_prometheus::NAME, &options)
            .unwrap();
        let capture = loong_testkit::MetricsCapture::new();
        capture.scoped(|| {
            f.init(&loong_testkit::mock_context(loong_flusher_prometheus::NAME))
                .unwrap()
        });
        let start = now_nanos() / 1_000_000 - 3_000_000 + concurrency * 1_000_000;
        // A full run under `cargo bench`, a smoke test under `cargo test`.
        let n = if std::env::args().any(|a| a == "--bench") {
            200
        } else {
            3
        };
        let scrapes: Vec<_> = (0..n).map(|i| scrape(start + i * 1000)).collect();
        let samples: u64 = n * 1000;
        let bytes: usize = scrapes
            .iter()
            .map(|s| {
                s.iter()
                    .map(|g| {
                        let (series, _) = loong_converter::prometheus::series(g);
                        loong_converter::prometheus::encode(series, 0)
                            .iter()
                            .map(|b| b.len())
                            .sum::<usize>()
                    })
                    .sum::<usize>()
            })
            .sum();
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        for s in &scrapes {
            f.as_v2().unwrap().export(s, &mut PipelineContext::noop()).unwrap();
        }
        let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
        assert_eq!(
            capture.counter("prometheus_sent_samples_total"),
            samples,
            "every sample accepted"
        );
        println!(
            "{case:<32} {samples} samples, {:.1} MB protobuf in {wall:.2} s wall, {cpu:.2} CPU-s: {:>8.0} samples/CPU-s, {:>5.1} MB/CPU-s ({:.0} samples/s wall)",
            bytes as f64 / 1e6,
            samples as f64 / cpu,
            bytes as f64 / 1e6 / cpu,
            samples as f64 / wall
        );
    }
}
