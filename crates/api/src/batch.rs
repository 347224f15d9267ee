//! A batching helper for aggregators (LoongCollector's aggregator helpers): groups are merged into
//! one open batch per key until it holds `max_events` events or `max_bytes` bytes, or has been
//! open for `interval`. Acknowledgements travel with the events they belong to.
//!
//! The runtime's default aggregator and the `aggregator_*` plugins are thin layers over it that
//! choose the key (the source, some content values…).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use crate::{GroupInfo, PipelineGroupEvents};

/// When a batch is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_events: usize,
    pub max_bytes: usize,
    pub interval: Duration,
}

impl Default for Limits {
    /// LoongCollector's: 1024 events or ~3 MiB per group, sent at least every 3 s.
    fn default() -> Self {
        Limits {
            max_events: 1024,
            max_bytes: 3 * 1024 * 1024,
            interval: Duration::from_secs(3),
        }
    }
}

pub struct Batcher {
    limits: Limits,
    open: HashMap<u64, Open>,
}

struct Open {
    group: PipelineGroupEvents,
    bytes: usize,
    since: Instant,
}

/// A key that is the same for groups of the same source: their metadata and tags.
pub fn source_key(group: &GroupInfo) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (k, v) in group.metadata.iter().chain(group.tags.iter()) {
        k.hash(&mut h);
        v.hash(&mut h);
    }
    h.finish()
}

impl Batcher {
    pub fn new(limits: Limits) -> Self {
        Batcher {
            limits: Limits {
                max_events: limits.max_events.max(1),
                max_bytes: limits.max_bytes.max(1),
                interval: limits.interval,
            },
            open: HashMap::new(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Adds `group` to the batch of `key`; pushes to `ready` whatever is full now. The first group
    /// of a batch decides its tags and metadata, so callers key groups that must not mix apart.
    pub fn add(&mut self, key: u64, mut group: PipelineGroupEvents, ready: &mut Vec<PipelineGroupEvents>) {
        let limits = self.limits;
        let bytes = group.byte_size();
        if let Some(open) = self.open.get_mut(&key) {
            let fits = open.group.events.len() + group.events.len() <= limits.max_events
                && open.bytes + bytes <= limits.max_bytes;
            if fits {
                open.group.events.append(&mut group.events);
                open.group.acks.merge(group.acks.take());
                open.bytes += bytes;
                if open.group.events.len() >= limits.max_events || open.bytes >= limits.max_bytes {
                    ready.push(self.open.remove(&key).expect("present").group);
                }
                return;
            }
            ready.push(self.open.remove(&key).expect("present").group);
        }
        if group.events.len() >= limits.max_events || bytes >= limits.max_bytes {
            ready.push(group);
        } else {
            self.open.insert(
                key,
                Open {
                    group,
                    bytes,
                    since: Instant::now(),
                },
            );
        }
    }

    /// Pushes to `ready` every batch open for `interval` or longer; with `all`, every batch.
    pub fn due(&mut self, ready: &mut Vec<PipelineGroupEvents>, all: bool) {
        let now = Instant::now();
        let interval = self.limits.interval;
        let due: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, o)| all || now.duration_since(o.since) >= interval)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            ready.push(self.open.remove(&key).expect("present").group);
        }
    }

    /// Batches open now.
    pub fn open_batches(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use loong_model::{Ack, AckSet, AckStatus, LogEvent, PipelineEvent};

    use super::*;

    fn group(source: &str, n: usize) -> PipelineGroupEvents {
        let mut info = GroupInfo::default();
        info.tags.insert("source", source.to_owned());
        let events = (0..n)
            .map(|i| PipelineEvent::Log(LogEvent::with_body(format!("line {i}"), 0)))
            .collect();
        PipelineGroupEvents::new(info, events)
    }

    fn limits(max_events: usize, interval: Duration) -> Limits {
        Limits {
            max_events,
            max_bytes: 1 << 20,
            interval,
        }
    }

    #[test]
    fn merges_per_key_and_cuts_at_max_events() {
        let mut b = Batcher::new(limits(10, Duration::from_secs(3600)));
        let mut ready = Vec::new();
        for (source, n) in [("a", 4), ("b", 4), ("a", 4)] {
            let g = group(source, n);
            b.add(source_key(&g.group), g, &mut ready);
        }
        assert!(ready.is_empty());
        let g = group("a", 4);
        b.add(source_key(&g.group), g, &mut ready);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].events.len(), 8);
        ready.clear();
        b.due(&mut ready, false);
        assert!(ready.is_empty(), "nothing is due by time yet");
        b.due(&mut ready, true);
        let mut sizes: Vec<usize> = ready.iter().map(|g| g.events.len()).collect();
        sizes.sort();
        assert_eq!(sizes, vec![4, 4]);
    }

    #[test]
    fn cuts_by_bytes_and_by_time() {
        let mut b = Batcher::new(Limits {
            max_events: 1000,
            max_bytes: 30,
            interval: Duration::ZERO,
        });
        let mut ready = Vec::new();
        b.add(1, group("a", 10), &mut ready);
        assert_eq!(ready.len(), 1, "a group over max_bytes goes at once");
        ready.clear();
        b.add(1, group("a", 1), &mut ready);
        b.due(&mut ready, false);
        assert_eq!(ready.len(), 1, "due at once with a zero interval");
    }

    #[test]
    fn merged_batches_carry_every_ack() {
        let delivered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut b = Batcher::new(limits(100, Duration::from_secs(3600)));
        let mut ready = Vec::new();
        for _ in 0..3 {
            let d = delivered.clone();
            let mut g = group("a", 2);
            g.acks = AckSet::single(Ack::new(move |s| {
                if s == AckStatus::Delivered {
                    d.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }));
            b.add(7, g, &mut ready);
        }
        b.due(&mut ready, true);
        assert_eq!(ready.len(), 1);
        ready.pop().unwrap().acks.complete(AckStatus::Delivered);
        assert_eq!(delivered.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
