use anyhow::Context as _;
use bytes::Bytes;
use loong_api::{Context, PipelineGroupEvents, Processor, ProcessorV2, Result};
use loong_processor_parse_common::ParseCounters;
use md5::{Digest, Md5};
use regex::bytes::Regex;

use crate::DesensitizeOptions;

const DESCRIPTION: &str = "desensitizer: masks sensitive text in a log field with a constant or its MD5";

pub struct Desensitize {
    options: DesensitizeOptions,
    compiled: Option<Compiled>,
    counters: ParseCounters,
}

enum Method {
    Const(Vec<u8>),
    Md5,
}

struct Compiled {
    source_key: Bytes,
    /// `(before)sensitive`.
    regex: Regex,
    method: Method,
    replacing_all: bool,
}

impl Compiled {
    /// `value` with its sensitive parts replaced, or `None` when nothing matched.
    fn mask(&self, value: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        for caps in self.regex.captures_iter(value) {
            let whole = caps.get(0).expect("group 0 always matches");
            let kept_end = caps.get(1).map_or(whole.start(), |m| m.end());
            let out = out.get_or_insert_with(|| Vec::with_capacity(value.len() + 32));
            out.extend_from_slice(&value[copied..kept_end]);
            match &self.method {
                Method::Const(replacement) => out.extend_from_slice(replacement),
                Method::Md5 => out.extend_from_slice(md5_hex(&value[kept_end..whole.end()]).as_bytes()),
            }
            copied = whole.end();
            if !self.replacing_all {
                break;
            }
        }
        let mut out = out?;
        out.extend_from_slice(&value[copied..]);
        Some(out)
    }
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

impl Desensitize {
    pub fn new(options: DesensitizeOptions) -> Self {
        Desensitize {
            options,
            compiled: None,
            counters: ParseCounters::default(),
        }
    }

    fn compile(o: &DesensitizeOptions) -> Result<Compiled> {
        anyhow::ensure!(!o.source_key.is_empty(), "SourceKey must not be empty");
        let method = match o.method.as_str() {
            "const" => {
                anyhow::ensure!(
                    !o.replacing_string.is_empty(),
                    "ReplacingString is required with Method: const"
                );
                Method::Const(o.replacing_string.as_bytes().to_vec())
            }
            "md5" => Method::Md5,
            "" => anyhow::bail!("Method is required: const or md5"),
            other => anyhow::bail!("Method {other:?} is not const or md5"),
        };
        anyhow::ensure!(
            !o.replaced_content_pattern.is_empty(),
            "ReplacedContentPattern is required"
        );
        Regex::new(&o.content_pattern_before_replaced_string).with_context(|| {
            format!(
                "ContentPatternBeforeReplacedString {:?} is not a valid regular expression",
                o.content_pattern_before_replaced_string
            )
        })?;
        Regex::new(&o.replaced_content_pattern).with_context(|| {
            format!(
                "ReplacedContentPattern {:?} is not a valid regular expression",
                o.replaced_content_pattern
            )
        })?;
        let regex = Regex::new(&format!(
            "({}){}",
            o.content_pattern_before_replaced_string, o.replaced_content_pattern
        ))
        .context("ContentPatternBeforeReplacedString and ReplacedContentPattern do not combine into an expression")?;
        Ok(Compiled {
            source_key: Bytes::copy_from_slice(o.source_key.as_bytes()),
            regex,
            method,
            replacing_all: o.replacing_all,
        })
    }
}

impl Processor for Desensitize {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        self.compiled = Some(Self::compile(&self.options)?);
        self.counters = ParseCounters::new(ctx);
        Ok(())
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_v2(&mut self) -> Option<&mut dyn ProcessorV2> {
        Some(self)
    }
}

impl ProcessorV2 for Desensitize {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let Some(c) = self.compiled.as_ref() else {
            return;
        };
        for event in &mut group.events {
            let Some(log) = event.as_log_mut() else {
                continue;
            };
            let Some(value) = log.contents.get_mut(&c.source_key) else {
                self.counters.key_not_found.increment(1);
                continue;
            };
            if let Some(masked) = c.mask(value) {
                *value = Bytes::from(masked);
            }
            self.counters.successful.increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use loong_processor_parse_common::testing::{contents, create, documented_options, events, kv, lines, run};
    use loong_processor_parse_common::{KEY_NOT_FOUND, SUCCESSFUL};
    use loong_testkit::MetricsCapture;
    use serde_json::json;

    use crate::{NAME, register};

    fn masked(options: serde_json::Value, line: &str) -> String {
        let mut p = create(register, NAME, options).unwrap();
        let mut group = lines(&[line]);
        run(&mut p, &mut group);
        contents(&group)[0][0].1.clone()
    }

    fn pwd(method: &str, all: bool) -> serde_json::Value {
        json!({"SourceKey": "content", "Method": method, "ReplacingString": "********",
            "ContentPatternBeforeReplacedString": "pwd=", "ReplacedContentPattern": "[^,]+", "ReplacingAll": all})
    }

    #[test]
    fn const_replaces_the_first_or_every_match() {
        let line = "asf@@@324 FS2$%pwd,pwd=saf543#$@,,pwd=12341,df";
        assert_eq!(
            masked(pwd("const", false), line),
            "asf@@@324 FS2$%pwd,pwd=********,,pwd=12341,df"
        );
        assert_eq!(
            masked(pwd("const", true), line),
            "asf@@@324 FS2$%pwd,pwd=********,,pwd=********,df"
        );
        assert_eq!(
            masked(pwd("const", true), "\r\n\r\nasf@@\n\n@324 FS2$%pwd,pwd=saf543#$@,,"),
            "\r\n\r\nasf@@\n\n@324 FS2$%pwd,pwd=********,,"
        );
    }

    #[test]
    fn md5_replaces_with_the_hash_of_the_sensitive_text() {
        let line = "user=a,pwd=123456,x";
        assert_eq!(
            masked(pwd("md5", true), line),
            "user=a,pwd=e10adc3949ba59abbe56e057f20f883e,x"
        );
    }

    #[test]
    fn the_loongcollector_example() {
        let o = json!({"Method": "const", "ReplacingString": "******",
            "ContentPatternBeforeReplacedString": "password\":\"", "ReplacedContentPattern": "[^\"]+"});
        assert_eq!(
            masked(o, r#"{"account":"1812213231432969","password":"04a23f38"}"#),
            r#"{"account":"1812213231432969","password":"******"}"#
        );
    }

    #[test]
    fn unmatched_values_keep_their_bytes_and_missing_fields_are_counted() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, pwd("const", true))).unwrap();
        let mut group = events(vec![vec![("content", "nothing secret")], vec![("other", "pwd=1")]]);
        let before = group.events[0].as_log().unwrap().body().unwrap().clone();
        run(&mut p, &mut group);
        let after = group.events[0].as_log().unwrap().body().unwrap();
        assert_eq!(after.as_ptr(), before.as_ptr());
        assert_eq!(contents(&group)[1], kv(&[("other", "pwd=1")]));
        assert_eq!(capture.counter(SUCCESSFUL), 1);
        assert_eq!(capture.counter(KEY_NOT_FOUND), 1);
    }

    #[test]
    fn bad_configs_fail_init() {
        let err = |o| format!("{:#}", create(register, NAME, o).err().unwrap());
        assert!(err(json!({"ReplacedContentPattern": "x"})).contains("Method is required"));
        assert!(err(json!({"Method": "sha1", "ReplacedContentPattern": "x"})).contains("sha1"));
        assert!(err(json!({"Method": "const", "ReplacedContentPattern": "x"})).contains("ReplacingString"));
        assert!(err(json!({"Method": "md5"})).contains("ReplacedContentPattern is required"));
        assert!(err(json!({"Method": "md5", "ReplacedContentPattern": "("})).contains("not a valid"));
    }

    #[test]
    fn options_are_documented_with_loongcollector_defaults() {
        let options = documented_options(register, NAME);
        let names: Vec<_> = options.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
        assert_eq!(
            names,
            [
                ("SourceKey", "\"content\""),
                ("Method", "\"\""),
                ("ReplacingString", "\"\""),
                ("ContentPatternBeforeReplacedString", "\"\""),
                ("ReplacedContentPattern", "\"\""),
                ("ReplacingAll", "true"),
            ]
        );
    }
}
