//! `vault-server`: the hub server (the hub protocol over HTTPS, accounts).
//!
//! The account store ([`accounts`]), the operator's commands on it (`user`, `device`), and
//! the service ([`serve`], [`api`]) with logins, the first account's setup and the hub
//! protocol on each user's vaults ([`hub_api`]) and the web view (the `vault-web` crate, given
//! the accounts and vaults by `web_backend`); `syncd` syncs through it
//! (`syncd/src/http_hub/`).

pub mod accounts;
pub mod api;
mod cert;
mod cli;
mod extract;
mod fsck;
mod gc;
mod git_http;
pub mod git_mirror;
pub mod hub_api;
mod objects_body;
mod retention;
pub mod serve;
mod tls_check;
pub mod uploads;
mod web_backend;

use std::process::ExitCode;

/// Run `vault-server` with the process's arguments.
pub fn main() -> ExitCode {
    cli::main()
}
