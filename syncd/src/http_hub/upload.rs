//! A large file's upload to a server ([`vault::hub::PutStream`]): every batch names an upload
//! (`x-vault-upload`, a random name), and the uploads are committed at the end
//! (`POST .../objects/commit`), so the server writes large packs and fsyncs each once.
//!
//! Batches are sent by threads of their own ([`SENDERS`], each with its upload), one more
//! batch waiting: the round gathers and checks the next batch (and asks the server which of it
//! is missing) while the server receives one and stores another. Sent one after the other
//! from the round's thread, the sides took turns: a 1 GiB upload to a server on the same
//! 2-core machine left the processors idle 40% of the time.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use serde_json::json;
use vault::hub::{HubError, PutStream};
use vault::id::ObjectId;
use vault::object::Object;

use super::HttpHub;

/// How many requests are in flight: each sending thread has an upload of its own (a pack of
/// its own on the server), so the server stores one batch while it receives the next; with
/// one, its hashing and writing and the transfer took turns.
const SENDERS: usize = 2;

/// How many batches wait for a free sending thread: none, the round's thread hands its batch
/// over as a thread is free (each batch waiting would cost 6-7 MiB more).
const WAITING: usize = 0;

type Batches = Arc<Mutex<Receiver<Vec<Object>>>>;

pub(super) struct HttpUpload {
    hub: HttpHub,
    /// To the sending threads; `None` before the first batch and once they stopped.
    batches: Option<SyncSender<Vec<Object>>>,
    /// Each sending thread and its upload's name: whether the server holds batches of it that
    /// only the commit makes durable, or the first error.
    senders: Vec<(String, JoinHandle<Result<bool, HubError>>)>,
}

/// A new upload name: 32 random hex digits.
fn upload_name() -> String {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).expect("the operating system's random source failed");
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// Request bodies, each handed back when the request that sent it lets go of it, and
/// encoded into again. A fresh 6-7 MiB buffer per batch was a fresh mapping the kernel had to
/// fault in and zero page by page: 200,000 page faults and about 0.4 s of system time per
/// 1 GiB uploaded, on the sending threads.
#[derive(Clone, Default)]
struct Buffers(Arc<Mutex<Vec<Vec<u8>>>>);

impl Buffers {
    /// `objects` encoded into a buffer from the pool, as a body that returns it when dropped.
    fn encode(&self, objects: &[Object]) -> Bytes {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let buf = buf.get_or_insert_default();
        buf.clear();
        vault::wire::encode_into(buf, objects);
        Bytes::from_owner(Pooled {
            buf: std::mem::take(buf),
            pool: self.clone(),
        })
    }
}

/// A body's buffer, back to its pool when the last reference to the body goes.
struct Pooled {
    buf: Vec<u8>,
    pool: Buffers,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut pool = self.pool.0.lock().unwrap_or_else(|p| p.into_inner());
        // One per sending thread and one being let go: more would only hold memory.
        if pool.len() <= SENDERS {
            pool.push(buf);
        }
    }
}

/// Send the batches of `batches` to upload `name`, one request at a time, until the channel
/// closes or a request fails.
fn send_all(
    hub: &HttpHub,
    name: &str,
    batches: &Batches,
    buffers: &Buffers,
) -> Result<bool, HubError> {
    let mut pending = false;
    loop {
        let next = batches.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(objects) = next else {
            return Ok(pending);
        };
        // Encoded, and the objects let go, before the request: a batch in flight is held once.
        let body = buffers.encode(&objects);
        drop(objects);
        pending |= hub.send_body(body, Some(name))?.upload;
    }
}

impl HttpUpload {
    pub(super) fn new(hub: &HttpHub) -> HttpUpload {
        HttpUpload {
            hub: hub.clone(),
            batches: None,
            senders: Vec::new(),
        }
    }

    /// The sending threads, started at the first batch.
    fn start(&mut self) -> Result<&SyncSender<Vec<Object>>, HubError> {
        if self.batches.is_none() {
            let (batches, received) = sync_channel::<Vec<Object>>(WAITING);
            let received: Batches = Arc::new(Mutex::new(received));
            let buffers = Buffers::default();
            for _ in 0..SENDERS {
                let (hub, name, received) = (self.hub.clone(), upload_name(), received.clone());
                let (thread_name, buffers) = (name.clone(), buffers.clone());
                let sender = std::thread::Builder::new()
                    .name("vault-upload".into())
                    .spawn(move || send_all(&hub, &thread_name, &received, &buffers))
                    .map_err(|e| HubError::Unreachable {
                        hub: self.hub.server.url.clone(),
                        detail: format!("cannot start a thread for the upload: {e}"),
                    })?;
                self.senders.push((name, sender));
            }
            self.batches = Some(batches);
        }
        Ok(self.batches.as_ref().expect("just set"))
    }

    /// Wait for the sending threads to send what they were given; the uploads that need
    /// their commit, or the first error.
    fn stop(&mut self) -> Result<Vec<String>, HubError> {
        self.batches = None;
        let mut pending = Vec::new();
        let mut failed = None;
        for (name, sender) in self.senders.drain(..) {
            match sender
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            {
                Ok(true) => pending.push(name),
                Ok(false) => {}
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(pending),
        }
    }
}

impl PutStream for HttpUpload {
    fn put(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), HubError> {
        let objects: Vec<Object> = objects.into_iter().map(|(_, o)| o).collect();
        if self.start()?.send(objects).is_ok() {
            return Ok(());
        }
        // Every thread stopped at an error: that error is the answer.
        self.stop()?;
        Err(HubError::Unreachable {
            hub: self.hub.server.url.clone(),
            detail: "the upload stopped".into(),
        })
    }

    fn finish(mut self: Box<Self>) -> Result<(), HubError> {
        for name in self.stop()? {
            let req = self
                .hub
                .server
                .client
                .post(format!("{}/objects/commit", self.hub.base))
                .json(&json!({ "upload": name }));
            let res = self.hub.send(req)?;
            self.hub.ok(res)?;
        }
        Ok(())
    }
}

impl Drop for HttpUpload {
    /// An upload dropped without its commit (the round failed) still waits for its threads,
    /// so no request outlives the round that made it.
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault::object::Kind;

    fn batch(fill: u8, len: usize) -> Vec<Object> {
        vec![Object {
            kind: Kind::Blob,
            bytes: vec![fill; len],
        }]
    }

    #[test]
    fn a_body_is_the_batch_encoded_and_its_buffer_is_used_again_once_let_go() {
        let buffers = Buffers::default();
        let first = buffers.encode(&batch(1, 100_000));
        assert_eq!(first[..], vault::wire::encode(&batch(1, 100_000))[..]);
        let at = first.as_ptr();
        // A clone (a retried request) keeps the buffer out of the pool.
        let clone = first.clone();
        drop(first);
        assert!(buffers.0.lock().unwrap().is_empty());
        drop(clone);
        assert_eq!(buffers.0.lock().unwrap().len(), 1);
        // Back, and encoded into again: a smaller batch fits the same allocation.
        let second = buffers.encode(&batch(2, 50_000));
        assert!(buffers.0.lock().unwrap().is_empty());
        assert_eq!(second.as_ptr(), at);
        assert_eq!(second[..], vault::wire::encode(&batch(2, 50_000))[..]);
        // While it is out, another body gets a buffer of its own.
        let third = buffers.encode(&batch(3, 10));
        assert_ne!(third.as_ptr(), at);
        assert_eq!(third[..], vault::wire::encode(&batch(3, 10))[..]);
    }

    #[test]
    fn the_pool_keeps_no_more_buffers_than_the_senders_can_use() {
        let buffers = Buffers::default();
        let bodies: Vec<Bytes> = (0..6).map(|i| buffers.encode(&batch(i, 1000))).collect();
        drop(bodies);
        assert_eq!(buffers.0.lock().unwrap().len(), SENDERS + 1);
    }
}
