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

use std::path::PathBuf;

use super::FolderHub;
use crate::hub::{HubError, PutStream};
use crate::id::ObjectId;
use crate::object::{Kind, Object};
use crate::store::pack_io::PackWriter;

/// A stream's pack is committed (renamed into `packs/`, visible to every reader) once it holds
/// this many bytes of objects, and at the end.
pub const STREAM_PACK_BYTES: u64 = 256 << 20;

pub(super) struct FolderPutStream<'a> {
    hub: &'a FolderHub,
    dir: PathBuf,
    pack: Option<PackWriter>,
}

impl<'a> FolderPutStream<'a> {
    pub(super) fn new(hub: &'a FolderHub) -> FolderPutStream<'a> {
        let dir = hub.lock_store().dir().to_path_buf();
        FolderPutStream {
            hub,
            dir,
            pack: None,
        }
    }

    /// Put the pack written so far in place (durable, then renamed) and into the index.
    fn commit(&mut self) -> Result<(), HubError> {
        let Some(pack) = self.pack.take() else {
            return Ok(());
        };
        if pack.is_empty() {
            return Ok(());
        }
        let ready = pack.finish().map_err(|e| self.hub.store_err(e))?;
        let mut store = self.hub.lock_store();
        store.adopt(ready).map_err(|e| self.hub.store_err(e))?;
        Ok(())
    }
}

impl PutStream for FolderPutStream<'_> {
    fn put(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), HubError> {
        for (_, o) in &objects {
            super::check_decodes(o)?;
        }
        if objects.iter().any(|(_, o)| o.kind == Kind::Chunks) {
            self.hub.mark_chunked()?;
        }
        let pack = match &mut self.pack {
            Some(pack) => pack,
            None => self
                .pack
                .insert(PackWriter::new(&self.dir).map_err(|e| self.hub.store_err(e))?),
        };
        for (id, o) in &objects {
            pack.append(o.kind, *id, &o.bytes)
                .map_err(|e| self.hub.store_err(e))?;
        }
        if pack.object_bytes() >= self.hub.stream_pack_bytes {
            self.commit()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), HubError> {
        self.commit()
    }
}
