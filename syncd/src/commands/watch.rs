//! `syncd watch`: the agent in the foreground (terminals, service managers); `sync-now`,
//! `pause` and `resume`, which talk to it; and the agent's lines in `syncd status`.

use anyhow::{Context, Result};

use super::{is_url, open_hub, open_vault, server_hub};
use vault::local::LocalVault;

use crate::agent::control::{self, AgentStatus, ControlError, Request, State};
use crate::agent::{self, AgentOptions, remote::RemoteSource};
use crate::cli::{AgentArgs, WatchArgs};
use crate::exit;
use crate::output::{self, line, local_time};

pub fn run(args: WatchArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let hub = open_hub(&vault)?;
    if args.tray {
        super::tray::beside_agent(&vault)?;
    }
    let source = if is_url(&vault.config().hub) {
        RemoteSource::Server(server_hub::open(&vault)?)
    } else {
        RemoteSource::Folder(vault.root().join(&vault.config().hub))
    };
    let mut opts = AgentOptions::default();
    opts.sync.progress = Some(crate::progress::for_agent());
    agent::run(&vault, hub.as_ref(), source, &opts)
        .with_context(|| format!("the agent for `{}` stopped", vault.root().display()))?;
    Ok(exit::OK)
}

/// `syncd sync-now`, `pause`, `resume`.
pub fn command(args: AgentArgs, request: Request) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let status = control::ask(&vault.state_dir(), request)?;
    if args.json {
        output::json(&status)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    match request {
        Request::SyncNow => line!(out, "the agent will sync now"),
        Request::Pause => line!(
            out,
            "paused: changes are noticed but not synced until `syncd resume`"
        ),
        Request::Resume => line!(out, "resumed: the agent syncs what changed meanwhile"),
        Request::Status => {}
    }
    agent_lines(&mut out, Some(&status));
    output::emit(&out)?;
    Ok(exit::OK)
}

/// The running agent's status, or `None` when no agent runs for `vault`.
pub fn agent_status(vault: &LocalVault) -> Result<Option<AgentStatus>> {
    match control::ask(&vault.state_dir(), Request::Status) {
        Ok(status) => Ok(Some(status)),
        Err(ControlError::NotRunning(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The `agent:` lines of `syncd status`.
pub fn agent_lines(out: &mut String, status: Option<&AgentStatus>) {
    let Some(s) = status else {
        line!(out, "agent:   not running (`syncd watch` starts it)");
        return;
    };
    let state = match s.state {
        State::Idle => "idle",
        State::Syncing => "syncing",
        State::Offline => "offline (retrying)",
        State::Error => "error",
        State::Paused => "paused (`syncd resume` to sync again)",
    };
    line!(
        out,
        "agent:   {state} since {} (pid {})",
        local_time(s.state_since_ns),
        s.pid
    );
    match s.last_sync_ns {
        Some(t) => line!(
            out,
            "         last round {}, {} rounds and {} conflicts since it started{}",
            local_time(t),
            s.rounds,
            s.conflicts,
            if s.pending { "; changes waiting" } else { "" }
        ),
        None => line!(out, "         no successful round yet"),
    }
    if let Some(e) = &s.last_error {
        line!(out, "         last error: {e}");
    }
}
