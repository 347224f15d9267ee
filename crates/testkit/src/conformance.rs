//! The flusher conformance suite: the contract every flusher keeps, checked the same way for all.
//!
//! ```ignore
//! Conformance::new("flusher_x", || Box::new(XFlusher::new(config.clone())))
//!     .read_back(move || read_bodies_from_backend())
//!     .run();
//! ```
//!
//! `read_back` returns the bodies (`content`) of every log the backend has received so far; it may
//! include data from earlier steps: the suite only looks for the bodies it sent. Without
//! `read_back` (a sink that keeps nothing, like `flusher_blackhole`) the suite checks the calls only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use loong_api::model::convert;
use loong_api::{Flusher, PipelineContext, PipelineGroupEvents};

use crate::{log_events, mock_context, sample_events};

type Make = Box<dyn Fn() -> Box<dyn Flusher>>;
type ReadBack = Box<dyn Fn() -> Vec<String>>;

pub struct Conformance {
    plugin_type: String,
    make: Make,
    read_back: Option<ReadBack>,
    /// Longest wait for readiness and for data to show up at the backend.
    patience: Duration,
}

impl Conformance {
    /// `make` creates a fresh, uninitialised flusher with the options under test.
    pub fn new(plugin_type: &str, make: impl Fn() -> Box<dyn Flusher> + 'static) -> Self {
        Conformance {
            plugin_type: plugin_type.to_owned(),
            make: Box::new(make),
            read_back: None,
            patience: Duration::from_secs(10),
        }
    }

    /// Creates the flusher through a registry, as a pipeline config would (`options` without `Type`).
    pub fn from_registry(
        register: fn(&mut loong_api::Registry),
        plugin_type: &str,
        options: serde_json::Value,
    ) -> Self {
        let mut registry = loong_api::Registry::new();
        register(&mut registry);
        assert!(
            registry.problems().is_empty(),
            "registry problems: {:?}",
            registry.problems()
        );
        let name = plugin_type.to_owned();
        Self::new(plugin_type, move || {
            let (flusher, warnings) = registry
                .create_flusher(&name, &options)
                .unwrap_or_else(|e| panic!("{name}: cannot create from {options}: {e}"));
            assert!(warnings.is_empty(), "{name}: option warnings {warnings:?}");
            flusher
        })
    }

    /// How to read back the bodies the backend received.
    pub fn read_back(mut self, f: impl Fn() -> Vec<String> + 'static) -> Self {
        self.read_back = Some(Box::new(f));
        self
    }

    pub fn patience(mut self, d: Duration) -> Self {
        self.patience = d;
        self
    }

    /// Runs every check; panics with a message naming the flusher and the broken rule.
    pub fn run(&self) {
        let mut probe = self.init_fresh("init with the given options");
        assert!(
            !probe.description().trim().is_empty(),
            "{}: description is empty",
            self.plugin_type
        );
        let has_v1 = probe.as_v1().is_some();
        let has_v2 = probe.as_v2().is_some();
        assert!(
            has_v1 || has_v2,
            "{}: implements neither FlusherV1 nor FlusherV2",
            self.plugin_type
        );
        self.stop_bounded(probe.as_mut(), "after init");

        if has_v2 {
            self.delivers("v2", |f, batch| {
                f.as_v2().unwrap().export(batch, &mut PipelineContext::noop())
            });
            let mut f = self.init_fresh("export of every event kind");
            self.wait_ready(f.as_ref(), "before exporting every kind");
            f.as_v2()
                .unwrap()
                .export(&sample_events(), &mut PipelineContext::noop())
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: export of log/metric/span/byteArray events failed: {e:#}",
                        self.plugin_type
                    )
                });
            self.stop_bounded(f.as_mut(), "after exporting every kind");
        }
        if has_v1 {
            self.delivers("v1", |f, batch| {
                f.as_v1().unwrap().flush(
                    "test_project",
                    "test_logstore",
                    "test",
                    &convert::events_to_log_groups(batch),
                )
            });
        }
        if has_v1 && has_v2 && self.read_back.is_some() {
            // Same batch through both exits: the backend must see the same bodies.
            let v1 = self.delivered_with_prefix("v1");
            let v2 = self.delivered_with_prefix("v2");
            assert_eq!(
                v1, v2,
                "{}: V1 flush and V2 export delivered different data",
                self.plugin_type
            );
        }
        self.urgent();
        let mut again = self.init_fresh("a new instance after stop (resources released)");
        self.stop_bounded(again.as_mut(), "second instance");
    }

    fn init_fresh(&self, step: &str) -> Box<dyn Flusher> {
        let mut f = (self.make)();
        let ctx = mock_context(&self.plugin_type);
        f.init(&ctx)
            .unwrap_or_else(|e| panic!("{}: init failed ({step}): {e:#}", self.plugin_type));
        f
    }

    fn wait_ready(&self, f: &dyn Flusher, step: &str) {
        let start = Instant::now();
        while !f.is_ready("test_project", "test_logstore", 0) {
            assert!(
                start.elapsed() < self.patience,
                "{}: not ready within {:?} ({step})",
                self.plugin_type,
                self.patience
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop_bounded(&self, f: &mut dyn Flusher, step: &str) {
        let start = Instant::now();
        f.stop()
            .unwrap_or_else(|e| panic!("{}: stop failed ({step}): {e:#}", self.plugin_type));
        // LoongCollector bounds a whole pipeline stop by 30 s; one flusher must stay well inside it.
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}: stop took {:?} ({step})",
            self.plugin_type,
            start.elapsed()
        );
    }

    /// Sends two batches through `send`, stops (which must write out anything buffered), then
    /// checks the backend has every body.
    fn delivers(&self, exit: &str, send: impl Fn(&mut dyn Flusher, &[PipelineGroupEvents]) -> loong_api::Result<()>) {
        let mut f = self.init_fresh(exit);
        for part in 0..2 {
            self.wait_ready(f.as_ref(), exit);
            let batch = [log_events(&format!("conformance-{exit}-{part}"), 5)];
            send(f.as_mut(), &batch).unwrap_or_else(|e| panic!("{}: {exit} failed: {e:#}", self.plugin_type));
        }
        self.stop_bounded(f.as_mut(), exit);
        let expected: Vec<String> = (0..2)
            .flat_map(|part| (0..5).map(move |i| format!("conformance-{exit}-{part}-{i}")))
            .collect();
        self.expect_delivered(&expected, &format!("{exit} then stop"));
    }

    fn urgent(&self) {
        let mut f = self.init_fresh("urgent");
        f.set_urgent(true);
        assert!(
            f.is_ready("test_project", "test_logstore", 0),
            "{}: not ready after set_urgent(true)",
            self.plugin_type
        );
        let batch = [log_events("conformance-urgent-0", 3)];
        let result = match f.as_v2() {
            Some(v2) => v2.export(&batch, &mut PipelineContext::noop()),
            None => f.as_v1().unwrap().flush(
                "test_project",
                "test_logstore",
                "test",
                &convert::events_to_log_groups(&batch),
            ),
        };
        result.unwrap_or_else(|e| panic!("{}: sending while urgent failed: {e:#}", self.plugin_type));
        self.stop_bounded(f.as_mut(), "urgent");
        self.expect_delivered(
            &(0..3).map(|i| format!("conformance-urgent-0-{i}")).collect::<Vec<_>>(),
            "urgent then stop",
        );
    }

    fn expect_delivered(&self, expected: &[String], step: &str) {
        let Some(read_back) = &self.read_back else { return };
        let start = Instant::now();
        loop {
            let mut have: HashMap<String, usize> = HashMap::new();
            for body in read_back() {
                *have.entry(body).or_default() += 1;
            }
            let missing: Vec<&String> = expected.iter().filter(|b| !have.contains_key(*b)).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < self.patience,
                "{}: {} of {} bodies never reached the backend ({step}), e.g. {:?}",
                self.plugin_type,
                missing.len(),
                expected.len(),
                missing.first()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Bodies sent through one exit, with the exit's name removed so V1 and V2 can be compared.
    fn delivered_with_prefix(&self, exit: &str) -> Vec<String> {
        let prefix = format!("conformance-{exit}-");
        let mut bodies: Vec<String> = (self.read_back.as_ref().expect("checked"))()
            .into_iter()
            .filter_map(|b| b.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        bodies.sort();
        bodies.dedup();
        bodies
    }
}
