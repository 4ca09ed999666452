//! A running `vault-server serve` for the end-to-end tests, and a plain HTTP client for it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub const SERVER: &str = env!("CARGO_BIN_EXE_vault-server");

/// A running `vault-server serve` and what it logged.
pub struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub url: String,
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
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_at(data, "127.0.0.1:0", extra)
    }

    /// [`Server::start`] on a given address (to restart a server where devices expect it).
    pub fn start_at(data: &Path, listen: &str, extra: &[&str]) -> Server {
        Server::start_with_env(data, listen, extra, &[])
    }

    /// [`Server::start_at`] with extra environment variables (a test hook).
    pub fn start_with_env(
        data: &Path,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(SERVER)
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                listen,
            ])
            .args(extra)
            .envs(env.iter().copied())
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
    pub fn wait_for(&mut self, text: &str) -> String {
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

    pub fn setup_token(&mut self) -> String {
        let line = self.wait_for("setup token ");
        let at = line.find("setup token ").unwrap() + "setup token ".len();
        line[at..].split_whitespace().next().unwrap().to_string()
    }

    /// SIGTERM, then the exit status (within 30 s).
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
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

impl Server {
    /// `host:port` the server listens on.
    pub fn addr(&self) -> String {
        self.url
            .split_once("://")
            .map(|(_, a)| a.to_string())
            .unwrap_or_default()
    }

    /// Send `signal` to the server and wait for it to exit (SIGKILL: at once, no cleanup).
    pub fn signal_and_wait(mut self, signal: i32) -> std::process::ExitStatus {
        // SAFETY: kill(2) with a pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not exit on signal {signal}");
    }
}

impl Server {
    /// The server process's peak resident memory so far (`VmHWM` in `/proc/PID/status`), MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in the server's status");
        kib / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POST `body` as JSON; the status and the JSON answer.
pub fn post(url: &str, body: &Value) -> (u16, Value) {
    let res = client().post(url).json(body).send().unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(Value::Null))
}

pub fn whoami(base: &str, token: &str) -> (u16, Value) {
    let res = client()
        .get(format!("{base}/api/v1/whoami"))
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap())
}

/// Create `user` with `password` through the operator's command line.
pub fn add_user(data: &Path, user: &str, password: &str) {
    let out = server_cmd(
        &[
            "user",
            "add",
            user,
            "--data",
            data.to_str().unwrap(),
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run `vault-server ARGS` to completion with `stdin` piped in.
pub fn server_cmd(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(SERVER)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses early (a user that exists already) may exit before it reads its
    // input: the pipe is then closed, and its exit status and output are what the test checks.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// `vault-server device list USER --json` on the data folder `data`: the devices as JSON.
pub fn device_list(data: &Path, user: &str) -> Vec<Value> {
    let out = server_cmd(
        &[
            "device",
            "list",
            user,
            "--data",
            data.to_str().unwrap(),
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}
