//! The device's side of a server hub in the simulation: [`ServerHub`] is a [`Hub`] that builds
//! the requests `syncd`'s HTTP hub builds (`syncd/src/http_hub/`: the same methods, paths, JSON
//! bodies and `vault::wire` object streams) and reads the answers as it does (status codes to
//! [`HubError`] as `Server::error`, the clock from `vault-time-ms`). Between it and the server
//! lies the simulated network, which may fail one request of the round as the step says
//! ([`NetFault`]). The real client is not used because it speaks through reqwest and TLS to a
//! socket; what is under test here is the server's handlers and the sync round over them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use vault::hub::{CasOutcome, Hub, HubError, PutStream};
use vault::id::ObjectId;
use vault::object::Object;

use crate::ops::{Housekeeping, NetFault};
use crate::server_hub::{Answer, Call, SimServer, VAULT};

/// The server as devices name it.
const URL: &str = "https://hub.sim";
/// Ids per `missing` request, as the real client sends them.
const IDS_PER_REQUEST: usize = 20_000;
const JSON: &str = "application/json";

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    detail: String,
    #[serde(default)]
    ids: Vec<String>,
}

#[derive(Deserialize)]
struct HeadBody {
    head: Option<String>,
}

#[derive(Deserialize)]
struct MissingBody {
    missing: Vec<String>,
}

/// The answer to a batch of objects: whether they wait for the upload's commit.
#[derive(Deserialize)]
struct StoredAnswer {
    #[serde(default)]
    upload: bool,
}

#[derive(Deserialize)]
struct CasAnswer {
    updated: bool,
    head: Option<String>,
}

#[derive(Deserialize)]
struct TreeBody {
    tree: Option<String>,
}

/// One device's round against the simulated server, through the simulated network.
pub struct ServerHub<'a> {
    server: &'a SimServer,
    token: String,
    /// The request (by number in this round) the network fails, and how.
    net: Option<(u64, NetFault)>,
    /// The request before which the server compacts the vault.
    compact_at: Option<(u64, Housekeeping)>,
    sent: AtomicU64,
    struck: AtomicBool,
    compacted: AtomicBool,
    restarted: AtomicBool,
}

fn cut_off(detail: impl Into<String>) -> HubError {
    HubError::Unreachable {
        hub: URL.to_string(),
        detail: detail.into(),
    }
}

fn protocol(detail: impl Into<String>) -> HubError {
    HubError::Protocol {
        hub: URL.to_string(),
        detail: detail.into(),
    }
}

fn parse_id(text: &str) -> Result<ObjectId, HubError> {
    text.parse()
        .map_err(|e| protocol(format!("bad object id: {e}")))
}

fn id_of(text: Option<String>) -> Result<Option<ObjectId>, HubError> {
    text.as_deref().map(parse_id).transpose()
}

/// An error answer as the [`HubError`] the real client makes of it (`Server::error`).
fn error(answer: &Answer) -> HubError {
    let hub = URL.to_string();
    let status = answer.status;
    let body: Option<ErrorBody> = serde_json::from_slice(&answer.body).ok();
    let detail = body
        .as_ref()
        .map(|b| format!("{} ({})", b.detail, b.error))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let ids = |b: Option<ErrorBody>| -> Vec<ObjectId> {
        b.map(|b| b.ids.iter().filter_map(|i| i.parse().ok()).collect())
            .unwrap_or_default()
    };
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => HubError::Unauthorized { hub, detail },
        StatusCode::CONFLICT if body.as_ref().is_some_and(|b| b.error == "missing") => {
            HubError::Missing {
                hub,
                ids: ids(body),
            }
        }
        StatusCode::UNPROCESSABLE_ENTITY => HubError::Refused { hub, detail },
        StatusCode::SERVICE_UNAVAILABLE => HubError::Locked { hub, lock: detail },
        _ if body.as_ref().is_some_and(|b| b.error == "damaged") => {
            let ids = ids(body);
            if ids.is_empty() {
                HubError::Corrupt { hub, detail }
            } else {
                HubError::Damaged { hub, ids }
            }
        }
        s if s.is_server_error() => HubError::Unreachable { hub, detail },
        _ if body.is_some() => HubError::Rejected { hub, detail },
        _ => HubError::Protocol { hub, detail },
    }
}

fn ok(answer: Answer) -> Result<Answer, HubError> {
    if answer.status.is_success() {
        Ok(answer)
    } else {
        Err(error(&answer))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(answer: Answer) -> Result<T, HubError> {
    serde_json::from_slice(&ok(answer)?.body)
        .map_err(|e| protocol(format!("unexpected answer: {e}")))
}

impl<'a> ServerHub<'a> {
    /// Device `dev`'s hub for one round.
    pub fn new(
        server: &'a SimServer,
        dev: usize,
        net: Option<(u64, NetFault)>,
        compact_at: Option<(u64, Housekeeping)>,
    ) -> ServerHub<'a> {
        ServerHub {
            server,
            token: server.token(dev).to_string(),
            net,
            compact_at,
            sent: AtomicU64::new(0),
            struck: AtomicBool::new(false),
            compacted: AtomicBool::new(false),
            restarted: AtomicBool::new(false),
        }
    }

    /// Whether the network fault struck (the round reached its request).
    pub fn struck(&self) -> bool {
        self.struck.load(Ordering::Relaxed)
    }

    /// Whether the server restarted during the round ([`NetFault::ServerRestart`]).
    pub fn restarted(&self) -> bool {
        self.restarted.load(Ordering::Relaxed)
    }

    /// Whether the server compacted the vault during the round.
    pub fn compacted(&self) -> bool {
        self.compacted.load(Ordering::Relaxed)
    }

    /// Send `call` through the network: the answer, or what the device sees when the network
    /// fails it.
    fn exchange(&self, call: Call) -> Result<Answer, HubError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        if let Some((at, who)) = self.compact_at
            && at == n
            && self.server.compact(who)
        {
            self.compacted.store(true, Ordering::Relaxed);
        }
        if let Some((at, fault)) = self.net {
            let strikes = match fault {
                NetFault::Partition => n >= at,
                NetFault::ServerRestart => {
                    if n == at {
                        self.server.restart();
                        self.restarted.store(true, Ordering::Relaxed);
                    }
                    false
                }
                _ => n == at,
            };
            if strikes {
                self.struck.store(true, Ordering::Relaxed);
                let detail = match fault {
                    NetFault::Partition => "no route to host (partition)",
                    NetFault::Lost => "operation timed out (request lost)",
                    NetFault::AnswerLost => {
                        let _ = self.server.deliver(&call);
                        "connection reset by peer (answer lost)"
                    }
                    NetFault::Delayed { steps } => {
                        self.server.hold(call, steps);
                        "operation timed out (request delayed)"
                    }
                    NetFault::ServerRestart => unreachable!("a restart lets the request through"),
                };
                return Err(cut_off(detail));
            }
        }
        self.server.deliver(&call).map_err(cut_off)
    }

    fn call(&self, method: Method, rest: &str, body: Option<(&'static str, Vec<u8>)>) -> Call {
        Call {
            method,
            path: format!("/api/v1/vaults/{VAULT}{rest}"),
            token: Some(self.token.clone()),
            body,
            upload: None,
        }
    }

    fn json_call(&self, rest: &str, value: &serde_json::Value) -> Call {
        self.call(
            Method::POST,
            rest,
            Some((JSON, value.to_string().into_bytes())),
        )
    }

    fn tree(&self, snapshot: Option<ObjectId>, full: bool) -> Result<Option<ObjectId>, HubError> {
        let mut rest = format!("/tree?full={full}");
        if let Some(s) = snapshot {
            rest.push_str(&format!("&snapshot={}", s.to_hex()));
        }
        let body: TreeBody = parse(self.exchange(self.call(Method::GET, &rest, None))?)?;
        id_of(body.tree)
    }
    /// `POST .../objects` of `objects`, to the upload `upload` if named: whether the server
    /// holds them for that upload's commit.
    fn send_objects(&self, objects: &[Object], upload: Option<&str>) -> Result<bool, HubError> {
        if objects.is_empty() {
            return Ok(false);
        }
        let body = vault::wire::encode(objects);
        let mut call = self.call(
            Method::POST,
            "/objects",
            Some((vault::wire::CONTENT_TYPE, body)),
        );
        call.upload = upload.map(str::to_string);
        let answer: StoredAnswer = parse(self.exchange(call)?)?;
        Ok(answer.upload)
    }
}

/// A new upload name, 32 hex digits as the real client makes them, from the run's seeded
/// random source (so a run replays).
fn upload_name() -> String {
    let mut random = [0u8; 16];
    vault::vfs::fill_random(&mut random);
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// A large file's upload, as `syncd/src/http_hub/upload.rs` sends it: every batch names an
/// upload (`x-vault-upload`), the uploads the server holds batches of are committed at the
/// end. The real client sends from two threads, each with an upload of its own; here the
/// batches take turns between two uploads instead (one request at a time, so a run replays),
/// which keeps what the server sees: two uploads, each committed on its own, so a commit may
/// land while the other's is lost.
struct Upload<'a> {
    hub: &'a ServerHub<'a>,
    names: [String; 2],
    /// Whether each upload holds batches only its commit makes durable.
    pending: [bool; 2],
    /// The upload the next batch goes to.
    next: usize,
}

impl PutStream for Upload<'_> {
    fn put(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), HubError> {
        let objects: Vec<Object> = objects.into_iter().map(|(_, o)| o).collect();
        let i = self.next;
        self.next = 1 - i;
        self.pending[i] |= self.hub.send_objects(&objects, Some(&self.names[i]))?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), HubError> {
        for (name, pending) in self.names.iter().zip(self.pending) {
            if pending {
                let call = self
                    .hub
                    .json_call("/objects/commit", &json!({ "upload": name }));
                let _: serde_json::Value = parse(self.hub.exchange(call)?)?;
            }
        }
        Ok(())
    }
}

impl Hub for ServerHub<'_> {
    fn describe(&self) -> String {
        format!("{URL}/vault/{VAULT}")
    }

    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        let body: HeadBody = parse(self.exchange(self.call(Method::GET, "/head", None))?)?;
        id_of(body.head)
    }

    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let ids: Vec<String> = chunk.iter().map(ObjectId::to_hex).collect();
            let call = self.json_call("/missing", &json!({ "ids": ids }));
            let body: MissingBody = parse(self.exchange(call)?)?;
            for id in body.missing {
                out.push(parse_id(&id)?);
            }
        }
        Ok(out)
    }

    fn put(&self, objects: &[Object]) -> Result<(), HubError> {
        self.send_objects(objects, None).map(|_| ())
    }

    fn put_stream(&self) -> Box<dyn PutStream + '_> {
        Box::new(Upload {
            hub: self,
            names: [upload_name(), upload_name()],
            pending: [false; 2],
            next: 0,
        })
    }

    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let hex: Vec<String> = ids.iter().map(ObjectId::to_hex).collect();
        let answer = ok(self.exchange(self.json_call("/objects/fetch", &json!({ "ids": hex })))?)?;
        let objects = vault::wire::decode(&answer.body).map_err(|e| {
            if e.is_transient() {
                cut_off(e.to_string())
            } else {
                protocol(e.to_string())
            }
        })?;
        if objects.len() != ids.len() {
            return Err(protocol(format!(
                "asked for {} objects, got {}",
                ids.len(),
                objects.len()
            )));
        }
        Ok(objects)
    }

    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError> {
        let body = json!({ "old": old.map(|o| o.to_hex()), "new": new.to_hex() });
        let answer: CasAnswer = parse(self.exchange(self.json_call("/head", &body))?)?;
        if answer.updated {
            return Ok(CasOutcome::Updated);
        }
        Ok(CasOutcome::Conflict {
            actual: id_of(answer.head)?,
        })
    }

    fn tree_of(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError> {
        self.tree(Some(snapshot), full)?
            .ok_or_else(|| protocol(format!("no tree for snapshot {}", snapshot.short())))
    }

    fn tree_hash(&self) -> Result<Option<ObjectId>, HubError> {
        self.tree(None, false)
    }

    fn verify_tree(&self) -> Result<Option<ObjectId>, HubError> {
        self.tree(None, true)
    }

    fn time_ns(&self) -> Result<i64, HubError> {
        let answer = ok(self.exchange(Call {
            method: Method::GET,
            path: "/healthz".to_string(),
            token: None,
            body: None,
            upload: None,
        })?)?;
        answer
            .time_ms
            .map(|ms| ms.saturating_mul(1_000_000))
            .ok_or_else(|| protocol("no `vault-time-ms` header: is this a vault-server?"))
    }
}
