//! Throughput of flusher_http to a local HTTP server (hyper on 127.0.0.1 that reads and discards
//! bodies): events/s and body MB/s for jsonline + gzip, and custom_single without compression.
//!
//! `cargo bench -p loong-flusher-http` (criterion prints time per batch of 4 × 1024 events; the
//! throughput lines give events/s and MiB/s of uncompressed body).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use loong_api::model::{GroupInfo, LogEvent, PipelineEvent};
use loong_api::{PipelineContext, PipelineGroupEvents};
use serde_json::json;

fn server() -> (u16, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, runtime)
}

/// 4 groups of 1024 nginx-like lines of ~200 bytes: one runner batch.
fn batch() -> (Vec<PipelineGroupEvents>, u64) {
    let mut bytes = 0;
    let groups = (0..4)
        .map(|g| {
            let mut info = GroupInfo::default();
            info.tags.insert("host", format!("web-{g}"));
            let events = (0..1024)
                .map(|i| {
                    let line = format!(
                        "10.0.{g}.{} - - [25/Nov/2026:10:00:00 +0000] \"GET /api/v1/items/{i}?page=3 HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
                        i % 250,
                        1000 + i
                    );
                    bytes += line.len() as u64;
                    PipelineEvent::Log(LogEvent::with_body(line, 1_700_000_000_000_000_000))
                })
                .collect();
            PipelineGroupEvents::new(info, events)
        })
        .collect();
    (groups, bytes)
}

fn bench(c: &mut Criterion) {
    let (port, _server) = server();
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (groups, bytes) = batch();
    let groups = Arc::new(groups);
    let mut registry = loong_api::Registry::new();
    loong_flusher_http::register(&mut registry);
    for (name, options) in [
        (
            "jsonline_gzip",
            json!({"Convert": {"Protocol": "jsonline"}, "Compression": "gzip", "Concurrency": 2}),
        ),
        (
            "jsonline_none",
            json!({"Convert": {"Protocol": "jsonline"}, "Concurrency": 2}),
        ),
        ("custom_single_none", json!({"Concurrency": 4})),
    ] {
        let mut options = options;
        options["RemoteURL"] = json!(format!("http://127.0.0.1:{port}/ingest"));
        let (mut f, _) = registry.create_flusher("flusher_http", &options).unwrap();
        let ctx = loong_api::Context::builder("bench")
            .plugin("flusher_http", "flusher_http/1")
            .runtime(io.handle().clone())
            .build();
        f.init(&ctx).unwrap();
        let mut group = c.benchmark_group("flusher_http");
        group.throughput(Throughput::Elements(4 * 1024));
        group.bench_function(format!("{name}/events"), |b| {
            b.iter(|| {
                f.as_v2()
                    .unwrap()
                    .export(&groups, &mut PipelineContext::noop())
                    .unwrap()
            })
        });
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(format!("{name}/bytes"), |b| {
            b.iter(|| {
                f.as_v2()
                    .unwrap()
                    .export(&groups, &mut PipelineContext::noop())
                    .unwrap()
            })
        });
        group.finish();
        f.stop().unwrap();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
