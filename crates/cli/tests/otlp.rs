//! flusher_otlp end to end: the `loong` binary and in-process pipelines sending to the real OTLP
//! receiver of `scripts/services/otlp.sh` (PyPI opentelemetry-proto + grpcio), which decodes every
//! request with the official classes; every record is read back and compared.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{run_on_stdin, run_once, start, wait};
use loong_runtime::StopMode;
use loong_testkit::services::{Service, curl};
use serde_json::Value;

struct Receiver(Service);

impl Receiver {
    fn start() -> Receiver {
        Receiver(Service::start("otlp"))
    }

    fn endpoint(&self, protocol: &str) -> String {
        match protocol {
            "grpc" => format!("http://127.0.0.1:{}", self.0.port() + 1),
            _ => self.0.url(""),
        }
    }

    /// Every item received so far (empty while the receiver is down).
    fn items(&self) -> Vec<Value> {
        let out = Command::new("curl")
            .args(["-fsS", &self.0.url("/received")])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn stats(&self) -> Value {
        serde_json::from_str(&curl(&[&self.0.url("/stats")])).unwrap()
    }
}

fn attribute<'a>(attributes: &'a Value, key: &str) -> Option<&'a str> {
    attributes
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?
        .pointer("/value/string_value")?
        .as_str()
}

fn nanos() -> u64 {
    loong_api::model::now_nanos()
}

#[test]
fn loong_sends_every_line_of_a_file_over_otlp_grpc() {
    let rx = Receiver::start();
    let logs = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let path = logs.path().join("app.log");
    let lines: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                "{i:06} GET /api/v1/items?id={} 200 {}ms «ünïcode» \"quoted\"",
                i * 7,
                i % 97
            )
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let config = conf.path().join("to_otlp.yaml");
    std::fs::write(
        &config,
        format!(
            r#"global: {{StructureType: v2}}
inputs:
  - Type: input_file
    FilePaths: ["{}/*.log"]
flushers:
  - Type: flusher_otlp
    Logs:
      Endpoint: {}
      Compression: gzip
      Headers: {{X-Scope-OrgID: tenant-1}}
"#,
            logs.path().display(),
            rx.endpoint("grpc")
        ),
    )
    .unwrap();
    let started = nanos();
    run_once(&config, None);
    let ended = nanos();

    let items = rx.items();
    assert_eq!(items.len(), lines.len(), "one log record per line");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (item, line) in items.iter().zip(&lines) {
        assert_eq!(item["signal"], "logs");
        assert_eq!(item["transport"], "grpc");
        assert_eq!(item["headers"]["x-scope-orgid"], "tenant-1");
        let resource = &item["resource"]["attributes"];
        assert_eq!(attribute(resource, "log.file.path"), Some(path.to_str().unwrap()));
        assert_eq!(attribute(resource, "host.name"), Some(host.trim()));
        let record = &item["item"];
        assert_eq!(
            record["body"]["string_value"],
            line.as_str(),
            "in file order, each once"
        );
        let time: u64 = record["time_unix_nano"].as_str().unwrap().parse().unwrap();
        assert!((started..=ended).contains(&time), "read time {time}");
        assert!(record.get("attributes").is_none(), "nothing but the body: {record}");
    }
}

#[test]
fn loong_sends_stdin_lines_over_otlp_http() {
    let rx = Receiver::start();
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("stdin.yaml"),
        format!(
            r#"global: {{StructureType: v2}}
inputs:
  - Type: input_stdin
processors:
  - Type: processor_parse_json_native
    SourceKey: content
    KeepingSourceWhenParseSucceed: true
flushers:
  - Type: flusher_otlp
    Protocol: http
    Endpoint: {}
    Headers: {{Authorization: "Bearer t0ken"}}
    Logs: {{Compression: gzip}}
"#,
            rx.endpoint("http")
        ),
    )
    .unwrap();
    let lines: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                r#"{{"level":"{}","user":"u{i}","n":{i}}}"#,
                ["info", "warn", "error"][i % 3]
            )
        })
        .collect();
    let mut child = run_on_stdin(conf.path(), data.path(), &lines);
    let done = || rx.stats()["items"]["logs"].as_u64() == Some(2000);
    let start = Instant::now();
    while !done() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());
    let items = rx.items();
    assert_eq!(items.len(), 2000);
    let mut seen = BTreeMap::new();
    for item in &items {
        assert_eq!(item["transport"], "http");
        assert_eq!(item["headers"]["authorization"], "Bearer t0ken");
        assert_eq!(item["headers"]["content-encoding"], "gzip");
        let record = &item["item"];
        let body = record["body"]["string_value"].as_str().unwrap();
        let line: Value = serde_json::from_str(body).unwrap();
        let level = line["level"].as_str().unwrap();
        assert_eq!(record["severity_text"], level, "the parsed level is the severity");
        let number = match level {
            "info" => "SEVERITY_NUMBER_INFO",
            "warn" => "SEVERITY_NUMBER_WARN",
            _ => "SEVERITY_NUMBER_ERROR",
        };
        assert_eq!(record["severity_number"], number);
        let attrs = &record["attributes"];
        assert_eq!(attribute(attrs, "user"), line["user"].as_str());
        assert_eq!(attribute(attrs, "n"), Some(line["n"].to_string().as_str()));
        assert!(attribute(attrs, "level").is_none());
        *seen.entry(body.to_owned()).or_insert(0) += 1;
    }
    let want: BTreeMap<String, i32> = lines.into_iter().map(|l| (l, 1)).collect();
    assert_eq!(seen, want, "every line exactly once");
}

/// The `Index` attribute of every log record received.
fn indices(items: &[Value]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|i| attribute(&i["item"]["attributes"], "Index")?.parse().ok())
        .collect()
}

#[test]
fn a_receiver_stopped_mid_stream_and_restarted_loses_nothing() {
    for protocol in ["grpc", "http"] {
        let rx = Receiver::start();
        let pipeline = start(
            &format!("fault-{protocol}"),
            &format!(
                r#"
global: {{StructureType: v2, FlushRetry: {{InitialDelay: 200ms, MaxDelay: 1s}}}}
inputs: [{{Type: metric_mock, EventsPerCollect: 20, MaxEvents: 3000, Interval: 20ms}}]
flushers:
  - Type: flusher_otlp
    Protocol: {protocol}
    Endpoint: {}
    Logs: {{Compression: gzip, Timeout: 2000, Retry: {{MaxCount: 1, DefaultDelay: 100ms}}}}
"#,
                rx.endpoint(protocol)
            ),
        );
        wait("the first records", Duration::from_secs(30), || rx.items().len() >= 300);
        rx.0.stop();
        // The input keeps producing while the receiver is down (an outage, not a measurement).
        std::thread::sleep(Duration::from_secs(3));
        rx.0.restart();
        wait("every record after the outage", Duration::from_secs(60), || {
            indices(&rx.items()).into_iter().collect::<BTreeSet<_>>().len() >= 3000
        });
        pipeline.stop(StopMode::Drain);
        let got = indices(&rx.items());
        let unique: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(unique, (1..=3000).collect(), "{protocol}: no gaps");
        // At least once: only a request the receiver was taking as it was killed may come again.
        let duplicates = got.len() - unique.len();
        assert!(duplicates < 1500, "{protocol}: {duplicates} duplicates");
    }
}

#[test]
fn metric_mock_gauges_arrive_as_otlp_gauges() {
    let rx = Receiver::start();
    let pipeline = start(
        "metrics",
        &format!(
            r#"
global: {{StructureType: v2}}
inputs: [{{Type: metric_mock, MetricName: requests, Fields: {{host: web-1}}, MaxEvents: 100, Interval: 5ms}}]
flushers:
  - Type: flusher_otlp
    Metrics: {{Endpoint: {}}}
"#,
            rx.endpoint("grpc")
        ),
    );
    wait("100 metrics", Duration::from_secs(30), || {
        rx.stats()["items"]["metrics"].as_u64() >= Some(100)
    });
    pipeline.stop(StopMode::Drain);
    let mut values: Vec<f64> = rx
        .items()
        .iter()
        .map(|i| {
            let m = &i["item"];
            assert_eq!(m["name"], "requests");
            let p = &m["gauge"]["data_points"][0];
            assert_eq!(attribute(&p["attributes"], "host"), Some("web-1"));
            p["as_double"].as_f64().unwrap()
        })
        .collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, (1..=100).map(f64::from).collect::<Vec<_>>());
}
