//! Network middlemen on loopback for the tests: a forward proxy that answers `CONNECT
//! host:port` (what an HTTPS client sends a proxy) by opening a tunnel and counts the tunnels,
//! so a test can tell that the traffic really went through it; and a slow relay.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A running proxy; it stops with the test process.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The `host:port` of every tunnel asked for, in order.
    pub tunnels: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = tunnels.clone();
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let seen = seen.clone();
                thread::spawn(move || {
                    let _ = tunnel(client, &seen);
                });
            }
        });
        Proxy { url, tunnels }
    }

    /// How many tunnels were opened to `addr` (`host:port`).
    pub fn tunnels_to(&self, addr: &str) -> usize {
        self.tunnels
            .lock()
            .unwrap()
            .iter()
            .filter(|t| *t == addr)
            .count()
    }
}

fn tunnel(client: TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let mut writer = client.try_clone()?;
    let mut parts = request.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        writer.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")?;
        return Ok(());
    };
    // Loopback only: this proxy must never reach beyond the test machine.
    if !target.starts_with("127.0.0.1:") && !target.starts_with("localhost:") {
        writer.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")?;
        return Ok(());
    }
    seen.lock().unwrap().push(target.to_string());
    let upstream = match TcpStream::connect(target) {
        Ok(s) => s,
        Err(_) => {
            writer.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")?;
            return Ok(());
        }
    };
    writer.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    // Bytes the client sent after its request line are already in the reader's buffer.
    let mut up_writer = upstream.try_clone()?;
    up_writer.write_all(reader.buffer())?;
    let mut up_reader = upstream;
    let down = thread::spawn(move || {
        let _ = std::io::copy(&mut up_reader, &mut writer);
        let _ = writer.shutdown(Shutdown::Write);
    });
    let mut client_reader = reader.into_inner();
    let _ = std::io::copy(&mut client_reader, &mut up_writer);
    let _ = up_writer.shutdown(Shutdown::Write);
    let _ = down.join();
    Ok(())
}

/// A TCP relay on loopback that passes a client's bytes on to `target` at a limited rate and
/// counts them: an upload through it takes long enough to stop the server in its middle.
pub struct Relay {
    /// `http://127.0.0.1:PORT`, to use as the server's URL.
    pub url: String,
    /// Bytes passed from clients to the target so far.
    pub upstream_bytes: Arc<AtomicU64>,
    /// While set, the relay is a dead network: open connections are cut and new ones closed
    /// at once.
    cut: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    pub fn start(target: &str, bytes_per_sec: u64) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream_bytes = Arc::new(AtomicU64::new(0));
        let counter = upstream_bytes.clone();
        let target = target.to_string();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (is_cut, conns) = (cut.clone(), open.clone());
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if is_cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                if let Ok(c) = client.try_clone() {
                    conns.lock().unwrap().push(c);
                }
                let counter = counter.clone();
                let target = target.clone();
                thread::spawn(move || {
                    let end = client.try_clone();
                    let _ = relay(client, &target, bytes_per_sec, &counter);
                    // The clone kept for `set_cut` must not keep the connection open (a
                    // target that refused the connection would leave the client waiting).
                    if let Ok(end) = end {
                        let _ = end.shutdown(Shutdown::Both);
                    }
                });
            }
        });
        Relay {
            url,
            upstream_bytes,
            cut,
            open,
        }
    }

    /// Cut the network (`true`: every open connection is closed, new ones refused) or
    /// restore it.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            for c in self.open.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    pub fn sent(&self) -> u64 {
        self.upstream_bytes.load(Ordering::SeqCst)
    }
}

fn relay(
    client: TcpStream,
    target: &str,
    bytes_per_sec: u64,
    counter: &AtomicU64,
) -> std::io::Result<()> {
    relay_paced(client, target, |n| {
        counter.fetch_add(n as u64, Ordering::SeqCst);
        thread::sleep(Duration::from_micros(n as u64 * 1_000_000 / bytes_per_sec));
    })
}

/// Relay one connection between `client` and `target` both ways. The upload goes in chunks:
/// `before(n)` runs before each chunk of `n` bytes is passed on (to count, hold or pace it),
/// the download is copied as it comes.
pub fn relay_paced(
    mut client: TcpStream,
    target: &str,
    mut before: impl FnMut(usize),
) -> std::io::Result<()> {
    let upstream = TcpStream::connect(target)?;
    let mut down_from = upstream.try_clone()?;
    let mut down_to = client.try_clone()?;
    let down = thread::spawn(move || {
        let _ = std::io::copy(&mut down_from, &mut down_to);
        let _ = down_to.shutdown(Shutdown::Both);
    });
    let mut up = upstream;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        before(n);
        if up.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = up.shutdown(Shutdown::Write);
    let _ = down.join();
    Ok(())
}
