//! The flusher conformance suite: the contract of [`Flusher`] every flusher keeps, checked the same
//! way for all of them.
//!
//! ```ignore
//! Conformance::from_registry(register, "flusher_x", json!({"Endpoint": url}))
//!     .read_back(move || backend.bodies())
//!     .run();
//! ```
//!
//! The suite needs to know what reached the backend, in one of two ways:
//!
//! * [`Conformance::read_back`]: the bodies (`content` of each log) the backend holds so far. Earlier
//!   steps' data may still be there: every step sends bodies of its own and looks only for those.
//! * [`Conformance::counts_only`]: for a sink that keeps nothing (`flusher_blackhole`), the number of
//!   events it has accepted so far, e.g. read from its counters with [`crate::MetricsCapture`].
//!
//! [`Conformance::run`] checks, for every exit (`FlusherV1::flush`, `FlusherV2::export`) the flusher
//! has:
//!
//! 1. it is created (through the registry, so with its real option decoding) and initialised;
//! 2. it is ready after `init`, at once or within [`Conformance::patience`];
//! 3. data flushed/exported before `stop` has reached the backend when `stop` returns, exactly once;
//! 4. events of every kind (and V1 groups with tags) are accepted;
//! 5. with both exits, a batch flushed as its V1 conversion and the same batch exported as V2
//!    deliver the same bodies;
//! 6. after `set_urgent(true)`, `is_ready` is true at once and sending still works;
//! 7. `stop` returns within the patience, and a new instance with the same options (same file, same
//!    port…) can be created and delivers after the old one stopped.
//!
//! Each failure panics with a message naming the flusher, the step and what went wrong.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use loong_api::model::convert;
use loong_api::{Flusher, LogGroup, PipelineContext, PipelineGroupEvents};

use crate::{log_events_with_prefix, mock_context, sample_events, sample_log_groups, v1_body};

type Make = Box<dyn Fn() -> Box<dyn Flusher>>;

enum Delivered {
    Unset,
    Bodies(Box<dyn Fn() -> Vec<String>>),
    Count(Box<dyn Fn() -> u64>),
}

/// What the backend held before a step, to compare with after it.
enum Mark {
    Bodies,
    Count(u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Exit {
    V1,
    V2,
}

impl Exit {
    fn name(self) -> &'static str {
        match self {
            Exit::V1 => "v1",
            Exit::V2 => "v2",
        }
    }
}

const PROJECT: &str = "test_project";
const LOGSTORE: &str = "test_logstore";
/// Events per batch the delivery steps send.
const BATCH: usize = 5;

/// A configured run of the suite for one flusher (with one set of options).
pub struct Conformance {
    plugin_type: String,
    make: Make,
    delivered: Delivered,
    patience: Duration,
}

impl Conformance {
    /// `make` creates a fresh, uninitialised flusher with the options under test; the suite calls
    /// it once per step.
    pub fn new(plugin_type: &str, make: impl Fn() -> Box<dyn Flusher> + 'static) -> Self {
        Conformance {
            plugin_type: plugin_type.to_owned(),
            make: Box::new(make),
            delivered: Delivered::Unset,
            patience: Duration::from_secs(10),
        }
    }

    /// Creates the flusher through a registry filled by the crate's `register`, as a pipeline
    /// config would (`options` is the config object without `Type`). Option warnings (unknown keys)
    /// fail the suite: a typo in the test's options would otherwise test the defaults.
    pub fn from_registry(
        register: fn(&mut loong_api::Registry),
        plugin_type: &str,
        options: serde_json::Value,
    ) -> Self {
        let mut registry = loong_api::Registry::new();
        register(&mut registry);
        assert!(
            registry.problems().is_empty(),
            "{plugin_type}: registry problems: {:?}",
            registry.problems()
        );
        let name = plugin_type.to_owned();
        Self::new(plugin_type, move || {
            let (flusher, warnings) = registry
                .create_flusher(&name, &options)
                .unwrap_or_else(|e| panic!("{name}: cannot create from {options}: {e}"));
            assert!(
                warnings.is_empty(),
                "{name}: option warnings for {options}: {warnings:?}"
            );
            flusher
        })
    }

    /// How to read the bodies (`content` of each log) the backend has received so far.
    pub fn read_back(mut self, delivered: impl Fn() -> Vec<String> + 'static) -> Self {
        self.delivered = Delivered::Bodies(Box::new(delivered));
        self
    }

    /// For a sink that keeps no data: how many events (V2) or logs (V1) it has accepted so far. The
    /// suite then checks counts instead of bodies.
    pub fn counts_only(mut self, delivered_events: impl Fn() -> u64 + 'static) -> Self {
        self.delivered = Delivered::Count(Box::new(delivered_events));
        self
    }

    /// Longest wait for readiness after `init`, and longest `stop` (default 10 s).
    pub fn patience(mut self, d: Duration) -> Self {
        self.patience = d;
        self
    }

    /// Runs every check; panics with a message naming the flusher and the broken rule.
    pub fn run(&self) {
        assert!(
            !matches!(self.delivered, Delivered::Unset),
            "{}: tell the suite how to see delivered data: .read_back(..) or .counts_only(..)",
            self.plugin_type
        );
        let exits = self.init_and_stop();
        for &exit in &exits {
            self.delivers(exit);
        }
        if exits.contains(&Exit::V2) {
            self.every_event_kind();
        }
        if exits.contains(&Exit::V1) {
            self.v1_groups_with_tags();
        }
        if exits.len() == 2 {
            self.v1_and_v2_agree();
        }
        self.urgent(&exits);
        self.reopens(exits[0]);
    }

    fn fail(&self, step: &str, what: impl std::fmt::Display) -> ! {
        panic!("{} [{step}]: {what}", self.plugin_type)
    }

    fn init_fresh(&self, step: &str) -> Box<dyn Flusher> {
        let mut f = (self.make)();
        if let Err(e) = f.init(&mock_context(&self.plugin_type)) {
            self.fail(step, format_args!("init failed: {e:#}"));
        }
        f
    }

    /// Steps 1, 2 and 7 on a flusher that is given no data; returns its exits.
    fn init_and_stop(&self) -> Vec<Exit> {
        let step = "init";
        let mut f = self.init_fresh(step);
        if f.description().trim().is_empty() {
            self.fail(step, "description() is empty");
        }
        let mut exits = Vec::new();
        if f.as_v2().is_some() {
            exits.push(Exit::V2);
        }
        if f.as_v1().is_some() {
            exits.push(Exit::V1);
        }
        if exits.is_empty() {
            self.fail(
                step,
                "as_v1() and as_v2() are both None: implement FlusherV1 or FlusherV2",
            );
        }
        self.wait_ready(f.as_ref(), step);
        self.stop_bounded(f.as_mut(), step);
        exits
    }

    fn wait_ready(&self, f: &dyn Flusher, step: &str) {
        let start = Instant::now();
        while !f.is_ready(PROJECT, LOGSTORE, 0) {
            if start.elapsed() > self.patience {
                self.fail(
                    step,
                    format_args!("is_ready() still false {:?} after init", self.patience),
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop_bounded(&self, f: &mut dyn Flusher, step: &str) {
        let start = Instant::now();
        if let Err(e) = f.stop() {
            self.fail(step, format_args!("stop failed: {e:#}"));
        }
        let took = start.elapsed();
        if took > self.patience {
            self.fail(
                step,
                format_args!("stop took {took:?}, longer than {:?}", self.patience),
            );
        }
    }

    fn send(&self, f: &mut dyn Flusher, exit: Exit, batch: &[PipelineGroupEvents], step: &str) {
        match exit {
            Exit::V1 => self.send_v1(f, &convert::events_to_log_groups(batch), step),
            Exit::V2 => {
                let v2 = f.as_v2().expect("checked in init_and_stop");
                if let Err(e) = v2.export(batch, &mut PipelineContext::noop()) {
                    self.fail(step, format_args!("export failed: {e:#}"));
                }
            }
        }
    }

    fn send_v1(&self, f: &mut dyn Flusher, groups: &[LogGroup], step: &str) {
        let v1 = f.as_v1().expect("checked in init_and_stop");
        if let Err(e) = v1.flush(PROJECT, LOGSTORE, "test", groups) {
            self.fail(step, format_args!("flush failed: {e:#}"));
        }
    }

    fn mark(&self) -> Mark {
        match &self.delivered {
            Delivered::Count(count) => Mark::Count(count()),
            _ => Mark::Bodies,
        }
    }

    /// Checks, right after a stop, that the backend got every body of `expected` exactly once (or,
    /// counting, exactly `expected.len()` more events than at `mark`).
    fn expect_delivered(&self, mark: Mark, expected: &[String], step: &str) {
        match (&self.delivered, mark) {
            (Delivered::Count(count), Mark::Count(before)) => {
                let got = count().saturating_sub(before);
                if got != expected.len() as u64 {
                    self.fail(
                        step,
                        format_args!(
                            "{} events were sent before stop, the backend counted {got}",
                            expected.len()
                        ),
                    );
                }
            }
            (Delivered::Bodies(read_back), _) => {
                let mut have: HashMap<String, usize> = HashMap::new();
                for body in read_back() {
                    *have.entry(body).or_default() += 1;
                }
                let missing: Vec<&String> = expected.iter().filter(|b| !have.contains_key(*b)).collect();
                if !missing.is_empty() {
                    self.fail(
                        step,
                        format_args!(
                            "{} of {} bodies sent before stop were not delivered when stop returned: {missing:?}",
                            missing.len(),
                            expected.len()
                        ),
                    );
                }
                if let Some(twice) = expected.iter().find(|b| have[*b] > 1) {
                    self.fail(step, format_args!("body {twice:?} was delivered {} times", have[twice]));
                }
            }
            _ => unreachable!("run() checks that delivery is configured"),
        }
    }

    /// Step 3: two batches through one exit, then stop.
    fn delivers(&self, exit: Exit) {
        let step = format!("{} then stop", exit.name());
        let mark = self.mark();
        let mut f = self.init_fresh(&step);
        let mut expected = Vec::new();
        for part in 0..2 {
            self.wait_ready(f.as_ref(), &step);
            let batch = [log_events_with_prefix(
                &format!("conformance-{}-{part}", exit.name()),
                BATCH,
            )];
            expected.extend(bodies_of(&batch));
            self.send(f.as_mut(), exit, &batch, &step);
        }
        self.stop_bounded(f.as_mut(), &step);
        self.expect_delivered(mark, &expected, &step);
    }

    /// Step 4 for V2: one group holding a log, metrics, a span and a byte array.
    fn every_event_kind(&self) {
        let step = "v2 export of every event kind";
        let mark = self.mark();
        let mut f = self.init_fresh(step);
        self.wait_ready(f.as_ref(), step);
        let batch = sample_events();
        self.send(f.as_mut(), Exit::V2, &batch, step);
        self.stop_bounded(f.as_mut(), step);
        match mark {
            // Only logs have a body; the other kinds must count as events.
            Mark::Count(_) => {
                let all: Vec<String> = batch.iter().flat_map(|g| &g.events).map(|_| String::new()).collect();
                self.expect_delivered(mark, &all, step);
            }
            Mark::Bodies => self.expect_delivered(mark, &bodies_of(&batch), step),
        }
    }

    /// Step 4 for V1: several groups with tags, topic and source.
    fn v1_groups_with_tags(&self) {
        let step = "v1 flush of several tagged groups";
        let mark = self.mark();
        let mut f = self.init_fresh(step);
        self.wait_ready(f.as_ref(), step);
        let groups = sample_log_groups();
        self.send_v1(f.as_mut(), &groups, step);
        self.stop_bounded(f.as_mut(), step);
        let expected: Vec<String> = groups
            .iter()
            .flat_map(|g| &g.logs)
            .map(|l| v1_body(l).unwrap_or_default().to_owned())
            .collect();
        self.expect_delivered(mark, &expected, step);
    }

    /// Step 5: the bodies step 3 delivered through each exit, without the exit's name, are the same.
    fn v1_and_v2_agree(&self) {
        let Delivered::Bodies(read_back) = &self.delivered else {
            // Counting: step 3 already found the same count through both exits.
            return;
        };
        let delivered = read_back();
        let through = |exit: Exit| {
            let prefix = format!("conformance-{}-", exit.name());
            let mut bodies: Vec<&str> = delivered.iter().filter_map(|b| b.strip_prefix(&prefix)).collect();
            bodies.sort_unstable();
            bodies
        };
        let (v1, v2) = (through(Exit::V1), through(Exit::V2));
        if v1 != v2 {
            self.fail(
                "v1 and v2 agree",
                format_args!("the same batch delivered different bodies: V1 flush {v1:?}, V2 export {v2:?}"),
            );
        }
    }

    /// Step 6: an urgent flusher is ready at once and still sends, through every exit.
    fn urgent(&self, exits: &[Exit]) {
        let step = "urgent";
        let mark = self.mark();
        let mut f = self.init_fresh(step);
        f.set_urgent(true);
        let mut expected = Vec::new();
        for &exit in exits {
            if !f.is_ready(PROJECT, LOGSTORE, 0) {
                self.fail(step, "is_ready() is false after set_urgent(true)");
            }
            let batch = [log_events_with_prefix(
                &format!("conformance-urgent-{}", exit.name()),
                3,
            )];
            expected.extend(bodies_of(&batch));
            self.send(f.as_mut(), exit, &batch, step);
        }
        self.stop_bounded(f.as_mut(), step);
        self.expect_delivered(mark, &expected, step);
    }

    /// Step 7: instances with the same options, one after another, each deliver.
    fn reopens(&self, exit: Exit) {
        for round in 0..2 {
            let step = format!("instance {round} created after the previous one stopped");
            let mark = self.mark();
            let mut f = self.init_fresh(&step);
            self.wait_ready(f.as_ref(), &step);
            let batch = [log_events_with_prefix(&format!("conformance-reopen-{round}"), 2)];
            self.send(f.as_mut(), exit, &batch, &step);
            self.stop_bounded(f.as_mut(), &step);
            self.expect_delivered(mark, &bodies_of(&batch), &step);
        }
    }
}

/// The bodies of the log events of `groups`.
fn bodies_of(groups: &[PipelineGroupEvents]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| &g.events)
        .filter_map(|e| e.as_log())
        .map(|l| {
            l.body()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use loong_api::{Context, FlusherV1, FlusherV2, Result};
    use parking_lot::Mutex;

    use super::*;

    #[derive(Clone, Copy, PartialEq)]
    enum Fault {
        None,
        /// Keeps exported data in a buffer that `stop` forgets to write out.
        LosesBufferOnStop,
        /// Becomes ready a little after init, and `set_urgent` does not change that.
        IgnoresUrgent,
        /// Writes every V1 log twice.
        DuplicatesV1,
    }

    /// A flusher whose backend is a vector, with an optional fault.
    struct Memory {
        backend: Arc<Mutex<Vec<String>>>,
        buffer: Vec<String>,
        fault: Fault,
        ready_at: Instant,
        urgent: bool,
    }

    impl Flusher for Memory {
        fn init(&mut self, _: &Context) -> Result<()> {
            self.ready_at = Instant::now() + Duration::from_millis(30);
            Ok(())
        }
        fn description(&self) -> &str {
            "memory flusher for the suite's own tests"
        }
        fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
            (self.urgent && self.fault != Fault::IgnoresUrgent) || Instant::now() >= self.ready_at
        }
        fn set_urgent(&mut self, flag: bool) {
            self.urgent = flag;
        }
        fn stop(&mut self) -> Result<()> {
            if self.fault != Fault::LosesBufferOnStop {
                self.backend.lock().append(&mut self.buffer);
            }
            Ok(())
        }
        fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
            Some(self)
        }
        fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
            Some(self)
        }
    }

    impl FlusherV1 for Memory {
        fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
            let copies = if self.fault == Fault::DuplicatesV1 { 2 } else { 1 };
            for log in groups.iter().flat_map(|g| &g.logs) {
                for _ in 0..copies {
                    self.backend.lock().push(v1_body(log).unwrap_or_default().to_owned());
                }
            }
            Ok(())
        }
    }

    impl FlusherV2 for Memory {
        fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
            // Buffered until stop, like a flusher with a send queue.
            self.buffer.extend(bodies_of(groups));
            Ok(())
        }
    }

    fn suite(fault: Fault) -> Conformance {
        let backend = Arc::new(Mutex::new(Vec::new()));
        let b = backend.clone();
        Conformance::new("flusher_memory", move || {
            Box::new(Memory {
                backend: b.clone(),
                buffer: Vec::new(),
                fault,
                ready_at: Instant::now(),
                urgent: false,
            })
        })
        .read_back(move || backend.lock().clone())
    }

    #[test]
    fn a_correct_flusher_passes() {
        suite(Fault::None).run();
    }

    #[test]
    #[should_panic(expected = "flusher_memory [v2 then stop]: 10 of 10 bodies sent before stop were not delivered")]
    fn losing_the_buffer_on_stop_fails() {
        suite(Fault::LosesBufferOnStop).run();
    }

    #[test]
    #[should_panic(expected = "flusher_memory [urgent]: is_ready() is false after set_urgent(true)")]
    fn ignoring_urgent_fails() {
        suite(Fault::IgnoresUrgent).run();
    }

    #[test]
    #[should_panic(expected = "flusher_memory [v1 then stop]: body \"conformance-v1-0-0\" was delivered 2 times")]
    fn duplicate_delivery_fails() {
        suite(Fault::DuplicatesV1).run();
    }

    #[test]
    #[should_panic(expected = "flusher_memory [v2 then stop]: 10 events were sent before stop, the backend counted 0")]
    fn counts_are_checked() {
        Conformance::new("flusher_memory", || {
            Box::new(Memory {
                backend: Default::default(),
                buffer: Vec::new(),
                fault: Fault::None,
                ready_at: Instant::now(),
                urgent: false,
            })
        })
        .counts_only(|| 0)
        .run();
    }

    #[test]
    #[should_panic(expected = "tell the suite how to see delivered data")]
    fn delivery_must_be_observable() {
        Conformance::new("flusher_memory", || unreachable!()).run();
    }
}
