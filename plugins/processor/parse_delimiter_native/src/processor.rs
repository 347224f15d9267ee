use bytes::Bytes;
use loong_api::{Context, PipelineGroupEvents, Processor, ProcessorV2, Result};
use loong_processor_parse_common::{FailureLog, ParseCounters, SourceHandling, all_unique};
use memchr::memmem::Finder;

use crate::split::{Field, split_plain, split_quoted};
use crate::{OverflowedFieldsTreatment, ParseDelimiterOptions};

const DESCRIPTION: &str = "delimiter parser: splits a log field at a separator into named fields";

/// The key LoongCollector skips with `OverflowedFieldsTreatment: discard`.
const SKIPPED_KEY: &[u8] = b"_";

pub struct ParseDelimiter {
    options: ParseDelimiterOptions,
    compiled: Option<Compiled>,
    counters: ParseCounters,
    failures: FailureLog,
    /// Scratch lists, kept to reuse their allocations.
    columns: Vec<Field>,
    fields: Vec<(Bytes, Bytes)>,
}

struct Compiled {
    mode: Mode,
    keys: Vec<Bytes>,
    unique_keys: bool,
    treatment: OverflowedFieldsTreatment,
    allow_shortened: bool,
    source: SourceHandling,
    /// `__column<i>__` by position, made as lines need them.
    column_names: Vec<Bytes>,
}

enum Mode {
    Quoted { separator: u8, quote: u8 },
    Plain(Box<Finder<'static>>),
}

impl ParseDelimiter {
    pub fn new(options: ParseDelimiterOptions) -> Self {
        ParseDelimiter {
            options,
            compiled: None,
            counters: ParseCounters::default(),
            failures: FailureLog::default(),
            columns: Vec::new(),
            fields: Vec::new(),
        }
    }

    fn compile(o: &ParseDelimiterOptions) -> Result<Compiled> {
        anyhow::ensure!(!o.source_key.is_empty(), "SourceKey must not be empty");
        let separator = if o.separator == "\\t" {
            "\t"
        } else {
            o.separator.as_str()
        };
        anyhow::ensure!(!separator.is_empty(), "Separator is required");
        anyhow::ensure!(
            separator.len() <= 4,
            "Separator {:?} is longer than 4 bytes",
            o.separator
        );
        anyhow::ensure!(
            !o.keys.is_empty(),
            "Keys is required: the names of the fields, in order"
        );
        let mode = match (separator.as_bytes(), o.quote.as_bytes()) {
            ([sep], [quote]) if sep != quote => Mode::Quoted {
                separator: *sep,
                quote: *quote,
            },
            ([sep], []) if *sep != b'"' => Mode::Quoted {
                separator: *sep,
                quote: b'"',
            },
            ([_], quote) if quote.len() > 1 => {
                anyhow::bail!("Quote {:?} is not a single character", o.quote)
            }
            (sep, _) => Mode::Plain(Box::new(Finder::new(sep).into_owned())),
        };
        let keys: Vec<Bytes> = o.keys.iter().map(|k| Bytes::copy_from_slice(k.as_bytes())).collect();
        Ok(Compiled {
            mode,
            unique_keys: all_unique(&keys) && !keys.iter().any(|k| k.starts_with(b"__column")),
            keys,
            treatment: o.overflowed_fields_treatment,
            allow_shortened: o.allowing_shortened_fields,
            source: SourceHandling::new(
                &o.source_key,
                &o.renamed_source_key,
                o.keeping_source_when_parse_fail,
                o.keeping_source_when_parse_succeed,
                o.coping_raw_log,
            ),
            column_names: Vec::new(),
        })
    }
}

impl Compiled {
    /// Splits `line` into `columns` as LoongCollector does; false when it cannot be split.
    fn split(&self, line: &[u8], columns: &mut Vec<Field>) -> bool {
        let extend = self.treatment == OverflowedFieldsTreatment::Extend;
        match &self.mode {
            Mode::Plain(finder) => {
                split_plain(line, finder, (!extend).then_some(self.keys.len()), columns);
                true
            }
            Mode::Quoted { separator, quote } => {
                if !split_quoted(line, *separator, *quote, columns) {
                    return false;
                }
                if !extend && columns.len() > self.keys.len() {
                    // The extra fields become one, each preceded by the separator.
                    let mut rest = Vec::new();
                    for field in columns.drain(self.keys.len()..) {
                        rest.push(*separator);
                        match field {
                            Field::Range(s, e) => rest.extend_from_slice(&line[s..e]),
                            Field::Owned(v) => rest.extend_from_slice(&v),
                        }
                    }
                    columns.push(Field::Owned(rest));
                }
                true
            }
        }
    }

    fn column_name(&mut self, index: usize) -> Bytes {
        while self.column_names.len() <= index {
            let name = format!("__column{}__", self.column_names.len());
            self.column_names.push(Bytes::from(name));
        }
        self.column_names[index].clone()
    }
}

/// The bounds of `line` without leading spaces and trailing spaces and `\r`.
fn trimmed(line: &[u8]) -> (usize, usize) {
    let end = line.len() - line.iter().rev().take_while(|b| matches!(b, b' ' | b'\r')).count();
    let begin = line[..end].iter().take_while(|b| **b == b' ').count();
    (begin, end)
}

impl Processor for ParseDelimiter {
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

impl ProcessorV2 for ParseDelimiter {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let ParseDelimiter {
            compiled,
            counters,
            failures,
            columns,
            fields,
            ..
        } = self;
        let Some(c) = compiled.as_mut() else {
            return;
        };
        let discard = c.treatment == OverflowedFieldsTreatment::Discard;
        for event in &mut group.events {
            let Some(log) = event.as_log_mut() else {
                continue;
            };
            let Some(raw) = log.contents.get(&c.source.source_key).cloned() else {
                counters.key_not_found.increment(1);
                continue;
            };
            let (begin, end) = trimmed(&raw);
            if begin >= end {
                // Nothing to split: LoongCollector leaves such an event as it is.
                counters.failed.increment(1);
                continue;
            }
            let line = &raw[begin..end];
            columns.clear();
            let split = c.split(line, columns);
            let parsed = columns.len();
            if !split || parsed == 0 || (!c.allow_shortened && parsed < c.keys.len()) {
                counters.failed.increment(1);
                failures.report(
                    &format!(
                        "processor_parse_delimiter_native: the line does not split into the {} Keys",
                        c.keys.len()
                    ),
                    &raw,
                );
                if c.source.apply_failure(&mut log.contents, &raw) {
                    counters.kept_unparsed.increment(1);
                }
                continue;
            }
            for (index, column) in columns.drain(..).enumerate() {
                let key = match c.keys.get(index) {
                    Some(key) if discard && key == SKIPPED_KEY => continue,
                    Some(key) => key.clone(),
                    None if discard => continue,
                    None => c.column_name(index),
                };
                let value = match column {
                    Field::Range(s, e) => raw.slice(begin + s..begin + e),
                    Field::Owned(v) => Bytes::from(v),
                };
                fields.push((key, value));
            }
            c.source.apply_success(&mut log.contents, &raw, fields, c.unique_keys);
            counters.successful.increment(1);
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

    const KEYS: [&str; 4] = ["time", "method", "url", "request_time"];

    fn options(extra: serde_json::Value) -> serde_json::Value {
        let mut o = json!({"SourceKey": "content", "Separator": ",", "Quote": "'", "Keys": KEYS});
        o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        o
    }

    #[test]
    fn parses_quoted_fields_into_slices_of_the_source() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, options(json!({})))).unwrap();
        let mut group = lines(&[
            "2013-10-31 21:03:49,POST,'PutData?Category=YunOsAccountOpLog',0.024",
            "  2013-10-31 21:03:49,POST,'a,''b''',0.024 \r",
        ]);
        let source = group.events[0].as_log().unwrap().body().unwrap().clone();
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [
                kv(&[
                    ("time", "2013-10-31 21:03:49"),
                    ("method", "POST"),
                    ("url", "PutData?Category=YunOsAccountOpLog"),
                    ("request_time", "0.024"),
                ]),
                kv(&[
                    ("time", "2013-10-31 21:03:49"),
                    ("method", "POST"),
                    ("url", "a,'b'"),
                    ("request_time", "0.024"),
                ]),
            ]
        );
        let range = source.as_ptr_range();
        for (_, v) in group.events[0].as_log().unwrap().contents.iter() {
            assert!(range.contains(&v.as_ptr()), "{v:?} was copied");
        }
        assert_eq!(capture.counter(SUCCESSFUL), 2);
    }

    #[test]
    fn bad_quoting_fails_and_keeps_the_line() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, options(json!({})))).unwrap();
        let mut group = lines(&["2013-10-31,POST,',0.024", "a,b'c,d,e", "", "   "]);
        let before = group.clone();
        run(&mut p, &mut group);
        assert_eq!(group, before);
        assert_eq!(capture.counter(FAILED), 4);
        // Empty lines are left alone as LoongCollector leaves them; the others would have been lost.
        assert_eq!(capture.counter(KEPT_UNPARSED), 2);
    }

    #[test]
    fn keeping_source_options_follow_loongcollector() {
        let o = options(
            json!({"KeepingSourceWhenParseFail": true, "KeepingSourceWhenParseSucceed": true,
            "CopingRawLog": true, "RenamedSourceKey": "rawLog", "AllowingShortenedFields": false}),
        );
        let mut p = create(register, NAME, o).unwrap();
        let mut group = lines(&["2013-10-31 21:03:49,POST,'PutData',0.024", "value1"]);
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [
                kv(&[
                    ("time", "2013-10-31 21:03:49"),
                    ("method", "POST"),
                    ("url", "PutData"),
                    ("request_time", "0.024"),
                    ("rawLog", "2013-10-31 21:03:49,POST,'PutData',0.024"),
                ]),
                kv(&[("rawLog", "value1"), ("__raw_log__", "value1")]),
            ]
        );
    }

    #[test]
    fn allowing_shortened_fields() {
        let capture = MetricsCapture::new();
        let mut p = capture.scoped(|| create(register, NAME, options(json!({})))).unwrap();
        let mut group = lines(&["value1"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("time", "value1")])]);

        let o = options(json!({"AllowingShortenedFields": false}));
        let mut p = capture.scoped(|| create(register, NAME, o)).unwrap();
        let mut group = lines(&["value1"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("content", "value1")])]);
        assert_eq!(capture.counter(FAILED), 1);
    }

    #[test]
    fn overflowed_fields_extend_keep_or_discard() {
        let o = |t: &str| json!({"Separator": "@@", "Keys": ["a", "b", "c"], "OverflowedFieldsTreatment": t});
        let line = "123@@456@@1@@2@@3";
        let mut results = Vec::new();
        for t in ["extend", "keep", "discard"] {
            let mut p = create(register, NAME, o(t)).unwrap();
            let mut group = lines(&[line]);
            run(&mut p, &mut group);
            results.push(contents(&group).remove(0));
        }
        assert_eq!(
            results,
            [
                kv(&[
                    ("a", "123"),
                    ("b", "456"),
                    ("c", "1"),
                    ("__column3__", "2"),
                    ("__column4__", "3")
                ]),
                kv(&[("a", "123"), ("b", "456"), ("c", "1"), ("__column3__", "@@2@@3")]),
                kv(&[("a", "123"), ("b", "456"), ("c", "1")]),
            ]
        );

        // With quoting, the extra fields are unquoted and joined, each after the separator.
        let o = json!({"Separator": ",", "Keys": ["a", "b"], "OverflowedFieldsTreatment": "keep"});
        let mut p = create(register, NAME, o).unwrap();
        let mut group = lines(&[r#"1,2,"3,x",4"#]);
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [kv(&[("a", "1"), ("b", "2"), ("__column2__", ",3,x,4")])]
        );
    }

    #[test]
    fn discard_skips_underscore_keys() {
        let o = json!({"Separator": "|", "Keys": ["a", "_", "c"], "OverflowedFieldsTreatment": "discard"});
        let mut p = create(register, NAME, o).unwrap();
        let mut group = lines(&["1|2|3|4"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("a", "1"), ("c", "3")])]);
    }

    #[test]
    fn separators_tab_multi_char_and_quote_equal_to_separator() {
        let mut p = create(register, NAME, json!({"Separator": "\\t", "Keys": ["a", "b"]})).unwrap();
        let mut group = lines(&["x\t\"y\tz\""]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("a", "x"), ("b", "y\tz")])]);

        // Quote is ignored for a multi-character separator and when it equals the separator.
        let mut p = create(register, NAME, json!({"Separator": "||", "Keys": ["a", "b"]})).unwrap();
        let mut group = lines(&["\"x||y\""]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("a", "\"x"), ("b", "y\"")])]);
        let mut p = create(
            register,
            NAME,
            json!({"Separator": "|", "Quote": "|", "Keys": ["a", "b"]}),
        )
        .unwrap();
        let mut group = lines(&["x\"|y"]);
        run(&mut p, &mut group);
        assert_eq!(contents(&group), [kv(&[("a", "x\""), ("b", "y")])]);
    }

    #[test]
    fn source_key_overwritten_missing_and_other_contents() {
        let capture = MetricsCapture::new();
        let o = json!({"SourceKey": "msg", "Separator": " ", "Keys": ["msg", "rest"]});
        let mut p = capture.scoped(|| create(register, NAME, o)).unwrap();
        let mut group = events(vec![vec![("host", "h"), ("msg", "a b")], vec![("host", "h")]]);
        run(&mut p, &mut group);
        assert_eq!(
            contents(&group),
            [kv(&[("host", "h"), ("msg", "a"), ("rest", "b")]), kv(&[("host", "h")])]
        );
        assert_eq!(capture.counter(KEY_NOT_FOUND), 1);
    }

    #[test]
    fn bad_configs_fail_init() {
        let err = |o| create(register, NAME, o).err().unwrap().to_string();
        assert!(err(json!({"Keys": ["a"]})).contains("Separator is required"));
        assert!(err(json!({"Separator": "12345", "Keys": ["a"]})).contains("longer than 4"));
        assert!(err(json!({"Separator": ","})).contains("Keys is required"));
        assert!(err(json!({"Separator": ",", "Quote": "ab", "Keys": ["a"]})).contains("Quote"));
        let e = err(json!({"Separator": ",", "Keys": ["a"], "OverflowedFieldsTreatment": "spill"}));
        assert!(e.contains("OverflowedFieldsTreatment"), "{e}");
    }

    #[test]
    fn options_are_documented_with_loongcollector_defaults() {
        let options = documented_options(register, NAME);
        let names: Vec<_> = options.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
        assert_eq!(
            names,
            [
                ("SourceKey", "\"content\""),
                ("Separator", "\"\""),
                ("Quote", "\"\\\"\""),
                ("Keys", "[]"),
                ("AllowingShortenedFields", "true"),
                ("OverflowedFieldsTreatment", "\"extend\""),
                ("KeepingSourceWhenParseFail", "false"),
                ("KeepingSourceWhenParseSucceed", "false"),
                ("RenamedSourceKey", "\"\""),
                ("CopingRawLog", "false"),
            ]
        );
    }
}
