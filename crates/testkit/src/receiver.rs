//! The scaffolding of an in-process HTTP server for tests: a hyper HTTP/1 server on 127.0.0.1 (a
//! free port or a chosen one) run by its own runtime, answering every request with a handler the
//! caller gives; it can go away and come back on the same port ([`Receiver::down`],
//! [`Receiver::up`]) and stops when dropped.
//!
//! [`crate::http_sink::HttpSink`] is built on it, and so are the protocol receivers of the
//! flushers that have no real backend to test against (the Elasticsearch and Loki `testing`
//! modules), which keep only their protocol logic in the handler.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use parking_lot::Mutex;
use tokio::task::AbortHandle;

type Answer = Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;
type Handler = Arc<dyn Fn(Request<Bytes>, SocketAddr) -> Answer + Send + Sync>;

struct Serving {
    accept: AbortHandle,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Serving {
    fn stop(self) {
        self.accept.abort();
        for c in self.conns.lock().drain(..) {
            c.abort();
        }
    }
}

/// The server; it stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    handler: Handler,
    serving: Mutex<Option<Serving>>,
    runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// Starts on `port` (0: any free port). `handler` gets every request, its body read in full,
    /// with the client's address (one per connection), and answers it.
    pub fn start_on<F, Fut>(port: u16, handler: F) -> Receiver
    where
        F: Fn(Request<Bytes>, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Bytes>> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("start the receiver's runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("local address");
        let receiver = Receiver {
            addr,
            handler: Arc::new(move |req, peer| Box::pin(handler(req, peer))),
            serving: Mutex::new(None),
            runtime,
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let handler = self.handler.clone();
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let c = conns.clone();
        let accept = self.runtime.spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                let task = tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let resp = handler(Request::from_parts(parts, body), peer).await;
                            Ok::<_, std::convert::Infallible>(resp.map(Full::new))
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
                let mut c = c.lock();
                c.retain(|h| !h.is_finished());
                c.push(task.abort_handle());
            }
        });
        *self.serving.lock() = Some(Serving {
            accept: accept.abort_handle(),
            conns,
        });
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Goes away: the port stops listening and open connections are cut.
    pub fn down(&self) {
        if let Some(s) = self.serving.lock().take() {
            s.stop();
        }
        // Let the aborted tasks drop their sockets before anyone connects again.
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Comes back on the same port after [`Receiver::down`].
    pub fn up(&self) {
        if self.serving.lock().is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match self.runtime.block_on(tokio::net::TcpListener::bind(self.addr)) {
                Ok(l) => break l,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.serving.lock().take() {
            s.stop();
        }
    }
}

/// A response with this status, body and `Content-Type`.
pub fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = hyper::StatusCode::from_u16(status).expect("valid status");
    resp.headers_mut()
        .insert("content-type", content_type.parse().expect("valid content type"));
    resp
}

/// Polls `done` every 20 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    fn get(addr: SocketAddr) -> std::io::Result<String> {
        let mut s = TcpStream::connect(addr)?;
        s.write_all(b"GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn answers_goes_down_and_comes_back_on_the_same_port() {
        let r = Receiver::start_on(0, |req, _| async move {
            respond(200, "text/plain", format!("path {}", req.uri()))
        });
        assert!(get(r.addr()).unwrap().ends_with("path /x"));
        r.down();
        assert!(get(r.addr()).is_err());
        r.up();
        assert!(get(r.addr()).unwrap().starts_with("HTTP/1.1 200"));
        assert_eq!(r.url("/y"), format!("http://127.0.0.1:{}/y", r.port()));
    }
}
