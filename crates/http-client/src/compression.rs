//! Body compression named by the `Compression` option, sent as `Content-Encoding`.

use std::io::Write;

use anyhow::{Result, bail};
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    /// Snappy block format, as LoongCollector's `snappy.Encode` (what Prometheus and Loki expect).
    Snappy,
    Zstd,
    /// LZ4 frame format.
    Lz4,
}

impl Compression {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "zstd" => Compression::Zstd,
            "lz4" => Compression::Lz4,
            other => bail!("unsupported Compression {other:?}: use gzip, snappy, zstd, lz4 or leave it empty"),
        })
    }

    /// The `Content-Encoding` value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Snappy => Some("snappy"),
            Compression::Zstd => Some("zstd"),
            Compression::Lz4 => Some("lz4"),
        }
    }

    pub fn compress(self, body: &Bytes) -> Result<Bytes> {
        Ok(match self {
            Compression::None => body.clone(),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
                enc.write_all(body)?;
                Bytes::from(enc.finish()?)
            }
            Compression::Snappy => Bytes::from(snap::raw::Encoder::new().compress_vec(body)?),
            Compression::Zstd => Bytes::from(zstd::bulk::compress(body, 1)?),
            Compression::Lz4 => {
                let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(body.len() / 2));
                enc.write_all(body)?;
                Bytes::from(enc.finish()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let body = Bytes::from("hello hello hello hello ".repeat(100));
        let gz = Compression::Gzip.compress(&body).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        let sn = Compression::Snappy.compress(&body).unwrap();
        assert_eq!(snap::raw::Decoder::new().decompress_vec(&sn).unwrap(), body);
        let zs = Compression::Zstd.compress(&body).unwrap();
        assert_eq!(zstd::bulk::decompress(&zs, body.len()).unwrap(), body);
        let lz = Compression::Lz4.compress(&body).unwrap();
        let mut out = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&lz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(gz.len() < body.len() && sn.len() < body.len());
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(Compression::parse("GZIP").unwrap(), Compression::Gzip);
        assert_eq!(Compression::parse("").unwrap(), Compression::None);
        assert!(
            Compression::parse("brotli")
                .unwrap_err()
                .to_string()
                .contains("unsupported Compression \"brotli\"")
        );
    }
}
