use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Adds HTTP Basic credentials (`Authorization: Basic base64(Username:Password)`) to requests.
///
/// Flushers use it by naming it as their `Authenticator`.
#[derive(Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BasicAuthConfig {
    /// User name; required, and may not contain `:` (RFC 7617 splits the credentials on the first
    /// colon).
    #[serde(rename = "Username")]
    pub username: String,
    /// Password; may be empty. Never logged.
    #[serde(rename = "Password")]
    pub password: String,
}

// Configs end up in logs and error reports through `{:?}`; the password must not.
impl std::fmt::Debug for BasicAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}
