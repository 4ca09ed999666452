//! The folders on the way to a file in the vault: they must be real folders, never symbolic
//! links or files, so that nothing written by name inside the vault can land outside it.

use crate::vfs as fs;
use std::path::Path;

use crate::filestat::{self, Found};
use crate::fsutil::{self, PathIoError, io_at};
use crate::paths::VaultPath;

/// A folder on the way could not be checked or is not a real folder.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error(transparent)]
    Io(#[from] PathIoError),
    #[error("`{path}` is {what}")]
    Blocked { path: VaultPath, what: &'static str },
}

/// Check that every folder on the way to `path` is a real folder; with `create`, make missing
/// ones. `Ok(false)`: a folder is missing (and `create` was not asked).
pub fn check_parents(root: &Path, path: &VaultPath, create: bool) -> Result<bool, FolderError> {
    let Some(parent) = path.parent() else {
        return Ok(true);
    };
    let mut dir = root.to_path_buf();
    let mut rel = String::new();
    for name in parent.components() {
        let next = dir.join(name);
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(name);
        // A prefix of a valid path is valid.
        let here = VaultPath::new(&rel).unwrap_or_else(|_| path.clone());
        let mut found = filestat::probe(&next).map_err(io_at("checking", &next))?;
        if found == Found::Absent && create {
            match fs::create_dir(&next) {
                Ok(()) => fsutil::fsync_dir(&dir).map_err(io_at("syncing folder", &dir))?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_at("creating folder", &next)(e).into()),
            }
            found = filestat::probe(&next).map_err(io_at("checking", &next))?;
        }
        match found {
            Found::Dir => {}
            Found::Absent => return Ok(false),
            Found::File(_) => {
                return Err(FolderError::Blocked {
                    path: here,
                    what: "a file where a folder is needed",
                });
            }
            Found::Other => {
                return Err(FolderError::Blocked {
                    path: here,
                    what: "a symbolic link or special file where a folder is needed",
                });
            }
        }
        dir = next;
    }
    Ok(true)
}
