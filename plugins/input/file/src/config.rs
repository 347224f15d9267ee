use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Collects the lines of text files (LoongCollector's `input_file`): each line, or each multi-line
/// record, becomes a log event whose `content` is the text without its line ending.
///
/// Files are found by glob and followed as they grow, are renamed, truncated or deleted. Files that
/// exist when the input starts for the first time are read from their last `TailSizeKB`; files that
/// appear later are read from their beginning. Read positions are saved only once the data is
/// delivered, so a restart neither loses nor repeats lines. Every group carries the tags `__path__`
/// and `__hostname__` (and `__inode__` with `AppendingLogPositionMeta`); every event carries its
/// file offset.
///
/// Metrics: `input_read_bytes_total`, `input_read_lines_total`, `input_events_total`,
/// `input_truncated_lines_total`, `input_discarded_lines_total`, `input_rotated_files_total`,
/// `input_truncated_files_total` and the gauge `input_open_files`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FileOptions {
    /// Files to collect: absolute paths whose directories and file name may use the wildcards `*`
    /// and `?`. A `**` directory (at most one, right before the file name) matches the directory
    /// itself and its subdirectories down to `MaxDirSearchDepth`.
    #[serde(rename = "FilePaths")]
    pub file_paths: Vec<String>,
    /// How many directory levels below the `**` of a path are searched (0 to 1000; 0: only the
    /// directory itself).
    #[serde(rename = "MaxDirSearchDepth")]
    pub max_dir_search_depth: u32,
    /// Absolute file paths not to collect; `*` and `?` match within one path segment.
    #[serde(rename = "ExcludeFilePaths")]
    pub exclude_file_paths: Vec<String>,
    /// File names not to collect; `*` and `?` allowed.
    #[serde(rename = "ExcludeFiles")]
    pub exclude_files: Vec<String>,
    /// Absolute directory paths not to collect from, with everything below them; `*` and `?` match
    /// within one path segment.
    #[serde(rename = "ExcludeDirs")]
    pub exclude_dirs: Vec<String>,
    /// Encoding of the files: `utf8`, or `gbk` (converted to UTF-8).
    #[serde(rename = "FileEncoding")]
    pub file_encoding: FileEncoding,
    /// When the input starts for the first time, files that already exist are read from this many
    /// KiB before their end (from the first whole line there); smaller files from their beginning.
    /// Files that appear later, and files known from a saved position, are not affected.
    #[serde(rename = "TailSizeKB")]
    pub tail_size_kb: u64,
    /// Read the files that exist when the input starts for the first time from their beginning, as
    /// if they had appeared later (`TailSizeKB` is then not used).
    #[serde(rename = "TailingAllMatchedFiles")]
    pub tailing_all_matched_files: bool,
    /// Seconds without new data after which a last line that has no line ending yet, or the last
    /// multi-line record, is sent as it is.
    #[serde(rename = "FlushTimeoutSecs")]
    pub flush_timeout_secs: u64,
    /// Longest line in bytes, without its line ending. A longer line is cut to this size and the rest
    /// of it skipped; cuts are counted in `input_truncated_lines_total`.
    #[serde(rename = "MaxLineSize")]
    pub max_line_size: usize,
    /// Joins the lines of one record (a Java stack trace, say) into one event.
    #[serde(rename = "Multiline")]
    pub multiline: MultilineOptions,
    /// Adds the tag `__inode__` (the file's inode number) to every group. The file offset of every
    /// event is always kept (V1 output shows it as `__tag__:__file_offset__`).
    #[serde(rename = "AppendingLogPositionMeta")]
    pub appending_log_position_meta: bool,
    /// Renames or removes the file tags: `FilePathTagKey` (default `__path__`), `FileInodeTagKey`
    /// (`__inode__`, added when set) and `HostNameTagKey` (`__hostname__`). An empty value removes
    /// the tag; `__default__` keeps its default name.
    #[serde(rename = "Tags")]
    pub tags: BTreeMap<String, String>,
    /// Seconds a file that no longer matches (renamed away or deleted) is kept open after its last
    /// growth, so that late writes by the application are still read. Its data is read to the end
    /// and delivered first.
    #[serde(rename = "CloseUnusedReaderIntervalSec")]
    pub close_unused_reader_interval_sec: u64,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            file_paths: Vec::new(),
            max_dir_search_depth: 0,
            exclude_file_paths: Vec::new(),
            exclude_files: Vec::new(),
            exclude_dirs: Vec::new(),
            file_encoding: FileEncoding::Utf8,
            tail_size_kb: 1024,
            tailing_all_matched_files: false,
            flush_timeout_secs: 5,
            max_line_size: 512 * 1024,
            multiline: MultilineOptions::default(),
            appending_log_position_meta: false,
            tags: BTreeMap::new(),
            close_unused_reader_interval_sec: 60,
        }
    }
}

/// The encoding of the collected files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FileEncoding {
    #[default]
    #[serde(rename = "utf8", alias = "UTF8", alias = "utf-8", alias = "UTF-8")]
    Utf8,
    #[serde(rename = "gbk", alias = "GBK")]
    Gbk,
}

/// Multi-line records. At least one of `StartPattern` and `EndPattern` turns it on; a pattern must
/// match a whole line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MultilineOptions {
    /// `custom` (records found by the patterns below). LoongCollector's `JSON` mode is not supported.
    #[serde(rename = "Mode")]
    pub mode: MultilineMode,
    /// A line that begins a record.
    #[serde(rename = "StartPattern")]
    pub start_pattern: String,
    /// A line that continues the record begun by a start line (with `StartPattern`), or that begins
    /// or continues one ended by an end line (with `EndPattern`).
    #[serde(rename = "ContinuePattern")]
    pub continue_pattern: String,
    /// A line that ends a record.
    #[serde(rename = "EndPattern")]
    pub end_pattern: String,
    /// What happens to lines outside any record: `single_line` (each is an event of its own) or
    /// `discard` (dropped and counted in `input_discarded_lines_total`).
    #[serde(rename = "UnmatchedContentTreatment")]
    pub unmatched_content_treatment: UnmatchedContentTreatment,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MultilineMode {
    #[default]
    #[serde(rename = "custom")]
    Custom,
    #[serde(rename = "JSON", alias = "json")]
    Json,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UnmatchedContentTreatment {
    #[default]
    #[serde(rename = "single_line", alias = "split")]
    SingleLine,
    #[serde(rename = "discard")]
    Discard,
}
