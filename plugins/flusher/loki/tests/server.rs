//! flusher_loki against the crate's push receiver (`testing::LokiServer`, a real HTTP server on
//! 127.0.0.1 that decodes the snappy protobuf `PushRequest` and enforces Loki's per-stream order).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use loong_api::model::{GroupInfo, LogEvent};
use loong_api::{Flusher, PipelineContext, PipelineGroupEvents};
use loong_flusher_loki::testing::{LokiServer, Stream};
use loong_testkit::MetricsCapture;
use serde_json::{Value, json};

fn flusher(options: Value) -> Box<dyn Flusher> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_loki::register(&mut registry);
    let (mut f, warnings) = registry.create_flusher("flusher_loki", &options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    f.init(&loong_testkit::mock_context("flusher_loki")).unwrap();
    f
}

fn export(f: &mut Box<dyn Flusher>, groups: &[PipelineGroupEvents]) -> loong_api::Result<()> {
    f.as_v2().unwrap().export(groups, &mut PipelineContext::noop())
}

fn options(server: &LokiServer) -> Value {
    json!({"URL": server.push_url(), "StaticLabels": {"job": "loong"}, "MinBackoff": "5ms", "MaxBackoff": "20ms", "MaxRetries": 5})
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    sorted((0..n).map(|i| format!("{prefix}-{i}")).collect())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn conformance_with_protobuf_pushes() {
    let server = Arc::new(LokiServer::start());
    let s = server.clone();
    loong_testkit::Conformance::from_registry(
        loong_flusher_loki::register,
        "flusher_loki",
        json!({"URL": server.push_url(), "StaticLabels": {"job": "conformance"}, "DynamicLabels": ["tag.host"]}),
    )
    .read_back(move || s.bodies())
    .run();
}

#[test]
fn conformance_with_json_pushes() {
    let server = Arc::new(LokiServer::start());
    let s = server.clone();
    loong_testkit::Conformance::from_registry(
        loong_flusher_loki::register,
        "flusher_loki",
        json!({"URL": server.push_url(), "StaticLabels": {"job": "conformance"}, "PushFormat": "json",
               "Convert": {"Protocol": "custom_single_flatten", "OnlyContents": true}}),
    )
    .read_back(move || s.bodies())
    .run();
}

fn log(body: &str, level: &str, time: u64) -> LogEvent {
    let mut e = LogEvent::with_body(body.to_owned(), time);
    e.contents.insert("level", level.to_owned());
    e
}

fn hosts() -> Vec<PipelineGroupEvents> {
    let mut web = GroupInfo::default();
    web.tags.insert("__hostname__", "web-1");
    let mut db = GroupInfo::default();
    db.tags.insert("__hostname__", "db-1");
    vec![
        PipelineGroupEvents::new(
            web,
            vec![
                log("GET /b", "info", 1_700_000_002_000_000_000).into(),
                log("GET /a", "info", 1_700_000_001_000_000_000).into(),
                log("boom", "error", 1_700_000_001_500_000_000).into(),
            ],
        ),
        PipelineGroupEvents::new(db, vec![log("slow query", "warn", 1_700_000_000_000_000_007).into()]),
    ]
}

#[test]
fn streams_labels_lines_and_tenant_are_exact() {
    let server = LokiServer::start();
    server.require_tenant();
    let mut opts = options(&server);
    opts["TenantID"] = json!("team-a");
    opts["DynamicLabels"] = json!(["content.level", "tag.host.name"]);
    opts["Convert"] = json!({"Protocol": "custom_single_flatten", "OnlyContents": true});
    let mut f = flusher(opts);
    export(&mut f, &hosts()).unwrap();
    let stream = |host: &str, level: &str, entries: &[(i64, &str)]| Stream {
        tenant: "team-a".into(),
        labels: labels(&[("host_name", host), ("job", "loong"), ("level", level)]),
        entries: entries.iter().map(|(t, l)| (*t, l.to_string())).collect(),
    };
    assert_eq!(
        server.streams(),
        vec![
            stream(
                "db-1",
                "warn",
                &[(1_700_000_000_000_000_007, r#"{"content":"slow query","level":"warn"}"#)]
            ),
            stream(
                "web-1",
                "error",
                &[(1_700_000_001_500_000_000, r#"{"content":"boom","level":"error"}"#)]
            ),
            stream(
                "web-1",
                "info",
                &[
                    (1_700_000_001_000_000_000, r#"{"content":"GET /a","level":"info"}"#),
                    (1_700_000_002_000_000_000, r#"{"content":"GET /b","level":"info"}"#),
                ]
            ),
        ]
    );
    assert_eq!(server.tenants(), vec![Some("team-a".to_owned())]);
    assert_eq!(server.content_types(), vec!["application/x-protobuf"]);
    assert_eq!(server.rejected(), 0, "sorted within the push: nothing out of order");

    // Without the tenant the receiver answers 401, which is retried and then handed back.
    let mut opts = options(&server);
    opts["MaxRetries"] = json!(2);
    let mut anonymous = flusher(opts);
    let err = export(&mut anonymous, &hosts()).unwrap_err().to_string();
    assert!(err.contains("401") && err.contains("no org id"), "{err}");
}

#[test]
fn default_lines_are_loongcollector_custom_single_json() {
    let server = LokiServer::start();
    let mut f = flusher(options(&server));
    export(&mut f, &hosts()[1..]).unwrap();
    let streams = server.streams();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].labels, labels(&[("job", "loong")]));
    assert_eq!(streams[0].tenant, "fake", "no X-Scope-OrgID");
    assert_eq!(
        streams[0].entries[0].1,
        r#"{"contents":{"content":"slow query","level":"warn"},"tags":{"host.name":"db-1"},"time":1700000000}"#
    );
}

#[test]
fn json_pushes_store_the_same_streams() {
    let (proto_server, json_server) = (LokiServer::start(), LokiServer::start());
    for (server, format) in [(&proto_server, "protobuf"), (&json_server, "json")] {
        let mut opts = options(server);
        opts["PushFormat"] = json!(format);
        opts["DynamicLabels"] = json!(["content.level"]);
        export(&mut flusher(opts), &hosts()).unwrap();
    }
    assert_eq!(json_server.content_types(), vec!["application/json"]);
    assert_eq!(proto_server.streams(), json_server.streams());
    assert_eq!(json_server.entry_count(), 4);
}

/// Three entries, the first two `behind` nanoseconds older than the sample time, the last newer.
fn late(behind: u64) -> PipelineGroupEvents {
    let mut late = loong_testkit::log_events_with_prefix("late", 3);
    for (i, e) in late.events.iter_mut().enumerate() {
        let log = e.as_log_mut().unwrap();
        log.timestamp = if i < 2 {
            loong_testkit::SAMPLE_TIME_NS - behind
        } else {
            loong_testkit::SAMPLE_TIME_NS + 1_000
        };
    }
    late
}

#[test]
fn older_entries_of_a_later_flush_are_rejected_by_an_ordered_loki_counted_and_not_retried() {
    let capture = MetricsCapture::new();
    let server = LokiServer::start();
    server.ordered();
    let mut f = capture.scoped(|| flusher(options(&server)));
    export(&mut f, &[loong_testkit::log_events_with_prefix("new", 3)]).unwrap();
    export(&mut f, &[late(60_000_000_000)]).unwrap();
    assert_eq!(server.answered(), vec![204, 400]);
    assert_eq!(server.rejected(), 2);
    assert_eq!(
        capture.counter("loki_rejected_entries_total"),
        2,
        "from Loki's 'total ignored: 2'"
    );
    assert_eq!(capture.counter("loki_entries_sent_total"), 4);
    assert_eq!(server.pushes(), 2, "a 400 is not retried");
    let mut want = names("new", 3);
    want.push("late-2".into());
    assert_eq!(sorted(server.bodies()), sorted(want));
}

#[test]
fn unordered_loki_takes_older_entries_within_its_window() {
    let server = LokiServer::start();
    let mut f = flusher(options(&server));
    export(&mut f, &[loong_testkit::log_events_with_prefix("new", 3)]).unwrap();
    export(&mut f, &[late(60_000_000_000)]).unwrap();
    assert_eq!(server.entry_count(), 6);
    // More than an hour behind: "entry too far behind".
    export(&mut f, &[late(2 * 3_600_000_000_000)]).unwrap();
    assert_eq!(server.rejected(), 2);
    assert_eq!(server.answered(), vec![204, 204, 400]);
}

#[test]
fn out_of_order_action_rewrite_timestamp_or_drop_against_an_ordered_loki() {
    for (action, stored, counted) in [("rewrite_timestamp", 6, 0), ("drop", 4, 2)] {
        let capture = MetricsCapture::new();
        let server = LokiServer::start();
        server.ordered();
        let mut opts = options(&server);
        opts["OutOfOrderAction"] = json!(action);
        let mut f = capture.scoped(|| flusher(opts));
        export(&mut f, &[loong_testkit::log_events_with_prefix("new", 3)]).unwrap();
        export(&mut f, &[late(60_000_000_000)]).unwrap();
        assert_eq!(server.entry_count(), stored, "{action}");
        assert_eq!(server.rejected(), 0, "{action}: nothing out of order reached Loki");
        assert_eq!(capture.counter("loki_rejected_entries_total"), counted, "{action}");
        if action == "rewrite_timestamp" {
            let times: Vec<i64> = server.streams()[0].entries.iter().map(|(t, _)| *t).collect();
            let newest_first = loong_testkit::SAMPLE_TIME_NS as i64 + 2;
            assert_eq!(
                times[3..5],
                [newest_first, newest_first],
                "rewritten to the stream's newest"
            );
        }
    }
}

#[test]
fn pushes_answered_429_and_5xx_are_retried_without_duplicates() {
    let capture = MetricsCapture::new();
    let server = LokiServer::start();
    server.fail_pushes(&[429, 500, 503]);
    let mut f = capture.scoped(|| flusher(options(&server)));
    export(&mut f, &[loong_testkit::log_events_with_prefix("r", 10)]).unwrap();
    assert_eq!(server.answered(), vec![429, 500, 503, 204]);
    assert_eq!(sorted(server.bodies()), names("r", 10));
    assert_eq!((server.duplicates(), server.entries_received()), (0, 10));
    assert_eq!(capture.counter("loki_retries_total"), 3);
    assert_eq!(capture.counter_with("loki_pushes_total", &[("status_class", "5xx")]), 2);
}

#[test]
fn a_flush_still_failing_goes_back_to_the_runner_and_its_retry_sends_only_the_rest() {
    let server = LokiServer::start();
    let mut opts = options(&server);
    opts["MaxRetries"] = json!(2);
    opts["MaxMessageBytes"] = json!(300);
    let mut f = flusher(opts);
    let batch = [loong_testkit::log_events_with_prefix("p", 12)];
    // The first push goes through, the second fails twice: the flush gives up.
    server.fail_pushes(&[204, 500, 500]);
    let err = export(&mut f, &batch).unwrap_err().to_string();
    assert!(err.contains("pushes not accepted yet") && err.contains("500"), "{err}");
    let pushes_before_retry = server.pushes();
    export(&mut f, &batch).unwrap();
    assert!(server.pushes() > pushes_before_retry);
    assert_eq!(sorted(server.bodies()), names("p", 12));
    assert_eq!(server.duplicates(), 0, "nothing accepted was sent again");
    assert_eq!(server.entries_received(), 12);
    assert!(server.answered().len() >= 4, "{:?}", server.answered());
}

#[test]
fn receiver_down_then_back_loses_nothing() {
    let server = LokiServer::start();
    let mut opts = options(&server);
    opts["MaxRetries"] = json!(2);
    opts["Timeout"] = json!("2s");
    let mut f = flusher(opts);
    export(&mut f, &[loong_testkit::log_events_with_prefix("before", 2)]).unwrap();
    server.down();
    let batch = [loong_testkit::log_events_with_prefix("during", 4)];
    let err = export(&mut f, &batch).unwrap_err().to_string();
    assert!(err.contains("connection failed"), "{err}");
    server.up();
    export(&mut f, &batch).unwrap();
    let mut want = names("before", 2);
    want.extend(names("during", 4));
    assert_eq!(sorted(server.bodies()), sorted(want));
    assert_eq!(server.duplicates(), 0);
}

#[test]
fn basic_auth_and_bearer_token_from_client_config() {
    for (client, header) in [
        (
            json!({"basic_auth": {"username": "u1", "password": "p1"}}),
            "Basic dTE6cDE=",
        ),
        (json!({"bearer_token": "t0k"}), "Bearer t0k"),
    ] {
        let server = LokiServer::start();
        server.require_authorization(header);
        let mut opts = options(&server);
        opts["ClientConfig"] = client;
        export(&mut flusher(opts), &[loong_testkit::log_events_with_prefix("a", 2)]).unwrap();
        assert_eq!(sorted(server.bodies()), names("a", 2));
        let mut opts = options(&server);
        opts["MaxRetries"] = json!(1);
        let err = export(&mut flusher(opts), &[loong_testkit::log_events_with_prefix("b", 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("401"), "{err}");
    }
}

#[test]
fn events_without_labels_are_counted_not_sent() {
    let capture = MetricsCapture::new();
    let server = LokiServer::start();
    let mut f = capture.scoped(|| flusher(json!({"URL": server.push_url(), "DynamicLabels": ["content.app"]})));
    let mut batch = loong_testkit::log_events_with_prefix("l", 3);
    batch.events[1].as_log_mut().unwrap().contents.insert("app", "shop");
    export(&mut f, &[batch]).unwrap();
    assert_eq!(server.bodies(), vec!["l-1"]);
    assert_eq!(server.streams()[0].labels, labels(&[("app", "shop")]));
    assert_eq!(capture.counter("loki_rejected_entries_total"), 2);
}

#[test]
fn set_urgent_caps_the_backoff() {
    let port = loong_testkit::services::free_port();
    let mut f = flusher(json!({
        "URL": format!("http://127.0.0.1:{port}/loki/api/v1/push"), "StaticLabels": {"job": "u"},
        "MinBackoff": "20s", "MaxBackoff": "20s", "MaxRetries": 4,
    }));
    f.set_urgent(true);
    let started = std::time::Instant::now();
    assert!(export(&mut f, &[loong_testkit::log_events_with_prefix("u", 1)]).is_err());
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn init_checks_options() {
    let mut registry = loong_api::Registry::new();
    loong_flusher_loki::register(&mut registry);
    let ctx = loong_testkit::mock_context("flusher_loki");
    for (options, want) in [
        (json!({"StaticLabels": {"a": "b"}}), "URL is empty"),
        (
            json!({"URL": "ftp://x", "StaticLabels": {"a": "b"}}),
            "must be http or https",
        ),
        (json!({"URL": "http://x"}), "at least one label"),
        (
            json!({"URL": "http://x", "StaticLabels": {"a": "b"}, "TenantID": "bad\nid"}),
            "TenantID",
        ),
    ] {
        let (mut f, _) = registry.create_flusher("flusher_loki", &options).unwrap();
        let err = format!("{:#}", f.init(&ctx).unwrap_err());
        assert!(err.contains(want), "{options}: {err}");
    }
}
