//! Uploading a large file as content-defined chunks (`vault::content`), in bounded memory.
//!
//! The file is read once more through the chunker (on a thread of its own, so reading and
//! hashing overlap the hub's writes): chunks are gathered into batches of 6-7 MiB
//! ([`PUT_BYTES`]), the hub is asked which of each batch it lacks (`missing`), and only those
//! are put, each batch as its own durable pack. So an upload cut off midway resumes next round
//! without sending again what the hub got, and an edit inside a large file sends only the
//! chunks that changed. The lists (groups, then the top list, the file's id) are put last,
//! and only when the bytes read still make the id the scan gave the file: a file changed
//! meanwhile publishes nothing that names it (its chunks already sent are harmless: nothing
//! reaches them, and gc removes them). Children before parents: a hub holding a file's top list
//! holds everything under it, so `missing(top)` answering "present" means the file is there.

use std::collections::HashSet;
use std::fs::File;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::*;
use crate::content::chunker::ListBuilder;
use crate::content::{CHUNKED_FROM, Chunker};

/// How many bytes of chunks one put carries at most (before its last chunk): with that chunk
/// and the stream's headers a put stays under 8 MiB, so a server whose body limit was lowered
/// to 8 MiB (`--max-body-mib 8`) still takes it.
const PUT_BYTES: u64 = BATCH_BYTES - 2 * crate::content::MAX_CHUNK as u64;

/// What uploading one large file found.
pub(super) enum ChunkedUpload {
    /// The hub now holds the file: every object it is made of (top list first).
    Sent(Vec<ObjectId>),
    /// The file's bytes no longer make the id it was scanned as (or it is gone).
    Changed,
}

/// What the reading thread hands the uploading one.
enum Piece {
    /// New chunks (each id once per file), with their ids, and the bytes they cover
    /// counting repeats (for progress and the hashed count).
    Batch(Vec<(ObjectId, Object)>, u64),
    /// The file read to its end: its lists (top first) and how many bytes it had.
    End(Option<Vec<Object>>, u64),
    /// Reading failed (the file is being replaced, or gone).
    Failed(std::io::Error),
}

/// The reading side: cut `file` into chunks, hash them, and send batches of about
/// [`PUT_BYTES`] of new chunks, then the lists. Stops when the receiver is gone.
fn read_chunks(file: File, out: SyncSender<Piece>) {
    let mut chunker = Chunker::new(file);
    let mut builder = ListBuilder::default();
    let mut seen = HashSet::new();
    let (mut batch, mut batch_bytes, mut covered) = (Vec::new(), 0u64, 0u64);
    loop {
        let chunk = match chunker.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                let _ = out.send(Piece::Failed(e));
                return;
            }
        };
        let len = chunk.bytes.len() as u64;
        let chunk_id = ObjectId::of(chunk.bytes);
        builder.push(chunk_id, len);
        covered += len;
        if seen.insert(chunk_id) {
            let object = Object {
                kind: Kind::Blob,
                bytes: chunk.bytes.to_vec(),
            };
            batch.push((chunk_id, object));
            batch_bytes += len;
        }
        if batch_bytes >= PUT_BYTES {
            let full = Piece::Batch(std::mem::take(&mut batch), covered);
            if out.send(full).is_err() {
                return;
            }
            (batch_bytes, covered) = (0, 0);
        }
    }
    if (!batch.is_empty() || covered > 0) && out.send(Piece::Batch(batch, covered)).is_err() {
        return;
    }
    let _ = out.send(Piece::End(builder.finish(), chunker.bytes_read()));
}

impl Round<'_> {
    /// Upload what the hub lacks of the large file at `path`, scanned as `id`. With `report`,
    /// the file's bytes count as [`Phase::Uploading`] progress as they are read (chunks the
    /// hub holds already count as done), and the file as one item once its lists are sent.
    ///
    /// A second thread reads, cuts and hashes the file while this one asks the hub and puts
    /// (each batch a durable pack): the disk or the network works while the next batch is
    /// prepared. At most two batches wait between them, so memory stays bounded.
    pub(super) fn upload_chunked(
        &mut self,
        path: &VaultPath,
        id: ObjectId,
        report: bool,
    ) -> Result<ChunkedUpload, SyncError> {
        let full = path.to_fs_path(self.vault.root());
        // Gone, unreadable, replaced by a folder: the next attempt's scan says what it is now.
        let Ok(file) = File::open(&full) else {
            return Ok(ChunkedUpload::Changed);
        };
        let (tx, rx) = sync_channel(1);
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("vault-chunker".into())
                .spawn_scoped(scope, move || read_chunks(file, tx))
                .map_err(|e| {
                    SyncError::Local(crate::local::LocalError::Io(crate::fsutil::PathIoError {
                        action: "starting a thread to read",
                        path: full.clone(),
                        source: e,
                    }))
                })?;
            self.send_chunks(path, id, report, rx)
        })
    }

    /// The uploading side of [`Round::upload_chunked`].
    fn send_chunks(
        &mut self,
        path: &VaultPath,
        id: ObjectId,
        report: bool,
        pieces: Receiver<Piece>,
    ) -> Result<ChunkedUpload, SyncError> {
        let mut ids = Vec::new();
        let (lists, size) = loop {
            match pieces.recv() {
                Ok(Piece::Batch(batch, covered)) => {
                    ids.extend(batch.iter().map(|(id, _)| *id));
                    self.stats.bytes_hashed += covered;
                    self.put_missing(batch)?;
                    if report {
                        self.progress()
                            .advance(Phase::Uploading, Amount::new(0, covered));
                    }
                }
                Ok(Piece::End(lists, size)) => break (lists, size),
                // Read errors while the file is being replaced look the same as a change.
                Ok(Piece::Failed(e)) => {
                    tracing::info!(path = %path, error = %e, "upload: reading a large file failed");
                    return Ok(ChunkedUpload::Changed);
                }
                Err(_) => return Ok(ChunkedUpload::Changed),
            }
        };
        self.stats.files_read += 1;
        let lists = match lists {
            Some(lists) if size >= CHUNKED_FROM && lists[0].id() == id => lists,
            _ => return Ok(ChunkedUpload::Changed),
        };
        let mut lists: Vec<(ObjectId, Object)> = lists.into_iter().map(|l| (l.id(), l)).collect();
        let mut all: Vec<ObjectId> = lists.iter().map(|(id, _)| *id).collect();
        // Groups before the top list; in one pack both land together anyway.
        lists.rotate_left(1);
        self.put_missing(lists)?;
        if report {
            self.progress().advance(Phase::Uploading, Amount::new(1, 0));
        }
        all.extend(ids);
        Ok(ChunkedUpload::Sent(all))
    }

    /// `objects` come with their ids (computed as they were read).
    fn put_missing(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), SyncError> {
        if objects.is_empty() {
            return Ok(());
        }
        let ids: Vec<ObjectId> = objects.iter().map(|(id, _)| *id).collect();
        let missing: HashSet<ObjectId> = self.hub.missing(&ids)?.into_iter().collect();
        let objects: Vec<Object> = objects
            .into_iter()
            .filter(|(id, _)| missing.contains(id))
            .map(|(_, o)| o)
            .collect();
        self.put_counted(&objects)
    }
}
