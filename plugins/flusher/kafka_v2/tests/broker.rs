//! flusher_kafka_v2 against a real Kafka-protocol broker: Tansu (scripts/services/kafka.sh), started
//! on a free loopback port per test. Messages are read back with a librdkafka consumer that assigns
//! every partition from the beginning (consumer-group joins hang on Tansu 0.6).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

#[test]
fn conformance_against_tansu() {
    let kafka = Tansu::start();
    kafka.create_topic("conformance", 3);
    let brokers = kafka.brokers();
    let b = brokers.clone();
    loong_testkit::Conformance::from_registry(
        loong_flusher_kafka_v2::register,
        "flusher_kafka_v2",
        json!({"Brokers": [brokers], "Topic": "conformance"}),
    )
    .read_back(move || read_topic(&b, "conformance").iter().map(Record::body).collect())
    .run();
}

#[test]
fn dynamic_topics_route_each_message_by_its_values() {
    let kafka = Tansu::start();
    kafka.create_topic("app_web", 1);
    kafka.create_topic("app_db", 1);
    kafka.create_topic("host_test-host", 1);
    let mut f = flusher(json!({"Brokers": [kafka.brokers()], "Topic": "app_%{content.app}"}));
    export(&mut f, &[logs_with_apps("dyn", 10, &["web", "db"])]).unwrap();
    f.stop().unwrap();
    let web = bodies(&kafka.read("app_web"));
    let db = bodies(&kafka.read("app_db"));
    let mut want_web: Vec<String> = (0..10).step_by(2).map(|i| format!("dyn-{i}")).collect();
    let mut want_db: Vec<String> = (1..10).step_by(2).map(|i| format!("dyn-{i}")).collect();
    want_web.sort();
    want_db.sort();
    assert_eq!(web, want_web);
    assert_eq!(db, want_db);

    // A tag works the same way (the test group's tag host=test-host).
    let mut f = flusher(json!({"Brokers": [kafka.brokers()], "Topic": "host_%{tag.host}"}));
    export(&mut f, &[loong_testkit::log_events_with_prefix("tag", 3)]).unwrap();
    f.stop().unwrap();
    assert_eq!(bodies(&kafka.read("host_test-host")), numbered("tag", 3));
}

/// Sarama's hash partitioner, which LoongCollector uses: FNV-1a 32 of the key, as i32, absolute
/// value modulo the partition count.
fn sarama_partition(key: &str, partitions: i32) -> i32 {
    let mut h: u32 = 0x811c9dc5;
    for b in key.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    ((h as i32) % partitions).abs()
}

#[test]
fn each_partitioner_spreads_messages_its_own_way() {
    let kafka = Tansu::start();
    let brokers = kafka.brokers();

    kafka.create_topic("rr", 4);
    let mut f = flusher(json!({"Brokers": [brokers], "Topic": "rr", "PartitionerType": "roundrobin"}));
    export(&mut f, &[loong_testkit::log_events_with_prefix("rr", 40)]).unwrap();
    f.stop().unwrap();
    let rr = kafka.read("rr");
    assert_eq!(bodies(&rr), numbered("rr", 40));
    let mut per: BTreeMap<i32, usize> = BTreeMap::new();
    for r in &rr {
        *per.entry(r.partition).or_default() += 1;
        assert_eq!(r.key, None, "roundrobin sends no key");
    }
    assert_eq!(per, BTreeMap::from([(0, 10), (1, 10), (2, 10), (3, 10)]), "roundrobin");

    kafka.create_topic("hash", 4);
    let apps = ["web", "db", "cache", "queue", "auth", "search", "mail"];
    let mut f = flusher(json!({
        "Brokers": [brokers], "Topic": "hash", "PartitionerType": "hash", "HashKeys": ["content.app"],
    }));
    export(&mut f, &[logs_with_apps("hash", 70, &apps)]).unwrap();
    f.stop().unwrap();
    let hashed = kafka.read("hash");
    assert_eq!(bodies(&hashed), numbered("hash", 70));
    let mut partitions_of: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for r in &hashed {
        let key = r.key.clone().expect("hash messages carry their key");
        partitions_of.entry(key).or_default().insert(r.partition);
    }
    assert_eq!(partitions_of.len(), apps.len(), "one key per app: {partitions_of:?}");
    for (key, parts) in &partitions_of {
        assert_eq!(parts.len(), 1, "key {key} went to several partitions: {parts:?}");
        assert_eq!(
            *parts.first().unwrap(),
            sarama_partition(key, 4),
            "key {key}: not the partition LoongCollector (sarama) picks"
        );
    }
    let used: BTreeSet<i32> = hashed.iter().map(|r| r.partition).collect();
    assert!(used.len() > 1, "7 keys all hashed to one partition: {used:?}");

    kafka.create_topic("random", 4);
    let mut f = flusher(json!({"Brokers": [brokers], "Topic": "random"}));
    export(&mut f, &[loong_testkit::log_events_with_prefix("random", 200)]).unwrap();
    f.stop().unwrap();
    let random = kafka.read("random");
    assert_eq!(bodies(&random), numbered("random", 200));
    let used: BTreeSet<i32> = random.iter().map(|r| r.partition).collect();
    assert_eq!(used.len(), 4, "200 random messages over 4 partitions used {used:?}");
}

#[test]
fn every_compression_is_read_back() {
    let kafka = Tansu::start();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("c_{codec}");
        kafka.create_topic(&topic, 2);
        let mut f = flusher(json!({
            "Brokers": [kafka.brokers()], "Topic": topic, "Compression": codec, "BulkFlushFrequency": "20ms",
        }));
        export(&mut f, &[loong_testkit::log_events_with_prefix(codec, 50)]).unwrap();
        f.stop().unwrap();
        assert_eq!(bodies(&kafka.read(&topic)), numbered(codec, 50), "{codec}");
    }
}

#[test]
fn headers_are_attached_to_every_message() {
    let kafka = Tansu::start();
    kafka.create_topic("headers", 1);
    let mut f = flusher(json!({
        "Brokers": [kafka.brokers()], "Topic": "headers",
        "Headers": [{"key": "source", "value": "loong"}, {"Key": "host", "Value": "%{tag.host}"}],
    }));
    export(&mut f, &[loong_testkit::log_events_with_prefix("h", 5)]).unwrap();
    f.stop().unwrap();
    let got = kafka.read("headers");
    assert_eq!(bodies(&got), numbered("h", 5));
    for r in &got {
        assert_eq!(
            r.headers,
            vec![
                ("source".to_owned(), "loong".to_owned()),
                ("host".to_owned(), "test-host".to_owned())
            ]
        );
    }
}

#[test]
fn messages_keep_the_converter_output() {
    let kafka = Tansu::start();
    kafka.create_topic("flat", 1);
    let mut f = flusher(json!({
        "Brokers": [kafka.brokers()], "Topic": "flat",
        "Convert": {"Protocol": "custom_single_flatten", "TagFieldsRename": {"host": "hostname"}},
    }));
    export(&mut f, &[loong_testkit::log_events_with_prefix("flat", 2)]).unwrap();
    f.stop().unwrap();
    let mut got: Vec<Value> = kafka
        .read("flat")
        .iter()
        .map(|r| serde_json::from_str(&r.value).unwrap())
        .collect();
    got.sort_by_key(|v| v["content"].as_str().unwrap().to_owned());
    assert_eq!(
        got[0],
        json!({"content": "flat-0", "seq": "0", "hostname": "test-host", "time": 1_700_000_000})
    );
    assert_eq!(got.len(), 2);
}

#[test]
fn a_message_larger_than_max_message_bytes_is_rejected_and_counted_not_retried() {
    let kafka = Tansu::start();
    kafka.create_topic("size", 1);
    let capture = loong_testkit::MetricsCapture::new();
    let mut f =
        capture.scoped(|| flusher(json!({"Brokers": [kafka.brokers()], "Topic": "size", "MaxMessageBytes": 1000})));
    let mut group = loong_testkit::log_events_with_prefix("size", 3);
    if let loong_api::PipelineEvent::Log(l) = &mut group.events[1] {
        l.contents.insert("big", "x".repeat(5000));
    }
    export(&mut f, &[group]).unwrap();
    f.stop().unwrap();
    assert_eq!(
        bodies(&kafka.read("size")),
        vec!["size-0".to_owned(), "size-2".to_owned()]
    );
    assert_eq!(capture.counter("kafka_rejected_messages_total"), 1);
    assert_eq!(capture.counter("kafka_sent_messages_total"), 2);
}

#[test]
fn a_topic_is_created_on_first_use_when_the_broker_allows_it() {
    let kafka = Tansu::start();
    let mut f = flusher(json!({"Brokers": [kafka.brokers()], "Topic": "auto_%{content.app}"}));
    export(&mut f, &[logs_with_apps("auto", 4, &["a", "b"])]).unwrap();
    f.stop().unwrap();
    assert_eq!(
        bodies(&kafka.read("auto_a")),
        vec!["auto-0".to_owned(), "auto-2".to_owned()]
    );
    assert_eq!(
        bodies(&kafka.read("auto_b")),
        vec!["auto-1".to_owned(), "auto-3".to_owned()]
    );
}

#[test]
fn a_broker_outage_fails_the_flush_and_the_retry_delivers_everything() {
    let kafka = Tansu::start();
    kafka.create_topic("outage", 2);
    let mut f = flusher(json!({"Brokers": [kafka.brokers()], "Topic": "outage", "Timeout": "2s"}));
    export(&mut f, &[loong_testkit::log_events_with_prefix("before", 5)]).unwrap();
    assert_eq!(bodies(&kafka.read("outage")), numbered("before", 5));

    kafka.service.stop();
    let batch = [loong_testkit::log_events_with_prefix("during", 20)];
    let started = Instant::now();
    let err = export(&mut f, &batch).unwrap_err().to_string();
    assert!(err.contains("20 of 20 messages not delivered"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded by Timeout: {:?}",
        started.elapsed()
    );

    // The broker keeps its data in memory only: it comes back empty, so the topic is made again and
    // what arrives from now on is exactly the batch that failed.
    kafka.service.restart();
    kafka.create_topic("outage", 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = export(&mut f, &batch) {
        assert!(
            Instant::now() < deadline,
            "still failing after the broker came back: {e}"
        );
    }
    f.stop().unwrap();
    assert_eq!(
        bodies(&kafka.read("outage")),
        numbered("during", 20),
        "each message exactly once"
    );
}

#[test]
fn urgent_flushes_return_quickly_and_is_ready_follows_the_producer_queue() {
    let kafka = Tansu::start();
    kafka.create_topic("ready", 1);
    let mut f = flusher(json!({
        "Brokers": [kafka.brokers()], "Topic": "ready", "Timeout": "60s", "QueueBufferingMaxMessages": 10,
    }));
    assert!(f.is_ready("p", "l", 0));
    kafka.service.stop();
    // Exiting agent: the flush gives up waiting after 1 s, leaving the messages in the queue.
    f.set_urgent(true);
    let batch = [loong_testkit::log_events_with_prefix("queued", 10)];
    let started = Instant::now();
    assert!(export(&mut f, &batch).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "urgent wait: {:?}",
        started.elapsed()
    );
    assert!(f.is_ready("p", "l", 0), "urgent: always ready");
    f.set_urgent(false);
    assert!(!f.is_ready("p", "l", 0), "10 messages in a queue of 10");

    kafka.service.restart();
    kafka.create_topic("ready", 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f.is_ready("p", "l", 0) {
        assert!(Instant::now() < deadline, "the queued messages were never delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The retry waits for the queued messages instead of sending them again.
    export(&mut f, &batch).unwrap();
    f.stop().unwrap();
    assert_eq!(bodies(&kafka.read("ready")), numbered("queued", 10));
}

#[test]
fn a_batch_larger_than_the_producer_queue_waits_for_room() {
    let kafka = Tansu::start();
    kafka.create_topic("room", 2);
    let mut f = flusher(json!({"Brokers": [kafka.brokers()], "Topic": "room", "QueueBufferingMaxMessages": 10}));
    export(&mut f, &[loong_testkit::log_events_with_prefix("room", 300)]).unwrap();
    f.stop().unwrap();
    assert_eq!(bodies(&kafka.read("room")), numbered("room", 300));
}

#[test]
fn stop_is_bounded_while_the_broker_is_down() {
    let kafka = Tansu::start();
    kafka.create_topic("stop", 1);
    let mut f = flusher(json!({"Brokers": [kafka.brokers()], "Topic": "stop", "Timeout": "60s"}));
    kafka.service.stop();
    f.set_urgent(true);
    assert!(export(&mut f, &[loong_testkit::log_events_with_prefix("s", 5)]).is_err());
    let started = Instant::now();
    f.stop().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stop took {:?}",
        started.elapsed()
    );
}

#[test]
fn init_checks_options() {
    let mut registry = loong_api::Registry::new();
    loong_flusher_kafka_v2::register(&mut registry);
    for (options, want) in [
        (json!({"Topic": "t"}), "Brokers"),
        (json!({"Brokers": ["127.0.0.1:1"]}), "Topic"),
        (
            json!({"Brokers": ["127.0.0.1:1"], "Topic": "t", "PartitionerType": "sticky"}),
            "PartitionerType",
        ),
        (
            json!({"Brokers": ["127.0.0.1:1"], "Topic": "t", "Compression": "brotli"}),
            "Compression",
        ),
        (
            json!({"Brokers": ["127.0.0.1:1"], "Topic": "t", "Convert": {"Protocol": "otlp_v1"}}),
            "Convert",
        ),
        (
            json!({"Brokers": ["127.0.0.1:1"], "Topic": "t", "Authentication": {"Sasl": {"Username": "u"}}}),
            "Password",
        ),
    ] {
        let (mut f, _) = registry.create_flusher("flusher_kafka_v2", &options).unwrap();
        let err = f
            .init(&loong_testkit::mock_context("flusher_kafka_v2"))
            .err()
            .unwrap_or_else(|| panic!("{options} should not init"));
        assert!(format!("{err:#}").contains(want), "{options}: {err:#}");
    }
}
