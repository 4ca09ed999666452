//! Why a TLS connection to a server failed, in the user's words, with the fix that applies.
//!
//! rustls names its refusals after the X.509 rule that failed (`UnknownIssuer`,
//! `BadSignature`, `CaUsedAsEndEntity`...), which reads like corruption to someone who just
//! made a certificate with openssl. [`classify`] turns an error into the [`Problem`] a user can
//! act on, and [`explain`] says it once with the fix for the situation: a command that joins a
//! server takes `--ca-cert`, while a vault that already syncs is pointed at a new certificate
//! with `syncd hub set URL --ca-cert FILE` (never `syncd init`, which refuses on a vault).
//! Pure: no I/O, so every message is tested here.

use std::fmt;
use std::path::Path;

use rustls::pki_types::ServerName;
use rustls::{CertificateError, Error, InvalidMessage};

/// What went wrong, as the user can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Signed by no one this client trusts (or not by the certificate it was told to trust).
    Untrusted,
    /// A CA certificate (CA:TRUE, what `openssl req -x509` makes) served as the server's own,
    /// and not the very certificate given with `--ca-cert`.
    CaAsLeaf,
    /// Past its `notAfter` (seconds since the Unix epoch, when known).
    Expired { not_after: Option<u64> },
    /// Before its `notBefore`: usually this machine's clock is wrong.
    NotYetValid {
        not_before: Option<u64>,
        now: Option<u64>,
    },
    /// Made for other names than the one connected to.
    WrongName { names: Vec<String>, host: String },
    /// The port answers plain HTTP (or something else that is not TLS).
    NotTls,
    /// Anything else rustls refused; its own words.
    Other(String),
}

/// The [`Problem`] behind a rustls error.
pub fn classify(err: &Error) -> Problem {
    match err {
        Error::InvalidCertificate(cert) => classify_certificate(cert),
        Error::InvalidMessage(InvalidMessage::InvalidContentType)
        | Error::InvalidMessage(InvalidMessage::MessageTooLarge) => Problem::NotTls,
        other => Problem::Other(other.to_string()),
    }
}

fn classify_certificate(err: &CertificateError) -> Problem {
    match err {
        // BadSignature: a trusted certificate has the issuer's name but did not sign this one
        // (typically a certificate made again with a new key under the same name).
        CertificateError::UnknownIssuer | CertificateError::BadSignature => Problem::Untrusted,
        CertificateError::Expired => Problem::Expired { not_after: None },
        CertificateError::ExpiredContext { not_after, .. } => Problem::Expired {
            not_after: Some(not_after.as_secs()),
        },
        CertificateError::NotValidYet => Problem::NotYetValid {
            not_before: None,
            now: None,
        },
        CertificateError::NotValidYetContext { time, not_before } => Problem::NotYetValid {
            not_before: Some(not_before.as_secs()),
            now: Some(time.as_secs()),
        },
        CertificateError::NotValidForName => Problem::WrongName {
            names: Vec::new(),
            host: String::new(),
        },
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => Problem::WrongName {
            names: presented.iter().map(|n| presented_name(n)).collect(),
            host: server_name(expected),
        },
        // rustls passes webpki's own errors on behind `Other`.
        CertificateError::Other(other)
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            Problem::CaAsLeaf
        }
        other => Problem::Other(Error::InvalidCertificate(other.clone()).to_string()),
    }
}

/// `DnsName("hub.example")` / `IpAddress(10.0.0.5)` (webpki's rendering) as `hub.example` /
/// `10.0.0.5`.
fn presented_name(name: &str) -> String {
    for prefix in ["DnsName(\"", "IpAddress("] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest.trim_end_matches(')').trim_end_matches('"').to_string();
        }
    }
    name.to_string()
}

fn server_name(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// The command the failure happened in, which decides the fix.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    /// The server URL as given (`https://host:port`).
    pub url: &'a str,
    /// The certificate file trusted explicitly (`--ca-cert`, or `ca_cert` in the config).
    pub ca_cert: Option<&'a Path>,
    /// Joining a server (`syncd init --hub`, `syncd hub set`): the command takes
    /// `--ca-cert`. Otherwise the vault already syncs with it.
    pub joining: bool,
}

/// What happened and what to do, in one sentence each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub what: String,
    pub fix: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A question ends its own sentence.
        let stop = if self.what.ends_with('?') { "" } else { "." };
        write!(f, "{}{stop} {}", self.what, self.fix)
    }
}

/// `2021-01-01 00:00 UTC`.
fn date(secs: u64) -> String {
    jiff::Timestamp::from_second(secs as i64)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("{secs} (Unix time)"))
}

/// How to trust the server's (current) certificate in this situation.
fn trust_fix(s: &Situation<'_>) -> String {
    if s.joining {
        // With a file already given, the fix is another file, not the same option again.
        let which = match s.ca_cert {
            Some(_) => "Pass the right file with --ca-cert",
            None => "Pass the server's certificate with --ca-cert FILE",
        };
        format!(
            "{which} (the file the server serves with --tls-cert, or the CA that signed it); its operator can make one with `vault-server cert --host NAME`"
        )
    } else {
        format!(
            "If the server's operator confirms it (a new certificate), trust it with `syncd hub set {} --ca-cert FILE` (FILE: the file the server serves with --tls-cert, or the CA that signed it)",
            s.url
        )
    }
}

/// The user's words for `problem` in situation `s`.
pub fn explain(problem: &Problem, s: &Situation<'_>) -> Explanation {
    let host = reqwest_free_host(s.url);
    match problem {
        Problem::Untrusted | Problem::CaAsLeaf => {
            let kind = if *problem == Problem::CaAsLeaf {
                "a CA certificate (CA:TRUE, as `openssl req -x509` makes a self-signed one)"
            } else {
                "self-signed, or signed by a CA"
            };
            let what = match (s.ca_cert, s.joining) {
                (Some(file), true) => format!(
                    "the server's certificate is not trusted: it is {kind}, and it is not the one in `{}` nor signed by it",
                    file.display()
                ),
                (Some(file), false) => format!(
                    "the server's certificate is not the one this vault trusts (`{}`) nor signed by it: it is {kind}; did the server get a new certificate?",
                    file.display()
                ),
                (None, _) => format!(
                    "the server's certificate is not trusted: it is {kind}, and this machine trusts only certificates from the CAs it knows"
                ),
            };
            Explanation {
                what,
                fix: trust_fix(s),
            }
        }
        Problem::Expired { not_after } => Explanation {
            what: match not_after {
                Some(t) => format!("the server's certificate expired on {}", date(*t)),
                None => "the server's certificate has expired".into(),
            },
            fix: format!(
                "Its operator must renew it (`vault-server cert --host {host} --force` makes a new one) and restart the server; then {}",
                lowercase_first(&trust_fix(s))
            ),
        },
        Problem::NotYetValid { not_before, now } => Explanation {
            what: match (not_before, now) {
                (Some(b), Some(n)) => format!(
                    "the server's certificate is valid only from {}, and this machine's clock says {}",
                    date(*b),
                    date(*n)
                ),
                _ => "the server's certificate is not valid yet by this machine's clock".into(),
            },
            fix: "If this machine's clock is wrong, set it (enable NTP: `timedatectl set-ntp true`); if the server's clock was wrong when the certificate was made, its operator must make it again".into(),
        },
        Problem::WrongName { names, host: expected } => {
            let expected = if expected.is_empty() { host.clone() } else { expected.clone() };
            let what = if names.is_empty() {
                format!(
                    "the server's certificate names no host (it has no subject alternative name), and you connected to {expected}"
                )
            } else {
                format!(
                    "the server's certificate is for {}, but you connected to {expected}",
                    names.join(", ")
                )
            };
            let mut fix = format!(
                "Its operator can make a certificate for that name: `vault-server cert --host {expected}`"
            );
            if s.joining && !names.is_empty() {
                fix = format!(
                    "Connect with a name the certificate has, if it leads to this server: {}; or {}",
                    with_host(s.url, &names[0]),
                    lowercase_first(&fix)
                );
            }
            Explanation { what, fix }
        }
        Problem::NotTls => {
            let plain = s.url.replacen("https://", "http://", 1);
            let what = format!("`{}` answers plain HTTP, not HTTPS", s.url);
            let fix = if s.joining && is_loopback(&host) {
                format!(
                    "On this machine use `{plain}`, or serve HTTPS with `vault-server serve --tls-cert CERT.pem --tls-key KEY.pem`"
                )
            } else {
                "Its operator must serve HTTPS there (`vault-server serve --tls-cert CERT.pem --tls-key KEY.pem`, or a TLS reverse proxy in front of it)".into()
            };
            Explanation { what, fix }
        }
        Problem::Other(text) => Explanation {
            what: format!("the TLS connection failed: {text}"),
            fix: "Check that this address is a vault-server serving HTTPS (`syncd doctor` tests each step)".into(),
        },
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `url` with its host replaced by `name` (bracketed if an IPv6 address).
fn with_host(url: &str, name: &str) -> String {
    let host = reqwest_free_host(url);
    let name = if name.contains(':') {
        format!("[{name}]")
    } else {
        name.to_string()
    };
    url.replacen(&host, &name, 1)
}

/// The host of `url` (`https://host:port/...`) without parsing it as a URL: brackets of an
/// IPv6 address stay.
fn reqwest_free_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority.to_string(), |(h, _)| format!("{h}]"));
    }
    authority.split(':').next().unwrap_or(authority).to_string()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::OtherError;
    use rustls::pki_types::UnixTime;

    use super::*;

    fn joining(ca: Option<&Path>) -> Situation<'_> {
        Situation {
            url: "https://127.0.0.1:7878",
            ca_cert: ca,
            joining: true,
        }
    }

    fn existing(ca: Option<&Path>) -> Situation<'_> {
        Situation {
            joining: false,
            ..joining(ca)
        }
    }

    #[test]
    fn rustls_errors_become_problems() {
        let cert = |e| Error::InvalidCertificate(e);
        assert_eq!(
            classify(&cert(CertificateError::UnknownIssuer)),
            Problem::Untrusted
        );
        assert_eq!(
            classify(&cert(CertificateError::BadSignature)),
            Problem::Untrusted
        );
        assert_eq!(
            classify(&cert(CertificateError::Other(OtherError(Arc::new(
                webpki::Error::CaUsedAsEndEntity
            ))))),
            Problem::CaAsLeaf
        );
        let t = |s| UnixTime::since_unix_epoch(Duration::from_secs(s));
        assert_eq!(
            classify(&cert(CertificateError::ExpiredContext {
                time: t(2_000_000_000),
                not_after: t(1_609_459_200),
            })),
            Problem::Expired {
                not_after: Some(1_609_459_200)
            }
        );
        assert_eq!(
            classify(&cert(CertificateError::NotValidYetContext {
                time: t(5),
                not_before: t(10),
            })),
            Problem::NotYetValid {
                not_before: Some(10),
                now: Some(5)
            }
        );
        assert_eq!(
            classify(&cert(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("127.0.0.1").unwrap(),
                presented: vec![
                    "DnsName(\"hub.example\")".into(),
                    "IpAddress(10.0.0.5)".into()
                ],
            })),
            Problem::WrongName {
                names: vec!["hub.example".into(), "10.0.0.5".into()],
                host: "127.0.0.1".into()
            }
        );
        assert_eq!(
            classify(&Error::InvalidMessage(InvalidMessage::InvalidContentType)),
            Problem::NotTls
        );
        assert!(matches!(
            classify(&Error::HandshakeNotComplete),
            Problem::Other(_)
        ));
    }

    #[test]
    fn untrusted_while_joining_asks_for_ca_cert_and_names_the_wrong_file() {
        let e = explain(&Problem::Untrusted, &joining(None));
        assert!(e.what.contains("is not trusted") && e.what.contains("self-signed"));
        assert!(e.fix.contains("--ca-cert FILE") && e.fix.contains("vault-server cert"));
        let file = Path::new("/tmp/other-ca.pem");
        let e = explain(&Problem::Untrusted, &joining(Some(file)));
        assert!(e.what.contains("/tmp/other-ca.pem"), "{e}");
        assert!(e.fix.contains("the right file with --ca-cert"), "{e}");
        assert!(e.what.contains("is not trusted"), "{e}");
        for text in [e.what, e.fix] {
            assert!(!text.contains("BadSignature") && !text.contains("UnknownIssuer"));
        }
    }

    #[test]
    fn on_an_existing_vault_the_fix_is_hub_set_never_init() {
        let file = Path::new("/home/me/cert.pem");
        for problem in [
            Problem::Untrusted,
            Problem::CaAsLeaf,
            Problem::Expired { not_after: Some(0) },
        ] {
            let e = explain(&problem, &existing(Some(file)));
            let text = e.to_string();
            assert!(
                text.contains("syncd hub set https://127.0.0.1:7878 --ca-cert FILE"),
                "{text}"
            );
            assert!(!text.contains("syncd init"), "{text}");
        }
        let e = explain(&Problem::CaAsLeaf, &existing(Some(file)));
        assert!(e.what.contains("is not the one this vault trusts"), "{e}");
        assert!(e.what.contains("CA:TRUE"), "{e}");
    }

    #[test]
    fn dates_names_and_plain_http_are_spelled_out() {
        let e = explain(
            &Problem::Expired {
                not_after: Some(1_609_459_200),
            },
            &joining(None),
        );
        assert!(e.what.contains("expired on 2021-01-01 00:00 UTC"), "{e}");
        assert!(e.fix.contains("vault-server cert --host 127.0.0.1"), "{e}");

        let e = explain(
            &Problem::NotYetValid {
                not_before: Some(1_609_459_200),
                now: Some(0),
            },
            &existing(None),
        );
        assert!(e.what.contains("clock") && e.fix.contains("NTP"), "{e}");

        let e = explain(
            &Problem::WrongName {
                names: vec!["hub.example".into()],
                host: "127.0.0.1".into(),
            },
            &joining(None),
        );
        assert!(
            e.what
                .contains("is for hub.example, but you connected to 127.0.0.1"),
            "{e}"
        );
        assert!(e.fix.contains("https://hub.example:7878"), "{e}");
        let e = explain(
            &Problem::WrongName {
                names: vec![],
                host: "hub.example".into(),
            },
            &existing(None),
        );
        assert!(e.what.contains("no subject alternative name"), "{e}");

        let e = explain(&Problem::NotTls, &joining(None));
        assert!(e.what.contains("answers plain HTTP"), "{e}");
        assert!(e.fix.contains("http://127.0.0.1:7878"), "{e}");
        let remote = Situation {
            url: "https://hub.example:7878",
            ..joining(None)
        };
        let e = explain(&Problem::NotTls, &remote);
        assert!(!e.fix.contains("http://"), "{e}");
    }

    #[test]
    fn hosts_come_out_of_urls() {
        assert_eq!(
            reqwest_free_host("https://hub.example:7878/x"),
            "hub.example"
        );
        assert_eq!(reqwest_free_host("https://[::1]:7878"), "[::1]");
        assert_eq!(reqwest_free_host("https://10.0.0.5"), "10.0.0.5");
        assert!(is_loopback("[::1]") && is_loopback("localhost") && !is_loopback("10.0.0.5"));
    }
}
