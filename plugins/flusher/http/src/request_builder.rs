//! Payload → request parts: URL with `Query`, `Headers` (both with `%{…}` values resolved from the
//! payload), `Content-Type`, and the compressed body. Built once per payload; every retry reuses it.

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use loong_converter::{Payload, Template, VarKey};

use crate::config::HttpConfig;
use loong_http_client::Compression;

pub struct RequestBuilder {
    url: reqwest::Url,
    query: Vec<(String, Template)>,
    headers: Vec<(HeaderName, Template)>,
    compression: Compression,
    selected: Vec<VarKey>,
}

/// A request ready to be sent (again).
pub struct Prepared {
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Body bytes before compression.
    pub raw_len: usize,
}

impl RequestBuilder {
    /// `content_type` is the converter's (or the encoder's default); a `Content-Type` in `Headers` wins.
    pub fn new(config: &HttpConfig, content_type: &str) -> Result<Self> {
        if config.remote_url.trim().is_empty() {
            bail!("RemoteURL is empty");
        }
        // The URL is not quoted in errors: it may carry credentials.
        let url = reqwest::Url::parse(&config.remote_url).context("RemoteURL is not a valid URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("RemoteURL must be http or https, not {}", url.scheme());
        }
        let compression = Compression::parse(&config.compression)?;
        let mut headers = Vec::new();
        for (k, v) in &config.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).with_context(|| format!("Headers: invalid name {k:?}"))?;
            headers.push((name, Template::parse(v).with_context(|| format!("Headers.{k}"))?));
        }
        if !headers.iter().any(|(n, _)| *n == http::header::CONTENT_TYPE) {
            headers.push((http::header::CONTENT_TYPE, Template::parse(content_type)?));
        }
        let mut query = Vec::new();
        for (k, v) in &config.query {
            query.push((k.clone(), Template::parse(v).with_context(|| format!("Query.{k}"))?));
        }
        let mut selected: Vec<VarKey> = Vec::new();
        for key in headers
            .iter()
            .map(|(_, t)| t)
            .chain(query.iter().map(|(_, t)| t))
            .flat_map(|t| t.keys())
        {
            if !selected.contains(key) {
                selected.push(key.clone());
            }
        }
        Ok(RequestBuilder {
            url,
            query,
            headers,
            compression,
            selected,
        })
    }

    /// The variable keys whose values each payload must carry.
    pub fn selected(&self) -> &[VarKey] {
        &self.selected
    }

    pub fn build(&self, payload: &Payload) -> Result<Prepared> {
        let lookup = |k: &VarKey| payload.vars.get(k).map(String::as_str);
        let mut url = self.url.clone();
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, t) in &self.query {
                pairs.append_pair(k, &t.render(lookup));
            }
        }
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 1);
        for (name, t) in &self.headers {
            let value = t.render(lookup);
            let value =
                HeaderValue::from_str(&value).with_context(|| format!("header {name}: invalid value {value:?}"))?;
            headers.insert(name.clone(), value);
        }
        if let Some(encoding) = self.compression.header() {
            headers.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        let body = self.compression.compress(&payload.body)?;
        Ok(Prepared {
            url,
            headers,
            body,
            raw_len: payload.body.len(),
        })
    }
}
