//! Uploading a large file as content-defined chunks (`vault::content`), in bounded memory.
//!
//! The file is read once more through the chunker: chunks are gathered into batches of 6-7 MiB
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

impl Round<'_> {
    /// Upload what the hub lacks of the large file at `path`, scanned as `id`. With `report`,
    /// the file's bytes count as [`Phase::Uploading`] progress as they are read (chunks the
    /// hub holds already count as done), and the file as one item once its lists are sent.
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
        let mut chunker = Chunker::new(file);
        let mut builder = ListBuilder::default();
        let mut batch: Vec<Object> = Vec::new();
        let mut batch_bytes = 0u64;
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        loop {
            let chunk = match chunker.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // Read errors while the file is being replaced look the same as a change.
                Err(e) => {
                    tracing::info!(path = %path, error = %e, "upload: reading a large file failed");
                    return Ok(ChunkedUpload::Changed);
                }
            };
            let len = chunk.bytes.len() as u64;
            let chunk_id = ObjectId::of(chunk.bytes);
            builder.push(chunk_id, len);
            if seen.insert(chunk_id) {
                ids.push(chunk_id);
                batch.push(Object {
                    kind: Kind::Blob,
                    bytes: chunk.bytes.to_vec(),
                });
                batch_bytes += len;
            }
            self.stats.bytes_hashed += len;
            if report {
                self.progress()
                    .advance(Phase::Uploading, Amount::new(0, len));
            }
            if batch_bytes >= PUT_BYTES {
                self.put_missing(std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
        }
        self.put_missing(batch)?;
        self.stats.files_read += 1;
        let lists = match builder.finish() {
            Some(lists) if chunker.bytes_read() >= CHUNKED_FROM && lists[0].id() == id => lists,
            _ => return Ok(ChunkedUpload::Changed),
        };
        let mut all: Vec<ObjectId> = lists.iter().map(Object::id).collect();
        // Groups before the top list; in one pack both land together anyway.
        let mut lists = lists;
        lists.rotate_left(1);
        self.put_missing(lists)?;
        if report {
            self.progress().advance(Phase::Uploading, Amount::new(1, 0));
        }
        all.extend(ids);
        Ok(ChunkedUpload::Sent(all))
    }

    /// Put those of `objects` the hub lacks, as one pack, without progress reports (the
    /// caller reports the file's bytes as it reads them).
    fn put_missing(&mut self, objects: Vec<Object>) -> Result<(), SyncError> {
        if objects.is_empty() {
            return Ok(());
        }
        let ids: Vec<ObjectId> = objects.iter().map(Object::id).collect();
        let missing: HashSet<ObjectId> = self.hub.missing(&ids)?.into_iter().collect();
        let objects: Vec<Object> = objects
            .into_iter()
            .zip(&ids)
            .filter(|(_, id)| missing.contains(id))
            .map(|(o, _)| o)
            .collect();
        self.put_counted(&objects)
    }
}
