//! processor_parse_json_native on JSON log lines (about 300 bytes, 10 members, one nested object):
//! one group of 1024 lines per iteration.
//!
//! `cargo bench -p loong-processor-parse-json-native` (criterion prints the time per group and the
//! throughput in bytes of source lines; lines/s = bytes/s ÷ the mean line size printed first).

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use loong_api::model::{LogEvent, PipelineEvent};
use loong_api::{PipelineGroupEvents, Registry};
use serde_json::json;

const LINES: usize = 1024;

fn group() -> (PipelineGroupEvents, u64) {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for i in 0..LINES {
        let start = buf.len();
        let level = ["INFO", "WARN", "ERROR", "DEBUG"][i % 4];
        let line = json!({
            "time": format!("2023-10-10T13:55:{:02}.{:03}+08:00", i % 60, i % 1000),
            "level": level,
            "logger": "com.example.service.OrderService",
            "thread": format!("http-nio-8080-exec-{}", i % 16),
            "trace_id": format!("{:032x}", i * 7919),
            "user_id": 100000 + i,
            "latency_ms": (i % 500) as f64 / 3.0,
            "ok": i % 7 != 0,
            "request": {"method": "POST", "path": format!("/api/v1/orders/{i}"), "status": 200},
            "message": format!("order {i} created for customer \"c-{}\"", i % 97),
        });
        buf.extend_from_slice(serde_json::to_string(&line).unwrap().as_bytes());
        ranges.push(start..buf.len());
        buf.push(b'\n');
    }
    let chunk = Bytes::from(buf);
    let bytes = ranges.iter().map(|r| r.len() as u64).sum();
    let events = ranges
        .into_iter()
        .map(|r| PipelineEvent::Log(LogEvent::with_body(chunk.slice(r), 1)))
        .collect();
    (PipelineGroupEvents::new(Default::default(), events), bytes)
}

fn bench(c: &mut Criterion) {
    let mut registry = Registry::new();
    loong_processor_parse_json_native::register(&mut registry);
    let (mut p, _) = registry
        .create_processor(
            loong_processor_parse_json_native::NAME,
            &json!({"SourceKey": "content"}),
        )
        .unwrap();
    p.init(&loong_testkit::mock_context(loong_processor_parse_json_native::NAME))
        .unwrap();
    let (template, bytes) = group();
    println!("JSON lines: {LINES} per group, mean {} bytes", bytes / LINES as u64);
    let mut g = c.benchmark_group("parse_json_native");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("json_1024_lines", |b| {
        b.iter_batched(
            || template.clone(),
            |mut group| {
                p.as_v2().unwrap().process(&mut group);
                group
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
