//! flusher_elasticsearch end to end: the `loong` binary reads real files and indexes them into the
//! `_bulk` receiver of the flusher's test suite (`loong_flusher_elasticsearch::testing::EsServer`:
//! no Elasticsearch installs here); every document is read back and compared.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Agent, append_slowly, run_once};

use loong_flusher_elasticsearch::testing::EsServer;
use serde_json::Value;

/// Lines with quotes, backslashes, tabs and non-ASCII text, numbered by `prefix`.
fn lines(prefix: &str, n: usize) -> (Vec<String>, String) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{prefix} {i:06} 10.0.{}.{} \"GET /api/items/{i}?q=\\\"x\\\" HTTP/1.1\" {}\tünïcode ✓ {}",
                i % 7,
                i % 250,
                [200, 404, 500][i % 3],
                "x".repeat(i % 40)
            )
        })
        .collect();
    let text = lines.join("\n") + "\n";
    (lines, text)
}

/// UTC date `yyyy.MM.dd` of an RFC 3339 `@timestamp`.
fn day_of(timestamp: &str) -> String {
    timestamp[..10].replace('-', ".")
}

/// Every stored document with its index, by `content`; panics on a duplicate.
fn by_content(server: &EsServer) -> HashMap<String, (String, Value)> {
    let mut out = HashMap::new();
    for (index, doc) in server.all_docs() {
        let content = doc["content"].as_str().expect("content").to_owned();
        if let Some((_, first)) = out.insert(content.clone(), (index, doc)) {
            panic!("{content:?} indexed twice (first {first})");
        }
    }
    out
}

#[test]
fn loong_indexes_every_line_of_a_file_into_the_bulk_receiver() {
    let server = EsServer::start();
    server.require_basic("elastic", "changeme");
    // Some items are answered 429/503 once: only they are resent.
    server.fail_items(429, 3, |_, d| {
        d["content"].as_str().is_some_and(|c| c.contains(" 000100 "))
    });
    server.fail_items(503, 1, |_, d| {
        d["content"].as_str().is_some_and(|c| c.contains(" 004242 "))
    });
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let (want, text) = lines("access", 20_000);
    std::fs::write(&log, &text).unwrap();
    let config = dir.path().join("to_es.yaml");
    std::fs::write(
        &config,
        format!(
            r#"# A file → Elasticsearch, one index per day of the event time.
global: {{StructureType: v2}}
inputs:
  - Type: input_file
    FilePaths: ["{}"]
flushers:
  - Type: flusher_elasticsearch
    Addresses: ["{}"]
    Index: "access-%{{+yyyy.MM.dd}}"
    Authentication: {{PlainText: {{Username: elastic, Password: changeme}}}}
    BulkMaxBytes: 262144
    Retry: {{InitialDelay: 10ms, MaxDelay: 50ms}}
"#,
            log.display(),
            server.url()
        ),
    )
    .unwrap();
    run_once(&config, Some(&dir.path().join("data")));

    let docs = by_content(&server);
    assert_eq!(docs.len(), want.len(), "document count");
    let path = log.display().to_string();
    for line in &want {
        let (index, doc) = docs.get(line).unwrap_or_else(|| panic!("{line:?} not indexed"));
        let ts = doc["@timestamp"].as_str().expect("@timestamp");
        assert_eq!(index, &format!("access-{}", day_of(ts)), "the index is the event's day");
        assert_eq!(doc["log.file.path"], path.as_str());
        assert!(doc["host.name"].as_str().is_some_and(|h| !h.is_empty()), "{doc}");
        let keys: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["content", "log.file.path", "host.name", "@timestamp"], "{doc}");
    }
    let statuses = server.item_statuses();
    assert_eq!(statuses[&201], 20_000);
    assert_eq!((statuses[&429], statuses[&503]), (3, 1));
    assert_eq!(server.items_received(), 20_004, "only the failed items were resent");
}

fn wait_docs(server: &EsServer, n: u64, agent: &Agent) {
    assert!(
        server.wait_for_docs(n, Duration::from_secs(120)),
        "{} of {n} documents; stderr:\n{}",
        server.doc_count(),
        agent.stderr()
    );
}

#[test]
fn receiver_down_mid_stream_and_back_loses_nothing() {
    let server = EsServer::start();
    let logs = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (first, first_text) = lines("before", 5_000);
    let log = logs.path().join("app.log");
    std::fs::write(&log, &first_text).unwrap();
    std::fs::write(
        conf.path().join("es.yaml"),
        format!(
            r#"global: {{StructureType: v2, FlushRetry: {{InitialDelay: 100ms, MaxDelay: 1s}}}}
inputs:
  - Type: input_file
    FilePaths: ["{}/*.log"]
flushers:
  - Type: flusher_elasticsearch
    Addresses: ["{}"]
    Index: app
    HTTPConfig: {{Timeout: 2s}}
    Retry: {{MaxRetryTimes: 1, InitialDelay: 50ms, MaxDelay: 100ms}}
"#,
            logs.path().display(),
            server.url()
        ),
    )
    .unwrap();
    let agent = Agent::start(conf.path(), data.path());
    wait_docs(&server, 5_000, &agent);

    // The cluster goes away while the file keeps growing, and comes back.
    server.down();
    let (second, second_text) = lines("during", 10_000);
    append_slowly(&log, &second_text);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        server.doc_count(),
        5_000,
        "nothing can arrive while the receiver is down"
    );
    server.up();
    wait_docs(&server, 15_000, &agent);
    let status = agent.terminate();
    assert!(status.success(), "{status:?}");

    let docs = by_content(&server);
    assert_eq!(docs.len(), 15_000);
    for line in first.iter().chain(&second) {
        assert!(docs.contains_key(line), "{line:?} lost");
    }
    assert_eq!(server.indices(), vec!["app"]);
}
