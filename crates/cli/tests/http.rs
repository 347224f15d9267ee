//! flusher_http in real pipelines: built-in plugins and extensions from the registry, a real HTTP
//! server (the test kit's HttpSink), the runner's delivery contract, and the `loong` binary.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::{run_on_stdin, start, wait};
use loong_runtime::StopMode;
use loong_testkit::http_sink::HttpSink;
use loong_testkit::services::curl;
use serde_json::Value;

/// The `Index` of every metric_mock event the server received (jsonline bodies).
fn indices(sink: &HttpSink) -> Vec<u64> {
    sink.received()
        .iter()
        .flat_map(|r| {
            String::from_utf8_lossy(&r.body)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .filter_map(|v| v.get("Index").and_then(Value::as_str).and_then(|s| s.parse().ok()))
        .collect()
}

#[test]
fn an_endpoint_down_for_30_seconds_loses_nothing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pipeline = start(
        "outage",
        &format!(
            r#"
global: {{StructureType: v2, FlushRetry: {{InitialDelay: 200ms, MaxDelay: 2s}}}}
inputs: [{{Type: metric_mock, EventsPerCollect: 20, MaxEvents: 2000, Interval: 50ms}}]
flushers:
  - Type: flusher_http
    RemoteURL: http://127.0.0.1:{port}/write
    Convert: {{Protocol: jsonline}}
    Compression: gzip
    Retry: {{MaxRetryTimes: 2, InitialDelay: 100ms, MaxDelay: 500ms}}
    Timeout: 2s
"#
        ),
    );
    std::thread::sleep(Duration::from_secs(30));
    let sink = HttpSink::start_on(port);
    wait("every event after the outage", Duration::from_secs(60), || {
        indices(&sink).len() >= 2000
    });
    pipeline.stop(StopMode::Drain);
    let got = indices(&sink);
    assert_eq!(got.len(), 2000, "no duplicates");
    assert_eq!(
        got.into_iter().collect::<BTreeSet<_>>(),
        (1..=2000).collect(),
        "no gaps"
    );
}

#[test]
fn basic_and_bearer_authentication_are_accepted_and_rejected() {
    for (ext, options, header) in [
        (
            "ext_basicauth",
            "Username: loong\n    Password: s3cret",
            "Basic bG9vbmc6czNjcmV0",
        ),
        ("ext_bearer_token", "Token: t0ken", "Bearer t0ken"),
    ] {
        let sink = HttpSink::start();
        sink.require_authorization(header);
        let yaml = |opts: &str| {
            format!(
                "global: {{StructureType: v2, StopTimeout: 2s}}\ninputs: [{{Type: metric_mock, EventsPerCollect: 5, MaxEvents: 5, Interval: 10ms}}]\naggregators: []\nflushers:\n  - Type: flusher_http\n    RemoteURL: {}\n    Convert: {{Protocol: jsonline}}\n    Authenticator: {{Type: {ext}/main}}\n    Retry: {{MaxRetryTimes: 0}}\nextensions:\n  - Type: {ext}/main\n    {opts}\n",
                sink.url("/auth")
            )
        };
        let good = start("auth-good", &yaml(options));
        wait("authenticated delivery", Duration::from_secs(20), || {
            indices(&sink).len() == 5
        });
        good.stop(StopMode::Drain);

        let wrong = options.replace("s3cret", "wrong").replace("t0ken", "other");
        let bad = start("auth-bad", &yaml(&wrong));
        wait("a 401", Duration::from_secs(20), || sink.answered().contains(&401));
        bad.stop(StopMode::Drain);
        assert_eq!(
            indices(&sink).len(),
            5,
            "{ext}: nothing accepted with wrong credentials"
        );
    }
}

#[test]
fn loong_sends_stdin_lines_to_an_http_server() {
    let sink = HttpSink::start();
    sink.require_authorization("Basic dTpw");
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("to_http.yaml"),
        format!(
            r#"# stdin lines → an HTTP endpoint as gzip-compressed JSON lines, with basic auth.
global: {{StructureType: v2}}
inputs:
  - Type: input_stdin
flushers:
  - Type: flusher_http
    RemoteURL: {}
    Convert: {{Protocol: jsonline}}
    Compression: gzip
    Headers: {{X-Source: "%{{tag.source}}"}}
    Authenticator: {{Type: ext_basicauth/u}}
extensions:
  - Type: ext_basicauth/u
    Username: u
    Password: p
"#,
            sink.url("/ingest")
        ),
    )
    .unwrap();
    let lines: Vec<String> = (0..1000)
        .map(|i| format!("request {i} took {}ms \"ok\"", i % 97))
        .collect();
    let mut child = run_on_stdin(conf.path(), data.path(), &lines);
    let ok = sink.wait_for_bodies(1000, Duration::from_secs(30));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(ok, "received {} of 1000 lines", sink.bodies().len());
    assert!(status.success());
    let mut got = sink.bodies();
    got.sort();
    let mut want = lines.clone();
    want.sort();
    assert_eq!(got, want);
    assert!(sink.received().iter().all(|r| r.headers["content-encoding"] == "gzip"));
}

#[test]
fn an_encoder_extension_wins_over_convert() {
    let sink = HttpSink::start();
    let pipeline = start(
        "encoder",
        &format!(
            r#"
global: {{StructureType: v2}}
inputs: [{{Type: metric_mock, MetricName: cpu, Fields: {{host: h1}}, EventsPerCollect: 3, MaxEvents: 3, Interval: 10ms}}]
flushers:
  - Type: flusher_http
    RemoteURL: {}
    Convert: {{Protocol: jsonline}}
    Encoder: {{Type: ext_default_encoder, Options: {{Format: influxdb}}}}
"#,
            sink.url("/enc")
        ),
    );
    wait("the encoded body", Duration::from_secs(20), || {
        !sink.received().is_empty()
    });
    pipeline.stop(StopMode::Drain);
    let got = sink.received();
    let body = String::from_utf8_lossy(&got[0].body).into_owned();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 3, "{body}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("cpu,host=h1 value={} ", i + 1)),
            "influx line protocol, not JSON: {line}"
        );
    }
    assert_eq!(got[0].headers["content-type"], "application/octet-stream");
}

#[test]
fn flush_and_request_interceptors_apply_to_flusher_http() {
    let sink = HttpSink::start();
    let pipeline = start(
        "interceptors",
        &format!(
            r#"
global: {{StructureType: v2}}
inputs:
  - {{Type: metric_mock, Tags: {{env: prod}}, Fields: {{from: prod}}, EventsPerCollect: 5, MaxEvents: 5, Interval: 10ms}}
  - {{Type: metric_mock, Tags: {{env: dev}}, Fields: {{from: dev}}, EventsPerCollect: 5, MaxEvents: 5, Interval: 10ms}}
aggregators: []
flushers:
  - Type: flusher_http
    RemoteURL: {}
    Convert: {{Protocol: jsonline}}
    FlushInterceptor: {{Type: ext_groupinfo_filter/prod}}
    RequestInterceptors:
      - {{Type: ext_request_headers, Options: {{Headers: {{X-Team: core}}}}}}
extensions:
  - Type: ext_groupinfo_filter/prod
    Tags: {{env: {{Pattern: "^prod$"}}}}
"#,
            sink.url("/i")
        ),
    );
    wait("the prod events", Duration::from_secs(20), || indices(&sink).len() >= 5);
    // The dev input runs as long; give its groups time to (not) arrive.
    std::thread::sleep(Duration::from_millis(500));
    pipeline.stop(StopMode::Drain);
    let got = sink.received();
    let sources: BTreeSet<String> = got
        .iter()
        .flat_map(|r| {
            String::from_utf8_lossy(&r.body)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|l| {
            serde_json::from_str::<Value>(&l).unwrap()["from"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        sources,
        BTreeSet::from(["prod".to_owned()]),
        "the flush interceptor keeps only env=prod"
    );
    assert!(
        got.iter().all(|r| r.headers["x-team"] == "core"),
        "the request interceptor's header"
    );
}

#[test]
fn a_request_breaker_stops_hammering_a_failing_endpoint() {
    let sink = HttpSink::start();
    sink.script(&[503; 100]);
    let pipeline = start(
        "breaker",
        &format!(
            r#"
global: {{StructureType: v2, FlushRetry: {{InitialDelay: 10ms, MaxDelay: 50ms}}}}
inputs: [{{Type: metric_mock, EventsPerCollect: 5, MaxEvents: 5, Interval: 10ms}}]
flushers:
  - Type: flusher_http
    RemoteURL: {}
    Convert: {{Protocol: jsonline}}
    Retry: {{MaxRetryTimes: 5, InitialDelay: 1ms, MaxDelay: 5ms}}
    RequestInterceptors:
      - {{Type: ext_request_breaker, Options: {{FailureRatio: 0.5, MinObservations: 3, Cooldown: 1h}}}}
"#,
            sink.url("/b")
        ),
    );
    wait("three failed requests", Duration::from_secs(20), || {
        sink.answered().len() >= 3
    });
    // Retries keep coming (flusher and runner), but the open circuit keeps them off the network.
    std::thread::sleep(Duration::from_millis(1500));
    let answered = sink.answered();
    pipeline.stop(StopMode::Drain);
    assert_eq!(
        answered,
        vec![503, 503, 503],
        "only the requests before the circuit opened"
    );
}

#[test]
fn influxdb_stores_every_point_of_the_influxdb_protocol() {
    let influx = loong_testkit::services::Service::start("influxdb");
    curl(&[
        "-XPOST",
        &influx.url("/query"),
        "--data-urlencode",
        "q=CREATE DATABASE loong",
    ]);
    let pipeline = start(
        "influx",
        &format!(
            r#"
global: {{StructureType: v2}}
inputs: [{{Type: metric_mock, MetricName: requests, Fields: {{host: web-1, region: eu}}, MaxEvents: 50, Interval: 5ms}}]
flushers:
  - Type: flusher_http
    RemoteURL: {}
    Query: {{db: loong}}
    Convert: {{Protocol: influxdb, Encoding: custom}}
    Compression: gzip
"#,
            influx.url("/write")
        ),
    );
    let query = || {
        let body = curl(&[
            "-G",
            &influx.url("/query"),
            "--data-urlencode",
            "db=loong",
            "--data-urlencode",
            "q=SELECT value, host, region FROM requests",
        ]);
        let v: Value = serde_json::from_str(&body).unwrap();
        v["results"][0]["series"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait("50 points in InfluxDB", Duration::from_secs(30), || query().len() >= 50);
    pipeline.stop(StopMode::Drain);
    let rows = query();
    let mut values: Vec<i64> = rows.iter().map(|r| r[1].as_f64().unwrap() as i64).collect();
    values.sort();
    assert_eq!(values, (1..=50).collect::<Vec<_>>());
    assert!(
        rows.iter().all(|r| r[2] == "web-1" && r[3] == "eu"),
        "tags stored: {:?}",
        rows[0]
    );
}

#[test]
fn prometheus_receives_remote_write_from_ext_default_encoder() {
    let prom = loong_testkit::services::Service::start("prometheus");
    let pipeline = start(
        "prom",
        &format!(
            r#"
global: {{StructureType: v2}}
inputs: [{{Type: metric_mock, MetricName: loong_test_gauge, Fields: {{job: loong, instance: h1}}, MaxEvents: 20, Interval: 20ms}}]
flushers:
  - Type: flusher_http
    RemoteURL: {}
    Encoder: {{Type: ext_default_encoder, Options: {{Format: prometheus, SeriesLimit: 7}}}}
    Compression: snappy
    Headers: {{X-Prometheus-Remote-Write-Version: 0.1.0}}
"#,
            prom.url("/api/v1/write")
        ),
    );
    let query = || {
        let body = curl(&[
            "-G",
            &prom.url("/api/v1/query"),
            "--data-urlencode",
            "query=loong_test_gauge[1h]",
        ]);
        let v: Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    };
    wait("20 samples in Prometheus", Duration::from_secs(30), || {
        query()
            .first()
            .and_then(|s| s["values"].as_array().map(Vec::len))
            .unwrap_or(0)
            >= 20
    });
    pipeline.stop(StopMode::Drain);
    let series = query();
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0]["metric"]["job"], "loong");
    assert_eq!(series[0]["metric"]["instance"], "h1");
    let values: Vec<i64> = series[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[1].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values, (1..=20).collect::<Vec<_>>(), "every sample, in order");
}
