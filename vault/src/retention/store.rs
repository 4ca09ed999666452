//! The policy's place: the optional `"retention"` field of the hub folder's `vault-hub.json`
//! (docs/format.md). The hub travels with its policy (a hub folder copied to a new drive, or
//! moved into a server's data folder, keeps thinning the same way), and every device of the
//! vault sees the same one. syncd versions that predate it ignore the field (the marker's
//! reader ignores unknown fields).
//!
//! Writing is read-modify-write of the whole JSON object, every other field kept as it was
//! (including ones a later version adds), through a temp file in the same folder, fsync and
//! rename. Just before the rename the file is read again: if someone else changed it meanwhile
//! (the hub's format raised by a round writing its first chunked file), the change is taken
//! and the write redone, so the window for losing a concurrent change is the rename only.

use crate::vfs as fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::Policy;
use crate::folder_hub::MARKER_FILE;
use crate::fsutil::{PathIoError, io_at, write_atomic};

/// The field's name in `vault-hub.json`.
pub const FIELD: &str = "retention";

/// Why the policy could not be read or written. Nothing was changed in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    #[error(
        "`{0}` is not a hub folder (it has no `vault-hub.json`); check the path: a hub folder holds `vault-hub.json`, `packs/` and `refs/`"
    )]
    NotAHub(PathBuf),
    #[error(transparent)]
    Io(#[from] PathIoError),
    #[error(
        "`{path}` is not valid JSON ({detail}); restore it from a backup, or write {{\"format\":1,\"created_ns\":0}} into it"
    )]
    Marker { path: PathBuf, detail: String },
    #[error(
        "the `retention` field of `{path}` is not a policy this syncd knows ({detail}); it may have been written by a newer version: upgrade, or set it again with `syncd hub retention --keep-all` or `--thin`"
    )]
    Policy { path: PathBuf, detail: String },
    #[error("`{path}` kept changing while the retention policy was written; try again")]
    Busy { path: PathBuf },
}

/// The policy of the hub folder `hub_root` (also a server's vault folder,
/// `DATA/vaults/USER/VAULT`): [`Policy::All`] when the field is absent or `null`.
pub fn load(hub_root: &Path) -> Result<Policy, RetentionError> {
    let (path, map) = read(hub_root)?;
    match map.get(FIELD) {
        None | Some(Value::Null) => Ok(Policy::All),
        Some(value) => {
            let policy: Policy =
                serde_json::from_value(value.clone()).map_err(|e| RetentionError::Policy {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            if let Policy::Thin(t) = &policy {
                t.check().map_err(|detail| RetentionError::Policy {
                    path: path.clone(),
                    detail,
                })?;
            }
            Ok(policy)
        }
    }
}

/// Store `policy` in `hub_root`'s `vault-hub.json`, every other field kept. Keeping everything
/// is written as an explicit `{"keep":"all"}`, so it reads as a choice.
pub fn save(hub_root: &Path, policy: &Policy) -> Result<(), RetentionError> {
    let value = serde_json::to_value(policy).expect("a policy is always JSON");
    for _ in 0..5 {
        let (path, mut map) = read(hub_root)?;
        let before = map.clone();
        map.insert(FIELD.to_string(), value.clone());
        let bytes = serde_json::to_vec(&Value::Object(map)).expect("a map is always JSON");
        // Read again just before writing: a change by another process since our read is not
        // overwritten but taken into the next attempt.
        if read(hub_root)?.1 != before {
            continue;
        }
        write_atomic(&path, &bytes).map_err(io_at("writing", &path))?;
        return Ok(());
    }
    Err(RetentionError::Busy {
        path: hub_root.join(MARKER_FILE),
    })
}

fn read(hub_root: &Path) -> Result<(PathBuf, Map<String, Value>), RetentionError> {
    let path = hub_root.join(MARKER_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(RetentionError::NotAHub(hub_root.to_path_buf()));
        }
        Err(e) => return Err(io_at("reading", &path)(e).into()),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok((path, map)),
        Ok(_) => Err(RetentionError::Marker {
            path,
            detail: "not a JSON object".to_string(),
        }),
        Err(e) => Err(RetentionError::Marker {
            path,
            detail: e.to_string(),
        }),
    }
}
