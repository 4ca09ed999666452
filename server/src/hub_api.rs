//! The hub protocol over HTTP: each of a user's vaults is a hub folder under
//! `DATA/vaults/<user>/<vault>/`, in the very format `syncd` uses for a folder hub (so a hub
//! folder can be served as it is), and every endpoint is one [`Hub`] call on it.
//!
//! A user's vaults live under the user's own folder and every path is built from checked
//! names, so no request can reach another account's vault: it does not exist for it (404).
//! The folder hub does the checking a server owes its users: objects are stored under the id
//! of their bytes, and the head moves only to a snapshot whose trees are valid and complete.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use vault::folder_hub::FolderHub;
use vault::hub::{CasOutcome, Hub, HubError};
use vault::id::ObjectId;
use vault::object::{Kind, ObjectError};

use crate::accounts::check_name;
use crate::api::{ApiError, ApiJson, ApiObjects, ApiPath, ApiQuery, AppState, Auth};
use crate::git_mirror::Mirror;

/// Longest wait of a change request.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The open hubs and their change signals, by (user, vault).
#[derive(Default)]
pub struct Vaults {
    open: Mutex<HashMap<(String, String), Arc<OpenVault>>>,
    /// Keep a git mirror of each vault (`serve --git-mirror`).
    git_mirror: bool,
}

pub struct OpenVault {
    hub: Arc<FolderHub>,
    /// The vault's git mirror, when the server keeps them.
    mirror: Option<Arc<Mirror>>,
    /// The head after the last move through this server.
    changed: watch::Sender<Option<ObjectId>>,
    /// A background compaction of this vault is running (at most one at a time).
    compacting: std::sync::atomic::AtomicBool,
    /// Large files being uploaded, request after request (`crate::uploads`).
    uploads: crate::uploads::Uploads,
}

impl OpenVault {
    pub(crate) fn hub(&self) -> &FolderHub {
        &self.hub
    }

    pub(crate) fn mirror(&self) -> Option<&Mirror> {
        self.mirror.as_deref()
    }

    /// The head moved: the git mirror follows, in the background.
    fn head_moved(&self) {
        if let Some(mirror) = &self.mirror {
            mirror.clone().update_in_background(self.hub.clone());
        }
    }

    /// After a push moved head: compact the vault's packs on a blocking thread when it holds
    /// more than `vault::hub_gc::AUTO_ABOVE`, never in the request's way, one at a time per
    /// vault. Devices reading meanwhile re-list the packs when one is retired under them.
    fn compact_in_background(self: Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::task::spawn_blocking(move || {
            let root = self.hub.path();
            match vault::hub_gc::compact_if_worthwhile(root) {
                Ok(Some(r)) => tracing::info!(
                    vault = %root.display(),
                    before = r.packs_before,
                    after = r.packs_after,
                    "compacted a vault's packs"
                ),
                Ok(None) => {}
                Err(e) => tracing::warn!(vault = %root.display(), "could not compact a vault: {e}"),
            }
            self.compacting.store(false, Ordering::Release);
        });
    }
}

impl vault_web::VaultAccess for OpenVault {
    fn hub(&self) -> &dyn Hub {
        &*self.hub
    }

    fn published(&self, head: ObjectId) {
        self.changed.send_replace(Some(head));
        self.head_moved();
    }

    fn changes(&self) -> Option<watch::Receiver<Option<ObjectId>>> {
        Some(self.changed.subscribe())
    }

    fn git_mirror_path(&self) -> Option<String> {
        self.mirror.as_ref().map(|m| m.url_path())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Vaults {
    pub fn new(git_mirror: bool) -> Vaults {
        Vaults {
            git_mirror,
            ..Vaults::default()
        }
    }

    /// Whether the vaults have git mirrors.
    pub fn git_mirror(&self) -> bool {
        self.git_mirror
    }

    fn folder(data: &std::path::Path, user: &str, vault: &str) -> PathBuf {
        data.join("vaults").join(user).join(vault)
    }

    /// The vault `vault` of `user`, which must exist.
    pub(crate) fn get(
        &self,
        data: &std::path::Path,
        user: &str,
        vault: &str,
    ) -> Result<Arc<OpenVault>, ApiError> {
        self.open_or_create(data, user, vault, false)
            .map(|(v, _)| v)
    }

    /// The vault `vault` of `user`; `create` makes it if it does not exist. Also says whether
    /// this call created it.
    fn open_or_create(
        &self,
        data: &std::path::Path,
        user: &str,
        vault: &str,
        create: bool,
    ) -> Result<(Arc<OpenVault>, bool), ApiError> {
        check_name("vault", vault).map_err(ApiError::bad_request)?;
        let key = (user.to_string(), vault.to_string());
        if let Some(v) = lock(&self.open).get(&key) {
            return Ok((v.clone(), false));
        }
        let folder = Vaults::folder(data, user, vault);
        let exists = vault::vfs::exists(folder.join(vault::folder_hub::MARKER_FILE));
        if !create && !exists {
            return Err(ApiError::not_found(format!(
                "you have no vault `{vault}` on this server; upload the vault this device has to it, creating it, with `syncd hub set URL --vault-name {vault}`"
            )));
        }
        let hub = FolderHub::open(&folder)
            .map_err(hub_error)?
            .with_stream_pack_bytes(crate::uploads::COMMIT_BYTES);
        let head = hub.head().map_err(hub_error)?;
        let opened = Arc::new(OpenVault {
            hub: Arc::new(hub),
            mirror: (self.git_mirror).then(|| Arc::new(Mirror::new(data, user, vault))),
            changed: watch::Sender::new(head),
            compacting: Default::default(),
            uploads: Default::default(),
        });
        Ok((
            lock(&self.open).entry(key).or_insert(opened).clone(),
            !exists,
        ))
    }

    pub(crate) fn list(&self, data: &std::path::Path, user: &str) -> Vec<String> {
        let mut names: Vec<String> = vault::vfs::read_dir(data.join("vaults").join(user))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| vault::vfs::exists(e.path().join(vault::folder_hub::MARKER_FILE)))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| check_name("vault", n).is_ok())
            .collect();
        names.sort();
        names
    }
}

/// A hub failure as an HTTP error, in the device user's terms: the hub's own messages name
/// the server's folders and pack files, which mean nothing to a device (and are not its
/// business), so each answer says what happened to the vault and what a device can do, and
/// the details go to the server's log for its operator.
fn hub_error(e: HubError) -> ApiError {
    match e {
        HubError::Missing { ids, .. } => {
            let detail = format!(
                "this vault lacks {} object(s) (first {}); a device that has them uploads them on its next sync",
                ids.len(),
                ids.first().map(ObjectId::short).unwrap_or_default()
            );
            ApiError::with_ids(StatusCode::CONFLICT, "missing", detail, ids)
        }
        HubError::Refused { detail, .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            format!("the vault refused the new head: {detail}"),
        ),
        HubError::Object(o) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", o.to_string())
        }
        HubError::Locked { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "another writer holds this vault's head; try again",
        ),
        // The device must hear that the server's copy is damaged (not that the server is
        // unreachable, which it would retry).
        HubError::Damaged { ref ids, .. } => {
            let all: Vec<String> = ids.iter().map(ObjectId::to_hex).collect();
            tracing::error!(objects = %all.join(","), "{e}");
            let ids = ids.clone();
            ApiError::with_ids(
                StatusCode::INTERNAL_SERVER_ERROR,
                "damaged",
                format!(
                    "the server's copies of {} object(s) of this vault are damaged; a device that has them stores good copies on its next `syncd sync --full-verify`",
                    ids.len()
                ),
                ids,
            )
        }
        HubError::Corrupt { .. } => {
            tracing::error!("{e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "damaged",
                "the server's copy of this vault is damaged; its operator must restore it from a backup or a device (the server's log says what is damaged; docs/server.md)",
            )
        }
        other => ApiError::internal(other),
    }
}

/// Run hub I/O off the async threads.
async fn on_vault<T: Send + 'static>(
    vault: Arc<OpenVault>,
    f: impl FnOnce(&OpenVault) -> Result<T, HubError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || f(&vault))
        .await
        .map_err(ApiError::internal)?
        .map_err(hub_error)
}

fn parse_ids(ids: &[String]) -> Result<Vec<ObjectId>, ApiError> {
    ids.iter()
        .map(|s| s.parse::<ObjectId>().map_err(ApiError::bad_request))
        .collect()
}

/// An id that may be absent (`null`: the empty hub's head).
fn parse_optional_id(text: Option<&str>) -> Result<Option<ObjectId>, ApiError> {
    text.map(str::parse::<ObjectId>)
        .transpose()
        .map_err(ApiError::bad_request)
}

fn hex(id: Option<ObjectId>) -> Option<String> {
    id.map(|i| i.to_hex())
}

#[derive(Serialize)]
struct HeadBody {
    head: Option<String>,
}

#[derive(Deserialize)]
struct IdsBody {
    ids: Vec<String>,
}

#[derive(Serialize)]
struct MissingBody {
    missing: Vec<String>,
}

#[derive(Deserialize)]
struct CasBody {
    old: Option<String>,
    new: String,
}

#[derive(Serialize)]
struct CasAnswer {
    updated: bool,
    head: Option<String>,
}

#[derive(Deserialize)]
struct TreeQuery {
    #[serde(default)]
    full: bool,
    /// The snapshot whose tree is asked for; the head's when absent.
    snapshot: Option<String>,
}

#[derive(Serialize)]
struct TreeBody {
    tree: Option<String>,
}

#[derive(Deserialize)]
struct ChangesQuery {
    since: Option<String>,
    wait: Option<u64>,
}

/// The handler of one of the hub routes of [`crate::api::ROUTES`] (`None`: not a hub route).
pub(crate) fn endpoint(method: &str, path: &str) -> Option<MethodRouter<Arc<AppState>>> {
    Some(match (method, path) {
        ("GET", "/api/v1/vaults") => get(list),
        ("PUT", "/api/v1/vaults/{vault}") => put(create),
        ("GET", "/api/v1/vaults/{vault}/head") => get(head),
        ("POST", "/api/v1/vaults/{vault}/head") => post(cas),
        ("POST", "/api/v1/vaults/{vault}/missing") => post(missing),
        ("POST", "/api/v1/vaults/{vault}/objects") => post(upload),
        ("POST", "/api/v1/vaults/{vault}/objects/fetch") => post(download),
        ("POST", "/api/v1/vaults/{vault}/objects/commit") => post(commit_upload),
        ("GET", "/api/v1/vaults/{vault}/tree") => get(tree),
        ("GET", "/api/v1/vaults/{vault}/changes") => get(changes),
        _ => return None,
    })
}

async fn list(State(state): State<Arc<AppState>>, Auth(me): Auth) -> Json<serde_json::Value> {
    let names = state.vaults().list(state.data(), &me.user);
    Json(serde_json::json!({ "vaults": names }))
}

async fn create(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (v, created) = state
        .vaults()
        .open_or_create(state.data(), &me.user, &vault, true)?;
    let head = on_vault(v, |v| v.hub.head()).await?;
    let status = if created {
        tracing::info!(user = %me.user, %vault, "vault created");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(HeadBody { head: hex(head) })).into_response())
}

async fn head(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
) -> Result<Json<HeadBody>, ApiError> {
    let v = state.vaults().get(state.data(), &me.user, &vault)?;
    let head = on_vault(v, |v| v.hub.head()).await?;
    Ok(Json(HeadBody { head: hex(head) }))
}

async fn missing(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
    ApiJson(body): ApiJson<IdsBody>,
) -> Result<Json<MissingBody>, ApiError> {
    let ids = parse_ids(&body.ids)?;
    let v = state.vaults().get(state.data(), &me.user, &vault)?;
    let missing = on_vault(v, move |v| v.hub.missing(&ids)).await?;
    Ok(Json(MissingBody {
        missing: missing.iter().map(ObjectId::to_hex).collect(),
    }))
}

async fn upload(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
    headers: axum::http::HeaderMap,
    ApiObjects(objects): ApiObjects,
) -> Result<Json<serde_json::Value>, ApiError> {
    let upload = match headers.get(crate::uploads::UPLOAD_HEADER) {
        None => None,
        Some(value) => match value.to_str() {
            Ok(name) if crate::uploads::valid_name(name) => Some(name.to_string()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "header {}: an upload's name is 8 to 64 of 0-9, a-z and -",
                    crate::uploads::UPLOAD_HEADER
                )));
            }
        },
    };
    let v = state.vaults().get(state.data(), &me.user, &vault)?;
    let count = objects.len();
    match upload {
        // Part of a large file's upload: durable at its commit (or every 256 MiB).
        Some(name) => {
            let held = on_vault(v, move |v| v.uploads.append(&v.hub, &name, objects)).await?;
            Ok(Json(
                serde_json::json!({ "stored": count, "upload": true, "upload_bytes": held }),
            ))
        }
        // Stored as one pack, made durable before the answer: an upload cut off by a crash or
        // a shutdown leaves no part of itself.
        None => {
            on_vault(v, move |v| v.hub.put(&objects)).await?;
            Ok(Json(serde_json::json!({ "stored": count })))
        }
    }
}

#[derive(Deserialize)]
struct CommitBody {
    upload: String,
}

async fn commit_upload(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
    ApiJson(body): ApiJson<CommitBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let v = state.vaults().get(state.data(), &me.user, &vault)?;
    let name = body.upload;
    let done = tokio::task::spawn_blocking(move || v.uploads.commit(&v.hub, &name))
        .await
        .map_err(ApiError::internal)?;
    match done {
        Ok(()) => Ok(Json(serde_json::json!({ "committed": true }))),
        Err(crate::uploads::CommitError::Unknown) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "upload lost",
            "this upload is not open on the server any more (it restarted, or waited over an hour); sync again to send what it lacks",
        )),
        Err(crate::uploads::CommitError::Hub(e)) => Err(hub_error(e)),
    }
}

async fn download(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
    ApiJson(body): ApiJson<IdsBody>,
) -> Result<Response, ApiError> {
    let ids = parse_ids(&body.ids)?;
    let v = state.vaults().get(state.data(), &me.user, &vault)?;
    let objects = on_vault(v, move |v| v.hub.get(&ids)).await?;
    // Sent object by object, each object's bytes as they are: no second copy of the batch.
    let body = axum::body::Body::from_stream(crate::objects_body::ObjectStream::new(objects));
    Ok(([(header::CONTENT_TYPE, vault::wire::CONTENT_TYPE)], body).into_response())
}

async fn cas(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
    ApiJson(body): ApiJson<CasBody>,
) -> Result<Json<CasAnswer>, ApiError> {
    let old = parse_optional_id(body.old.as_deref())?;
    let new: ObjectId = body.new.parse().map_err(ApiError::bad_request)?;
    let v = state.vaults().get(state.data(), &me.user, &vault)?;
    let user = me.user.clone();
    let pushed = v.clone();
    let answer = on_vault(v, move |v| {
        let outcome = v.hub.cas_head(old, new)?;
        Ok(match outcome {
            CasOutcome::Updated => {
                v.changed.send_replace(Some(new));
                v.head_moved();
                tracing::info!(%user, head = %new.short(), "head moved");
                CasAnswer {
                    updated: true,
                    head: Some(new.to_hex()),
                }
            }
            CasOutcome::Conflict { actual } => CasAnswer {
                updated: false,
                head: hex(actual),
            },
        })
    })
    .await?;
    if answer.updated && state.limits().background_compaction {
        pushed.compact_in_background();
    }
    Ok(Json(answer))
}

async fn tree(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
    ApiQuery(q): ApiQuery<TreeQuery>,
) -> Result<Json<TreeBody>, ApiError> {
    let snapshot = parse_optional_id(q.snapshot.as_deref())?;
    let v = state.vaults().get(state.data(), &me.user, &vault)?;
    let tree = on_vault(v, move |v| match snapshot {
        Some(id) => {
            // Anything but a snapshot is the client's mistake, not damage in the hub.
            let kind = v.hub.get(&[id])?.pop().map(|o| o.kind);
            if let Some(actual) = kind.filter(|k| *k != Kind::Snapshot) {
                let expected = Kind::Snapshot;
                return Err(ObjectError::WrongKind {
                    id,
                    expected,
                    actual,
                }
                .into());
            }
            v.hub.tree_of(id, q.full).map(Some)
        }
        None if q.full => v.hub.verify_tree(),
        None => v.hub.tree_hash(),
    })
    .await?;
    Ok(Json(TreeBody { tree: hex(tree) }))
}

/// Answer as soon as the head differs from `since` (or after `wait` seconds, at most 60):
/// how devices learn of a new snapshot within a second without polling.
async fn changes(
    State(state): State<Arc<AppState>>,
    Auth(me): Auth,
    ApiPath(vault): ApiPath<String>,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> Result<Json<HeadBody>, ApiError> {
    let since = parse_optional_id(q.since.as_deref())?;
    let wait = Duration::from_secs(q.wait.unwrap_or(30)).min(MAX_WAIT);
    let v = state.vaults().get(state.data(), &me.user, &vault)?;
    let mut rx = v.changed.subscribe();
    // The folder may also have been moved by someone else (a device using it as a folder
    // hub): the file is the truth; the signal only wakes waiters early.
    let current = on_vault(v.clone(), |v| v.hub.head()).await?;
    if current != since {
        return Ok(Json(HeadBody { head: hex(current) }));
    }
    tokio::select! {
        _ = tokio::time::timeout(wait, rx.wait_for(|h| *h != since)) => {}
        () = state.stopped() => {}
    }
    let head = on_vault(v, |v| v.hub.head()).await?;
    Ok(Json(HeadBody { head: hex(head) }))
}
