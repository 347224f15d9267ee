//! How a file is recognised: device + inode, and a signature of its first bytes so that a file whose
//! content was replaced (truncated and rewritten, or an inode reused after a delete) is not taken for
//! the one we knew.

use std::fs::{File, Metadata};
use std::io;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use crate::framer::Source;

/// The signature covers at most this many leading bytes.
pub const SIGNATURE_SIZE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DevInode {
    pub dev: u64,
    pub inode: u64,
}

impl DevInode {
    #[cfg(unix)]
    pub fn of(meta: &Metadata) -> DevInode {
        use std::os::unix::fs::MetadataExt;
        DevInode {
            dev: meta.dev(),
            inode: meta.ino(),
        }
    }

    /// Without inodes, the creation time stands in for one (good enough to tell a new file from a
    /// rotated one).
    #[cfg(not(unix))]
    pub fn of(meta: &Metadata) -> DevInode {
        let created = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        DevInode { dev: 0, inode: created }
    }
}

/// A hash of the first `size` bytes of a file (FNV-1a, stable across versions and platforms, since
/// signatures are saved in checkpoints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub size: u32,
    pub hash: u64,
}

impl Signature {
    pub fn of(prefix: &[u8]) -> Signature {
        let prefix = &prefix[..prefix.len().min(SIGNATURE_SIZE)];
        Signature {
            size: prefix.len() as u32,
            hash: fnv1a(prefix),
        }
    }

    /// Compares with the file's current first bytes: `Some(updated signature)` when they still begin
    /// with what this signature covers (the signature then grows with the file, up to
    /// [`SIGNATURE_SIZE`]), `None` when the content is not the same any more.
    pub fn check(&self, current: &[u8]) -> Option<Signature> {
        let size = self.size as usize;
        if current.len() < size || fnv1a(&current[..size]) != self.hash {
            return None;
        }
        Some(Signature::of(current))
    }
}

/// Reads the first bytes of a file, for its signature.
pub fn read_prefix(file: &mut File) -> io::Result<BytesMut> {
    let mut buf = BytesMut::with_capacity(SIGNATURE_SIZE);
    while buf.len() < SIGNATURE_SIZE {
        let at = buf.len();
        if file.read_at_into(&mut buf, SIGNATURE_SIZE - at, at as u64)? == 0 {
            break;
        }
    }
    Ok(buf)
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_grows_with_the_file_and_detects_replaced_content() {
        let small = Signature::of(b"hello");
        assert_eq!(small.size, 5);
        let grown = small.check(b"hello world").expect("same beginning");
        assert_eq!(grown, Signature::of(b"hello world"));
        assert!(small.check(b"hellO world").is_none(), "changed content");
        assert!(small.check(b"hel").is_none(), "truncated below the signature");
        let big = vec![7u8; 5000];
        assert_eq!(Signature::of(&big).size as usize, SIGNATURE_SIZE);
        assert_eq!(Signature::of(&big).check(&big[..2000]), Some(Signature::of(&big)));
        // An empty signature matches anything.
        assert!(Signature::of(b"").check(b"x").is_some());
    }

    #[test]
    fn hash_is_stable() {
        // Saved in checkpoints: must never change.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn dev_inode_tells_files_apart() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "x").unwrap();
        std::fs::write(&b, "x").unwrap();
        let ia = DevInode::of(&std::fs::metadata(&a).unwrap());
        let ib = DevInode::of(&std::fs::metadata(&b).unwrap());
        assert_ne!(ia, ib);
        let moved = dir.path().join("c");
        std::fs::rename(&a, &moved).unwrap();
        assert_eq!(DevInode::of(&std::fs::metadata(&moved).unwrap()), ia);
        let mut f = File::open(&moved).unwrap();
        assert_eq!(&read_prefix(&mut f).unwrap()[..], b"x");
    }
}
