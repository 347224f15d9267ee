//! `processor_filter_regex`: keeps the log events whose fields match `Include` and do not match
//! `Exclude`, as LoongCollector's Go processor of the same name.

use std::collections::BTreeMap;

use anyhow::Context as _;
use bytes::Bytes;
use loong_api::model::PipelineEvent;
use loong_api::{Context, KeyValues, PipelineGroupEvents, Processor, ProcessorV2, Result};
use regex::bytes::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The config `Type` of this processor.
pub const NAME: &str = "processor_filter_regex";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: FilterRegexOptions| Box::new(FilterRegex::new(options)));
}

/// Keeps the log events whose fields match every expression of `Include` and none of `Exclude`;
/// the others are dropped and counted in `discarded_events_total`. An expression matches when it
/// is found anywhere in the value (anchor it with `^…$` for a whole value), as in LoongCollector's
/// Go plugin. Metric, span and raw events always pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FilterRegexOptions {
    /// Field → expression: every field must exist and match.
    #[serde(rename = "Include")]
    pub include: BTreeMap<String, String>,
    /// Field → expression: an event where any of these fields matches is dropped.
    #[serde(rename = "Exclude")]
    pub exclude: BTreeMap<String, String>,
}

const DESCRIPTION: &str = "regex filter: keeps the log events whose fields match Include and not Exclude";

pub struct FilterRegex {
    options: FilterRegexOptions,
    include: Vec<(Bytes, Regex)>,
    exclude: Vec<(Bytes, Regex)>,
    discarded: metrics::Counter,
}

fn compile(map: &BTreeMap<String, String>, option: &str) -> Result<Vec<(Bytes, Regex)>> {
    map.iter()
        .map(|(key, pattern)| {
            let regex = Regex::new(pattern)
                .with_context(|| format!("{option}.{key}: {pattern:?} is not a valid regular expression"))?;
            Ok((Bytes::from(key.clone()), regex))
        })
        .collect()
}

impl FilterRegex {
    pub fn new(options: FilterRegexOptions) -> Self {
        FilterRegex {
            options,
            include: Vec::new(),
            exclude: Vec::new(),
            discarded: metrics::Counter::noop(),
        }
    }

    fn keeps(&self, contents: &KeyValues) -> bool {
        let all = |key: &Bytes, regex: &Regex| {
            let mut seen = false;
            for (k, v) in contents.iter() {
                if k == key {
                    if !regex.is_match(v) {
                        return false;
                    }
                    seen = true;
                }
            }
            seen
        };
        self.include.iter().all(|(k, r)| all(k, r))
            && !contents
                .iter()
                .any(|(k, v)| self.exclude.iter().any(|(key, r)| key == k && r.is_match(v)))
    }
}

impl Processor for FilterRegex {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        self.include = compile(&self.options.include, "Include")?;
        self.exclude = compile(&self.options.exclude, "Exclude")?;
        self.discarded = ctx.metrics().counter(loong_processor_parse_common::DISCARDED);
        Ok(())
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_v2(&mut self) -> Option<&mut dyn ProcessorV2> {
        Some(self)
    }
}

impl ProcessorV2 for FilterRegex {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let before = group.events.len();
        group.events.retain(|event| match event {
            PipelineEvent::Log(log) => self.keeps(&log.contents),
            _ => true,
        });
        self.discarded.increment((before - group.events.len()) as u64);
    }
}

#[cfg(test)]
mod tests {
    use loong_api::model::{MetricEvent, MetricType};
    use loong_processor_parse_common::DISCARDED;
    use loong_processor_parse_common::testing::{contents, create, documented_options, events, run};
    use loong_testkit::MetricsCapture;
    use serde_json::json;

    use super::*;

    fn browsers() -> PipelineGroupEvents {
        events(vec![
            vec![("ip", "10.1.2.3"), ("method", "POST"), ("browser", "aliyun-sdk-java")],
            vec![("ip", "10.1.2.4"), ("method", "POST"), ("browser", "chrome")],
            vec![
                ("ip", "192.168.1.1"),
                ("method", "POST"),
                ("browser", "aliyun-sls-loongcollector"),
            ],
            vec![("method", "POST"), ("browser", "chrome")],
        ])
    }

    #[test]
    fn the_loongcollector_example_keeps_one_event() {
        let capture = MetricsCapture::new();
        let o = json!({"Include": {"ip": "10\\..*", "method": "POST"}, "Exclude": {"browser": "aliyun.*"}});
        let mut p = capture.scoped(|| create(register, NAME, o)).unwrap();
        let mut group = browsers();
        run(&mut p, &mut group);
        assert_eq!(contents(&group).len(), 1);
        assert_eq!(contents(&group)[0][0].1, "10.1.2.4");
        assert_eq!(capture.counter(DISCARDED), 3);
    }

    #[test]
    fn expressions_match_anywhere_in_the_value() {
        let mut p = create(register, NAME, json!({"Include": {"browser": "sdk"}})).unwrap();
        let mut group = browsers();
        run(&mut p, &mut group);
        assert_eq!(contents(&group).len(), 1);

        let mut p = create(register, NAME, json!({"Exclude": {"browser": "^chrome$"}})).unwrap();
        let mut group = browsers();
        group.events.push(PipelineEvent::Metric(MetricEvent::single(
            "m",
            MetricType::Gauge,
            1.0,
            1,
        )));
        run(&mut p, &mut group);
        assert_eq!(group.events.len(), 3);
    }

    #[test]
    fn invalid_expressions_fail_init() {
        let err = create(register, NAME, json!({"Include": {"a": "("}}))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("Include.a"), "{err}");
    }

    #[test]
    fn options_are_documented() {
        let names: Vec<_> = documented_options(register, NAME).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Include", "Exclude"]);
    }
}
