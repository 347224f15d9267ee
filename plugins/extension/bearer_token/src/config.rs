use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Adds `Authorization: Bearer <token>` (token inline or read from a file) to requests.
///
/// Flushers use it by naming it as their `Authenticator`. Exactly one of `Token` and `TokenFile`
/// must be set.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BearerTokenConfig {
    /// The token itself. Never logged.
    #[serde(rename = "Token")]
    pub token: String,
    /// A file holding the token (surrounding whitespace and the trailing newline are dropped). Read
    /// once at init: a rotated token takes effect when the pipeline config is reloaded.
    #[serde(rename = "TokenFile")]
    pub token_file: String,
    /// The authorization scheme put before the token; empty sends the token alone.
    #[serde(rename = "Scheme")]
    pub scheme: String,
}

impl Default for BearerTokenConfig {
    fn default() -> Self {
        BearerTokenConfig {
            token: String::new(),
            token_file: String::new(),
            scheme: "Bearer".to_owned(),
        }
    }
}

// Configs end up in logs and error reports through `{:?}`; the token must not.
impl std::fmt::Debug for BearerTokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerTokenConfig")
            .field("token", &if self.token.is_empty() { "" } else { "<redacted>" })
            .field("token_file", &self.token_file)
            .field("scheme", &self.scheme)
            .finish()
    }
}
