use std::path::Path;

use anyhow::Context as _;
use loong_api::{Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents, Result};

use crate::config::StdoutConfig;
use crate::format;
use crate::output::{Output, RollingFile};

const NOT_OPEN: &str = "flusher_stdout used before init or after stop";

pub struct StdoutFlusher {
    config: StdoutConfig,
    output: Option<Output>,
    line: Vec<u8>,
}

impl StdoutFlusher {
    pub fn new(config: StdoutConfig) -> Self {
        StdoutFlusher {
            config,
            output: None,
            line: Vec::with_capacity(512),
        }
    }

    fn output(&mut self) -> Result<&mut Output> {
        self.output.as_mut().context(NOT_OPEN)
    }

    /// Renders with `render` into the reused buffer and writes it as one line.
    fn emit(&mut self, render: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let output = self.output.as_mut().context(NOT_OPEN)?;
        self.line.clear();
        render(&mut self.line);
        output.line(&self.line).context("writing output")
    }
}

impl Flusher for StdoutFlusher {
    fn init(&mut self, _: &Context) -> Result<()> {
        let output = if self.config.only_stdout {
            Output::stdout()
        } else if !self.config.file_name.is_empty() {
            let max_size = if self.config.max_size <= 0 {
                1024 * 1024
            } else {
                self.config.max_size as u64
            };
            let max_rolls = if self.config.max_rolls <= 0 {
                1
            } else {
                self.config.max_rolls.min(u32::MAX as i64) as u32
            };
            let path = Path::new(&self.config.file_name);
            Output::File(
                RollingFile::open(path, max_size, max_rolls).with_context(|| format!("opening {}", path.display()))?,
            )
        } else {
            Output::Log
        };
        self.output = Some(output);
        Ok(())
    }

    fn description(&self) -> &str {
        "stdout flusher: prints events as JSON lines"
    }

    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        true
    }

    fn set_urgent(&mut self, _: bool) {}

    fn stop(&mut self) -> Result<()> {
        if let Some(mut output) = self.output.take() {
            output.flush().context("flushing output")?;
        }
        Ok(())
    }

    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        Some(self)
    }

    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV1 for StdoutFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        for group in groups {
            if self.config.tags {
                self.emit(|out| format::v1_header(out, group))?;
            }
            let pairs = self.config.key_value_pairs;
            for log in &group.logs {
                self.emit(|out| {
                    if pairs {
                        format::v1_pairs(out, log)
                    } else {
                        format::v1_whole(out, log)
                    }
                })?;
            }
        }
        self.output()?.flush().context("flushing output")
    }
}

impl FlusherV2 for StdoutFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        for group in groups {
            if self.config.tags {
                self.emit(|out| format::v2_header(out, group))?;
            }
            for event in &group.events {
                self.emit(|out| format::v2_event(out, event))?;
            }
        }
        self.output()?.flush().context("flushing output")
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use loong_api::model::{LogEvent, PipelineEvent, convert};
    use loong_testkit::{SAMPLE_TIME_NS, log_events, mock_context, sample_events, sample_log_groups};
    use serde_json::{Value, json};

    use super::*;

    fn file_flusher(dir: &Path, config: StdoutConfig) -> (StdoutFlusher, PathBuf) {
        let path = dir.join("out.log");
        let mut f = StdoutFlusher::new(StdoutConfig {
            file_name: path.display().to_string(),
            ..config
        });
        f.init(&mock_context(crate::NAME)).unwrap();
        (f, path)
    }

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON {l:?}: {e}")))
            .collect()
    }

    fn export(f: &mut StdoutFlusher, groups: &[PipelineGroupEvents]) {
        f.export(groups, &mut PipelineContext::noop()).unwrap();
    }

    #[test]
    fn v2_log_prints_like_loongcollector_with_contents_at_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(dir.path(), StdoutConfig::default());
        let mut log = LogEvent::with_body("hello \"world\"\n", 1_700_000_000_000_000_123);
        log.contents.insert("status", "200");
        log.tags.insert("t", "v");
        log.offset = 42;
        log.level = "warn".into();
        log.trace_id = "abc".into();
        log.observed_timestamp = 7;
        export(
            &mut f,
            &[PipelineGroupEvents::new(Default::default(), vec![log.into()])],
        );
        f.stop().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"eventType\":\"log\",\"name\":\"\",\"timestamp\":1700000000000000123,\"observedTimestamp\":7,\
             \"tags\":{\"t\":\"v\"},\"offset\":42,\"level\":\"warn\",\"traceID\":\"abc\",\"spanID\":\"\",\
             \"content\":\"hello \\\"world\\\"\\n\",\"status\":\"200\"}\n"
        );
    }

    #[test]
    fn every_v2_event_kind_parses_back() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(dir.path(), StdoutConfig::default());
        export(&mut f, &sample_events());
        f.stop().unwrap();
        let out = lines(&path);
        let kinds: Vec<&str> = out.iter().map(|l| l["eventType"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["log", "metric", "metric", "span", "byteArray"]);
        for line in &out {
            for common in ["name", "timestamp", "observedTimestamp", "tags"] {
                assert!(line.get(common).is_some(), "{common} missing in {line}");
            }
        }
        assert_eq!(out[0]["content"], "sample-0");
        assert_eq!(out[0]["seq"], "0");
        assert_eq!(
            out[1],
            json!({"eventType": "metric", "name": "requests_total", "timestamp": SAMPLE_TIME_NS,
                   "observedTimestamp": 0, "tags": {"method": "GET"}, "metricType": "counter", "unit": "1",
                   "value": 42.0, "typedValues": {"unit_note": "per host"}})
        );
        assert_eq!(out[2]["metricType"], "histogram");
        assert_eq!(out[2]["values"], json!({"le_0.1": 3.0, "le_1": 7.0, "count": 8.0}));
        assert_eq!(
            out[3],
            json!({"eventType": "span", "name": "GET /api", "timestamp": SAMPLE_TIME_NS, "observedTimestamp": 0,
                   "tags": {"http.status_code": "200"},
                   "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
                   "parentSpanId": "b7ad6b7169203331", "traceState": "", "kind": "server", "status": "Ok",
                   "startTime": SAMPLE_TIME_NS, "endTime": SAMPLE_TIME_NS + 250_000_000, "duration": 250_000_000,
                   "links": [{"traceId": "5bf92f3577b34da6a3ce929d0e0e4737", "spanId": "10f067aa0ba902b8",
                              "traceState": "", "attributes": {"link.kind": "follows"}}],
                   "events": [{"timestamp": SAMPLE_TIME_NS + 100_000_000, "name": "cache miss", "attributes": {}}]})
        );
        assert_eq!(
            out[4],
            json!({"eventType": "byteArray", "name": "", "timestamp": SAMPLE_TIME_NS,
                   "observedTimestamp": SAMPLE_TIME_NS + 1, "tags": {}, "byteArray": "raw bytes"})
        );
    }

    #[test]
    fn v1_key_value_pairs_print_tags_in_tag_form_and_the_time_in_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(dir.path(), StdoutConfig::default());
        let mut log = LogEvent::with_body("x", 1_700_000_000_000_000_005);
        log.tags.insert("__path__", "/a");
        let v1 = convert::events_to_log_groups(&[PipelineGroupEvents::new(Default::default(), vec![log.into()])]);
        f.flush("p", "l", "c", &v1).unwrap();
        f.stop().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"content\":\"x\",\"__tag__:__path__\":\"/a\",\"__time__\":\"1700000000\"}\n"
        );
    }

    #[test]
    fn v1_without_key_value_pairs_prints_whole_logs() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(
            dir.path(),
            StdoutConfig {
                key_value_pairs: false,
                ..Default::default()
            },
        );
        let groups = convert::events_to_log_groups(&[log_events(1)]);
        f.flush("p", "l", "c", &groups).unwrap();
        f.stop().unwrap();
        assert_eq!(
            lines(&path),
            vec![
                json!({"Time": 1_700_000_000u32, "Contents": [{"Key": "content", "Value": "log-0"},
                        {"Key": "seq", "Value": "0"}]})
            ]
        );
    }

    #[test]
    fn tags_print_a_header_before_each_group() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(
            dir.path(),
            StdoutConfig {
                tags: true,
                ..Default::default()
            },
        );
        let mut v1 = sample_log_groups();
        v1[0].topic = Some("app".into());
        v1[0].category = Some("store".into());
        f.flush("p", "l", "c", &v1).unwrap();
        export(&mut f, &[log_events(1)]);
        f.stop().unwrap();
        let out = lines(&path);
        let headers: Vec<(usize, &Value)> = out
            .iter()
            .enumerate()
            .filter(|(_, l)| l.get("content").is_none())
            .collect();
        assert_eq!(headers.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 4, 7]);
        assert_eq!(
            *headers[0].1,
            json!({"logGroup": {"topic": "app", "logstore": "store", "logCount": 3, "tags": {"host": "test-host"}}})
        );
        assert_eq!(headers[1].1["logGroup"]["logCount"], 2);
        assert_eq!(
            *headers[2].1,
            json!({"group": {"events": 1, "metadata": {"__path__": "/var/log/test.log"}, "tags": {"host": "test-host"}}})
        );
    }

    #[test]
    fn file_rolls_by_size_and_keeps_max_rolls() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(
            dir.path(),
            StdoutConfig {
                max_size: 300,
                max_rolls: 2,
                ..Default::default()
            },
        );
        let events: Vec<PipelineEvent> = (0..40)
            .map(|i| LogEvent::with_body(format!("line {i:03}"), 0).into())
            .collect();
        export(&mut f, &[PipelineGroupEvents::new(Default::default(), events)]);
        f.stop().unwrap();
        let rolled = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        assert!(rolled(1).exists() && rolled(2).exists());
        assert!(!rolled(3).exists(), "MaxRolls 2 keeps two rolled files");
        for p in [path.clone(), rolled(1), rolled(2)] {
            let size = std::fs::metadata(&p).unwrap().len();
            assert!(size <= 300, "{} is {size} bytes", p.display());
        }
        // Newest lines in the current file, the ones just before in .1, older in .2: in order.
        let seq = |l: &Value| -> u32 { l["content"].as_str().unwrap()[5..].parse().unwrap() };
        let all: Vec<u32> = [rolled(2), rolled(1), path.clone()]
            .iter()
            .flat_map(|p| lines(p).iter().map(seq).collect::<Vec<_>>())
            .collect();
        assert_eq!(*all.last().unwrap(), 39);
        assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "{all:?}");
    }

    #[test]
    fn zero_size_and_rolls_mean_one_mebibyte_and_one_roll() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(
            dir.path(),
            StdoutConfig {
                max_size: 0,
                max_rolls: -1,
                ..Default::default()
            },
        );
        let body = "x".repeat(1000);
        for _ in 0..25 {
            let events: Vec<PipelineEvent> = (0..100).map(|_| LogEvent::with_body(body.clone(), 0).into()).collect();
            export(&mut f, &[PipelineGroupEvents::new(Default::default(), events)]);
        }
        f.stop().unwrap();
        let rolled = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        assert!(rolled(1).exists());
        assert!(!rolled(2).exists(), "one roll kept");
        let size = std::fs::metadata(rolled(1)).unwrap().len();
        assert!(size <= 1024 * 1024 && size > 1000 * 1024, "rolled at 1 MiB, got {size}");
    }

    #[test]
    fn options_decode_from_loongcollector_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("decoded.log");
        let mut registry = loong_api::Registry::new();
        crate::register(&mut registry);
        let (mut f, warnings) = registry
            .create_flusher(
                crate::NAME,
                &json!({"OnlyStdout": false, "FileName": path.display().to_string(), "MaxSize": 4096,
                        "MaxRolls": 3, "KeyValuePairs": false, "Tags": true}),
            )
            .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        f.init(&mock_context(crate::NAME)).unwrap();
        f.as_v1().unwrap().flush("p", "l", "c", &sample_log_groups()).unwrap();
        f.stop().unwrap();
        let out = lines(&path);
        assert!(out[0].get("logGroup").is_some(), "Tags: header first");
        assert!(out[1].get("Contents").is_some(), "KeyValuePairs false: whole logs");

        let defaults = StdoutConfig::default();
        assert!(!defaults.only_stdout && defaults.key_value_pairs && !defaults.tags);
        assert_eq!((defaults.max_size, defaults.max_rolls), (1024 * 1024, 1));
        assert!(defaults.file_name.is_empty());
    }

    /// Collects what a `tracing` subscriber formats.
    #[derive(Clone, Default)]
    struct Captured(Arc<parking_lot::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn without_stdout_or_file_lines_go_to_the_agent_log() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_target(true)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let mut f = StdoutFlusher::new(StdoutConfig::default());
            f.init(&mock_context(crate::NAME)).unwrap();
            export(&mut f, &[log_events(2)]);
            f.flush("p", "l", "c", &sample_log_groups()).unwrap();
            f.stop().unwrap();
        });
        let text = String::from_utf8(captured.0.lock().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 5, "{text}");
        for line in &lines {
            assert!(line.contains(" INFO flusher_stdout: {"), "{line}");
            let json = &line[line.find('{').unwrap()..];
            let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert!(v.get("content").is_some(), "{v}");
        }
    }

    #[test]
    fn is_always_ready_even_before_urgent() {
        let mut f = StdoutFlusher::new(StdoutConfig::default());
        f.init(&mock_context(crate::NAME)).unwrap();
        assert!(f.is_ready("", "", 0));
        f.set_urgent(true);
        assert!(f.is_ready("", "", 0));
        f.stop().unwrap();
        let err = f.export(&[log_events(1)], &mut PipelineContext::noop()).unwrap_err();
        assert!(err.to_string().contains("after stop"), "{err}");
    }
}
