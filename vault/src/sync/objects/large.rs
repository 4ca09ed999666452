//! Large files for apply and staging: their content streamed to a file a batch of chunks at a
//! time ([`crate::content::write_content`]), never held whole.

use crate::vfs::File;
use std::collections::HashMap;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use super::Blobs;
use crate::apply::FetchError;
use crate::content::chunker::Layout;
use crate::content::{CHUNKED_FROM, ReadError, content_id, plan_reader, write_content};
use crate::fsutil::{WriteBehind, write_in_background};
use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::object::{Kind, Object};
use crate::progress::{Amount, Phase, Progress};
use crate::sync::SyncStats;

/// A writer that tells `progress` of every byte written ([`Phase::Downloading`]).
struct Counted<'a, W> {
    out: W,
    progress: &'a dyn Progress,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.progress
            .advance(Phase::Downloading, Amount::new(0, n as u64));
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The chunks of an older version of a file (the one a write replaces), found by cutting it as
/// the chunker does: a download takes those from it instead of the hub, so an edit inside a
/// large file downloads only the chunks that changed. Each is hash-checked when read.
pub(super) struct Older {
    file: File,
    chunks: HashMap<ObjectId, (u64, u32)>,
}

impl Older {
    /// `None` unless the file at `path` is large enough to be chunked and readable.
    pub(super) fn open(path: &Path) -> Option<Older> {
        let file = File::open(path).ok()?;
        let size = file.metadata().ok()?.len();
        if size < CHUNKED_FROM {
            return None;
        }
        let plan = plan_reader(io::BufReader::with_capacity(1 << 20, &file), size).ok()?;
        let Layout::Chunked { chunks, .. } = plan.layout else {
            return None;
        };
        let chunks = chunks
            .into_iter()
            .map(|c| (c.id, (c.offset, c.len)))
            .collect();
        Some(Older { file, chunks })
    }

    /// The chunk `id` from the older version, if it holds it still.
    fn read(&self, id: ObjectId) -> Option<Object> {
        let &(offset, len) = self.chunks.get(&id)?;
        let mut bytes = vec![0; len as usize];
        self.file.read_exact_at(&mut bytes, offset).ok()?;
        (ObjectId::of(&bytes) == id).then_some(Object {
            kind: Kind::Blob,
            bytes,
        })
    }
}

/// Stream file `id` from `hub` (and the chunks `older` holds) into `out`, every object
/// checked; counts what arrived in `stats` and reports it (the bytes as written, the file as
/// one item at the end).
pub(super) fn download(
    hub: &dyn Hub,
    id: ObjectId,
    older: Option<&Older>,
    out: &mut dyn Write,
    stats: &mut SyncStats,
    progress: &dyn Progress,
) -> Result<u64, ReadError<HubError>> {
    let mut fetch = |ids: &[ObjectId]| -> Result<Vec<Object>, HubError> {
        let mut objects = Vec::with_capacity(ids.len());
        let mut ask = Vec::new();
        for id in ids {
            match older.and_then(|o| o.read(*id)) {
                Some(object) => {
                    stats.bytes_hashed += object.bytes.len() as u64;
                    objects.push(object);
                }
                None => ask.push(*id),
            }
        }
        if ask.is_empty() {
            return Ok(objects);
        }
        let got = hub.get(&ask)?;
        stats.objects_received += got.len() as u64;
        stats.bytes_received += got.iter().map(|o| o.bytes.len() as u64).sum::<u64>();
        objects.extend(got);
        Ok(objects)
    };
    let mut counted = Counted { out, progress };
    let written = write_content(&mut fetch, id, &mut counted)?;
    progress.advance(Phase::Downloading, Amount::new(1, 0));
    Ok(written)
}

/// A hub's error stays itself (the round tells a damaged hub object from an outage by it).
pub(super) fn fetch_error(e: ReadError<HubError>) -> FetchError {
    match e {
        ReadError::Source(hub) => Box::new(hub),
        other => Box::new(other),
    }
}

/// Copies what it reads to `out`, so the bytes are hashed and copied in one read.
struct Tee<'a> {
    source: File,
    out: &'a mut File,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Copy the file at `from` to `out` if its bytes are still content `id`; else leave `out`
/// empty and say so.
fn copy_if(from: &Path, id: ObjectId, size: u64, out: &mut File) -> io::Result<bool> {
    let source = File::open(from)?;
    let tee = Tee {
        source,
        out: &mut *out,
    };
    let (actual, _) = content_id(tee, size)?;
    if actual == id {
        return Ok(true);
    }
    out.set_len(0)?;
    out.rewind()?;
    Ok(false)
}

impl Blobs<'_> {
    /// [`crate::apply::BlobSource::write_to`]: a local file with the same content (checked as
    /// it is copied), else the staged copy (checked when staged), else the hub.
    pub(super) fn stream_to(
        &mut self,
        id: ObjectId,
        size: u64,
        out: &mut File,
    ) -> Result<(), FetchError> {
        if let Some(path) = self.local.get(&id) {
            match copy_if(&path.to_fs_path(self.root), id, size, out) {
                Ok(true) => {
                    self.stats.files_read += 1;
                    self.stats.bytes_hashed += size;
                    return Ok(());
                }
                // Changed or gone since the scan: fetched after all. A failed write to `out`
                // fails again below, with the hub's bytes.
                Ok(false) | Err(_) => {
                    out.set_len(0)?;
                    out.rewind()?;
                }
            }
        }
        if let Some(staged) = self.staged.get(&id) {
            let mut from = File::open(staged)?;
            io::copy(&mut from, out)?;
            return Ok(());
        }
        let older = self
            .older
            .get(&id)
            .and_then(|p| Older::open(&p.to_fs_path(self.root)));
        let (hub, stats, progress) = (self.hub, &mut *self.stats, self.progress);
        write_in_background(WriteBehind::new(out), |out| {
            download(hub, id, older.as_ref(), out, stats, progress)
        })?
        .map_err(fetch_error)?;
        Ok(())
    }
}

/// [`super::stage`] for one large file: streamed into `path`.
pub(super) fn stage_one(
    hub: &dyn Hub,
    id: ObjectId,
    older: Option<&Older>,
    path: &Path,
    stats: &mut SyncStats,
    progress: &dyn Progress,
) -> Result<(), crate::sync::SyncError> {
    let io = |source| {
        crate::sync::SyncError::Local(crate::local::LocalError::Io(crate::fsutil::PathIoError {
            action: "writing",
            path: path.to_path_buf(),
            source,
        }))
    };
    let file = File::create(path).map_err(io)?;
    let downloaded = write_in_background(WriteBehind::new(file), |out| {
        download(hub, id, older, out, stats, progress)
    })
    .map_err(io)?;
    match downloaded {
        Ok(_) => {}
        Err(ReadError::Source(e)) => return Err(e.into()),
        Err(ReadError::Write(e)) => return Err(io(e)),
        Err(other) => {
            return Err(crate::sync::SyncError::BadRemote {
                hub: hub.describe(),
                detail: format!("file {id}: {other}"),
            });
        }
    }
    Ok(())
}
