//! Uploading a large file as content-defined chunks (`vault::content`), in bounded memory.
//!
//! The file is read once more on a thread of its own (so reading and hashing overlap the hub's
//! writes): at the chunk positions the scan found ([`crate::scan::Scan::chunk_plans`]), each
//! piece hashed and checked against the id the scan gave it, or, without those positions (a
//! file the stat cache vouched for), through the chunker again. Chunks are gathered into
//! batches of 6-7 MiB ([`PUT_BYTES`]), the hub is asked which of each batch it lacks
//! (`missing`), and only those are put, through one [`crate::hub::PutStream`] per file (a
//! folder hub writes them into one pack per 256 MiB; a server takes each batch as a request).
//! So an upload cut off midway resumes next round without sending again what the hub got,
//! and an edit inside a large file sends only the chunks that changed. The lists (groups, then the top list, the file's id) are put last,
//! and only when the bytes read still make the id the scan gave the file: a file changed
//! meanwhile publishes nothing that names it (its chunks already sent are harmless: nothing
//! reaches them, and gc removes them). Children before parents: a hub holding a file's top list
//! holds everything under it, so `missing(top)` answering "present" means the file is there.
//!
//! A repair (`syncd sync --full-verify`, the hub naming damaged copies) names the pieces to
//! send again whatever `missing` says: the hub has them, only damaged. Those go by
//! [`Hub::put`], which stores a good copy over a damaged one (a stream only appends).

use crate::vfs::File;
use std::collections::HashSet;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::*;
use crate::content::chunker::ListBuilder;
use crate::content::{CHUNKED_FROM, Chunker};
use crate::hub::PutStream;

/// How many bytes of chunks one put carries at most (before its last chunk): with that chunk
/// and the stream's headers a put stays under 8 MiB, so a server whose body limit was lowered
/// to 8 MiB (`--max-body-mib 8`) still takes it.
pub(super) const PUT_BYTES: u64 = BATCH_BYTES - 2 * crate::content::MAX_CHUNK as u64;

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
    /// A piece read at the scan's position no longer has the scan's id: the file changed.
    Changed,
}

/// Gathers new chunks into batches of about [`PUT_BYTES`] and hands each to the uploading
/// side, with the bytes it covers counting repeats. `false` once the receiver is gone.
struct Batcher {
    out: SyncSender<Piece>,
    seen: HashSet<ObjectId>,
    batch: Vec<(ObjectId, Object)>,
    batch_bytes: u64,
    covered: u64,
}

impl Batcher {
    fn new(out: SyncSender<Piece>) -> Batcher {
        Batcher {
            out,
            seen: HashSet::new(),
            batch: Vec::new(),
            batch_bytes: 0,
            covered: 0,
        }
    }

    /// Add one chunk; its bytes are taken only if this file did not have it yet.
    fn add(&mut self, id: ObjectId, len: u64, bytes: impl FnOnce() -> Vec<u8>) -> bool {
        self.covered += len;
        if self.seen.insert(id) {
            let object = Object {
                kind: Kind::Blob,
                bytes: bytes(),
            };
            self.batch.push((id, object));
            self.batch_bytes += len;
        }
        if self.batch_bytes < PUT_BYTES {
            return true;
        }
        self.flush()
    }

    /// A chunk the hub holds already (handed on during the scan): it counts as covered,
    /// nothing is sent. The progress hears of such chunks every [`PUT_BYTES`] too.
    fn add_on_hub(&mut self, id: ObjectId, len: u64) -> bool {
        self.covered += len;
        self.seen.insert(id);
        if self.covered < PUT_BYTES {
            return true;
        }
        self.flush()
    }

    fn flush(&mut self) -> bool {
        if self.batch.is_empty() && self.covered == 0 {
            return true;
        }
        let full = Piece::Batch(std::mem::take(&mut self.batch), self.covered);
        (self.batch_bytes, self.covered) = (0, 0);
        self.out.send(full).is_ok()
    }

    /// The last batch, then the end.
    fn end(mut self, lists: Option<Vec<Object>>, size: u64) {
        if self.flush() {
            let _ = self.out.send(Piece::End(lists, size));
        }
    }
}

/// The reading side: cut `file` into chunks, hash them, and send batches of about
/// [`PUT_BYTES`] of new chunks, then the lists. Stops when the receiver is gone.
fn read_chunks(file: File, out: SyncSender<Piece>) {
    let mut chunker = Chunker::new(file);
    let mut builder = ListBuilder::default();
    let mut batcher = Batcher::new(out);
    loop {
        let chunk = match chunker.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                let _ = batcher.out.send(Piece::Failed(e));
                return;
            }
        };
        let len = chunk.bytes.len() as u64;
        let chunk_id = ObjectId::of(chunk.bytes);
        builder.push(chunk_id, len);
        if !batcher.add(chunk_id, len, || chunk.bytes.to_vec()) {
            return;
        }
    }
    batcher.end(builder.finish(), chunker.bytes_read());
}

/// The reading side with the scan's chunk positions: each piece read where the scan found it
/// and hashed; one that no longer hashes to the scan's id, or a file that is no longer as long
/// as the pieces, means the file changed. Pieces in `on_hub` (the hub holds them, and they
/// are known to be the file's: by its stat, or checked by [`verify_pieces`]) are neither read
/// nor sent.
fn read_planned(
    file: File,
    chunks: &[ChunkRef],
    on_hub: &HashSet<ObjectId>,
    out: SyncSender<Piece>,
) {
    let mut builder = ListBuilder::default();
    let mut batcher = Batcher::new(out);
    let mut size = 0u64;
    let mut bytes = Vec::new();
    for chunk in chunks {
        let len = u64::from(chunk.len);
        builder.push(chunk.id, len);
        size += len;
        if on_hub.contains(&chunk.id) {
            if !batcher.add_on_hub(chunk.id, len) {
                return;
            }
            continue;
        }
        // Every other piece is read and checked, repeats too: the file must still be what
        // the scan hashed.
        bytes.resize(chunk.len as usize, 0);
        if let Err(e) = file.read_exact_at(&mut bytes, chunk.offset) {
            let _ = batcher.out.send(Piece::Failed(e));
            return;
        }
        if ObjectId::of(&bytes) != chunk.id {
            let _ = batcher.out.send(Piece::Changed);
            return;
        }
        if !batcher.add(chunk.id, len, || std::mem::take(&mut bytes)) {
            return;
        }
    }
    match file.metadata() {
        Ok(meta) if meta.len() == size => batcher.end(builder.finish(), size),
        Ok(_) => {
            let _ = batcher.out.send(Piece::Changed);
        }
        Err(e) => {
            let _ = batcher.out.send(Piece::Failed(e));
        }
    }
}

/// Whether every piece of `file` in `pieces` (by id) still hashes to its id, read where the
/// scan found it, on every core.
fn verify_pieces(
    file: &File,
    chunks: &[ChunkRef],
    pieces: &HashSet<ObjectId>,
) -> std::io::Result<bool> {
    use rayon::prelude::*;
    chunks
        .par_iter()
        .filter(|c| pieces.contains(&c.id))
        .map(|c| {
            let mut bytes = vec![0; c.len as usize];
            file.read_exact_at(&mut bytes, c.offset)?;
            Ok(ObjectId::of(&bytes) == c.id)
        })
        .try_reduce(|| true, |a, b| Ok(a && b))
}

impl Round<'_> {
    /// Upload what the hub lacks of the large file at `path`, scanned as `id`, and those of
    /// its pieces in `damaged` (copies the hub holds damaged) again. With `report`,
    /// the file's bytes count as [`Phase::Uploading`] progress as they are read (chunks the
    /// hub holds already count as done), and the file as one item once its lists are sent.
    ///
    /// A second thread reads and hashes the file (cutting it too, without the scan's chunk
    /// positions) while this one asks the hub and puts: the disk or the network works while
    /// the next batch is prepared. The channel between them holds nothing: one batch is
    /// filled while the other is sent, so two batches (13 MiB) are all a large file costs (a
    /// third, waiting, cost 6.5 MiB more; a 1 GiB upload took as long within the noise).
    pub(super) fn upload_chunked(
        &mut self,
        path: &VaultPath,
        id: ObjectId,
        report: bool,
        damaged: &HashSet<ObjectId>,
    ) -> Result<ChunkedUpload, SyncError> {
        let full = path.to_fs_path(self.vault.root());
        // Gone, unreadable, replaced by a folder: the next attempt's scan says what it is now.
        let Ok(file) = File::open(&full) else {
            return Ok(ChunkedUpload::Changed);
        };
        let (tx, rx) = sync_channel(0);
        let plan = self.chunk_plans.get(&id).cloned();
        let on_hub = match &plan {
            Some(chunks) => {
                let on_hub = self.chunks_on_hub(chunks, damaged)?;
                // A file changed too recently for its stat to vouch for it: the pieces the
                // hub holds are read and checked too, on every core, before the others go.
                if !on_hub.is_empty() && !self.unchanged_since_scan(&file) {
                    match verify_pieces(&file, chunks, &on_hub) {
                        Ok(true) => {}
                        Ok(false) => return Ok(ChunkedUpload::Changed),
                        Err(e) => {
                            tracing::info!(path = %path, error = %e, "upload: reading a large file failed");
                            return Ok(ChunkedUpload::Changed);
                        }
                    }
                }
                on_hub
            }
            None => HashSet::new(),
        };
        let lent = &on_hub;
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("vault-chunker".into())
                .spawn_scoped(scope, move || match plan {
                    Some(chunks) => read_planned(file, &chunks, lent, tx),
                    None => read_chunks(file, tx),
                })
                .map_err(|e| {
                    SyncError::Local(crate::local::LocalError::Io(crate::fsutil::PathIoError {
                        action: "starting a thread to read",
                        path: full.clone(),
                        source: e,
                    }))
                })?;
            self.send_chunks(path, id, report, damaged, rx)
        })
    }

    /// Whether the open `file` holds the bytes this round's scans read: its last change (by
    /// its stat) lies before the first scan began, as the stat cache would judge it. Then
    /// no write came between a scan's read and now, or its stat would say so.
    fn unchanged_since_scan(&self, file: &File) -> bool {
        let (Some(since), Ok(meta)) = (self.first_scan_ns, file.metadata()) else {
            return false;
        };
        !crate::statcache::is_racy(&crate::filestat::FileStat::from_metadata(&meta), since)
    }

    /// Which of `chunks` the hub holds good copies of: those handed on during the scan, and
    /// those the hub says it has (asked in batches, so a file of any size costs few
    /// requests), but for those it holds `damaged`.
    fn chunks_on_hub(
        &self,
        chunks: &[ChunkRef],
        damaged: &HashSet<ObjectId>,
    ) -> Result<HashSet<ObjectId>, SyncError> {
        const ASK: usize = 8192;
        let mut present = HashSet::new();
        let mut asked = HashSet::new();
        let mut ask = Vec::new();
        for chunk in chunks {
            if damaged.contains(&chunk.id) {
                continue;
            }
            if self.on_hub.contains(&chunk.id) {
                present.insert(chunk.id);
            } else if asked.insert(chunk.id) {
                ask.push(chunk.id);
            }
        }
        for batch in ask.chunks(ASK) {
            let missing: HashSet<ObjectId> = self.hub.missing(batch)?.into_iter().collect();
            present.extend(batch.iter().filter(|id| !missing.contains(id)));
        }
        Ok(present)
    }

    /// The uploading side of [`Round::upload_chunked`].
    fn send_chunks(
        &mut self,
        path: &VaultPath,
        id: ObjectId,
        report: bool,
        damaged: &HashSet<ObjectId>,
        pieces: Receiver<Piece>,
    ) -> Result<ChunkedUpload, SyncError> {
        let mut ids = Vec::new();
        let mut stream = self.hub.put_stream();
        let (lists, size) = loop {
            match pieces.recv() {
                Ok(Piece::Batch(batch, covered)) => {
                    ids.extend(batch.iter().map(|(id, _)| *id));
                    self.stats.bytes_hashed += covered;
                    self.stream_missing(&mut *stream, batch, damaged)?;
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
                Ok(Piece::Changed) | Err(_) => return Ok(ChunkedUpload::Changed),
            }
        };
        // The chunks are durable (and visible) before any list that names them is put. A
        // file that changed meanwhile leaves them stored too: resent nothing next time if
        // they are still its chunks, removed by gc if not.
        stream.finish()?;
        self.stats.files_read += 1;
        let lists = match lists {
            Some(lists) if size >= CHUNKED_FROM && lists[0].id() == id => lists,
            _ => return Ok(ChunkedUpload::Changed),
        };
        let mut lists: Vec<(ObjectId, Object)> = lists.into_iter().map(|l| (l.id(), l)).collect();
        let mut all: Vec<ObjectId> = lists.iter().map(|(id, _)| *id).collect();
        // Groups before the top list; in one pack both land together anyway.
        lists.rotate_left(1);
        self.put_missing(lists, damaged)?;
        if report {
            self.progress().advance(Phase::Uploading, Amount::new(1, 0));
        }
        all.extend(ids);
        Ok(ChunkedUpload::Sent(all))
    }

    /// Put into `stream` what the hub lacks of `objects` (with their ids, computed as they
    /// were read), and those it holds `damaged` over their damaged copies.
    fn stream_missing(
        &mut self,
        stream: &mut dyn PutStream,
        objects: Vec<(ObjectId, Object)>,
        damaged: &HashSet<ObjectId>,
    ) -> Result<(), SyncError> {
        let (repairs, objects): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .partition(|(id, _)| damaged.contains(id));
        self.put_repairs(repairs)?;
        let (sent, bytes) = stream_missing(self.hub, stream, objects)?;
        self.stats.objects_sent += sent;
        self.stats.bytes_sent += bytes;
        Ok(())
    }

    /// `objects` come with their ids (computed as they were read); those the hub holds
    /// `damaged` are put whatever it says it has.
    fn put_missing(
        &mut self,
        objects: Vec<(ObjectId, Object)>,
        damaged: &HashSet<ObjectId>,
    ) -> Result<(), SyncError> {
        if objects.is_empty() {
            return Ok(());
        }
        let ids: Vec<ObjectId> = objects.iter().map(|(id, _)| *id).collect();
        let missing: HashSet<ObjectId> = self.hub.missing(&ids)?.into_iter().collect();
        let objects: Vec<Object> = objects
            .into_iter()
            .filter(|(id, _)| missing.contains(id) || damaged.contains(id))
            .map(|(_, o)| o)
            .collect();
        self.put_counted(&objects)
    }

    /// Good copies of objects the hub holds damaged: by [`Hub::put`], which stores them over
    /// the damaged ones (a stream would only append a second copy).
    fn put_repairs(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), SyncError> {
        let objects: Vec<Object> = objects.into_iter().map(|(_, o)| o).collect();
        self.put_counted(&objects)
    }
}

/// Put those of `objects` the hub lacks into `stream`: one `missing` question, one batch.
/// Returns how many objects, and bytes, went.
pub(super) fn stream_missing(
    hub: &dyn Hub,
    stream: &mut dyn PutStream,
    objects: Vec<(ObjectId, Object)>,
) -> Result<(u64, u64), HubError> {
    if objects.is_empty() {
        return Ok((0, 0));
    }
    let ids: Vec<ObjectId> = objects.iter().map(|(id, _)| *id).collect();
    let missing: HashSet<ObjectId> = hub.missing(&ids)?.into_iter().collect();
    let objects: Vec<(ObjectId, Object)> = objects
        .into_iter()
        .filter(|(id, _)| missing.contains(id))
        .collect();
    if objects.is_empty() {
        return Ok((0, 0));
    }
    let bytes = objects
        .iter()
        .map(|(_, o)| o.bytes.len() as u64)
        .sum::<u64>();
    let sent = objects.len() as u64;
    stream.put(objects)?;
    Ok((sent, bytes))
}
