use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender};
use loong_api::ReadySignal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    Running = 0,
    /// Stop delivering at the next batch boundary; collect what is left for the next instance.
    Handover = 1,
    /// The stop deadline passed: give up everywhere.
    Abort = 2,
}

/// Flags every stage of a pipeline watches, plus the signal that wakes the flush loop.
pub(crate) struct Shared {
    state: AtomicU8,
    urgent: AtomicBool,
    inputs_closed: AtomicBool,
    /// Inputs that said they produced all they ever will (`Collector::done`), or failed to start.
    inputs_done: AtomicUsize,
    /// Events the flush loop gave up on (`FlushRetry.MaxRetries`).
    dropped_events: AtomicU64,
    pub ready: ReadySignal,
    /// Bytes of the groups in the input queue, bounded by `DefaultLogQueueBytes`: a group of an
    /// input can be one 512 KiB read block, so a count bound alone would let the queue hold
    /// hundreds of megabytes.
    queued_bytes: parking_lot::Mutex<usize>,
    bytes_freed: parking_lot::Condvar,
    queue_bytes_limit: usize,
}

impl Shared {
    pub fn new(ready: ReadySignal, queue_bytes_limit: usize) -> Self {
        Shared {
            queued_bytes: parking_lot::Mutex::new(0),
            bytes_freed: parking_lot::Condvar::new(),
            queue_bytes_limit: queue_bytes_limit.max(1),
            state: AtomicU8::new(State::Running as u8),
            urgent: AtomicBool::new(false),
            inputs_closed: AtomicBool::new(false),
            inputs_done: AtomicUsize::new(0),
            dropped_events: AtomicU64::new(0),
            ready,
        }
    }

    pub fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            0 => State::Running,
            1 => State::Handover,
            _ => State::Abort,
        }
    }

    pub fn set_state(&self, state: State) {
        self.state.fetch_max(state as u8, Ordering::AcqRel);
        self.ready.notify();
    }

    pub fn aborted(&self) -> bool {
        self.state() == State::Abort
    }

    pub fn urgent(&self) -> bool {
        self.urgent.load(Ordering::Acquire)
    }

    pub fn set_urgent(&self) {
        self.urgent.store(true, Ordering::Release);
        self.ready.notify();
    }

    pub fn inputs_closed(&self) -> bool {
        self.inputs_closed.load(Ordering::Acquire)
    }

    pub fn close_inputs(&self) {
        self.inputs_closed.store(true, Ordering::Release);
    }

    /// Waits until `bytes` more fit in the input queue's byte budget (a group larger than the whole
    /// budget goes in alone), then takes them. False when the pipeline aborted meanwhile.
    pub fn reserve_queue_bytes(&self, bytes: usize) -> bool {
        let mut used = self.queued_bytes.lock();
        while *used > 0 && *used + bytes > self.queue_bytes_limit {
            if self.aborted() {
                return false;
            }
            self.bytes_freed.wait_for(&mut used, Duration::from_millis(100));
        }
        *used += bytes;
        true
    }

    pub fn release_queue_bytes(&self, bytes: usize) {
        let mut used = self.queued_bytes.lock();
        *used = used.saturating_sub(bytes);
        self.bytes_freed.notify_all();
    }

    pub fn input_done(&self) {
        self.inputs_done.fetch_add(1, Ordering::AcqRel);
    }

    pub fn inputs_done(&self) -> usize {
        self.inputs_done.load(Ordering::Acquire)
    }

    pub fn add_dropped(&self, events: u64) {
        self.dropped_events.fetch_add(events, Ordering::AcqRel);
    }

    pub fn dropped(&self) -> u64 {
        self.dropped_events.load(Ordering::Acquire)
    }
}

/// Sends into a bounded queue, blocking while it is full, but giving up once the pipeline aborts.
pub(crate) fn send_blocking<T>(tx: &Sender<T>, mut msg: T, shared: &Shared) -> Result<(), T> {
    loop {
        match tx.send_timeout(msg, Duration::from_millis(100)) {
            Ok(()) => return Ok(()),
            Err(SendTimeoutError::Timeout(m)) => {
                if shared.aborted() {
                    return Err(m);
                }
                msg = m;
            }
            Err(SendTimeoutError::Disconnected(m)) => return Err(m),
        }
    }
}

/// Sets the abort flag when the stop deadline passes, unless the stop finished first.
pub(crate) struct Watchdog {
    done: Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Watchdog {
    pub fn start(shared: Arc<Shared>, deadline: Instant) -> Self {
        let (done, rx) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::spawn(move || {
            if rx.recv_deadline(deadline).is_err() {
                shared.set_state(State::Abort);
            }
        });
        Watchdog { done, thread }
    }

    pub fn finish(self) {
        let _ = self.done.send(());
        let _ = self.thread.join();
    }
}
