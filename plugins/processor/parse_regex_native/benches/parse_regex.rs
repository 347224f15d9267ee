//! processor_parse_regex_native on nginx access lines: one group of 1024 lines per iteration.
//!
//! `cargo bench -p loong-processor-parse-regex-native` (criterion prints the time per group and
//! the throughput in bytes of source lines; lines/s = bytes/s ÷ the mean line size printed first).

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use loong_api::model::{LogEvent, PipelineEvent};
use loong_api::{PipelineGroupEvents, Registry};
use serde_json::json;

const LINES: usize = 1024;

fn group() -> (PipelineGroupEvents, u64) {
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for i in 0..LINES {
        let start = buf.len();
        let line = format!(
            r#"10.0.{}.{} - - [10/Oct/2023:13:55:{:02} +0800] "{} /api/v1/items/{}?page={} HTTP/1.1" {} {} "https://example.com/list?q={}" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0 Safari/537.36""#,
            i % 256,
            (i * 7) % 256,
            i % 60,
            methods[i % 4],
            i * 31,
            i % 10,
            [200, 201, 304, 404, 500][i % 5],
            1000 + i * 13,
            i
        );
        buf.extend_from_slice(line.as_bytes());
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
    loong_processor_parse_regex_native::register(&mut registry);
    let options = json!({
        "SourceKey": "content",
        "Regex": r#"(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d+) (\d+) "([^"]*)" "([^"]*)""#,
        "Keys": ["remote_addr", "remote_user", "time_local", "method", "url", "protocol", "status",
                 "body_bytes_sent", "http_referer", "http_user_agent"],
    });
    let (mut p, _) = registry
        .create_processor(loong_processor_parse_regex_native::NAME, &options)
        .unwrap();
    p.init(&loong_testkit::mock_context(loong_processor_parse_regex_native::NAME))
        .unwrap();
    let (template, bytes) = group();
    println!("nginx lines: {LINES} per group, mean {} bytes", bytes / LINES as u64);
    let mut g = c.benchmark_group("parse_regex_native");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("nginx_1024_lines", |b| {
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
