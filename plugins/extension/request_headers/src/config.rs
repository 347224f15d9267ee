use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Adds or overrides fixed headers on every request.
///
/// Flushers use it by listing it in their `RequestInterceptors`; its values replace any value the
/// flusher set for the same header.
#[derive(Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RequestHeadersConfig {
    /// Header name → value. Names are case-insensitive; values are sent as written (no `%{…}`
    /// variables: use the flusher's own `Headers` for per-group values). Values of credential
    /// headers (`Authorization`, `Proxy-Authorization`, `Cookie`) are never logged.
    #[serde(rename = "Headers")]
    pub headers: BTreeMap<String, String>,
}

/// Headers whose values are credentials: redacted in `{:?}` and marked sensitive on requests.
pub(crate) fn is_credential(name: &str) -> bool {
    ["authorization", "proxy-authorization", "cookie"]
        .iter()
        .any(|c| name.trim().eq_ignore_ascii_case(c))
}

// Configs end up in logs and error reports through `{:?}`; credentials must not.
impl std::fmt::Debug for RequestHeadersConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| (k, if is_credential(k) { "<redacted>" } else { v.as_str() }));
        f.debug_struct("RequestHeadersConfig")
            .field("headers", &std::collections::BTreeMap::from_iter(headers))
            .finish()
    }
}
