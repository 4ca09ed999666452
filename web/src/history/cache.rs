//! What the history pages keep between requests, per vault: the decoded snapshots and trees
//! (an object never changes for its id, so paging through a log of thousands, or walking a
//! file's history again, reads each from the hub once) and the change summary of each
//! snapshot (computed once by Merkle descent). Kept per user and vault, filled only from that
//! vault's hub, so one vault's ids never answer for another's. Bounded: beyond
//! [`MAX_SNAPSHOTS`] snapshots or [`MAX_TREE_ENTRIES`] tree entries a vault's part starts over.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use vault::history::{HistoryError, HubHistory, Known, PathChange};
use vault::id::ObjectId;
use vault::object::Snapshot;

use crate::OpenedVault;

/// How many paths of a snapshot's changes the log shows (the rest is a count).
pub const SHOWN_CHANGES: usize = 5;
/// Beyond this many snapshots of one vault the cache starts over (memory stays bounded).
const MAX_SNAPSHOTS: usize = 200_000;
/// Beyond this many entries in the trees kept for one vault (some 100 bytes each), its trees
/// are dropped: the next walks read them from the hub again.
const MAX_TREE_ENTRIES: usize = 250_000;

/// How a snapshot changed its first parent, in short.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The snapshot compared with: the first parent, or the nearest kept one before when the
    /// hub's retention policy thinned the parent (`None`: the first snapshot).
    pub base: Option<ObjectId>,
    pub count: usize,
    /// The first [`SHOWN_CHANGES`] changes, by path.
    pub first: Vec<PathChange>,
}

#[derive(Default)]
struct VaultHistory {
    known: Known,
    summaries: HashMap<ObjectId, Arc<Summary>>,
}

static CACHE: LazyLock<Mutex<HashMap<(String, String), VaultHistory>>> =
    LazyLock::new(Default::default);

fn key(vault: &OpenedVault) -> (String, String) {
    (vault.user.clone(), vault.name.clone())
}

/// Run `f` with a reader of `vault`'s history that knows the snapshots read before, and the
/// summaries computed before; what it learns is kept (blocking: inside `crate::blocking`).
pub fn with_history<T>(
    vault: &OpenedVault,
    f: impl FnOnce(&mut HubHistory, &mut Summaries) -> Result<T, HistoryError>,
) -> Result<T, HistoryError> {
    let (known, summaries) = {
        let mut all = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        let entry = all.entry(key(vault)).or_default();
        (
            std::mem::take(&mut entry.known),
            std::mem::take(&mut entry.summaries),
        )
    };
    let mut history = HubHistory::new(vault.access.hub(), known);
    let mut summaries = Summaries { known: summaries };
    let result = f(&mut history, &mut summaries);
    let mut known = history.into_known();
    if known.snapshots.len() > MAX_SNAPSHOTS {
        known = Known::default();
        summaries.known.clear();
    }
    if known.tree_entries() > MAX_TREE_ENTRIES {
        known.trees.clear();
    }
    let mut all = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let entry = all.entry(key(vault)).or_default();
    // Another request may have put back what it learnt meanwhile: keep both.
    entry.known.snapshots.extend(known.snapshots);
    entry.known.trees.extend(known.trees);
    entry.summaries.extend(summaries.known);
    result
}

/// The change summaries of a vault's snapshots.
pub struct Summaries {
    known: HashMap<ObjectId, Arc<Summary>>,
}

impl Summaries {
    /// How `snapshot` (id `id`) changed its first parent (or the nearest kept snapshot
    /// before it); `None` when the hub no longer holds its files (thinned).
    pub fn of(
        &mut self,
        history: &mut HubHistory,
        id: ObjectId,
        snapshot: &Snapshot,
    ) -> Result<Option<Arc<Summary>>, HistoryError> {
        if let Some(s) = self.known.get(&id) {
            return Ok(Some(s.clone()));
        }
        let Some((base, mut changes)) = history.changes(snapshot)? else {
            return Ok(None);
        };
        let count = changes.len();
        changes.truncate(SHOWN_CHANGES);
        let summary = Arc::new(Summary {
            base,
            count,
            first: changes,
        });
        self.known.insert(id, summary.clone());
        Ok(Some(summary))
    }
}
