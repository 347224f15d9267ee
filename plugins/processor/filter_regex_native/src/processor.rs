use anyhow::Context as _;
use bytes::Bytes;
use loong_api::model::PipelineEvent;
use loong_api::{Context, KeyValues, PipelineGroupEvents, Processor, ProcessorV2, Result};

use crate::FilterRegexNativeOptions;
use crate::expr::{Expr, Rule};

const DESCRIPTION: &str = "regex filter: keeps only the log events whose fields match regular expressions";

pub struct FilterRegexNative {
    options: FilterRegexNativeOptions,
    compiled: Option<Compiled>,
    discarded: metrics::Counter,
}

#[derive(Debug)]
struct Compiled {
    /// `FilterKey`/`FilterRegex` and `Include`: all must match.
    required: Vec<Rule>,
    /// `Exclude`: none may match.
    excluded: Vec<Rule>,
    condition: Option<Expr>,
    discarding_non_utf8: bool,
}

impl Compiled {
    fn has_rules(&self) -> bool {
        !self.required.is_empty() || !self.excluded.is_empty() || self.condition.is_some()
    }

    fn keeps(&self, contents: &KeyValues) -> bool {
        if !self.has_rules() {
            return true;
        }
        !contents.is_empty()
            && self.required.iter().all(|r| r.matches(contents))
            && !self.excluded.iter().any(|r| r.matches(contents))
            && self.condition.as_ref().is_none_or(|c| c.matches(contents))
    }
}

impl FilterRegexNative {
    pub fn new(options: FilterRegexNativeOptions) -> Self {
        FilterRegexNative {
            options,
            compiled: None,
            discarded: metrics::Counter::noop(),
        }
    }

    fn compile(o: &FilterRegexNativeOptions) -> Result<Compiled> {
        anyhow::ensure!(
            o.filter_key.len() == o.filter_regex.len(),
            "FilterKey has {} entries but FilterRegex has {}: they pair up",
            o.filter_key.len(),
            o.filter_regex.len()
        );
        let mut required = Vec::new();
        for (i, (key, pattern)) in o.filter_key.iter().zip(&o.filter_regex).enumerate() {
            required.push(Rule::new(key, pattern).with_context(|| format!("FilterRegex[{i}]"))?);
        }
        for (key, pattern) in &o.include {
            required.push(Rule::new(key, pattern).with_context(|| format!("Include.{key}"))?);
        }
        let excluded = o
            .exclude
            .iter()
            .map(|(key, pattern)| Rule::new(key, pattern).with_context(|| format!("Exclude.{key}")))
            .collect::<Result<Vec<_>>>()?;
        let condition = match &o.condition_exp {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(Expr::parse(v, "ConditionExp")?),
        };
        Ok(Compiled {
            required,
            excluded,
            condition,
            discarding_non_utf8: o.discarding_non_utf8,
        })
    }
}

/// `bytes` with every byte that is not part of valid UTF-8 replaced by a space, or `None` when
/// all of it is valid.
fn without_invalid_utf8(bytes: &[u8]) -> Option<Bytes> {
    if std::str::from_utf8(bytes).is_ok() {
        return None;
    }
    let mut out = bytes.to_vec();
    let mut from = 0;
    while let Err(e) = std::str::from_utf8(&out[from..]) {
        let start = from + e.valid_up_to();
        let len = e.error_len().unwrap_or(out.len() - start);
        out[start..start + len].fill(b' ');
        from = start + len;
    }
    Some(Bytes::from(out))
}

fn clean_utf8(contents: &mut KeyValues) {
    let mut bad_key = false;
    for (key, value) in contents.iter_mut() {
        if let Some(clean) = without_invalid_utf8(value) {
            *value = clean;
        }
        bad_key |= std::str::from_utf8(key).is_err();
    }
    if bad_key {
        *contents = std::mem::take(contents)
            .into_iter()
            .map(|(k, v)| (without_invalid_utf8(&k).unwrap_or(k), v))
            .collect();
    }
}

impl Processor for FilterRegexNative {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        self.compiled = Some(Self::compile(&self.options)?);
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

impl ProcessorV2 for FilterRegexNative {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let Some(c) = self.compiled.as_ref() else {
            return;
        };
        let before = group.events.len();
        group.events.retain_mut(|event| match event {
            PipelineEvent::Log(log) => {
                let keep = c.keeps(&log.contents);
                if keep && c.discarding_non_utf8 {
                    clean_utf8(&mut log.contents);
                }
                keep
            }
            _ => true,
        });
        self.discarded.increment((before - group.events.len()) as u64);
    }
}

#[cfg(test)]
mod tests {
    use loong_api::model::{MetricEvent, MetricType};
    use loong_processor_parse_common::DISCARDED;
    use loong_processor_parse_common::testing::{contents, create, documented_options, events, kv, run};
    use loong_testkit::MetricsCapture;
    use serde_json::json;

    use super::*;
    use crate::{NAME, register};

    fn access_logs() -> PipelineGroupEvents {
        events(vec![
            vec![("method", "POST"), ("status", "200"), ("ip", "10.0.0.1")],
            vec![("method", "Get"), ("status", "200"), ("ip", "10.0.0.2")],
            vec![("method", "PUT"), ("status", "500"), ("ip", "192.168.0.1")],
            vec![("status", "200")],
            vec![],
        ])
    }

    fn methods(group: &PipelineGroupEvents) -> Vec<String> {
        contents(group)
            .iter()
            .map(|c| {
                c.iter()
                    .find(|(k, _)| k == "method")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn filter_key_and_regex_keep_full_matches_of_every_pair() {
        let capture = MetricsCapture::new();
        let o = json!({"FilterKey": ["method", "status"], "FilterRegex": ["^(POST|PUT)$", "^200$"]});
        let mut p = capture.scoped(|| create(register, NAME, o)).unwrap();
        let mut group = access_logs();
        run(&mut p, &mut group);
        assert_eq!(methods(&group), ["POST"]);
        assert_eq!(capture.counter(DISCARDED), 4);

        // Whole-value matching: "PO" does not match "POST".
        let mut p = create(register, NAME, json!({"FilterKey": ["method"], "FilterRegex": ["PO"]})).unwrap();
        let mut group = access_logs();
        run(&mut p, &mut group);
        assert!(group.events.is_empty());
    }

    #[test]
    fn include_exclude_and_condition_exp() {
        let mut p = create(
            register,
            NAME,
            json!({"Include": {"status": "200"}, "Exclude": {"ip": "10\\.0\\.0\\.2"}}),
        )
        .unwrap();
        let mut group = access_logs();
        run(&mut p, &mut group);
        assert_eq!(contents(&group).len(), 2);
        assert_eq!(methods(&group), ["POST", ""]);

        let o = json!({"ConditionExp": {"operator": "or", "operands": [
            {"key": "status", "exp": "5.*", "type": "regex"},
            {"operator": "not", "operands": [{"key": "method", "exp": "(?i)get|post"}]}
        ]}});
        let mut p = create(register, NAME, o).unwrap();
        let mut group = access_logs();
        run(&mut p, &mut group);
        // PUT/500; the event without a method (not(missing) holds); the empty event is dropped.
        assert_eq!(methods(&group), ["PUT", ""]);
    }

    #[test]
    fn no_rules_keep_everything_and_other_kinds_always_pass() {
        let mut p = create(register, NAME, json!({})).unwrap();
        let mut group = access_logs();
        run(&mut p, &mut group);
        assert_eq!(group.events.len(), 5);

        let mut p = create(register, NAME, json!({"Include": {"x": "y"}})).unwrap();
        let mut group = access_logs();
        group.events.push(PipelineEvent::Metric(MetricEvent::single(
            "m",
            MetricType::Gauge,
            1.0,
            1,
        )));
        run(&mut p, &mut group);
        assert_eq!(group.events.len(), 1);
        assert!(group.events[0].as_log().is_none());
    }

    #[test]
    fn discarding_non_utf8_replaces_bad_bytes_with_spaces() {
        let mut p = create(register, NAME, json!({"DiscardingNonUTF8": true})).unwrap();
        let mut group = events(vec![vec![("ok", "é")]]);
        let log = group.events[0].as_log_mut().unwrap();
        log.contents
            .push(Bytes::from_static(b"v"), Bytes::from_static(b"a\xffb\xe4\xb8c"));
        log.contents
            .push(Bytes::from_static(b"k\xfe"), Bytes::from_static(b"x"));
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("ok", "é"), ("v", "a b  c"), ("k ", "x")])]);
    }

    #[test]
    fn bad_configs_fail_init() {
        let err = |o| format!("{:#}", create(register, NAME, o).err().unwrap());
        assert!(err(json!({"FilterKey": ["a"]})).contains("pair up"));
        assert!(err(json!({"FilterKey": ["a"], "FilterRegex": ["("]})).contains("FilterRegex[0]"));
        assert!(err(json!({"Exclude": {"a": "["}})).contains("Exclude.a"));
        assert!(err(json!({"ConditionExp": {"operator": "nand", "operands": []}})).contains("nand"));
    }

    #[test]
    fn options_are_documented() {
        let names: Vec<_> = documented_options(register, NAME).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "FilterKey",
                "FilterRegex",
                "Include",
                "Exclude",
                "ConditionExp",
                "DiscardingNonUTF8"
            ]
        );
    }
}
