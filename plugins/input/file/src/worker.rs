//! The one thread of an input: finds files (change notifications plus a scan every second), reads
//! every open file in turn, sends what is held once a file has been quiet for `FlushTimeoutSecs`,
//! closes files that are gone and done, and saves the checkpoint.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loong_api::CollectorClosed;
use parking_lot::{Condvar, Mutex};

use crate::identity::{DevInode, read_prefix};
use crate::reader::{Env, FileReader, Poll};

/// Blocks one file may read in a row before the others get their turn.
const BUDGET: usize = 4;
/// How often the checkpoint is saved while running (when something changed).
const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// Most directories watched for change notifications; beyond that, scans alone find new files.
const MAX_WATCHES: usize = 4096;
/// Bytes searched after the tail position for the first whole line.
const ALIGN_WINDOW: u64 = 128 * 1024;

/// What woke the worker.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub scan: bool,
    pub data: bool,
    pub stop: bool,
    /// Files renamed (from, to), as reported by change notifications.
    pub renames: Vec<(PathBuf, PathBuf)>,
}

/// Wakes the worker: change notifications, stop.
#[derive(Default)]
pub struct Wake {
    flags: Mutex<Flags>,
    cv: Condvar,
}

impl Wake {
    pub fn signal(&self, f: impl FnOnce(&mut Flags)) {
        let mut flags = self.flags.lock();
        f(&mut flags);
        self.cv.notify_one();
    }

    /// Waits until signalled or `timeout` passes; returns (and clears) what was signalled.
    fn wait(&self, timeout: Duration) -> Flags {
        let mut flags = self.flags.lock();
        if !(flags.scan || flags.data || flags.stop || timeout.is_zero()) {
            self.cv.wait_for(&mut flags, timeout);
        }
        let out = Flags {
            scan: flags.scan,
            data: flags.data,
            stop: flags.stop,
            renames: std::mem::take(&mut flags.renames),
        };
        flags.scan = false;
        flags.data = false;
        out
    }
}

pub struct Worker {
    pub env: Env,
    pub readers: Vec<FileReader>,
    pub next_uid: u64,
    pub wake: Arc<Wake>,
    /// No checkpoint existed: files found by the first scan start at their tail.
    pub first_start: bool,
    pub onetime: bool,
    first_scan_done: bool,
    done_sent: bool,
    watcher: Option<notify::RecommendedWatcher>,
    watched: BTreeSet<PathBuf>,
    failed: HashSet<PathBuf>,
}

impl Worker {
    pub fn new(env: Env, readers: Vec<FileReader>, wake: Arc<Wake>, first_start: bool, onetime: bool) -> Worker {
        let next_uid = readers.iter().map(|r| r.uid + 1).max().unwrap_or(0);
        let watcher = {
            let wake = wake.clone();
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                use notify::EventKind;
                use notify::event::{ModifyKind, RenameMode};
                let scan = match &event {
                    Ok(e) => !matches!(e.kind, EventKind::Access(_) | EventKind::Modify(ModifyKind::Data(_))),
                    Err(_) => true,
                };
                let rename = match event {
                    Ok(e) if e.kind == EventKind::Modify(ModifyKind::Name(RenameMode::Both)) && e.paths.len() == 2 => {
                        let mut paths = e.paths.into_iter();
                        paths.next().zip(paths.next())
                    }
                    _ => None,
                };
                wake.signal(|f| {
                    f.data = true;
                    f.scan |= scan;
                    f.renames.extend(rename);
                });
            })
        };
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "file change notifications unavailable; scanning every second");
                None
            }
        };
        Worker {
            env,
            readers,
            next_uid,
            wake,
            first_start,
            onetime,
            first_scan_done: false,
            done_sent: false,
            watcher,
            watched: BTreeSet::new(),
            failed: HashSet::new(),
        }
    }

    /// Runs until stopped or the pipeline closes; returns the open files.
    pub fn run(mut self) -> Vec<FileReader> {
        let poll_interval = self.env.settings.poll_interval;
        let mut next_scan = Instant::now();
        let mut next_save = Instant::now() + SAVE_INTERVAL;
        let mut flags = Flags::default();
        loop {
            if flags.stop {
                break;
            }
            let now = Instant::now();
            if !(self.onetime && self.first_scan_done) {
                for (from, to) in std::mem::take(&mut flags.renames) {
                    self.renamed(&from, &to);
                }
            }
            if flags.scan || now >= next_scan {
                if !(self.onetime && self.first_scan_done) {
                    self.scan();
                }
                next_scan = now + poll_interval;
            }
            let more = match self.read_all().and_then(|more| self.timeouts().map(|()| more)) {
                Ok(more) => more,
                Err(CollectorClosed) => {
                    tracing::debug!("the pipeline no longer accepts data; input_file stops reading");
                    break;
                }
            };
            if self.onetime && !self.done_sent && self.first_scan_done && self.readers.iter().all(|r| r.done) {
                self.env.book.save();
                self.env.collector.done();
                self.done_sent = true;
                tracing::info!(files = self.readers.len(), "one-time read finished");
            }
            let now = Instant::now();
            if now >= next_save {
                self.env.book.save_if_dirty();
                next_save = now + SAVE_INTERVAL;
            }
            let timeout = if more {
                Duration::ZERO
            } else {
                let mut deadline = next_scan.min(next_save);
                if let Some(d) = self.next_deadline(now) {
                    deadline = deadline.min(d);
                }
                deadline.saturating_duration_since(now).min(poll_interval)
            };
            flags = self.wake.wait(timeout);
        }
        self.readers
    }

    /// The earliest time after `now` a held line must be flushed or a finished file closed (one
    /// already due but waiting for something else is looked at again at the next scan).
    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let s = &self.env.settings;
        self.readers
            .iter()
            .filter_map(|r| {
                if r.has_held() {
                    Some(r.last_data + s.flush_timeout)
                } else if r.detached {
                    Some(r.last_data + s.close_after)
                } else {
                    None
                }
            })
            .filter(|d| *d > now)
            .min()
    }

    /// Reads every open file once (a rotated file's remaining data before its successor's);
    /// returns whether some file has more.
    fn read_all(&mut self) -> Result<bool, CollectorClosed> {
        let mut more = false;
        let mut waiting: Vec<PathBuf> = Vec::new();
        for r in &mut self.readers {
            if r.done {
                continue;
            }
            if !r.moved() && waiting.contains(&r.path) {
                more = true;
                continue;
            }
            let polled = r.poll(&self.env, BUDGET)?;
            if polled == Poll::More {
                more = true;
            }
            if r.moved() {
                if polled == Poll::More {
                    waiting.extend(r.origin_path().map(Path::to_path_buf));
                } else {
                    r.origin = None;
                }
            }
            if self.onetime && polled != Poll::More {
                r.flush_held(&self.env)?;
                r.done = true;
            }
        }
        Ok(more)
    }

    /// Flushes what quiet files hold; closes detached files that are read, delivered and quiet.
    fn timeouts(&mut self) -> Result<(), CollectorClosed> {
        let now = Instant::now();
        let s = self.env.settings.clone();
        for r in &mut self.readers {
            if r.has_held() && now.duration_since(r.last_data) >= s.flush_timeout {
                r.flush_held(&self.env)?;
            }
        }
        let before = self.readers.len();
        let book = &self.env.book;
        self.readers.retain(|r| {
            let close = r.detached
                && r.at_end
                && !r.has_held()
                && r.tracker().pending() == 0
                && now.duration_since(r.last_data) >= s.close_after;
            if close {
                tracing::info!(path = %r.path.display(), "closing a file that was renamed away or deleted");
                book.remove(r.uid);
            }
            !close
        });
        if self.readers.len() != before {
            self.env.metrics.open_files.set(self.readers.len() as f64);
        }
        Ok(())
    }

    fn scan(&mut self) {
        let found = self.env.settings.discovery.scan();
        self.watch(&found.dirs);
        if !self.first_scan_done {
            self.recover_rotated();
        }
        let mut seen = HashSet::new();
        for path in found.files {
            let Ok(meta) = fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let id = DevInode::of(&meta);
            if !seen.insert(id) {
                continue;
            }
            if let Some(r) = self.readers.iter_mut().find(|r| r.id == id) {
                if r.path != path {
                    r.set_path(path, &self.env);
                }
                r.detached = false;
                continue;
            }
            if let Some(id) = self.open(&path) {
                seen.insert(id);
            }
        }
        for r in &mut self.readers {
            if !r.detached && !seen.contains(&r.id) {
                tracing::info!(path = %r.path.display(), "file renamed away or deleted; reading it to its end");
                r.detached = true;
                self.env.metrics.rotated_files.increment(1);
            }
        }
        if !self.first_scan_done {
            self.first_scan_done = true;
            self.env.book.drop_leftovers();
            self.env.book.save();
        }
        self.env.metrics.open_files.set(self.readers.len() as f64);
    }

    /// A file was renamed from a matched path. If we never saw it there (it was created, written and
    /// renamed between two scans), it is read from its beginning now, before its successor.
    fn renamed(&mut self, from: &Path, to: &Path) {
        if !self.env.settings.discovery.matches(from) {
            return;
        }
        let Ok(meta) = fs::metadata(to) else { return };
        if !meta.is_file() || self.readers.iter().any(|r| r.id == DevInode::of(&meta)) {
            return;
        }
        let Ok(mut file) = File::open(to) else { return };
        let Ok(meta) = file.metadata() else { return };
        let id = DevInode::of(&meta);
        if self.readers.iter().any(|r| r.id == id) {
            return;
        }
        let Ok(prefix) = read_prefix(&mut file) else { return };
        tracing::info!(
            from = %from.display(), to = %to.display(),
            "a file was renamed away before it was read; reading it from its beginning"
        );
        let uid = self.next_uid;
        self.next_uid += 1;
        let sig = crate::identity::Signature::of(&prefix);
        let mut reader = FileReader::new(uid, id, file, to.to_path_buf(), 0, sig, &self.env);
        reader.origin = Some(from.to_path_buf());
        reader.detached = !self.env.settings.discovery.matches(to);
        if reader.detached {
            self.env.metrics.rotated_files.increment(1);
        }
        // Before the file that took its place, so that its lines come first.
        let at = self
            .readers
            .iter()
            .position(|r| r.path == from && !r.moved())
            .unwrap_or(self.readers.len());
        self.readers.insert(at, reader);
    }

    /// Opens a newly found file at the right position; returns its identity.
    fn open(&mut self, path: &Path) -> Option<DevInode> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                if self.failed.insert(path.to_path_buf()) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot open a matched file");
                }
                return None;
            }
        };
        self.failed.remove(path);
        // Identify the file we opened, not whatever the path pointed at a moment ago.
        let meta = file.metadata().ok()?;
        let id = DevInode::of(&meta);
        if self.readers.iter().any(|r| r.id == id) {
            return Some(id);
        }
        let size = meta.len();
        let prefix = read_prefix(&mut file).ok()?;
        let s = &self.env.settings;
        let start = if let Some(cp) = self.env.book.claim(id, &prefix) {
            if cp.offset <= size { cp.offset } else { 0 }
        } else if self.onetime || !self.first_start || self.first_scan_done || s.tail_all {
            0
        } else {
            tail_position(&mut file, size, s.tail_bytes)
        };
        tracing::info!(path = %path.display(), start, size, "collecting file");
        let uid = self.next_uid;
        self.next_uid += 1;
        let sig = crate::identity::Signature::of(&prefix);
        self.readers.push(FileReader::new(
            uid,
            id,
            file,
            path.to_path_buf(),
            start,
            sig,
            &self.env,
        ));
        Some(id)
    }

    /// At the first scan: a saved file that is no longer at its path (rotated while the agent was
    /// down) is looked for next to it, and its remaining data is read before its successor's.
    fn recover_rotated(&mut self) {
        for cp in self.env.book.leftovers() {
            let old = PathBuf::from(&cp.path);
            if !self.env.settings.discovery.matches(&old) {
                continue;
            }
            if fs::metadata(&old).is_ok_and(|m| DevInode::of(&m) == cp.id()) {
                continue;
            }
            let Some(dir) = old.parent() else { continue };
            let Ok(entries) = fs::read_dir(dir) else { continue };
            let Some(found) = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && DevInode::of(&m) == cp.id()))
            else {
                continue;
            };
            let Ok(mut file) = File::open(&found) else { continue };
            let Ok(prefix) = read_prefix(&mut file) else { continue };
            let Some(cp) = self.env.book.claim(cp.id(), &prefix) else {
                continue;
            };
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let start = if cp.offset <= size { cp.offset } else { 0 };
            tracing::info!(
                from = %old.display(), to = %found.display(), start,
                "a file was rotated while the agent was down; reading the rest of it"
            );
            let uid = self.next_uid;
            self.next_uid += 1;
            let sig = crate::identity::Signature::of(&prefix);
            let mut reader = FileReader::new(uid, cp.id(), file, found, start, sig, &self.env);
            reader.origin = Some(old);
            reader.detached = true;
            self.readers.push(reader);
        }
    }

    /// Watches the listed directories for changes (not recursively: every directory a scan lists is
    /// listed here).
    fn watch(&mut self, dirs: &BTreeSet<PathBuf>) {
        use notify::Watcher as _;
        let Some(watcher) = &mut self.watcher else { return };
        let gone: Vec<PathBuf> = self.watched.difference(dirs).cloned().collect();
        for d in gone {
            let _ = watcher.unwatch(&d);
            self.watched.remove(&d);
        }
        for d in dirs {
            if self.watched.len() >= MAX_WATCHES {
                break;
            }
            if !self.watched.contains(d) && watcher.watch(d, notify::RecursiveMode::NonRecursive).is_ok() {
                self.watched.insert(d.clone());
            }
        }
    }
}

/// Where to start reading a file that existed before the input first ran: `tail_bytes` before its
/// end, moved forward to the beginning of a line.
fn tail_position(file: &mut File, size: u64, tail_bytes: u64) -> u64 {
    if size <= tail_bytes {
        return 0;
    }
    let pos = size - tail_bytes;
    // Look from one byte earlier: if that byte ends a line, `pos` already starts one.
    let from = pos - 1;
    let mut buf = bytes::BytesMut::new();
    let want = (size - from).min(ALIGN_WINDOW) as usize;
    use crate::framer::Source as _;
    match file.read_at_into(&mut buf, want, from) {
        Ok(_) => match memchr::memchr(b'\n', &buf) {
            Some(i) => from + i as u64 + 1,
            None => pos,
        },
        Err(_) => pos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_position_starts_at_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "aaaa\nbbbb\ncccc\n").unwrap();
        let mut f = File::open(&p).unwrap();
        assert_eq!(tail_position(&mut f, 15, 100), 0);
        assert_eq!(tail_position(&mut f, 15, 5), 10, "exactly at a line start");
        assert_eq!(tail_position(&mut f, 15, 7), 10, "inside a line: the next one");
        assert_eq!(tail_position(&mut f, 15, 0), 15);
    }

    #[test]
    fn wake_returns_what_was_signalled() {
        let wake = Wake::default();
        wake.signal(|f| f.scan = true);
        let f = wake.wait(Duration::from_secs(10));
        assert!(f.scan && !f.stop);
        let f = wake.wait(Duration::from_millis(1));
        assert!(!f.scan);
    }
}
