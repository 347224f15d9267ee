//! `ext_request_breaker`: a [`RequestInterceptor`] circuit breaker with the behaviour of
//! LoongCollector's extension of the same name (which wraps `streadway/handy/breaker`):
//!
//! * **closed**: requests pass; outcomes are counted in one-second buckets over `WindowInSeconds`.
//!   A failure that leaves at least `MinObservations` outcomes in the window with a failure share
//!   above `FailureRatio` opens the circuit.
//! * **open**: `before_request` fails at once with [`CircuitOpen`] until `Cooldown` has passed.
//! * **half-open**: exactly one probe request is let through. Its success closes the circuit with
//!   an empty window; its failure opens it again for `Cooldown`. Should the flusher never report
//!   the probe's outcome, another probe is allowed after `Cooldown`, so the circuit cannot stick.
//!   As in handy, a success reported while open (a request sent before the circuit opened) also
//!   closes it: the endpoint evidently answers again.
//!
//! Differences from LoongCollector, on purpose: only 5xx, 429, 408 and transport errors are
//! failures (LoongCollector counts every status >= 400, so a flood of 400s for malformed data would
//! cut off a healthy endpoint); `MinObservations` and `Cooldown` are options (LoongCollector fixes
//! them at handy's 15 and 1 s) and the window needs at least, not more than, `MinObservations`
//! outcomes; a `FailureRatio` outside 0..=1 is an init error instead of being clamped.

mod config;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use loong_api::{Context, Extension, RequestInterceptor, Result};
use parking_lot::Mutex;

pub use config::RequestBreakerConfig;

/// The config `Type` of this extension.
pub const NAME: &str = "ext_request_breaker";

/// Where the breaker reads the time; tests drive it by hand.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The error `before_request` returns while the circuit is open. Flushers may downcast to it to
/// tell a refused request from a failed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitOpen {
    /// When a probe request will be let through.
    pub retry_in: Duration,
    pub failures: u64,
    pub observations: u64,
}

impl std::fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{NAME}: circuit open ({} of {} requests failed), next probe in {:?}",
            self.failures, self.observations, self.retry_in
        )
    }
}

impl std::error::Error for CircuitOpen {}

/// Settings checked at init.
#[derive(Debug, Clone, Copy)]
struct Settings {
    failure_ratio: f64,
    window_secs: u64,
    min_observations: u64,
    cooldown: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// A probe is out; another is allowed at `probe_deadline` in case its outcome never comes.
    HalfOpen {
        probe_deadline: Instant,
    },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    second: u64,
    successes: u64,
    failures: u64,
}

/// Outcomes per second of the last `window_secs` seconds; only seconds that saw requests are kept.
#[derive(Debug, Default)]
struct Window {
    buckets: VecDeque<Bucket>,
}

impl Window {
    fn evict(&mut self, now_sec: u64, window_secs: u64) {
        while self.buckets.front().is_some_and(|b| b.second + window_secs <= now_sec) {
            self.buckets.pop_front();
        }
    }

    fn record(&mut self, now_sec: u64, success: bool) {
        let bucket = match self.buckets.back_mut() {
            Some(b) if b.second == now_sec => b,
            _ => {
                self.buckets.push_back(Bucket {
                    second: now_sec,
                    successes: 0,
                    failures: 0,
                });
                self.buckets.back_mut().expect("just pushed")
            }
        };
        if success {
            bucket.successes += 1;
        } else {
            bucket.failures += 1;
        }
    }

    /// (failures, observations)
    fn totals(&self) -> (u64, u64) {
        self.buckets
            .iter()
            .fold((0, 0), |(f, n), b| (f + b.failures, n + b.failures + b.successes))
    }
}

struct Inner {
    state: State,
    window: Window,
    /// The counts that opened the circuit, for the error message.
    tripped_at: (u64, u64),
}

struct Telemetry {
    span: tracing::Span,
    trips: metrics::Counter,
    rejected: metrics::Counter,
    open: metrics::Gauge,
}

pub struct RequestBreaker {
    config: RequestBreakerConfig,
    clock: Arc<dyn Clock>,
    epoch: Instant,
    settings: Option<Settings>,
    inner: Mutex<Inner>,
    telemetry: Option<Telemetry>,
}

/// Whether an outcome counts against the endpoint.
pub fn is_failure(status: Option<http::StatusCode>) -> bool {
    match status {
        None => true,
        Some(s) => {
            s.is_server_error() || s == http::StatusCode::TOO_MANY_REQUESTS || s == http::StatusCode::REQUEST_TIMEOUT
        }
    }
}

impl RequestBreaker {
    pub fn new(config: RequestBreakerConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    pub fn with_clock(config: RequestBreakerConfig, clock: Arc<dyn Clock>) -> Self {
        RequestBreaker {
            config,
            epoch: clock.now(),
            clock,
            settings: None,
            inner: Mutex::new(Inner {
                state: State::Closed,
                window: Window::default(),
                tripped_at: (0, 0),
            }),
            telemetry: None,
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    fn set_state(&self, inner: &mut Inner, state: State) {
        let was_closed = inner.state == State::Closed;
        inner.state = state;
        let Some(t) = &self.telemetry else { return };
        match (was_closed, state) {
            (true, State::Open { .. }) => {
                let (failures, observations) = inner.tripped_at;
                t.trips.increment(1);
                t.open.set(1.0);
                tracing::warn!(parent: &t.span, failures, observations, "circuit opened: requests fail fast");
            }
            (false, State::Closed) => {
                t.open.set(0.0);
                tracing::info!(parent: &t.span, "circuit closed: endpoint answers again");
            }
            _ => {}
        }
    }
}

impl Extension for RequestBreaker {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let c = &self.config;
        ensure!(
            (0.0..=1.0).contains(&c.failure_ratio),
            "FailureRatio must be between 0.0 and 1.0, found {}",
            c.failure_ratio
        );
        ensure!(!c.cooldown.is_zero(), "Cooldown must be longer than 0");
        let window_secs = if c.window_in_seconds > 0 {
            c.window_in_seconds as u64
        } else {
            5
        };
        self.settings = Some(Settings {
            failure_ratio: c.failure_ratio,
            window_secs,
            min_observations: u64::from(c.min_observations),
            cooldown: c.cooldown.get(),
        });
        let m = ctx.metrics();
        let open = m.gauge("request_breaker_open");
        open.set(0.0);
        self.telemetry = Some(Telemetry {
            span: ctx.span().clone(),
            trips: m.counter("request_breaker_trips_total"),
            rejected: m.counter("request_breaker_rejected_requests_total"),
            open,
        });
        Ok(())
    }

    fn description(&self) -> &str {
        "http client request breaker extension: fails fast on unavailable endpoints"
    }

    fn stop(&self) -> Result<()> {
        Ok(())
    }

    fn as_request_interceptor(&self) -> Option<&dyn RequestInterceptor> {
        Some(self)
    }
}

impl RequestInterceptor for RequestBreaker {
    fn before_request(&self, _: &mut http::request::Parts) -> Result<()> {
        let Some(settings) = self.settings else {
            bail!("{NAME} used before init");
        };
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let wait_until = match inner.state {
            State::Closed => return Ok(()),
            State::Open { until } | State::HalfOpen { probe_deadline: until } => until,
        };
        if now >= wait_until {
            let state = State::HalfOpen {
                probe_deadline: now + settings.cooldown,
            };
            self.set_state(&mut inner, state);
            return Ok(());
        }
        if let Some(t) = &self.telemetry {
            t.rejected.increment(1);
        }
        let (failures, observations) = inner.tripped_at;
        Err(CircuitOpen {
            retry_in: wait_until - now,
            failures,
            observations,
        }
        .into())
    }

    fn after_response(&self, status: Option<http::StatusCode>) {
        let Some(settings) = self.settings else { return };
        let now = self.clock.now();
        let failed = is_failure(status);
        let mut inner = self.inner.lock();
        match (inner.state, failed) {
            (State::Closed, _) => {
                let sec = self.second(now);
                inner.window.evict(sec, settings.window_secs);
                inner.window.record(sec, !failed);
                if failed {
                    let (failures, observations) = inner.window.totals();
                    if observations >= settings.min_observations
                        && failures as f64 > settings.failure_ratio * observations as f64
                    {
                        inner.tripped_at = (failures, observations);
                        inner.window = Window::default();
                        self.set_state(
                            &mut inner,
                            State::Open {
                                until: now + settings.cooldown,
                            },
                        );
                    }
                }
            }
            (State::Open { .. } | State::HalfOpen { .. }, false) => {
                inner.window = Window::default();
                self.set_state(&mut inner, State::Closed);
            }
            (State::HalfOpen { .. }, true) => {
                self.set_state(
                    &mut inner,
                    State::Open {
                        until: now + settings.cooldown,
                    },
                );
            }
            // Late failures of requests sent before the circuit opened say nothing new.
            (State::Open { .. }, true) => {}
        }
    }
}

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_extension_creator(NAME, |config: RequestBreakerConfig| {
        Box::new(RequestBreaker::new(config))
    });
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use loong_api::Registry;
    use serde_json::json;

    use super::*;

    /// A clock that moves only when told to.
    struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        fn advance(&self, by: Duration) {
            *self.0.lock() += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock()
        }
    }

    const OK: Option<StatusCode> = Some(StatusCode::OK);
    const UNAVAILABLE: Option<StatusCode> = Some(StatusCode::SERVICE_UNAVAILABLE);

    fn breaker(options: serde_json::Value) -> (RequestBreaker, Arc<ManualClock>) {
        let (config, warnings) = loong_api::options::decode::<RequestBreakerConfig>(&options).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let mut b = RequestBreaker::with_clock(config, clock.clone());
        b.init(&Context::builder("test").build()).unwrap();
        (b, clock)
    }

    fn parts() -> http::request::Parts {
        http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:9/logs")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    /// Sends one request through the breaker: `None` when it was refused, else whether it was let
    /// through, reporting `outcome`.
    fn send(b: &RequestBreaker, outcome: Option<StatusCode>) -> bool {
        match b.before_request(&mut parts()) {
            Ok(()) => {
                b.after_response(outcome);
                true
            }
            Err(e) => {
                assert!(e.downcast_ref::<CircuitOpen>().is_some(), "{e}");
                false
            }
        }
    }

    #[test]
    fn classifies_outcomes() {
        for failure in [
            None,
            UNAVAILABLE,
            Some(StatusCode::TOO_MANY_REQUESTS),
            Some(StatusCode::REQUEST_TIMEOUT),
        ] {
            assert!(is_failure(failure), "{failure:?}");
        }
        for success in [
            OK,
            Some(StatusCode::NO_CONTENT),
            Some(StatusCode::BAD_REQUEST),
            Some(StatusCode::NOT_FOUND),
        ] {
            assert!(!is_failure(success), "{success:?}");
        }
    }

    #[test]
    fn opens_only_with_enough_observations_above_the_ratio() {
        let (b, _) = breaker(json!({"FailureRatio": 0.5, "MinObservations": 4}));
        assert!(send(&b, None));
        assert!(send(&b, UNAVAILABLE));
        assert!(send(&b, UNAVAILABLE), "3 observations are below MinObservations");
        // 4 observations, 3 failed (0.75 > 0.5): this failure opens the circuit.
        assert!(send(&b, Some(StatusCode::TOO_MANY_REQUESTS)));
        let err = b.before_request(&mut parts()).unwrap_err();
        let open = err.downcast_ref::<CircuitOpen>().unwrap();
        assert_eq!((open.failures, open.observations), (4, 4));
        assert_eq!(open.retry_in, Duration::from_secs(1));
        assert!(
            err.to_string().contains("circuit open (4 of 4 requests failed)"),
            "{err}"
        );
    }

    #[test]
    fn stays_closed_at_or_below_the_ratio() {
        let (b, _) = breaker(json!({"FailureRatio": 0.5, "MinObservations": 2}));
        for _ in 0..50 {
            assert!(send(&b, OK));
            assert!(send(&b, UNAVAILABLE), "exactly half failed: not above the ratio");
        }
        // Client errors say nothing about the endpoint's health.
        for _ in 0..50 {
            assert!(send(&b, Some(StatusCode::BAD_REQUEST)));
        }
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let (b, clock) = breaker(json!({"FailureRatio": 0.5, "MinObservations": 4, "WindowInSeconds": 3}));
        for _ in 0..3 {
            assert!(send(&b, UNAVAILABLE));
        }
        clock.advance(Duration::from_secs(3));
        // The three failures are out of the window: one more is 1 of 1, below MinObservations.
        assert!(send(&b, UNAVAILABLE));
        assert!(send(&b, OK));
        clock.advance(Duration::from_secs(1));
        assert!(send(&b, OK));
        assert!(send(&b, UNAVAILABLE), "2 of 4 failed: not above 0.5");
        // 3 of 5 within the last 3 seconds.
        assert!(send(&b, UNAVAILABLE));
        assert!(!send(&b, OK), "circuit must be open");
    }

    fn tripped(cooldown: &str) -> (RequestBreaker, Arc<ManualClock>) {
        let (b, clock) = breaker(json!({"FailureRatio": 0.0, "MinObservations": 1, "Cooldown": cooldown}));
        assert!(send(&b, None));
        assert!(!send(&b, OK), "one failure must open the circuit");
        (b, clock)
    }

    #[test]
    fn a_successful_probe_after_cooldown_closes_the_circuit() {
        let (b, clock) = tripped("10s");
        clock.advance(Duration::from_millis(9_999));
        assert!(!send(&b, OK));
        clock.advance(Duration::from_millis(1));
        // The probe is let through; while it is out, others are still refused.
        b.before_request(&mut parts()).unwrap();
        assert!(!send(&b, OK));
        b.after_response(Some(StatusCode::ACCEPTED));
        assert!(send(&b, OK));
        // The window restarted empty: the old failure does not count with MinObservations 1…
        assert!(send(&b, OK));
        // …but a new failure does, with FailureRatio 0.
        assert!(send(&b, UNAVAILABLE));
        assert!(!send(&b, OK));
    }

    #[test]
    fn a_failed_probe_reopens_for_another_cooldown() {
        let (b, clock) = tripped("2s");
        clock.advance(Duration::from_secs(2));
        assert!(send(&b, UNAVAILABLE), "the probe goes through");
        clock.advance(Duration::from_millis(1_999));
        let err = b.before_request(&mut parts()).unwrap_err();
        assert_eq!(
            err.downcast_ref::<CircuitOpen>().unwrap().retry_in,
            Duration::from_millis(1)
        );
        clock.advance(Duration::from_millis(1));
        assert!(send(&b, OK), "second probe");
        assert!(send(&b, OK));
    }

    #[test]
    fn a_lost_probe_does_not_keep_the_circuit_open_forever() {
        let (b, clock) = tripped("1s");
        clock.advance(Duration::from_secs(1));
        b.before_request(&mut parts()).unwrap();
        assert!(b.before_request(&mut parts()).is_err());
        // The probe's outcome is never reported; after another cooldown a new probe goes out.
        clock.advance(Duration::from_secs(1));
        assert!(send(&b, OK));
        assert!(send(&b, OK));
    }

    #[test]
    fn a_late_success_while_open_closes_the_circuit() {
        let (b, _) = tripped("1h");
        b.after_response(OK);
        assert!(send(&b, OK));
    }

    #[test]
    fn late_failures_while_open_do_not_extend_the_cooldown() {
        let (b, clock) = tripped("1s");
        clock.advance(Duration::from_millis(900));
        b.after_response(UNAVAILABLE);
        clock.advance(Duration::from_millis(100));
        assert!(send(&b, OK));
    }

    #[test]
    fn concurrent_use_is_consistent() {
        let (b, _) = breaker(json!({"FailureRatio": 0.5, "MinObservations": 1000}));
        let b = Arc::new(b);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        assert!(send(&b, OK));
                        assert!(send(&b, UNAVAILABLE));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 1600 outcomes, half failed: at the ratio, never above it, so the circuit stayed closed.
        assert_eq!(b.inner.lock().window.totals(), (800, 1600));
        assert!(
            send(&b, None),
            "still closed: 801 of 1601 is above 0.5 only after this one"
        );
        assert!(!send(&b, OK));
    }

    #[test]
    fn invalid_settings_fail_init() {
        for (options, expected) in [
            (json!({"FailureRatio": 1.5}), "FailureRatio must be between"),
            (json!({"FailureRatio": -0.1}), "FailureRatio must be between"),
            (json!({"Cooldown": "0s"}), "Cooldown must be longer than 0"),
        ] {
            let (config, _) = loong_api::options::decode::<RequestBreakerConfig>(&options).unwrap();
            let err = RequestBreaker::new(config)
                .init(&Context::builder("test").build())
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn non_positive_window_means_five_seconds() {
        let (b, clock) = breaker(json!({"FailureRatio": 0.5, "MinObservations": 2, "WindowInSeconds": 0}));
        assert!(send(&b, UNAVAILABLE));
        clock.advance(Duration::from_secs(4));
        assert!(send(&b, UNAVAILABLE));
        assert!(!send(&b, OK), "both failures within 5 s open the circuit");
    }

    #[test]
    fn registers_with_loongcollector_defaults() {
        let mut registry = Registry::new();
        register(&mut registry);
        assert!(registry.problems().is_empty(), "{:?}", registry.problems());
        let (mut ext, _) = registry.create_extension(NAME, &json!({})).unwrap();
        ext.init(&Context::builder("test").build()).unwrap();
        let interceptor = ext.as_request_interceptor().unwrap();
        interceptor.before_request(&mut parts()).unwrap();
        interceptor.after_response(None);
        let c = RequestBreakerConfig::default();
        assert_eq!((c.failure_ratio, c.window_in_seconds), (0.10, 10));
    }

    #[test]
    fn before_init_requests_are_refused() {
        let b = RequestBreaker::new(RequestBreakerConfig::default());
        assert!(b.before_request(&mut parts()).is_err());
    }
}
