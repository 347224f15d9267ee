//! flusher_otlp against a real OTLP receiver (`scripts/services/otlp_receiver.py`: the official
//! protobuf classes of PyPI's opentelemetry-proto and grpcio's generated servicers), over gRPC and
//! over HTTP. The receiver writes every item it decoded as JSON (`MessageToDict`), and the tests
//! compare every field with what the OTLP mapping promises.

use base64::Engine as _;
use bytes::Bytes;
use loong_api::model::{
    ByteArrayEvent, GroupInfo, LogEvent, MetricEvent, MetricType, MetricValue, PipelineEvent, SpanEvent,
    SpanInnerEvent, SpanKind, SpanLink, StatusCode, TypedValue,
};
use loong_api::{Flusher, LogGroup, PipelineContext, PipelineGroupEvents};
use loong_testkit::services::{Service, curl};
use serde_json::{Value, json};

const T: u64 = 1_700_000_000_123_456_789;
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";
const PARENT: &str = "b7ad6b7169203331";

struct Receiver(Service);

impl Receiver {
    fn start() -> Receiver {
        Receiver(Service::start("otlp"))
    }

    /// The endpoint of `protocol` (`grpc`: PORT+1, `http`: PORT).
    fn endpoint(&self, protocol: &str) -> String {
        match protocol {
            "grpc" => format!("http://127.0.0.1:{}", self.0.port() + 1),
            _ => self.0.url(""),
        }
    }

    /// Every item received so far, in order.
    fn items(&self) -> Vec<Value> {
        curl(&[&self.0.url("/received")])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn signal(&self, signal: &str) -> Vec<Value> {
        self.items().into_iter().filter(|i| i["signal"] == signal).collect()
    }

    fn control(&self, spec: Value) {
        curl(&["-XPOST", &self.0.url("/control"), "-d", &spec.to_string()]);
    }

    fn stats(&self) -> Value {
        serde_json::from_str(&curl(&[&self.0.url("/stats")])).unwrap()
    }

    /// The string bodies of the log records received.
    fn bodies(&self) -> Vec<String> {
        self.signal("logs")
            .iter()
            .filter_map(|i| i["item"]["body"]["string_value"].as_str().map(str::to_owned))
            .collect()
    }
}

fn flusher(options: Value) -> Box<dyn Flusher> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_otlp::register(&mut registry);
    let (mut f, warnings) = registry.create_flusher("flusher_otlp", &options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    f.init(&loong_testkit::mock_context("flusher_otlp")).unwrap();
    f
}

fn export(f: &mut Box<dyn Flusher>, groups: &[PipelineGroupEvents]) -> loong_api::Result<()> {
    f.as_v2().unwrap().export(groups, &mut PipelineContext::noop())
}

fn b64(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn s(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"string_value": value}})
}

fn fast_retry(max: u32) -> Value {
    json!({"Enable": true, "MaxCount": max, "DefaultDelay": "10ms"})
}

/// Each protocol with and without compression.
const MODES: [(&str, &str); 3] = [("grpc", ""), ("grpc", "gzip"), ("http", "gzip")];

fn options(rx: &Receiver, protocol: &str, compression: &str) -> Value {
    let signal = json!({"Compression": compression, "Headers": {"X-Tenant": "t1"}, "Retry": fast_retry(3)});
    json!({
        "Protocol": protocol,
        "Endpoint": rx.endpoint(protocol),
        "Headers": {"Authorization": "Bearer s3cret"},
        "Logs": signal, "Metrics": signal, "Traces": signal,
    })
}

#[test]
fn conformance_over_grpc_and_http() {
    for protocol in ["grpc", "http"] {
        let rx = std::rc::Rc::new(Receiver::start());
        let r = rx.clone();
        loong_testkit::Conformance::from_registry(
            loong_flusher_otlp::register,
            "flusher_otlp",
            json!({"Protocol": protocol, "Endpoint": rx.endpoint(protocol)}),
        )
        .read_back(move || r.bodies())
        .run();
    }
}

fn group_info() -> GroupInfo {
    let mut info = GroupInfo::default();
    info.tags.insert("__hostname__", "web-1");
    info.tags.insert("__path__", "/var/log/app.log");
    info.tags.insert("env", "prod");
    info.tags.insert("otlp.scope.name", "loong-test");
    info.tags.insert("otlp.scope.version", "1.2.3");
    info.metadata.insert("__inode__", "42");
    info
}

fn expected_resource() -> Value {
    json!({"attributes": [s("host.name", "web-1"), s("log.file.path", "/var/log/app.log"), s("env", "prod")]})
}

fn check_envelope(item: &Value, signal: &str, protocol: &str, compression: &str) {
    assert_eq!(item["signal"], signal);
    assert_eq!(item["transport"], protocol);
    assert_eq!(item["resource"], expected_resource(), "{item}");
    assert_eq!(item["scope"], json!({"name": "loong-test", "version": "1.2.3"}));
    let headers = &item["headers"];
    assert_eq!(headers["x-tenant"], "t1", "{headers}");
    assert_eq!(headers["authorization"], "Bearer s3cret");
    if protocol == "http" {
        assert_eq!(headers["content-type"], "application/x-protobuf");
        let encoding = headers.get("content-encoding").and_then(Value::as_str).unwrap_or("");
        assert_eq!(encoding, compression);
    }
}

#[test]
fn every_log_field_arrives() {
    for (protocol, compression) in MODES {
        let rx = Receiver::start();
        let mut f = flusher(options(&rx, protocol, compression));
        let mut full = LogEvent::with_body("user bob logged in", T);
        full.observed_timestamp = T + 5;
        full.name = "login".into();
        full.level = "error".into();
        full.trace_id = TRACE.into();
        full.span_id = SPAN.into();
        full.contents.insert("user", "bob");
        full.contents.insert("ünïcode", "värde");
        full.tags.insert("request.id", "r-1");
        full.tags.insert("otlp.log.flag", "1");
        let mut binary = LogEvent::with_body(Bytes::from_static(b"\xff\xfe binary"), T + 1);
        binary.contents.insert("level", "info");
        binary.trace_id = "not-a-trace-id".into();
        let bytes = ByteArrayEvent {
            data: "raw bytes".into(),
            timestamp: T + 2,
            observed_timestamp: T + 3,
        };
        let before = loong_api::model::now_nanos();
        let group = PipelineGroupEvents::new(group_info(), vec![full.into(), binary.into(), bytes.into()]);
        export(&mut f, &[group]).unwrap();
        let after = loong_api::model::now_nanos();
        f.stop().unwrap();

        let got = rx.signal("logs");
        assert_eq!(got.len(), 3, "{protocol}: {got:?}");
        for item in &got {
            check_envelope(item, "logs", protocol, compression);
        }
        assert_eq!(
            got[0]["item"],
            json!({
                "time_unix_nano": T.to_string(),
                "observed_time_unix_nano": (T + 5).to_string(),
                "severity_number": "SEVERITY_NUMBER_ERROR",
                "severity_text": "error",
                "body": {"string_value": "user bob logged in"},
                "attributes": [s("user", "bob"), s("ünïcode", "värde"), s("request.id", "r-1")],
                "flags": 1,
                "trace_id": b64(TRACE),
                "span_id": b64(SPAN),
                "event_name": "login",
            }),
            "{protocol}"
        );
        // No observed timestamp: the time it was sent.
        let mut second = got[1]["item"].clone();
        let observed: u64 = second["observed_time_unix_nano"].as_str().unwrap().parse().unwrap();
        assert!(
            (before..=after).contains(&observed),
            "{observed} not in {before}..{after}"
        );
        second.as_object_mut().unwrap().remove("observed_time_unix_nano");
        assert_eq!(
            second,
            json!({
                "time_unix_nano": (T + 1).to_string(),
                "severity_number": "SEVERITY_NUMBER_INFO",
                "severity_text": "info",
                "body": {"bytes_value": base64::engine::general_purpose::STANDARD.encode(b"\xff\xfe binary")},
                "attributes": [s("trace_id", "not-a-trace-id")],
            })
        );
        assert_eq!(
            got[2]["item"],
            json!({
                "time_unix_nano": (T + 2).to_string(),
                "observed_time_unix_nano": (T + 3).to_string(),
                "body": {"string_value": "raw bytes"},
            })
        );
    }
}

fn metric(name: &str, metric_type: MetricType, value: MetricValue) -> PipelineEvent {
    MetricEvent {
        name: name.into(),
        metric_type,
        value,
        timestamp: T,
        ..Default::default()
    }
    .into()
}

#[test]
fn every_metric_field_arrives() {
    for (protocol, compression) in MODES {
        let rx = Receiver::start();
        let mut f = flusher(options(&rx, protocol, compression));
        let mut gauge = MetricEvent::single("cpu.temp", MetricType::Gauge, 41.5, T);
        gauge.unit = "Cel".into();
        gauge.description = "die temperature".into();
        gauge.tags.insert("host", "h1");
        gauge.typed_values = vec![
            ("note".into(), TypedValue::Str("ok".into())),
            ("hot".into(), TypedValue::Bool(false)),
            ("cores".into(), TypedValue::Int(8)),
            ("ratio".into(), TypedValue::Float(0.25)),
        ];
        let mut rate = MetricEvent::single("bytes_rate", MetricType::RateCounter, 3.0, T);
        rate.tags.insert("otlp.metric.aggregation.temporality", "Delta");
        let events = vec![
            gauge.into(),
            metric("requests_total", MetricType::Counter, MetricValue::Single(42.0)),
            rate.into(),
            metric(
                "latency",
                MetricType::Histogram,
                MetricValue::Multi(vec![
                    ("le_0.1".into(), 3.0),
                    ("le_1".into(), 7.0),
                    ("le_+Inf".into(), 8.0),
                    ("count".into(), 8.0),
                    ("sum".into(), 2.5),
                ]),
            ),
            metric(
                "rpc",
                MetricType::Summary,
                MetricValue::Multi(vec![
                    ("0.5".into(), 5.0),
                    ("0.99".into(), 9.0),
                    ("count".into(), 10.0),
                    ("sum".into(), 50.0),
                ]),
            ),
            metric(
                "cpu",
                MetricType::Untyped,
                MetricValue::Multi(vec![("user".into(), 1.5), ("system".into(), 0.5)]),
            ),
        ];
        export(&mut f, &[PipelineGroupEvents::new(group_info(), events)]).unwrap();
        f.stop().unwrap();

        let got: Vec<Value> = rx.signal("metrics");
        for item in &got {
            check_envelope(item, "metrics", protocol, compression);
        }
        let items: Vec<&Value> = got.iter().map(|i| &i["item"]).collect();
        let point = |value: f64| json!({"time_unix_nano": T.to_string(), "as_double": value});
        let want = [
            json!({"name": "cpu.temp", "description": "die temperature", "unit": "Cel", "gauge": {"data_points": [{
                "attributes": [
                    s("host", "h1"), s("note", "ok"),
                    {"key": "hot", "value": {"bool_value": false}},
                    {"key": "cores", "value": {"int_value": "8"}},
                    {"key": "ratio", "value": {"double_value": 0.25}},
                ],
                "time_unix_nano": T.to_string(), "as_double": 41.5,
            }]}}),
            json!({"name": "requests_total", "sum": {"data_points": [point(42.0)],
                "aggregation_temporality": "AGGREGATION_TEMPORALITY_CUMULATIVE", "is_monotonic": true}}),
            json!({"name": "bytes_rate", "sum": {"data_points": [point(3.0)],
                "aggregation_temporality": "AGGREGATION_TEMPORALITY_DELTA"}}),
            json!({"name": "latency", "histogram": {"data_points": [{
                "time_unix_nano": T.to_string(), "count": "8", "sum": 2.5,
                "bucket_counts": ["3", "4", "1"], "explicit_bounds": [0.1, 1.0],
            }], "aggregation_temporality": "AGGREGATION_TEMPORALITY_CUMULATIVE"}}),
            json!({"name": "rpc", "summary": {"data_points": [{
                "time_unix_nano": T.to_string(), "count": "10", "sum": 50.0,
                "quantile_values": [{"quantile": 0.5, "value": 5.0}, {"quantile": 0.99, "value": 9.0}],
            }]}}),
            json!({"name": "cpu.user", "gauge": {"data_points": [point(1.5)]}}),
            json!({"name": "cpu.system", "gauge": {"data_points": [point(0.5)]}}),
        ];
        assert_eq!(items, want.iter().collect::<Vec<_>>(), "{protocol}");
    }
}

#[test]
fn every_span_field_arrives() {
    for (protocol, compression) in MODES {
        let rx = Receiver::start();
        let mut f = flusher(options(&rx, protocol, compression));
        let mut span = SpanEvent {
            trace_id: TRACE.into(),
            span_id: SPAN.into(),
            parent_span_id: PARENT.into(),
            name: "GET /api".into(),
            trace_state: "vendor=1".into(),
            kind: SpanKind::Server,
            status: StatusCode::Error,
            start_time: T,
            end_time: T + 250_000_000,
            timestamp: T,
            ..Default::default()
        };
        span.tags.insert("http.method", "GET");
        span.tags.insert("otlp.span.status.message", "boom");
        span.tags.insert("otlp.span.dropped.attributes.count", "1");
        span.tags.insert("otlp.span.dropped.events.count", "2");
        span.tags.insert("otlp.span.dropped.links.count", "3");
        let mut inner = SpanInnerEvent {
            timestamp: T + 1000,
            name: "cache miss".into(),
            ..Default::default()
        };
        inner.tags.insert("key", "k1");
        span.events.push(inner);
        let mut link = SpanLink {
            trace_id: "5bf92f3577b34da6a3ce929d0e0e4737".into(),
            span_id: "10f067aa0ba902b8".into(),
            trace_state: "a=b".into(),
            ..Default::default()
        };
        link.tags.insert("link.kind", "follows");
        span.links.push(link);
        let minimal = SpanEvent {
            name: "minimal".into(),
            ..Default::default()
        };
        let group = PipelineGroupEvents::new(group_info(), vec![span.into(), minimal.into()]);
        export(&mut f, &[group]).unwrap();
        f.stop().unwrap();

        let got = rx.signal("traces");
        assert_eq!(got.len(), 2);
        for item in &got {
            check_envelope(item, "traces", protocol, compression);
        }
        assert_eq!(
            got[0]["item"],
            json!({
                "trace_id": b64(TRACE),
                "span_id": b64(SPAN),
                "trace_state": "vendor=1",
                "parent_span_id": b64(PARENT),
                "name": "GET /api",
                "kind": "SPAN_KIND_SERVER",
                "start_time_unix_nano": T.to_string(),
                "end_time_unix_nano": (T + 250_000_000).to_string(),
                "attributes": [s("http.method", "GET")],
                "dropped_attributes_count": 1,
                "events": [{"time_unix_nano": (T + 1000).to_string(), "name": "cache miss", "attributes": [s("key", "k1")]}],
                "dropped_events_count": 2,
                "links": [{
                    "trace_id": b64("5bf92f3577b34da6a3ce929d0e0e4737"),
                    "span_id": b64("10f067aa0ba902b8"),
                    "trace_state": "a=b",
                    "attributes": [s("link.kind", "follows")],
                }],
                "dropped_links_count": 3,
                "status": {"message": "boom", "code": "STATUS_CODE_ERROR"},
            }),
            "{protocol}"
        );
        assert_eq!(got[1]["item"], json!({"name": "minimal", "status": {}}));
    }
}

#[test]
fn v1_log_groups_are_sent_as_logs() {
    for protocol in ["grpc", "http"] {
        let rx = Receiver::start();
        let mut f = flusher(json!({"Protocol": protocol, "Logs": {"Endpoint": rx.endpoint(protocol)}}));
        let group = LogGroup {
            logs: vec![loong_api::Log {
                time: 1_700_000_000,
                time_ns: Some(42),
                contents: vec![
                    loong_api::model::v1::Content {
                        key: "content".into(),
                        value: "v1 body".into(),
                    },
                    loong_api::model::v1::Content {
                        key: "level".into(),
                        value: "WARNING".into(),
                    },
                    loong_api::model::v1::Content {
                        key: "__tag__:__path__".into(),
                        value: "/a.log".into(),
                    },
                ],
                values: vec![],
            }],
            topic: Some("t1".into()),
            source: Some("10.0.0.1".into()),
            log_tags: vec![loong_api::model::LogTag {
                key: "__hostname__".into(),
                value: "h1".into(),
            }],
            ..Default::default()
        };
        f.as_v1().unwrap().flush("p", "l", "c", &[group]).unwrap();
        f.stop().unwrap();
        let got = rx.signal("logs");
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0]["resource"],
            json!({"attributes": [s("host.name", "h1"), s("host.ip", "10.0.0.1"), s("log.topic", "t1")]})
        );
        let mut item = got[0]["item"].clone();
        item.as_object_mut().unwrap().remove("observed_time_unix_nano");
        assert_eq!(
            item,
            json!({
                "time_unix_nano": "1700000000000000042",
                "severity_number": "SEVERITY_NUMBER_WARN",
                "severity_text": "WARNING",
                "body": {"string_value": "v1 body"},
                "attributes": [s("log.file.path", "/a.log")],
            })
        );
    }
}

fn batch_of_every_signal(prefix: &str) -> Vec<PipelineGroupEvents> {
    let mut group = loong_testkit::log_events_with_prefix(prefix, 5);
    group
        .events
        .push(MetricEvent::single(format!("{prefix}_metric"), MetricType::Gauge, 1.0, T).into());
    group.events.push(
        SpanEvent {
            name: format!("{prefix}_span"),
            ..Default::default()
        }
        .into(),
    );
    vec![group]
}

#[test]
fn unavailable_and_503_are_retried_until_accepted() {
    for (protocol, code, status) in [
        ("grpc", "UNAVAILABLE", 503),
        ("grpc", "RESOURCE_EXHAUSTED", 429),
        ("http", "UNAVAILABLE", 503),
        ("http", "UNAVAILABLE", 429),
        ("http", "UNAVAILABLE", 502),
    ] {
        let rx = Receiver::start();
        let mut f = flusher(json!({
            "Protocol": protocol, "Endpoint": rx.endpoint(protocol),
            "Logs": {"Retry": fast_retry(3)},
        }));
        rx.control(json!({"fail": 2, "grpc_code": code, "http_status": status}));
        export(&mut f, &[loong_testkit::log_events_with_prefix("r", 4)]).unwrap();
        let stats = rx.stats();
        assert_eq!(stats["failed"], 2, "{protocol} {code} {status}: {stats}");
        let mut bodies = rx.bodies();
        bodies.sort();
        assert_eq!(
            bodies,
            ["r-0", "r-1", "r-2", "r-3"],
            "{protocol} {code} {status}: exactly once"
        );
    }
}

#[test]
fn a_batch_that_still_fails_goes_back_and_its_retry_skips_what_was_accepted() {
    for protocol in ["grpc", "http"] {
        let rx = Receiver::start();
        let retry = json!({"Retry": fast_retry(0)});
        let mut f = flusher(json!({
            "Protocol": protocol, "Endpoint": rx.endpoint(protocol),
            "Logs": retry, "Metrics": retry, "Traces": retry,
        }));
        // Three requests (logs, metrics, traces): one of them fails and is not retried in the flush.
        rx.control(json!({"fail": 1}));
        let batch = batch_of_every_signal("b");
        let err = export(&mut f, &batch).unwrap_err().to_string();
        assert!(err.contains("1 of 3 OTLP requests failed"), "{err}");
        export(&mut f, &batch).unwrap();
        let stats = rx.stats();
        assert_eq!(
            stats["requests"],
            json!({"logs": 1, "metrics": 1, "traces": 1}),
            "{protocol}: {stats}"
        );
        assert_eq!(
            stats["items"],
            json!({"logs": 5, "metrics": 1, "traces": 1}),
            "{protocol}"
        );
    }
}

#[test]
fn rejected_requests_and_partial_successes_are_counted_not_retried() {
    let capture = loong_testkit::MetricsCapture::new();
    for (protocol, code, status) in [("grpc", "INVALID_ARGUMENT", 400), ("http", "UNAVAILABLE", 400)] {
        let rx = Receiver::start();
        let mut f = capture.scoped(|| {
            flusher(json!({"Protocol": protocol, "Endpoint": rx.endpoint(protocol), "Logs": {"Retry": fast_retry(3)}}))
        });
        rx.control(json!({"fail": 1, "grpc_code": code, "http_status": status}));
        export(&mut f, &[loong_testkit::log_events_with_prefix("bad", 3)]).unwrap();
        assert_eq!(rx.stats()["failed"], 1, "{protocol}: tried once, not retried");
        assert!(rx.bodies().is_empty());

        rx.control(json!({"reject": 2, "reject_message": "two too old"}));
        export(&mut f, &[loong_testkit::log_events_with_prefix("partial", 5)]).unwrap();
        assert_eq!(rx.bodies().len(), 5, "{protocol}: one request, accepted partially");
        assert_eq!(rx.stats()["requests"]["logs"], 1);
    }
    // Per protocol: 3 items of the rejected request and 2 of the partial success.
    assert_eq!(
        capture.counter_with("otlp_rejected_items_total", &[("signal", "logs")]),
        2 * (3 + 2)
    );
    assert_eq!(
        capture.counter_with("otlp_requests_total", &[("outcome", "rejected")]),
        2
    );
    assert_eq!(
        capture.counter_with("otlp_sent_items_total", &[("signal", "logs")]),
        2 * 3
    );
}

#[test]
fn a_receiver_down_then_back_loses_nothing() {
    for protocol in ["grpc", "http"] {
        let rx = Receiver::start();
        let mut f = flusher(json!({
            "Protocol": protocol, "Endpoint": rx.endpoint(protocol),
            "Logs": {"Retry": fast_retry(1), "Timeout": 2000},
        }));
        export(&mut f, &[loong_testkit::log_events_with_prefix("up", 2)]).unwrap();
        rx.0.stop();
        let batch = [loong_testkit::log_events_with_prefix("down", 3)];
        assert!(
            export(&mut f, &batch).is_err(),
            "{protocol}: the runner gets the batch back"
        );
        rx.0.restart();
        export(&mut f, &batch).unwrap();
        let mut bodies = rx.bodies();
        bodies.sort();
        assert_eq!(bodies, ["down-0", "down-1", "down-2", "up-0", "up-1"], "{protocol}");
    }
}

#[test]
fn large_batches_are_split_under_max_request_bytes() {
    for protocol in ["grpc", "http"] {
        let rx = Receiver::start();
        let mut f =
            flusher(json!({"Protocol": protocol, "Endpoint": rx.endpoint(protocol), "MaxRequestBytes": 20_000}));
        let groups: Vec<PipelineGroupEvents> = (0..3)
            .map(|g| loong_testkit::log_events_with_prefix(&format!("g{g}-{}", "x".repeat(100)), 1000))
            .collect();
        export(&mut f, &groups).unwrap();
        let stats = rx.stats();
        let requests = stats["requests"]["logs"].as_u64().unwrap();
        assert!(requests >= 3 * 1000 * 100 / 20_000, "{protocol}: {requests} requests");
        assert_eq!(stats["items"]["logs"], 3000);
        let bodies = rx.bodies();
        let unique: std::collections::HashSet<&String> = bodies.iter().collect();
        assert_eq!((bodies.len(), unique.len()), (3000, 3000), "{protocol}");
    }
}

#[test]
fn signals_without_an_endpoint_are_counted_as_dropped() {
    let capture = loong_testkit::MetricsCapture::new();
    let rx = Receiver::start();
    let mut f = capture.scoped(|| flusher(json!({"Logs": {"Endpoint": rx.endpoint("grpc")}})));
    export(&mut f, &batch_of_every_signal("only-logs")).unwrap();
    assert_eq!(rx.bodies().len(), 5);
    assert_eq!(rx.stats()["requests"], json!({"logs": 1, "metrics": 0, "traces": 0}));
    assert_eq!(
        capture.counter_with("otlp_dropped_events_total", &[("signal", "metrics")]),
        1
    );
    assert_eq!(
        capture.counter_with("otlp_dropped_events_total", &[("signal", "traces")]),
        1
    );
}

#[test]
fn init_checks_options() {
    let mut registry = loong_api::Registry::new();
    loong_flusher_otlp::register(&mut registry);
    let ctx = loong_testkit::mock_context("flusher_otlp");
    for (options, want) in [
        (json!({}), "no endpoint"),
        (
            json!({"Endpoint": "http://x:1", "Protocol": "thrift"}),
            "unsupported Protocol",
        ),
        (
            json!({"Endpoint": "http://x:1", "Version": "v2"}),
            "unsupported Version",
        ),
        (
            json!({"Logs": {"Endpoint": "http://x:1", "Compression": "snappy"}}),
            "Logs: unsupported Compression",
        ),
        (json!({"Metrics": {"Endpoint": "ftp://x:1"}}), "Metrics: Endpoint"),
        (json!({"Endpoint": "http://x:1/path"}), "a gRPC endpoint has no path"),
        (
            json!({"Endpoint": "http://x:1", "Headers": {"Bad Name": "v"}}),
            "header name",
        ),
    ] {
        let (mut f, _) = registry.create_flusher("flusher_otlp", &options).unwrap();
        let err = format!("{:#}", f.init(&ctx).unwrap_err());
        assert!(err.contains(want), "{options}: {err}");
    }
}

#[test]
fn set_urgent_caps_retry_delays() {
    let port = loong_testkit::services::free_port();
    let mut f = flusher(json!({
        "Endpoint": format!("http://127.0.0.1:{port}"),
        "Logs": {"Retry": {"MaxCount": 3, "DefaultDelay": "20s"}, "Timeout": 1000},
    }));
    f.set_urgent(true);
    let started = std::time::Instant::now();
    assert!(export(&mut f, &[loong_testkit::log_events(1)]).is_err());
    // Three 20 s delays would take a minute; urgent caps each at 500 ms.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
