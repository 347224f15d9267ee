use bytes::Bytes;
use loong_api::{Context, PipelineGroupEvents, Processor, ProcessorV2, Result};
use loong_processor_parse_common::{FailureLog, ParseCounters, SourceHandling};

use crate::ParseJsonOptions;
use crate::parse::parse_object;

const DESCRIPTION: &str = "json parser: turns the members of a JSON object held by a log field into fields";

pub struct ParseJson {
    options: ParseJsonOptions,
    source: Option<SourceHandling>,
    counters: ParseCounters,
    failures: FailureLog,
    /// Scratch list of the fields of one event, kept to reuse its allocation.
    fields: Vec<(Bytes, Bytes)>,
}

impl ParseJson {
    pub fn new(options: ParseJsonOptions) -> Self {
        ParseJson {
            options,
            source: None,
            counters: ParseCounters::default(),
            failures: FailureLog::default(),
            fields: Vec::new(),
        }
    }
}

impl Processor for ParseJson {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let o = &self.options;
        anyhow::ensure!(!o.source_key.is_empty(), "SourceKey must not be empty");
        self.source = Some(SourceHandling::new(
            &o.source_key,
            &o.renamed_source_key,
            o.keeping_source_when_parse_fail,
            o.keeping_source_when_parse_succeed,
            o.coping_raw_log,
        ));
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

impl ProcessorV2 for ParseJson {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let ParseJson {
            source,
            counters,
            failures,
            fields,
            ..
        } = self;
        let Some(source) = source.as_ref() else {
            return;
        };
        for event in &mut group.events {
            let Some(log) = event.as_log_mut() else {
                continue;
            };
            let Some(raw) = log.contents.get(&source.source_key).cloned() else {
                counters.key_not_found.increment(1);
                continue;
            };
            match parse_object(&raw, fields) {
                Ok(()) => {
                    // Members may repeat a name: the last wins, as in LoongCollector.
                    source.apply_success(&mut log.contents, &raw, fields, false);
                    counters.successful.increment(1);
                }
                Err(e) => {
                    fields.clear();
                    counters.failed.increment(1);
                    failures.report(
                        &format!("processor_parse_json_native: the field is not a JSON object ({e})"),
                        &raw,
                    );
                    if source.apply_failure(&mut log.contents, &raw) {
                        counters.kept_unparsed.increment(1);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use loong_processor_parse_common::testing::{contents, create, documented_options, events, kv, lines, run};
    use loong_processor_parse_common::{FAILED, KEPT_UNPARSED, KEY_NOT_FOUND, SUCCESSFUL};
    use loong_testkit::MetricsCapture;
    use serde_json::json;

    use crate::{NAME, register};

    const LINE: &str = r#"{"url": "POST /PutData?Category=YunOsAccountOpLog HTTP/1.1", "ip": "10.200.98.220", "user-agent": "aliyun-sdk-java", "request": {"status": "200", "latency": "18204"}, "time": "07/Jul/2022:10:30:28"}"#;

    #[test]
    fn parses_the_loongcollector_example() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, json!({}))).unwrap();
        let mut group = lines(&[LINE]);
        let source = group.events[0].as_log().unwrap().body().unwrap().clone();
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [kv(&[
                ("url", "POST /PutData?Category=YunOsAccountOpLog HTTP/1.1"),
                ("ip", "10.200.98.220"),
                ("user-agent", "aliyun-sdk-java"),
                ("request", r#"{"status":"200","latency":"18204"}"#),
                ("time", "07/Jul/2022:10:30:28"),
            ])]
        );
        let log = group.events[0].as_log().unwrap();
        let range = source.as_ptr_range();
        assert!(range.contains(&log.contents.get("ip").unwrap().as_ptr()));
        assert!(range.contains(&log.contents.keys().next().unwrap().as_ptr()));
        assert_eq!(capture.counter(SUCCESSFUL), 1);
    }

    #[test]
    fn lines_that_are_not_objects_are_kept_and_counted() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, json!({}))).unwrap();
        let mut group = lines(&["plain text", "[1,2]", "", r#"{"ok": 1}"#, r#"{"cut": "#]);
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [
                kv(&[("content", "plain text")]),
                kv(&[("content", "[1,2]")]),
                kv(&[("content", "")]),
                kv(&[("ok", "1")]),
                kv(&[("content", r#"{"cut": "#)]),
            ]
        );
        assert_eq!(capture.counter(FAILED), 4);
        assert_eq!(capture.counter(KEPT_UNPARSED), 4);
        assert_eq!(capture.counter(SUCCESSFUL), 1);
    }

    #[test]
    fn keeping_source_options() {
        let options = json!({"KeepingSourceWhenParseFail": true, "KeepingSourceWhenParseSucceed": true,
            "RenamedSourceKey": "raw", "CopingRawLog": true});
        let mut p = create(register, NAME, options).unwrap();
        let mut group = lines(&[r#"{"a":"b"}"#, "bad"]);
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [
                kv(&[("a", "b"), ("raw", r#"{"a":"b"}"#)]),
                kv(&[("raw", "bad"), ("__raw_log__", "bad")]),
            ]
        );
    }

    #[test]
    fn members_replace_contents_and_the_last_duplicate_wins() {
        let capture = MetricsCapture::new();
        let mut p = capture
            .scoped(|| create(register, NAME, json!({"SourceKey": "body"})))
            .unwrap();
        let mut group = events(vec![
            vec![
                ("host", "h"),
                ("body", r#"{"host": "inner", "body": "self", "x": 1, "x": 2}"#),
            ],
            vec![("other", "1")],
        ]);
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [
                kv(&[("host", "inner"), ("body", "self"), ("x", "2")]),
                kv(&[("other", "1")])
            ]
        );
        assert_eq!(capture.counter(KEY_NOT_FOUND), 1);
    }

    #[test]
    fn options_are_documented_with_loongcollector_defaults() {
        let options = documented_options(register, NAME);
        let names: Vec<_> = options.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
        assert_eq!(
            names,
            [
                ("SourceKey", "\"content\""),
                ("KeepingSourceWhenParseFail", "false"),
                ("KeepingSourceWhenParseSucceed", "false"),
                ("RenamedSourceKey", "\"\""),
                ("CopingRawLog", "false"),
            ]
        );
        assert!(create(register, NAME, json!({"SourceKey": ""})).is_err());
    }
}
