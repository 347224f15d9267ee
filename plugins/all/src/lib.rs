//! Every plugin built into loong, as listed in `plugins.yml`.
//!
//! `Cargo.toml` and the section modules (`common.rs`, `linux.rs`, `windows.rs`, `debug.rs`) are
//! generated from `plugins.yml` by `cargo xtask gen-plugins`; this file is written by hand and only
//! decides which sections apply to the build.

mod common;
#[cfg(any(debug_assertions, feature = "debug-plugins"))]
mod debug;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(windows)]
mod windows;

/// A registry holding every built-in plugin of this platform. Test plugins (the `debug` section)
/// are included in debug builds and with the `debug-plugins` feature.
pub fn registry() -> loong_api::Registry {
    let mut registry = loong_api::Registry::new();
    common::register(&mut registry);
    #[cfg(target_os = "linux")]
    linux::register(&mut registry);
    #[cfg(windows)]
    windows::register(&mut registry);
    #[cfg(any(debug_assertions, feature = "debug-plugins"))]
    debug::register(&mut registry);
    registry
}
