//! `vault-server` as the simulation's hub: the real account store, `AppState` and axum router
//! (`vault_server::api::router`), over a data folder on the hub machine's simulated disk, asked
//! in-process. A request is handed to the router with `tower::ServiceExt::oneshot` on a tokio
//! current-thread runtime the world owns; the handlers' hub I/O runs on tokio's blocking
//! threads, but every request is awaited before the next is sent, so the server does one thing
//! at a time and a run replays exactly. No sockets, no TLS: those are `tests/`'s business.
//!
//! Two things a real server does on its own time are the simulation's to schedule: the
//! compaction after a push (turned off here with `Limits::background_compaction`, run by
//! [`SimServer::compact`] at a point the seed chooses) and the requests a network delivers
//! late ([`SimServer::hold`], delivered by [`SimServer::tick`] some steps later). The client
//! side, with the network's faults, is [`crate::server_client`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tower::ServiceExt;
use vault::hub_gc::{Options, Quiet};
use vault::vfs;

use crate::ops::Housekeeping;
use vault_server::accounts::{AccountStore, Accounts};
use vault_server::api::{AppState, Limits, TIME_HEADER, router};

/// The one account every device logs in to.
pub const USER: &str = "sim";
/// The account's vault the devices sync.
pub const VAULT: &str = "notes";
const PASSWORD: &str = "a simulated password";
/// Devices a run may have (tokens made once per process).
const MAX_DEVICES: usize = 4;
/// The grace period of the operator's `vault-server gc` runs (its shortest documented one).
const OPERATOR_GRACE: std::time::Duration = std::time::Duration::from_secs(90);

/// One request as it travels: what the network may hold back and deliver later.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Path and query, e.g. `/api/v1/vaults/notes/tree?full=false`.
    pub path: String,
    /// The device's token (`Authorization: Bearer`); `None` for `/healthz`.
    pub token: Option<String>,
    /// Content type and bytes.
    pub body: Option<(&'static str, Vec<u8>)>,
    /// The upload a batch of a large file's objects belongs to (`x-vault-upload`).
    pub upload: Option<String>,
}

/// A server's answer to a [`Call`].
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The server's clock (`vault-time-ms`), in ms since the Unix epoch.
    pub time_ms: Option<i64>,
    pub body: Vec<u8>,
}

/// The accounts every server world starts with: one user, a device (and its token) per
/// possible device, made by the real `Accounts` API.
struct Template {
    accounts: Accounts,
    tokens: Vec<String>,
}

static TEMPLATE: OnceLock<Template> = OnceLock::new();

/// Make the accounts template now, if not yet: argon2 costs tens of milliseconds per hash, so
/// it is paid once per process. It draws its salt and tokens from a fixed seed, so every
/// process makes the same file; call it before a run installs its own seeded random source
/// (this replaces the process's source while it works).
pub fn prepare() {
    template();
}

fn template() -> &'static Template {
    TEMPLATE.get_or_init(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(0xacc0_0a75);
        vfs::set_random_source(Some(Box::new(move |buf| rng.fill_bytes(buf))));
        let mut accounts = Accounts::default();
        accounts
            .add_user(USER, PASSWORD, 0)
            .expect("a valid user name and password");
        let tokens = (0..MAX_DEVICES)
            .map(|i| {
                accounts
                    .login(USER, PASSWORD, &format!("dev{i}"), 0)
                    .expect("the password just set")
                    .token
            })
            .collect();
        vfs::set_random_source(None);
        Template { accounts, tokens }
    })
}

/// The server of a simulated world.
pub struct SimServer {
    rt: tokio::runtime::Runtime,
    data: PathBuf,
    /// Behind a lock so that a round's request can restart the process between two of its
    /// requests ([`crate::ops::NetFault::ServerRestart`]).
    router: Mutex<Router>,
    /// Device `i`'s token.
    tokens: Vec<String>,
    /// Requests the network holds: (steps before delivery, request), in the order sent.
    held: Mutex<Vec<(u8, Call)>>,
}

/// The server's state and router over `data`, as `vault-server serve` builds them (without
/// the background compaction, see the module's comment).
fn serve(data: &Path) -> Router {
    let accounts = AccountStore::open(data).expect("the server's data folder");
    let limits = Limits {
        background_compaction: false,
        ..Limits::default()
    };
    let state = AppState::new(accounts, data.to_path_buf(), limits)
        .expect("the accounts file written when the world was made");
    router(state)
}

impl SimServer {
    /// Set up a server over `data` (on a simulated machine): the accounts, then the vault,
    /// created by a device's request as `syncd init --hub URL` creates it.
    pub fn start(data: PathBuf, devices: usize) -> SimServer {
        assert!(devices <= MAX_DEVICES, "at most {MAX_DEVICES} devices");
        let t = template();
        AccountStore::open(&data)
            .and_then(|store| {
                store.modify(|a| {
                    *a = t.accounts.clone();
                    Ok(())
                })
            })
            .expect("the accounts file on a fresh simulated disk");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime");
        let server = SimServer {
            rt,
            router: Mutex::new(serve(&data)),
            data,
            tokens: t.tokens[..devices].to_vec(),
            held: Mutex::new(Vec::new()),
        };
        let created = server
            .deliver(&Call {
                method: Method::PUT,
                path: format!("/api/v1/vaults/{VAULT}"),
                token: Some(server.tokens[0].clone()),
                body: None,
                upload: None,
            })
            .expect("the vault's creation");
        assert_eq!(created.status, StatusCode::CREATED, "creating the vault");
        server
    }

    /// Device `dev`'s token.
    pub fn token(&self, dev: usize) -> &str {
        &self.tokens[dev]
    }

    /// The vault's hub folder inside the data folder.
    pub fn vault_dir(data: &Path) -> PathBuf {
        data.join("vaults").join(USER).join(VAULT)
    }

    /// The process restarts: its state (open vaults with their caches, open uploads, the
    /// accounts it read) is dropped and built again from the data folder as it is on disk.
    pub fn restart(&self) {
        *lock(&self.router) = serve(&self.data);
    }

    /// Hand `call` to the server and wait for its whole answer. `Err`: the answer's body broke
    /// off (the server failed while streaming it).
    pub fn deliver(&self, call: &Call) -> Result<Answer, String> {
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(&call.path);
        if let Some(token) = &call.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(upload) = &call.upload {
            req = req.header(vault::wire::UPLOAD_HEADER, upload);
        }
        let body = match &call.body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, *content_type);
                Body::from(bytes.clone())
            }
            None => Body::empty(),
        };
        let req = req.body(body).map_err(|e| e.to_string())?;
        let router = lock(&self.router).clone();
        self.rt.block_on(async move {
            let res = match router.oneshot(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            let status = res.status();
            let time_ms = res
                .headers()
                .get(TIME_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .map_err(|e| format!("the answer broke off: {e}"))?;
            Ok(Answer {
                status,
                time_ms,
                body: body.to_vec(),
            })
        })
    }

    /// The network holds `call`; the server gets it `steps` steps from now.
    pub fn hold(&self, call: Call, steps: u8) {
        lock(&self.held).push((steps.max(1), call));
    }

    /// A step passes: the held requests whose time came reach the server, in the order they
    /// were sent; their answers go nowhere (the device gave up on them). How many arrived.
    pub fn tick(&self) -> usize {
        let due: Vec<Call> = {
            let mut held = lock(&self.held);
            for (steps, _) in held.iter_mut() {
                *steps -= 1;
            }
            let (due, later): (Vec<_>, Vec<_>) = held.drain(..).partition(|(s, _)| *s == 0);
            *held = later;
            due.into_iter().map(|(_, c)| c).collect()
        };
        for call in &due {
            let _ = self.deliver(call);
        }
        due.len()
    }

    /// The network heals: every held request arrives now.
    pub fn deliver_held(&self) {
        let all: Vec<Call> = lock(&self.held).drain(..).map(|(_, c)| c).collect();
        for call in &all {
            let _ = self.deliver(call);
        }
    }

    /// Compact the vault now, as `who` does: the server's background compaction after a push
    /// (`vault::hub_gc::compact_if_worthwhile`, the very call) or `vault-server gc --grace
    /// 90s` (`vault::hub_gc::run` with the options that command builds). Whether it rewrote
    /// anything; a failure (the hub's disk dying) changes nothing, as on the server.
    pub fn compact(&self, who: Housekeeping) -> bool {
        let vault = SimServer::vault_dir(&self.data);
        match who {
            Housekeeping::Auto => {
                matches!(vault::hub_gc::compact_if_worthwhile(&vault), Ok(Some(_)))
            }
            Housekeeping::Gc => {
                let options = Options::gc(OPERATOR_GRACE, false);
                vault::hub_gc::run(&vault, &options, &Quiet).is_ok_and(|r| {
                    r.packs_retired > 0 || r.objects_dropped > 0 || r.packs_after != r.packs_before
                })
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
