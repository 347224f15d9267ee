//! Delivery acknowledgements: how an input learns that every flusher accepted its data.
//!
//! An input that needs to know (to advance a file checkpoint, say) attaches an [`Ack`] to each group
//! it produces. The runtime completes it once every flusher accepted the batch holding the group. The
//! callback runs when the last holder is gone, with the worst status any holder reported:
//! [`AckStatus::Delivered`] only if every split of the group was delivered.
//!
//! Cloning a group (as a flusher that queues data does) makes a *passive* holder: it delays the
//! callback until the copy is dropped but never changes the status. Only [`Ack::split`] makes another
//! holder that must be completed, which is what processors and aggregators use when they divide a
//! group. A holder dropped without [`Ack::complete`] counts as [`AckStatus::Abandoned`], so data lost
//! on a crash or an aborted stop is never reported as delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum AckStatus {
    /// Every flusher accepted the data.
    Delivered = 0,
    /// Dropped on purpose by an explicit, counted policy.
    Dropped = 1,
    /// Not delivered: the pipeline stopped before it could be (the input should read it again).
    Abandoned = 2,
}

impl AckStatus {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => AckStatus::Delivered,
            1 => AckStatus::Dropped,
            _ => AckStatus::Abandoned,
        }
    }
}

type Callback = Box<dyn FnOnce(AckStatus) + Send>;

struct Shared {
    status: AtomicU8,
    callback: parking_lot::Mutex<Option<Callback>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(cb) = self.callback.get_mut().take() {
            cb(AckStatus::from_u8(*self.status.get_mut()));
        }
    }
}

/// One holder of a group's acknowledgement.
pub struct Ack {
    shared: Arc<Shared>,
    active: bool,
}

impl Ack {
    /// A new acknowledgement whose `callback` runs once, when every holder is gone.
    pub fn new(callback: impl FnOnce(AckStatus) + Send + 'static) -> Self {
        let shared = Shared {
            status: AtomicU8::new(AckStatus::Delivered as u8),
            callback: parking_lot::Mutex::new(Some(Box::new(callback))),
        };
        Ack {
            shared: Arc::new(shared),
            active: true,
        }
    }

    /// Another holder that must be completed too: for a group divided into parts.
    pub fn split(&self) -> Ack {
        Ack {
            shared: Arc::clone(&self.shared),
            active: true,
        }
    }

    /// Reports what happened to the data this holder covers.
    pub fn complete(mut self, status: AckStatus) {
        if self.active {
            self.shared.status.fetch_max(status as u8, Ordering::AcqRel);
            self.active = false;
        }
    }
}

impl Clone for Ack {
    fn clone(&self) -> Self {
        Ack {
            shared: Arc::clone(&self.shared),
            active: false,
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if self.active {
            self.shared
                .status
                .fetch_max(AckStatus::Abandoned as u8, Ordering::AcqRel);
        }
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack").field("active", &self.active).finish()
    }
}

/// The acknowledgements a group carries (none for inputs that do not track delivery).
#[derive(Debug, Clone, Default)]
pub struct AckSet(Vec<Ack>);

impl AckSet {
    pub fn new() -> Self {
        AckSet(Vec::new())
    }

    pub fn single(ack: Ack) -> Self {
        AckSet(vec![ack])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn push(&mut self, ack: Ack) {
        self.0.push(ack);
    }

    /// Moves `other`'s holders into this set: for aggregators that merge groups.
    pub fn merge(&mut self, mut other: AckSet) {
        self.0.append(&mut other.0);
    }

    /// A set of new active holders for the same acknowledgements: for a group divided into parts.
    pub fn split(&self) -> AckSet {
        AckSet(self.0.iter().filter(|a| a.active).map(Ack::split).collect())
    }

    /// Takes the holders out, leaving this set empty.
    pub fn take(&mut self) -> AckSet {
        AckSet(std::mem::take(&mut self.0))
    }

    pub fn complete(self, status: AckStatus) {
        for ack in self.0 {
            ack.complete(status);
        }
    }
}

/// Acknowledgements never make two groups differ.
impl PartialEq for AckSet {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn recorder() -> (Ack, Arc<Mutex<Vec<AckStatus>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        (Ack::new(move |st| s.lock().unwrap().push(st)), seen)
    }

    #[test]
    fn fires_once_after_every_split_completes() {
        let (ack, seen) = recorder();
        let part = ack.split();
        ack.complete(AckStatus::Delivered);
        assert!(seen.lock().unwrap().is_empty());
        part.complete(AckStatus::Delivered);
        assert_eq!(*seen.lock().unwrap(), vec![AckStatus::Delivered]);
    }

    #[test]
    fn dropped_holder_means_abandoned() {
        let (ack, seen) = recorder();
        let part = ack.split();
        ack.complete(AckStatus::Delivered);
        drop(part);
        assert_eq!(*seen.lock().unwrap(), vec![AckStatus::Abandoned]);
    }

    #[test]
    fn clones_delay_but_do_not_change_status() {
        let (ack, seen) = recorder();
        let copy = ack.clone();
        ack.complete(AckStatus::Delivered);
        assert!(seen.lock().unwrap().is_empty());
        drop(copy);
        assert_eq!(*seen.lock().unwrap(), vec![AckStatus::Delivered]);
    }
}
