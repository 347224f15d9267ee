//! What LoongCollector's parsing processors (`processor_parse_regex_native`,
//! `processor_parse_json_native`, `processor_parse_delimiter_native`) share: its
//! `CommonParserOptions` (what happens to the source field when a parse succeeds or fails) and the
//! counters every processor reports.
//!
//! This is a library for the processor crates, not a plugin.
//!
//! # A failed parse never loses the line
//!
//! LoongCollector deletes the source field of an event it could not parse unless
//! `KeepingSourceWhenParseFail` is true, and drops the event when nothing else is left in it.
//! loong-rs keeps such an event exactly as it was (the source field under its own name) and counts
//! it in [`KEPT_UNPARSED`]; with `KeepingSourceWhenParseFail: true` it behaves as LoongCollector
//! (the source moves to `RenamedSourceKey`, plus `__raw_log__` with `CopingRawLog`).

#[cfg(feature = "testing")]
pub mod testing;

use bytes::Bytes;
use loong_api::{Context, KeyValues};

/// Events parsed (LoongCollector's `out_successful_events_total`).
pub const SUCCESSFUL: &str = "out_successful_events_total";
/// Events whose source field could not be parsed (LoongCollector's `out_failed_events_total`).
pub const FAILED: &str = "out_failed_events_total";
/// Events without the source field, passed on untouched (`out_key_not_found_events_total`).
pub const KEY_NOT_FOUND: &str = "out_key_not_found_events_total";
/// Events removed by a filter (LoongCollector's `discarded_events_total`).
pub const DISCARDED: &str = "discarded_events_total";
/// Failed events kept unchanged although `KeepingSourceWhenParseFail` is false, where LoongCollector
/// would have deleted the source field (and dropped an event left empty).
pub const KEPT_UNPARSED: &str = "out_failed_kept_events_total";

/// The key LoongCollector copies an unparsed line to with `CopingRawLog`.
pub const RAW_LOG_KEY: &str = "__raw_log__";

/// The counters of a parsing processor, labelled with the plugin's labels. Created in `init`;
/// until then they count nothing.
#[derive(Clone)]
pub struct ParseCounters {
    pub successful: metrics::Counter,
    pub failed: metrics::Counter,
    pub key_not_found: metrics::Counter,
    pub kept_unparsed: metrics::Counter,
}

impl Default for ParseCounters {
    fn default() -> Self {
        ParseCounters {
            successful: metrics::Counter::noop(),
            failed: metrics::Counter::noop(),
            key_not_found: metrics::Counter::noop(),
            kept_unparsed: metrics::Counter::noop(),
        }
    }
}

impl ParseCounters {
    pub fn new(ctx: &Context) -> Self {
        let m = ctx.metrics();
        ParseCounters {
            successful: m.counter(SUCCESSFUL),
            failed: m.counter(FAILED),
            key_not_found: m.counter(KEY_NOT_FOUND),
            kept_unparsed: m.counter(KEPT_UNPARSED),
        }
    }
}

/// LoongCollector's `CommonParserOptions`, resolved: what a parser does with the source field.
#[derive(Debug, Clone)]
pub struct SourceHandling {
    pub source_key: Bytes,
    /// Where a kept source goes: `RenamedSourceKey`, or the source key when that is empty.
    pub renamed_source_key: Bytes,
    pub keep_on_fail: bool,
    pub keep_on_success: bool,
    pub coping_raw_log: bool,
}

impl SourceHandling {
    pub fn new(
        source_key: &str,
        renamed_source_key: &str,
        keep_on_fail: bool,
        keep_on_success: bool,
        coping_raw_log: bool,
    ) -> Self {
        let renamed = if renamed_source_key.is_empty() {
            source_key
        } else {
            renamed_source_key
        };
        SourceHandling {
            source_key: Bytes::copy_from_slice(source_key.as_bytes()),
            renamed_source_key: Bytes::copy_from_slice(renamed.as_bytes()),
            keep_on_fail,
            keep_on_success,
            coping_raw_log,
        }
    }

    /// Writes the parsed `fields` into `contents` after a successful parse of `raw`, the value of
    /// the source field: the source field goes (unless a parsed field has its name, which then
    /// replaces it), the fields are set (replacing contents of the same name), and the source is
    /// kept under `RenamedSourceKey` with `KeepingSourceWhenParseSucceed` unless a field already
    /// has that name.
    ///
    /// `unique_keys` tells that the field names are known to differ from one another, which lets
    /// an event that held only its source take the fields without lookups; otherwise a repeated
    /// name keeps its first place and its last value. `fields` is drained.
    pub fn apply_success(
        &self,
        contents: &mut KeyValues,
        raw: &Bytes,
        fields: &mut Vec<(Bytes, Bytes)>,
        unique_keys: bool,
    ) {
        let overwritten = fields.iter().any(|(k, _)| *k == self.source_key);
        if !overwritten {
            contents.remove(&self.source_key);
        }
        if contents.is_empty() {
            // One allocation for all the fields rather than growing the source's one-entry list.
            let mut parsed = KeyValues::with_capacity(fields.len() + usize::from(self.keep_on_success));
            for (k, v) in fields.drain(..) {
                if unique_keys {
                    parsed.push(k, v);
                } else {
                    parsed.insert(k, v);
                }
            }
            *contents = parsed;
        } else {
            for (k, v) in fields.drain(..) {
                contents.insert(k, v);
            }
        }
        if self.keep_on_success && !contents.contains(&self.renamed_source_key) {
            contents.push(self.renamed_source_key.clone(), raw.clone());
        }
    }

    /// Handles an event whose source `raw` could not be parsed. With `KeepingSourceWhenParseFail`
    /// the source moves to `RenamedSourceKey` (and is copied to `__raw_log__` with
    /// `CopingRawLog`), as in LoongCollector. Without it the event is left exactly as it was and
    /// the result is true: LoongCollector would have deleted the line, loong-rs keeps it.
    pub fn apply_failure(&self, contents: &mut KeyValues, raw: &Bytes) -> bool {
        if !self.keep_on_fail {
            return true;
        }
        // When `RenamedSourceKey` is taken, LoongCollector deletes the source all the same; here
        // it stays where it is.
        if self.renamed_source_key != self.source_key && !contents.contains(&self.renamed_source_key) {
            contents.remove(&self.source_key);
            contents.push(self.renamed_source_key.clone(), raw.clone());
        }
        if self.coping_raw_log && !contents.contains(RAW_LOG_KEY) {
            contents.push(RAW_LOG_KEY, raw.clone());
        }
        false
    }
}

/// LoongCollector's compatibility rule for `Keys`: a single entry holding commas (`["a,b,c"]`, as
/// old Logtail configs wrote it) is the comma-separated list of keys.
pub fn legacy_keys(keys: Vec<String>) -> Vec<String> {
    if keys.len() == 1 && keys[0].contains(',') {
        keys[0].split(',').map(str::to_owned).collect()
    } else {
        keys
    }
}

/// Whether all `keys` differ.
pub fn all_unique<T: PartialEq>(keys: &[T]) -> bool {
    keys.iter().enumerate().all(|(i, k)| !keys[..i].contains(k))
}

/// Reports parse failures: the first with a warning that shows the line, the others at debug
/// level (they are counted in [`FAILED`]), so a stream of bad lines cannot flood the agent's log.
#[derive(Debug)]
pub struct FailureLog {
    warned: bool,
    span: tracing::Span,
}

impl Default for FailureLog {
    fn default() -> Self {
        FailureLog::new(tracing::Span::none())
    }
}

impl FailureLog {
    /// Reports in `span`, the plugin's (`Context::span`).
    pub fn new(span: tracing::Span) -> Self {
        FailureLog { warned: false, span }
    }

    pub fn report(&mut self, what: &str, line: &[u8]) {
        const SHOWN: usize = 256;
        let _entered = self.span.enter();
        let shown = String::from_utf8_lossy(&line[..line.len().min(SHOWN)]);
        if self.warned {
            tracing::debug!(line = %shown, "{what}");
        } else {
            self.warned = true;
            tracing::warn!(
                line = %shown,
                "{what}; the line is kept unparsed (further failures are only counted in {FAILED})"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(pairs: &[(&str, &str)]) -> KeyValues {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn pairs(kv: &KeyValues) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn fields(pairs: &[(&'static str, &'static str)]) -> Vec<(Bytes, Bytes)> {
        pairs
            .iter()
            .map(|(k, v)| (Bytes::from_static(k.as_bytes()), Bytes::from_static(v.as_bytes())))
            .collect()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn success_replaces_the_source_unless_kept() {
        let raw = Bytes::from_static(b"a b");
        let plain = SourceHandling::new("content", "", false, false, false);
        let mut c = contents(&[("content", "a b"), ("x", "1")]);
        plain.apply_success(&mut c, &raw, &mut fields(&[("k1", "a"), ("x", "b")]), true);
        assert_eq!(pairs(&c), owned(&[("x", "b"), ("k1", "a")]));

        let keep = SourceHandling::new("content", "raw", false, true, false);
        let mut c = contents(&[("content", "a b")]);
        let mut f = fields(&[("k1", "a"), ("k2", "b")]);
        keep.apply_success(&mut c, &raw, &mut f, true);
        assert!(f.is_empty());
        assert_eq!(pairs(&c), owned(&[("k1", "a"), ("k2", "b"), ("raw", "a b")]));

        // A field named like the source replaces it; a kept source does not overwrite a field.
        let mut c = contents(&[("content", "a b")]);
        keep.apply_success(&mut c, &raw, &mut fields(&[("content", "a"), ("raw", "b")]), true);
        assert_eq!(pairs(&c), owned(&[("content", "a"), ("raw", "b")]));
    }

    #[test]
    fn failure_keeps_the_line_one_way_or_the_other() {
        let raw = Bytes::from_static(b"bad");
        let lc = SourceHandling::new("content", "raw", true, false, true);
        let mut c = contents(&[("content", "bad"), ("__raw_log__", "earlier")]);
        assert!(!lc.apply_failure(&mut c, &raw));
        assert_eq!(pairs(&c), owned(&[("__raw_log__", "earlier"), ("raw", "bad")]));
        // RenamedSourceKey taken: the source stays where it is rather than being lost.
        let mut c = contents(&[("raw", "other"), ("content", "bad")]);
        assert!(!lc.apply_failure(&mut c, &raw));
        assert_eq!(
            pairs(&c),
            owned(&[("raw", "other"), ("content", "bad"), ("__raw_log__", "bad")])
        );

        let same_key = SourceHandling::new("content", "", true, false, true);
        let mut c = contents(&[("content", "bad")]);
        assert!(!same_key.apply_failure(&mut c, &raw));
        assert_eq!(pairs(&c), owned(&[("content", "bad"), ("__raw_log__", "bad")]));

        let drop_in_lc = SourceHandling::new("content", "raw", false, false, true);
        let mut c = contents(&[("content", "bad")]);
        assert!(drop_in_lc.apply_failure(&mut c, &raw));
        assert_eq!(pairs(&c), owned(&[("content", "bad")]));
    }

    #[test]
    fn legacy_comma_keys_are_split() {
        assert_eq!(legacy_keys(vec!["a,b".into()]), ["a", "b"]);
        assert_eq!(legacy_keys(vec!["a,b".into(), "c".into()]), ["a,b", "c"]);
        assert!(all_unique(&["a", "b"]) && !all_unique(&["a", "b", "a"]));
    }

    #[test]
    fn counters_are_labelled_with_the_plugin() {
        let capture = loong_testkit::MetricsCapture::new();
        let counters = capture.scoped(|| ParseCounters::new(&loong_testkit::mock_context("processor_x")));
        counters.failed.increment(2);
        assert_eq!(capture.counter_with(FAILED, &[("plugin_type", "processor_x")]), 2);
        ParseCounters::default().failed.increment(1);
        assert_eq!(capture.counter(FAILED), 2);
    }
}
