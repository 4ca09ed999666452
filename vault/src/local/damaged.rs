//! A vault whose `.vault/config.toml` is lost (or cannot be read) while the rest of `.vault/`
//! remains: recognised as damaged, never taken for a folder that is no vault (which `sync`
//! would make a new vault on a new hub, quietly leaving the real one), and repaired by writing
//! the config again.

use crate::vfs as fs;
use std::io;
use std::path::Path;

use super::{
    BASE_FILE, CONFIG_FILE, DEFAULT_MASS_DELETE_SHARE, LocalError, LocalVault, ServerConfig,
    TOKEN_FILE, TasksConfig, VaultConfig,
};
use crate::fsutil::{TEMP_PREFIX, io_at, random_hex};
use crate::id::ObjectId;
use crate::paths::STATE_DIR;
use crate::refs::RefFile;

/// The part of the lost-config message for a device that logged in to a server.
pub(super) fn server_hint(found: &[String]) -> &'static str {
    if found.iter().any(|f| f == TOKEN_FILE) {
        "; `.vault/token` shows it synced with a vault-server: give its URL with --user NAME --password-stdin"
    } else {
        ""
    }
}

/// What `.vault/` holds besides a config: the names of its entries that only a vault that was
/// used leaves behind (anything but empty folders and temp files, which an interrupted `init`
/// may leave). Empty: the folder can be initialised; else a lost config is damaged state.
pub fn state_evidence<'a>(entries: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<String> {
    let mut found: Vec<String> = entries
        .into_iter()
        .filter(|(name, empty_dir)| {
            !empty_dir && *name != CONFIG_FILE && !name.starts_with(TEMP_PREFIX)
        })
        .map(|(name, _)| name.to_string())
        .collect();
    found.sort();
    found
}

/// The evidence of use in `root/.vault/` ([`state_evidence`]); empty when there is no
/// `.vault/` folder. Only called where `.vault/config.toml` is missing or unreadable.
pub(super) fn evidence_in(root: &Path) -> Result<Vec<String>, LocalError> {
    let state = root.join(STATE_DIR);
    let list = match fs::read_dir(&state) {
        Ok(list) => list,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(io_at("listing", &state)(e).into()),
    };
    let mut entries = Vec::new();
    for entry in list {
        let entry = entry.map_err(io_at("listing", &state))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let empty_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir())
            && fs::read_dir(&path).is_ok_and(|mut l| l.next().is_none());
        entries.push((name, empty_dir));
    }
    Ok(state_evidence(
        entries.iter().map(|(n, e)| (n.as_str(), *e)),
    ))
}

/// Whether `dir` is the root of a vault, working or damaged (so the search for a vault stops
/// there rather than going on to a folder above, or making a new one).
pub(super) fn is_vault_root(dir: &Path) -> bool {
    let state = dir.join(STATE_DIR);
    fs::is_file(state.join(CONFIG_FILE))
        || (fs::is_dir(&state) && evidence_in(dir).map_or(true, |found| !found.is_empty()))
}

impl LocalVault {
    /// Write the config of a damaged vault again (see [`LocalError::LostConfig`]): `root`'s
    /// `.vault/` lost its config, or holds one that cannot be read (kept beside it as
    /// `config.toml.damaged`). Everything else in `.vault/` is kept; `forget_base` removes
    /// the base ref first, for a hub that does not hold it (the next round then merges as a
    /// device that never synced: every difference a conflict, nothing deleted). The device
    /// gets a new id: the old one was in the lost file.
    pub fn repair(
        root: &Path,
        hub: &str,
        device_name: &str,
        server: Option<(ServerConfig, &str)>,
        forget_base: bool,
    ) -> Result<LocalVault, LocalError> {
        let root = match LocalVault::open(root) {
            Ok(vault) => return Err(LocalError::NothingToRepair(vault.root)),
            Err(LocalError::LostConfig { root, .. }) => root,
            Err(LocalError::BadConfig { path, .. }) => {
                let aside = path.with_extension("toml.damaged");
                fs::rename(&path, &aside).map_err(io_at("moving aside", &path))?;
                fs::canonicalize(root).map_err(io_at("resolving vault folder", root))?
            }
            Err(e) => return Err(e),
        };
        let vault = LocalVault {
            root,
            config: VaultConfig {
                device_id: random_hex(8),
                device_name: device_name.to_string(),
                hub: hub.to_string(),
                mass_delete_share: DEFAULT_MASS_DELETE_SHARE,
                server: None,
                tasks: TasksConfig::default(),
            },
        };
        if forget_base {
            let path = vault.state_dir().join(BASE_FILE);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_at("removing", &path)(e).into()),
            }
        }
        let mut vault = vault;
        if let Some((config, token)) = server {
            vault.config.server = Some(config);
            vault.save_token(token)?;
        }
        vault.save_config()?;
        Ok(vault)
    }

    /// The base ref of the vault at `root`, read without its config (for a repair, which
    /// checks that the hub holds it before keeping it).
    pub fn base_of(root: &Path) -> Result<Option<ObjectId>, LocalError> {
        Ok(RefFile::new(root.join(STATE_DIR).join(BASE_FILE)).read()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_anything_but_empty_folders_temp_files_and_the_config() {
        assert!(state_evidence([("objects", true), (".vault-tmp-0123", false)]).is_empty());
        assert!(state_evidence([(CONFIG_FILE, false)]).is_empty());
        assert_eq!(
            state_evidence([("token", false), ("base", false), ("objects", false)]),
            ["base", "objects", "token"]
        );
        assert_eq!(state_evidence([("lock", false)]), ["lock"]);
    }

    #[test]
    fn a_lost_config_is_damage_not_a_new_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("notes");
        let v = LocalVault::init(&root, "/hub", "d").unwrap();
        let base = ObjectId::of(b"snapshot");
        v.base_ref().write(base).unwrap();
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::remove_file(root.join(".vault/config.toml")).unwrap();
        let root = root.canonicalize().unwrap();
        // Found from below, refused by open and init, with what is there and the repair.
        assert_eq!(LocalVault::discover(&root.join("sub")).unwrap(), root);
        for err in [
            LocalVault::open(&root).unwrap_err(),
            LocalVault::init(&root, "/other", "d").unwrap_err(),
        ] {
            let LocalError::LostConfig { found, .. } = &err else {
                panic!("{err}");
            };
            assert!(found.contains(&"base".to_string()), "{found:?}");
            assert!(err.to_string().contains("syncd init --repair"), "{err}");
        }
        assert_eq!(LocalVault::base_of(&root).unwrap(), Some(base));

        let repaired = LocalVault::repair(&root, "/hub", "d2", None, false).unwrap();
        assert_eq!(repaired.base().unwrap(), Some(base));
        assert_ne!(repaired.config().device_id, v.config().device_id);
        assert_eq!(LocalVault::open(&root).unwrap().config().hub, "/hub");
        assert!(matches!(
            LocalVault::repair(&root, "/hub", "d2", None, false),
            Err(LocalError::NothingToRepair(_))
        ));
    }

    #[test]
    fn an_unreadable_config_is_kept_aside_and_base_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let v = LocalVault::init(dir.path(), "/hub", "d").unwrap();
        v.base_ref().write(ObjectId::of(b"s")).unwrap();
        let config = dir.path().join(".vault/config.toml");
        fs::write(&config, "hub = \n").unwrap();
        assert!(matches!(
            LocalVault::open(dir.path()),
            Err(LocalError::BadConfig { .. })
        ));
        let repaired = LocalVault::repair(dir.path(), "/new-hub", "d", None, true).unwrap();
        assert_eq!(repaired.base().unwrap(), None);
        assert_eq!(
            fs::read_to_string(dir.path().join(".vault/config.toml.damaged")).unwrap(),
            "hub = \n"
        );
    }

    #[test]
    fn an_interrupted_init_is_no_vault() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(".vault/objects")).unwrap();
        assert!(matches!(
            LocalVault::open(dir.path()),
            Err(LocalError::NotAVault { .. })
        ));
        LocalVault::init(dir.path(), "/hub", "d").unwrap();
    }
}
