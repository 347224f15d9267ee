//! `flusher_checker`: a test helper (the `debug` section of plugins.yml) that keeps everything it
//! receives in memory, where tests in the same process read it through [`checker`]. It can also fail
//! its first calls or start not ready, to test the runner's delivery contract.
//!
//! ```ignore
//! // flushers: [{Type: flusher_checker, Name: out}]
//! let out = loong_flusher_checker::checker("out");
//! assert!(out.wait_for_events(100, Duration::from_secs(5)));
//! ```

mod config;
mod flusher;

pub use config::CheckerConfig;
pub use flusher::{CheckerFlusher, CheckerHandle, checker};

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_checker";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator::<CheckerConfig>(NAME, |config| Box::new(CheckerFlusher::new(config)));
}
