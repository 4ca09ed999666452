//! A user's vault as the web view reads it: the hub's head snapshot and its files, cached by
//! head (a new snapshot is a new entry; nothing is shown from a stale one, because every page
//! asks the hub for its head first, which is one small file read).
//!
//! A new head's files are made from the previous head's, reading only the trees that changed
//! (`hub_write::files_since`): a whole 100,000-note tree took half a second to read, and every
//! page, the search index and the tasks wait for it after each snapshot. One reader per vault
//! builds it; the others wait for that one rather than read the same trees again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vault::hub_write;
use vault::id::ObjectId;
use vault::object::{FlatChanges, FlatTree, Snapshot};

use crate::backend::VaultAccess;
use crate::session::Viewer;
use crate::{Web, WebError};

/// One of the viewer's vaults, opened.
#[derive(Clone)]
pub struct OpenedVault {
    pub user: String,
    pub name: String,
    pub access: Arc<dyn VaultAccess>,
}

/// The head of a vault and every file in it.
#[derive(Debug)]
pub struct HeadView {
    /// `None`: the vault has no snapshot yet (no device synced).
    pub head: Option<ObjectId>,
    pub snapshot: Option<Snapshot>,
    pub files: FlatTree,
    /// How `files` differ from those of the head before (the one this view was made from):
    /// `(that head, the changes)`; `None` when the files were read whole.
    pub since: Option<(ObjectId, FlatChanges)>,
}

/// A vault's last [`HeadView`], behind its own lock (one build at a time).
type LastView = Arc<Mutex<Option<Arc<HeadView>>>>;

/// The last [`HeadView`] of each vault.
#[derive(Default)]
pub(crate) struct HeadCache {
    by_vault: Mutex<HashMap<(String, String), LastView>>,
}

impl Web {
    /// `viewer`'s vault `name`; any other (another account's, or none) is the same 404.
    pub fn open_vault(&self, viewer: &Viewer, name: &str) -> Result<OpenedVault, WebError> {
        self.backend()
            .vault(&viewer.user, name)
            .map(|access| OpenedVault {
                user: viewer.user.clone(),
                name: name.to_string(),
                access,
            })
            .ok_or_else(|| WebError::not_found(format!("you have no vault `{name}` here")))
    }

    /// The current head of `vault` and its files (blocking: call it inside [`crate::blocking`]).
    pub fn head_view(&self, vault: &OpenedVault) -> Result<Arc<HeadView>, WebError> {
        let hub = vault.access.hub();
        let head = hub.head()?;
        let key = (vault.user.clone(), vault.name.clone());
        let cell = self
            .heads
            .by_vault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let mut last = cell.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(view) = last.as_ref()
            && view.head == head
        {
            return Ok(view.clone());
        }
        let view = Arc::new(match head {
            None => HeadView {
                head: None,
                snapshot: None,
                files: FlatTree::new(),
                since: None,
            },
            Some(id) => {
                let snapshot = hub_write::snapshot(hub, id)?;
                let before = last.as_ref().and_then(|v| {
                    let head = v.head?;
                    Some((head, v.snapshot.as_ref()?.tree, &v.files))
                });
                // The previous head's trees may be gone (gc after retention thinned the
                // history): then the new head is read whole.
                let incremental = before.and_then(|(old_head, old_root, old_files)| {
                    hub_write::files_since(hub, old_root, old_files, snapshot.tree)
                        .map(|(files, changes)| (files, Some((old_head, changes))))
                        .ok()
                });
                let (files, since) = match incremental {
                    Some(done) => done,
                    None => (hub_write::files(hub, snapshot.tree)?, None),
                };
                HeadView {
                    head,
                    snapshot: Some(snapshot),
                    files,
                    since,
                }
            }
        });
        *last = Some(view.clone());
        Ok(view)
    }
}
