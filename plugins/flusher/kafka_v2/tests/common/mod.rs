//! Helpers shared by the broker tests: Tansu brokers (through scripts/services/kafka.sh, or spawned
//! directly when a test needs broker flags), a reader that assigns every partition, and flusher setup.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use loong_api::{Flusher, PipelineContext, PipelineGroupEvents};
use loong_testkit::services::{Service, create_topic};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

/// A Tansu broker for one test.
pub struct Tansu {
    pub service: Service,
}

impl Tansu {
    pub fn start() -> Tansu {
        Tansu {
            service: Service::start("kafka"),
        }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.service.port())
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        create_topic(&self.brokers(), name, partitions);
    }

    pub fn read(&self, topic: &str) -> Vec<Record> {
        read_topic(&self.brokers(), topic)
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub key: Option<String>,
    pub value: String,
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// The `content` of a custom_single message.
    pub fn body(&self) -> String {
        let v: Value = serde_json::from_str(&self.value).unwrap_or_else(|e| panic!("{}: {e}", self.value));
        v["contents"]["content"].as_str().unwrap_or_default().to_owned()
    }
}

/// Every message of `topic` so far: every partition is read from its start until no message has
/// come for a second. (Tansu 0.6 reports a high watermark one past the base offset of the last record
/// batch, not past its last record, so the watermark cannot tell where a partition ends.)
pub fn read_topic(brokers: &str, topic: &str) -> Vec<Record> {
    read_topic_with(brokers, topic, &[])
}

/// [`read_topic`] with extra client settings (TLS…).
pub fn read_topic_with(brokers: &str, topic: &str, settings: &[(&str, &str)]) -> Vec<Record> {
    let mut config = ClientConfig::new();
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config
        .set("bootstrap.servers", brokers)
        .set("group.id", "loong-test-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_uncommitted")
        .create()
        .expect("creating a consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    assert!(partitions > 0, "topic {topic} has no partitions (does it exist?)");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(1) {
        assert!(
            Instant::now() < deadline,
            "reading {topic}: messages keep coming after 60 s"
        );
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.expect("consuming");
        last = Instant::now();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        out.push(Record {
            partition: m.partition(),
            key: m.key().map(text),
            value: m.payload().map(text).unwrap_or_default(),
            headers: m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.map(text).unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    out
}

pub fn bodies(records: &[Record]) -> Vec<String> {
    let mut b: Vec<String> = records.iter().map(Record::body).collect();
    b.sort();
    b
}

pub fn flusher(options: Value) -> Box<dyn Flusher> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_kafka_v2::register(&mut registry);
    let (mut f, warnings) = registry.create_flusher("flusher_kafka_v2", &options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    f.init(&loong_testkit::mock_context("flusher_kafka_v2")).unwrap();
    f
}

pub fn export(f: &mut Box<dyn Flusher>, groups: &[PipelineGroupEvents]) -> loong_api::Result<()> {
    f.as_v2().unwrap().export(groups, &mut PipelineContext::noop())
}

/// `n` logs whose `app` content cycles through `apps`; bodies are `{prefix}-{i}`.
pub fn logs_with_apps(prefix: &str, n: usize, apps: &[&str]) -> PipelineGroupEvents {
    let mut g = loong_testkit::log_events_with_prefix(prefix, n);
    for (i, e) in g.events.iter_mut().enumerate() {
        if let loong_api::PipelineEvent::Log(l) = e {
            l.contents.insert("app", apps[i % apps.len()].to_owned());
        }
    }
    g
}

pub fn numbered(prefix: &str, n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    v.sort();
    v
}
