//! Per vault, per head: the [`PathIndex`] links resolve against and the backlinks ("linked
//! from") of every note. The links a note makes are kept per blob id (a blob's contents never
//! change), so a new head re-reads and re-parses only the notes that changed, then resolves
//! every note's links against the new paths (hash lookups, no parsing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vault::hub_write;
use vault::id::ObjectId;
use vault::object::Kind;

use crate::WebError;
use crate::render::links::{self, Outgoing};
use crate::render::resolve::{PathIndex, is_note};
use crate::vaults::{HeadView, OpenedVault};

/// The link index of every vault the web view has shown.
#[derive(Default)]
pub(crate) struct NotesState {
    vaults: Mutex<HashMap<(String, String), Arc<Mutex<VaultNotes>>>>,
}

/// One vault's index at its last head.
#[derive(Default)]
struct VaultNotes {
    head: Option<ObjectId>,
    paths: Option<Arc<PathIndex>>,
    backlinks: Option<Arc<Backlinks>>,
    /// The links of each note version, by blob id (only those of the last head are kept).
    outgoing: HashMap<ObjectId, Arc<Vec<Outgoing>>>,
}

/// Note path -> the notes linking to it, sorted.
pub type Backlinks = HashMap<String, Vec<String>>;

impl NotesState {
    fn vault(&self, vault: &OpenedVault) -> Arc<Mutex<VaultNotes>> {
        let mut all = self.vaults.lock().unwrap_or_else(|p| p.into_inner());
        all.entry((vault.user.clone(), vault.name.clone()))
            .or_default()
            .clone()
    }

    /// The path index of `view`'s head (built once per head).
    pub fn paths(&self, vault: &OpenedVault, view: &HeadView) -> Arc<PathIndex> {
        let cell = self.vault(vault);
        let mut notes = cell.lock().unwrap_or_else(|p| p.into_inner());
        notes.at_head(view);
        notes
            .paths
            .get_or_insert_with(|| Arc::new(PathIndex::new(view.files.keys().map(|p| p.as_str()))))
            .clone()
    }

    /// The backlinks of `view`'s head (blocking: reads the notes not seen before).
    pub fn backlinks(
        &self,
        vault: &OpenedVault,
        view: &HeadView,
    ) -> Result<Arc<Backlinks>, WebError> {
        let paths = self.paths(vault, view);
        let cell = self.vault(vault);
        let mut notes = cell.lock().unwrap_or_else(|p| p.into_inner());
        notes.at_head(view);
        if let Some(b) = &notes.backlinks {
            return Ok(b.clone());
        }
        let sources: Vec<(&str, ObjectId)> = view
            .files
            .iter()
            .filter(|(p, _)| is_note(p.as_str()) && !p.is_revision())
            .map(|(p, meta)| (p.as_str(), meta.id))
            .collect();
        let mut wanted: Vec<ObjectId> = sources
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| !notes.outgoing.contains_key(id))
            .collect();
        wanted.sort();
        wanted.dedup();
        let blobs = hub_write::fetch(vault.access.hub(), &wanted, Kind::Blob)?;
        for (id, bytes) in wanted.iter().zip(blobs) {
            let text = String::from_utf8_lossy(&bytes);
            notes.outgoing.insert(*id, Arc::new(links::outgoing(&text)));
        }
        let live: std::collections::HashSet<ObjectId> = sources.iter().map(|(_, id)| *id).collect();
        notes.outgoing.retain(|id, _| live.contains(id));
        let mut backlinks: Backlinks = HashMap::new();
        for (from, id) in &sources {
            let Some(out) = notes.outgoing.get(id) else {
                continue;
            };
            for target in links::targets(&paths, from, out) {
                backlinks.entry(target).or_default().push(from.to_string());
            }
        }
        for list in backlinks.values_mut() {
            list.sort();
        }
        let backlinks = Arc::new(backlinks);
        notes.backlinks = Some(backlinks.clone());
        Ok(backlinks)
    }
}

impl VaultNotes {
    /// Forget what belongs to another head than `view`'s (the per-blob links stay).
    fn at_head(&mut self, view: &HeadView) {
        if self.head != view.head {
            self.head = view.head;
            self.paths = None;
            self.backlinks = None;
        }
    }
}
