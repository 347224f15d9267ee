//! A Loki push receiver for tests and benchmarks (feature `testing`).
//!
//! No Loki server installs on the machines this project builds on, so the flusher is tested
//! against this one. It implements Loki's push path as a client sees it:
//!
//! * `POST /loki/api/v1/push` (and the legacy `/api/prom/push`); the body is a snappy-compressed
//!   (block format) `logproto.PushRequest` protobuf when `Content-Type` is
//!   `application/x-protobuf` or absent, or Loki's JSON form with `application/json`; another
//!   content type answers 415, an undecodable body 400;
//! * each stream's label set is parsed as Loki parses it (`{name="value", …}`, Go escapes); an
//!   unparsable set, an invalid or repeated label name, or no label at all rejects that stream's
//!   entries with 400;
//! * entries are stored per tenant (`X-Scope-OrgID`, `fake` when absent, as a Loki without auth
//!   does; [`LokiServer::require_tenant`] makes it mandatory, 401 otherwise) and stream
//!   (canonical: labels sorted by name). By default it behaves as Loki 2.4+ (`unordered_writes`):
//!   an entry is accepted unless it is more than an hour older than its stream's newest (`entry too
//!   far behind`). With [`LokiServer::ordered`] it behaves as Loki with `unordered_writes: false`:
//!   an entry older than its stream's newest is rejected (`entry out of order`). Either way an entry
//!   identical (time and line) to one already stored is ignored silently (Loki's de-duplication;
//!   counted here in [`LokiServer::duplicates`], so a client that resends shows);
//! * a push with rejected entries answers 400 with Loki's text (`entry with timestamp … ignored,
//!   reason: 'entry out of order',` … `user '…', total ignored: N out of M for stream: {…}`), the
//!   other entries of the push being stored; a clean push answers 204;
//! * faults: scripted statuses for whole pushes ([`LokiServer::fail_pushes`]: 429, 500, 503), and
//!   the server going away and coming back on the same port ([`LokiServer::down`], [`LokiServer::up`]).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use loong_testkit::receiver::{Receiver, respond, wait_until};
use parking_lot::Mutex;
use prost::Message;
use serde_json::Value;

use crate::labels;
use crate::proto;

/// A stream as the receiver holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub tenant: String,
    pub labels: BTreeMap<String, String>,
    /// (nanoseconds since the epoch, line), in the order accepted.
    pub entries: Vec<(i64, String)>,
}

struct Held {
    stream: Stream,
    newest: Option<i64>,
    /// (time, hash of the line) of every entry, for de-duplication (not kept when only counting).
    seen: HashSet<(i64, u64)>,
}

/// How far behind its stream's newest entry Loki 2.4+ still accepts one (`max_chunk_age / 2`).
const UNORDERED_WINDOW_NS: i64 = 3600 * 1_000_000_000;

fn line_hash(line: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut h);
    h.finish()
}

#[derive(Default)]
struct State {
    streams: BTreeMap<(String, String), Held>,
    store: bool,
    ordered: bool,
    require_tenant: bool,
    authorization: Option<String>,
    script: VecDeque<u16>,
    pushes: u64,
    entries_received: u64,
    accepted: u64,
    rejected: u64,
    duplicates: u64,
    answered: Vec<u16>,
    content_types: Vec<String>,
    tenants: Vec<Option<String>>,
}

/// The receiver (on a [`Receiver`]); it stops when dropped.
pub struct LokiServer {
    receiver: Receiver,
    state: Arc<Mutex<State>>,
}

fn text(status: u16, body: String) -> Response<Bytes> {
    respond(status, "text/plain; charset=utf-8", body)
}

/// Go's `time.Time.String()` in UTC, as Loki prints timestamps in errors.
fn go_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}{frac} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The streams of a push: (label text or map, entries).
type Decoded = Vec<(Result<BTreeMap<String, String>, String>, String, Vec<(i64, String)>)>;

fn decode_protobuf(body: &[u8]) -> Result<Decoded, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    let request = proto::PushRequest::decode(&raw[..]).map_err(|e| format!("decoding the push request: {e}"))?;
    Ok(request
        .streams
        .into_iter()
        .map(|s| {
            let parsed = labels::parse(&s.labels);
            let entries = s
                .entries
                .into_iter()
                .map(|e| {
                    let t = e.timestamp.unwrap_or_default();
                    (t.seconds * 1_000_000_000 + i64::from(t.nanos), e.line)
                })
                .collect();
            (parsed, s.labels, entries)
        })
        .collect())
}

fn decode_json(body: &[u8]) -> Result<Decoded, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("decoding the JSON push: {e}"))?;
    let streams = v
        .get("streams")
        .and_then(Value::as_array)
        .ok_or("the JSON push has no streams")?;
    let mut out = Vec::new();
    for s in streams {
        let map = s
            .get("stream")
            .and_then(Value::as_object)
            .ok_or("a stream has no \"stream\" object")?;
        let mut set = BTreeMap::new();
        let mut problem = None;
        for (k, v) in map {
            let Some(v) = v.as_str() else {
                return Err(format!("label {k:?}: the value is not a string"));
            };
            if !labels::is_valid_name(k) {
                problem = Some(format!("invalid label name {k:?}"));
            }
            set.insert(k.clone(), v.to_owned());
        }
        let text = labels::format(&set);
        let mut entries = Vec::new();
        for pair in s
            .get("values")
            .and_then(Value::as_array)
            .ok_or("a stream has no values")?
        {
            let (Some(ts), Some(line)) = (pair.get(0).and_then(Value::as_str), pair.get(1).and_then(Value::as_str))
            else {
                return Err(format!("a value is not [\"<ns>\", \"<line>\"]: {pair}"));
            };
            let ts: i64 = ts
                .parse()
                .map_err(|_| format!("timestamp {ts:?} is not integer nanoseconds"))?;
            entries.push((ts, line.to_owned()));
        }
        out.push((problem.map_or(Ok(set), Err), text, entries));
    }
    Ok(out)
}

fn handle(state: &Mutex<State>, req: Request<Bytes>) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if path != "/loki/api/v1/push" && path != "/api/prom/push" {
        return text(404, "404 page not found\n".into());
    }
    if parts.method != http::Method::POST {
        return text(405, "method not allowed\n".into());
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let tenant = header("x-scope-orgid");
    let content_type = header("content-type").unwrap_or_default();
    let mut s = state.lock();
    s.pushes += 1;
    s.tenants.push(tenant.clone());
    s.content_types.push(content_type.clone());
    let answer = |s: &mut State, status: u16, body: String| {
        s.answered.push(status);
        text(status, body)
    };
    if let Some(want) = &s.authorization
        && header("authorization").as_ref() != Some(want)
    {
        return answer(&mut s, 401, "Unauthorized\n".into());
    }
    if s.require_tenant && tenant.as_deref().is_none_or(str::is_empty) {
        return answer(&mut s, 401, "no org id\n".into());
    }
    let tenant = tenant.filter(|t| !t.is_empty()).unwrap_or_else(|| "fake".to_owned());
    if let Some(status) = s.script.pop_front().filter(|st| !(200..300).contains(st)) {
        let body = match status {
            429 => format!(
                "Ingestion rate limit exceeded for user {tenant} (limit: 4194304 bytes/sec) while attempting to ingest lines, reduce log volume or contact your Loki administrator to see if the limit can be increased\n"
            ),
            503 => "too many unhealthy instances in the ring\n".into(),
            _ => "rpc error: code = Unavailable desc = scripted failure\n".into(),
        };
        return answer(&mut s, status, body);
    }
    if header("content-encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity")) {
        return answer(&mut s, 415, "unsupported Content-Encoding\n".into());
    }
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let decoded = match mime.as_str() {
        "" | "application/x-protobuf" => decode_protobuf(&body),
        "application/json" => decode_json(&body),
        other => return answer(&mut s, 415, format!("unsupported Content-Type {other:?}\n")),
    };
    let streams = match decoded {
        Ok(d) => d,
        Err(e) => return answer(&mut s, 400, format!("{e}\n")),
    };
    let mut errors: Vec<String> = Vec::new();
    for (parsed, text_labels, entries) in streams {
        s.entries_received += entries.len() as u64;
        let set = match parsed {
            Ok(set) if set.is_empty() => Err("error at least one label pair is required per stream".to_owned()),
            Ok(set) => Ok(set),
            Err(e) => Err(format!("error parsing labels {text_labels:?}: {e}")),
        };
        let set = match set {
            Ok(set) => set,
            Err(e) => {
                s.rejected += entries.len() as u64;
                errors.push(e);
                continue;
            }
        };
        let canonical = labels::format(&set);
        let ordered = s.ordered;
        let store = s.store;
        let total = entries.len();
        let mut failed: Vec<(i64, String)> = Vec::new();
        let mut accepted = 0u64;
        let mut duplicates = 0u64;
        {
            let held = s
                .streams
                .entry((tenant.clone(), canonical.clone()))
                .or_insert_with(|| Held {
                    stream: Stream {
                        tenant: tenant.clone(),
                        labels: set,
                        entries: Vec::new(),
                    },
                    newest: None,
                    seen: HashSet::new(),
                });
            for (ts, line) in entries {
                if let Some(newest) = held.newest {
                    if ordered && ts < newest {
                        failed.push((ts, "entry out of order".to_owned()));
                        continue;
                    }
                    if !ordered && ts < newest - UNORDERED_WINDOW_NS {
                        failed.push((
                            ts,
                            format!(
                                "entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}",
                                go_time(ts),
                                go_time(newest - UNORDERED_WINDOW_NS)
                            ),
                        ));
                        continue;
                    }
                }
                if store && !held.seen.insert((ts, line_hash(&line))) {
                    duplicates += 1;
                    continue;
                }
                accepted += 1;
                held.newest = Some(held.newest.map_or(ts, |n| n.max(ts)));
                if store {
                    held.stream.entries.push((ts, line));
                }
            }
        }
        s.accepted += accepted;
        s.duplicates += duplicates;
        if !failed.is_empty() {
            s.rejected += failed.len() as u64;
            let mut msg = String::new();
            for (ts, why) in &failed {
                msg.push_str(&format!(
                    "entry with timestamp {} ignored, reason: '{why}',\n",
                    go_time(*ts)
                ));
            }
            msg.push_str(&format!(
                "user '{tenant}', total ignored: {} out of {total} for stream: {canonical}",
                failed.len()
            ));
            errors.push(msg);
        }
    }
    if errors.is_empty() {
        answer(&mut s, 204, String::new())
    } else {
        answer(&mut s, 400, errors.join("\n") + "\n")
    }
}

impl LokiServer {
    /// Starts on a free port.
    pub fn start() -> LokiServer {
        Self::start_on(0)
    }

    /// Starts on `port` (0: any free port).
    pub fn start_on(port: u16) -> LokiServer {
        let state = Arc::new(Mutex::new(State {
            store: true,
            ..Default::default()
        }));
        let st = state.clone();
        let receiver = Receiver::start_on(port, move |req, _| std::future::ready(handle(&st, req)));
        LokiServer { receiver, state }
    }

    /// `http://127.0.0.1:<port>/loki/api/v1/push`
    pub fn push_url(&self) -> String {
        self.receiver.url("/loki/api/v1/push")
    }

    pub fn port(&self) -> u16 {
        self.receiver.port()
    }

    /// Goes away: the port stops listening and open connections are cut. Stored data is kept.
    pub fn down(&self) {
        self.receiver.down();
    }

    /// Comes back on the same port after [`LokiServer::down`].
    pub fn up(&self) {
        self.receiver.up();
    }

    /// Counts entries without storing their lines (for benchmarks).
    pub fn count_only(&self) {
        self.state.lock().store = false;
    }

    /// Rejects entries older than their stream's newest, as Loki before 2.4 (or with
    /// `unordered_writes: false`) does.
    pub fn ordered(&self) {
        self.state.lock().ordered = true;
    }

    /// Answers 401 to pushes without an `X-Scope-OrgID`.
    pub fn require_tenant(&self) {
        self.state.lock().require_tenant = true;
    }

    /// Answers 401 to pushes without this `Authorization` value.
    pub fn require_authorization(&self, value: &str) {
        self.state.lock().authorization = Some(value.to_owned());
    }

    /// Answers the next pushes with these statuses; nothing of them is stored. A 2xx in the list
    /// lets that push be processed normally.
    pub fn fail_pushes(&self, statuses: &[u16]) {
        self.state.lock().script.extend(statuses);
    }

    /// Every stream, by tenant then labels, its entries by time (as a query returns them).
    pub fn streams(&self) -> Vec<Stream> {
        let s = self.state.lock();
        s.streams
            .values()
            .map(|h| {
                let mut stream = h.stream.clone();
                stream.entries.sort_by_key(|(t, _)| *t);
                stream
            })
            .collect()
    }

    /// Every stored line, stream by stream.
    pub fn lines(&self) -> Vec<String> {
        self.streams()
            .into_iter()
            .flat_map(|s| s.entries.into_iter().map(|(_, l)| l))
            .collect()
    }

    /// The `content` of every stored line that is a JSON object (`contents.content` for
    /// LoongCollector's `custom_single` lines).
    pub fn bodies(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| {
                v.get("content")
                    .or_else(|| v.get("contents").and_then(|c| c.get("content")))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Entries accepted so far.
    pub fn entry_count(&self) -> u64 {
        self.state.lock().accepted
    }

    /// Push requests received (any outcome).
    pub fn pushes(&self) -> u64 {
        self.state.lock().pushes
    }

    /// Entries received in decoded pushes (any outcome).
    pub fn entries_received(&self) -> u64 {
        self.state.lock().entries_received
    }

    /// Entries rejected (out of order, too far behind, invalid labels).
    pub fn rejected(&self) -> u64 {
        self.state.lock().rejected
    }

    /// Entries ignored as exact duplicates of stored ones (a client that resent them); not
    /// tracked after [`LokiServer::count_only`].
    pub fn duplicates(&self) -> u64 {
        self.state.lock().duplicates
    }

    /// The status of every push, in order.
    pub fn answered(&self) -> Vec<u16> {
        self.state.lock().answered.clone()
    }

    /// The `Content-Type` of every push, in order.
    pub fn content_types(&self) -> Vec<String> {
        self.state.lock().content_types.clone()
    }

    /// The `X-Scope-OrgID` of every push, in order.
    pub fn tenants(&self) -> Vec<Option<String>> {
        self.state.lock().tenants.clone()
    }

    /// Waits until at least `n` entries were accepted; false on timeout.
    pub fn wait_for_entries(&self, n: u64, timeout: Duration) -> bool {
        wait_until(timeout, || self.entry_count() >= n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_strings() {
        assert_eq!(go_time(1_700_000_000_000_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(go_time(1_700_000_000_120_000_000), "2023-11-14 22:13:20.12 +0000 UTC");
        assert_eq!(go_time(951_782_400_000_000_000), "2000-02-29 00:00:00 +0000 UTC");
    }

    #[test]
    fn json_pushes_decode() {
        let d = decode_json(br#"{"streams":[{"stream":{"job":"a"},"values":[["5","x"],["7","y"]]}]}"#).unwrap();
        assert_eq!(d[0].2, vec![(5, "x".to_owned()), (7, "y".to_owned())]);
        assert!(decode_json(br#"{"streams":[{"stream":{"job":"a"},"values":[[5,"x"]]}]}"#).is_err());
        let bad = decode_json(br#"{"streams":[{"stream":{"a.b":"1"},"values":[]}]}"#).unwrap();
        assert!(bad[0].0.is_err());
    }
}
