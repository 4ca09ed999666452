//! The search indexes of the server's vaults, opened on first use and brought up to the head
//! before a search answers: inline when few notes changed, in a background thread when many
//! did (a first build of a large vault), so a search never waits long. A missing or damaged
//! index is wiped and rebuilt; the reader is told so in the server's log, not by a 500.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

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
    /// Whether a task follows the vault's head (see [`follow`]).
    following: AtomicBool,
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
                    following: AtomicBool::new(false),
                    done: AtomicUsize::new(0),
                    total: AtomicUsize::new(0),
                })
            })
            .clone()
    }
}

/// Search `vault` at its current head for `parts` (blocking: inside [`crate::blocking`]).
pub fn search(
    web: &Arc<Web>,
    vault: &OpenedVault,
    parts: &[Part],
    limit: usize,
) -> Result<Outcome, WebError> {
    let view = web.head_view(vault)?;
    let index = web.search_indexes().vault(&vault.user, &vault.name);
    follow(web, vault, &index);
    let searchable = loop {
        // A background build holds the index: search what it has committed so far.
        if index.building.load(Ordering::SeqCst) {
            break lock(&index.current).clone();
        }
        match index.open.try_lock() {
            Ok(mut open) => break index.refresh(&mut open, vault, &view)?,
            Err(TryLockError::Poisoned(p)) => {
                break index.refresh(&mut p.into_inner(), vault, &view)?;
            }
            // Another search or the follower is applying a few changes (bounded by
            // INLINE_LIMIT): wait for them, they may be the ones this search needs.
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(5)),
        }
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

/// From now on, bring `vault`'s index up to date whenever its head moves (a device synced,
/// the web view ticked a task), in the background, so the next search finds it done. Once
/// per vault; nothing when the server gives no change signal or there is no async runtime.
pub fn follow(web: &Arc<Web>, vault: &OpenedVault, index: &Arc<VaultIndex>) {
    let Some(mut changes) = vault.access.changes() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if index.following.swap(true, Ordering::SeqCst) {
        return;
    }
    let (web, vault, index) = (web.clone(), vault.clone(), index.clone());
    runtime.spawn(async move {
        changes.borrow_and_update();
        while changes.changed().await.is_ok() {
            changes.borrow_and_update();
            let (web, opened, index) = (web.clone(), vault.clone(), index.clone());
            let done = tokio::task::spawn_blocking(move || {
                let view = web.head_view(&opened)?;
                let mut open = lock(&index.open);
                index.refresh(&mut open, &opened, &view).map(|_| ())
            })
            .await;
            if let Ok(Err(e)) = done {
                tracing::warn!(vault = %vault.name, "updating the search index: {e}");
            }
        }
    });
}

/// Bring `vault`'s index up to date in the background now and follow its head from then on:
/// for the first page of a vault a user opens, so the first search finds the index ready;
/// later pages cost nothing. Returns at once (call it from an async handler or a blocking task alike).
pub fn warm(web: &Arc<Web>, vault: &OpenedVault) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let index = web.search_indexes().vault(&vault.user, &vault.name);
    // Once followed, the index is kept current by `follow`: nothing to do on later pages.
    if index.following.load(Ordering::SeqCst) {
        return;
    }
    follow(web, vault, &index);
    if index.building.load(Ordering::SeqCst) {
        return;
    }
    let (web, vault) = (web.clone(), vault.clone());
    runtime.spawn_blocking(move || {
        let Ok(mut open) = index.open.try_lock() else {
            return;
        };
        let result = web
            .head_view(&vault)
            .and_then(|view| index.refresh(&mut open, &vault, &view));
        if let Err(e) = result {
            tracing::warn!(vault = %vault.name, "updating the search index: {e}");
        }
    });
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
        let pending = o.pending(&view.files, view.since.as_ref());
        if pending > INLINE_LIMIT {
            self.build_in_background(vault, view.clone(), pending);
            return Ok(Some(o.searchable.clone()));
        }
        let started = std::time::Instant::now();
        let updated = o.update(hub, view.head, &view.files, view.since.as_ref(), &|_, _| {});
        if updated.is_ok() {
            tracing::info!(vault = %vault.name, notes = pending, "search index of vault updated in {:?}", started.elapsed());
        }
        if let Err(e) = updated {
            if matches!(e, IndexError::Hub(_)) {
                return Err(WebError::internal(e));
            }
            tracing::warn!(vault = %vault.name, "updating the search index failed, rebuilding it: {e}");
            let mut fresh = Open::fresh(&self.dir).map_err(WebError::internal)?;
            *lock(&self.current) = Some(fresh.searchable.clone());
            let all = fresh.pending(&view.files, None);
            if all > INLINE_LIMIT {
                *open = Some(fresh);
                self.build_in_background(vault, view.clone(), all);
                return Ok(lock(&self.current).clone());
            }
            fresh
                .update(hub, view.head, &view.files, None, &|_, _| {})
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
            let started = std::time::Instant::now();
            let result = match open.as_mut() {
                Some(o) => o.update(
                    access.hub(),
                    view.head,
                    &view.files,
                    view.since.as_ref(),
                    &progress,
                ),
                None => Ok(()),
            };
            if result.is_ok() {
                tracing::info!(vault = %name, notes = total, "search index of vault built in {:?}", started.elapsed());
            }
            if let Err(e) = result {
                tracing::warn!(vault = %name, "building the search index failed: {e}");
                // Start again from nothing at the next search.
                *open = None;
            }
            me.building.store(false, Ordering::SeqCst);
        });
    }
}
