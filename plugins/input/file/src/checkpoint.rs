//! Read positions that only move once data is delivered.
//!
//! Every group a file produces covers a byte range of it, and the ranges of one file follow each
//! other without gaps (bytes dropped on purpose belong to a range too). A [`Tracker`] keeps the ranges
//! still in flight; a range's acknowledgement marks it done, and the committed offset moves to the end
//! of the longest run of done ranges from the start. So it never passes data that is not delivered,
//! whatever order the acknowledgements come in.
//!
//! The [`Book`] holds the trackers of every file of one input and saves their committed offsets
//! through the context's checkpoint store: periodically while the input runs, and after it stopped
//! from the acknowledgement callbacks themselves (the pipeline delivers what was collected after the
//! input stopped), so the last delivered line is always on disk when the agent exits.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loong_api::Context;
use loong_api::model::{Ack, AckStatus};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::identity::{DevInode, Signature};

/// The checkpoint key (per input instance: the context namespaces it by pipeline and plugin).
pub const KEY: &str = "files";

/// While stopped, saves from acknowledgement callbacks happen at most this often (and always for the
/// last outstanding one).
const STOPPED_SAVE_INTERVAL: Duration = Duration::from_millis(500);

/// What is saved per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub dev: u64,
    pub inode: u64,
    pub sig_size: u32,
    pub sig_hash: u64,
    pub path: String,
    /// Everything before this offset was delivered.
    pub offset: u64,
}

impl FileCheckpoint {
    pub fn id(&self) -> DevInode {
        DevInode {
            dev: self.dev,
            inode: self.inode,
        }
    }

    pub fn signature(&self) -> Signature {
        Signature {
            size: self.sig_size,
            hash: self.sig_hash,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub files: Vec<FileCheckpoint>,
}

#[derive(Debug)]
struct Range {
    end: u64,
    status: Option<AckStatus>,
}

#[derive(Debug)]
struct TrackerInner {
    committed: u64,
    /// Sequence number of `ranges[0]`.
    base_seq: u64,
    ranges: VecDeque<Range>,
    abandoned: bool,
}

/// The ranges of one file (one generation of it: a truncated file starts a new tracker).
#[derive(Debug)]
pub struct Tracker(Mutex<TrackerInner>);

impl Tracker {
    pub fn new(committed: u64) -> Arc<Tracker> {
        Arc::new(Tracker(Mutex::new(TrackerInner {
            committed,
            base_seq: 0,
            ranges: VecDeque::new(),
            abandoned: false,
        })))
    }

    /// Everything before this offset was delivered.
    pub fn committed(&self) -> u64 {
        self.0.lock().committed
    }

    /// Ranges sent and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.0.lock().ranges.iter().filter(|r| r.status.is_none()).count()
    }

    /// Whether a range was abandoned (the pipeline stopped without delivering it).
    pub fn abandoned(&self) -> bool {
        self.0.lock().abandoned
    }

    /// A range ending at `end` is in flight; returns its sequence number for [`Tracker::complete`].
    pub fn push(&self, end: u64) -> u64 {
        let mut t = self.0.lock();
        let seq = t.base_seq + t.ranges.len() as u64;
        t.ranges.push_back(Range { end, status: None });
        seq
    }

    /// A range ending at `end` that needs no delivery (its lines were dropped on purpose).
    pub fn push_done(&self, end: u64) {
        let mut t = self.0.lock();
        if t.ranges.is_empty() {
            t.committed = t.committed.max(end);
        } else {
            t.ranges.push_back(Range {
                end,
                status: Some(AckStatus::Delivered),
            });
        }
    }

    /// Records the fate of range `seq`; returns whether the committed offset moved.
    pub fn complete(&self, seq: u64, status: AckStatus) -> bool {
        let mut t = self.0.lock();
        let Some(index) = seq.checked_sub(t.base_seq) else {
            return false;
        };
        let Some(range) = t.ranges.get_mut(index as usize) else {
            return false;
        };
        range.status = Some(status);
        if status == AckStatus::Abandoned {
            t.abandoned = true;
        }
        let mut moved = false;
        while let Some(Range {
            status: Some(AckStatus::Delivered | AckStatus::Dropped),
            end,
        }) = t.ranges.front()
        {
            t.committed = *end;
            t.ranges.pop_front();
            t.base_seq += 1;
            moved = true;
        }
        moved
    }
}

/// The entry of one open file.
#[derive(Debug, Clone)]
pub struct BookEntry {
    pub id: DevInode,
    pub sig: Signature,
    pub path: String,
    pub tracker: Arc<Tracker>,
}

/// The checkpoint state of one input: open files, plus checkpoints of files not (yet) found again.
pub struct Book {
    ctx: Mutex<Context>,
    files: Mutex<BTreeMap<u64, BookEntry>>,
    leftovers: Mutex<Vec<FileCheckpoint>>,
    outstanding: AtomicUsize,
    stopped: AtomicBool,
    dirty: AtomicBool,
    /// Serialises saves; holds the time of the last one.
    save_lock: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book")
            .field("files", &self.files.lock().len())
            .field("outstanding", &self.outstanding.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Book {
    /// A book starting from the saved checkpoint (`None`: the input never ran before).
    pub fn new(ctx: Context, saved: Option<Checkpoint>) -> Arc<Book> {
        Arc::new(Book {
            ctx: Mutex::new(ctx),
            files: Mutex::new(BTreeMap::new()),
            leftovers: Mutex::new(saved.map(|c| c.files).unwrap_or_default()),
            outstanding: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            dirty: AtomicBool::new(true),
            save_lock: Mutex::new(None),
        })
    }

    /// Loads the saved checkpoint of the input behind `ctx` (an unreadable one counts as none).
    pub fn load(ctx: &Context) -> Option<Checkpoint> {
        match ctx.get_checkpoint_object::<Checkpoint>(KEY) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "ignoring an unreadable input_file checkpoint");
                None
            }
        }
    }

    /// Hands the book to a new instance of the same input (config reload).
    pub fn adopt(&self, ctx: Context) {
        *self.ctx.lock() = ctx;
        self.stopped.store(false, Ordering::Release);
    }

    pub fn set(&self, uid: u64, entry: BookEntry) {
        self.files.lock().insert(uid, entry);
        self.dirty.store(true, Ordering::Release);
    }

    pub fn remove(&self, uid: u64) {
        self.files.lock().remove(&uid);
        self.dirty.store(true, Ordering::Release);
    }

    /// Takes the saved checkpoint of `id` if its signature still matches the file's first bytes.
    pub fn claim(&self, id: DevInode, prefix: &[u8]) -> Option<FileCheckpoint> {
        let mut leftovers = self.leftovers.lock();
        let i = leftovers.iter().position(|c| c.id() == id)?;
        let cp = leftovers.swap_remove(i);
        self.dirty.store(true, Ordering::Release);
        cp.signature().check(prefix).map(|_| cp)
    }

    /// The saved checkpoints not claimed by any file found so far.
    pub fn leftovers(&self) -> Vec<FileCheckpoint> {
        self.leftovers.lock().clone()
    }

    pub fn drop_leftovers(&self) {
        let mut l = self.leftovers.lock();
        if !l.is_empty() {
            l.clear();
            self.dirty.store(true, Ordering::Release);
        }
    }

    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// A group was sent with an acknowledgement from [`Book::ack`].
    pub fn ack(self: &Arc<Book>, tracker: Arc<Tracker>, seq: u64) -> Ack {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        let book = Arc::clone(self);
        Ack::new(move |status| {
            tracker.complete(seq, status);
            book.dirty.store(true, Ordering::Release);
            let left = book.outstanding.fetch_sub(1, Ordering::AcqRel) - 1;
            if book.stopped.load(Ordering::Acquire) {
                let recent = book
                    .save_lock
                    .lock()
                    .is_some_and(|t| t.elapsed() < STOPPED_SAVE_INTERVAL);
                if left == 0 || !recent {
                    book.save();
                }
            }
        })
    }

    /// Groups sent and not acknowledged yet.
    #[cfg(test)]
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Acquire)
    }

    /// The input stopped: from now on acknowledgements save the checkpoint themselves.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.save();
    }

    /// Saves if anything changed since the last save.
    pub fn save_if_dirty(&self) {
        if self.dirty.load(Ordering::Acquire) {
            self.save();
        }
    }

    /// What would be saved now.
    pub fn snapshot(&self) -> Checkpoint {
        let mut files: Vec<FileCheckpoint> = self
            .files
            .lock()
            .values()
            .map(|e| FileCheckpoint {
                dev: e.id.dev,
                inode: e.id.inode,
                sig_size: e.sig.size,
                sig_hash: e.sig.hash,
                path: e.path.clone(),
                offset: e.tracker.committed(),
            })
            .collect();
        files.extend(self.leftovers.lock().iter().cloned());
        Checkpoint { files }
    }

    pub fn save(&self) {
        let mut last = self.save_lock.lock();
        self.dirty.store(false, Ordering::Release);
        let snapshot = self.snapshot();
        let ctx = self.ctx.lock().clone();
        if let Err(e) = ctx.save_checkpoint_object(KEY, &snapshot) {
            self.dirty.store(true, Ordering::Release);
            tracing::warn!(error = %format!("{e:#}"), "saving the input_file checkpoint failed; will retry");
        }
        *last = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_the_contiguous_delivered_prefix() {
        let t = Tracker::new(100);
        let a = t.push(200);
        let b = t.push(300);
        let c = t.push(400);
        assert!(!t.complete(b, AckStatus::Delivered));
        assert_eq!(t.committed(), 100, "b is done but a is not");
        assert!(t.complete(a, AckStatus::Delivered));
        assert_eq!(t.committed(), 300);
        t.push_done(450);
        assert_eq!(t.committed(), 300, "a dropped-on-purpose range waits its turn");
        assert!(t.complete(c, AckStatus::Dropped));
        assert_eq!(t.committed(), 450);
        assert_eq!(t.pending(), 0);
        t.push_done(500);
        assert_eq!(t.committed(), 500);
        assert!(
            !t.complete(c, AckStatus::Delivered),
            "stale sequence numbers are ignored"
        );
    }

    #[test]
    fn an_abandoned_range_holds_the_commit() {
        let t = Tracker::new(0);
        let a = t.push(10);
        let b = t.push(20);
        t.complete(a, AckStatus::Abandoned);
        t.complete(b, AckStatus::Delivered);
        assert_eq!(t.committed(), 0);
        assert!(t.abandoned());
    }

    #[test]
    fn acknowledgements_after_stop_save_the_checkpoint() {
        let store: Arc<dyn loong_api::CheckpointStore> = Arc::new(loong_api::MemoryCheckpoints::default());
        let ctx = Context::builder("p")
            .plugin("input_file", "input_file/1")
            .checkpoints(store)
            .build();
        let book = Book::new(ctx.clone(), None);
        let tracker = Tracker::new(0);
        let id = DevInode { dev: 1, inode: 2 };
        book.set(
            7,
            BookEntry {
                id,
                sig: Signature::of(b"abc"),
                path: "/x/a.log".into(),
                tracker: tracker.clone(),
            },
        );
        let ack1 = book.ack(tracker.clone(), tracker.push(10));
        let ack2 = book.ack(tracker.clone(), tracker.push(20));
        assert_eq!(book.outstanding(), 2);
        book.stop();
        let saved = || Book::load(&ctx).unwrap().files[0].offset;
        assert_eq!(saved(), 0);
        ack1.complete(AckStatus::Delivered);
        ack2.complete(AckStatus::Delivered);
        assert_eq!(saved(), 20, "the last acknowledgement saved");
        assert_eq!(book.outstanding(), 0);

        // A later run claims the checkpoint when the signature matches.
        let again = Book::new(ctx.clone(), Book::load(&ctx));
        assert!(again.claim(id, b"abcdef").is_some());
        let again = Book::new(ctx.clone(), Book::load(&ctx));
        assert!(again.claim(id, b"xyz").is_none(), "content changed");
        assert!(again.leftovers().is_empty());
    }
}
