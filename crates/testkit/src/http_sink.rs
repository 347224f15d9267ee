//! A real HTTP server on 127.0.0.1 for flusher tests: it records every request with its body
//! decoded from `Content-Encoding` (gzip, snappy, zstd, lz4), answers with scripted status codes,
//! and can require an `Authorization` header. It runs on a [`Receiver`].

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Request, Response, StatusCode};
use parking_lot::Mutex;
use serde_json::Value;

use crate::receiver::{Receiver, wait_until};

/// One request the server accepted.
#[derive(Clone, Debug)]
pub struct Received {
    /// The client's address: one per connection, so tests can count connections.
    pub peer: SocketAddr,
    pub path_and_query: String,
    pub headers: hyper::HeaderMap,
    /// The body after undoing `Content-Encoding`.
    pub body: Vec<u8>,
}

#[derive(Default)]
struct ServerState {
    received: Vec<Received>,
    /// Statuses to answer with, in order; 200 when empty.
    script: VecDeque<u16>,
    /// Every status answered, in order.
    answered: Vec<u16>,
    /// `Authorization` value required; others get 401.
    authorization: Option<String>,
    /// While set, requests are held this long and then answered 503 without being recorded: a
    /// server that hangs.
    stall: Option<Duration>,
    /// Every answer waits this long: a slow but healthy server.
    delay: Option<Duration>,
}

/// The server; it stops when dropped.
pub struct HttpSink {
    receiver: Receiver,
    state: Arc<Mutex<ServerState>>,
}

fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    match encoding {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
            out
        }
        Some("snappy") => snap::raw::Decoder::new().decompress_vec(body).unwrap(),
        Some("zstd") => zstd::stream::decode_all(body).unwrap(),
        Some("lz4") => {
            let mut out = Vec::new();
            lz4_flex::frame::FrameDecoder::new(body).read_to_end(&mut out).unwrap();
            out
        }
        _ => body.to_vec(),
    }
}

async fn answer(st: Arc<Mutex<ServerState>>, req: Request<Bytes>, peer: SocketAddr) -> Response<Bytes> {
    let (parts, raw) = req.into_parts();
    let (stall, delay) = {
        let s = st.lock();
        (s.stall, s.delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
        st.lock().answered.push(503);
        let mut resp = Response::new(Bytes::from_static(b"stalled"));
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        return resp;
    }
    let encoding = parts.headers.get("content-encoding").and_then(|v| v.to_str().ok());
    let received = Received {
        peer,
        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        body: decode(encoding, &raw),
        headers: parts.headers.clone(),
    };
    let status = {
        let mut s = st.lock();
        let authorized = s
            .authorization
            .as_deref()
            .is_none_or(|want| received.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want));
        let status = if authorized {
            s.script.pop_front().unwrap_or(200)
        } else {
            401
        };
        if status / 100 == 2 {
            s.received.push(received);
        }
        s.answered.push(status);
        status
    };
    let mut resp = Response::new(Bytes::from_static(b"{}"));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    if status == 429 {
        resp.headers_mut().insert("retry-after", "0".parse().unwrap());
    }
    resp
}

impl HttpSink {
    /// Starts on a free port.
    pub fn start() -> HttpSink {
        Self::start_on(0)
    }

    /// Starts on `port` (0: any free port).
    pub fn start_on(port: u16) -> HttpSink {
        let state = Arc::new(Mutex::new(ServerState::default()));
        let st = state.clone();
        let receiver = Receiver::start_on(port, move |req, peer| answer(st.clone(), req, peer));
        HttpSink { receiver, state }
    }

    /// Makes the server hang: requests arriving from now on are held for `hold` and then answered
    /// 503 without being recorded. `None` makes it answer normally again.
    pub fn stall(&self, hold: Option<Duration>) {
        self.state.lock().stall = hold;
    }

    /// Makes every answer wait `delay` (a slow, healthy server); `None` answers at once.
    pub fn delay(&self, delay: Option<Duration>) {
        self.state.lock().delay = delay;
    }

    pub fn url(&self, path: &str) -> String {
        self.receiver.url(path)
    }

    /// Answers the next requests with these statuses, in order.
    pub fn script(&self, statuses: &[u16]) {
        self.state.lock().script.extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().received.clone()
    }

    /// Every `content` value in every JSON (or JSON lines) body received.
    pub fn bodies(&self) -> Vec<String> {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        match v {
                            Value::String(s) if k == "content" => out.push(s.clone()),
                            other => walk(other, out),
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for r in self.received() {
            for line in String::from_utf8_lossy(&r.body)
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    walk(&v, &mut out);
                }
            }
        }
        out
    }

    /// Requires this `Authorization` value; requests without it get 401 and are not recorded.
    pub fn require_authorization(&self, value: &str) {
        self.state.lock().authorization = Some(value.to_owned());
    }

    /// Every status answered so far.
    pub fn answered(&self) -> Vec<u16> {
        self.state.lock().answered.clone()
    }

    /// Waits until at least `n` bodies arrived; false on timeout.
    pub fn wait_for_bodies(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.bodies().len() >= n)
    }
}
