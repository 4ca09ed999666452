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

/// Send the batches of `batches` to upload `name`, one request at a time, until the channel
/// closes or a request fails.
fn send_all(hub: &HttpHub, name: &str, batches: &Batches) -> Result<bool, HubError> {
    let mut pending = false;
    loop {
        let next = batches.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(objects) = next else {
            return Ok(pending);
        };
        // Encoded, and the objects let go, before the request: a batch in flight is held once.
        let body = vault::wire::encode(&objects);
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
            for _ in 0..SENDERS {
                let (hub, name, received) = (self.hub.clone(), upload_name(), received.clone());
                let thread_name = name.clone();
                let sender = std::thread::Builder::new()
                    .name("vault-upload".into())
                    .spawn(move || send_all(&hub, &thread_name, &received))
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
