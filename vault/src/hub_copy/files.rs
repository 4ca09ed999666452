//! Copying the files of a history: blobs as they are, large files as their chunks, then their
//! groups, then their top list (children before parents: a hub never holds a list without
//! what it names), chunks in batches of about [`BATCH_BYTES`], never a whole file in memory.
//!
//! The old hub says by the kind it stored an id as whether a file is a blob or a chunk list
//! (an older version stored large files whole: those stay blobs). Lists are read first, so the
//! progress total is exact before anything large moves; what is held meanwhile is the lists
//! and the ids of the chunks the new hub lacks (about 40 bytes per 256 KiB chunk).

use std::collections::HashSet;

use super::{BATCH_BYTES, Copy, CopyError, IDS_PER_REQUEST};
use crate::content::{ChunkList, Level, Piece};
use crate::id::ObjectId;
use crate::object::{Kind, Object};
use crate::progress::{Amount, Progress};

/// `a` and `b` together.
pub(super) fn plus(a: Amount, b: Amount) -> Amount {
    Amount::new(a.items + b.items, a.bytes + b.bytes)
}

/// A large file to copy: its path (for messages), top list, groups and chunks in file order.
pub(super) struct Chunked {
    path: String,
    top: Object,
    groups: Vec<Object>,
    chunks: Vec<Piece>,
}

/// What of the large files the new hub lacks, found before anything is put.
pub(super) struct Pending {
    chunks: HashSet<ObjectId>,
    lists: HashSet<ObjectId>,
    pub total: Amount,
}

impl Copy<'_> {
    /// Fetch the files `files` (id, size, path) names, in batches of about [`BATCH_BYTES`]
    /// of file size: blobs are put at once (returned: what was put), large files' lists are
    /// read and returned.
    pub(super) fn file_tops(
        &mut self,
        files: Vec<(ObjectId, u64, String)>,
    ) -> Result<(Amount, Vec<Chunked>), CopyError> {
        let mut put = Amount::default();
        let mut chunked = Vec::new();
        let mut batch: Vec<(ObjectId, Option<String>)> = Vec::new();
        let mut batch_bytes = 0u64;
        let mut files = files.into_iter().peekable();
        while let Some((id, size, path)) = files.next() {
            batch.push((id, Some(path)));
            batch_bytes += size;
            let full = batch_bytes >= BATCH_BYTES || batch.len() >= IDS_PER_REQUEST;
            if !full && files.peek().is_some() {
                continue;
            }
            let wanted = std::mem::take(&mut batch);
            batch_bytes = 0;
            let got = self.fetch_as(&wanted, None)?;
            let mut blobs = Vec::new();
            for object in got {
                if object.kind == Kind::Chunks {
                    let id = object.id();
                    let path = wanted
                        .iter()
                        .find(|(w, _)| *w == id)
                        .and_then(|(_, p)| p.clone())
                        .unwrap_or_default();
                    chunked.push(self.read_lists(object, path)?);
                } else {
                    blobs.push(object);
                }
            }
            put = plus(put, self.put_quiet(blobs)?);
        }
        Ok((put, chunked))
    }

    /// Decode a top list and fetch and decode its groups (two levels at most, lengths
    /// checked), keeping them and the chunks in file order.
    fn read_lists(&mut self, top: Object, path: String) -> Result<Chunked, CopyError> {
        let id = top.id();
        let list =
            ChunkList::decode(&top.bytes).map_err(|e| self.malformed("chunk list", id, e))?;
        let mut out = Chunked {
            path,
            top,
            groups: Vec::new(),
            chunks: Vec::new(),
        };
        match list.level {
            Level::Chunks => out.chunks = list.pieces,
            Level::Groups => {
                for part in list.pieces.chunks(IDS_PER_REQUEST) {
                    let wanted: Vec<(ObjectId, Option<String>)> = part
                        .iter()
                        .map(|g| (g.id, Some(out.path.clone())))
                        .collect();
                    let got = self.fetch(&wanted, Kind::Chunks)?;
                    if got.len() != part.len() {
                        // Some group is unavailable (noted): its chunks cannot be known.
                        return Ok(out);
                    }
                    for (piece, object) in part.iter().zip(got) {
                        let group = ChunkList::decode(&object.bytes)
                            .map_err(|e| self.malformed("chunk list", piece.id, e))?;
                        if group.level != Level::Chunks || group.len() != piece.len {
                            let e = crate::object::ObjectError::Malformed {
                                what: "chunk list",
                                line: 0,
                                reason:
                                    "a group must name chunks covering the length its top list says"
                                        .into(),
                            };
                            return Err(self.malformed("chunk list", piece.id, e));
                        }
                        out.chunks.extend(group.pieces);
                        out.groups.push(object);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Which chunks and lists of `files` the new hub lacks, and what putting them amounts to.
    pub(super) fn chunked_pending(&mut self, files: &[Chunked]) -> Result<Pending, CopyError> {
        let mut chunk_ids: Vec<ObjectId> = Vec::new();
        let mut seen = HashSet::new();
        for f in files {
            chunk_ids.extend(f.chunks.iter().map(|c| c.id).filter(|id| seen.insert(*id)));
        }
        let chunks: HashSet<ObjectId> = self.lacking(&chunk_ids)?.into_iter().collect();
        let list_ids: Vec<ObjectId> = files
            .iter()
            .flat_map(|f| f.groups.iter().chain([&f.top]).map(Object::id))
            .filter(|id| seen.insert(*id))
            .collect();
        let lists: HashSet<ObjectId> = self.lacking(&list_ids)?.into_iter().collect();
        let mut total = Amount::default();
        let mut counted = HashSet::new();
        for f in files {
            for c in &f.chunks {
                if chunks.contains(&c.id) && counted.insert(c.id) {
                    total = plus(total, Amount::new(1, c.len));
                }
            }
            for l in f.groups.iter().chain([&f.top]) {
                if lists.contains(&l.id()) && counted.insert(l.id()) {
                    total = plus(total, Amount::new(1, l.bytes.len() as u64));
                }
            }
        }
        Ok(Pending {
            chunks,
            lists,
            total,
        })
    }

    /// Put each large file's missing chunks (in batches), then its missing groups and top
    /// list. A file some chunk of which no one can give gets no list on the new hub.
    pub(super) fn put_chunked(
        &mut self,
        files: Vec<Chunked>,
        mut pending: Pending,
        progress: &dyn Progress,
    ) -> Result<(), CopyError> {
        for file in files {
            let before = self.unavailable.len();
            let mut batch: Vec<(ObjectId, Option<String>)> = Vec::new();
            let mut bytes = 0u64;
            let mut rest = file.chunks.iter().peekable();
            while let Some(c) = rest.next() {
                if pending.chunks.remove(&c.id) {
                    batch.push((c.id, Some(file.path.clone())));
                    bytes += c.len;
                }
                let full = bytes >= BATCH_BYTES || batch.len() >= IDS_PER_REQUEST;
                if (full || rest.peek().is_none()) && !batch.is_empty() {
                    let got = self.fetch(&std::mem::take(&mut batch), Kind::Blob)?;
                    self.put(got, progress)?;
                    bytes = 0;
                }
            }
            let complete = self.unavailable.len() == before
                && file.chunks.iter().map(|c| c.len).sum::<u64>() > 0
                && (file.groups.is_empty()
                    || ChunkList::decode(&file.top.bytes)
                        .is_ok_and(|t| t.pieces.len() == file.groups.len()));
            if !complete {
                continue;
            }
            let lists: Vec<Object> = file
                .groups
                .into_iter()
                .chain([file.top])
                .filter(|l| pending.lists.remove(&l.id()))
                .collect();
            self.put(lists, progress)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
