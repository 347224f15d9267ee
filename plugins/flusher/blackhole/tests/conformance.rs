use loong_flusher_blackhole::{NAME, register};
use loong_testkit::{Conformance, MetricsCapture};

#[test]
fn flusher_blackhole_conforms() {
    let capture = MetricsCapture::new();
    let events = capture.clone();
    // Every instance the suite creates registers its counters inside the capture's scope.
    capture.scoped(|| {
        Conformance::from_registry(register, NAME, serde_json::json!({}))
            .counts_only(move || events.counter("blackhole_events_total"))
            .run()
    });
}
