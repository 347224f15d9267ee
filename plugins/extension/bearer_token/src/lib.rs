//! `ext_bearer_token`: a [`ClientAuthenticator`] that sets `Authorization: Bearer <token>` on every
//! request. LoongCollector has no such extension (only `ext_basicauth`); the options follow the
//! OpenTelemetry collector's `bearertokenauth` (token inline or from a file, configurable scheme).
//!
//! The token is read and the header built once at init; errors describe what is wrong with the
//! token without quoting it.

mod config;

use anyhow::{Context as _, bail};
use http::header::{AUTHORIZATION, HeaderValue};
use loong_api::{ClientAuthenticator, Context, Extension, Result};

pub use config::BearerTokenConfig;

/// The config `Type` of this extension.
pub const NAME: &str = "ext_bearer_token";

pub struct BearerToken {
    config: BearerTokenConfig,
    header: Option<HeaderValue>,
}

impl BearerToken {
    pub fn new(config: BearerTokenConfig) -> Self {
        BearerToken { config, header: None }
    }

    fn load_token(&self) -> Result<String> {
        let BearerTokenConfig { token, token_file, .. } = &self.config;
        match (token.is_empty(), token_file.is_empty()) {
            (false, false) => bail!("set either Token or TokenFile, not both"),
            (true, true) => bail!("Token or TokenFile is required"),
            (false, true) => Ok(token.clone()),
            (true, false) => {
                let text = std::fs::read_to_string(token_file).with_context(|| format!("TokenFile {token_file}"))?;
                let text = text.trim();
                if text.is_empty() {
                    bail!("TokenFile {token_file} is empty");
                }
                Ok(text.to_owned())
            }
        }
    }
}

impl Extension for BearerToken {
    fn init(&mut self, _: &Context) -> Result<()> {
        let token = self.load_token()?;
        let scheme = self.config.scheme.trim();
        let value = if scheme.is_empty() {
            token
        } else {
            format!("{scheme} {token}")
        };
        // The parse error would not quote the value, but say which part is wrong without it anyway.
        let Ok(mut header) = HeaderValue::try_from(value) else {
            bail!("the token or Scheme contains characters not allowed in an HTTP header (control characters?)");
        };
        header.set_sensitive(true);
        self.header = Some(header);
        Ok(())
    }

    fn description(&self) -> &str {
        "bearer token extension: adds Authorization: Bearer <token> to client requests"
    }

    fn stop(&self) -> Result<()> {
        Ok(())
    }

    fn as_client_authenticator(&self) -> Option<&dyn ClientAuthenticator> {
        Some(self)
    }
}

impl ClientAuthenticator for BearerToken {
    fn authenticate(&self, request: &mut http::request::Parts) -> Result<()> {
        let Some(header) = &self.header else {
            bail!("{NAME} used before init");
        };
        request.headers.insert(AUTHORIZATION, header.clone());
        Ok(())
    }
}

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_extension_creator(NAME, |config: BearerTokenConfig| Box::new(BearerToken::new(config)));
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use loong_api::Registry;
    use serde_json::json;

    use super::*;

    const SECRET: &str = "s3cr3t-t0ken";

    fn init(options: serde_json::Value) -> Result<Box<dyn Extension>> {
        let mut registry = Registry::new();
        register(&mut registry);
        assert!(registry.problems().is_empty(), "{:?}", registry.problems());
        let (mut ext, warnings) = registry.create_extension(NAME, &options).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        ext.init(&Context::builder("test").build())?;
        Ok(ext)
    }

    fn authorization(ext: &dyn Extension) -> HeaderValue {
        let (mut request, ()) = http::Request::builder()
            .uri("https://example.com/api/v1/push")
            .header(AUTHORIZATION, "Basic old")
            .header("X-Other", "kept")
            .body(())
            .unwrap()
            .into_parts();
        ext.as_client_authenticator()
            .unwrap()
            .authenticate(&mut request)
            .unwrap();
        assert_eq!(request.headers["x-other"], "kept");
        assert_eq!(request.headers.get_all(AUTHORIZATION).iter().count(), 1);
        request.headers[AUTHORIZATION].clone()
    }

    #[test]
    fn inline_token_replaces_any_authorization_header() {
        let ext = init(json!({"Token": SECRET})).unwrap();
        let header = authorization(&*ext);
        assert_eq!(header, "Bearer s3cr3t-t0ken");
        assert!(header.is_sensitive());
    }

    #[test]
    fn token_file_is_trimmed_and_scheme_is_configurable() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "  {SECRET}").unwrap();
        let path = file.path().to_str().unwrap();
        let ext = init(json!({"tokenfile": path})).unwrap();
        assert_eq!(authorization(&*ext), "Bearer s3cr3t-t0ken");
        let ext = init(json!({"TokenFile": path, "Scheme": "Api-Key"})).unwrap();
        assert_eq!(authorization(&*ext), "Api-Key s3cr3t-t0ken");
        let ext = init(json!({"TokenFile": path, "Scheme": ""})).unwrap();
        assert_eq!(authorization(&*ext), SECRET);
    }

    #[test]
    fn misconfigurations_fail_init_without_quoting_the_token() {
        let empty = tempfile::NamedTempFile::new().unwrap();
        let empty_path = empty.path().to_str().unwrap();
        let cases = [
            (json!({}), "required"),
            (json!({"Token": SECRET, "TokenFile": "/etc/hostname"}), "not both"),
            (json!({"TokenFile": "/nonexistent/token"}), "/nonexistent/token"),
            (json!({"TokenFile": empty_path}), "is empty"),
            (json!({"Token": format!("{SECRET}\nX-Injected: 1")}), "not allowed"),
        ];
        for (options, expected) in cases {
            let err = init(options).err().expect("init must fail");
            let text = format!("{err:#}");
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains(SECRET), "{text}");
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let config = BearerTokenConfig {
            token: SECRET.to_owned(),
            ..BearerTokenConfig::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains(SECRET) && text.contains("redacted"), "{text}");
    }

    #[test]
    fn authenticate_before_init_is_an_error() {
        let ext = BearerToken::new(BearerTokenConfig::default());
        let (mut request, ()) = http::Request::new(()).into_parts();
        assert!(ext.authenticate(&mut request).is_err());
        assert!(request.headers.is_empty());
    }
}
