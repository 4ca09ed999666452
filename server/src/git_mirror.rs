//! `serve --git-mirror`: a bare git repository per vault, `DATA/git/<user>/<vault>.git`, whose
//! commits are the vault's snapshots (the `vault-git` crate, the same conversion as `syncd
//! history export`, so a device's export and the server's mirror hold the same commit ids).
//!
//! A mirror follows its vault: after every move of the head (a device's push, a tick in the
//! web view) it is brought up to date on a blocking thread, one export per vault at a time;
//! and a `git fetch` brings it up to date before it answers (`git_http.rs`), so a fetch
//! never sees an older `main` than the vault's. `vault-server git-mirror rebuild` makes
//! mirrors anew, beside the old ones, and swaps them in.
//!
//! The server reads the notes to write them into git. A vault whose notes the server cannot
//! read (end-to-end encrypted, once devices can encrypt) gets no mirror: its history is
//! exported on a device, which has the key (docs/git.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault_git::{ExportError, ExportOptions, ExportReport};

/// The folder of all mirrors in a data folder.
pub const FOLDER: &str = "git";

/// The mirror of `user`'s vault `vault`.
pub fn mirror_dir(data: &Path, user: &str, vault: &str) -> PathBuf {
    data.join(FOLDER).join(user).join(format!("{vault}.git"))
}

/// One vault's mirror.
pub struct Mirror {
    dir: PathBuf,
    /// The vault, for the log (`user/vault`).
    name: String,
    /// Held during an export: one at a time per vault.
    exporting: Mutex<()>,
    /// A background update is running; another was asked for while it ran.
    running: AtomicBool,
    again: AtomicBool,
}

impl Mirror {
    pub fn new(data: &Path, user: &str, vault: &str) -> Mirror {
        Mirror {
            dir: mirror_dir(data, user, vault),
            name: format!("{user}/{vault}"),
            exporting: Mutex::new(()),
            running: AtomicBool::new(false),
            again: AtomicBool::new(false),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The mirror's path on the server (`crate::git_http`): `/git/<user>/<vault>.git`.
    pub fn url_path(&self) -> String {
        format!("/git/{}.git", self.name)
    }

    /// Bring the mirror to the vault's head now (blocking). Nothing is written when it is
    /// there already (one small file and one ref are read).
    pub fn update(&self, hub: &dyn Hub) -> Result<ExportReport, ExportError> {
        let _one_at_a_time = self.exporting.lock().unwrap_or_else(|p| p.into_inner());
        let head = hub.head()?;
        let report = vault_git::export(hub, head, &self.dir, ExportOptions::default())?;
        if report.written > 0 || report.moved {
            tracing::info!(
                vault = %self.name,
                commits = report.written,
                main = %report.head.map(|c| c.to_string()).unwrap_or_default(),
                "git mirror updated"
            );
        }
        Ok(report)
    }

    /// After a move of the head: [`Mirror::update`] on a blocking thread, never in a
    /// request's way. A move while it runs makes it run once more (not once per move).
    pub fn update_in_background(self: Arc<Self>, hub: Arc<FolderHub>) {
        if self.running.swap(true, Ordering::AcqRel) {
            self.again.store(true, Ordering::Release);
            return;
        }
        let work = move || {
            loop {
                self.again.store(false, Ordering::Release);
                if let Err(e) = self.update(&*hub) {
                    tracing::warn!(vault = %self.name, "could not update the git mirror: {e}");
                }
                self.running.store(false, Ordering::Release);
                // Asked again while exporting, and no other thread has taken over since.
                if !self.again.swap(false, Ordering::AcqRel)
                    || self.running.swap(true, Ordering::AcqRel)
                {
                    break;
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(work)),
            Err(_) => drop(std::thread::spawn(work)),
        }
    }
}

/// Each vault of the data folder, as (user, vault), sorted.
pub fn all_vaults(data: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for user in sorted_names(&data.join("vaults")) {
        for vault in sorted_names(&data.join("vaults").join(&user)) {
            let folder = data.join("vaults").join(&user).join(&vault);
            if folder.join(vault::folder_hub::MARKER_FILE).is_file() {
                out.push((user.clone(), vault));
            }
        }
    }
    out
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| crate::accounts::check_name("name", n).is_ok())
        .collect();
    names.sort();
    names
}

/// What a rebuild made of one vault.
#[derive(Debug, serde::Serialize)]
pub struct Rebuilt {
    pub user: String,
    pub vault: String,
    /// The commit `main` points at (none for a vault without snapshots).
    pub main: Option<String>,
    pub commits: usize,
    /// Snapshots whose files the vault no longer keeps (retention): no commit of their own.
    pub thinned: usize,
}

/// Make the mirror of `user`'s vault `vault` anew: exported into a folder beside the old
/// mirror, then swapped in, so a fetch meanwhile reads the old one whole.
pub fn rebuild(
    data: &Path,
    user: &str,
    vault: &str,
    progress: &mut dyn FnMut(vault_git::ExportProgress),
) -> Result<Rebuilt, RebuildError> {
    let folder = data.join("vaults").join(user).join(vault);
    let hub = FolderHub::open(&folder).map_err(|e| RebuildError::Vault {
        name: format!("{user}/{vault}"),
        detail: e.to_string(),
    })?;
    let dir = mirror_dir(data, user, vault);
    let parent = dir.parent().unwrap_or(data).to_path_buf();
    let fresh = parent.join(format!(".{vault}.git.rebuilding"));
    let old = parent.join(format!(".{vault}.git.old"));
    for leftover in [&fresh, &old] {
        remove_dir_if_any(leftover)?;
    }
    let export = |e: ExportError| RebuildError::Export {
        name: format!("{user}/{vault}"),
        source: e,
    };
    let head = hub.head().map_err(|e| export(e.into()))?;
    let report =
        vault_git::export_with_progress(&hub, head, &fresh, ExportOptions::default(), progress)
            .map_err(export)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RebuildError::Io { path, source }
    };
    if dir.exists() {
        std::fs::rename(&dir, &old).map_err(io(&dir))?;
    }
    std::fs::rename(&fresh, &dir).map_err(io(&fresh))?;
    remove_dir_if_any(&old)?;
    Ok(Rebuilt {
        user: user.to_string(),
        vault: vault.to_string(),
        main: report.head.map(|c| c.to_string()),
        commits: report.written,
        thinned: report.thinned,
    })
}

fn remove_dir_if_any(dir: &Path) -> Result<(), RebuildError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RebuildError::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("the vault {name} cannot be read: {detail}")]
    Vault { name: String, detail: String },
    #[error("exporting the vault {name}: {source}")]
    Export { name: String, source: ExportError },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}
