//! What `syncd hub set` prints, and `syncd hub show`.

use std::path::Path;

use anyhow::Result;
use vault::local::ServerConfig;

use super::{Case, Moved};
use crate::cli::HubShowArgs;
use crate::commands::{is_url, open_vault};
use crate::exit;
use crate::output::{self, line};

pub(super) fn summary(m: &Moved) -> String {
    let mut out = String::new();
    if m.case == Case::Settings {
        line!(
            out,
            "`{}` still syncs with `{}`: its connection settings were changed",
            m.vault.display(),
            m.to
        );
        line!(out, "  next sync: {}", m.next_sync);
        return out;
    }
    line!(out, "`{}` now syncs with `{}`", m.vault.display(), m.to);
    line!(out, "  from:      `{}` (left as it was)", m.from);
    let c = &m.copied;
    let history = match m.case {
        Case::NoHistory => "not copied (--no-history)".to_string(),
        Case::NothingToCopy => "none: the old hub held no snapshot".to_string(),
        _ if c.objects == 0 => "nothing to copy: the new hub already held it".to_string(),
        _ => format!(
            "{} copied ({}, {}){}",
            output::count(c.snapshots, "snapshot", "snapshots"),
            output::count(c.objects, "object", "objects"),
            crate::progress::bytes(c.bytes),
            if c.from_this_device > 0 {
                format!(
                    "; {} the old hub could not give came from this device",
                    output::count(c.from_this_device, "object", "objects")
                )
            } else {
                String::new()
            }
        ),
    };
    line!(out, "  history:   {history}");
    let state = match m.case {
        Case::Empty => "it was empty: this vault's history is now its history",
        Case::Contains => "it already held this history (another device moved first)",
        Case::Behind => "its history was part of this one: moved forward to it",
        Case::Graft => "it holds another history: the next sync joins the two",
        _ => "",
    };
    if !state.is_empty() {
        line!(out, "  new hub:   {state}");
    }
    line!(out, "  next sync: {}", m.next_sync);
    line!(out, "Run `syncd sync` in the vault to sync it.");
    out
}

pub(super) fn show(args: HubShowArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let config = vault.config();
    #[derive(serde::Serialize)]
    struct Shown<'a> {
        vault: &'a Path,
        hub: &'a str,
        kind: &'static str,
        server: Option<&'a ServerConfig>,
        token: bool,
        base: Option<String>,
        graft: Option<String>,
    }
    let shown = Shown {
        vault: vault.root(),
        hub: &config.hub,
        kind: if is_url(&config.hub) {
            "server"
        } else {
            "folder"
        },
        server: config.server.as_ref(),
        token: vault.token()?.is_some(),
        base: vault.base()?.map(|b| b.to_string()),
        graft: vault.graft()?.map(|g| g.to_string()),
    };
    if args.json {
        output::json(&shown)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    line!(out, "vault:    `{}`", vault.root().display());
    line!(out, "hub:      `{}` ({})", config.hub, shown.kind);
    if let Some(s) = &config.server {
        line!(out, "user:     {}", s.user);
        line!(out, "vault on the server: {}", s.vault);
        line!(
            out,
            "ca_cert:  {}",
            s.ca_cert
                .as_ref()
                .map_or("none (the system's roots)".to_string(), |p| format!(
                    "`{}`",
                    p.display()
                ))
        );
        line!(
            out,
            "proxy:    {}",
            s.proxy
                .as_deref()
                .unwrap_or("none (the system's proxy variables)")
        );
        if s.insecure_skip_verify {
            line!(
                out,
                "insecure_skip_verify: ON (certificate checks off; `syncd hub set {} --ca-cert FILE` turns them back on)",
                config.hub
            );
        }
        line!(
            out,
            "token:    {}",
            if shown.token {
                "present (`.vault/token`)"
            } else {
                "missing: `syncd login --password-stdin`"
            }
        );
    }
    line!(
        out,
        "base:     {}",
        shown
            .base
            .as_deref()
            .map_or("none (never synced)", |b| &b[..12])
    );
    if let Some(g) = &shown.graft {
        line!(
            out,
            "graft:    {} (the next sync joins this history to the hub's)",
            &g[..12]
        );
    }
    line!(
        out,
        "Move the vault to another hub with `syncd hub set URL|DIR` (see `syncd hub set --help`)."
    );
    output::emit(&out)?;
    Ok(exit::OK)
}
