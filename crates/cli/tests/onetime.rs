//! One-time pipelines with the `loong` binary: `run --once` and the one-time config directory.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use loong_testkit::http_sink::HttpSink;

fn loong() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loong"));
    c.env("LOONG_LOG", "info");
    c
}

#[test]
fn run_once_delivers_everything_and_exits_zero() {
    let sink = HttpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("backfill.yaml");
    std::fs::write(
        &config,
        format!(
            "inputs: [{{Type: input_stdin}}]\nflushers: [{{Type: flusher_http, RemoteURL: {}, Convert: {{Protocol: jsonline}}}}]\n",
            sink.url("/once")
        ),
    )
    .unwrap();
    let mut child = loong()
        .args(["run", "--once"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..500 {
            writeln!(stdin, "line {i}").unwrap();
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut got: Vec<String> = sink
        .received()
        .iter()
        .flat_map(|r| {
            String::from_utf8_lossy(&r.body)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(&l).unwrap()["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    want.sort();
    assert_eq!(got, want, "every line exactly once, delivered before the exit");
}

#[test]
fn run_once_fails_when_data_is_not_delivered() {
    let port = loong_testkit::services::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("unreachable.yaml");
    std::fs::write(
        &config,
        format!(
            "global: {{FlushRetry: {{InitialDelay: 10ms, MaxDelay: 20ms, MaxRetries: 2}}}}\n\
             inputs: [{{Type: metric_mock, MaxEvents: 3, EventsPerCollect: 3, Interval: 10ms}}]\n\
             flushers: [{{Type: flusher_http, RemoteURL: 'http://127.0.0.1:{port}/x', Retry: {{Enable: false}}}}]\n"
        ),
    )
    .unwrap();
    let out = loong().args(["run", "--once"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not everything was delivered"), "{stderr}");
}

#[test]
fn run_once_names_the_file_of_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(
        &config,
        "inputs: [{Type: input_nope}]\nflushers: [{Type: flusher_blackhole}]\n",
    )
    .unwrap();
    let out = loong().args(["run", "--once"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml") && stderr.contains("input_nope"), "{stderr}");
}

/// The agent runs each config of the one-time directory once; a restart does not run it again, a
/// changed config runs again.
#[test]
fn onetime_directory_configs_run_once_across_restarts() {
    let sink = HttpSink::start();
    let conf = tempfile::tempdir().unwrap();
    let onetime = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let write = |max: u32| {
        std::fs::write(
            onetime.path().join("job.yaml"),
            format!(
                "global: {{ExcutionTimeout: 600}}\ninputs: [{{Type: metric_mock, MaxEvents: {max}, EventsPerCollect: 10, Interval: 10ms}}]\n\
                 flushers: [{{Type: flusher_http, RemoteURL: {}, Convert: {{Protocol: jsonline}}}}]\n",
                sink.url("/job")
            ),
        )
        .unwrap()
    };
    let events = || -> usize {
        sink.received()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).lines().count())
            .sum()
    };
    let agent = || {
        loong()
            .args(["run", "--scan-interval", "200ms", "--config-dir"])
            .arg(conf.path())
            .arg("--onetime-config-dir")
            .arg(onetime.path())
            .arg("--data-dir")
            .arg(data.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let stop = |mut child: std::process::Child| {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(child.wait().unwrap().success());
    };
    let wait = |n: usize| {
        let start = std::time::Instant::now();
        while events() < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "got {} of {n} events",
                events()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    write(100);
    let first = agent();
    wait(100);
    // Let the agent notice the pipeline ended and record it.
    std::thread::sleep(Duration::from_millis(800));
    stop(first);

    let second = agent();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(events(), 100, "a finished one-time config does not run again");
    write(50);
    wait(150);
    std::thread::sleep(Duration::from_millis(500));
    stop(second);
    assert_eq!(events(), 150, "the changed config ran once more");
}
