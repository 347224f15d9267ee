//! flusher_kafka_v2 end to end: the `loong` binary and a runtime pipeline writing to a real
//! Kafka-protocol broker (Tansu, scripts/services/kafka.sh), everything read back with `tansu cat
//! consume` partition by partition (consumer-group joins hang on Tansu 0.6).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{run_once, start, wait};
use loong_runtime::StopMode;
use loong_testkit::services::{self, Service, Spawned, tansu};
use serde_json::Value;

/// One message read back: its partition and value (a JSON document). (`tansu cat` shows keys only
/// when they are JSON; the flusher's tests check keys with a librdkafka consumer.)
struct Message {
    partition: u32,
    value: Value,
}

/// The partition count of `topic` (`tansu topic list` prints the cluster's metadata as JSON).
fn partitions(port: u16, topic: &str) -> u32 {
    let out = tansu()
        .args(["topic", "list", "--broker"])
        .arg(format!("tcp://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let topics: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    topics
        .iter()
        .find(|t| t["name"] == topic)
        .map_or(0, |t| t["partitions"].as_array().map_or(0, Vec::len) as u32)
}

/// Every message of `topic`, partition by partition (`tansu cat consume` prints one JSON array per
/// record batch).
fn read_topic(port: u16, topic: &str) -> Vec<Message> {
    let mut out = Vec::new();
    for partition in 0..partitions(port, topic) {
        let run = tansu()
            .args([
                "cat",
                "consume",
                topic,
                "--partition",
                &partition.to_string(),
                "--broker",
            ])
            .arg(format!("tcp://127.0.0.1:{port}"))
            .args(["--max-wait-time-ms", "300"])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{topic}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        for line in String::from_utf8_lossy(&run.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let batch: Vec<Value> = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            for m in batch {
                out.push(Message {
                    partition,
                    value: m["value"].clone(),
                });
            }
        }
    }
    out
}

fn content<'a>(m: &'a Message, key: &str) -> &'a str {
    m.value["contents"][key].as_str().unwrap_or_default()
}

#[test]
fn loong_ships_a_file_to_kafka_and_every_line_is_read_back() {
    let kafka = Service::start("kafka");
    let apps = ["web", "db", "api"];
    for app in apps {
        services::create_topic(&format!("127.0.0.1:{}", kafka.port()), &format!("app_{app}"), 3);
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let lines: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#"{{"app":"{}","msg":"request {i} took {}ms","seq":"{i}"}}"#,
                apps[i % 3],
                i % 97
            )
        })
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let config = dir.path().join("to_kafka.yaml");
    std::fs::write(
        &config,
        format!(
            r#"# A JSON log file → Kafka: a topic per app, keyed by app, zstd-compressed.
inputs:
  - Type: input_file
    FilePaths: [{}]
processors:
  - Type: processor_parse_json_native
    SourceKey: content
flushers:
  - Type: flusher_kafka_v2
    Brokers: ["127.0.0.1:{}"]
    Topic: "app_%{{content.app}}"
    PartitionerType: hash
    HashKeys: [content.app]
    Compression: zstd
    RequiredAcks: -1
    Headers: [{{Key: source, Value: loong}}]
"#,
            log.display(),
            kafka.port()
        ),
    )
    .unwrap();
    run_once(&config, None);

    let mut seen = BTreeSet::new();
    for app in apps {
        let messages = read_topic(kafka.port(), &format!("app_{app}"));
        let partitions: BTreeSet<u32> = messages.iter().map(|m| m.partition).collect();
        assert_eq!(partitions.len(), 1, "app {app}: one key, one partition: {partitions:?}");
        for m in &messages {
            assert_eq!(content(m, "app"), app, "{}", m.value);
            let seq: usize = content(m, "seq").parse().unwrap();
            assert_eq!(content(m, "msg"), format!("request {seq} took {}ms", seq % 97));
            assert!(seen.insert(seq), "line {seq} delivered twice");
        }
    }
    assert_eq!(seen, (0..3000).collect(), "every line of the file, exactly once");
}

fn append(path: &Path, lines: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    for i in lines {
        writeln!(f, "event {i}").unwrap();
    }
}

/// The `event N` numbers in `topic`, with how often each arrived.
fn events(port: u16, topic: &str) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for m in read_topic(port, topic) {
        let n = content(&m, "content").strip_prefix("event ").unwrap().parse().unwrap();
        *counts.entry(n).or_default() += 1;
    }
    counts
}

/// A TCP relay from `front` to `back` (socat, installed with the kafka service).
fn relay(front: u16, back: u16) -> Spawned {
    Spawned::listening(
        Command::new("socat")
            .arg(format!("TCP-LISTEN:{front},bind=127.0.0.1,reuseaddr,fork"))
            .arg(format!("TCP:127.0.0.1:{back}")),
        front,
    )
}

/// The broker becomes unreachable while the file keeps growing, then reachable again. The agent
/// reaches Tansu through a relay (Tansu advertises the relay's port) and the outage cuts the relay,
/// every connection included: a restarted Tansu would come back empty, and it takes writes for a
/// topic it no longer knows without ever serving them back. Every event must arrive exactly once.
#[test]
fn a_broker_outage_mid_stream_loses_nothing() {
    // The agent's log is shown when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::INFO)
        .try_init();
    let (back, front) = (services::free_port(), services::free_port());
    let _broker = services::spawn_tansu(back, front, &[]);
    let link = relay(front, back);
    services::create_topic(&format!("127.0.0.1:{back}"), "stream", 2);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stream.log");
    std::fs::write(&log, "").unwrap();
    let pipeline = start(
        "kafka-outage",
        &format!(
            r#"
global: {{FlushRetry: {{InitialDelay: 200ms, MaxDelay: 1s}}}}
inputs: [{{Type: input_file, FilePaths: ["{}"]}}]
flushers:
  - Type: flusher_kafka_v2
    Brokers: ["127.0.0.1:{front}"]
    Topic: stream
    Timeout: 2s
    Compression: snappy
"#,
            log.display(),
        ),
    );
    append(&log, 0..500);
    wait("the events before the outage", Duration::from_secs(60), || {
        events(back, "stream").len() == 500
    });

    drop(link);
    append(&log, 500..1500);
    // Several delivery attempts fail (Timeout 2s each) while the broker is unreachable.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(events(back, "stream").len(), 500, "nothing gets through the outage");
    let link = relay(front, back);
    wait("the events written during the outage", Duration::from_secs(90), || {
        events(back, "stream").len() >= 1500
    });
    append(&log, 1500..1600);
    wait("the events after the outage", Duration::from_secs(60), || {
        events(back, "stream").len() >= 1600
    });
    pipeline.stop(StopMode::Drain);
    assert_eq!(
        events(back, "stream"),
        (0..1600).map(|i| (i, 1)).collect(),
        "every event, exactly once"
    );
    drop(link);
}
