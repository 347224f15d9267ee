//! Wire compatibility of the V1 `sls_logs` types with an independent protobuf implementation: PyPI's
//! `protobuf`, given the schema as a descriptor built by hand (no protoc, no generated code).
//!
//! Python encodes → prost decodes, and prost encodes → Python decodes, over groups that exercise
//! every field: unicode, empty values, `Time_ns` set (also to 0) and unset, optional strings set to
//! "" and unset, `LogTags`, legacy `Values`. Needs `python3` with `protobuf` (`bash
//! scripts/install-test-deps.sh`); without them the tests are skipped, except under CI=true where
//! they fail.

use std::io::Write;
use std::process::{Command, Stdio};

use loong_model::v1::{Content, Log, LogGroup, LogGroupList, LogTag};
use prost::Message;
use serde_json::{Map, Value, json};

/// The schema as the Python side builds it: (message, label, type, name, number, message type).
/// Checked against crates/model/proto/sls_logs.proto line by line, so a change there must be
/// repeated here on purpose.
const FIELDS: &[(&str, &str, &str, &str, u32, &str)] = &[
    ("Log", "required", "uint32", "Time", 1, ""),
    ("Log", "repeated", "Content", "Contents", 2, ".sls_logs.Log.Content"),
    ("Log", "repeated", "string", "Values", 3, ""),
    ("Log", "optional", "fixed32", "Time_ns", 4, ""),
    ("Log.Content", "required", "string", "Key", 1, ""),
    ("Log.Content", "required", "string", "Value", 2, ""),
    ("LogTag", "required", "string", "Key", 1, ""),
    ("LogTag", "required", "string", "Value", 2, ""),
    ("LogGroup", "repeated", "Log", "Logs", 1, ".sls_logs.Log"),
    ("LogGroup", "optional", "string", "Category", 2, ""),
    ("LogGroup", "optional", "string", "Topic", 3, ""),
    ("LogGroup", "optional", "string", "Source", 4, ""),
    ("LogGroup", "optional", "string", "MachineUUID", 5, ""),
    ("LogGroup", "repeated", "LogTag", "LogTags", 6, ".sls_logs.LogTag"),
    (
        "LogGroupList",
        "repeated",
        "LogGroup",
        "logGroupList",
        1,
        ".sls_logs.LogGroup",
    ),
];

/// Builds the message classes from `FIELDS` (argv[2], JSON), then either encodes the JSON on stdin
/// to hex (`encode`) or decodes hex on stdin to JSON (`decode`).
const SCRIPT: &str = r#"
import json, sys
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

F = descriptor_pb2.FieldDescriptorProto
LABELS = {"required": F.LABEL_REQUIRED, "optional": F.LABEL_OPTIONAL, "repeated": F.LABEL_REPEATED}
SCALARS = {"uint32": F.TYPE_UINT32, "fixed32": F.TYPE_FIXED32, "string": F.TYPE_STRING}

mode, fields = sys.argv[1], json.loads(sys.argv[2])
file = descriptor_pb2.FileDescriptorProto(name="sls_logs.proto", package="sls_logs", syntax="proto2")
messages = {}
for message, label, type_, name, number, type_name in fields:
    if message not in messages:
        parent, _, short = message.rpartition(".")
        container = messages[parent].nested_type if parent else file.message_type
        messages[message] = container.add(name=short)
    field = messages[message].field.add(name=name, number=number, label=LABELS[label])
    if type_name:
        field.type = F.TYPE_MESSAGE
        field.type_name = type_name
    else:
        field.type = SCALARS[type_]

pool = descriptor_pool.DescriptorPool()
pool.Add(file)
descriptor = pool.FindMessageTypeByName("sls_logs.LogGroupList")
if hasattr(message_factory, "GetMessageClass"):
    LogGroupList = message_factory.GetMessageClass(descriptor)
else:
    LogGroupList = message_factory.MessageFactory(pool).GetPrototype(descriptor)

if mode == "encode":
    message = json_format.ParseDict(json.load(sys.stdin), LogGroupList())
    sys.stdout.write(message.SerializeToString().hex())
else:
    message = LogGroupList()
    message.ParseFromString(bytes.fromhex(sys.stdin.read()))
    json.dump(json_format.MessageToDict(message, preserving_proto_field_name=True), sys.stdout)
"#;

fn content(key: &str, value: &str) -> Content {
    Content {
        key: key.into(),
        value: value.into(),
    }
}

fn fixture() -> LogGroupList {
    LogGroupList {
        log_group_list: vec![
            LogGroup {
                logs: vec![
                    Log {
                        time: 1_700_000_000,
                        contents: vec![
                            content("content", "hello 世界 🌏 \"quoted\" \\ tab\t"),
                            content("empty", ""),
                            content("", "empty key"),
                        ],
                        values: vec![],
                        time_ns: Some(123_456_789),
                    },
                    Log {
                        time: 0,
                        contents: vec![],
                        values: vec![],
                        time_ns: None,
                    },
                ],
                category: Some("category".into()),
                topic: Some("topic-α".into()),
                source: Some("10.0.0.1".into()),
                machine_uuid: Some("4a9c5b1e-uuid".into()),
                log_tags: vec![
                    LogTag {
                        key: "__path__".into(),
                        value: "/var/log/app.log".into(),
                    },
                    LogTag {
                        key: "empty".into(),
                        value: "".into(),
                    },
                ],
            },
            LogGroup {
                logs: vec![Log {
                    time: u32::MAX,
                    contents: vec![content("k", "v")],
                    values: vec!["legacy".into(), "".into()],
                    time_ns: Some(0),
                }],
                ..Default::default()
            },
            LogGroup {
                topic: Some(String::new()),
                ..Default::default()
            },
        ],
    }
}

/// `list` as protobuf's JSON mapping with proto field names: unset optionals and empty repeated
/// fields are left out, as Python's `MessageToDict` does.
fn to_json(list: &LogGroupList) -> Value {
    fn put(map: &mut Map<String, Value>, key: &str, value: Value) {
        let empty = matches!(&value, Value::Array(a) if a.is_empty()) || value.is_null();
        if !empty {
            map.insert(key.into(), value);
        }
    }
    let kv = |k: &str, v: &str| json!({"Key": k, "Value": v});
    let groups = list
        .log_group_list
        .iter()
        .map(|g| {
            let mut group = Map::new();
            let logs = g
                .logs
                .iter()
                .map(|l| {
                    let mut log = Map::new();
                    put(&mut log, "Time", json!(l.time));
                    put(
                        &mut log,
                        "Contents",
                        l.contents.iter().map(|c| kv(&c.key, &c.value)).collect(),
                    );
                    put(&mut log, "Values", json!(l.values));
                    put(&mut log, "Time_ns", json!(l.time_ns));
                    Value::Object(log)
                })
                .collect();
            put(&mut group, "Logs", logs);
            put(&mut group, "Category", json!(g.category));
            put(&mut group, "Topic", json!(g.topic));
            put(&mut group, "Source", json!(g.source));
            put(&mut group, "MachineUUID", json!(g.machine_uuid));
            put(
                &mut group,
                "LogTags",
                g.log_tags.iter().map(|t| kv(&t.key, &t.value)).collect(),
            );
            Value::Object(group)
        })
        .collect();
    let mut out = Map::new();
    put(&mut out, "logGroupList", groups);
    Value::Object(out)
}

/// Whether python3 with `protobuf` is there; under CI=true its absence is a failure.
fn python_ready() -> bool {
    let probe = Command::new("python3").args(["-c", "import google.protobuf"]).output();
    let missing = match probe {
        Ok(out) if out.status.success() => return true,
        Ok(out) => format!(
            "python3 cannot import google.protobuf: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("python3 is not runnable: {e}"),
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{missing}; run `bash scripts/install-test-deps.sh`");
    }
    eprintln!("notice: python interop test skipped: {missing} (run `bash scripts/install-test-deps.sh`)");
    false
}

fn python(mode: &str, input: &[u8]) -> String {
    let fields = serde_json::to_string(&FIELDS).unwrap();
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, mode, &fields])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python {mode} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python prints UTF-8")
}

fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn the_python_schema_is_the_proto_file() {
    let proto = include_str!("../proto/sls_logs.proto");
    let declared: Vec<String> = proto
        .lines()
        .map(str::trim)
        .filter(|l| ["required ", "optional ", "repeated "].iter().any(|p| l.starts_with(p)))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let expected: Vec<String> = FIELDS
        .iter()
        .map(|(_, label, ty, name, number, _)| format!("{label} {ty} {name} = {number};"))
        .collect();
    let mut declared_sorted = declared.clone();
    let mut expected_sorted = expected.clone();
    declared_sorted.sort();
    expected_sorted.sort();
    assert_eq!(
        declared_sorted, expected_sorted,
        "FIELDS must describe sls_logs.proto exactly"
    );
    assert!(proto.contains("syntax = \"proto2\";") && proto.contains("package sls_logs;"));
}

#[test]
fn prost_decodes_what_python_encodes() {
    if !python_ready() {
        return;
    }
    let expected = fixture();
    let hex = python("encode", to_json(&expected).to_string().as_bytes());
    let bytes = from_hex(hex.trim());
    let decoded = LogGroupList::decode(bytes.as_slice()).expect("prost decodes python's bytes");
    assert_eq!(decoded, expected);
    // Both sides write fields in number order with no unknown fields, so even the bytes agree.
    assert_eq!(bytes, expected.encode_to_vec(), "python and prost encode differently");
}

#[test]
fn python_decodes_what_prost_encodes() {
    if !python_ready() {
        return;
    }
    let list = fixture();
    let hex: String = list.encode_to_vec().iter().map(|b| format!("{b:02x}")).collect();
    let decoded: Value = serde_json::from_str(&python("decode", hex.as_bytes())).expect("python prints JSON");
    assert_eq!(decoded, to_json(&list));
    let third = &decoded["logGroupList"][2];
    assert_eq!(third, &json!({"Topic": ""}), "an optional set to \"\" stays present");
}
