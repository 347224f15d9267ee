//! End to end: the built `loong` binary on real config files, real processes, real signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn loong() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loong"));
    c.env("LOONG_LOG", "info");
    c
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A running agent whose stdout lines arrive on a channel; killed on drop if still running.
struct Agent {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Agent {
    fn start(config_dir: &Path, data_dir: &Path, extra: &[&str]) -> Agent {
        let mut child = loong()
            .args(["run", "--scan-interval", "200ms", "--config-dir"])
            .arg(config_dir)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start loong");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Agent { child, lines, stderr }
    }

    fn next_json(&self, timeout: Duration) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("no output; stderr:\n{}", self.stderr()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("invalid JSON {line:?}: {e}"))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_stderr(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while !self.stderr().contains(needle) {
            assert!(
                start.elapsed() < timeout,
                "{needle:?} not logged; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "loong did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(path: &Path, text: &str) {
    // Write then rename, as editors and config management do, so a scan never sees half a file.
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A log content: flusher_stdout prints a V2 log's contents at the top level, as LoongCollector does.
fn content<'a>(event: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    event.get(key).and_then(|v| v.as_str())
}

#[test]
fn default_config_prints_events() {
    let data = tempfile::tempdir().unwrap();
    let root = workspace_root();
    let agent = Agent::start(&root.join("conf/continuous_pipeline_config/local"), data.path(), &[]);
    let event = agent.next_json(Duration::from_secs(20));
    assert_eq!(event["eventType"], "log", "{event}");
    assert_eq!(content(&event, "content"), Some("hello from loong-rs"), "{event}");
    let status = agent.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn check_rejects_bad_configs_naming_file_plugin_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "typo.yaml",
            "inputs: [{Type: metric_mock}]\nflushers: [{Type: flusher_stdot}]\n",
            "flushers[0] flusher_stdot: can't find plugin flusher_stdot (did you mean flusher_stdout?)",
        ),
        (
            "prefix.yaml",
            "inputs: [{Type: metric_mock}]\nflushers: [{Type: sink_stdout}]\n",
            "flushers[0] sink_stdout: can't find plugin sink_stdout (a flusher type starts with flusher_)",
        ),
        (
            "kind.yaml",
            "inputs: [{Type: flusher_stdout}]\nflushers: [{Type: flusher_stdout}]\n",
            "inputs[0] flusher_stdout: can't find plugin flusher_stdout (flusher_stdout is a flusher: list it under flushers)",
        ),
        (
            "type.yaml",
            "inputs: [{Type: metric_mock}]\nflushers:\n  - Type: flusher_blackhole\n  - Type: flusher_stdout\n    OnlyStdout: \"yes please\"\n",
            "flushers[1] flusher_stdout: key \"OnlyStdout\": invalid type: string \"yes please\", expected a boolean",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = loong().arg("check").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} accepted");
        let want = format!("{}: {expected}", path.display());
        assert!(stderr.contains(&want), "{name}: expected\n  {want}\nin\n{stderr}");
    }
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "inputs: [{Type: metric_mock, Tiemout: 1}]\nflushers: [{Type: flusher_blackhole}]\n",
    )
    .unwrap();
    let out = loong().arg("check").arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("key \"Tiemout\": unknown option"),
        "unknown keys warn"
    );
}

#[test]
fn shipped_configs_are_valid() {
    let root = workspace_root();
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["conf/continuous_pipeline_config/local", "conf/examples"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    let out = loong().arg("check").args(&files).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn hot_reload_applies_valid_changes_keeps_old_on_invalid_and_stops_on_removal() {
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let pipeline = conf.path().join("app.yaml");
    let config = |tag: &str| {
        format!(
            "global: {{StructureType: v2}}\ninputs:\n  - Type: metric_mock\n    Interval: 50ms\n    Fields: {{version: \"{tag}\"}}\naggregators: []\nflushers:\n  - Type: flusher_stdout\n    OnlyStdout: true\n"
        )
    };
    write(&pipeline, &config("one"));
    let agent = Agent::start(conf.path(), data.path(), &[]);
    let tag = |e: &serde_json::Value| content(e, "version").map(str::to_owned);
    let first = agent.next_json(Duration::from_secs(20));
    assert_eq!(tag(&first).as_deref(), Some("one"), "{first}");

    write(&pipeline, &config("two"));
    let start = Instant::now();
    loop {
        let e = agent.next_json(Duration::from_secs(20));
        if tag(&e).as_deref() == Some("two") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "reload not applied");
    }

    write(
        &pipeline,
        "inputs: [{Type: metric_mock}]\nflushers: [{Type: flusher_nope}]\n",
    );
    agent.wait_stderr("can't find plugin flusher_nope", Duration::from_secs(20));
    assert!(agent.stderr().contains("the previous version keeps running"));
    while agent.lines.try_recv().is_ok() {}
    let still = agent.next_json(Duration::from_secs(10));
    assert_eq!(tag(&still).as_deref(), Some("two"), "old version still runs");

    std::fs::remove_file(&pipeline).unwrap();
    agent.wait_stderr("config removed; stopping", Duration::from_secs(20));
    agent.wait_stderr("pipeline stopped", Duration::from_secs(20));
    while agent.lines.try_recv().is_ok() {}
    std::thread::sleep(Duration::from_millis(500));
    assert!(agent.lines.try_recv().is_err(), "no output after removal");
    assert!(agent.terminate().success());
}

#[test]
fn monitor_serves_metrics_and_health_on_loopback() {
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(
        &conf.path().join("m.yaml"),
        "global: {Project: p1, Logstore: l1}\ninputs: [{Type: metric_mock, Interval: 20ms}]\naggregators: []\nflushers: [{Type: flusher_blackhole}]\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let agent = Agent::start(conf.path(), data.path(), &["--monitor", &addr]);
    agent.wait_stderr("serving /metrics and /health", Duration::from_secs(20));
    let get = |path: &str| {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    };
    let start = Instant::now();
    let metrics = loop {
        let m = get("/metrics");
        if m.contains("in_events_total{") {
            break m;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no flusher metrics:\n{m}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let line = metrics.lines().find(|l| l.starts_with("in_events_total{")).unwrap();
    for label in [
        "project=\"p1\"",
        "logstore=\"l1\"",
        "pipeline_name=\"m\"",
        "plugin_id=\"flusher_blackhole/1\"",
        "plugin_type=\"flusher_blackhole\"",
    ] {
        assert!(line.contains(label), "{label} missing in {line}");
    }
    for name in ["in_event_groups_total", "in_size_bytes", "total_delay_ms"] {
        assert!(metrics.contains(name), "{name} missing");
    }
    let health = get("/health");
    assert!(
        health.starts_with("HTTP/1.0 200") || health.starts_with("HTTP/1.1 200"),
        "{health}"
    );
    assert!(health.contains("\"pipelines\":[\"m\"]"), "{health}");

    let refused = loong()
        .args(["run", "--monitor", "0.0.0.0:1"])
        .arg("--config-dir")
        .arg(conf.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a loopback address"));
    assert!(agent.terminate().success());
}

#[test]
fn plugins_lists_every_plugin_and_docs_are_current() {
    let out = loong().args(["plugins", "--json"]).output().unwrap();
    assert!(out.status.success());
    let docs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for want in ["metric_mock", "input_stdin", "flusher_stdout", "flusher_blackhole"] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    let stdout = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "flusher_stdout")
        .unwrap();
    let options: Vec<&str> = stdout["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for o in ["OnlyStdout", "FileName", "MaxSize", "MaxRolls", "KeyValuePairs", "Tags"] {
        assert!(
            options.contains(&o),
            "flusher_stdout option {o} not documented: {options:?}"
        );
    }
    let status = loong()
        .args(["plugins", "--check", "--docs-dir"])
        .arg(workspace_root().join("docs/plugins"))
        .status()
        .unwrap();
    assert!(status.success(), "docs/plugins is stale: run `make gen`");
}

#[test]
fn stdin_lines_are_printed_and_the_agent_exits_cleanly() {
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(
        &conf.path().join("stdin.yaml"),
        "global: {StructureType: v2}\ninputs: [{Type: input_stdin}]\naggregators: []\nflushers: [{Type: flusher_stdout, OnlyStdout: true}]\n",
    );
    let mut child = loong()
        .args(["run", "--config-dir"])
        .arg(conf.path())
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = (0..100).map(|i| format!("line {i} \u{00e9} \"quoted\"")).collect();
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in &lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut got = Vec::new();
    let mut line = String::new();
    while got.len() < lines.len() {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "output ended after {} lines",
            got.len()
        );
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        got.push(content(&v, "content").unwrap().to_owned());
    }
    assert_eq!(got, lines);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
}
