//! A `metrics` recorder that keeps values where a test can read them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use parking_lot::Mutex;

/// Records the metrics of code run inside [`MetricsCapture::scoped`].
///
/// Plugins create their handles once in `init`; a handle created inside the scope keeps recording
/// here after the scope ends, so init the plugin inside it and send data inside or outside. The scope
/// is per thread (`metrics::with_local_recorder`), so parallel tests do not see each other's values.
#[derive(Clone, Default)]
pub struct MetricsCapture {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    counters: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<Key, Arc<Samples>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().push(value);
    }
}

fn matches(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    key.name() == name
        && labels
            .iter()
            .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}

impl MetricsCapture {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` with this capture as the thread's recorder.
    pub fn scoped<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(self, f)
    }

    /// The counter `name` summed over every label set (0 when never registered).
    pub fn counter(&self, name: &str) -> u64 {
        self.counter_with(name, &[])
    }

    /// The counter `name` summed over the label sets that include every pair of `labels`.
    pub fn counter_with(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.inner
            .counters
            .lock()
            .iter()
            .filter(|(k, _)| matches(k, name, labels))
            .map(|(_, v)| v.load(Ordering::Relaxed))
            .sum()
    }

    /// The last value set on gauge `name` with a label set including `labels`, if any.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.inner
            .gauges
            .lock()
            .iter()
            .find(|(k, _)| matches(k, name, labels))
            .map(|(_, v)| f64::from_bits(v.load(Ordering::Relaxed)))
    }

    /// Every value recorded into histogram `name`, over every label set.
    pub fn histogram(&self, name: &str) -> Vec<f64> {
        self.inner
            .histograms
            .lock()
            .iter()
            .filter(|(k, _)| k.name() == name)
            .flat_map(|(_, v)| v.0.lock().clone())
            .collect()
    }
}

impl Recorder for MetricsCapture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.inner.counters.lock().entry(key.clone()).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.inner.gauges.lock().entry(key.clone()).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.inner.histograms.lock().entry(key.clone()).or_default().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_made_in_scope_keep_recording_after_it() {
        let capture = MetricsCapture::new();
        let ctx = crate::mock_context("flusher_x");
        let (counter, gauge, histogram) = capture.scoped(|| {
            (
                ctx.metrics().counter("sent_total"),
                ctx.metrics().gauge("queue_len"),
                ctx.metrics().histogram("latency"),
            )
        });
        counter.increment(2);
        counter.increment(3);
        gauge.set(7.0);
        histogram.record(0.5);
        assert_eq!(capture.counter("sent_total"), 5);
        assert_eq!(capture.counter_with("sent_total", &[("plugin_id", "flusher_x/1")]), 5);
        assert_eq!(capture.counter_with("sent_total", &[("plugin_id", "other")]), 0);
        assert_eq!(capture.gauge("queue_len", &[]), Some(7.0));
        assert_eq!(capture.histogram("latency"), vec![0.5]);
        // Outside the scope nothing is captured.
        ctx.metrics().counter("sent_total").increment(1);
        assert_eq!(capture.counter("sent_total"), 5);
    }
}
