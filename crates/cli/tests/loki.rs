//! flusher_loki end to end: the `loong` binary reads real files and pushes them to the Loki push
//! receiver of the flusher's test suite (`loong_flusher_loki::testing::LokiServer`, which decodes
//! the real snappy protobuf: no Loki installs here); every entry is read back and compared.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{Agent, append_slowly, run_once};

use loong_flusher_loki::testing::LokiServer;
use serde_json::Value;

const LEVELS: [&str; 3] = ["INFO", "WARN", "ERROR"];

/// Lines `<level> <prefix> <n> …` with quotes, tabs and non-ASCII text.
fn lines(prefix: &str, n: usize) -> (Vec<String>, String) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{} {prefix} {i:06} user=\"u{}\" took {}ms\tünïcode ✓ {}",
                LEVELS[i % 3],
                i % 17,
                i % 997,
                "y".repeat(i % 30)
            )
        })
        .collect();
    let text = lines.join("\n") + "\n";
    (lines, text)
}

/// The original line of an `OnlyContents` entry (`level` + `msg` split by the regex).
fn original(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    format!("{} {}", v["level"].as_str().unwrap(), v["msg"].as_str().unwrap())
}

#[test]
fn loong_pushes_every_line_of_a_file_to_loki_as_protobuf_and_json() {
    let (proto, json) = (LokiServer::start(), LokiServer::start());
    // Loki before 2.4: any entry out of order in a stream would be rejected.
    proto.ordered();
    proto.require_tenant();
    json.ordered();
    proto.fail_pushes(&[204, 429, 500]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let (want, text) = lines("app", 20_000);
    std::fs::write(&log, &text).unwrap();
    let flusher = |url: String, format: &str| {
        format!(
            r#"  - Type: flusher_loki
    URL: {url}
    TenantID: team-a
    PushFormat: {format}
    StaticLabels: {{job: loong-e2e}}
    DynamicLabels: [content.level, tag.log.file.path]
    Convert: {{Protocol: custom_single_flatten, OnlyContents: true}}
    MaxMessageBytes: 65536
    MinBackoff: 10ms
    MaxBackoff: 50ms
"#
        )
    };
    let config = dir.path().join("to_loki.yaml");
    std::fs::write(
        &config,
        format!(
            r#"# A file → Loki: the level parsed out of each line becomes a label.
global: {{StructureType: v2}}
inputs:
  - Type: input_file
    FilePaths: ["{}"]
processors:
  - Type: processor_parse_regex_native
    SourceKey: content
    Regex: '^(\w+) (.*)$'
    Keys: [level, msg]
flushers:
{}{}"#,
            log.display(),
            flusher(proto.push_url(), "protobuf"),
            flusher(json.push_url(), "json"),
        ),
    )
    .unwrap();
    run_once(&config, Some(&dir.path().join("data")));

    let path = log.display().to_string();
    for (server, name) in [(&proto, "protobuf"), (&json, "json")] {
        let streams = server.streams();
        assert_eq!(streams.len(), 3, "{name}: one stream per level");
        let mut seen: HashMap<String, usize> = HashMap::new();
        for s in &streams {
            let level = s.labels["level"].clone();
            let labels: BTreeMap<String, String> = [
                ("job", "loong-e2e"),
                ("level", level.as_str()),
                ("log_file_path", path.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            assert_eq!(s.labels, labels, "{name}");
            assert_eq!(s.tenant, "team-a", "{name}");
            let got: Vec<String> = s.entries.iter().map(|(_, l)| original(l)).collect();
            let of_level: Vec<String> = want
                .iter()
                .filter(|l| l.starts_with(&format!("{level} ")))
                .cloned()
                .collect();
            assert_eq!(got, of_level, "{name}: every {level} line, in file order");
            assert!(s.entries.windows(2).all(|w| w[0].0 <= w[1].0), "{name}: times ascend");
            for l in got {
                *seen.entry(l).or_default() += 1;
            }
        }
        assert_eq!(seen.len(), want.len(), "{name}: every line");
        assert!(seen.values().all(|n| *n == 1), "{name}: each once");
        assert_eq!((server.rejected(), server.duplicates()), (0, 0), "{name}");
    }
    assert_eq!(json.content_types()[0], "application/json");
    assert_eq!(proto.content_types()[0], "application/x-protobuf");
    assert_eq!(&proto.answered()[..3], &[204, 429, 500]);
}

fn wait_entries(server: &LokiServer, n: u64, agent: &Agent) {
    assert!(
        server.wait_for_entries(n, Duration::from_secs(120)),
        "{} of {n} entries; stderr:\n{}",
        server.entry_count(),
        agent.stderr()
    );
}

#[test]
fn loki_down_mid_stream_and_back_loses_nothing() {
    let server = LokiServer::start();
    server.ordered();
    let logs = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (first, first_text) = lines("before", 5_000);
    let log = logs.path().join("app.log");
    std::fs::write(&log, &first_text).unwrap();
    std::fs::write(
        conf.path().join("loki.yaml"),
        format!(
            r#"global: {{StructureType: v2, FlushRetry: {{InitialDelay: 100ms, MaxDelay: 1s}}}}
inputs:
  - Type: input_file
    FilePaths: ["{}/*.log"]
flushers:
  - Type: flusher_loki
    URL: {}
    StaticLabels: {{job: outage}}
    Convert: {{Protocol: custom_single_flatten, OnlyContents: true}}
    Timeout: 2s
    MaxRetries: 2
    MinBackoff: 50ms
    MaxBackoff: 100ms
"#,
            logs.path().display(),
            server.push_url()
        ),
    )
    .unwrap();
    let agent = Agent::start(conf.path(), data.path());
    wait_entries(&server, 5_000, &agent);

    // Loki goes away while the file keeps growing, and comes back.
    server.down();
    let (second, second_text) = lines("during", 10_000);
    append_slowly(&log, &second_text);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        server.entry_count(),
        5_000,
        "nothing can arrive while the receiver is down"
    );
    server.up();
    wait_entries(&server, 15_000, &agent);
    let status = agent.terminate();
    assert!(status.success(), "{status:?}");

    let streams = server.streams();
    assert_eq!(streams.len(), 1);
    let got: Vec<String> = streams[0]
        .entries
        .iter()
        .map(|(_, l)| {
            serde_json::from_str::<Value>(l).unwrap()["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let want: Vec<String> = first.into_iter().chain(second).collect();
    assert_eq!(got, want, "every line once, in order");
    assert_eq!((server.rejected(), server.duplicates()), (0, 0));
}
