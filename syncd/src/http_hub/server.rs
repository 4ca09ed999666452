//! A client of one `vault-server` before choosing a vault: logins, the first account's setup,
//! whoami, the vault list and the server's clock; building the HTTPS client (trusted CA,
//! skipping verification, proxy), refusing plain HTTP beyond this machine, and explaining a
//! failed request (a TLS failure with its fix, anything else with its cause's chain).

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::json;
use vault::hub::HubError;
use vault::id::ObjectId;
use vault::local::ServerConfig;

use super::HttpHub;
use crate::tls_explain::{Explanation, Problem, Situation, classify, explain};
use crate::tls_verify;

/// Response header with the server's clock (ms since the Unix epoch).
const TIME_HEADER: &str = "vault-time-ms";

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

/// A client of one server, before choosing a vault (logins happen here).
#[derive(Debug, Clone)]
pub struct Server {
    pub(super) url: String,
    pub(super) client: Client,
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

    pub(super) fn send(&self, req: RequestBuilder) -> Result<Response, HubError> {
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

    pub(super) fn ok(&self, res: Response) -> Result<Response, HubError> {
        if res.status().is_success() {
            Ok(res)
        } else {
            Err(self.error(res))
        }
    }

    pub(super) fn parse<T: for<'de> Deserialize<'de>>(&self, res: Response) -> Result<T, HubError> {
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
