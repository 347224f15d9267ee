//! `metric_mock`: an input that generates numbered log events (LoongCollector's
//! `plugins/input/mock`).
//!
//! Every event carries an `Index` content that increases by one from the configured start, so a test
//! can check that exactly the expected events were delivered, without gaps or duplicates. The
//! loong-rs options `EventsPerCollect`, `MaxEvents` and `Interval` make it a load generator for
//! benchmarks and a finite source for tests.

mod config;
mod mock;

pub use config::MockOptions;
pub use mock::MockInput;

/// The config `Type` of this input.
pub const NAME: &str = "metric_mock";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_input_creator(NAME, |options: MockOptions| Box::new(MockInput::new(options)));
}
