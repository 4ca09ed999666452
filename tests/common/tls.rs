//! Certificates made in the test, for real TLS on loopback: a private CA with a server
//! certificate it signed (the setup `--ca-cert` is for), a certificate nobody trusts, and the
//! self-signed one of the openssl recipe users follow (docs/server.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// PEM files of one TLS setup.
pub struct TlsFiles {
    /// The certificate a client must trust (the CA's).
    pub ca: PathBuf,
    /// The server's certificate and key, for `vault-server serve --tls-cert --tls-key`.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// `--tls-cert CERT --tls-key KEY`.
    pub fn serve_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

/// A private CA named `name`, and a certificate for 127.0.0.1 and localhost signed by it, in
/// `dir` as `<name>-ca.pem`, `<name>-cert.pem`, `<name>-key.pem`.
pub fn private_ca(dir: &Path, name: &str) -> TlsFiles {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params.use_authority_key_identifier_extension = true;
    params
        .extended_key_usages
        .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let files = TlsFiles {
        ca: dir.join(format!("{name}-ca.pem")),
        cert: dir.join(format!("{name}-cert.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    std::fs::write(&files.ca, ca_cert.pem()).unwrap();
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

/// The openssl recipe of docs/server.md: `openssl req -x509 ... -addext subjectAltName=SAN`
/// (`san` None: no SAN at all, as older recipes make). Returns (cert, key).
pub fn openssl_self_signed(dir: &Path, name: &str, san: Option<&str>) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "365", "-subj", "/CN=localhost"]);
    if let Some(san) = san {
        cmd.args(["-addext", &format!("subjectAltName={san}")]);
    }
    let out = cmd
        .output()
        .expect("the openssl binary (apt-get install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
