use anyhow::Context as _;
use bytes::Bytes;
use loong_api::{Context, PipelineGroupEvents, Processor, ProcessorV2, Result};
use loong_processor_parse_common::{FailureLog, ParseCounters, SourceHandling, all_unique, legacy_keys};
use regex::bytes::{CaptureLocations, Regex, RegexBuilder};
use regex_automata::nfa::thompson::backtrack::{self, BoundedBacktracker};
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;

use crate::ParseRegexOptions;

const DESCRIPTION: &str = "regex parser: extracts fields from a log field with a regular expression";

/// The regex for LoongCollector's whole-line mode, where `Keys` may be empty.
const WHOLE_LINE: &str = "(.*)";

pub struct ParseRegex {
    options: ParseRegexOptions,
    compiled: Option<Compiled>,
    counters: ParseCounters,
    failures: FailureLog,
    /// Scratch list of the fields of one event, kept to reuse its allocation.
    fields: Vec<(Bytes, Bytes)>,
}

struct Compiled {
    matcher: Matcher,
    keys: Vec<Bytes>,
    unique_keys: bool,
    source: SourceHandling,
}

/// The expression, compiled to match a whole field as LoongCollector's Boost `regex_match` does:
/// `.` matches line breaks, and `\w`, `\d`, `\s` and `.` work on bytes (ASCII classes, any byte)
/// unless the pattern needs Unicode (`\p{Han}`).
///
/// Lines are matched by a bounded backtracker, which finds the groups in one pass (the general
/// engine first finds the match, then the groups: about a quarter slower); lines too long for it
/// go to the general engine. Both give the same groups.
struct Matcher {
    regex: Regex,
    locations: CaptureLocations,
    backtracker: BoundedBacktracker,
    cache: backtrack::Cache,
    captures: Captures,
    /// Which engine matched last.
    backtracked: bool,
}

impl Matcher {
    fn new(pattern: &str) -> Result<Matcher> {
        let anchored = format!("^(?:{pattern})$");
        let build = |unicode: bool| -> Result<(Regex, BoundedBacktracker)> {
            let regex = RegexBuilder::new(&anchored)
                .dot_matches_new_line(true)
                .unicode(unicode)
                .build()?;
            let backtracker = BoundedBacktracker::builder()
                .syntax(
                    syntax::Config::new()
                        .dot_matches_new_line(true)
                        .unicode(unicode)
                        .utf8(false),
                )
                .build(&anchored)?;
            Ok((regex, backtracker))
        };
        let (regex, backtracker) = build(false)
            .or_else(|_| build(true))
            .with_context(|| format!("Regex {pattern:?} is not a valid regular expression"))?;
        Ok(Matcher {
            locations: regex.capture_locations(),
            cache: backtracker.create_cache(),
            captures: backtracker.create_captures(),
            regex,
            backtracker,
            backtracked: false,
        })
    }

    /// Capture groups, the whole match included.
    fn groups(&self) -> usize {
        self.regex.captures_len()
    }

    /// Whether `line` matches; the groups are then read with [`Matcher::group`].
    fn matches(&mut self, line: &[u8]) -> bool {
        self.backtracked = line.len() <= self.backtracker.max_haystack_len();
        if self.backtracked {
            match self.backtracker.try_captures(&mut self.cache, line, &mut self.captures) {
                Ok(()) => return self.captures.is_match(),
                Err(_) => self.backtracked = false,
            }
        }
        self.regex.captures_read(&mut self.locations, line).is_some()
    }

    fn group(&self, index: usize) -> Option<(usize, usize)> {
        if self.backtracked {
            self.captures.get_group(index).map(|span| (span.start, span.end))
        } else {
            self.locations.get(index)
        }
    }
}

impl ParseRegex {
    pub fn new(options: ParseRegexOptions) -> Self {
        ParseRegex {
            options,
            compiled: None,
            counters: ParseCounters::default(),
            failures: FailureLog::default(),
            fields: Vec::new(),
        }
    }

    fn compile(options: &ParseRegexOptions) -> Result<Compiled> {
        let o = options;
        anyhow::ensure!(!o.source_key.is_empty(), "SourceKey must not be empty");
        anyhow::ensure!(!o.regex.is_empty(), "Regex is required");
        // Checked alone first, so that an error points into the expression as written.
        Regex::new(&o.regex).with_context(|| format!("Regex {:?} is not a valid regular expression", o.regex))?;
        let matcher = Matcher::new(&o.regex)?;
        let mut keys = legacy_keys(o.keys.clone());
        if keys.is_empty() && o.regex == WHOLE_LINE {
            keys.push(loong_api::model::BODY_KEY.to_owned());
        }
        anyhow::ensure!(
            !keys.is_empty(),
            "Keys is required: the names of the fields the capture groups of Regex become"
        );
        let groups = matcher.groups() - 1;
        anyhow::ensure!(
            groups >= keys.len(),
            "Regex has {groups} capture group(s) but Keys names {} field(s)",
            keys.len()
        );
        Ok(Compiled {
            matcher,
            unique_keys: all_unique(&keys),
            keys: keys.into_iter().map(Bytes::from).collect(),
            source: SourceHandling::new(
                &o.source_key,
                &o.renamed_source_key,
                o.keeping_source_when_parse_fail,
                o.keeping_source_when_parse_succeed,
                o.coping_raw_log,
            ),
        })
    }
}

impl Processor for ParseRegex {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        self.compiled = Some(Self::compile(&self.options)?);
        self.counters = ParseCounters::new(ctx);
        self.failures = FailureLog::new(ctx.span().clone());
        Ok(())
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_v2(&mut self) -> Option<&mut dyn ProcessorV2> {
        Some(self)
    }
}

impl ProcessorV2 for ParseRegex {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let ParseRegex {
            compiled,
            counters,
            failures,
            fields,
            ..
        } = self;
        let Some(c) = compiled.as_mut() else {
            return;
        };
        for event in &mut group.events {
            let Some(log) = event.as_log_mut() else {
                continue;
            };
            let Some(raw) = log.contents.get(&c.source.source_key).cloned() else {
                counters.key_not_found.increment(1);
                continue;
            };
            if c.matcher.matches(&raw) {
                for (i, key) in c.keys.iter().enumerate() {
                    let value = match c.matcher.group(i + 1) {
                        Some((start, end)) => raw.slice(start..end),
                        None => Bytes::new(),
                    };
                    fields.push((key.clone(), value));
                }
                c.source.apply_success(&mut log.contents, &raw, fields, c.unique_keys);
                counters.successful.increment(1);
            } else {
                counters.failed.increment(1);
                failures.report("processor_parse_regex_native: the line does not match Regex", &raw);
                if c.source.apply_failure(&mut log.contents, &raw) {
                    counters.kept_unparsed.increment(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use loong_api::model::{MetricEvent, MetricType, PipelineEvent};
    use loong_processor_parse_common::testing::{contents, create, documented_options, kv, lines, run};
    use loong_processor_parse_common::{FAILED, KEPT_UNPARSED, KEY_NOT_FOUND, SUCCESSFUL};
    use loong_testkit::MetricsCapture;
    use serde_json::json;

    use crate::{NAME, register};

    const NGINX_REGEX: &str = r#"(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d+) (\d+) "([^"]*)" "([^"]*)""#;
    const NGINX_KEYS: [&str; 10] = [
        "remote_addr",
        "remote_user",
        "time_local",
        "method",
        "url",
        "protocol",
        "status",
        "body_bytes_sent",
        "http_referer",
        "http_user_agent",
    ];
    const NGINX_LINE: &str = r#"192.168.1.10 - alice [10/Oct/2023:13:55:36 +0800] "GET /index.html HTTP/1.1" 200 2326 "http://example.com/start" "Mozilla/5.0 (X11; Linux x86_64)""#;

    fn nginx(extra: serde_json::Value) -> serde_json::Value {
        let mut options = json!({"SourceKey": "content", "Regex": NGINX_REGEX, "Keys": NGINX_KEYS});
        options
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        options
    }

    #[test]
    fn parses_an_nginx_line_into_slices_of_the_source() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, nginx(json!({})))).unwrap();
        let mut group = lines(&[NGINX_LINE]);
        let source = group.events[0].as_log().unwrap().body().unwrap().clone();
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [kv(&[
                ("remote_addr", "192.168.1.10"),
                ("remote_user", "alice"),
                ("time_local", "10/Oct/2023:13:55:36 +0800"),
                ("method", "GET"),
                ("url", "/index.html"),
                ("protocol", "HTTP/1.1"),
                ("status", "200"),
                ("body_bytes_sent", "2326"),
                ("http_referer", "http://example.com/start"),
                ("http_user_agent", "Mozilla/5.0 (X11; Linux x86_64)"),
            ])]
        );
        let range = source.as_ptr_range();
        for (_, value) in group.events[0].as_log().unwrap().contents.iter() {
            assert!(range.contains(&value.as_ptr()), "{value:?} was copied");
        }
        assert_eq!(capture.counter(SUCCESSFUL), 1);
        assert_eq!(capture.counter(FAILED), 0);
    }

    #[test]
    fn a_line_that_does_not_match_is_kept_as_it_was_and_counted() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, nginx(json!({})))).unwrap();
        let mut group = lines(&["not an access log line", NGINX_LINE]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group)[0], kv(&[("content", "not an access log line")]));
        assert_eq!(contents(&group)[1].len(), 10);
        assert_eq!(capture.counter(FAILED), 1);
        assert_eq!(capture.counter(KEPT_UNPARSED), 1);
        assert_eq!(capture.counter(SUCCESSFUL), 1);
    }

    #[test]
    fn keeping_source_when_parse_fail_renames_it_and_copies_the_raw_log() {
        let capture = MetricsCapture::new();
        let options = json!({"KeepingSourceWhenParseFail": true, "RenamedSourceKey": "raw", "CopingRawLog": true});
        let mut p = capture.scoped(|| create(register, NAME, nginx(options))).unwrap();
        let mut group = lines(&["garbage"]);
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [kv(&[("raw", "garbage"), ("__raw_log__", "garbage")])]
        );
        assert_eq!(capture.counter(FAILED), 1);
        assert_eq!(capture.counter(KEPT_UNPARSED), 0);

        // Without a new name the source stays under its own; CopingRawLog needs the keep option.
        let options = json!({"KeepingSourceWhenParseFail": true});
        let mut p = create(register, NAME, nginx(options)).unwrap();
        let mut group = lines(&["garbage"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("content", "garbage")])]);
        let mut p = create(register, NAME, nginx(json!({"CopingRawLog": true}))).unwrap();
        let mut group = lines(&["garbage"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("content", "garbage")])]);
    }

    #[test]
    fn keeping_source_when_parse_succeed_adds_it_under_the_new_name() {
        let options = json!({"Regex": r"(\w+) (\w+)", "Keys": ["a", "b"], "KeepingSourceWhenParseSucceed": true,
            "RenamedSourceKey": "__raw__"});
        let mut p = create(register, NAME, options).unwrap();
        let mut group = lines(&["x y"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("a", "x"), ("b", "y"), ("__raw__", "x y")])]);

        let options = json!({"Regex": r"(\w+) (\w+)", "Keys": ["a", "b"], "KeepingSourceWhenParseSucceed": true});
        let mut p = create(register, NAME, options).unwrap();
        let mut group = lines(&["x y"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("a", "x"), ("b", "y"), ("content", "x y")])]);
    }

    #[test]
    fn the_regex_must_match_the_whole_field_and_dot_matches_line_breaks() {
        let options = json!({"Regex": r"(\d+) (.*)", "Keys": ["n", "rest"]});
        let mut p = create(register, NAME, options).unwrap();
        let mut group = lines(&["12 first\nsecond", "x 12 y"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group)[0], kv(&[("n", "12"), ("rest", "first\nsecond")]));
        assert_eq!(contents(&group)[1], kv(&[("content", "x 12 y")]));
        let options = json!({"Regex": r"(\d+)", "Keys": ["n"]});
        let mut p = create(register, NAME, options).unwrap();
        let mut group = lines(&["123abc"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("content", "123abc")])]);
    }

    #[test]
    fn other_contents_stay_and_a_key_named_like_the_source_replaces_it() {
        use loong_processor_parse_common::testing::events;
        let options = json!({"SourceKey": "msg", "Regex": r"(\w+)=(\w+)", "Keys": ["msg", "value"]});
        let mut p = create(register, NAME, options).unwrap();
        let mut group = events(vec![vec![("host", "h1"), ("msg", "k=v"), ("value", "old")]]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("host", "h1"), ("msg", "k"), ("value", "v")])]);
    }

    #[test]
    fn unmatched_optional_groups_are_empty_and_extra_groups_ignored() {
        let options = json!({"Regex": r"(a)?(b)(c)", "Keys": ["a", "b"]});
        let mut p = create(register, NAME, options).unwrap();
        let mut group = lines(&["bc"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("a", ""), ("b", "b")])]);
    }

    #[test]
    fn legacy_comma_separated_keys_and_whole_line_mode() {
        let options = json!({"Regex": r"(\w+) (\w+)", "Keys": ["a,b"]});
        let mut p = create(register, NAME, options).unwrap();
        let mut group = lines(&["x y"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("a", "x"), ("b", "y")])]);

        let mut p = create(register, NAME, json!({"SourceKey": "msg", "Regex": "(.*)"})).unwrap();
        let mut group = loong_processor_parse_common::testing::events(vec![vec![("msg", "all of it")]]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("content", "all of it")])]);
    }

    #[test]
    fn events_without_the_source_and_other_kinds_pass_unchanged() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, nginx(json!({})))).unwrap();
        let mut group = loong_processor_parse_common::testing::events(vec![vec![("other", "x")]]);
        group.events.push(PipelineEvent::Metric(MetricEvent::single(
            "m",
            MetricType::Gauge,
            1.0,
            1,
        )));
        let before = group.clone();
        run(&mut p, &mut group);
        assert_eq!(group, before);
        assert_eq!(capture.counter(KEY_NOT_FOUND), 1);
    }

    #[test]
    fn both_engines_give_the_same_groups() {
        let mut m = super::Matcher::new(r"(\w+)=(\d*)(x)? (.*)").unwrap();
        let short = b"key=12 rest".to_vec();
        let mut long = b"key= ".to_vec();
        long.resize(m.backtracker.max_haystack_len() + 10, b'y');
        for line in [&short, &long] {
            assert!(m.matches(line));
            assert_eq!(m.backtracked, line.len() < 1000);
            let groups: Vec<_> = (0..5).map(|i| m.group(i)).collect();
            let expected: Vec<_> = {
                let caps = m.regex.captures(line).unwrap();
                (0..5).map(|i| caps.get(i).map(|g| (g.start(), g.end()))).collect()
            };
            assert_eq!(groups, expected);
        }
        assert!(!m.matches(b"no match"));
        // Unicode classes switch the expression to Unicode mode.
        let mut m = super::Matcher::new(r"(\p{Han}+) (\w+)").unwrap();
        assert!(m.matches("日志 abc".as_bytes()));
        assert_eq!(m.group(1), Some((0, 6)));
    }

    #[test]
    fn bad_configs_fail_init_with_the_reason() {
        let err = |options| create(register, NAME, options).err().unwrap().to_string();
        assert!(err(json!({"Keys": ["a"]})).contains("Regex is required"));
        assert!(err(json!({"Regex": "(a", "Keys": ["a"]})).contains("not a valid regular expression"));
        assert!(err(json!({"Regex": "(a)"})).contains("Keys is required"));
        let e = err(json!({"Regex": "(a) b", "Keys": ["a", "b"]}));
        assert!(e.contains("1 capture group(s) but Keys names 2"), "{e}");
        assert!(err(json!({"SourceKey": "", "Regex": "(a)", "Keys": ["a"]})).contains("SourceKey"));
    }

    #[test]
    fn options_are_documented_with_loongcollector_defaults() {
        let options = documented_options(register, NAME);
        let expected = [
            ("SourceKey", "\"content\""),
            ("Regex", "\"\""),
            ("Keys", "[]"),
            ("KeepingSourceWhenParseFail", "false"),
            ("KeepingSourceWhenParseSucceed", "false"),
            ("RenamedSourceKey", "\"\""),
            ("CopingRawLog", "false"),
        ];
        assert_eq!(
            options,
            expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        );
    }
}
