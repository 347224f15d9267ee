//! One open file: reads new bytes, frames them into lines or records, sends one group per block with
//! an acknowledgement that moves the file's committed offset.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use loong_api::model::{AckSet, now_nanos};
use loong_api::{Collector, CollectorClosed, GroupInfo, LogEvent, PipelineEvent};

use crate::checkpoint::{Book, BookEntry, Tracker};
use crate::framer::{BLOCK_SIZE, Framer, Line};
use crate::identity::{DevInode, Signature, read_prefix};
use crate::multiline::{Lines, Matcher, RecordSink};
use crate::settings::Settings;

/// Metric handles of one input.
#[derive(Clone)]
pub struct Metrics {
    pub read_bytes: metrics::Counter,
    pub lines: metrics::Counter,
    pub events: metrics::Counter,
    pub truncated_lines: metrics::Counter,
    pub discarded_lines: metrics::Counter,
    pub open_files: metrics::Gauge,
    pub rotated_files: metrics::Counter,
    pub truncated_files: metrics::Counter,
}

impl Metrics {
    pub fn new(m: &loong_api::MetricsRecord) -> Metrics {
        Metrics {
            read_bytes: m.counter("input_read_bytes_total"),
            lines: m.counter("input_read_lines_total"),
            events: m.counter("input_events_total"),
            truncated_lines: m.counter("input_truncated_lines_total"),
            discarded_lines: m.counter("input_discarded_lines_total"),
            open_files: m.gauge("input_open_files"),
            rotated_files: m.counter("input_rotated_files_total"),
            truncated_files: m.counter("input_truncated_files_total"),
        }
    }
}

/// What readers share.
pub struct Env {
    pub settings: Arc<Settings>,
    pub collector: Collector,
    pub book: Arc<Book>,
    pub metrics: Metrics,
}

/// What a poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Nothing new.
    Idle,
    /// Read to the end of the file.
    Read,
    /// Stopped at the block budget: more is waiting.
    More,
}

/// Builds the events of one group.
struct EventSink {
    events: Vec<PipelineEvent>,
    frontier: u64,
    ts: u64,
}

impl EventSink {
    fn new(frontier: u64, capacity: usize) -> Self {
        EventSink {
            events: Vec::with_capacity(capacity),
            frontier,
            ts: now_nanos(),
        }
    }
}

impl RecordSink for EventSink {
    fn record(&mut self, r: Line<'_>) {
        let mut e = LogEvent::with_body(r.content(), self.ts);
        e.observed_timestamp = self.ts;
        e.offset = r.offset;
        e.raw_size = r.raw_len;
        self.events.push(PipelineEvent::Log(e));
        self.frontier = r.raw_end();
    }

    fn discard(&mut self, end: u64) {
        self.frontier = end;
    }
}

pub struct FileReader {
    pub uid: u64,
    pub id: DevInode,
    file: File,
    pub path: PathBuf,
    /// Where the file was found, while a newer file at that path must wait for its data; `None` once
    /// it has been read to its end after moving.
    pub origin: Option<PathBuf>,
    /// Not found at any matched path in the last scan (renamed away or deleted).
    pub detached: bool,
    sig: Signature,
    framer: Framer,
    matcher: Option<Matcher>,
    tracker: Arc<Tracker>,
    /// End of the last range handed to the pipeline.
    sent: u64,
    last_size: u64,
    /// When bytes were last read (or the file was opened).
    pub last_data: Instant,
    /// Everything up to the size last seen was read.
    pub at_end: bool,
    /// One-time pipelines: read to its end, nothing more to do.
    pub done: bool,
    group: GroupInfo,
    /// Average raw size of a record, to size event vectors.
    avg_record: usize,
}

impl FileReader {
    /// A reader of `file` (found at `path`) that continues at `start`, everything before which is
    /// delivered.
    pub fn new(uid: u64, id: DevInode, file: File, path: PathBuf, start: u64, sig: Signature, env: &Env) -> Self {
        let s = &env.settings;
        let mut reader = FileReader {
            uid,
            id,
            file,
            origin: Some(path.clone()),
            path,
            detached: false,
            sig,
            framer: Framer::new(start, s.max_line, s.gbk),
            matcher: s.multiline.clone().map(|p| Matcher::new(p, s.max_line)),
            tracker: Tracker::new(start),
            sent: start,
            last_size: 0,
            last_data: Instant::now(),
            at_end: false,
            done: false,
            group: GroupInfo::default(),
            avg_record: 256,
        };
        reader.update_group(s);
        reader.record(env);
        reader
    }

    /// Continues a reader handed over by the previous instance of the input under new settings:
    /// bytes it held back are read again, and if some of its data was abandoned it goes back to the
    /// last committed offset.
    pub fn adopt(mut self, env: &Env) -> Self {
        let s = &env.settings;
        if self.tracker.abandoned() {
            let committed = self.tracker.committed();
            self.tracker = Tracker::new(committed);
            self.sent = committed;
        }
        self.framer = Framer::new(self.sent, s.max_line, s.gbk);
        self.matcher = s.multiline.clone().map(|p| Matcher::new(p, s.max_line));
        self.at_end = false;
        self.done = false;
        self.last_data = Instant::now();
        self.update_group(s);
        self.record(env);
        self
    }

    fn update_group(&mut self, s: &Settings) {
        let mut g = GroupInfo::default();
        let path = Bytes::from(self.path.to_string_lossy().into_owned());
        let inode = Bytes::from(self.id.inode.to_string());
        if let Some(k) = &s.path_key {
            g.tags.push(k.clone(), path.clone());
        }
        if let Some(k) = &s.host_key {
            g.tags.push(k.clone(), s.hostname.clone());
        }
        if let Some(k) = &s.inode_key {
            g.tags.push(k.clone(), inode.clone());
        }
        g.metadata.push(crate::settings::PATH_TAG, path);
        g.metadata.push(crate::settings::INODE_TAG, inode);
        self.group = g;
    }

    /// Writes this file's entry in the checkpoint book.
    fn record(&self, env: &Env) {
        env.book.set(
            self.uid,
            BookEntry {
                id: self.id,
                sig: self.sig,
                path: self.path.to_string_lossy().into_owned(),
                tracker: self.tracker.clone(),
            },
        );
    }

    pub fn set_path(&mut self, path: PathBuf, env: &Env) {
        tracing::info!(from = %self.path.display(), to = %path.display(), "file renamed");
        self.path = path;
        self.update_group(&env.settings);
        self.record(env);
    }

    /// Whether the file left the path it was found at (renamed or deleted).
    pub fn moved(&self) -> bool {
        self.detached || self.origin.as_deref().is_some_and(|o| o != self.path)
    }

    pub fn origin_path(&self) -> Option<&Path> {
        self.origin.as_deref()
    }

    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    /// Bytes of an unfinished line or record are held back.
    pub fn has_held(&self) -> bool {
        self.framer.has_partial() || self.matcher.as_ref().is_some_and(Matcher::has_held)
    }

    /// Reads what is new, at most `budget` blocks.
    pub fn poll(&mut self, env: &Env, budget: usize) -> Result<Poll, CollectorClosed> {
        let size = match self.file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot stat an open file");
                return Ok(Poll::Idle);
            }
        };
        if size != self.last_size || size < self.framer.pos() {
            self.check_content(size, env)?;
        }
        self.last_size = size;
        let mut blocks = 0;
        let mut read = false;
        while self.framer.pos() < size {
            if blocks == budget {
                self.at_end = false;
                return Ok(Poll::More);
            }
            let want = (size - self.framer.pos()).min(BLOCK_SIZE as u64) as usize;
            let mut sink = EventSink::new(self.sent, want / self.avg_record.max(1) + 1);
            let result = {
                let mut lines = Lines {
                    matcher: self.matcher.as_mut(),
                    sink: &mut sink,
                };
                self.framer.read(&mut self.file, want, &mut lines)
            };
            let n = match result {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "reading a file failed");
                    break;
                }
            };
            env.metrics.read_bytes.increment(n as u64);
            if !sink.events.is_empty() {
                self.avg_record = (n / sink.events.len()).max(16);
            }
            read = true;
            self.last_data = Instant::now();
            self.send(sink, env)?;
            blocks += 1;
        }
        self.at_end = true;
        if read && self.framer.has_partial() {
            self.framer.compact();
        }
        Ok(if read { Poll::Read } else { Poll::Idle })
    }

    /// The size changed: make sure the content is still the one we were reading. A file shorter than
    /// our position, or whose first bytes changed, was truncated (copytruncate) or rewritten: what we
    /// held is sent and reading starts again at 0.
    fn check_content(&mut self, size: u64, env: &Env) -> Result<(), CollectorClosed> {
        let prefix = match read_prefix(&mut self.file) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "reading a file failed");
                return Ok(());
            }
        };
        let shrunk = size < self.framer.pos();
        match self.sig.check(&prefix) {
            Some(sig) if !shrunk => {
                if sig != self.sig {
                    self.sig = sig;
                    self.record(env);
                }
                Ok(())
            }
            _ => {
                tracing::info!(
                    path = %self.path.display(), size, position = self.framer.pos(),
                    "file truncated or rewritten; reading it again from the beginning"
                );
                env.metrics.truncated_files.increment(1);
                self.flush_held(env)?;
                self.tracker = Tracker::new(0);
                self.sent = 0;
                self.framer.reset(0);
                if let Some(m) = &mut self.matcher {
                    m.reset();
                }
                self.sig = Signature::of(&prefix);
                self.record(env);
                Ok(())
            }
        }
    }

    /// Sends the held unfinished line and record as they are (flush timeout, end of a one-time read).
    pub fn flush_held(&mut self, env: &Env) -> Result<(), CollectorClosed> {
        if !self.has_held() {
            return Ok(());
        }
        let mut sink = EventSink::new(self.sent, 4);
        {
            let mut lines = Lines {
                matcher: self.matcher.as_mut(),
                sink: &mut sink,
            };
            self.framer.flush_partial(&mut lines);
        }
        if let Some(m) = &mut self.matcher {
            m.flush(&mut sink);
        }
        self.send(sink, env)
    }

    fn send(&mut self, sink: EventSink, env: &Env) -> Result<(), CollectorClosed> {
        let (lines, truncated) = self.framer.take_counts();
        env.metrics.lines.increment(lines);
        env.metrics.truncated_lines.increment(truncated);
        if let Some(m) = &mut self.matcher {
            let (_, discarded) = m.take_counts();
            env.metrics.discarded_lines.increment(discarded);
        }
        if sink.events.is_empty() {
            if sink.frontier > self.sent {
                self.tracker.push_done(sink.frontier);
                self.sent = sink.frontier;
                env.book.mark_dirty();
            }
            return Ok(());
        }
        env.metrics.events.increment(sink.events.len() as u64);
        let seq = self.tracker.push(sink.frontier);
        let ack = env.book.ack(self.tracker.clone(), seq);
        env.collector
            .collect_acked(self.group.clone(), sink.events, AckSet::single(ack))?;
        self.sent = sink.frontier;
        Ok(())
    }
}
