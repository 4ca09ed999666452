//! Per vault, per head: the [`PathIndex`] links resolve against (kept while the paths stay
//! the same) and the backlinks ("linked from") of every note, kept up to date incrementally:
//! the links a note makes are kept per blob id (a blob's contents never change), so a new
//! head reads and parses only the notes that changed, and the [`LinkGraph`] resolves again
//! only the notes a change touches.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use vault::hub_write;
use vault::id::ObjectId;
use vault::paths::VaultPath;

use crate::WebError;
use crate::render::graph::{LinkGraph, NoteAt, changed_names};
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
    /// The links of each note version, by blob id (only those of the graph's head are kept).
    outgoing: HashMap<ObjectId, Arc<Vec<Outgoing>>>,
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

    /// Bring the link graph to `view`'s head: parse the note versions not seen before (one
    /// batch read), resolve what the change touched.
    fn update_graph(
        &mut self,
        vault: &OpenedVault,
        view: &HeadView,
        index: &PathIndex,
    ) -> Result<(), WebError> {
        let sources: Vec<(&VaultPath, ObjectId)> = view
            .files
            .iter()
            // A note too large to read in a page has no links here (bounded memory).
            .filter(|(p, meta)| {
                is_note(p.as_str()) && !p.is_revision() && meta.size <= crate::content::MAX_IN_PAGE
            })
            .map(|(p, meta)| (p, meta.id))
            .collect();
        let mut wanted: Vec<ObjectId> = sources
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| !self.outgoing.contains_key(id))
            .collect();
        wanted.sort();
        wanted.dedup();
        // In batches, so the first build after a start never holds every note's text at
        // once; each batch parsed on every core.
        for batch in wanted.chunks(FETCH_BATCH) {
            let blobs =
                hub_write::fetch_files(vault.access.hub(), batch, crate::content::MAX_IN_PAGE)?;
            let parsed: Vec<Vec<Outgoing>> = blobs
                .par_iter()
                .map(|bytes| links::outgoing(&String::from_utf8_lossy(bytes)))
                .collect();
            for (id, links) in batch.iter().zip(parsed) {
                self.outgoing.insert(*id, Arc::new(links));
            }
        }
        let live: HashSet<ObjectId> = sources.iter().map(|(_, id)| *id).collect();
        self.outgoing.retain(|id, _| live.contains(id));
        if wanted.len() > 256 {
            crate::give_back_memory();
        }
        let changed = match self.graph_head {
            None => None,
            Some(_) => Some(changed_names(
                self.graph_paths.iter().map(|p| p.as_str()),
                view.files.keys().map(|p| p.as_str()),
            )),
        };
        let none = Vec::new();
        let at: Vec<NoteAt> = sources
            .iter()
            .map(|(path, id)| NoteAt {
                path: path.as_str(),
                version: *id,
                links: self.outgoing.get(id).map_or(&none[..], |l| &l[..]),
            })
            .collect();
        let resolved = self.graph.update(index, &at, changed.as_ref());
        tracing::debug!(
            "web view: link graph of {} at a new head: {resolved} of {} notes resolved",
            vault.name,
            at.len()
        );
        self.graph_head = Some(view.head);
        self.graph_paths = view.files.keys().cloned().collect();
        Ok(())
    }
}
