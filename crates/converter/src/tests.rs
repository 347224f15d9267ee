use bytes::Bytes;
use loong_model::{
    ByteArrayEvent, GroupInfo, KeyValues, LogEvent, LogTag, MetricEvent, MetricType, MetricValue, TypedValue,
    v1::{Content, Log},
};

use super::*;

fn config(protocol: &str, encoding: &str) -> ConvertConfig {
    ConvertConfig {
        protocol: protocol.into(),
        encoding: encoding.into(),
        ..Default::default()
    }
}

fn conv(protocol: &str, encoding: &str) -> Converter {
    Converter::new(&config(protocol, encoding)).unwrap()
}

fn content(k: &str, v: &str) -> Content {
    Content {
        key: k.into(),
        value: v.into(),
    }
}

fn v1_group() -> LogGroup {
    LogGroup {
        logs: vec![
            Log {
                time: 1_700_000_000,
                time_ns: Some(5),
                contents: vec![
                    content("content", "hello \"world\"\n"),
                    content("db", "orders"),
                    content("__tag__:__path__", "/var/log/a.log"),
                    content("__tag__:__user_defined_id__", "dropped"),
                    content("__log_topic__", "legacy"),
                ],
                values: vec![],
            },
            Log {
                time: 1_700_000_001,
                time_ns: None,
                contents: vec![content("content", "second"), content("db", "users")],
                values: vec![],
            },
        ],
        category: None,
        topic: Some("t1".into()),
        source: Some("10.0.0.1".into()),
        machine_uuid: None,
        log_tags: vec![
            LogTag {
                key: "__hostname__".into(),
                value: "h1".into(),
            },
            LogTag {
                key: "__pack_id__".into(),
                value: "ignored".into(),
            },
            LogTag {
                key: "env".into(),
                value: "prod".into(),
            },
        ],
    }
}

fn body(p: &Payload) -> &str {
    std::str::from_utf8(&p.body).unwrap()
}

fn kv(pairs: &[(&str, &str)]) -> KeyValues {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Bytes::from(v.to_string())))
        .collect()
}

fn v2_group(events: Vec<PipelineEvent>) -> PipelineGroupEvents {
    PipelineGroupEvents::new(
        GroupInfo {
            metadata: kv(&[("__topic__", "t1"), ("region", "eu")]),
            tags: kv(&[("__hostname__", "h1"), ("env", "prod")]),
        },
        events,
    )
}

fn v2_log(pairs: &[(&str, &str)], tags: &[(&str, &str)], ts: u64) -> PipelineEvent {
    PipelineEvent::Log(LogEvent {
        contents: kv(pairs),
        tags: kv(tags),
        timestamp: ts,
        ..Default::default()
    })
}

#[test]
fn defaults_are_loongcollectors() {
    let c = ConvertConfig::default();
    assert_eq!(c.protocol, "custom_single");
    assert_eq!(c.encoding, "json");
    assert!(c.ignore_unexpected_data);
    let json = serde_json::to_value(&c).unwrap();
    for key in [
        "Protocol",
        "Encoding",
        "Separator",
        "IgnoreUnExpectedData",
        "TagFieldsRename",
        "ProtocolFieldsRename",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let back: ConvertConfig = serde_json::from_value(serde_json::json!({"Protocol": "jsonline"})).unwrap();
    assert_eq!(back.encoding, "json");
}

#[test]
fn unknown_protocol_or_encoding_names_the_valid_ones() {
    let e = Converter::new(&config("protobuf_single", "json"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("protobuf_single") && e.contains("custom_single_flatten") && e.contains("raw"),
        "{e}"
    );
    let e = Converter::new(&config("otlp_v1", "none")).unwrap_err().to_string();
    assert!(e.contains("not implemented"), "{e}");
    let e = Converter::new(&config("influxdb", "json")).unwrap_err().to_string();
    assert!(
        e.contains("\"json\"") && e.contains("influxdb") && e.contains("custom"),
        "{e}"
    );
    let e = Converter::new(&config("custom_single", "protobuf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("protobuf") && e.contains("json"), "{e}");
}

#[test]
fn content_types() {
    assert_eq!(conv("custom_single", "json").content_type(), "application/json");
    assert_eq!(conv("jsonline", "json").content_type(), "application/json");
    assert_eq!(conv("influxdb", "custom").content_type(), "application/octet-stream");
    assert_eq!(conv("raw", "custom").content_type(), "application/octet-stream");
}

#[test]
fn custom_single_v1_one_sorted_object_per_log() {
    let payloads = conv("custom_single", "json").convert_v1(&v1_group(), &[]).unwrap();
    assert_eq!(payloads.len(), 2);
    assert_eq!(
        body(&payloads[0]),
        concat!(
            r#"{"contents":{"content":"hello \"world\"\n","db":"orders"},"#,
            r#""tags":{"env":"prod","host.ip":"10.0.0.1","host.name":"h1","log.file.path":"/var/log/a.log","log.topic":"t1"},"#,
            r#""time":1700000000}"#
        )
    );
    assert_eq!(
        body(&payloads[1]),
        r#"{"contents":{"content":"second","db":"users"},"tags":{"env":"prod","host.ip":"10.0.0.1","host.name":"h1","log.topic":"t1"},"time":1700000001}"#
    );
    assert!(payloads.iter().all(|p| p.events == 1 && p.vars.is_empty()));
}

#[test]
fn custom_single_v1_without_topic_or_source() {
    let mut g = v1_group();
    g.topic = None;
    g.source = None;
    g.log_tags.clear();
    g.logs.truncate(1);
    g.logs[0].contents.retain(|c| c.key == "db");
    let p = conv("custom_single", "json").convert_v1(&g, &[]).unwrap();
    // host.ip is always present (LoongCollector sets it from Source even when empty).
    assert_eq!(
        body(&p[0]),
        r#"{"contents":{"db":"orders"},"tags":{"host.ip":""},"time":1700000000}"#
    );
}

#[test]
fn renames_tags_and_protocol_fields() {
    let mut cfg = config("custom_single", "json");
    cfg.tag_fields_rename.insert("host.name".into(), "hostname".into());
    cfg.tag_fields_rename.insert("env".into(), "".into());
    cfg.protocol_fields_rename.insert("contents".into(), "fields".into());
    cfg.protocol_fields_rename.insert("time".into(), "@timestamp".into());
    let c = Converter::new(&cfg).unwrap();
    let mut g = v1_group();
    g.logs.truncate(1);
    let selected = [VarKey::Tag("host.name".into()), VarKey::Tag("hostname".into())];
    let p = c.convert_v1(&g, &selected).unwrap();
    assert_eq!(
        body(&p[0]),
        concat!(
            r#"{"@timestamp":1700000000,"fields":{"content":"hello \"world\"\n","db":"orders"},"#,
            r#""tags":{"host.ip":"10.0.0.1","hostname":"h1","log.file.path":"/var/log/a.log","log.topic":"t1"}}"#
        )
    );
    // Asking by the pre-rename name still finds the value, as LoongCollector's findTargetValues does.
    assert_eq!(p[0].vars[&VarKey::Tag("host.name".into())], "h1");
    assert_eq!(p[0].vars[&VarKey::Tag("hostname".into())], "h1");
}

#[test]
fn custom_single_flatten_v1_merges_with_tags_and_time_winning() {
    let mut g = v1_group();
    g.logs.truncate(1);
    g.logs[0].contents.push(content("env", "from-content"));
    g.logs[0].contents.push(content("time", "shadowed"));
    let p = conv("custom_single_flatten", "json").convert_v1(&g, &[]).unwrap();
    assert_eq!(
        body(&p[0]),
        concat!(
            r#"{"content":"hello \"world\"\n","db":"orders","env":"prod","host.ip":"10.0.0.1","host.name":"h1","#,
            r#""log.file.path":"/var/log/a.log","log.topic":"t1","time":1700000000}"#
        )
    );
}

#[test]
fn jsonline_v1_one_body_per_group() {
    let selected = [VarKey::Tag("env".into()), VarKey::Metadata("__topic__".into())];
    let p = conv("jsonline", "json").convert_v1(&v1_group(), &selected).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].events, 2);
    let lines: Vec<&str> = body(&p[0]).split('\n').collect();
    assert_eq!(lines.len(), 2, "joined without a trailing newline");
    let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(
        second,
        serde_json::json!({"content":"second","db":"users","env":"prod","host.ip":"10.0.0.1",
                           "host.name":"h1","log.topic":"t1","time":1700000001})
    );
    assert_eq!(p[0].vars[&selected[0]], "prod");
    assert_eq!(p[0].vars[&selected[1]], "t1");
}

#[test]
fn per_log_variables_come_from_each_log() {
    let selected = [
        VarKey::Content("db".into()),
        VarKey::Tag("log.file.path".into()),
        VarKey::Metadata("__source__".into()),
        VarKey::Content("missing".into()),
    ];
    let p = conv("custom_single", "json")
        .convert_v1(&v1_group(), &selected)
        .unwrap();
    assert_eq!(p[0].vars[&selected[0]], "orders");
    assert_eq!(p[1].vars[&selected[0]], "users");
    assert_eq!(p[0].vars[&selected[1]], "/var/log/a.log");
    assert!(!p[1].vars.contains_key(&selected[1]));
    assert_eq!(p[0].vars[&selected[2]], "10.0.0.1");
    assert!(!p[0].vars.contains_key(&selected[3]));

    let t = Template::parse("/%{content.db}/%{content.missing}").unwrap();
    let rendered: Vec<String> = p
        .iter()
        .map(|p| t.render(|k| p.vars.get(k).map(String::as_str)))
        .collect();
    assert_eq!(rendered, ["/orders/content.missing", "/users/content.missing"]);
}

#[test]
fn custom_single_v2_logs_and_other_events() {
    let mut metric = MetricEvent::single("cpu", MetricType::Gauge, 0.5, 2_000_000_000);
    metric.tags.insert("core", "0");
    let group = v2_group(vec![
        v2_log(
            &[("msg", "é \u{1} tab\t"), ("db", "orders")],
            &[("__path__", "/a.log")],
            1_700_000_000_123_456_789,
        ),
        PipelineEvent::Metric(metric),
        PipelineEvent::ByteArray(ByteArrayEvent {
            data: Bytes::from_static(b"raw\xffbytes"),
            timestamp: 3_000_000_000,
            observed_timestamp: 0,
        }),
    ]);
    let selected = [VarKey::Content("db".into()), VarKey::Metadata("region".into())];
    let (p, skipped) = conv("custom_single", "json")
        .convert_v2_counted(&group, &selected)
        .unwrap();
    assert_eq!(skipped, 0);
    assert_eq!(p.len(), 3);
    assert_eq!(
        body(&p[0]),
        r#"{"contents":{"db":"orders","msg":"é \u0001 tab\t"},"tags":{"env":"prod","host.name":"h1","log.file.path":"/a.log"},"time":1700000000}"#
    );
    assert_eq!(p[0].vars[&selected[0]], "orders");
    assert_eq!(p[0].vars[&selected[1]], "eu");
    assert_eq!(
        body(&p[1]),
        concat!(
            r#"{"contents":{"__labels__":"core#$#0","__name__":"cpu","__time_nano__":"2000000000","__value__":"0.5"},"#,
            r#""tags":{"core":"0","env":"prod","host.name":"h1"},"time":2}"#
        )
    );
    assert_eq!(
        body(&p[2]),
        r#"{"contents":{"content":"raw\ufffdbytes"},"tags":{"env":"prod","host.name":"h1"},"time":3}"#
    );
}

#[test]
fn flatten_and_jsonline_v2() {
    let group = v2_group(vec![
        v2_log(&[("a", "1")], &[], 1_000_000_000),
        v2_log(&[("b", "line\nbreak")], &[("env", "event-level")], 2_000_000_000),
    ]);
    let p = conv("custom_single_flatten", "json").convert_v2(&group, &[]).unwrap();
    assert_eq!(body(&p[0]), r#"{"a":"1","env":"prod","host.name":"h1","time":1}"#);
    // Group tags are applied after the event's, so they win a shared key.
    assert_eq!(
        body(&p[1]),
        r#"{"b":"line\nbreak","env":"prod","host.name":"h1","time":2}"#
    );

    let selected = [VarKey::Tag("env".into()), VarKey::Content("a".into())];
    let p = conv("jsonline", "json").convert_v2(&group, &selected).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        body(&p[0]),
        "{\"a\":\"1\",\"env\":\"prod\",\"host.name\":\"h1\",\"time\":1}\n{\"b\":\"line\\nbreak\",\"env\":\"prod\",\"host.name\":\"h1\",\"time\":2}"
    );
    assert_eq!(p[0].vars[&selected[0]], "prod");
    assert_eq!(p[0].vars[&selected[1]], "", "group-level payloads carry every key");
    assert!(
        conv("jsonline", "json")
            .convert_v2(&v2_group(vec![]), &[])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn influxdb_v2_metrics() {
    let mut m = MetricEvent::single("cpu usage", MetricType::Gauge, 0.5, 1_700_000_000_000_000_001);
    m.tags.insert("z", "last");
    m.tags.insert("host", "a b,c=d");
    m.tags.insert("empty", "");
    let mut multi = MetricEvent {
        name: "http".into(),
        value: MetricValue::Multi(vec![("count".into(), 3.0), ("sum".into(), 1234567.0)]),
        timestamp: 5,
        ..Default::default()
    };
    multi.typed_values = vec![
        ("path".into(), TypedValue::Str("say \"hi\"\n".into())),
        ("ok".into(), TypedValue::Bool(true)),
        ("code".into(), TypedValue::Int(200)),
    ];
    let group = v2_group(vec![PipelineEvent::Metric(m), PipelineEvent::Metric(multi)]);
    let selected = [VarKey::Tag("env".into()), VarKey::Metadata("nope".into())];
    let p = conv("influxdb", "custom").convert_v2(&group, &selected).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        body(&p[0]),
        concat!(
            "cpu\\ usage,host=a\\ b\\,c\\=d,z=last value=0.5 1700000000000000001\n",
            "http count=3,sum=1.234567e+06,path=\"say \\\"hi\\\"\\n\",ok=true,code=200i 5\n"
        )
    );
    assert_eq!(p[0].events, 2);
    assert_eq!(p[0].vars[&selected[0]], "prod");
    assert_eq!(p[0].vars[&selected[1]], "");
}

#[test]
fn influxdb_ignore_unexpected_data_both_ways() {
    let group = v2_group(vec![
        v2_log(&[("a", "1")], &[], 1),
        PipelineEvent::Metric(MetricEvent::single("up", MetricType::Gauge, 1.0, 7)),
        PipelineEvent::Metric(MetricEvent::single("nan", MetricType::Gauge, f64::NAN, 7)),
    ]);
    let (p, skipped) = conv("influxdb", "custom").convert_v2_counted(&group, &[]).unwrap();
    assert_eq!(body(&p[0]), "up value=1 7\n");
    assert_eq!((p[0].events, skipped), (1, 2));

    let mut cfg = config("influxdb", "custom");
    cfg.ignore_unexpected_data = false;
    let err = Converter::new(&cfg).unwrap().convert_v2(&group, &[]).unwrap_err();
    assert!(err.to_string().contains("log events"), "{err}");

    let only_logs = v2_group(vec![v2_log(&[("a", "1")], &[], 1)]);
    assert!(
        conv("influxdb", "custom")
            .convert_v2(&only_logs, &[])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn influxdb_v1_metric_logs() {
    let metric = |contents: Vec<Content>| Log {
        time: 0,
        time_ns: None,
        contents,
        values: vec![],
    };
    let group = LogGroup {
        logs: vec![
            metric(vec![
                content("__name__", "cpu"),
                content("__labels__", "z#$#1|a#$#x|y"),
                content("__time_nano__", "1700000000000000000"),
                content("__value__", "0.25"),
            ]),
            metric(vec![
                content("__name__", "disk:used"),
                content("__field__", "used"),
                content("__type__", "int"),
                content("__value__", "42"),
            ]),
            metric(vec![
                content("__name__", "state"),
                content("__type__", "string"),
                content("__value__", "ok go"),
            ]),
            metric(vec![content("content", "not a metric")]),
        ],
        log_tags: vec![LogTag {
            key: "__tag__:db".into(),
            value: "m".into(),
        }],
        ..Default::default()
    };
    let selected = [VarKey::Tag("db".into())];
    let (p, skipped) = conv("influxdb", "custom")
        .convert_v1_counted(&group, &selected)
        .unwrap();
    assert_eq!(
        body(&p[0]),
        "cpu,a=x|y,z=1 value=0.25 1700000000000000000\ndisk used=42i\nstate value=\"ok go\"\n"
    );
    assert_eq!((p[0].events, skipped), (3, 1));
    assert_eq!(p[0].vars[&selected[0]], "m");

    let mut cfg = config("influxdb", "custom");
    cfg.ignore_unexpected_data = false;
    let err = Converter::new(&cfg).unwrap().convert_v1(&group, &[]).unwrap_err();
    assert!(err.to_string().contains("__name__"), "{err}");
}

#[test]
fn raw_v2_per_event_or_joined() {
    let bytes = |s: &'static [u8]| {
        PipelineEvent::ByteArray(ByteArrayEvent {
            data: Bytes::from_static(s),
            ..Default::default()
        })
    };
    let group = v2_group(vec![bytes(b"one"), v2_log(&[("a", "1")], &[], 1), bytes(b"two\xff")]);
    let selected = [VarKey::Metadata("region".into())];
    let (p, skipped) = conv("raw", "custom").convert_v2_counted(&group, &selected).unwrap();
    assert_eq!(skipped, 1);
    let bodies: Vec<&[u8]> = p.iter().map(|p| p.body.as_ref()).collect();
    assert_eq!(bodies, [&b"one"[..], &b"two\xff"[..]], "bytes pass through untouched");
    assert!(p.iter().all(|p| p.vars[&selected[0]] == "eu" && p.events == 1));

    let mut cfg = config("raw", "custom");
    cfg.separator = "\r\n".into();
    let p = Converter::new(&cfg).unwrap().convert_v2(&group, &[]).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].body.as_ref(), b"one\r\ntwo\xff");
    assert_eq!(p[0].events, 2);

    cfg.ignore_unexpected_data = false;
    assert!(Converter::new(&cfg).unwrap().convert_v2(&group, &[]).is_err());
    assert!(Converter::new(&cfg).unwrap().convert_v1(&v1_group(), &[]).is_err());
    let (p, skipped) = conv("raw", "custom").convert_v1_counted(&v1_group(), &[]).unwrap();
    assert!(p.is_empty());
    assert_eq!(skipped, 2);
}

#[test]
fn non_utf8_and_unicode_are_escaped_like_go() {
    let mut group = v2_group(vec![v2_log(&[], &[], 0)]);
    if let PipelineEvent::Log(l) = &mut group.events[0] {
        l.contents.clear();
        l.contents
            .push(Bytes::from_static(b"k\xffey"), Bytes::from("v\u{2028}😀"));
        l.contents.push("q", "\"\\");
    }
    let p = conv("custom_single_flatten", "json").convert_v2(&group, &[]).unwrap();
    assert_eq!(
        body(&p[0]),
        r#"{"env":"prod","host.name":"h1","k\ufffdey":"v\u2028😀","q":"\"\\","time":0}"#
    );
    let parsed: serde_json::Value = serde_json::from_slice(&p[0].body).unwrap();
    assert_eq!(parsed["k\u{fffd}ey"], "v\u{2028}😀");
}

#[test]
fn template_parsing_and_rendering() {
    let t = Template::parse("db-%{content.db}_%{tag.host.name}:%{metadata.m}%").unwrap();
    let keys: Vec<&VarKey> = t.keys().collect();
    assert_eq!(
        keys,
        [
            &VarKey::Content("db".into()),
            &VarKey::Tag("host.name".into()),
            &VarKey::Metadata("m".into())
        ]
    );
    let mut vars = HashMap::new();
    vars.insert(VarKey::Content("db".into()), "orders".to_string());
    vars.insert(VarKey::Tag("host.name".into()), "h1".to_string());
    assert_eq!(
        t.render(|k| vars.get(k).map(String::as_str)),
        "db-orders_h1:metadata.m%"
    );
    assert!(!t.is_constant());

    let escaped = Template::parse(r"\%{content.x} 100% %{content.y:default}").unwrap();
    assert_eq!(escaped.keys().count(), 1);
    assert_eq!(escaped.render(|_| Some("Y")), "%{content.x} 100% Y");
    assert!(Template::parse("plain").unwrap().is_constant());

    for bad in ["%{host}", "%{content.x", "%{}", "%{content.%{tag.y}}", "%{content.}"] {
        let e = Template::parse(bad).unwrap_err();
        assert!(e.to_string().contains(bad), "{bad}: {e}");
    }
    assert_eq!(VarKey::parse("tag.a.b"), Some(VarKey::Tag("a.b".into())));
    assert_eq!(VarKey::parse("field.a"), None);
    assert_eq!(VarKey::Metadata("m".into()).to_string(), "metadata.m");
}
