//! End-to-end tests of `vault-server serve`: the real binary on a free port of 127.0.0.1, spoken
//! to over real HTTP and HTTPS.

mod common;

use std::io::Write;
use std::process::Command;

use common::server::{SERVER, Server, client, post, whoami};
use serde_json::{Value, json};

#[test]
fn first_account_by_setup_token_then_logins_revocation_limits_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &["--max-body-mib", "1"]);
    let base = server.url.clone();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let token = server.setup_token();

    let res = client().get(format!("{base}/healthz")).send().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let server_ms: i64 = res.headers()["vault-time-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let here_ms = jiff::Timestamp::now().as_millisecond();
    assert!(
        (server_ms - here_ms).abs() < 60_000,
        "{server_ms} vs {here_ms}"
    );
    assert_eq!(res.json::<Value>().unwrap(), json!({"status": "ok"}));

    let login = |user: &str, password: &str| {
        post(
            &format!("{base}/api/v1/login"),
            &json!({"user": user, "password": password, "device_name": "laptop"}),
        )
    };
    let setup = |token: &str, password: &str| {
        post(
            &format!("{base}/api/v1/setup"),
            &json!({"user": "alice", "password": password, "device_name": "laptop", "setup_token": token}),
        )
    };
    let (status, body) = login("alice", "correct horse");
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "unauthorized");

    let (status, body) = setup("not the token", "correct horse");
    assert_eq!(status, 403, "{body}");
    let (status, body) = setup(&token, "short");
    assert_eq!(status, 400, "{body}");
    assert!(
        !data.join("accounts.json").exists(),
        "a refused setup stores nothing"
    );
    let (status, first) = setup(&token, "correct horse");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["user"], "alice");
    let (status, body) = setup(&token, "correct horse");
    assert_eq!(status, 409, "{body}");

    let laptop = first["token"].as_str().unwrap().to_string();
    let (status, me) = whoami(&base, &laptop);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"], "alice");
    assert_eq!(me["device"], first["device"]);
    assert_eq!(whoami(&base, &"0".repeat(64)).0, 401);
    let res = client()
        .get(format!("{base}/api/v1/whoami"))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    let (status, phone) = login("alice", "correct horse");
    assert_eq!(status, 200, "{phone}");
    let phone_token = phone["token"].as_str().unwrap().to_string();

    // The operator revokes the laptop while the server runs: refused at once; the phone stays.
    let out = Command::new(SERVER)
        .args([
            "device",
            "revoke",
            "alice",
            first["device"].as_str().unwrap(),
        ])
        .args(["--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = whoami(&base, &laptop);
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    assert_eq!(whoami(&base, &phone_token).0, 200);

    // Malformed, oversized and unversioned requests get JSON errors.
    let res = client()
        .post(format!("{base}/api/v1/login"))
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "bad request");
    let (status, body) = post(
        &format!("{base}/api/v1/login"),
        &json!({"user": "alice", "password": "x".repeat(2 << 20), "device_name": "big"}),
    );
    assert_eq!(status, 413, "{body}");
    let (status, body) = post(&format!("{base}/api/v2/login"), &json!({}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unsupported version");
    assert!(body["detail"].as_str().unwrap().contains("v1"), "{body}");

    // Wrong passwords are limited per account and address: 5 a minute (the login before the
    // account existed was the first).
    for _ in 0..4 {
        assert_eq!(login("alice", "wrong horse").0, 401);
    }
    let (status, body) = login("alice", "correct horse");
    assert_eq!(status, 429, "{body}");

    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("shutting down")),
        "{}",
        log.join("\n")
    );
    let text = log.join("\n");
    assert!(
        !text.contains(&laptop) && !text.contains("correct horse"),
        "secrets in the log"
    );
}

#[test]
fn plain_http_off_loopback_is_refused_before_anything_listens() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(SERVER)
        .args([
            "serve",
            "--data",
            dir.path().to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert") && err.contains("--insecure-http"),
        "{err}"
    );
}

#[test]
fn https_with_a_trusted_self_signed_certificate_and_refused_without() {
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    let mut key = std::fs::File::create(&key_path).unwrap();
    key.write_all(signing_key.serialize_pem().as_bytes())
        .unwrap();
    drop(key);

    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let url = format!("{}/healthz", server.url);

    let trusting = reqwest::blocking::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let res = trusting.get(&url).send().unwrap();
    assert_eq!(res.status().as_u16(), 200);

    let err = client().get(&url).send().unwrap_err();
    let chain = format!("{err:?}");
    assert!(
        chain.to_lowercase().contains("certificate"),
        "an untrusted certificate must be refused: {chain}"
    );
    let (status, _) = server.stop();
    assert!(status.success());
}
