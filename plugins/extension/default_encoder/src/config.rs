use loong_converter::ConvertConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Encodes the data of a flusher that names it as its `Encoder` (flusher_http's `Encoder` option wins
/// over its `Convert`).
///
/// `Format: prometheus` writes Prometheus remote write requests (`prometheus.WriteRequest`
/// protobuf; send them with `Compression: snappy` to a remote write receiver) from metric events, as
/// LoongCollector's `ext_default_encoder`. Any protocol of the `Convert` option (`custom_single`,
/// `custom_single_flatten`, `jsonline`, `influxdb`, `raw`) is also accepted, so one encoder can be
/// shared by several flushers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DefaultEncoderConfig {
    /// The format: `prometheus`, or a `Convert` protocol name. Required.
    #[serde(rename = "Format")]
    pub format: String,
    /// `prometheus` only: series per request at most; more are split over several requests.
    #[serde(rename = "SeriesLimit")]
    pub series_limit: usize,
    /// Options of a `Convert` protocol format (its `Protocol` is taken from `Format`; `Encoding`
    /// defaults to the one the protocol needs).
    #[serde(rename = "Convert")]
    pub convert: Option<ConvertConfig>,
}

impl Default for DefaultEncoderConfig {
    fn default() -> Self {
        DefaultEncoderConfig {
            format: String::new(),
            series_limit: 1000,
            convert: None,
        }
    }
}
