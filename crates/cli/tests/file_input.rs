//! input_file end to end: the built `loong` binary reads real files and sends them with flusher_http
//! to a recording HTTP server (the test kit's HttpSink); every line is checked, across a SIGTERM and
//! a restart in the middle of a big file.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Agent;

use loong_testkit::http_sink::HttpSink;
use serde_json::Value;

/// Every `content` the server received (jsonline bodies), with the file path tag of each.
fn received(sink: &HttpSink) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in sink.received() {
        for line in String::from_utf8_lossy(&r.body).lines().filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("invalid JSON {line:?}: {e}"));
            let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            out.push((text("content"), text("log.file.path")));
        }
    }
    out
}

/// Waits until the server holds at least `n` lines; returns them.
fn wait_lines(sink: &HttpSink, n: usize, agent: &Agent) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = received(sink);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "received {} of {n} lines; stderr:\n{}",
            got.len(),
            agent.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pipeline(dir: &Path, sink: &HttpSink, global: &str, input: &str) -> String {
    format!(
        r#"global: {{StructureType: v2{global}}}
inputs:
  - Type: input_file
    FilePaths: ["{}/*.log"]
{input}
flushers:
  - Type: flusher_http
    RemoteURL: {}
    Convert: {{Protocol: jsonline}}
    Compression: gzip
"#,
        dir.display(),
        sink.url("/logs")
    )
}

fn write_config(conf: &Path, name: &str, text: &str) -> PathBuf {
    let path = conf.join(name);
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// `n` numbered lines of about `width` bytes.
fn numbered(prefix: &str, n: usize, width: usize) -> (Vec<String>, String) {
    let mut text = String::with_capacity(n * (width + 1));
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let mut l = format!("{prefix} {i:08} ");
            while l.len() < width {
                l.push_str("lorem ipsum ");
            }
            l.truncate(width);
            l
        })
        .collect();
    for l in &lines {
        writeln!(text, "{l}").unwrap();
    }
    (lines, text)
}

/// Asserts that `got` holds every line of `want` exactly once.
fn assert_exactly_once(got: &[(String, String)], want: &[String]) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (c, _) in got {
        *counts.entry(c.as_str()).or_default() += 1;
    }
    let missing: Vec<_> = want
        .iter()
        .filter(|w| !counts.contains_key(w.as_str()))
        .take(5)
        .collect();
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(missing.is_empty(), "missing lines, e.g. {missing:?}");
    assert!(twice.is_empty(), "lines delivered more than once, e.g. {twice:?}");
    assert_eq!(got.len(), want.len());
}

#[test]
fn files_are_sent_to_an_http_server_line_by_line() {
    let sink = HttpSink::start();
    let logs = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (old, old_text) = numbered("existing", 5_000, 80);
    std::fs::write(logs.path().join("existing.log"), old_text).unwrap();
    write_config(conf.path(), "files.yaml", &pipeline(logs.path(), &sink, "", ""));
    let agent = Agent::start(conf.path(), data.path());
    wait_lines(&sink, old.len(), &agent);

    // A file that appears later, written while the agent runs, with a partial last line completed
    // afterwards.
    let (new, new_text) = numbered("appended", 20_000, 120);
    let new_path = logs.path().join("new.log");
    let mut f = std::fs::File::create(&new_path).unwrap();
    let (head, tail) = new_text.split_at(new_text.len() - 30);
    for chunk in head.as_bytes().chunks(64 * 1024) {
        f.write_all(chunk).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    f.write_all(tail.as_bytes()).unwrap();
    let got = wait_lines(&sink, old.len() + new.len(), &agent);
    let status = agent.terminate();
    assert!(status.success(), "exit status {status:?}");

    let mut want = old.clone();
    want.extend(new.iter().cloned());
    assert_exactly_once(&got, &want);
    // Each file's lines arrive in file order, tagged with the file's path.
    for (prefix, path, lines) in [("existing", "existing.log", &old), ("appended", "new.log", &new)] {
        let of_file: Vec<&(String, String)> = got.iter().filter(|(c, _)| c.starts_with(prefix)).collect();
        assert!(
            of_file.iter().map(|(c, _)| c).eq(lines.iter()),
            "{prefix} lines in order"
        );
        let expected = logs.path().join(path).display().to_string();
        assert!(of_file.iter().all(|(_, p)| *p == expected), "{prefix}: path tag");
    }
}

#[test]
fn a_sigterm_in_the_middle_of_a_big_file_loses_and_repeats_nothing() {
    let sink = HttpSink::start();
    let logs = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // 30 MB, read through small queues, so the pipeline is still in the middle of the file when
    // SIGTERM arrives.
    let (lines, text) = numbered("big", 300_000, 99);
    std::fs::write(logs.path().join("big.log"), text).unwrap();
    write_config(
        conf.path(),
        "big.yaml",
        &pipeline(
            logs.path(),
            &sink,
            ", DefaultLogQueueSize: 2, DefaultLogGroupQueueSize: 1",
            "    TailSizeKB: 1048576",
        ),
    );

    let agent = Agent::start(conf.path(), data.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.answered().is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing delivered; stderr:\n{}",
            agent.stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = agent.terminate();
    assert!(status.success(), "exit status {status:?}");
    let first = received(&sink).len();
    assert!(
        first > 0 && first < lines.len(),
        "the first run stopped in the middle of the file ({first} of {} lines)",
        lines.len()
    );

    // Same data directory: the agent continues after the last delivered line.
    let agent = Agent::start(conf.path(), data.path());
    let got = wait_lines(&sink, lines.len(), &agent);
    std::thread::sleep(Duration::from_millis(500));
    let status = agent.terminate();
    assert!(status.success(), "exit status {status:?}");
    let got_after = received(&sink);
    assert_eq!(got.len(), got_after.len(), "nothing more arrived after the last line");
    assert_exactly_once(&got_after, &lines);
    let contents: Vec<&String> = got_after.iter().map(|(c, _)| c).collect();
    assert!(contents.iter().copied().eq(lines.iter()), "in file order");
}

#[test]
fn a_one_time_run_reads_every_file_from_the_beginning_and_exits() {
    let sink = HttpSink::start();
    let logs = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let (a, a_text) = numbered("a", 50_000, 100);
    std::fs::write(logs.path().join("a.log"), a_text).unwrap();
    std::fs::write(logs.path().join("b.log"), "b first\nb last without newline").unwrap();
    // TailSizeKB would skip most of a.log in a continuous pipeline; a one-time run reads it all.
    let config = write_config(
        conf.path(),
        "once.yaml",
        &pipeline(logs.path(), &sink, "", "    TailSizeKB: 1"),
    );
    let mut agent = Agent::spawn(
        Command::new(env!("CARGO_BIN_EXE_loong"))
            .args(["run", "--once"])
            .arg(&config),
    );
    let status = agent.wait(Duration::from_secs(120));
    assert!(status.success(), "exit status {status:?}; stderr:\n{}", agent.stderr());
    let mut want = a;
    want.extend(["b first".to_owned(), "b last without newline".to_owned()]);
    assert_exactly_once(&received(&sink), &want);
}
