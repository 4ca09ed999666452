//! Per vault, per head: the [`PathIndex`] links resolve against (kept while the paths stay
//! the same) and the backlinks ("linked from") of every note, kept up to date incrementally:
//! the [`LinkGraph`] says which notes a new head touches (changed versions, links to a name
//! that appeared or went), and only those are read and parsed again. The links as written are
//! not kept: a million of them were the largest part of an idle server's memory at 100,000
//! notes, and a note whose links must be resolved again is read back from the hub instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use vault::hub_write;
use vault::id::ObjectId;
use vault::paths::VaultPath;

use crate::WebError;
use crate::render::graph::{LinkGraph, changed_names};
use crate::render::links::{self, Outgoing};
use crate::render::resolve::{PathIndex, is_note};
use crate::vaults::{HeadView, OpenedVault};

/// How many note versions are read from the hub at a time when the link graph is built.
const FETCH_BATCH: usize = 512;

/// The link index of every vault the web view has shown.
#[derive(Default)]
pub(crate) struct NotesState {
    vaults: Mutex<HashMap<VaultKey, Arc<Mutex<VaultNotes>>>>,
}

/// (user, vault name).
type VaultKey = (String, String);

/// One vault's index at its last head.
#[derive(Default)]
struct VaultNotes {
    head: Option<ObjectId>,
    /// The paths of that head (to tell whether the next head has the same).
    path_list: Vec<VaultPath>,
    paths: Option<Arc<PathIndex>>,
    /// The head the link graph is at, and the paths it was resolved against.
    graph_head: Option<Option<ObjectId>>,
    graph_paths: Vec<VaultPath>,
    graph: LinkGraph,
}

impl NotesState {
    fn vault(&self, vault: &OpenedVault) -> Arc<Mutex<VaultNotes>> {
        let mut all = self.vaults.lock().unwrap_or_else(|p| p.into_inner());
        all.entry((vault.user.clone(), vault.name.clone()))
            .or_default()
            .clone()
    }

    /// The path index of `view`'s head.
    pub fn paths(&self, vault: &OpenedVault, view: &HeadView) -> Arc<PathIndex> {
        let cell = self.vault(vault);
        let mut notes = cell.lock().unwrap_or_else(|p| p.into_inner());
        notes.at_head(view)
    }

    /// The notes of `view`'s head that link to `path`, sorted (blocking: reads the notes not
    /// seen before).
    pub fn linked_from(
        &self,
        vault: &OpenedVault,
        view: &HeadView,
        path: &str,
    ) -> Result<Vec<String>, WebError> {
        let cell = self.vault(vault);
        let mut notes = cell.lock().unwrap_or_else(|p| p.into_inner());
        let index = notes.at_head(view);
        if notes.graph_head != Some(view.head) {
            notes.update_graph(vault, view, &index)?;
        }
        Ok(notes.graph.linked_from(path))
    }
}

impl NotesState {
    /// Whether the link graph of `view`'s head is built or being built (then a note page
    /// waits for it rather than building it again).
    pub fn graph_started(&self, vault: &OpenedVault, view: &HeadView) -> bool {
        let cell = self.vault(vault);
        match cell.try_lock() {
            Ok(notes) => notes.graph_head == Some(view.head),
            Err(std::sync::TryLockError::WouldBlock) => true,
            Err(std::sync::TryLockError::Poisoned(p)) => {
                p.into_inner().graph_head == Some(view.head)
            }
        }
    }
}

impl VaultNotes {
    /// Move to `view`'s head; its path index (the last one when the paths are the same).
    fn at_head(&mut self, view: &HeadView) -> Arc<PathIndex> {
        if self.head != view.head || self.paths.is_none() {
            self.head = view.head;
            let same_paths = self.paths.is_some()
                && self.path_list.len() == view.files.len()
                && self.path_list.iter().eq(view.files.keys());
            if !same_paths {
                self.paths = None;
                self.path_list = view.files.keys().cloned().collect();
            }
        }
        self.paths
            .get_or_insert_with(|| Arc::new(PathIndex::new(view.files.keys().map(|p| p.as_str()))))
            .clone()
    }

    /// Bring the link graph to `view`'s head: read and parse the notes it must resolve again
    /// (in batches, each parsed on every core), resolve them.
    fn update_graph(
        &mut self,
        vault: &OpenedVault,
        view: &HeadView,
        index: &PathIndex,
    ) -> Result<(), WebError> {
        let sources: Vec<(&str, ObjectId)> = view
            .files
            .iter()
            // A note too large to read in a page has no links here (bounded memory).
            .filter(|(p, meta)| {
                is_note(p.as_str()) && !p.is_revision() && meta.size <= crate::content::MAX_IN_PAGE
            })
            .map(|(p, meta)| (p.as_str(), meta.id))
            .collect();
        let changed = match self.graph_head {
            None => None,
            Some(_) => Some(changed_names(
                self.graph_paths.iter().map(|p| p.as_str()),
                view.files.keys().map(|p| p.as_str()),
            )),
        };
        let stale = self.graph.stale(&sources, changed.as_ref());
        // In batches, so the first build after a start never holds every note's text at
        // once; each blob read once per batch even when several paths hold it.
        for batch in stale.chunks(FETCH_BATCH) {
            let mut ids: Vec<ObjectId> = batch.iter().map(|&i| sources[i].1).collect();
            ids.sort();
            ids.dedup();
            let blobs =
                hub_write::fetch_files(vault.access.hub(), &ids, crate::content::MAX_IN_PAGE)?;
            let parsed: Vec<Vec<Outgoing>> = blobs
                .par_iter()
                .map(|bytes| links::outgoing(&String::from_utf8_lossy(bytes)))
                .collect();
            for &i in batch {
                let (path, id) = sources[i];
                let at = ids.binary_search(&id).expect("fetched above");
                self.graph.resolve(index, path, id, &parsed[at]);
            }
        }
        self.graph.finish();
        if stale.len() > 256 {
            crate::give_back_memory();
        }
        tracing::debug!(
            "web view: link graph of {} at a new head: {} of {} notes resolved",
            vault.name,
            stale.len(),
            sources.len()
        );
        self.graph_head = Some(view.head);
        self.graph_paths = view.files.keys().cloned().collect();
        Ok(())
    }
}
