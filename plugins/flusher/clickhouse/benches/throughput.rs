//! Throughput of flusher_clickhouse into the real ClickHouse server on loopback (started by
//! scripts/services.sh), per CPU-second of this process, i.e. of the agent's side only (the server
//! runs in its own process): events/s and MB/s of log text, for LoongCollector's layout and for a
//! typed mapping, with lz4 (the default) and without compression.
//!
//! `cargo bench -p loong-flusher-clickhouse` prints one line per case (`cargo test` runs a short
//! smoke version).

use std::time::Instant;

use loong_api::model::{GroupInfo, LogEvent, PipelineEvent};
use loong_api::{PipelineContext, PipelineGroupEvents};
use loong_testkit::services::Service;
use serde_json::json;

/// CPU time (user + system) of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// One runner batch: 4 groups of 1024 nginx-like lines of ~200 bytes.
fn batch(n: usize) -> (Vec<PipelineGroupEvents>, u64) {
    let mut bytes = 0;
    let groups = (0..4)
        .map(|g| {
            let mut info = GroupInfo::default();
            info.tags.insert("host", format!("web-{g}"));
            info.metadata.insert("__path__", "/var/log/nginx/access.log");
            let events = (0..1024)
                .map(|i| {
                    let line = format!(
                        "10.0.{g}.{} - - [25/Nov/2026:10:00:00 +0000] \"GET /api/v1/items/{}?page=3 HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
                        i % 250,
                        n * 4096 + g * 1024 + i,
                        1000 + i
                    );
                    bytes += line.len() as u64;
                    PipelineEvent::Log(LogEvent::with_body(line, 1_700_000_000_000_000_000 + i as u64))
                })
                .collect();
            PipelineGroupEvents::new(info, events)
        })
        .collect();
    (groups, bytes)
}

/// Batches per case: a full run under `cargo bench`, a smoke test of two under `cargo test`.
fn batches() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        60
    } else {
        2
    }
}

fn run(case: &str, options: serde_json::Value) {
    let mut registry = loong_api::Registry::new();
    loong_flusher_clickhouse::register(&mut registry);
    let (mut f, _) = registry
        .create_flusher(loong_flusher_clickhouse::NAME, &options)
        .unwrap();
    f.init(&loong_testkit::mock_context(loong_flusher_clickhouse::NAME))
        .unwrap();
    let batches: Vec<_> = (0..batches()).map(batch).collect();
    let events: u64 = batches
        .iter()
        .map(|(g, _)| g.iter().map(|g| g.events.len() as u64).sum::<u64>())
        .sum();
    let bytes: u64 = batches.iter().map(|(_, b)| b).sum();
    // Warm up (connections, table setup).
    f.as_v2()
        .unwrap()
        .export(&batch(999).0, &mut PipelineContext::noop())
        .unwrap();
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    for (groups, _) in &batches {
        f.as_v2().unwrap().export(groups, &mut PipelineContext::noop()).unwrap();
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    println!(
        "{case:<34} {events} events, {:.1} MB in {wall:.2} s wall, {cpu:.2} CPU-s: {:>9.0} events/CPU-s, {:>6.1} MB/CPU-s ({:.0} events/s wall)",
        bytes as f64 / 1e6,
        events as f64 / cpu,
        bytes as f64 / 1e6 / cpu,
        events as f64 / wall
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let ch = Service::start("clickhouse");
    let sql = |q: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--fail-with-body", &ch.url("/"), "--data-binary", q])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    };
    sql("CREATE TABLE access (time DateTime, host String, path String, body String) ENGINE = MergeTree ORDER BY time");
    let address = format!("127.0.0.1:{}", ch.port());
    let typed = json!({"time": "timestamp", "host": "tag.host", "path": "metadata.__path__", "body": "body"});
    for (case, options) in [
        (
            "LoongCollector layout, lz4",
            json!({"Addresses": [address], "Table": "bench"}),
        ),
        (
            "LoongCollector layout, none",
            json!({"Addresses": [address], "Table": "bench", "Compression": "none"}),
        ),
        (
            "typed Columns, lz4",
            json!({"Addresses": [address], "Table": "access", "Columns": typed}),
        ),
        (
            "typed Columns, none",
            json!({"Addresses": [address], "Table": "access", "Columns": typed, "Compression": "none"}),
        ),
        (
            "typed Columns, gzip",
            json!({"Addresses": [address], "Table": "access", "Columns": typed, "Compression": "gzip"}),
        ),
    ] {
        run(case, options);
    }
}
