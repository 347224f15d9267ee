//! The default aggregator: batches events per source by count, bytes and time, as LoongCollector's
//! default does (1024 events or ~3 MiB per group, flushed every 3 s).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use loong_api::{Aggregator, Context, GroupInfo, PipelineGroupEvents, Result};

pub const DEFAULT_MAX_EVENTS: usize = 1024;
pub const DEFAULT_MAX_BYTES: usize = 3 * 1024 * 1024;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3);

/// Groups with the same metadata and tags come from the same source and are merged.
pub struct DefaultAggregator {
    max_events: usize,
    max_bytes: usize,
    interval: Duration,
    open: HashMap<u64, Open>,
}

struct Open {
    group: PipelineGroupEvents,
    bytes: usize,
    since: Instant,
}

impl Default for DefaultAggregator {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENTS, DEFAULT_MAX_BYTES, DEFAULT_INTERVAL)
    }
}

impl DefaultAggregator {
    pub fn new(max_events: usize, max_bytes: usize, interval: Duration) -> Self {
        DefaultAggregator {
            max_events: max_events.max(1),
            max_bytes: max_bytes.max(1),
            interval,
            open: HashMap::new(),
        }
    }

    fn source_key(group: &GroupInfo) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (k, v) in group.metadata.iter().chain(group.tags.iter()) {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        h.finish()
    }
}

impl Aggregator for DefaultAggregator {
    fn init(&mut self, _: &Context) -> Result<Duration> {
        Ok(self.interval)
    }

    fn description(&self) -> &str {
        "batches events per source by count, bytes and time"
    }

    fn record(&mut self, mut group: PipelineGroupEvents, ready: &mut Vec<PipelineGroupEvents>) -> Result<()> {
        let key = Self::source_key(&group.group);
        let bytes = group.byte_size();
        if let Some(open) = self.open.get_mut(&key) {
            let fits =
                open.group.events.len() + group.events.len() <= self.max_events && open.bytes + bytes <= self.max_bytes;
            if fits {
                open.group.events.append(&mut group.events);
                open.group.acks.merge(group.acks.take());
                open.bytes += bytes;
                if open.group.events.len() >= self.max_events || open.bytes >= self.max_bytes {
                    ready.push(self.open.remove(&key).expect("present").group);
                }
                return Ok(());
            }
            ready.push(self.open.remove(&key).expect("present").group);
        }
        if group.events.len() >= self.max_events || bytes >= self.max_bytes {
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
        Ok(())
    }

    fn get_result(&mut self, ready: &mut Vec<PipelineGroupEvents>, all: bool) -> Result<()> {
        let now = Instant::now();
        let interval = self.interval;
        let due: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, o)| all || now.duration_since(o.since) >= interval)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            ready.push(self.open.remove(&key).expect("present").group);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use loong_api::{LogEvent, PipelineEvent};

    use super::*;

    fn group(source: &str, n: usize) -> PipelineGroupEvents {
        let mut info = GroupInfo::default();
        info.tags.insert("source", source.to_owned());
        let events = (0..n)
            .map(|i| PipelineEvent::Log(LogEvent::with_body(format!("line {i}"), 0)))
            .collect();
        PipelineGroupEvents::new(info, events)
    }

    #[test]
    fn merges_per_source_and_cuts_at_max_events() {
        let mut agg = DefaultAggregator::new(10, 1 << 20, Duration::from_secs(3600));
        let mut ready = Vec::new();
        agg.record(group("a", 4), &mut ready).unwrap();
        agg.record(group("b", 4), &mut ready).unwrap();
        agg.record(group("a", 4), &mut ready).unwrap();
        assert!(ready.is_empty());
        agg.record(group("a", 4), &mut ready).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].events.len(), 8);
        ready.clear();
        agg.get_result(&mut ready, false).unwrap();
        assert!(ready.is_empty(), "nothing is due by time yet");
        agg.get_result(&mut ready, true).unwrap();
        let mut sizes: Vec<usize> = ready.iter().map(|g| g.events.len()).collect();
        sizes.sort();
        assert_eq!(sizes, vec![4, 4]);
    }

    #[test]
    fn flushes_by_time() {
        let mut agg = DefaultAggregator::new(1000, 1 << 20, Duration::ZERO);
        let mut ready = Vec::new();
        agg.record(group("a", 1), &mut ready).unwrap();
        agg.get_result(&mut ready, false).unwrap();
        assert_eq!(ready.len(), 1);
    }
}
