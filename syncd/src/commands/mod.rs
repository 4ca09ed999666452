//! One module per command family; this one holds what they share: finding the vault, opening
//! its hub, and turning a path from the command line into a vault path.

mod at;
mod doctor;
mod fsck;
mod history;
mod hub;
mod init;
mod repair;
mod revisions;
mod server_hub;
mod service;
mod sync;
mod tasks;
mod tray;
mod watch;

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use vault::Hub;
use vault::folder_hub::FolderHub;
use vault::local::LocalVault;
use vault::paths::VaultPath;

pub use at::parse_at;

use crate::agent;
use crate::cli::{Cli, Command, VaultOpt};

/// Run the parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Status(args) => sync::status(args),
        Command::Verify(args) => sync::verify(args),
        Command::Fsck(args) => fsck::run(args),
        Command::Log(args) => history::run(args),
        Command::Show(args) => history::show(args),
        Command::History(args) => match args.action {
            crate::cli::HistoryAction::Export(export) => history::export(&args.vault.opt(), export),
        },
        Command::Revisions(args) => revisions::run(args),
        Command::Restore(args) => revisions::restore(args),
        Command::Login(args) => server_hub::login(args),
        Command::Hub(args) => hub::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Service(args) => service::run(args),
        Command::Watch(args) => watch::run(args),
        Command::SyncNow(args) => watch::command(args, agent::control::Request::SyncNow),
        Command::Pause(args) => watch::command(args, agent::control::Request::Pause),
        Command::Resume(args) => watch::command(args, agent::control::Request::Resume),
        Command::Tray(args) => tray::run(args),
        Command::Tasks(args) => tasks::list(args),
        Command::Task(args) => tasks::change(args),
    }
}

/// `name (id ID; on the server: ID)`: both ids a device goes by, the second being the one
/// `vault-server device list` shows and `device revoke` takes (when the config knows it).
fn device_text(config: &vault::local::VaultConfig) -> String {
    match config.server_device() {
        Some(on_server) => format!(
            "{} (id {}; on the server: {on_server})",
            config.device_name, config.device_id
        ),
        None => format!("{} (id {})", config.device_name, config.device_id),
    }
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir().context(
        "cannot read the current folder (was it deleted?); cd into the vault, or pass --vault DIR",
    )
}

/// The vault `--vault` names, or the one containing the current folder.
fn open_vault(opt: &VaultOpt) -> Result<LocalVault> {
    let start = match &opt.vault {
        Some(dir) => dir.clone(),
        None => current_dir()?,
    };
    let root = LocalVault::discover(&start)?;
    Ok(LocalVault::open(&root)?)
}

/// The hub named in the vault's config: a server, or a folder.
fn open_hub(vault: &LocalVault) -> Result<Box<dyn Hub>> {
    if is_url(&vault.config().hub) {
        Ok(Box::new(server_hub::open(vault)?))
    } else {
        Ok(Box::new(open_folder_hub(vault)?))
    }
}

/// A folder that has gone missing is an error rather than a new empty hub: an unmounted
/// drive must not look like a hub whose notes were deleted.
fn open_folder_hub(vault: &LocalVault) -> Result<FolderHub> {
    let hub = &vault.config().hub;
    let path = vault.root().join(hub);
    if !path.is_dir() {
        bail!(
            "the hub folder `{}` does not exist; if it is on a drive or share that is not mounted, mount it. If it moved, point the vault at it: `syncd hub set HUB_DIR --vault {}`. If it is lost for good, start a new one from this device: `syncd hub set NEW_HUB_DIR --no-history --vault {}` (the next sync merges this folder into it, nothing deleted)",
            path.display(),
            vault.root().display(),
            vault.root().display()
        );
    }
    Ok(FolderHub::open(&path)?)
}

/// Where the vault's config is, for messages that ask the user to edit it.
fn config_path(vault: &LocalVault) -> PathBuf {
    vault.state_dir().join(vault::local::CONFIG_FILE)
}

/// The options only a server hub takes, for the error when they come with a folder hub.
const SERVER_ONLY_OPTIONS: &str = "--user, --password-stdin, --setup-token, --vault-name, --ca-cert, --insecure-skip-verify and --proxy are for a server hub";

fn is_url(hub: &str) -> bool {
    hub.starts_with("http://") || hub.starts_with("https://")
}

/// `` `<vault>` with the hub `<hub>` ``, for error context.
fn vault_and_hub(vault: &LocalVault) -> String {
    format!(
        "`{}` with the hub `{}`",
        vault.root().display(),
        vault.config().hub
    )
}

/// [`vault_path`] of an optional argument.
fn optional_vault_path(vault: &LocalVault, arg: Option<&Path>) -> Result<Option<VaultPath>> {
    arg.map(|p| vault_path(vault, p)).transpose()
}

/// A file named on the command line, as a path in `vault`: an existing file relative to the
/// current folder or to the vault folder (or absolute), else a path relative to the vault
/// folder (so deleted files can be named as `syncd status` and `syncd log` print them).
fn vault_path(vault: &LocalVault, arg: &Path) -> Result<VaultPath> {
    let root = vault.root();
    let candidates = if arg.is_absolute() {
        vec![arg.to_path_buf()]
    } else {
        vec![current_dir()?.join(arg), root.join(arg)]
    };
    for candidate in &candidates {
        if std::fs::symlink_metadata(candidate).is_ok()
            && let Some(rel) = inside(root, candidate)
        {
            return to_vault_path(arg, &rel, root);
        }
    }
    let rel: PathBuf = if arg.is_absolute() {
        match arg.strip_prefix(root) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) => bail!(
                "`{}` is outside the vault `{}`; name a file inside it",
                arg.display(),
                root.display()
            ),
        }
    } else {
        arg.components()
            .filter(|c| *c != Component::CurDir)
            .collect()
    };
    to_vault_path(arg, &rel, root)
}

/// `path` relative to `root`, resolving symlinks in its folders (not in its last name).
fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let parent = path.parent()?.canonicalize().ok()?;
    let real = parent.join(path.file_name()?);
    real.strip_prefix(root).ok().map(Path::to_path_buf)
}

fn to_vault_path(arg: &Path, rel: &Path, root: &Path) -> Result<VaultPath> {
    VaultPath::from_relative(rel).with_context(|| {
        format!(
            "`{}` does not name a file that syncs in the vault `{}`",
            arg.display(),
            root.display()
        )
    })
}
