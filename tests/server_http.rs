//! End-to-end tests of `vault-server serve`: the real binary on a free port of 127.0.0.1, spoken
//! to over real HTTP and HTTPS.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_vault-server");

/// A running `vault-server serve` and what it logged.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    /// `http://127.0.0.1:PORT` or `https://...`.
    url: String,
}

/// Remove ANSI colour codes, should the log have any.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Server {
    fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(SERVER)
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(plain(&line)).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            lines,
            log: Vec::new(),
            url: String::new(),
        };
        let line = server.wait_for("listening on ");
        let at = line.find("listening on ").unwrap() + "listening on ".len();
        server.url = line[at..].trim().to_string();
        server
    }

    /// The first logged line containing `text` (waiting up to 30 s for it).
    fn wait_for(&mut self, text: &str) -> String {
        if let Some(l) = self.log.iter().find(|l| l.contains(text)) {
            return l.clone();
        }
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "the server never logged {text:?}; it logged:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    fn setup_token(&mut self) -> String {
        let line = self.wait_for("setup token ");
        let at = line.find("setup token ").unwrap() + "setup token ".len();
        line[at..].split_whitespace().next().unwrap().to_string()
    }

    /// SIGTERM, then the exit status (within 30 s).
    fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        // SAFETY: kill(2) with a pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(line);
                }
                return (status, std::mem::take(&mut self.log));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("the server did not stop on SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POST `body` as JSON; the status and the JSON answer.
fn post(url: &str, body: &Value) -> (u16, Value) {
    let res = client().post(url).json(body).send().unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(Value::Null))
}

fn whoami(base: &str, token: &str) -> (u16, Value) {
    let res = client()
        .get(format!("{base}/api/v1/whoami"))
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap())
}

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
