//! Handing a large file's chunks on as the scan cuts them, so its upload need not read it again.
//!
//! Why: a new large file is read twice otherwise, once by the scan (to learn its id) and once
//! by the upload (to send its chunks), and the two cannot overlap, as nothing is uploaded
//! before the scan is over. On the 2-core reference machine a 1 GiB file spent 0.65 s in the
//! scan and 1.05 s in the upload (mostly writing the hub's pack); with the chunks handed on
//! during the scan, the hub writes while the file is still being cut.
//!
//! The chunks a sink takes are only ever an optimisation: whoever publishes the file still
//! checks that its bytes are those the scan hashed, and sends what the sink did not get to
//! the hub.

use crate::id::ObjectId;

/// Takes the chunks of the new large files a scan cuts (each chunk's id and bytes, in file
/// order, from the scan's threads).
pub trait ChunkSink: Sync {
    /// Whether the sink still takes chunks: `false` once its hub failed, and the scan then
    /// cuts files without handing them on.
    fn open(&self) -> bool;
    /// One chunk of a file. May block while the sink is busy (that is what bounds memory).
    fn take(&self, id: ObjectId, bytes: &[u8]);
}

/// A sink that takes nothing: scans that upload nothing (status, verification, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSink;

impl ChunkSink for NoSink {
    fn open(&self) -> bool {
        false
    }

    fn take(&self, _: ObjectId, _: &[u8]) {}
}
