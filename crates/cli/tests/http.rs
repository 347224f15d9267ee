//! flusher_http in real pipelines: built-in plugins and extensions from the registry, a real HTTP
//! server (the test kit's HttpSink), the runner's delivery contract, and the `loong` binary.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use loong_api::MemoryCheckpoints;
use loong_runtime::builder::{self, Env};
use loong_runtime::{PipelineConfig, RunningPipeline, StopMode};
use loong_testkit::http_sink::HttpSink;
use serde_json::Value;

/// One runtime for the whole test binary: dropping a runtime cancels the tasks plugins spawned on it.
fn runtime() -> tokio::runtime::Handle {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| tokio::runtime::Runtime::new().unwrap())
        .handle()
        .clone()
}

fn start(name: &str, yaml: &str) -> RunningPipeline {
    let env = Env {
        registry: Arc::new(loong_plugins_all::registry()),
        checkpoints: Arc::new(MemoryCheckpoints::default()),
        runtime: runtime(),
    };
    let config = PipelineConfig::parse(Path::new(&format!("{name}.yaml")), yaml).unwrap();
    RunningPipeline::start(builder::create(config, &env).unwrap().init().unwrap(), Vec::new())
}

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

fn wait(what: &str, timeout: Duration, f: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_loong"))
        .args(["run", "--config-dir"])
        .arg(conf.path())
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = (0..1000)
        .map(|i| format!("request {i} took {}ms \"ok\"", i % 97))
        .collect();
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in &lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
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
