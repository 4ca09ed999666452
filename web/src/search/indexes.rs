//! The search indexes of the server's vaults, opened on first use and brought up to the head
//! before a search answers: inline when few notes changed, in a background thread when many
//! did (a first build of a large vault), so a search never waits long. A missing or damaged
//! index is wiped and rebuilt; the reader is told so in the server's log, not by a 500.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use super::index::{Found, IndexError, Open, Searchable};
use super::query::Part;
use crate::vaults::{HeadView, OpenedVault};
use crate::{Web, WebError};

/// Up to this many changed notes are indexed while the search waits; more, in the background.
pub const INLINE_LIMIT: usize = 1_000;

/// Every vault's index, under `DATA/web/index/`.
pub struct SearchIndexes {
    root: PathBuf,
    by_vault: Mutex<HashMap<(String, String), Arc<VaultIndex>>>,
}

/// One vault's index and whether a background build is under way.
pub struct VaultIndex {
    dir: PathBuf,
    open: Mutex<Option<Open>>,
    /// What a search uses while the index is being built (the build holds `open`).
    current: Mutex<Option<Searchable>>,
    building: AtomicBool,
    done: AtomicUsize,
    total: AtomicUsize,
}

/// A search's answer and how fresh it is.
pub struct Outcome {
    pub found: Found,
    /// `Some((done, total))`: the index is still being brought up to date.
    pub updating: Option<(usize, usize)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A user or vault name as one folder name: nothing but ASCII letters, digits, `-` and `_`
/// kept, the rest hex-escaped (`%xx`), so no name can climb out of the index folder.
pub fn dir_name(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    if out.is_empty() { "%".to_string() } else { out }
}

impl SearchIndexes {
    /// The indexes kept in `web_folder/index/`.
    pub fn new(web_folder: &Path) -> SearchIndexes {
        SearchIndexes {
            root: web_folder.join("index"),
            by_vault: Mutex::default(),
        }
    }

    /// Where the index of `user`'s vault `vault` lives.
    pub fn dir(&self, user: &str, vault: &str) -> PathBuf {
        self.root.join(dir_name(user)).join(dir_name(vault))
    }

    fn vault(&self, user: &str, vault: &str) -> Arc<VaultIndex> {
        lock(&self.by_vault)
            .entry((user.to_string(), vault.to_string()))
            .or_insert_with(|| {
                Arc::new(VaultIndex {
                    dir: self.dir(user, vault),
                    open: Mutex::new(None),
                    current: Mutex::new(None),
                    building: AtomicBool::new(false),
                    done: AtomicUsize::new(0),
                    total: AtomicUsize::new(0),
                })
            })
            .clone()
    }
}

/// Search `vault` at its current head for `parts` (blocking: inside [`crate::blocking`]).
pub fn search(
    web: &Web,
    vault: &OpenedVault,
    parts: &[Part],
    limit: usize,
) -> Result<Outcome, WebError> {
    let view = web.head_view(vault)?;
    let index = web.search_indexes().vault(&vault.user, &vault.name);
    let searchable = match index.open.try_lock() {
        Ok(mut open) => index.refresh(&mut open, vault, &view)?,
        Err(TryLockError::Poisoned(p)) => index.refresh(&mut p.into_inner(), vault, &view)?,
        // A background build holds the index: search what it has committed so far.
        Err(TryLockError::WouldBlock) => lock(&index.current).clone(),
    };
    let updating = index.building.load(Ordering::SeqCst).then(|| {
        (
            index.done.load(Ordering::SeqCst),
            index.total.load(Ordering::SeqCst),
        )
    });
    let Some(searchable) = searchable else {
        return Ok(Outcome {
            found: Found::default(),
            updating,
        });
    };
    let found = match searchable.search(parts, limit) {
        Ok(found) => found,
        Err(e) => {
            // A damaged index: forget it; the next search rebuilds it.
            tracing::warn!(vault = %vault.name, "search failed, rebuilding the index: {e}");
            if let Ok(mut open) = index.open.try_lock() {
                *open = None;
                let _ = std::fs::remove_dir_all(&index.dir);
                if let Some(s) = index.refresh(&mut open, vault, &view)? {
                    s.search(parts, limit).map_err(WebError::internal)?
                } else {
                    Found::default()
                }
            } else {
                Found::default()
            }
        }
    };
    Ok(Outcome { found, updating })
}

impl VaultIndex {
    /// Open the index if needed (rebuilding a missing or damaged one) and bring it to `view`:
    /// inline for a few changed notes, else in a background thread. The index to search now.
    fn refresh(
        self: &Arc<Self>,
        open: &mut Option<Open>,
        vault: &OpenedVault,
        view: &Arc<HeadView>,
    ) -> Result<Option<Searchable>, WebError> {
        let hub = vault.access.hub();
        if open.as_ref().is_some_and(|o| !o.on_disk()) {
            tracing::warn!(vault = %vault.name, "the search index's folder is gone; rebuilding it");
            *open = None;
        }
        if open.is_none() {
            *open = Some(self.reopen(hub, &vault.name)?);
        }
        let o = open.as_mut().expect("opened above");
        *lock(&self.current) = Some(o.searchable.clone());
        if o.head == view.head {
            return Ok(Some(o.searchable.clone()));
        }
        let pending = o.pending(&view.files);
        if pending > INLINE_LIMIT {
            self.build_in_background(vault, view.clone(), pending);
            return Ok(Some(o.searchable.clone()));
        }
        if let Err(e) = o.update(hub, view.head, &view.files, &|_, _| {}) {
            if matches!(e, IndexError::Hub(_)) {
                return Err(WebError::internal(e));
            }
            tracing::warn!(vault = %vault.name, "updating the search index failed, rebuilding it: {e}");
            let mut fresh = Open::fresh(&self.dir).map_err(WebError::internal)?;
            *lock(&self.current) = Some(fresh.searchable.clone());
            let all = fresh.pending(&view.files);
            if all > INLINE_LIMIT {
                *open = Some(fresh);
                self.build_in_background(vault, view.clone(), all);
                return Ok(lock(&self.current).clone());
            }
            fresh
                .update(hub, view.head, &view.files, &|_, _| {})
                .map_err(WebError::internal)?;
            *open = Some(fresh);
        }
        let o = open.as_ref().expect("set above");
        Ok(Some(o.searchable.clone()))
    }

    /// The index on disk, or a new empty one when it is missing, damaged or of another format.
    fn reopen(&self, hub: &dyn vault::hub::Hub, vault: &str) -> Result<Open, WebError> {
        if self.dir.join("meta.json").exists() {
            match Open::existing(&self.dir, hub) {
                Ok(o) => return Ok(o),
                Err(e) => {
                    tracing::warn!(%vault, "the search index cannot be used, rebuilding it: {e}")
                }
            }
        }
        Open::fresh(&self.dir).map_err(WebError::internal)
    }

    /// Index `view` in a thread of its own (one at a time), committing as it goes.
    fn build_in_background(
        self: &Arc<Self>,
        vault: &OpenedVault,
        view: Arc<HeadView>,
        total: usize,
    ) {
        if self.building.swap(true, Ordering::SeqCst) {
            return;
        }
        self.done.store(0, Ordering::SeqCst);
        self.total.store(total, Ordering::SeqCst);
        let me = self.clone();
        let access = vault.access.clone();
        let name = vault.name.clone();
        std::thread::spawn(move || {
            let mut open = lock(&me.open);
            let progress = |done: usize, total: usize| {
                me.done.store(done, Ordering::SeqCst);
                me.total.store(total, Ordering::SeqCst);
            };
            let result = match open.as_mut() {
                Some(o) => o.update(access.hub(), view.head, &view.files, &progress),
                None => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(vault = %name, "building the search index failed: {e}");
                // Start again from nothing at the next search.
                *open = None;
            }
            me.building.store(false, Ordering::SeqCst);
        });
    }
}
