//! This device's copies of objects, for those the old hub cannot give (`syncd hub set`).

use crate::vfs::File;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::content::CHUNKED_FROM;
use crate::content::chunker::{Layout, plan_reader};
use crate::id::ObjectId;
use crate::local::LocalVault;
use crate::object::{Kind, Object};
use crate::paths::VaultPath;
use crate::statcache::StatCache;
use crate::store::PackStore;
use crate::sync::objects::read_if;

/// This device's copies of objects, for those the old hub cannot give: the store of known
/// trees and snapshots, and the vault's files as the stat cache last hashed them (each read
/// again and checked against its id). A large file gives its lists and chunks: it is read
/// once (in slices) to learn where its chunks lie, then each chunk is read from its place
/// and checked, so no file is ever held whole.
#[derive(Debug, Default)]
pub struct LocalCopies {
    store: Option<PackStore>,
    root: PathBuf,
    files: HashMap<ObjectId, VaultPath>,
    /// Large files read so far, by path.
    planned: RefCell<HashMap<VaultPath, Planned>>,
}

/// Where the objects of one large file of this device lie.
#[derive(Debug, Default)]
struct Planned {
    lists: HashMap<ObjectId, Object>,
    chunks: HashMap<ObjectId, (u64, u32)>,
}

impl LocalCopies {
    /// No copies (a test, or a caller that has no vault).
    pub fn none() -> LocalCopies {
        LocalCopies::default()
    }

    /// The copies `vault` holds. A store or stat cache that cannot be read only means fewer
    /// copies.
    pub fn of_vault(vault: &LocalVault) -> LocalCopies {
        let (cache, _) = StatCache::load(&vault.index_path());
        LocalCopies::new(vault.objects().ok(), vault.root(), cache.flat())
    }

    /// Copies from `store` and from the files of `root` listed in `files` (path -> content id).
    pub fn new(
        store: Option<PackStore>,
        root: &Path,
        files: impl IntoIterator<Item = (VaultPath, crate::object::FileMeta)>,
    ) -> LocalCopies {
        LocalCopies {
            store,
            root: root.to_path_buf(),
            files: files
                .into_iter()
                .map(|(m_path, m)| (m.id, m_path))
                .collect(),
            planned: RefCell::default(),
        }
    }

    /// The object `id`, checked against its id, if this device has it. `at` is the path of
    /// the file it belongs to in the history (for a chunk or group list, whose file this
    /// device may hold at that path), when known. A file's object comes back with the kind
    /// its bytes are (a blob, or a large file's top list); others with `kind`.
    pub(super) fn get(&self, id: ObjectId, kind: Kind, at: Option<&str>) -> Option<Object> {
        if let Some(o) = self.store.as_ref().and_then(|s| s.read(id).ok()) {
            return Some(Object {
                kind,
                bytes: o.bytes,
            });
        }
        let hint = at.and_then(|p| VaultPath::new(p).ok());
        for path in self.files.get(&id).into_iter().chain(hint.as_ref()) {
            if let Some(object) = self.object_in_file(path, id) {
                return Some(object);
            }
        }
        None
    }

    /// Object `id` out of this device's file at `path`: the file's bytes (a small file), or
    /// one of its lists or chunks (a large one).
    fn object_in_file(&self, path: &VaultPath, id: ObjectId) -> Option<Object> {
        let full = path.to_fs_path(&self.root);
        let size = crate::vfs::symlink_metadata(&full).ok()?.len();
        if size < CHUNKED_FROM {
            let bytes = read_if(&self.root, path, id)?;
            return Some(Object {
                kind: Kind::Blob,
                bytes,
            });
        }
        let mut planned = self.planned.borrow_mut();
        if !planned.contains_key(path) {
            planned.insert(path.clone(), plan(&full, size));
        }
        let plan = &planned[path];
        if let Some(list) = plan.lists.get(&id) {
            return Some(list.clone());
        }
        let &(offset, len) = plan.chunks.get(&id)?;
        let mut bytes = vec![0u8; len as usize];
        File::open(&full)
            .and_then(|f| f.read_exact_at(&mut bytes, offset))
            .ok()?;
        // The file may have changed since it was read: only the bytes that hash right count.
        (ObjectId::of(&bytes) == id).then_some(Object {
            kind: Kind::Blob,
            bytes,
        })
    }
}

/// Where the lists and chunks of the file at `full` lie (nothing if it cannot be read).
fn plan(full: &Path, size: u64) -> Planned {
    let Ok(file) = File::open(full) else {
        return Planned::default();
    };
    let Ok(content) = plan_reader(BufReader::with_capacity(1 << 20, file), size) else {
        return Planned::default();
    };
    match content.layout {
        Layout::Blob => Planned::default(),
        Layout::Chunked { lists, chunks } => Planned {
            lists: lists.into_iter().map(|l| (l.id(), l)).collect(),
            chunks: chunks.iter().map(|c| (c.id, (c.offset, c.len))).collect(),
        },
    }
}
