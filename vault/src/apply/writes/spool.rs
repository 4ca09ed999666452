//! Large files in apply: their content streams into a spool file (a temp file at the vault's
//! top, made on the fetching thread, which alone may use the source), a batch of chunks at a
//! time; the preparer then links the spool into the target's folder as that file's temp file.
//! So no large file is ever held in memory, and its bytes are written once (a copy only when
//! the target folder is on another filesystem, a mount point inside the vault).

use crate::vfs::File;
use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::DirTemp;
use crate::apply::{ApplyError, BatchPlan, BlobSource, io_err};
use crate::fsutil::{Dir, next_temp_name};
use crate::id::ObjectId;

/// A large file's bytes in a temp file at the vault's top, removed on drop unless adopted.
pub(super) struct Spool {
    tmp: DirTemp,
    file: File,
}

/// Stream the large files of `plan` into spool files, each one's length checked.
pub(super) fn fetch_streams(
    plan: &BatchPlan<'_>,
    top: &Arc<Dir>,
    root: &Path,
    source: &mut dyn BlobSource,
) -> Result<HashMap<ObjectId, Spool>, ApplyError> {
    let mut out = HashMap::with_capacity(plan.streams.len());
    for &(id, size) in &plan.streams {
        let path = plan.first_path[&id];
        let (name, file) = top
            .create_temp()
            .map_err(|e| io_err("creating a temp file for", &path.to_fs_path(root))(e))?;
        let mut spool = Spool {
            tmp: DirTemp {
                dir: Arc::clone(top),
                name,
                live: true,
            },
            file,
        };
        let fetch_err = |source| ApplyError::Fetch {
            first: path.clone(),
            count: 1,
            source,
            partial: Box::default(),
        };
        source
            .write_to(id, size, &mut spool.file)
            .map_err(fetch_err)?;
        let len = spool
            .file
            .metadata()
            .map_err(|e| io_err("reading", &path.to_fs_path(root))(e))?
            .len();
        if len != size {
            return Err(fetch_err(
                format!("{len} bytes arrived for a file of {size} bytes").into(),
            ));
        }
        out.insert(id, spool);
    }
    Ok(out)
}

/// Make `spool` a temp file in `dir`: its name and its (still open) file. Linked there under a
/// fresh temp name (never replacing anything), or copied when `dir` is on another filesystem.
pub(super) fn adopt(spool: Spool, dir: &Arc<Dir>) -> io::Result<(CString, File)> {
    let Spool { mut tmp, file } = spool;
    if Arc::ptr_eq(&tmp.dir, dir) {
        let name = std::mem::take(&mut tmp.name);
        tmp.live = false;
        return Ok((name, file));
    }
    let mut tries = 0;
    loop {
        let name = next_temp_name();
        match tmp.dir.link_into(&tmp.name, dir, &name) {
            Ok(()) => {
                // The spool's name goes; the file lives on under `name` (same inode).
                drop(tmp);
                return Ok((name, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let (name, mut copy) = dir.create_temp()?;
                let mut from = tmp.dir.open_read(&tmp.name)?;
                let copied = io::copy(&mut from, &mut copy);
                if let Err(e) = copied {
                    let _ = dir.remove_file(&name);
                    return Err(e);
                }
                return Ok((name, copy));
            }
            Err(e) => return Err(e),
        }
    }
}
