//! History retention: which snapshots keep their files when a hub is cleaned (`hub gc`).
//!
//! CONTRACT (skeleton of issue 18; the retention work fills it in, the gc work calls it):
//! snapshot objects themselves are always kept (they are a few hundred bytes, and keeping them
//! keeps the history's shape: `syncd log` still lists every round); what retention thins is
//! which snapshots' *trees* (and so the file versions only they reach) gc keeps. The head is
//! always kept, and with it every current file and everything in `.revisions/`.

use std::collections::HashSet;

use crate::id::ObjectId;

/// What the user chose. The default keeps everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "keep", rename_all = "snake_case")]
pub enum Policy {
    #[default]
    All,
}

/// What retention needs to know of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: ObjectId,
    pub time_ns: i64,
    pub parents: Vec<ObjectId>,
}

/// The snapshots whose trees are kept, of `snapshots` (every snapshot reachable from `head`),
/// under `policy` at time `now_ns`. Always contains `head`. Pure.
pub fn kept(
    snapshots: &[SnapshotInfo],
    head: ObjectId,
    policy: &Policy,
    _now_ns: i64,
) -> HashSet<ObjectId> {
    let mut kept: HashSet<ObjectId> = match policy {
        Policy::All => snapshots.iter().map(|s| s.id).collect(),
    };
    kept.insert(head);
    kept
}

/// Why the retention policy of a hub cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    #[error("cannot read `{path}`: {source}; check that the hub folder is reachable")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the retention policy in `{path}` is not valid ({detail}); set it again with `syncd hub retention`"
    )]
    Invalid {
        path: std::path::PathBuf,
        detail: String,
    },
}

/// The policy stored in the hub's `vault-hub.json` (field `retention`), or the default (keep
/// everything) when there is none.
///
/// STUB of the gc work (the retention work owns this function and `save`): it reads the
/// field if present, as the shared contract describes it, and otherwise returns the default.
pub fn load(hub_root: &std::path::Path) -> Result<Policy, RetentionError> {
    let path = hub_root.join(crate::folder_hub::MARKER_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Policy::default()),
        Err(source) => return Err(RetentionError::Read { path, source }),
    };
    #[derive(serde::Deserialize)]
    struct Marker {
        #[serde(default)]
        retention: Option<Policy>,
    }
    let marker: Marker = serde_json::from_slice(&bytes).map_err(|e| RetentionError::Invalid {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    Ok(marker.retention.unwrap_or_default())
}
