//! A folder hub's [`PutStream`]: one upload's batches written into one pack, committed every
//! [`STREAM_PACK_BYTES`], instead of one small pack per batch.
//!
//! Why: a large file arrives as batches of a few MiB (so a server's body limit takes each).
//! As packs of their own, a 1 GiB file made ~150 packs, each with its fsync and a listing of
//! the folder, and the compaction after the round then copied all of it into one pack again.
//! One pack per few hundred MiB costs one fsync each and is left alone by compaction (see
//! [`crate::hub_gc::LARGE_PACK_BYTES`]); a cut-off upload keeps every committed pack, so the
//! next round resends at most one unfinished pack's worth (the temp file it leaves is removed
//! by the hub's gc after the grace period).
//!
//! The pack being written is an [`UploadPack`], owned by its writer: a device's stream holds
//! one for the length of a file's upload, `vault-server` one per open upload between requests.

use super::FolderHub;
use crate::hub::{HubError, PutStream};
use crate::id::ObjectId;
use crate::object::{Kind, Object};
use crate::store::pack_io::PackWriter;

/// A stream's pack is committed (renamed into `packs/`, visible to every reader) once it holds
/// this many bytes of objects, and at the end.
pub const STREAM_PACK_BYTES: u64 = 256 << 20;

/// The pack of one upload, not yet committed; dropping it removes its temp file.
#[derive(Default)]
pub struct UploadPack {
    pack: Option<PackWriter>,
    /// Bytes of objects appended so far, over all its packs.
    pub bytes: u64,
}

impl FolderHub {
    /// Append `objects` (with ids their writer computed from these very bytes) to `upload`,
    /// committing its pack once it reaches this hub's stream size; returns whether it did.
    /// Lists, trees and snapshots are checked first, as [`crate::hub::Hub::put`] does.
    pub fn upload_append(
        &self,
        upload: &mut UploadPack,
        objects: Vec<(ObjectId, Object)>,
    ) -> Result<bool, HubError> {
        for (_, o) in &objects {
            super::check_decodes(o)?;
        }
        if objects.iter().any(|(_, o)| o.kind == Kind::Chunks) {
            self.mark_chunked()?;
        }
        let pack = match &mut upload.pack {
            Some(pack) => pack,
            None => {
                let dir = self.lock_store().dir().to_path_buf();
                upload
                    .pack
                    .insert(PackWriter::new(&dir).map_err(|e| self.store_err(e))?)
            }
        };
        for (id, o) in &objects {
            pack.append(o.kind, *id, &o.bytes)
                .map_err(|e| self.store_err(e))?;
            upload.bytes += o.bytes.len() as u64;
        }
        if pack.object_bytes() >= self.stream_pack_bytes {
            self.upload_commit(upload)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Put the pack `upload` wrote so far in place (durable, then renamed) and into the index.
    pub fn upload_commit(&self, upload: &mut UploadPack) -> Result<(), HubError> {
        let Some(pack) = upload.pack.take() else {
            return Ok(());
        };
        if pack.is_empty() {
            return Ok(());
        }
        let ready = pack.finish().map_err(|e| self.store_err(e))?;
        let mut store = self.lock_store();
        store.adopt(ready).map_err(|e| self.store_err(e))?;
        Ok(())
    }
}

pub(super) struct FolderPutStream<'a> {
    pub(super) hub: &'a FolderHub,
    pub(super) upload: UploadPack,
}

impl PutStream for FolderPutStream<'_> {
    fn put(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), HubError> {
        self.hub.upload_append(&mut self.upload, objects).map(drop)
    }

    fn finish(mut self: Box<Self>) -> Result<(), HubError> {
        self.hub.upload_commit(&mut self.upload)
    }
}
