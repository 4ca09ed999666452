//! A user's vault as the web view reads it: the hub's head snapshot and its files, cached by
//! head (a new snapshot is a new entry; nothing is shown from a stale one, because every page
//! asks the hub for its head first, which is one small file read).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vault::hub_write;
use vault::id::ObjectId;
use vault::object::{FlatTree, Snapshot};

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
}

/// The last [`HeadView`] of each vault.
#[derive(Default)]
pub(crate) struct HeadCache {
    by_vault: Mutex<HashMap<(String, String), Arc<HeadView>>>,
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
        if let Some(view) = self
            .heads
            .by_vault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && view.head == head
        {
            return Ok(view.clone());
        }
        let view = Arc::new(match head {
            None => HeadView {
                head: None,
                snapshot: None,
                files: FlatTree::new(),
            },
            Some(id) => {
                let snapshot = hub_write::snapshot(hub, id)?;
                let files = hub_write::files(hub, snapshot.tree)?;
                HeadView {
                    head,
                    snapshot: Some(snapshot),
                    files,
                }
            }
        });
        self.heads
            .by_vault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, view.clone());
        Ok(view)
    }
}
