//! How syncd checks a server's certificate: the system's roots plus the certificates of the
//! vault's `ca_cert` file (a private CA works as a root), and pinning: a certificate in that
//! file that is byte for byte the server's own is trusted as that server's certificate
//! whatever its CA flag. `openssl req -x509` makes CA:TRUE certificates, which WebPKI refuses
//! as a server's own (`CaUsedAsEndEntity`) even when the user gave exactly that file; pinning
//! keeps what matters: the name is still checked against the certificate's names, its validity
//! period against the clock, and the handshake's signatures against its key.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, SignatureScheme};

/// The certificates of a PEM file (`--ca-cert`); an error names what is wrong with it.
pub fn read_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("it is not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into());
    }
    Ok(certs)
}

/// The server certificate check (module docs).
#[derive(Debug)]
pub struct Verifier {
    /// WebPKI over the system's roots and the trusted file's certificates; None when there
    /// are no roots at all (a bare container without a CA bundle and no `ca_cert`).
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The trusted file's certificates, as pins.
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Verifier {
    /// Trust the system's roots, and `extra` (the `ca_cert` file's certificates) as roots and
    /// as pins.
    pub fn new(
        provider: Arc<CryptoProvider>,
        extra: Vec<CertificateDer<'static>>,
        system_roots: bool,
    ) -> Result<Verifier, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in &extra {
            // A certificate WebPKI cannot use as a root can still be pinned.
            let _ = roots.add(cert.clone());
        }
        if system_roots {
            // Unreadable system certificates are skipped, as the platform verifier does.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        let webpki = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("cannot set up certificate checks: {e}"))?,
            )
        };
        Ok(Verifier {
            webpki,
            pinned: extra,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// The checks WebPKI does not do for a pinned certificate: validity and name (its chain
    /// is the pin itself).
    fn verify_pinned(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let validity = cert.validity();
        let secs =
            |t: i64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.max(0) as u64));
        let now_secs = now.as_secs() as i64;
        if now_secs > validity.not_after.timestamp() {
            return Err(CertificateError::ExpiredContext {
                time: now,
                not_after: secs(validity.not_after.timestamp()),
            }
            .into());
        }
        if now_secs < validity.not_before.timestamp() {
            return Err(CertificateError::NotValidYetContext {
                time: now,
                not_before: secs(validity.not_before.timestamp()),
            }
            .into());
        }
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        Ok(ServerCertVerified::assertion())
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let checked = match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(CertificateError::UnknownIssuer.into()),
        };
        match checked {
            Ok(ok) => Ok(ok),
            Err(_)
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                self.verify_pinned(end_entity, server_name, now)
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls configuration of syncd's HTTPS client: the provider reqwest is built with
/// (aws-lc-rs), the safe default protocol versions, [`Verifier`], HTTP/2 or HTTP/1.1.
pub fn client_config(extra: Vec<CertificateDer<'static>>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Verifier::new(provider.clone(), extra, true)?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `names`, CA:TRUE as openssl's recipe makes it when `ca`.
    fn self_signed(names: &[&str], ca: bool) -> CertificateDer<'static> {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn verifier(pinned: &[&CertificateDer<'static>]) -> Verifier {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Verifier::new(
            provider,
            pinned.iter().map(|c| (*c).clone()).collect(),
            false,
        )
        .unwrap()
    }

    fn check(v: &Verifier, cert: &CertificateDer<'_>, name: &str) -> Result<(), Error> {
        let name = ServerName::try_from(name.to_string()).unwrap();
        v.verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_pinned_ca_true_certificate_is_the_servers_for_its_names_only() {
        let cert = self_signed(&["hub.example", "127.0.0.1"], true);
        let v = verifier(&[&cert]);
        check(&v, &cert, "hub.example").unwrap();
        check(&v, &cert, "127.0.0.1").unwrap();
        match check(&v, &cert, "other.example") {
            Err(Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                presented,
                ..
            })) => assert_eq!(presented.len(), 2, "{presented:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_certificate_other_than_the_pinned_one_is_refused() {
        let pinned = self_signed(&["hub.example"], true);
        let served = self_signed(&["hub.example"], true);
        let v = verifier(&[&pinned]);
        assert!(check(&v, &served, "hub.example").is_err());
        // Nothing pinned, no roots: nothing is trusted.
        let none = verifier(&[]);
        assert!(matches!(
            check(&none, &pinned, "hub.example"),
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ));
    }

    #[test]
    fn a_pinned_certificate_out_of_its_validity_period_is_refused() {
        let mut params = rcgen::CertificateParams::new(vec!["hub.example".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap().der().clone();
        let v = verifier(&[&cert]);
        assert!(matches!(
            check(&v, &cert, "hub.example"),
            Err(Error::InvalidCertificate(
                CertificateError::ExpiredContext { .. }
            ))
        ));
    }

    #[test]
    fn a_pem_file_without_certificates_is_refused() {
        assert!(read_pem_certs(b"not a certificate").is_err());
        let cert = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        assert_eq!(read_pem_certs(cert.cert.pem().as_bytes()).unwrap().len(), 1);
    }
}
