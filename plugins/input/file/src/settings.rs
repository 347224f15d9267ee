//! The options, checked and compiled once at `init`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;

use crate::config::{FileEncoding, FileOptions};
use crate::discovery::{Discovery, Exclusions, PathPattern};
use crate::multiline::Patterns;

/// How often the file system is scanned even when no change notification arrived.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub const PATH_TAG: &str = "__path__";
pub const INODE_TAG: &str = "__inode__";
pub const HOSTNAME_TAG: &str = "__hostname__";

#[derive(Debug)]
pub struct Settings {
    pub discovery: Discovery,
    pub gbk: bool,
    pub tail_bytes: u64,
    pub tail_all: bool,
    pub flush_timeout: Duration,
    pub max_line: usize,
    pub multiline: Option<Patterns>,
    pub path_key: Option<Bytes>,
    pub inode_key: Option<Bytes>,
    pub host_key: Option<Bytes>,
    pub hostname: Bytes,
    pub close_after: Duration,
    pub poll_interval: Duration,
}

impl Settings {
    pub fn new(o: &FileOptions) -> anyhow::Result<Settings> {
        if o.file_paths.is_empty() {
            bail!("FilePaths must name at least one file");
        }
        if o.max_dir_search_depth > 1000 {
            bail!("MaxDirSearchDepth must be between 0 and 1000");
        }
        if o.tail_size_kb > 100 * 1024 * 1024 {
            bail!("TailSizeKB must be at most 104857600");
        }
        if o.max_line_size == 0 {
            bail!("MaxLineSize must be at least 1");
        }
        let patterns = o
            .file_paths
            .iter()
            .map(|p| PathPattern::parse(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let exclusions = Exclusions::new(&o.exclude_file_paths, &o.exclude_files, &o.exclude_dirs)?;
        let multiline = Patterns::compile(&o.multiline)?;

        let mut path_key = Some(PATH_TAG);
        let mut inode_key = o.appending_log_position_meta.then_some(INODE_TAG);
        let mut host_key = Some(HOSTNAME_TAG);
        for (key, value) in &o.tags {
            let (slot, default) = match key.as_str() {
                "FilePathTagKey" => (&mut path_key, PATH_TAG),
                "FileInodeTagKey" => (&mut inode_key, INODE_TAG),
                "HostNameTagKey" => (&mut host_key, HOSTNAME_TAG),
                other => bail!("Tags: unknown tag {other:?} (known: FilePathTagKey, FileInodeTagKey, HostNameTagKey)"),
            };
            *slot = match value.as_str() {
                "" => None,
                "__default__" => Some(default),
                name => Some(name),
            };
        }
        let owned = |k: Option<&str>| k.map(|k| Bytes::from(k.to_owned()));
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();

        Ok(Settings {
            discovery: Discovery::new(patterns, o.max_dir_search_depth, exclusions),
            gbk: o.file_encoding == FileEncoding::Gbk,
            tail_bytes: o.tail_size_kb.checked_mul(1024).context("TailSizeKB")?,
            tail_all: o.tailing_all_matched_files,
            flush_timeout: Duration::from_secs(o.flush_timeout_secs),
            max_line: o.max_line_size,
            multiline,
            path_key: owned(path_key),
            inode_key: owned(inode_key),
            host_key: owned(host_key),
            hostname: Bytes::from(hostname),
            close_after: Duration::from_secs(o.close_unused_reader_interval_sec),
            poll_interval: POLL_INTERVAL,
        })
    }
}
