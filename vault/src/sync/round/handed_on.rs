//! Uploading the chunks of new large files while the scan cuts them ([`crate::content::sink`]).
//!
//! The scan runs on a thread of its own and hands each chunk of a large file at a new path to
//! a bounded channel; this side gathers them into puts of about [`PUT_BYTES`], asks the hub
//! which it lacks, and streams those into one [`crate::hub::PutStream`]. Once the stream is
//! finished, every chunk of those batches is on the hub, durable ([`HandedOn::on_hub`]): the
//! file's upload in this round then reads the file only to check that it still holds the
//! bytes the scan hashed, and sends its lists. Nothing here names a file: a chunk the round
//! does not publish after all (the file changed, the round failed) is unreachable on the hub
//! until gc removes it, as the chunks of a cut-off upload are.
//!
//! A hub that fails here fails nothing: the channel is dropped, the scan goes on without
//! handing chunks on, and the round's own upload sends what is missing (and reports the
//! hub's error if it is still there).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::upload_chunked::{PUT_BYTES, stream_missing};
use crate::content::ChunkSink;
use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::object::{Kind, Object};

/// How many chunks wait between the scan and the hub (up to 1 MiB each, 256 KiB on average):
/// about a put's worth, so the scan goes on cutting while a batch is written (with 8, the two
/// sides took turns: a 1 GiB file's scan took 2.0 s instead of 1.2).
const IN_FLIGHT: usize = 24;

/// The scan's end of the channel.
struct ChannelSink {
    chunks: SyncSender<(ObjectId, Vec<u8>)>,
    open: AtomicBool,
}

impl ChunkSink for ChannelSink {
    fn open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    fn take(&self, id: ObjectId, bytes: &[u8]) {
        if self.chunks.send((id, bytes.to_vec())).is_err() {
            self.open.store(false, Ordering::Relaxed);
        }
    }
}

/// What handing chunks on during a scan achieved.
#[derive(Debug, Default)]
pub(super) struct HandedOn {
    /// Chunks the hub holds (put now, or found there), all durable.
    pub on_hub: HashSet<ObjectId>,
    /// Chunks put, and their bytes.
    pub objects_sent: u64,
    pub bytes_sent: u64,
    /// Why the hub stopped taking chunks, if it did.
    pub failed: Option<HubError>,
}

/// Run `scan` on a thread of its own, handing it a sink whose chunks this thread uploads to
/// `hub`; the scan's result and what the upload achieved.
pub(super) fn scan_handing_on<T: Send>(
    hub: &dyn Hub,
    scan: impl FnOnce(&dyn ChunkSink) -> T + Send,
) -> (T, HandedOn) {
    let (chunks, received) = sync_channel(IN_FLIGHT);
    let sink = ChannelSink {
        chunks,
        open: AtomicBool::new(true),
    };
    std::thread::scope(|s| {
        let scanning = s.spawn(move || {
            // Dropped when the scan is done, which ends the upload's loop.
            let sink = sink;
            scan(&sink)
        });
        let handed_on = upload(hub, received);
        match scanning.join() {
            Ok(found) => (found, handed_on),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Put what the hub lacks of the chunks arriving on `received`, until the scan drops its end
/// or the hub fails (then `received` is dropped, which closes the sink).
fn upload(hub: &dyn Hub, received: Receiver<(ObjectId, Vec<u8>)>) -> HandedOn {
    let mut out = HandedOn::default();
    let mut stream = hub.put_stream();
    let mut seen = HashSet::new();
    let mut batch: Vec<(ObjectId, Object)> = Vec::new();
    let mut batch_bytes = 0u64;
    let mut batched = Vec::new();
    let mut put_batch = |batch: Vec<(ObjectId, Object)>, out: &mut HandedOn| {
        batched.extend(batch.iter().map(|(id, _)| *id));
        let (sent, bytes) = stream_missing(hub, &mut *stream, batch)?;
        out.objects_sent += sent;
        out.bytes_sent += bytes;
        Ok::<(), HubError>(())
    };
    for (id, bytes) in received.iter() {
        if !seen.insert(id) {
            continue;
        }
        batch_bytes += bytes.len() as u64;
        batch.push((
            id,
            Object {
                kind: Kind::Blob,
                bytes,
            },
        ));
        if batch_bytes >= PUT_BYTES {
            batch_bytes = 0;
            if let Err(e) = put_batch(std::mem::take(&mut batch), &mut out) {
                out.failed = Some(e);
                return out;
            }
        }
    }
    if !batch.is_empty()
        && let Err(e) = put_batch(batch, &mut out)
    {
        out.failed = Some(e);
        return out;
    }
    match stream.finish() {
        Ok(()) => out.on_hub = batched.into_iter().collect(),
        Err(e) => out.failed = Some(e),
    }
    out
}

#[cfg(test)]
mod tests;
