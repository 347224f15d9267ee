//! `flusher_blackhole`: accepts everything, counts it, keeps nothing. The sink of the throughput
//! benchmarks and of dry runs of a pipeline without a backend.

mod config;
mod flusher;

pub use config::BlackholeConfig;
pub use flusher::BlackholeFlusher;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_blackhole";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator::<BlackholeConfig>(NAME, |config| Box::new(BlackholeFlusher::new(config)));
}
