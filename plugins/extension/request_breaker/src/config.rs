use loong_api::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A circuit breaker: fails requests fast while the endpoint keeps failing.
///
/// Listed in a flusher's `RequestInterceptors`. When too many requests to the endpoint fail within
/// a sliding window, further requests fail at once, without touching the network, until a single
/// probe request after `Cooldown` succeeds.
///
/// A transport error, a 5xx, 429 (Too Many Requests) or 408 (Request Timeout) counts as a failure;
/// any other response as a success. The flusher retries a refused request like a failed one, so no
/// data is lost while the circuit is open.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RequestBreakerConfig {
    /// The circuit opens when the share of failed requests in the window exceeds this ratio
    /// (0.0 to 1.0).
    #[serde(rename = "FailureRatio")]
    pub failure_ratio: f64,
    /// Length of the sliding window, in seconds, over which outcomes are counted. 0 or less means 5.
    #[serde(rename = "WindowInSeconds")]
    pub window_in_seconds: i64,
    /// Outcomes the window must hold before the circuit may open, so that a few early failures do
    /// not open it.
    #[serde(rename = "MinObservations")]
    pub min_observations: u32,
    /// How long the circuit stays open before one probe request is let through; a failed probe
    /// opens it for another `Cooldown`.
    #[serde(rename = "Cooldown")]
    pub cooldown: Duration,
}

impl Default for RequestBreakerConfig {
    fn default() -> Self {
        RequestBreakerConfig {
            failure_ratio: 0.10,
            window_in_seconds: 10,
            min_observations: 15,
            cooldown: Duration::from_secs(1),
        }
    }
}
