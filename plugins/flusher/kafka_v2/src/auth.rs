//! `Authentication`: SASL (PLAIN, SCRAM-SHA-256/512) and TLS as librdkafka settings.

use std::path::Path;

use anyhow::{Result, bail};
use rdkafka::ClientConfig;

use crate::config::{AuthenticationConfig, TlsConfig};

/// Sets `security.protocol` and the SASL/TLS settings for `auth`.
pub fn apply(c: &mut ClientConfig, auth: &AuthenticationConfig) -> Result<()> {
    if auth.kerberos.as_ref().is_some_and(|k| !k.is_null()) {
        bail!("Authentication.Kerberos is not supported by loong-rs's flusher_kafka_v2");
    }
    let sasl = match (&auth.sasl, &auth.plain_text) {
        (Some(s), _) => {
            if s.username.is_empty() {
                bail!("Authentication.SASL.Username is required");
            }
            if s.password.is_empty() {
                bail!("Authentication.SASL.Password is required");
            }
            let mechanism = match s.sasl_mechanism.trim().to_ascii_uppercase().as_str() {
                "" | "PLAIN" => "PLAIN",
                "SCRAM-SHA-256" => "SCRAM-SHA-256",
                "SCRAM-SHA-512" => "SCRAM-SHA-512",
                other => {
                    bail!("Authentication.SASL.SaslMechanism {other:?}: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
                }
            };
            Some((mechanism, &s.username, &s.password))
        }
        (None, Some(p)) if !p.username.is_empty() => {
            if p.password.is_empty() {
                bail!("Authentication.PlainText.Password must be set when Username is");
            }
            Some(("PLAIN", &p.username, &p.password))
        }
        _ => None,
    };
    let tls = auth.tls.as_ref().filter(|t| t.enabled);
    let protocol = match (sasl.is_some(), tls.is_some()) {
        (false, false) => "plaintext",
        (false, true) => "ssl",
        (true, false) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    c.set("security.protocol", protocol);
    if let Some((mechanism, user, password)) = sasl {
        c.set("sasl.mechanism", mechanism);
        c.set("sasl.username", user);
        c.set("sasl.password", password);
    }
    if let Some(tls) = tls {
        apply_tls(c, tls)?;
    }
    Ok(())
}

fn tls_version(what: &str, v: &str) -> Result<()> {
    match v.trim() {
        "" | "1.0" | "1.1" | "1.2" | "1.3" => Ok(()),
        other => bail!("Authentication.TLS.{what} {other:?}: use 1.0, 1.1, 1.2 or 1.3"),
    }
}

fn apply_tls(c: &mut ClientConfig, tls: &TlsConfig) -> Result<()> {
    tls_version("MinVersion", &tls.min_version)?;
    tls_version("MaxVersion", &tls.max_version)?;
    if !matches!(tls.min_version.trim(), "" | "1.2") || !tls.max_version.trim().is_empty() {
        tracing::warn!(
            min = %tls.min_version,
            max = %tls.max_version,
            "flusher_kafka_v2: TLS MinVersion/MaxVersion are not enforced; OpenSSL's policy decides the versions"
        );
    }
    let file = |what: &str, path: &str| -> Result<()> {
        if !path.is_empty() && !Path::new(path).is_file() {
            bail!("Authentication.TLS.{what} {path}: no such file");
        }
        Ok(())
    };
    file("CAFile", &tls.ca_file)?;
    file("CertFile", &tls.cert_file)?;
    file("KeyFile", &tls.key_file)?;
    if tls.cert_file.is_empty() != tls.key_file.is_empty() {
        bail!("Authentication.TLS: CertFile and KeyFile go together");
    }
    if !tls.ca_file.is_empty() {
        c.set("ssl.ca.location", &tls.ca_file);
    }
    if !tls.cert_file.is_empty() {
        c.set("ssl.certificate.location", &tls.cert_file);
        c.set("ssl.key.location", &tls.key_file);
    }
    if tls.insecure_skip_verify {
        tracing::warn!("flusher_kafka_v2: InsecureSkipVerify is on; broker certificates are not checked");
        c.set("enable.ssl.certificate.verification", "false");
        c.set("ssl.endpoint.identification.algorithm", "none");
    } else {
        c.set("enable.ssl.certificate.verification", "true");
        c.set("ssl.endpoint.identification.algorithm", "https");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PlainTextConfig, SaslConfig};

    fn applied(auth: &AuthenticationConfig) -> Result<ClientConfig> {
        let mut c = ClientConfig::new();
        apply(&mut c, auth).map(|()| c)
    }

    #[test]
    fn sasl_mechanisms_and_tls_pick_the_security_protocol() {
        let c = applied(&AuthenticationConfig::default()).unwrap();
        assert_eq!(c.get("security.protocol"), Some("plaintext"));

        let plain = AuthenticationConfig {
            plain_text: Some(PlainTextConfig {
                username: "u".into(),
                password: "p".into(),
            }),
            ..Default::default()
        };
        let c = applied(&plain).unwrap();
        assert_eq!(c.get("security.protocol"), Some("sasl_plaintext"));
        assert_eq!(c.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(c.get("sasl.username"), Some("u"));

        let scram = AuthenticationConfig {
            sasl: Some(SaslConfig {
                sasl_mechanism: "scram-sha-512".into(),
                username: "u".into(),
                password: "p".into(),
            }),
            tls: Some(TlsConfig {
                enabled: true,
                insecure_skip_verify: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = applied(&scram).unwrap();
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("enable.ssl.certificate.verification"), Some("false"));
    }

    #[test]
    fn incomplete_or_unsupported_settings_are_errors() {
        let no_password = AuthenticationConfig {
            sasl: Some(SaslConfig {
                username: "u".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(applied(&no_password).unwrap_err().to_string().contains("Password"));
        let bad_mechanism = AuthenticationConfig {
            sasl: Some(SaslConfig {
                sasl_mechanism: "GSSAPI".into(),
                username: "u".into(),
                password: "p".into(),
            }),
            ..Default::default()
        };
        assert!(
            applied(&bad_mechanism)
                .unwrap_err()
                .to_string()
                .contains("SaslMechanism")
        );
        let kerberos = AuthenticationConfig {
            kerberos: Some(serde_json::json!({"ServiceName": "kafka"})),
            ..Default::default()
        };
        assert!(applied(&kerberos).unwrap_err().to_string().contains("Kerberos"));
        let missing_ca = AuthenticationConfig {
            tls: Some(TlsConfig {
                enabled: true,
                ca_file: "/nonexistent/ca.pem".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(applied(&missing_ca).unwrap_err().to_string().contains("CAFile"));
    }
}
