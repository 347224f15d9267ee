//! Per message: its topic (from the `Topic` template), key (from `HashKeys`) and headers.

use std::borrow::Cow;
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};
use loong_converter::{Payload, Template, VarKey};
use rdkafka::message::{Header, OwnedHeaders};

use crate::client::PartitionerType;
use crate::config::KafkaConfig;

pub struct Router {
    topic: Template,
    /// The topic when it has no variables.
    fixed_topic: Option<String>,
    headers: Vec<(String, Template)>,
    hash: Option<HashKey>,
    /// The variable keys whose values the converter must attach to each payload.
    selected: Vec<VarKey>,
}

struct HashKey {
    keys: Vec<VarKey>,
    /// Used when a message has none of `keys` (LoongCollector: the logstore).
    default: String,
    once: Option<OnceLock<String>>,
}

impl Router {
    pub fn new(config: &KafkaConfig, partitioner: PartitionerType, default_key: &str) -> Result<Router> {
        if config.topic.trim().is_empty() {
            bail!("Topic is empty");
        }
        let topic = Template::parse(&config.topic).context("Topic")?;
        let mut selected: Vec<VarKey> = topic.keys().cloned().collect();
        let mut headers = Vec::new();
        for h in config.headers.iter().filter(|h| !h.key.is_empty()) {
            let t = Template::parse(&h.value).with_context(|| format!("Headers {}", h.key))?;
            selected.extend(t.keys().cloned());
            headers.push((h.key.clone(), t));
        }
        let hash = match partitioner {
            PartitionerType::Hash => {
                let keys = config
                    .hash_keys
                    .iter()
                    .map(|k| {
                        VarKey::parse(k.trim()).with_context(|| {
                            format!("HashKeys: {k:?} must be content.<key>, tag.<key> or metadata.<key>")
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                selected.extend(keys.iter().cloned());
                Some(HashKey {
                    keys,
                    default: default_key.to_owned(),
                    once: config.hash_once.then(OnceLock::new),
                })
            }
            _ => {
                if !config.hash_keys.is_empty() {
                    tracing::warn!("flusher_kafka_v2: HashKeys are used only with PartitionerType hash");
                }
                None
            }
        };
        selected.sort();
        selected.dedup();
        Ok(Router {
            fixed_topic: topic.is_constant().then(|| topic.render(|_| None)),
            topic,
            headers,
            hash,
            selected,
        })
    }

    pub fn selected(&self) -> &[VarKey] {
        &self.selected
    }

    pub fn topic<'a>(&'a self, p: &Payload) -> Cow<'a, str> {
        match &self.fixed_topic {
            Some(t) => Cow::Borrowed(t),
            None => Cow::Owned(self.topic.render(|k| p.vars.get(k).map(String::as_str))),
        }
    }

    /// The message key: only with the hash partitioner.
    pub fn key(&self, p: &Payload) -> Option<Cow<'_, str>> {
        let hash = self.hash.as_ref()?;
        let compute = || {
            let values: Vec<&str> = hash
                .keys
                .iter()
                .filter_map(|k| p.vars.get(k).map(String::as_str))
                .collect();
            if values.is_empty() {
                hash.default.clone()
            } else {
                values.join("###")
            }
        };
        Some(match &hash.once {
            Some(once) => Cow::Borrowed(once.get_or_init(compute).as_str()),
            None => Cow::Owned(compute()),
        })
    }

    pub fn headers(&self, p: &Payload) -> Option<OwnedHeaders> {
        if self.headers.is_empty() {
            return None;
        }
        let mut out = OwnedHeaders::new_with_capacity(self.headers.len());
        for (key, value) in &self.headers {
            let value = value.render(|k| p.vars.get(k).map(String::as_str));
            out = out.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rdkafka::message::Headers;

    use super::*;
    use crate::config::HeaderConfig;

    fn payload(vars: &[(VarKey, &str)]) -> Payload {
        Payload {
            body: "x".into(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            events: 1,
        }
    }

    fn content(k: &str) -> VarKey {
        VarKey::Content(k.into())
    }

    #[test]
    fn topic_key_and_headers_take_the_message_values() {
        let config = KafkaConfig {
            topic: "app_%{content.app}".into(),
            hash_keys: vec!["content.app".into(), "tag.host".into()],
            headers: vec![
                HeaderConfig {
                    key: "h".into(),
                    value: "%{content.app}-x".into(),
                },
                HeaderConfig {
                    key: "".into(),
                    value: "skipped".into(),
                },
            ],
            ..KafkaConfig::default()
        };
        let r = Router::new(&config, PartitionerType::Hash, "store").unwrap();
        assert_eq!(r.selected(), &[content("app"), VarKey::Tag("host".into())]);
        let p = payload(&[(content("app"), "web"), (VarKey::Tag("host".into()), "h1")]);
        assert_eq!(r.topic(&p), "app_web");
        assert_eq!(r.key(&p).as_deref(), Some("web###h1"));
        let h = r.headers(&p).unwrap();
        assert_eq!(h.count(), 1);
        assert_eq!(h.get(0).key, "h");
        assert_eq!(h.get(0).value, Some(&b"web-x"[..]));
        // Missing values: the topic shows the variable's name, the key falls back to the logstore.
        let empty = payload(&[]);
        assert_eq!(r.topic(&empty), "app_content.app");
        assert_eq!(r.key(&empty).as_deref(), Some("store"));
    }

    #[test]
    fn hash_once_keeps_the_first_key_and_other_partitioners_send_no_key() {
        let config = KafkaConfig {
            topic: "t".into(),
            hash_keys: vec!["content.app".into()],
            hash_once: true,
            ..KafkaConfig::default()
        };
        let r = Router::new(&config, PartitionerType::Hash, "store").unwrap();
        assert_eq!(r.key(&payload(&[(content("app"), "a")])).as_deref(), Some("a"));
        assert_eq!(r.key(&payload(&[(content("app"), "b")])).as_deref(), Some("a"));
        let r = Router::new(&config, PartitionerType::RoundRobin, "store").unwrap();
        assert_eq!(r.key(&payload(&[(content("app"), "a")])), None);
        assert!(r.headers(&payload(&[])).is_none());
    }

    #[test]
    fn bad_templates_and_keys_are_init_errors() {
        let mut config = KafkaConfig {
            topic: "t_%{nope.x}".into(),
            ..KafkaConfig::default()
        };
        assert!(Router::new(&config, PartitionerType::Random, "").is_err());
        config.topic = "".into();
        assert!(Router::new(&config, PartitionerType::Random, "").is_err());
        config.topic = "t".into();
        config.hash_keys = vec!["application".into()];
        let err = Router::new(&config, PartitionerType::Hash, "")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("HashKeys"), "{err}");
    }
}
