//! `OnlyStdout` writes to the process's real standard output, which the test harness does not
//! capture: the test runs itself again as a child process and reads the child's stdout.

use std::process::Command;

use loong_api::{Flusher, PipelineContext};
use loong_flusher_stdout::{NAME, StdoutConfig, StdoutFlusher};
use serde_json::Value;

const CHILD: &str = "LOONG_STDOUT_TEST_CHILD";

fn print_in_child() {
    let mut f = StdoutFlusher::new(StdoutConfig {
        only_stdout: true,
        ..Default::default()
    });
    f.init(&loong_testkit::mock_context(NAME)).unwrap();
    loong_api::FlusherV2::export(&mut f, &loong_testkit::sample_events(), &mut PipelineContext::noop()).unwrap();
    loong_api::FlusherV1::flush(&mut f, "p", "l", "c", &loong_testkit::sample_log_groups()).unwrap();
    f.stop().unwrap();
}

#[test]
fn only_stdout_prints_json_lines_to_standard_output() {
    if std::env::var_os(CHILD).is_some() {
        print_in_child();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "only_stdout_prints_json_lines_to_standard_output",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The harness prints its own text too ("running 1 test", and "test … " right before our first
    // line); ours are the JSON objects.
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| l.find('{').map(|start| &l[start..]))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON {l:?}: {e}")))
        .collect();
    assert_eq!(lines.len(), 5 + 5, "{stdout}");
    let kinds: Vec<&str> = lines[..5].iter().map(|l| l["eventType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["log", "metric", "metric", "span", "byteArray"]);
    assert_eq!(lines[5]["content"], "v1-a-0");
    assert_eq!(lines[5]["__time__"], "1700000000");
    assert_eq!(lines[9]["content"], "v1-b-1");
}
