//! `vault-server serve`: the HTTP(S) service, its listening rules and its lifecycle.
//!
//! Plain HTTP only on a loopback address: anywhere else a password or token would cross the
//! network in clear, so TLS (rustls, PEM files) is required unless the operator says
//! `--insecure-http` (a reverse proxy that ends TLS in front of it), which is logged as a
//! warning at start and every hour. SIGTERM and ctrl-c stop accepting connections and let
//! requests in flight finish (up to 30 s) before the process exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

use crate::accounts::AccountStore;
use crate::api::{self, AppState, Limits};

/// How long requests in flight may take to finish once a shutdown was asked for.
const GRACE: Duration = Duration::from_secs(30);

/// What `serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub insecure_http: bool,
    pub limits: Limits,
}

/// Refuse plain HTTP on a non-loopback address unless explicitly allowed.
pub fn check_listen(listen: SocketAddr, tls: bool, insecure_http: bool) -> Result<()> {
    if tls || listen.ip().is_loopback() || insecure_http {
        return Ok(());
    }
    bail!(
        "refusing to serve plain HTTP on {listen}, which is not a loopback address: passwords and tokens would cross the network in clear. Give --tls-cert CERT.pem --tls-key KEY.pem, or, behind a reverse proxy that ends TLS, --insecure-http"
    )
}

/// Run the service until SIGTERM or ctrl-c.
pub fn serve(opts: ServeOptions) -> Result<()> {
    check_listen(opts.listen, opts.tls.is_some(), opts.insecure_http)?;
    let accounts = AccountStore::open(&opts.data)?;
    // The port first: a setup token is logged only by a server that can be reached with it.
    let listener = bind(opts.listen)?;
    let state = AppState::new(accounts, opts.data.clone(), opts.limits.clone())?;
    limit_malloc_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(opts, listener, state))
}

/// At most a few malloc arenas: glibc gives each busy thread (the blocking pool's, the web
/// view's parsing on every core) an arena of its own, and memory freed in them stays there; an
/// idle server with a 20,000-note vault kept ~70 MiB more without this.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Count a request (for [`trim_when_quiet`]).
async fn count_request(
    axum::extract::State(activity): axum::extract::State<Arc<std::sync::atomic::AtomicU64>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    activity.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    next.run(req).await
}

/// Give the heap's free memory back to the system once requests have stopped for a couple of
/// seconds: a large upload or a first read of a vault leaves freed memory in the allocator,
/// which an idle server would otherwise keep. Nothing happens while idle.
async fn trim_when_quiet(activity: Arc<std::sync::atomic::AtomicU64>) {
    let mut trimmed_at = 0;
    let mut seen = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = activity.load(std::sync::atomic::Ordering::Relaxed);
        // Quiet for a whole interval after some activity since the last trim.
        if now == seen && now != trimmed_at {
            let _ = tokio::task::spawn_blocking(vault_web::give_back_memory).await;
            trimmed_at = now;
        }
        seen = now;
    }
}

/// Listen on `addr`, or say what holds it and what to do.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "{addr} is already in use (another vault-server, or another program, listens there); stop it, or choose another address with --listen"
            ),
            std::io::ErrorKind::AddrNotAvailable => format!(
                "{addr} is not an address of this machine; choose one of its addresses (or 0.0.0.0) with --listen"
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "this user may not listen on {addr} (ports below 1024 need privileges); choose a port of 1024 or above with --listen"
            ),
            _ => format!("cannot listen on {addr}; choose another address with --listen"),
        };
        anyhow::Error::new(e).context(why)
    })
}

/// The log line that hands out the setup token: how the first account is made, and how a
/// vault that already exists on a device then moves to this server.
fn setup_token_message(token: &str) -> String {
    format!(
        "no accounts yet: create the first one with the one-time setup token {token} (from a new folder: `syncd init --hub URL --user NAME --password-stdin --setup-token {token}`), or on this machine with `vault-server user add NAME --data DIR --password-stdin`. A vault a device already has moves to this server, its history along, with `syncd hub set URL --user NAME --password-stdin` (add `--setup-token {token}` to create the first account that way)"
    )
}

async fn run(
    opts: ServeOptions,
    listener: std::net::TcpListener,
    state: Arc<AppState>,
) -> Result<()> {
    let web = vault_web::Web::new(
        Arc::new(crate::web_backend::ServerBackend {
            state: state.clone(),
        }),
        vault_web::WebConfig {
            folder: opts.data.join("web"),
            // Behind a reverse proxy that ends TLS the browser is on HTTPS too.
            tls: opts.tls.is_some() || (opts.insecure_http && !opts.listen.ip().is_loopback()),
        },
    );
    let activity = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let app = vault_web::router(web)
        .merge(api::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            activity.clone(),
            count_request,
        ));
    tokio::spawn(trim_when_quiet(activity));
    if state.vaults().git_mirror() {
        tokio::task::spawn_blocking({
            let state = state.clone();
            move || catch_up_mirrors(&state)
        });
    }
    let handle = Handle::new();
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    {
        let handle = handle.clone();
        let insecure = opts.insecure_http && !opts.listen.ip().is_loopback() && opts.tls.is_none();
        let setup = state.setup_token();
        tokio::spawn(async move {
            if let Some(addr) = handle.listening().await {
                // Tests and scripts read this line to learn the port of `--listen HOST:0`.
                tracing::info!("listening on {scheme}://{addr}");
                if let Some(token) = setup {
                    tracing::warn!("{}", setup_token_message(&token));
                }
            }
            if insecure {
                loop {
                    tracing::warn!(
                        "serving plain HTTP on a non-loopback address (--insecure-http): only safe behind a reverse proxy that ends TLS"
                    );
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            }
        });
    }
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing requests in flight (up to {GRACE:?})");
            state.stop();
            handle.graceful_shutdown(Some(GRACE));
        });
    }
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    match &opts.tls {
        Some((cert, key)) => {
            let config = RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "loading the TLS certificate `{}` and key `{}` (PEM files)",
                        cert.display(),
                        key.display()
                    )
                })?;
            crate::tls_check::warn_about_certificate(cert);
            let acceptor = crate::tls_check::LoggedHandshakes {
                inner: RustlsAcceptor::new(config),
            };
            axum_server::from_tcp(listener)?
                .acceptor(acceptor)
                .handle(handle)
                .serve(service)
                .await
        }
        None => {
            axum_server::from_tcp(listener)?
                .handle(handle)
                .serve(service)
                .await
        }
    }
    .with_context(|| format!("serving on {}", opts.listen))?;
    tracing::info!("stopped");
    Ok(())
}

/// At start with `--git-mirror`: every vault's mirror brought up to date (made, for a vault
/// that has none yet), one vault after the other, while the server already answers.
fn catch_up_mirrors(state: &AppState) {
    for (user, vault) in crate::git_mirror::all_vaults(state.data()) {
        let open = match state.vaults().get(state.data(), &user, &vault) {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(%user, %vault, "git mirror: the vault cannot be opened: {e:?}");
                continue;
            }
        };
        if let Some(mirror) = open.mirror()
            && let Err(e) = mirror.update(open.hub())
        {
            tracing::warn!(%user, %vault, "could not update the git mirror: {e}");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_unless_told() {
        let lo: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        let lo6: SocketAddr = "[::1]:7878".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:7878".parse().unwrap();
        let lan: SocketAddr = "192.168.1.5:7878".parse().unwrap();
        assert!(check_listen(lo, false, false).is_ok());
        assert!(check_listen(lo6, false, false).is_ok());
        for addr in [any, lan] {
            let err = check_listen(addr, false, false).unwrap_err().to_string();
            assert!(
                err.contains("--tls-cert") && err.contains("--insecure-http"),
                "{err}"
            );
            assert!(check_listen(addr, true, false).is_ok());
            assert!(check_listen(addr, false, true).is_ok());
        }
    }
}
