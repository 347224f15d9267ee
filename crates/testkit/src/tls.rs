//! A test PKI: a CA and leaf certificates signed by it (rcgen), written as PEM files into a
//! temporary directory that lives as long as the [`Pki`].

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate authority with its `ca.pem` written to a temporary directory.
pub struct Pki {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_file: String,
}

/// A certificate signed by a [`Pki`]'s CA, as PEM text and as files.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    /// `{name}.pem` in the PKI's directory.
    pub cert_file: String,
    /// `{name}.key` in the PKI's directory.
    pub key_file: String,
}

impl Pki {
    pub fn new() -> Pki {
        let key = KeyPair::generate().expect("generating the CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "loong test CA");
        let ca_pem = params.self_signed(&key).expect("self-signing the CA").pem();
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let ca_file = write(&dir, "ca.pem", &ca_pem);
        Pki {
            dir,
            issuer: Issuer::new(params, key),
            ca_pem,
            ca_file,
        }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The path of `ca.pem`.
    pub fn ca_file(&self) -> &str {
        &self.ca_file
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by the CA, written to
    /// `{name}.pem` and `{name}.key`.
    pub fn leaf(&self, name: &str, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().expect("generating a key");
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("leaf parameters");
        let cert_pem = params.signed_by(&key, &self.issuer).expect("signing a leaf").pem();
        let key_pem = key.serialize_pem();
        Leaf {
            cert_file: write(&self.dir, &format!("{name}.pem"), &cert_pem),
            key_file: write(&self.dir, &format!("{name}.key"), &key_pem),
            cert_pem,
            key_pem,
        }
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}

fn write(dir: &tempfile::TempDir, name: &str, pem: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, pem).expect("writing a PEM file");
    path.display().to_string()
}
