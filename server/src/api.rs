//! The HTTP API under `/api/v1/` (docs/protocol.md): logging in, the first account's setup,
//! and the rules every request follows (JSON errors, body limit, server time, versions).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::accounts::{AccountError, AccountStore, Accounts, Login, Session};
pub use crate::extract::{ApiJson, ApiObjects, ApiPath, ApiQuery};

/// The API versions this server speaks (the path prefix `/api/v1/`).
pub const API_VERSIONS: &[u32] = &[1];
/// Response header with the server's clock, in milliseconds since the Unix epoch, on every
/// response: clients refuse to sync when theirs differs by more than 5 minutes.
pub const TIME_HEADER: &str = "vault-time-ms";
/// Failed logins allowed per account and client address within [`FAILURE_WINDOW`].
const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Limits the operator can set.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Compact a vault's packs on a background thread after a push moved its head (see
    /// `hub_api::OpenVault::compact_in_background`). Always on in a real server; the
    /// simulation (`vault-sim`) turns it off and runs the same compaction at points its seed
    /// chooses, since a thread racing the requests would make a run unrepeatable.
    pub background_compaction: bool,
    /// Keep a git mirror of each vault and serve it read-only to its owner (`serve
    /// --git-mirror`; `crate::git_mirror`).
    pub git_mirror: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 << 20,
            background_compaction: true,
            git_mirror: false,
        }
    }
}

/// A file's identity and version: inode, size, modification time (ns).
type FileKey = (u64, u64, i64);

/// What every request can reach.
pub struct AppState {
    accounts: AccountStore,
    /// The data folder (accounts, and each user's vaults under `vaults/`).
    data: std::path::PathBuf,
    vaults: crate::hub_api::Vaults,
    /// `accounts.json` as last read, with the file's identity then (inode, size, mtime): a
    /// change by `vault-server user`/`device` (a revocation) is seen by the next request.
    cached: Mutex<Option<(FileKey, Arc<Accounts>)>>,
    /// The one-time token that creates the first account, while there is none.
    setup: Mutex<Option<String>>,
    limits: Limits,
    failures: Mutex<HashMap<(String, IpAddr), Vec<Instant>>>,
    /// Set when the server starts shutting down: long polls answer at once instead of
    /// holding the shutdown for their whole wait.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Passwords the git mirrors' basic auth has checked (`crate::git_http`).
    pub(crate) git_logins: crate::git_http::CheckedLogins,
}

impl AppState {
    pub fn new(
        accounts: AccountStore,
        data: std::path::PathBuf,
        limits: Limits,
    ) -> Result<Arc<AppState>, AccountError> {
        let empty = accounts.read()?.is_empty();
        Ok(Arc::new(AppState {
            accounts,
            data,
            vaults: crate::hub_api::Vaults::new(limits.git_mirror),
            cached: Mutex::new(None),
            setup: Mutex::new(empty.then(|| vault::fsutil::random_hex(16))),
            limits,
            failures: Mutex::new(HashMap::new()),
            stopping: tokio::sync::watch::Sender::new(false),
            git_logins: Default::default(),
        }))
    }

    pub fn data(&self) -> &std::path::Path {
        &self.data
    }

    /// Tell waiting requests that the server is shutting down.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once [`AppState::stop`] was called.
    pub async fn stopped(&self) {
        let mut rx = self.stopping.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn vaults(&self) -> &crate::hub_api::Vaults {
        &self.vaults
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn setup_token(&self) -> Option<String> {
        lock(&self.setup).clone()
    }

    /// The accounts as they are on disk now.
    pub(crate) fn accounts(&self) -> Result<Arc<Accounts>, ApiError> {
        // Through `vault::vfs`: the data folder may be a simulated machine's (vault-sim).
        let key = match vault::vfs::metadata(self.accounts.path()) {
            Ok(m) => (m.ino(), m.len(), m.mtime_ns),
            Err(_) => (0, 0, 0),
        };
        let mut cached = lock(&self.cached);
        if let Some((k, a)) = cached.as_ref()
            && *k == key
        {
            return Ok(a.clone());
        }
        let fresh = Arc::new(self.accounts.read().map_err(ApiError::internal)?);
        *cached = Some((key, fresh.clone()));
        Ok(fresh)
    }

    /// Whether `user` from `ip` may try a password now.
    pub(crate) fn may_try(&self, user: &str, ip: IpAddr) -> Result<(), ApiError> {
        let mut failures = lock(&self.failures);
        let now = Instant::now();
        let recent = failures.entry((user.to_string(), ip)).or_default();
        recent.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        if recent.len() >= MAX_FAILURES {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many attempts",
                format!(
                    "{MAX_FAILURES} wrong passwords for this account from this address within {} s; wait a minute and try again",
                    FAILURE_WINDOW.as_secs()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn failed(&self, user: &str, ip: IpAddr) {
        lock(&self.failures)
            .entry((user.to_string(), ip))
            .or_default()
            .push(Instant::now());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An error response: `{ "error": ..., "detail": ... }` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    detail: String,
    /// Object ids the error is about (the objects a hub lacks).
    ids: Vec<vault::id::ObjectId>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ids: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error,
            detail: detail.into(),
            ids: Vec::new(),
        }
    }

    pub fn with_ids(
        status: StatusCode,
        error: &'static str,
        detail: impl Into<String>,
        ids: Vec<vault::id::ObjectId>,
    ) -> ApiError {
        ApiError {
            ids,
            ..ApiError::new(status, error, detail)
        }
    }

    pub fn bad_request(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad request", e.to_string())
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not found", detail)
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!("{e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "the server could not complete the request; its log says why",
        )
    }

    fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error,
            detail: &self.detail,
            ids: self.ids.iter().map(|i| i.to_hex()).collect(),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::WrongPassword => ApiError::unauthorized(e.to_string()),
            AccountError::BadName { .. } | AccountError::BadPassword(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad request", e.to_string())
            }
            AccountError::UserExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

/// A request's device, from `Authorization: Bearer TOKEN`.
pub struct Auth(pub Session);

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "no device token; log in first: in a vault, `syncd login --password-stdin`; to make a new folder a vault of this server, `syncd init --hub URL --user NAME --password-stdin` there",
                )
            })?;
        state
            .accounts()?
            .authenticate(token.trim())
            .map(Auth)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "this device's token is unknown or was revoked; log in again, in the vault, with `syncd login --password-stdin`",
                )
            })
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
    pub device_name: String,
}

#[derive(Debug, Deserialize)]
pub struct SetupRequest {
    pub user: String,
    pub password: String,
    pub device_name: String,
    pub setup_token: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    pub user: String,
    pub device: String,
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WhoAmI {
    pub user: String,
    pub device: String,
}

/// What a route's request carries besides its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    Nothing,
    /// A JSON body (`Content-Type: application/json`).
    Json,
    /// An object stream (docs/protocol.md, "Object stream").
    Objects,
}

/// One route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// In axum's syntax: `{vault}` is a vault name.
    pub path: &'static str,
    /// Whether it needs a device token.
    pub auth: bool,
    pub takes: Takes,
    /// The query parameters it reads.
    pub query: &'static [&'static str],
}

const fn route(method: &'static str, path: &'static str, auth: bool, takes: Takes) -> Route {
    Route {
        method,
        path,
        auth,
        takes,
        query: &[],
    }
}

/// Every route the server answers: [`router`] is built from this list alone, so a test that
/// walks it (tests/reliability/api_errors.rs) reaches every route there is.
pub const ROUTES: &[Route] = &[
    route("GET", "/healthz", false, Takes::Nothing),
    route("POST", "/api/v1/setup", false, Takes::Json),
    route("POST", "/api/v1/login", false, Takes::Json),
    route("GET", "/api/v1/whoami", true, Takes::Nothing),
    route("GET", "/api/v1/vaults", true, Takes::Nothing),
    route("PUT", "/api/v1/vaults/{vault}", true, Takes::Nothing),
    route("GET", "/api/v1/vaults/{vault}/head", true, Takes::Nothing),
    route("POST", "/api/v1/vaults/{vault}/head", true, Takes::Json),
    route("POST", "/api/v1/vaults/{vault}/missing", true, Takes::Json),
    route(
        "POST",
        "/api/v1/vaults/{vault}/objects",
        true,
        Takes::Objects,
    ),
    route(
        "POST",
        "/api/v1/vaults/{vault}/objects/fetch",
        true,
        Takes::Json,
    ),
    route(
        "POST",
        "/api/v1/vaults/{vault}/objects/commit",
        true,
        Takes::Json,
    ),
    Route {
        query: &["full"],
        ..route("GET", "/api/v1/vaults/{vault}/tree", true, Takes::Nothing)
    },
    Route {
        query: &["since", "wait"],
        ..route(
            "GET",
            "/api/v1/vaults/{vault}/changes",
            true,
            Takes::Nothing,
        )
    },
];

/// The handler of one of this module's routes of [`ROUTES`] (`None`: not one of them).
fn endpoint(method: &str, path: &str) -> Option<MethodRouter<Arc<AppState>>> {
    Some(match (method, path) {
        ("GET", "/healthz") => get(healthz),
        ("POST", "/api/v1/setup") => post(setup),
        ("POST", "/api/v1/login") => post(login),
        ("GET", "/api/v1/whoami") => get(whoami),
        _ => return None,
    })
}

/// The handler of `route`, wherever it lives.
fn handler_of(route: &Route) -> Option<MethodRouter<Arc<AppState>>> {
    endpoint(route.method, route.path)
        .or_else(|| crate::hub_api::endpoint(route.method, route.path))
}

pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.limits.max_body_bytes;
    let mut router = Router::new();
    for r in ROUTES {
        match handler_of(r) {
            Some(handler) => router = router.route(r.path, handler),
            // A unit test keeps this from happening (`every_route_has_a_handler`).
            None => tracing::error!(method = r.method, path = r.path, "route without a handler"),
        }
    }
    router
        .merge(crate::git_http::routes())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), server_time))
        .with_state(state)
}

/// The clock of the machine holding the data folder, in nanoseconds since the Unix epoch:
/// the system's, or a simulated machine's (`vault::vfs::now_ns_at`).
fn now_ns(state: &AppState) -> i64 {
    vault::vfs::now_ns_at(state.data())
}

/// Put the server's clock on every response.
async fn server_time(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let ms = now_ns(&state).div_euclid(1_000_000);
    if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
        res.headers_mut().insert(TIME_HEADER, v);
    }
    res
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// A path nothing serves: under `/api/` (and `/healthz`) the API's JSON error, as clients
/// expect; anywhere else a person in a browser asked, so the web view's HTML "not found" page.
async fn fallback(uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || path.starts_with("/healthz") {
        api_fallback(path).into_response()
    } else {
        vault_web::not_found_page()
    }
}

fn api_fallback(path: &str) -> ApiError {
    if let Some(rest) = path.strip_prefix("/api/")
        && !rest.starts_with("v1/")
    {
        let supported: Vec<String> = API_VERSIONS.iter().map(|v| format!("v{v}")).collect();
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported version",
            format!(
                "`{path}` is not an API version this server speaks; it speaks {} (under /api/v1/); upgrade the older side",
                supported.join(", ")
            ),
        );
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not found",
        format!("nothing at `{path}`"),
    )
}

/// A path the API has, asked with a method it does not answer there.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    let path = uri.path();
    let allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|r| same_shape(r.path, path))
        .map(|r| r.method)
        .collect();
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        format!(
            "`{path}` does not answer {method}; it answers {}",
            allowed.join(", ")
        ),
    )
}

/// Whether `path` matches the route pattern `pattern` (`{name}` matches one segment).
fn same_shape(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len()
        && p.iter()
            .zip(&q)
            .all(|(a, b)| a == b || (a.starts_with('{') && a.ends_with('}')))
}

/// Hashing a password takes tens of milliseconds of CPU: off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    state.may_try(&req.user, peer.ip())?;
    let st = state.clone();
    let user = req.user.clone();
    let result = blocking(move || {
        let now = now_ns(&st);
        Ok(st
            .accounts
            .modify(|a| a.login(&req.user, &req.password, &req.device_name, now))?)
    })
    .await;
    match result {
        Ok(Login { device, token }) => {
            tracing::info!(%user, %device, "device logged in");
            Ok(Json(LoginResponse {
                user,
                device,
                token,
            }))
        }
        Err(e) => {
            if e.status == StatusCode::UNAUTHORIZED {
                state.failed(&user, peer.ip());
                tracing::info!(%user, peer = %peer.ip(), "failed login");
            }
            Err(e)
        }
    }
}

async fn setup(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    state.may_try("(setup)", peer.ip())?;
    let expected = state.setup_token();
    let Some(expected) = expected else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already set up",
            "this server has accounts already; log in with one (or ask its operator for one: `vault-server user add`)",
        ));
    };
    if blake3::hash(req.setup_token.trim().as_bytes()) != blake3::hash(expected.as_bytes()) {
        state.failed("(setup)", peer.ip());
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong setup token",
            "the setup token does not match the one in the server's log (it changes at every start while there is no account)",
        ));
    }
    let st = state.clone();
    let user = req.user.clone();
    let login = blocking(move || {
        let now = now_ns(&st);
        Ok(st.accounts.modify(|a| {
            if !a.is_empty() {
                return Err(AccountError::UserExists(
                    a.users()
                        .next()
                        .map(|(n, _)| n.to_string())
                        .unwrap_or_default(),
                ));
            }
            a.add_user(&req.user, &req.password, now)?;
            a.login(&req.user, &req.password, &req.device_name, now)
        })?)
    })
    .await?;
    *lock(&state.setup) = None;
    tracing::info!(%user, device = %login.device, "first account created with the setup token");
    Ok(Json(LoginResponse {
        user,
        device: login.device,
        token: login.token,
    }))
}

async fn whoami(Auth(session): Auth) -> Json<WhoAmI> {
    Json(WhoAmI {
        user: session.user,
        device: session.device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_handler_and_one_place_in_the_list() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(
                handler_of(r).is_some(),
                "{} {} has no handler",
                r.method,
                r.path
            );
            let twice = ROUTES[..i]
                .iter()
                .any(|o| o.method == r.method && o.path == r.path);
            assert!(!twice, "{} {} is listed twice", r.method, r.path);
        }
    }

    #[test]
    fn paths_match_route_patterns_segment_by_segment() {
        assert!(same_shape(
            "/api/v1/vaults/{vault}/head",
            "/api/v1/vaults/notes/head"
        ));
        assert!(!same_shape(
            "/api/v1/vaults/{vault}",
            "/api/v1/vaults/notes/head"
        ));
        assert!(!same_shape("/api/v1/login", "/api/v1/setup"));
    }
}
