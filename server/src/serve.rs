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
    let state = AppState::new(accounts, opts.data.clone(), opts.limits.clone())?;
    if let Some(token) = state.setup_token() {
        tracing::warn!(
            "no accounts yet: the first one can be created with the one-time setup token {token} (syncd init --hub URL --user NAME --password-stdin --setup-token {token}), or with `vault-server user add`"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(opts, state))
}

async fn run(opts: ServeOptions, state: Arc<AppState>) -> Result<()> {
    let app = api::router(state.clone());
    let handle = Handle::new();
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    {
        let handle = handle.clone();
        let insecure = opts.insecure_http && !opts.listen.ip().is_loopback() && opts.tls.is_none();
        tokio::spawn(async move {
            if let Some(addr) = handle.listening().await {
                // Tests and scripts read this line to learn the port of `--listen HOST:0`.
                tracing::info!("listening on {scheme}://{addr}");
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
            axum_server::bind(opts.listen)
                .acceptor(acceptor)
                .handle(handle)
                .serve(service)
                .await
        }
        None => {
            axum_server::bind(opts.listen)
                .handle(handle)
                .serve(service)
                .await
        }
    }
    .with_context(|| format!("serving on {}", opts.listen))?;
    tracing::info!("stopped");
    Ok(())
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
