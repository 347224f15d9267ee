//! `processor_drop`: removes fields from every log event, as LoongCollector's Go processor of the
//! same name.

use bytes::Bytes;
use loong_api::{Context, PipelineGroupEvents, Processor, ProcessorV2, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The config `Type` of this processor.
pub const NAME: &str = "processor_drop";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_processor_creator(NAME, |options: DropOptions| Box::new(DropFields::new(options)));
}

/// Removes fields from every log event (metric, span and raw events pass unchanged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DropOptions {
    /// Names of the fields to remove. Required.
    #[serde(rename = "DropKeys")]
    pub drop_keys: Vec<String>,
}

const DESCRIPTION: &str = "drop processor: removes fields from every log event";

pub struct DropFields {
    options: DropOptions,
    keys: Vec<Bytes>,
}

impl DropFields {
    pub fn new(options: DropOptions) -> Self {
        DropFields {
            options,
            keys: Vec::new(),
        }
    }
}

impl Processor for DropFields {
    fn init(&mut self, _ctx: &Context) -> Result<()> {
        anyhow::ensure!(
            !self.options.drop_keys.is_empty(),
            "DropKeys is required: the fields to remove"
        );
        self.keys = self.options.drop_keys.iter().map(|k| Bytes::from(k.clone())).collect();
        Ok(())
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_v2(&mut self) -> Option<&mut dyn ProcessorV2> {
        Some(self)
    }
}

impl ProcessorV2 for DropFields {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        for log in group.events.iter_mut().filter_map(|e| e.as_log_mut()) {
            log.contents.retain(|k, _| !self.keys.contains(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use loong_processor_parse_common::testing::{contents, create, documented_options, events, kv, run};
    use serde_json::json;

    use super::*;

    #[test]
    fn removes_every_listed_field() {
        let mut p = create(register, NAME, json!({"DropKeys": ["key1", "key3"]})).unwrap();
        let mut group = events(vec![
            vec![("key1", "123456"), ("key2", "abcd"), ("key1", "dup")],
            vec![("key2", "x")],
        ]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("key2", "abcd")]), kv(&[("key2", "x")])]);
    }

    #[test]
    fn drop_keys_are_required_and_documented() {
        assert!(
            create(register, NAME, json!({}))
                .err()
                .unwrap()
                .to_string()
                .contains("DropKeys")
        );
        assert_eq!(documented_options(register, NAME), [("DropKeys".into(), "[]".into())]);
    }
}
