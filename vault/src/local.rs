//! One device's side of a vault: the `.vault/` folder inside the vault folder.
//!
//! ```text
//! <vault>/.vault/config.toml   device id and name, where the hub is, the mass-delete share
//! <vault>/.vault/base          the snapshot this device last agreed on with the hub (a ref)
//! <vault>/.vault/objects/      packs of the trees and snapshots this device knows (no blobs:
//!                              the files themselves are the blobs of the current tree)
//! <vault>/.vault/index         the stat cache (see `statcache`)
//! <vault>/.vault/last-sync.json  what the last round did, for `syncd status`
//! <vault>/.vault/lock          held (flock) while a round or another writer runs
//! <vault>/.vault/token         this device's token for a `vault-server` hub (owner-only)
//! <vault>/.vault/tasks         the task index (see `tasks::index`), a cache
//! <vault>/.vault/graft         after `syncd hub set` to a hub with another history: the
//!                              snapshot whose history the next published snapshot names as
//!                              its second parent, so both histories stay in `syncd log`
//! ```
//!
//! Everything here can be lost without losing a note: a device without `.vault/` rejoins as a
//! new device, and every difference then becomes a conflict with a revision, never an overwrite.

use crate::vfs::{self as fs, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::fsutil::{PathIoError, io_at, random_hex, write_atomic, write_private};
use crate::id::ObjectId;
use crate::paths::STATE_DIR;
use crate::refs::{RefError, RefFile};
use crate::store::{PackStore, StoreError};

mod damaged;
mod nested;
pub use damaged::state_evidence;
use damaged::{evidence_in, is_vault_root, server_hint};
pub use nested::{find_inner_vault, find_vaults_below};

/// How many vaults below a folder that is none a "not a vault" message names, and how many
/// folders it lists to find them (the error path of a command run in, say, a home folder).
const MAX_NAMED_VAULTS: usize = 3;
const MAX_FOLDERS_LOOKED_AT: usize = 5_000;

/// The message of [`LocalError::NotAVault`].
fn not_a_vault(folder: &Path, below: &[PathBuf]) -> String {
    let Some(first) = below.first() else {
        return format!(
            "`{}` is not a vault (no `.vault/` in it or any folder above); run `syncd init` there first",
            folder.display()
        );
    };
    let names: Vec<String> = below.iter().map(|v| format!("`{}`", v.display())).collect();
    format!(
        "`{}` is not a vault, but it holds {} {}: run the command in the vault you meant (`cd {}`) or name it with `--vault {}` (this folder itself cannot become a vault: one around another would sync its notes twice)",
        folder.display(),
        if below.len() == 1 {
            "the vault"
        } else {
            "the vaults"
        },
        names.join(", "),
        first.display(),
        first.display()
    )
}

/// File names inside `.vault/`.
pub const CONFIG_FILE: &str = "config.toml";
pub const BASE_FILE: &str = "base";
pub const OBJECTS_DIR: &str = "objects";
pub const INDEX_FILE: &str = "index";
pub const LAST_SYNC_FILE: &str = "last-sync.json";
pub const LOCK_FILE: &str = "lock";
pub const TOKEN_FILE: &str = "token";
pub const GRAFT_FILE: &str = "graft";

/// By default a round refuses to publish the deletion of more than this share of the files of
/// base (an unmounted drive, a half-restored backup) without `--allow-mass-delete`.
pub const DEFAULT_MASS_DELETE_SHARE: f64 = 0.5;
/// Deleting fewer files than this never counts as a mass delete (a vault of 3 notes may lose 2).
pub const MASS_DELETE_MIN_FILES: usize = 10;

/// `.vault/config.toml`. Unknown keys are kept out by `deny_unknown_fields`, so a typo in a
/// hand-edited config is an error that names the key, not a silently ignored setting.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Random, chosen at `init`; breaks conflict ties and names snapshots.
    pub device_id: String,
    /// Human name (the host name and a random suffix by default); appears in revision names.
    pub device_name: String,
    /// A folder path, or the `https://` URL of a `vault-server`.
    pub hub: String,
    /// Share of base's files a round may delete without `--allow-mass-delete`.
    #[serde(default = "default_share")]
    pub mass_delete_share: f64,
    /// How to use the server when `hub` is a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerConfig>,
    /// The `[tasks]` table: settings of `syncd task`.
    #[serde(default, skip_serializing_if = "TasksConfig::is_default")]
    pub tasks: TasksConfig,
}

impl VaultConfig {
    /// This device's id on its server hub, when the config knows it (see [`ServerConfig`]).
    pub fn server_device(&self) -> Option<&str> {
        self.server.as_ref()?.device.as_deref()
    }
}

/// The `[tasks]` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksConfig {
    /// The note `syncd task add` appends to when no `--note` is given (a vault path; created
    /// when missing).
    #[serde(default = "default_inbox")]
    pub inbox: String,
}

/// The inbox when the config names none.
pub const DEFAULT_INBOX: &str = "Inbox.md";

fn default_inbox() -> String {
    DEFAULT_INBOX.to_owned()
}

impl Default for TasksConfig {
    fn default() -> Self {
        TasksConfig {
            inbox: default_inbox(),
        }
    }
}

impl TasksConfig {
    fn is_default(&self) -> bool {
        *self == TasksConfig::default()
    }
}

/// The `[server]` table: which account and vault on a `vault-server`, and how to reach it.
/// The device's token is not here but in `.vault/token`, so the config can be shown and
/// shared without leaking it; the password is stored nowhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The account the device logged in as.
    pub user: String,
    /// The vault's name on the server (one account may keep several).
    pub vault: String,
    /// A PEM file of certificates to trust besides the system's (a private CA, or the
    /// server's own self-signed certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Accept any certificate: anyone on the path can read and change the traffic. For
    /// emergencies; every sync warns while it is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
    /// An HTTP proxy (`http://host:port`); without one, the system's proxy variables apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// This device's id on the server (what `vault-server device list` shows and `device
    /// revoke` takes), learnt at each login; it differs from `device_id`, which names this
    /// device's snapshots. Absent in configs written before it was kept, until the next login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

fn default_share() -> f64 {
    DEFAULT_MASS_DELETE_SHARE
}

/// Why the local vault state could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// `below`: vaults found inside the folder (a few, the shallowest), which the user
    /// probably meant; `syncd init` there would put a vault around them, so the message then
    /// names them instead.
    #[error("{}", not_a_vault(.folder, .below))]
    NotAVault {
        folder: PathBuf,
        below: Vec<PathBuf>,
    },
    #[error("`{}` is already a vault (it has `.vault/`); nothing to initialise. To sync it with another hub (a folder or a vault-server), with its history, run `syncd hub set URL|DIR --vault {}`; `syncd hub show` shows its hub", .0.display(), .0.display())]
    AlreadyAVault(PathBuf),
    #[error("the vault folder `{}` is missing or not a folder (an unmounted drive?); mount it or point --vault at the vault", .0.display())]
    NoFolder(PathBuf),
    #[error("config `{}` is not valid: {detail}; fix the file, or write it again for the vault's hub with `syncd init --repair --hub HUB` (see `syncd init --help`)", .path.display())]
    BadConfig { path: PathBuf, detail: String },
    #[error(
        "`{}` is a damaged vault: `.vault/config.toml` is missing, but `.vault/` still holds this device's sync state ({}). It was not made a new vault, which would quietly leave its hub. Repair it with `syncd init --repair --vault {} --hub HUB`, naming the hub it synced with (its folder, or the server's URL; without --hub, the default hub is taken only if it holds this device's last snapshot){}",
        .root.display(), .found.join(", "), .root.display(), server_hint(.found)
    )]
    LostConfig { root: PathBuf, found: Vec<String> },
    #[error("`{}` has a working config; nothing to repair", .0.display())]
    NothingToRepair(PathBuf),
    #[error("another syncd is working on this vault (lock `{}` held{holder}); wait for it to finish, or stop it", .path.display())]
    Busy { path: PathBuf, holder: String },
    #[error(transparent)]
    Io(#[from] PathIoError),
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An opened vault: its folder and configuration.
#[derive(Debug, Clone)]
pub struct LocalVault {
    root: PathBuf,
    config: VaultConfig,
}

/// Holds `.vault/lock` until dropped.
#[derive(Debug)]
pub struct VaultLock {
    _file: File,
}

impl LocalVault {
    /// Make `root` a vault: create `.vault/` with a fresh device id. `root` is created if it is
    /// missing; it may already hold notes.
    pub fn init(root: &Path, hub: &str, device_name: &str) -> Result<LocalVault, LocalError> {
        Self::init_with_server(root, hub, device_name, None)
    }

    /// [`LocalVault::init`] for a server hub: its settings, and the token this device logged
    /// in with. The token is written before the config, whose presence makes the folder a
    /// vault, so a failure leaves no vault that cannot reach its hub.
    pub fn init_with_server(
        root: &Path,
        hub: &str,
        device_name: &str,
        server: Option<(ServerConfig, &str)>,
    ) -> Result<LocalVault, LocalError> {
        fs::create_dir_all(root).map_err(io_at("creating vault folder", root))?;
        let root = fs::canonicalize(root).map_err(io_at("resolving vault folder", root))?;
        let state = root.join(STATE_DIR);
        if fs::exists(state.join(CONFIG_FILE)) {
            return Err(LocalError::AlreadyAVault(root));
        }
        let found = evidence_in(&root)?;
        if !found.is_empty() {
            return Err(LocalError::LostConfig { root, found });
        }
        fs::create_dir_all(state.join(OBJECTS_DIR))
            .map_err(io_at("creating", &state.join(OBJECTS_DIR)))?;
        let (server, token) = match server {
            Some((config, token)) => (Some(config), Some(token)),
            None => (None, None),
        };
        let config = VaultConfig {
            device_id: random_hex(8),
            device_name: device_name.to_string(),
            hub: hub.to_string(),
            mass_delete_share: DEFAULT_MASS_DELETE_SHARE,
            server,
            tasks: TasksConfig::default(),
        };
        let vault = LocalVault { root, config };
        if let Some(token) = token {
            vault.save_token(token)?;
        }
        vault.save_config()?;
        Ok(vault)
    }

    /// Open the vault whose root is `root` (which must hold `.vault/config.toml`).
    pub fn open(root: &Path) -> Result<LocalVault, LocalError> {
        if !fs::is_dir(root) {
            return Err(LocalError::NoFolder(root.to_path_buf()));
        }
        let root = fs::canonicalize(root).map_err(io_at("resolving vault folder", root))?;
        let path = root.join(STATE_DIR).join(CONFIG_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let found = evidence_in(&root)?;
                if found.is_empty() {
                    return Err(LocalError::NotAVault {
                        folder: root,
                        below: Vec::new(),
                    });
                }
                return Err(LocalError::LostConfig { root, found });
            }
            Err(e) => return Err(io_at("reading", &path)(e).into()),
        };
        let config: VaultConfig = toml::from_str(&text).map_err(|e| LocalError::BadConfig {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        if config.device_id.is_empty() || !(0.0..=1.0).contains(&config.mass_delete_share) {
            return Err(LocalError::BadConfig {
                path,
                detail: "device_id must not be empty and mass_delete_share must be in 0..=1".into(),
            });
        }
        Ok(LocalVault { root, config })
    }

    /// The vault containing `start` (or `start` itself), found by walking up to the first
    /// folder with `.vault/config.toml`, as git finds `.git`, or with a `.vault/` that lost
    /// its config but still holds state ([`LocalVault::open`] then says it is damaged).
    pub fn discover(start: &Path) -> Result<PathBuf, LocalError> {
        let start = fs::canonicalize(start).map_err(io_at("resolving folder", start))?;
        start
            .ancestors()
            .find(|dir| is_vault_root(dir))
            .map(Path::to_path_buf)
            .ok_or_else(|| LocalError::NotAVault {
                below: find_vaults_below(&start, MAX_NAMED_VAULTS, MAX_FOLDERS_LOOKED_AT),
                folder: start,
            })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// The folder name, used to name the default hub.
    pub fn name(&self) -> String {
        vault_name(&self.root)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    pub fn index_path(&self) -> PathBuf {
        self.state_dir().join(INDEX_FILE)
    }

    pub fn last_sync_path(&self) -> PathBuf {
        self.state_dir().join(LAST_SYNC_FILE)
    }

    /// Change settings (e.g. the hub) and write the config file atomically.
    pub fn set_config(&mut self, config: VaultConfig) -> Result<(), LocalError> {
        self.config = config;
        self.save_config()
    }

    fn save_config(&self) -> Result<(), LocalError> {
        let path = self.state_dir().join(CONFIG_FILE);
        let text = toml::to_string(&self.config).map_err(|e| LocalError::BadConfig {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let text = format!(
            "# Vault Sync device settings. device_id must stay unique to this device.\n{text}"
        );
        write_atomic(&path, text.as_bytes()).map_err(io_at("writing", &path))?;
        Ok(())
    }

    fn token_path(&self) -> PathBuf {
        self.state_dir().join(TOKEN_FILE)
    }

    /// This device's token for its server hub, or `None` if there is none.
    pub fn token(&self) -> Result<Option<String>, LocalError> {
        let path = self.token_path();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_at("reading", &path)(e).into()),
        }
    }

    /// Store this device's token, readable by the owner only.
    pub fn save_token(&self, token: &str) -> Result<(), LocalError> {
        let path = self.token_path();
        write_private(&path, format!("{token}\n").as_bytes()).map_err(io_at("writing", &path))?;
        Ok(())
    }

    /// Remove this device's token (the vault no longer syncs with a server).
    pub fn remove_token(&self) -> Result<(), LocalError> {
        let path = self.token_path();
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at("removing", &path)(e).into()),
        }
    }

    /// The ref holding base.
    pub fn base_ref(&self) -> RefFile {
        RefFile::new(self.state_dir().join(BASE_FILE))
    }

    /// The snapshot this device last agreed on with the hub; `None` before the first sync.
    pub fn base(&self) -> Result<Option<ObjectId>, LocalError> {
        Ok(self.base_ref().read()?)
    }

    /// The snapshot the next published snapshot takes as a second parent, joining its history
    /// to the hub's (set by `syncd hub set` when the new hub has a history of its own).
    pub fn graft(&self) -> Result<Option<ObjectId>, LocalError> {
        Ok(RefFile::new(self.state_dir().join(GRAFT_FILE)).read()?)
    }

    /// Set [`LocalVault::graft`] (atomically).
    pub fn set_graft(&self, id: ObjectId) -> Result<(), LocalError> {
        Ok(RefFile::new(self.state_dir().join(GRAFT_FILE)).write(id)?)
    }

    /// Forget [`LocalVault::graft`]: it is in the hub's history now.
    pub fn clear_graft(&self) -> Result<(), LocalError> {
        let path = self.state_dir().join(GRAFT_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at("removing", &path)(e).into()),
        }
    }

    /// Forget base (the hub this device synced with is gone): the next round merges as a
    /// device that never synced, every difference a conflict, nothing deleted.
    pub fn forget_base(&self) -> Result<(), LocalError> {
        let path = self.state_dir().join(BASE_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at("removing", &path)(e).into()),
        }
    }

    /// The trees and snapshots this device knows.
    pub fn objects(&self) -> Result<PackStore, LocalError> {
        Ok(PackStore::open(&self.state_dir().join(OBJECTS_DIR))?)
    }

    /// Take `.vault/lock`, waiting up to `wait` for another holder to let go. The lock is an
    /// advisory `flock`, so a crashed holder never leaves it stuck.
    pub fn lock(&self, wait: Duration) -> Result<VaultLock, LocalError> {
        let path = self.state_dir().join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_at("opening lock", &path))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = fs::read_to_string(&path)
                        .ok()
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .map(|t| format!(" by {t}"))
                        .unwrap_or_default();
                    return Err(LocalError::Busy { path, holder });
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io_at("locking", &path)(e).into());
                }
            }
        }
        // Who holds it, for the message a waiting process prints; best effort. Always the
        // same length, written over the last holder's line: truncating a file that has a
        // block costs the file system a journal update (0.6 ms of every round).
        let line = format!("process {:<10}\n", std::process::id());
        if file.write_all_at(line.as_bytes(), 0).is_ok()
            && file.metadata().is_ok_and(|m| m.len() > line.len() as u64)
        {
            let _ = file.set_len(line.len() as u64);
        }
        Ok(VaultLock { _file: file })
    }
}

/// The name a vault folder goes by (its last component), for the default hub folder.
pub fn vault_name(root: &Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "vault".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_open_discover_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("notes");
        let v = LocalVault::init(&root, "/hub", "laptop").unwrap();
        assert_eq!(v.config().device_name, "laptop");
        assert_eq!(v.config().device_id.len(), 16);
        assert!(matches!(
            LocalVault::init(&root, "/hub", "x"),
            Err(LocalError::AlreadyAVault(_))
        ));
        let again = LocalVault::open(&root).unwrap();
        assert_eq!(again.config(), v.config());
        fs::create_dir_all(root.join("a/b")).unwrap();
        assert_eq!(
            LocalVault::discover(&root.join("a/b")).unwrap(),
            root.canonicalize().unwrap()
        );
        assert!(matches!(
            LocalVault::discover(dir.path()),
            Err(LocalError::NotAVault { .. })
        ));
        assert_eq!(v.name(), "notes");
        assert_eq!(v.base().unwrap(), None);
    }

    #[test]
    fn bad_config_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        LocalVault::init(dir.path(), "/hub", "d").unwrap();
        let cfg = dir.path().join(".vault/config.toml");
        fs::write(&cfg, "device_id = \"x\"\nhub = 3\n").unwrap();
        let err = LocalVault::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.toml"), "{err}");
        assert!(matches!(
            LocalVault::open(&dir.path().join("nope")),
            Err(LocalError::NoFolder(_))
        ));
    }

    #[test]
    fn server_settings_and_token_round_trip_with_a_private_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let server = ServerConfig {
            user: "alice".into(),
            vault: "notes".into(),
            ca_cert: Some("/etc/ca.pem".into()),
            insecure_skip_verify: false,
            proxy: Some("http://127.0.0.1:3128".into()),
            device: Some("4f2a9c1d".into()),
        };
        let v = LocalVault::init_with_server(
            dir.path(),
            "https://hub.example:7878",
            "d",
            Some((server.clone(), "secret-token")),
        )
        .unwrap();
        let again = LocalVault::open(dir.path()).unwrap();
        assert_eq!(again.config().server.as_ref(), Some(&server));
        assert_eq!(again.token().unwrap().as_deref(), Some("secret-token"));
        let mode = fs::metadata(dir.path().join(".vault/token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = fs::read_to_string(dir.path().join(".vault/config.toml")).unwrap();
        assert!(text.contains("[server]"), "{text}");
        assert!(!text.contains("secret-token"), "{text}");
        assert_eq!(v.config(), again.config());

        let plain = tempfile::tempdir().unwrap();
        let folder = LocalVault::init(plain.path(), "/hub", "d").unwrap();
        assert_eq!(folder.token().unwrap(), None);
        let text = fs::read_to_string(plain.path().join(".vault/config.toml")).unwrap();
        assert!(!text.contains("server"), "{text}");
    }

    #[test]
    fn lock_excludes_a_second_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let v = LocalVault::init(dir.path(), "/hub", "d").unwrap();
        let held = v.lock(Duration::ZERO).unwrap();
        let err = v.lock(Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, LocalError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("process"), "{err}");
        drop(held);
        v.lock(Duration::ZERO).unwrap();
    }
}
