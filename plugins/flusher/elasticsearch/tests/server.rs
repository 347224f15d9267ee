//! flusher_elasticsearch against the crate's `_bulk` receiver (`testing::EsServer`, a real HTTP
//! server on 127.0.0.1 that parses the NDJSON strictly and answers per item as Elasticsearch does).

use std::time::Duration;

use loong_api::model::{GroupInfo, LogEvent};
use loong_api::{Flusher, PipelineContext, PipelineGroupEvents};
use loong_flusher_elasticsearch::testing::EsServer;
use loong_testkit::MetricsCapture;
use serde_json::{Value, json};

fn flusher(options: Value) -> Box<dyn Flusher> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_elasticsearch::register(&mut registry);
    let (mut f, warnings) = registry.create_flusher("flusher_elasticsearch", &options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    f.init(&loong_testkit::mock_context("flusher_elasticsearch")).unwrap();
    f
}

fn export(f: &mut Box<dyn Flusher>, groups: &[PipelineGroupEvents]) -> loong_api::Result<()> {
    f.as_v2().unwrap().export(groups, &mut PipelineContext::noop())
}

fn fast_retry() -> Value {
    json!({"MaxRetryTimes": 3, "InitialDelay": "5ms", "MaxDelay": "20ms"})
}

fn options(server: &EsServer, index: &str) -> Value {
    json!({"Addresses": [server.url()], "Index": index, "Retry": fast_retry()})
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    sorted((0..n).map(|i| format!("{prefix}-{i}")).collect())
}

#[test]
fn conformance_against_the_bulk_receiver() {
    let server = std::sync::Arc::new(EsServer::start());
    let s = server.clone();
    loong_testkit::Conformance::from_registry(
        loong_flusher_elasticsearch::register,
        "flusher_elasticsearch",
        json!({"Addresses": [server.url()], "Index": "conformance"}),
    )
    .read_back(move || s.bodies())
    .run();
}

#[test]
fn conformance_with_loongcollector_custom_single_documents() {
    let server = std::sync::Arc::new(EsServer::start());
    let s = server.clone();
    loong_testkit::Conformance::from_registry(
        loong_flusher_elasticsearch::register,
        "flusher_elasticsearch",
        json!({"Addresses": [server.url()], "Index": "conformance-%{+yyyy.MM}", "Convert": {"Protocol": "custom_single"}}),
    )
    .read_back(move || s.bodies())
    .run();
}

/// Two events of different days, apps and hosts.
fn events() -> Vec<PipelineGroupEvents> {
    let mut web = GroupInfo::default();
    web.tags.insert("__hostname__", "web-1");
    web.tags.insert("__path__", "/var/log/web.log");
    let mut a = LogEvent::with_body("GET /index.html 200", 1_700_000_000_250_000_000); // 2023-11-14T22:13:20.25Z
    a.contents.insert("app", "shop");
    a.contents.insert("status", "200");
    let mut db = GroupInfo::default();
    db.tags.insert("__hostname__", "db-1");
    let mut b = LogEvent::with_body("slow query \"select 1\"\nsecond line", 1_700_100_000_000_000_001); // 2023-11-16T02:00:00Z
    b.contents.insert("app", "billing");
    b.tags.insert("shard", "7");
    vec![
        PipelineGroupEvents::new(web, vec![a.into()]),
        PipelineGroupEvents::new(db, vec![b.into()]),
    ]
}

#[test]
fn documents_and_index_names_are_exact() {
    let server = EsServer::start();
    let mut f = flusher(options(&server, "%{content.app}-%{tag.host.name}-%{+yyyy.MM.dd}"));
    export(&mut f, &events()).unwrap();
    assert_eq!(
        server.indices(),
        vec!["billing-db-1-2023.11.16", "shop-web-1-2023.11.14"]
    );
    assert_eq!(
        server.docs("shop-web-1-2023.11.14"),
        vec![json!({
            "content": "GET /index.html 200", "app": "shop", "status": "200",
            "host.name": "web-1", "log.file.path": "/var/log/web.log",
            "@timestamp": "2023-11-14T22:13:20.250000000Z"
        })]
    );
    assert_eq!(
        server.docs("billing-db-1-2023.11.16"),
        vec![json!({
            "content": "slow query \"select 1\"\nsecond line", "app": "billing", "shard": "7", "host.name": "db-1",
            "@timestamp": "2023-11-16T02:00:00.000000001Z"
        })]
    );
}

#[test]
fn loongcollector_custom_single_layout_and_week_index() {
    let server = EsServer::start();
    let mut opts = options(&server, "logs-%{+yyyy.ww}");
    opts["Convert"] = json!({"Protocol": "custom_single", "TagFieldsRename": {"host.name": "hostname"}});
    let mut f = flusher(opts);
    export(&mut f, &events()).unwrap();
    assert_eq!(server.indices(), vec!["logs-2023.46"]);
    assert_eq!(
        server.docs("logs-2023.46")[0],
        json!({
            "contents": {"app": "shop", "content": "GET /index.html 200", "status": "200"},
            "tags": {"hostname": "web-1", "log.file.path": "/var/log/web.log"},
            "time": 1_700_000_000u64
        })
    );
}

#[test]
fn only_the_failed_items_are_resent_and_none_is_duplicated() {
    let capture = MetricsCapture::new();
    let server = EsServer::start();
    let content_is = |want: &'static str| move |_: &str, d: &Value| d["content"] == want;
    server.fail_items(429, 2, content_is("p-3"));
    server.fail_items(500, 1, content_is("p-7"));
    server.fail_items(503, 1, content_is("p-9"));
    let mut f = capture.scoped(|| flusher(options(&server, "partial")));
    export(&mut f, &[loong_testkit::log_events_with_prefix("p", 10)]).unwrap();
    assert_eq!(sorted(server.bodies()), names("p", 10), "every document exactly once");
    // 10 items, then p-3, p-7 and p-9 alone, then p-3 once more.
    assert_eq!(server.items_received(), 14);
    assert_eq!(
        server.item_statuses().into_iter().collect::<Vec<_>>(),
        vec![(201, 10), (429, 2), (500, 1), (503, 1)]
    );
    assert_eq!(server.requests(), 3);
    assert_eq!(capture.counter("es_retried_documents_total"), 4);
    assert_eq!(capture.counter("es_indexed_documents_total"), 10);
    assert_eq!(capture.counter("es_rejected_documents_total"), 0);
}

#[test]
fn item_4xx_are_counted_and_not_retried() {
    let capture = MetricsCapture::new();
    let server = EsServer::start();
    server.fail_items(400, usize::MAX, |_, d| d["content"] == "m-1");
    let mut f = capture.scoped(|| flusher(options(&server, "%{content.target}")));
    let mut batch = loong_testkit::log_events_with_prefix("m", 4);
    for (i, target) in ["good", "good", "Bad-Uppercase", "good"].iter().enumerate() {
        batch.events[i].as_log_mut().unwrap().contents.insert("target", *target);
    }
    export(&mut f, &[batch]).unwrap();
    assert_eq!(sorted(server.bodies()), vec!["m-0", "m-3"]);
    assert_eq!(server.items_received(), 4, "rejected items are not resent");
    assert_eq!(
        server.item_statuses()[&400],
        2,
        "a mapping error and an invalid index name"
    );
    assert_eq!(capture.counter("es_rejected_documents_total"), 2);
    // The next batch is not held up by them.
    export(&mut f, &[loong_testkit::log_events_with_prefix("n", 2)]).unwrap();
    assert_eq!(server.docs("good").len(), 2);
    assert_eq!(
        server.docs("content.target").len(),
        2,
        "a missing variable renders as its name"
    );
}

#[test]
fn whole_request_429_and_503_are_retried_and_413_splits_the_request() {
    let server = EsServer::start();
    server.fail_requests(&[429, 503, 413]);
    let mut f = flusher(options(&server, "whole"));
    export(&mut f, &[loong_testkit::log_events_with_prefix("w", 8)]).unwrap();
    assert_eq!(sorted(server.bodies()), names("w", 8));
    // 429, 503, 413, then the two halves.
    assert_eq!(server.requests(), 5);
    assert_eq!(server.items_received(), 8);
}

#[test]
fn bulk_max_bytes_splits_a_batch_into_several_requests() {
    let server = EsServer::start();
    let mut opts = options(&server, "small");
    opts["BulkMaxBytes"] = json!(400);
    let mut f = flusher(opts);
    export(&mut f, &[loong_testkit::log_events_with_prefix("s", 20)]).unwrap();
    assert_eq!(sorted(server.bodies()), names("s", 20));
    assert!(server.requests() >= 5, "{} requests", server.requests());
}

#[test]
fn a_batch_still_failing_goes_back_to_the_runner_and_its_retry_sends_only_the_rest() {
    let server = EsServer::start();
    server.fail_items(503, 3, |_, d| d["content"] == "r-2");
    let mut opts = options(&server, "runner");
    opts["Retry"] = json!({"MaxRetryTimes": 1, "InitialDelay": "1ms", "MaxDelay": "2ms"});
    let mut f = flusher(opts);
    let batch = [loong_testkit::log_events_with_prefix("r", 5)];
    let err = export(&mut f, &batch).unwrap_err().to_string();
    assert!(err.contains("1 of 5 documents not indexed yet"), "{err}");
    assert!(err.contains("item answered 503"), "{err}");
    export(&mut f, &batch).unwrap();
    assert_eq!(sorted(server.bodies()), names("r", 5));
    // 5, then r-2 alone three times (503, 503 / 503, 201).
    assert_eq!(server.items_received(), 8);
}

#[test]
fn basic_and_api_key_credentials_are_sent_accepted_and_rejected() {
    let server = EsServer::start();
    server.require_basic("elastic", "s3cret");
    server.require_api_key("a2V5aWQ6c2VjcmV0");
    let batch = [loong_testkit::log_events_with_prefix("a", 2)];
    let mut basic = flusher(json!({
        "Addresses": [server.url()], "Index": "auth",
        "Authentication": {"PlainText": {"Username": "elastic", "Password": "s3cret"}},
    }));
    export(&mut basic, &batch).unwrap();
    let mut key = flusher(json!({
        "Addresses": [server.url()], "Index": "auth",
        "Authentication": {"APIKey": "a2V5aWQ6c2VjcmV0", "PlainText": {"Username": "ignored", "Password": "x"}},
    }));
    export(&mut key, &[loong_testkit::log_events_with_prefix("k", 2)]).unwrap();
    assert_eq!(
        server.authorizations(),
        vec![
            Some("Basic ZWxhc3RpYzpzM2NyZXQ=".to_owned()),
            Some("ApiKey a2V5aWQ6c2VjcmV0".to_owned())
        ]
    );
    for wrong in [
        json!({"PlainText": {"Username": "elastic", "Password": "wrong"}}),
        json!({"APIKey": "bm9wZQ=="}),
        json!({}),
    ] {
        let mut f = flusher(json!({
            "Addresses": [server.url()], "Index": "auth", "Authentication": wrong,
            "Retry": {"MaxRetryTimes": 1, "InitialDelay": "1ms", "MaxDelay": "1ms"},
        }));
        let err = export(&mut f, &[loong_testkit::log_events_with_prefix("x", 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("401") && err.contains("security_exception"), "{err}");
        assert!(
            !err.contains("s3cret") && !err.contains("wrong"),
            "no credentials in errors: {err}"
        );
    }
    assert_eq!(sorted(server.bodies()), vec!["a-0", "a-1", "k-0", "k-1"]);
}

#[test]
fn requests_go_round_robin_and_fail_over_from_a_dead_address() {
    let (one, two) = (EsServer::start(), EsServer::start());
    let dead = format!("http://127.0.0.1:{}", loong_testkit::services::free_port());
    let mut f = flusher(json!({"Addresses": [dead, one.url(), two.url()], "Index": "rr", "Retry": fast_retry()}));
    for i in 0..6 {
        export(&mut f, &[loong_testkit::log_events_with_prefix(&format!("b{i}"), 1)]).unwrap();
    }
    let mut all = one.bodies();
    all.extend(two.bodies());
    assert_eq!(sorted(all), (0..6).map(|i| format!("b{i}-0")).collect::<Vec<_>>());
    assert!(
        one.requests() >= 2 && two.requests() >= 2,
        "{} / {}",
        one.requests(),
        two.requests()
    );
}

#[test]
fn receiver_down_then_back_loses_nothing() {
    let server = EsServer::start();
    let mut f = flusher(json!({
        "Addresses": [server.url()], "Index": "outage", "HTTPConfig": {"Timeout": "2s"},
        "Retry": {"MaxRetryTimes": 2, "InitialDelay": "5ms", "MaxDelay": "10ms"},
    }));
    export(&mut f, &[loong_testkit::log_events_with_prefix("before", 3)]).unwrap();
    server.down();
    let batch = [loong_testkit::log_events_with_prefix("during", 5)];
    let err = export(&mut f, &batch).unwrap_err().to_string();
    assert!(err.contains("connection failed"), "{err}");
    server.up();
    export(&mut f, &batch).unwrap();
    let mut want = names("before", 3);
    want.extend(names("during", 5));
    assert_eq!(sorted(server.bodies()), sorted(want));
}

#[test]
fn set_urgent_caps_the_backoff() {
    let port = loong_testkit::services::free_port();
    let mut f = flusher(json!({
        "Addresses": [format!("http://127.0.0.1:{port}")], "Index": "u",
        "Retry": {"MaxRetryTimes": 3, "InitialDelay": "20s", "MaxDelay": "20s"},
    }));
    f.set_urgent(true);
    let started = std::time::Instant::now();
    assert!(export(&mut f, &[loong_testkit::log_events_with_prefix("u", 1)]).is_err());
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn init_checks_options() {
    let mut registry = loong_api::Registry::new();
    loong_flusher_elasticsearch::register(&mut registry);
    let ctx = loong_testkit::mock_context("flusher_elasticsearch");
    for (options, want) in [
        (json!({"Index": "x"}), "Addresses is empty"),
        (json!({"Addresses": ["http://a:9200"]}), "Index is empty"),
        (json!({"Addresses": ["ftp://a"], "Index": "x"}), "must be http or https"),
        (
            json!({"Addresses": ["http://a"], "Index": "x-%{+yyyy.MMMM}"}),
            "unsupported date letters",
        ),
        (
            json!({"Addresses": ["http://a"], "Index": "x-%{field}"}),
            "unsupported variable",
        ),
        (
            json!({"Addresses": ["http://a"], "Index": "x", "Convert": {"Protocol": "influxdb"}}),
            "not supported by flusher_elasticsearch",
        ),
        (
            json!({"Addresses": ["http://a"], "Index": "x", "Authentication": {"TLS": {"CertFile": "/c.pem"}}}),
            "CertFile and TLS.KeyFile go together",
        ),
        (
            json!({"Addresses": ["http://a"], "Index": "x", "Authentication": {"TLS": {"MaxVersion": "1.2"}}}),
            "MaxVersion",
        ),
        (
            json!({"Addresses": ["http://a"], "Index": "x", "HTTPConfig": {"ResponseHeaderTimeout": "Fortnight"}}),
            "ResponseHeaderTimeout",
        ),
    ] {
        let (mut f, _) = registry.create_flusher("flusher_elasticsearch", &options).unwrap();
        let err = format!("{:#}", f.init(&ctx).unwrap_err());
        assert!(err.contains(want), "{options}: {err}");
    }
}
