//! TLS for HTTPS endpoints, with rustls: the public web roots plus `CAFile`, an optional client
//! certificate, a `ServerName` to verify instead of the URL's host, and an explicit
//! `InsecureSkipVerify` that logs a warning. Verification is on by default.

use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// TLS settings of an `https://` endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM file of CA certificates trusted besides the public web roots (e.g. a private CA).
    #[serde(rename = "CAFile")]
    pub ca_file: String,
    /// PEM client certificate chain, for endpoints that require client authentication.
    #[serde(rename = "CertFile")]
    pub cert_file: String,
    /// PEM private key of `CertFile`.
    #[serde(rename = "KeyFile")]
    pub key_file: String,
    /// Name the server certificate must match, when it differs from the endpoint's host.
    #[serde(rename = "ServerName")]
    pub server_name: String,
    /// Accept any server certificate. Only for testing: it allows anyone in the path to read and
    /// change the data. Logs a warning at start.
    #[serde(rename = "InsecureSkipVerify")]
    pub insecure_skip_verify: bool,
    /// Lowest TLS version: `1.2` (default) or `1.3`.
    #[serde(rename = "MinVersion")]
    pub min_version: String,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `tls`.
pub fn client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig> {
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version.trim() {
        "" | "1.2" => &[&rustls::version::TLS13, &rustls::version::TLS12],
        "1.3" => &[&rustls::version::TLS13],
        other => bail!("TLS.MinVersion {other:?}: use 1.2 or 1.3"),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .context("TLS versions")?;

    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if !tls.ca_file.is_empty() {
        let certs = CertificateDer::pem_file_iter(&tls.ca_file)
            .with_context(|| format!("TLS.CAFile {}", tls.ca_file))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("TLS.CAFile {}", tls.ca_file))?;
        if certs.is_empty() {
            bail!("TLS.CAFile {} holds no certificate", tls.ca_file);
        }
        for cert in certs {
            roots.add(cert).with_context(|| format!("TLS.CAFile {}", tls.ca_file))?;
        }
    }
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        tracing::warn!("flusher TLS: InsecureSkipVerify is on; server certificates are not checked");
        Arc::new(AcceptAny(provider()))
    } else {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .context("TLS verifier")?;
        if tls.server_name.is_empty() {
            webpki
        } else {
            let name = ServerName::try_from(tls.server_name.clone())
                .with_context(|| format!("TLS.ServerName {:?}", tls.server_name))?;
            Arc::new(FixedName { inner: webpki, name })
        }
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let config = match (tls.cert_file.is_empty(), tls.key_file.is_empty()) {
        (true, true) => builder.with_no_client_auth(),
        (false, false) => {
            let chain = CertificateDer::pem_file_iter(&tls.cert_file)
                .with_context(|| format!("TLS.CertFile {}", tls.cert_file))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("TLS.CertFile {}", tls.cert_file))?;
            let key =
                PrivateKeyDer::from_pem_file(&tls.key_file).with_context(|| format!("TLS.KeyFile {}", tls.key_file))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("TLS client certificate")?
        }
        _ => bail!("TLS.CertFile and TLS.KeyFile go together"),
    };
    Ok(config)
}

/// Verifies against a configured name instead of the URL's host.
#[derive(Debug)]
struct FixedName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `InsecureSkipVerify`: any certificate is accepted, but handshake signatures are still checked
/// so the connection is at least consistent.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
