use std::path::Path;

use anyhow::Context as _;
use loong_api::{Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents, Result};

use crate::config::StdoutConfig;
use crate::format;
use crate::output::{Output, RollingFile};

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
        self.output
            .as_mut()
            .context("flusher_stdout used before init or after stop")
    }

    /// Renders with `render` into the reused buffer and writes it as one line.
    fn emit(&mut self, render: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        render(&mut line);
        let result = self.output()?.line(&line);
        self.line = line;
        result.context("writing output")
    }
}

impl Flusher for StdoutFlusher {
    fn init(&mut self, _: &Context) -> Result<()> {
        let output = if self.config.only_stdout {
            Output::Stdout(std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()))
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
    use loong_api::model::{
        ByteArrayEvent, GroupInfo, LogEvent, MetricEvent, MetricType, MetricValue, PipelineEvent, SpanEvent,
        SpanInnerEvent, SpanKind, SpanLink, StatusCode, TypedValue, convert,
    };
    use serde_json::{Value, json};

    use super::*;

    fn file_flusher(dir: &Path, extra: StdoutConfig) -> (StdoutFlusher, std::path::PathBuf) {
        let path = dir.join("out.log");
        let config = StdoutConfig {
            file_name: path.display().to_string(),
            ..extra
        };
        let mut f = StdoutFlusher::new(config);
        f.init(&loong_testkit::mock_context("flusher_stdout")).unwrap();
        (f, path)
    }

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON {l:?}: {e}")))
            .collect()
    }

    fn group(events: Vec<PipelineEvent>) -> PipelineGroupEvents {
        let mut info = GroupInfo::default();
        info.tags.insert("host", "h1");
        info.metadata.insert("__path__", "/var/log/a.log");
        PipelineGroupEvents::new(info, events)
    }

    #[test]
    fn v2_log_prints_like_loongcollector_with_contents_at_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(dir.path(), StdoutConfig::default());
        let mut log = LogEvent::with_body("hello \"world\"\n", 1_700_000_000_000_000_123);
        log.contents.insert("level", "info");
        log.tags.insert("t", "v");
        log.offset = 42;
        log.observed_timestamp = 7;
        f.export(&[group(vec![log.into()])], &mut PipelineContext::noop())
            .unwrap();
        f.stop().unwrap();
        let out = lines(&path);
        assert_eq!(
            out,
            vec![
                json!({"eventType": "log", "name": "", "timestamp": 1_700_000_000_000_000_123u64, "observedTimestamp": 7,
                        "tags": {"t": "v"}, "offset": 42, "level": "", "traceID": "", "spanID": "",
                        "content": "hello \"world\"\n", "level": "info"})
            ]
        );
    }

    #[test]
    fn every_v2_event_kind_is_valid_json() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(
            dir.path(),
            StdoutConfig {
                tags: true,
                ..Default::default()
            },
        );
        let mut metric = MetricEvent::single("cpu", MetricType::Gauge, 0.5, 10);
        metric.tags.insert("core", "0");
        metric.typed_values.push(("up".into(), TypedValue::Bool(true)));
        let hist = MetricEvent {
            name: "lat".into(),
            metric_type: MetricType::Histogram,
            value: MetricValue::Multi(vec![("le_1".into(), 3.0), ("nan".into(), f64::NAN)]),
            ..Default::default()
        };
        let mut span = SpanEvent {
            trace_id: "t1".into(),
            span_id: "s1".into(),
            parent_span_id: "p1".into(),
            name: "GET /".into(),
            kind: SpanKind::Server,
            status: StatusCode::Error,
            start_time: 1,
            end_time: 5,
            ..Default::default()
        };
        span.tags.insert("http.status", "500");
        span.links.push(SpanLink {
            trace_id: "t2".into(),
            span_id: "s2".into(),
            ..Default::default()
        });
        span.events.push(SpanInnerEvent {
            timestamp: 3,
            name: "retry".into(),
            ..Default::default()
        });
        let bytes = ByteArrayEvent {
            data: "raw \u{1} bytes".into(),
            timestamp: 9,
            observed_timestamp: 9,
        };
        let events = vec![metric.into(), hist.into(), span.into(), bytes.into()];
        f.export(&[group(events)], &mut PipelineContext::noop()).unwrap();
        f.stop().unwrap();
        let out = lines(&path);
        assert_eq!(
            out[0],
            json!({"group": {"events": 4, "metadata": {"__path__": "/var/log/a.log"}, "tags": {"host": "h1"}}})
        );
        assert_eq!(out[1]["eventType"], "metric");
        assert_eq!(out[1]["metricType"], "gauge");
        assert_eq!(out[1]["value"], 0.5);
        assert_eq!(out[1]["tags"], json!({"core": "0"}));
        assert_eq!(out[1]["typedValues"], json!({"up": true}));
        assert_eq!(out[2]["values"], json!({"le_1": 3.0, "nan": "NaN"}));
        assert_eq!(out[3]["eventType"], "span");
        assert_eq!(out[3]["kind"], "server");
        assert_eq!(out[3]["status"], "Error");
        assert_eq!(out[3]["parentSpanID"], "p1");
        assert_eq!(out[3]["links"][0]["spanID"], "s2");
        assert_eq!(out[3]["events"][0]["name"], "retry");
        assert_eq!(out[3]["tags"]["http.status"], "500");
        assert_eq!(
            out[4],
            json!({"eventType": "byteArray", "name": "", "timestamp": 9, "observedTimestamp": 9,
                                  "tags": {}, "byteArray": "raw \u{1} bytes"})
        );
    }

    #[test]
    fn v1_key_value_pairs_and_whole_logs() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogEvent::with_body("x", 1_700_000_000_000_000_005);
        log.tags.insert("__path__", "/a");
        let v1 = convert::events_to_log_groups(&[group(vec![log.into()])]);

        let (mut f, path) = file_flusher(
            dir.path(),
            StdoutConfig {
                tags: true,
                ..Default::default()
            },
        );
        f.flush("p", "l", "c", &v1).unwrap();
        f.stop().unwrap();
        let out = lines(&path);
        assert_eq!(
            out[0],
            json!({"logGroup": {"topic": "", "logstore": "", "logCount": 1, "tags": {"host": "h1"}}})
        );
        assert_eq!(
            out[1],
            json!({"content": "x", "__tag__:__path__": "/a", "__time__": "1700000000"})
        );

        let dir = tempfile::tempdir().unwrap();
        let (mut f, path) = file_flusher(
            dir.path(),
            StdoutConfig {
                key_value_pairs: false,
                ..Default::default()
            },
        );
        f.flush("p", "l", "c", &v1).unwrap();
        f.stop().unwrap();
        assert_eq!(
            lines(&path),
            vec![
                json!({"Time": 1_700_000_000u32, "Contents": [{"Key": "content", "Value": "x"},
                        {"Key": "__tag__:__path__", "Value": "/a"}], "Time_ns": 5})
            ]
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
        f.export(&[group(events)], &mut PipelineContext::noop()).unwrap();
        f.stop().unwrap();
        let rolled = |n: u32| std::path::PathBuf::from(format!("{}.{n}", path.display()));
        assert!(rolled(1).exists() && rolled(2).exists());
        assert!(!rolled(3).exists(), "MaxRolls 2 keeps two rolled files");
        for p in [path.clone(), rolled(1), rolled(2)] {
            let size = std::fs::metadata(&p).unwrap().len();
            assert!(size <= 300, "{} is {size} bytes", p.display());
        }
        // The newest lines are in the current file, the ones before in .1: nothing out of order.
        let last = lines(&path);
        assert_eq!(last.last().unwrap()["content"], "line 039");
        let prev = lines(&rolled(1));
        let first_current: u32 = last[0]["content"].as_str().unwrap()[5..].parse().unwrap();
        let last_prev: u32 = prev.last().unwrap()["content"].as_str().unwrap()[5..].parse().unwrap();
        assert_eq!(last_prev + 1, first_current);
    }

    #[test]
    fn defaults_match_loongcollector() {
        let c = StdoutConfig::default();
        assert!(!c.only_stdout && c.key_value_pairs && !c.tags);
        assert_eq!((c.max_size, c.max_rolls), (1024 * 1024, 1));
        let mut f = StdoutFlusher::new(c);
        f.init(&loong_testkit::mock_context("flusher_stdout")).unwrap();
        assert!(f.is_ready("", "", 0));
        f.set_urgent(true);
        assert!(f.is_ready("", "", 0));
        f.stop().unwrap();
    }
}

#[cfg(test)]
mod conformance {
    use std::path::PathBuf;

    use serde_json::Value;

    /// Bodies in the file: V2 lines carry `content` at the top level, V1 lines too.
    fn bodies(path: &PathBuf) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("content").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }

    #[test]
    fn conformance_with_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conformance.log");
        let file = path.display().to_string();
        loong_testkit::Conformance::from_registry(crate::register, crate::NAME, serde_json::json!({"FileName": file}))
            .read_back(move || bodies(&path))
            .run();
    }
}
