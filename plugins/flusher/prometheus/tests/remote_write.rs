//! flusher_prometheus against the real Prometheus server (Debian's, remote write receiver on, started
//! by scripts/services.sh) and, where a test needs scripted answers or to see the raw requests,
//! against the test kit's HttpSink.

use std::sync::Arc;
use std::time::Duration;

use loong_api::model::{GroupInfo, MetricEvent, MetricType, MetricValue, PipelineEvent, now_nanos};
use loong_api::{Context, Extension, ExtensionHost, Flusher, FlusherV2, PipelineContext, PipelineGroupEvents, Result};
use loong_converter::prometheus::WriteRequest;
use loong_testkit::MetricsCapture;
use loong_testkit::http_sink::HttpSink;
use loong_testkit::services::{Service, prometheus_series as query};
use prost::Message;
use serde_json::{Value, json};

const NAME: &str = loong_flusher_prometheus::NAME;

fn create(options: &Value) -> Box<dyn Flusher> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_prometheus::register(&mut registry);
    let (f, warnings) = registry.create_flusher(NAME, options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    f
}

fn flusher(options: Value) -> Box<dyn Flusher> {
    let mut f = create(&options);
    f.init(&loong_testkit::mock_context(NAME)).unwrap();
    f
}

fn export(f: &mut Box<dyn Flusher>, groups: &[PipelineGroupEvents]) -> Result<()> {
    f.as_v2().unwrap().export(groups, &mut PipelineContext::noop())
}

fn fast_retry() -> Value {
    json!({"MaxRetryTimes": 2, "InitialDelay": "5ms", "MaxDelay": "20ms"})
}

/// A gauge sample `name{labels} value @ ms`.
fn gauge(name: &str, labels: &[(&str, &str)], value: f64, ms: i64) -> PipelineEvent {
    let mut m = MetricEvent::single(name, MetricType::Gauge, value, ms as u64 * 1_000_000);
    for (k, v) in labels {
        m.tags.insert(k.to_string(), v.to_string());
    }
    m.into()
}

fn group(events: Vec<PipelineEvent>) -> PipelineGroupEvents {
    PipelineGroupEvents::new(GroupInfo::default(), events)
}

fn now_ms() -> i64 {
    (now_nanos() / 1_000_000) as i64
}

/// The conformance suite sends log events; a remote write flusher can only store metrics. This
/// wrapper turns each log into a gauge `conformance_log{body="<the log's body>"}` stamped now (so
/// the suite's bodies can be read back from Prometheus as that label) and passes every other event
/// as it is: the suite's metrics (dated 2023, which Prometheus refuses as too old) then exercise the
/// rejection path in the same requests, and its span and byte array the skipping of non-metrics.
struct LogsAsMetrics(Box<dyn Flusher>);

impl Flusher for LogsAsMetrics {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        self.0.init(ctx)
    }
    fn description(&self) -> &str {
        self.0.description()
    }
    fn is_ready(&self, p: &str, l: &str, k: i64) -> bool {
        self.0.is_ready(p, l, k)
    }
    fn set_urgent(&mut self, flag: bool) {
        self.0.set_urgent(flag)
    }
    fn stop(&mut self) -> Result<()> {
        self.0.stop()
    }
    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV2 for LogsAsMetrics {
    fn export(&mut self, groups: &[PipelineGroupEvents], ctx: &mut PipelineContext) -> Result<()> {
        let now = now_ms();
        let converted: Vec<PipelineGroupEvents> = groups
            .iter()
            .map(|g| {
                let events = g
                    .events
                    .iter()
                    .map(|e| match e {
                        PipelineEvent::Log(log) => {
                            let body = String::from_utf8_lossy(log.body().unwrap()).into_owned();
                            let seq = log.contents.get_str("seq").and_then(|s| s.parse().ok()).unwrap_or(0.0);
                            gauge("conformance_log", &[("body", &body)], seq, now)
                        }
                        other => other.clone(),
                    })
                    .collect();
                PipelineGroupEvents::new(g.group.clone(), events)
            })
            .collect();
        self.0.as_v2().unwrap().export(&converted, ctx)
    }
}

#[test]
fn conformance_against_prometheus() {
    let prom = Arc::new(Service::start("prometheus"));
    let options = json!({"Endpoint": prom.url("/api/v1/write"), "SeriesLimit": 4});
    let p = prom.clone();
    loong_testkit::Conformance::new(NAME, move || Box::new(LogsAsMetrics(create(&options))))
        .read_back(move || {
            // One sample per body; a sample written twice is the same sample to Prometheus, so
            // duplicates cannot show here (the HttpSink tests below count requests instead).
            query(&p, "conformance_log")
                .into_iter()
                .flat_map(|(labels, samples)| samples.into_iter().map(move |_| labels["body"].clone()))
                .collect()
        })
        .run();
}

#[test]
fn every_sample_is_read_back_from_prometheus_in_order() {
    let prom = Service::start("prometheus");
    let start = now_ms() - 120_000;
    // 3 series × 40 samples, one second apart, spread over groups the way a pipeline batches them,
    // plus a multi-value event (two series) and group tags that become labels.
    let mut groups = Vec::new();
    for chunk in 0..4 {
        let mut info = GroupInfo::default();
        info.tags.insert("cluster", "c1");
        let mut events = Vec::new();
        for i in chunk * 10..(chunk + 1) * 10 {
            for host in ["a", "b", "c"] {
                events.push(gauge(
                    "loong_read_back",
                    &[("host", host)],
                    i as f64 + 0.5,
                    start + i * 1000,
                ));
            }
            events.push(
                MetricEvent {
                    name: "loong_mem".into(),
                    value: MetricValue::Multi(vec![("used".into(), i as f64), ("free".into(), 100.0 - i as f64)]),
                    timestamp: (start + i * 1000) as u64 * 1_000_000,
                    ..Default::default()
                }
                .into(),
            );
        }
        groups.push(PipelineGroupEvents::new(info, events));
    }
    let capture = MetricsCapture::new();
    let mut f =
        capture.scoped(|| flusher(json!({"Endpoint": prom.url("/api/v1/write"), "SeriesLimit": 10, "Concurrency": 3})));
    export(&mut f, &groups).unwrap();
    f.stop().unwrap();
    assert_eq!(capture.counter("prometheus_rejected_samples_total"), 0);
    assert_eq!(capture.counter("prometheus_sent_samples_total"), 40 * 5);

    let series = query(&prom, "loong_read_back");
    assert_eq!(series.len(), 3, "{series:?}");
    for (labels, samples) in &series {
        assert_eq!(labels["cluster"], "c1");
        let want: Vec<(i64, f64)> = (0..40).map(|i| (start + i * 1000, i as f64 + 0.5)).collect();
        assert_eq!(samples, &want, "series {labels:?}");
    }
    assert_eq!(
        series.iter().map(|(l, _)| l["host"].as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    for (name, value) in [
        ("loong_mem_used", Box::new(|i: i64| i as f64) as Box<dyn Fn(i64) -> f64>),
        ("loong_mem_free", Box::new(|i: i64| 100.0 - i as f64)),
    ] {
        let s = query(&prom, name);
        assert_eq!(s.len(), 1);
        let want: Vec<(i64, f64)> = (0..40).map(|i| (start + i * 1000, value(i))).collect();
        assert_eq!(s[0].1, want, "{name}");
    }
}

#[test]
fn out_of_order_samples_are_counted_rejections_and_the_rest_is_delivered() {
    let prom = Service::start("prometheus");
    let t = now_ms() - 60_000;
    let capture = MetricsCapture::new();
    let mut f = capture.scoped(|| flusher(json!({"Endpoint": prom.url("/api/v1/write"), "Retry": fast_retry()})));
    export(&mut f, &[group(vec![gauge("loong_ooo", &[("s", "x")], 1.0, t)])]).unwrap();
    // One request: 9 good samples around an out-of-order one and a duplicate timestamp with another
    // value. Prometheus refuses the whole request (400); the flusher must deliver the 9 anyway.
    let mut events: Vec<PipelineEvent> = (0..9)
        .map(|i| gauge("loong_ooo", &[("s", &format!("good{i}"))], i as f64, t))
        .collect();
    events.insert(3, gauge("loong_ooo", &[("s", "x")], 2.0, t - 10_000));
    events.insert(7, gauge("loong_ooo", &[("s", "x")], 3.0, t));
    export(&mut f, &[group(events)]).unwrap();
    assert_eq!(capture.counter("prometheus_rejected_samples_total"), 2);
    assert_eq!(capture.counter("prometheus_sent_samples_total"), 10);
    let series = query(&prom, "loong_ooo");
    assert_eq!(series.len(), 10);
    let x = series.iter().find(|(l, _)| l["s"] == "x").unwrap();
    assert_eq!(x.1, vec![(t, 1.0)], "only the first sample of x is stored");
    assert_eq!(
        capture.counter_with("prometheus_requests_total", &[("status_class", "5xx")]),
        0
    );
}

#[test]
fn series_limit_splits_requests_with_the_remote_write_headers() {
    let sink = HttpSink::start();
    let mut f = flusher(
        json!({"Endpoint": sink.url("/api/v1/write"), "SeriesLimit": 7, "Headers": {"X-Scope-OrgID": "tenant-%{tag.tenant}"}}),
    );
    let mut info = GroupInfo::default();
    info.tags.insert("tenant", "t1");
    let events = (0..25)
        .map(|i| gauge("loong_split", &[("i", &i.to_string())], i as f64, 1_000))
        .collect();
    export(&mut f, &[PipelineGroupEvents::new(info, events)]).unwrap();
    let received = sink.received();
    let sizes: Vec<usize> = received
        .iter()
        .map(|r| WriteRequest::decode(r.body.as_slice()).unwrap().timeseries.len())
        .collect();
    assert_eq!(sizes, [7, 7, 7, 4]);
    let mut values: Vec<f64> = received
        .iter()
        .flat_map(|r| WriteRequest::decode(r.body.as_slice()).unwrap().timeseries)
        .map(|s| s.samples[0].value)
        .collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, (0..25).map(f64::from).collect::<Vec<_>>());
    for r in &received {
        assert_eq!(r.headers["content-encoding"], "snappy");
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        assert_eq!(r.headers["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(r.headers["x-scope-orgid"], "tenant-t1");
    }
    // SeriesLimit 0 falls back to LoongCollector's 1000: one request.
    let sink = HttpSink::start();
    let mut f = flusher(json!({"Endpoint": sink.url("/w"), "SeriesLimit": 0}));
    let events = (0..25)
        .map(|i| gauge("loong_split", &[("i", &i.to_string())], 0.0, 1_000))
        .collect();
    export(&mut f, &[group(events)]).unwrap();
    assert_eq!(sink.received().len(), 1);
}

#[test]
fn server_errors_and_429_are_retried_other_4xx_are_not() {
    let sink = HttpSink::start();
    let capture = MetricsCapture::new();
    let mut f = capture.scoped(|| flusher(json!({"Endpoint": sink.url("/w"), "Retry": fast_retry()})));
    sink.script(&[503, 429]);
    export(&mut f, &[group(vec![gauge("m", &[], 1.0, 1_000)])]).unwrap();
    assert_eq!(sink.answered(), [503, 429, 200]);
    assert_eq!(sink.received().len(), 1);
    assert_eq!(capture.counter("prometheus_retries_total"), 2);

    // More failures than retries: the export fails, and the runner's retry of the same batch sends
    // only what was not accepted yet.
    let sink = HttpSink::start();
    let mut f = flusher(json!({"Endpoint": sink.url("/w"), "SeriesLimit": 1, "Retry": fast_retry()}));
    let batch = [group(vec![
        gauge("m", &[("n", "1")], 1.0, 1_000),
        gauge("m", &[("n", "2")], 2.0, 1_000),
    ])];
    sink.script(&[200, 500, 500, 500]);
    let err = export(&mut f, &batch).unwrap_err();
    assert!(format!("{err:#}").contains("500"), "{err:#}");
    export(&mut f, &batch).unwrap();
    let values: Vec<f64> = sink
        .received()
        .iter()
        .map(|r| WriteRequest::decode(r.body.as_slice()).unwrap().timeseries[0].samples[0].value)
        .collect();
    assert_eq!(values, [1.0, 2.0], "each sample accepted exactly once");

    // 400 and 413 are never retried: counted as rejected.
    let sink = HttpSink::start();
    let capture = MetricsCapture::new();
    let mut f = capture.scoped(|| flusher(json!({"Endpoint": sink.url("/w"), "Retry": fast_retry()})));
    sink.script(&[400, 413]);
    export(&mut f, &[group(vec![gauge("m", &[], 1.0, 1_000)])]).unwrap();
    export(&mut f, &[group(vec![gauge("m", &[], 2.0, 2_000)])]).unwrap();
    assert_eq!(sink.answered(), [400, 413]);
    assert_eq!(capture.counter("prometheus_rejected_samples_total"), 2);
}

/// Creates the extensions a flusher asks for from the basicauth plugin's registry.
struct Extensions(loong_api::Registry);

impl ExtensionHost for Extensions {
    fn get_extension(&self, name: &str, options: Option<&Value>) -> Result<Arc<dyn Extension>> {
        let plugin = name.split('/').next().unwrap();
        let (mut ext, _) = self.0.create_extension(plugin, options.unwrap_or(&json!({})))?;
        ext.init(&loong_testkit::mock_context(plugin))?;
        Ok(Arc::from(ext))
    }
}

fn with_basicauth(options: Value) -> Box<dyn Flusher> {
    let mut registry = loong_api::Registry::new();
    loong_extension_basicauth::register(&mut registry);
    let ctx = Context::builder("test")
        .plugin(NAME, format!("{NAME}/1"))
        .extensions(Arc::new(Extensions(registry)))
        .build();
    let mut f = create(&options);
    f.init(&ctx).unwrap();
    f
}

#[test]
fn ext_basicauth_credentials_are_sent_and_wrong_ones_never_logged() {
    let sink = HttpSink::start();
    sink.require_authorization("Basic bG9vbmc6czNjcmV0"); // loong:s3cret
    let auth =
        |password: &str| json!({"Type": "ext_basicauth", "Options": {"Username": "loong", "Password": password}});
    let mut good = with_basicauth(json!({"Endpoint": sink.url("/w"), "Authenticator": auth("s3cret")}));
    export(&mut good, &[group(vec![gauge("m", &[], 1.0, 1_000)])]).unwrap();
    assert_eq!(sink.received().len(), 1);

    let mut bad =
        with_basicauth(json!({"Endpoint": sink.url("/w"), "Authenticator": auth("wr0ng-pw"), "Retry": fast_retry()}));
    let err = export(&mut bad, &[group(vec![gauge("m", &[], 2.0, 2_000)])]).unwrap_err();
    let text = format!("{err:#} {err:?}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("wr0ng-pw"), "the password leaked: {text}");
    assert_eq!(sink.answered(), [200, 401, 401, 401], "401 is retried");
    assert_eq!(sink.received().len(), 1);

    // Credentials in the Endpoint's URL work the same and stay out of errors too.
    let endpoint = sink.url("/w").replace("http://", "http://loong:s3cret@");
    let mut f = flusher(json!({"Endpoint": endpoint}));
    export(&mut f, &[group(vec![gauge("m", &[], 3.0, 3_000)])]).unwrap();
    assert_eq!(sink.received().len(), 2);
    let wrong = sink.url("/w").replace("http://", "http://loong:wr0ng-pw@");
    let mut f = flusher(json!({"Endpoint": wrong, "Retry": {"Enable": false}}));
    let err = export(&mut f, &[group(vec![gauge("m", &[], 4.0, 4_000)])]).unwrap_err();
    assert!(!format!("{err:#} {err:?}").contains("wr0ng-pw"));
}

#[test]
fn an_outage_fails_the_export_and_the_retry_delivers_everything() {
    let prom = Service::start("prometheus");
    let start = now_ms() - 60_000;
    let mut f = flusher(
        json!({"Endpoint": prom.url("/api/v1/write"), "SeriesLimit": 5, "Retry": fast_retry(), "Timeout": "2s"}),
    );
    let batch = |from: i64| {
        [group(
            (from..from + 10)
                .map(|i| {
                    gauge(
                        "loong_outage",
                        &[("k", &(i % 3).to_string())],
                        i as f64,
                        start + i * 100,
                    )
                })
                .collect(),
        )]
    };
    let first = batch(0);
    export(&mut f, &first).unwrap();
    prom.stop();
    let second = batch(10);
    assert!(
        export(&mut f, &second).is_err(),
        "nothing can be accepted while the server is down"
    );
    prom.restart();
    export(&mut f, &second).unwrap();
    let mut got: Vec<(i64, f64)> = query(&prom, "loong_outage").into_iter().flat_map(|(_, s)| s).collect();
    got.sort_by_key(|s| s.0);
    let want: Vec<(i64, f64)> = (0..20).map(|i| (start + i * 100, i as f64)).collect();
    assert_eq!(got, want);
}

#[test]
fn non_metric_events_are_skipped_and_counted_and_v1_is_not_offered() {
    let sink = HttpSink::start();
    let capture = MetricsCapture::new();
    let mut f = capture.scoped(|| flusher(json!({"Endpoint": sink.url("/w")})));
    assert!(f.as_v1().is_none(), "V2 only");
    export(&mut f, &loong_testkit::sample_events()).unwrap();
    // sample_events: a log, a counter, a 3-value histogram, a span and a byte array.
    assert_eq!(capture.counter("prometheus_skipped_events_total"), 3);
    let series: usize = sink
        .received()
        .iter()
        .map(|r| WriteRequest::decode(r.body.as_slice()).unwrap().timeseries.len())
        .sum();
    assert_eq!(series, 4);
    assert!(flusher_init_error(json!({"Endpoint": ""})).contains("Endpoint is empty"));
    assert!(flusher_init_error(json!({"Endpoint": "ftp://x"})).contains("http or https"));
    assert!(flusher_init_error(json!({"Endpoint": "http://x", "Concurrency": 0})).contains("Concurrency"));
}

fn flusher_init_error(options: Value) -> String {
    let mut f = create(&options);
    format!("{:#}", f.init(&loong_testkit::mock_context(NAME)).unwrap_err())
}

#[test]
fn a_down_endpoint_fails_promptly_without_retries() {
    // A stopped server with retries disabled: one attempt, a prompt error.
    let port = loong_testkit::services::free_port();
    let mut f =
        flusher(json!({"Endpoint": format!("http://127.0.0.1:{port}/w"), "Retry": {"Enable": false}, "Timeout": "1s"}));
    let started = std::time::Instant::now();
    assert!(export(&mut f, &[group(vec![gauge("m", &[], 1.0, 1_000)])]).is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}
