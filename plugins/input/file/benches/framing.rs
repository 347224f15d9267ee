//! The hot path of input_file, without the file system: framing 512-byte lines out of 512 KiB blocks
//! (alone, and building the log events the input sends), and joining Java stack traces into records
//! with a start pattern.
//!
//! `cargo bench -p loong-input-file` (criterion reports MiB/s of input).

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loong_api::model::{LogEvent, PipelineEvent};
use loong_input_file::framer::{BLOCK_SIZE, Framer, Line, LineSink};
use loong_input_file::multiline::{Lines, Matcher, Patterns, RecordSink};
use loong_input_file::{MultilineMode, MultilineOptions, UnmatchedContentTreatment};

const TOTAL: usize = 16 << 20;

/// 16 MiB of 512-byte lines (511 bytes of text and `\n`) that look like access logs.
fn single_lines() -> Vec<u8> {
    let mut out = Vec::with_capacity(TOTAL + 512);
    let mut i = 0u64;
    while out.len() < TOTAL {
        let mut line = format!(
            "2024-05-01T10:00:00.{:06}Z 10.0.{}.{} GET /api/v1/items/{i}?page={} 200 {} \"Mozilla/5.0 (X11; Linux x86_64)\" ",
            i % 1_000_000,
            i % 256,
            (i * 7) % 256,
            i % 17,
            1000 + i % 5000
        );
        while line.len() < 511 {
            line.push('x');
        }
        line.truncate(511);
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        i += 1;
    }
    out
}

/// 16 MiB of Java-style stack traces: a header line and 10 to 30 `\tat …` lines each.
fn stack_traces() -> Vec<u8> {
    let mut out = Vec::with_capacity(TOTAL + 4096);
    let mut i = 0u64;
    while out.len() < TOTAL {
        out.extend_from_slice(
            format!(
                "2024-05-01 10:00:{:02} ERROR [worker-{}] request {i} failed\n",
                i % 60,
                i % 8
            )
            .as_bytes(),
        );
        out.extend_from_slice(format!("java.lang.IllegalStateException: state {i} is invalid\n").as_bytes());
        for f in 0..(10 + i % 21) {
            out.extend_from_slice(
                format!(
                    "\tat com.example.service.Handler{f}.process(Handler{f}.java:{})\n",
                    100 + f
                )
                .as_bytes(),
            );
        }
        i += 1;
    }
    out
}

struct CountLines(u64);

impl LineSink for CountLines {
    fn line(&mut self, line: Line<'_>) {
        let content = line.content();
        self.0 += content.len() as u64 + 1;
    }
}

/// Builds the events the input would send, one vector per block.
struct Events(Vec<PipelineEvent>, u64);

impl RecordSink for Events {
    fn record(&mut self, r: Line<'_>) {
        let mut e = LogEvent::with_body(r.content(), 1);
        e.offset = r.offset;
        e.raw_size = r.raw_len;
        self.0.push(PipelineEvent::Log(e));
    }
    fn discard(&mut self, _: u64) {}
}

impl LineSink for Events {
    fn line(&mut self, line: Line<'_>) {
        self.record(line);
    }
}

fn frame_all<K: LineSink>(data: &[u8], sink: &mut K, mut after_block: impl FnMut(&mut K)) {
    let mut framer = Framer::new(0, 512 * 1024, false);
    let mut src = data;
    while framer.read(&mut src, BLOCK_SIZE, sink).unwrap() > 0 {
        after_block(sink);
    }
}

fn splitter(c: &mut Criterion) {
    let data = single_lines();
    let mut g = c.benchmark_group("split_512B_lines");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.bench_function("frame", |b| {
        b.iter(|| {
            let mut sink = CountLines(0);
            frame_all(&data, &mut sink, |_| {});
            assert_eq!(sink.0, data.len() as u64);
        })
    });
    g.bench_function("frame_and_build_events", |b| {
        b.iter(|| {
            let mut sink = Events(Vec::with_capacity(1100), 0);
            frame_all(&data, &mut sink, |s| {
                s.1 += s.0.len() as u64;
                s.0 = Vec::with_capacity(1100);
            });
            assert_eq!(sink.1, (data.len() / 512) as u64);
        })
    });
    g.finish();
}

fn multiline(c: &mut Criterion) {
    let data = Bytes::from(stack_traces());
    let options = MultilineOptions {
        mode: MultilineMode::Custom,
        start_pattern: r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} .*".into(),
        continue_pattern: String::new(),
        end_pattern: String::new(),
        unmatched_content_treatment: UnmatchedContentTreatment::SingleLine,
    };
    let patterns = Patterns::compile(&options).unwrap().unwrap();
    let mut g = c.benchmark_group("multiline_java_stack_traces");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.bench_function("start_pattern", |b| {
        b.iter(|| {
            let mut matcher = Matcher::new(patterns.clone(), 512 * 1024);
            let mut framer = Framer::new(0, 512 * 1024, false);
            let mut records = Events(Vec::with_capacity(256), 0);
            let mut src: &[u8] = &data;
            loop {
                let mut lines = Lines {
                    matcher: Some(&mut matcher),
                    sink: &mut records,
                };
                if framer.read(&mut src, BLOCK_SIZE, &mut lines).unwrap() == 0 {
                    break;
                }
                records.1 += records.0.len() as u64;
                records.0.clear();
            }
            matcher.flush(&mut records);
            records.1 += records.0.len() as u64;
            assert!(records.1 > 10_000);
        })
    });
    g.finish();
}

criterion_group!(benches, splitter, multiline);
criterion_main!(benches);
