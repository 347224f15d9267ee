use bytes::Bytes;

use crate::{Context, LogGroup, PipelineGroupEvents, Result};

/// A shared helper that flushers (and other plugins) reference by `Type` or `type/id`, such as an
/// authenticator or an encoder. One instance serves every plugin of the pipeline that names it, so
/// its methods take `&self`.
pub trait Extension: Send + Sync {
    fn init(&mut self, ctx: &Context) -> Result<()>;

    fn description(&self) -> &str;

    /// Called after every flusher of the pipeline has stopped.
    fn stop(&self) -> Result<()>;

    fn as_encoder(&self) -> Option<&dyn Encoder> {
        None
    }

    fn as_flush_interceptor(&self) -> Option<&dyn FlushInterceptor> {
        None
    }

    fn as_request_interceptor(&self) -> Option<&dyn RequestInterceptor> {
        None
    }

    fn as_client_authenticator(&self) -> Option<&dyn ClientAuthenticator> {
        None
    }
}

/// Turns data into request bodies; a flusher's `Encoder` option wins over its own `Convert`.
pub trait Encoder: Send + Sync {
    /// Encodes V1 groups; each returned payload is sent as one request/message.
    fn encode_v1(&self, group: &LogGroup) -> Result<Vec<Bytes>>;
    /// Encodes a V2 group; each returned payload is sent as one request/message.
    fn encode_v2(&self, group: &PipelineGroupEvents) -> Result<Vec<Bytes>>;
    /// The media type of the payloads, for flushers that send a `Content-Type`.
    fn content_type(&self) -> &str {
        "application/octet-stream"
    }
}

/// Filters or edits groups just before a flusher sends them.
pub trait FlushInterceptor: Send + Sync {
    /// Returns whether the group is still to be sent (it may have been changed).
    fn intercept(&self, group: &mut PipelineGroupEvents) -> bool;
}

/// Edits an outgoing HTTP request (headers, URL…) or refuses it.
pub trait RequestInterceptor: Send + Sync {
    /// An error fails this send attempt; the flusher retries as for a transport error.
    fn before_request(&self, request: &mut http::request::Parts) -> Result<()>;

    /// Sees the outcome (`Some(status)` or `None` for a transport error): a circuit breaker counts
    /// failures here.
    fn after_response(&self, _status: Option<http::StatusCode>) {}
}

/// Adds credentials to outgoing requests.
pub trait ClientAuthenticator: Send + Sync {
    fn authenticate(&self, request: &mut http::request::Parts) -> Result<()>;
}
