//! `processor_rename`: renames fields, as LoongCollector's Go processor of the same name (V2
//! behaviour: a log's contents first, then its tags; the tags of metrics and spans).

use bytes::Bytes;
use loong_api::model::PipelineEvent;
use loong_api::{Context, KeyValues, PipelineGroupEvents, Processor, ProcessorV2, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The config `Type` of this processor.
pub const NAME: &str = "processor_rename";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: RenameOptions| Box::new(Rename::new(options)));
}

/// Renames fields: in a log event, a content of that name, or else a tag of that name; in metric
/// and span events, a tag. The field keeps its place; a field that already has the new name is
/// replaced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RenameOptions {
    /// Names to rename. Required.
    #[serde(rename = "SourceKeys")]
    pub source_keys: Vec<String>,
    /// The new names, one for each of `SourceKeys`. Required.
    #[serde(rename = "DestKeys")]
    pub dest_keys: Vec<String>,
    /// Report events that lack some of `SourceKeys`: a warning (then debug logs) and the counter
    /// `out_key_not_found_events_total`.
    #[serde(rename = "NoKeyError")]
    pub no_key_error: bool,
}

const DESCRIPTION: &str = "rename processor: renames fields of log events and tags";

pub struct Rename {
    options: RenameOptions,
    pairs: Vec<(Bytes, Bytes)>,
    not_found: metrics::Counter,
    warned: bool,
    span: tracing::Span,
}

impl Rename {
    pub fn new(options: RenameOptions) -> Self {
        Rename {
            options,
            pairs: Vec::new(),
            not_found: metrics::Counter::noop(),
            warned: false,
            span: tracing::Span::none(),
        }
    }

    /// Renames in `kv`; false when none is found.
    fn rename(kv: &mut KeyValues, from: &Bytes, to: &Bytes) -> bool {
        if !kv.contains(from) {
            return false;
        }
        if kv.contains(to) {
            let value = kv.remove(from).expect("checked");
            kv.insert(to.clone(), value);
        } else {
            *kv = std::mem::take(kv)
                .into_iter()
                .map(|(k, v)| if k == from { (to.clone(), v) } else { (k, v) })
                .collect();
        }
        true
    }

    fn report_missing(&mut self, missing: &[&Bytes]) {
        let names: Vec<_> = missing.iter().map(|k| String::from_utf8_lossy(k)).collect();
        self.not_found.increment(1);
        let _entered = self.span.enter();
        if self.warned {
            tracing::debug!(keys = ?names, "processor_rename: cannot find keys");
        } else {
            self.warned = true;
            tracing::warn!(keys = ?names, "processor_rename: cannot find keys (further events are counted in out_key_not_found_events_total)");
        }
    }
}

impl Processor for Rename {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let o = &self.options;
        anyhow::ensure!(!o.source_keys.is_empty(), "SourceKeys is required");
        anyhow::ensure!(!o.dest_keys.is_empty(), "DestKeys is required");
        anyhow::ensure!(
            o.source_keys.len() == o.dest_keys.len(),
            "SourceKeys has {} names but DestKeys has {}: they pair up",
            o.source_keys.len(),
            o.dest_keys.len()
        );
        self.pairs.clear();
        for (from, to) in o.source_keys.iter().zip(&o.dest_keys) {
            if from == to {
                continue;
            }
            let (from, to) = (Bytes::from(from.clone()), Bytes::from(to.clone()));
            // A name listed twice takes its last new name.
            match self.pairs.iter_mut().find(|(f, _)| *f == from) {
                Some(pair) => pair.1 = to,
                None => self.pairs.push((from, to)),
            }
        }
        self.not_found = ctx.metrics().counter(loong_processor_parse_common::KEY_NOT_FOUND);
        self.span = ctx.span().clone();
        Ok(())
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_v2(&mut self) -> Option<&mut dyn ProcessorV2> {
        Some(self)
    }
}

impl ProcessorV2 for Rename {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let pairs = std::mem::take(&mut self.pairs);
        let mut missing = Vec::new();
        for event in &mut group.events {
            missing.clear();
            for (from, to) in &pairs {
                let found = match event {
                    PipelineEvent::Log(log) => {
                        Self::rename(&mut log.contents, from, to) || Self::rename(&mut log.tags, from, to)
                    }
                    PipelineEvent::Metric(m) => Self::rename(&mut m.tags, from, to),
                    PipelineEvent::Span(s) => Self::rename(&mut s.tags, from, to),
                    PipelineEvent::ByteArray(_) => true,
                };
                if !found {
                    missing.push(from);
                }
            }
            if self.options.no_key_error && !missing.is_empty() {
                self.report_missing(&missing);
            }
        }
        self.pairs = pairs;
    }
}

#[cfg(test)]
mod tests {
    use loong_api::model::{MetricEvent, MetricType};
    use loong_processor_parse_common::KEY_NOT_FOUND;
    use loong_processor_parse_common::testing::{contents, create, documented_options, events, kv, pairs, run};
    use loong_testkit::MetricsCapture;
    use serde_json::json;

    use super::*;

    #[test]
    fn renames_contents_in_place_then_tags() {
        let o = json!({"SourceKeys": ["key1", "host", "a"], "DestKeys": ["new_key1", "hostname", "b"]});
        let mut p = create(register, NAME, o).unwrap();
        let mut group = events(vec![vec![("key1", "123456"), ("key2", "abcd"), ("a", "1"), ("b", "2")]]);
        group.events[0].as_log_mut().unwrap().tags.insert("host", "h1");
        let mut metric = MetricEvent::single("m", MetricType::Gauge, 1.0, 1);
        metric.tags.insert("host", "h2");
        group.events.push(PipelineEvent::Metric(metric));
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group)[0],
            kv(&[("new_key1", "123456"), ("key2", "abcd"), ("b", "1")])
        );
        assert_eq!(pairs(group.events[0].tags().unwrap()), kv(&[("hostname", "h1")]));
        assert_eq!(pairs(group.events[1].tags().unwrap()), kv(&[("hostname", "h2")]));
    }

    #[test]
    fn no_key_error_counts_events_missing_keys() {
        let capture = MetricsCapture::new();
        let o = json!({"SourceKeys": ["a"], "DestKeys": ["b"], "NoKeyError": true});
        let mut p = capture.scoped(|| create(register, NAME, o)).unwrap();
        let mut group = events(vec![vec![("a", "1")], vec![("x", "1")], vec![("y", "1")]]);
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [kv(&[("b", "1")]), kv(&[("x", "1")]), kv(&[("y", "1")])]
        );
        assert_eq!(capture.counter(KEY_NOT_FOUND), 2);

        let o = json!({"SourceKeys": ["a"], "DestKeys": ["b"]});
        let mut p = capture.scoped(|| create(register, NAME, o)).unwrap();
        run(&mut p, &mut events(vec![vec![("x", "1")]]));
        assert_eq!(capture.counter(KEY_NOT_FOUND), 2);
    }

    #[test]
    fn key_lists_must_pair_up() {
        let err = |o| create(register, NAME, o).err().unwrap().to_string();
        assert!(err(json!({"DestKeys": ["a"]})).contains("SourceKeys is required"));
        assert!(err(json!({"SourceKeys": ["a"]})).contains("DestKeys is required"));
        assert!(err(json!({"SourceKeys": ["a", "b"], "DestKeys": ["c"]})).contains("pair up"));
    }

    #[test]
    fn options_are_documented() {
        let names: Vec<_> = documented_options(register, NAME).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["SourceKeys", "DestKeys", "NoKeyError"]);
    }
}
