//! The rustls client configuration: the public web roots plus `CAFile`, an optional client
//! certificate, and the version range. Server certificates are always verified.

use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

fn version(v: &str, key: &str, default: u8) -> Result<u8> {
    match v.trim() {
        "" => Ok(default),
        "1.2" => Ok(2),
        "1.3" => Ok(3),
        "1.0" | "1.1" => bail!("TLS.{key} {v}: TLS 1.0 and 1.1 are not supported (insecure); use 1.2 or 1.3"),
        other => bail!("TLS.{key} {other:?}: use 1.2 or 1.3"),
    }
}

pub fn client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig> {
    let (min, max) = (
        version(&tls.min_version, "MinVersion", 2)?,
        version(&tls.max_version, "MaxVersion", 3)?,
    );
    let versions: &[&rustls::SupportedProtocolVersion] = match (min, max) {
        (2, 3) => &[&rustls::version::TLS13, &rustls::version::TLS12],
        (2, 2) => &[&rustls::version::TLS12],
        (3, 3) => &[&rustls::version::TLS13],
        _ => bail!("TLS.MinVersion is above TLS.MaxVersion"),
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .context("TLS versions")?;
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if !tls.ca_file.is_empty() {
        let certs = CertificateDer::pem_file_iter(&tls.ca_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("TLS.CAFile {}", tls.ca_file))?;
        if certs.is_empty() {
            bail!("TLS.CAFile {} holds no certificate", tls.ca_file);
        }
        for cert in certs {
            roots.add(cert).with_context(|| format!("TLS.CAFile {}", tls.ca_file))?;
        }
    }
    let builder = builder.with_root_certificates(roots);
    Ok(match (tls.cert_file.is_empty(), tls.key_file.is_empty()) {
        (true, true) => builder.with_no_client_auth(),
        (false, false) => {
            let chain = CertificateDer::pem_file_iter(&tls.cert_file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("TLS.CertFile {}", tls.cert_file))?;
            let key =
                PrivateKeyDer::from_pem_file(&tls.key_file).with_context(|| format!("TLS.KeyFile {}", tls.key_file))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("TLS client certificate")?
        }
        _ => bail!("TLS.CertFile and TLS.KeyFile go together"),
    })
}
