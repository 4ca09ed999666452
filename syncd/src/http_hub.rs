//! The HTTP hub: [`Hub`] over `vault-server`'s protocol (docs/protocol.md), so the one sync
//! algorithm runs against a server exactly as against a hub folder.
//!
//! TLS certificates are checked against the system's roots, plus a CA (or self-signed
//! certificate) the user trusts explicitly; skipping the check exists for emergencies only.
//! Without an explicit proxy, the system's proxy variables apply (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`). Every answer is treated as hostile until checked: object streams are decoded
//! with bounds checks, and the sync round verifies every object against its id.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::json;
use vault::hub::{CasOutcome, Hub, HubError};
use vault::id::ObjectId;
use vault::local::ServerConfig;
use vault::object::Object;

use crate::tls_explain::{Explanation, Problem, Situation, classify, explain};
use crate::tls_verify;

/// Response header with the server's clock (ms since the Unix epoch).
const TIME_HEADER: &str = "vault-time-ms";
/// Ids per `missing` request: bodies stay far below any server's limit.
const IDS_PER_REQUEST: usize = 20_000;

/// What a login or the first account's setup returns.
#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub device: String,
    pub token: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    detail: String,
    #[serde(default)]
    ids: Vec<String>,
}

/// Who a token belongs to.
#[derive(Debug, Clone, Deserialize)]
pub struct WhoAmI {
    pub user: String,
    pub device: String,
}

#[derive(Deserialize)]
struct VaultList {
    vaults: Vec<String>,
}

#[derive(Deserialize)]
struct HeadBody {
    head: Option<String>,
}

#[derive(Deserialize)]
struct MissingBody {
    missing: Vec<String>,
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

/// A client of one server, before choosing a vault (logins happen here).
#[derive(Debug, Clone)]
pub struct Server {
    url: String,
    client: Client,
    /// The `ca_cert` file, named in explanations of TLS failures.
    ca_cert: Option<PathBuf>,
    /// Whether the command joins this server (takes `--ca-cert`), which decides the fix a TLS
    /// failure names ([`Server::joining`]).
    joining: bool,
}

/// The whole chain of `e`, which names the cause a user can act on (refused, DNS).
fn chain_text(e: &reqwest::Error) -> String {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    detail
}

/// The rustls error behind a failed request, if TLS is what failed. hyper-util and
/// tokio-rustls wrap it in `io::Error`s, whose `source()` skips the error they hold, so an
/// `io::Error` is looked into with `get_ref`.
fn tls_problem(e: &reqwest::Error) -> Option<Problem> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(classify(tls));
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

impl Server {
    /// A client for the server at `url` (`https://host:port`, or `http://` on loopback).
    /// `conn`: the vault's `[server]` settings; only how to connect is used here (CA, skipping
    /// verification, proxy), since logins and vault names vary per request.
    pub fn new(url: &str, conn: &ServerConfig) -> Result<Server, HubError> {
        let url = url.trim_end_matches('/').to_string();
        let bad = |detail: String| HubError::Unreachable {
            hub: url.clone(),
            detail,
        };
        check_url(&url).map_err(|detail| HubError::Protocol {
            hub: url.clone(),
            detail,
        })?;
        let mut builder = Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("syncd/", env!("CARGO_PKG_VERSION")));
        let mut extra = Vec::new();
        if let Some(path) = &conn.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                bad(format!(
                    "cannot read the CA certificate `{}`: {e}",
                    path.display()
                ))
            })?;
            extra = tls_verify::read_pem_certs(&pem)
                .map_err(|e| bad(format!("cannot use `{}`: {e}", path.display())))?;
        }
        if conn.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        } else {
            let tls = tls_verify::client_config(extra).map_err(bad)?;
            builder = builder.tls_backend_preconfigured(tls);
        }
        if let Some(proxy) = &conn.proxy {
            let proxy = reqwest::Proxy::all(proxy)
                .map_err(|e| bad(format!("proxy `{proxy}` is not usable: {e}")))?;
            builder = builder.proxy(proxy);
        }
        let client = builder
            .build()
            .map_err(|e| bad(format!("cannot set up HTTPS: {e}")))?;
        Ok(Server {
            url,
            client,
            ca_cert: conn.ca_cert.clone(),
            joining: false,
        })
    }

    /// This server is being joined (`syncd init --hub`, `syncd hub set`): a TLS failure's fix
    /// is then to pass `--ca-cert`, not to change an existing vault's settings.
    pub fn joining(mut self) -> Server {
        self.joining = true;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// What a failed request means: a TLS failure explained once with its fix, anything else
    /// with the cause's chain.
    fn failure(&self, e: &reqwest::Error) -> Failure {
        match tls_problem(e) {
            Some(problem) => Failure::Tls(explain(
                &problem,
                &Situation {
                    url: &self.url,
                    ca_cert: self.ca_cert.as_deref(),
                    joining: self.joining,
                },
            )),
            None => Failure::Other(HubError::Unreachable {
                hub: self.url.clone(),
                detail: chain_text(e),
            }),
        }
    }

    fn send(&self, req: RequestBuilder) -> Result<Response, HubError> {
        req.send()
            .map_err(|e| self.failure(&e).into_hub_error(&self.url))
    }

    /// Turn an error answer into the [`HubError`] that says what to do.
    fn error(&self, res: Response) -> HubError {
        let status = res.status();
        let hub = self.url.clone();
        let body: Option<ErrorBody> = res.json().ok();
        let detail = body
            .as_ref()
            .map(|b| format!("{} ({})", b.detail, b.error))
            .unwrap_or_else(|| format!("HTTP {status}"));
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                HubError::Unauthorized { hub, detail }
            }
            StatusCode::CONFLICT if body.as_ref().is_some_and(|b| b.error == "missing") => {
                let ids = body
                    .map(|b| b.ids.iter().filter_map(|i| i.parse().ok()).collect())
                    .unwrap_or_default();
                HubError::Missing { hub, ids }
            }
            StatusCode::UNPROCESSABLE_ENTITY => HubError::Refused { hub, detail },
            StatusCode::SERVICE_UNAVAILABLE => HubError::Locked { hub, lock: detail },
            // Damaged objects by id fail only what needs them (the round asks for the rest);
            // damage the server cannot pin on objects is reported as such.
            _ if body.as_ref().is_some_and(|b| b.error == "damaged") => {
                let ids: Vec<ObjectId> = body
                    .map(|b| b.ids.iter().filter_map(|i| i.parse().ok()).collect())
                    .unwrap_or_default();
                if ids.is_empty() {
                    HubError::Corrupt { hub, detail }
                } else {
                    HubError::Damaged { hub, ids }
                }
            }
            s if s.is_server_error() => HubError::Unreachable { hub, detail },
            // The server understood and said why not (bad name, no such vault, spent setup
            // token); anything else is not a vault-server talking.
            _ if body.is_some() => HubError::Rejected { hub, detail },
            _ => HubError::Protocol { hub, detail },
        }
    }

    fn ok(&self, res: Response) -> Result<Response, HubError> {
        if res.status().is_success() {
            Ok(res)
        } else {
            Err(self.error(res))
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self, res: Response) -> Result<T, HubError> {
        self.ok(res)?.json().map_err(|e| HubError::Protocol {
            hub: self.url.clone(),
            detail: format!("unexpected answer: {e}"),
        })
    }

    /// Exchange a password for this device's token.
    pub fn login(
        &self,
        user: &str,
        password: &str,
        device_name: &str,
    ) -> Result<Credentials, HubError> {
        let body = json!({"user": user, "password": password, "device_name": device_name});
        let res = self.send(
            self.client
                .post(format!("{}/api/v1/login", self.url))
                .json(&body),
        )?;
        self.parse(res)
    }

    /// Create the server's first account with the setup token from its log.
    pub fn setup(
        &self,
        user: &str,
        password: &str,
        device_name: &str,
        setup_token: &str,
    ) -> Result<Credentials, HubError> {
        let body = json!({
            "user": user, "password": password, "device_name": device_name,
            "setup_token": setup_token,
        });
        let res = self.send(
            self.client
                .post(format!("{}/api/v1/setup", self.url))
                .json(&body),
        )?;
        self.parse(res)
    }

    /// Who `token` belongs to; fails with [`HubError::Unauthorized`] for an unknown or
    /// revoked token.
    pub fn whoami(&self, token: &str) -> Result<WhoAmI, HubError> {
        let req = self
            .client
            .get(format!("{}/api/v1/whoami", self.url))
            .bearer_auth(token);
        self.parse(self.send(req)?)
    }

    /// The names of the token's user's vaults.
    pub fn vaults(&self, token: &str) -> Result<Vec<String>, HubError> {
        let req = self
            .client
            .get(format!("{}/api/v1/vaults", self.url))
            .bearer_auth(token);
        let list: VaultList = self.parse(self.send(req)?)?;
        Ok(list.vaults)
    }

    /// The server's clock, from any answer's time header (ns since the Unix epoch).
    pub fn time_ns(&self) -> Result<i64, HubError> {
        self.probe().map_err(|f| f.into_hub_error(&self.url))
    }

    /// [`Server::time_ns`], telling a TLS failure apart (`syncd doctor`'s tls step).
    pub fn probe(&self) -> Result<i64, Failure> {
        let res = self
            .client
            .get(format!("{}/healthz", self.url))
            .send()
            .map_err(|e| self.failure(&e))?;
        let res = self.ok(res).map_err(Failure::Other)?;
        res.headers()
            .get(TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .map(|ms| ms.saturating_mul(1_000_000))
            .ok_or_else(|| {
                Failure::Other(HubError::Protocol {
                    hub: self.url.clone(),
                    detail: format!("no `{TIME_HEADER}` header: is this a vault-server?"),
                })
            })
    }

    /// The vault `vault` of the token's user (no request is made: a round pays only for what
    /// it asks; see [`HttpHub::create`]).
    pub fn vault(&self, vault: &str, token: &str) -> HttpHub {
        HttpHub {
            server: self.clone(),
            base: format!("{}/api/v1/vaults/{vault}", self.url),
            vault: vault.to_string(),
            token: token.to_string(),
        }
    }
}

/// Why a request to the server failed.
#[derive(Debug)]
pub enum Failure {
    /// TLS refused the connection: what happened and the fix that applies.
    Tls(Explanation),
    Other(HubError),
}

impl Failure {
    fn into_hub_error(self, url: &str) -> HubError {
        match self {
            Failure::Tls(explanation) => HubError::Insecure {
                hub: url.to_string(),
                detail: explanation.to_string(),
            },
            Failure::Other(e) => e,
        }
    }
}

/// One vault on a server, used with one device's token.
#[derive(Debug, Clone)]
pub struct HttpHub {
    server: Server,
    base: String,
    vault: String,
    token: String,
}

/// Refuse URLs that are not `https://`, but for `http://` to this machine (a server on
/// loopback, or a tunnel): a password and notes must not cross a network in the clear.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("`{url}` is not a URL ({e}); write it as https://host:port"))?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "`{url}` is plain HTTP to another machine: the password and the notes would cross the network unencrypted. Use https:// (serve with --tls-cert and --tls-key, or behind a TLS reverse proxy)"
        )),
        other => Err(format!(
            "`{url}`: a hub URL starts with https:// (not {other}://)"
        )),
    }
}

/// A server refusing a body above its limit may cut the upload off before its 413 answer can
/// be read; say what the limit is about when an upload of `len` bytes broke off.
fn too_large_hint(e: HubError, len: u64) -> HubError {
    match e {
        HubError::Unreachable { hub, detail } if detail.contains("body") => HubError::Unreachable {
            hub,
            detail: format!(
                "{detail}; the upload was {} MiB: if the server's log shows it refused a body that large, its operator can raise `vault-server serve --max-body-mib` (default 64)",
                len.div_ceil(1 << 20)
            ),
        },
        other => other,
    }
}

fn relogin_hint(e: HubError) -> HubError {
    match e {
        HubError::Unauthorized { hub, detail } => HubError::Unauthorized {
            hub,
            detail: format!(
                "{detail}; if this device was revoked or the account's password changed, log in again with `syncd login --password-stdin`"
            ),
        },
        other => other,
    }
}

fn parse_id(hub: &str, text: &str) -> Result<ObjectId, HubError> {
    text.parse().map_err(|e| HubError::Protocol {
        hub: hub.to_string(),
        detail: format!("bad object id: {e}"),
    })
}

impl HttpHub {
    /// The vault's name on the server.
    pub fn vault_name(&self) -> &str {
        &self.vault
    }

    /// Create the vault on the server if it does not exist yet (at `init`). Says whether
    /// this call created it, and the vault's head.
    pub fn create(&self) -> Result<(bool, Option<ObjectId>), HubError> {
        let res = self.send(self.server.client.put(self.base.clone()))?;
        let created = res.status() == StatusCode::CREATED;
        let body: HeadBody = self.parse(res)?;
        Ok((created, self.id_of(body.head)?))
    }

    fn send(&self, req: RequestBuilder) -> Result<Response, HubError> {
        self.server.send(req.bearer_auth(&self.token))
    }

    /// [`Server::ok`], telling a device whose token is refused how to get a new one.
    fn ok(&self, res: Response) -> Result<Response, HubError> {
        self.server.ok(res).map_err(relogin_hint)
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self, res: Response) -> Result<T, HubError> {
        self.server.parse(res).map_err(relogin_hint)
    }

    fn id_of(&self, text: Option<String>) -> Result<Option<ObjectId>, HubError> {
        text.map(|t| parse_id(&self.server.url, &t)).transpose()
    }

    fn tree(&self, full: bool) -> Result<Option<ObjectId>, HubError> {
        let url = format!("{}/tree{}", self.base, if full { "?full=true" } else { "" });
        let body: TreeBody = self.parse(self.send(self.server.client.get(url))?)?;
        self.id_of(body.tree)
    }

    /// Wait (up to `wait`) until the head differs from `since`; the head then.
    pub fn wait_for_change(
        &self,
        since: Option<ObjectId>,
        wait: Duration,
    ) -> Result<Option<ObjectId>, HubError> {
        let mut url = format!("{}/changes?wait={}", self.base, wait.as_secs());
        if let Some(s) = since {
            url.push_str(&format!("&since={}", s.to_hex()));
        }
        let req = self
            .server
            .client
            .get(url)
            .timeout(wait + Duration::from_secs(30));
        let body: HeadBody = self.parse(self.send(req)?)?;
        self.id_of(body.head)
    }
}

impl Hub for HttpHub {
    fn describe(&self) -> String {
        self.base.replace("/api/v1/vaults/", "/vault/")
    }

    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        let res = self.send(self.server.client.get(format!("{}/head", self.base)))?;
        let body: HeadBody = self.parse(res)?;
        self.id_of(body.head)
    }

    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let ids: Vec<String> = chunk.iter().map(ObjectId::to_hex).collect();
            let req = self
                .server
                .client
                .post(format!("{}/missing", self.base))
                .json(&json!({ "ids": ids }));
            let body: MissingBody = self.parse(self.send(req)?)?;
            for id in body.missing {
                out.push(parse_id(&self.server.url, &id)?);
            }
        }
        Ok(out)
    }

    fn put(&self, objects: &[Object]) -> Result<(), HubError> {
        if objects.is_empty() {
            return Ok(());
        }
        // The body is written into a pipe by a thread that borrows the objects, so the
        // upload never holds a second copy of them (a 50 MiB attachment stays 50 MiB).
        let (reader, writer) = std::io::pipe().map_err(|e| HubError::Unreachable {
            hub: self.server.url.clone(),
            detail: format!("cannot make a pipe for the upload: {e}"),
        })?;
        let len = vault::wire::encoded_len(objects);
        let body = reqwest::blocking::Body::sized(reader, len);
        let req = self
            .server
            .client
            .post(format!("{}/objects", self.base))
            .header(reqwest::header::CONTENT_TYPE, vault::wire::CONTENT_TYPE)
            .body(body);
        std::thread::scope(|scope| {
            // A failed write means the request ended early (refused, cut off): its own error
            // says why, so the writer's is not needed.
            scope.spawn(move || vault::wire::encode_to(writer, objects));
            let res = self.send(req).map_err(|e| too_large_hint(e, len))?;
            self.ok(res)?;
            Ok(())
        })
    }

    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let hex: Vec<String> = ids.iter().map(ObjectId::to_hex).collect();
        let req = self
            .server
            .client
            .post(format!("{}/objects/fetch", self.base))
            .json(&json!({ "ids": hex }));
        let res = self.ok(self.send(req)?)?;
        let objects = vault::wire::decode_from(res).map_err(|e| {
            let hub = self.server.url.clone();
            let detail = e.to_string();
            if e.is_transient() {
                HubError::Unreachable { hub, detail }
            } else {
                HubError::Protocol { hub, detail }
            }
        })?;
        if objects.len() != ids.len() {
            return Err(HubError::Protocol {
                hub: self.server.url.clone(),
                detail: format!("asked for {} objects, got {}", ids.len(), objects.len()),
            });
        }
        Ok(objects)
    }

    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError> {
        let body = json!({ "old": old.map(|o| o.to_hex()), "new": new.to_hex() });
        let req = self
            .server
            .client
            .post(format!("{}/head", self.base))
            .json(&body);
        let answer: CasAnswer = self.parse(self.send(req)?)?;
        if answer.updated {
            return Ok(CasOutcome::Updated);
        }
        Ok(CasOutcome::Conflict {
            actual: self.id_of(answer.head)?,
        })
    }

    fn tree_hash(&self) -> Result<Option<ObjectId>, HubError> {
        self.tree(false)
    }

    fn verify_tree(&self) -> Result<Option<ObjectId>, HubError> {
        self.tree(true)
    }

    fn time_ns(&self) -> Result<i64, HubError> {
        self.server.time_ns()
    }
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn plain_http_is_refused_beyond_this_machine() {
        for ok in [
            "https://hub.example:7878",
            "https://10.0.0.5",
            "http://127.0.0.1:7878",
            "http://localhost:7878",
            "http://[::1]:7878",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://hub.example:7878",
            "http://10.0.0.5:7878",
            "ftp://127.0.0.1",
            "hub.example:7878",
            "https://",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
