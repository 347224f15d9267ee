//! flusher_clickhouse against the real ClickHouse server (Debian's 18.16, started on a free loopback
//! port with a temporary data directory by scripts/services.sh), read back with HTTP `SELECT …
//! FORMAT JSONEachRow`.

use std::sync::Arc;

use loong_api::model::{GroupInfo, LogEvent, PipelineEvent};
use loong_api::{Flusher, PipelineContext, PipelineGroupEvents, Result};
use loong_testkit::MetricsCapture;
use loong_testkit::services::{Service, clickhouse_select as select, clickhouse_sql as sql};
use serde_json::{Value, json};

const NAME: &str = loong_flusher_clickhouse::NAME;

fn create(options: &Value) -> Box<dyn Flusher> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_clickhouse::register(&mut registry);
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

/// LoongCollector's Null table for `table`, created before the flusher does, with a MergeTree
/// `<table>_rows` filled from it by a materialized view, so what the flusher inserts can be read.
fn loongcollector_tables(ch: &Service, table: &str) {
    sql(
        ch,
        &format!("CREATE TABLE ilogtail_{table} (`_timestamp` Int64, `_log` String) ENGINE = Null"),
    );
    sql(
        ch,
        &format!("CREATE TABLE {table}_rows (`_timestamp` Int64, `_log` String) ENGINE = MergeTree ORDER BY tuple()"),
    );
    sql(
        ch,
        &format!(
            "CREATE MATERIALIZED VIEW {table}_mv TO {table}_rows AS SELECT _timestamp, _log FROM ilogtail_{table}"
        ),
    );
}

/// Rows of LoongCollector's layout: pushes the Buffer table out (OPTIMIZE flushes a Buffer table),
/// then reads what went through the Null table.
fn loongcollector_rows(ch: &Service, table: &str) -> Vec<Value> {
    sql(ch, &format!("OPTIMIZE TABLE ilogtail_{table}_buffer"));
    select(ch, &format!("SELECT _timestamp, _log FROM {table}_rows"))
}

fn body_of_log(row: &Value) -> String {
    let log: Value = serde_json::from_str(row["_log"].as_str().unwrap()).unwrap();
    log["contents"]["content"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn conformance_with_loongcollectors_layout() {
    let ch = Arc::new(Service::start("clickhouse"));
    loongcollector_tables(&ch, "conf");
    let c = ch.clone();
    loong_testkit::Conformance::from_registry(
        loong_flusher_clickhouse::register,
        NAME,
        json!({"Addresses": [format!("127.0.0.1:{}", ch.port())], "Table": "conf",
               "Authentication": {"PlainText": {"Database": "default"}}}),
    )
    .read_back(move || loongcollector_rows(&c, "conf").iter().map(body_of_log).collect())
    .run();
}

#[test]
fn conformance_with_a_typed_mapping() {
    let ch = Arc::new(Service::start("clickhouse"));
    sql(
        &ch,
        "CREATE TABLE typed (t DateTime, body String, seq Nullable(Int64), host String) ENGINE = MergeTree ORDER BY t",
    );
    let c = ch.clone();
    loong_testkit::Conformance::from_registry(
        loong_flusher_clickhouse::register,
        NAME,
        json!({"Addresses": [ch.url("")], "Table": "typed", "Compression": "gzip",
               "Columns": {"t": "timestamp", "body": "body", "seq": "content.seq", "host": "tag.host"}}),
    )
    .read_back(move || {
        select(&c, "SELECT body FROM typed")
            .into_iter()
            .map(|r| r["body"].as_str().unwrap().to_owned())
            .collect()
    })
    .run();
}

#[test]
fn loongcollectors_layout_stores_exact_rows_v1_and_v2() {
    let ch = Service::start("clickhouse");
    loongcollector_tables(&ch, "demo");
    // The materialized view of the struct docs, on the Null table the flusher writes through.
    sql(
        &ch,
        "CREATE TABLE logs (time DateTime, contents String) ENGINE = MergeTree ORDER BY time",
    );
    sql(
        &ch,
        "CREATE MATERIALIZED VIEW logs_mv TO logs AS SELECT toDateTime(visitParamExtractUInt(_log, 'time')) AS time, \
         visitParamExtractRaw(_log, 'contents') AS contents FROM ilogtail_demo",
    );
    let mut f = flusher(json!({"Addresses": [format!("127.0.0.1:{}", ch.port())], "Table": "demo"}));
    let before = loong_api::model::now_nanos() / 1_000_000_000;
    export(&mut f, &[loong_testkit::log_events(3)]).unwrap();
    f.as_v1()
        .unwrap()
        .flush("p", "l", "c", &loong_testkit::sample_log_groups())
        .unwrap();
    let after = loong_api::model::now_nanos() / 1_000_000_000;
    let rows = loongcollector_rows(&ch, "demo");
    let mut logs: Vec<String> = rows.iter().map(|r| r["_log"].as_str().unwrap().to_owned()).collect();
    logs.sort();
    // V2: the group's tags (__path__ is metadata there, not a tag).
    let mut want: Vec<String> = (0..3)
        .map(|i| {
            format!(
                r#"{{"contents":{{"content":"log-{i}","seq":"{i}"}},"tags":{{"host":"test-host"}},"time":1700000000}}"#
            )
        })
        .collect();
    // V1 (custom_single's V1 rules): the group's Source as host.ip, the file offset as a tag.
    for (g, n) in [("a", 3), ("b", 2)] {
        for i in 0..n {
            let offset = if i == 0 {
                String::new()
            } else {
                format!(r#""__file_offset__":"{}","#, i * 100)
            };
            want.push(format!(
                r#"{{"contents":{{"content":"v1-{g}-{i}","seq":"{i}"}},"tags":{{{offset}"host":"test-host","host.ip":""}},"time":1700000000}}"#
            ));
        }
    }
    want.sort();
    assert_eq!(logs, want);
    for r in &rows {
        let ts = r["_timestamp"].as_str().unwrap().parse::<u64>().unwrap();
        assert!((before..=after).contains(&ts), "_timestamp {ts} is the insert time");
    }
    let parsed = select(
        &ch,
        "SELECT toUnixTimestamp(time) AS t, contents FROM logs ORDER BY contents",
    );
    assert_eq!(parsed.len(), 8);
    assert_eq!(parsed[0]["t"], 1_700_000_000);
    assert_eq!(parsed[0]["contents"], r#"{"content":"log-0","seq":"0"}"#);
    // The flusher created the buffer table with LoongCollector's parameters.
    let ddl = sql(&ch, "SHOW CREATE TABLE ilogtail_demo_buffer");
    assert!(
        ddl.contains("Buffer(default, ilogtail_demo, 16, 10, 100, 10000, 1000000, 10000000, 100000000)"),
        "{ddl}"
    );
}

#[test]
fn a_typed_mapping_stores_exact_typed_rows() {
    let ch = Service::start("clickhouse");
    sql(
        &ch,
        "CREATE TABLE access (time DateTime, time_ms UInt64, time_text String, status Int32, \
         bytes Nullable(UInt64), method String, host String, path String, \
         body String, fields String, inserted DateTime, note String DEFAULT 'none') \
         ENGINE = MergeTree ORDER BY time",
    );
    let mut f = flusher(json!({
        "Addresses": [format!("127.0.0.1:{}", ch.port())], "Table": "access", "Compression": "zstd",
        "Columns": {"time": "timestamp", "time_ms": "timestamp_ms", "time_text": "timestamp",
                    "status": "content.status", "bytes": "content.bytes", "method": "content.method",
                    "host": "tag.host.name", "path": "metadata.__path__", "body": "body",
                    "fields": "contents", "inserted": "insert_time", "note": "content.note"}}));
    let mut info = GroupInfo::default();
    info.tags.insert("__hostname__", "web-1");
    info.metadata.insert("__path__", "/var/log/access.log");
    let events = (0..50)
        .map(|i| {
            let mut e = LogEvent::with_body(format!("GET /{i}"), 1_700_000_000_123_000_000 + i * 1_000_000_000);
            e.contents
                .insert("status", if i.is_multiple_of(10) { "404" } else { "200" });
            if i.is_multiple_of(2) {
                e.contents.insert("bytes", (i * 100).to_string());
            }
            e.contents.insert("method", "GET");
            PipelineEvent::Log(e)
        })
        .collect();
    export(&mut f, &[PipelineGroupEvents::new(info, events)]).unwrap();
    let rows = select(
        &ch,
        "SELECT toUnixTimestamp(time) AS t, time_ms, time_text, status, bytes, method, host, path, body, fields, note \
         FROM access ORDER BY time_ms",
    );
    assert_eq!(rows.len(), 50);
    // `note` is never set: 18.16 fills an omitted JSONEachRow field with its type's default ("", not
    // the column's DEFAULT, which servers from 19.x apply with input_format_defaults_for_omitted_fields).
    for (i, r) in rows.iter().enumerate() {
        let i = i as u64;
        let status = if i.is_multiple_of(10) { 404 } else { 200 };
        let bytes = if i.is_multiple_of(2) {
            json!((i * 100).to_string())
        } else {
            Value::Null
        };
        let fields = if i.is_multiple_of(2) {
            format!(
                r#"{{"content":"GET /{i}","status":"{status}","bytes":"{}","method":"GET"}}"#,
                i * 100
            )
        } else {
            format!(r#"{{"content":"GET /{i}","status":"{status}","method":"GET"}}"#)
        };
        assert_eq!(
            r,
            &json!({"t": 1_700_000_000 + i, "time_ms": (1_700_000_000_123 + i * 1000).to_string(),
                    "time_text": (1_700_000_000 + i).to_string(), "status": status, "bytes": bytes,
                    "method": "GET", "host": "web-1", "path": "/var/log/access.log",
                    "body": format!("GET /{i}"), "fields": fields, "note": ""}),
            "row {i}"
        );
    }
}

#[test]
fn a_row_clickhouse_cannot_parse_is_counted_and_the_others_are_inserted() {
    let ch = Service::start("clickhouse");
    sql(
        &ch,
        "CREATE TABLE codes (n Int32, body String) ENGINE = MergeTree ORDER BY n",
    );
    let capture = MetricsCapture::new();
    let mut f = capture.scoped(|| {
        flusher(
            json!({"Addresses": [ch.url("")], "Table": "codes", "Compression": "lz4",
                       "Columns": {"n": "content.n", "body": "body"}}),
        )
    });
    let events: Vec<PipelineEvent> = (0..40)
        .map(|i| {
            let mut e = LogEvent::with_body(format!("row {i}"), 1);
            let n = match i {
                7 => "seven".to_owned(),
                31 => "31.5".to_owned(),
                _ => i.to_string(),
            };
            e.contents.insert("n", n);
            e.into()
        })
        .collect();
    export(&mut f, &[PipelineGroupEvents::new(GroupInfo::default(), events)]).unwrap();
    let got: Vec<i64> = select(&ch, "SELECT n FROM codes ORDER BY n")
        .iter()
        .map(|r| r["n"].as_i64().unwrap())
        .collect();
    let want: Vec<i64> = (0..40).filter(|i| *i != 7 && *i != 31).collect();
    assert_eq!(got, want);
    assert_eq!(capture.counter("clickhouse_rejected_rows_total"), 2);
    assert_eq!(capture.counter("clickhouse_inserted_rows_total"), 38);
}

#[test]
fn credentials_are_accepted_or_refused_and_never_shown() {
    let ch = Service::start("clickhouse");
    sql(&ch, "CREATE TABLE auth (body String) ENGINE = MergeTree ORDER BY body");
    let options = |password: &str| {
        json!({"Addresses": [ch.url("")], "Table": "auth", "Columns": {"body": "body"},
               "Authentication": {"PlainText": {"Username": "loong", "Password": password, "Database": "default"}}})
    };
    let mut bad = flusher(options("not-the-pw"));
    let batch = [loong_testkit::log_events_with_prefix("auth", 3)];
    let err = export(&mut bad, &batch).unwrap_err();
    let text = format!("{err:#} {err:?}");
    assert!(text.contains("Wrong password") || text.contains("401"), "{text}");
    assert!(!text.contains("not-the-pw"), "the password leaked: {text}");
    // The same batch retried: still refused, nothing stored.
    assert!(export(&mut bad, &batch).is_err());
    assert_eq!(select(&ch, "SELECT body FROM auth").len(), 0);

    let mut good = flusher(options("loong-pw"));
    export(&mut good, &batch).unwrap();
    let bodies: Vec<Value> = select(&ch, "SELECT body FROM auth ORDER BY body")
        .into_iter()
        .map(|r| r["body"].clone())
        .collect();
    assert_eq!(bodies, [json!("auth-0"), json!("auth-1"), json!("auth-2")]);
}

#[test]
fn every_compression_is_read_by_the_server_and_dead_addresses_are_skipped() {
    let ch = Service::start("clickhouse");
    sql(
        &ch,
        "CREATE TABLE comp (body String, codec String) ENGINE = MergeTree ORDER BY body",
    );
    let dead = loong_testkit::services::free_port();
    for codec in ["none", "gzip", "deflate", "lz4", "zstd"] {
        let mut f = flusher(json!({
            "Addresses": [format!("127.0.0.1:{dead}"), format!("127.0.0.1:{}", ch.port())],
            "Table": "comp", "Compression": codec, "DialTimeout": "2s",
            "Columns": {"body": "body", "codec": "tag.codec"}}));
        let mut group = loong_testkit::log_events_with_prefix(codec, 2000);
        group.group.tags.insert("codec", codec);
        export(&mut f, &[group]).unwrap();
    }
    let counts = select(
        &ch,
        "SELECT codec, count() AS n, uniqExact(body) AS u FROM comp GROUP BY codec ORDER BY codec",
    );
    assert_eq!(
        counts,
        ["deflate", "gzip", "lz4", "none", "zstd"]
            .iter()
            .map(|c| json!({"codec": c, "n": "2000", "u": "2000"}))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_mapping_to_a_missing_column_fails_the_flush_until_the_table_has_it() {
    let ch = Service::start("clickhouse");
    sql(&ch, "CREATE TABLE late (body String) ENGINE = MergeTree ORDER BY body");
    let mut f = flusher(json!({"Addresses": [ch.url("")], "Table": "late",
                               "Columns": {"body": "body", "level": "content.level"}}));
    let batch = [loong_testkit::log_events_with_prefix("late", 4)];
    let err = export(&mut f, &batch).unwrap_err();
    assert!(format!("{err:#}").contains("no column \"level\""), "{err:#}");
    sql(&ch, "ALTER TABLE late ADD COLUMN level String");
    export(&mut f, &batch).unwrap();
    assert_eq!(select(&ch, "SELECT body FROM late").len(), 4);
}

#[test]
fn a_server_stopped_mid_stream_loses_nothing() {
    let ch = Service::start("clickhouse");
    sql(&ch, "CREATE TABLE outage (seq UInt64) ENGINE = MergeTree ORDER BY seq");
    let mut f = flusher(
        json!({"Addresses": [ch.url("")], "Table": "outage", "Columns": {"seq": "content.seq"},
                               "DialTimeout": "1s", "MaxExecutionTime": 5}),
    );
    let batch = |from: usize| {
        let mut g = loong_testkit::log_events(100);
        for (i, e) in g.events.iter_mut().enumerate() {
            e.as_log_mut().unwrap().contents.insert("seq", (from + i).to_string());
        }
        [g]
    };
    export(&mut f, &batch(0)).unwrap();
    ch.stop();
    let second = batch(100);
    assert!(export(&mut f, &second).is_err());
    assert!(export(&mut f, &second).is_err(), "still down");
    ch.restart();
    export(&mut f, &second).unwrap();
    export(&mut f, &batch(200)).unwrap();
    let got: Vec<u64> = select(&ch, "SELECT seq FROM outage ORDER BY seq")
        .iter()
        .map(|r| r["seq"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
}

#[test]
fn bad_options_fail_init_with_the_key() {
    let err = |options: Value| {
        let mut f = create(&options);
        format!("{:#}", f.init(&loong_testkit::mock_context(NAME)).unwrap_err())
    };
    assert!(err(json!({"Table": "t"})).contains("Addresses is empty"));
    assert!(err(json!({"Addresses": ["h:1"]})).contains("Table is empty"));
    assert!(err(json!({"Addresses": ["h:1"], "Table": "t", "Compression": "br"})).contains("br"));
    assert!(err(json!({"Addresses": ["h:1"], "Table": "t", "Columns": {"x": "nope"}})).contains("Columns.x"));
    assert!(
        err(json!({"Addresses": ["h:1"], "Table": "t", "Convert": {"Protocol": "jsonline"}})).contains("custom_single")
    );
    let leaked = err(json!({"Addresses": ["http://u:s3cret@h:1"], "Table": "t"}));
    assert!(leaked.contains("credentials") && !leaked.contains("s3cret"), "{leaked}");
    let config: loong_flusher_clickhouse::ClickHouseConfig =
        serde_json::from_value(json!({"Authentication": {"PlainText": {"Username": "u", "Password": "s3cret"}}}))
            .unwrap();
    assert!(!format!("{config:?}").contains("s3cret"));
}
