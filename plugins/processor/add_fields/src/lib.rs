//! `processor_add_fields`: adds fixed fields to every log event, as LoongCollector's Go processor
//! of the same name.

use std::collections::BTreeMap;

use bytes::Bytes;
use loong_api::{Context, PipelineGroupEvents, Processor, ProcessorV2, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// The config `Type` of this processor.
pub const NAME: &str = "processor_add_fields";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: AddFieldsOptions| Box::new(AddFields::new(options)));
}

/// Adds fixed fields to every log event (metric, span and raw events pass unchanged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AddFieldsOptions {
    /// Field name → value. Numbers and booleans are taken as their text. Required.
    #[serde(rename = "Fields", deserialize_with = "scalar_map")]
    pub fields: BTreeMap<String, String>,
    /// Leave a field alone when the event already has it. When false, the value is replaced.
    #[serde(rename = "IgnoreIfExist")]
    pub ignore_if_exist: bool,
}

/// A map whose values may be strings, numbers or booleans (YAML writes `port: 80`).
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "the value of field {k:?} must be a string, number or boolean, not {other}"
            ))),
        })
        .collect()
}

const DESCRIPTION: &str = "add fields processor: adds fixed fields to every log event";

pub struct AddFields {
    options: AddFieldsOptions,
    fields: Vec<(Bytes, Bytes)>,
}

impl AddFields {
    pub fn new(options: AddFieldsOptions) -> Self {
        AddFields {
            options,
            fields: Vec::new(),
        }
    }
}

impl Processor for AddFields {
    fn init(&mut self, _ctx: &Context) -> Result<()> {
        anyhow::ensure!(!self.options.fields.is_empty(), "Fields is required: the fields to add");
        self.fields = self
            .options
            .fields
            .iter()
            .map(|(k, v)| (Bytes::from(k.clone()), Bytes::from(v.clone())))
            .collect();
        Ok(())
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_v2(&mut self) -> Option<&mut dyn ProcessorV2> {
        Some(self)
    }
}

impl ProcessorV2 for AddFields {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let ignore = self.options.ignore_if_exist;
        for log in group.events.iter_mut().filter_map(|e| e.as_log_mut()) {
            for (key, value) in &self.fields {
                if ignore && log.contents.contains(key) {
                    continue;
                }
                log.contents.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use loong_api::model::{MetricEvent, MetricType, PipelineEvent};
    use loong_processor_parse_common::testing::{contents, create, documented_options, events, kv, run};
    use serde_json::json;

    use super::*;

    #[test]
    fn adds_fields_replacing_or_keeping_existing_ones() {
        let o = json!({"Fields": {"service": "A", "port": 80, "debug": false}});
        let mut p = create(register, NAME, o).unwrap();
        let mut group = events(vec![vec![("content", "x"), ("service", "old")]]);
        group.events.push(PipelineEvent::Metric(MetricEvent::single(
            "m",
            MetricType::Gauge,
            1.0,
            1,
        )));
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group)[0],
            kv(&[("content", "x"), ("service", "A"), ("debug", "false"), ("port", "80")])
        );
        assert!(group.events[1].tags().unwrap().is_empty());

        let o = json!({"Fields": {"service": "A", "env": "prod"}, "IgnoreIfExist": true});
        let mut p = create(register, NAME, o).unwrap();
        let mut group = events(vec![vec![("service", "old")]]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group)[0], kv(&[("service", "old"), ("env", "prod")]));
    }

    #[test]
    fn fields_are_required_and_must_be_scalars() {
        assert!(
            create(register, NAME, json!({}))
                .err()
                .unwrap()
                .to_string()
                .contains("Fields is required")
        );
        let err = create(register, NAME, json!({"Fields": {"a": [1]}}))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("string, number or boolean"), "{err}");
    }

    #[test]
    fn options_are_documented() {
        assert_eq!(
            documented_options(register, NAME),
            [("Fields".into(), "{}".into()), ("IgnoreIfExist".into(), "false".into())]
        );
    }
}
