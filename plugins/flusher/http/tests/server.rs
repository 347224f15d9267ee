//! flusher_http against a real HTTP server (the test kit's `HttpSink`, hyper on 127.0.0.1) that
//! records every request, decodes its compression, and answers with scripted status codes.

use std::sync::Arc;

use loong_api::{Flusher, PipelineContext, PipelineGroupEvents};
use loong_testkit::http_sink::HttpSink as Server;
use serde_json::{Value, json};

fn flusher(options: Value) -> Box<dyn Flusher> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_http::register(&mut registry);
    let (mut f, warnings) = registry.create_flusher("flusher_http", &options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    f.init(&loong_testkit::mock_context("flusher_http")).unwrap();
    f
}

fn export(f: &mut Box<dyn Flusher>, groups: &[PipelineGroupEvents]) -> loong_api::Result<()> {
    f.as_v2().unwrap().export(groups, &mut PipelineContext::noop())
}

fn fast_retry() -> Value {
    json!({"Enable": true, "MaxRetryTimes": 3, "InitialDelay": "5ms", "MaxDelay": "20ms"})
}

#[test]
fn conformance_against_a_real_server() {
    let server = Arc::new(Server::start());
    let s = server.clone();
    loong_testkit::Conformance::from_registry(
        loong_flusher_http::register,
        "flusher_http",
        json!({"RemoteURL": server.url("/ingest")}),
    )
    .read_back(move || s.bodies())
    .run();
}

#[test]
fn every_compression_is_decoded_by_the_server() {
    for codec in ["gzip", "snappy", "zstd", "lz4", ""] {
        let server = Server::start();
        let mut f =
            flusher(json!({"RemoteURL": server.url("/c"), "Compression": codec, "Convert": {"Protocol": "jsonline"}}));
        export(&mut f, &[loong_testkit::log_events_with_prefix(codec, 20)]).unwrap();
        f.stop().unwrap();
        let got = server.received();
        assert!(!got.is_empty(), "{codec}: nothing received");
        let encoding = got[0]
            .headers
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(encoding.as_deref(), if codec.is_empty() { None } else { Some(codec) });
        let mut bodies = server.bodies();
        bodies.sort();
        let mut want: Vec<String> = (0..20).map(|i| format!("{codec}-{i}")).collect();
        want.sort();
        assert_eq!(bodies, want, "{codec}");
    }
}

#[test]
fn headers_and_query_take_values_from_the_data() {
    let server = Server::start();
    let mut f = flusher(json!({
        "RemoteURL": server.url("/v"),
        "Headers": {"X-Host": "%{tag.host}", "X-Static": "s"},
        "Query": {"seq": "%{content.seq}", "db": "logs"},
    }));
    export(&mut f, &[loong_testkit::log_events_with_prefix("v", 3)]).unwrap();
    let got = server.received();
    assert_eq!(got.len(), 3, "custom_single sends one request per log");
    for r in &got {
        assert_eq!(r.headers["x-host"], "test-host");
        assert_eq!(r.headers["x-static"], "s");
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(r.path_and_query.starts_with("/v?"), "{}", r.path_and_query);
        assert!(r.path_and_query.contains("db=logs"), "{}", r.path_and_query);
    }
    let mut seqs: Vec<String> = got
        .iter()
        .map(|r| {
            r.path_and_query
                .split('&')
                .find_map(|p| p.strip_prefix("seq=").or_else(|| p.strip_prefix("/v?seq=")))
                .unwrap()
                .to_owned()
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, vec!["0", "1", "2"]);
}

#[test]
fn retries_5xx_401_429_then_succeeds_and_does_not_retry_400() {
    let server = Server::start();
    server.script(&[503, 401, 429]);
    let mut f =
        flusher(json!({"RemoteURL": server.url("/r"), "Retry": fast_retry(), "Convert": {"Protocol": "jsonline"}}));
    export(&mut f, &[loong_testkit::log_events_with_prefix("r", 5)]).unwrap();
    assert_eq!(server.bodies().len(), 5, "delivered after three retryable failures");

    server.script(&[400]);
    export(&mut f, &[loong_testkit::log_events_with_prefix("bad", 5)]).unwrap();
    assert!(
        !server.bodies().iter().any(|b| b.starts_with("bad")),
        "a 400 is rejected, not retried"
    );
    export(&mut f, &[loong_testkit::log_events_with_prefix("after", 2)]).unwrap();
    assert_eq!(
        server.bodies().iter().filter(|b| b.starts_with("after")).count(),
        2,
        "the next batch goes through"
    );
}

#[test]
fn a_batch_that_still_fails_is_returned_and_its_retry_skips_what_was_sent() {
    let server = Server::start();
    let mut f = flusher(
        json!({"RemoteURL": server.url("/p"), "Retry": {"MaxRetryTimes": 1, "InitialDelay": "1ms", "MaxDelay": "2ms"}}),
    );
    // custom_single: 4 requests; with one worker they go in order, the 3rd fails twice.
    server.script(&[200, 200, 500, 500]);
    let batch = [loong_testkit::log_events_with_prefix("p", 4)];
    let err = export(&mut f, &batch).unwrap_err().to_string();
    assert!(err.contains("1 of 4 requests failed after retries"), "{err}");
    export(&mut f, &batch).unwrap();
    let mut bodies = server.bodies();
    bodies.sort();
    assert_eq!(bodies, vec!["p-0", "p-1", "p-2", "p-3"], "each exactly once");
}

#[test]
fn server_down_then_back_loses_nothing() {
    // Nothing listens on this port yet: connection refused is a retryable transport error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut f =
        flusher(json!({"RemoteURL": format!("http://127.0.0.1:{port}/d"), "Retry": fast_retry(), "Timeout": "2s"}));
    let batch = [loong_testkit::log_events_with_prefix("d", 3)];
    assert!(export(&mut f, &batch).is_err(), "the runner gets the batch back");
    // The server comes up on that port; the runner's retry then delivers everything.
    let server = Server::start_on(port);
    export(&mut f, &batch).unwrap();
    let mut bodies = server.bodies();
    bodies.sort();
    assert_eq!(bodies, vec!["d-0", "d-1", "d-2"]);
}

#[test]
fn init_checks_options() {
    let mut registry = loong_api::Registry::new();
    loong_flusher_http::register(&mut registry);
    let ctx = loong_testkit::mock_context("flusher_http");
    for (options, want) in [
        (json!({}), "RemoteURL is empty"),
        (
            json!({"RemoteURL": "http://x", "Concurrency": 0}),
            "Concurrency must be at least 1",
        ),
        (
            json!({"RemoteURL": "http://x", "Compression": "brotli"}),
            "unsupported Compression",
        ),
        (json!({"RemoteURL": "ftp://x"}), "must be http or https, not ftp"),
    ] {
        let (mut f, _) = registry.create_flusher("flusher_http", &options).unwrap();
        let err = f.init(&ctx).unwrap_err().to_string();
        assert!(err.contains(want), "{options}: {err}");
    }
}

#[test]
fn queue_capacity_bounds_a_flush_and_drop_event_when_queue_full_counts_the_rest() {
    let capture = loong_testkit::MetricsCapture::new();
    for (drop, want) in [(true, 3), (false, 10)] {
        let server = Server::start();
        // custom_single: one payload per event; room for QueueCapacity + Concurrency payloads.
        let mut f = capture.scoped(|| {
            flusher(json!({"RemoteURL": server.url("/q"), "QueueCapacity": 2, "DropEventWhenQueueFull": drop}))
        });
        export(&mut f, &[loong_testkit::log_events_with_prefix("q", 10)]).unwrap();
        assert_eq!(server.bodies().len(), want, "DropEventWhenQueueFull: {drop}");
    }
    assert_eq!(
        capture.counter("http_dropped_events_total"),
        7,
        "dropped events are counted"
    );
}

#[test]
fn a_stalled_server_times_out_and_the_batch_is_delivered_once_it_answers() {
    let server = Server::start();
    server.stall(Some(std::time::Duration::from_secs(30)));
    let mut f = flusher(json!({
        "RemoteURL": server.url("/s"), "Timeout": "300ms", "Convert": {"Protocol": "jsonline"},
        "Retry": {"MaxRetryTimes": 1, "InitialDelay": "10ms", "MaxDelay": "10ms"},
    }));
    let batch = [loong_testkit::log_events_with_prefix("s", 4)];
    let err = export(&mut f, &batch).unwrap_err().to_string();
    assert!(err.contains("timed out") || err.contains("timeout"), "{err}");
    server.stall(None);
    export(&mut f, &batch).unwrap();
    let mut bodies: Vec<String> = server.bodies();
    bodies.sort();
    assert_eq!(bodies, vec!["s-0", "s-1", "s-2", "s-3"]);
}

#[test]
fn requests_go_through_the_proxy() {
    // The recording server plays the proxy: it receives the absolute-form request for the target.
    let proxy = Server::start();
    let mut f = flusher(json!({
        "RemoteURL": "http://collector.example.invalid:9000/ingest?x=1", "Proxy": proxy.url(""),
        "Convert": {"Protocol": "jsonline"},
    }));
    export(&mut f, &[loong_testkit::log_events_with_prefix("p", 2)]).unwrap();
    let got = proxy.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path_and_query, "/ingest?x=1");
    assert_eq!(got[0].headers["host"], "collector.example.invalid:9000");
}

#[test]
fn per_flusher_metrics_count_requests_retries_bytes_and_latency() {
    let capture = loong_testkit::MetricsCapture::new();
    let server = Server::start();
    server.script(&[503, 400]);
    let mut f = capture.scoped(|| {
        flusher(json!({
            "RemoteURL": server.url("/m"), "Compression": "gzip", "Retry": fast_retry(),
            "Convert": {"Protocol": "jsonline"},
        }))
    });
    // Payload 1: 503 then 400 (rejected). Payload 2: 200.
    export(&mut f, &[loong_testkit::log_events_with_prefix("a", 50)]).unwrap();
    export(&mut f, &[loong_testkit::log_events_with_prefix("b", 50)]).unwrap();
    let class = |c| capture.counter_with("http_requests_total", &[("status_class", c)]);
    assert_eq!((class("2xx"), class("4xx"), class("5xx")), (1, 1, 1));
    assert_eq!(capture.counter("http_retries_total"), 1);
    assert_eq!(capture.counter("http_rejected_payloads_total"), 1);
    let raw = capture.counter("http_body_bytes_total");
    let sent = capture.counter("http_sent_bytes_total");
    assert!(sent > 0 && sent < raw, "gzip shrinks repetitive JSON: {sent} of {raw}");
    assert_eq!(capture.histogram("http_request_duration_seconds").len(), 3);
}

#[test]
fn set_urgent_shortens_backoffs() {
    let port = loong_testkit::services::free_port();
    let mut f = flusher(json!({
        "RemoteURL": format!("http://127.0.0.1:{port}/u"),
        "Retry": {"MaxRetryTimes": 3, "InitialDelay": "20s", "MaxDelay": "20s"},
    }));
    f.set_urgent(true);
    let started = std::time::Instant::now();
    assert!(export(&mut f, &[loong_testkit::log_events_with_prefix("u", 1)]).is_err());
    // Three 20 s backoffs would take a minute; urgent caps each at 500 ms.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

fn connections(server: &Server) -> usize {
    server
        .received()
        .iter()
        .map(|r| r.peer)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

#[test]
fn concurrency_opens_parallel_connections_and_max_conns_per_host_caps_them() {
    for (options, at_most, at_least) in [
        (json!({"Concurrency": 4}), 4, 2),
        (json!({"Concurrency": 4, "MaxConnsPerHost": 1}), 1, 1),
    ] {
        let server = Server::start();
        // Slow answers make the requests of one flush overlap.
        server.delay(Some(std::time::Duration::from_millis(100)));
        let mut all = options.clone();
        all["RemoteURL"] = json!(server.url("/c"));
        let mut f = flusher(all);
        export(&mut f, &[loong_testkit::log_events_with_prefix("c", 8)]).unwrap();
        let n = connections(&server);
        assert!((at_least..=at_most).contains(&n), "{options}: {n} connections");
        assert_eq!(server.bodies().len(), 8);
    }
}

#[test]
fn idle_connections_are_reused_until_idle_conn_timeout() {
    let server = Server::start();
    let mut f = flusher(json!({"RemoteURL": server.url("/k"), "IdleConnTimeout": "100ms"}));
    export(&mut f, &[loong_testkit::log_events_with_prefix("a", 3)]).unwrap();
    assert_eq!(
        connections(&server),
        1,
        "one kept-alive connection for sequential requests"
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    export(&mut f, &[loong_testkit::log_events_with_prefix("b", 1)]).unwrap();
    assert_eq!(
        connections(&server),
        2,
        "the idle connection was closed after IdleConnTimeout"
    );
}

#[test]
fn compatibility_options_are_accepted_without_warnings() {
    let server = Server::start();
    // WriteBufferSize and AsyncIntercept exist for LoongCollector configs; MaxIdleConnsPerHost sizes the pool.
    let mut f = flusher(json!({
        "RemoteURL": server.url("/w"), "WriteBufferSize": 65536, "AsyncIntercept": true, "MaxIdleConnsPerHost": 2,
    }));
    export(&mut f, &[loong_testkit::log_events_with_prefix("w", 2)]).unwrap();
    assert_eq!(server.bodies().len(), 2);
}
