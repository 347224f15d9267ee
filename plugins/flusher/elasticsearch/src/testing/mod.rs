//! An Elasticsearch `_bulk` receiver for tests and benchmarks (feature `testing`).
//!
//! No Elasticsearch or OpenSearch server installs on the machines this project builds on, so the
//! flusher is tested against this one. It implements what a `_bulk` client can observe:
//!
//! * `POST|PUT /_bulk` and `/{index}/_bulk`; `Content-Type` must be `application/json` or
//!   `application/x-ndjson` (else 406); the body must end with a newline (else 400);
//! * action lines `index`, `create`, `update` (each followed by a source line) and `delete`; an
//!   unknown action, a missing source line or a missing index fails the whole request with 400, as
//!   Elasticsearch validates the request before executing it;
//! * per item: the index name is validated (lowercase, no `\/*?"<>|,#:` or space, not starting with
//!   `_-+`, at most 255 bytes) and the source parsed strictly (an object, valid JSON, no duplicate
//!   key); failures answer 400 for that item only (`invalid_index_name_exception`,
//!   `document_parsing_exception`); accepted documents are stored per index with a generated `_id`
//!   and answered 201;
//! * the answer is `{"took":…,"errors":…,"items":[{"<action>":{"_index":…,"_id":…,"status":…}}]}`
//!   with `error: {type, reason}` on failed items;
//! * credentials: with [`EsServer::require_basic`] / [`EsServer::require_api_key`], a request
//!   without one of the accepted `Authorization` values gets 401 (`security_exception`);
//! * faults: scripted whole-request statuses ([`EsServer::fail_requests`]: 429, 503, 413…),
//!   per-item statuses for chosen documents ([`EsServer::fail_items`]: 429, 500, 400…), and the
//!   server going away and coming back on the same port ([`EsServer::down`], [`EsServer::up`]).
//!
//! `GET /` answers a cluster banner, as Elasticsearch does.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use loong_testkit::receiver::{Receiver, respond, wait_until};
use parking_lot::Mutex;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

type Matcher = Box<dyn Fn(&str, &Value) -> bool + Send>;

struct ItemRule {
    matcher: Matcher,
    status: u16,
    remaining: usize,
}

#[derive(Default)]
struct State {
    docs: BTreeMap<String, Vec<Value>>,
    stored: u64,
    store: bool,
    next_id: u64,
    requests: u64,
    items_received: u64,
    statuses: BTreeMap<u16, u64>,
    whole: VecDeque<u16>,
    rules: Vec<ItemRule>,
    credentials: Vec<String>,
    authorizations: Vec<Option<String>>,
}

/// The receiver (on a [`Receiver`]); it stops when dropped.
pub struct EsServer {
    receiver: Receiver,
    state: Arc<Mutex<State>>,
}

/// A JSON value parsed as Elasticsearch parses documents: a repeated key is an error.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("Duplicate field '{key}'")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Elasticsearch's rules for index names; the reason when `name` breaks one.
fn invalid_index(name: &str) -> Option<String> {
    let why = if name.is_empty() {
        "must not be empty"
    } else if name != name.to_lowercase() {
        "must be lowercase"
    } else if name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':']) {
        "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, #, :]"
    } else if name.starts_with(['_', '-', '+']) {
        "must not start with '_', '-', or '+'"
    } else if name == "." || name == ".." {
        "must not be '.' or '..'"
    } else if name.len() > 255 {
        "index name is too long"
    } else {
        return None;
    };
    Some(format!("Invalid index name [{name}], {why}"))
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 => "document_parsing_exception",
        401 => "security_exception",
        404 => "index_not_found_exception",
        409 => "version_conflict_engine_exception",
        413 => "content_too_long_exception",
        429 => "es_rejected_execution_exception",
        503 => "unavailable_shards_exception",
        _ => "exception",
    }
}

fn response(status: u16, body: Value) -> Response<Bytes> {
    let mut resp = respond(status, "application/json; charset=UTF-8", body.to_string());
    resp.headers_mut()
        .insert("x-elastic-product", "Elasticsearch".parse().unwrap());
    resp
}

fn whole_error(status: u16, kind: &str, reason: &str) -> Response<Bytes> {
    response(
        status,
        json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}),
    )
}

enum Action {
    Index,
    Create,
    Update,
    Delete,
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

struct Parsed {
    action: Action,
    index: String,
    source: Option<Bytes>,
}

/// Splits and validates the request as Elasticsearch does before executing any item.
/// A failure of the whole request: status, error type, reason.
type WholeError = (u16, &'static str, String);

fn parse_bulk(body: &Bytes, default_index: Option<&str>) -> Result<Vec<Parsed>, WholeError> {
    if body.is_empty() {
        return Err((400, "parse_exception", "request body is required".to_owned()));
    }
    if body.last() != Some(&b'\n') {
        return Err((
            400,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]".to_owned(),
        ));
    }
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, b) in body.iter().enumerate() {
        if *b == b'\n' {
            lines.push(body.slice(start..i));
            start = i + 1;
        }
    }
    let mut out = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        let line = &lines[n];
        n += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let meta: Value = serde_json::from_slice(line).map_err(|e| {
            (
                400,
                "x_content_parse_exception",
                format!("[{n}:1] malformed action/metadata line: {e}"),
            )
        })?;
        let Some((name, params)) = meta.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
            return Err((
                400,
                "illegal_argument_exception",
                format!(
                    "Malformed action/metadata line [{n}], expected a simple value for field [_index] but found an object with several keys"
                ),
            ));
        };
        let action = match name.as_str() {
            "index" => Action::Index,
            "create" => Action::Create,
            "update" => Action::Update,
            "delete" => Action::Delete,
            other => {
                return Err((
                    400,
                    "illegal_argument_exception",
                    format!(
                        "Malformed action/metadata line [{n}], expected one of [create, delete, index, update] but found [{other}]"
                    ),
                ));
            }
        };
        let index = match params.get("_index").and_then(Value::as_str).or(default_index) {
            Some(i) => i.to_owned(),
            None => {
                return Err((
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: index is missing;".to_owned(),
                ));
            }
        };
        let source = if matches!(action, Action::Delete) {
            None
        } else {
            let Some(src) = lines.get(n) else {
                return Err((
                    400,
                    "illegal_argument_exception",
                    format!("The bulk request must be terminated by a newline [\\n] (action line [{n}] has no source)"),
                ));
            };
            n += 1;
            Some(src.clone())
        };
        out.push(Parsed { action, index, source });
    }
    if out.is_empty() {
        return Err((
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: no requests added;".to_owned(),
        ));
    }
    Ok(out)
}

fn handle(state: &Mutex<State>, req: Request<Bytes>) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    {
        let mut s = state.lock();
        s.requests += 1;
        s.authorizations.push(authorization.clone());
        if !s.credentials.is_empty() && !authorization.as_ref().is_some_and(|a| s.credentials.contains(a)) {
            let reason = match &authorization {
                None => format!("missing authentication credentials for REST request [{path}]"),
                Some(_) => format!("unable to authenticate user for REST request [{path}]"),
            };
            let mut resp = whole_error(401, "security_exception", &reason);
            resp.headers_mut().insert(
                "www-authenticate",
                "Basic realm=\"security\", charset=\"UTF-8\"".parse().unwrap(),
            );
            resp.headers_mut().append("www-authenticate", "ApiKey".parse().unwrap());
            return resp;
        }
        if let Some(status) = s.whole.pop_front() {
            let mut resp = whole_error(status, error_type(status), "scripted failure of the whole request");
            if status == 429 {
                resp.headers_mut().insert("retry-after", "0".parse().unwrap());
            }
            return resp;
        }
    }
    if parts.method == http::Method::GET && (path == "/" || path.is_empty()) {
        return response(
            200,
            json!({"name": "loong-test", "cluster_name": "loong-test", "version": {"number": "8.15.0", "distribution": "elasticsearch"}, "tagline": "You Know, for Search"}),
        );
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let default_index = match segments.as_slice() {
        ["_bulk"] => None,
        [index, "_bulk"] => Some(*index),
        _ => {
            return whole_error(
                404,
                "no_handler_found_exception",
                &format!("no handler found for uri [{path}] and method [{}]", parts.method),
            );
        }
    };
    if parts.method != http::Method::POST && parts.method != http::Method::PUT {
        return whole_error(
            405,
            "method_not_allowed",
            &format!(
                "Incorrect HTTP method for uri [{path}] and method [{}], allowed: [POST, PUT]",
                parts.method
            ),
        );
    }
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && mime != "application/x-ndjson" {
        return response(
            406,
            json!({"error": format!("Content-Type header [{content_type}] is not supported"), "status": 406}),
        );
    }
    let started = Instant::now();
    let parsed = match parse_bulk(&body, default_index) {
        Ok(p) => p,
        Err((status, kind, reason)) => return whole_error(status, kind, &reason),
    };
    let mut s = state.lock();
    s.items_received += parsed.len() as u64;
    let mut errors = false;
    let mut items = Vec::with_capacity(parsed.len());
    for p in parsed {
        let mut result = Map::new();
        result.insert("_index".into(), Value::from(p.index.clone()));
        let outcome: Result<Option<Value>, (u16, String, String)> = (|| {
            if let Some(reason) = invalid_index(&p.index) {
                return Err((400, "invalid_index_name_exception".into(), reason));
            }
            let Some(source) = &p.source else {
                return Ok(None);
            };
            let doc = match serde_json::from_slice::<Strict>(source) {
                Ok(Strict(v @ Value::Object(_))) => v,
                Ok(_) => {
                    return Err((
                        400,
                        "document_parsing_exception".into(),
                        "[1:1] failed to parse: the source is not an object".into(),
                    ));
                }
                Err(e) => {
                    return Err((
                        400,
                        "document_parsing_exception".into(),
                        format!("[1:1] failed to parse: {e}"),
                    ));
                }
            };
            let mut matched = None;
            for (i, rule) in s.rules.iter().enumerate() {
                if rule.remaining > 0 && (rule.matcher)(&p.index, &doc) {
                    matched = Some(i);
                    break;
                }
            }
            if let Some(i) = matched {
                let rule = &mut s.rules[i];
                rule.remaining -= 1;
                let status = rule.status;
                return Err((
                    status,
                    error_type(status).into(),
                    format!("scripted failure ({status})"),
                ));
            }
            Ok(Some(doc))
        })();
        let status = match outcome {
            Ok(doc) => {
                s.next_id += 1;
                let id = format!("loong-{}", s.next_id);
                result.insert("_id".into(), Value::from(id));
                result.insert("_version".into(), Value::from(1));
                let (status, what) = match p.action {
                    Action::Delete => (404, "not_found"),
                    _ => (201, "created"),
                };
                result.insert("result".into(), Value::from(what));
                result.insert("_shards".into(), json!({"total": 2, "successful": 1, "failed": 0}));
                result.insert("_seq_no".into(), Value::from(s.next_id - 1));
                result.insert("_primary_term".into(), Value::from(1));
                if let Some(doc) = doc {
                    s.stored += 1;
                    if s.store {
                        s.docs.entry(p.index.clone()).or_default().push(doc);
                    }
                }
                status
            }
            Err((status, kind, reason)) => {
                errors = true;
                result.insert("_id".into(), Value::Null);
                result.insert(
                    "error".into(),
                    json!({"type": kind, "reason": reason, "index": p.index}),
                );
                status
            }
        };
        *s.statuses.entry(status).or_default() += 1;
        result.insert("status".into(), Value::from(status));
        let mut item = Map::new();
        item.insert(p.action.name().into(), Value::Object(result));
        items.push(Value::Object(item));
    }
    response(
        200,
        json!({"took": started.elapsed().as_millis() as u64, "errors": errors, "items": items}),
    )
}

impl EsServer {
    /// Starts on a free port.
    pub fn start() -> EsServer {
        Self::start_on(0)
    }

    /// Starts on `port` (0: any free port).
    pub fn start_on(port: u16) -> EsServer {
        let state = Arc::new(Mutex::new(State {
            store: true,
            ..Default::default()
        }));
        let st = state.clone();
        let receiver = Receiver::start_on(port, move |req, _| std::future::ready(handle(&st, req)));
        EsServer { receiver, state }
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        self.receiver.url("")
    }

    pub fn port(&self) -> u16 {
        self.receiver.port()
    }

    /// Goes away: the port stops listening and open connections are cut. Stored data is kept.
    pub fn down(&self) {
        self.receiver.down();
    }

    /// Comes back on the same port after [`EsServer::down`].
    pub fn up(&self) {
        self.receiver.up();
    }

    /// Keeps counting documents without storing them (for benchmarks).
    pub fn count_only(&self) {
        self.state.lock().store = false;
    }

    /// Answers the next requests with these statuses (the whole request fails; nothing is stored).
    pub fn fail_requests(&self, statuses: &[u16]) {
        self.state.lock().whole.extend(statuses);
    }

    /// Answers `status` for the next `times` items whose (index, document) `matcher` accepts; they
    /// are not stored. Other items of the same request are processed normally.
    pub fn fail_items(&self, status: u16, times: usize, matcher: impl Fn(&str, &Value) -> bool + Send + 'static) {
        self.state.lock().rules.push(ItemRule {
            matcher: Box::new(matcher),
            status,
            remaining: times,
        });
    }

    /// Accepts requests carrying `Authorization: Basic base64(user:password)` (and the other
    /// credentials required so far); others get 401.
    pub fn require_basic(&self, user: &str, password: &str) {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.state.lock().credentials.push(format!("Basic {token}"));
    }

    /// Accepts requests carrying `Authorization: ApiKey <encoded>`.
    pub fn require_api_key(&self, encoded: &str) {
        self.state.lock().credentials.push(format!("ApiKey {encoded}"));
    }

    /// The documents of `index`, in the order they were accepted.
    pub fn docs(&self, index: &str) -> Vec<Value> {
        self.state.lock().docs.get(index).cloned().unwrap_or_default()
    }

    /// Every stored document with its index, index by index.
    pub fn all_docs(&self) -> Vec<(String, Value)> {
        let s = self.state.lock();
        s.docs
            .iter()
            .flat_map(|(i, docs)| docs.iter().map(move |d| (i.clone(), d.clone())))
            .collect()
    }

    /// The indices holding documents.
    pub fn indices(&self) -> Vec<String> {
        self.state.lock().docs.keys().cloned().collect()
    }

    /// Documents accepted so far (stored or, after [`EsServer::count_only`], counted).
    pub fn doc_count(&self) -> u64 {
        self.state.lock().stored
    }

    /// The `content` of every stored document (`contents.content` for LoongCollector's
    /// `custom_single` layout).
    pub fn bodies(&self) -> Vec<String> {
        self.all_docs()
            .into_iter()
            .filter_map(|(_, d)| {
                d.get("content")
                    .or_else(|| d.get("contents").and_then(|c| c.get("content")))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Bulk requests received (any outcome).
    pub fn requests(&self) -> u64 {
        self.state.lock().requests
    }

    /// Items received in requests that were executed (any outcome).
    pub fn items_received(&self) -> u64 {
        self.state.lock().items_received
    }

    /// How many items were answered with each status.
    pub fn item_statuses(&self) -> BTreeMap<u16, u64> {
        self.state.lock().statuses.clone()
    }

    /// The `Authorization` header of every request, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.state.lock().authorizations.clone()
    }

    /// Waits until at least `n` documents were accepted; false on timeout.
    pub fn wait_for_docs(&self, n: u64, timeout: Duration) -> bool {
        wait_until(timeout, || self.doc_count() >= n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing_rejects_duplicate_keys() {
        assert!(serde_json::from_str::<Strict>(r#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).is_ok());
        let err = serde_json::from_str::<Strict>(r#"{"a":1,"b":2,"a":3}"#).err().unwrap();
        assert!(err.to_string().contains("Duplicate field 'a'"), "{err}");
        assert!(serde_json::from_str::<Strict>(r#"{"x":{"a":1,"a":1}}"#).is_err());
    }

    #[test]
    fn index_names() {
        assert_eq!(invalid_index("logs-2024.01.01"), None);
        for bad in ["Logs", "a b", "a,b", "_x", "-x", "a#b", "..", "", "a:b"] {
            assert!(invalid_index(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn bulk_validation() {
        let ok =
            Bytes::from("{\"index\":{\"_index\":\"a\"}}\n{\"x\":1}\n{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n");
        assert_eq!(parse_bulk(&ok, None).ok().unwrap().len(), 2);
        let defaulted = Bytes::from("{\"index\":{}}\n{\"x\":1}\n");
        assert_eq!(parse_bulk(&defaulted, Some("d")).ok().unwrap()[0].index, "d");
        for bad in [
            "{\"index\":{\"_index\":\"a\"}}\n{\"x\":1}",
            "{\"index\":{}}\n{\"x\":1}\n",
            "{\"upsert\":{\"_index\":\"a\"}}\n{}\n",
            "{\"index\":{\"_index\":\"a\"}}\n",
            "",
        ] {
            assert!(parse_bulk(&Bytes::from(bad), None).is_err(), "{bad:?}");
        }
    }
}
