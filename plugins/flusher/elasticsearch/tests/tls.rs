//! flusher_elasticsearch over HTTPS: a rustls server (certificates made in the test) terminating
//! TLS in front of the `_bulk` receiver.

use std::sync::Arc;

use loong_api::PipelineContext;
use loong_flusher_elasticsearch::testing::EsServer;
use loong_testkit::tls::Pki;
use serde_json::{Value, json};
use tokio_rustls::rustls;

/// Terminates TLS on a free port and forwards the plain bytes to `backend`.
struct TlsFront {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl TlsFront {
    fn start(cert_pem: &str, key_pem: &str, backend: u16) -> TlsFront {
        use rustls::pki_types::pem::PemObject;
        let chain = rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .map(|c| c.unwrap())
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront {
            port,
            _runtime: runtime,
        }
    }
}

fn export(options: Value) -> loong_api::Result<()> {
    let mut registry = loong_api::Registry::new();
    loong_flusher_elasticsearch::register(&mut registry);
    let (mut f, _) = registry.create_flusher("flusher_elasticsearch", &options).unwrap();
    f.init(&loong_testkit::mock_context("flusher_elasticsearch"))?;
    f.as_v2().unwrap().export(
        &[loong_testkit::log_events_with_prefix("tls", 3)],
        &mut PipelineContext::noop(),
    )
}

#[test]
fn https_with_a_private_ca_and_server_name() {
    let server = EsServer::start();
    let pki = Pki::new();
    let leaf = pki.leaf("server", &["es.internal"]);
    let front = TlsFront::start(&leaf.cert_pem, &leaf.key_pem, server.port());
    let ca = pki.ca_file();
    let retry = json!({"MaxRetryTimes": 0});

    // Addresses without a scheme use https with TLS.Enabled; the certificate names es.internal.
    export(json!({
        "Addresses": [format!("127.0.0.1:{}", front.port)], "Index": "tls", "Retry": retry,
        "Authentication": {"TLS": {"Enabled": true, "CAFile": ca, "ServerName": "es.internal"}},
    }))
    .unwrap();
    assert_eq!(server.bodies().len(), 3);

    // Without the CA the certificate is not trusted; with the wrong name it does not match.
    let untrusted = export(json!({
        "Addresses": [format!("https://127.0.0.1:{}", front.port)], "Index": "tls", "Retry": retry,
    }))
    .unwrap_err();
    assert!(
        format!("{untrusted:#}").to_lowercase().contains("certificate"),
        "{untrusted:#}"
    );
    let wrong_name = export(json!({
        "Addresses": [format!("https://127.0.0.1:{}", front.port)], "Index": "tls", "Retry": retry,
        "Authentication": {"TLS": {"CAFile": ca}},
    }))
    .unwrap_err();
    assert!(
        format!("{wrong_name:#}").to_lowercase().contains("certificate"),
        "{wrong_name:#}"
    );

    // InsecureSkipVerify accepts it anyway.
    export(json!({
        "Addresses": [format!("https://127.0.0.1:{}", front.port)], "Index": "tls",
        "Authentication": {"TLS": {"InsecureSkipVerify": true}},
    }))
    .unwrap();
    assert_eq!(server.bodies().len(), 6);
}
