// Generated from plugins.yml by `cargo xtask gen-plugins`. Do not edit by hand.

/// Registers the plugins of the `common` section of plugins.yml.
pub fn register(registry: &mut loong_api::Registry) {
    loong_input_mock::register(registry);
    loong_input_stdin::register(registry);
    loong_flusher_stdout::register(registry);
    loong_flusher_blackhole::register(registry);
    loong_flusher_http::register(registry);
    loong_extension_basicauth::register(registry);
    loong_extension_bearer_token::register(registry);
    loong_extension_group_info_filter::register(registry);
    loong_extension_request_breaker::register(registry);
    loong_extension_request_headers::register(registry);
}
