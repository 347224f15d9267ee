//! Helpers for the processors' tests: build groups of log events, run a processor made from a
//! config object through the registry, read contents back as text.

use bytes::Bytes;
use loong_api::model::{LogEvent, PipelineEvent};
use loong_api::{KeyValues, PipelineGroupEvents, PluginKind, Processor, Registry};

/// A group with one log event per line (`content` is the line), timestamps 1 s apart from 1 s.
pub fn lines(lines: &[&str]) -> PipelineGroupEvents {
    events(lines.iter().map(|l| vec![("content", *l)]).collect())
}

/// A group with one log event per list of contents.
pub fn events(events: Vec<Vec<(&str, &str)>>) -> PipelineGroupEvents {
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, contents)| {
            let mut e = LogEvent {
                timestamp: (i as u64 + 1) * 1_000_000_000,
                ..Default::default()
            };
            for (k, v) in contents {
                e.contents.push(
                    Bytes::copy_from_slice(k.as_bytes()),
                    Bytes::copy_from_slice(v.as_bytes()),
                );
            }
            PipelineEvent::Log(e)
        })
        .collect();
    PipelineGroupEvents::new(Default::default(), events)
}

/// Key/value pairs as text, in order.
pub fn pairs(kv: &KeyValues) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// The contents of every log event of the group, as text.
pub fn contents(group: &PipelineGroupEvents) -> Vec<Vec<(String, String)>> {
    group
        .events
        .iter()
        .map(|e| e.as_log().map(|l| pairs(&l.contents)).unwrap_or_default())
        .collect()
}

/// `[("k", "v"), …]` as owned pairs, to compare with [`contents`].
pub fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Creates the processor `name` from `options` with `register`, and inits it with the mock
/// context of the test kit. Unknown-key warnings fail the test.
pub fn create(
    register: fn(&mut Registry),
    name: &str,
    options: serde_json::Value,
) -> loong_api::Result<Box<dyn Processor>> {
    let mut registry = Registry::new();
    register(&mut registry);
    assert!(registry.problems().is_empty(), "{:?}", registry.problems());
    assert!(registry.contains(PluginKind::Processor, name));
    let (mut processor, warnings) = registry.create_processor(name, &options)?;
    assert!(warnings.is_empty(), "{warnings:?}");
    processor.init(&loong_testkit::mock_context(name))?;
    Ok(processor)
}

/// Runs a processor on `group` through its V2 interface.
pub fn run(processor: &mut Box<dyn Processor>, group: &mut PipelineGroupEvents) {
    processor.as_v2().expect("a V2 processor").process(group);
}

/// Checks that every option of the plugin is documented, and returns the options' names and
/// defaults.
pub fn documented_options(register: fn(&mut Registry), name: &str) -> Vec<(String, String)> {
    let mut registry = Registry::new();
    register(&mut registry);
    let doc = registry.doc(PluginKind::Processor, name).expect("registered");
    assert!(!doc.description.trim().is_empty(), "{name} has no description");
    for o in &doc.options {
        assert!(!o.description.trim().is_empty(), "{name}: {} is undocumented", o.name);
    }
    doc.options.into_iter().map(|o| (o.name, o.default)).collect()
}
