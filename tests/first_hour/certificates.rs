//! The certificates people actually make: the openssl recipe (a self-signed CA:TRUE
//! certificate), `vault-server cert`, and every way TLS can fail, explained once in plain
//! words with the fix that applies (joining a server, or a vault that already syncs with it).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::server::{Server, add_user, server_cmd};
use crate::common::tls::{openssl_self_signed, private_ca};
use crate::common::{Device, Run, World, libfaketime};

const PASSWORD: &str = "correct horse battery";

fn server_with_alice(w: &World, extra: &[&str]) -> (Server, PathBuf) {
    let data = w.path().join("server-data");
    if !data.exists() {
        add_user(&data, "alice", PASSWORD);
    }
    (Server::start(&data, extra), data)
}

fn serve_args(cert: &Path, key: &Path) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The same certificate made again with the same key (a renewal): same name, same key, new
/// bytes.
fn openssl_renew(dir: &Path, key: &Path, name: &str, san: &str) -> PathBuf {
    let cert = dir.join(format!("{name}-cert.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-key"])
        .arg(key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "30", "-subj", "/CN=localhost", "-addext"])
        .arg(format!("subjectAltName={san}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    cert
}

/// A self-signed CA:FALSE certificate for 127.0.0.1 that expired in 2021.
fn expired_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("expired-cert.pem"), dir.join("expired-key.pem"));
    fs::write(&c, cert.pem()).unwrap();
    fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

/// The run failed, said `needle` exactly once, and printed no raw log line or rustls jargon.
fn assert_explained_once(run: &Run, needle: &str) {
    let err = &run.stderr;
    assert_eq!(err.matches(needle).count(), 1, "{needle:?} once in:\n{err}");
    for raw in [
        "ERROR",
        "BadSignature",
        "UnknownIssuer",
        "CaUsedAsEndEntity",
        "InvalidCertificate",
        "invalid peer certificate",
        "InvalidContentType",
    ] {
        assert!(!err.contains(raw), "raw {raw:?} in:\n{err}");
    }
}

fn join(d: &Device, url: &str, extra: &[&str]) -> Run {
    d.join_server(url, "alice", PASSWORD, extra)
}

#[test]
fn an_openssl_self_signed_certificate_given_with_ca_cert_is_trusted() {
    let w = World::new();
    let (cert, key) = openssl_self_signed(w.path(), "hub", Some("IP:127.0.0.1,DNS:localhost"));
    let (server, _data) = server_with_alice(&w, &strs(&serve_args(&cert, &key)));
    let ca = cert.to_str().unwrap();

    let d = w.device("laptop");
    d.write("a.md", "over pinned TLS", 1);
    let run = join(&d, &server.url, &["--ca-cert", ca]).ok();
    assert!(!run.stderr.contains("ERROR"), "{}", run.stderr);
    d.sync();
    let doctor = d.run("doctor", &["--json"]).ok().json();
    assert_eq!(doctor["ok"], true, "{doctor}");

    // The same certificate under the name `localhost` works too.
    let e = w.device("desktop");
    let url = server.url.replace("127.0.0.1", "localhost");
    join(&e, &url, &["--ca-cert", ca]).ok();
    e.run("sync", &["--json"]).ok();
    assert_eq!(e.read("a.md").as_deref(), Some("over pinned TLS"));
}

#[test]
fn a_self_signed_certificate_without_ca_cert_is_explained_with_the_fix() {
    let w = World::new();
    let (cert, key) = openssl_self_signed(w.path(), "hub", Some("IP:127.0.0.1"));
    let (server, _data) = server_with_alice(&w, &strs(&serve_args(&cert, &key)));
    let d = w.device("laptop");
    let run = join(&d, &server.url, &[]).failed();
    assert_explained_once(&run, "is not trusted");
    assert!(run.stderr.contains("self-signed"), "{}", run.stderr);
    assert!(run.stderr.contains("--ca-cert FILE"), "{}", run.stderr);
    assert!(!d.path(".vault").exists());
}

#[test]
fn a_certificate_from_an_unknown_ca_is_untrusted_not_a_bad_signature() {
    let w = World::new();
    let tls = private_ca(w.path(), "hub");
    let other = private_ca(w.path(), "other");
    let (server, _data) = server_with_alice(&w, &strs(&tls.serve_args()));
    let d = w.device("laptop");
    let run = join(&d, &server.url, &["--ca-cert", other.ca.to_str().unwrap()]).failed();
    assert_explained_once(&run, "is not trusted");
    // The user passed --ca-cert: the message says that file is not the right one.
    assert!(run.stderr.contains("other-ca.pem"), "{}", run.stderr);
}

#[test]
fn a_certificate_for_another_name_is_explained() {
    let w = World::new();
    let (cert, key) = openssl_self_signed(w.path(), "hub", Some("DNS:hub.example"));
    let (server, _data) = server_with_alice(&w, &strs(&serve_args(&cert, &key)));
    let d = w.device("laptop");
    let run = join(&d, &server.url, &["--ca-cert", cert.to_str().unwrap()]).failed();
    assert_explained_once(&run, "is for hub.example");
    assert!(run.stderr.contains("127.0.0.1"), "{}", run.stderr);
}

#[test]
fn an_expired_certificate_is_explained() {
    let w = World::new();
    let (cert, key) = expired_cert(w.path());
    let (server, _data) = server_with_alice(&w, &strs(&serve_args(&cert, &key)));
    let d = w.device("laptop");
    let run = join(&d, &server.url, &["--ca-cert", cert.to_str().unwrap()]).failed();
    assert_explained_once(&run, "expired on 2021-01-01");
    assert!(run.stderr.contains("vault-server cert"), "{}", run.stderr);
}

#[test]
fn https_to_a_plain_http_port_is_explained() {
    let w = World::new();
    let (server, _data) = server_with_alice(&w, &[]);
    let url = server.url.replace("http://", "https://");
    let d = w.device("laptop");
    let run = join(&d, &url, &[]).failed();
    assert_explained_once(&run, "answers plain HTTP");
    assert!(run.stderr.contains(&server.url), "{}", run.stderr);
}

#[test]
fn a_renewed_certificate_on_a_vault_that_syncs_names_hub_set() {
    let w = World::new();
    let (cert, key) = openssl_self_signed(w.path(), "hub", Some("IP:127.0.0.1"));
    let (server, data) = server_with_alice(&w, &strs(&serve_args(&cert, &key)));
    let d = w.device("laptop");
    join(&d, &server.url, &["--ca-cert", cert.to_str().unwrap()]).ok();
    let listen = server.addr();
    server.stop();

    // The operator renews the certificate with the same key: a CA:TRUE certificate that the
    // pinned one "signed", which rustls calls CaUsedAsEndEntity.
    let renewed = openssl_renew(w.path(), &key, "renewed", "IP:127.0.0.1");
    let _server = Server::start_at(&data, &listen, &strs(&serve_args(&renewed, &key)));
    let run = d.run("sync", &["--json"]).failed();
    assert_explained_once(&run, "is not the one this vault trusts");
    // Told apart from an unknown issuer: rustls' CaUsedAsEndEntity, in words.
    assert!(run.stderr.contains("CA:TRUE"), "{}", run.stderr);
    assert!(run.stderr.contains("syncd hub set"), "{}", run.stderr);
    assert!(!run.stderr.contains("syncd init"), "{}", run.stderr);

    let doctor = d.run("doctor", &[]).failed();
    assert!(doctor.stdout.contains("syncd hub set"), "{}", doctor.stdout);
    assert!(!doctor.stdout.contains("syncd init"), "{}", doctor.stdout);
    assert!(!doctor.stdout.contains("ca_cert ="), "{}", doctor.stdout);

    // The fix named works as told: the renewed certificate trusted, no password needed.
    assert!(
        run.stderr.contains("cannot connect securely"),
        "not an outage: {}",
        run.stderr
    );
    let vault = d.root.display().to_string();
    let url = format!("https://{listen}");
    w.syncd(&[
        "hub",
        "set",
        &url,
        "--vault",
        &vault,
        "--ca-cert",
        renewed.to_str().unwrap(),
    ])
    .ok();
    d.write("after.md", "after the renewal", 10);
    d.run("sync", &[]).ok();
}

#[test]
fn vault_server_cert_makes_a_certificate_syncd_trusts() {
    let w = World::new();
    let out_dir = w.path().join("tls");
    let run = server_cmd(
        &[
            "cert",
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        "",
    );
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let cert = out_dir.join("cert.pem");
    let key = out_dir.join("key.pem");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Its fingerprint is openssl's.
    let ossl = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let ossl = String::from_utf8_lossy(&ossl.stdout);
    let fingerprint = ossl.trim().split_once('=').unwrap().1.to_string();
    assert!(stdout.contains(&fingerprint), "{fingerprint} in:\n{stdout}");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");
    assert!(text.contains("DNS:localhost"), "{text}");

    // The printed serve flags and syncd command work as printed.
    let flags = stdout
        .lines()
        .find(|l| l.contains("vault-server serve"))
        .expect("the serve command");
    assert!(flags.contains(cert.to_str().unwrap()), "{flags}");
    assert!(flags.contains(key.to_str().unwrap()), "{flags}");
    assert!(
        stdout.contains(&format!("--ca-cert {}", cert.display())),
        "{stdout}"
    );
    assert!(stdout.contains("syncd hub set"), "{stdout}");
    let (server, _data) = server_with_alice(&w, &strs(&serve_args(&cert, &key)));
    let d = w.device("laptop");
    d.write("a.md", "made by vault-server cert", 1);
    let url = server.url.replace("127.0.0.1", "localhost");
    let run = join(&d, &url, &["--ca-cert", cert.to_str().unwrap()]).ok();
    assert!(!run.stderr.contains("ERROR"), "{}", run.stderr);
    d.sync();
    let (_, log) = server.stop();
    assert!(
        !log.iter().any(|l| l.contains("clients will refuse")),
        "{log:?}"
    );

    // Never overwrites without --force.
    let before = fs::read(&cert).unwrap();
    let args = [
        "cert",
        "--host",
        "localhost",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let again = server_cmd(&args, "");
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(fs::read(&cert).unwrap(), before);
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(server_cmd(&forced, "").status.success());
    assert_ne!(fs::read(&cert).unwrap(), before);
}

#[test]
fn serve_warns_about_certificates_clients_refuse_and_logs_refused_handshakes() {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);

    let (ca_true, key) = openssl_self_signed(w.path(), "catrue", Some("IP:127.0.0.1"));
    let mut server = Server::start(&data, &strs(&serve_args(&ca_true, &key)));
    let line = server.wait_for("CA:TRUE");
    assert!(
        line.contains("WARN") && line.contains("--ca-cert"),
        "{line}"
    );
    // A client that does not trust it is refused, and the server says so.
    let d = w.device("laptop");
    join(&d, &server.url, &[]).failed();
    let refused = server.wait_for("TLS handshake");
    assert!(
        refused.contains("WARN") && refused.contains("127.0.0.1:"),
        "{refused}"
    );
    server.stop();

    let (expired, key) = expired_cert(w.path());
    let mut server = Server::start(&data, &strs(&serve_args(&expired, &key)));
    let line = server.wait_for("expired");
    assert!(
        line.contains("WARN") && line.contains("2021-01-01"),
        "{line}"
    );
    server.stop();

    let (no_san, key) = openssl_self_signed(w.path(), "nosan", None);
    let mut server = Server::start(&data, &strs(&serve_args(&no_san, &key)));
    let line = server.wait_for("subject alternative name");
    assert!(line.contains("WARN"), "{line}");
    server.stop();
}

#[test]
fn a_remade_certificate_is_explained_as_untrusted_not_as_a_bad_signature() {
    let w = World::new();
    let dir = w.path().join("tls");
    let make = |force: bool| {
        let mut args = vec![
            "cert",
            "--host",
            "127.0.0.1",
            "--out",
            dir.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        let out = server_cmd(&args, "");
        assert!(out.status.success(), "{out:?}");
    };
    make(false);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let pinned = w.path().join("pinned.pem");
    fs::copy(&cert, &pinned).unwrap();
    let (server, data) = server_with_alice(&w, &strs(&serve_args(&cert, &key)));
    let d = w.device("laptop");
    join(&d, &server.url, &["--ca-cert", pinned.to_str().unwrap()]).ok();
    let listen = server.addr();
    server.stop();

    // Made again: a new key under the same name, which rustls calls BadSignature.
    make(true);
    let _server = Server::start_at(&data, &listen, &strs(&serve_args(&cert, &key)));
    let run = d.run("sync", &["--json"]).failed();
    assert_explained_once(&run, "is not the one this vault trusts");
    assert!(run.stderr.contains("syncd hub set"), "{}", run.stderr);
    let e = w.device("desktop");
    let run = join(
        &e,
        &format!("https://{listen}"),
        &["--ca-cert", pinned.to_str().unwrap()],
    )
    .failed();
    assert_explained_once(&run, "is not trusted");
    assert!(
        run.stderr.contains("the right file with --ca-cert"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_certificate_not_valid_yet_by_this_machines_clock_names_the_clock() {
    let w = World::new();
    let dir = w.path().join("tls");
    let out = server_cmd(
        &[
            "cert",
            "--host",
            "127.0.0.1",
            "--out",
            dir.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (server, _data) = server_with_alice(&w, &strs(&serve_args(&cert, &key)));
    let d = w.device("laptop");
    join(&d, &server.url, &["--ca-cert", cert.to_str().unwrap()]).ok();

    // The certificate is valid from yesterday; this machine's clock says three days ago.
    let out = d
        .command("sync", &["--json"])
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", "-3d")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap();
    let run = Run {
        what: "sync under faketime".into(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
    .failed();
    assert_explained_once(&run, "is valid only from");
    assert!(
        run.stderr.contains("this machine's clock says"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("NTP"), "{}", run.stderr);
}
