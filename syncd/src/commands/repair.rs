//! `syncd init --repair`: a vault whose `.vault/config.toml` was lost (or cannot be read) while
//! the rest of `.vault/` remains gets its config back for the hub it synced with, keeping base
//! when that hub holds it, so the next round is an ordinary one and nothing is re-created.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use vault::Hub;
use vault::ObjectId;
use vault::folder_hub::FolderHub;
use vault::local::{LocalError, LocalVault};

use super::init::{default_hub, device_name, hub_folder};
use super::{current_dir, is_url, server_hub};
use crate::cli::InitArgs;
use crate::exit;
use crate::output::{self, line};

pub fn run(args: InitArgs) -> Result<u8> {
    let start = match &args.vault {
        Some(dir) => dir.clone(),
        None => current_dir()?,
    };
    let root = damaged_root(&start)?;
    let device = device_name(args.device.clone())?;
    let base = LocalVault::base_of(&root)?;
    let hub_arg = args
        .hub
        .as_deref()
        .map(|h| h.to_string_lossy().into_owned());
    let mut out = String::new();
    let vault = match hub_arg.filter(|h| is_url(h)) {
        Some(url) => {
            let joined = server_hub::join(&root, &url, &device, &args.server)?;
            let keep = holds(&joined.hub, base, &url)?;
            let vault = LocalVault::repair(
                &root,
                &url,
                &device,
                Some((joined.config.clone(), &joined.creds.token)),
                !keep,
            )?;
            joined.tell();
            tell_base(&mut out, base, keep, &url);
            vault
        }
        None if args.server.any() => bail!(
            "{}; pass its URL with --hub https://host:port",
            super::SERVER_ONLY_OPTIONS
        ),
        None => {
            let (path, hub) = folder_hub(&root, args.hub.as_deref(), base)?;
            let text = path
                .to_str()
                .with_context(|| format!("the hub path `{}` is not valid UTF-8", path.display()))?;
            let keep = holds(&hub, base, text)?;
            let vault = LocalVault::repair(&root, text, &device, None, !keep)?;
            tell_base(&mut out, base, keep, text);
            vault
        }
    };
    let config = vault.config();
    let mut head = String::new();
    line!(
        head,
        "repaired vault `{}`: wrote `.vault/config.toml` again",
        vault.root().display()
    );
    line!(
        head,
        "  device: {} (new id {})",
        config.device_name,
        config.device_id
    );
    if let Some(on_server) = config.server_device() {
        line!(head, "          on the server: {on_server}");
    }
    line!(head, "  hub:    `{}`", config.hub);
    line!(out, "Run `syncd sync` in the vault to sync it.");
    output::emit(&(head + &out))?;
    Ok(exit::OK)
}

/// The damaged vault at or above `start`; a vault that is fine or no vault at all is refused.
fn damaged_root(start: &Path) -> Result<PathBuf> {
    let root = match LocalVault::discover(start) {
        Ok(root) => root,
        Err(LocalError::NotAVault { folder, below }) if below.is_empty() => bail!(
            "`{}` is not a vault (no `.vault/` with this device's state in it or above); nothing to repair. Make it one with `syncd init`",
            folder.display()
        ),
        Err(e) => return Err(e.into()),
    };
    match LocalVault::open(&root) {
        Ok(_) => Err(LocalError::NothingToRepair(root).into()),
        Err(LocalError::LostConfig { .. } | LocalError::BadConfig { .. }) => Ok(root),
        Err(e) => Err(e.into()),
    }
}

/// The hub folder to write into the config: `--hub` (which must exist: a repair never makes a
/// new hub), or the default hub, only when it exists and holds this device's base (evidence
/// that it is the one this device synced with; anything else would be a guess).
fn folder_hub(
    root: &Path,
    hub: Option<&Path>,
    base: Option<ObjectId>,
) -> Result<(PathBuf, FolderHub)> {
    let path = hub_folder(root, hub)?;
    let exists = path.join("vault-hub.json").is_file();
    match hub {
        Some(_) if !exists => bail!(
            "`{}` is not a hub folder (no `vault-hub.json`); a repair joins the hub this device synced with and never makes a new one. Check the path (a drive that is not mounted?)",
            path.display()
        ),
        Some(_) => {}
        None => {
            let default = default_hub(root)?;
            let usable = exists
                && base.is_some_and(|b| {
                    FolderHub::open(&path)
                        .and_then(|h| h.missing(&[b]))
                        .is_ok_and(|m| m.is_empty())
                });
            if !usable {
                bail!(
                    "name the hub this vault synced with: `syncd init --repair --hub DIR|URL`. The default hub `{}` {}, so it is not taken without being named",
                    default.display(),
                    if exists {
                        "does not hold this device's last snapshot"
                    } else {
                        "does not exist"
                    }
                );
            }
            eprintln!(
                "using the default hub `{}`: it holds this device's last snapshot",
                path.display()
            );
        }
    }
    let opened = FolderHub::open(&path)
        .with_context(|| format!("cannot use `{}` as the hub", path.display()))?;
    Ok((path, opened))
}

/// Whether the hub holds `base` (then it is kept); no base is nothing to keep.
fn holds(hub: &dyn Hub, base: Option<ObjectId>, name: &str) -> Result<bool> {
    let Some(base) = base else {
        return Ok(false);
    };
    let missing = hub
        .missing(&[base])
        .with_context(|| format!("cannot ask the hub `{name}` for this device's last snapshot"))?;
    Ok(missing.is_empty())
}

fn tell_base(out: &mut String, base: Option<ObjectId>, kept: bool, hub: &str) {
    match base {
        Some(b) if kept => line!(
            out,
            "  base:   kept (snapshot {}, which the hub holds): the next sync is an ordinary one",
            b.short()
        ),
        Some(b) => line!(
            out,
            "  base:   forgotten: the hub `{hub}` does not hold this device's last snapshot {}, so the next sync merges as a new device (every difference kept as a conflict, nothing deleted)",
            b.short()
        ),
        None => line!(
            out,
            "  base:   none (this device never finished a sync): the next sync merges as a new device"
        ),
    }
}
