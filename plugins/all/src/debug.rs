// Generated from plugins.yml by `cargo xtask gen-plugins`. Do not edit by hand.

/// Registers the plugins of the `debug` section of plugins.yml.
pub fn register(registry: &mut loong_api::Registry) {
    loong_flusher_checker::register(registry);
}
