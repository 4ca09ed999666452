//! What `vault-server serve` tells its operator about TLS: at start, the ways its certificate
//! will be refused by clients (so the operator learns it from the log, not from each user),
//! and then every refused handshake, with the client's address and the reason.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;

use axum_server::accept::Accept;
use tokio::net::TcpStream;

/// The problems clients will have with the certificate `pem` (the first of the file) at
/// `now` (seconds since the Unix epoch), each one sentence naming `file` and the fix. An
/// unreadable certificate is left to the TLS setup, which refuses it with its own error.
pub fn certificate_warnings(file: &Path, pem: &[u8], now: i64) -> Vec<String> {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(pem) else {
        return Vec::new();
    };
    let Ok(cert) = pem.parse_x509() else {
        return Vec::new();
    };
    let file = file.display();
    let remake = "`vault-server cert --host NAME` makes one clients accept";
    let mut warnings = Vec::new();
    if cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca)
    {
        warnings.push(format!(
            "the TLS certificate `{file}` is marked CA:TRUE (as `openssl req -x509` makes): clients will refuse it as this server's certificate unless they pin this very file (syncd: `--ca-cert {file}`); {remake}"
        ));
    }
    let validity = cert.validity();
    let date = |t: i64| {
        jiff::Timestamp::from_second(t)
            .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    if now > validity.not_after.timestamp() {
        warnings.push(format!(
            "the TLS certificate `{file}` expired on {}: clients will refuse every connection; {remake} (with --force to replace it), then give it to the clients that pinned the old one",
            date(validity.not_after.timestamp())
        ));
    } else if now < validity.not_before.timestamp() {
        warnings.push(format!(
            "the TLS certificate `{file}` is valid only from {}: clients will refuse it until then (is this machine's clock right?)",
            date(validity.not_before.timestamp())
        ));
    }
    let has_san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .is_some_and(|san| !san.value.general_names.is_empty());
    if !has_san {
        warnings.push(format!(
            "the TLS certificate `{file}` has no subject alternative name: clients check the host of their URL against those names only (not the CN), so clients will refuse it; {remake}"
        ));
    }
    warnings
}

/// Log the warnings of [`certificate_warnings`] for the certificate file `cert`.
pub fn warn_about_certificate(cert: &Path) {
    let Ok(pem) = std::fs::read(cert) else {
        return;
    };
    let now = jiff::Timestamp::now().as_second();
    for warning in certificate_warnings(cert, &pem, now) {
        tracing::warn!("{warning}");
    }
}

/// A TLS acceptor that logs each refused handshake once (peer and reason) before passing the
/// failure on, which drops the connection as before.
#[derive(Debug, Clone)]
pub struct LoggedHandshakes<A> {
    pub inner: A,
}

impl<A, S> Accept<TcpStream, S> for LoggedHandshakes<A>
where
    A: Accept<TcpStream, S>,
    A::Future: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let peer = stream.peer_addr().ok();
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let result = accepted.await;
            if let Err(e) = &result {
                log_refused(peer, e);
            }
            result
        })
    }
}

fn log_refused(peer: Option<SocketAddr>, e: &io::Error) {
    let peer = peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string());
    match e.kind() {
        // A connection closed or idle before saying anything (a port check, a scanner).
        io::ErrorKind::UnexpectedEof | io::ErrorKind::TimedOut | io::ErrorKind::ConnectionReset => {
            tracing::debug!("TLS handshake from {peer} not completed: {e}");
        }
        _ => tracing::warn!(
            "TLS handshake from {peer} refused: {}",
            reason(&e.to_string())
        ),
    }
}

/// rustls' words, with what they mean for the operator.
fn reason(text: &str) -> String {
    let hint = if text.contains("InvalidContentType") || text.contains("corrupt message") {
        Some("the client spoke plain HTTP: its URL must start with https://")
    } else if text.contains("UnknownCA") {
        Some(
            "the client does not trust this server's certificate: give it the certificate file (syncd: --ca-cert FILE)",
        )
    } else if [
        "BadCertificate",
        "CertificateUnknown",
        "UnsupportedCertificate",
    ]
    .iter()
    .any(|a| text.contains(a))
    {
        Some(
            "the client refused this server's certificate: not trusted, or not made for the name it connected to; its own message says which",
        )
    } else if text.contains("CertificateExpired") {
        Some(
            "the client finds this server's certificate expired or not valid yet: check its dates and both machines' clocks",
        )
    } else {
        None
    };
    match hint {
        Some(hint) => format!("{text} ({hint})"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(params: rcgen::CertificateParams) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem().into_bytes()
    }

    const NOW: i64 = 1_800_000_000; // 2027-01-15

    #[test]
    fn a_good_leaf_gets_no_warning() {
        let made = crate::cert::make(&["hub.example".into()], (2027, 1, 1), 90).unwrap();
        let w = certificate_warnings(Path::new("cert.pem"), made.cert_pem.as_bytes(), NOW);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn ca_true_expired_and_no_san_are_each_warned_about() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let w = certificate_warnings(Path::new("c.pem"), &pem(params), NOW);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("CA:TRUE") && w[0].contains("--ca-cert c.pem"));
        assert!(w[1].contains("expired on 2021-01-01"));
        assert!(w[2].contains("no subject alternative name"));
        assert!(w.iter().all(|l| l.contains("clients will refuse")));

        let mut params = rcgen::CertificateParams::new(vec!["a".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2030, 1, 1);
        let w = certificate_warnings(Path::new("c.pem"), &pem(params), NOW);
        assert!(
            w.len() == 1 && w[0].contains("valid only from 2030-01-01"),
            "{w:?}"
        );
    }

    #[test]
    fn refusal_reasons_say_what_the_client_did() {
        assert!(reason("received fatal alert: UnknownCA").contains("does not trust"));
        assert!(reason("received fatal alert: BadCertificate").contains("not made for the name"));
        assert!(reason("received corrupt message of type InvalidContentType").contains("https://"));
        assert_eq!(reason("something else"), "something else");
    }
}
