//! A vault tree as a git tree: each file's whole bytes a blob (a large file's chunks joined),
//! each folder a tree, the executable bit as mode 100755. Trees and files already written (in
//! this run or an earlier one, by [`crate::map`]) are not read again.

use std::collections::HashMap;

use gix::ObjectId as GitId;
use gix::objs::tree::{Entry, EntryKind as GitKind};
use vault::hub::{Hub, HubError};
use vault::id::ObjectId;
use vault::object::{EntryKind, Kind, Tree};

use crate::ExportError;

/// The folder at the top of a vault that holds the versions conflicts set aside: left out of
/// the export unless asked for.
pub const REVISIONS: &str = ".revisions";

/// How many files one request for a folder's notes asks for at most.
const PREFETCH: usize = 256;

/// Writes vault trees into a git repository.
pub struct TreeWriter<'a> {
    pub hub: &'a dyn Hub,
    pub repo: &'a gix::Repository,
    pub include_revisions: bool,
    pub trees: &'a mut HashMap<ObjectId, GitId>,
    pub files: &'a mut HashMap<ObjectId, GitId>,
}

/// Why a tree could not be written: the hub does not hold all of it (a snapshot whose files
/// the retention policy thinned), or anything else.
pub enum TreeError {
    Gone,
    Failed(ExportError),
}

impl From<ExportError> for TreeError {
    fn from(e: ExportError) -> TreeError {
        TreeError::Failed(e)
    }
}

impl TreeWriter<'_> {
    /// The git tree of the vault's root tree `root`.
    pub fn root(&mut self, root: ObjectId) -> Result<GitId, TreeError> {
        self.tree(root, true)
    }

    fn tree(&mut self, id: ObjectId, at_root: bool) -> Result<GitId, TreeError> {
        // The root's entries depend on `include_revisions`; every other tree is the same
        // whatever it is.
        if !at_root && let Some(git) = self.trees.get(&id) {
            return Ok(*git);
        }
        let tree = read_tree(self.hub, id)?;
        let new_files: Vec<ObjectId> = (tree.entries.values())
            .filter_map(|e| match e {
                EntryKind::File(meta) if !self.files.contains_key(&meta.id) => Some(meta.id),
                _ => None,
            })
            .collect();
        self.prefetch(&new_files)?;
        let mut entries = Vec::with_capacity(tree.entries.len());
        for (name, entry) in tree.entries {
            let (mode, oid) = match entry {
                EntryKind::Dir(_) if at_root && name == REVISIONS && !self.include_revisions => {
                    continue;
                }
                EntryKind::Dir(sub) => (GitKind::Tree, self.tree(sub, false)?),
                EntryKind::File(meta) => {
                    let kind = if meta.executable {
                        GitKind::BlobExecutable
                    } else {
                        GitKind::Blob
                    };
                    (kind, self.blob(meta.id)?)
                }
            };
            entries.push(Entry {
                mode: mode.into(),
                filename: name.into(),
                oid,
            });
        }
        // Git's order (a folder sorts as if its name ended in `/`), not the vault's.
        entries.sort();
        let git = self.write(gix::objs::Tree { entries })?;
        if !at_root {
            self.trees.insert(id, git);
        }
        Ok(git)
    }

    /// Write the small files among `ids` as blobs, asking the hub for a batch at a time (one
    /// request per folder, not per note, through a server). A large file's list is left to
    /// [`TreeWriter::blob`], which joins its chunks.
    fn prefetch(&mut self, ids: &[ObjectId]) -> Result<(), TreeError> {
        for batch in ids.chunks(PREFETCH) {
            let objects = match self.hub.get(batch) {
                Ok(objects) if objects.len() == batch.len() => objects,
                Ok(_) => return Err(ExportError::History("files: no full answer".into()).into()),
                Err(HubError::Missing { .. }) => return Err(TreeError::Gone),
                Err(e) => return Err(ExportError::Hub(e).into()),
            };
            for (id, object) in batch.iter().zip(objects) {
                if object.kind != Kind::Blob {
                    continue;
                }
                if ObjectId::of(&object.bytes) != *id {
                    let e = format!("file {id}: the hub's bytes do not hash to it");
                    return Err(ExportError::History(e).into());
                }
                let git = (self.repo.write_blob(&object.bytes))
                    .map_err(|e| git_error(self.repo, e))?
                    .detach();
                self.files.insert(*id, git);
            }
        }
        Ok(())
    }

    /// A file not among the prefetched blobs: a large file's chunks joined. Streamed through
    /// a temporary file into a loose object, so a file of gigabytes costs disk, not memory.
    fn blob(&mut self, id: ObjectId) -> Result<GitId, TreeError> {
        use gix::objs::Write as _;
        use std::io::{Seek, Write};
        if let Some(git) = self.files.get(&id) {
            return Ok(*git);
        }
        let git_dir = self.repo.git_dir();
        let mut temp = crate::pack::TempFile::new(git_dir, "blob")?;
        let path = temp.path.clone();
        let io = |source| ExportError::Io {
            path: path.clone(),
            source,
        };
        let mut out = std::io::BufWriter::new(&mut temp.file);
        match vault::content::write_content(&mut |ids| self.hub.get(ids), id, &mut out) {
            Ok(_) => {}
            Err(vault::content::ReadError::Source(HubError::Missing { .. })) => {
                return Err(TreeError::Gone);
            }
            Err(vault::content::ReadError::Source(e)) => return Err(ExportError::Hub(e).into()),
            Err(e) => return Err(ExportError::History(format!("file {id}: {e}")).into()),
        }
        out.flush().map_err(io)?;
        drop(out);
        let size = temp.file.stream_position().map_err(io)?;
        temp.file.rewind().map_err(io)?;
        let store = gix::odb::loose::Store::at(git_dir.join("objects"), gix::hash::Kind::Sha1);
        let mut reader = std::io::BufReader::new(&mut temp.file);
        let git = store
            .write_stream(gix::objs::Kind::Blob, size, &mut reader)
            .map_err(|e| git_error(self.repo, e))?;
        self.files.insert(id, git);
        Ok(git)
    }

    fn write(&self, object: impl gix::objs::WriteTo) -> Result<GitId, ExportError> {
        Ok(self
            .repo
            .write_object(object)
            .map_err(|e| git_error(self.repo, e))?
            .detach())
    }
}

/// The vault tree `id`, read from the hub (hash-checked there).
pub fn read_tree(hub: &dyn Hub, id: ObjectId) -> Result<Tree, TreeError> {
    let bytes = match hub.get(&[id]) {
        Ok(mut objects) if objects.len() == 1 => objects.remove(0).bytes,
        Ok(_) => return Err(ExportError::History(format!("tree {id}: no answer")).into()),
        Err(HubError::Missing { .. }) => return Err(TreeError::Gone),
        Err(e) => return Err(ExportError::Hub(e).into()),
    };
    Tree::decode(&bytes).map_err(|e| ExportError::History(format!("tree {id}: {e}")).into())
}

pub fn git_error(repo: &gix::Repository, e: impl std::fmt::Display) -> ExportError {
    ExportError::Git {
        path: repo.git_dir().to_path_buf(),
        detail: e.to_string(),
    }
}
