//! `ext_basicauth`: a [`ClientAuthenticator`] that sets `Authorization: Basic …` on every request,
//! as LoongCollector's extension of the same name does.
//!
//! Differences from LoongCollector, on purpose: an empty `Username` or one containing `:` is an
//! init error (LoongCollector sends such credentials and lets the server reject every request), and
//! the header value is built once at init and marked sensitive, so it is never printed.

mod config;

use anyhow::{bail, ensure};
use base64::Engine as _;
use http::header::{AUTHORIZATION, HeaderValue};
use loong_api::{ClientAuthenticator, Context, Extension, Result};

pub use config::BasicAuthConfig;

/// The config `Type` of this extension.
pub const NAME: &str = "ext_basicauth";

pub struct BasicAuth {
    config: BasicAuthConfig,
    header: Option<HeaderValue>,
}

impl BasicAuth {
    pub fn new(config: BasicAuthConfig) -> Self {
        BasicAuth { config, header: None }
    }
}

impl Extension for BasicAuth {
    fn init(&mut self, _: &Context) -> Result<()> {
        let BasicAuthConfig { username, password } = &self.config;
        ensure!(!username.is_empty(), "Username is required");
        ensure!(
            !username.contains(':'),
            "Username must not contain ':' (the server would split the credentials there)"
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        // Base64 output is always a valid header value; the error branch only guards the invariant.
        let Ok(mut header) = HeaderValue::try_from(format!("Basic {encoded}")) else {
            bail!("could not build the Authorization header");
        };
        header.set_sensitive(true);
        self.header = Some(header);
        Ok(())
    }

    fn description(&self) -> &str {
        "basic auth extension: adds Authorization: Basic credentials to client requests"
    }

    fn stop(&self) -> Result<()> {
        Ok(())
    }

    fn as_client_authenticator(&self) -> Option<&dyn ClientAuthenticator> {
        Some(self)
    }
}

impl ClientAuthenticator for BasicAuth {
    fn authenticate(&self, request: &mut http::request::Parts) -> Result<()> {
        let Some(header) = &self.header else {
            bail!("{NAME} used before init");
        };
        request.headers.insert(AUTHORIZATION, header.clone());
        Ok(())
    }
}

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_extension_creator(NAME, |config: BasicAuthConfig| Box::new(BasicAuth::new(config)));
}

#[cfg(test)]
mod tests {
    use loong_api::{PluginKind, Registry};
    use serde_json::json;

    use super::*;

    fn create(options: serde_json::Value) -> Box<dyn Extension> {
        let mut registry = Registry::new();
        register(&mut registry);
        assert!(registry.problems().is_empty(), "{:?}", registry.problems());
        let (ext, warnings) = registry.create_extension(NAME, &options).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        ext
    }

    fn parts() -> http::request::Parts {
        http::Request::builder()
            .method("POST")
            .uri("http://localhost:8080/write")
            .header(AUTHORIZATION, "Bearer stale")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn sets_the_basic_authorization_header() {
        let mut ext = create(json!({"username": "Aladdin", "Password": "open sesame"}));
        ext.init(&Context::builder("test").build()).unwrap();
        let mut request = parts();
        ext.as_client_authenticator()
            .unwrap()
            .authenticate(&mut request)
            .unwrap();
        let values: Vec<_> = request.headers.get_all(AUTHORIZATION).iter().collect();
        // The RFC 7617 example credentials, so the encoding is checked against a known answer.
        assert_eq!(values, ["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="]);
        assert!(values[0].is_sensitive());
    }

    #[test]
    fn empty_password_is_allowed() {
        let mut ext = create(json!({"Username": "u"}));
        ext.init(&Context::builder("test").build()).unwrap();
        let mut request = parts();
        ext.as_client_authenticator()
            .unwrap()
            .authenticate(&mut request)
            .unwrap();
        assert_eq!(request.headers[AUTHORIZATION], "Basic dTo=");
    }

    #[test]
    fn bad_usernames_fail_init_without_printing_the_password() {
        for options in [
            json!({"Password": "hunter2"}),
            json!({"Username": "a:b", "Password": "hunter2"}),
        ] {
            let mut ext = create(options);
            let err = ext.init(&Context::builder("test").build()).unwrap_err();
            assert!(err.to_string().contains("Username"), "{err}");
            assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
        }
    }

    #[test]
    fn authenticate_before_init_is_an_error() {
        let ext = create(json!({"Username": "u", "Password": "p"}));
        let err = ext
            .as_client_authenticator()
            .unwrap()
            .authenticate(&mut parts())
            .unwrap_err();
        assert!(err.to_string().contains("before init"), "{err}");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let config = BasicAuthConfig {
            username: "user".into(),
            password: "hunter2".into(),
        };
        let text = format!("{config:?}");
        assert!(text.contains("user") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn is_documented() {
        let mut registry = Registry::new();
        register(&mut registry);
        let doc = registry.doc(PluginKind::Extension, NAME).unwrap();
        let names: Vec<_> = doc.options.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["Username", "Password"]);
        assert!(doc.description.contains("Basic"));
    }
}
