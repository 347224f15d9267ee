//! processor_parse_delimiter_native on CSV-like lines (10 fields, some quoted): one group of 1024
//! lines per iteration, with a one-character separator (quote-aware) and with a two-character one.
//!
//! `cargo bench -p loong-processor-parse-delimiter-native` (criterion prints the time per group and
//! the throughput in bytes of source lines; lines/s = bytes/s ÷ the mean line size printed first).

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use loong_api::model::{LogEvent, PipelineEvent};
use loong_api::{PipelineGroupEvents, Registry};
use serde_json::json;

const LINES: usize = 1024;
const KEYS: [&str; 10] = [
    "ip",
    "time",
    "method",
    "url",
    "request_time",
    "request_length",
    "status",
    "length",
    "ref_url",
    "browser",
];

fn group(sep: &str) -> (PipelineGroupEvents, u64) {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for i in 0..LINES {
        let start = buf.len();
        let browser = if sep.len() == 1 {
            format!("\"Mozilla/5.0 (X11{sep} Linux x86_64) Chrome/{}.0\"", 100 + i % 20)
        } else {
            format!("Mozilla/5.0 (X11; Linux x86_64) Chrome/{}.0", 100 + i % 20)
        };
        let fields = [
            format!("10.0.{}.{}", i % 256, (i * 7) % 256),
            format!("2023-10-10 13:55:{:02}", i % 60),
            ["GET", "POST"][i % 2].to_owned(),
            format!("/PutData?Category=YunOsAccountOpLog&id={i}"),
            format!("0.{:03}", i % 1000),
            format!("{}", 18000 + i),
            ["200", "404"][i % 2].to_owned(),
            format!("{}", 37 + i % 100),
            "-".to_owned(),
            browser,
        ];
        buf.extend_from_slice(fields.join(sep).as_bytes());
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
    let mut g = c.benchmark_group("parse_delimiter_native");
    for (name, sep) in [("comma_quoted_1024_lines", ","), ("double_pipe_1024_lines", "||")] {
        let mut registry = Registry::new();
        loong_processor_parse_delimiter_native::register(&mut registry);
        let options = json!({"SourceKey": "content", "Separator": sep, "Keys": KEYS});
        let (mut p, _) = registry
            .create_processor(loong_processor_parse_delimiter_native::NAME, &options)
            .unwrap();
        p.init(&loong_testkit::mock_context(
            loong_processor_parse_delimiter_native::NAME,
        ))
        .unwrap();
        let (template, bytes) = group(sep);
        println!("{name}: {LINES} lines per group, mean {} bytes", bytes / LINES as u64);
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(name, |b| {
            b.iter_batched(
                || template.clone(),
                |mut group| {
                    p.as_v2().unwrap().process(&mut group);
                    group
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
