//! The delivery contract with the real built-in plugins: metric_mock numbers its events, and
//! flusher_checker (the debug section of plugins.yml) records what arrives, fails on demand, or
//! holds the pipeline by saying it is not ready.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::start;
use loong_flusher_checker::checker;
use loong_runtime::StopMode;

/// The `Index` of every event the checker received.
fn indices(name: &str) -> Vec<u64> {
    checker(name)
        .groups()
        .iter()
        .flat_map(|g| &g.events)
        .map(|e| e.as_log().unwrap().contents.get_str("Index").unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_flusher_failing_for_a_while_loses_nothing() {
    let pipeline = start(
        "failing",
        r#"
global: {StructureType: v2, FlushRetry: {InitialDelay: 10ms, MaxDelay: 100ms}}
inputs: [{Type: metric_mock, EventsPerCollect: 50, MaxEvents: 5000, Interval: 0}]
flushers: [{Type: flusher_checker, Name: failing, FailFirst: 8}]
"#,
    );
    assert!(
        checker("failing").wait_for_events(5000, Duration::from_secs(60)),
        "only {} arrived",
        checker("failing").event_count()
    );
    pipeline.stop(StopMode::Drain);
    let got = indices("failing");
    assert_eq!(got.len(), 5000, "no duplicates");
    assert_eq!(
        got.iter().copied().collect::<BTreeSet<_>>(),
        (1..=5000).collect(),
        "no gaps"
    );
    assert!(checker("failing").flush_calls() > 8, "the failed calls were retried");
}

#[test]
fn a_not_ready_flusher_holds_the_pipeline_and_the_input() {
    let pipeline = start(
        "held",
        r#"
global: {StructureType: v2, DefaultLogQueueSize: 4, DefaultLogGroupQueueSize: 1}
inputs: [{Type: metric_mock, EventsPerCollect: 100, Interval: 0}]
flushers: [{Type: flusher_checker, Name: held, Ready: false}]
"#,
    );
    let h = checker("held");
    // Wait until the input is blocked by full queues.
    let start = Instant::now();
    let mut last = u64::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let calls = h.is_ready_calls();
        if calls > 0 && calls == last {
            break;
        }
        last = calls;
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let polls_before = h.is_ready_calls();
    std::thread::sleep(Duration::from_secs(2));
    let polls = h.is_ready_calls() - polls_before;
    assert!(polls <= 8, "is_ready polled {polls} times in 2 s: busy polling");
    assert_eq!(h.event_count(), 0);

    h.set_ready(true);
    assert!(
        h.wait_for_events(1, Duration::from_secs(5)),
        "set_ready(true) resumes delivery"
    );
    pipeline.stop(StopMode::Drain);
    let got = indices("held");
    let n = got.len() as u64;
    assert_eq!(
        got.into_iter().collect::<BTreeSet<_>>(),
        (1..=n).collect(),
        "everything produced was delivered, in full"
    );
}
