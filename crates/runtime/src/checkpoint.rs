//! Durable checkpoints: one file per key under `<data-dir>/checkpoints/`, replaced atomically
//! (write to a temporary file, fsync, rename, fsync the directory), so a crash leaves either the old
//! or the new checkpoint, never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use loong_api::{CheckpointStore, Result};

pub struct FileCheckpoints {
    dir: PathBuf,
}

impl FileCheckpoints {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("checkpoints");
        fs::create_dir_all(&dir).with_context(|| format!("creating checkpoint directory {}", dir.display()))?;
        Ok(FileCheckpoints { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(encode_key(key))
    }
}

/// Keys contain `/` and arbitrary text; file names get only safe characters, the rest as `%XX`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 5);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str(".ckpt");
    out
}

impl CheckpointStore for FileCheckpoints {
    fn save(&self, key: &str, value: &[u8]) -> Result<()> {
        let path = self.path(key);
        let tmp = path.with_extension("tmp");
        let mut f = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(value)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        fs::read(self.path(key)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_reads_back_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpoints::open(dir.path()).unwrap();
        store.save("app/input_file/1/offsets", b"{\"a\":1}").unwrap();
        store.save("app/input_file/1/offsets", b"{\"a\":2}").unwrap();
        let again = FileCheckpoints::open(dir.path()).unwrap();
        assert_eq!(
            again.get("app/input_file/1/offsets").as_deref(),
            Some(&b"{\"a\":2}"[..])
        );
        assert_eq!(again.get("missing"), None);
        let names: Vec<_> = fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary files are left: {names:?}");
    }
}
