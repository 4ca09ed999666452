//! `vault-server`: the hub server (the hub protocol over HTTPS, accounts, web view).
//!
//! Built in steps; what exists today is the account store ([`accounts`]) and the operator's
//! commands on it (`user`, `device`). The HTTPS service (`serve`) comes next: until then,
//! devices sync through a folder hub.

pub mod accounts;
mod cli;

use std::process::ExitCode;

/// Run `vault-server` with the process's arguments.
pub fn main() -> ExitCode {
    cli::main()
}
