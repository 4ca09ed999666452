//! The hub conformance suite (vault's `folder_hub::conformance`) run against `syncd`'s HTTP hub
//! talking to a real `vault-server` on 127.0.0.1: the server keeps every rule a folder hub
//! keeps, seen from a device.

mod common;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::server::{Server, server_cmd};
use syncd::http_hub::HttpHub;
use vault::ObjectId;
use vault::folder_hub::conformance::HubFactory;
use vault::store::PackStore;

/// A server with the user `alice` logged in from one device; each hub is a new vault of hers.
struct Served {
    _dir: tempfile::TempDir,
    _server: Mutex<Server>,
    data: PathBuf,
    server: syncd::http_hub::Server,
    token: String,
    next: AtomicUsize,
}

impl Served {
    fn new() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let d = data.to_str().unwrap();
        let out = server_cmd(
            &["user", "add", "alice", "--data", d, "--password-stdin"],
            "correct horse\n",
        );
        assert!(out.status.success());
        let running = Server::start(&data, &[]);
        let server =
            syncd::http_hub::Server::new(&running.url, &vault::local::ServerConfig::default())
                .unwrap();
        let token = server
            .login("alice", "correct horse", "conformance")
            .unwrap()
            .token;
        Served {
            _dir: dir,
            _server: Mutex::new(running),
            data,
            server,
            token,
            next: AtomicUsize::new(0),
        }
    }
}

impl HubFactory for Served {
    type Hub = HttpHub;

    fn create(&self) -> HttpHub {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let hub = self.server.vault(&format!("v{n}"), &self.token);
        hub.create().unwrap();
        hub
    }

    fn reopen(&self, hub: &HttpHub) -> HttpHub {
        self.server.vault(hub.vault_name(), &self.token)
    }

    fn lose_object(&self, hub: &HttpHub, id: ObjectId) -> bool {
        let packs = self
            .data
            .join("vaults/alice")
            .join(hub.vault_name())
            .join("packs");
        let store = PackStore::open(&packs).unwrap();
        std::fs::remove_file(store.pack_of(id).expect("the object to lose is stored")).unwrap();
        true
    }
}

vault::hub_conformance_tests!(Served::new());
