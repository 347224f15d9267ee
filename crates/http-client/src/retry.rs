use std::time::Duration;

use loong_api::Duration as ConfigDuration;
use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Retries within one flush: delays double from `InitialDelay` to `MaxDelay`, jittered in [d/2, d].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RetryConfig {
    /// Retry what failed in a way a retry may fix (the flusher's guarantees list which failures);
    /// when false, the first failure hands the batch back to the pipeline's retry.
    #[serde(rename = "Enable")]
    pub enable: bool,
    /// Retries after the first attempt.
    #[serde(rename = "MaxRetryTimes")]
    pub max_retry_times: u32,
    /// Delay before the first retry (a `Retry-After` answer wins).
    #[serde(rename = "InitialDelay")]
    pub initial_delay: ConfigDuration,
    /// Longest delay between retries.
    #[serde(rename = "MaxDelay")]
    pub max_delay: ConfigDuration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enable: true,
            max_retry_times: 3,
            initial_delay: ConfigDuration::from_secs(1),
            max_delay: ConfigDuration::from_secs(30),
        }
    }
}

impl RetryConfig {
    /// The delay before retry number `retry` (0 for the first).
    pub fn delay(&self, retry: u32) -> Duration {
        backoff(self.initial_delay.get(), self.max_delay.get(), retry)
    }
}

/// LoongCollector's backoff: `min(initial · 2^retry, max)`, jittered uniformly in `[d/2, d]` so
/// agents that failed together do not retry together.
pub fn backoff(initial: Duration, max: Duration, retry: u32) -> Duration {
    let d = initial.saturating_mul(1u32 << retry.min(20)).min(max.max(initial));
    let half = d / 2;
    half + rand::rng().random_range(Duration::ZERO..=half)
}

/// The delay a server asks for in `Retry-After` (whole seconds; an HTTP date is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_max_with_jitter_in_the_upper_half() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(1));
        for (retry, full) in [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1000), (30, 1000)] {
            for _ in 0..20 {
                let d = backoff(i, m, retry).as_millis() as u64;
                assert!((full / 2..=full).contains(&d), "retry {retry}: {d} ms");
            }
        }
    }

    #[test]
    fn retry_after_takes_whole_seconds_only() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
