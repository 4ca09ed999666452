//! `vault-server`: the hub server (the hub protocol over HTTPS, accounts, web view). Not built
//! yet: today the binary only answers `--help` and `--version`, and says so when run.

use std::process::ExitCode;

use clap::Parser;

/// Vault Sync hub server: serves vaults' hubs over HTTPS, with accounts and a web view.
///
/// The server arrives in a later release. Until then, sync devices through a folder hub:
/// `syncd init --hub DIR` with DIR on a drive or share every device can reach.
#[derive(Debug, Parser)]
#[command(name = "vault-server", version)]
struct Cli {}

/// Run `vault-server` with the process's arguments.
pub fn main() -> ExitCode {
    if let Err(e) = Cli::try_parse() {
        let _ = e.print();
        return if e.use_stderr() {
            ExitCode::from(64)
        } else {
            ExitCode::SUCCESS
        };
    }
    eprintln!(
        "vault-server: the hub server arrives in a later release; nothing was started. Sync through a folder hub for now (`syncd init --hub DIR`)."
    );
    ExitCode::FAILURE
}
