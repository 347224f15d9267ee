//! flusher_http over TLS against a real rustls server, with a CA, server and client certificates
//! generated in the test.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use loong_api::PipelineContext;
use loong_testkit::tls::Pki;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio_rustls::rustls;

/// An HTTPS server answering 200 and counting requests; with `client_ca`, it requires a client
/// certificate signed by that CA.
struct TlsServer {
    port: u16,
    requests: Arc<Mutex<usize>>,
    _runtime: tokio::runtime::Runtime,
}

fn certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}

impl TlsServer {
    fn start(cert_pem: &str, key_pem: &str, client_ca: Option<&str>) -> TlsServer {
        use rustls::pki_types::pem::PemObject;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs(ca) {
                    roots.add(c).unwrap();
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let config = builder.with_single_cert(certs(cert_pem), key).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(0));
        let counter = requests.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else { return };
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let counter = counter.clone();
                        async move {
                            let _ = req.into_body().collect().await;
                            *counter.lock() += 1;
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                                b"ok",
                            ))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        TlsServer {
            port,
            requests,
            _runtime: runtime,
        }
    }

    fn requests(&self) -> usize {
        *self.requests.lock()
    }
}

fn send(options: Value) -> Result<(), String> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_http::register(&mut registry);
    let (mut f, _) = registry.create_flusher("flusher_http", &options).unwrap();
    f.init(&loong_testkit::mock_context("flusher_http"))
        .map_err(|e| format!("init: {e:#}"))?;
    let result = f
        .as_v2()
        .unwrap()
        .export(
            &[loong_testkit::log_events_with_prefix("tls", 2)],
            &mut PipelineContext::noop(),
        )
        .map_err(|e| format!("{e:#}"));
    f.stop().unwrap();
    result
}

fn options(port: u16, host: &str, tls: Value) -> Value {
    json!({"RemoteURL": format!("https://{host}:{port}/x"), "Retry": {"Enable": false},
           "Convert": {"Protocol": "jsonline"}, "TLS": tls})
}

#[test]
fn verifies_against_the_configured_ca_and_refuses_unknown_issuers() {
    let pki = Pki::new();
    let leaf = pki.leaf("server", &["127.0.0.1", "localhost"]);
    let server = TlsServer::start(&leaf.cert_pem, &leaf.key_pem, None);
    let ca = pki.ca_file();

    let err = send(options(server.port, "localhost", json!({}))).unwrap_err();
    assert!(
        err.contains("1 of 1 requests failed"),
        "verification is on by default: {err}"
    );
    assert_eq!(server.requests(), 0);

    send(options(server.port, "localhost", json!({"CAFile": ca}))).unwrap();
    assert_eq!(server.requests(), 1);

    send(options(server.port, "localhost", json!({"InsecureSkipVerify": true}))).unwrap();
    assert_eq!(server.requests(), 2);
}

#[test]
fn server_name_overrides_the_url_host() {
    let pki = Pki::new();
    let leaf = pki.leaf("server", &["logs.internal"]);
    let server = TlsServer::start(&leaf.cert_pem, &leaf.key_pem, None);
    let ca = pki.ca_file();
    assert!(
        send(options(server.port, "localhost", json!({"CAFile": ca}))).is_err(),
        "name mismatch"
    );
    send(options(
        server.port,
        "localhost",
        json!({"CAFile": ca, "ServerName": "logs.internal"}),
    ))
    .unwrap();
    assert_eq!(server.requests(), 1);
}

#[test]
fn client_certificates_are_presented_when_configured() {
    let pki = Pki::new();
    let leaf = pki.leaf("server", &["localhost"]);
    let server = TlsServer::start(&leaf.cert_pem, &leaf.key_pem, Some(pki.ca_pem()));
    let ca = pki.ca_file();
    let client = pki.leaf("client", &["loong-agent"]);
    let (cert_file, key_file) = (&client.cert_file, &client.key_file);

    assert!(
        send(options(server.port, "localhost", json!({"CAFile": ca}))).is_err(),
        "no client certificate"
    );
    send(options(
        server.port,
        "localhost",
        json!({"CAFile": ca, "CertFile": cert_file, "KeyFile": key_file}),
    ))
    .unwrap();
    assert_eq!(server.requests(), 1);

    let err = send(options(server.port, "localhost", json!({"CertFile": cert_file}))).unwrap_err();
    assert!(err.contains("TLS.CertFile and TLS.KeyFile go together"), "{err}");
}
