use crate::{Context, LogGroup, PipelineContext, PipelineGroupEvents, Result};

/// What every flusher implements: LoongCollector's `Flusher` interface.
///
/// A flusher also implements [`FlusherV1`], [`FlusherV2`] or both, and says so through
/// [`Flusher::as_v1`] / [`Flusher::as_v2`] (Rust's stand-in for Go's type assertion).
pub trait Flusher: Send {
    /// Creates connections and workers. An error aborts the load of the pipeline config.
    fn init(&mut self, ctx: &Context) -> Result<()>;

    /// One line saying what the flusher does.
    fn description(&self) -> &str;

    /// Whether the flusher can take more data now. The runner asks before every flush/export and
    /// waits while it is false (back-pressure reaches the input). Call [`Context::notify_ready`] when
    /// it turns true again so the runner wakes at once instead of on its next poll.
    fn is_ready(&self, project: &str, logstore: &str, logstore_key: i64) -> bool;

    /// `true` when the agent is exiting: let `is_ready` return true and send faster (shorter
    /// backoffs), so the pipeline can stop within its bound.
    fn set_urgent(&mut self, flag: bool);

    /// Writes out anything buffered, then releases connections, files and workers.
    fn stop(&mut self) -> Result<()>;

    /// `Some(self)` if the flusher implements [`FlusherV1`].
    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        None
    }

    /// `Some(self)` if the flusher implements [`FlusherV2`].
    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        None
    }
}

/// A flusher that takes SLS `LogGroup`s (LoongCollector's `FlusherV1`).
pub trait FlusherV1: Flusher {
    /// Sends the groups. `Ok` means the flusher accepted them (sent, or queued in a buffer that
    /// [`Flusher::stop`] writes out); an error makes the runner retry this flusher with backoff.
    fn flush(&mut self, project: &str, logstore: &str, config: &str, groups: &[LogGroup]) -> Result<()>;
}

/// A flusher that takes V2 event groups (LoongCollector's `FlusherV2`).
pub trait FlusherV2: Flusher {
    /// Sends the groups; same contract as [`FlusherV1::flush`].
    fn export(&mut self, groups: &[PipelineGroupEvents], ctx: &mut PipelineContext) -> Result<()>;
}

/// Tells the runner's retry of a batch from a new batch, for a flusher that resumes a partly sent
/// batch instead of sending all of it again.
///
/// The runner retries a failed flush/export with the very same slice, and keeps a batch it gave up
/// on (`FlushRetry.MaxRetries`) alive until that flusher's next call returns, so while a flusher may
/// still hold progress for a batch no other batch can have its address. Keys taken from the `groups`
/// argument of two calls are therefore equal exactly when the second call is a retry of the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchKey {
    addr: usize,
    len: usize,
}

impl BatchKey {
    /// The key of the batch a flush (`&[LogGroup]`) or export (`&[PipelineGroupEvents]`) was given.
    pub fn of<T>(groups: &[T]) -> Self {
        BatchKey {
            addr: groups.as_ptr() as usize,
            len: groups.len(),
        }
    }
}
