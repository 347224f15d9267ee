//! Request body compression. `gzip` and `deflate` are HTTP `Content-Encoding`s; `lz4` and `zstd`
//! use ClickHouse's own compressed blocks (`decompress=1`), which every server version reads: each
//! block is a CityHash128 (v1.0.2) checksum, a method byte, the compressed size (with the 9-byte
//! header) and the uncompressed size, both little endian, then the compressed data.

use std::io::Write;

use anyhow::{Result, bail};
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Deflate,
    Lz4,
    Zstd,
}

/// Uncompressed bytes per native block (ClickHouse's own clients use 1 MiB).
const BLOCK: usize = 1 << 20;
const METHOD_LZ4: u8 = 0x82;
const METHOD_ZSTD: u8 = 0x90;

impl Compression {
    pub fn parse(s: &str) -> Result<Compression> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "deflate" => Compression::Deflate,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            "br" => {
                bail!("Compression br is not offered over the HTTP interface: use lz4, zstd, gzip, deflate or none")
            }
            other => bail!("Compression {other:?}: use lz4, zstd, gzip, deflate or none"),
        })
    }

    /// The `Content-Encoding` header value, for the HTTP encodings.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some("gzip"),
            Compression::Deflate => Some("deflate"),
            _ => None,
        }
    }

    /// Whether the body is in ClickHouse's compressed blocks (the request needs `decompress=1`).
    pub fn native(self) -> bool {
        matches!(self, Compression::Lz4 | Compression::Zstd)
    }

    pub fn encode(self, body: &Bytes) -> Result<Bytes> {
        Ok(match self {
            Compression::None => body.clone(),
            Compression::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
                e.write_all(body)?;
                e.finish()?.into()
            }
            Compression::Deflate => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
                e.write_all(body)?;
                e.finish()?.into()
            }
            Compression::Lz4 | Compression::Zstd => {
                let mut out = Vec::with_capacity(body.len() / 3 + 64);
                for chunk in body.chunks(BLOCK) {
                    let (method, data) = if self == Compression::Lz4 {
                        (METHOD_LZ4, lz4_flex::block::compress(chunk))
                    } else {
                        (METHOD_ZSTD, zstd::bulk::compress(chunk, 1)?)
                    };
                    let start = out.len();
                    out.extend_from_slice(&[0; 16]);
                    out.push(method);
                    out.extend_from_slice(&((data.len() + 9) as u32).to_le_bytes());
                    out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
                    out.extend_from_slice(&data);
                    let sum = checksum(&out[start + 16..]);
                    out[start..start + 16].copy_from_slice(&sum);
                }
                out.into()
            }
        })
    }
}

/// CityHash128 v1.0.2 as ClickHouse stores it: the first 64-bit half, then the second, each little
/// endian (`cityhash-rs` returns the first half in the high bits).
fn checksum(data: &[u8]) -> [u8; 16] {
    let h = cityhash_rs::cityhash_102_128(data);
    let mut out = [0; 16];
    out[..8].copy_from_slice(&((h >> 64) as u64).to_le_bytes());
    out[8..].copy_from_slice(&(h as u64).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_blocks_have_the_documented_layout() {
        let body = Bytes::from(vec![b'x'; BLOCK + 10]);
        let out = Compression::Lz4.encode(&body).unwrap();
        // Two blocks: walk them by their sizes and decompress each.
        let mut pos = 0;
        let mut back = Vec::new();
        while pos < out.len() {
            let header = &out[pos + 16..pos + 25];
            assert_eq!(header[0], METHOD_LZ4);
            let size = u32::from_le_bytes(header[1..5].try_into().unwrap()) as usize;
            let raw = u32::from_le_bytes(header[5..9].try_into().unwrap()) as usize;
            assert_eq!(out[pos..pos + 16], checksum(&out[pos + 16..pos + 16 + size]));
            back.extend(lz4_flex::block::decompress(&out[pos + 25..pos + 16 + size], raw).unwrap());
            pos += 16 + size;
        }
        assert_eq!(back, body);
        assert!(Compression::parse("br").is_err());
        assert_eq!(Compression::parse("").unwrap(), Compression::None);
    }
}
