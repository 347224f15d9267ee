use loong_api::Extension;
use loong_api::model::{MetricEvent, MetricType, PipelineGroupEvents};
use loong_converter::prometheus::WriteRequest;
use prost::Message;

use super::*;

fn encoder(options: serde_json::Value) -> Result<DefaultEncoder> {
    let config: DefaultEncoderConfig = serde_json::from_value(options).unwrap();
    let mut e = DefaultEncoder::new(config);
    e.init(&loong_testkit::mock_context(NAME))?;
    Ok(e)
}

fn metrics(n: usize) -> PipelineGroupEvents {
    let events = (0..n)
        .map(|i| {
            MetricEvent::single(
                format!("m{i}"),
                MetricType::Gauge,
                i as f64,
                1_000_000_000 * (i as u64 + 1),
            )
            .into()
        })
        .collect();
    PipelineGroupEvents::new(Default::default(), events)
}

#[test]
fn prometheus_splits_by_series_limit() {
    let e = encoder(serde_json::json!({"Format": "prometheus", "SeriesLimit": 4})).unwrap();
    assert_eq!(e.content_type(), "application/x-protobuf");
    let bodies = e.encode_v2(&metrics(10)).unwrap();
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|b| WriteRequest::decode(b.clone()).unwrap().timeseries.len())
        .collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    let first = WriteRequest::decode(bodies[0].clone()).unwrap();
    assert_eq!(first.timeseries[1].labels[0].value, "m1");
    assert_eq!(first.timeseries[1].samples[0].timestamp, 2000);
}

#[test]
fn converter_protocols_are_formats_too() {
    let e = encoder(serde_json::json!({"Format": "jsonline"})).unwrap();
    assert_eq!(e.content_type(), "application/json");
    let bodies = e.encode_v2(&loong_testkit::log_events_with_prefix("x", 2)).unwrap();
    assert_eq!(bodies.len(), 1, "jsonline: one body per group");
    assert_eq!(String::from_utf8_lossy(&bodies[0]).lines().count(), 2);
    let influx = encoder(serde_json::json!({"Format": "influxdb"})).unwrap();
    let body = influx.encode_v2(&metrics(2)).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body[0]),
        "m0 value=0 1000000000\nm1 value=1 2000000000\n"
    );
}

#[test]
fn a_bad_format_is_an_init_error() {
    let err = encoder(serde_json::json!({})).err().unwrap().to_string();
    assert!(err.contains("Format is empty"), "{err}");
    let err = format!(
        "{:#}",
        encoder(serde_json::json!({"Format": "protobuf3"})).err().unwrap()
    );
    assert!(err.contains("protobuf3"), "{err}");
}
