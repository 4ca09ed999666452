//! Reading objects from packs: each read re-hashed against its id, and a damaged copy
//! replaced by any other copy of the same id that verifies (how a repaired hub serves the
//! good copy whichever pack a reader's index chose).

use crate::vfs::File;
use std::collections::HashMap;
use std::io;
use std::path::Path;

use super::{Location, MAX_OPEN_PACKS, PackStore, StoreError};
use crate::fsutil::io_at;
use crate::id::ObjectId;
use crate::object::Object;

/// Keeps pack files open across reads; see [`PackStore::reader`].
pub struct PackReader<'a> {
    pub(super) store: &'a PackStore,
    pub(super) open: HashMap<usize, File>,
}

impl PackReader<'_> {
    /// Read one object, verifying its bytes against its id. When the copy the index points
    /// at is damaged, every other pack holding the object is tried: a good copy stored again
    /// (a repair) is found whichever pack the index chose.
    pub fn read(&mut self, id: ObjectId) -> Result<Object, StoreError> {
        let loc = self.locate(id)?;
        match self.read_at(id, loc) {
            Err(damage @ StoreError::Corrupt { .. }) => self
                .other_copies(id, loc.pack)
                .into_iter()
                .find_map(|other| self.read_at(id, other).ok())
                .ok_or(damage),
            other => other,
        }
    }

    /// Check that some stored copy of `id` hashes to `id`, reading it in slices (a large
    /// attachment is never held whole), with the same fallback as [`PackReader::read`].
    pub fn check(&mut self, id: ObjectId) -> Result<(), StoreError> {
        let loc = self.locate(id)?;
        match self.hash_at(id, loc) {
            Err(damage @ StoreError::Corrupt { .. }) => self
                .other_copies(id, loc.pack)
                .into_iter()
                .find(|other| self.hash_at(id, *other).is_ok())
                .map(|_| ())
                .ok_or(damage),
            other => other,
        }
    }

    fn locate(&self, id: ObjectId) -> Result<Location, StoreError> {
        self.store.locate(id).ok_or_else(|| StoreError::NotFound {
            dir: self.store.dir.clone(),
            id,
        })
    }

    /// Where else `id` is stored: packs other than `slot` that list it (only looked for
    /// when a copy is damaged, so a scan of the headers in memory is cheap enough).
    fn other_copies(&self, id: ObjectId, slot: usize) -> Vec<Location> {
        let mut out = Vec::new();
        for (i, pack) in self.store.packs.iter().enumerate() {
            let Some(pack) = pack.as_ref().filter(|_| i != slot) else {
                continue;
            };
            if let Some(e) = pack.entries.iter().find(|e| e.id == id) {
                out.push(Location {
                    pack: i,
                    kind: e.kind,
                    offset: e.offset,
                    len: e.len,
                });
            }
        }
        out
    }

    /// The open pack file of `loc`, and the pack's path.
    fn file(&mut self, id: ObjectId, loc: Location) -> Result<(&File, &Path), StoreError> {
        let store = self.store;
        let Some(pack) = store.packs.get(loc.pack).and_then(Option::as_ref) else {
            return Err(StoreError::NotFound {
                dir: store.dir.clone(),
                id,
            });
        };
        if !self.open.contains_key(&loc.pack) {
            if self.open.len() >= MAX_OPEN_PACKS {
                self.open.clear();
            }
            let file = match File::open(&pack.path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StoreError::PackGone {
                        pack: pack.path.clone(),
                        id,
                    });
                }
                Err(e) => return Err(io_at("opening pack", &pack.path)(e).into()),
            };
            self.open.insert(loc.pack, file);
        }
        Ok((&self.open[&loc.pack], pack.path.as_path()))
    }

    fn read_at(&mut self, id: ObjectId, loc: Location) -> Result<Object, StoreError> {
        let (file, path) = self.file(id, loc)?;
        let len = usize::try_from(loc.len).map_err(|_| StoreError::BadPack {
            path: path.to_path_buf(),
            reason: format!("object {id} is too large for this machine"),
        })?;
        let mut bytes = vec![0u8; len];
        file.read_exact_at(&mut bytes, loc.offset)
            .map_err(|e| read_error(e, path, id))?;
        let actual = ObjectId::of(&bytes);
        if actual != id {
            return Err(StoreError::Corrupt {
                pack: path.to_path_buf(),
                id,
                actual,
            });
        }
        Ok(Object {
            kind: loc.kind,
            bytes,
        })
    }

    fn hash_at(&mut self, id: ObjectId, loc: Location) -> Result<(), StoreError> {
        const SLICE: u64 = 1 << 20;
        let (file, path) = self.file(id, loc)?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; loc.len.min(SLICE) as usize];
        let mut done = 0u64;
        while done < loc.len {
            let n = (loc.len - done).min(SLICE) as usize;
            file.read_exact_at(&mut buf[..n], loc.offset + done)
                .map_err(|e| read_error(e, path, id))?;
            hasher.update(&buf[..n]);
            done += n as u64;
        }
        let actual = ObjectId(*hasher.finalize().as_bytes());
        if actual != id {
            return Err(StoreError::Corrupt {
                pack: path.to_path_buf(),
                id,
                actual,
            });
        }
        Ok(())
    }
}

fn read_error(e: io::Error, path: &Path, id: ObjectId) -> StoreError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        StoreError::BadPack {
            path: path.to_path_buf(),
            reason: format!("file is shorter than its header says (object {id})"),
        }
    } else {
        io_at("reading pack", path)(e).into()
    }
}
