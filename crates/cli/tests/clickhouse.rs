//! flusher_clickhouse end to end: the `loong` binary reads a real file into the real ClickHouse
//! server (Debian's, started by scripts/services.sh), and a running pipeline outlives a ClickHouse
//! restart without losing a row.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{run_once, start, wait};
use loong_runtime::StopMode;
use loong_testkit::services::{Service, clickhouse_select as select, clickhouse_sql as sql};
use serde_json::Value;

#[test]
fn loong_run_once_puts_every_line_of_a_file_into_clickhouse() {
    let ch = Service::start("clickhouse");
    // LoongCollector's layout, with a MergeTree behind its Null table to read it back, and a table
    // of our own for the typed mapping.
    sql(
        &ch,
        "CREATE TABLE ilogtail_access (`_timestamp` Int64, `_log` String) ENGINE = Null",
    );
    sql(
        &ch,
        "CREATE TABLE access_rows (`_timestamp` Int64, `_log` String) ENGINE = MergeTree ORDER BY tuple()",
    );
    sql(
        &ch,
        "CREATE MATERIALIZED VIEW access_mv TO access_rows AS SELECT _timestamp, _log FROM ilogtail_access",
    );
    sql(
        &ch,
        "CREATE TABLE access (time DateTime, line String, path String, offset UInt64) ENGINE = MergeTree ORDER BY line",
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let lines: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                "10.0.{}.{} - - \"GET /api/items/{i}?q=\\\"x\\\" HTTP/1.1\" {} {} ünïcode",
                i % 7,
                i % 250,
                [200, 404, 500][i % 3],
                1000 + i
            )
        })
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let config = dir.path().join("to_clickhouse.yaml");
    std::fs::write(
        &config,
        format!(
            r#"# A file → ClickHouse twice: LoongCollector's layout, and a typed mapping.
global: {{StructureType: v2}}
inputs:
  - Type: input_file
    FilePaths: ["{}"]
flushers:
  - Type: flusher_clickhouse
    Addresses: ["127.0.0.1:{port}"]
    Authentication: {{PlainText: {{Database: default, Username: loong, Password: loong-pw}}}}
    Table: access
    BufferMaxTime: 1
  - Type: flusher_clickhouse
    Addresses: ["{url}"]
    Table: access
    Compression: gzip
    Columns: {{time: timestamp, line: body, path: tag.log.file.path, offset: offset}}
"#,
            log.display(),
            port = ch.port(),
            url = ch.url(""),
        ),
    )
    .unwrap();
    run_once(&config, Some(&dir.path().join("data")));

    // Typed mapping: every line once, with its file's path.
    let rows = select(&ch, "SELECT line, path, offset FROM access ORDER BY line");
    let mut want = lines.clone();
    want.sort();
    let got: Vec<&str> = rows.iter().map(|r| r["line"].as_str().unwrap()).collect();
    assert_eq!(got.len(), want.len(), "row count");
    assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
    let path = log.display().to_string();
    assert!(rows.iter().all(|r| r["path"] == path.as_str()), "{:?}", rows[0]);
    let offsets: BTreeSet<u64> = rows
        .iter()
        .map(|r| r["offset"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(offsets.len(), lines.len(), "each line has its own offset");

    // LoongCollector's layout: the same lines, in _log's contents.
    sql(&ch, "OPTIMIZE TABLE ilogtail_access_buffer");
    let mut logged: Vec<String> = select(&ch, "SELECT _log FROM access_rows")
        .iter()
        .map(|r| {
            let log: Value = serde_json::from_str(r["_log"].as_str().unwrap()).unwrap();
            log["contents"]["content"].as_str().unwrap().to_owned()
        })
        .collect();
    logged.sort();
    assert_eq!(logged, want);
}

#[test]
fn clickhouse_stopped_mid_stream_and_restarted_loses_nothing() {
    let ch = Service::start("clickhouse");
    sql(
        &ch,
        "CREATE TABLE events (idx UInt64, host String) ENGINE = MergeTree ORDER BY idx",
    );
    let count = || -> u64 {
        select(&ch, "SELECT count() AS n FROM events")[0]["n"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let pipeline = start(
        "clickhouse-outage",
        &format!(
            r#"
global: {{StructureType: v2, FlushRetry: {{InitialDelay: 100ms, MaxDelay: 1s}}}}
inputs: [{{Type: metric_mock, Tags: {{host: h1}}, EventsPerCollect: 10, MaxEvents: 3000, Interval: 5ms}}]
flushers:
  - Type: flusher_clickhouse
    Addresses: ["127.0.0.1:{}"]
    Table: events
    DialTimeout: 1s
    MaxExecutionTime: 5
    Columns: {{idx: content.Index, host: tag.host}}
"#,
            ch.port()
        ),
    );
    wait("the first rows", Duration::from_secs(30), || count() >= 300);
    ch.stop();
    std::thread::sleep(Duration::from_secs(3));
    ch.restart();
    wait("every row after the restart", Duration::from_secs(60), || {
        count() >= 3000
    });
    pipeline.stop(StopMode::Drain);
    let rows = select(&ch, "SELECT idx, host FROM events ORDER BY idx");
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r["host"], "h1");
        *seen.entry(r["idx"].as_str().unwrap().parse().unwrap()).or_default() += 1;
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (1..=3000).collect::<Vec<u64>>(),
        "no gaps"
    );
    assert!(seen.values().all(|n| *n == 1), "no duplicates");
}
