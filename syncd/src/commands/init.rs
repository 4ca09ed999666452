//! `syncd init`, and the initialisation `syncd sync` does on a folder that is not a vault yet.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use vault::Hub;
use vault::folder_hub::FolderHub;
use vault::local::{LocalError, LocalVault, vault_name};

use super::{current_dir, is_url};
use crate::cli::InitArgs;
use crate::exit;
use crate::output::{self, line};

/// Longest device name a snapshot can carry.
const MAX_DEVICE_NAME: usize = 128;

pub fn run(args: InitArgs) -> Result<u8> {
    if args.repair {
        return super::repair::run(args);
    }
    let root = match args.vault {
        Some(dir) => dir,
        None => current_dir()?,
    };
    let url = args
        .hub
        .as_deref()
        .map(|h| h.to_string_lossy().into_owned())
        .filter(|h| is_url(h));
    // A failed init leaves no folder it made behind (a wrong password, a server not reached).
    let new_folders = missing_folders(&root);
    let made = match url {
        Some(url) => super::server_hub::create(&root, &url, args.device, &args.server),
        None if args.server.any() => Err(anyhow::anyhow!(
            "{}; pass its URL with --hub https://host:port",
            super::SERVER_ONLY_OPTIONS
        )),
        None => create(&root, args.hub.as_deref(), args.device),
    }
    .inspect_err(|_| remove_if_empty(&new_folders))?;
    let mut out = String::new();
    line!(out, "initialised vault `{}`", made.vault.root().display());
    line!(out, "  device: {}", super::device_text(made.vault.config()));
    line!(
        out,
        "  hub:    `{}` ({})",
        made.vault.config().hub,
        made.hub_state
    );
    line!(out, "Run `syncd sync` in the vault to sync it.");
    output::emit(&out)?;
    Ok(exit::OK)
}

/// The folders `create_dir_all(root)` would make: `root` and its ancestors up to the first
/// that exists, deepest first.
fn missing_folders(root: &Path) -> Vec<PathBuf> {
    let Ok(root) = std::path::absolute(root) else {
        return Vec::new();
    };
    root.ancestors()
        .take_while(|p| p.symlink_metadata().is_err())
        .map(Path::to_path_buf)
        .collect()
}

/// Remove `folders` (deepest first) that are still empty: what this init made and left
/// unused. A folder something was put in meanwhile stays, and with it its parents.
fn remove_if_empty(folders: &[PathBuf]) {
    for folder in folders {
        if std::fs::remove_dir(folder).is_err() {
            break;
        }
    }
}

/// A vault just made.
pub struct Created {
    pub vault: LocalVault,
    /// "new, empty hub" or what the existing hub holds, for messages.
    pub hub_state: String,
}

/// Make `root` a vault with the given (or default) hub and device name. The hub is opened (and
/// created if missing) first, so a folder that is not a hub is refused before `.vault/` exists.
pub fn create(root: &Path, hub: Option<&Path>, device: Option<String>) -> Result<Created> {
    let (root, device) = prepare(root, device)?;
    let hub_path = hub_folder(&root, hub)?;
    let opened = FolderHub::open(&hub_path)
        .with_context(|| format!("cannot use `{}` as the hub", hub_path.display()))?;
    let hub_state = match opened.head()? {
        None => "new, empty hub".to_string(),
        Some(head) => format!(
            "existing hub at snapshot {}; the first sync merges this folder with it",
            head.short()
        ),
    };
    let hub_text = hub_path.to_str().with_context(|| {
        format!(
            "the hub path `{}` is not valid UTF-8; choose another with --hub",
            hub_path.display()
        )
    })?;
    let vault = LocalVault::init(&root, hub_text, &device)?;
    Ok(Created { vault, hub_state })
}

/// The checks every `init` makes before touching a hub: the folder exists (created if
/// missing) and is in no vault yet, and the device name is usable. Returns the resolved
/// folder and the device name.
pub fn prepare(root: &Path, device: Option<String>) -> Result<(PathBuf, String)> {
    std::fs::create_dir_all(root)
        .with_context(|| format!("cannot create the vault folder `{}`", root.display()))?;
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot resolve the vault folder `{}`", root.display()))?;
    match LocalVault::discover(&root) {
        Ok(found) => {
            // A damaged vault (here or above) is named as such, with its repair.
            if let Err(e @ LocalError::LostConfig { .. }) = LocalVault::open(&found) {
                return Err(e.into());
            }
            if found == root {
                return Err(LocalError::AlreadyAVault(root).into());
            }
            bail!(
                "`{}` is inside the vault `{}`; a vault inside another would sync its notes twice. Use the outer vault, or choose a folder outside it",
                root.display(),
                found.display()
            )
        }
        Err(LocalError::NotAVault { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(inner) = vault::local::find_inner_vault(&root)
        .with_context(|| format!("cannot look for vaults inside `{}`", root.display()))?
    {
        bail!(
            "`{}` holds another vault at `{}` (it has `.vault/`); a vault around another would sync that vault's notes twice. Sync the inner vault on its own, or move it out of `{}` first",
            root.display(),
            inner.display(),
            root.display()
        );
    }
    Ok((root, device_name(device)?))
}

/// The device name given, or [`default_device_name`] of this host with a fresh suffix;
/// refused unless 1 to 128 bytes without control characters.
pub fn device_name(device: Option<String>) -> Result<String> {
    let device = match device {
        Some(name) => name,
        None => default_device_name(&host_name(), &vault::fsutil::random_hex(2)),
    };
    if device.trim().is_empty()
        || device.len() > MAX_DEVICE_NAME
        || device.chars().any(char::is_control)
    {
        bail!(
            "device name {device:?} cannot be used: it must be 1 to {MAX_DEVICE_NAME} bytes without control characters; pass another with --device"
        );
    }
    Ok(device)
}

/// The absolute hub folder: `--hub` (relative to the current folder), or the default under the
/// user's data folder. Refuses a hub inside the vault, which would sync into itself.
pub fn hub_folder(root: &Path, hub: Option<&Path>) -> Result<PathBuf> {
    let path = match hub {
        Some(h) => std::path::absolute(h)
            .with_context(|| format!("cannot resolve the hub path `{}`", h.display()))?,
        None => default_hub(root)?,
    };
    let real = real_location(&path);
    if real.starts_with(root) {
        bail!(
            "the hub `{}` is inside the vault `{}`; a hub must be outside the folder it syncs. Pass --hub with another folder",
            path.display(),
            root.display()
        );
    }
    Ok(path)
}

/// `path` with symlinks resolved in the longest part of it that exists (a new hub folder does
/// not exist yet).
fn real_location(path: &Path) -> PathBuf {
    for ancestor in path.ancestors() {
        if let Ok(real) = ancestor.canonicalize() {
            return real.join(path.strip_prefix(ancestor).unwrap_or(Path::new("")));
        }
    }
    path.to_path_buf()
}

/// `$XDG_DATA_HOME/vault-sync/hub/<vault folder name>`.
pub fn default_hub(root: &Path) -> Result<PathBuf> {
    let data = dirs::data_dir().context(
        "cannot find this user's data folder ($XDG_DATA_HOME and $HOME are unset); pass --hub DIR",
    )?;
    Ok(data.join("vault-sync").join("hub").join(vault_name(root)))
}

/// `host-suffix`: the host name alone would name every container and cloned machine alike
/// (`vm`), and the server's device list and revision names could not tell them apart. The
/// host name is cut (at a character boundary) so the whole fits in [`MAX_DEVICE_NAME`].
fn default_device_name(host: &str, suffix: &str) -> String {
    let room = MAX_DEVICE_NAME.saturating_sub(suffix.len() + 1);
    let mut end = host.len().min(room);
    while !host.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{suffix}", &host[..end])
}

/// This machine's name, for the default device name.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "device".to_string())
}

#[cfg(test)]
mod tests {
    use super::{MAX_DEVICE_NAME, default_device_name, device_name};

    #[test]
    fn the_default_device_name_is_the_host_name_and_a_suffix() {
        assert_eq!(default_device_name("vm", "3f9a"), "vm-3f9a");
        let long = "é".repeat(100);
        let name = default_device_name(&long, "3f9a");
        assert!(name.len() <= MAX_DEVICE_NAME, "{}", name.len());
        assert!(name.starts_with("éé") && name.ends_with("é-3f9a"), "{name}");
        // Each init draws a new suffix; a given name is kept as it is.
        let drawn = device_name(None).unwrap();
        let (_, suffix) = drawn.rsplit_once('-').unwrap();
        assert!(suffix.len() == 4 && suffix.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(device_name(Some("vm".into())).unwrap(), "vm");
    }
}
