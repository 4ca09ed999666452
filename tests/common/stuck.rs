//! A TCP relay on loopback that can hold a client's upload at a chosen byte count until the
//! test releases it: a round is then stopped at a known point of its upload (after it changed
//! the folder, before its compare-and-swap) while another device publishes, which makes the
//! round start over, deterministically.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

pub struct Gate {
    /// `http://127.0.0.1:PORT`, to use as the server's URL.
    pub url: String,
    shared: Arc<Shared>,
}

struct Shared {
    /// Bytes passed from clients to the target so far.
    sent: AtomicU64,
    /// Upstream bytes stop once `sent` reaches this (`u64::MAX`: never).
    hold_at: AtomicU64,
    /// Whether a connection is waiting at the hold point now.
    holding: AtomicBool,
}

impl Gate {
    pub fn start(target: &str) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            sent: AtomicU64::new(0),
            hold_at: AtomicU64::new(u64::MAX),
            holding: AtomicBool::new(false),
        });
        let target = target.to_string();
        let s = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let (s, target) = (s.clone(), target.clone());
                thread::spawn(move || {
                    let _ = relay(client, &target, &s);
                });
            }
        });
        Gate { url, shared }
    }

    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::SeqCst)
    }

    /// Hold every upload once `bytes` in all have passed.
    pub fn hold_at(&self, bytes: u64) {
        self.shared.hold_at.store(bytes, Ordering::SeqCst);
    }

    /// Whether an upload is held now.
    pub fn holding(&self) -> bool {
        self.shared.holding.load(Ordering::SeqCst)
    }

    /// Let held uploads go on, and hold nothing more.
    pub fn release(&self) {
        self.shared.hold_at.store(u64::MAX, Ordering::SeqCst);
    }
}

fn relay(client: TcpStream, target: &str, s: &Shared) -> std::io::Result<()> {
    // A chunk is counted as sent before it is written: the hold applies to what comes after.
    super::proxy::relay_paced(client, target, |n| {
        while s.sent.load(Ordering::SeqCst) >= s.hold_at.load(Ordering::SeqCst) {
            s.holding.store(true, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(5));
        }
        s.holding.store(false, Ordering::SeqCst);
        s.sent.fetch_add(n as u64, Ordering::SeqCst);
    })
}
