use std::time::Duration;

use loong_api::model::{GroupInfo, LogEvent, PipelineEvent};
use loong_api::{Aggregator, PipelineGroupEvents, Registry};
use serde_json::json;

use super::*;

fn group(source: &str, n: usize) -> PipelineGroupEvents {
    let mut info = GroupInfo::default();
    info.metadata.insert("__path__", format!("/var/log/{source}.log"));
    let events = (0..n)
        .map(|i| PipelineEvent::Log(LogEvent::with_body(format!("{source} {i}"), 0)))
        .collect();
    PipelineGroupEvents::new(info, events)
}

fn create(name: &str, options: serde_json::Value) -> Box<dyn Aggregator> {
    let mut registry = Registry::new();
    register(&mut registry);
    let (mut a, warnings) = registry.create_aggregator(name, &options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    a.init(&loong_testkit::mock_context(name)).unwrap();
    a
}

fn pack(g: &PipelineGroupEvents) -> (String, u64) {
    let id = g.group.tags.get_str(pack::TAG).unwrap().into_owned();
    let (prefix, seq) = id.split_once('-').unwrap();
    (prefix.to_owned(), u64::from_str_radix(seq, 16).unwrap())
}

#[test]
fn context_cuts_per_source_and_numbers_packs_per_source() {
    let mut a = create(CONTEXT, json!({"MaxLogCount": 5, "Topic": "app"}));
    let mut ready = Vec::new();
    for _ in 0..3 {
        a.record(group("a", 5), &mut ready).unwrap();
        a.record(group("b", 5), &mut ready).unwrap();
    }
    assert_eq!(ready.len(), 6, "a full batch goes at once");
    let a_packs: Vec<(String, u64)> = ready
        .iter()
        .filter(|g| g.events[0].as_log().unwrap().body().unwrap().starts_with(b"a"))
        .map(pack)
        .collect();
    assert_eq!(a_packs.iter().map(|p| p.1).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(a_packs.iter().all(|p| p.0 == a_packs[0].0), "one context id per source");
    let b_first = ready
        .iter()
        .find(|g| g.events[0].as_log().unwrap().body().unwrap().starts_with(b"b"))
        .unwrap();
    assert_ne!(pack(b_first).0, a_packs[0].0, "another source, another context id");
    assert!(
        ready
            .iter()
            .all(|g| g.group.metadata.get_str("__topic__").as_deref() == Some("app"))
    );
}

#[test]
fn base_numbers_packs_per_aggregator_and_pack_flag_turns_them_off() {
    let mut a = create(BASE, json!({"MaxLogCount": 2}));
    let mut ready = Vec::new();
    a.record(group("a", 2), &mut ready).unwrap();
    a.record(group("b", 2), &mut ready).unwrap();
    let packs: Vec<(String, u64)> = ready.iter().map(pack).collect();
    assert_eq!(packs[0].0, packs[1].0);
    assert_eq!((packs[0].1, packs[1].1), (1, 2));

    let mut a = create(BASE, json!({"MaxLogCount": 2, "PackFlag": false}));
    let mut ready = Vec::new();
    a.record(group("a", 2), &mut ready).unwrap();
    assert!(ready[0].group.tags.get(pack::TAG).is_none());
}

#[test]
fn batches_by_bytes_and_time() {
    let mut a = create(CONTEXT, json!({"MaxLogGroupBytes": 64, "Interval": "1h"}));
    let mut ready = Vec::new();
    a.record(group("a", 1), &mut ready).unwrap();
    assert!(ready.is_empty());
    a.record(group("a", 10), &mut ready).unwrap();
    assert_eq!(
        ready.len(),
        2,
        "the open batch is cut before it would pass MaxLogGroupBytes"
    );
    ready.clear();
    let mut a = create(CONTEXT, json!({"Interval": "10ms"}));
    a.record(group("a", 1), &mut ready).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    a.get_result(&mut ready, false).unwrap();
    assert_eq!(ready.len(), 1, "sent once Interval has passed");
}

#[test]
fn zero_limits_are_init_errors() {
    let mut registry = Registry::new();
    register(&mut registry);
    let (mut a, _) = registry.create_aggregator(BASE, &json!({"MaxLogCount": 0})).unwrap();
    let err = a.init(&loong_testkit::mock_context(BASE)).unwrap_err().to_string();
    assert!(err.contains("MaxLogCount"), "{err}");
}
