//! `ext_default_encoder`: an [`Encoder`] extension. `Format: prometheus` encodes metric events as
//! Prometheus remote write requests (LoongCollector's only format for it); the `Convert` protocols of
//! loong-converter are accepted too.

mod config;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use loong_api::{Context, Encoder, Extension, LogGroup, PipelineGroupEvents, Result};
use loong_converter::{ConvertConfig, Converter, ENCODING_CUSTOM, ENCODING_JSON, PROTOCOL_INFLUXDB, PROTOCOL_RAW};
use loong_model::convert::log_group_to_events;

pub use config::DefaultEncoderConfig;

/// The config `Type` of this extension.
pub const NAME: &str = "ext_default_encoder";

pub const FORMAT_PROMETHEUS: &str = "prometheus";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_extension_creator(NAME, |options: DefaultEncoderConfig| {
        Box::new(DefaultEncoder::new(options))
    });
}

enum Format {
    Prometheus { series_limit: usize },
    Convert(Converter),
}

pub struct DefaultEncoder {
    config: DefaultEncoderConfig,
    format: Option<Format>,
}

impl DefaultEncoder {
    pub fn new(config: DefaultEncoderConfig) -> Self {
        DefaultEncoder { config, format: None }
    }

    fn format(&self) -> Result<&Format> {
        self.format.as_ref().context("ext_default_encoder used before init")
    }
}

impl Extension for DefaultEncoder {
    fn init(&mut self, _: &Context) -> Result<()> {
        let format = match self.config.format.trim() {
            "" => {
                bail!("Format is empty: use prometheus or a Convert protocol (custom_single, jsonline, influxdb, raw…)")
            }
            FORMAT_PROMETHEUS => Format::Prometheus {
                series_limit: self.config.series_limit,
            },
            protocol => {
                let mut convert = self.config.convert.clone().unwrap_or_else(|| ConvertConfig {
                    encoding: match protocol {
                        PROTOCOL_INFLUXDB | PROTOCOL_RAW => ENCODING_CUSTOM,
                        _ => ENCODING_JSON,
                    }
                    .to_owned(),
                    ..Default::default()
                });
                convert.protocol = protocol.to_owned();
                Format::Convert(Converter::new(&convert).context("Format")?)
            }
        };
        self.format = Some(format);
        Ok(())
    }

    fn description(&self) -> &str {
        "default encoder extension: encodes data as Prometheus remote write or a converter protocol"
    }

    fn stop(&self) -> Result<()> {
        Ok(())
    }

    fn as_encoder(&self) -> Option<&dyn Encoder> {
        Some(self)
    }
}

impl Encoder for DefaultEncoder {
    fn encode_v1(&self, group: &LogGroup) -> Result<Vec<Bytes>> {
        match self.format()? {
            // Remote write carries metrics, which only V2 groups have; V1 logs give no series.
            Format::Prometheus { series_limit } => self.encode_prometheus(&log_group_to_events(group), *series_limit),
            Format::Convert(c) => Ok(c.convert_v1(group, &[])?.into_iter().map(|p| p.body).collect()),
        }
    }

    fn encode_v2(&self, group: &PipelineGroupEvents) -> Result<Vec<Bytes>> {
        match self.format()? {
            Format::Prometheus { series_limit } => self.encode_prometheus(group, *series_limit),
            Format::Convert(c) => Ok(c.convert_v2(group, &[])?.into_iter().map(|p| p.body).collect()),
        }
    }

    fn content_type(&self) -> &str {
        match self.format.as_ref() {
            Some(Format::Prometheus { .. }) => loong_converter::prometheus::CONTENT_TYPE,
            Some(Format::Convert(c)) => c.content_type(),
            None => "application/octet-stream",
        }
    }
}

impl DefaultEncoder {
    fn encode_prometheus(&self, group: &PipelineGroupEvents, series_limit: usize) -> Result<Vec<Bytes>> {
        let (series, _skipped) = loong_converter::prometheus::series(group);
        Ok(loong_converter::prometheus::encode(series, series_limit))
    }
}

#[cfg(test)]
mod tests;
