//! `ext_request_headers`: a [`RequestInterceptor`] that sets fixed headers on every request.
//! LoongCollector has no such extension (its flusher_http has a `Headers` option only); this one lets
//! several flushers share one set of headers, or add them to flushers that have no such option.

mod config;

use anyhow::{Context as _, ensure};
use http::header::{HeaderName, HeaderValue};
use loong_api::{Context, Extension, RequestInterceptor, Result};

pub use config::RequestHeadersConfig;

/// The config `Type` of this extension.
pub const NAME: &str = "ext_request_headers";

pub struct RequestHeaders {
    config: RequestHeadersConfig,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl RequestHeaders {
    pub fn new(config: RequestHeadersConfig) -> Self {
        RequestHeaders {
            config,
            headers: Vec::new(),
        }
    }
}

fn parse(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let name = HeaderName::try_from(name.trim()).with_context(|| format!("Headers: invalid header name {name:?}"))?;
    let sensitive = config::is_credential(name.as_str());
    let parsed = HeaderValue::try_from(value);
    // A credential's value must not reach the error text, so it is described, not quoted.
    let mut value = match (parsed, sensitive) {
        (Ok(v), _) => v,
        (Err(_), true) => anyhow::bail!("Headers: the value of {name} contains characters not allowed in a header"),
        (Err(_), false) => anyhow::bail!("Headers: invalid value {value:?} for {name}"),
    };
    value.set_sensitive(sensitive);
    Ok((name, value))
}

impl Extension for RequestHeaders {
    fn init(&mut self, _: &Context) -> Result<()> {
        let mut headers = Vec::with_capacity(self.config.headers.len());
        for (name, value) in &self.config.headers {
            let (name, value) = parse(name, value)?;
            // Keys differing only in case would silently race for the same header.
            ensure!(
                !headers.iter().any(|(n, _)| *n == name),
                "Headers: {name} is given twice (header names are case-insensitive)"
            );
            headers.push((name, value));
        }
        self.headers = headers;
        Ok(())
    }

    fn description(&self) -> &str {
        "request headers extension: adds or overrides fixed headers on client requests"
    }

    fn stop(&self) -> Result<()> {
        Ok(())
    }

    fn as_request_interceptor(&self) -> Option<&dyn RequestInterceptor> {
        Some(self)
    }
}

impl RequestInterceptor for RequestHeaders {
    fn before_request(&self, request: &mut http::request::Parts) -> Result<()> {
        for (name, value) in &self.headers {
            request.headers.insert(name.clone(), value.clone());
        }
        Ok(())
    }
}

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_extension_creator(NAME, |config: RequestHeadersConfig| {
        Box::new(RequestHeaders::new(config))
    });
}

#[cfg(test)]
mod tests {
    use http::header::AUTHORIZATION;
    use loong_api::Registry;
    use serde_json::json;

    use super::*;

    fn init(options: serde_json::Value) -> Result<Box<dyn Extension>> {
        let mut registry = Registry::new();
        register(&mut registry);
        assert!(registry.problems().is_empty(), "{:?}", registry.problems());
        let (mut ext, warnings) = registry.create_extension(NAME, &options).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        ext.init(&Context::builder("test").build())?;
        Ok(ext)
    }

    #[test]
    fn adds_and_overrides_headers() {
        let ext = init(json!({"headers": {
            "X-Tenant": "team-a",
            "content-type": "application/x-ndjson",
            "Authorization": "ApiKey abc",
        }}))
        .unwrap();
        let (mut request, ()) = http::Request::builder()
            .method("POST")
            .uri("http://localhost/ingest")
            .header("Content-Type", "application/json")
            .header("X-Keep", "1")
            .body(())
            .unwrap()
            .into_parts();
        ext.as_request_interceptor()
            .unwrap()
            .before_request(&mut request)
            .unwrap();
        let h = &request.headers;
        assert_eq!(h["x-tenant"], "team-a");
        assert_eq!(
            h.get_all("content-type").iter().collect::<Vec<_>>(),
            ["application/x-ndjson"]
        );
        assert_eq!(h["x-keep"], "1");
        assert_eq!(h[AUTHORIZATION], "ApiKey abc");
        assert!(h[AUTHORIZATION].is_sensitive());
        assert!(!h["x-tenant"].is_sensitive());
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn invalid_headers_fail_init() {
        let cases = [
            (
                json!({"Headers": {"Bad Name": "v"}}),
                "invalid header name \"Bad Name\"",
            ),
            (json!({"Headers": {"X-A": "line\nbreak"}}), "invalid value"),
            (json!({"Headers": {"X-A": "1", "x-a": "2"}}), "x-a is given twice"),
        ];
        for (options, expected) in cases {
            let err = init(options).err().expect("init must fail");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn invalid_credentials_are_not_quoted() {
        let err = init(json!({"Headers": {"Authorization": "Bearer s3cret\n"}}))
            .err()
            .expect("init must fail");
        let text = format!("{err:#}");
        assert!(text.contains("authorization") && !text.contains("s3cret"), "{text}");
    }

    #[test]
    fn debug_output_hides_credentials() {
        let config = RequestHeadersConfig {
            headers: [("Authorization", "Bearer s3cret"), ("X-Tenant", "team-a")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
        };
        let text = format!("{config:?}");
        assert!(text.contains("team-a") && !text.contains("s3cret"), "{text}");
    }

    #[test]
    fn no_headers_leaves_the_request_alone() {
        let ext = init(json!({})).unwrap();
        let (mut request, ()) = http::Request::builder()
            .header("X-A", "1")
            .body(())
            .unwrap()
            .into_parts();
        let before = request.headers.clone();
        ext.as_request_interceptor()
            .unwrap()
            .before_request(&mut request)
            .unwrap();
        assert_eq!(request.headers, before);
    }
}
