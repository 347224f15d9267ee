// Generated from plugins.yml by `cargo xtask gen-plugins`. Do not edit by hand.

/// Registers the plugins of the `common` section of plugins.yml.
pub fn register(registry: &mut loong_api::Registry) {
    loong_aggregator_base::register(registry);
    loong_aggregator_content_value_group::register(registry);
    loong_input_mock::register(registry);
    loong_input_stdin::register(registry);
    loong_input_file::register(registry);
    loong_flusher_stdout::register(registry);
    loong_flusher_blackhole::register(registry);
    loong_flusher_file::register(registry);
    loong_flusher_http::register(registry);
    loong_flusher_elasticsearch::register(registry);
    loong_flusher_loki::register(registry);
    loong_flusher_clickhouse::register(registry);
    loong_flusher_prometheus::register(registry);
    loong_flusher_otlp::register(registry);
    loong_flusher_kafka_v2::register(registry);
    loong_extension_basicauth::register(registry);
    loong_extension_default_encoder::register(registry);
    loong_extension_bearer_token::register(registry);
    loong_extension_group_info_filter::register(registry);
    loong_extension_request_breaker::register(registry);
    loong_extension_request_headers::register(registry);
    loong_processor_parse_regex_native::register(registry);
    loong_processor_parse_json_native::register(registry);
    loong_processor_parse_delimiter_native::register(registry);
    loong_processor_parse_timestamp_native::register(registry);
    loong_processor_filter_regex_native::register(registry);
    loong_processor_desensitize_native::register(registry);
    loong_processor_add_fields::register(registry);
    loong_processor_rename::register(registry);
    loong_processor_drop::register(registry);
    loong_processor_filter_regex::register(registry);
}
