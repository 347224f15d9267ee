//! `ext_groupinfo_filter`: a [`FlushInterceptor`] that keeps a group only when every configured
//! regex condition on its tags and metadata holds, with LoongCollector's options and semantics
//! (unanchored search, a missing key reads as "", `Reverse` inverts one condition).
//!
//! Difference from LoongCollector: values are matched as bytes, so a value that is not UTF-8 is
//! still matched (LoongCollector's Go strings behave the same way), and dropped groups are counted
//! in `groupinfo_filter_dropped_groups_total`.

mod config;

use anyhow::Context as _;
use loong_api::{Context, Extension, FlushInterceptor, KeyValues, PipelineGroupEvents, Result};
use regex::bytes::Regex;

pub use config::{FilterCondition, GroupInfoFilterConfig};

/// The config `Type` of this extension.
pub const NAME: &str = "ext_groupinfo_filter";

struct Condition {
    key: String,
    regex: Regex,
    reverse: bool,
}

impl Condition {
    fn holds(&self, values: &KeyValues) -> bool {
        let value = values.get(&self.key).map(|v| v.as_ref()).unwrap_or_default();
        self.regex.is_match(value) != self.reverse
    }
}

pub struct GroupInfoFilter {
    config: GroupInfoFilterConfig,
    tags: Vec<Condition>,
    metas: Vec<Condition>,
    dropped: Option<metrics::Counter>,
}

impl GroupInfoFilter {
    pub fn new(config: GroupInfoFilterConfig) -> Self {
        GroupInfoFilter {
            config,
            tags: Vec::new(),
            metas: Vec::new(),
            dropped: None,
        }
    }
}

fn compile(option: &str, conditions: &std::collections::BTreeMap<String, FilterCondition>) -> Result<Vec<Condition>> {
    conditions
        .iter()
        .map(|(key, c)| {
            let regex = Regex::new(&c.pattern).with_context(|| format!("{option}.{key}.Pattern"))?;
            Ok(Condition {
                key: key.clone(),
                regex,
                reverse: c.reverse,
            })
        })
        .collect()
}

impl Extension for GroupInfoFilter {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        self.tags = compile("Tags", &self.config.tags)?;
        self.metas = compile("Metas", &self.config.metas)?;
        self.dropped = Some(ctx.metrics().counter("groupinfo_filter_dropped_groups_total"));
        Ok(())
    }

    fn description(&self) -> &str {
        "group info filter extension: sends only the groups whose tags and metadata match the config"
    }

    fn stop(&self) -> Result<()> {
        Ok(())
    }

    fn as_flush_interceptor(&self) -> Option<&dyn FlushInterceptor> {
        Some(self)
    }
}

impl FlushInterceptor for GroupInfoFilter {
    fn intercept(&self, group: &mut PipelineGroupEvents) -> bool {
        let keep = self.metas.iter().all(|c| c.holds(&group.group.metadata))
            && self.tags.iter().all(|c| c.holds(&group.group.tags));
        if !keep && let Some(dropped) = &self.dropped {
            dropped.increment(1);
        }
        keep
    }
}

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_extension_creator(NAME, |config: GroupInfoFilterConfig| {
        Box::new(GroupInfoFilter::new(config))
    });
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use loong_api::model::{GroupInfo, LogEvent, PipelineEvent};
    use loong_api::{PluginKind, Registry};
    use serde_json::json;

    use super::*;

    fn init(options: serde_json::Value) -> Result<Box<dyn Extension>> {
        let mut registry = Registry::new();
        register(&mut registry);
        assert!(registry.problems().is_empty(), "{:?}", registry.problems());
        let (mut ext, warnings) = registry.create_extension(NAME, &options).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        ext.init(&Context::builder("test").build())?;
        Ok(ext)
    }

    fn group(tags: &[(&'static str, &'static str)], metadata: &[(&'static str, &'static str)]) -> PipelineGroupEvents {
        let kv = |pairs: &[(&'static str, &'static str)]| {
            pairs
                .iter()
                .map(|(k, v)| (Bytes::from_static(k.as_bytes()), Bytes::from_static(v.as_bytes())))
                .collect()
        };
        let info = GroupInfo {
            metadata: kv(metadata),
            tags: kv(tags),
        };
        let events = vec![PipelineEvent::from(LogEvent::with_body("line", 1))];
        PipelineGroupEvents::new(info, events)
    }

    fn keeps(ext: &dyn Extension, mut g: PipelineGroupEvents) -> bool {
        let before = g.clone();
        let keep = ext.as_flush_interceptor().unwrap().intercept(&mut g);
        assert_eq!(g, before, "the filter must not edit the group");
        keep
    }

    #[test]
    fn every_condition_must_hold() {
        let ext = init(json!({
            "Tags": {"env": {"Pattern": "^prod"}, "team": {"pattern": "payments", "reverse": true}},
            "Metas": {"log.file.path": {"Pattern": "\\.log$"}},
        }))
        .unwrap();
        let ext = &*ext;
        let meta = [("log.file.path", "/var/log/app.log")];
        assert!(keeps(ext, group(&[("env", "production"), ("team", "search")], &meta)));
        // Reverse: the team tag must NOT match.
        assert!(!keeps(ext, group(&[("env", "prod"), ("team", "payments-eu")], &meta)));
        assert!(!keeps(ext, group(&[("env", "staging")], &meta)));
        assert!(!keeps(
            ext,
            group(&[("env", "prod")], &[("log.file.path", "/var/log/app.log.1")])
        ));
        // Tags are not metadata: the same key among the tags does not satisfy a Metas condition.
        assert!(!keeps(ext, group(&[("env", "prod"), ("log.file.path", "/x.log")], &[])));
    }

    #[test]
    fn a_missing_key_reads_as_empty() {
        let ext = init(json!({"Tags": {"host": {"Pattern": "^$"}}})).unwrap();
        assert!(keeps(&*ext, group(&[], &[])));
        assert!(!keeps(&*ext, group(&[("host", "h1")], &[])));
        let ext = init(json!({"Tags": {"host": {"Pattern": "h", "Reverse": true}}})).unwrap();
        assert!(keeps(&*ext, group(&[], &[])));
    }

    #[test]
    fn patterns_search_unanchored_like_go() {
        let ext = init(json!({"Tags": {"app": {"Pattern": "web"}}})).unwrap();
        assert!(keeps(&*ext, group(&[("app", "my-webserver")], &[])));
    }

    #[test]
    fn without_conditions_everything_passes() {
        let ext = init(json!({})).unwrap();
        assert!(keeps(&*ext, group(&[("a", "b")], &[("c", "d")])));
    }

    #[test]
    fn a_bad_pattern_fails_init_naming_the_key() {
        let err = init(json!({"Metas": {"path": {"Pattern": "(unclosed"}}}))
            .err()
            .unwrap();
        assert!(format!("{err:#}").starts_with("Metas.path.Pattern: "), "{err:#}");
    }

    #[test]
    fn is_documented() {
        let mut registry = Registry::new();
        register(&mut registry);
        let doc = registry.doc(PluginKind::Extension, NAME).unwrap();
        let names: Vec<_> = doc.options.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["Tags", "Metas"]);
    }
}
