use std::path::Path;

use loong_flusher_stdout::{NAME, register};
use serde_json::Value;

/// The bodies in the file: V1 and V2 log lines both carry `content` at the top level.
fn bodies(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}")))
        .filter_map(|v| v.get("content").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

#[test]
fn flusher_stdout_with_a_file_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conformance.log");
    let options = serde_json::json!({"FileName": path.display().to_string(), "Tags": true});
    loong_testkit::Conformance::from_registry(register, NAME, options)
        .read_back(move || bodies(&path))
        .run();
}
