//! A reverse proxy on 127.0.0.1 in front of a real `vault-server` that mangles its answers the
//! ways a hostile or broken server (or a cache in between) would. Plain HTTP/1.1, one request
//! per connection (`Connection: close`), requests forwarded with reqwest.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// How the proxy changes the server's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mangle {
    /// Everything passed through as the server answered.
    Pass,
    /// `GET .../head` answers this (an old head, as a stale cache would).
    StaleHead(String),
    /// `GET .../head` answers the stale head and the true one in turn.
    FlappingHead(String),
    /// Every request of vault `notes` is sent to the user's vault of this name instead (a
    /// server answering another vault's history and objects).
    OtherVault(String),
    /// `GET .../head` answers a body that is not JSON.
    GarbageJson,
    /// Object fetches answer with the first half of the stream (framed honestly).
    TruncatedObjects,
    /// Object fetches announce the whole length, send half, and close the connection.
    CutMidBody,
    /// Object fetches answer bytes that are no object stream.
    GarbageObjects,
    /// Object fetches answer well-formed objects that are not the ones asked for.
    WrongObjects,
}

pub struct Mangler {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub mode: Arc<Mutex<Mangle>>,
    /// How many answers were mangled.
    pub mangled: Arc<Mutex<usize>>,
}

impl Mangler {
    pub fn start(upstream: &str) -> Mangler {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mangle::Pass));
        let mangled = Arc::new(Mutex::new(0));
        let upstream = upstream.to_string();
        let (m, n) = (mode.clone(), mangled.clone());
        let flip = Arc::new(Mutex::new(false));
        thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .unwrap();
            for conn in listener.incoming().map_while(Result::ok) {
                let (client, upstream, m, n, flip) = (
                    client.clone(),
                    upstream.clone(),
                    m.clone(),
                    n.clone(),
                    flip.clone(),
                );
                thread::spawn(move || {
                    let _ = serve(conn, &client, &upstream, &m, &n, &flip);
                });
            }
        });
        Mangler { url, mode, mangled }
    }

    pub fn set(&self, mode: Mangle) {
        *self.mode.lock().unwrap() = mode;
        *self.mangled.lock().unwrap() = 0;
    }

    pub fn mangled(&self) -> usize {
        *self.mangled.lock().unwrap()
    }
}

fn serve(
    conn: TcpStream,
    client: &reqwest::blocking::Client,
    upstream: &str,
    mode: &Mutex<Mangle>,
    mangled: &Mutex<usize>,
    flip: &Mutex<bool>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, mut path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            match k.to_ascii_lowercase().as_str() {
                "content-length" => length = v.parse().unwrap_or(0),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "host" | "connection" => continue,
                _ => {}
            }
            headers.push((k, v));
        }
    }
    assert!(!chunked, "the test proxy takes no chunked request bodies");
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mode = mode.lock().unwrap().clone();
    if let Mangle::OtherVault(other) = &mode
        && path.contains("/vaults/notes")
    {
        path = path.replace("/vaults/notes", &format!("/vaults/{other}"));
        *mangled.lock().unwrap() += 1;
    }
    let mut req = client.request(method.parse().unwrap(), format!("{upstream}{path}"));
    for (k, v) in &headers {
        if !k.eq_ignore_ascii_case("content-length") {
            req = req.header(k, v);
        }
    }
    let resp = req.body(body.clone()).send();
    let mut out = conn;
    let Ok(resp) = resp else {
        return out.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    let status = resp.status().as_u16();
    let keep: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k == "content-type" || k.starts_with("vault-")
        })
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut answer = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
    let is_head = method == "GET" && path.ends_with("/head");
    let is_fetch = path.ends_with("/objects/fetch") && status == 200;
    let mut announced = None;
    let mut hit = true;
    match (&mode, is_head, is_fetch) {
        (Mangle::StaleHead(old), true, _) => answer = format!("{{\"head\":\"{old}\"}}").into(),
        (Mangle::FlappingHead(old), true, _) => {
            let mut f = flip.lock().unwrap();
            *f = !*f;
            if *f {
                answer = format!("{{\"head\":\"{old}\"}}").into();
            } else {
                hit = false;
            }
        }
        (Mangle::GarbageJson, true, _) => answer = b"{\"head\": 3f2a <html>".to_vec(),
        (Mangle::TruncatedObjects, _, true) => answer.truncate(answer.len() / 2),
        (Mangle::CutMidBody, _, true) => {
            announced = Some(answer.len());
            answer.truncate(answer.len() / 2);
        }
        (Mangle::GarbageObjects, _, true) => {
            answer = (0..answer.len().max(64))
                .map(|i| (i as u8).wrapping_mul(67) ^ 0xa5)
                .collect()
        }
        (Mangle::WrongObjects, _, true) => {
            let asked: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let n = asked["ids"].as_array().map_or(1, Vec::len);
            answer = Vec::new();
            for i in 0..n {
                let bytes = format!("not the object you asked for #{i}");
                answer.push(1);
                answer.push(0);
                answer.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                answer.extend_from_slice(bytes.as_bytes());
            }
        }
        _ => hit = false,
    }
    if hit {
        *mangled.lock().unwrap() += 1;
    }
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        announced.unwrap_or(answer.len())
    );
    for (k, v) in keep {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(&answer)?;
    out.flush()
}
