//! `syncd watch`: the agent in the foreground (terminals, service managers).

use anyhow::{Context, Result};

use super::{is_url, open_hub, open_vault, server_hub};
use crate::agent::{self, AgentOptions, remote::RemoteSource};
use crate::cli::WatchArgs;
use crate::exit;

pub fn run(args: WatchArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let hub = open_hub(&vault)?;
    let source = if is_url(&vault.config().hub) {
        RemoteSource::Server(server_hub::open(&vault)?)
    } else {
        RemoteSource::Folder(vault.root().join(&vault.config().hub))
    };
    agent::run(&vault, hub.as_ref(), source, &AgentOptions::default())
        .with_context(|| format!("the agent for `{}` stopped", vault.root().display()))?;
    Ok(exit::OK)
}
